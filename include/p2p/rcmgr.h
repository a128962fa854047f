/* The resource manager: budgets per scope for what remote peers can make
 * a host hold, taken before the host commits to anything and given back
 * when it lets go, as go-libp2p's resource manager. The host
 * (src/host/connmgr.c) is its only caller; the limits come from
 * p2p_host_config, and p2p_host_rcmgr_stats shows the counters.
 *
 * What is budgeted:
 *   - pending: inbound connections whose handshake is in progress (from
 *     the TCP accept, before a single byte is read);
 *   - conns: established connections (inbound ones per IP; every one per
 *     peer and in total);
 *   - streams: streams open on those connections, both ways, in total, per
 *     IP and per peer. Only inbound ones are refused (ours are the
 *     application's business), but ours count too: they hold memory alike.
 *
 * Scopes:
 *   - system: the whole host;
 *   - IP: where an inbound connection comes from: the IPv4 address, or the
 *     IPv6 /64 (what one subscriber usually gets, so that an attacker
 *     cannot take one share per address of his prefix). A relayed
 *     connection has no IP scope: its address is the relay's, shared by
 *     everyone it relays (the relay limits circuits per IP itself). Nor
 *     has a loopback one when the limits exempt loopback;
 *   - peer: the authenticated peer ID. Identities cost nothing, so a peer's
 *     limits only bound what one identity holds; the IP scope is what binds
 *     an attacker. A peer can be marked protected (p2p_host_protect): it is
 *     exempt from the per-IP limits (an allow-listed client behind the same
 *     NAT as an attacker still gets in).
 *
 * Sans-I/O and sans-clock: it counts, refuses and says whom to evict; the
 * host closes connections and keeps the time. Every refusal is counted by
 * reason (p2p_rcmgr_stats), as are the host's evictions. */
#ifndef P2P_RCMGR_H
#define P2P_RCMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/peerid.h"

/* The bytes of a hash key (SipHash-2-4) that keep the scope tables from
 * being flooded with chosen collisions. */
#define P2P_RCMGR_SEED_LEN 16
/* Bytes of an IPv6 address that make its scope: a /64. */
#define P2P_RCMGR_IP6_PREFIX 8

typedef struct p2p_rcmgr p2p_rcmgr;

/* UINT32_MAX in a field: no limit. */
typedef struct p2p_rcmgr_limits {
	uint32_t pending;        /* inbound handshakes in progress, in total */
	uint32_t pending_per_ip; /* ... from one IP */
	uint32_t conns;          /* established connections, in total */
	uint32_t conns_per_ip;   /* inbound ones from one IP */
	uint32_t conns_per_peer; /* to one peer, either way */
	uint32_t streams;        /* open streams, in total */
	uint32_t streams_per_ip;
	uint32_t streams_per_peer;
	/* A peer's first streams get in even over `streams`, so that a flood
	 * from elsewhere cannot lock it out: the total is then bounded by
	 * streams + conns * streams_floor_per_peer. 0: none. */
	uint32_t streams_floor_per_peer;
	/* Loopback sources (127.0.0.0/8, ::1) have no IP scope. */
	bool exempt_loopback;
} p2p_rcmgr_limits;

/* Why a reservation was refused, or what the host closed to make room.
 * The names (p2p_rcmgr_reason_name) are stable, for LIST and logs. */
typedef enum p2p_rcmgr_reason {
	P2P_RCMGR_OK = 0,
	P2P_RCMGR_PENDING_SYSTEM, /* "pending"      refused */
	P2P_RCMGR_PENDING_IP,     /* "pending-ip"   refused */
	P2P_RCMGR_CONNS_SYSTEM,   /* "conns"        refused */
	P2P_RCMGR_CONNS_IP,       /* "conns-ip"     refused */
	P2P_RCMGR_CONNS_PEER,     /* "conns-peer"   refused */
	P2P_RCMGR_STREAMS_SYSTEM, /* "streams"      refused (reset) */
	P2P_RCMGR_STREAMS_IP,     /* "streams-ip"   refused (reset) */
	P2P_RCMGR_STREAMS_PEER,   /* "streams-peer" refused (reset) */
	/* Closed by the host: */
	P2P_RCMGR_EVICTED,    /* "evicted": a handshake, for one from a lighter IP */
	P2P_RCMGR_FIRST_BYTE, /* "first-byte": nothing sent in time */
	P2P_RCMGR_IDLE,       /* "idle": no stream for the idle timeout */
	P2P_RCMGR_TRIMMED,    /* "trimmed": the idlest, for a new one at the cap */
	P2P_RCMGR_N_REASONS
} p2p_rcmgr_reason;

typedef struct p2p_rcmgr_stats {
	uint64_t count[P2P_RCMGR_N_REASONS]; /* [P2P_RCMGR_OK] stays 0 */
	/* In use now. */
	uint32_t pending, conns, streams;
	uint32_t ips, peers; /* scopes with something reserved (or protected) */
} p2p_rcmgr_stats;

/* The IP scope of a remote address. */
typedef struct p2p_rcmgr_ip {
	uint8_t len; /* 4 (IPv4), P2P_RCMGR_IP6_PREFIX (IPv6); 0: no IP scope */
	bool loopback;
	uint8_t bytes[P2P_RCMGR_IP6_PREFIX];
} p2p_rcmgr_ip;

/* The IP scope of a binary multiaddr (a pipe's remote address): its first
 * /ip4 or /ip6 (an IPv4-mapped IPv6 address counts as IPv4), none (len 0)
 * if it has none or goes through /p2p-circuit. */
void p2p_rcmgr_ip_from_addr(const uint8_t *addr, size_t len, p2p_rcmgr_ip *ip);
bool p2p_rcmgr_ip_equal(const p2p_rcmgr_ip *a, const p2p_rcmgr_ip *b);

/* limits is copied; seed (P2P_RCMGR_SEED_LEN random bytes) keys the
 * tables' hash. P2P_ENOMEM. */
int p2p_rcmgr_new(p2p_rcmgr **out, const p2p_rcmgr_limits *limits,
                  const uint8_t seed[P2P_RCMGR_SEED_LEN]);
void p2p_rcmgr_free(p2p_rcmgr *rc);
const p2p_rcmgr_limits *p2p_rcmgr_limits_of(const p2p_rcmgr *rc);

/* In every call below, ip may be NULL (no IP scope) and so may peer where
 * it says so. The can_ functions only look; reserve_ counts a refusal
 * under its reason and reserves nothing then; release_ gives back what a
 * reserve took (the same ip and peer). */

/* An inbound handshake from ip. */
p2p_rcmgr_reason p2p_rcmgr_can_pending(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip);
p2p_rcmgr_reason p2p_rcmgr_reserve_pending(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip);
void p2p_rcmgr_release_pending(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip);
/* With the pending budget full, the IP whose oldest handshake should make
 * room for a newcomer from ip: the one holding the most, if it holds at
 * least two more than ip does (so that eviction always evens the shares
 * out and equals never evict each other). false: refuse the newcomer. */
bool p2p_rcmgr_pending_victim(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                              p2p_rcmgr_ip *victim);

/* An established connection to peer (not NULL), from ip if inbound. */
p2p_rcmgr_reason p2p_rcmgr_can_conn(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                    const p2p_peerid *peer);
p2p_rcmgr_reason p2p_rcmgr_reserve_conn(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                        const p2p_peerid *peer);
void p2p_rcmgr_release_conn(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                            const p2p_peerid *peer);

/* One inbound stream on a connection to peer (not NULL) from ip. */
p2p_rcmgr_reason p2p_rcmgr_can_stream(const p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                      const p2p_peerid *peer);
p2p_rcmgr_reason p2p_rcmgr_reserve_stream(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                                          const p2p_peerid *peer);
/* Streams that are there whatever the limits (ours, or found open when
 * the host recounts): added without a check. */
void p2p_rcmgr_add_streams(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip, const p2p_peerid *peer,
                           uint32_t n);
void p2p_rcmgr_release_streams(p2p_rcmgr *rc, const p2p_rcmgr_ip *ip,
                               const p2p_peerid *peer, uint32_t n);

/* Protection (p2p_host_protect): kept until turned off, connected or not.
 * P2P_ENOMEM. */
int p2p_rcmgr_protect(p2p_rcmgr *rc, const p2p_peerid *peer, bool on);
bool p2p_rcmgr_is_protected(const p2p_rcmgr *rc, const p2p_peerid *peer);

/* Counts something the host did (P2P_RCMGR_EVICTED and after). */
void p2p_rcmgr_count(p2p_rcmgr *rc, p2p_rcmgr_reason what);
void p2p_rcmgr_stats_get(const p2p_rcmgr *rc, p2p_rcmgr_stats *out);
/* "pending-ip" etc.; "ok" for P2P_RCMGR_OK, "?" out of range. */
const char *p2p_rcmgr_reason_name(p2p_rcmgr_reason r);

#endif
