/* The addresses a node tells others to dial: its bound listen addresses,
 * with a wildcard (0.0.0.0 or ::) replaced by the interface addresses of
 * its family. Shared by the roles that print their addresses (the host's
 * TOKEN, the relay's RELAY). */
#ifndef TUNNEL_ADDRS_H
#define TUNNEL_ADDRS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "p2p/buf.h"
#include "p2p/host.h"

/* Enough for the listeners of a host on a machine with a few interfaces. */
#define TUNNEL_ADDRS_MAX 32

/* Which addresses: loopback ones are of use only on this machine, so
 * they go last (a peer elsewhere tries addresses in order), and a caller
 * may put others (relay circuits) between. Addresses that are no IP
 * socket address count as TUNNEL_ADDRS_OTHER. */
#define TUNNEL_ADDRS_OTHER    1u
#define TUNNEL_ADDRS_LOOPBACK 2u
#define TUNNEL_ADDRS_ALL      (TUNNEL_ADDRS_OTHER | TUNNEL_ADDRS_LOOPBACK)

/* Fills out[0..max) with h's dialable addresses of the kinds in `which`
 * (binary multiaddrs, without /p2p/; each out[i] initialised here, free
 * them with tunnel_addrs_free): the bound addresses as they are, a
 * wildcard expanded to every interface address of its family (IPv6
 * link-local ones skipped: they need a zone, which a multiaddr in a token
 * cannot carry), without duplicates, the loopback ones last. Returns how
 * many were filled. */
size_t tunnel_addrs_dialable(const p2p_host *h, unsigned which, p2p_buf *out, size_t max);
void tunnel_addrs_free(p2p_buf *addrs, size_t n);

/* Whether sa (AF_INET or AF_INET6) is a loopback address. */
bool tunnel_addr_is_loopback(const struct sockaddr *sa);

#endif
