#include "p2p/varint.h"

#include "p2p/error.h"

size_t p2p_uvarint_encode(uint64_t v, uint8_t out[P2P_UVARINT_MAX_LEN])
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

size_t p2p_uvarint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int p2p_uvarint_decode(const uint8_t *in, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < P2P_UVARINT_MAX_LEN; i++) {
		if (i == len)
			return P2P_EAGAIN;
		uint8_t b = in[i];
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			/* A trailing zero byte means a shorter encoding existed. */
			if (b == 0 && i > 0)
				return P2P_EPROTO;
			*v = x;
			return (int)(i + 1);
		}
	}
	return P2P_EPROTO;
}
