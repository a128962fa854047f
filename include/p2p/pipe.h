/* A pipe: a bidirectional byte stream with backpressure and half-close,
 * the seam between a carrier and what runs over it. A TCP socket is a pipe
 * today; a yamux stream (circuit relay v2 runs a whole libp2p connection
 * over one) or a QUIC stream can be one tomorrow. The upgrader
 * (transport.h) turns any pipe into a secure, muxed connection.
 *
 * All callbacks run on the libuv loop thread. A pipe is made by its
 * implementation (e.g. p2p_tcp_dial) and owned by whoever holds it: the
 * holder sets the callbacks with p2p_pipe_set_callbacks and ends it with
 * p2p_pipe_close; the memory is released by the implementation after
 * on_close has returned. */
#ifndef P2P_PIPE_H
#define P2P_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

/* Queued-but-unwritten bytes above which a pipe is "congested": writers
 * should stop producing until on_drain. Writes still succeed up to
 * P2P_PIPE_MAX_QUEUED, then fail with P2P_ELIMIT. Room for two of a
 * connection's 768 KiB write batches, so that a bulk sender fills the next
 * while the last is written (with room for one, every other write was a
 * small remainder, and a 1 GiB upload went 15% slower). */
#define P2P_PIPE_HIGH_WATER (1536 * 1024)
#define P2P_PIPE_MAX_QUEUED (16 * 1024 * 1024)

typedef struct p2p_pipe p2p_pipe;

typedef struct p2p_pipe_callbacks {
	/* Bytes from the peer. They are only valid during the call: the
	 * receiver takes (copies or processes) all of them. To slow the
	 * peer, call p2p_pipe_read_stop. */
	void (*on_read)(p2p_pipe *p, const uint8_t *data, size_t len, void *user);
	/* The peer half-closed: no more on_read. */
	void (*on_eof)(p2p_pipe *p, void *user);
	/* A read or write failed (err from error.h); the pipe is unusable and
	 * the holder should close it. */
	void (*on_error)(p2p_pipe *p, int err, void *user);
	/* The write queue fell below P2P_PIPE_HIGH_WATER after being above. */
	void (*on_drain)(p2p_pipe *p, void *user);
	/* The pipe is closed; the pointer is dead once this returns. */
	void (*on_close)(p2p_pipe *p, void *user);
} p2p_pipe_callbacks;

typedef struct p2p_pipe_ops {
	int (*write)(p2p_pipe *p, p2p_buf *data);
	size_t (*queued)(const p2p_pipe *p);
	int (*read_start)(p2p_pipe *p);
	int (*read_stop)(p2p_pipe *p);
	int (*shutdown)(p2p_pipe *p);
	void (*close)(p2p_pipe *p);
} p2p_pipe_ops;

/* Implementations embed this as their first member. */
struct p2p_pipe {
	const p2p_pipe_ops *ops;
	/* Binary multiaddrs of the two ends (e.g. /ip4/127.0.0.1/tcp/4001),
	 * owned by the pipe; empty if unknown. */
	p2p_buf local_addr;
	p2p_buf remote_addr;
	p2p_pipe_callbacks cb;
	void *user;
	/* The carrier limits the duration or data of what runs over it (a
	 * relay circuit with a Limit); the connection upgraded from the pipe
	 * reports it (p2p_conn_is_limited). Set by the pipe's maker. */
	bool limited;
	bool closing;
};

/* Sets the callbacks (copied) and their user pointer. */
void p2p_pipe_set_callbacks(p2p_pipe *p, const p2p_pipe_callbacks *cb, void *user);
/* Queues data for the peer, taking ownership of its bytes (data is left
 * empty, as by p2p_buf_move): nothing is copied on the way to the socket.
 * P2P_ELIMIT when the queue would exceed P2P_PIPE_MAX_QUEUED (data is then
 * freed), P2P_ECLOSED after shutdown or close. */
int p2p_pipe_write(p2p_pipe *p, p2p_buf *data);
/* Bytes accepted by p2p_pipe_write but not yet written. */
size_t p2p_pipe_queued(const p2p_pipe *p);
bool p2p_pipe_congested(const p2p_pipe *p);
int p2p_pipe_read_start(p2p_pipe *p);
int p2p_pipe_read_stop(p2p_pipe *p);
/* Half-close after the queued writes: the peer sees EOF. */
int p2p_pipe_shutdown(p2p_pipe *p);
/* Closes both ways at once, dropping queued writes; on_close follows
 * (from the loop, never from inside this call). Idempotent. */
void p2p_pipe_close(p2p_pipe *p);

#endif
