/* The Noise XX handshake (Noise spec rev 34, sections 5.2-5.3 and 7.5) for
 * Noise_XX_25519_ChaChaPoly_SHA256: SymmetricState and HandshakeState, with
 * no libp2p in it. Internal to the secure layer.
 *
 *   -> e
 *   <- e, ee, s, es
 *   -> s, se
 *
 * Messages here are bare Noise messages; framing is the caller's job. */
#ifndef P2P_SECURE_NOISE_HS_H
#define P2P_SECURE_NOISE_HS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "p2p/buf.h"
#include "secure/noise_cipher.h"

#define P2P_NOISE_PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
#define P2P_NOISE_HASH_LEN      32
#define P2P_NOISE_DH_LEN        32
/* Noise messages are at most this long (Noise spec section 3). */
#define P2P_NOISE_MAX_MESSAGE 65535

typedef struct p2p_noise_hs {
	bool initiator;
	int step; /* the next message of the pattern: 0, 1, 2; 3 when done */
	/* SymmetricState */
	p2p_noise_cipher cs;
	uint8_t ck[P2P_NOISE_HASH_LEN];
	uint8_t h[P2P_NOISE_HASH_LEN];
	/* HandshakeState keys */
	EVP_PKEY *s, *e; /* ours (private) */
	uint8_t s_pub[P2P_NOISE_DH_LEN], e_pub[P2P_NOISE_DH_LEN];
	uint8_t rs[P2P_NOISE_DH_LEN], re[P2P_NOISE_DH_LEN];
	bool has_rs;
} p2p_noise_hs;

/* Initialize(XX, initiator, prologue, s). static_priv: our static X25519
 * private key, or NULL to generate one. ephemeral_priv: the ephemeral key to
 * use (for test vectors), or NULL to generate it when it is needed. */
int p2p_noise_hs_init(p2p_noise_hs *hs, bool initiator, const uint8_t *prologue,
                      size_t prologue_len, const uint8_t static_priv[P2P_NOISE_DH_LEN],
                      const uint8_t ephemeral_priv[P2P_NOISE_DH_LEN]);
/* Wipes every secret. */
void p2p_noise_hs_close(p2p_noise_hs *hs);

/* WriteMessage: appends the next message, carrying payload, to out.
 * P2P_ESTATE if it is not our turn. */
int p2p_noise_hs_write(p2p_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                       p2p_buf *out);
/* ReadMessage: processes the peer's next message and writes its payload to
 * payload_out (payload_cap bytes available; P2P_ETOOBIG if it would not fit).
 * P2P_EPROTO if the message is too short, P2P_ECRYPTO if it does not
 * authenticate or a DH fails. P2P_ESTATE if it is not the peer's turn. */
int p2p_noise_hs_read(p2p_noise_hs *hs, const uint8_t *msg, size_t len,
                      uint8_t *payload_out, size_t payload_cap, size_t *payload_len);
/* After the third message: Split() into the initiator-to-responder (c1) and
 * responder-to-initiator (c2) CipherStates (both already initialized). */
bool p2p_noise_hs_done(const p2p_noise_hs *hs);
int p2p_noise_hs_split(p2p_noise_hs *hs, p2p_noise_cipher *c1, p2p_noise_cipher *c2);

/* The peer's static key, once received (NULL before). */
const uint8_t *p2p_noise_hs_remote_static(const p2p_noise_hs *hs);
/* Our static public key. */
const uint8_t *p2p_noise_hs_local_static(const p2p_noise_hs *hs);
/* The handshake hash h (channel binding; checked by the test vectors). */
const uint8_t *p2p_noise_hs_hash(const p2p_noise_hs *hs);

#endif
