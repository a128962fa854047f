/* The client half of circuit relay v2 on a host: reserving a slot on a
 * relay (hop RESERVE) and accepting the circuits it brings (stop CONNECT).
 * An accepted circuit's stream becomes a pipe (stream.h) that the host
 * upgrades like any inbound connection (p2p_host_upgrade_pipe).
 *
 * Each exchange (one message out, one back) has a deadline, checked by
 * one timer that ticks while any exchange is pending. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"
#include "protocols/relay/relay_client.h"
#include "protocols/relay/relay_stream.h"

#define RELAY_TICK_MS 500

enum xchg_kind { XCHG_RESERVE, XCHG_STOP };

typedef struct relay_xchg {
	p2p_relay_client *rc;
	enum xchg_kind kind;
	p2p_stream *s; /* NULL until the hop stream is open */
	p2p_peerid relay;
	p2p_lpmsg_reader rd;
	uint64_t deadline; /* uv_now() time */
	p2p_relay_reserve_cb cb;
	void *user;
	struct relay_xchg *prev, *next;
} relay_xchg;

typedef struct relay_held {
	p2p_peerid relay;
	uint64_t expire; /* unix seconds */
} relay_held;

struct p2p_relay_client {
	p2p_host *host;
	uv_timer_t tick;
	relay_xchg *xchgs;
	relay_held held[P2P_RELAY_CLIENT_MAX_RELAYS];
	size_t n_held;
	size_t accepted, refused; /* stop CONNECTs */
	bool freeing;
	relay_conn_closed_fn watch_fn; /* relay_client_watch */
	void *watch_user;
};

static const p2p_logger *logger(const p2p_relay_client *rc)
{
	return p2p_host_logger(rc->host);
}

/* --- exchanges --- */

static void xchg_free(relay_xchg *x)
{
	p2p_relay_client *rc = x->rc;
	if (x->prev)
		x->prev->next = x->next;
	else
		rc->xchgs = x->next;
	if (x->next)
		x->next->prev = x->prev;
	p2p_lpmsg_reader_free(&x->rd);
	free(x);
	if (rc->xchgs == NULL)
		uv_timer_stop(&rc->tick);
}

/* Lets the stream go (it is closed or reset by the caller or the peer)
 * and forgets the exchange. */
static void xchg_release(relay_xchg *x, bool reset)
{
	if (x->s) {
		p2p_stream_set_callbacks(x->s, &relay_no_callbacks, NULL);
		if (reset)
			p2p_stream_reset(x->s);
		else
			p2p_stream_close(x->s);
	}
	xchg_free(x);
}

static void reserve_fail(relay_xchg *x, int err, int status)
{
	if (x->cb)
		x->cb(err, status, NULL, x->user);
	xchg_release(x, true);
}

static void on_tick(uv_timer_t *t)
{
	p2p_relay_client *rc = t->data;
	uint64_t now = uv_now(t->loop);
	relay_xchg *x = rc->xchgs;
	while (x) {
		relay_xchg *next = x->next;
		if (now >= x->deadline) {
			p2p_log(logger(rc), P2P_LOG_INFO, "relay: %s timed out",
			        x->kind == XCHG_RESERVE ? "reservation"
			                                : "stop exchange");
			if (x->kind == XCHG_RESERVE)
				reserve_fail(x, P2P_ETIMEDOUT, 0);
			else
				xchg_release(x, true);
		}
		x = next;
	}
}

static relay_xchg *xchg_new(p2p_relay_client *rc, enum xchg_kind kind, uint64_t timeout)
{
	relay_xchg *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->rc = rc;
	x->kind = kind;
	p2p_lpmsg_reader_init(&x->rd, P2P_RELAY_MAX_MESSAGE);
	x->deadline = uv_now(p2p_host_loop(rc->host)) + timeout;
	x->next = rc->xchgs;
	if (rc->xchgs)
		rc->xchgs->prev = x;
	rc->xchgs = x;
	if (!uv_is_active((uv_handle_t *)&rc->tick))
		uv_timer_start(&rc->tick, on_tick, RELAY_TICK_MS, RELAY_TICK_MS);
	return x;
}

static void xchg_on_reset(p2p_stream *s, int err, void *user)
{
	relay_xchg *x = user;
	x->s = NULL; /* on_close follows; the library frees the stream */
	p2p_stream_set_callbacks(s, &relay_no_callbacks, NULL);
	if (x->kind == XCHG_RESERVE)
		reserve_fail(x, err < 0 ? err : P2P_ERESET, 0);
	else
		xchg_free(x);
}

static void xchg_on_fin(p2p_stream *s, void *user)
{
	xchg_on_reset(s, P2P_ECLOSED, user);
}

/* --- reserving --- */

static void held_add(p2p_relay_client *rc, const p2p_peerid *relay, uint64_t expire)
{
	for (size_t i = 0; i < rc->n_held; i++) {
		if (p2p_peerid_equal(&rc->held[i].relay, relay)) {
			rc->held[i].expire = expire;
			return;
		}
	}
	if (rc->n_held < P2P_RELAY_CLIENT_MAX_RELAYS)
		rc->held[rc->n_held++] = (relay_held){*relay, expire};
}

static bool held_by(const p2p_relay_client *rc, const p2p_peerid *relay)
{
	for (size_t i = 0; i < rc->n_held; i++)
		if (p2p_peerid_equal(&rc->held[i].relay, relay) &&
		    rc->held[i].expire > relay_unix_now())
			return true;
	return false;
}

static void reserve_answer(relay_xchg *x, p2p_relay_msg *m)
{
	p2p_relay_client *rc = x->rc;
	if (m->type != P2P_RELAY_HOP_STATUS) {
		reserve_fail(x, P2P_EPROTO, 0);
		return;
	}
	if (m->status != P2P_RELAY_STATUS_OK) {
		reserve_fail(x, P2P_ENOTFOUND, m->status);
		return;
	}
	if (!m->has_reservation || !m->has_expire) {
		reserve_fail(x, P2P_EPROTO, m->status);
		return;
	}
	/* The voucher proves the relay's word; a relay that sends one that
	 * does not verify is not to be trusted with our circuits. */
	if (m->voucher.len > 0) {
		p2p_relay_voucher v;
		int rc2 =
		    p2p_relay_voucher_open(&v, m->voucher.data, m->voucher.len, &x->relay,
		                           p2p_host_peer_id(rc->host), relay_unix_now());
		if (rc2 < 0) {
			p2p_log(logger(rc), P2P_LOG_WARN, "relay: bad voucher: %s",
			        p2p_strerror(rc2));
			reserve_fail(x, rc2, m->status);
			return;
		}
	}
	held_add(rc, &x->relay, m->expire);
	p2p_relay_reservation r = {
	    .relay = &x->relay,
	    .expire = m->expire,
	    .addrs = m->rsvp_addrs,
	    .n_addrs = m->n_rsvp_addrs,
	    .has_voucher = m->voucher.len > 0,
	    .limited = relay_msg_limited(m),
	    .limit_duration = m->has_duration ? m->duration : 0,
	    .limit_data = m->has_data ? m->data : 0,
	};
	if (x->cb)
		x->cb(P2P_OK, m->status, &r, x->user);
	xchg_release(x, false);
}

static void reserve_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	relay_xchg *x = user;
	p2p_relay_msg m;
	size_t used = 0;
	int rc = relay_read_msg(&x->rd, P2P_RELAY_HOP, data, len, &used, &m);
	p2p_stream_consume(s, len);
	if (rc == 0)
		return;
	if (rc < 0) {
		reserve_fail(x, rc, 0);
		return;
	}
	reserve_answer(x, &m);
	p2p_relay_msg_free(&m);
}

static const p2p_stream_callbacks reserve_cbs = {
    .on_data = reserve_on_data,
    .on_fin = xchg_on_fin,
    .on_reset = xchg_on_reset,
};

static void on_hop_stream(p2p_stream *s, int err, void *user)
{
	relay_xchg *x = user;
	if (err < 0) {
		reserve_fail(x, err, 0);
		return;
	}
	x->s = s;
	p2p_stream_set_callbacks(s, &reserve_cbs, x);
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_RESERVE;
	int rc = relay_send_msg(s, &m, P2P_RELAY_HOP);
	p2p_relay_msg_free(&m);
	if (rc < 0)
		reserve_fail(x, rc, 0);
}

int p2p_relay_client_reserve(p2p_relay_client *rc, const p2p_peerid *relay,
                             const p2p_buf *addrs, size_t n, p2p_relay_reserve_cb cb,
                             void *user)
{
	if (rc->freeing)
		return P2P_ECLOSED;
	p2p_peerstore *ps = p2p_host_peerstore(rc->host);
	for (size_t i = 0; i < n; i++)
		p2p_peerstore_add_addr(ps, relay, addrs[i].data, addrs[i].len,
		                       P2P_ADDR_MANUAL);
	relay_xchg *x = xchg_new(rc, XCHG_RESERVE, P2P_RELAY_HOP_TIMEOUT_MS);
	if (x == NULL)
		return P2P_ENOMEM;
	x->relay = *relay;
	x->cb = cb;
	x->user = user;
	const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
	int err = p2p_host_new_stream(rc->host, relay, protos, 1, on_hop_stream, x);
	if (err < 0)
		xchg_free(x);
	return err;
}

/* --- accepting circuits (stop) --- */

static void stop_refuse(relay_xchg *x, int status, const char *why)
{
	p2p_relay_client *rc = x->rc;
	rc->refused++;
	p2p_log(logger(rc), P2P_LOG_INFO, "relay: refusing a circuit: %s", why);
	if (x->s && status) {
		p2p_relay_msg m;
		p2p_relay_msg_init(&m);
		m.type = P2P_RELAY_STOP_STATUS;
		m.status = status;
		relay_send_msg(x->s, &m, P2P_RELAY_STOP);
		p2p_relay_msg_free(&m);
	}
	xchg_release(x, status == 0);
}

/* The circuit's pipe names the relay's circuit as its remote address:
 * <relay's address>/p2p/<relay>/p2p-circuit. */
static void circuit_remote_addr(p2p_stream *s, const p2p_peerid *relay, p2p_buf *out)
{
	const p2p_buf *ra = p2p_conn_remote_addr(p2p_stream_conn(s));
	if (p2p_relay_circuit_addr(ra->data, ra->len, relay, out) < 0)
		p2p_buf_reset(out);
}

static void stop_accept(relay_xchg *x, const p2p_relay_msg *m, const uint8_t *rest,
                        size_t rest_len)
{
	p2p_relay_client *rc = x->rc;
	p2p_stream *s = x->s;
	p2p_relay_msg ok;
	p2p_relay_msg_init(&ok);
	ok.type = P2P_RELAY_STOP_STATUS;
	ok.status = P2P_RELAY_STATUS_OK;
	int err = relay_send_msg(s, &ok, P2P_RELAY_STOP);
	p2p_relay_msg_free(&ok);
	p2p_pipe *pipe = NULL;
	if (err == P2P_OK)
		err = relay_stream_to_pipe(s, m, rest, rest_len, &pipe);
	if (err != P2P_OK || pipe == NULL) {
		stop_refuse(x, 0, p2p_strerror(err));
		return;
	}
	/* The stream is the pipe's now. */
	x->s = NULL;
	circuit_remote_addr(s, &x->relay, &pipe->remote_addr);
	p2p_peerid src = m->peer_id;
	xchg_free(x);
	rc->accepted++;
	p2p_host_pipe_opts o = {
	    .initiator = false, .direction = P2P_DIR_INBOUND, .expected = &src};
	err = p2p_host_upgrade_pipe(rc->host, pipe, &o, NULL, NULL);
	if (err < 0)
		p2p_log(logger(rc), P2P_LOG_INFO, "relay: cannot take a circuit: %s",
		        p2p_strerror(err));
}

static void stop_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	relay_xchg *x = user;
	p2p_relay_msg m;
	size_t used = 0;
	int rc = relay_read_msg(&x->rd, P2P_RELAY_STOP, data, len, &used, &m);
	p2p_stream_consume(s, used);
	if (rc == 0)
		return;
	if (rc < 0) {
		stop_refuse(x, P2P_RELAY_STATUS_MALFORMED_MESSAGE, "malformed message");
		return;
	}
	if (m.type != P2P_RELAY_STOP_CONNECT)
		stop_refuse(x, P2P_RELAY_STATUS_UNEXPECTED_MESSAGE, "not a CONNECT");
	else
		stop_accept(x, &m, data + used, len - used);
	p2p_relay_msg_free(&m);
}

static const p2p_stream_callbacks stop_cbs = {
    .on_data = stop_on_data,
    .on_fin = xchg_on_fin,
    .on_reset = xchg_on_reset,
};

static void stop_handler(p2p_stream *s, const char *protocol, void *user)
{
	p2p_relay_client *rc = user;
	const p2p_peerid *relay = p2p_stream_remote_peer(s);
	relay_xchg *x =
	    rc->freeing ? NULL : xchg_new(rc, XCHG_STOP, P2P_RELAY_STOP_TIMEOUT_MS);
	if (x == NULL) {
		p2p_stream_reset(s);
		return;
	}
	x->s = s;
	x->relay = *relay;
	p2p_stream_set_callbacks(s, &stop_cbs, x);
	/* Only relays we hold a reservation with may bring us circuits. */
	if (!held_by(rc, relay))
		stop_refuse(x, P2P_RELAY_STATUS_PERMISSION_DENIED,
		            "no reservation there");
}

/* --- watching connections (relay_client.h) --- */

static void on_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_relay_client *rc = user;
	if (rc->watch_fn && !rc->freeing)
		rc->watch_fn(h, c, rc->watch_user);
}

int relay_client_watch(p2p_relay_client *rc, relay_conn_closed_fn fn, void *user)
{
	if (fn && rc->watch_fn)
		return P2P_ESTATE;
	rc->watch_fn = fn;
	rc->watch_user = fn ? user : NULL;
	return P2P_OK;
}

p2p_host *relay_client_host(const p2p_relay_client *rc)
{
	return rc->host;
}

/* --- lifetime --- */

int p2p_relay_client_new(p2p_relay_client **out, p2p_host *h)
{
	p2p_relay_client *rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return P2P_ENOMEM;
	rc->host = h;
	int err = p2p_host_set_handler(h, P2P_RELAY_STOP_PROTOCOL, stop_handler, rc);
	if (err < 0) {
		free(rc);
		return err;
	}
	/* Never unobserved: like the other services, rc is freed once the
	 * host has closed, when the host is gone. */
	p2p_host_observer obs = {.on_disconnected = on_disconnected};
	err = p2p_host_observe(h, &obs, rc);
	if (err < 0) {
		p2p_host_remove_handler(h, P2P_RELAY_STOP_PROTOCOL);
		free(rc);
		return err;
	}
	uv_timer_init(p2p_host_loop(h), &rc->tick);
	rc->tick.data = rc;
	*out = rc;
	return P2P_OK;
}

static void on_tick_closed(uv_handle_t *h)
{
	free(h->data);
}

void p2p_relay_client_free(p2p_relay_client *rc)
{
	if (rc == NULL)
		return;
	rc->freeing = true;
	/* From a detached list, so that the loop plainly ends (and the
	 * callbacks cannot add to it: freeing refuses new exchanges). */
	relay_xchg *list = rc->xchgs;
	rc->xchgs = NULL;
	while (list) {
		relay_xchg *x = list;
		list = x->next;
		if (x->kind == XCHG_RESERVE && x->cb)
			x->cb(P2P_ECLOSED, 0, NULL, x->user);
		if (x->s) {
			p2p_stream_set_callbacks(x->s, &relay_no_callbacks, NULL);
			p2p_stream_reset(x->s);
		}
		p2p_lpmsg_reader_free(&x->rd);
		free(x);
	}
	uv_close((uv_handle_t *)&rc->tick, on_tick_closed);
}

size_t p2p_relay_client_accepted(const p2p_relay_client *rc)
{
	return rc->accepted;
}

size_t p2p_relay_client_refused(const p2p_relay_client *rc)
{
	return rc->refused;
}

/* --- addresses --- */

int p2p_relay_circuit_addr(const uint8_t *relay_addr, size_t len, const p2p_peerid *relay,
                           p2p_buf *out)
{
	size_t start = out->len;
	const uint8_t *mh;
	size_t mh_len;
	int rc = p2p_buf_append(out, relay_addr, len);
	if (rc == P2P_OK && p2p_multiaddr_peer_id(relay_addr, len, &mh, &mh_len) < 0)
		rc = p2p_multiaddr_append_peer_id(out, relay->bytes, relay->len);
	if (rc == P2P_OK)
		rc = p2p_multiaddr_append(out, P2P_MA_P2P_CIRCUIT, NULL, 0);
	if (rc < 0)
		out->len = start;
	return rc;
}
