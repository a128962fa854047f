/* The libp2p Noise handshake and transport (specs: noise/README.md):
 * Noise_XX_25519_ChaChaPoly_SHA256, every message framed by a 2-byte
 * big-endian length, the libp2p handshake payload carrying the identity key
 * and its signature over "noise-libp2p-static-key:" || static public key.
 * Sans-I/O: the caller moves bytes between the socket and this object. */
#ifndef P2P_NOISE_H
#define P2P_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/keys.h"
#include "p2p/peerid.h"

#define P2P_NOISE_PROTOCOL "/noise"
#define P2P_NOISE_MAX_FRAME 65535                       /* ciphertext bytes in one frame */
#define P2P_NOISE_TAG_LEN 16
#define P2P_NOISE_MAX_PLAINTEXT (P2P_NOISE_MAX_FRAME - P2P_NOISE_TAG_LEN)
#define P2P_NOISE_MAX_PAYLOAD 4096                      /* handshake payload we accept */

typedef struct p2p_noise p2p_noise;

/* identity: our key, borrowed for the life of the session. expected: the
 * peer ID the dialer means to reach (copied), or NULL to accept any peer.
 * The initiator's first message is ready in p2p_noise_output() when this
 * returns. */
int p2p_noise_new(p2p_noise **out, bool initiator, const p2p_privkey *identity,
		  const p2p_peerid *expected);
void p2p_noise_free(p2p_noise *n);

/* Feeds bytes from the peer; all are consumed (partial frames are kept,
 * at most one frame). During the handshake this advances it and may queue
 * output; after it, decrypted bytes are appended to plain_out. Errors are
 * final and the connection must be closed: P2P_ECRYPTO (bad MAC, bad
 * signature, nonce exhausted), P2P_EPEERID (not the expected peer),
 * P2P_EPROTO (malformed message or payload). */
int p2p_noise_recv(p2p_noise *n, const uint8_t *in, size_t len, p2p_buf *plain_out);
/* Encrypts application bytes into frames of at most P2P_NOISE_MAX_FRAME
 * appended to the output. Only once the handshake is done (P2P_ESTATE). */
int p2p_noise_send(p2p_noise *n, const uint8_t *plain, size_t len);
/* A piece of plaintext, borrowed. */
typedef struct p2p_noise_part {
	const uint8_t *data;
	size_t len;
} p2p_noise_part;
/* Like p2p_noise_send on the concatenation of the parts, producing the
 * same frames, but each frame is encrypted straight from the pieces: a
 * caller with a header and a payload in different places need not join
 * them first. */
int p2p_noise_send_parts(p2p_noise *n, const p2p_noise_part *parts, size_t nparts);
/* Handshake messages and encrypted frames for the peer; the caller drains. */
p2p_buf *p2p_noise_output(p2p_noise *n);
bool p2p_noise_handshake_done(const p2p_noise *n);
/* The authenticated remote identity, once the handshake is done. */
const p2p_pubkey *p2p_noise_remote_key(const p2p_noise *n);
const p2p_peerid *p2p_noise_remote_peer(const p2p_noise *n);

#endif
