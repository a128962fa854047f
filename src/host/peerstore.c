/* The peerstore: a bounded table of what we know about peers. Linear
 * search is fine at P2P_PEERSTORE_MAX_PEERS entries. */
#include "p2p/peerstore.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/stream.h"

typedef struct ps_addr {
	p2p_buf bin;
	p2p_addr_source source;
} ps_addr;

typedef struct ps_peer {
	p2p_peerid id;
	uint64_t touched; /* for eviction: least recently updated goes first */
	ps_addr addrs[P2P_PEERSTORE_MAX_ADDRS]; /* newest first */
	size_t n_addrs;
	p2p_pubkey *key;
	char *protocols[P2P_PEERSTORE_MAX_PROTOCOLS];
	size_t n_protocols;
	char *agent;
} ps_peer;

struct p2p_peerstore {
	ps_peer **peers;
	size_t n;
	uint64_t clock;
};

int p2p_peerstore_new(p2p_peerstore **out)
{
	p2p_peerstore *ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return P2P_ENOMEM;
	ps->peers = calloc(P2P_PEERSTORE_MAX_PEERS, sizeof(*ps->peers));
	if (ps->peers == NULL) {
		free(ps);
		return P2P_ENOMEM;
	}
	*out = ps;
	return P2P_OK;
}

static void clear_protocols(ps_peer *p)
{
	for (size_t i = 0; i < p->n_protocols; i++)
		free(p->protocols[i]);
	p->n_protocols = 0;
}

static void peer_free(ps_peer *p)
{
	for (size_t i = 0; i < p->n_addrs; i++)
		p2p_buf_free(&p->addrs[i].bin);
	p2p_pubkey_free(p->key);
	clear_protocols(p);
	free(p->agent);
	free(p);
}

void p2p_peerstore_free(p2p_peerstore *ps)
{
	if (ps == NULL)
		return;
	for (size_t i = 0; i < ps->n; i++)
		peer_free(ps->peers[i]);
	free(ps->peers);
	free(ps);
}

static ps_peer *find(const p2p_peerstore *ps, const p2p_peerid *id, size_t *index)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (p2p_peerid_equal(&ps->peers[i]->id, id)) {
			if (index)
				*index = i;
			return ps->peers[i];
		}
	}
	return NULL;
}

static void remove_at(p2p_peerstore *ps, size_t i)
{
	peer_free(ps->peers[i]);
	ps->peers[i] = ps->peers[--ps->n];
}

/* Finds or adds the peer, evicting the stalest one when full. */
static ps_peer *get(p2p_peerstore *ps, const p2p_peerid *id)
{
	ps_peer *p = find(ps, id, NULL);
	if (p == NULL) {
		if (ps->n == P2P_PEERSTORE_MAX_PEERS) {
			size_t oldest = 0;
			for (size_t i = 1; i < ps->n; i++)
				if (ps->peers[i]->touched < ps->peers[oldest]->touched)
					oldest = i;
			remove_at(ps, oldest);
		}
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return NULL;
		p->id = *id;
		ps->peers[ps->n++] = p;
	}
	p->touched = ++ps->clock;
	return p;
}

int p2p_peerstore_add_addr(p2p_peerstore *ps, const p2p_peerid *id, const uint8_t *addr,
                           size_t addr_len, p2p_addr_source source)
{
	int rc = p2p_multiaddr_validate(addr, addr_len);
	if (rc < 0)
		return rc;
	size_t len = addr_len;
	rc = p2p_multiaddr_without_peer_id(addr, addr_len, &len);
	if (rc < 0)
		return rc;
	if (len == 0)
		return P2P_EINVAL;
	ps_peer *p = get(ps, id);
	if (p == NULL)
		return P2P_ENOMEM;
	ps_addr entry;
	p2p_buf_init(&entry.bin);
	entry.source = source;
	/* Known already: take it out, it goes back in front. */
	for (size_t i = 0; i < p->n_addrs; i++) {
		if (p->addrs[i].bin.len == len &&
		    memcmp(p->addrs[i].bin.data, addr, len) == 0) {
			entry.bin = p->addrs[i].bin;
			memmove(&p->addrs[i], &p->addrs[i + 1],
			        (p->n_addrs - i - 1) * sizeof(p->addrs[0]));
			p->n_addrs--;
			break;
		}
	}
	if (entry.bin.data == NULL && p2p_buf_append(&entry.bin, addr, len) < 0)
		return P2P_ENOMEM;
	if (p->n_addrs == P2P_PEERSTORE_MAX_ADDRS)
		p2p_buf_free(&p->addrs[--p->n_addrs].bin);
	memmove(&p->addrs[1], &p->addrs[0], p->n_addrs * sizeof(p->addrs[0]));
	p->addrs[0] = entry;
	p->n_addrs++;
	return P2P_OK;
}

size_t p2p_peerstore_addrs(const p2p_peerstore *ps, const p2p_peerid *id,
                           const p2p_buf **out, p2p_addr_source *sources, size_t max)
{
	const ps_peer *p = find(ps, id, NULL);
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->n_addrs && i < max; i++) {
		out[i] = &p->addrs[i].bin;
		if (sources)
			sources[i] = p->addrs[i].source;
	}
	return p->n_addrs;
}

void p2p_peerstore_clear_addrs(p2p_peerstore *ps, const p2p_peerid *id,
                               p2p_addr_source source)
{
	ps_peer *p = find(ps, id, NULL);
	if (p == NULL)
		return;
	size_t k = 0;
	for (size_t i = 0; i < p->n_addrs; i++) {
		if (p->addrs[i].source == source)
			p2p_buf_free(&p->addrs[i].bin);
		else
			p->addrs[k++] = p->addrs[i];
	}
	p->n_addrs = k;
}

int p2p_peerstore_set_pubkey(p2p_peerstore *ps, const p2p_peerid *id,
                             const p2p_pubkey *key)
{
	int rc = p2p_peerid_matches(id, key);
	if (rc < 0)
		return rc;
	p2p_pubkey *copy = p2p_pubkey_dup(key);
	if (copy == NULL)
		return P2P_ENOMEM;
	ps_peer *p = get(ps, id);
	if (p == NULL) {
		p2p_pubkey_free(copy);
		return P2P_ENOMEM;
	}
	p2p_pubkey_free(p->key);
	p->key = copy;
	return P2P_OK;
}

const p2p_pubkey *p2p_peerstore_pubkey(const p2p_peerstore *ps, const p2p_peerid *id)
{
	const ps_peer *p = find(ps, id, NULL);
	return p ? p->key : NULL;
}

int p2p_peerstore_set_protocols(p2p_peerstore *ps, const p2p_peerid *id,
                                const char *const *protocols, size_t n)
{
	ps_peer *p = get(ps, id);
	if (p == NULL)
		return P2P_ENOMEM;
	clear_protocols(p);
	for (size_t i = 0; i < n && p->n_protocols < P2P_PEERSTORE_MAX_PROTOCOLS; i++) {
		if (strlen(protocols[i]) > P2P_PROTOCOL_ID_MAX)
			continue;
		char *copy = strdup(protocols[i]);
		if (copy == NULL)
			return P2P_ENOMEM;
		p->protocols[p->n_protocols++] = copy;
	}
	return P2P_OK;
}

size_t p2p_peerstore_protocols(const p2p_peerstore *ps, const p2p_peerid *id,
                               const char **out, size_t max)
{
	const ps_peer *p = find(ps, id, NULL);
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->n_protocols && i < max; i++)
		out[i] = p->protocols[i];
	return p->n_protocols;
}

bool p2p_peerstore_supports(const p2p_peerstore *ps, const p2p_peerid *id,
                            const char *protocol)
{
	const ps_peer *p = find(ps, id, NULL);
	for (size_t i = 0; p && i < p->n_protocols; i++)
		if (strcmp(p->protocols[i], protocol) == 0)
			return true;
	return false;
}

int p2p_peerstore_set_agent(p2p_peerstore *ps, const p2p_peerid *id, const char *agent)
{
	ps_peer *p = get(ps, id);
	if (p == NULL)
		return P2P_ENOMEM;
	char *copy = strndup(agent, P2P_PEERSTORE_MAX_AGENT);
	if (copy == NULL)
		return P2P_ENOMEM;
	free(p->agent);
	p->agent = copy;
	return P2P_OK;
}

const char *p2p_peerstore_agent(const p2p_peerstore *ps, const p2p_peerid *id)
{
	const ps_peer *p = find(ps, id, NULL);
	return p ? p->agent : NULL;
}

bool p2p_peerstore_has(const p2p_peerstore *ps, const p2p_peerid *id)
{
	return find(ps, id, NULL) != NULL;
}

void p2p_peerstore_remove(p2p_peerstore *ps, const p2p_peerid *id)
{
	size_t i;
	if (find(ps, id, &i))
		remove_at(ps, i);
}

size_t p2p_peerstore_num_peers(const p2p_peerstore *ps)
{
	return ps->n;
}
