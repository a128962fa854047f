/* Public keys: the peer-ids spec vectors decode and re-encode to the same
 * bytes, go-libp2p's signatures verify, signatures made here with OpenSSL
 * verify for every type, and malformed or non-canonical input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/keys.h"
#include "vectors.h"

/* Decodes hex, checks the result, and if it decoded that encode gives the
 * same bytes back. Returns the key or NULL. */
static p2p_pubkey *decode_hex(const char *hex, int expect)
{
	size_t len;
	uint8_t *pb = vec_hex(hex, &len);
	p2p_pubkey *key = NULL;
	assert_int_equal(p2p_pubkey_decode(&key, pb, len), expect);
	if (expect == P2P_OK) {
		p2p_buf out;
		p2p_buf_init(&out);
		assert_int_equal(p2p_pubkey_encode(key, &out), P2P_OK);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, pb, len);
		p2p_buf_free(&out);
	} else {
		assert_null(key);
	}
	free(pb);
	return key;
}

/* Builds a PublicKey protobuf by hand: field 1 varint, field 2 bytes. */
static void make_pb(p2p_buf *out, int type, const uint8_t *data, size_t len)
{
	p2p_buf_init(out);
	assert_int_equal(p2p_buf_append_byte(out, 0x08), P2P_OK);
	assert_int_equal(p2p_buf_append_uvarint(out, (uint64_t)type), P2P_OK);
	assert_int_equal(p2p_buf_append_byte(out, 0x12), P2P_OK);
	assert_int_equal(p2p_buf_append_uvarint(out, len), P2P_OK);
	assert_int_equal(p2p_buf_append(out, data, len), P2P_OK);
}

static int decode_made(int type, const uint8_t *data, size_t len, p2p_pubkey **key)
{
	p2p_buf pb;
	make_pb(&pb, type, data, len);
	int rc = p2p_pubkey_decode(key, pb.data, pb.len);
	p2p_buf_free(&pb);
	return rc;
}

static void test_spec_vectors_roundtrip(void **state)
{
	static const struct {
		const char *hex;
		p2p_key_type type;
	} vec[] = {
	    {SPEC_ED25519_PUB, P2P_KEY_ED25519}, {SPEC_SECP256K1_PUB, P2P_KEY_SECP256K1},
	    {SPEC_ECDSA_PUB, P2P_KEY_ECDSA},     {SPEC_RSA_PUB, P2P_KEY_RSA},
	    {GO_RSA_PUB, P2P_KEY_RSA},           {GO_SECP256K1_PUB, P2P_KEY_SECP256K1},
	    {GO_ECDSA_PUB, P2P_KEY_ECDSA},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		p2p_pubkey *key = decode_hex(vec[i].hex, P2P_OK);
		assert_int_equal(p2p_pubkey_type(key), vec[i].type);
		p2p_pubkey *copy = p2p_pubkey_dup(key);
		assert_non_null(copy);
		assert_true(p2p_pubkey_equal(key, copy));
		p2p_pubkey_free(key);
		p2p_pubkey_free(copy);
	}
}

static void test_equal(void **state)
{
	p2p_pubkey *a = decode_hex(SPEC_ED25519_PUB, P2P_OK);
	p2p_pubkey *b = decode_hex(SPEC_ED25519_PUB, P2P_OK);
	p2p_pubkey *c = decode_hex(SPEC_SECP256K1_PUB, P2P_OK);
	assert_true(p2p_pubkey_equal(a, b));
	assert_false(p2p_pubkey_equal(a, c));
	assert_false(p2p_pubkey_equal(a, NULL));
	p2p_pubkey_free(a);
	p2p_pubkey_free(b);
	p2p_pubkey_free(c);
}

/* go-libp2p signed GO_FIXTURE_MESSAGE with each fixture key. */
static void test_go_fixture_signatures(void **state)
{
	static const char *const vec[][2] = {
	    {GO_RSA_PUB, GO_RSA_SIG},
	    {GO_SECP256K1_PUB, GO_SECP256K1_SIG},
	    {GO_ECDSA_PUB, GO_ECDSA_SIG},
	};
	const uint8_t *msg = (const uint8_t *)GO_FIXTURE_MESSAGE;
	size_t msg_len = strlen(GO_FIXTURE_MESSAGE);
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		p2p_pubkey *key = decode_hex(vec[i][0], P2P_OK);
		size_t sig_len;
		uint8_t *sig = vec_hex(vec[i][1], &sig_len);
		assert_int_equal(p2p_pubkey_verify(key, msg, msg_len, sig, sig_len),
		                 P2P_OK);
		/* Another message, a changed signature, a truncated one. */
		assert_int_equal(p2p_pubkey_verify(key, msg, msg_len - 1, sig, sig_len),
		                 P2P_ECRYPTO);
		sig[sig_len - 1] ^= 0x01;
		assert_int_equal(p2p_pubkey_verify(key, msg, msg_len, sig, sig_len),
		                 P2P_ECRYPTO);
		sig[sig_len - 1] ^= 0x01;
		assert_int_equal(p2p_pubkey_verify(key, msg, msg_len, sig, sig_len - 1),
		                 P2P_ECRYPTO);
		assert_int_equal(p2p_pubkey_verify(key, msg, msg_len, sig, 0),
		                 P2P_ECRYPTO);
		free(sig);
		p2p_pubkey_free(key);
	}
}

/* ECDSA-family signature: DER over SHA-256(msg), made by OpenSSL. */
static void sign_sha256(EVP_PKEY *pkey, const uint8_t *msg, size_t len, uint8_t *sig,
                        size_t *sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(
	    EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, sig_len, msg, len), 1);
	EVP_MD_CTX_free(ctx);
}

/* Signs, verifies through our key, then checks a tampered signature and a
 * trailing byte are refused. */
static void check_sign_verify(EVP_PKEY *pkey, const p2p_pubkey *key)
{
	static const uint8_t msg[] = "noise-libp2p-static-key:";
	uint8_t sig[P2P_SIGNATURE_MAX];
	size_t sig_len = sizeof(sig);
	sign_sha256(pkey, msg, sizeof(msg), sig, &sig_len);
	assert_int_equal(p2p_pubkey_verify(key, msg, sizeof(msg), sig, sig_len), P2P_OK);
	sig[sig_len] = 0;
	assert_int_equal(p2p_pubkey_verify(key, msg, sizeof(msg), sig, sig_len + 1),
	                 P2P_ECRYPTO);
	sig[sig_len / 2] ^= 0x40;
	assert_int_equal(p2p_pubkey_verify(key, msg, sizeof(msg), sig, sig_len),
	                 P2P_ECRYPTO);
}

static void test_secp256k1_openssl(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	assert_non_null(pkey);
	uint8_t point[65];
	size_t point_len = 0;
	assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY,
	                                                 point, sizeof(point),
	                                                 &point_len),
	                 1);
	assert_int_equal(point_len, 65);
	assert_int_equal(point[0], 0x04);
	/* The uncompressed form is not what libp2p sends. */
	p2p_pubkey *key = NULL;
	assert_int_equal(decode_made(P2P_KEY_SECP256K1, point, 65, &key), P2P_ECRYPTO);
	/* Compressed: parity of y, then x. */
	uint8_t compressed[33];
	compressed[0] = (uint8_t)(0x02 | (point[64] & 1));
	memcpy(compressed + 1, point + 1, 32);
	assert_int_equal(decode_made(P2P_KEY_SECP256K1, compressed, 33, &key), P2P_OK);
	check_sign_verify(pkey, key);
	p2p_pubkey_free(key);
	/* A point that is not on the curve (x = 5 has no y on secp256k1). */
	uint8_t bogus[33] = {0x02};
	bogus[32] = 5;
	assert_int_equal(decode_made(P2P_KEY_SECP256K1, bogus, 33, &key), P2P_ECRYPTO);
	EVP_PKEY_free(pkey);
}

static void pkix(EVP_PKEY *pkey, p2p_buf *der)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(pkey, &p);
	assert_true(n > 0);
	p2p_buf_init(der);
	assert_int_equal(p2p_buf_append(der, p, (size_t)n), P2P_OK);
	OPENSSL_free(p);
}

static void test_ecdsa_openssl(void **state)
{
	static const char *const curves[] = {"P-256", "P-384", "P-521"};
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
		assert_non_null(pkey);
		p2p_buf der;
		pkix(pkey, &der);
		p2p_pubkey *key = NULL;
		assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
		                 P2P_OK);
		check_sign_verify(pkey, key);
		p2p_pubkey_free(key);
		/* The same key under another type tag is refused. */
		assert_int_equal(decode_made(P2P_KEY_RSA, der.data, der.len, &key),
		                 P2P_ECRYPTO);
		/* Trailing garbage after the DER. */
		assert_int_equal(p2p_buf_append_byte(&der, 0), P2P_OK);
		assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
		                 P2P_ECRYPTO);
		p2p_buf_free(&der);
		/* A compressed point in the SubjectPublicKeyInfo (Go refuses it). */
		assert_int_equal(
		    EVP_PKEY_set_utf8_string_param(
		        pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
		    1);
		pkix(pkey, &der);
		assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
		                 P2P_ECRYPTO);
		p2p_buf_free(&der);
		EVP_PKEY_free(pkey);
	}
	/* Curves outside the NIST three. */
	static const char *const other[] = {"P-224", "secp256k1"};
	for (size_t i = 0; i < 2; i++) {
		EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", other[i]);
		assert_non_null(pkey);
		p2p_buf der;
		pkix(pkey, &der);
		p2p_pubkey *key = NULL;
		assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
		                 P2P_EUNSUPPORTED);
		p2p_buf_free(&der);
		EVP_PKEY_free(pkey);
	}
	/* An Ed25519 SubjectPublicKeyInfo is not an ECDSA key. */
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(ed);
	p2p_buf der;
	pkix(ed, &der);
	p2p_pubkey *key = NULL;
	assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
	                 P2P_ECRYPTO);
	p2p_buf_free(&der);
	EVP_PKEY_free(ed);
}

static void test_rsa_limits(void **state)
{
	/* Below P2P_RSA_MIN_BITS. */
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(small);
	p2p_buf der;
	pkix(small, &der);
	p2p_pubkey *key = NULL;
	assert_int_equal(decode_made(P2P_KEY_RSA, der.data, der.len, &key), P2P_ECRYPTO);
	/* The same key tagged as ECDSA. */
	assert_int_equal(decode_made(P2P_KEY_ECDSA, der.data, der.len, &key),
	                 P2P_ECRYPTO);
	p2p_buf_free(&der);
	EVP_PKEY_free(small);

	/* A 2048-bit key: a signature made with OpenSSL (PKCS#1 v1.5, SHA-256)
	 * verifies; one of the wrong length does not. */
	size_t len;
	uint8_t *pb = vec_hex(GO_RSA_PUB, &len);
	assert_int_equal(p2p_pubkey_decode(&key, pb, len), P2P_OK);
	uint8_t sig[256];
	size_t sig_len;
	uint8_t *go_sig = vec_hex(GO_RSA_SIG, &sig_len);
	assert_int_equal(sig_len, sizeof(sig));
	memcpy(sig, go_sig, sig_len);
	free(go_sig);
	const uint8_t *msg = (const uint8_t *)GO_FIXTURE_MESSAGE;
	assert_int_equal(
	    p2p_pubkey_verify(key, msg, strlen(GO_FIXTURE_MESSAGE), sig, 256), P2P_OK);
	assert_int_equal(
	    p2p_pubkey_verify(key, msg, strlen(GO_FIXTURE_MESSAGE), sig, 255),
	    P2P_ECRYPTO);
	p2p_pubkey_free(key);
	free(pb);
}

static void test_malformed(void **state)
{
	size_t len;
	uint8_t *good = vec_hex(SPEC_ED25519_PUB, &len); /* 08 01 12 20 <32> */
	assert_int_equal(len, 36);
	p2p_pubkey *key = NULL;
	uint8_t buf[64];

	/* Fields in the wrong order. */
	memcpy(buf, good + 2, 34);
	memcpy(buf + 34, good, 2);
	assert_int_equal(p2p_pubkey_decode(&key, buf, 36), P2P_EPROTO);
	/* The type field twice. */
	memcpy(buf, good, 2);
	memcpy(buf + 2, good, 36);
	assert_int_equal(p2p_pubkey_decode(&key, buf, 38), P2P_EPROTO);
	/* An extra, unknown field. */
	memcpy(buf, good, 36);
	buf[36] = 0x18;
	buf[37] = 0x01;
	assert_int_equal(p2p_pubkey_decode(&key, buf, 38), P2P_EPROTO);
	/* A non-minimal varint for the type. */
	buf[0] = 0x08;
	buf[1] = 0x81;
	buf[2] = 0x00;
	memcpy(buf + 3, good + 2, 34);
	assert_int_equal(p2p_pubkey_decode(&key, buf, 37), P2P_EPROTO);
	/* Truncated, missing Data, empty. */
	assert_int_equal(p2p_pubkey_decode(&key, good, 35), P2P_EPROTO);
	assert_int_equal(p2p_pubkey_decode(&key, good, 2), P2P_EPROTO);
	assert_int_equal(p2p_pubkey_decode(&key, good, 0), P2P_EPROTO);
	/* Unknown key type. */
	memcpy(buf, good, 36);
	buf[1] = 4;
	assert_int_equal(p2p_pubkey_decode(&key, buf, 36), P2P_EUNSUPPORTED);
	/* Ed25519 key of the wrong size. */
	assert_int_equal(decode_made(P2P_KEY_ED25519, good + 4, 31, &key), P2P_ECRYPTO);
	/* Over the size limit. */
	uint8_t *big = calloc(1, P2P_PUBKEY_MAX_ENCODED + 1);
	assert_int_equal(p2p_pubkey_decode(&key, big, P2P_PUBKEY_MAX_ENCODED + 1),
	                 P2P_ETOOBIG);
	free(big);
	assert_null(key);
	free(good);
}

static void test_ed25519_signature_length(void **state)
{
	p2p_pubkey *key = decode_hex(SPEC_ED25519_PUB, P2P_OK);
	uint8_t sig[65] = {0};
	assert_int_equal(p2p_pubkey_verify(key, sig, 1, sig, 64), P2P_ECRYPTO);
	assert_int_equal(p2p_pubkey_verify(key, sig, 1, sig, 65), P2P_ECRYPTO);
	assert_int_equal(p2p_pubkey_verify(key, NULL, 0, sig, 63), P2P_ECRYPTO);
	p2p_pubkey_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vectors_roundtrip),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_go_fixture_signatures),
	    cmocka_unit_test(test_secp256k1_openssl),
	    cmocka_unit_test(test_ecdsa_openssl),
	    cmocka_unit_test(test_rsa_limits),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ed25519_signature_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
