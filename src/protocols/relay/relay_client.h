/* What relay_client.c lends the keeper (relay_keeper.c) beyond the public
 * API. Internal to src/protocols/relay. */
#ifndef P2P_RELAY_CLIENT_INTERNAL_H
#define P2P_RELAY_CLIENT_INTERNAL_H

#include "p2p/relay.h"

p2p_host *relay_client_host(const p2p_relay_client *rc);

/* A connection of rc's host is closing (c valid during the call). */
typedef void (*relay_conn_closed_fn)(p2p_host *h, p2p_conn *c, void *user);

/* Sets the one watcher of rc's host's connections (fn NULL clears it);
 * P2P_ESTATE if another is set. rc observes its host for as long as it
 * lives (it is freed once the host has closed), so a watcher may come and
 * go whether the host is still open or already gone, which the host's own
 * p2p_host_unobserve cannot offer once the host is freed. */
int relay_client_watch(p2p_relay_client *rc, relay_conn_closed_fn fn, void *user);

#endif
