/* The relay half of circuit relay v2 (hop): grants reservations and joins
 * a CONNECT's stream to a stop stream it opens to the reserved peer
 * (p2p_splice), within the limits of a p2p_relay_table.
 *
 * A circuit goes through three states: the source's CONNECT read (its
 * stream paused while we open the stop stream), the stop exchange with
 * the target, then spliced. Deadlines (the exchanges, a circuit's
 * duration limit) and the reservations' expiry are checked by one timer
 * ticking while anything is pending or reserved.
 *
 * Events go to the owner's callback last thing in each path, once the
 * service's state is settled, so the callback may call back in. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"
#include "p2p/splice.h"
#include "protocols/relay/relay_stream.h"

#define RELAY_TICK_MS 500

enum hop_state { HOP_READ, HOP_STOP, HOP_SPLICED };

typedef struct hop {
	p2p_relay_service *svc;
	enum hop_state state;
	int request;        /* P2P_RELAY_HOP_RESERVE or _CONNECT; -1 before */
	bool duration_hit;  /* ended by the duration limit */
	uint64_t opened;    /* unix seconds, once spliced */
	p2p_stream *src;    /* the hop stream; NULL once closed */
	p2p_stream *dst;    /* the stop stream, in HOP_STOP */
	p2p_splice *splice; /* in HOP_SPLICED */
	p2p_peerid src_id, dst_id;
	bool counted; /* holds a circuit in the table */
	p2p_lpmsg_reader rd;
	uint64_t deadline; /* uv_now() time; 0: none */
	struct hop *prev, *next;
} hop;

struct p2p_relay_service {
	p2p_host *host;
	p2p_relay_service_config cfg; /* cfg.allow points to allow */
	p2p_peerid *allow;
	p2p_relay_table table;
	uv_timer_t tick;
	hop *hops;
	p2p_relay_service_stats stats;
	bool freeing;
};

static const p2p_logger *logger(const p2p_relay_service *svc)
{
	return p2p_host_logger(svc->host);
}

static void set_limit(const p2p_relay_service *svc, p2p_relay_msg *m)
{
	if (svc->cfg.limit_duration == 0 && svc->cfg.limit_data == 0)
		return;
	m->has_limit = true;
	m->has_duration = svc->cfg.limit_duration != 0;
	m->duration = svc->cfg.limit_duration;
	m->has_data = svc->cfg.limit_data != 0;
	m->data = svc->cfg.limit_data;
}

static void emit(const p2p_relay_service *svc, const p2p_relay_service_event *ev)
{
	if (svc->cfg.on_event && !svc->freeing)
		svc->cfg.on_event(ev, svc->cfg.user);
}

static bool allowed(const p2p_relay_service *svc, const p2p_peerid *peer)
{
	if (svc->cfg.n_allow == 0)
		return true;
	for (size_t i = 0; i < svc->cfg.n_allow; i++)
		if (p2p_peerid_equal(&svc->allow[i], peer))
			return true;
	return false;
}

/* --- the tick --- */

static void on_tick(uv_timer_t *t);

/* The tick runs while a hop has a deadline, and keeps the loop alive for
 * it; while only reservations are held it runs to report their expiry
 * but does not keep the loop alive, so that closing the host is enough
 * to end the loop (and the tick never outlives the host's last
 * connection for nothing). */
static void tick_update(p2p_relay_service *svc)
{
	uv_handle_t *h = (uv_handle_t *)&svc->tick;
	if (svc->freeing)
		return;
	if (svc->hops == NULL && svc->table.n_rsvps == 0) {
		uv_timer_stop(&svc->tick);
		return;
	}
	if (!uv_is_active(h))
		uv_timer_start(&svc->tick, on_tick, RELAY_TICK_MS, RELAY_TICK_MS);
	if (svc->hops)
		uv_ref(h);
	else
		uv_unref(h);
}

/* Drops the reservations that expired, one event each. The scan starts
 * over after every event since the callback may change the table. */
static void expire_rsvps(p2p_relay_service *svc, uint64_t now)
{
	for (;;) {
		const p2p_relay_table *t = &svc->table;
		size_t i = 0;
		while (i < t->n_rsvps && t->rsvps[i].expire > now)
			i++;
		if (i == t->n_rsvps)
			return;
		p2p_peerid peer = t->rsvps[i].peer;
		p2p_relay_table_release(&svc->table, &peer);
		p2p_host_protect(svc->host, &peer, false);
		p2p_relay_service_event ev = {.kind = P2P_RELAY_EV_UNRESERVED,
		                              .peer = &peer,
		                              .why = P2P_RELAY_UNRESERVED_EXPIRED};
		emit(svc, &ev);
	}
}

/* --- hops --- */

static void hop_free(hop *x)
{
	p2p_relay_service *svc = x->svc;
	if (x->counted)
		p2p_relay_table_circuit_close(&svc->table, &x->src_id, &x->dst_id);
	if (x->prev)
		x->prev->next = x->next;
	else
		svc->hops = x->next;
	if (x->next)
		x->next->prev = x->prev;
	p2p_lpmsg_reader_free(&x->rd);
	free(x);
	tick_update(svc);
}

/* Ends a hop that is not spliced: resets what streams it still has. */
static void hop_abort(hop *x)
{
	p2p_stream *streams[2] = {x->src, x->dst};
	for (int i = 0; i < 2; i++) {
		if (streams[i]) {
			p2p_stream_set_callbacks(streams[i], &relay_no_callbacks, NULL);
			p2p_stream_reset(streams[i]);
		}
	}
	hop_free(x);
}

/* Answers the source with a STATUS (and, for OK, the limit). */
static void hop_status(hop *x, int status)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_STATUS;
	m.status = status;
	if (status == P2P_RELAY_STATUS_OK)
		set_limit(x->svc, &m);
	if (x->src)
		relay_send_msg(x->src, &m, P2P_RELAY_HOP);
	p2p_relay_msg_free(&m);
}

/* The source's address: its connection lives until the loop's next
 * turn (connections are freed from their idle handle), past this call. */
static const p2p_buf *src_addr(const hop *x)
{
	return x->src ? p2p_conn_remote_addr(p2p_stream_conn(x->src)) : NULL;
}

static void hop_refuse(hop *x, int status, const char *why)
{
	p2p_relay_service *svc = x->svc;
	svc->stats.refused++;
	char id[P2P_PEERID_STR_MAX] = "";
	p2p_peerid_to_string(&x->src_id, id, sizeof(id));
	p2p_log(logger(svc), P2P_LOG_INFO, "relay: refused %s: %s (status %d)", id, why,
	        status);
	p2p_peerid src = x->src_id, dst = x->dst_id;
	p2p_relay_service_event ev = {
	    .kind = P2P_RELAY_EV_REFUSED,
	    .peer = &src,
	    .dst = x->request == P2P_RELAY_HOP_CONNECT ? &dst : NULL,
	    .addr = src_addr(x),
	    .status = status,
	    .request = x->request,
	    .reason = why,
	};
	hop_status(x, status);
	if (x->src) {
		p2p_stream_set_callbacks(x->src, &relay_no_callbacks, NULL);
		p2p_stream_close(x->src);
		x->src = NULL;
	}
	hop_abort(x);
	emit(svc, &ev);
}

static hop *hop_new(p2p_relay_service *svc, p2p_stream *s)
{
	hop *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->svc = svc;
	x->src = s;
	x->request = -1;
	x->src_id = *p2p_stream_remote_peer(s);
	p2p_lpmsg_reader_init(&x->rd, P2P_RELAY_MAX_MESSAGE);
	x->deadline = uv_now(p2p_host_loop(svc->host)) + P2P_RELAY_HOP_TIMEOUT_MS;
	x->next = svc->hops;
	if (svc->hops)
		svc->hops->prev = x;
	svc->hops = x;
	tick_update(svc);
	return x;
}

static void on_tick(uv_timer_t *t)
{
	p2p_relay_service *svc = t->data;
	uint64_t now = uv_now(t->loop);
	/* A refusal frees only its own hop (its event's callback may not
	 * end others at once: p2p_host_disconnect closes from the loop). */
	for (hop *x = svc->hops; x;) {
		hop *next = x->next;
		if (x->deadline && now >= x->deadline) {
			x->deadline = 0;
			if (x->state == HOP_SPLICED) {
				x->duration_hit = true;
				p2p_splice_close(x->splice); /* done frees x */
			} else {
				hop_refuse(x, 0, "timed out");
			}
		}
		x = next;
	}
	expire_rsvps(svc, relay_unix_now());
	tick_update(svc);
}

/* Stream callbacks while a hop waits: a reset or FIN from either side
 * ends it. */
static void waiting_reset(p2p_stream *s, int err, void *user)
{
	hop *x = user;
	if (s == x->src)
		x->src = NULL;
	else
		x->dst = NULL;
	p2p_stream_set_callbacks(s, &relay_no_callbacks, NULL);
	hop_abort(x);
}

static void waiting_fin(p2p_stream *s, void *user)
{
	waiting_reset(s, P2P_ECLOSED, user);
}

/* --- spliced --- */

static void on_spliced_end(p2p_splice_end why, uint64_t ab, uint64_t ba, void *user)
{
	hop *x = user;
	p2p_relay_service *svc = x->svc;
	svc->stats.bytes += ab + ba;
	svc->stats.circuits_open--;
	p2p_peerid src = x->src_id, dst = x->dst_id;
	int end = x->duration_hit           ? P2P_RELAY_CIRCUIT_DURATION_LIMIT
	          : why == P2P_SPLICE_LIMIT ? P2P_RELAY_CIRCUIT_DATA_LIMIT
	          : why == P2P_SPLICE_RESET ? P2P_RELAY_CIRCUIT_RESET
	                                    : P2P_RELAY_CIRCUIT_CLOSED;
	x->src = x->dst = NULL;
	hop_free(x);
	/* a is the source's stream (p2p_splice_new in stop_answer). */
	p2p_relay_service_event ev = {.kind = P2P_RELAY_EV_CIRCUIT_CLOSED,
	                              .peer = &src,
	                              .dst = &dst,
	                              .why = end,
	                              .bytes_to_dst = ab,
	                              .bytes_to_src = ba};
	emit(svc, &ev);
}

/* --- the stop exchange with the target --- */

static void stop_answer(hop *x, const p2p_relay_msg *m, const uint8_t *rest,
                        size_t rest_len)
{
	if (m->type != P2P_RELAY_STOP_STATUS || m->status != P2P_RELAY_STATUS_OK) {
		hop_refuse(x, P2P_RELAY_STATUS_CONNECTION_FAILED, "the target refused");
		return;
	}
	hop_status(x, P2P_RELAY_STATUS_OK);
	if (rest_len)
		p2p_stream_unread(x->dst, rest, rest_len);
	p2p_stream *src = x->src, *dst = x->dst;
	x->state = HOP_SPLICED;
	x->deadline = x->svc->cfg.limit_duration
	                  ? uv_now(p2p_host_loop(x->svc->host)) +
	                        (uint64_t)x->svc->cfg.limit_duration * 1000
	                  : 0;
	if (p2p_splice_new(&x->splice, src, dst, x->svc->cfg.limit_data, on_spliced_end,
	                   x) < 0) {
		hop_abort(x);
		return;
	}
	p2p_relay_service *svc = x->svc;
	svc->stats.circuits++;
	svc->stats.circuits_open++;
	x->opened = relay_unix_now();
	p2p_peerid src_id = x->src_id, dst_id = x->dst_id;
	p2p_relay_service_event ev = {
	    .kind = P2P_RELAY_EV_CIRCUIT_OPEN, .peer = &src_id, .dst = &dst_id};
	emit(svc, &ev);
}

static void stop_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	hop *x = user;
	p2p_relay_msg m;
	size_t used = 0;
	int rc = relay_read_msg(&x->rd, P2P_RELAY_STOP, data, len, &used, &m);
	p2p_stream_consume(s, used);
	if (rc == 0)
		return;
	if (rc < 0)
		p2p_relay_msg_init(&m); /* freed below like a message */
	if (rc < 0)
		hop_refuse(x, P2P_RELAY_STATUS_CONNECTION_FAILED,
		           "malformed stop answer");
	else
		stop_answer(x, &m, data + used, len - used);
	p2p_relay_msg_free(&m);
}

static const p2p_stream_callbacks stop_cbs = {
    .on_data = stop_on_data,
    .on_fin = waiting_fin,
    .on_reset = waiting_reset,
};

static void on_stop_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	hop *x = user;
	if (err < 0) {
		hop_refuse(x, P2P_RELAY_STATUS_CONNECTION_FAILED,
		           "the target does not speak stop");
		return;
	}
	x->dst = s;
	p2p_stream_set_callbacks(s, &stop_cbs, x);
	p2p_lpmsg_reader_free(&x->rd);
	p2p_lpmsg_reader_init(&x->rd, P2P_RELAY_MAX_MESSAGE);
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_STOP_CONNECT;
	m.has_peer = true;
	m.peer_id = x->src_id;
	set_limit(x->svc, &m);
	if (relay_send_msg(s, &m, P2P_RELAY_STOP) < 0)
		hop_refuse(x, P2P_RELAY_STATUS_CONNECTION_FAILED,
		           "cannot write to the target");
	p2p_relay_msg_free(&m);
}

static void hop_connect(hop *x, const p2p_relay_msg *m)
{
	p2p_relay_service *svc = x->svc;
	x->dst_id = m->peer_id;
	expire_rsvps(svc, relay_unix_now());
	p2p_conn *c = p2p_host_conn(svc->host, &x->dst_id);
	int status = c ? p2p_relay_table_circuit_open(&svc->table, &x->src_id, &x->dst_id,
	                                              relay_unix_now())
	               : P2P_RELAY_STATUS_NO_RESERVATION;
	if (status != P2P_RELAY_STATUS_OK) {
		hop_refuse(x, status, "cannot connect");
		return;
	}
	x->counted = true;
	x->state = HOP_STOP;
	/* The source's bytes after CONNECT wait for the splice. */
	p2p_stream_pause(x->src, true);
	p2p_stream *s;
	const char *protos[] = {P2P_RELAY_STOP_PROTOCOL};
	int rc = p2p_conn_open_stream(c, &s);
	if (rc == P2P_OK)
		rc = p2p_stream_select(s, true, protos, 1, on_stop_selected, x);
	if (rc < 0)
		hop_refuse(x, P2P_RELAY_STATUS_CONNECTION_FAILED, "cannot open stop");
}

/* --- reservations --- */

/* The IP of the connection as an opaque key (4 or 16 bytes). */
static size_t conn_ip(p2p_conn *c, uint8_t *out)
{
	const p2p_buf *ra = p2p_conn_remote_addr(c);
	size_t off = 0;
	p2p_multiaddr_component comp;
	if (p2p_multiaddr_next(ra->data, ra->len, &off, &comp) == 1 &&
	    (comp.code == P2P_MA_IP4 || comp.code == P2P_MA_IP6) &&
	    comp.value_len <= P2P_RELAY_IP_KEY_MAX) {
		memcpy(out, comp.value, comp.value_len);
		return comp.value_len;
	}
	return 0;
}

static void hop_reserve(hop *x)
{
	p2p_relay_service *svc = x->svc;
	p2p_conn *c = p2p_stream_conn(x->src);
	if (!allowed(svc, &x->src_id)) {
		hop_refuse(x, P2P_RELAY_STATUS_PERMISSION_DENIED,
		           "not on the allow-list");
		return;
	}
	if (p2p_conn_is_limited(c)) {
		hop_refuse(x, P2P_RELAY_STATUS_PERMISSION_DENIED,
		           "reserving over a relay");
		return;
	}
	uint8_t ip[P2P_RELAY_IP_KEY_MAX];
	size_t ip_len = conn_ip(c, ip);
	uint64_t expire = 0, now = relay_unix_now();
	/* Reservations that expired are reported before the table drops
	 * them itself. */
	expire_rsvps(svc, now);
	bool refresh = p2p_relay_table_find(&svc->table, &x->src_id, now, NULL) == P2P_OK;
	int status =
	    p2p_relay_table_reserve(&svc->table, &x->src_id, ip, ip_len, now, &expire);
	if (status != P2P_RELAY_STATUS_OK) {
		hop_refuse(x, status < 0 ? P2P_RELAY_STATUS_RESERVATION_REFUSED : status,
		           "reservation refused");
		return;
	}
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_STATUS;
	m.status = P2P_RELAY_STATUS_OK;
	m.has_reservation = m.has_expire = true;
	m.expire = expire;
	const p2p_peerid *me = p2p_host_peer_id(svc->host);
	/* What we announce (host.h): the listen addresses unless the
	 * application set dialable ones in place of a wildcard. */
	const p2p_buf *addrs[P2P_HOST_MAX_ANNOUNCE];
	size_t n = p2p_host_announce_addrs(svc->host, addrs, P2P_HOST_MAX_ANNOUNCE);
	for (size_t i = 0; i < n && i < P2P_HOST_MAX_ANNOUNCE; i++) {
		p2p_buf a;
		p2p_buf_init(&a);
		if (p2p_buf_append(&a, addrs[i]->data, addrs[i]->len) == P2P_OK &&
		    p2p_multiaddr_append_peer_id(&a, me->bytes, me->len) == P2P_OK)
			p2p_relay_msg_add_rsvp_addr(&m, a.data, a.len);
		p2p_buf_free(&a);
	}
	int rc = p2p_relay_voucher_seal(p2p_host_key(svc->host), &x->src_id, expire,
	                                &m.voucher);
	set_limit(svc, &m);
	if (rc == P2P_OK)
		rc = relay_send_msg(x->src, &m, P2P_RELAY_HOP);
	p2p_relay_msg_free(&m);
	if (rc < 0) {
		/* A refresh leaves the reservation the peer held (now longer). */
		if (!refresh)
			p2p_relay_table_release(&svc->table, &x->src_id);
		hop_refuse(x, 0, "cannot answer");
		return;
	}
	svc->stats.reservations++;
	/* The reserving peer's connection carries no stream between circuits:
	 * the host's connection manager must not close it as idle (host.h). */
	p2p_host_protect(svc->host, &x->src_id, true);
	p2p_peerid peer = x->src_id;
	p2p_relay_service_event ev = {.kind = P2P_RELAY_EV_RESERVED,
	                              .peer = &peer,
	                              .addr = src_addr(x),
	                              .expire = expire,
	                              .refresh = refresh};
	p2p_stream_set_callbacks(x->src, &relay_no_callbacks, NULL);
	p2p_stream_close(x->src);
	x->src = NULL;
	hop_free(x);
	emit(svc, &ev);
}

/* --- the hop stream --- */

static void hop_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	hop *x = user;
	p2p_relay_msg m;
	size_t used = 0;
	int rc = relay_read_msg(&x->rd, P2P_RELAY_HOP, data, len, &used, &m);
	p2p_stream_consume(s, used);
	if (rc == 0)
		return;
	if (rc < 0)
		p2p_relay_msg_init(&m); /* freed below like a message */
	if (rc < 0) {
		hop_refuse(x, P2P_RELAY_STATUS_MALFORMED_MESSAGE, "malformed message");
	} else if (m.type == P2P_RELAY_HOP_RESERVE) {
		x->request = P2P_RELAY_HOP_RESERVE;
		hop_reserve(x);
	} else if (m.type == P2P_RELAY_HOP_CONNECT) {
		x->request = P2P_RELAY_HOP_CONNECT;
		/* Bytes after CONNECT belong to the circuit: keep them. */
		if (used < len)
			p2p_stream_unread(s, data + used, len - used);
		hop_connect(x, &m);
	} else {
		hop_refuse(x, P2P_RELAY_STATUS_UNEXPECTED_MESSAGE, "unexpected message");
	}
	p2p_relay_msg_free(&m);
}

static const p2p_stream_callbacks hop_cbs = {
    .on_data = hop_on_data,
    .on_fin = waiting_fin,
    .on_reset = waiting_reset,
};

static void hop_handler(p2p_stream *s, const char *protocol, void *user)
{
	p2p_relay_service *svc = user;
	hop *x = svc->freeing ? NULL : hop_new(svc, s);
	if (x == NULL) {
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_set_callbacks(s, &hop_cbs, x);
}

/* A reservation lasts while its peer stays connected. */
static void on_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_relay_service *svc = user;
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	p2p_conn *other = p2p_host_conn(h, peer);
	if ((other != NULL && other != c) ||
	    p2p_relay_table_release(&svc->table, peer) != P2P_OK)
		return;
	p2p_peerid id = *peer;
	p2p_host_protect(h, &id, false);
	tick_update(svc);
	p2p_relay_service_event ev = {.kind = P2P_RELAY_EV_UNRESERVED,
	                              .peer = &id,
	                              .why = P2P_RELAY_UNRESERVED_DISCONNECTED};
	emit(svc, &ev);
}

/* --- lifetime --- */

void p2p_relay_service_config_init(p2p_relay_service_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	p2p_relay_limits_config_default(&cfg->limits);
}

int p2p_relay_service_new(p2p_relay_service **out, p2p_host *h,
                          const p2p_relay_service_config *cfg)
{
	p2p_relay_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return P2P_ENOMEM;
	svc->host = h;
	if (cfg)
		svc->cfg = *cfg;
	else
		p2p_relay_service_config_init(&svc->cfg);
	if (svc->cfg.n_allow > 0) {
		if (svc->cfg.allow == NULL) {
			free(svc);
			return P2P_EINVAL;
		}
		svc->allow = calloc(svc->cfg.n_allow, sizeof(*svc->allow));
		if (svc->allow == NULL) {
			free(svc);
			return P2P_ENOMEM;
		}
		memcpy(svc->allow, svc->cfg.allow,
		       svc->cfg.n_allow * sizeof(*svc->allow));
	}
	svc->cfg.allow = svc->allow;
	int rc = p2p_relay_table_init(&svc->table, &svc->cfg.limits);
	if (rc == P2P_OK)
		rc = p2p_host_set_handler(h, P2P_RELAY_HOP_PROTOCOL, hop_handler, svc);
	p2p_host_observer obs = {.on_disconnected = on_disconnected};
	if (rc == P2P_OK)
		rc = p2p_host_observe(h, &obs, svc);
	if (rc < 0) {
		p2p_host_remove_handler(h, P2P_RELAY_HOP_PROTOCOL);
		p2p_relay_table_free(&svc->table);
		free(svc->allow);
		free(svc);
		return rc;
	}
	uv_timer_init(p2p_host_loop(h), &svc->tick);
	svc->tick.data = svc;
	*out = svc;
	return P2P_OK;
}

static void on_tick_closed(uv_handle_t *h)
{
	p2p_relay_service *svc = h->data;
	p2p_relay_table_free(&svc->table);
	free(svc->allow);
	free(svc);
}

void p2p_relay_service_free(p2p_relay_service *svc)
{
	if (svc == NULL)
		return;
	svc->freeing = true;
	/* After the host closed every stream is gone, and so is every hop. */
	hop *list = svc->hops;
	svc->hops = NULL;
	while (list) {
		hop *x = list;
		list = x->next;
		p2p_lpmsg_reader_free(&x->rd);
		free(x);
	}
	uv_close((uv_handle_t *)&svc->tick, on_tick_closed);
}

const p2p_relay_service_stats *p2p_relay_service_stats_get(const p2p_relay_service *svc)
{
	return &svc->stats;
}

size_t p2p_relay_service_reservations(const p2p_relay_service *svc)
{
	return svc->table.n_rsvps;
}

size_t p2p_relay_service_list_reservations(const p2p_relay_service *svc,
                                           p2p_relay_rsvp_slot *out, size_t max)
{
	size_t n = svc->table.n_rsvps;
	for (size_t i = 0; i < n && i < max; i++)
		out[i] = svc->table.rsvps[i];
	return n;
}

size_t p2p_relay_service_list_circuits(const p2p_relay_service *svc,
                                       p2p_relay_service_circuit *out, size_t max)
{
	size_t n = 0;
	for (const hop *x = svc->hops; x; x = x->next) {
		if (x->state != HOP_SPLICED || x->splice == NULL)
			continue;
		if (n < max)
			out[n] = (p2p_relay_service_circuit){
			    .src = x->src_id,
			    .dst = x->dst_id,
			    .bytes_to_dst = p2p_splice_bytes_ab(x->splice),
			    .bytes_to_src = p2p_splice_bytes_ba(x->splice),
			    .opened = x->opened,
			};
		n++;
	}
	return n;
}
