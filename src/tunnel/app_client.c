/* The client role (app_client.h). */
#include "tunnel/app_client.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/app.h"
#include "tunnel/fwd_tcp.h"
#include "tunnel/fwd_udp.h"
#include "tunnel/header.h"
#include "tunnel/token.h"

#define HOST_ADDR_TEXT_MAX 512
/* Local connections waiting to be accepted. */
#define CLIENT_BACKLOG 511
/* UDP flows (source addresses) at once; datagrams from more are dropped. */
#define CLIENT_MAX_UDP_FLOWS 1024
/* Reconnecting after the connection to the host dropped: the first try
 * after this long, then twice as long each time, up to the maximum. */
#define CLIENT_RECONNECT_MIN_MS 500
#define CLIENT_RECONNECT_MAX_MS 30000
/* Where the client listens for libp2p connections without -listen: its
 * dials then leave from this port (port reuse), which makes the address
 * the relay observes one a hole punch can use. */
#define CLIENT_DEFAULT_LISTEN "/ip4/0.0.0.0/tcp/0"
/* A local connection that finds only a limited relay circuit to the host
 * waits this long for the hole punch (DCUtR: up to 3 attempts of a relay
 * round trip and a 5 s dial each) before it is refused. */
#define CLIENT_PUNCH_WAIT_MS 20000
/* The original Go mtunnel's protocol, for its tokens: raw bytes, no header. */
#define TUNNEL_PROTOCOL_V1 "/mtunnel/1.0.0"

typedef struct client_app {
	tunnel_app app; /* first: the role hooks get &app */
	tunnel_token token;
	char host_id[P2P_PEERID_STR_MAX];
	uv_tcp_t listener;
	bool listener_open;
	int port; /* the local port we listen on */
	tunnel_tcp_fwd *fwds;
	/* UDP */
	uv_udp_t udp;
	bool udp_open;
	tunnel_udp_flow *flows;
	size_t n_flows;
	uv_timer_t sweep_timer;
	bool timer_on;
	char udp_buf[TUNNEL_UDP_RECV_MAX]; /* one datagram, handled at once */
	/* The connection to the host, for reconnecting. */
	bool host_up;         /* a connection to the host is open */
	bool was_up;          /* one was, at some point */
	bool reconnecting;    /* a retry is scheduled or dialing */
	bool user_disconnect; /* DISCONNECT command: reconnect on demand only */
	/* CONNECTED is out: the host accepted a tunnel since start or since
	 * the last DISCONNECT. */
	bool announced;
	bool used;        /* the connection in use carried a tunnel */
	const char *path; /* TUNNEL_PATH_* once announced, else NULL */
	uint64_t backoff_ms;
	uv_timer_t retry_timer;
	bool retry_timer_on;
	/* Local connections parked while a limited relay is the only way and
	 * a hole punch may still come (CLIENT_PUNCH_WAIT_MS). */
	uv_timer_t punch_timer;
	bool punch_timer_on;
	bool punch_waiting;  /* the timer runs */
	bool punch_given_up; /* it ran out on this connection to the host */
	/* UDP datagrams dropped because only a limited circuit led to the
	 * host, and whether that was said since the host came up. */
	uint64_t udp_dropped;
	bool udp_limited_said;
} client_app;

static bool only_limited(client_app *ca);
static void say_limited(client_app *ca);
static void host_accepted(client_app *ca, p2p_stream *s);

static void fwd_unlink(client_app *ca, tunnel_tcp_fwd *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else if (ca->fwds == f)
		ca->fwds = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

static void client_fwd_done(tunnel_tcp_fwd *f)
{
	fwd_unlink(f->owner, f);
}

/* A refusal for a reason that will not change: the token is not good for
 * this host. */
static bool refusal_is_final(tunnel_status st)
{
	return st == TUNNEL_STATUS_BAD_SECRET || st == TUNNEL_STATUS_WRONG_NETWORK ||
	       st == TUNNEL_STATUS_NOT_ALLOWED;
}

/* What the host's answer to a tunnel header means for the tunnel. */
enum response_verdict {
	RESPONSE_WAIT,          /* more bytes needed */
	RESPONSE_START,         /* OK: forwarding may start */
	RESPONSE_ABORT,         /* malformed or refused: drop this tunnel */
	RESPONSE_ABORT_AND_STOP /* refused for good (secret, network, allow list) */
};

/* Reads the host's answer for a TCP tunnel or a UDP flow alike, and
 * reports what is wrong with it. */
static enum response_verdict client_read_response(client_app *ca,
                                                  tunnel_header_reader *hr,
                                                  const uint8_t *data, size_t len,
                                                  size_t *used)
{
	tunnel_response resp;
	const char *why = NULL;
	int rc = tunnel_response_read(hr, data, len, used, &resp, &why);
	if (rc == P2P_EAGAIN)
		return RESPONSE_WAIT;
	if (rc < 0) {
		tunnel_emit_error(ca->app.events,
		                  "the host sent a bad tunnel response: %s",
		                  why ? why : p2p_strerror(rc));
		return RESPONSE_ABORT;
	}
	if (resp.status == TUNNEL_STATUS_OK)
		return RESPONSE_START;
	tunnel_emit_error(ca->app.events, "the host refused the tunnel: %s%s%s",
	                  tunnel_status_text(resp.status), resp.reason[0] ? ": " : "",
	                  resp.reason);
	return refusal_is_final(resp.status) ? RESPONSE_ABORT_AND_STOP : RESPONSE_ABORT;
}

static void client_on_header(tunnel_tcp_fwd *f, const uint8_t *data, size_t len,
                             size_t *used)
{
	client_app *ca = f->owner;
	enum response_verdict v = client_read_response(ca, &f->header, data, len, used);
	if (v == RESPONSE_START) {
		host_accepted(ca, f->stream);
		tunnel_tcp_fwd_start(f);
	} else if (v != RESPONSE_WAIT) {
		tunnel_tcp_fwd_abort(f);
	}
	if (v == RESPONSE_ABORT_AND_STOP)
		tunnel_app_stop(&ca->app, TUNNEL_EXIT_USAGE);
}

static const tunnel_tcp_fwd_hooks client_tcp_hooks = {
    .on_header = client_on_header,
    .on_done = client_fwd_done,
};

/* A stream to the host could not be had, or is no longer wanted: reset it
 * and, if it failed while we are running, say why. */
static void client_stream_unwanted(client_app *ca, p2p_stream *s, int err)
{
	if (s)
		p2p_stream_reset(s);
	if (err < 0 && !ca->app.stopping)
		tunnel_emit_error(ca->app.events, "cannot open a tunnel to host %s: %s",
		                  ca->host_id, p2p_strerror(err));
}

/* Sends the /mtunnel/2.0.0 header: the token's secret and network. */
static int client_send_request(client_app *ca, p2p_stream *s)
{
	p2p_buf req;
	p2p_buf_init(&req);
	int rc = tunnel_request_encode(ca->token.secret, ca->token.network, &req);
	if (rc == 0)
		rc = p2p_stream_write(s, req.data, req.len);
	p2p_buf_free(&req);
	return rc;
}

static void on_stream_ready(p2p_stream *s, int err, void *user)
{
	tunnel_tcp_fwd *f = user;
	client_app *ca = f->owner;
	f->stream_pending = false;
	if (err < 0 || f->sock_closing) {
		client_stream_unwanted(ca, s, err);
		tunnel_tcp_fwd_close_sock(f);
		tunnel_tcp_fwd_maybe_done(f);
		return;
	}
	tunnel_tcp_fwd_set_stream(f, s);
	ca->used = true;
	if (ca->token.version == TUNNEL_TOKEN_VERSION_GOB) {
		/* No header and no answer: the host agreeing to /mtunnel/1.0.0
		 * is all the acceptance this protocol has. */
		host_accepted(ca, s);
		tunnel_tcp_fwd_start(f); /* no header: bytes flow at once */
		return;
	}
	if (client_send_request(ca, s) < 0)
		tunnel_tcp_fwd_abort(f);
}

static void open_tunnel(client_app *ca, tunnel_tcp_fwd *f);

/* --- waiting for a hole punch --- */

/* The wait for a direct path is over: parked connections get their
 * tunnels (ok) or are refused, with one ERROR. */
static void unpark_all(client_app *ca, bool ok)
{
	if (ca->punch_waiting) {
		ca->punch_waiting = false;
		uv_timer_stop(&ca->punch_timer);
	}
	bool any = false;
	for (tunnel_tcp_fwd *f = ca->fwds, *next; f; f = next) {
		next = f->next;
		if (!f->parked)
			continue;
		f->parked = false;
		any = true;
		if (ok)
			open_tunnel(ca, f);
		else
			tunnel_tcp_fwd_close_sock(f);
	}
	if (any && !ok)
		say_limited(ca);
}

static void on_punch_timer(uv_timer_t *t)
{
	client_app *ca = t->data;
	ca->punch_waiting = false;
	ca->punch_given_up = true;
	tunnel_app_say(&ca->app, "no direct path to host %s came in %d s", ca->host_id,
	               CLIENT_PUNCH_WAIT_MS / 1000);
	unpark_all(ca, false);
}

/* A local connection while the only way to the host is a limited relay
 * circuit: the host punches a hole (DCUtR) over that circuit, so wait
 * for the direct connection, as go-libp2p's streams wait for it. */
static void wait_for_punch(client_app *ca)
{
	if (ca->punch_waiting)
		return;
	ca->punch_waiting = true;
	uv_timer_start(&ca->punch_timer, on_punch_timer, CLIENT_PUNCH_WAIT_MS, 0);
	tunnel_app_say(&ca->app,
	               "host %s is reachable only through a limited relay circuit; "
	               "waiting for a direct path",
	               ca->host_id);
}

static void park(client_app *ca, tunnel_tcp_fwd *f)
{
	f->parked = true;
	wait_for_punch(ca);
}

static void on_local_conn(uv_stream_t *server, int status)
{
	client_app *ca = server->data;
	if (status < 0 || ca->app.stopping)
		return;
	tunnel_tcp_fwd *f;
	if (tunnel_tcp_fwd_new(&f, ca->app.loop, &client_tcp_hooks, ca) < 0)
		return;
	f->next = ca->fwds;
	if (ca->fwds)
		ca->fwds->prev = f;
	ca->fwds = f;
	if (uv_accept(server, (uv_stream_t *)&f->sock) < 0) {
		tunnel_tcp_fwd_close_sock(f);
		return;
	}
	if (only_limited(ca)) {
		if (ca->app.holepunch != NULL && !ca->punch_given_up) {
			park(ca, f);
			return;
		}
		say_limited(ca);
		tunnel_tcp_fwd_close_sock(f);
		return;
	}
	open_tunnel(ca, f);
}

/* Opens f's tunnel stream to the host. */
static void open_tunnel(client_app *ca, tunnel_tcp_fwd *f)
{
	static const char *const protos[] = {TUNNEL_PROTOCOL};
	static const char *const protos_v1[] = {TUNNEL_PROTOCOL_V1};
	f->stream_pending = true;
	int rc = p2p_host_new_stream(
	    ca->app.host, &ca->token.peer,
	    ca->token.version == TUNNEL_TOKEN_VERSION_GOB ? protos_v1 : protos, 1,
	    on_stream_ready, f);
	if (rc < 0) {
		f->stream_pending = false;
		tunnel_emit_error(ca->app.events, "cannot open a tunnel to host %s: %s",
		                  ca->host_id, p2p_strerror(rc));
		tunnel_tcp_fwd_close_sock(f);
	}
}

/* --- the connection to the host --- */

/* LISTENING: the local port, as soon as it is open, so that a program
 * can connect to it at once; nothing is known of the host yet. */
static void emit_listening(client_app *ca)
{
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_listening(&ev, ca->host_id, (unsigned)ca->port) == 0)
		tunnel_emit(ca->app.events, &ev);
	p2p_buf_free(&ev);
}

/* The host answered OK to tunnel stream s. The first time since start
 * (or since a DISCONNECT) that is CONNECTED, with the way that stream
 * went: only an answer proves that the host takes our token, so a client
 * that reaches a host which refuses it never says CONNECTED. */
static void host_accepted(client_app *ca, p2p_stream *s)
{
	if (ca->announced)
		return;
	p2p_conn *c = p2p_stream_conn(s);
	char addr[HOST_ADDR_TEXT_MAX];
	tunnel_app_addr_text(p2p_conn_remote_addr(c), addr, sizeof addr);
	ca->path = tunnel_app_conn_path(c);
	ca->announced = true;
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_connected(&ev, ca->host_id, addr, (unsigned)ca->port,
	                           ca->path) == 0)
		tunnel_emit(ca->app.events, &ev);
	p2p_buf_free(&ev);
}

/* PATH when the connection in use now goes another way (a direct one
 * opened beside a relayed one, or the other way round), once CONNECTED
 * has said which way it went first. */
static void check_path(client_app *ca)
{
	char addr[HOST_ADDR_TEXT_MAX];
	tunnel_app_check_path(&ca->app, &ca->token.peer, "host", ca->host_id, &ca->path,
	                      addr, sizeof addr);
}

/* The only way to the host is a relay circuit with limits (duration,
 * data) that would cut a tunnel off mid-transfer. */
static bool only_limited(client_app *ca)
{
	p2p_conn *c = p2p_host_conn(ca->app.host, &ca->token.peer);
	return c && p2p_conn_is_limited(c);
}

static void say_limited(client_app *ca)
{
	tunnel_emit_error(ca->app.events,
	                  "host %s is reachable only through a relay that limits "
	                  "each circuit (duration, data): no tunnel can run over it; "
	                  "the host needs an unlimited relay (tunnel -relay-service, "
	                  "given to the host with -relay)",
	                  ca->host_id);
}

static void schedule_reconnect(client_app *ca);

static void on_reconnected(p2p_conn *c, int err, void *user)
{
	client_app *ca = user;
	if (ca->app.stopping)
		return;
	if (err < 0) {
		tunnel_app_say(&ca->app, "cannot reach host %s (%s); next try in %llu ms",
		               ca->host_id, p2p_strerror(err),
		               (unsigned long long)ca->backoff_ms);
		schedule_reconnect(ca);
	}
	/* Success is reported by on_host_connected. */
}

/* The first dial, at start-up, so that the first tunnel finds the
 * connection ready. When it fails the client listens all the same, says
 * so and tries again with backoff. */
static void on_first_connect(p2p_conn *c, int err, void *user)
{
	client_app *ca = user;
	if (ca->app.stopping || err >= 0 || ca->host_up)
		return; /* success: on_host_connected logged it */
	tunnel_emit_error(
	    ca->app.events, "cannot reach host %s yet (%s); trying again in %llu ms",
	    ca->host_id, p2p_strerror(err), (unsigned long long)ca->backoff_ms);
	schedule_reconnect(ca);
}

static void on_retry_timer(uv_timer_t *t)
{
	client_app *ca = t->data;
	if (ca->app.stopping || ca->host_up)
		return;
	int rc =
	    p2p_host_connect(ca->app.host, &ca->token.peer, NULL, 0, on_reconnected, ca);
	if (rc < 0)
		on_reconnected(NULL, rc, ca);
}

static void schedule_reconnect(client_app *ca)
{
	ca->reconnecting = true;
	uint64_t wait = ca->backoff_ms;
	ca->backoff_ms = ca->backoff_ms * 2 > CLIENT_RECONNECT_MAX_MS
	                     ? CLIENT_RECONNECT_MAX_MS
	                     : ca->backoff_ms * 2;
	uv_timer_start(&ca->retry_timer, on_retry_timer, wait, 0);
}

static void on_host_connected(p2p_host *h, p2p_conn *c, void *user)
{
	client_app *ca = user;
	if (!p2p_peerid_equal(p2p_conn_remote_peer(c), &ca->token.peer))
		return;
	if (!p2p_conn_is_limited(c))
		unpark_all(ca, true);
	if (ca->host_up) {
		check_path(ca);
		return;
	}
	ca->punch_given_up = false;
	ca->udp_limited_said = false;
	ca->host_up = true;
	ca->used = false;
	ca->backoff_ms = CLIENT_RECONNECT_MIN_MS;
	uv_timer_stop(&ca->retry_timer);
	if (ca->was_up)
		tunnel_app_say(&ca->app, "reconnected to host %s", ca->host_id);
	else
		tunnel_app_say(&ca->app, "connected to host %s", ca->host_id);
	/* CONNECTED waits for the host's first OK (host_accepted). A
	 * limited circuit is said so when a tunnel wants it (and, with hole
	 * punching, after waiting for a direct path). */
	if (only_limited(ca) && ca->app.holepunch == NULL)
		say_limited(ca);
	ca->was_up = true;
	ca->reconnecting = false;
}

static void on_host_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	client_app *ca = user;
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	if (!p2p_peerid_equal(peer, &ca->token.peer) || !ca->host_up)
		return;
	p2p_conn *conns[8];
	size_t n = p2p_host_conns(h, conns, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (conns[i] != c && p2p_conn_is_open(conns[i]) &&
		    p2p_peerid_equal(p2p_conn_remote_peer(conns[i]), peer)) {
			/* The other one carries on (c no longer counts as
			 * open): a direct path that died falls back to the
			 * relay, a retired relay leaves the direct one. */
			check_path(ca);
			return;
		}
	ca->host_up = false;
	/* The next connection announces itself again, once the host has
	 * accepted a tunnel over it. */
	ca->announced = false;
	ca->path = NULL;
	if (ca->app.stopping)
		return;
	if (ca->user_disconnect) {
		ca->user_disconnect = false;
		p2p_buf ev;
		p2p_buf_init(&ev);
		if (tunnel_event_disconnect(&ev, ca->host_id, NULL) == 0)
			tunnel_emit(ca->app.events, &ev);
		p2p_buf_free(&ev);
		return;
	}
	/* A connection that never carried a tunnel may just have been closed
	 * as idle by the host (its connection manager keeps only the peers
	 * that passed the secret): dialing again at once would repeat that
	 * every idle timeout. The next local connection dials it. */
	bool eager = ca->used;
	tunnel_app_say(&ca->app, "lost the connection to host %s; %s", ca->host_id,
	               eager ? "reconnecting" : "reconnecting on the next tunnel");
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_disconnect(&ev, ca->host_id,
	                            eager ? "connection lost; reconnecting"
	                                  : "connection closed; reconnecting on the "
	                                    "next tunnel") == 0)
		tunnel_emit(ca->app.events, &ev);
	p2p_buf_free(&ev);
	if (eager)
		schedule_reconnect(ca);
}

/* --- UDP --- */

static void client_flow_done(tunnel_udp_flow *f)
{
	client_app *ca = f->owner;
	if (f->prev)
		f->prev->next = f->next;
	else if (ca->flows == f)
		ca->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	ca->n_flows--;
}

static void client_flow_header(tunnel_udp_flow *f, const uint8_t *data, size_t len,
                               size_t *used)
{
	client_app *ca = f->owner;
	enum response_verdict v = client_read_response(ca, &f->header, data, len, used);
	if (v == RESPONSE_START) {
		host_accepted(ca, f->stream);
		tunnel_udp_flow_start(f);
	} else if (v != RESPONSE_WAIT) {
		tunnel_udp_flow_abort(f);
	}
	if (v == RESPONSE_ABORT_AND_STOP)
		tunnel_app_stop(&ca->app, TUNNEL_EXIT_USAGE);
}

static const tunnel_udp_flow_hooks client_udp_hooks = {
    .on_header = client_flow_header,
    .on_done = client_flow_done,
};

static void on_flow_stream_ready(p2p_stream *s, int err, void *user)
{
	tunnel_udp_flow *f = user;
	client_app *ca = f->owner;
	f->stream_pending = false;
	if (err < 0 || f->closing) {
		client_stream_unwanted(ca, s, err);
		f->closing = true;
		tunnel_udp_flow_maybe_done(f);
		return;
	}
	tunnel_udp_flow_set_stream(f, s);
	ca->used = true;
	if (client_send_request(ca, s) < 0)
		tunnel_udp_flow_abort(f);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
}

/* The flow of a source address, opened on its first datagram. */
static tunnel_udp_flow *flow_for(client_app *ca, const struct sockaddr *from)
{
	for (tunnel_udp_flow *f = ca->flows; f; f = f->next)
		if (!f->closing && same_addr(&f->peer, from))
			return f;
	if (ca->n_flows >= CLIENT_MAX_UDP_FLOWS)
		return NULL;
	if (only_limited(ca)) {
		/* A UDP flow waits for the punch too, but holds nothing: its
		 * datagrams until then are dropped (counted), as a lossy link
		 * would, and the sender's retries open the flow once the
		 * direct path is up. Said once per wait, not per datagram. */
		ca->udp_dropped++;
		if (ca->app.holepunch != NULL && !ca->punch_given_up) {
			if (!ca->punch_waiting)
				tunnel_app_say(
				    &ca->app,
				    "UDP datagrams to host %s are dropped until "
				    "a direct path is up",
				    ca->host_id);
			wait_for_punch(ca);
		} else if (!ca->udp_limited_said) {
			ca->udp_limited_said = true;
			say_limited(ca);
		}
		return NULL;
	}
	tunnel_udp_flow *f;
	if (tunnel_udp_flow_new_client(&f, ca->app.loop, &ca->udp, from,
	                               &client_udp_hooks, ca) < 0)
		return NULL;
	f->next = ca->flows;
	if (ca->flows)
		ca->flows->prev = f;
	ca->flows = f;
	ca->n_flows++;
	static const char *const protos[] = {TUNNEL_PROTOCOL};
	f->stream_pending = true;
	int rc = p2p_host_new_stream(ca->app.host, &ca->token.peer, protos, 1,
	                             on_flow_stream_ready, f);
	if (rc < 0) {
		f->stream_pending = false;
		tunnel_emit_error(ca->app.events, "cannot open a tunnel to host %s: %s",
		                  ca->host_id, p2p_strerror(rc));
		f->closing = true;
		tunnel_udp_flow_maybe_done(f);
		return NULL;
	}
	return f;
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	client_app *ca = h->data;
	buf->base = ca->udp_buf;
	buf->len = sizeof ca->udp_buf;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
	client_app *ca = h->data;
	if (n < 0 || !addr || (flags & UV_UDP_PARTIAL) || ca->app.stopping)
		return;
	tunnel_udp_flow *f = flow_for(ca, addr);
	if (f)
		tunnel_udp_flow_send(f, (const uint8_t *)buf->base, (size_t)n);
}

static void on_sweep(uv_timer_t *t)
{
	client_app *ca = t->data;
	size_t n = tunnel_tcp_fwd_sweep(ca->fwds, uv_now(t->loop));
	if (n)
		tunnel_emit_error(ca->app.events,
		                  "host %s did not answer %zu tunnel request(s)",
		                  ca->host_id, n);
	for (tunnel_udp_flow *f = ca->flows; f; f = f->next)
		if (!f->closing && !f->stream_pending &&
		    tunnel_udp_flow_idle_ms(f) >= ca->app.opts->udp_timeout_ms)
			tunnel_udp_flow_close(f);
}

static void client_on_cmd(tunnel_app *app, const tunnel_cmd *cmd)
{
	client_app *ca = (client_app *)app;
	if (cmd->action == TUNNEL_CMD_LIST) {
		tunnel_session_info info = {.session_id = ca->host_id};
		size_t n = 0;
		p2p_conn *c = p2p_host_conn(app->host, &ca->token.peer);
		char addr[256];
		if (c) {
			tunnel_app_addr_text(p2p_conn_remote_addr(c), addr, sizeof addr);
			info.addr = addr;
			info.path = tunnel_app_conn_path(c);
			for (tunnel_tcp_fwd *f = ca->fwds; f; f = f->next) {
				info.streams++;
				info.bytes_in += f->bytes_to_sock;
				info.bytes_out += f->bytes_to_stream;
			}
			for (tunnel_udp_flow *f = ca->flows; f; f = f->next) {
				info.streams++;
				info.bytes_in += f->bytes_to_sock;
				info.bytes_out += f->bytes_to_stream;
			}
			n = 1;
		}
		p2p_buf ev;
		p2p_buf_init(&ev);
		/* What the client refused itself: datagrams that found only a
		 * limited relay circuit. */
		tunnel_counter refused = {"udp_limited_circuit", ca->udp_dropped};
		if (tunnel_event_list(&ev, &info, n, cmd->detail, &refused,
		                      ca->udp_dropped > 0 ? 1 : 0) == 0)
			tunnel_emit(app->events, &ev);
		p2p_buf_free(&ev);
	} else if (cmd->action == TUNNEL_CMD_DISCONNECT) {
		p2p_peerid peer;
		if (p2p_peerid_from_string(&peer, cmd->session_id) < 0 ||
		    !p2p_peerid_equal(&peer, &ca->token.peer) ||
		    !p2p_host_conn(app->host, &peer)) {
			tunnel_emit_error(app->events, "no session %s", cmd->session_id);
			return;
		}
		ca->user_disconnect = true;
		p2p_host_disconnect(app->host, &peer);
	}
}

static void client_on_stop(tunnel_app *app)
{
	client_app *ca = (client_app *)app;
	if (ca->listener_open) {
		ca->listener_open = false;
		uv_close((uv_handle_t *)&ca->listener, NULL);
	}
	for (tunnel_tcp_fwd *f = ca->fwds; f; f = f->next)
		tunnel_tcp_fwd_abort(f);
	for (tunnel_udp_flow *f = ca->flows; f; f = f->next)
		tunnel_udp_flow_abort(f);
	if (ca->udp_open) {
		ca->udp_open = false;
		uv_close((uv_handle_t *)&ca->udp, NULL);
	}
	if (ca->timer_on) {
		ca->timer_on = false;
		uv_close((uv_handle_t *)&ca->sweep_timer, NULL);
	}
	if (ca->retry_timer_on) {
		ca->retry_timer_on = false;
		uv_close((uv_handle_t *)&ca->retry_timer, NULL);
	}
	if (ca->punch_timer_on) {
		ca->punch_timer_on = false;
		ca->punch_waiting = false;
		uv_close((uv_handle_t *)&ca->punch_timer, NULL);
	}
	p2p_host_unobserve(app->host, ca);
}

static const tunnel_app_role client_role = {
    .on_cmd = client_on_cmd,
    .on_stop = client_on_stop,
};

static int listen_local(client_app *ca, const tunnel_opts *o)
{
	struct sockaddr_storage ss;
	if (uv_ip4_addr(o->bind, o->port, (struct sockaddr_in *)&ss) < 0 &&
	    uv_ip6_addr(o->bind, o->port, (struct sockaddr_in6 *)&ss) < 0) {
		tunnel_emit_error(ca->app.events, "-bind wants an IP address, not \"%s\"",
		                  o->bind);
		return TUNNEL_EXIT_USAGE;
	}
	int rc;
	if (ca->token.network == TUNNEL_NETWORK_UDP) {
		uv_udp_init(ca->app.loop, &ca->udp);
		ca->udp.data = ca;
		ca->udp_open = true;
		rc = uv_udp_bind(&ca->udp, (struct sockaddr *)&ss, 0);
		if (rc == 0) {
			int sz = TUNNEL_UDP_SOCK_BUFFER;
			uv_recv_buffer_size((uv_handle_t *)&ca->udp, &sz);
			sz = TUNNEL_UDP_SOCK_BUFFER;
			uv_send_buffer_size((uv_handle_t *)&ca->udp, &sz);
			rc = uv_udp_recv_start(&ca->udp, on_udp_alloc, on_udp_recv);
		}
	} else {
		uv_tcp_init(ca->app.loop, &ca->listener);
		ca->listener.data = ca;
		ca->listener_open = true;
		rc = uv_tcp_bind(&ca->listener, (struct sockaddr *)&ss, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&ca->listener, CLIENT_BACKLOG,
			               on_local_conn);
	}
	if (rc == 0) {
		uint64_t every = o->udp_timeout_ms / 4;
		every = every < 100 ? 100 : every > 1000 ? 1000 : every;
		uv_timer_init(ca->app.loop, &ca->sweep_timer);
		ca->sweep_timer.data = ca;
		uv_timer_start(&ca->sweep_timer, on_sweep, every, every);
		ca->timer_on = true;
	}
	if (rc < 0) {
		tunnel_emit_error(ca->app.events, "cannot listen on %s port %d: %s",
		                  o->bind, o->port, uv_strerror(rc));
		return TUNNEL_EXIT_FAILURE;
	}
	int len = sizeof ss;
	if (ca->udp_open)
		uv_udp_getsockname(&ca->udp, (struct sockaddr *)&ss, &len);
	else
		uv_tcp_getsockname(&ca->listener, (struct sockaddr *)&ss, &len);
	ca->port =
	    ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static int client_setup(client_app *ca, const tunnel_opts *o)
{
	p2p_peerstore *ps = p2p_host_peerstore(ca->app.host);
	for (size_t i = 0; i < ca->token.n_addrs; i++)
		p2p_peerstore_add_addr(ps, &ca->token.peer, ca->token.addrs[i].bytes,
		                       ca->token.addrs[i].len, P2P_ADDR_MANUAL);
	for (size_t i = 0; i < o->n_connect; i++) {
		p2p_buf bin;
		p2p_buf_init(&bin);
		int rc = p2p_multiaddr_parse(o->connect[i], &bin);
		if (rc == 0)
			rc = p2p_peerstore_add_addr(ps, &ca->token.peer, bin.data,
			                            bin.len, P2P_ADDR_MANUAL);
		p2p_buf_free(&bin);
		if (rc < 0) {
			tunnel_emit_error(ca->app.events, "-connect %s: %s",
			                  o->connect[i], p2p_strerror(rc));
			return TUNNEL_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < o->n_relay; i++) {
		p2p_buf bin, circ;
		p2p_buf_init(&bin);
		p2p_buf_init(&circ);
		int rc = p2p_multiaddr_parse(o->relay[i], &bin);
		if (rc == 0)
			rc = p2p_relay_circuit_addr(bin.data, bin.len, NULL, &circ);
		if (rc == 0)
			rc = p2p_peerstore_add_addr(ps, &ca->token.peer, circ.data,
			                            circ.len, P2P_ADDR_MANUAL);
		p2p_buf_free(&bin);
		p2p_buf_free(&circ);
		if (rc < 0) {
			tunnel_emit_error(ca->app.events, "-relay %s: %s", o->relay[i],
			                  p2p_strerror(rc));
			return TUNNEL_EXIT_USAGE;
		}
	}
	if (ca->token.n_addrs == 0 && o->n_connect == 0 && o->n_relay == 0) {
		tunnel_emit_error(ca->app.events,
		                  "the token carries no address of the host "
		                  "(an original mtunnel token?): give -connect "
		                  "MULTIADDR");
		return TUNNEL_EXIT_USAGE;
	}
	uv_timer_init(ca->app.loop, &ca->retry_timer);
	ca->retry_timer.data = ca;
	ca->retry_timer_on = true;
	uv_timer_init(ca->app.loop, &ca->punch_timer);
	ca->punch_timer.data = ca;
	ca->punch_timer_on = true;
	ca->backoff_ms = CLIENT_RECONNECT_MIN_MS;
	static const p2p_host_observer obs = {
	    .on_connected = on_host_connected,
	    .on_disconnected = on_host_disconnected,
	};
	if (p2p_host_observe(ca->app.host, &obs, ca) < 0)
		return TUNNEL_EXIT_FAILURE;
	int rc =
	    tunnel_app_listen(&ca->app, o->no_holepunch ? NULL : CLIENT_DEFAULT_LISTEN);
	if (rc)
		return rc;
	rc = listen_local(ca, o);
	if (rc)
		return rc;
	tunnel_app_say(&ca->app, "forwarding %s %s:%d to host %s",
	               tunnel_network_name(ca->token.network), o->bind, ca->port,
	               ca->host_id);
	emit_listening(ca);
	rc = p2p_host_connect(ca->app.host, &ca->token.peer, NULL, 0, on_first_connect,
	                      ca);
	if (rc < 0)
		on_first_connect(NULL, rc, ca);
	return 0;
}

int tunnel_client_main(uv_loop_t *loop, const tunnel_opts *o)
{
	client_app *ca = calloc(1, sizeof *ca);
	if (!ca)
		return TUNNEL_EXIT_FAILURE;
	const char *why = NULL;
	int rc = tunnel_token_decode(&ca->token, o->token, strlen(o->token), &why);
	if (rc < 0) {
		tunnel_emit_error(stdout, "bad token: %s", why ? why : p2p_strerror(rc));
		free(ca);
		return TUNNEL_EXIT_USAGE;
	}
	if (o->network_set && o->network != ca->token.network) {
		tunnel_emit_error(stdout,
		                  "-network %s does not match the token's network (%s)",
		                  tunnel_network_name(o->network),
		                  tunnel_network_name(ca->token.network));
		free(ca);
		return TUNNEL_EXIT_USAGE;
	}
	if (ca->token.version == TUNNEL_TOKEN_VERSION_GOB &&
	    ca->token.network != TUNNEL_NETWORK_TCP) {
		tunnel_emit_error(stdout,
		                  "original mtunnel tokens are supported for tcp only");
		free(ca);
		return TUNNEL_EXIT_USAGE;
	}
	p2p_peerid_to_string(&ca->token.peer, ca->host_id, sizeof ca->host_id);
	rc = tunnel_app_init(&ca->app, loop, o, o->key, &client_role);
	if (rc) {
		free(ca);
		return rc;
	}
	rc = client_setup(ca, o);
	if (rc)
		tunnel_app_stop(&ca->app, rc);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = ca->app.exit_code;
	tunnel_app_free(&ca->app);
	free(ca);
	return rc;
}
