#include "secure/noise_hs.h"

#include <string.h>

#include <openssl/crypto.h>

#include "p2p/error.h"

#define STEP_DONE         3
#define STEP_FAILED       (-1)
#define ENCRYPTED_KEY_LEN (P2P_NOISE_DH_LEN + P2P_NOISE_TAG_LEN)

/* --- the 25519 DH functions --- */

static int x25519_generate(EVP_PKEY **key, uint8_t pub[P2P_NOISE_DH_LEN])
{
	*key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t len = P2P_NOISE_DH_LEN;
	if (*key == NULL || EVP_PKEY_get_raw_public_key(*key, pub, &len) != 1 ||
	    len != P2P_NOISE_DH_LEN)
		return P2P_ECRYPTO;
	return P2P_OK;
}

static int x25519_from_private(EVP_PKEY **key, const uint8_t priv[P2P_NOISE_DH_LEN],
                               uint8_t pub[P2P_NOISE_DH_LEN])
{
	*key =
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, P2P_NOISE_DH_LEN);
	size_t len = P2P_NOISE_DH_LEN;
	if (*key == NULL || EVP_PKEY_get_raw_public_key(*key, pub, &len) != 1 ||
	    len != P2P_NOISE_DH_LEN)
		return P2P_ECRYPTO;
	return P2P_OK;
}

/* DH(key_pair, public_key). OpenSSL refuses a result of all zeros (a
 * low-order point from the peer), which the Noise spec allows us to do. */
static int x25519_dh(EVP_PKEY *ours, const uint8_t theirs[P2P_NOISE_DH_LEN],
                     uint8_t out[P2P_NOISE_DH_LEN])
{
	int rc = P2P_ECRYPTO;
	EVP_PKEY *peer =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, theirs, P2P_NOISE_DH_LEN);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ours, NULL);
	size_t len = P2P_NOISE_DH_LEN;
	if (peer != NULL && ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, out, &len) == 1 && len == P2P_NOISE_DH_LEN)
		rc = P2P_OK;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return rc;
}

/* --- SymmetricState --- */

static int mix_hash(p2p_noise_hs *hs, const uint8_t *data, size_t len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(md, hs->h, sizeof(hs->h)) == 1 &&
	         EVP_DigestUpdate(md, data, len) == 1 &&
	         EVP_DigestFinal_ex(md, hs->h, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? P2P_OK : P2P_ECRYPTO;
}

static int hmac(const uint8_t key[P2P_NOISE_HASH_LEN], const uint8_t *data, size_t len,
                uint8_t out[P2P_NOISE_HASH_LEN])
{
	size_t out_len = 0;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, P2P_NOISE_HASH_LEN, data,
	              len, out, P2P_NOISE_HASH_LEN, &out_len) == NULL ||
	    out_len != P2P_NOISE_HASH_LEN)
		return P2P_ECRYPTO;
	return P2P_OK;
}

/* HKDF(chaining_key, input_key_material, 2) of the Noise spec (section 4.3):
 * out1 = HMAC(temp, 0x01), out2 = HMAC(temp, out1 || 0x02). */
static int hkdf2(const uint8_t ck[P2P_NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                 uint8_t out1[P2P_NOISE_HASH_LEN], uint8_t out2[P2P_NOISE_HASH_LEN])
{
	uint8_t temp[P2P_NOISE_HASH_LEN];
	uint8_t in[P2P_NOISE_HASH_LEN + 1];
	int rc = hmac(ck, ikm, ikm_len, temp);
	if (rc == P2P_OK) {
		in[0] = 0x01;
		rc = hmac(temp, in, 1, out1);
	}
	if (rc == P2P_OK) {
		memcpy(in, out1, P2P_NOISE_HASH_LEN);
		in[P2P_NOISE_HASH_LEN] = 0x02;
		rc = hmac(temp, in, sizeof(in), out2);
	}
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(in, sizeof(in));
	return rc;
}

static int mix_key(p2p_noise_hs *hs, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t temp_k[P2P_NOISE_HASH_LEN];
	int rc = hkdf2(hs->ck, ikm, ikm_len, hs->ck, temp_k);
	if (rc == P2P_OK)
		p2p_noise_cipher_set_key(&hs->cs,
		                         temp_k); /* HASHLEN is 32: no truncation */
	OPENSSL_cleanse(temp_k, sizeof(temp_k));
	return rc;
}

static int mix_dh(p2p_noise_hs *hs, EVP_PKEY *ours,
                  const uint8_t theirs[P2P_NOISE_DH_LEN])
{
	uint8_t shared[P2P_NOISE_DH_LEN];
	int rc = x25519_dh(ours, theirs, shared);
	if (rc == P2P_OK)
		rc = mix_key(hs, shared, sizeof(shared));
	OPENSSL_cleanse(shared, sizeof(shared));
	return rc;
}

/* EncryptAndHash, appending the ciphertext to out. */
static int encrypt_and_hash(p2p_noise_hs *hs, const uint8_t *plain, size_t len,
                            p2p_buf *out)
{
	size_t out_len = len;
	if (p2p_noise_cipher_has_key(&hs->cs))
		out_len += P2P_NOISE_TAG_LEN;
	int rc = p2p_buf_reserve(out, out_len);
	if (rc != P2P_OK)
		return rc;
	uint8_t *dst = out->data + out->len;
	if (p2p_noise_cipher_has_key(&hs->cs))
		rc = p2p_noise_cipher_encrypt(&hs->cs, hs->h, sizeof(hs->h), plain, len,
		                              dst);
	else if (len > 0)
		memcpy(dst, plain, len);
	if (rc == P2P_OK)
		rc = mix_hash(hs, dst, out_len);
	if (rc == P2P_OK)
		out->len += out_len;
	return rc;
}

/* DecryptAndHash of len bytes into out, which has room for the plaintext. */
static int decrypt_and_hash(p2p_noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	int rc = P2P_OK;
	if (p2p_noise_cipher_has_key(&hs->cs))
		rc =
		    p2p_noise_cipher_decrypt(&hs->cs, hs->h, sizeof(hs->h), in, len, out);
	else if (len > 0)
		memcpy(out, in, len);
	if (rc == P2P_OK)
		rc = mix_hash(hs, in, len);
	return rc;
}

/* --- HandshakeState --- */

int p2p_noise_hs_init(p2p_noise_hs *hs, bool initiator, const uint8_t *prologue,
                      size_t prologue_len, const uint8_t static_priv[P2P_NOISE_DH_LEN],
                      const uint8_t ephemeral_priv[P2P_NOISE_DH_LEN])
{
	memset(hs, 0, sizeof(*hs));
	hs->initiator = initiator;
	int rc = p2p_noise_cipher_init(&hs->cs);
	if (rc != P2P_OK)
		goto fail;
	/* The protocol name is exactly HASHLEN bytes, so it is h as is. */
	_Static_assert(sizeof(P2P_NOISE_PROTOCOL_NAME) - 1 == P2P_NOISE_HASH_LEN,
	               "protocol name must be HASHLEN bytes");
	memcpy(hs->h, P2P_NOISE_PROTOCOL_NAME, P2P_NOISE_HASH_LEN);
	memcpy(hs->ck, hs->h, P2P_NOISE_HASH_LEN);
	rc = mix_hash(hs, prologue, prologue_len);
	if (rc != P2P_OK)
		goto fail;
	if (static_priv != NULL)
		rc = x25519_from_private(&hs->s, static_priv, hs->s_pub);
	else
		rc = x25519_generate(&hs->s, hs->s_pub);
	if (rc == P2P_OK && ephemeral_priv != NULL)
		rc = x25519_from_private(&hs->e, ephemeral_priv, hs->e_pub);
	if (rc != P2P_OK)
		goto fail;
	return P2P_OK;
fail:
	p2p_noise_hs_close(hs);
	return rc;
}

void p2p_noise_hs_close(p2p_noise_hs *hs)
{
	p2p_noise_cipher_close(&hs->cs);
	EVP_PKEY_free(hs->s);
	EVP_PKEY_free(hs->e);
	hs->s = hs->e = NULL;
	OPENSSL_cleanse(hs->ck, sizeof(hs->ck));
	hs->step = STEP_FAILED;
}

static bool our_turn(const p2p_noise_hs *hs)
{
	if (hs->step < 0 || hs->step >= STEP_DONE)
		return false;
	return (hs->step % 2 == 0) == hs->initiator;
}

static int write_message(p2p_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                         p2p_buf *out)
{
	int rc = P2P_OK;
	if (hs->step <= 1) { /* e */
		if (hs->e == NULL)
			rc = x25519_generate(&hs->e, hs->e_pub);
		if (rc == P2P_OK)
			rc = p2p_buf_append(out, hs->e_pub, sizeof(hs->e_pub));
		if (rc == P2P_OK)
			rc = mix_hash(hs, hs->e_pub, sizeof(hs->e_pub));
	}
	if (rc == P2P_OK && hs->step == 1) /* ee, s, es */
		rc = mix_dh(hs, hs->e, hs->re);
	if (rc == P2P_OK && hs->step >= 1)
		rc = encrypt_and_hash(hs, hs->s_pub, sizeof(hs->s_pub), out);
	if (rc == P2P_OK &&
	    hs->step >= 1) /* es for the responder, se for the initiator */
		rc = mix_dh(hs, hs->s, hs->re);
	if (rc == P2P_OK)
		rc = encrypt_and_hash(hs, payload, payload_len, out);
	return rc;
}

int p2p_noise_hs_write(p2p_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                       p2p_buf *out)
{
	if (!our_turn(hs))
		return P2P_ESTATE;
	int rc = write_message(hs, payload, payload_len, out);
	if (rc != P2P_OK) {
		hs->step = STEP_FAILED;
		return rc;
	}
	hs->step++;
	return P2P_OK;
}

static int read_message(p2p_noise_hs *hs, const uint8_t *msg, size_t len,
                        uint8_t *payload_out, size_t payload_cap, size_t *payload_len)
{
	size_t need = 0; /* the tokens' bytes */
	if (hs->step <= 1)
		need += P2P_NOISE_DH_LEN;
	if (hs->step >= 1)
		need +=
		    ENCRYPTED_KEY_LEN + P2P_NOISE_TAG_LEN; /* s, and the payload's tag */
	if (len < need)
		return P2P_EPROTO;
	int rc = P2P_OK;
	if (hs->step <= 1) { /* e */
		memcpy(hs->re, msg, P2P_NOISE_DH_LEN);
		msg += P2P_NOISE_DH_LEN;
		len -= P2P_NOISE_DH_LEN;
		rc = mix_hash(hs, hs->re, sizeof(hs->re));
	}
	if (rc == P2P_OK && hs->step == 1) /* ee */
		rc = mix_dh(hs, hs->e, hs->re);
	if (rc == P2P_OK && hs->step >= 1) { /* s */
		rc = decrypt_and_hash(hs, msg, ENCRYPTED_KEY_LEN, hs->rs);
		hs->has_rs = rc == P2P_OK;
		msg += ENCRYPTED_KEY_LEN;
		len -= ENCRYPTED_KEY_LEN;
	}
	if (rc == P2P_OK &&
	    hs->step >= 1) /* es for the initiator, se for the responder */
		rc = mix_dh(hs, hs->e, hs->rs);
	if (rc != P2P_OK)
		return rc;
	size_t plain_len = len;
	if (p2p_noise_cipher_has_key(&hs->cs))
		plain_len -= P2P_NOISE_TAG_LEN; /* len >= TAG_LEN: checked above */
	if (plain_len > payload_cap)
		return P2P_ETOOBIG;
	rc = decrypt_and_hash(hs, msg, len, payload_out);
	if (rc == P2P_OK)
		*payload_len = plain_len;
	return rc;
}

int p2p_noise_hs_read(p2p_noise_hs *hs, const uint8_t *msg, size_t len,
                      uint8_t *payload_out, size_t payload_cap, size_t *payload_len)
{
	if (hs->step < 0 || hs->step >= STEP_DONE || our_turn(hs))
		return P2P_ESTATE;
	if (len > P2P_NOISE_MAX_MESSAGE)
		return P2P_ETOOBIG;
	int rc = read_message(hs, msg, len, payload_out, payload_cap, payload_len);
	if (rc != P2P_OK) {
		hs->step = STEP_FAILED;
		return rc;
	}
	hs->step++;
	return P2P_OK;
}

bool p2p_noise_hs_done(const p2p_noise_hs *hs)
{
	return hs->step == STEP_DONE;
}

int p2p_noise_hs_split(p2p_noise_hs *hs, p2p_noise_cipher *c1, p2p_noise_cipher *c2)
{
	if (!p2p_noise_hs_done(hs))
		return P2P_ESTATE;
	uint8_t k1[P2P_NOISE_HASH_LEN], k2[P2P_NOISE_HASH_LEN];
	int rc = hkdf2(hs->ck, (const uint8_t *)"", 0, k1, k2); /* zero-length input */
	if (rc == P2P_OK) {
		p2p_noise_cipher_set_key(c1, k1);
		p2p_noise_cipher_set_key(c2, k2);
	}
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	return rc;
}

const uint8_t *p2p_noise_hs_remote_static(const p2p_noise_hs *hs)
{
	return hs->has_rs ? hs->rs : NULL;
}

const uint8_t *p2p_noise_hs_local_static(const p2p_noise_hs *hs)
{
	return hs->s_pub;
}

const uint8_t *p2p_noise_hs_hash(const p2p_noise_hs *hs)
{
	return hs->h;
}
