/* Outbound: connect to a peer (one dial per peer, addresses in turn,
 * requests coalesced) and open negotiated streams. Every connect result is
 * delivered from the loop (host_defer_connect), never from inside the
 * call that asked for it. */
#include <stdlib.h>
#include <string.h>

#include "host/host_internal.h"
#include "p2p/error.h"
#include "p2p/mss.h"
#include "p2p/multiaddr.h"

static void dial_next(host_dial *d);
static bool is_dns(const p2p_buf *addr);
static int dial_resolve(host_dial *d, const p2p_buf *addr);
static void resolved_clear(host_dial *d);

static host_dial *find_dial(p2p_host *h, const p2p_peerid *peer)
{
	for (host_dial *d = h->dials; d; d = d->next)
		if (p2p_peerid_equal(&d->peer, peer))
			return d;
	return NULL;
}

static void dial_finish(host_dial *d, int err)
{
	p2p_host *h = d->host;
	while (d->waiters) {
		host_waiter *w = d->waiters;
		d->waiters = w->next;
		host_defer_connect(h, &d->peer, err, w->cb, w->user);
		free(w);
	}
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

static void on_outbound_done(p2p_conn *c, int err, void *user)
{
	host_dial *d = user;
	host_conn *hc = d->upgrading;
	d->upgrading = NULL;
	if (err < 0) {
		host_conn_failed(hc);
		d->last_err = err;
		log_dial_error(d, d->current, err);
		dial_next(d);
		return;
	}
	dial_finish(d, host_conn_opened(hc) ? P2P_OK : P2P_ELIMIT);
}

/* Any transport's pipe: upgraded as the initiator, expecting our peer. */
static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	host_dial *d = user;
	p2p_host *h = d->host;
	d->tcp = NULL;
	d->other = NULL;
	d->other_handle = NULL;
	if (err < 0) {
		d->last_err = err;
		log_dial_error(d, d->current, err);
		dial_next(d);
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
		dial_next(d);
		return;
	}
	p2p_upgrade_config cfg = host_upgrade_config(h, true, &d->peer);
	d->upgrading = hc;
	err = p2p_upgrade(&hc->conn, h->loop, pipe, &cfg, &host_conn_callbacks, hc,
	                  on_outbound_done, d);
	if (err < 0) {
		d->upgrading = NULL;
		host_conn_failed(hc);
		d->last_err = err;
		dial_next(d);
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

static void dial_next(host_dial *d)
{
	p2p_host *h = d->host;
	for (;;) {
		if (h->closing) {
			d->last_err = P2P_ECLOSED;
			break;
		}
		const p2p_buf *a;
		if (d->next_resolved < d->n_resolved)
			a = &d->resolved[d->next_resolved++];
		else if (d->next_addr < d->n_addrs)
			a = &d->addrs[d->next_addr++];
		else
			break;
		d->current = a;
		const host_transport *t = find_transport(h, a);
		int rc;
		if (t) {
			d->other = t;
			rc = t->t.dial(t->self, a->data, a->len, &d->peer, on_dialed, d,
			               &d->other_handle);
		} else if (is_dns(a)) {
			rc = dial_resolve(d, a);
		} else {
			rc = p2p_tcp_dial(&d->tcp, h->loop, a->data, a->len,
			                  h->cfg.dial_timeout_ms, on_dialed, d);
		}
		if (rc == P2P_OK)
			return;
		d->tcp = NULL;
		d->other = NULL;
		d->other_handle = NULL;
		d->last_err = rc;
		log_dial_error(d, a, rc);
	}
	dial_finish(d, d->last_err ? d->last_err : P2P_ENOTFOUND);
}

/* --- DNS addresses: resolved when their turn comes (p2p/dns.h); what
 * they stand for is tried next --- */

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
	host_dial *d = user;
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
		log_dial_error(d, d->current, err);
	}
	dial_next(d);
}

static int dial_resolve(host_dial *d, const p2p_buf *addr)
{
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
		rc = p2p_dns_resolve(h->dns, q.data, q.len, on_resolved, d);
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
	/* The callbacks come from the loop and find the host closing. */
	for (host_dial *d = h->dials; d; d = d->next) {
		if (d->tcp)
			p2p_tcp_dial_cancel(d->tcp);
		else if (d->other)
			d->other->t.cancel(d->other->self, d->other_handle);
	}
}

/* Adds addr (without /p2p/) to the dial, unless it names another peer. */
static int dial_add_addr(host_dial *d, const uint8_t *addr, size_t len)
{
	const uint8_t *mh;
	size_t mh_len, prefix;
	int rc = p2p_multiaddr_validate(addr, len);
	if (rc < 0)
		return rc;
	if (p2p_multiaddr_peer_id(addr, len, &mh, &mh_len) == P2P_OK &&
	    (mh_len != d->peer.len || memcmp(mh, d->peer.bytes, mh_len) != 0))
		return P2P_EPEERID;
	rc = p2p_multiaddr_without_peer_id(addr, len, &prefix);
	if (rc < 0 || prefix == 0)
		return rc < 0 ? rc : P2P_EINVAL;
	if (d->n_addrs == P2P_HOST_MAX_DIAL_ADDRS)
		return P2P_OK;
	p2p_buf *b = &d->addrs[d->n_addrs];
	p2p_buf_init(b);
	rc = p2p_buf_append(b, addr, prefix);
	if (rc == P2P_OK)
		d->n_addrs++;
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
	if (d == NULL) {
		if (h->n_dials >= h->cfg.max_pending_outbound ||
		    h->n_open >= h->cfg.max_conns) {
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
		int rc = P2P_OK;
		for (size_t i = 0; i < n && rc == P2P_OK; i++)
			rc = dial_add_addr(d, addrs[i].data, addrs[i].len);
		if (rc == P2P_OK && n == 0) {
			const p2p_buf *known[P2P_HOST_MAX_DIAL_ADDRS];
			size_t k = p2p_peerstore_addrs(h->ps, peer, known, NULL,
			                               P2P_HOST_MAX_DIAL_ADDRS);
			for (size_t i = 0; i < k && i < P2P_HOST_MAX_DIAL_ADDRS; i++)
				dial_add_addr(d, known[i]->data, known[i]->len);
		}
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
			p2p_peerstore_add_addr(h->ps, peer, d->addrs[i].data,
			                       d->addrs[i].len, P2P_ADDR_MANUAL);
		d->next = h->dials;
		if (h->dials)
			h->dials->prev = d;
		h->dials = d;
		h->n_dials++;
		d->waiters = w;
		dial_next(d);
		return P2P_OK;
	}
	w->next = d->waiters;
	d->waiters = w;
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
