/* Keeping reservations on a few relays (relay.h, "keeping reservations"),
 * as go-libp2p's autorelay does for its static relays.
 *
 * Each relay has one timer, which means, by the relay's state:
 *   - not held, nothing in flight: the next try (first one at once);
 *   - held, nothing in flight: the refresh;
 *   - held, a reserve in flight: the reservation's expiry, which loses it
 *     if the refresh has not come back by then.
 * (Not held with a reserve in flight: the timer is stopped; the reserve
 * ends by itself, relay_client.c gives each one a deadline.)
 *
 * The reserve callback of relay_client cannot be cancelled, so each reserve
 * carries a small heap ticket naming its relay; a relay that stops caring
 * (freed, or its reservation lost meanwhile) detaches the ticket, and the
 * callback then only frees it. A relay's memory goes with its timer's
 * close callback, so nothing the loop still knows points into freed memory.
 *
 * Losing a reservation to a closed connection is seen through the relay
 * client (relay_client_watch) rather than a host observer of our own: the
 * keeper may be freed after the host, when p2p_host_unobserve would touch
 * freed memory, and the client outlives the host's connections anyway. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/rcmgr.h"
#include "p2p/relay.h"
#include "protocols/relay/relay_client.h"
#include "protocols/relay/relay_stream.h"

typedef struct kept_relay kept_relay;

/* One reserve in flight; r is NULL once nobody waits for it. */
typedef struct keeper_ticket {
	kept_relay *r;
} keeper_ticket;

struct kept_relay {
	p2p_relay_keeper *k;
	p2p_peerid id;
	bool automatic; /* offered (autorelay), not added: dropped on failure */
	p2p_buf addr;   /* as added, without /p2p/<relay>; may be empty */
	uv_timer_t timer;
	keeper_ticket *ticket; /* the reserve in flight, or NULL */
	uint64_t backoff_ms;   /* the next failure's delay */
	bool held;
	uint64_t expire; /* unix seconds, when held */
	bool limited;
	uint32_t limit_duration;
	uint64_t limit_data;
	p2p_buf circuits[P2P_RELAY_KEEPER_MAX_ADDRS]; /* when held */
	size_t n_circuits;
};

/* A hop-capable peer offered while every autorelay slot was taken. */
typedef struct keeper_candidate {
	p2p_peerid id;
	p2p_buf addr; /* without /p2p/<id> */
} keeper_candidate;

struct p2p_relay_keeper {
	p2p_relay_client *rc;
	p2p_host *host;
	p2p_relay_keeper_config cfg;
	kept_relay *relays[P2P_RELAY_KEEPER_MAX_RELAYS];
	size_t n_relays;
	size_t n_auto; /* relays[] that are automatic */
	keeper_candidate candidates[P2P_RELAY_KEEPER_MAX_CANDIDATES];
	size_t n_candidates;
	bool closing; /* the host refused a reserve as closed */
};

static const p2p_logger *logger(const p2p_relay_keeper *k)
{
	return p2p_host_logger(k->host);
}

static void on_timer(uv_timer_t *t);

static void arm(kept_relay *r, uint64_t ms)
{
	uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* Runs the user's callback. Always the last thing a path does: the user
 * may free the keeper from it. */
static void emit(kept_relay *r, bool up, int err, int status, uint64_t retry_ms,
                 bool changed)
{
	p2p_relay_keeper *k = r->k;
	if (k->cfg.on_event == NULL)
		return;
	p2p_relay_keeper_event ev = {
	    .relay = &r->id,
	    .up = up,
	    .err = up ? 0 : err,
	    .status = status,
	    .limited = up && r->limited,
	    .limit_duration = up ? r->limit_duration : 0,
	    .limit_data = up ? r->limit_data : 0,
	    .retry_ms = up ? 0 : retry_ms,
	};
	k->cfg.on_event(&ev, changed, k->cfg.user);
}

static void detach(kept_relay *r)
{
	if (r->ticket) {
		r->ticket->r = NULL;
		r->ticket = NULL;
	}
}

static void drop_circuits(kept_relay *r)
{
	for (size_t i = 0; i < r->n_circuits; i++)
		p2p_buf_free(&r->circuits[i]);
	r->n_circuits = 0;
}

/* The reservation failed, could not be refreshed or was lost: forget it
 * and try again after the backoff, unless retry is false. */
static void drop_auto(kept_relay *r);

static void fail_ex(kept_relay *r, int err, int status, bool retry)
{
	p2p_relay_keeper *k = r->k;
	bool was_held = r->held;
	/* A relay we only happened to meet is not worth waiting for: its slot
	 * goes to the next candidate. */
	if (r->automatic)
		retry = false;
	detach(r);
	drop_circuits(r);
	r->held = false;
	uint64_t delay = 0;
	if (retry) {
		delay = r->backoff_ms;
		r->backoff_ms =
		    delay > k->cfg.backoff_max_ms / 2 ? k->cfg.backoff_max_ms : delay * 2;
		arm(r, delay);
	} else {
		uv_timer_stop(&r->timer);
	}
	char id[P2P_PEERID_STR_MAX];
	if (p2p_peerid_to_string(&r->id, id, sizeof id) < 0)
		strcpy(id, "?");
	if (retry)
		p2p_log(logger(k), P2P_LOG_INFO,
		        "relay keeper: %s %s: %s (status %d), again in %llu ms", id,
		        was_held ? "lost" : "not reserved", p2p_strerror(err), status,
		        (unsigned long long)delay);
	else
		p2p_log(logger(k), P2P_LOG_INFO, "relay keeper: %s %s: %s, no retry", id,
		        was_held ? "lost" : "not reserved", p2p_strerror(err));
	if (r->automatic)
		drop_auto(r);
	emit(r, false, err, status, delay, was_held);
}

static void fail(kept_relay *r, int err, int status)
{
	fail_ex(r, err, status, true);
}

/* --- circuit addresses --- */

/* A loopback IP (127.0.0.0/8, ::1, their IPv4-mapped form), read as the
 * resource manager reads an address's IP (rcmgr.h). */
static bool addr_loopback(const uint8_t *a, size_t len)
{
	p2p_rcmgr_ip ip;
	p2p_rcmgr_ip_from_addr(a, len, &ip);
	return ip.loopback;
}

/* True for an address we would not give out: a circuit itself, an
 * unspecified IP (0.0.0.0, ::), which a relay listening on every
 * interface may report, or, unless loopback_ok, a loopback one, which
 * reaches the relay only from its own machine. */
static bool addr_unfit(const uint8_t *a, size_t len, bool loopback_ok)
{
	static const uint8_t zero[16];
	size_t off = 0;
	p2p_multiaddr_component c;
	int rc;
	while ((rc = p2p_multiaddr_next(a, len, &off, &c)) == 1) {
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return true;
		if ((c.code == P2P_MA_IP4 || c.code == P2P_MA_IP6) &&
		    c.value_len <= sizeof zero && memcmp(c.value, zero, c.value_len) == 0)
			return true;
	}
	return rc < 0 || (!loopback_ok && addr_loopback(a, len));
}

static bool have_circuit(const p2p_buf *list, size_t n, const p2p_buf *b)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].len == b->len && memcmp(list[i].data, b->data, b->len) == 0)
			return true;
	return false;
}

/* Adds <a>/p2p/<relay>/p2p-circuit to list unless it is unfit or there
 * already. */
static int add_circuit(const kept_relay *r, p2p_buf *list, size_t *n, const uint8_t *a,
                       size_t len, bool loopback_ok)
{
	if (len == 0 || *n == P2P_RELAY_KEEPER_MAX_ADDRS ||
	    addr_unfit(a, len, loopback_ok))
		return P2P_OK;
	p2p_buf b;
	p2p_buf_init(&b);
	int err = p2p_relay_circuit_addr(a, len, &r->id, &b);
	if (err < 0 || have_circuit(list, *n, &b)) {
		p2p_buf_free(&b);
		return err;
	}
	p2p_buf_init(&list[*n]);
	p2p_buf_move(&list[(*n)++], &b);
	return P2P_OK;
}

/* The circuit addresses of reservation res into list (initialised here):
 * the address the relay was added by first, then the relay's own. */
static int build_circuits(const kept_relay *r, const p2p_relay_reservation *res,
                          p2p_buf *list, size_t *n)
{
	*n = 0;
	/* A relay added by a loopback address is on our machine: its loopback
	 * addresses are of use then, and only then. */
	bool loopback_ok = addr_loopback(r->addr.data, r->addr.len);
	int err = add_circuit(r, list, n, r->addr.data, r->addr.len, loopback_ok);
	for (size_t i = 0; err == P2P_OK && i < res->n_addrs; i++) {
		const p2p_buf *a = &res->addrs[i];
		size_t prefix;
		/* Relays may or may not end their addresses with /p2p/ (ours
		 * do not); compare and rebuild without it. */
		if (p2p_multiaddr_without_peer_id(a->data, a->len, &prefix) < 0)
			continue;
		err = add_circuit(r, list, n, a->data, prefix, loopback_ok);
	}
	if (err < 0) {
		for (size_t i = 0; i < *n; i++)
			p2p_buf_free(&list[i]);
		*n = 0;
	}
	return err;
}

static bool same_circuits(const kept_relay *r, const p2p_buf *list, size_t n)
{
	if (n != r->n_circuits)
		return false;
	for (size_t i = 0; i < n; i++)
		if (list[i].len != r->circuits[i].len ||
		    memcmp(list[i].data, r->circuits[i].data, list[i].len) != 0)
			return false;
	return true;
}

/* --- reserving --- */

/* A relay's expire is whatever it sent: keep the product in range (a
 * century is as good as forever here). */
static uint64_t secs_to_ms(uint64_t s)
{
	return s > UINT32_MAX ? (uint64_t)UINT32_MAX * 1000 : s * 1000;
}

/* When to refresh a reservation that lasts life_s more seconds: at half
 * its life or SLACK before it ends, whichever is sooner, but not before a
 * quarter of it has passed. The floor matters for reservations of about
 * SLACK or shorter (a relay may grant those), where "SLACK before" would
 * mean at once and a relay would be asked again and again. */
static uint64_t refresh_delay_ms(uint64_t life_s)
{
	uint64_t life = secs_to_ms(life_s),
	         slack = P2P_RELAY_KEEPER_REFRESH_SLACK_S * 1000;
	uint64_t at = life / 2;
	if (life > slack && life - slack < at)
		at = life - slack;
	if (at < life / 4)
		at = life / 4;
	return at;
}

static void hold(kept_relay *r, const p2p_relay_reservation *res)
{
	p2p_relay_keeper *k = r->k;
	uint64_t now = relay_unix_now();
	if (res->expire <= now) {
		/* Our clocks disagree, or the relay is broken: it would be
		 * refreshed at once and again; treat it as a failure. */
		fail(r, P2P_ETIMEDOUT, 0);
		return;
	}
	p2p_buf list[P2P_RELAY_KEEPER_MAX_ADDRS];
	size_t n;
	int err = build_circuits(r, res, list, &n);
	if (err < 0) {
		fail(r, err, 0);
		return;
	}
	bool changed = !r->held || !same_circuits(r, list, n);
	drop_circuits(r);
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&r->circuits[i]);
		p2p_buf_move(&r->circuits[i], &list[i]);
	}
	r->n_circuits = n;
	r->held = true;
	r->expire = res->expire;
	r->limited = res->limited;
	r->limit_duration = res->limit_duration;
	r->limit_data = res->limit_data;
	r->backoff_ms = k->cfg.backoff_min_ms;
	arm(r, refresh_delay_ms(res->expire - now));
	emit(r, true, 0, P2P_RELAY_STATUS_OK, 0, changed);
}

static void on_reserved(int err, int status, const p2p_relay_reservation *res, void *user)
{
	keeper_ticket *t = user;
	kept_relay *r = t->r;
	free(t);
	if (r == NULL) /* the keeper, or this relay's interest, is gone */
		return;
	r->ticket = NULL;
	if (err < 0)
		fail(r, err, status);
	else
		hold(r, res);
}

static void attempt(kept_relay *r)
{
	p2p_relay_keeper *k = r->k;
	keeper_ticket *t = malloc(sizeof(*t));
	if (t == NULL) {
		fail(r, P2P_ENOMEM, 0);
		return;
	}
	t->r = r;
	r->ticket = t;
	/* The address we were given seeds the peerstore every time: the
	 * host may have forgotten it since. */
	int err = p2p_relay_client_reserve(k->rc, &r->id, &r->addr, r->addr.len ? 1 : 0,
	                                   on_reserved, t);
	if (err < 0) {
		r->ticket = NULL;
		free(t);
		/* At once P2P_ECLOSED: the host is closing, and trying again
		 * would only keep the loop alive past it. */
		if (err == P2P_ECLOSED)
			k->closing = true;
		fail_ex(r, err, 0, err != P2P_ECLOSED);
		return;
	}
	if (r->held) {
		uint64_t now = relay_unix_now();
		arm(r, r->expire > now ? secs_to_ms(r->expire - now) : 0);
	}
}

static void on_timer(uv_timer_t *timer)
{
	kept_relay *r = timer->data;
	/* With a reserve in flight, the expiry came before the refresh's
	 * answer; without, the refresh timer fired late (a suspended
	 * machine) and what we held is gone already. */
	if (r->ticket || (r->held && relay_unix_now() >= r->expire)) {
		fail(r, P2P_ETIMEDOUT, 0);
	} else {
		attempt(r);
	}
}

static kept_relay *find(const p2p_relay_keeper *k, const p2p_peerid *id)
{
	for (size_t i = 0; i < k->n_relays; i++)
		if (p2p_peerid_equal(&k->relays[i]->id, id))
			return k->relays[i];
	return NULL;
}

/* The relay ends a reservation with the last connection of its peer
 * (relay_service.c on_disconnected); we judge it by the same rule. */
static void on_conn_closed(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_relay_keeper *k = user;
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	kept_relay *r = find(k, peer);
	if (r == NULL || !r->held)
		return;
	p2p_conn *other = p2p_host_conn(h, peer);
	if (other != NULL && other != c)
		return;
	fail(r, P2P_ECLOSED, 0);
}

/* --- lifetime --- */

int p2p_relay_keeper_new(p2p_relay_keeper **out, p2p_relay_client *rc,
                         const p2p_relay_keeper_config *cfg)
{
	if (out == NULL || rc == NULL)
		return P2P_EINVAL;
	p2p_relay_keeper *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return P2P_ENOMEM;
	k->rc = rc;
	k->host = relay_client_host(rc);
	if (cfg)
		k->cfg = *cfg;
	if (k->cfg.backoff_min_ms == 0)
		k->cfg.backoff_min_ms = P2P_RELAY_KEEPER_BACKOFF_MIN_MS;
	if (k->cfg.backoff_max_ms == 0)
		k->cfg.backoff_max_ms = P2P_RELAY_KEEPER_BACKOFF_MAX_MS;
	if (k->cfg.backoff_max_ms < k->cfg.backoff_min_ms)
		k->cfg.backoff_max_ms = k->cfg.backoff_min_ms;
	int err = relay_client_watch(rc, on_conn_closed, k);
	if (err < 0) {
		free(k);
		return err;
	}
	*out = k;
	return P2P_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
	kept_relay *r = h->data;
	drop_circuits(r);
	p2p_buf_free(&r->addr);
	free(r);
}

void p2p_relay_keeper_free(p2p_relay_keeper *k)
{
	if (k == NULL)
		return;
	/* Touches rc, never the host, which may be gone already. */
	relay_client_watch(k->rc, NULL, NULL);
	for (size_t i = 0; i < k->n_relays; i++) {
		kept_relay *r = k->relays[i];
		detach(r);
		r->k = NULL;
		uv_close((uv_handle_t *)&r->timer, on_timer_closed);
	}
	for (size_t i = 0; i < k->n_candidates; i++)
		p2p_buf_free(&k->candidates[i].addr);
	free(k);
}

/* Starts keeping the relay id, reached at addr (without /p2p/). */
static int add_relay(p2p_relay_keeper *k, const p2p_peerid *id, const uint8_t *addr,
                     size_t len, bool automatic)
{
	if (k->n_relays == P2P_RELAY_KEEPER_MAX_RELAYS)
		return P2P_ELIMIT;
	kept_relay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return P2P_ENOMEM;
	p2p_buf_init(&r->addr);
	if (p2p_buf_append(&r->addr, addr, len) < 0) {
		free(r);
		return P2P_ENOMEM;
	}
	/* Our connection to a relay carries no stream between refreshes: the
	 * connection manager must not take an inbound one for idle. */
	if (p2p_host_protect(k->host, id, true) < 0) {
		p2p_buf_free(&r->addr);
		free(r);
		return P2P_ENOMEM;
	}
	r->k = k;
	r->id = *id;
	r->automatic = automatic;
	k->n_auto += automatic;
	r->backoff_ms = k->cfg.backoff_min_ms;
	uv_timer_init(p2p_host_loop(k->host), &r->timer);
	r->timer.data = r;
	k->relays[k->n_relays++] = r;
	/* From the loop, so that every event comes from there too. */
	arm(r, 0);
	return P2P_OK;
}

/* Reads addr (binary, ending in /p2p/<id>) into id and the length of the
 * part before /p2p/. */
static int split_addr(const uint8_t *addr, size_t len, p2p_peerid *id, size_t *prefix)
{
	const uint8_t *mh;
	size_t mh_len;
	if (addr == NULL || p2p_multiaddr_validate(addr, len) < 0 ||
	    p2p_multiaddr_peer_id(addr, len, &mh, &mh_len) < 0 ||
	    p2p_peerid_from_bytes(id, mh, mh_len) < 0 ||
	    p2p_multiaddr_without_peer_id(addr, len, prefix) < 0)
		return P2P_EINVAL;
	return P2P_OK;
}

int p2p_relay_keeper_add(p2p_relay_keeper *k, const uint8_t *addr, size_t len)
{
	p2p_peerid id;
	size_t prefix;
	if (split_addr(addr, len, &id, &prefix) < 0)
		return P2P_EINVAL;
	if (p2p_peerid_equal(&id, p2p_host_peer_id(k->host)))
		return P2P_EINVAL; /* no reserving on ourselves */
	if (find(k, &id))
		return P2P_ESTATE;
	return add_relay(k, &id, addr, prefix, false);
}

/* --- autorelay --- */

static void drop_candidate(p2p_relay_keeper *k, size_t i)
{
	p2p_buf_free(&k->candidates[i].addr);
	memmove(&k->candidates[i], &k->candidates[i + 1],
	        (k->n_candidates - i - 1) * sizeof(k->candidates[0]));
	k->n_candidates--;
}

/* Fills free autorelay slots from the candidates, oldest offer first. */
static void promote(p2p_relay_keeper *k)
{
	while (!k->closing && k->n_candidates > 0 && k->n_auto < k->cfg.auto_max &&
	       k->n_relays < P2P_RELAY_KEEPER_MAX_RELAYS) {
		keeper_candidate c = k->candidates[0];
		p2p_buf_init(&k->candidates[0].addr); /* c owns the bytes now */
		drop_candidate(k, 0);
		(void)add_relay(k, &c.id, c.addr.data, c.addr.len, true);
		p2p_buf_free(&c.addr);
	}
}

/* An automatic relay failed: it leaves the keeper (its memory goes with
 * its timer, after the caller's last event) and its slot is refilled. */
static void drop_auto(kept_relay *r)
{
	p2p_relay_keeper *k = r->k;
	for (size_t i = 0; i < k->n_relays; i++) {
		if (k->relays[i] != r)
			continue;
		memmove(&k->relays[i], &k->relays[i + 1],
		        (k->n_relays - i - 1) * sizeof(k->relays[0]));
		k->n_relays--;
		k->n_auto--;
		break;
	}
	detach(r);
	if (!k->closing)
		(void)p2p_host_protect(k->host, &r->id, false);
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
	promote(k);
}

int p2p_relay_keeper_offer(p2p_relay_keeper *k, const p2p_peerid *peer,
                           const uint8_t *addr, size_t len)
{
	if (k == NULL || peer == NULL || addr == NULL || len == 0 ||
	    p2p_multiaddr_validate(addr, len) < 0)
		return P2P_EINVAL;
	if (k->cfg.auto_max == 0)
		return P2P_ESTATE;
	if (p2p_peerid_equal(peer, p2p_host_peer_id(k->host)) ||
	    addr_unfit(addr, len, true))
		return P2P_EINVAL;
	/* The connection's remote address has no /p2p/; allow one all the same. */
	size_t prefix = len;
	const uint8_t *mh;
	size_t mh_len;
	if (p2p_multiaddr_peer_id(addr, len, &mh, &mh_len) == P2P_OK &&
	    p2p_multiaddr_without_peer_id(addr, len, &prefix) < 0)
		return P2P_EINVAL;
	if (find(k, peer))
		return P2P_ESTATE;
	for (size_t i = 0; i < k->n_candidates; i++)
		if (p2p_peerid_equal(&k->candidates[i].id, peer))
			return P2P_ESTATE;
	if (k->n_auto < k->cfg.auto_max && k->n_relays < P2P_RELAY_KEEPER_MAX_RELAYS)
		return add_relay(k, peer, addr, prefix, true);
	if (k->n_candidates == P2P_RELAY_KEEPER_MAX_CANDIDATES)
		return P2P_ELIMIT;
	keeper_candidate *c = &k->candidates[k->n_candidates];
	p2p_buf_init(&c->addr);
	if (p2p_buf_append(&c->addr, addr, prefix) < 0)
		return P2P_ENOMEM;
	c->id = *peer;
	k->n_candidates++;
	return P2P_OK;
}

size_t p2p_relay_keeper_addrs(const p2p_relay_keeper *k, p2p_buf *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < k->n_relays; i++) {
		const kept_relay *r = k->relays[i];
		if (!r->held)
			continue;
		for (size_t j = 0; j < r->n_circuits; j++, n++) {
			if (n >= max)
				continue;
			p2p_buf_reset(&out[n]);
			p2p_buf_append(&out[n], r->circuits[j].data, r->circuits[j].len);
		}
	}
	return n;
}

size_t p2p_relay_keeper_held(const p2p_relay_keeper *k)
{
	size_t n = 0;
	for (size_t i = 0; i < k->n_relays; i++)
		n += k->relays[i]->held;
	return n;
}
