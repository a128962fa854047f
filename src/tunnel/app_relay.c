/* The relay role (app_relay.h). The library's hop service does the work;
 * this file maps the command line to its configuration and its events to
 * JSON lines. */
#include "tunnel/app_relay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"
#include "tunnel/acl.h"
#include "tunnel/addrs.h"
#include "tunnel/app.h"

/* Port 4001, as go-libp2p and kubo listen on: a relay is dialed by an
 * address given out once, so its port should not change. */
#define RELAY_DEFAULT_LISTEN "/ip4/0.0.0.0/tcp/4001"
/* Also tried without -listen; a system without IPv6 just goes without. */
#define RELAY_DEFAULT_LISTEN6 "/ip6/::/tcp/4001"
#define RELAY_ADDR_TEXT_MAX   256

typedef struct relay_app {
	tunnel_app app; /* first: the role hooks get &app */
	p2p_relay_service *svc;
	tunnel_acl allow; /* -allow: who may reserve */
} relay_app;

/* A peer ID and an address in text, for one event or LIST entry. */
typedef struct peer_text {
	char id[P2P_PEERID_STR_MAX];
	char dst[P2P_PEERID_STR_MAX];
	char addr[RELAY_ADDR_TEXT_MAX];
} peer_text;

static const char *status_name(int status)
{
	switch (status) {
	case P2P_RELAY_STATUS_OK:
		return "OK";
	case P2P_RELAY_STATUS_RESERVATION_REFUSED:
		return "RESERVATION_REFUSED";
	case P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED:
		return "RESOURCE_LIMIT_EXCEEDED";
	case P2P_RELAY_STATUS_PERMISSION_DENIED:
		return "PERMISSION_DENIED";
	case P2P_RELAY_STATUS_CONNECTION_FAILED:
		return "CONNECTION_FAILED";
	case P2P_RELAY_STATUS_NO_RESERVATION:
		return "NO_RESERVATION";
	case P2P_RELAY_STATUS_MALFORMED_MESSAGE:
		return "MALFORMED_MESSAGE";
	case P2P_RELAY_STATUS_UNEXPECTED_MESSAGE:
		return "UNEXPECTED_MESSAGE";
	default:
		return "no answer";
	}
}

static const char *request_name(int request)
{
	return request == P2P_RELAY_HOP_RESERVE   ? "RESERVE"
	       : request == P2P_RELAY_HOP_CONNECT ? "CONNECT"
	                                          : NULL;
}

static const char *circuit_end_text(int why)
{
	switch (why) {
	case P2P_RELAY_CIRCUIT_CLOSED:
		return "closed";
	case P2P_RELAY_CIRCUIT_DATA_LIMIT:
		return "data limit";
	case P2P_RELAY_CIRCUIT_DURATION_LIMIT:
		return "duration limit";
	default:
		return "reset";
	}
}

static void emit_line(relay_app *ra, int rc, p2p_buf *ev)
{
	if (rc == P2P_OK)
		tunnel_emit(ra->app.events, ev);
	p2p_buf_free(ev);
}

/* --- the service's events --- */

static void on_reserved(relay_app *ra, const p2p_relay_service_event *e,
                        const peer_text *t)
{
	tunnel_app_say(&ra->app, "%s reservation for %s from %s",
	               e->refresh ? "refreshed" : "new", t->id, t->addr);
	p2p_buf ev;
	p2p_buf_init(&ev);
	emit_line(ra,
	          tunnel_event_reserved(&ev, t->id, e->addr ? t->addr : NULL, e->expire,
	                                e->refresh),
	          &ev);
}

static void on_unreserved(relay_app *ra, const p2p_relay_service_event *e,
                          const peer_text *t)
{
	/* Closing the host ends every connection, hence every reservation. */
	const char *why = ra->app.stopping ? "the relay is shutting down"
	                  : e->why == P2P_RELAY_UNRESERVED_EXPIRED ? "expired"
	                                                           : "disconnected";
	tunnel_app_say(&ra->app, "reservation for %s ended: %s", t->id, why);
	p2p_buf ev;
	p2p_buf_init(&ev);
	emit_line(ra, tunnel_event_unreserved(&ev, t->id, why), &ev);
}

static void on_circuit(relay_app *ra, const p2p_relay_service_event *e,
                       const peer_text *t)
{
	bool open = e->kind == P2P_RELAY_EV_CIRCUIT_OPEN;
	const char *why = open ? NULL : circuit_end_text(e->why);
	tunnel_relay_circuit_info c = {.src = t->id,
	                               .dst = t->dst,
	                               .bytes_to_dst = e->bytes_to_dst,
	                               .bytes_to_src = e->bytes_to_src};
	/* A busy public relay opens many circuits: one line each only with -v. */
	if (ra->app.opts->verbosity > 0) {
		if (open)
			tunnel_app_say(&ra->app, "circuit %s -> %s open", t->id, t->dst);
		else
			tunnel_app_say(
			    &ra->app,
			    "circuit %s -> %s %s after %" PRIu64 " + %" PRIu64 " bytes",
			    t->id, t->dst, why, e->bytes_to_dst, e->bytes_to_src);
	}
	p2p_buf ev;
	p2p_buf_init(&ev);
	emit_line(ra, tunnel_event_circuit(&ev, &c, why), &ev);
}

static void on_refused(relay_app *ra, const p2p_relay_service_event *e,
                       const peer_text *t)
{
	const char *req = request_name(e->request);
	char sentence[512];
	snprintf(sentence, sizeof sentence, "refused %s from %s%s%s: %s (%s)",
	         req ? req : "a hop request", t->id, e->dst ? " to " : "",
	         e->dst ? t->dst : "", e->reason ? e->reason : "refused",
	         status_name(e->status));
	tunnel_app_say(&ra->app, "%s", sentence);
	p2p_buf ev;
	p2p_buf_init(&ev);
	emit_line(ra,
	          tunnel_event_refused(&ev, sentence, t->id, req, (unsigned)e->status,
	                               e->dst ? t->dst : NULL),
	          &ev);
}

static void on_event(const p2p_relay_service_event *e, void *user)
{
	relay_app *ra = user;
	peer_text t;
	memset(&t, 0, sizeof t);
	p2p_peerid_to_string(e->peer, t.id, sizeof t.id);
	if (e->dst)
		p2p_peerid_to_string(e->dst, t.dst, sizeof t.dst);
	if (e->addr)
		tunnel_app_addr_text(e->addr, t.addr, sizeof t.addr);
	else
		snprintf(t.addr, sizeof t.addr, "?");
	switch (e->kind) {
	case P2P_RELAY_EV_RESERVED:
		on_reserved(ra, e, &t);
		break;
	case P2P_RELAY_EV_UNRESERVED:
		on_unreserved(ra, e, &t);
		break;
	case P2P_RELAY_EV_CIRCUIT_OPEN:
	case P2P_RELAY_EV_CIRCUIT_CLOSED:
		on_circuit(ra, e, &t);
		break;
	case P2P_RELAY_EV_REFUSED:
		on_refused(ra, e, &t);
		break;
	}
}

/* --- control --- */

static void relay_list(relay_app *ra)
{
	size_t nr = p2p_relay_service_list_reservations(ra->svc, NULL, 0);
	size_t nc = p2p_relay_service_list_circuits(ra->svc, NULL, 0);
	/* One spare slot each: calloc(0) may be NULL. */
	p2p_relay_rsvp_slot *slots = calloc(nr + 1, sizeof *slots);
	p2p_relay_service_circuit *circs = calloc(nc + 1, sizeof *circs);
	peer_text *rt = calloc(nr + 1, sizeof *rt);
	peer_text *ct = calloc(nc + 1, sizeof *ct);
	tunnel_relay_rsvp_info *ri = calloc(nr + 1, sizeof *ri);
	tunnel_relay_circuit_info *ci = calloc(nc + 1, sizeof *ci);
	if (!slots || !circs || !rt || !ct || !ri || !ci) {
		tunnel_emit_error(ra->app.events, "out of memory");
		goto done;
	}
	nr = p2p_relay_service_list_reservations(ra->svc, slots, nr);
	nc = p2p_relay_service_list_circuits(ra->svc, circs, nc);
	for (size_t i = 0; i < nr; i++) {
		p2p_peerid_to_string(&slots[i].peer, rt[i].id, sizeof rt[i].id);
		/* The address of the connection it holds the reservation by. */
		p2p_conn *c = p2p_host_conn(ra->app.host, &slots[i].peer);
		if (c)
			tunnel_app_addr_text(p2p_conn_remote_addr(c), rt[i].addr,
			                     sizeof rt[i].addr);
		ri[i] = (tunnel_relay_rsvp_info){.peer_id = rt[i].id,
		                                 .addr = c ? rt[i].addr : NULL,
		                                 .expire = slots[i].expire};
	}
	const p2p_relay_service_stats *st = p2p_relay_service_stats_get(ra->svc);
	tunnel_relay_stats_info stats = {.reservations = st->reservations,
	                                 .circuits = st->circuits,
	                                 .refused = st->refused,
	                                 .bytes = st->bytes};
	for (size_t i = 0; i < nc; i++) {
		p2p_peerid_to_string(&circs[i].src, ct[i].id, sizeof ct[i].id);
		p2p_peerid_to_string(&circs[i].dst, ct[i].dst, sizeof ct[i].dst);
		ci[i] =
		    (tunnel_relay_circuit_info){.src = ct[i].id,
		                                .dst = ct[i].dst,
		                                .bytes_to_dst = circs[i].bytes_to_dst,
		                                .bytes_to_src = circs[i].bytes_to_src};
		/* The service counts a circuit's bytes when it ends; LIST
		 * counts the open ones' so far too. */
		stats.bytes += circs[i].bytes_to_dst + circs[i].bytes_to_src;
	}
	p2p_buf ev;
	p2p_buf_init(&ev);
	emit_line(ra, tunnel_event_relay_list(&ev, ri, nr, ci, nc, &stats), &ev);
done:
	free(slots);
	free(circs);
	free(rt);
	free(ct);
	free(ri);
	free(ci);
}

static void relay_on_cmd(tunnel_app *app, const tunnel_cmd *cmd)
{
	relay_app *ra = (relay_app *)app;
	if (cmd->action == TUNNEL_CMD_LIST) {
		relay_list(ra);
	} else if (cmd->action == TUNNEL_CMD_DISCONNECT) {
		/* Ends the peer's reservation and circuits with its
		 * connections; it may come back. */
		p2p_peerid peer;
		if (p2p_peerid_from_string(&peer, cmd->session_id) < 0 ||
		    p2p_host_conn(app->host, &peer) == NULL) {
			tunnel_emit_error(app->events, "no connection to %s",
			                  cmd->session_id);
			return;
		}
		tunnel_app_say(app, "disconnecting %s", cmd->session_id);
		p2p_host_disconnect(app->host, &peer);
	}
}

static const tunnel_app_role relay_role = {
    .on_cmd = relay_on_cmd,
    .on_stop = NULL, /* no handles of its own; the service goes after the host */
};

/* --- set-up --- */

/* {"action":"RELAY",...}: our peer ID and every dialable address with
 * /p2p/<us>, for hosts to give to -relay. */
static int print_relay(relay_app *ra)
{
	p2p_buf bin[TUNNEL_ADDRS_MAX], text[TUNNEL_ADDRS_MAX];
	const char *addrs[TUNNEL_ADDRS_MAX];
	size_t n =
	    tunnel_addrs_dialable(ra->app.host, TUNNEL_ADDRS_ALL, bin, TUNNEL_ADDRS_MAX);
	if (n == 0) {
		tunnel_emit_error(ra->app.events, "no dialable address to announce");
		return TUNNEL_EXIT_FAILURE;
	}
	/* identify and our reservation answers give these, not 0.0.0.0. */
	p2p_host_set_announce_addrs(
	    ra->app.host, bin, n < P2P_HOST_MAX_ANNOUNCE ? n : P2P_HOST_MAX_ANNOUNCE);
	const p2p_peerid *me = p2p_host_peer_id(ra->app.host);
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(me, id, sizeof id);
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&text[i]);
		if (p2p_multiaddr_append_peer_id(&bin[i], me->bytes, me->len) < 0 ||
		    p2p_multiaddr_to_string(bin[i].data, bin[i].len, &text[i]) < 0) {
			p2p_buf_free(&text[i]);
			p2p_buf_append(&text[i], "?", 2);
		}
		addrs[i] = (const char *)text[i].data;
	}
	p2p_buf ev;
	p2p_buf_init(&ev);
	int rc = tunnel_event_relay(&ev, id, addrs, n);
	if (rc == P2P_OK) {
		tunnel_app_say(&ra->app, "relay %s", id);
		for (size_t i = 0; i < n; i++)
			tunnel_app_say(&ra->app, "listening on %s", addrs[i]);
	}
	emit_line(ra, rc, &ev);
	tunnel_addrs_free(bin, n);
	tunnel_addrs_free(text, n);
	return rc == P2P_OK ? 0 : TUNNEL_EXIT_FAILURE;
}

static void say_limits(relay_app *ra, const p2p_relay_service_config *c)
{
	const p2p_relay_limits_config *l = &c->limits;
	tunnel_app_say(&ra->app,
	               "limits: %zu reservations (%zu per IP) of %" PRIu64
	               " s, %zu circuits (%zu per peer)",
	               l->max_reservations, l->max_reservations_per_ip,
	               l->reservation_ttl, l->max_circuits, l->max_circuits_per_peer);
	char dur[32] = "", data[48] = "";
	if (c->limit_duration)
		snprintf(dur, sizeof dur, "%" PRIu32 " s", c->limit_duration);
	if (c->limit_data)
		snprintf(data, sizeof data, "%" PRIu64 " bytes each way", c->limit_data);
	/* Peers take a limited circuit for a relayed connection to upgrade
	 * from (DCUtR), not to carry a tunnel. */
	if (dur[0] || data[0])
		tunnel_app_say(&ra->app,
		               "each circuit ends after %s%s%s: too little for a tunnel",
		               dur, dur[0] && data[0] ? " or " : "", data);
	if (c->n_allow)
		tunnel_app_say(&ra->app,
		               "only %zu peer(s) on the -allow list may reserve",
		               c->n_allow);
	else
		tunnel_app_say(&ra->app, "any peer may reserve (limit that with -allow)");
}

static int relay_setup(relay_app *ra, const tunnel_opts *o)
{
	const tunnel_relay_opts *r = &o->relay_opts;
	p2p_relay_service_config cfg;
	p2p_relay_service_config_init(&cfg);
	/* The CLI bounds every value (cli.c), well within these types. */
	cfg.limits.max_reservations = (size_t)r->max_reservations;
	cfg.limits.max_reservations_per_ip = (size_t)r->max_reservations_per_ip;
	cfg.limits.max_circuits = (size_t)r->max_circuits;
	cfg.limits.max_circuits_per_peer = (size_t)r->max_circuits_per_peer;
	cfg.limits.reservation_ttl = r->reservation_ttl;
	cfg.limit_duration = (uint32_t)r->circuit_duration;
	cfg.limit_data = r->circuit_data;
	cfg.allow = ra->allow.peers;
	cfg.n_allow = ra->allow.n;
	cfg.on_event = on_event;
	cfg.user = ra;
	int rc = p2p_relay_service_new(&ra->svc, ra->app.host, &cfg);
	if (rc < 0) {
		tunnel_emit_error(ra->app.events, "cannot start the relay service: %s",
		                  p2p_strerror(rc));
		return TUNNEL_EXIT_FAILURE;
	}
	rc = tunnel_app_listen(&ra->app, RELAY_DEFAULT_LISTEN);
	if (rc)
		return rc;
	if (o->n_listen == 0 && p2p_host_listen(ra->app.host, RELAY_DEFAULT_LISTEN6) < 0)
		tunnel_app_say(&ra->app, "no IPv6: listening on IPv4 only");
	rc = print_relay(ra);
	if (rc == 0)
		say_limits(ra, &cfg);
	return rc;
}

int tunnel_relay_main(uv_loop_t *loop, const tunnel_opts *o)
{
	relay_app *ra = calloc(1, sizeof *ra);
	if (!ra)
		return TUNNEL_EXIT_FAILURE;
	/* A bad -allow is a usage error, found before any key is made. */
	tunnel_acl_init(&ra->allow);
	for (size_t i = 0; i < o->n_allow; i++) {
		const char *why = NULL;
		if (tunnel_acl_add_string(&ra->allow, o->allow[i], &why) < 0) {
			tunnel_emit_error(stdout, "-allow %s: %s", o->allow[i],
			                  why ? why : "not a peer ID");
			free(ra);
			return TUNNEL_EXIT_USAGE;
		}
	}
	/* A persistent key keeps the peer ID, hence the addresses hosts were
	 * given, across restarts. */
	char key_path[TUNNEL_PATH_MAX];
	if (o->key) {
		snprintf(key_path, sizeof key_path, "%s", o->key);
	} else if (tunnel_app_default_key_path("relay.key", key_path, sizeof key_path) <
	           0) {
		tunnel_emit_error(
		    stdout,
		    "no HOME or XDG_CONFIG_HOME for the key file: give -key FILE");
		free(ra);
		return TUNNEL_EXIT_USAGE;
	}
	int rc = tunnel_app_init(&ra->app, loop, o, key_path, &relay_role);
	if (rc) {
		free(ra);
		return rc;
	}
	rc = relay_setup(ra, o);
	if (rc)
		tunnel_app_stop(&ra->app, rc);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = ra->app.exit_code;
	/* uv_run returned: the host has closed (every stream and hop with
	 * it), which is when the service may go; its timer closes on the
	 * loop main.c drains. */
	p2p_relay_service_free(ra->svc);
	tunnel_app_free(&ra->app);
	free(ra);
	return rc;
}
