/* multistream-select 1.0 (specs: connections/README.md#multistream-select),
 * as a sans-I/O state machine: feed it the peer's bytes, send what it puts
 * in its output buffer, and ask it what was selected.
 *
 * Messages are varint-length-prefixed, newline-terminated UTF-8 lines. The
 * initiator sends "/multistream/1.0.0" and its first proposal at once (in
 * one write, as js-libp2p and go-libp2p do) and moves to the next proposal
 * on "na". The responder answers the header, echoes a supported proposal,
 * answers "na" to others and the protocol list to "ls". */
#ifndef P2P_MSS_H
#define P2P_MSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

#define P2P_MSS_PROTOCOL "/multistream/1.0.0"
#define P2P_MSS_MAX_MESSAGE 1024  /* longest message we read (the spec's limit is 64 KiB; protocol IDs are short) */
#define P2P_MSS_MAX_PROTOCOLS 64  /* protocols offered or proposed */
#define P2P_MSS_MAX_ATTEMPTS 64   /* proposals a responder answers before giving up */

typedef struct p2p_mss p2p_mss;

/* protocols: for an initiator, the proposals in order of preference; for a
 * responder, what it supports. The strings are copied. The initiator's
 * first output is ready in p2p_mss_output() when this returns. */
int p2p_mss_new(p2p_mss **out, bool initiator, const char *const *protocols, size_t n);
void p2p_mss_free(p2p_mss *m);

/* Feeds bytes from the peer. *consumed tells how many were used: once
 * negotiation is done the rest belong to the selected protocol and are not
 * consumed. Errors are final: P2P_EPROTO (malformed), P2P_ETOOBIG (message
 * over the limit), P2P_ENEGOTIATE (the initiator ran out of proposals, or
 * the responder saw too many), P2P_ECLOSED (called after done). */
int p2p_mss_recv(p2p_mss *m, const uint8_t *in, size_t len, size_t *consumed);
/* Bytes for the peer. The caller drains them (p2p_buf_consume / move). */
p2p_buf *p2p_mss_output(p2p_mss *m);
bool p2p_mss_done(const p2p_mss *m);
/* The agreed protocol once done, else NULL. Owned by m. */
const char *p2p_mss_selected(const p2p_mss *m);

#endif
