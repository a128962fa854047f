/* Ed25519 private keys: generation, signing and the protobuf PrivateKey
 * encoding go-libp2p uses for key files. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/key_internal.h"
#include "p2p/error.h"
#include "p2p/keys.h"
#include "proto/crypto.pb-c.h"

/* Data lengths we read: the bare seed, seed||public (what go-libp2p writes)
 * and seed||public||public (what old go-libp2p versions wrote). */
#define ED25519_SEED_LEN    P2P_ED25519_KEY_LEN
#define ED25519_PRIVATE_LEN (2 * P2P_ED25519_KEY_LEN)
#define ED25519_LEGACY_LEN  (3 * P2P_ED25519_KEY_LEN)
#define PRIVKEY_MAX_ENCODED 128 /* protobuf of the longest form above */

struct p2p_privkey {
	EVP_PKEY *pkey;
	p2p_pubkey *pub; /* owned */
};

/* Wraps an OpenSSL Ed25519 key (taking it over) with its public half. */
static int privkey_wrap(EVP_PKEY *pkey, p2p_privkey **out)
{
	uint8_t raw[P2P_ED25519_KEY_LEN];
	size_t raw_len = sizeof(raw);
	p2p_pubkey *pub = NULL;
	int rc = P2P_ECRYPTO;
	if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 ||
	    raw_len != sizeof(raw))
		goto fail;
	rc = p2p_pubkey_from_raw(&pub, P2P_KEY_ED25519, raw, raw_len);
	if (rc != P2P_OK)
		goto fail;
	p2p_privkey *key = calloc(1, sizeof(*key));
	if (key == NULL) {
		rc = P2P_ENOMEM;
		goto fail;
	}
	key->pkey = pkey;
	key->pub = pub;
	*out = key;
	return P2P_OK;
fail:
	ERR_clear_error();
	p2p_pubkey_free(pub);
	EVP_PKEY_free(pkey);
	return rc;
}

int p2p_privkey_generate(p2p_privkey **out)
{
	if (out == NULL)
		return P2P_EINVAL;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		ERR_clear_error();
		return P2P_ECRYPTO;
	}
	return privkey_wrap(pkey, out);
}

/* Builds the key from the Data field, checking any public key copies it
 * carries against the one the seed gives. */
static int privkey_from_data(const uint8_t *data, size_t len, p2p_privkey **out)
{
	if (len != ED25519_SEED_LEN && len != ED25519_PRIVATE_LEN &&
	    len != ED25519_LEGACY_LEN)
		return P2P_EPROTO;
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, data,
	                                                 ED25519_SEED_LEN);
	if (pkey == NULL) {
		ERR_clear_error();
		return P2P_ECRYPTO;
	}
	uint8_t pub[P2P_ED25519_KEY_LEN];
	size_t pub_len = sizeof(pub);
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &pub_len) != 1 ||
	    pub_len != sizeof(pub)) {
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		return P2P_ECRYPTO;
	}
	for (size_t off = ED25519_SEED_LEN; off < len; off += P2P_ED25519_KEY_LEN) {
		if (CRYPTO_memcmp(data + off, pub, P2P_ED25519_KEY_LEN) != 0) {
			EVP_PKEY_free(pkey);
			return P2P_ECRYPTO;
		}
	}
	return privkey_wrap(pkey, out);
}

int p2p_privkey_decode(p2p_privkey **out, const uint8_t *pb, size_t len)
{
	if (out == NULL || (pb == NULL && len > 0))
		return P2P_EINVAL;
	if (len > PRIVKEY_MAX_ENCODED)
		return P2P_ETOOBIG;
	Crypto__Pb__PrivateKey *msg = crypto__pb__private_key__unpack(NULL, len, pb);
	if (msg == NULL)
		return P2P_EPROTO;
	int rc = P2P_OK;
	/* Only the deterministic encoding, as for public keys. */
	if (msg->base.n_unknown_fields != 0 ||
	    crypto__pb__private_key__get_packed_size(msg) != len) {
		rc = P2P_EPROTO;
	} else {
		uint8_t packed[PRIVKEY_MAX_ENCODED];
		crypto__pb__private_key__pack(msg, packed);
		if (CRYPTO_memcmp(packed, pb, len) != 0)
			rc = P2P_EPROTO;
		OPENSSL_cleanse(packed, sizeof(packed));
	}
	if (rc == P2P_OK && msg->type != CRYPTO__PB__KEY_TYPE__Ed25519)
		rc = P2P_EUNSUPPORTED;
	if (rc == P2P_OK)
		rc = privkey_from_data(msg->data.data, msg->data.len, out);
	if (msg->data.data != NULL)
		OPENSSL_cleanse(msg->data.data, msg->data.len);
	crypto__pb__private_key__free_unpacked(msg, NULL);
	return rc;
}

int p2p_privkey_encode(const p2p_privkey *key, p2p_buf *out)
{
	if (key == NULL || out == NULL)
		return P2P_EINVAL;
	uint8_t data[ED25519_PRIVATE_LEN];
	size_t seed_len = ED25519_SEED_LEN, pub_len = P2P_ED25519_KEY_LEN;
	int rc = P2P_ECRYPTO;
	if (EVP_PKEY_get_raw_private_key(key->pkey, data, &seed_len) != 1 ||
	    seed_len != ED25519_SEED_LEN ||
	    EVP_PKEY_get_raw_public_key(key->pkey, data + ED25519_SEED_LEN, &pub_len) !=
	        1 ||
	    pub_len != P2P_ED25519_KEY_LEN) {
		ERR_clear_error();
		goto done;
	}
	Crypto__Pb__PrivateKey msg = CRYPTO__PB__PRIVATE_KEY__INIT;
	msg.type = CRYPTO__PB__KEY_TYPE__Ed25519;
	msg.data.data = data;
	msg.data.len = sizeof(data);
	size_t n = crypto__pb__private_key__get_packed_size(&msg);
	/* Reserve first, so the secret is written once, straight into out. */
	rc = p2p_buf_reserve(out, n);
	if (rc != P2P_OK)
		goto done;
	out->len += crypto__pb__private_key__pack(&msg, out->data + out->len);
done:
	OPENSSL_cleanse(data, sizeof(data));
	return rc;
}

int p2p_privkey_sign(const p2p_privkey *key, const uint8_t *msg, size_t msg_len,
                     uint8_t sig[P2P_ED25519_SIGNATURE_LEN])
{
	static const uint8_t empty[1];
	if (key == NULL || sig == NULL || (msg == NULL && msg_len > 0))
		return P2P_EINVAL;
	if (msg == NULL)
		msg = empty;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return P2P_ENOMEM;
	size_t sig_len = P2P_ED25519_SIGNATURE_LEN;
	int rc = P2P_OK;
	if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key->pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len) != 1 ||
	    sig_len != P2P_ED25519_SIGNATURE_LEN) {
		ERR_clear_error();
		rc = P2P_ECRYPTO;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

const p2p_pubkey *p2p_privkey_public(const p2p_privkey *key)
{
	return key->pub;
}

void p2p_privkey_free(p2p_privkey *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey); /* OpenSSL clears the secret as it frees it */
	p2p_pubkey_free(key->pub);
	free(key);
}
