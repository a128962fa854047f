/* Outbound: connect to a peer (one dial per peer, requests coalesced) and
 * open negotiated streams. A dial runs two lanes (host_internal.h): the
 * direct addresses in turn and, P2P_HOST_RELAY_DIAL_DELAY_MS later or as
 * soon as those are all gone, the /p2p-circuit ones in turn; the first
 * connection wins. Every connect result is delivered from the loop
 * (host_defer_connect), never from inside the call that asked for it.
 * TCP dials leave from our listening port unless cfg.no_reuse_port
 * (p2p_host_dial_port below). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_internal.h"
#include "p2p/error.h"
#include "p2p/mss.h"
#include "p2p/multiaddr.h"

static void lane_next(dial_lane *l);
static bool is_dns(const p2p_buf *addr);
static int dial_resolve(dial_lane *l, const p2p_buf *addr);
static void resolved_clear(host_dial *d);

static bool has_circuit(const uint8_t *addr, size_t len)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	while (p2p_multiaddr_next(addr, len, &off, &c) == 1)
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return true;
	return false;
}

static host_dial *find_dial(p2p_host *h, const p2p_peerid *peer)
{
	/* A dial that is done only waits for its lost attempts to come back. */
	for (host_dial *d = h->dials; d; d = d->next)
		if (!d->done && p2p_peerid_equal(&d->peer, peer))
			return d;
	return NULL;
}

/* --- a dial's lifetime --- */

static bool lane_busy(const dial_lane *l)
{
	return l->tcp || l->other || l->resolving || l->upgrading;
}

/* Stops the lane's attempt in flight, once; its callback follows from the
 * loop with an error (or, past the point of no return, a pipe or a
 * connection, which the callback closes). */
static void lane_cancel(dial_lane *l)
{
	if (l->cancelled || !lane_busy(l))
		return;
	l->cancelled = true;
	if (l->tcp)
		p2p_tcp_dial_cancel(l->tcp);
	else if (l->other)
		l->other->t.cancel(l->other->self, l->other_handle);
	else if (l->upgrading && l->upgrading->conn)
		p2p_conn_close(l->upgrading->conn, P2P_ECLOSED);
	/* A DNS look-up cannot be stopped: it ends by P2P_DNS_DEADLINE_MS, or
	 * with P2P_ECLOSED when the host closes its resolver. */
}

static void on_dial_closed(uv_handle_t *handle)
{
	host_dial *d = handle->data;
	p2p_host *h = d->host;
	if (d->prev)
		d->prev->next = d->next;
	else
		h->dials = d->next;
	if (d->next)
		d->next->prev = d->prev;
	h->n_dials--;
	for (size_t i = 0; i < d->n_addrs; i++)
		p2p_buf_free(&d->addrs[i]);
	resolved_clear(d);
	free(d);
	host_maybe_finish(h);
}

/* Frees the dial once it is done and no lane has an attempt in flight:
 * from its timer's close callback, never under a caller that still
 * holds it. Until then it counts against max_pending_outbound. */
static void dial_release(host_dial *d)
{
	if (!d->done || lane_busy(&d->lanes[HOST_LANE_DIRECT]) ||
	    lane_busy(&d->lanes[HOST_LANE_RELAY]) ||
	    uv_is_closing((uv_handle_t *)&d->timer))
		return;
	uv_close((uv_handle_t *)&d->timer, on_dial_closed);
}

/* Answers the waiters (once) and stops the lane that did not win. */
static void dial_finish(host_dial *d, int err)
{
	p2p_host *h = d->host;
	if (d->done)
		return;
	d->done = true;
	uv_timer_stop(&d->timer);
	while (d->waiters) {
		host_waiter *w = d->waiters;
		d->waiters = w->next;
		host_defer_connect(h, &d->peer, err, w->cb, w->user);
		free(w);
	}
	lane_cancel(&d->lanes[HOST_LANE_DIRECT]);
	lane_cancel(&d->lanes[HOST_LANE_RELAY]);
	dial_release(d);
}

static void log_dial_error(host_dial *d, const p2p_buf *addr, int err)
{
	char id[P2P_PEERID_STR_MAX] = "";
	p2p_peerid_to_string(&d->peer, id, sizeof(id));
	p2p_buf text;
	p2p_buf_init(&text);
	if (p2p_multiaddr_to_string(addr->data, addr->len, &text) < 0)
		p2p_buf_append(&text, "?", 2);
	p2p_log(&d->host->cfg.log, P2P_LOG_INFO, "host: dial %s at %s: %s", id,
	        (const char *)text.data, p2p_strerror(err));
	p2p_buf_free(&text);
}

static void lane_start(dial_lane *l)
{
	l->started = true;
	lane_next(l);
}

/* A lane has no address left: the relay lane starts now rather than at
 * its delay (nothing is left to wait for), and the dial fails once both
 * lanes have. */
static void lane_exhausted(dial_lane *l)
{
	host_dial *d = l->dial;
	dial_lane *relay = &d->lanes[HOST_LANE_RELAY];
	l->exhausted = true;
	if (!relay->started) {
		uv_timer_stop(&d->timer);
		lane_start(relay); /* comes back here if it fails at once */
		return;
	}
	if (d->lanes[HOST_LANE_DIRECT].exhausted && relay->exhausted)
		dial_finish(d, d->last_err ? d->last_err : P2P_ENOTFOUND);
}

static void on_relay_delay(uv_timer_t *t)
{
	host_dial *d = t->data;
	dial_lane *relay = &d->lanes[HOST_LANE_RELAY];
	if (d->done || relay->started)
		return;
	char id[P2P_PEERID_STR_MAX] = "";
	p2p_peerid_to_string(&d->peer, id, sizeof(id));
	p2p_log(&d->host->cfg.log, P2P_LOG_DEBUG,
	        "host: dial %s: no direct connection yet, trying its relay addresses",
	        id);
	lane_start(relay);
}

/* The dial is linked and has its addresses, direct ones first. */
static void dial_start(host_dial *d, size_t n_direct)
{
	uv_timer_init(d->host->loop, &d->timer);
	d->timer.data = d;
	dial_lane *direct = &d->lanes[HOST_LANE_DIRECT];
	dial_lane *relay = &d->lanes[HOST_LANE_RELAY];
	*direct = (dial_lane){.dial = d, .next = 0, .end = n_direct};
	*relay =
	    (dial_lane){.dial = d, .relay = true, .next = n_direct, .end = d->n_addrs};
	if (n_direct == d->n_addrs)
		relay->started = relay->exhausted = true; /* nothing to wait for */
	lane_start(direct); /* may start the relay lane too, if it fails at once */
	if (!relay->started && !d->done)
		uv_timer_start(&d->timer, on_relay_delay, P2P_HOST_RELAY_DIAL_DELAY_MS,
		               0);
}

/* --- one attempt: dial, then upgrade --- */

static void on_outbound_done(p2p_conn *c, int err, void *user)
{
	dial_lane *l = user;
	host_dial *d = l->dial;
	host_conn *hc = l->upgrading;
	l->upgrading = NULL;
	if (err < 0) {
		host_conn_failed(hc);
		if (d->done) {
			dial_release(d);
			return;
		}
		d->last_err = err;
		log_dial_error(d, l->current, err);
		lane_next(l);
		return;
	}
	if (d->done) {
		/* The other lane won first: one connection is enough. Never
		 * opened, it leaves without telling the observers. */
		p2p_conn_close(c, 0);
		dial_release(d);
		return;
	}
	dial_finish(d, host_conn_opened(hc) ? P2P_OK : P2P_ELIMIT);
}

/* Any transport's pipe: upgraded as the initiator, expecting our peer. */
static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	dial_lane *l = user;
	host_dial *d = l->dial;
	p2p_host *h = d->host;
	l->tcp = NULL;
	l->other = NULL;
	l->other_handle = NULL;
	if (d->done) {
		/* The other lane won meanwhile. */
		if (err == P2P_OK)
			p2p_pipe_close(pipe);
		dial_release(d);
		return;
	}
	if (err < 0) {
		d->last_err = err;
		log_dial_error(d, l->current, err);
		lane_next(l);
		return;
	}
	if (h->closing) {
		p2p_pipe_close(pipe);
		dial_finish(d, P2P_ECLOSED);
		return;
	}
	host_conn *hc = host_conn_add(h, NULL, false);
	if (hc == NULL) {
		p2p_pipe_close(pipe);
		d->last_err = P2P_ENOMEM;
		lane_next(l);
		return;
	}
	p2p_upgrade_config cfg = host_upgrade_config(h, true, &d->peer);
	l->upgrading = hc;
	l->cancelled = false; /* the handshake can be stopped in its turn */
	err = p2p_upgrade(&hc->conn, h->loop, pipe, &cfg, &host_conn_callbacks, hc,
	                  on_outbound_done, l);
	if (err < 0) {
		l->upgrading = NULL;
		host_conn_failed(hc);
		d->last_err = err;
		lane_next(l);
	}
}

static const host_transport *find_transport(const p2p_host *h, const p2p_buf *addr)
{
	for (size_t i = 0; i < h->n_transports; i++) {
		const host_transport *t = &h->transports[i];
		if (t->t.can_dial(t->self, addr->data, addr->len))
			return t;
	}
	return NULL;
}

int p2p_host_add_transport(p2p_host *h, const p2p_host_transport *t, void *self)
{
	if (t == NULL || t->can_dial == NULL || t->dial == NULL || t->cancel == NULL)
		return P2P_EINVAL;
	if (h->n_transports == P2P_HOST_MAX_TRANSPORTS)
		return P2P_ELIMIT;
	h->transports[h->n_transports++] = (host_transport){*t, self};
	return P2P_OK;
}

/* --- port reuse (transport.h, p2p_tcp_dial_opts) --- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	return (ntohl(sin->sin_addr.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
}

static bool is_unspecified(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
	return sin->sin_addr.s_addr == htonl(INADDR_ANY);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* The port a TCP dial to addr leaves from: that of one of our listeners
 * of the destination's family, so that a NAT maps the connection to the
 * public port peers can dial back (the one identify tells us they
 * observe), or 0 (ephemeral) if there is none. A wildcard listener is
 * preferred (it takes every interface's connections); a loopback one
 * serves only loopback destinations, as nobody elsewhere reaches it. */
uint16_t p2p_host_dial_port(const p2p_host *h, const uint8_t *addr, size_t addr_len)
{
	struct sockaddr_storage dst;
	socklen_t len;
	if (h->cfg.no_reuse_port ||
	    p2p_multiaddr_to_sockaddr(addr, addr_len, &dst, &len) < 0)
		return 0;
	uint16_t port = 0;
	for (size_t i = 0; i < h->n_listeners; i++) {
		const p2p_buf *la = p2p_tcp_listener_addr(h->listeners[i]);
		struct sockaddr_storage ss;
		if (p2p_multiaddr_to_sockaddr(la->data, la->len, &ss, &len) < 0 ||
		    ss.ss_family != dst.ss_family ||
		    (is_loopback(&ss) && !is_loopback(&dst)))
			continue;
		if (is_unspecified(&ss))
			return port_of(&ss);
		if (port == 0)
			port = port_of(&ss);
	}
	return port;
}

/* Starts the lane's next address, skipping those that fail at once. */
static void lane_next(dial_lane *l)
{
	host_dial *d = l->dial;
	p2p_host *h = d->host;
	for (;;) {
		if (h->closing) {
			d->last_err = P2P_ECLOSED;
			break;
		}
		const p2p_buf *a;
		if (!l->relay && d->next_resolved < d->n_resolved)
			a = &d->resolved[d->next_resolved++];
		else if (l->next < l->end)
			a = &d->addrs[l->next++];
		else
			break;
		l->current = a;
		l->cancelled = false;
		const host_transport *t = find_transport(h, a);
		int rc;
		if (t) {
			l->other = t;
			rc = t->t.dial(t->self, a->data, a->len, &d->peer, on_dialed, l,
			               &l->other_handle);
		} else if (l->relay) {
			/* A circuit is only dialed by a transport for it
			 * (p2p_relay_add_transport); TCP would refuse it anyway. */
			rc = P2P_EUNSUPPORTED;
		} else if (is_dns(a)) {
			rc = dial_resolve(l, a);
		} else {
			p2p_tcp_dial_opts o = {
			    .local_port = p2p_host_dial_port(h, a->data, a->len)};
			rc = p2p_tcp_dial_ex(&l->tcp, h->loop, a->data, a->len,
			                     h->cfg.dial_timeout_ms, &o, on_dialed, l);
		}
		if (rc == P2P_OK)
			return;
		l->tcp = NULL;
		l->other = NULL;
		l->other_handle = NULL;
		l->resolving = false;
		d->last_err = rc;
		log_dial_error(d, a, rc);
	}
	lane_exhausted(l);
}

/* --- DNS addresses (the direct lane's): resolved when their turn comes
 * (p2p/dns.h); what they stand for is tried next --- */

static bool is_dns(const p2p_buf *addr)
{
	p2p_dns_split split;
	return p2p_dns_find(addr->data, addr->len, &split) == 1;
}

static void resolved_clear(host_dial *d)
{
	for (size_t i = 0; i < d->n_resolved; i++)
		p2p_buf_free(&d->resolved[i]);
	d->n_resolved = d->next_resolved = 0;
}

/* Keeps the TCP addresses of our peer (or of no peer in particular),
 * without /p2p/, up to P2P_HOST_MAX_DIAL_ADDRS. */
static void on_resolved(int err, const p2p_buf *addrs, size_t n, void *user)
{
	dial_lane *l = user;
	host_dial *d = l->dial;
	l->resolving = false;
	if (d->done) {
		dial_release(d);
		return;
	}
	resolved_clear(d);
	for (size_t i = 0; i < n && d->n_resolved < P2P_HOST_MAX_DIAL_ADDRS; i++) {
		const uint8_t *mh;
		size_t mh_len, prefix;
		struct sockaddr_storage ss;
		socklen_t sslen;
		if (p2p_multiaddr_peer_id(addrs[i].data, addrs[i].len, &mh, &mh_len) ==
		        P2P_OK &&
		    (mh_len != d->peer.len || memcmp(mh, d->peer.bytes, mh_len) != 0))
			continue;
		if (p2p_multiaddr_without_peer_id(addrs[i].data, addrs[i].len, &prefix) <
		        0 ||
		    p2p_multiaddr_to_sockaddr(addrs[i].data, prefix, &ss, &sslen) < 0)
			continue;
		p2p_buf *b = &d->resolved[d->n_resolved];
		p2p_buf_init(b);
		if (p2p_buf_append(b, addrs[i].data, prefix) == P2P_OK)
			d->n_resolved++;
	}
	if (err == P2P_OK && d->n_resolved == 0)
		err = P2P_EUNSUPPORTED; /* nothing we can dial */
	if (err < 0) {
		d->last_err = err;
		log_dial_error(d, l->current, err);
	}
	lane_next(l);
}

static int dial_resolve(dial_lane *l, const p2p_buf *addr)
{
	host_dial *d = l->dial;
	p2p_host *h = d->host;
	int rc;
	if (h->dns == NULL) {
		p2p_dns_config cfg = {.servers = h->dns_servers};
		rc = p2p_dns_new(&h->dns, h->loop, &cfg);
		if (rc < 0) {
			h->dns = NULL;
			return rc;
		}
	}
	/* With our peer's /p2p/ on the end, /dnsaddr records of other peers
	 * are left out (the suffix rule). */
	p2p_buf q;
	p2p_buf_init(&q);
	rc = p2p_buf_append(&q, addr->data, addr->len);
	if (rc == P2P_OK)
		rc = p2p_multiaddr_append_peer_id(&q, d->peer.bytes, d->peer.len);
	if (rc == P2P_OK)
		rc = p2p_dns_resolve(h->dns, q.data, q.len, on_resolved, l);
	if (rc == P2P_OK)
		l->resolving = true; /* on_resolved runs later, from the loop */
	p2p_buf_free(&q);
	return rc;
}

static void on_dns_closed(void *user)
{
	p2p_host *h = user;
	h->dns = NULL;
	host_maybe_finish(h);
}

void host_dns_close(p2p_host *h)
{
	if (h->dns && !h->dns_closing) {
		h->dns_closing = true;
		p2p_dns_close(h->dns, on_dns_closed, h);
	}
}

void host_dials_cancel(p2p_host *h)
{
	/* The callbacks come from the loop and find the host closing: each
	 * lane then gives up, and a relay lane that had not started starts
	 * and gives up at once. A look-up ends when host_dns_close fails it. */
	for (host_dial *d = h->dials; d; d = d->next) {
		lane_cancel(&d->lanes[HOST_LANE_DIRECT]);
		lane_cancel(&d->lanes[HOST_LANE_RELAY]);
	}
}

/* --- the addresses of a connect --- */

/* Checks addr for a dial to d->peer; *prefix is its length without /p2p/. */
static int dial_check_addr(const host_dial *d, const p2p_buf *addr, size_t *prefix)
{
	const uint8_t *mh;
	size_t mh_len;
	int rc = p2p_multiaddr_validate(addr->data, addr->len);
	if (rc < 0)
		return rc;
	if (p2p_multiaddr_peer_id(addr->data, addr->len, &mh, &mh_len) == P2P_OK &&
	    (mh_len != d->peer.len || memcmp(mh, d->peer.bytes, mh_len) != 0))
		return P2P_EPEERID;
	rc = p2p_multiaddr_without_peer_id(addr->data, addr->len, prefix);
	if (rc < 0 || *prefix == 0)
		return rc < 0 ? rc : P2P_EINVAL;
	return P2P_OK;
}

/* The first addresses of each kind a connect was given (borrowed), before
 * the slots are shared out. */
typedef struct addr_pick {
	const p2p_buf *direct[P2P_HOST_MAX_DIAL_ADDRS];
	const p2p_buf *relay[P2P_HOST_MAX_DIAL_ADDRS];
	size_t n_direct, n_relay;
} addr_pick;

/* Sorts addr into its kind, unless it is invalid or names another peer. */
static int pick_addr(const host_dial *d, addr_pick *p, const p2p_buf *addr)
{
	size_t prefix;
	int rc = dial_check_addr(d, addr, &prefix);
	if (rc < 0)
		return rc;
	if (has_circuit(addr->data, prefix)) {
		if (p->n_relay < P2P_HOST_MAX_DIAL_ADDRS)
			p->relay[p->n_relay++] = addr;
	} else if (p->n_direct < P2P_HOST_MAX_DIAL_ADDRS) {
		p->direct[p->n_direct++] = addr;
	}
	return P2P_OK;
}

static int dial_copy_addr(host_dial *d, const p2p_buf *addr)
{
	size_t prefix;
	int rc = p2p_multiaddr_without_peer_id(addr->data, addr->len, &prefix);
	if (rc < 0)
		return rc;
	p2p_buf *b = &d->addrs[d->n_addrs];
	p2p_buf_init(b);
	rc = p2p_buf_append(b, addr->data, prefix);
	if (rc == P2P_OK)
		d->n_addrs++;
	return rc;
}

/* Copies the picked addresses into d (without /p2p/), the direct ones
 * first, each kind in its order. Past P2P_HOST_MAX_DIAL_ADDRS each kind
 * keeps at least half of the slots if it has that many (a long list of
 * direct addresses must not crowd out the relay a peer behind a NAT is
 * reachable through), and what one kind leaves goes to the other. Sets
 * *n_direct. */
static int dial_take_addrs(host_dial *d, const addr_pick *p, size_t *n_direct)
{
	const size_t cap = P2P_HOST_MAX_DIAL_ADDRS;
	size_t relay = p->n_relay;
	if (p->n_direct + relay > cap && relay > cap / 2)
		relay = p->n_direct >= cap / 2 ? cap / 2 : cap - p->n_direct;
	size_t direct = p->n_direct < cap - relay ? p->n_direct : cap - relay;
	int rc = P2P_OK;
	for (size_t i = 0; i < direct && rc == P2P_OK; i++)
		rc = dial_copy_addr(d, p->direct[i]);
	*n_direct = d->n_addrs;
	for (size_t i = 0; i < relay && rc == P2P_OK; i++)
		rc = dial_copy_addr(d, p->relay[i]);
	return rc;
}

int p2p_host_connect(p2p_host *h, const p2p_peerid *peer, const p2p_buf *addrs, size_t n,
                     p2p_host_connect_cb cb, void *user)
{
	if (h->closing)
		return P2P_ECLOSED;
	if (peer == NULL || cb == NULL || p2p_peerid_equal(peer, &h->id))
		return P2P_EINVAL;
	if (p2p_host_conn(h, peer)) {
		host_defer_connect(h, peer, P2P_OK, cb, user);
		return P2P_OK;
	}
	host_waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return P2P_ENOMEM;
	w->cb = cb;
	w->user = user;
	host_dial *d = find_dial(h, peer);
	if (d) {
		w->next = d->waiters;
		d->waiters = w;
		return P2P_OK;
	}
	if (h->n_dials >= h->cfg.max_pending_outbound || host_conns_full(h)) {
		free(w);
		return P2P_ELIMIT;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		free(w);
		return P2P_ENOMEM;
	}
	d->host = h;
	d->peer = *peer;
	addr_pick pick = {.n_direct = 0};
	int rc = P2P_OK;
	for (size_t i = 0; i < n && rc == P2P_OK; i++)
		rc = pick_addr(d, &pick, &addrs[i]);
	/* All the peerstore has, so that its relay addresses get their share
	 * of the slots; the ones it cannot use are skipped. */
	const p2p_buf *known[P2P_PEERSTORE_MAX_ADDRS];
	if (rc == P2P_OK && n == 0) {
		size_t k = p2p_peerstore_addrs(h->ps, peer, known, NULL,
		                               P2P_PEERSTORE_MAX_ADDRS);
		for (size_t i = 0; i < k && i < P2P_PEERSTORE_MAX_ADDRS; i++)
			pick_addr(d, &pick, known[i]);
	}
	size_t n_direct = 0;
	if (rc == P2P_OK)
		rc = dial_take_addrs(d, &pick, &n_direct);
	if (rc == P2P_OK && d->n_addrs == 0)
		rc = P2P_ENOTFOUND;
	if (rc < 0) {
		for (size_t i = 0; i < d->n_addrs; i++)
			p2p_buf_free(&d->addrs[i]);
		free(d);
		free(w);
		return rc;
	}
	for (size_t i = 0; i < d->n_addrs; i++)
		p2p_peerstore_add_addr(h->ps, peer, d->addrs[i].data, d->addrs[i].len,
		                       P2P_ADDR_MANUAL);
	d->next = h->dials;
	if (h->dials)
		h->dials->prev = d;
	h->dials = d;
	h->n_dials++;
	d->waiters = w;
	dial_start(d, n_direct);
	return P2P_OK;
}

/* --- streams --- */

typedef struct stream_req {
	char *protocols[P2P_MSS_MAX_PROTOCOLS];
	size_t n;
	p2p_host_stream_cb cb;
	void *user;
} stream_req;

static void req_free(stream_req *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->protocols[i]);
	free(r);
}

static void req_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	stream_req *r = user;
	r->cb(err < 0 ? NULL : s, err, r->user);
	req_free(r);
}

static void req_connected(p2p_conn *c, int err, void *user)
{
	stream_req *r = user;
	p2p_stream *s = NULL;
	if (err == P2P_OK)
		err = p2p_conn_open_stream(c, &s);
	if (err == P2P_OK) {
		err = p2p_stream_select(s, true, (const char *const *)r->protocols, r->n,
		                        req_selected, r);
		if (err == P2P_OK)
			return;
		p2p_stream_reset(s);
	}
	r->cb(NULL, err, r->user);
	req_free(r);
}

int p2p_host_new_stream(p2p_host *h, const p2p_peerid *peer, const char *const *protocols,
                        size_t n, p2p_host_stream_cb cb, void *user)
{
	if (n == 0 || n > P2P_MSS_MAX_PROTOCOLS || cb == NULL)
		return P2P_EINVAL;
	stream_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return P2P_ENOMEM;
	r->cb = cb;
	r->user = user;
	for (; r->n < n; r->n++) {
		r->protocols[r->n] = strdup(protocols[r->n]);
		if (r->protocols[r->n] == NULL) {
			req_free(r);
			return P2P_ENOMEM;
		}
	}
	int rc = p2p_host_connect(h, peer, NULL, 0, req_connected, r);
	if (rc < 0)
		req_free(r);
	return rc;
}
