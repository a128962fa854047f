/* DNS multiaddrs: /dns4, /dns6, /dns and /dnsaddr resolved to addresses a
 * transport can dial (multiformats/multiaddr protocols/DNSADDR.md; the
 * behaviour follows go-multiaddr-dns).
 *
 *   /dns4/h/tcp/1  -> A records of h     -> /ip4/X/tcp/1
 *   /dns6/h/tcp/1  -> AAAA records of h  -> /ip6/X/tcp/1
 *   /dns/h/tcp/1   -> both
 *   /dnsaddr/d/S   -> TXT records of _dnsaddr.d, each "dnsaddr=<multiaddr>";
 *                     only records ending in the suffix S (often /p2p/ID)
 *                     are kept, and those that are DNS addresses themselves
 *                     are resolved in turn, up to P2P_DNS_MAX_DEPTH deep.
 *
 * Two parts: pure functions (below, "sans-I/O") that find the DNS component
 * of an address and build the resulting addresses, and a resolver on a
 * libuv loop that asks c-ares for the records. */
#ifndef P2P_DNS_H
#define P2P_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "p2p/buf.h"

/* Limits for one p2p_dns_resolve. */
#define P2P_DNS_MAX_DEPTH   4   /* look-ups chained to reach one address */
#define P2P_DNS_MAX_RESULTS 32  /* addresses returned; more are dropped */
#define P2P_DNS_MAX_LOOKUPS 64  /* DNS look-ups made in all */
#define P2P_DNS_MAX_NAME    253 /* characters in a host name (RFC 1035) */
/* Defaults of p2p_dns_config. */
#define P2P_DNS_TIMEOUT_MS  2000 /* first try; c-ares doubles it each round */
#define P2P_DNS_TRIES       3
#define P2P_DNS_DEADLINE_MS 5000 /* one whole resolve, all look-ups and tries */

/* --- sans-I/O --- */

/* Where the first DNS component of a multiaddr is: addr[0..prefix_len)
 * comes before it, addr[rest_off..len) after it, and name[0..name_len)
 * (pointing into addr, not NUL-terminated) is its host name. */
typedef struct p2p_dns_split {
	uint64_t code; /* P2P_MA_DNS, P2P_MA_DNS4, P2P_MA_DNS6 or P2P_MA_DNSADDR */
	size_t prefix_len;
	const uint8_t *name;
	size_t name_len;
	size_t rest_off;
} p2p_dns_split;

/* 1 and *out filled if addr has a DNS component, 0 if it has none, or a
 * negative error: the multiaddr is invalid (as p2p_multiaddr_validate), or
 * the name is not one we look up (P2P_EINVAL: longer than
 * P2P_DNS_MAX_NAME, or with a control character or space). */
int p2p_dns_find(const uint8_t *addr, size_t len, p2p_dns_split *out);

/* /dns*: appends to out the address with the DNS component replaced by
 * /ip4/A or /ip6/A for sa (AF_INET or AF_INET6). P2P_ETOOBIG if the result
 * is over the multiaddr limits; out is left as it was on error. */
int p2p_dns_expand_ip(const uint8_t *addr, size_t len, const p2p_dns_split *split,
                      const struct sockaddr *sa, p2p_buf *out);

/* /dnsaddr: one TXT record value (txt[0..txt_len), bytes as received, the
 * strings of a record joined). If it is "dnsaddr=<multiaddr>" and the
 * multiaddr ends with the components after the /dnsaddr/ component of addr
 * (the suffix rule), appends prefix + that multiaddr to out and returns
 * P2P_OK. P2P_ENOTFOUND: not a dnsaddr record, or its suffix does not
 * match; P2P_EPROTO: its multiaddr does not parse; P2P_ETOOBIG: over the
 * limits. Any error leaves out as it was: skip the record. */
int p2p_dnsaddr_expand(const uint8_t *addr, size_t len, const p2p_dns_split *split,
                       const uint8_t *txt, size_t txt_len, p2p_buf *out);

/* true if the binary multiaddr addr ends with the components of suffix
 * (an empty suffix matches anything). Both must be valid multiaddrs. */
bool p2p_multiaddr_has_suffix(const uint8_t *addr, size_t len, const uint8_t *suffix,
                              size_t suffix_len);

/* --- the resolver (libuv + c-ares) --- */

typedef struct p2p_dns p2p_dns;

typedef struct p2p_dns_config {
	/* Name servers, "127.0.0.1:5353,[::1]:53" (copied); NULL: those of
	 * /etc/resolv.conf. /etc/hosts is read first either way. */
	const char *servers;
	uint32_t timeout_ms; /* 0: P2P_DNS_TIMEOUT_MS */
	uint32_t tries;      /* 0: P2P_DNS_TRIES */
	/* A resolve not done this long after p2p_dns_resolve ends then (c-ares's
	 * own tries alone could take 2+4+8 s). 0: P2P_DNS_DEADLINE_MS. */
	uint32_t deadline_ms;
} p2p_dns_config;

/* The result of one resolve: err 0 and addrs[0..n) (n >= 1, binary
 * multiaddrs, owned by the resolver during the call only), or err < 0 and
 * n 0: P2P_ENOTFOUND (no such name, no records, no record that matched),
 * P2P_ETIMEDOUT (no answer, or none by the deadline; at the deadline the
 * addresses found so far, if any, are the result), P2P_ELIMIT (only addresses past
 * P2P_DNS_MAX_DEPTH or P2P_DNS_MAX_LOOKUPS), P2P_EPROTO (a bad answer),
 * P2P_EIO (the server failed or refused), P2P_EINVAL (a record named a
 * host we do not look up), P2P_ECLOSED (the resolver was closed first),
 * P2P_ENOMEM. */
typedef void (*p2p_dns_cb)(int err, const p2p_buf *addrs, size_t n, void *user);

/* cfg may be NULL (defaults). The resolver makes no handle active until
 * it is asked something. */
int p2p_dns_new(p2p_dns **out, uv_loop_t *loop, const p2p_dns_config *cfg);

/* Fails every resolve in progress with P2P_ECLOSED (their callbacks run
 * from the loop, never from inside this call), closes the handles, frees
 * the resolver, then calls on_closed (may be NULL). The loop must run
 * until then. */
void p2p_dns_close(p2p_dns *d, void (*on_closed)(void *user), void *user);

/* Resolves the binary multiaddr maddr[0..len) (copied) in full: every
 * address it returns is free of DNS components. An address without one
 * comes back unchanged. Returns 0 and cb runs exactly once, later, from
 * the loop; or a negative error and cb never runs (P2P_EINVAL: not a valid
 * multiaddr or host name; P2P_ECLOSED: closing; P2P_ENOMEM). */
int p2p_dns_resolve(p2p_dns *d, const uint8_t *maddr, size_t len, p2p_dns_cb cb,
                    void *user);

#endif
