/* Streams: the bidirectional, flow-controlled byte streams that protocols
 * (identify, ping, the tunnel) speak over a connection. Today they are
 * yamux streams; nothing here assumes it.
 *
 * Lifetime: a stream is made by the library (p2p_host_new_stream, or an
 * inbound stream handed to a handler set with p2p_host_set_handler) and
 * freed by it, right after on_close has returned. on_close comes once the
 * stream is over both ways (both sides half-closed, or either reset, or
 * the connection went away). The application ends its part with
 * p2p_stream_close (or _reset); until on_close it may still get callbacks.
 *
 * Reading: on_data hands over bytes that are valid only during the call.
 * They count against the peer's send window until the application calls
 * p2p_stream_consume(s, n) for them: consume only what you have processed
 * (or copied into a bounded buffer of your own) and a slow reader slows
 * the sender instead of growing memory.
 *
 * Writing: p2p_stream_write copies the bytes; it returns 1 when the stream
 * can take more, 0 when the caller should wait for on_drain (like Node's
 * writable.write). Writing while it returned 0 still works, up to
 * P2P_STREAM_MAX_PENDING bytes queued, then fails with P2P_ELIMIT (so one
 * write may not exceed that size either).
 *
 * All callbacks run on the loop thread. A callback may call any stream
 * function on its stream (write, consume, close, reset) and on others. */
#ifndef P2P_STREAM_H
#define P2P_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/peerid.h"
#include "p2p/pipe.h"

/* Bytes a stream queues beyond what the peer's window lets us send. It
 * exceeds the receive window (P2P_CONN_MAX_WINDOW) so that an echo-like
 * handler, which must take every byte on_data hands it but consumes only
 * after on_drain, never hits the cap. */
#define P2P_STREAM_MAX_PENDING (20 * 1024 * 1024)
/* Deadline for multistream-select on a new stream. */
#define P2P_STREAM_NEGOTIATE_TIMEOUT_MS 10000
/* Longest protocol ID we handle (multistream-select's line limit). */
#define P2P_PROTOCOL_ID_MAX 256

typedef struct p2p_stream p2p_stream;
typedef struct p2p_conn p2p_conn;

typedef struct p2p_stream_callbacks {
	/* Bytes from the peer, valid during the call; see p2p_stream_consume. */
	void (*on_data)(p2p_stream *s, const uint8_t *data, size_t len, void *user);
	/* A write that returned 0 may be followed by more writes now. */
	void (*on_drain)(p2p_stream *s, void *user);
	/* The peer half-closed: no more on_data. Writing still works. */
	void (*on_fin)(p2p_stream *s, void *user);
	/* The peer (or the connection) aborted the stream; on_close follows. */
	void (*on_reset)(p2p_stream *s, int err, void *user);
	/* The stream is gone; release `user` here. s is dead after return. */
	void (*on_close)(p2p_stream *s, void *user);
} p2p_stream_callbacks;

/* Sets the callbacks (copied; any may be NULL) and the user pointer, which
 * the stream borrows. Bytes that arrived before this are held back (they
 * count against the window) and delivered soon after, from the loop. */
void p2p_stream_set_callbacks(p2p_stream *s, const p2p_stream_callbacks *cb, void *user);
void *p2p_stream_user(const p2p_stream *s);

/* Copies and queues data. Returns 1 (go on), 0 (wait for on_drain), or
 * P2P_ELIMIT (over P2P_STREAM_MAX_PENDING; nothing queued), P2P_ECLOSED
 * (after close_write / close), P2P_ERESET (the stream was reset),
 * P2P_ESTATE (protocol negotiation still running). */
int p2p_stream_write(p2p_stream *s, const uint8_t *data, size_t len);
/* The application is done with n bytes handed over by on_data; lets the
 * peer send that much more. */
int p2p_stream_consume(p2p_stream *s, size_t n);
/* Bytes written but not yet taken by the muxer (waiting for window). */
size_t p2p_stream_pending(const p2p_stream *s);
/* Paused, the stream holds what the peer sends (up to the receive window,
 * which the held bytes keep shut) instead of calling on_data and on_fin;
 * unpaused, it delivers them soon after, from the loop. For readers that
 * must stop reading, as a pipe's read_stop does. */
void p2p_stream_pause(p2p_stream *s, bool paused);
/* Gives back the tail of what on_data handed over and the caller did not
 * consume (data[0..len) is copied): it goes in front of what the stream
 * holds and is delivered again, from the loop, before anything newer.
 * For a reader that took one message and leaves the bytes after it to
 * whoever reads next (a relay's STATUS, then the relayed connection). */
int p2p_stream_unread(p2p_stream *s, const uint8_t *data, size_t len);
/* Half-close: we send no more (after what is queued); reading goes on. */
int p2p_stream_close_write(p2p_stream *s);
/* Half-closes and stops delivering data: anything the peer still sends is
 * discarded. on_close follows when the peer closes too. */
void p2p_stream_close(p2p_stream *s);
/* Aborts both ways at once; on_close follows (from the loop). */
void p2p_stream_reset(p2p_stream *s);

/* The negotiated protocol ID, or NULL before negotiation. Owned by s. */
const char *p2p_stream_protocol(const p2p_stream *s);
const p2p_peerid *p2p_stream_remote_peer(const p2p_stream *s);
/* The connection carrying the stream; borrowed, valid while s is. */
p2p_conn *p2p_stream_conn(p2p_stream *s);
/* True if the peer opened the stream. */
bool p2p_stream_is_inbound(const p2p_stream *s);

/* Runs multistream-select on a fresh stream (the host does this for you).
 * initiator: propose `protocols` in order; responder: accept any of them.
 * The strings are copied. done(s, protocol, 0, user) on success, with
 * p2p_stream_protocol(s) set; done(s, NULL, err, user) on failure
 * (P2P_ENEGOTIATE, P2P_ETIMEDOUT, P2P_EPROTO, P2P_ERESET...), after which
 * the library resets and frees s: do not use it after done returns. */
typedef void (*p2p_stream_select_cb)(p2p_stream *s, const char *protocol, int err,
                                     void *user);
int p2p_stream_select(p2p_stream *s, bool initiator, const char *const *protocols,
                      size_t n, p2p_stream_select_cb done, void *user);

/* A stream as a pipe (pipe.h), so that a whole connection can run over it
 * (circuit relay v2 upgrades a relayed stream with Noise and yamux). The
 * pipe takes the stream over: it sets the stream's callbacks, and
 * p2p_pipe_close resets the stream unless both sides have closed it.
 * It reads from read_start on; read_stop pauses the stream (p2p_stream_pause); a write is copied into
 * the stream and counts as queued until the muxer takes it, so the pipe's
 * backpressure is the stream's window. The pipe's addresses start empty:
 * the caller sets them (a relayed pipe names the relay's circuit). */
int p2p_stream_pipe_new(p2p_stream *s, p2p_pipe **out);

#endif
