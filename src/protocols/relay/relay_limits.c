/* The hop server's reservation and circuit accounting (relay.h): two
 * fixed-capacity arrays scanned linearly, entries removed by moving the last
 * one into the hole (order does not matter). */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/relay.h"

void p2p_relay_limits_config_default(p2p_relay_limits_config *cfg)
{
	cfg->max_reservations = P2P_RELAY_DEFAULT_MAX_RESERVATIONS;
	cfg->max_reservations_per_ip = P2P_RELAY_DEFAULT_MAX_RESERVATIONS_PER_IP;
	cfg->max_circuits = P2P_RELAY_DEFAULT_MAX_CIRCUITS;
	cfg->max_circuits_per_peer = P2P_RELAY_DEFAULT_MAX_CIRCUITS_PER_PEER;
	cfg->reservation_ttl = P2P_RELAY_DEFAULT_RESERVATION_TTL;
}

int p2p_relay_table_init(p2p_relay_table *t, const p2p_relay_limits_config *cfg)
{
	memset(t, 0, sizeof(*t));
	if (cfg == NULL || cfg->reservation_ttl == 0)
		return P2P_EINVAL;
	t->cfg = *cfg;
	/* calloc(0) may return NULL; one spare slot keeps "no capacity"
	 * distinct from "out of memory". */
	t->rsvps = calloc(cfg->max_reservations + 1, sizeof(*t->rsvps));
	t->circuits = calloc(cfg->max_circuits + 1, sizeof(*t->circuits));
	if (t->rsvps == NULL || t->circuits == NULL) {
		p2p_relay_table_free(t);
		return P2P_ENOMEM;
	}
	return P2P_OK;
}

void p2p_relay_table_free(p2p_relay_table *t)
{
	free(t->rsvps);
	free(t->circuits);
	memset(t, 0, sizeof(*t));
}

static p2p_relay_rsvp_slot *find_slot(const p2p_relay_table *t, const p2p_peerid *peer)
{
	for (size_t i = 0; i < t->n_rsvps; i++)
		if (p2p_peerid_equal(&t->rsvps[i].peer, peer))
			return &t->rsvps[i];
	return NULL;
}

static void remove_rsvp(p2p_relay_table *t, size_t i)
{
	t->rsvps[i] = t->rsvps[--t->n_rsvps];
}

size_t p2p_relay_table_expire(p2p_relay_table *t, uint64_t now)
{
	size_t removed = 0;
	for (size_t i = 0; i < t->n_rsvps;) {
		if (t->rsvps[i].expire <= now) {
			remove_rsvp(t, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

int p2p_relay_table_reserve(p2p_relay_table *t, const p2p_peerid *peer, const uint8_t *ip,
                            size_t ip_len, uint64_t now, uint64_t *expire)
{
	if (peer == NULL || expire == NULL || ip_len > P2P_RELAY_IP_KEY_MAX ||
	    (ip_len > 0 && ip == NULL) || now > UINT64_MAX - t->cfg.reservation_ttl)
		return P2P_EINVAL;
	p2p_relay_table_expire(t, now);
	p2p_relay_rsvp_slot *slot = find_slot(t, peer);

	/* The IP's share, not counting the slot a refresh would reuse. */
	size_t same_ip = 0;
	for (size_t i = 0; i < t->n_rsvps; i++) {
		const p2p_relay_rsvp_slot *s = &t->rsvps[i];
		if ((slot == NULL || s != slot) && s->ip_len == ip_len &&
		    (ip_len == 0 || memcmp(s->ip, ip, ip_len) == 0))
			same_ip++;
	}
	if (same_ip >= t->cfg.max_reservations_per_ip)
		return P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED;
	if (slot == NULL) {
		if (t->n_rsvps >= t->cfg.max_reservations)
			return P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED;
		slot = &t->rsvps[t->n_rsvps++];
		slot->peer = *peer;
	}
	if (ip_len > 0)
		memcpy(slot->ip, ip, ip_len);
	slot->ip_len = ip_len;
	slot->expire = now + t->cfg.reservation_ttl;
	*expire = slot->expire;
	return P2P_RELAY_STATUS_OK;
}

int p2p_relay_table_find(const p2p_relay_table *t, const p2p_peerid *peer, uint64_t now,
                         uint64_t *expire)
{
	const p2p_relay_rsvp_slot *s = find_slot(t, peer);
	if (s == NULL || s->expire <= now)
		return P2P_ENOTFOUND;
	if (expire != NULL)
		*expire = s->expire;
	return P2P_OK;
}

int p2p_relay_table_release(p2p_relay_table *t, const p2p_peerid *peer)
{
	p2p_relay_rsvp_slot *s = find_slot(t, peer);
	if (s == NULL)
		return P2P_ENOTFOUND;
	remove_rsvp(t, (size_t)(s - t->rsvps));
	return P2P_OK;
}

/* Circuits peer takes part in, as either end. */
static size_t circuits_of(const p2p_relay_table *t, const p2p_peerid *peer)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_circuits; i++)
		if (p2p_peerid_equal(&t->circuits[i].src, peer) ||
		    p2p_peerid_equal(&t->circuits[i].dst, peer))
			n++;
	return n;
}

int p2p_relay_table_circuit_open(p2p_relay_table *t, const p2p_peerid *src,
                                 const p2p_peerid *dst, uint64_t now)
{
	if (src == NULL || dst == NULL)
		return P2P_EINVAL;
	if (p2p_relay_table_find(t, dst, now, NULL) != P2P_OK)
		return P2P_RELAY_STATUS_NO_RESERVATION;
	if (t->n_circuits >= t->cfg.max_circuits ||
	    circuits_of(t, src) >= t->cfg.max_circuits_per_peer ||
	    circuits_of(t, dst) >= t->cfg.max_circuits_per_peer)
		return P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED;
	p2p_relay_circuit_slot *c = &t->circuits[t->n_circuits++];
	c->src = *src;
	c->dst = *dst;
	return P2P_RELAY_STATUS_OK;
}

int p2p_relay_table_circuit_close(p2p_relay_table *t, const p2p_peerid *src,
                                  const p2p_peerid *dst)
{
	for (size_t i = 0; i < t->n_circuits; i++) {
		if (p2p_peerid_equal(&t->circuits[i].src, src) &&
		    p2p_peerid_equal(&t->circuits[i].dst, dst)) {
			t->circuits[i] = t->circuits[--t->n_circuits];
			return P2P_OK;
		}
	}
	return P2P_ENOTFOUND;
}
