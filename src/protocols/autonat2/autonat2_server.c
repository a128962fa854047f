/* AutoNAT v2 server policy (autonat2.h): go-libp2p's rateLimiter (a
 * sliding window over grant times, globally, per peer and for dial data,
 * with a cap on concurrent requests per peer), the choice of the one
 * address to dial, whether dial data is due, and counting it. All the
 * memory is taken at init: a flood of peers finds the tables full, it
 * does not grow them. */
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/autonat2.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

/* ---- the sliding windows ---- */

/* A grant at t still counts at now. A clock that went back (now < t)
 * keeps it: the window errs on the side of refusing. */
static bool in_window(uint64_t t, uint64_t now)
{
	return now < t || now - t < P2P_AUTONAT2_WINDOW_MS;
}

/* Drops the expired grants at the front of times[0..*n) (oldest first). */
static void expire(uint64_t *times, size_t *n, uint64_t now)
{
	size_t k = 0;
	while (k < *n && !in_window(times[k], now))
		k++;
	if (k == 0)
		return;
	memmove(times, times + k, (*n - k) * sizeof(*times));
	*n -= k;
}

/* Removes entry i; its slot block moves with it (each entry keeps the
 * block it was given at init, only the order changes). */
static void drop_peer(p2p_autonat2_server *s, size_t i)
{
	p2p_autonat2_peer_reqs tmp = s->peers[i];
	s->peers[i] = s->peers[s->n_peers - 1];
	s->peers[s->n_peers - 1] = tmp;
	s->n_peers--;
}

static void cleanup(p2p_autonat2_server *s, uint64_t now)
{
	expire(s->global, &s->n_global, now);
	expire(s->data, &s->n_data, now);
	for (size_t i = s->n_peers; i-- > 0;) {
		p2p_autonat2_peer_reqs *e = &s->peers[i];
		expire(e->times, &e->n_times, now);
		if (e->n_times == 0 && e->in_progress == 0)
			drop_peer(s, i);
	}
}

static p2p_autonat2_peer_reqs *find_peer(p2p_autonat2_server *s, const p2p_peerid *peer)
{
	for (size_t i = 0; i < s->n_peers; i++)
		if (p2p_peerid_equal(&s->peers[i].peer, peer))
			return &s->peers[i];
	return NULL;
}

int p2p_autonat2_server_init(p2p_autonat2_server *s,
                             const p2p_autonat2_server_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (cfg != NULL)
		s->cfg = *cfg;
	if (s->cfg.rpm == 0)
		s->cfg.rpm = P2P_AUTONAT2_SERVER_RPM;
	if (s->cfg.per_peer_rpm == 0)
		s->cfg.per_peer_rpm = P2P_AUTONAT2_SERVER_PER_PEER_RPM;
	if (s->cfg.dial_data_rpm == 0)
		s->cfg.dial_data_rpm = P2P_AUTONAT2_SERVER_DIAL_DATA_RPM;
	if (s->cfg.max_concurrent == 0)
		s->cfg.max_concurrent = P2P_AUTONAT2_SERVER_MAX_CONCURRENT;
	size_t rpm = s->cfg.rpm, per_peer = s->cfg.per_peer_rpm;
	/* The per-peer table and its slot blocks in one allocation (the
	 * blocks after the entries, aligned for uint64_t), so that entries
	 * can swap places and one free releases it all. */
	if (rpm > SIZE_MAX / 2 / sizeof(*s->peers))
		return P2P_ENOMEM;
	size_t head = rpm * sizeof(*s->peers);
	head = (head + sizeof(uint64_t) - 1) / sizeof(uint64_t) * sizeof(uint64_t);
	if (per_peer > (SIZE_MAX - head) / sizeof(uint64_t) / rpm)
		return P2P_ENOMEM;
	s->global = calloc(rpm, sizeof(*s->global));
	s->data = calloc(s->cfg.dial_data_rpm, sizeof(*s->data));
	unsigned char *block = calloc(1, head + rpm * per_peer * sizeof(uint64_t));
	if (s->global == NULL || s->data == NULL || block == NULL) {
		free(block);
		p2p_autonat2_server_free(s);
		return P2P_ENOMEM;
	}
	s->peers = (p2p_autonat2_peer_reqs *)(void *)block;
	uint64_t *slots = (uint64_t *)(void *)(block + head);
	for (size_t i = 0; i < rpm; i++)
		s->peers[i].times = slots + i * per_peer;
	return P2P_OK;
}

void p2p_autonat2_server_free(p2p_autonat2_server *s)
{
	free(s->global);
	free(s->data);
	free(s->peers);
	memset(s, 0, sizeof(*s));
}

int p2p_autonat2_server_accept(p2p_autonat2_server *s, const p2p_peerid *peer,
                               uint64_t now_ms)
{
	if (s->peers == NULL || peer == NULL)
		return P2P_EINVAL;
	cleanup(s, now_ms);
	p2p_autonat2_peer_reqs *e = find_peer(s, peer);
	if (e != NULL && e->in_progress >= s->cfg.max_concurrent)
		return P2P_ELIMIT;
	if (s->n_global >= s->cfg.rpm)
		return P2P_ELIMIT;
	if (e != NULL && e->n_times >= s->cfg.per_peer_rpm)
		return P2P_ELIMIT;
	if (e == NULL) {
		/* Full only when rpm peers each hold a request that outlived
		 * its grant: refusing is the bound. */
		if (s->n_peers >= s->cfg.rpm)
			return P2P_ELIMIT;
		e = &s->peers[s->n_peers++];
		e->peer = *peer;
		e->n_times = 0;
		e->in_progress = 0;
	}
	e->in_progress++;
	e->times[e->n_times++] = now_ms;
	s->global[s->n_global++] = now_ms;
	return P2P_OK;
}

void p2p_autonat2_server_done(p2p_autonat2_server *s, const p2p_peerid *peer)
{
	if (s->peers == NULL || peer == NULL)
		return;
	p2p_autonat2_peer_reqs *e = find_peer(s, peer);
	if (e == NULL || e->in_progress == 0)
		return;
	e->in_progress--;
	if (e->in_progress == 0 && e->n_times == 0)
		drop_peer(s, (size_t)(e - s->peers));
}

/* ---- choosing the address ---- */

void p2p_autonat2_decision_init(p2p_autonat2_decision *d)
{
	memset(d, 0, sizeof(*d));
	p2p_buf_init(&d->addr);
}

void p2p_autonat2_decision_free(p2p_autonat2_decision *d)
{
	p2p_buf_free(&d->addr);
	p2p_autonat2_decision_init(d);
}

/* An IP component as 16 bytes, IPv4 as IPv4-mapped IPv6 (as Go's net.IP),
 * so that /ip4/1.2.3.4 and /ip6/::ffff:1.2.3.4 are one IP. */
static bool ip16(const p2p_multiaddr_component *c, uint8_t out[16])
{
	if (c->code == P2P_MA_IP6 && c->value_len == 16) {
		memcpy(out, c->value, 16);
		return true;
	}
	if (c->code == P2P_MA_IP4 && c->value_len == 4) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
		                                   0, 0, 0, 0, 0xff, 0xff};
		memcpy(out, mapped, 12);
		memcpy(out + 12, c->value, 4);
		return true;
	}
	return false;
}

static bool is_v4_mapped(const uint8_t ip[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(ip, mapped, 12) == 0;
}

/* Unspecified (0.0.0.0, ::) would dial ourselves and multicast nothing
 * that answers a TCP SYN: refused even when private addresses are not. */
static bool dialable_any(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	if (is_v4_mapped(ip))
		return !(ip[12] == 0 && ip[13] == 0 && ip[14] == 0 && ip[15] == 0) &&
		       (ip[12] & 0xf0) != 0xe0;
	return memcmp(ip, zero, 16) != 0 && ip[0] != 0xff;
}

/* Whether req->addrs[i] may be dialed for `from`; *prefix_len: its length
 * without /p2p/, *ip its IP as 16 bytes. */
static bool acceptable(const p2p_autonat2_server *s, const p2p_buf *a,
                       const p2p_peerid *from, size_t *prefix_len, uint8_t ip[16])
{
	p2p_multiaddr_component c;
	uint16_t port;
	if (a->len == 0 || p2p_multiaddr_validate(a->data, a->len) != P2P_OK ||
	    p2p_multiaddr_tcp(a->data, a->len, &c, &port, prefix_len) != P2P_OK ||
	    port == 0 || !ip16(&c, ip))
		return false;
	if (*prefix_len < a->len) {
		/* The server dials the peer that asked and no one else. */
		const uint8_t *mh;
		size_t mh_len;
		if (p2p_multiaddr_peer_id(a->data, a->len, &mh, &mh_len) != P2P_OK ||
		    mh_len != from->len || memcmp(mh, from->bytes, mh_len) != 0)
			return false;
	}
	if (s->cfg.allow_private)
		return dialable_any(ip);
	return p2p_autonat_addr_is_public(a->data, *prefix_len);
}

/* Whether dialing ip costs dial data: it is not the IP the request came
 * from, or we cannot tell (a relayed connection, no IP, garbage). */
static bool data_due(const uint8_t ip[16], const uint8_t *observed, size_t observed_len)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	uint8_t obs[16];
	if (observed == NULL ||
	    p2p_multiaddr_next(observed, observed_len, &off, &c) != 1 || !ip16(&c, obs) ||
	    memcmp(obs, ip, 16) != 0)
		return true;
	int rc;
	while ((rc = p2p_multiaddr_next(observed, observed_len, &off, &c)) == 1)
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return true;
	return rc != 0;
}

int p2p_autonat2_server_select(p2p_autonat2_server *s, const p2p_autonat2_msg *req,
                               const p2p_peerid *from, const uint8_t *observed,
                               size_t observed_len, uint64_t now_ms, uint64_t rnd,
                               p2p_autonat2_decision *d)
{
	if (s->peers == NULL || req == NULL || from == NULL || d == NULL)
		return P2P_EINVAL;
	p2p_buf_reset(&d->addr);
	d->status = P2P_AUTONAT2_E_DIAL_REFUSED;
	d->why = "no address the server would dial";
	d->addr_idx = 0;
	d->num_bytes = 0;
	if (req->type != P2P_AUTONAT2_DIAL_REQUEST)
		return P2P_EPROTO;
	size_t n =
	    req->n_addrs < P2P_AUTONAT2_MAX_ADDRS ? req->n_addrs : P2P_AUTONAT2_MAX_ADDRS;
	for (size_t i = 0; i < n; i++) {
		const p2p_buf *a = &req->addrs[i];
		size_t prefix_len;
		uint8_t ip[16];
		if (!acceptable(s, a, from, &prefix_len, ip))
			continue;
		int rc = p2p_buf_append(&d->addr, a->data, prefix_len);
		if (rc != P2P_OK)
			return rc;
		if (data_due(ip, observed, observed_len)) {
			cleanup(s, now_ms);
			if (s->n_data >= s->cfg.dial_data_rpm) {
				p2p_buf_reset(&d->addr);
				d->status = P2P_AUTONAT2_E_REQUEST_REJECTED;
				d->why = "dial data rate limit";
				return P2P_OK;
			}
			s->data[s->n_data++] = now_ms;
			d->num_bytes = P2P_AUTONAT2_MIN_DIAL_DATA +
			               rnd % (P2P_AUTONAT2_MAX_DIAL_DATA -
			                      P2P_AUTONAT2_MIN_DIAL_DATA);
		}
		d->status = P2P_AUTONAT2_OK;
		d->why = NULL;
		d->addr_idx = (uint32_t)i;
		return P2P_OK;
	}
	return P2P_OK;
}

/* ---- dial data ---- */

int p2p_autonat2_server_data(uint64_t *remain, const p2p_autonat2_msg *m)
{
	if (remain == NULL || m == NULL || m->type != P2P_AUTONAT2_DIAL_DATA_RESPONSE)
		return P2P_EPROTO;
	/* Only the data field counts (the spec); the last chunk may overshoot
	 * (a client reuses one serialized chunk) and may be small. */
	if (m->data_len >= *remain) {
		*remain = 0;
		return P2P_OK;
	}
	/* Many tiny chunks would cost us a decode each for little data. */
	if (m->data_len < P2P_AUTONAT2_MIN_DATA_CHUNK)
		return P2P_EPROTO;
	*remain -= m->data_len;
	return P2P_EAGAIN;
}
