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
#define P2P_PUBKEY_MAX_ENCODED    1024 /* protobuf PublicKey; RSA-4096 DER fits */
#define P2P_RSA_MIN_BITS          2048
#define P2P_RSA_MAX_BITS          8192
#define P2P_SIGNATURE_MAX         1024
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

/* --- key files --- */

/* Room for any sentence that says why a key or secret file was refused
 * (two paths of up to 4096 bytes, or one and a `lost` of up to 4096, and
 * the words): a longer one is cut short, still NUL-terminated. */
#define P2P_KEYFILE_WHY_MAX (3 * 4096 + 256)

/* Loads the identity kept in `path` (protobuf PrivateKey, file mode 0600),
 * or creates one there (and its directories, mode 0700) if the file does
 * not exist. A new file appears whole or not at all (temporary file,
 * fsync, link), and never replaces one that another process created
 * meanwhile: then that one is loaded, so two instances racing to create
 * the key end with the same identity. An existing file is never replaced.
 * Errors: P2P_EPROTO if the file is not a key (corrupt, empty, too large,
 * not a regular file), P2P_EUNSUPPORTED for a key type we do not sign
 * with, P2P_ESTATE if group or others may read or write it (mode & 077,
 * as ssh refuses), P2P_EIO if the system refused, P2P_EINVAL for a bad
 * argument.
 * `why` (why_len bytes, P2P_KEYFILE_WHY_MAX always fits; or NULL and 0)
 * then holds one sentence that names the file and what is wrong with it
 * or what to do, e.g. "permissions 0644 for /x/host.key are too open:
 * chmod 600 /x/host.key"; after a success, why[0] is '\0'. */
int p2p_privkey_load_or_create(p2p_privkey **out, const char *path, char *why,
                               size_t why_len);

/* The same for a secret of exactly `len` random bytes (at most 4096):
 * loads it from `path` into `secret`, or makes a fresh one and writes it
 * there as above. A file of another size is refused (P2P_EPROTO), never
 * replaced; `lost` (or NULL) completes the advice to remove it, saying
 * what stops working then, e.g. "the old token stops working". `why` and
 * why_len as above. */
int p2p_secret_load_or_create(uint8_t *secret, size_t len, const char *path,
                              const char *lost, char *why, size_t why_len);

#endif
