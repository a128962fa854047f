/* One tunneled TCP connection: a local socket (uv_tcp_t) joined to a
 * libp2p stream, on either side of the tunnel.
 *
 * Before forwarding starts, the stream's bytes go to the role's on_header
 * hook (the /mtunnel/2.0.0 request or response) and the socket is not
 * read. After tunnel_tcp_fwd_start the bytes flow both ways:
 *   - socket -> stream: read, p2p_stream_write (which copies); when it
 *     says 0 we stop reading the socket until the stream's on_drain;
 *   - stream -> socket: copied into a uv_write, and consumed on the stream
 *     only once that write completed, so a slow local reader closes the
 *     stream's window instead of growing a buffer.
 * Half-close is carried both ways (EOF -> close_write, FIN -> shutdown); a
 * reset or error on one side aborts the other (a TCP RST locally).
 *
 * The struct is freed by this module after on_done, once both the socket
 * handle and the stream are gone. */
#ifndef TUNNEL_FWD_TCP_H
#define TUNNEL_FWD_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "p2p/stream.h"
#include "tunnel/header.h"

/* Bytes held from a headerless stream while the service is connecting. */
#define TUNNEL_FWD_EARLY_MAX (1024 * 1024)

typedef struct tunnel_tcp_fwd tunnel_tcp_fwd;

typedef struct tunnel_tcp_fwd_hooks {
	/* Stream bytes before forwarding started. Set *used to the bytes the
	 * header took (they are consumed); the hook may call
	 * tunnel_tcp_fwd_start (the rest is then forwarded) or _abort. Bytes
	 * left over while still not forwarding abort the tunnel. Without this
	 * hook (no header: /mtunnel/1.0.0) early bytes are held, up to
	 * TUNNEL_FWD_EARLY_MAX, and forwarded once the tunnel starts. */
	void (*on_header)(tunnel_tcp_fwd *f, const uint8_t *data, size_t len,
	                  size_t *used);
	/* The tunnel is over; f is freed when this returns. */
	void (*on_done)(tunnel_tcp_fwd *f);
} tunnel_tcp_fwd_hooks;

struct tunnel_tcp_fwd {
	uv_tcp_t sock;      /* the local end; sock.data is f */
	p2p_stream *stream; /* NULL before it is set and after its on_close */
	const tunnel_tcp_fwd_hooks *hooks;
	void *owner;                 /* the role's app, for the hooks */
	void *session;               /* the role's per-peer record, or NULL */
	tunnel_tcp_fwd *prev, *next; /* the owner's list */

	/* For the role, during the header phase. */
	tunnel_header_reader header;
	uv_connect_t connect_req; /* host: connecting to the service */
	bool stream_pending;      /* client: p2p_host_new_stream in flight */
	bool parked;   /* client: waits for a direct path (the relay is limited) */
	p2p_buf early; /* held bytes (no on_header hook), not yet consumed */

	bool forwarding;
	bool sock_closing; /* uv_close called */
	bool sock_reading;
	bool sock_eof;      /* the local side sent EOF; we half-closed the stream */
	bool stream_fin;    /* the stream's peer half-closed; socket shutdown asked */
	bool shutdown_done; /* our socket shutdown completed */
	bool sock_closed;
	bool done;
	bool timed_out;
	bool reset_on_drain; /* refused: reset once the answer is out */
	uint64_t started;    /* uv_now when made */
	uv_shutdown_t shutdown_req;
	uint64_t bytes_to_stream; /* read from the socket, written to the stream */
	uint64_t bytes_to_sock;   /* from the stream, written to the socket */
};

/* Allocates f with an initialized (unconnected) socket. */
int tunnel_tcp_fwd_new(tunnel_tcp_fwd **out, uv_loop_t *loop,
                       const tunnel_tcp_fwd_hooks *hooks, void *owner);
/* Takes the stream: sets its callbacks to f's. */
void tunnel_tcp_fwd_set_stream(tunnel_tcp_fwd *f, p2p_stream *s);
/* Starts forwarding both ways. */
int tunnel_tcp_fwd_start(tunnel_tcp_fwd *f);
/* Aborts both sides (stream reset, socket closed with RST). */
void tunnel_tcp_fwd_abort(tunnel_tcp_fwd *f);
/* Closes the socket only (a tunnel that never started); the stream, if
 * any, is the caller's to end. */
void tunnel_tcp_fwd_close_sock(tunnel_tcp_fwd *f);
/* Ends a tunnel that never started, whose stream carries a refusal still
 * queued (p2p_stream_pending): a reset now would lose it. The stream is
 * half-closed (the FIN follows the answer: a clean end if the peer closes
 * back) and reset as soon as the answer is out (on_drain), or by
 * tunnel_tcp_fwd_sweep if it never gets out; the socket is closed. */
void tunnel_tcp_fwd_end_after_answer(tunnel_tcp_fwd *f);
/* Aborts every tunnel of the list starting at `first` that is past
 * TUNNEL_HEADER_TIMEOUT_MS without forwarding (an open in flight aside);
 * returns how many. */
size_t tunnel_tcp_fwd_sweep(tunnel_tcp_fwd *first, uint64_t now);
/* Frees f if both sides are gone (after on_done); for roles whose pending
 * operation (stream_pending) just finished. Returns true if it did. */
bool tunnel_tcp_fwd_maybe_done(tunnel_tcp_fwd *f);

#endif
