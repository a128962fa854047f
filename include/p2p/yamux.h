/* yamux (specs: yamux/README.md, hashicorp/yamux spec.md) as a sans-I/O
 * session: feed it the decrypted bytes of a secure channel, drain its
 * output, and react to callbacks. Streams are numbered (odd from the
 * client, even from the server) and carry per-stream user data.
 *
 * Flow control is the whole point: data delivered by on_data counts
 * against the stream's receive window until the application calls
 * p2p_yamux_consume(), so a slow reader stops its sender and nothing is
 * buffered without bound. p2p_yamux_write() accepts only what the peer's
 * window allows; on_writable says when more may go. */
#ifndef P2P_YAMUX_H
#define P2P_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/buf.h"

#define P2P_YAMUX_PROTOCOL       "/yamux/1.0.0"
#define P2P_YAMUX_INITIAL_WINDOW (256 * 1024)       /* the spec's initial window */
#define P2P_YAMUX_MAX_WINDOW     (16 * 1024 * 1024) /* largest window we grant */
#define P2P_YAMUX_MAX_STREAMS    1024               /* default open streams per session */
#define P2P_YAMUX_MAX_FRAME      (256 * 1024)       /* largest data frame we send */
/* Ping answers (PING|ACK) one call to p2p_yamux_recv queues at most; the
 * peer's other pings in that input go unanswered (counted in
 * pings_dropped). An answer is output the peer may never read, and the
 * caller drains the output after each recv, so this bounds what a ping
 * flood makes us hold. One is enough for a peer measuring its round
 * trip, which waits for each answer. */
#define P2P_YAMUX_MAX_PENDING_PINGS 16
/* Pings (PING|SYN) a peer may send in one window of the time given by
 * p2p_yamux_set_now; one more ends the session (P2P_ELIMIT, GO_AWAY with
 * a protocol error). Dropping answers bounds the memory a flood costs,
 * but parsing it still costs CPU on the loop every other peer shares.
 * No peer needs this many: go-libp2p pings for keep-alive every 30 s,
 * and one measuring its round trip waits for each answer. */
#define P2P_YAMUX_PING_WINDOW_MS       10000
#define P2P_YAMUX_MAX_PINGS_PER_WINDOW 1000

/* GoAway codes */
#define P2P_YAMUX_GOAWAY_NORMAL   0
#define P2P_YAMUX_GOAWAY_PROTOCOL 1
#define P2P_YAMUX_GOAWAY_INTERNAL 2

typedef struct p2p_yamux p2p_yamux;

/* What the peer sent that we refused or ignored, for the caller to report;
 * counted since p2p_yamux_new. */
typedef struct p2p_yamux_stats {
	uint64_t pings_answered;
	uint64_t pings_dropped;   /* over P2P_YAMUX_MAX_PENDING_PINGS in one recv */
	uint64_t ping_floods;     /* 1: the session ended over the ping budget */
	uint64_t streams_refused; /* SYNs answered with RST (limit, go-away, on_open) */
	/* Window updates and data frames (not SYN) for IDs that are not open:
	 * ignored, as the spec allows for streams closed while frames were in
	 * flight. Each costs a bounded search and allocates nothing. */
	uint64_t unknown_stream_frames;
} p2p_yamux_stats;

/* Callbacks run from inside p2p_yamux_recv (and on_closed also from close
 * and reset calls); they may call any p2p_yamux function on the session,
 * except p2p_yamux_free. */
typedef struct p2p_yamux_callbacks {
	/* The peer opened a stream. Return 0 to accept (an ACK is sent) or a
	 * negative code to refuse (the stream is reset). */
	int (*on_open)(p2p_yamux *y, uint32_t id, void *user);
	/* The peer acknowledged a stream we opened. */
	void (*on_ack)(p2p_yamux *y, uint32_t id, void *stream_user, void *user);
	void (*on_data)(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
	                void *stream_user, void *user);
	/* The peer will send no more on this stream (FIN). */
	void (*on_fin)(p2p_yamux *y, uint32_t id, void *stream_user, void *user);
	/* The peer reset the stream; on_closed follows. */
	void (*on_reset)(p2p_yamux *y, uint32_t id, void *stream_user, void *user);
	/* The send window grew after a write was cut short. */
	void (*on_writable)(p2p_yamux *y, uint32_t id, void *stream_user, void *user);
	/* The stream is gone (both sides closed, or reset); the id is dead
	 * after this returns. Release stream_user here. */
	void (*on_closed)(p2p_yamux *y, uint32_t id, void *stream_user, void *user);
	/* A ping we sent came back. */
	void (*on_pong)(p2p_yamux *y, uint32_t opaque, void *user);
	void (*on_go_away)(p2p_yamux *y, uint32_t code, void *user);
} p2p_yamux_callbacks;

typedef struct p2p_yamux_config {
	uint32_t max_streams; /* 0: P2P_YAMUX_MAX_STREAMS */
	uint32_t max_window;  /* 0: P2P_YAMUX_MAX_WINDOW; the window grows up to this */
} p2p_yamux_config;

/* is_client: we dialed (our stream IDs are odd). cb is copied; cfg may be
 * NULL for the defaults. */
int p2p_yamux_new(p2p_yamux **out, bool is_client, const p2p_yamux_callbacks *cb,
                  void *user, const p2p_yamux_config *cfg);
/* Streams still open get on_closed (calls made from it fail). */
void p2p_yamux_free(p2p_yamux *y);

/* Feeds decrypted bytes; all are consumed. A protocol error (bad version,
 * unknown type, window overrun, unknown stream flags) queues a GoAway and
 * returns P2P_EPROTO: the session is then dead. */
int p2p_yamux_recv(p2p_yamux *y, const uint8_t *in, size_t len);

/* Opens a stream; the SYN goes out with the first write or right away. */
int p2p_yamux_open(p2p_yamux *y, uint32_t *id, void *stream_user);
/* Queues up to len bytes; returns how many (0 when the window is shut),
 * or P2P_ECLOSED / P2P_ENOTFOUND / P2P_ERESET. */
ssize_t p2p_yamux_write(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len);
/* Takes data frames from p2p_yamux_write_to: head holds everything the
 * session had queued for the peer followed by this frame's 12-byte header
 * (head_len >= 12), and the frame's payload is borrowed from the writer.
 * The peer must get head, then payload. It must not call into the
 * session. Returns 0, or a negative code, which kills the session. */
typedef int (*p2p_yamux_frame_sink)(const uint8_t *head, size_t head_len,
                                    const uint8_t *payload, size_t len, void *ctx);
/* Like p2p_yamux_write, but the payload is never copied into the output:
 * each data frame goes to sink with the queued output before it, which
 * leaves p2p_yamux_output() empty. Returns how many bytes went (0 when the
 * window is shut), or an error as p2p_yamux_write does, or sink's. */
ssize_t p2p_yamux_write_to(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
                           p2p_yamux_frame_sink sink, void *ctx);
/* The application has taken n bytes delivered by on_data; may send a
 * window update. */
int p2p_yamux_consume(p2p_yamux *y, uint32_t id, size_t n);
/* Half-close: we send no more (FIN). */
int p2p_yamux_close(p2p_yamux *y, uint32_t id);
/* Abort the stream both ways (RST). */
int p2p_yamux_reset(p2p_yamux *y, uint32_t id);
void *p2p_yamux_stream_user(p2p_yamux *y, uint32_t id);
void p2p_yamux_set_stream_user(p2p_yamux *y, uint32_t id, void *stream_user);
/* Bytes the peer will currently accept on the stream. */
size_t p2p_yamux_send_window(p2p_yamux *y, uint32_t id);
size_t p2p_yamux_num_streams(const p2p_yamux *y);

int p2p_yamux_ping(p2p_yamux *y, uint32_t opaque);
/* Tell the peer we open no more streams and accept no more. */
int p2p_yamux_go_away(p2p_yamux *y, uint32_t code);
bool p2p_yamux_is_dead(const p2p_yamux *y);
/* The time (ms, any monotonic origin) for the ping budget; call before
 * p2p_yamux_recv. The core reads no clock: without calls the time stands
 * still, and the budget is for the whole session. */
void p2p_yamux_set_now(p2p_yamux *y, uint64_t now_ms);
void p2p_yamux_get_stats(const p2p_yamux *y, p2p_yamux_stats *out);

/* Frames for the peer; the caller drains them. */
p2p_buf *p2p_yamux_output(p2p_yamux *y);

#endif
