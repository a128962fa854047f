/* A Noise CipherState (Noise spec rev 34, section 5.1) for ChaChaPoly:
 * ChaCha20-Poly1305 with the 96-bit nonce 0x00000000 || little-endian n.
 * Internal to the secure layer.
 *
 * One EVP_CIPHER_CTX per CipherState is keyed once; each message only sets
 * the nonce, which is what makes the transport phase fast. */
#ifndef P2P_SECURE_NOISE_CIPHER_H
#define P2P_SECURE_NOISE_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "p2p/noise.h" /* P2P_NOISE_TAG_LEN */

#define P2P_NOISE_KEY_LEN   32
#define P2P_NOISE_NONCE_LEN 12
/* n = 2^64-1 is reserved by the Noise spec: reaching it ends the session. */
#define P2P_NOISE_NONCE_MAX UINT64_MAX

typedef struct p2p_noise_cipher {
	EVP_CIPHER_CTX *ctx;
	uint8_t k[P2P_NOISE_KEY_LEN];
	bool has_key;
	int keyed_for; /* -1: ctx not keyed yet; 1: keyed to encrypt; 0: to decrypt */
	uint64_t n;
} p2p_noise_cipher;

int p2p_noise_cipher_init(p2p_noise_cipher *cs);
/* Wipes the key. */
void p2p_noise_cipher_close(p2p_noise_cipher *cs);
/* InitializeKey(k): sets the key and resets the nonce to 0. */
void p2p_noise_cipher_set_key(p2p_noise_cipher *cs, const uint8_t k[P2P_NOISE_KEY_LEN]);
bool p2p_noise_cipher_has_key(const p2p_noise_cipher *cs);

/* EncryptWithAd with a key set: writes len + P2P_NOISE_TAG_LEN bytes to out
 * (out may equal plain). P2P_ECRYPTO when the nonce is exhausted. */
int p2p_noise_cipher_encrypt(p2p_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
                             const uint8_t *plain, size_t len, uint8_t *out);
/* EncryptWithAd in steps, for a plaintext in several pieces: begin (sets
 * the nonce, absorbs ad), update once per piece (writes as many bytes as
 * it reads; out must not overlap later pieces), finish (writes the 16-byte
 * tag and advances the nonce). The same bytes as one
 * p2p_noise_cipher_encrypt over the joined plaintext. */
int p2p_noise_cipher_encrypt_begin(p2p_noise_cipher *cs, const uint8_t *ad,
                                   size_t ad_len);
int p2p_noise_cipher_encrypt_update(p2p_noise_cipher *cs, const uint8_t *plain,
                                    size_t len, uint8_t *out);
int p2p_noise_cipher_encrypt_finish(p2p_noise_cipher *cs, uint8_t *tag);
/* DecryptWithAd with a key set: len includes the tag; writes
 * len - P2P_NOISE_TAG_LEN bytes to out, which hold garbage unless P2P_OK.
 * P2P_ECRYPTO on a bad tag, a too short input or an exhausted nonce. */
int p2p_noise_cipher_decrypt(p2p_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
                             const uint8_t *cipher, size_t len, uint8_t *out);

#endif
