/* Peer IDs: the peer-ids spec examples, the IDs of the spec keys as other
 * implementations derive them, both text forms, key extraction, and the
 * inputs that are not peer IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "p2p/cid.h"
#include "p2p/error.h"
#include "p2p/multibase.h"
#include "p2p/peerid.h"
#include "vectors.h"

/* The spec's Ed25519 example and its multihash. */
#define EX_ED25519_ID "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
#define EX_ED25519_MH                                                                    \
	"002408011220"                                                                   \
	"2ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b"
/* The spec's SHA-256 example, as base58btc, as CID, and its multihash. */
#define EX_SHA256_ID  "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
#define EX_SHA256_CID "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
#define EX_SHA256_MH                                                                     \
	"12209dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9"

static void id_from_hex(p2p_peerid *id, const char *hex)
{
	size_t len;
	uint8_t *b = vec_hex(hex, &len);
	assert_int_equal(p2p_peerid_from_bytes(id, b, len), P2P_OK);
	free(b);
}

static void assert_texts(const p2p_peerid *id, const char *b58, const char *cid)
{
	char text[P2P_PEERID_STR_MAX];
	assert_int_equal(p2p_peerid_to_string(id, text, sizeof(text)), P2P_OK);
	assert_string_equal(text, b58);
	assert_int_equal(p2p_peerid_to_cid_string(id, text, sizeof(text)), P2P_OK);
	assert_string_equal(text, cid);
	p2p_peerid back;
	assert_int_equal(p2p_peerid_from_string(&back, b58), P2P_OK);
	assert_true(p2p_peerid_equal(&back, id));
	assert_int_equal(p2p_peerid_from_string(&back, cid), P2P_OK);
	assert_true(p2p_peerid_equal(&back, id));
}

static void test_spec_examples(void **state)
{
	p2p_peerid id, want;
	assert_int_equal(p2p_peerid_from_string(&id, EX_ED25519_ID), P2P_OK);
	id_from_hex(&want, EX_ED25519_MH);
	assert_int_equal(id.len, 38);
	assert_true(p2p_peerid_equal(&id, &want));

	/* Its key is inside; the ID derived from that key is the ID. */
	p2p_pubkey *key = NULL;
	assert_int_equal(p2p_peerid_extract_pubkey(&id, &key), P2P_OK);
	assert_int_equal(p2p_pubkey_type(key), P2P_KEY_ED25519);
	assert_int_equal(p2p_peerid_matches(&id, key), P2P_OK);
	p2p_peerid derived;
	assert_int_equal(p2p_peerid_from_pubkey(&derived, key), P2P_OK);
	assert_true(p2p_peerid_equal(&derived, &id));
	p2p_pubkey_free(key);

	assert_int_equal(p2p_peerid_from_string(&id, EX_SHA256_ID), P2P_OK);
	id_from_hex(&want, EX_SHA256_MH);
	assert_true(p2p_peerid_equal(&id, &want));
	assert_texts(&id, EX_SHA256_ID, EX_SHA256_CID);
	/* A hashed ID does not carry its key. */
	key = NULL;
	assert_int_equal(p2p_peerid_extract_pubkey(&id, &key), P2P_ENOTFOUND);
	assert_null(key);
}

static void test_spec_keys(void **state)
{
	static const struct {
		const char *pub, *id, *cid;
		bool inline_key;
	} vec[] = {
	    {SPEC_ED25519_PUB, SPEC_ED25519_PEERID, SPEC_ED25519_CID, true},
	    {SPEC_SECP256K1_PUB, SPEC_SECP256K1_PEERID, SPEC_SECP256K1_CID, true},
	    {SPEC_ECDSA_PUB, SPEC_ECDSA_PEERID, SPEC_ECDSA_CID, false},
	    {SPEC_RSA_PUB, SPEC_RSA_PEERID, SPEC_RSA_CID, false},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len;
		uint8_t *pb = vec_hex(vec[i].pub, &len);
		p2p_pubkey *key = NULL;
		assert_int_equal(p2p_pubkey_decode(&key, pb, len), P2P_OK);
		p2p_peerid id;
		assert_int_equal(p2p_peerid_from_pubkey(&id, key), P2P_OK);
		assert_texts(&id, vec[i].id, vec[i].cid);
		assert_int_equal(p2p_peerid_matches(&id, key), P2P_OK);

		p2p_pubkey *extracted = NULL;
		if (vec[i].inline_key) {
			/* identity multihash: 0x00, length, the encoding */
			assert_int_equal(id.len, 2 + len);
			assert_int_equal(id.bytes[0], 0x00);
			assert_memory_equal(id.bytes + 2, pb, len);
			assert_int_equal(p2p_peerid_extract_pubkey(&id, &extracted),
			                 P2P_OK);
			assert_true(p2p_pubkey_equal(extracted, key));
			p2p_pubkey_free(extracted);
		} else {
			assert_int_equal(id.len, 34);
			assert_int_equal(id.bytes[0], 0x12);
			assert_int_equal(p2p_peerid_extract_pubkey(&id, &extracted),
			                 P2P_ENOTFOUND);
		}
		p2p_pubkey_free(key);
		free(pb);
	}
}

/* go-libp2p's hand-made RSA key: the public half (derived here with
 * OpenSSL from the PKCS#1 private key) must give go's peer ID. */
static void test_go_rsa_peerid(void **state)
{
	static const char b64[] = GO_RSA_MAN_PRIV_B64;
	p2p_buf priv;
	p2p_buf_init(&priv);
	assert_int_equal(p2p_base64_decode(b64, strlen(b64), &priv), P2P_OK);
	/* PrivateKey: 08 00 (RSA) 12 a8 09 (1192 bytes of PKCS#1 DER) */
	assert_int_equal(priv.len, 5 + 1192);
	assert_memory_equal(priv.data, "\x08\x00\x12\xa8\x09", 5);
	const unsigned char *p = priv.data + 5;
	EVP_PKEY *rsa = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, 1192);
	assert_non_null(rsa);
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(rsa, &der);
	assert_true(der_len > 0 && der_len < 300);

	uint8_t pb[320] = {0x08, 0x00, 0x12, (uint8_t)(0x80 | (der_len & 0x7f)),
	                   (uint8_t)(der_len >> 7)};
	memcpy(pb + 5, der, (size_t)der_len);
	p2p_pubkey *key = NULL;
	assert_int_equal(p2p_pubkey_decode(&key, pb, 5 + (size_t)der_len), P2P_OK);
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_pubkey(&id, key), P2P_OK);
	char text[P2P_PEERID_STR_MAX];
	assert_int_equal(p2p_peerid_to_string(&id, text, sizeof(text)), P2P_OK);
	assert_string_equal(text, GO_RSA_MAN_PEERID);

	p2p_pubkey_free(key);
	OPENSSL_free(der);
	EVP_PKEY_free(rsa);
	p2p_buf_free(&priv);
}

static void test_matches_other_key(void **state)
{
	p2p_privkey *a = NULL, *b = NULL;
	assert_int_equal(p2p_privkey_generate(&a), P2P_OK);
	assert_int_equal(p2p_privkey_generate(&b), P2P_OK);
	p2p_peerid ida;
	assert_int_equal(p2p_peerid_from_pubkey(&ida, p2p_privkey_public(a)), P2P_OK);
	assert_int_equal(p2p_peerid_matches(&ida, p2p_privkey_public(a)), P2P_OK);
	assert_int_equal(p2p_peerid_matches(&ida, p2p_privkey_public(b)), P2P_EPEERID);
	/* Ed25519 IDs are the "12D3KooW" kind. */
	char text[P2P_PEERID_STR_MAX];
	assert_int_equal(p2p_peerid_to_string(&ida, text, sizeof(text)), P2P_OK);
	assert_memory_equal(text, "12D3KooW", 8);
	p2p_privkey_free(a);
	p2p_privkey_free(b);
}

/* A CIDv1 of the spec's SHA-256 ID with the given codec, in the given base. */
static void cid_text(uint64_t codec, enum p2p_multibase base, char *out, size_t cap)
{
	size_t mh_len;
	uint8_t *mh = vec_hex(EX_SHA256_MH, &mh_len);
	p2p_buf bin, text;
	p2p_buf_init(&bin);
	p2p_buf_init(&text);
	assert_int_equal(p2p_cid_encode(codec, mh, mh_len, &bin), P2P_OK);
	assert_int_equal(p2p_multibase_encode(base, bin.data, bin.len, &text), P2P_OK);
	assert_true(text.len < cap);
	memcpy(out, text.data, text.len);
	out[text.len] = '\0';
	p2p_buf_free(&bin);
	p2p_buf_free(&text);
	free(mh);
}

static void test_cid_forms(void **state)
{
	p2p_peerid want, id;
	id_from_hex(&want, EX_SHA256_MH);
	char text[P2P_PEERID_STR_MAX];
	static const enum p2p_multibase bases[] = {
	    P2P_MULTIBASE_BASE32, P2P_MULTIBASE_BASE32UPPER, P2P_MULTIBASE_BASE58BTC,
	    P2P_MULTIBASE_BASE64, P2P_MULTIBASE_BASE64URL,   P2P_MULTIBASE_BASE16,
	    P2P_MULTIBASE_BASE36,
	};
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		cid_text(P2P_CODEC_LIBP2P_KEY, bases[i], text, sizeof(text));
		assert_int_equal(p2p_peerid_from_string(&id, text), P2P_OK);
		assert_true(p2p_peerid_equal(&id, &want));
	}
	/* Same multihash under other codecs: not a peer ID. */
	cid_text(P2P_CODEC_DAG_PB, P2P_MULTIBASE_BASE32, text, sizeof(text));
	assert_int_equal(p2p_peerid_from_string(&id, text), P2P_EPROTO);
	cid_text(P2P_CODEC_RAW, P2P_MULTIBASE_BASE32, text, sizeof(text));
	assert_int_equal(p2p_peerid_from_string(&id, text), P2P_EPROTO);
}

static void test_rejects(void **state)
{
	p2p_peerid id;
	static const char *const bad[] = {
	    "",
	    "Qm",
	    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",   /* one char short */
	    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N1", /* one too many */
	    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx50",  /* '0' is not base58 */
	    "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx",  /* truncated */
	    "xafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe", /* no such base
	                                                                    */
	    "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S",
	    "peer",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(p2p_peerid_from_string(&id, bad[i]), P2P_EPROTO);
	char longer[P2P_PEERID_STR_MAX + 10];
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(p2p_peerid_from_string(&id, longer), P2P_EPROTO);

	/* Multihashes that are not peer IDs. */
	uint8_t mh[80] = {0x12, 0x1f};
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 33),
	                 P2P_EPROTO); /* short sha256 */
	mh[0] = 0x11;
	mh[1] = 0x14;
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 22), P2P_EPROTO); /* sha1 */
	mh[0] = 0x00;
	mh[1] = 43;
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 45),
	                 P2P_EPROTO); /* long inline */
	mh[1] = 0;
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 2),
	                 P2P_EPROTO); /* empty inline */
	mh[1] = 2;
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 5),
	                 P2P_EPROTO); /* trailing byte */
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 0), P2P_EPROTO);
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 80), P2P_EPROTO);

	/* An inline ID whose content is not a key is an ID, but no key. */
	mh[1] = 3;
	mh[2] = 0x08;
	mh[3] = 0x01;
	mh[4] = 0x12;
	assert_int_equal(p2p_peerid_from_bytes(&id, mh, 5), P2P_OK);
	p2p_pubkey *key = NULL;
	assert_int_equal(p2p_peerid_extract_pubkey(&id, &key), P2P_EPROTO);
	assert_null(key);
}

static void test_text_buffer_size(void **state)
{
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_string(&id, EX_SHA256_ID), P2P_OK);
	char text[P2P_PEERID_STR_MAX];
	size_t n = strlen(EX_SHA256_ID);
	assert_int_equal(p2p_peerid_to_string(&id, text, n), P2P_ETOOBIG);
	assert_int_equal(p2p_peerid_to_string(&id, text, n + 1), P2P_OK);
	assert_string_equal(text, EX_SHA256_ID);
	assert_int_equal(p2p_peerid_to_cid_string(&id, text, 10), P2P_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_examples),
	    cmocka_unit_test(test_spec_keys),
	    cmocka_unit_test(test_go_rsa_peerid),
	    cmocka_unit_test(test_matches_other_key),
	    cmocka_unit_test(test_cid_forms),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_text_buffer_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
