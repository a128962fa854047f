/* AutoNAT v1 client (autonat.h): the reachability verdict from the
 * servers' answers, the probe schedule, and the DIAL request. No I/O: the
 * caller picks servers, opens streams and keeps the timer.
 *
 * One dial-back can fail for reasons that have nothing to do with a NAT
 * (the server's own network, a transient loss), so a verdict carries a
 * confidence: answers that agree raise it, contrary ones wear it down
 * before they flip it. go-libp2p's rule is asymmetric, and we keep it: a
 * single success proves reachability (someone did get through), while
 * PRIVATE needs the confidence in the other state to run out first. */
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

void p2p_autonat_client_init(p2p_autonat_client *c, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	p2p_buf_init(&c->addr);
	c->state = P2P_AUTONAT_UNKNOWN;
	c->boot_ms = now_ms;
}

void p2p_autonat_client_free(p2p_autonat_client *c)
{
	p2p_buf_free(&c->addr);
	memset(c, 0, sizeof(*c));
}

p2p_autonat_reachability p2p_autonat_client_state(const p2p_autonat_client *c)
{
	return c->state;
}

int p2p_autonat_client_confidence(const p2p_autonat_client *c)
{
	return c->confidence;
}

const p2p_buf *p2p_autonat_client_addr(const p2p_autonat_client *c)
{
	return &c->addr;
}

/* ---- schedule ---- */

uint64_t p2p_autonat_client_next_probe(const p2p_autonat_client *c, uint64_t now_ms)
{
	uint64_t at;
	if (!c->probed) {
		/* Let the host come up and meet some peers first. */
		at = c->boot_ms + P2P_AUTONAT_BOOT_DELAY_MS;
	} else {
		bool inbound_since = c->inbound && c->last_inbound_ms > c->last_probe_ms;
		uint64_t after = P2P_AUTONAT_REFRESH_INTERVAL_MS;
		if (c->forced && c->state == P2P_AUTONAT_UNKNOWN)
			after = P2P_AUTONAT_FORCED_RETRY_MS;
		else if (c->state == P2P_AUTONAT_UNKNOWN ||
		         c->confidence < P2P_AUTONAT_MAX_CONFIDENCE ||
		         (c->state != P2P_AUTONAT_PUBLIC && inbound_since))
			/* Unsure, or someone reached a host we think private. */
			after = P2P_AUTONAT_RETRY_INTERVAL_MS;
		else if (c->state == P2P_AUTONAT_PUBLIC && inbound_since) {
			/* Peers reaching us already vouch for it: ask less. */
			after *= 2;
			if (after > P2P_AUTONAT_MAX_REFRESH_MS)
				after = P2P_AUTONAT_MAX_REFRESH_MS;
		}
		at = c->last_probe_ms + after;
	}
	return at < now_ms ? now_ms : at;
}

/* 1 + the slot of server if it was asked within the throttle period, else
 * 0 (older entries no longer count). */
static size_t recent_live(const p2p_autonat_client *c, const p2p_peerid *server,
                          uint64_t now_ms)
{
	for (size_t i = 0; i < c->n_recent; i++)
		if (now_ms - c->recent[i].asked_ms < P2P_AUTONAT_SERVER_RECENT_MS &&
		    p2p_peerid_equal(&c->recent[i].server, server))
			return i + 1;
	return 0;
}

bool p2p_autonat_client_may_ask(const p2p_autonat_client *c, const p2p_peerid *server,
                                uint64_t now_ms)
{
	/* Asking the same server again would only repeat its answer. */
	return server != NULL && c->pending < P2P_AUTONAT_MAX_PENDING &&
	       recent_live(c, server, now_ms) == 0;
}

/* Records server as asked at now_ms, in its old slot, a stale one, or the
 * oldest. */
static void remember(p2p_autonat_client *c, const p2p_peerid *server, uint64_t now_ms)
{
	size_t slot = c->n_recent;
	for (size_t i = 0; i < c->n_recent; i++) {
		if (p2p_peerid_equal(&c->recent[i].server, server) ||
		    now_ms - c->recent[i].asked_ms >= P2P_AUTONAT_SERVER_RECENT_MS) {
			slot = i;
			break;
		}
	}
	if (slot == P2P_AUTONAT_MAX_RECENT) {
		slot = 0;
		for (size_t i = 1; i < c->n_recent; i++)
			if (c->recent[i].asked_ms < c->recent[slot].asked_ms)
				slot = i;
	}
	if (slot == c->n_recent)
		c->n_recent++;
	c->recent[slot].server = *server;
	c->recent[slot].asked_ms = now_ms;
}

int p2p_autonat_client_begin_probe(p2p_autonat_client *c, const p2p_peerid *server,
                                   uint64_t now_ms)
{
	/* The round counts even when nobody is asked, so that a host without
	 * servers waits a retry interval instead of spinning. */
	c->probed = true;
	c->last_probe_ms = now_ms;
	c->forced = false;
	if (server == NULL)
		return P2P_ENOTFOUND;
	if (!p2p_autonat_client_may_ask(c, server, now_ms))
		return P2P_ELIMIT;
	remember(c, server, now_ms);
	c->pending++;
	return P2P_OK;
}

void p2p_autonat_client_on_inbound(p2p_autonat_client *c, uint64_t now_ms)
{
	c->inbound = true;
	c->last_inbound_ms = now_ms;
}

void p2p_autonat_client_on_server_found(p2p_autonat_client *c)
{
	c->forced = true;
}

void p2p_autonat_client_on_addrs_changed(p2p_autonat_client *c)
{
	if (c->confidence == P2P_AUTONAT_MAX_CONFIDENCE)
		c->confidence--;
}

/* ---- verdict ---- */

/* Moves to state; returns the CHANGED bits, clearing the address when
 * leaving PUBLIC. */
static int set_state(p2p_autonat_client *c, p2p_autonat_reachability state)
{
	if (c->state == state)
		return 0;
	int changed = P2P_AUTONAT_CHANGED_STATE;
	if (c->addr.len > 0)
		changed |= P2P_AUTONAT_CHANGED_ADDR;
	p2p_buf_reset(&c->addr);
	c->state = state;
	return changed;
}

static int observe_public(p2p_autonat_client *c, const p2p_buf *addr)
{
	int changed = 0;
	if (c->state != P2P_AUTONAT_PUBLIC) {
		/* Someone got through: believe it at once, but with no
		 * confidence yet, so that the next answers still count. */
		changed = set_state(c, P2P_AUTONAT_PUBLIC);
		c->confidence = 0;
	} else if (c->confidence < P2P_AUTONAT_MAX_CONFIDENCE) {
		c->confidence++;
	}
	/* An OK without an address keeps the one we had. */
	if (addr->len == 0 || (addr->len == c->addr.len &&
	                       memcmp(addr->data, c->addr.data, addr->len) == 0))
		return changed;
	p2p_buf_reset(&c->addr);
	int rc = p2p_buf_append(&c->addr, addr->data, addr->len);
	if (rc != P2P_OK)
		return rc;
	return changed | P2P_AUTONAT_CHANGED_ADDR;
}

static int observe_private(p2p_autonat_client *c)
{
	if (c->state == P2P_AUTONAT_PRIVATE) {
		if (c->confidence < P2P_AUTONAT_MAX_CONFIDENCE)
			c->confidence++;
		return 0;
	}
	if (c->confidence > 0) {
		c->confidence--;
		return 0;
	}
	return set_state(c, P2P_AUTONAT_PRIVATE);
}

/* No verdict from this server: wear the confidence down rather than
 * drop a state that other servers established. */
static int observe_unknown(p2p_autonat_client *c)
{
	if (c->confidence > 0) {
		c->confidence--;
		return 0;
	}
	return set_state(c, P2P_AUTONAT_UNKNOWN);
}

int p2p_autonat_client_on_response(p2p_autonat_client *c, const p2p_autonat_msg *resp)
{
	if (c->pending == 0)
		return P2P_ESTATE;
	c->pending--;
	if (resp == NULL || resp->type != P2P_AUTONAT_DIAL_RESPONSE)
		return observe_unknown(c);
	switch (resp->status) {
	case P2P_AUTONAT_OK:
		return observe_public(c, &resp->addr);
	case P2P_AUTONAT_E_DIAL_ERROR:
		return observe_private(c);
	case P2P_AUTONAT_E_DIAL_REFUSED:
		/* The server would not try (its limits, our addresses): ask
		 * another soon. */
		c->forced = true;
		return 0;
	default:
		return observe_unknown(c);
	}
}

/* ---- the request ---- */

/* Whether addrs[i] repeats one before it (the first copy is the one kept,
 * or a /p2p-circuit one left out, which its copy is too). */
static bool repeated(const p2p_buf *addrs, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (addrs[j].len == addrs[i].len && addrs[i].len > 0 &&
		    memcmp(addrs[j].data, addrs[i].data, addrs[i].len) == 0)
			return true;
	return false;
}

static bool circuit(const p2p_buf *a)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	while (p2p_multiaddr_next(a->data, a->len, &off, &c) == 1)
		if (c.code == P2P_MA_P2P_CIRCUIT)
			return true;
	return false;
}

int p2p_autonat_dial_request_encode(p2p_buf *out, const p2p_peerid *self,
                                    const p2p_buf *addrs, size_t n_addrs)
{
	if (self == NULL || self->len == 0 || (addrs == NULL && n_addrs > 0))
		return P2P_EINVAL;
	for (size_t i = 0; i < n_addrs; i++)
		if (p2p_multiaddr_validate(addrs[i].data, addrs[i].len) != P2P_OK)
			return P2P_EINVAL;
	/* The message borrows the caller's buffers: n_addrs is cut back
	 * before the message is let go, and nothing here frees them. */
	p2p_buf picked[P2P_AUTONAT_MAX_ADDRS];
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	m.type = P2P_AUTONAT_DIAL;
	m.has_peer = true;
	m.has_peer_id = true;
	m.peer_id_valid = true;
	m.peer_id = *self;
	m.addrs = picked;
	for (size_t i = 0; i < n_addrs && m.n_addrs < P2P_AUTONAT_MAX_ADDRS; i++)
		if (!circuit(&addrs[i]) && !repeated(addrs, i))
			picked[m.n_addrs++] = addrs[i];
	/* The first addresses are the caller's preference: drop from the end
	 * until the message fits. */
	int rc;
	while ((rc = p2p_autonat_msg_encode(&m, out)) == P2P_ETOOBIG && m.n_addrs > 0)
		m.n_addrs--;
	m.addrs = NULL;
	m.n_addrs = 0;
	p2p_autonat_msg_free(&m);
	return rc;
}
