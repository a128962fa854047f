/* The host's token (host_internal.h): its secret kept beside the key,
 * its addresses (the dialable ones, the relays' circuits, loopback last),
 * and the relays (-relay) whose reservations put circuits in it. */
#include <stdio.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/keys.h"
#include "tunnel/addrs.h"
#include "tunnel/host_internal.h"
#include "tunnel/json.h"

/* The secret lives next to the key (host.key -> host.secret) so that the
 * token stays valid across restarts. keys.h writes it whole or not at all
 * and refuses a file of the wrong size or mode, saying why (in `why`)
 * rather than starting with a secret nobody has. */
int host_secret_load_or_create(const char *key_path, uint8_t secret[TUNNEL_SECRET_LEN],
                               char *why, size_t why_len)
{
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	char path[TUNNEL_PATH_MAX];
	size_t kl = strlen(key_path);
	int n;
	if (kl > 4 && !strcmp(key_path + kl - 4, ".key"))
		n = snprintf(path, sizeof path, "%.*s.secret", (int)(kl - 4), key_path);
	else
		n = snprintf(path, sizeof path, "%s.secret", key_path);
	if (n < 0 || (size_t)n >= sizeof path) {
		if (why != NULL && why_len > 0)
			snprintf(why, why_len, "the path %s.secret is too long",
			         key_path);
		return P2P_ETOOBIG;
	}
	return p2p_secret_load_or_create(secret, TUNNEL_SECRET_LEN, path,
	                                 "the old token stops working", why, why_len);
}

/* Adds one address to the token unless it is there already. */
static void token_add(tunnel_token *t, const p2p_buf *a)
{
	for (size_t i = 0; i < t->n_addrs; i++)
		if (t->addrs[i].len == a->len &&
		    !memcmp(t->addrs[i].bytes, a->data, a->len))
			return;
	tunnel_token_add_addr(t, a->data, a->len);
}

/* The token gets h's dialable addresses of the kinds in `which`
 * (addrs.h). */
static void add_token_addrs(host_app *ha, unsigned which)
{
	p2p_buf a[TUNNEL_ADDRS_MAX];
	size_t n = tunnel_addrs_dialable(ha->app.host, which, a, TUNNEL_ADDRS_MAX);
	for (size_t i = 0; i < n; i++)
		token_add(&ha->token, &a[i]);
	tunnel_addrs_free(a, n);
}

/* The relays' circuit addresses (keeper), each taking one of the token's
 * slots before the loopback ones: a peer behind NAT is reached through
 * them or not at all. */
static void add_relay_addrs(host_app *ha, size_t room)
{
	p2p_buf addrs[TUNNEL_TOKEN_MAX_ADDRS];
	for (size_t i = 0; i < TUNNEL_TOKEN_MAX_ADDRS; i++)
		p2p_buf_init(&addrs[i]);
	size_t n = ha->keeper
	               ? p2p_relay_keeper_addrs(ha->keeper, addrs, TUNNEL_TOKEN_MAX_ADDRS)
	               : 0;
	for (size_t i = 0; i < n && i < TUNNEL_TOKEN_MAX_ADDRS && i < room; i++)
		token_add(&ha->token, &addrs[i]);
	for (size_t i = 0; i < TUNNEL_TOKEN_MAX_ADDRS; i++)
		p2p_buf_free(&addrs[i]);
}

/* The token's addresses, afresh: the direct ones, the relays', loopback. */
static void build_token_addrs(host_app *ha)
{
	size_t n_relay = ha->keeper ? p2p_relay_keeper_addrs(ha->keeper, NULL, 0) : 0;
	if (n_relay > TUNNEL_TOKEN_MAX_ADDRS / 2)
		n_relay = TUNNEL_TOKEN_MAX_ADDRS / 2;
	ha->token.n_addrs = 0;
	/* The router's forwarded port, once AutoNAT reached us there: the
	 * one address that works from anywhere, so first. */
	const p2p_buf *mapped = host_portmap_token_addr(ha);
	if (mapped != NULL)
		token_add(&ha->token, mapped);
	add_token_addrs(ha, TUNNEL_ADDRS_OTHER);
	/* Room for the relays even on a machine with many interfaces. */
	if (ha->token.n_addrs > TUNNEL_TOKEN_MAX_ADDRS - n_relay)
		ha->token.n_addrs = TUNNEL_TOKEN_MAX_ADDRS - n_relay;
	add_relay_addrs(ha, n_relay);
	add_token_addrs(ha, TUNNEL_ADDRS_LOOPBACK);
}

/* identify advertises what the token carries (not 0.0.0.0), and peers
 * already connected hear of a change by a push. */
static void announce_token_addrs(host_app *ha)
{
	p2p_buf addrs[TUNNEL_TOKEN_MAX_ADDRS] = {{0}};
	size_t n = ha->token.n_addrs;
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&addrs[i]);
		p2p_buf_append(&addrs[i], ha->token.addrs[i].bytes,
		               ha->token.addrs[i].len);
	}
	if (p2p_host_set_announce_addrs(ha->app.host, addrs, n) == 0) {
		if (ha->token_printed)
			p2p_identify_service_push(ha->app.identify);
		if (ha->app.autonat)
			p2p_autonat_service_addrs_changed(ha->app.autonat);
	}
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
}

int host_token_print(host_app *ha)
{
	build_token_addrs(ha);
	announce_token_addrs(ha);
	ha->token_printed = true;
	if (ha->token.n_addrs == 0) {
		tunnel_emit_error(ha->app.events,
		                  "no dialable address to put in the token");
		return TUNNEL_EXIT_FAILURE;
	}
	p2p_buf text, ev;
	p2p_buf_init(&text);
	p2p_buf_init(&ev);
	const char *addrs[TUNNEL_TOKEN_MAX_ADDRS];
	p2p_buf addr_text[TUNNEL_TOKEN_MAX_ADDRS];
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(&ha->token.peer, id, sizeof id);
	for (size_t i = 0; i < ha->token.n_addrs; i++) {
		p2p_buf_init(&addr_text[i]);
		p2p_buf bin;
		p2p_buf_init(&bin);
		p2p_buf_append(&bin, ha->token.addrs[i].bytes, ha->token.addrs[i].len);
		p2p_multiaddr_append_peer_id(&bin, ha->token.peer.bytes,
		                             ha->token.peer.len);
		if (p2p_multiaddr_to_string(bin.data, bin.len, &addr_text[i]) < 0)
			p2p_buf_append(&addr_text[i], "?", 2);
		p2p_buf_free(&bin);
		addrs[i] = (const char *)addr_text[i].data;
	}
	int rc = tunnel_token_encode(&ha->token, &text);
	if (rc == 0)
		rc = p2p_buf_append_byte(&text, 0);
	if (rc == 0)
		rc = tunnel_event_token(&ev, (const char *)text.data, id, addrs,
		                        ha->token.n_addrs);
	if (rc == 0) {
		tunnel_app_say(&ha->app, "host %s forwarding %s to %s", id,
		               tunnel_network_name(ha->token.network), ha->target_text);
		for (size_t i = 0; i < ha->token.n_addrs; i++)
			tunnel_app_say(&ha->app, "listening on %s", addrs[i]);
		/* The token holds the secret, and stderr often ends up in
		 * journald or syslog: it goes to stdout's TOKEN event only,
		 * unless -v asks for it here too. */
		if (ha->app.opts->verbosity > 0)
			tunnel_app_say(&ha->app, "token: %s", (const char *)text.data);
		tunnel_emit(ha->app.events, &ev);
	}
	for (size_t i = 0; i < ha->token.n_addrs; i++)
		p2p_buf_free(&addr_text[i]);
	p2p_buf_free(&text);
	p2p_buf_free(&ev);
	return rc == 0 ? 0 : TUNNEL_EXIT_FAILURE;
}

/* --- -relay: reservations and the token --- */

static void on_token_timer(uv_timer_t *t)
{
	host_app *ha = t->data;
	if (!ha->token_printed && !ha->app.stopping && host_token_print(ha) != 0)
		tunnel_app_stop(&ha->app, TUNNEL_EXIT_FAILURE);
}

static void on_relay_event(const p2p_relay_keeper_event *ev, bool changed, void *user)
{
	host_app *ha = user;
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(ev->relay, id, sizeof id);
	if (ev->up && ev->limited) {
		/* Kept anyway: a direct path (DCUtR) may come through it. */
		tunnel_emit_error(ha->app.events,
		                  "relay %s limits each circuit (%u s, %llu bytes): no "
		                  "tunnel can run over it; use an unlimited relay "
		                  "(tunnel -relay-service)",
		                  id, (unsigned)ev->limit_duration,
		                  (unsigned long long)ev->limit_data);
	} else if (ev->up) {
		tunnel_app_say(&ha->app, "reserved a slot on relay %s", id);
	} else if (ev->retry_ms == 0) {
		/* An autorelay one (or the host is closing): not tried again. */
		tunnel_app_say(&ha->app, "relay %s: no reservation (%s%s), dropped", id,
		               ev->status ? "refused" : p2p_strerror(ev->err),
		               ev->status ? " by the relay" : "");
	} else if (ev->status) {
		tunnel_emit_error(ha->app.events,
		                  "relay %s refused the reservation (status %d); next "
		                  "try in %llu s",
		                  id, ev->status,
		                  (unsigned long long)(ev->retry_ms + 999) / 1000);
	} else {
		tunnel_emit_error(ha->app.events,
		                  "no reservation on relay %s: %s; next try in %llu s",
		                  id, p2p_strerror(ev->err),
		                  (unsigned long long)(ev->retry_ms + 999) / 1000);
	}
	if (ha->app.stopping)
		return;
	if (!ha->token_printed) {
		/* The first answer of each relay counts once. */
		if (++ha->relays_answered >= ha->app.opts->n_relay)
			on_token_timer(&ha->token_timer);
		return;
	}
	if (changed && host_token_print(ha) != 0)
		tunnel_app_stop(&ha->app, TUNNEL_EXIT_FAILURE);
}

/* Whether info lists the relay's hop protocol. */
static bool serves_hop(const p2p_identify *info)
{
	for (size_t i = 0; i < info->n_protocols; i++)
		if (strcmp(info->protocols[i], P2P_RELAY_HOP_PROTOCOL) == 0)
			return true;
	return false;
}

/* Autorelay: a peer that serves the hop protocol, met on a direct
 * connection, is offered to the keeper, which reserves on up to
 * P2P_RELAY_KEEPER_AUTO_MAX of them. */
static void on_identified(tunnel_app *app, p2p_conn *c, const p2p_identify *info)
{
	host_app *ha = (host_app *)app;
	if (ha->keeper == NULL || p2p_conn_is_relayed(c) || !serves_hop(info))
		return;
	/* A host that AutoNAT found reachable needs no relay (go-libp2p's
	 * autorelay waits for "private"; we do not wait for a verdict, which
	 * takes half a minute, as a host behind a NAT would be unreachable
	 * meanwhile). */
	if (app->autonat != NULL &&
	    p2p_autonat_service_state(app->autonat, NULL, NULL) == P2P_AUTONAT_PUBLIC)
		return;
	const p2p_buf *addr = p2p_conn_remote_addr(c);
	int rc = p2p_relay_keeper_offer(ha->keeper, p2p_conn_remote_peer(c), addr->data,
	                                addr->len);
	if (rc == 0) {
		char id[P2P_PEERID_STR_MAX];
		p2p_peerid_to_string(p2p_conn_remote_peer(c), id, sizeof id);
		tunnel_app_say(app, "peer %s is a relay: reserving on it (autorelay)",
		               id);
	}
}

/* Reserves on each -relay, the first TOKEN waiting for their answers;
 * without -relay, prints the TOKEN and reserves on relays it meets
 * (autorelay), with a new TOKEN for each. */
int host_relays_start(host_app *ha, const tunnel_opts *o)
{
	tunnel_app *app = &ha->app;
	p2p_relay_keeper_config kc = {
	    .on_event = on_relay_event,
	    .user = ha,
	    .auto_max = o->n_relay == 0 ? P2P_RELAY_KEEPER_AUTO_MAX : 0,
	};
	int rc = p2p_relay_client_new(&app->relay_client, app->host);
	if (rc == 0)
		rc = p2p_relay_keeper_new(&ha->keeper, app->relay_client, &kc);
	if (rc < 0) {
		tunnel_emit_error(app->events, "cannot start the relay client: %s",
		                  p2p_strerror(rc));
		return TUNNEL_EXIT_FAILURE;
	}
	app->on_identified = on_identified;
	if (o->n_relay == 0)
		return host_token_print(ha);
	uv_timer_init(app->loop, &ha->token_timer);
	ha->token_timer.data = ha;
	ha->token_timer_on = true;
	uv_timer_start(&ha->token_timer, on_token_timer, HOST_FIRST_TOKEN_WAIT_MS, 0);
	for (size_t i = 0; i < o->n_relay; i++) {
		p2p_buf bin;
		p2p_buf_init(&bin);
		rc = p2p_multiaddr_parse(o->relay[i], &bin);
		if (rc == 0)
			rc = p2p_relay_keeper_add(ha->keeper, bin.data, bin.len);
		p2p_buf_free(&bin);
		if (rc == P2P_ESTATE) {
			ha->relays_answered++; /* a repeat: no answer of its own */
			continue;
		}
		if (rc < 0) {
			tunnel_emit_error(app->events, "-relay %s: %s", o->relay[i],
			                  p2p_strerror(rc));
			return TUNNEL_EXIT_USAGE;
		}
	}
	tunnel_app_say(app, "reserving on %zu relay(s)", o->n_relay);
	return 0;
}

void host_relays_stop(host_app *ha)
{
	/* The relays' connections close with the host: no new TOKEN for that. */
	p2p_relay_keeper_free(ha->keeper);
	ha->keeper = NULL;
	if (ha->token_timer_on) {
		ha->token_timer_on = false;
		uv_close((uv_handle_t *)&ha->token_timer, NULL);
	}
}
