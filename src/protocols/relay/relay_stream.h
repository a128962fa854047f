/* What the relay client and service share to speak relay messages on a
 * stream: read one length-prefixed message, send one. Internal to
 * src/protocols/relay. */
#ifndef P2P_RELAY_STREAM_H
#define P2P_RELAY_STREAM_H

#include "p2p/lpmsg.h"
#include "p2p/relay.h"
#include "p2p/stream.h"

/* For a stream the relay code lets go of: nothing more reaches it. */
extern const p2p_stream_callbacks relay_no_callbacks;

/* Feeds data to rd. 1: one message decoded into m (initialised here; the
 * caller frees it) and *used the bytes of data it took, the rest being
 * the caller's; 0: all taken, more needed; < 0: malformed or too big. */
int relay_read_msg(p2p_lpmsg_reader *rd, p2p_relay_kind kind, const uint8_t *data,
                   size_t len, size_t *used, p2p_relay_msg *m);
/* Encodes m and writes it to s: 0 or a negative error. */
int relay_send_msg(p2p_stream *s, const p2p_relay_msg *m, p2p_relay_kind kind);
/* True when m's Limit bounds a circuit (a duration or data limit that is
 * not 0): such circuits make limited connections. */
bool relay_msg_limited(const p2p_relay_msg *m);
/* From here on s carries the relayed connection: gives rest[0..rest_len)
 * (what came after the last relay message) back to s and makes s a pipe,
 * limited as m says. On success the stream is the pipe's. */
int relay_stream_to_pipe(p2p_stream *s, const p2p_relay_msg *m, const uint8_t *rest,
                         size_t rest_len, p2p_pipe **out);
/* Unix time in seconds (reservations and vouchers expire in it). */
uint64_t relay_unix_now(void);

#endif
