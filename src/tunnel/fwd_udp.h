/* One tunneled UDP flow: the datagrams of one client source address,
 * carried over one libp2p stream as length-prefixed frames (tunnel/udp.h),
 * so their boundaries survive.
 *
 * On the client the flow shares the listening UDP socket and remembers the
 * source address its replies go back to; on the host it owns a socket
 * connected to the service, opened only once the header was accepted
 * (tunnel_udp_flow_connect), so that a peer without the secret holds no
 * file descriptor. Before forwarding starts, the stream's bytes go to the
 * role's on_header hook, and outgoing datagrams wait in a small bounded
 * queue. UDP may drop: a datagram that finds the stream congested or the
 * queue full is dropped (and counted), never buffered without bound. A
 * flow idle for the app's timeout is closed by the owner
 * (tunnel_udp_flow_idle_ms); one stuck without a header, or closed and
 * never closed back, is aborted by the owner's tunnel_udp_flow_sweep. */
#ifndef TUNNEL_FWD_UDP_H
#define TUNNEL_FWD_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "p2p/buf.h"
#include "p2p/stream.h"
#include "tunnel/header.h"
#include "tunnel/udp.h"

/* Encoded bytes queued before the host's OK, and written to a congested
 * stream before datagrams are dropped. */
#define TUNNEL_UDP_FLOW_QUEUE_MAX (256 * 1024)
/* Bytes a flow's UDP socket asks the kernel to buffer each way. */
#define TUNNEL_UDP_SOCK_BUFFER (4 * 1024 * 1024)
/* Largest datagram read from a socket (IPv6 jumbograms aside). */
#define TUNNEL_UDP_RECV_MAX 65536

typedef struct tunnel_udp_flow tunnel_udp_flow;

typedef struct tunnel_udp_flow_hooks {
	/* As in fwd_tcp.h: stream bytes before forwarding; set *used. */
	void (*on_header)(tunnel_udp_flow *f, const uint8_t *data, size_t len,
	                  size_t *used);
	/* The flow is over; f is freed when this returns. */
	void (*on_done)(tunnel_udp_flow *f);
} tunnel_udp_flow_hooks;

struct tunnel_udp_flow {
	p2p_stream *stream;
	const tunnel_udp_flow_hooks *hooks;
	void *owner;
	void *session;
	tunnel_udp_flow *prev, *next; /* the owner's list */
	tunnel_header_reader header;
	tunnel_udp_decoder dec;
	uv_loop_t *loop;

	/* Where datagrams from the stream go: the client's shared socket and
	 * the source address, or the host's own connected socket. */
	uv_udp_t *sock;
	struct sockaddr_storage peer;
	bool owns_sock;
	uv_udp_t own_sock;
	bool sock_closed; /* own_sock closed, or never had one */

	bool stream_pending;
	bool forwarding;
	bool congested;         /* the stream said 0: limited writes until on_drain */
	size_t congested_bytes; /* written since; dropped past
	                           TUNNEL_UDP_FLOW_QUEUE_MAX */
	bool closing;
	bool done;
	bool timed_out;       /* aborted by tunnel_udp_flow_sweep */
	bool fin_sent;        /* tunnel_udp_flow_close half-closed the stream */
	bool reset_on_drain;  /* refused: reset once the answer is out */
	uint64_t started;     /* uv_now when made */
	uint64_t fin_at;      /* uv_now when fin_sent was set */
	p2p_buf queue;        /* frames waiting for the host's OK */
	uint64_t last_active; /* uv_now of the last datagram either way */
	uint64_t dgrams_to_stream, dgrams_to_sock, dropped;
	uint64_t bytes_to_stream, bytes_to_sock;
};

/* A client flow for datagrams from `peer`, replying through the shared
 * socket `sock`. */
int tunnel_udp_flow_new_client(tunnel_udp_flow **out, uv_loop_t *loop, uv_udp_t *sock,
                               const struct sockaddr *peer,
                               const tunnel_udp_flow_hooks *hooks, void *owner);
/* A host flow, without a socket yet: see tunnel_udp_flow_connect. */
int tunnel_udp_flow_new_host(tunnel_udp_flow **out, uv_loop_t *loop,
                             const tunnel_udp_flow_hooks *hooks, void *owner);
/* Opens the host flow's own socket, connected to `target` (before
 * tunnel_udp_flow_start). P2P_EIO if it cannot (out of file descriptors);
 * the flow is left as it was, for the owner to refuse. */
int tunnel_udp_flow_connect(tunnel_udp_flow *f, const struct sockaddr *target);
void tunnel_udp_flow_set_stream(tunnel_udp_flow *f, p2p_stream *s);
/* Forwarding starts: queued datagrams go out, replies come back. A host
 * flow must be connected first (P2P_ESTATE). */
int tunnel_udp_flow_start(tunnel_udp_flow *f);
/* A datagram for the stream (queued before start). */
void tunnel_udp_flow_send(tunnel_udp_flow *f, const uint8_t *data, size_t len);
/* Ends the flow gracefully (idle or stopping). */
void tunnel_udp_flow_close(tunnel_udp_flow *f);
/* Ends it at once (stream reset). */
void tunnel_udp_flow_abort(tunnel_udp_flow *f);
/* Ends a flow whose stream carries a refusal still queued
 * (p2p_stream_pending), as tunnel_tcp_fwd_end_after_answer: closed now
 * (the FIN follows the answer), reset as soon as the answer is out, or by
 * tunnel_udp_flow_sweep if it never gets out. */
void tunnel_udp_flow_end_after_answer(tunnel_udp_flow *f);
/* Milliseconds since the last datagram. */
uint64_t tunnel_udp_flow_idle_ms(const tunnel_udp_flow *f);
/* Aborts every flow of the list starting at `first` whose stream has been
 * TUNNEL_HEADER_TIMEOUT_MS without forwarding (no header, or no answer;
 * an open in flight aside), or waiting that long for the peer to close
 * back after tunnel_udp_flow_close; returns how many. */
size_t tunnel_udp_flow_sweep(tunnel_udp_flow *first, uint64_t now);
/* See tunnel_tcp_fwd_maybe_done. */
bool tunnel_udp_flow_maybe_done(tunnel_udp_flow *f);

#endif
