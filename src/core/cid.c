#include "p2p/cid.h"

#include "p2p/error.h"
#include "p2p/multibase.h"
#include "p2p/multihash.h"
#include "p2p/varint.h"

#define CID_VERSION_1 1

static int check_multihash(const uint8_t *mh, size_t mh_len)
{
	uint64_t code;
	const uint8_t *digest;
	size_t dlen;
	return p2p_multihash_parse(mh, mh_len, &code, &digest, &dlen);
}

int p2p_cid_encode(uint64_t codec, const uint8_t *multihash, size_t mh_len, p2p_buf *out)
{
	if (codec > P2P_UVARINT_MAX_VALUE)
		return P2P_EINVAL;
	int rc = check_multihash(multihash, mh_len);
	if (rc != P2P_OK)
		return rc;
	size_t start = out->len;
	rc = p2p_buf_reserve(out, 1 + P2P_UVARINT_MAX_LEN + mh_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append_byte(out, CID_VERSION_1);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, codec);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, multihash, mh_len);
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}

int p2p_cid_decode(const uint8_t *in, size_t len, uint64_t *codec,
                   const uint8_t **multihash, size_t *mh_len)
{
	uint64_t version, c;
	int n = p2p_uvarint_decode(in, len, &version);
	if (n < 0)
		return P2P_EPROTO;
	/* 0x12 here is a CIDv0 (a bare sha2-256 multihash); we only speak v1. */
	if (version != CID_VERSION_1)
		return P2P_EUNSUPPORTED;
	size_t off = (size_t)n;
	n = p2p_uvarint_decode(in + off, len - off, &c);
	if (n < 0)
		return P2P_EPROTO;
	off += (size_t)n;
	int rc = check_multihash(in + off, len - off);
	if (rc != P2P_OK)
		return rc;
	*codec = c;
	*multihash = in + off;
	*mh_len = len - off;
	return P2P_OK;
}

int p2p_cid_to_string(uint64_t codec, const uint8_t *multihash, size_t mh_len,
                      p2p_buf *out)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	int rc = p2p_cid_encode(codec, multihash, mh_len, &bin);
	if (rc == P2P_OK)
		rc = p2p_multibase_encode(P2P_MULTIBASE_BASE32, bin.data, bin.len, out);
	p2p_buf_free(&bin);
	return rc;
}

int p2p_cid_from_string(const char *str, size_t len, p2p_buf *out)
{
	size_t start = out->len;
	int rc = p2p_multibase_decode(str, len, out);
	if (rc != P2P_OK)
		return rc;
	if (out->len == start)
		return P2P_EPROTO; /* an empty CID */
	uint64_t codec;
	const uint8_t *mh;
	size_t mh_len;
	rc = p2p_cid_decode(out->data + start, out->len - start, &codec, &mh, &mh_len);
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}
