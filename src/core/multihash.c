#include "p2p/multihash.h"

#include <openssl/evp.h>

#include "p2p/error.h"
#include "p2p/varint.h"

#define SHA2_256_LEN 32

int p2p_multihash_encode(uint64_t code, const uint8_t *data, size_t len, p2p_buf *out)
{
	uint8_t digest[SHA2_256_LEN];
	const uint8_t *d;
	size_t dlen;
	switch (code) {
	case P2P_MH_IDENTITY:
		/* Refuse what p2p_multihash_parse would refuse. */
		if (len > P2P_MH_MAX_DIGEST)
			return P2P_ETOOBIG;
		d = data;
		dlen = len;
		break;
	case P2P_MH_SHA2_256: {
		unsigned int n = 0;
		if (EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) != 1 ||
		    n != SHA2_256_LEN)
			return P2P_ECRYPTO;
		d = digest;
		dlen = n;
		break;
	}
	default:
		return P2P_EUNSUPPORTED;
	}
	size_t start = out->len;
	int rc = p2p_buf_reserve(out, 2 * P2P_UVARINT_MAX_LEN + dlen);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, code);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, dlen);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, d, dlen);
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}

int p2p_multihash_parse(const uint8_t *in, size_t len, uint64_t *code,
                        const uint8_t **digest, size_t *digest_len)
{
	uint64_t c, dlen;
	int n = p2p_uvarint_decode(in, len, &c);
	if (n < 0)
		return P2P_EPROTO;
	size_t off = (size_t)n;
	n = p2p_uvarint_decode(in + off, len - off, &dlen);
	if (n < 0)
		return P2P_EPROTO;
	off += (size_t)n;
	if (dlen > P2P_MH_MAX_DIGEST)
		return P2P_ETOOBIG;
	if (dlen != len - off)
		return P2P_EPROTO;
	*code = c;
	*digest = in + off;
	*digest_len = (size_t)dlen;
	return P2P_OK;
}
