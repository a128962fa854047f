/* Observed addresses (obsaddr.h): a small fixed table, scanned linearly.
 * Sixteen addresses of eight observers each is what one host ever needs
 * (one per NAT mapping and listen port), so no index is worth its code. */
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/obsaddr.h"

void p2p_obsaddr_init(p2p_obsaddr *t)
{
	memset(t, 0, sizeof(*t));
}

/* The length of the /ip4|ip6/<ip>/tcp/<port> prefix of addr, or 0 when
 * addr is not that (optionally followed by /p2p/<id>), or its IP is
 * unspecified or its port 0. */
static size_t tcp_prefix(const uint8_t *addr, size_t len)
{
	static const uint8_t zero[16];
	p2p_multiaddr_component ip;
	uint16_t port;
	size_t prefix;
	if (p2p_multiaddr_tcp(addr, len, &ip, &port, &prefix) < 0 || port == 0 ||
	    memcmp(ip.value, zero, ip.value_len) == 0)
		return 0;
	return prefix;
}

static bool live(const p2p_obsaddr_observer *o, uint64_t now_ms)
{
	return now_ms - o->seen_ms < P2P_OBSADDR_TTL_MS;
}

/* Forgets the expired observers of e; returns how many are left. */
static size_t prune_entry(p2p_obsaddr_entry *e, uint64_t now_ms)
{
	size_t kept = 0;
	for (size_t i = 0; i < e->n_observers; i++)
		if (live(&e->observers[i], now_ms))
			e->observers[kept++] = e->observers[i];
	e->n_observers = kept;
	return kept;
}

static void prune(p2p_obsaddr *t, uint64_t now_ms)
{
	size_t kept = 0;
	for (size_t i = 0; i < t->n; i++)
		if (prune_entry(&t->entries[i], now_ms) > 0)
			t->entries[kept++] = t->entries[i];
	t->n = kept;
}

static uint64_t last_seen(const p2p_obsaddr_entry *e)
{
	uint64_t last = 0;
	for (size_t i = 0; i < e->n_observers; i++)
		if (e->observers[i].seen_ms > last)
			last = e->observers[i].seen_ms;
	return last;
}

static p2p_obsaddr_entry *find(p2p_obsaddr *t, const uint8_t *addr, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->entries[i].addr_len == len &&
		    memcmp(t->entries[i].addr, addr, len) == 0)
			return &t->entries[i];
	return NULL;
}

/* The entry to give up for a new address: fewest observers, then the
 * stalest. */
static p2p_obsaddr_entry *victim(p2p_obsaddr *t)
{
	p2p_obsaddr_entry *v = &t->entries[0];
	for (size_t i = 1; i < t->n; i++) {
		p2p_obsaddr_entry *e = &t->entries[i];
		if (e->n_observers < v->n_observers ||
		    (e->n_observers == v->n_observers && last_seen(e) < last_seen(v)))
			v = e;
	}
	return v;
}

int p2p_obsaddr_record(p2p_obsaddr *t, const uint8_t *addr, size_t len,
                       const uint8_t *observer, size_t observer_len, uint64_t now_ms)
{
	size_t prefix = addr ? tcp_prefix(addr, len) : 0;
	if (prefix == 0 || prefix > P2P_OBSADDR_MAX_LEN || observer == NULL)
		return P2P_EINVAL;
	p2p_rcmgr_ip ip;
	p2p_rcmgr_ip_from_addr(observer, observer_len, &ip);
	if (ip.len == 0)
		return P2P_EINVAL;
	prune(t, now_ms);

	p2p_obsaddr_entry *e = find(t, addr, prefix);
	if (e == NULL) {
		e = t->n < P2P_OBSADDR_MAX_ADDRS ? &t->entries[t->n++] : victim(t);
		memset(e, 0, sizeof(*e));
		memcpy(e->addr, addr, prefix);
		e->addr_len = prefix;
	}
	for (size_t i = 0; i < e->n_observers; i++) {
		if (p2p_rcmgr_ip_equal(&e->observers[i].ip, &ip)) {
			e->observers[i].seen_ms = now_ms;
			return P2P_OK;
		}
	}
	size_t slot = e->n_observers;
	if (slot == P2P_OBSADDR_MAX_OBSERVERS) {
		/* Enough to be sure already: the stalest observer makes room. */
		slot = 0;
		for (size_t i = 1; i < e->n_observers; i++)
			if (e->observers[i].seen_ms < e->observers[slot].seen_ms)
				slot = i;
	} else {
		e->n_observers++;
	}
	e->observers[slot].ip = ip;
	e->observers[slot].seen_ms = now_ms;
	return P2P_OK;
}

size_t p2p_obsaddr_count(const p2p_obsaddr *t, const uint8_t *addr, size_t len,
                         uint64_t now_ms)
{
	for (size_t i = 0; i < t->n; i++) {
		const p2p_obsaddr_entry *e = &t->entries[i];
		if (e->addr_len != len || memcmp(e->addr, addr, len) != 0)
			continue;
		size_t n = 0;
		for (size_t j = 0; j < e->n_observers; j++)
			n += live(&e->observers[j], now_ms);
		return n;
	}
	return 0;
}

/* Ranks a before b: more observers, then seen more recently. */
static bool before(const p2p_obsaddr_entry *a, const p2p_obsaddr_entry *b)
{
	if (a->n_observers != b->n_observers)
		return a->n_observers > b->n_observers;
	return last_seen(a) > last_seen(b);
}

size_t p2p_obsaddr_list(p2p_obsaddr *t, uint64_t now_ms, unsigned min_observers,
                        p2p_buf *out, size_t max)
{
	prune(t, now_ms);
	const p2p_obsaddr_entry *order[P2P_OBSADDR_MAX_ADDRS];
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const p2p_obsaddr_entry *e = &t->entries[i];
		if (e->n_observers < min_observers)
			continue;
		/* Insertion sort: sixteen entries at most. */
		size_t j = n++;
		while (j > 0 && before(e, order[j - 1])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = e;
	}
	for (size_t i = 0; i < n && i < max; i++) {
		p2p_buf_reset(&out[i]);
		if (p2p_buf_append(&out[i], order[i]->addr, order[i]->addr_len) < 0)
			return i;
	}
	return n;
}
