/* Keys as libp2p uses them (specs: peer-ids/peer-ids.md).
 *
 * We create and sign with Ed25519 only. We verify signatures made with any
 * of the four key types, since peers we meet use all of them (the public
 * IPFS bootstrap peers use RSA). All cryptography is OpenSSL 3 libcrypto. */
#ifndef P2P_KEYS_H
#define P2P_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

typedef enum p2p_key_type {
	P2P_KEY_RSA = 0,
	P2P_KEY_ED25519 = 1,
	P2P_KEY_SECP256K1 = 2,
	P2P_KEY_ECDSA = 3,
} p2p_key_type;

/* Limits on what we accept from the wire. */
#define P2P_PUBKEY_MAX_ENCODED 1024 /* protobuf PublicKey; RSA-4096 DER fits */
#define P2P_RSA_MIN_BITS 2048
#define P2P_RSA_MAX_BITS 8192
#define P2P_SIGNATURE_MAX 1024
#define P2P_ED25519_SIGNATURE_LEN 64

typedef struct p2p_pubkey p2p_pubkey;   /* opaque, immutable once made */
typedef struct p2p_privkey p2p_privkey; /* opaque; Ed25519 */

/* --- public keys --- */

/* Parses a protobuf-encoded PublicKey (the form in peer IDs, Noise payloads
 * and identify). P2P_EPROTO if malformed, P2P_EUNSUPPORTED for an unknown
 * type, P2P_ECRYPTO if the key material is invalid. */
int p2p_pubkey_decode(p2p_pubkey **out, const uint8_t *pb, size_t len);
/* Appends the protobuf encoding (deterministic, as the spec requires). */
int p2p_pubkey_encode(const p2p_pubkey *key, p2p_buf *out);
p2p_key_type p2p_pubkey_type(const p2p_pubkey *key);
/* Returns P2P_OK if sig is a valid signature of msg by key, else P2P_ECRYPTO.
 * Ed25519: plain; secp256k1 and ECDSA: DER signature over SHA-256(msg);
 * RSA: PKCS#1 v1.5 with SHA-256. */
int p2p_pubkey_verify(const p2p_pubkey *key, const uint8_t *msg, size_t msg_len,
		      const uint8_t *sig, size_t sig_len);
bool p2p_pubkey_equal(const p2p_pubkey *a, const p2p_pubkey *b);
p2p_pubkey *p2p_pubkey_dup(const p2p_pubkey *key);
void p2p_pubkey_free(p2p_pubkey *key);

/* --- private keys (Ed25519) --- */

int p2p_privkey_generate(p2p_privkey **out);
/* From / to the protobuf PrivateKey encoding (Ed25519 Data is the 64 bytes
 * seed||public, as go-libp2p writes it; a 32-byte seed is accepted too). */
int p2p_privkey_decode(p2p_privkey **out, const uint8_t *pb, size_t len);
int p2p_privkey_encode(const p2p_privkey *key, p2p_buf *out);
/* Signs msg; sig must hold P2P_ED25519_SIGNATURE_LEN bytes. */
int p2p_privkey_sign(const p2p_privkey *key, const uint8_t *msg, size_t msg_len,
		     uint8_t sig[P2P_ED25519_SIGNATURE_LEN]);
/* The matching public key; owned by the private key. */
const p2p_pubkey *p2p_privkey_public(const p2p_privkey *key);
void p2p_privkey_free(p2p_privkey *key);

/* Loads the identity kept in `path` (protobuf PrivateKey, file mode 0600),
 * or creates one there (and its directory) if the file does not exist. */
int p2p_privkey_load_or_create(p2p_privkey **out, const char *path);

#endif
