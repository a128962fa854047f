#include "tunnel/acl.h"

#include "p2p/error.h"

void tunnel_acl_init(tunnel_acl *acl)
{
	acl->n = 0;
}

static bool contains(const tunnel_acl *acl, const p2p_peerid *peer)
{
	for (size_t i = 0; i < acl->n; i++)
		if (p2p_peerid_equal(&acl->peers[i], peer))
			return true;
	return false;
}

int tunnel_acl_add(tunnel_acl *acl, const p2p_peerid *peer)
{
	if (peer->len == 0 || peer->len > P2P_PEERID_MAX_LEN)
		return P2P_EINVAL;
	if (contains(acl, peer))
		return P2P_OK;
	if (acl->n == TUNNEL_ACL_MAX)
		return P2P_ELIMIT;
	acl->peers[acl->n++] = *peer;
	return P2P_OK;
}

int tunnel_acl_add_string(tunnel_acl *acl, const char *peer_id, const char **why)
{
	p2p_peerid peer;
	int rc = p2p_peerid_from_string(&peer, peer_id);
	if (rc == P2P_OK)
		rc = tunnel_acl_add(acl, &peer);
	if (why != NULL) {
		if (rc == P2P_OK)
			*why = NULL;
		else if (rc == P2P_ELIMIT)
			*why = "too many -allow peers (the limit is 256)";
		else if (rc == P2P_ENOMEM)
			*why = "out of memory";
		else
			*why = "an -allow value is not a peer ID";
	}
	return rc;
}

bool tunnel_acl_allows(const tunnel_acl *acl, const p2p_peerid *peer)
{
	return acl->n == 0 || contains(acl, peer);
}
