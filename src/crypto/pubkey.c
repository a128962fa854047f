/* Public keys of the four libp2p key types, parsed from and written to the
 * protobuf PublicKey message, and signature verification (OpenSSL 3 EVP).
 *
 * We keep the raw Data bytes next to the parsed OpenSSL key. Decoding only
 * accepts the canonical form of both the protobuf message and the key
 * material, so re-encoding gives back exactly the bytes we received, and
 * the peer ID we derive is the one the remote derived itself. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/key_internal.h"
#include "p2p/error.h"
#include "p2p/keys.h"
#include "proto/crypto.pb-c.h"

#define SECP256K1_COMPRESSED_LEN     33
#define EC_POINT_MAX_LEN             133 /* uncompressed P-521: 1 + 2 * 66 */
#define RSA_MAX_PUBLIC_EXPONENT_BITS 31  /* as Go: e must fit in 31 bits */

struct p2p_pubkey {
	p2p_key_type type;
	EVP_PKEY *pkey; /* shared between duplicates (OpenSSL refcounts it) */
	uint8_t *data;  /* the canonical Data field, owned */
	size_t data_len;
};

/* The NIST curves go-libp2p accepts for ECDSA keys. */
static const char *const ecdsa_curves[] = {"prime256v1", "secp384r1", "secp521r1"};

/* OpenSSL leaves a reason on its thread-local error queue for every failed
 * parse; a peer's bad key is an expected event, so we drop them. */
static int crypto_fail(int rc)
{
	ERR_clear_error();
	return rc;
}

/* Builds an EC key from a group name and an encoded point. OpenSSL rejects a
 * point that is not on the curve. */
static int ec_pkey_from_point(const char *group, const uint8_t *point, size_t len,
                              EVP_PKEY **out)
{
	int rc = P2P_ECRYPTO;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pkey = NULL;
	if (bld == NULL || ctx == NULL) {
		rc = P2P_ENOMEM;
		goto done;
	}
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		rc = P2P_ENOMEM;
		goto done;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto done;
	/* Not the point at infinity, and on the curve. */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (check == NULL || EVP_PKEY_public_check_quick(check) != 1)
		goto done;
	*out = pkey;
	pkey = NULL;
	rc = P2P_OK;
done:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc == P2P_OK ? rc : crypto_fail(rc);
}

static int parse_ed25519(const uint8_t *data, size_t len, EVP_PKEY **out)
{
	if (len != P2P_ED25519_KEY_LEN)
		return P2P_ECRYPTO;
	*out = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, data, len);
	return *out != NULL ? P2P_OK : crypto_fail(P2P_ECRYPTO);
}

/* Data is the 33-byte compressed point, the only form go-libp2p writes. */
static int parse_secp256k1(const uint8_t *data, size_t len, EVP_PKEY **out)
{
	if (len != SECP256K1_COMPRESSED_LEN || (data[0] != 0x02 && data[0] != 0x03))
		return P2P_ECRYPTO;
	return ec_pkey_from_point("secp256k1", data, len, out);
}

/* True if DER-encoding pkey as a SubjectPublicKeyInfo gives exactly data. */
static int der_matches(EVP_PKEY *pkey, const uint8_t *data, size_t len)
{
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(pkey, &der);
	int same = der_len > 0 && (size_t)der_len == len && memcmp(der, data, len) == 0;
	OPENSSL_free(der);
	return same;
}

/* Data is a PKIX SubjectPublicKeyInfo on a named NIST curve with an
 * uncompressed point (what Go's x509 reads and writes). We rebuild the
 * canonical DER from the curve and point and insist the input equals it,
 * which rules out explicit curve parameters and any non-DER encoding. */
static int parse_ecdsa(const uint8_t *data, size_t len, EVP_PKEY **out)
{
	const unsigned char *p = data;
	EVP_PKEY *parsed = d2i_PUBKEY(NULL, &p, (long)len);
	EVP_PKEY *canonical = NULL;
	int rc = P2P_ECRYPTO;
	if (parsed == NULL || p != data + len ||
	    EVP_PKEY_get_base_id(parsed) != EVP_PKEY_EC)
		goto done;
	char group[64];
	if (EVP_PKEY_get_group_name(parsed, group, sizeof(group), NULL) != 1)
		goto done;
	const char *curve = NULL;
	for (size_t i = 0; i < sizeof(ecdsa_curves) / sizeof(ecdsa_curves[0]); i++)
		if (strcmp(group, ecdsa_curves[i]) == 0)
			curve = ecdsa_curves[i];
	if (curve == NULL) {
		rc = P2P_EUNSUPPORTED;
		goto done;
	}
	uint8_t point[EC_POINT_MAX_LEN];
	size_t point_len = 0;
	if (EVP_PKEY_get_octet_string_param(parsed, OSSL_PKEY_PARAM_PUB_KEY, point,
	                                    sizeof(point), &point_len) != 1 ||
	    point_len == 0 || point[0] != 0x04)
		goto done;
	rc = ec_pkey_from_point(curve, point, point_len, &canonical);
	if (rc != P2P_OK)
		goto done;
	if (!der_matches(canonical, data, len)) {
		rc = P2P_ECRYPTO;
		goto done;
	}
	*out = canonical;
	canonical = NULL;
done:
	EVP_PKEY_free(parsed);
	EVP_PKEY_free(canonical);
	return rc == P2P_OK ? rc : crypto_fail(rc);
}

/* Data is a PKIX SubjectPublicKeyInfo with the rsaEncryption algorithm (not
 * RSA-PSS, which Go does not read), in DER, of a bounded size. */
static int parse_rsa(const uint8_t *data, size_t len, EVP_PKEY **out)
{
	const unsigned char *p = data;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
	BIGNUM *e = NULL;
	int rc = P2P_ECRYPTO;
	if (pkey == NULL || p != data + len ||
	    EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || !der_matches(pkey, data, len))
		goto done;
	int bits = EVP_PKEY_get_bits(pkey);
	if (bits < P2P_RSA_MIN_BITS || bits > P2P_RSA_MAX_BITS)
		goto done;
	/* An exponent Go would refuse at verification time is refused here. */
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
	    BN_num_bits(e) > RSA_MAX_PUBLIC_EXPONENT_BITS || !BN_is_odd(e) ||
	    BN_is_one(e))
		goto done;
	*out = pkey;
	pkey = NULL;
	rc = P2P_OK;
done:
	BN_free(e);
	EVP_PKEY_free(pkey);
	return rc == P2P_OK ? rc : crypto_fail(rc);
}

int p2p_pubkey_from_raw(p2p_pubkey **out, p2p_key_type type, const uint8_t *data,
                        size_t len)
{
	EVP_PKEY *pkey = NULL;
	int rc;
	if (len > P2P_PUBKEY_MAX_ENCODED)
		return P2P_ETOOBIG;
	switch (type) {
	case P2P_KEY_ED25519:
		rc = parse_ed25519(data, len, &pkey);
		break;
	case P2P_KEY_SECP256K1:
		rc = parse_secp256k1(data, len, &pkey);
		break;
	case P2P_KEY_ECDSA:
		rc = parse_ecdsa(data, len, &pkey);
		break;
	case P2P_KEY_RSA:
		rc = parse_rsa(data, len, &pkey);
		break;
	default:
		return P2P_EUNSUPPORTED;
	}
	if (rc != P2P_OK)
		return rc;
	p2p_pubkey *key = calloc(1, sizeof(*key));
	uint8_t *copy = malloc(len);
	if (key == NULL || copy == NULL) {
		free(key);
		free(copy);
		EVP_PKEY_free(pkey);
		return P2P_ENOMEM;
	}
	memcpy(copy, data, len);
	key->type = type;
	key->pkey = pkey;
	key->data = copy;
	key->data_len = len;
	*out = key;
	return P2P_OK;
}

int p2p_pubkey_decode(p2p_pubkey **out, const uint8_t *pb, size_t len)
{
	if (out == NULL || (pb == NULL && len > 0))
		return P2P_EINVAL;
	if (len == 0)
		return P2P_EPROTO; /* both fields are required */
	if (len > P2P_PUBKEY_MAX_ENCODED)
		return P2P_ETOOBIG;
	Crypto__Pb__PublicKey *msg = crypto__pb__public_key__unpack(NULL, len, pb);
	if (msg == NULL)
		return P2P_EPROTO;
	int rc = P2P_OK;
	/* The spec requires the deterministic encoding: both fields, in order,
	 * minimal varints, nothing else. Re-packing must give the input back. */
	if (msg->base.n_unknown_fields != 0 ||
	    crypto__pb__public_key__get_packed_size(msg) != len) {
		rc = P2P_EPROTO;
	} else {
		uint8_t packed[P2P_PUBKEY_MAX_ENCODED];
		crypto__pb__public_key__pack(msg, packed);
		if (memcmp(packed, pb, len) != 0)
			rc = P2P_EPROTO;
	}
	if (rc == P2P_OK)
		rc = p2p_pubkey_from_raw(out, (p2p_key_type)msg->type, msg->data.data,
		                         msg->data.len);
	crypto__pb__public_key__free_unpacked(msg, NULL);
	return rc;
}

int p2p_pubkey_encode(const p2p_pubkey *key, p2p_buf *out)
{
	if (key == NULL || out == NULL)
		return P2P_EINVAL;
	Crypto__Pb__PublicKey msg = CRYPTO__PB__PUBLIC_KEY__INIT;
	msg.type = (Crypto__Pb__KeyType)key->type;
	msg.data.data = key->data;
	msg.data.len = key->data_len;
	/* protobuf-c writes fields in tag order, required ones always, with
	 * minimal varints: the deterministic form the spec asks for. */
	size_t n = crypto__pb__public_key__get_packed_size(&msg);
	int rc = p2p_buf_reserve(out, n);
	if (rc != P2P_OK)
		return rc;
	out->len += crypto__pb__public_key__pack(&msg, out->data + out->len);
	return P2P_OK;
}

p2p_key_type p2p_pubkey_type(const p2p_pubkey *key)
{
	return key->type;
}

/* One-shot EVP verification; md is NULL for Ed25519, which hashes itself. */
static int evp_verify(EVP_PKEY *pkey, const char *md, int rsa_padding, const uint8_t *msg,
                      size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return P2P_ENOMEM;
	EVP_PKEY_CTX *pctx = NULL;
	int rc = P2P_ECRYPTO;
	if (EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, pkey, NULL) != 1)
		goto done;
	if (rsa_padding != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, rsa_padding) != 1)
		goto done;
	if (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1)
		rc = P2P_OK;
done:
	EVP_MD_CTX_free(ctx);
	return rc == P2P_OK ? rc : crypto_fail(rc);
}

int p2p_pubkey_verify(const p2p_pubkey *key, const uint8_t *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len)
{
	static const uint8_t empty[1];
	if (key == NULL || (msg == NULL && msg_len > 0) || (sig == NULL && sig_len > 0))
		return P2P_EINVAL;
	if (msg == NULL)
		msg = empty;
	if (sig_len == 0 || sig_len > P2P_SIGNATURE_MAX)
		return P2P_ECRYPTO;
	switch (key->type) {
	case P2P_KEY_ED25519:
		if (sig_len != P2P_ED25519_SIGNATURE_LEN)
			return P2P_ECRYPTO;
		return evp_verify(key->pkey, NULL, 0, msg, msg_len, sig, sig_len);
	case P2P_KEY_SECP256K1:
	case P2P_KEY_ECDSA:
		/* OpenSSL only accepts strict DER signatures with no trailing
		 * bytes, like Go's parsers. */
		return evp_verify(key->pkey, "SHA256", 0, msg, msg_len, sig, sig_len);
	case P2P_KEY_RSA:
		/* Go requires the signature to be exactly the modulus size. */
		if ((int)sig_len != EVP_PKEY_get_size(key->pkey))
			return P2P_ECRYPTO;
		return evp_verify(key->pkey, "SHA256", RSA_PKCS1_PADDING, msg, msg_len,
		                  sig, sig_len);
	}
	return P2P_ECRYPTO;
}

bool p2p_pubkey_equal(const p2p_pubkey *a, const p2p_pubkey *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	/* Decoding only admits canonical encodings, so equal keys have equal
	 * bytes. */
	return a->type == b->type && a->data_len == b->data_len &&
	       memcmp(a->data, b->data, a->data_len) == 0;
}

p2p_pubkey *p2p_pubkey_dup(const p2p_pubkey *key)
{
	if (key == NULL)
		return NULL;
	p2p_pubkey *copy = calloc(1, sizeof(*copy));
	uint8_t *data = malloc(key->data_len);
	if (copy == NULL || data == NULL || EVP_PKEY_up_ref(key->pkey) != 1) {
		free(copy);
		free(data);
		return NULL;
	}
	memcpy(data, key->data, key->data_len);
	copy->type = key->type;
	copy->pkey = key->pkey;
	copy->data = data;
	copy->data_len = key->data_len;
	return copy;
}

void p2p_pubkey_free(p2p_pubkey *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->data);
	free(key);
}
