/* Peer IDs: multihashes of protobuf-encoded public keys, and their two text
 * forms (bare base58btc, and a CIDv1 with the libp2p-key codec). */
#include "p2p/peerid.h"

#include <string.h>

#include "p2p/cid.h"
#include "p2p/error.h"
#include "p2p/multibase.h"
#include "p2p/multihash.h"

#define SHA2_256_DIGEST_LEN 32

/* Parses id bytes as one of the two multihashes a peer ID may be. */
static int parse_id(const uint8_t *bytes, size_t len, uint64_t *code,
                    const uint8_t **digest, size_t *digest_len)
{
	if (len == 0 || len > P2P_PEERID_MAX_LEN)
		return P2P_EPROTO;
	if (p2p_multihash_parse(bytes, len, code, digest, digest_len) != P2P_OK)
		return P2P_EPROTO;
	switch (*code) {
	case P2P_MH_SHA2_256:
		return *digest_len == SHA2_256_DIGEST_LEN ? P2P_OK : P2P_EPROTO;
	case P2P_MH_IDENTITY:
		/* Keys longer than the inline limit are always hashed, so a
		 * longer identity digest is no key's ID. */
		return *digest_len > 0 && *digest_len <= P2P_PEERID_INLINE_MAX
		           ? P2P_OK
		           : P2P_EPROTO;
	default:
		return P2P_EPROTO;
	}
}

int p2p_peerid_from_pubkey(p2p_peerid *id, const p2p_pubkey *key)
{
	if (id == NULL || key == NULL)
		return P2P_EINVAL;
	p2p_buf enc, mh;
	p2p_buf_init(&enc);
	p2p_buf_init(&mh);
	int rc = p2p_pubkey_encode(key, &enc);
	if (rc == P2P_OK) {
		uint64_t code =
		    enc.len <= P2P_PEERID_INLINE_MAX ? P2P_MH_IDENTITY : P2P_MH_SHA2_256;
		rc = p2p_multihash_encode(code, enc.data, enc.len, &mh);
	}
	if (rc == P2P_OK && mh.len > P2P_PEERID_MAX_LEN)
		rc = P2P_ETOOBIG; /* cannot happen with the inline limit */
	if (rc == P2P_OK) {
		memcpy(id->bytes, mh.data, mh.len);
		id->len = mh.len;
	}
	p2p_buf_free(&enc);
	p2p_buf_free(&mh);
	return rc;
}

int p2p_peerid_from_bytes(p2p_peerid *id, const uint8_t *bytes, size_t len)
{
	if (id == NULL || (bytes == NULL && len > 0))
		return P2P_EINVAL;
	uint64_t code;
	const uint8_t *digest;
	size_t digest_len;
	int rc = parse_id(bytes, len, &code, &digest, &digest_len);
	if (rc != P2P_OK)
		return rc;
	memcpy(id->bytes, bytes, len);
	id->len = len;
	return P2P_OK;
}

int p2p_peerid_from_string(p2p_peerid *id, const char *str)
{
	if (id == NULL || str == NULL)
		return P2P_EINVAL;
	size_t len = strnlen(str, P2P_PEERID_STR_MAX);
	if (len == 0 || len >= P2P_PEERID_STR_MAX)
		return P2P_EPROTO;
	p2p_buf bin;
	p2p_buf_init(&bin);
	int rc;
	/* The spec's rule: "1…" and "Qm…" are bare base58btc multihashes,
	 * anything else must be a multibase CID. */
	if (str[0] == '1' || (str[0] == 'Q' && str[1] == 'm')) {
		rc = p2p_base58btc_decode(str, len, &bin);
		if (rc == P2P_OK)
			rc = p2p_peerid_from_bytes(id, bin.data, bin.len);
	} else {
		uint64_t codec;
		const uint8_t *mh;
		size_t mh_len;
		rc = p2p_cid_from_string(str, len, &bin);
		if (rc == P2P_OK)
			rc = p2p_cid_decode(bin.data, bin.len, &codec, &mh, &mh_len);
		if (rc == P2P_OK && codec != P2P_CODEC_LIBP2P_KEY)
			rc = P2P_EPROTO;
		if (rc == P2P_OK)
			rc = p2p_peerid_from_bytes(id, mh, mh_len);
	}
	p2p_buf_free(&bin);
	/* Whatever the reason, the text is not a peer ID. */
	if (rc != P2P_OK && rc != P2P_ENOMEM)
		rc = P2P_EPROTO;
	return rc;
}

/* Copies text into out with a NUL, or fails without writing a partial ID. */
static int copy_text(const p2p_buf *text, char *out, size_t out_len)
{
	if (text->len >= out_len)
		return P2P_ETOOBIG;
	memcpy(out, text->data, text->len);
	out[text->len] = '\0';
	return P2P_OK;
}

int p2p_peerid_to_string(const p2p_peerid *id, char *out, size_t out_len)
{
	if (id == NULL || out == NULL || id->len == 0 || id->len > P2P_PEERID_MAX_LEN)
		return P2P_EINVAL;
	p2p_buf text;
	p2p_buf_init(&text);
	int rc = p2p_base58btc_encode(id->bytes, id->len, &text);
	if (rc == P2P_OK)
		rc = copy_text(&text, out, out_len);
	p2p_buf_free(&text);
	return rc;
}

int p2p_peerid_to_cid_string(const p2p_peerid *id, char *out, size_t out_len)
{
	if (id == NULL || out == NULL || id->len == 0 || id->len > P2P_PEERID_MAX_LEN)
		return P2P_EINVAL;
	p2p_buf text;
	p2p_buf_init(&text);
	int rc = p2p_cid_to_string(P2P_CODEC_LIBP2P_KEY, id->bytes, id->len, &text);
	if (rc == P2P_OK)
		rc = copy_text(&text, out, out_len);
	p2p_buf_free(&text);
	return rc;
}

bool p2p_peerid_equal(const p2p_peerid *a, const p2p_peerid *b)
{
	return a->len == b->len && a->len <= P2P_PEERID_MAX_LEN &&
	       memcmp(a->bytes, b->bytes, a->len) == 0;
}

int p2p_peerid_extract_pubkey(const p2p_peerid *id, p2p_pubkey **out)
{
	if (id == NULL || out == NULL)
		return P2P_EINVAL;
	uint64_t code;
	const uint8_t *digest;
	size_t digest_len;
	int rc = parse_id(id->bytes, id->len, &code, &digest, &digest_len);
	if (rc != P2P_OK)
		return rc;
	if (code != P2P_MH_IDENTITY)
		return P2P_ENOTFOUND;
	return p2p_pubkey_decode(out, digest, digest_len);
}

int p2p_peerid_matches(const p2p_peerid *id, const p2p_pubkey *key)
{
	if (id == NULL || key == NULL)
		return P2P_EINVAL;
	p2p_peerid derived;
	int rc = p2p_peerid_from_pubkey(&derived, key);
	if (rc != P2P_OK)
		return rc;
	return p2p_peerid_equal(id, &derived) ? P2P_OK : P2P_EPEERID;
}
