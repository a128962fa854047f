/* AutoNAT v1 server policy (autonat.h): what a DIAL request may make us
 * dial, and how often. No I/O: the caller dials and answers.
 *
 * The danger a server guards against is being used to flood a third
 * party: a requester could list a victim's address, and many servers would
 * dial it. So only the IP the requester's connection comes from is ever
 * dialed, never through a relay (whose IP that is), and the rate limiter
 * bounds what any one peer, and everyone together, can make us dial. */
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/splitmix.h"

int p2p_autonat_server_init(p2p_autonat_server *s, const p2p_autonat_server_config *cfg,
                            uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	if (cfg != NULL)
		s->cfg = *cfg;
	if (s->cfg.throttle_peer_max == 0)
		s->cfg.throttle_peer_max = P2P_AUTONAT_THROTTLE_PEER_MAX;
	if (s->cfg.throttle_global == 0)
		s->cfg.throttle_global = P2P_AUTONAT_THROTTLE_GLOBAL;
	if (s->cfg.throttle_reset_ms == 0)
		s->cfg.throttle_reset_ms = P2P_AUTONAT_THROTTLE_RESET_MS;
	if (s->cfg.throttle_jitter_ms == 0)
		s->cfg.throttle_jitter_ms = P2P_AUTONAT_THROTTLE_JITTER_MS;
	s->rng = s->cfg.jitter_seed;
	/* go-libp2p's first window has no jitter either. */
	s->window_end_ms = now_ms + s->cfg.throttle_reset_ms;
	s->peers = calloc(s->cfg.throttle_global, sizeof(*s->peers));
	return s->peers == NULL ? P2P_ENOMEM : P2P_OK;
}

void p2p_autonat_server_free(p2p_autonat_server *s)
{
	free(s->peers);
	memset(s, 0, sizeof(*s));
}

void p2p_autonat_dialback_init(p2p_autonat_dialback *d)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < P2P_AUTONAT_SERVER_MAX_ADDRS; i++)
		p2p_buf_init(&d->addrs[i]);
}

void p2p_autonat_dialback_free(p2p_autonat_dialback *d)
{
	for (size_t i = 0; i < P2P_AUTONAT_SERVER_MAX_ADDRS; i++)
		p2p_buf_free(&d->addrs[i]);
	p2p_autonat_dialback_init(d);
}

static int refuse(p2p_autonat_dialback *d, int status, const char *text)
{
	d->status = status;
	d->text = text;
	d->n_addrs = 0;
	return P2P_OK;
}

/* Every counter starts again once the window is over. The next window
 * follows the last (as go-libp2p's timer ticks) unless we slept through
 * it, and then starts now. */
static void roll_window(p2p_autonat_server *s, uint64_t now_ms)
{
	if (now_ms < s->window_end_ms)
		return;
	s->global = 0;
	s->n_peers = 0;
	uint64_t span = s->cfg.throttle_reset_ms +
	                p2p_splitmix64(&s->rng) % (s->cfg.throttle_jitter_ms + 1);
	s->window_end_ms += span;
	if (s->window_end_ms <= now_ms)
		s->window_end_ms = now_ms + span;
}

/* Counts one dial-back for peer; false if the peer or everyone is over
 * budget. go-libp2p checks both before counting either. */
static bool take(p2p_autonat_server *s, const p2p_peerid *peer, uint64_t now_ms)
{
	roll_window(s, now_ms);
	if (s->global >= s->cfg.throttle_global)
		return false;
	p2p_autonat_peer_count *pc = NULL;
	for (size_t i = 0; i < s->n_peers; i++)
		if (p2p_peerid_equal(&s->peers[i].peer, peer))
			pc = &s->peers[i];
	if (pc != NULL && pc->n >= s->cfg.throttle_peer_max)
		return false;
	if (pc == NULL) {
		/* Room is certain (each entry took at least one global grant);
		 * the check keeps a server that failed init from writing. */
		if (s->peers == NULL || s->n_peers >= s->cfg.throttle_global)
			return false;
		pc = &s->peers[s->n_peers++];
		pc->peer = *peer;
		pc->n = 0;
	}
	pc->n++;
	s->global++;
	return true;
}

/* The length of addr's /ip4|ip6/<ip>/tcp/<port> prefix when that is at
 * exactly ip (the observed address's first component), the port is not 0,
 * and nothing but /p2p/<from> follows; else 0. Anything else (another IP,
 * a relay circuit, another transport) is not ours to dial. */
static size_t dialable(const uint8_t *addr, size_t len, const p2p_multiaddr_component *ip,
                       const p2p_peerid *from)
{
	p2p_multiaddr_component got;
	uint16_t port;
	size_t prefix;
	if (p2p_multiaddr_tcp(addr, len, &got, &port, &prefix) < 0 || port == 0 ||
	    got.code != ip->code || got.value_len != ip->value_len ||
	    memcmp(got.value, ip->value, got.value_len) != 0)
		return 0;
	const uint8_t *mh;
	size_t mh_len;
	if (prefix < len && (p2p_multiaddr_peer_id(addr, len, &mh, &mh_len) < 0 ||
	                     mh_len != from->len || memcmp(mh, from->bytes, mh_len) != 0))
		return 0;
	return prefix;
}

static bool has_circuit(const uint8_t *addr, size_t len)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	int rc;
	while ((rc = p2p_multiaddr_next(addr, len, &off, &c)) == 1)
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return true;
	/* An address we cannot read cannot be vouched for either. */
	return rc != 0;
}

static bool kept(const p2p_autonat_dialback *d, const uint8_t *addr, size_t len)
{
	for (size_t i = 0; i < d->n_addrs; i++)
		if (d->addrs[i].len == len && memcmp(d->addrs[i].data, addr, len) == 0)
			return true;
	return false;
}

/* Fills d->addrs with the request's addresses we may dial. */
static int filter(p2p_autonat_dialback *d, const p2p_autonat_msg *req,
                  const p2p_multiaddr_component *ip, const p2p_peerid *from)
{
	for (size_t i = 0; i < req->n_addrs && d->n_addrs < P2P_AUTONAT_SERVER_MAX_ADDRS;
	     i++) {
		const p2p_buf *a = &req->addrs[i];
		size_t n = dialable(a->data, a->len, ip, from);
		if (n == 0 || kept(d, a->data, n))
			continue;
		p2p_buf *out = &d->addrs[d->n_addrs];
		p2p_buf_reset(out);
		int rc = p2p_buf_append(out, a->data, n);
		if (rc != P2P_OK)
			return rc;
		d->n_addrs++;
	}
	return P2P_OK;
}

int p2p_autonat_server_check(p2p_autonat_server *s, const p2p_autonat_msg *req,
                             const p2p_peerid *from, const uint8_t *observed,
                             size_t observed_len, uint64_t now_ms,
                             p2p_autonat_dialback *d)
{
	if (s == NULL || req == NULL || from == NULL || d == NULL ||
	    (observed == NULL && observed_len > 0))
		return P2P_EINVAL;
	d->status = P2P_AUTONAT_OK;
	d->text = NULL;
	d->n_addrs = 0;
	if (req->type != P2P_AUTONAT_DIAL)
		return P2P_EPROTO;

	if (!req->has_peer)
		return refuse(d, P2P_AUTONAT_E_BAD_REQUEST, "missing peer info");
	if (req->has_peer_id && !req->peer_id_valid)
		return refuse(d, P2P_AUTONAT_E_BAD_REQUEST, "bad peer id");
	/* Someone asking for another peer would make us dial that peer. */
	if (req->has_peer_id && !p2p_peerid_equal(&req->peer_id, from))
		return refuse(d, P2P_AUTONAT_E_BAD_REQUEST, "peer id mismatch");

	/* Through a relay the IP we see is the relay's: nothing to check the
	 * requested addresses against (the spec forbids these). */
	if (has_circuit(observed, observed_len))
		return refuse(d, P2P_AUTONAT_E_DIAL_REFUSED,
		              "refusing to dial peer with blocked observed address");
	size_t off = 0;
	p2p_multiaddr_component ip;
	if (p2p_multiaddr_next(observed, observed_len, &off, &ip) != 1 ||
	    (ip.code != P2P_MA_IP4 && ip.code != P2P_MA_IP6))
		return refuse(d, P2P_AUTONAT_E_INTERNAL_ERROR, "expected an IP address");
	/* A private IP says nothing of reachability from the Internet. */
	if (!s->cfg.allow_private && !p2p_autonat_addr_is_public(observed, observed_len))
		return refuse(d, P2P_AUTONAT_E_DIAL_REFUSED,
		              "refusing to dial peer with blocked observed address");

	int rc = filter(d, req, &ip, from);
	if (rc != P2P_OK)
		return rc;
	if (d->n_addrs == 0)
		return refuse(d, P2P_AUTONAT_E_DIAL_REFUSED, "no dialable addresses");
	if (!take(s, from, now_ms))
		return refuse(d, P2P_AUTONAT_E_DIAL_REFUSED, "too many dials");
	return P2P_OK;
}

int p2p_autonat_server_result(p2p_buf *out, int dial_rc, const uint8_t *addr,
                              size_t addr_len)
{
	if (dial_rc != P2P_OK)
		return p2p_autonat_response_encode(out, P2P_AUTONAT_E_DIAL_ERROR,
		                                   "dial failed", NULL, 0);
	if (addr == NULL || addr_len == 0)
		return p2p_autonat_response_encode(out, P2P_AUTONAT_OK, NULL, NULL, 0);
	/* The requester knows its own ID; the address is what it learns. */
	size_t n;
	int rc = p2p_multiaddr_without_peer_id(addr, addr_len, &n);
	if (rc != P2P_OK)
		return P2P_EINVAL;
	return p2p_autonat_response_encode(out, P2P_AUTONAT_OK, NULL, addr, n);
}
