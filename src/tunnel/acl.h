/* Which peers may open tunnels to a host: the peer IDs given with -allow
 * (repeatable). An empty list allows every peer that has the token. The
 * peer ID checked is the one the secure channel authenticated, so it
 * cannot be forged. */
#ifndef TUNNEL_ACL_H
#define TUNNEL_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "p2p/peerid.h"

#define TUNNEL_ACL_MAX 256 /* peer IDs in one allowlist */

/* A plain value, nothing to free. */
typedef struct tunnel_acl {
	size_t n;
	p2p_peerid peers[TUNNEL_ACL_MAX];
} tunnel_acl;

void tunnel_acl_init(tunnel_acl *acl);
/* Adds a peer; adding one already there does nothing. P2P_ELIMIT when the
 * list is full. */
int tunnel_acl_add(tunnel_acl *acl, const p2p_peerid *peer);
/* Adds a peer ID in text ("12D3Koo...", "Qm..." or a CIDv1 "bafz...").
 * P2P_EPROTO if it is not a peer ID; *why (if not NULL) then gets a
 * sentence for the user. */
int tunnel_acl_add_string(tunnel_acl *acl, const char *peer_id, const char **why);
/* True if the list is empty or holds peer. */
bool tunnel_acl_allows(const tunnel_acl *acl, const p2p_peerid *peer);

#endif
