/* The resource manager (p2p/rcmgr.h): counters per scope, in two hash
 * tables (IP scopes and peer scopes) keyed with SipHash-2-4 (OpenSSL's)
 * and a random seed, so that an attacker who picks addresses or peer IDs cannot pile
 * them into one chain. An entry lives while it holds something (or, for a
 * peer, while it is protected); there are never more than the host has
 * connections and handshakes, plus the protected peers. */
#include "p2p/rcmgr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"

#define RC_BUCKETS_MIN 64

typedef struct rc_entry {
	struct rc_entry *next;
	uint64_t hash;
	size_t key_len;
	uint8_t key[P2P_PEERID_MAX_LEN];
	uint32_t pending, conns, streams;
	bool protected;
} rc_entry;

typedef struct rc_table {
	rc_entry **buckets;
	size_t n_buckets, n;
} rc_table;

struct p2p_rcmgr {
	p2p_rcmgr_limits limits;
	EVP_MAC_CTX *mac; /* SipHash keyed with the seed */
	uint32_t pending, conns, streams;
	rc_table ips, peers;
	uint64_t count[P2P_RCMGR_N_REASONS];
};

/* --- the keyed hash: OpenSSL's SipHash-2-4 (EVP_MAC "SIPHASH") --- */

/* The MAC context holds the key; each hash re-initialises it with that
 * key (NULL: the one set at creation). 0 if OpenSSL fails, which only
 * makes one chain longer. */
static uint64_t keyed_hash(EVP_MAC_CTX *mac, const uint8_t *in, size_t len)
{
	uint8_t out[8];
	size_t n = 0;
	if (EVP_MAC_init(mac, NULL, 0, NULL) != 1 || EVP_MAC_update(mac, in, len) != 1 ||
	    EVP_MAC_final(mac, out, &n, sizeof out) != 1 || n != sizeof out)
		return 0;
	uint64_t v = 0;
	for (size_t i = 0; i < sizeof out; i++)
		v = (v << 8) | out[i];
	return v;
}

static EVP_MAC_CTX *keyed_hash_new(const uint8_t seed[P2P_RCMGR_SEED_LEN])
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	EVP_MAC_free(m); /* the context keeps its own reference */
	size_t size = 8;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
	    OSSL_PARAM_construct_end(),
	};
	if (ctx && EVP_MAC_init(ctx, seed, P2P_RCMGR_SEED_LEN, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* --- the tables --- */

static rc_entry *table_find(const rc_table *t, EVP_MAC_CTX *mac, const uint8_t *key,
                            size_t len)
{
	if (t->n_buckets == 0)
		return NULL;
	uint64_t hash = keyed_hash(mac, key, len);
	for (rc_entry *e = t->buckets[hash % t->n_buckets]; e; e = e->next)
		if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

/* Doubles the buckets once the table holds as many entries; a failed
 * grow only makes the chains longer. */
static void table_grow(rc_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : RC_BUCKETS_MIN;
	rc_entry **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		rc_entry *e = t->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash % n];
			b[e->hash % n] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

/* The entry for key, made if need be; NULL when out of memory. */
static rc_entry *table_get(rc_table *t, EVP_MAC_CTX *mac, const uint8_t *key, size_t len)
{
	rc_entry *e = table_find(t, mac, key, len);
	if (e)
		return e;
	if (t->n >= t->n_buckets)
		table_grow(t);
	if (t->n_buckets == 0 || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->hash = keyed_hash(mac, key, len);
	e->key_len = len;
	memcpy(e->key, key, len);
	e->next = t->buckets[e->hash % t->n_buckets];
	t->buckets[e->hash % t->n_buckets] = e;
	t->n++;
	return e;
}

/* Forgets e once it holds nothing. */
static void table_put(rc_table *t, rc_entry *e)
{
	if (e == NULL || e->pending || e->conns || e->streams || e->protected)
		return;
	rc_entry **p = &t->buckets[e->hash % t->n_buckets];
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	t->n--;
	free(e);
}

static void table_free(rc_table *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		rc_entry *e = t->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
}

/* --- scopes --- */

/* The IP scope that applies, or NULL. */
static const p2p_rcmgr_ip *scope_ip(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	if (ip == NULL || ip->len == 0 || (ip->loopback && rc->limits.exempt_loopback))
		return NULL;
	return ip;
}

static rc_entry *find_ip(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	ip = scope_ip(rc, ip);
	return ip ? table_find(&rc->ips, rc->mac, ip->bytes, ip->len) : NULL;
}

static rc_entry *get_ip(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	ip = scope_ip(rc, ip);
	return ip ? table_get(&rc->ips, rc->mac, ip->bytes, ip->len) : NULL;
}

static rc_entry *find_peer(const p2p_rcmgr *rc, const p2p_peerid *peer)
{
	return peer ? table_find(&rc->peers, rc->mac, peer->bytes, peer->len) : NULL;
}

static rc_entry *get_peer(p2p_rcmgr *rc, const p2p_peerid *peer)
{
	return peer ? table_get(&rc->peers, rc->mac, peer->bytes, peer->len) : NULL;
}

static uint32_t sat_sub(uint32_t a, uint32_t b)
{
	return a > b ? a - b : 0;
}

/* --- addresses --- */

void p2p_rcmgr_ip_from_addr(const uint8_t *addr, size_t len, p2p_rcmgr_ip *ip)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	memset(ip, 0, sizeof(*ip));
	const uint8_t *v4 = NULL, *v6 = NULL;
	size_t off = 0;
	p2p_multiaddr_component c;
	while (p2p_multiaddr_next(addr, len, &off, &c) == 1) {
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return; /* relayed: the address is the relay's */
		if (v4 || v6)
			continue;
		if (c.code == P2P_MA_IP4 && c.value_len == 4)
			v4 = c.value;
		else if (c.code == P2P_MA_IP6 && c.value_len == 16)
			v6 = c.value;
	}
	if (v6 && memcmp(v6, mapped, sizeof(mapped)) == 0)
		v4 = v6 + 12, v6 = NULL;
	if (v4) {
		ip->len = 4;
		memcpy(ip->bytes, v4, 4);
		ip->loopback = v4[0] == 127;
	} else if (v6) {
		ip->len = P2P_RCMGR_IP6_PREFIX;
		memcpy(ip->bytes, v6, P2P_RCMGR_IP6_PREFIX);
		ip->loopback = memcmp(v6, loop6, 16) == 0;
	}
}

bool p2p_rcmgr_ip_equal(const p2p_rcmgr_ip *a, const p2p_rcmgr_ip *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* --- lifetime --- */

int p2p_rcmgr_new(p2p_rcmgr **out, const p2p_rcmgr_limits *limits,
                  const uint8_t seed[P2P_RCMGR_SEED_LEN])
{
	p2p_rcmgr *rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return P2P_ENOMEM;
	rc->limits = *limits;
	rc->mac = keyed_hash_new(seed);
	table_grow(&rc->ips);
	table_grow(&rc->peers);
	if (rc->mac == NULL || rc->ips.n_buckets == 0 || rc->peers.n_buckets == 0) {
		p2p_rcmgr_free(rc);
		return P2P_ENOMEM;
	}
	*out = rc;
	return P2P_OK;
}

void p2p_rcmgr_free(p2p_rcmgr *rc)
{
	if (rc == NULL)
		return;
	table_free(&rc->ips);
	table_free(&rc->peers);
	EVP_MAC_CTX_free(rc->mac);
	free(rc);
}

const p2p_rcmgr_limits *p2p_rcmgr_limits_of(const p2p_rcmgr *rc)
{
	return &rc->limits;
}

/* --- pending handshakes --- */

p2p_rcmgr_reason p2p_rcmgr_can_pending(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	/* The IP's own limit first: evicting others cannot cure it. */
	const rc_entry *e = find_ip(rc, ip);
	if (scope_ip(rc, ip) && (e ? e->pending : 0) >= rc->limits.pending_per_ip)
		return P2P_RCMGR_PENDING_IP;
	if (rc->pending >= rc->limits.pending)
		return P2P_RCMGR_PENDING_SYSTEM;
	return P2P_RCMGR_OK;
}

p2p_rcmgr_reason p2p_rcmgr_reserve_pending(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	p2p_rcmgr_reason r = p2p_rcmgr_can_pending(rc, ip);
	rc_entry *e = NULL;
	if (r == P2P_RCMGR_OK && scope_ip(rc, ip) && (e = get_ip(rc, ip)) == NULL)
		r = P2P_RCMGR_PENDING_SYSTEM; /* out of memory */
	if (r != P2P_RCMGR_OK) {
		rc->count[r]++;
		return r;
	}
	if (e)
		e->pending++;
	rc->pending++;
	return P2P_RCMGR_OK;
}

void p2p_rcmgr_release_pending(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip)
{
	rc_entry *e = find_ip(rc, ip);
	if (e) {
		e->pending = sat_sub(e->pending, 1);
		table_put(&rc->ips, e);
	}
	rc->pending = sat_sub(rc->pending, 1);
}

bool p2p_rcmgr_pending_victim(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                              p2p_rcmgr_ip *victim)
{
	const rc_entry *mine = find_ip(rc, ip), *most = NULL;
	uint32_t have = mine ? mine->pending : 0;
	for (size_t i = 0; i < rc->ips.n_buckets; i++)
		for (const rc_entry *e = rc->ips.buckets[i]; e; e = e->next)
			if (most == NULL || e->pending > most->pending)
				most = e;
	if (most == NULL || most->pending < have + 2)
		return false;
	memset(victim, 0, sizeof(*victim));
	victim->len = (uint8_t)most->key_len;
	memcpy(victim->bytes, most->key, most->key_len);
	victim->loopback = most->key_len == 4 ? most->key[0] == 127 : false;
	return true;
}

/* --- connections --- */

p2p_rcmgr_reason p2p_rcmgr_can_conn(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                    const p2p_peerid *peer)
{
	const rc_entry *p = find_peer(rc, peer), *e = find_ip(rc, ip);
	if (p && p->conns >= rc->limits.conns_per_peer)
		return P2P_RCMGR_CONNS_PEER;
	bool exempt = p && p->protected;
	if (!exempt && scope_ip(rc, ip) && (e ? e->conns : 0) >= rc->limits.conns_per_ip)
		return P2P_RCMGR_CONNS_IP;
	/* Last: trimming an idle connection can make room for this one. */
	if (rc->conns >= rc->limits.conns)
		return P2P_RCMGR_CONNS_SYSTEM;
	return P2P_RCMGR_OK;
}

p2p_rcmgr_reason p2p_rcmgr_reserve_conn(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                        const p2p_peerid *peer)
{
	p2p_rcmgr_reason r = p2p_rcmgr_can_conn(rc, ip, peer);
	rc_entry *p = NULL, *e = NULL;
	if (r == P2P_RCMGR_OK) {
		p = get_peer(rc, peer);
		e = get_ip(rc, ip);
		if (p == NULL || (scope_ip(rc, ip) && e == NULL)) {
			table_put(&rc->peers, p);
			table_put(&rc->ips, e);
			r = P2P_RCMGR_CONNS_SYSTEM; /* out of memory */
		}
	}
	if (r != P2P_RCMGR_OK) {
		rc->count[r]++;
		return r;
	}
	p->conns++;
	if (e)
		e->conns++;
	rc->conns++;
	return P2P_RCMGR_OK;
}

void p2p_rcmgr_release_conn(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip, const p2p_peerid *peer)
{
	rc_entry *p = find_peer(rc, peer), *e = find_ip(rc, ip);
	if (p) {
		p->conns = sat_sub(p->conns, 1);
		table_put(&rc->peers, p);
	}
	if (e) {
		e->conns = sat_sub(e->conns, 1);
		table_put(&rc->ips, e);
	}
	rc->conns = sat_sub(rc->conns, 1);
}

/* --- streams --- */

p2p_rcmgr_reason p2p_rcmgr_can_stream(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                      const p2p_peerid *peer)
{
	const rc_entry *p = find_peer(rc, peer), *e = find_ip(rc, ip);
	uint32_t mine = p ? p->streams : 0;
	if (mine >= rc->limits.streams_per_peer)
		return P2P_RCMGR_STREAMS_PEER;
	bool exempt = p && p->protected;
	if (!exempt && scope_ip(rc, ip) &&
	    (e ? e->streams : 0) >= rc->limits.streams_per_ip)
		return P2P_RCMGR_STREAMS_IP;
	if (rc->streams >= rc->limits.streams &&
	    mine >= rc->limits.streams_floor_per_peer)
		return P2P_RCMGR_STREAMS_SYSTEM;
	return P2P_RCMGR_OK;
}

static bool streams_add(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip, const p2p_peerid *peer,
                        uint32_t n)
{
	rc_entry *p = get_peer(rc, peer), *e = get_ip(rc, ip);
	bool ok = p && (e || !scope_ip(rc, ip));
	if (p)
		p->streams += n;
	if (e)
		e->streams += n;
	rc->streams += n;
	return ok;
}

p2p_rcmgr_reason p2p_rcmgr_reserve_stream(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                          const p2p_peerid *peer)
{
	p2p_rcmgr_reason r = p2p_rcmgr_can_stream(rc, ip, peer);
	if (r == P2P_RCMGR_OK && !streams_add(rc, ip, peer, 1)) {
		p2p_rcmgr_release_streams(rc, ip, peer, 1);
		r = P2P_RCMGR_STREAMS_SYSTEM; /* out of memory */
	}
	if (r != P2P_RCMGR_OK)
		rc->count[r]++;
	return r;
}

void p2p_rcmgr_add_streams(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip, const p2p_peerid *peer,
                           uint32_t n)
{
	/* Out of memory, a scope misses them; its release saturates at 0. */
	if (n)
		streams_add(rc, ip, peer, n);
}

void p2p_rcmgr_release_streams(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                               const p2p_peerid *peer, uint32_t n)
{
	if (n == 0)
		return;
	rc_entry *p = find_peer(rc, peer), *e = find_ip(rc, ip);
	if (p) {
		p->streams = sat_sub(p->streams, n);
		table_put(&rc->peers, p);
	}
	if (e) {
		e->streams = sat_sub(e->streams, n);
		table_put(&rc->ips, e);
	}
	rc->streams = sat_sub(rc->streams, n);
}

/* --- protection, counters --- */

int p2p_rcmgr_protect(p2p_rcmgr *rc, const p2p_peerid *peer, bool on)
{
	rc_entry *p = on ? get_peer(rc, peer) : find_peer(rc, peer);
	if (p == NULL)
		return on ? P2P_ENOMEM : P2P_OK;
	p->protected = on;
	table_put(&rc->peers, p);
	return P2P_OK;
}

bool p2p_rcmgr_is_protected(const p2p_rcmgr *rc, const p2p_peerid *peer)
{
	const rc_entry *p = find_peer(rc, peer);
	return p && p->protected;
}

void p2p_rcmgr_count(p2p_rcmgr *rc, p2p_rcmgr_reason what)
{
	if (what > P2P_RCMGR_OK && what < P2P_RCMGR_N_REASONS)
		rc->count[what]++;
}

void p2p_rcmgr_stats_get(const p2p_rcmgr *rc, p2p_rcmgr_stats *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->count, rc->count, sizeof(out->count));
	out->pending = rc->pending;
	out->conns = rc->conns;
	out->streams = rc->streams;
	out->ips = (uint32_t)rc->ips.n;
	out->peers = (uint32_t)rc->peers.n;
}

const char *p2p_rcmgr_reason_name(p2p_rcmgr_reason r)
{
	static const char *const names[P2P_RCMGR_N_REASONS] = {
	    [P2P_RCMGR_OK] = "ok",
	    [P2P_RCMGR_PENDING_SYSTEM] = "pending",
	    [P2P_RCMGR_PENDING_IP] = "pending-ip",
	    [P2P_RCMGR_CONNS_SYSTEM] = "conns",
	    [P2P_RCMGR_CONNS_IP] = "conns-ip",
	    [P2P_RCMGR_CONNS_PEER] = "conns-peer",
	    [P2P_RCMGR_STREAMS_SYSTEM] = "streams",
	    [P2P_RCMGR_STREAMS_IP] = "streams-ip",
	    [P2P_RCMGR_STREAMS_PEER] = "streams-peer",
	    [P2P_RCMGR_EVICTED] = "evicted",
	    [P2P_RCMGR_FIRST_BYTE] = "first-byte",
	    [P2P_RCMGR_IDLE] = "idle",
	    [P2P_RCMGR_TRIMMED] = "trimmed",
	};
	return (unsigned)r < P2P_RCMGR_N_REASONS ? names[r] : "?";
}
