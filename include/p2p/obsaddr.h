/* Observed addresses: what the peers we talk to say they see us at (the
 * observedAddr of identify), kept per address with the distinct IPs that
 * reported it.
 *
 * An address behind a NAT is only known from outside. One peer's word is
 * a hint (a hole-punch candidate); the same address from two peers on
 * different IPs is confirmed (go-libp2p asks for four, which a small lab
 * or a LAN of three machines never reaches). Ranges are not filtered:
 * private and RFC 2544 (198.18.0.0/15) addresses are candidates like any
 * other, because two peers on one LAN need exactly those.
 *
 * Sans-I/O: the caller passes the time; nothing here allocates. */
#ifndef P2P_OBSADDR_H
#define P2P_OBSADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/rcmgr.h"

#define P2P_OBSADDR_MAX_ADDRS     16 /* distinct observed addresses kept */
#define P2P_OBSADDR_MAX_OBSERVERS 8  /* distinct observer IPs per address */
/* /ip6/<16 bytes>/tcp/<port> is 21 bytes; room for a zone or DNS-free
 * variants without heap. */
#define P2P_OBSADDR_MAX_LEN 32
/* An observation counts this long after it was last repeated (go-libp2p's
 * observed address TTL is 30 minutes too). */
#define P2P_OBSADDR_TTL_MS (30u * 60u * 1000u)
/* Distinct observer IPs that make an address confirmed. */
#define P2P_OBSADDR_CONFIRMED 2

typedef struct p2p_obsaddr_observer {
	p2p_rcmgr_ip ip;
	uint64_t seen_ms;
} p2p_obsaddr_observer;

typedef struct p2p_obsaddr_entry {
	uint8_t addr[P2P_OBSADDR_MAX_LEN]; /* binary /ip4|ip6/x/tcp/n */
	size_t addr_len;
	p2p_obsaddr_observer observers[P2P_OBSADDR_MAX_OBSERVERS];
	size_t n_observers;
} p2p_obsaddr_entry;

typedef struct p2p_obsaddr {
	p2p_obsaddr_entry entries[P2P_OBSADDR_MAX_ADDRS];
	size_t n;
} p2p_obsaddr;

void p2p_obsaddr_init(p2p_obsaddr *t);

/* A peer whose connection comes from observer (that connection's remote
 * address, binary) saw us at addr (binary). Only /ip4|ip6/<ip>/tcp/<port>
 * is kept (a trailing /p2p/<id> is dropped); anything else, an unspecified
 * IP, port 0 or an observer without an IP is P2P_EINVAL. With the table
 * full, the entry with the fewest live observers (the stalest among
 * those) makes room. */
int p2p_obsaddr_record(p2p_obsaddr *t, const uint8_t *addr, size_t len,
                       const uint8_t *observer, size_t observer_len, uint64_t now_ms);

/* Live observers of addr (binary, as recorded) at now_ms. */
size_t p2p_obsaddr_count(const p2p_obsaddr *t, const uint8_t *addr, size_t len,
                         uint64_t now_ms);

/* The addresses with at least min_observers live observers, most observers
 * first (the most recent first among equals). Copies them into
 * out[0..max) (buffers the caller initialised; reset here); returns how
 * many qualify. Expired observations are forgotten on the way. */
size_t p2p_obsaddr_list(p2p_obsaddr *t, uint64_t now_ms, unsigned min_observers,
                        p2p_buf *out, size_t max);

#endif
