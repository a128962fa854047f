/* Signed envelopes (specs: RFC/0002-signed-envelopes.md): a payload, its
 * type, and the signer's public key and signature, so that anyone can check
 * who made the payload. The signature covers the "signing buffer":
 *
 *   uvarint(len(domain)) domain uvarint(len(type)) type uvarint(len(payload)) payload
 *
 * where the domain string says what the signature is for (it is not in the
 * envelope: the verifier supplies the one it expects). We seal with our
 * Ed25519 key and open envelopes signed with any key type keys.h verifies. */
#ifndef P2P_ENVELOPE_H
#define P2P_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/keys.h"

#define P2P_ENVELOPE_MAX_SIZE   (8 * 1024) /* an encoded envelope we accept */
#define P2P_ENVELOPE_MAX_DOMAIN 256        /* domain string length */

/* An opened (verified) envelope. Owned by the caller, released with
 * p2p_envelope_free. */
typedef struct p2p_envelope {
	p2p_pubkey *key;      /* the signer */
	p2p_buf payload_type; /* multicodec-prefixed type hint */
	p2p_buf payload;
	p2p_buf signature;
} p2p_envelope;

/* Appends the signing buffer for (domain, type, payload) to out. */
int p2p_envelope_signing_buffer(const char *domain, const uint8_t *type, size_t type_len,
                                const uint8_t *payload, size_t payload_len, p2p_buf *out);

/* Signs the payload for `domain` and appends the encoded Envelope. */
int p2p_envelope_seal(const p2p_privkey *key, const char *domain, const uint8_t *type,
                      size_t type_len, const uint8_t *payload, size_t payload_len,
                      p2p_buf *out);

/* Decodes an encoded Envelope and checks its signature for `domain`. Sets
 * *out only on success. P2P_ETOOBIG over P2P_ENVELOPE_MAX_SIZE, P2P_EPROTO
 * if malformed, errors of p2p_pubkey_decode for a bad key, P2P_ECRYPTO if
 * the signature does not verify. */
int p2p_envelope_open(p2p_envelope **out, const uint8_t *in, size_t len,
                      const char *domain);
void p2p_envelope_free(p2p_envelope *env);

#endif
