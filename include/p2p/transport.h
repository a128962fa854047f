/* Transports: the TCP transport (listen, dial) and the upgrader that turns
 * any pipe (pipe.h) into a secure, multiplexed connection (conn.h):
 *
 *   multistream-select "/noise" -> Noise XX -> multistream-select
 *   "/yamux/1.0.0" -> yamux
 *
 * libuv does all the I/O; every callback runs on the loop thread, and
 * nothing here creates threads or keeps global state. */
#ifndef P2P_TRANSPORT_H
#define P2P_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "p2p/conn.h"
#include "p2p/keys.h"
#include "p2p/log.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/pipe.h"

#define P2P_HANDSHAKE_TIMEOUT_MS 15000 /* the whole upgrade, from first byte */
#define P2P_DIAL_TIMEOUT_MS      10000 /* TCP connect */
#define P2P_TCP_BACKLOG          128

/* --- TCP --- */

typedef struct p2p_tcp_listener p2p_tcp_listener;
typedef struct p2p_tcp_dialer p2p_tcp_dialer;

/* A new inbound connection as a pipe: the callee owns it (must set its
 * callbacks and eventually p2p_pipe_close it). */
typedef void (*p2p_tcp_accept_cb)(p2p_tcp_listener *l, p2p_pipe *pipe, void *user);

/* Multiaddrs are binary (multiaddr.h), passed as (bin, len). */

/* Listens on a /ip4/.../tcp/N or /ip6/.../tcp/N address (port 0 picks a
 * free port), with SO_REUSEADDR and SO_REUSEPORT, so that dials can leave
 * from the listening port (p2p_tcp_dial_opts.local_port), as go-libp2p's
 * reuseport transport does. The price, as there: a second listener of the
 * same user on the same explicit port is not refused, the kernel shares
 * the connections out between them (port 0 never picks a port in use).
 * P2P_EUNSUPPORTED for other addresses, P2P_EIO if the OS refuses. log is
 * borrowed (NULL: stderr). */
int p2p_tcp_listen(p2p_tcp_listener **out, uv_loop_t *loop, const uint8_t *addr,
                   size_t addr_len, const p2p_logger *log, p2p_tcp_accept_cb on_accept,
                   void *user);
/* The address actually bound (the real port), binary; owned by l. */
const p2p_buf *p2p_tcp_listener_addr(const p2p_tcp_listener *l);
/* Stops listening; the memory goes once libuv has closed the handle, and
 * on_closed (may be NULL) is called then. */
void p2p_tcp_listener_close(p2p_tcp_listener *l, void (*on_closed)(void *user),
                            void *user);

/* A dial's result: connected (pipe owned by the callee, err 0) or failed
 * (pipe NULL, err < 0). Every transport's dial reports this way. */
typedef void (*p2p_dial_cb)(p2p_pipe *pipe, int err, void *user);

/* For TCP the errors are P2P_ETIMEDOUT, P2P_EIO, P2P_EADDRINUSE, P2P_ECLOSED when
 * cancelled; the pipe's local_addr and remote_addr are set. */
typedef p2p_dial_cb p2p_tcp_dial_cb;

/* Dials a /ip4 or /ip6 .../tcp/N address (a trailing /p2p/<id> is
 * ignored), giving up after timeout_ms (0: P2P_DIAL_TIMEOUT_MS). *out (may
 * be NULL) is a handle for p2p_tcp_dial_cancel, valid until cb runs. cb
 * always runs exactly once, from the loop. */
int p2p_tcp_dial(p2p_tcp_dialer **out, uv_loop_t *loop, const uint8_t *addr,
                 size_t addr_len, uint64_t timeout_ms, p2p_tcp_dial_cb cb, void *user);

/* Port reuse, for NAT traversal: a connection that leaves from our
 * listening port is mapped by an endpoint-independent NAT to the same
 * public port as every other one, so the address peers observe (identify)
 * is one they can dial back, and both sides of a DCUtR hole punch can
 * connect() to each other from their listening ports at once (a TCP
 * simultaneous open). */
typedef struct p2p_tcp_dial_opts {
	/* Leave from this port: the socket is bound, with SO_REUSEADDR and
	 * SO_REUSEPORT, to the wildcard address of the destination's family
	 * (the kernel picks the source IP) on this port. 0: an ephemeral
	 * port. */
	uint16_t local_port;
	/* When the port cannot be had (the bind fails, or a connection from
	 * it to the same destination exists already: EADDRINUSE,
	 * EADDRNOTAVAIL), the dial is made again from an ephemeral port,
	 * unless this is set: then p2p_tcp_dial_ex returns P2P_EADDRINUSE and cb
	 * never runs (a hole punch wants the reused port or nothing). Both
	 * cases show in the call itself, never later. On Linux, when both
	 * sides dial at once and one SYN reaches the other side's listener
	 * before that side's connect() (always so on loopback), that
	 * connect() is such a case: the listener's connection is the one. */
	bool no_fallback;
} p2p_tcp_dial_opts;

/* p2p_tcp_dial with options (o NULL: none, as p2p_tcp_dial). Whether the
 * port was reused shows in the pipe's local_addr. */
int p2p_tcp_dial_ex(p2p_tcp_dialer **out, uv_loop_t *loop, const uint8_t *addr,
                    size_t addr_len, uint64_t timeout_ms, const p2p_tcp_dial_opts *o,
                    p2p_tcp_dial_cb cb, void *user);
void p2p_tcp_dial_cancel(p2p_tcp_dialer *d);

/* --- the upgrader --- */

typedef struct p2p_upgrade_config {
	const p2p_privkey *identity; /* ours, borrowed for the conn's life */
	/* The peer we mean to reach (copied); NULL accepts anyone. A
	 * mismatch fails the upgrade with P2P_EPEERID. */
	const p2p_peerid *expected;
	/* The handshake role: multistream-select initiator, Noise initiator
	 * and yamux client. Usually the dialer, but not always (DCUtR fixes
	 * the roles of a TCP simultaneous open by its own protocol). */
	bool initiator;
	p2p_direction direction; /* who dialed, for bookkeeping */
	uint64_t timeout_ms;     /* 0: P2P_HANDSHAKE_TIMEOUT_MS */
	uint32_t max_streams;    /* 0: P2P_CONN_MAX_STREAMS */
	const p2p_logger *log;   /* borrowed; NULL: stderr */
	/* Deadline for multistream-select on each stream; 0:
	 * P2P_STREAM_NEGOTIATE_TIMEOUT_MS. */
	uint64_t negotiate_timeout_ms;
	/* Once open, the connection is closed when its queued output has
	 * made no progress for this long (a peer that stopped reading);
	 * 0: P2P_CONN_WRITE_STALL_MS. */
	uint64_t write_stall_ms;
} p2p_upgrade_config;

/* done(c, 0) with an open connection, or done(NULL, err) after the
 * handshake failed (the pipe is closed and all is freed by then). */
typedef void (*p2p_upgrade_cb)(p2p_conn *c, int err, void *user);

/* Runs the upgrade over `pipe`, which this takes over (also on error);
 * the connection reports the pipe's addresses.
 * The connection's callbacks (cb, copied, and user) apply once it is
 * open. *out (may be NULL) is the connection in the making: p2p_conn_close
 * on it cancels, and done(NULL, P2P_ECLOSED) follows. */
int p2p_upgrade(p2p_conn **out, uv_loop_t *loop, p2p_pipe *pipe,
                const p2p_upgrade_config *cfg, const p2p_conn_callbacks *cb, void *user,
                p2p_upgrade_cb done, void *done_user);

#endif
