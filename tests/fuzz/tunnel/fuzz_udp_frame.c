/* UDP datagrams framed on a stream. The first input byte says how to cut
 * the rest into pieces. Whatever the cut, the same datagrams come out, and
 * framing them again gives back exactly the bytes they were read from
 * (lengths are minimal varints, so the framing is canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/udp.h"

/* Decodes in[0..len) cut into pieces; appends each datagram, re-framed, to
 * framed. Returns the final status and sets *consumed. */
static int run(const uint8_t *in, size_t len, size_t piece, p2p_buf *framed,
               size_t *consumed)
{
	tunnel_udp_decoder d;
	tunnel_udp_decoder_init(&d);
	size_t pos = 0;
	int rc = P2P_EAGAIN;
	while (pos < len) {
		size_t n = len - pos < piece ? len - pos : piece;
		const uint8_t *p = in + pos;
		size_t left = n;
		for (;;) {
			size_t used;
			const uint8_t *dgram;
			size_t dgram_len;
			rc = tunnel_udp_decode(&d, p, left, &used, &dgram, &dgram_len);
			if (used > left)
				abort();
			p += used;
			left -= used;
			pos += used;
			if (rc != P2P_OK)
				break;
			if (dgram_len > TUNNEL_UDP_MAX_DATAGRAM)
				abort();
			if (tunnel_udp_encode(dgram, dgram_len, framed) != P2P_OK)
				abort();
			if (left == 0)
				break;
		}
		if (rc != P2P_OK && rc != P2P_EAGAIN)
			break;
		if (rc == P2P_EAGAIN && left != 0)
			abort();
	}
	*consumed = pos;
	tunnel_udp_decoder_close(&d);
	return rc == P2P_OK ? P2P_EAGAIN : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = 1 + (size_t)data[0] * 3;
	data++;
	size--;
	p2p_buf a, b;
	p2p_buf_init(&a);
	p2p_buf_init(&b);
	size_t ca, cb;
	int ra = run(data, size, size > 0 ? size : 1, &a, &ca);
	int rb = run(data, size, piece, &b, &cb);
	if (ra != rb || a.len != b.len ||
	    (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
		abort();
	/* The datagrams re-framed are the input's whole frames. */
	if (a.len > size || (a.len > 0 && memcmp(a.data, data, a.len) != 0))
		abort();
	p2p_buf_free(&a);
	p2p_buf_free(&b);
	return 0;
}
