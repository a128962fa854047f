/* The host role (app_host.h). */
#include "tunnel/app_host.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p2p/error.h"
#include "p2p/rcmgr.h"
#include "tunnel/acl.h"
#include "tunnel/app.h"
#include "tunnel/fwd_tcp.h"
#include "tunnel/fwd_udp.h"
#include "tunnel/header.h"
#include "tunnel/host_internal.h"
#include "tunnel/token.h"

#define HOST_DEFAULT_LISTEN "/ip4/0.0.0.0/tcp/0"
/* Also tried without -listen; a system without IPv6 just goes without. */
#define HOST_DEFAULT_LISTEN6 "/ip6/::/tcp/0"
#define HOST_MAX_SESSIONS    P2P_HOST_MAX_CONNS
#define HOST_MAX_UDP_FLOWS   1024 /* flows forwarding, each with a socket */
/* UDP streams still waiting for their header hold no socket, but each is
 * memory a peer gets for free. One peer may have this many at once (more
 * are reset as they open), all peers together HOST_MAX_UDP_PENDING: past
 * that the oldest is dropped for the newcomer, so that peers flooding
 * headerless streams cannot lock out a client whose header is on its
 * way (it comes one round trip after the stream opens). */
#define HOST_MAX_UDP_PENDING_PER_PEER 64
#define HOST_MAX_UDP_PENDING          512
/* The original Go mtunnel's protocol: raw bytes, no header, no secret. */
#define TUNNEL_PROTOCOL_V1 "/mtunnel/1.0.0"

/* --- sessions --- */

static host_session *session_find(host_app *ha, const p2p_peerid *peer)
{
	for (host_session *s = ha->sessions; s; s = s->next)
		if (p2p_peerid_equal(&s->peer, peer))
			return s;
	return NULL;
}

/* The session of the peer behind stream st, created (with a CONNECTED
 * event) if it is new. NULL if out of memory or over the limit. */
static host_session *session_get(host_app *ha, p2p_stream *st)
{
	const p2p_peerid *peer = p2p_stream_remote_peer(st);
	host_session *s = session_find(ha, peer);
	if (s)
		return s;
	if (ha->n_sessions >= HOST_MAX_SESSIONS || !(s = calloc(1, sizeof *s)))
		return NULL;
	s->peer = *peer;
	p2p_peerid_to_string(peer, s->id, sizeof s->id);
	tunnel_app_addr_text(p2p_conn_remote_addr(p2p_stream_conn(st)), s->addr,
	                     sizeof s->addr);
	s->path = tunnel_app_conn_path(p2p_stream_conn(st));
	/* It passed the secret: the connection manager keeps its connection
	 * between tunnels instead of closing it as idle (host.h). */
	p2p_host_protect(ha->app.host, peer, true);
	s->next = ha->sessions;
	ha->sessions = s;
	ha->n_sessions++;
	tunnel_app_say(&ha->app, "client %s connected from %s", s->id, s->addr);
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_connected(&ev, s->id, s->addr, 0, s->path) == 0)
		tunnel_emit(ha->app.events, &ev);
	p2p_buf_free(&ev);
	return s;
}

static void session_remove(host_app *ha, host_session *s, const char *reason)
{
	/* -allow peers stay protected (host_setup). */
	if (ha->acl.n == 0 || !tunnel_acl_allows(&ha->acl, &s->peer))
		p2p_host_protect(ha->app.host, &s->peer, false);
	for (host_session **pp = &ha->sessions; *pp; pp = &(*pp)->next) {
		if (*pp != s)
			continue;
		*pp = s->next;
		break;
	}
	ha->n_sessions--;
	for (tunnel_tcp_fwd *f = ha->fwds; f; f = f->next)
		if (f->session == s)
			f->session = NULL;
	for (tunnel_udp_flow *f = ha->flows; f; f = f->next)
		if (f->session == s)
			f->session = NULL;
	tunnel_app_say(&ha->app, "client %s disconnected", s->id);
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_disconnect(&ev, s->id, reason) == 0)
		tunnel_emit(ha->app.events, &ev);
	p2p_buf_free(&ev);
	free(s);
}

/* PATH when the best connection to a session's peer (p2p_host_conn) now
 * goes another way: a punched direct one beside the relayed one, or back
 * to the relay when the direct one died. */
static void session_check_path(host_app *ha, host_session *s)
{
	tunnel_app_check_path(&ha->app, &s->peer, "session", s->id, &s->path, s->addr,
	                      sizeof s->addr);
}

static void on_conn_opened(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	host_app *ha = user;
	host_session *s = session_find(ha, p2p_conn_remote_peer(c));
	if (s)
		session_check_path(ha, s);
}

static void on_conn_closed(p2p_host *h, p2p_conn *c, void *user)
{
	host_app *ha = user;
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	host_session *s = session_find(ha, peer);
	if (!s)
		return;
	/* Another open connection to the same peer keeps the session. */
	p2p_conn *conns[HOST_MAX_SESSIONS];
	size_t n = p2p_host_conns(h, conns, HOST_MAX_SESSIONS);
	for (size_t i = 0; i < n && i < HOST_MAX_SESSIONS; i++)
		if (conns[i] != c && p2p_conn_is_open(conns[i]) &&
		    p2p_peerid_equal(p2p_conn_remote_peer(conns[i]), peer)) {
			session_check_path(ha, s);
			return;
		}
	session_remove(ha, s, NULL);
}

/* --- TCP tunnels --- */

static void fwd_unlink(host_app *ha, tunnel_tcp_fwd *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else if (ha->fwds == f)
		ha->fwds = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

static void host_fwd_done(tunnel_tcp_fwd *f)
{
	host_app *ha = f->owner;
	host_session *s = f->session;
	if (s) {
		s->streams--;
		s->bytes_in += f->bytes_to_sock;
		s->bytes_out += f->bytes_to_stream;
	}
	fwd_unlink(ha, f);
}

static int answer(p2p_stream *s, tunnel_status status, const char *reason)
{
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = tunnel_response_encode(status, reason, &out);
	if (rc == 0)
		rc = p2p_stream_write(s, out.data, out.len);
	p2p_buf_free(&out);
	return rc;
}

static void log_refusal(host_app *ha, p2p_stream *s, tunnel_status status,
                        const char *reason)
{
	if ((size_t)status < sizeof ha->refused / sizeof ha->refused[0])
		ha->refused[status]++;
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(p2p_stream_remote_peer(s), id, sizeof id);
	tunnel_app_say_limited(&ha->app, &ha->app.refusals,
	                       "refused a tunnel from %s: %s", id,
	                       reason ? reason : tunnel_status_text(status));
}

/* A refused tunnel stream, TCP or UDP, with a forwarder or none: counted,
 * logged and answered. It must leave nothing behind: the answer, then a
 * reset, which the muxer sends after it (the peer reads the answer, then
 * sees the reset), so that no half-closed stream waits for a peer that
 * may never close its side. Returns true when the stream may be reset at
 * once: the muxer took the whole answer. False while some of it waits
 * behind the peer's window or a backed-up connection, where a reset
 * would lose it: the forwarder then half-closes (the FIN follows the
 * answer) and resets once the answer is out, or from its sweep if that
 * never comes (tunnel_tcp_fwd_end_after_answer,
 * tunnel_udp_flow_end_after_answer). */
static bool refuse_stream(host_app *ha, p2p_stream *s, tunnel_status status,
                          const char *reason)
{
	log_refusal(ha, s, status, reason);
	if (answer(s, status, reason) < 0)
		return true; /* nothing queued: nothing to wait for */
	return p2p_stream_pending(s) == 0;
}

/* A refusal before anything was made for the stream. With no forwarder to
 * wait for the answer to leave, a stream whose answer is still queued is
 * reset all the same: that needs a connection backed up by its peer, and
 * a peer in that state is owed no answer. */
static void refuse_at_once(host_app *ha, p2p_stream *s, tunnel_status status,
                           const char *reason)
{
	refuse_stream(ha, s, status, reason);
	p2p_stream_reset(s);
}

static void refuse(tunnel_tcp_fwd *f, tunnel_status status, const char *reason)
{
	if (refuse_stream(f->owner, f->stream, status, reason))
		tunnel_tcp_fwd_abort(f);
	else
		tunnel_tcp_fwd_end_after_answer(f);
}

/* The header check shared by TCP and UDP: 0 while the request is
 * incomplete, then OK or why not. */
static tunnel_status check_request(host_app *ha, tunnel_header_reader *r,
                                   const uint8_t *data, size_t len, size_t *used,
                                   const char **why)
{
	tunnel_request req;
	int rc = tunnel_request_read(r, data, len, used, &req, why);
	if (rc == P2P_EAGAIN)
		return 0;
	if (rc < 0)
		return TUNNEL_STATUS_BAD_REQUEST;
	*why = NULL;
	/* -allow was checked when the stream opened (on_tunnel_stream). */
	return tunnel_request_check(&req, ha->token.secret, ha->token.network);
}

static void host_on_header(tunnel_tcp_fwd *f, const uint8_t *data, size_t len,
                           size_t *used);

/* /mtunnel/1.0.0 streams have no header to answer. */
static bool is_compat(const tunnel_tcp_fwd *f)
{
	return f->hooks->on_header != host_on_header;
}

static void on_service_connected(uv_connect_t *req, int status)
{
	tunnel_tcp_fwd *f = req->data;
	host_app *ha = f->owner;
	if (f->sock_closing || !f->stream)
		return; /* aborted meanwhile */
	if (status < 0) {
		tunnel_emit_error(ha->app.events,
		                  "cannot connect to the service at %s: %s",
		                  ha->target_text, uv_strerror(status));
		if (is_compat(f))
			tunnel_tcp_fwd_abort(f);
		else
			refuse(f, TUNNEL_STATUS_SERVICE_UNAVAILABLE,
			       "the service refused the connection");
		return;
	}
	host_session *s = session_get(ha, f->stream);
	if (s) {
		f->session = s;
		s->streams++;
	}
	if ((!is_compat(f) && answer(f->stream, TUNNEL_STATUS_OK, NULL) < 0) ||
	    tunnel_tcp_fwd_start(f) < 0)
		tunnel_tcp_fwd_abort(f);
}

/* Connects f's socket to the service; on_service_connected goes on. */
static void connect_service(host_app *ha, tunnel_tcp_fwd *f)
{
	f->connect_req.data = f;
	int rc =
	    uv_tcp_connect(&f->connect_req, &f->sock,
	                   (const struct sockaddr *)&ha->target, on_service_connected);
	if (rc < 0)
		on_service_connected(&f->connect_req, rc);
}

static void host_on_header(tunnel_tcp_fwd *f, const uint8_t *data, size_t len,
                           size_t *used)
{
	host_app *ha = f->owner;
	if (f->header.done) {
		*used = 0; /* the client may not send before our answer */
		return;
	}
	const char *why = NULL;
	tunnel_status st = check_request(ha, &f->header, data, len, used, &why);
	if (st == 0)
		return;
	if (st != TUNNEL_STATUS_OK) {
		refuse(f, st, why);
		return;
	}
	connect_service(ha, f);
}

static const tunnel_tcp_fwd_hooks host_tcp_hooks = {
    .on_header = host_on_header,
    .on_done = host_fwd_done,
};

static const tunnel_tcp_fwd_hooks host_compat_hooks = {
    .on_header = NULL, /* early bytes are held until the service answers */
    .on_done = host_fwd_done,
};

static void link_fwd(host_app *ha, tunnel_tcp_fwd *f)
{
	f->next = ha->fwds;
	if (ha->fwds)
		ha->fwds->prev = f;
	ha->fwds = f;
}

/* -compat: an original mtunnel client. No secret to check; -allow still
 * applies. */
static void on_compat_stream(p2p_stream *s, const char *protocol, void *user)
{
	host_app *ha = user;
	tunnel_tcp_fwd *f;
	if (p2p_conn_is_limited(p2p_stream_conn(s))) {
		log_refusal(ha, s, TUNNEL_STATUS_SERVICE_UNAVAILABLE,
		            "over a limited relay circuit");
		p2p_stream_reset(s);
		return;
	}
	if (!tunnel_acl_allows(&ha->acl, p2p_stream_remote_peer(s))) {
		log_refusal(ha, s, TUNNEL_STATUS_NOT_ALLOWED, NULL);
		p2p_stream_reset(s);
		return;
	}
	if (ha->app.stopping ||
	    tunnel_tcp_fwd_new(&f, ha->app.loop, &host_compat_hooks, ha) < 0) {
		p2p_stream_reset(s);
		return;
	}
	link_fwd(ha, f);
	tunnel_tcp_fwd_set_stream(f, s);
	connect_service(ha, f);
}

/* --- UDP flows --- */

/* A flow is header-pending from its stream's opening to the host's
 * answer; established (a socket, forwarding) from an OK to its close;
 * in neither while it ends. Each kind has its own limits, so streams
 * that never earn a socket cannot take the slots of those that do. */
static bool flow_pending(const tunnel_udp_flow *f)
{
	return f->stream && !f->forwarding && !f->closing;
}

static bool flow_established(const tunnel_udp_flow *f)
{
	return f->forwarding && !f->closing;
}

typedef struct flow_census {
	size_t established;
	size_t pending;
	size_t pending_peer; /* of those, from the peer asked about */
	tunnel_udp_flow *oldest_pending;
} flow_census;

/* Counts the flows by kind, and the header-pending ones of peer (NULL:
 * none). A walk, not counters: a flow changes kind inside fwd_udp.c, and
 * the list is bounded by the limits it checks (a few thousand at most). */
static void flow_count(const host_app *ha, const p2p_peerid *peer, flow_census *c)
{
	memset(c, 0, sizeof *c);
	for (tunnel_udp_flow *f = ha->flows; f; f = f->next) {
		if (flow_established(f)) {
			c->established++;
			continue;
		}
		if (!flow_pending(f))
			continue;
		c->pending++;
		/* <=: the list is newest first, so of two made in the same
		 * millisecond the later one found is the older. */
		if (!c->oldest_pending || f->started <= c->oldest_pending->started)
			c->oldest_pending = f;
		if (peer && p2p_peerid_equal(p2p_stream_remote_peer(f->stream), peer))
			c->pending_peer++;
	}
}

static void host_flow_done(tunnel_udp_flow *f)
{
	host_app *ha = f->owner;
	host_session *s = f->session;
	if (s) {
		s->streams--;
		s->bytes_in += f->bytes_to_sock;
		s->bytes_out += f->bytes_to_stream;
	}
	if (f->prev)
		f->prev->next = f->next;
	else if (ha->flows == f)
		ha->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	ha->n_flows--;
}

/* A refused flow is gone at once, as a refused TCP tunnel (refuse): it
 * holds no slot and no socket while waiting for a peer that may never
 * close. */
static void refuse_flow(host_app *ha, tunnel_udp_flow *f, tunnel_status st,
                        const char *why)
{
	if (refuse_stream(ha, f->stream, st, why))
		tunnel_udp_flow_abort(f);
	else
		tunnel_udp_flow_end_after_answer(f);
}

static void host_flow_header(tunnel_udp_flow *f, const uint8_t *data, size_t len,
                             size_t *used)
{
	host_app *ha = f->owner;
	if (f->header.done)
		return;
	const char *why = NULL;
	tunnel_status st = check_request(ha, &f->header, data, len, used, &why);
	if (st == 0)
		return;
	/* Only a request that passed gets a socket. */
	if (st == TUNNEL_STATUS_OK) {
		flow_census c;
		flow_count(ha, NULL, &c);
		if (c.established >= HOST_MAX_UDP_FLOWS) {
			st = TUNNEL_STATUS_SERVICE_UNAVAILABLE;
			why = "the host has too many UDP flows";
		} else if (tunnel_udp_flow_connect(
		               f, (const struct sockaddr *)&ha->target) < 0) {
			st = TUNNEL_STATUS_SERVICE_UNAVAILABLE;
			why = "the host cannot open a socket to the service";
		}
	}
	if (st != TUNNEL_STATUS_OK) {
		refuse_flow(ha, f, st, why);
		return;
	}
	host_session *s = session_get(ha, f->stream);
	if (s) {
		f->session = s;
		s->streams++;
	}
	if (answer(f->stream, TUNNEL_STATUS_OK, NULL) < 0 || tunnel_udp_flow_start(f) < 0)
		tunnel_udp_flow_abort(f);
}

static const tunnel_udp_flow_hooks host_udp_hooks = {
    .on_header = host_flow_header,
    .on_done = host_flow_done,
};

static void on_udp_stream(host_app *ha, p2p_stream *s)
{
	flow_census c;
	flow_count(ha, p2p_stream_remote_peer(s), &c);
	if (c.pending_peer >= HOST_MAX_UDP_PENDING_PER_PEER) {
		p2p_stream_reset(s); /* that peer's own streams are in the way */
		return;
	}
	if (c.pending >= HOST_MAX_UDP_PENDING && c.oldest_pending)
		tunnel_udp_flow_abort(c.oldest_pending);
	tunnel_udp_flow *f;
	if (tunnel_udp_flow_new_host(&f, ha->app.loop, &host_udp_hooks, ha) < 0) {
		p2p_stream_reset(s);
		return;
	}
	f->next = ha->flows;
	if (ha->flows)
		ha->flows->prev = f;
	ha->flows = f;
	ha->n_flows++;
	tunnel_udp_flow_set_stream(f, s);
}

static void on_sweep(uv_timer_t *t)
{
	host_app *ha = t->data;
	uint64_t now = uv_now(t->loop);
	size_t n =
	    tunnel_tcp_fwd_sweep(ha->fwds, now) + tunnel_udp_flow_sweep(ha->flows, now);
	if (n)
		tunnel_app_say(&ha->app, "dropped %zu tunnel(s) stuck before forwarding",
		               n);
	for (tunnel_udp_flow *f = ha->flows; f; f = f->next)
		if (flow_established(f) &&
		    tunnel_udp_flow_idle_ms(f) >= ha->app.opts->udp_timeout_ms)
			tunnel_udp_flow_close(f);
}

/* A relay that limits its circuits (duration, data) would cut a tunnel
 * off mid-transfer: no tunnel runs over such a connection. The client
 * says why to its user (app_client.c); here the stream is refused. */
static bool refuse_limited(host_app *ha, p2p_stream *s)
{
	if (!p2p_conn_is_limited(p2p_stream_conn(s)))
		return false;
	refuse_at_once(ha, s, TUNNEL_STATUS_SERVICE_UNAVAILABLE,
	               "the relay limits this circuit; tunnels need an unlimited relay");
	return true;
}

static void on_tunnel_stream(p2p_stream *s, const char *protocol, void *user)
{
	host_app *ha = user;
	if (refuse_limited(ha, s))
		return;
	/* -allow comes first, before the header is read and before anything
	 * is made for the stream: a peer not on the list gets no forwarder
	 * and no socket, and the same answer whatever it would send, so it
	 * cannot tell a right secret from a wrong one. */
	if (!tunnel_acl_allows(&ha->acl, p2p_stream_remote_peer(s))) {
		refuse_at_once(ha, s, TUNNEL_STATUS_NOT_ALLOWED, NULL);
		return;
	}
	if (ha->token.network == TUNNEL_NETWORK_UDP && !ha->app.stopping) {
		on_udp_stream(ha, s);
		return;
	}
	tunnel_tcp_fwd *f;
	if (ha->app.stopping ||
	    tunnel_tcp_fwd_new(&f, ha->app.loop, &host_tcp_hooks, ha) < 0) {
		p2p_stream_reset(s);
		return;
	}
	link_fwd(ha, f);
	tunnel_tcp_fwd_set_stream(f, s);
}

/* --- control --- */

/* Names of the tunnel's own refusals in LIST, by tunnel_status. */
static const char *const refusal_names[] = {
    [TUNNEL_STATUS_BAD_REQUEST] = "bad-request",
    [TUNNEL_STATUS_BAD_SECRET] = "bad-secret",
    [TUNNEL_STATUS_WRONG_NETWORK] = "wrong-network",
    [TUNNEL_STATUS_NOT_ALLOWED] = "not-allowed",
    [TUNNEL_STATUS_SERVICE_UNAVAILABLE] = "service-unavailable",
};
#define HOST_LIST_COUNTERS (TUNNEL_STATUS_SERVICE_UNAVAILABLE + P2P_RCMGR_N_REASONS)

/* LIST's "refused": the tunnel's refusals, then the resource manager's
 * (connections, handshakes and streams turned away or closed), all of
 * them, zeros too, so that a consumer finds every key. */
static size_t host_refusal_counters(host_app *ha, tunnel_counter *out, size_t max)
{
	size_t n = 0;
	for (size_t st = TUNNEL_STATUS_BAD_REQUEST;
	     st <= TUNNEL_STATUS_SERVICE_UNAVAILABLE && n < max; st++)
		out[n++] = (tunnel_counter){refusal_names[st], ha->refused[st]};
	p2p_rcmgr_stats rs;
	p2p_host_rcmgr_stats(ha->app.host, &rs);
	for (int r = 0; r < P2P_RCMGR_N_REASONS && n < max; r++)
		if (r != P2P_RCMGR_OK)
			out[n++] = (tunnel_counter){
			    p2p_rcmgr_reason_name((p2p_rcmgr_reason)r), rs.count[r]};
	return n;
}

static void host_on_cmd(tunnel_app *app, const tunnel_cmd *cmd)
{
	host_app *ha = (host_app *)app;
	if (cmd->action == TUNNEL_CMD_LIST) {
		tunnel_session_info *info = calloc(ha->n_sessions + 1, sizeof *info);
		if (!info)
			return;
		size_t n = 0;
		for (host_session *s = ha->sessions; s; s = s->next, n++) {
			info[n].session_id = s->id;
			info[n].addr = s->addr;
			info[n].path = s->path;
			info[n].streams = s->streams;
			info[n].bytes_in = s->bytes_in;
			info[n].bytes_out = s->bytes_out;
			for (tunnel_tcp_fwd *f = ha->fwds; f; f = f->next)
				if (f->session == s) {
					info[n].bytes_in += f->bytes_to_sock;
					info[n].bytes_out += f->bytes_to_stream;
				}
			for (tunnel_udp_flow *f = ha->flows; f; f = f->next)
				if (f->session == s) {
					info[n].bytes_in += f->bytes_to_sock;
					info[n].bytes_out += f->bytes_to_stream;
				}
		}
		p2p_buf ev;
		p2p_buf_init(&ev);
		tunnel_counter refused[HOST_LIST_COUNTERS];
		size_t n_refused = host_refusal_counters(ha, refused, HOST_LIST_COUNTERS);
		if (tunnel_event_list(&ev, info, n, cmd->detail, refused, n_refused) == 0)
			tunnel_emit(app->events, &ev);
		p2p_buf_free(&ev);
		free(info);
	} else if (cmd->action == TUNNEL_CMD_DISCONNECT) {
		p2p_peerid peer;
		host_session *s = NULL;
		if (p2p_peerid_from_string(&peer, cmd->session_id) == 0)
			s = session_find(ha, &peer);
		if (!s) {
			tunnel_emit_error(app->events, "no session %s", cmd->session_id);
			return;
		}
		p2p_host_disconnect(app->host, &peer);
	}
}

static void on_reachability(tunnel_app *app)
{
	host_portmap_on_reachability((host_app *)app);
}

static void host_on_stop(tunnel_app *app)
{
	host_app *ha = (host_app *)app;
	p2p_host_remove_handler(app->host, TUNNEL_PROTOCOL);
	if (app->opts->compat)
		p2p_host_remove_handler(app->host, TUNNEL_PROTOCOL_V1);
	p2p_host_unobserve(app->host, ha);
	host_relays_stop(ha);
	host_portmap_stop(ha);
	/* Closing the host ends every session: say so while we can. */
	while (ha->sessions)
		session_remove(ha, ha->sessions, "the host is shutting down");
	/* Local sockets still connecting are not streams the host will end. */
	for (tunnel_tcp_fwd *f = ha->fwds; f; f = f->next)
		tunnel_tcp_fwd_abort(f);
	for (tunnel_udp_flow *f = ha->flows; f; f = f->next)
		tunnel_udp_flow_abort(f);
	if (ha->timer_on) {
		ha->timer_on = false;
		uv_close((uv_handle_t *)&ha->sweep_timer, NULL);
	}
}

static const tunnel_app_role host_role = {
    .on_cmd = host_on_cmd,
    .on_stop = host_on_stop,
};

/* --- set-up --- */

static int resolve_target(host_app *ha, const tunnel_opts *o)
{
	char host[200] = "127.0.0.1";
	int port = o->port;
	if (o->target &&
	    tunnel_cli_split_hostport(o->target, host, sizeof host, &port) < 0)
		return P2P_EINVAL;
	/* localhost is loopback without asking /etc/hosts or NSS, which a
	 * static binary in a bare chroot does not have. */
	if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	if (o->network == TUNNEL_NETWORK_UDP)
		hints.ai_socktype = SOCK_DGRAM;
	uv_getaddrinfo_t req;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%d", port);
	if (uv_getaddrinfo(ha->app.loop, &req, NULL, host, portstr, &hints) < 0)
		return P2P_ENOTFOUND;
	memcpy(&ha->target, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
	uv_freeaddrinfo(req.addrinfo);
	snprintf(ha->target_text, sizeof ha->target_text, "%s%s%s:%d",
	         strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	return P2P_OK;
}

static int host_setup(host_app *ha, const tunnel_opts *o, const char *key_path)
{
	tunnel_acl_init(&ha->acl);
	for (size_t i = 0; i < o->n_allow; i++) {
		const char *why = NULL;
		if (tunnel_acl_add_string(&ha->acl, o->allow[i], &why) < 0) {
			tunnel_emit_error(ha->app.events, "-allow %s: %s", o->allow[i],
			                  why ? why : "not a peer ID");
			return TUNNEL_EXIT_USAGE;
		}
	}
	/* Allow-listed clients are kept over strangers by the connection
	 * manager, and exempt from the per-IP limits (host.h). */
	for (size_t i = 0; i < ha->acl.n; i++)
		if (p2p_host_protect(ha->app.host, &ha->acl.peers[i], true) < 0)
			return TUNNEL_EXIT_FAILURE;
	if (resolve_target(ha, o) < 0) {
		tunnel_emit_error(ha->app.events, "cannot resolve the service address %s",
		                  o->target ? o->target : "127.0.0.1");
		return TUNNEL_EXIT_USAGE;
	}
	if (tunnel_token_init(&ha->token, o->network, p2p_host_peer_id(ha->app.host)) <
	    0) {
		tunnel_emit_error(ha->app.events, "cannot make the token");
		return TUNNEL_EXIT_FAILURE;
	}
	char why[P2P_KEYFILE_WHY_MAX];
	if (host_secret_load_or_create(key_path, ha->token.secret, why, sizeof why) < 0) {
		tunnel_emit_error(ha->app.events,
		                  "cannot load or create the token secret next to %s: %s",
		                  key_path, why);
		return TUNNEL_EXIT_FAILURE;
	}
	static const p2p_host_observer obs = {
	    .on_connected = on_conn_opened,
	    .on_disconnected = on_conn_closed,
	};
	if (p2p_host_observe(ha->app.host, &obs, ha) < 0 ||
	    p2p_host_set_handler(ha->app.host, TUNNEL_PROTOCOL, on_tunnel_stream, ha) <
	        0) {
		tunnel_emit_error(ha->app.events, "cannot register the tunnel protocol");
		return TUNNEL_EXIT_FAILURE;
	}
	if (o->compat) {
		if (o->network != TUNNEL_NETWORK_TCP) {
			tunnel_emit_error(ha->app.events, "-compat serves TCP only");
			return TUNNEL_EXIT_USAGE;
		}
		if (p2p_host_set_handler(ha->app.host, TUNNEL_PROTOCOL_V1,
		                         on_compat_stream, ha) < 0) {
			tunnel_emit_error(ha->app.events, "cannot register %s",
			                  TUNNEL_PROTOCOL_V1);
			return TUNNEL_EXIT_FAILURE;
		}
		tunnel_app_say(
		    &ha->app,
		    "-compat: original mtunnel clients get in without a secret");
	}
	uint64_t every = o->udp_timeout_ms / 4;
	every = every < 100 ? 100 : every > 1000 ? 1000 : every;
	uv_timer_init(ha->app.loop, &ha->sweep_timer);
	ha->sweep_timer.data = ha;
	uv_timer_start(&ha->sweep_timer, on_sweep, every, every);
	ha->timer_on = true;
	int rc = tunnel_app_listen(&ha->app, HOST_DEFAULT_LISTEN);
	if (rc)
		return rc;
	if (o->n_listen == 0 && p2p_host_listen(ha->app.host, HOST_DEFAULT_LISTEN6) < 0)
		tunnel_app_say(&ha->app, "no IPv6: listening on IPv4 only");
	ha->app.on_reachability = on_reachability;
	host_portmap_start(ha, o);
	/* With -relay or not: without, it prints the TOKEN at once and
	 * reserves on the relays it meets (autorelay). */
	return host_relays_start(ha, o);
}

int tunnel_host_main(uv_loop_t *loop, const tunnel_opts *o)
{
	char key_path[TUNNEL_PATH_MAX];
	if (o->key) {
		snprintf(key_path, sizeof key_path, "%s", o->key);
	} else if (tunnel_app_default_key_path("host.key", key_path, sizeof key_path) <
	           0) {
		tunnel_emit_error(
		    stdout,
		    "no HOME or XDG_CONFIG_HOME for the key file: give -key FILE");
		return TUNNEL_EXIT_USAGE;
	}

	host_app *ha = calloc(1, sizeof *ha);
	if (!ha)
		return TUNNEL_EXIT_FAILURE;
	int rc = tunnel_app_init(&ha->app, loop, o, key_path, &host_role);
	if (rc) {
		free(ha);
		return rc;
	}
	rc = host_setup(ha, o, key_path);
	if (rc)
		tunnel_app_stop(&ha->app, rc);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = ha->app.exit_code;
	while (ha->sessions) {
		host_session *s = ha->sessions;
		ha->sessions = s->next;
		free(s);
	}
	tunnel_app_free(&ha->app);
	free(ha);
	return rc;
}
