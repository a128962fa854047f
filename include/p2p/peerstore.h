/* The peerstore: what we know about other peers (addresses and where we
 * learned them, public key, protocols, agent version). Everything is
 * bounded: past P2P_PEERSTORE_MAX_PEERS the least recently updated peer is
 * forgotten, and per-peer lists refuse or drop entries past their limits.
 * All strings and keys passed in are copied; pointers handed out are
 * owned by the store and valid until the next change to that peer. */
#ifndef P2P_PEERSTORE_H
#define P2P_PEERSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "p2p/keys.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"

#define P2P_PEERSTORE_MAX_PEERS     1024
#define P2P_PEERSTORE_MAX_ADDRS     16  /* per peer; the oldest is dropped */
#define P2P_PEERSTORE_MAX_PROTOCOLS 64  /* per peer; the rest are ignored */
#define P2P_PEERSTORE_MAX_AGENT     256 /* bytes of agent version kept */

typedef enum p2p_addr_source {
	P2P_ADDR_MANUAL = 0,     /* given by the application */
	P2P_ADDR_CONNECTION = 1, /* we were connected to it */
	P2P_ADDR_IDENTIFY = 2,   /* the peer announced it */
} p2p_addr_source;

typedef struct p2p_peerstore p2p_peerstore;

int p2p_peerstore_new(p2p_peerstore **out);
void p2p_peerstore_free(p2p_peerstore *ps);

/* Adds a binary multiaddr (validated; a trailing /p2p/ part is removed). Adding a known
 * address again updates its source. */
int p2p_peerstore_add_addr(p2p_peerstore *ps, const p2p_peerid *id, const uint8_t *addr,
                           size_t addr_len, p2p_addr_source source);
/* Fills out[0..max) with the peer's addresses (binary multiaddrs in
 * p2p_bufs), newest first; returns how many there are (0 for an unknown
 * peer). sources may be NULL. */
size_t p2p_peerstore_addrs(const p2p_peerstore *ps, const p2p_peerid *id,
                           const p2p_buf **out, p2p_addr_source *sources, size_t max);
/* Forgets the addresses learned from `source`. */
void p2p_peerstore_clear_addrs(p2p_peerstore *ps, const p2p_peerid *id,
                               p2p_addr_source source);

/* P2P_EPEERID if the key is not the peer's. */
int p2p_peerstore_set_pubkey(p2p_peerstore *ps, const p2p_peerid *id,
                             const p2p_pubkey *key);
const p2p_pubkey *p2p_peerstore_pubkey(const p2p_peerstore *ps, const p2p_peerid *id);

/* Replaces the peer's protocol list. */
int p2p_peerstore_set_protocols(p2p_peerstore *ps, const p2p_peerid *id,
                                const char *const *protocols, size_t n);
size_t p2p_peerstore_protocols(const p2p_peerstore *ps, const p2p_peerid *id,
                               const char **out, size_t max);
bool p2p_peerstore_supports(const p2p_peerstore *ps, const p2p_peerid *id,
                            const char *protocol);

int p2p_peerstore_set_agent(p2p_peerstore *ps, const p2p_peerid *id, const char *agent);
/* NULL if unknown. */
const char *p2p_peerstore_agent(const p2p_peerstore *ps, const p2p_peerid *id);

bool p2p_peerstore_has(const p2p_peerstore *ps, const p2p_peerid *id);
void p2p_peerstore_remove(p2p_peerstore *ps, const p2p_peerid *id);
size_t p2p_peerstore_num_peers(const p2p_peerstore *ps);

#endif
