/* The connection manager: what the host lets remote peers make it hold,
 * and when it lets go. The budgets are the resource manager's (rcmgr.c);
 * this file takes the reservations at the right moments and closes what
 * has to go:
 *
 *   - An accepted TCP connection is a pending handshake from the accept
 *     on (per IP and in total). When that budget is full, a newcomer from
 *     an IP holding fewer evicts the oldest handshake of the IP holding
 *     the most, so an attacker on one IP cannot starve the others. The
 *     host reads the first byte itself and must get it within
 *     first_byte_timeout_ms; only then does the upgrader (and its 15 s
 *     handshake deadline) take over, so a silent socket holds a slot 3 s.
 *   - An established connection reserves its place (per IP, per peer, in
 *     total); at max_conns the inbound, unprotected connection idle the
 *     longest (past trim_grace_ms) is closed to make room.
 *   - An inbound stream is admitted against the stream budgets, or reset
 *     before multistream-select has read a byte of it.
 *   - A tick closes inbound connections with no stream open for
 *     idle_timeout_ms, unless their peer is protected. Outbound ones are
 *     the application's: we dialed them because we wanted them (a relay
 *     reservation is a connection without streams).
 *
 * Streams are counted by looking at p2p_conn_num_streams: the host sees a
 * stream open (on_stream) but not close (the handler owns its callbacks),
 * so each connection's charge is brought up to date when one of its
 * streams opens, at every tick, and for all of them (at most once a
 * millisecond) before a stream is refused for a full budget. */
#include <string.h>

#include "host/host_internal.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

/* The tick never runs more often than this, whatever the timeouts. */
#define CM_TICK_MIN_MS 10

static void cm_log(p2p_host *h, p2p_log_level level, const char *what,
                   const p2p_buf *addr, p2p_rcmgr_reason why)
{
	if (level > h->cfg.log.level)
		return;
	p2p_buf text;
	p2p_buf_init(&text);
	if (addr->len == 0 || p2p_multiaddr_to_string(addr->data, addr->len, &text) < 0)
		p2p_buf_append(&text, "?", 2);
	p2p_log(&h->cfg.log, level, "host: %s %s: %s", what, (const char *)text.data,
	        p2p_rcmgr_reason_name(why));
	p2p_buf_free(&text);
}

static const p2p_buf *hc_addr(const host_conn *hc)
{
	static const p2p_buf none = {0};
	if (hc->waiting)
		return &hc->waiting->remote_addr;
	return hc->conn ? p2p_conn_remote_addr(hc->conn) : &none;
}

/* --- pending handshakes --- */

void host_pending_release(host_conn *hc)
{
	if (!hc->pending)
		return;
	hc->pending = false;
	p2p_rcmgr_release_pending(hc->host->rc, &hc->ip);
}

/* Closes a handshake before its time; its slot is free at once (a closed
 * TCP socket may linger a while before its on_close). */
static void pending_drop(host_conn *hc, p2p_rcmgr_reason why)
{
	p2p_host *h = hc->host;
	p2p_rcmgr_count(h->rc, why);
	cm_log(h, P2P_LOG_INFO, "closing a handshake with", hc_addr(hc), why);
	host_pending_release(hc);
	if (hc->waiting)
		p2p_pipe_close(hc->waiting);
	else if (hc->conn)
		p2p_conn_close(hc->conn, P2P_ELIMIT);
}

p2p_rcmgr_reason host_pending_admit(p2p_host *h, const p2p_rcmgr_ip *ip)
{
	p2p_rcmgr_ip victim;
	if (p2p_rcmgr_can_pending(h->rc, ip) == P2P_RCMGR_PENDING_SYSTEM &&
	    p2p_rcmgr_pending_victim(h->rc, ip, &victim)) {
		host_conn *oldest = NULL;
		for (host_conn *hc = h->conns; hc; hc = hc->next)
			if (hc->pending && p2p_rcmgr_ip_equal(&hc->ip, &victim) &&
			    (oldest == NULL || hc->since <= oldest->since))
				oldest = hc;
		if (oldest)
			pending_drop(oldest, P2P_RCMGR_EVICTED);
	}
	return p2p_rcmgr_reserve_pending(h->rc, ip);
}

/* --- waiting for the first byte --- */

static const p2p_pipe_callbacks no_pipe_cbs = {0};

static void waiting_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	host_conn *hc = user;
	hc->waiting = NULL;
	/* Until the upgrader sets its own, nothing may reach hc through the
	 * pipe: host_upgrade forgets hc if it fails. */
	p2p_pipe_set_callbacks(p, &no_pipe_cbs, NULL);
	p2p_host_pipe_opts o = {.initiator = false, .direction = P2P_DIR_INBOUND};
	if (host_upgrade(hc, p, &o, NULL, NULL) < 0)
		return;
	/* The pipe reads for the upgrader now: these bytes are its too. We
	 * are inside the pipe's own on_read, so they are still valid. */
	if (p->cb.on_read)
		p->cb.on_read(p, data, len, p->user);
}

static void waiting_gone(p2p_pipe *p, void *user)
{
	p2p_pipe_close(p);
}

static void waiting_error(p2p_pipe *p, int err, void *user)
{
	p2p_pipe_close(p);
}

static void waiting_closed(p2p_pipe *p, void *user)
{
	host_conn *hc = user;
	host_pending_release(hc);
	host_conn_failed(hc);
}

static const p2p_pipe_callbacks waiting_cbs = {
    .on_read = waiting_read,
    .on_eof = waiting_gone,
    .on_error = waiting_error,
    .on_close = waiting_closed,
};

int p2p_host_expect_inbound(p2p_host *h, const uint8_t *remote_addr, size_t len,
                            bool initiator, uint64_t ttl_ms)
{
	size_t prefix;
	if (h == NULL || remote_addr == NULL ||
	    p2p_multiaddr_without_peer_id(remote_addr, len, &prefix) < 0 || prefix == 0 ||
	    prefix > P2P_HOST_EXPECTED_ADDR_MAX)
		return P2P_EINVAL;
	uint64_t now = uv_now(h->loop);
	size_t kept = 0; /* the expired ones go first */
	for (size_t i = 0; i < h->n_expected; i++)
		if (h->expected[i].until > now)
			h->expected[kept++] = h->expected[i];
	h->n_expected = kept;
	if (h->n_expected == P2P_HOST_MAX_EXPECTED)
		return P2P_ELIMIT;
	host_expected *e = &h->expected[h->n_expected++];
	memcpy(e->addr, remote_addr, prefix);
	e->len = prefix;
	e->initiator = initiator;
	e->until = now + ttl_ms;
	return P2P_OK;
}

/* Takes the expectation that matches an accepted pipe's remote address:
 * true and its role if there is one. */
static bool take_expected(p2p_host *h, const p2p_buf *remote, bool *initiator)
{
	uint64_t now = uv_now(h->loop);
	for (size_t i = 0; i < h->n_expected; i++) {
		host_expected *e = &h->expected[i];
		if (e->until <= now || e->len != remote->len ||
		    memcmp(e->addr, remote->data, e->len) != 0)
			continue;
		*initiator = e->initiator;
		h->expected[i] = h->expected[--h->n_expected];
		return true;
	}
	return false;
}

void host_accept(p2p_host *h, p2p_pipe *pipe)
{
	p2p_rcmgr_ip ip;
	p2p_rcmgr_ip_from_addr(pipe->remote_addr.data, pipe->remote_addr.len, &ip);
	if (h->closing) {
		p2p_pipe_close(pipe);
		return;
	}
	p2p_rcmgr_reason why =
	    host_conns_full(h) ? P2P_RCMGR_CONNS_SYSTEM : host_pending_admit(h, &ip);
	if (why != P2P_RCMGR_OK) {
		cm_log(h, P2P_LOG_INFO, "refusing an inbound connection from",
		       &pipe->remote_addr, why);
		p2p_pipe_close(pipe);
		return;
	}
	host_conn *hc = host_conn_add(h, NULL, true);
	if (hc == NULL) {
		p2p_rcmgr_release_pending(h->rc, &ip);
		p2p_pipe_close(pipe);
		return;
	}
	hc->ip = ip;
	hc->pending = true;
	bool initiator = false;
	if (take_expected(h, &pipe->remote_addr, &initiator) && initiator) {
		/* We speak first: no first byte to wait for. */
		p2p_host_pipe_opts o = {.initiator = true, .direction = P2P_DIR_INBOUND};
		(void)host_upgrade(hc, pipe, &o, NULL, NULL);
		return;
	}
	hc->waiting = pipe;
	p2p_pipe_set_callbacks(pipe, &waiting_cbs, hc);
	if (p2p_pipe_read_start(pipe) < 0)
		p2p_pipe_close(pipe); /* waiting_closed forgets hc */
}

/* --- connections --- */

static bool conn_idle(const host_conn *hc)
{
	return hc->open && hc->reserved && !hc->dropped &&
	       p2p_conn_num_streams(hc->conn) == 0;
}

static bool peer_protected(const host_conn *hc)
{
	return p2p_rcmgr_is_protected(hc->host->rc, p2p_conn_remote_peer(hc->conn));
}

/* The inbound, unprotected connection without streams idle the longest,
 * if that is longer than the grace period. */
static host_conn *trim_victim(p2p_host *h, uint64_t now)
{
	host_conn *best = NULL;
	for (host_conn *hc = h->conns; hc; hc = hc->next) {
		if (!hc->inbound || !conn_idle(hc) ||
		    now - hc->busy_at < h->cfg.trim_grace_ms || peer_protected(hc))
			continue;
		if (best == NULL || hc->busy_at < best->busy_at)
			best = hc;
	}
	return best;
}

/* Closes an open connection and gives back what it held at once, so that
 * its place is free before its on_close. */
static void conn_drop(host_conn *hc, p2p_rcmgr_reason why)
{
	p2p_host *h = hc->host;
	p2p_rcmgr_count(h->rc, why);
	cm_log(h, P2P_LOG_INFO, "closing the connection with", hc_addr(hc), why);
	hc->dropped = true;
	host_conn_release(hc);
	p2p_conn_close(hc->conn, 0);
}

bool host_conns_full(p2p_host *h)
{
	p2p_rcmgr_stats st;
	p2p_rcmgr_stats_get(h->rc, &st);
	if (st.conns < h->cfg.max_conns || trim_victim(h, uv_now(h->loop)))
		return false;
	p2p_rcmgr_count(h->rc, P2P_RCMGR_CONNS_SYSTEM);
	return true;
}

bool host_conn_admit(host_conn *hc)
{
	p2p_host *h = hc->host;
	const p2p_peerid *peer = p2p_conn_remote_peer(hc->conn);
	uint64_t now = uv_now(h->loop);
	if (p2p_rcmgr_can_conn(h->rc, &hc->ip, peer) == P2P_RCMGR_CONNS_SYSTEM) {
		host_conn *victim = trim_victim(h, now);
		if (victim)
			conn_drop(victim, P2P_RCMGR_TRIMMED);
	}
	p2p_rcmgr_reason r = p2p_rcmgr_reserve_conn(h->rc, &hc->ip, peer);
	if (r != P2P_RCMGR_OK) {
		cm_log(h, P2P_LOG_INFO, "refusing the connection with",
		       p2p_conn_remote_addr(hc->conn), r);
		return false;
	}
	hc->reserved = true;
	hc->busy_at = now; /* a new connection gets a whole idle period */
	return true;
}

void host_conn_release(host_conn *hc)
{
	if (!hc->reserved)
		return;
	p2p_host *h = hc->host;
	const p2p_peerid *peer = p2p_conn_remote_peer(hc->conn);
	p2p_rcmgr_release_streams(h->rc, &hc->ip, peer, hc->streams);
	p2p_rcmgr_release_conn(h->rc, &hc->ip, peer);
	hc->streams = 0;
	hc->reserved = false;
}

/* --- streams --- */

/* Brings hc's charge up to the streams it has, less `fresh` (the one
 * being admitted). */
static void streams_sync(host_conn *hc, uint32_t fresh, uint64_t now)
{
	if (!hc->reserved)
		return;
	size_t have = p2p_conn_num_streams(hc->conn);
	uint32_t n = have > fresh ? (uint32_t)(have - fresh) : 0;
	const p2p_peerid *peer = p2p_conn_remote_peer(hc->conn);
	if (n > hc->streams)
		p2p_rcmgr_add_streams(hc->host->rc, &hc->ip, peer, n - hc->streams);
	else
		p2p_rcmgr_release_streams(hc->host->rc, &hc->ip, peer, hc->streams - n);
	hc->streams = n;
	if (have > 0)
		hc->busy_at = now;
}

bool host_stream_admit(host_conn *hc)
{
	p2p_host *h = hc->host;
	uint64_t now = uv_now(h->loop);
	const p2p_peerid *peer = p2p_conn_remote_peer(hc->conn);
	if (!hc->reserved)
		return false; /* being dropped */
	streams_sync(hc, 1, now);
	p2p_rcmgr_reason r = p2p_rcmgr_can_stream(h->rc, &hc->ip, peer);
	if ((r == P2P_RCMGR_STREAMS_SYSTEM || r == P2P_RCMGR_STREAMS_IP) &&
	    h->cm_synced_at != now) {
		/* Other connections' streams may have closed since they were
		 * last counted: recount before refusing. */
		h->cm_synced_at = now;
		for (host_conn *o = h->conns; o; o = o->next)
			if (o != hc && o->open)
				streams_sync(o, 0, now);
	}
	r = p2p_rcmgr_reserve_stream(h->rc, &hc->ip, peer);
	if (r != P2P_RCMGR_OK) {
		cm_log(h, P2P_LOG_DEBUG, "resetting a stream from",
		       p2p_conn_remote_addr(hc->conn), r);
		return false;
	}
	hc->streams++;
	return true;
}

/* --- the tick --- */

static void on_cm_tick(uv_timer_t *t)
{
	p2p_host *h = t->data;
	uint64_t now = uv_now(h->loop);
	h->cm_synced_at = now;
	for (host_conn *hc = h->conns; hc; hc = hc->next) {
		if (hc->waiting) {
			if (hc->pending &&
			    now - hc->since >= h->cfg.first_byte_timeout_ms)
				pending_drop(hc, P2P_RCMGR_FIRST_BYTE);
			continue;
		}
		if (!hc->open || !hc->reserved)
			continue;
		streams_sync(hc, 0, now);
		if (hc->inbound && h->cfg.idle_timeout_ms && hc->streams == 0 &&
		    now - hc->busy_at >= h->cfg.idle_timeout_ms && !peer_protected(hc))
			conn_drop(hc, P2P_RCMGR_IDLE);
	}
}

/* A quarter of the shortest deadline it watches, so that none is late by
 * more than that. */
static uint64_t cm_tick_ms(const p2p_host *h)
{
	uint64_t tick = P2P_HOST_CM_TICK_MS;
	const uint64_t deadlines[] = {h->cfg.first_byte_timeout_ms,
	                              h->cfg.idle_timeout_ms};
	for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++)
		if (deadlines[i] && deadlines[i] / 4 < tick)
			tick = deadlines[i] / 4;
	return tick < CM_TICK_MIN_MS ? CM_TICK_MIN_MS : tick;
}

int host_cm_init(p2p_host *h)
{
	const p2p_host_config *c = &h->cfg;
	p2p_rcmgr_limits limits = {
	    .pending = c->max_pending_inbound,
	    .pending_per_ip = c->max_pending_per_ip,
	    .conns = c->max_conns,
	    .conns_per_ip = c->max_conns_per_ip,
	    .conns_per_peer = c->max_conns_per_peer,
	    .streams = c->max_streams,
	    .streams_per_ip = c->max_streams_per_ip,
	    .streams_per_peer = c->max_streams_per_peer,
	    .streams_floor_per_peer = c->streams_floor_per_peer,
	    .exempt_loopback = c->exempt_loopback,
	};
	uint8_t seed[P2P_RCMGR_SEED_LEN];
	if (uv_random(NULL, NULL, seed, sizeof(seed), 0, NULL) < 0)
		return P2P_ECRYPTO;
	int rc = p2p_rcmgr_new(&h->rc, &limits, seed);
	if (rc < 0)
		return rc;
	uv_timer_init(h->loop, &h->cm_timer);
	h->cm_timer.data = h;
	h->cm_timer_open = true;
	uint64_t tick = cm_tick_ms(h);
	uv_timer_start(&h->cm_timer, on_cm_tick, tick, tick);
	/* The tick alone keeps no loop running. */
	uv_unref((uv_handle_t *)&h->cm_timer);
	return P2P_OK;
}

static void on_cm_closed(uv_handle_t *handle)
{
	p2p_host *h = handle->data;
	h->cm_timer_open = false;
	host_maybe_finish(h);
}

void host_cm_close(p2p_host *h)
{
	if (h->cm_timer_open && !uv_is_closing((uv_handle_t *)&h->cm_timer))
		uv_close((uv_handle_t *)&h->cm_timer, on_cm_closed);
}

/* --- the API --- */

int p2p_host_protect(p2p_host *h, const p2p_peerid *peer, bool on)
{
	if (peer == NULL)
		return P2P_EINVAL;
	return p2p_rcmgr_protect(h->rc, peer, on);
}

bool p2p_host_is_protected(const p2p_host *h, const p2p_peerid *peer)
{
	return peer && p2p_rcmgr_is_protected(h->rc, peer);
}

void p2p_host_rcmgr_stats(p2p_host *h, p2p_rcmgr_stats *out)
{
	/* Streams closed since the last count are given back first. */
	uint64_t now = uv_now(h->loop);
	for (host_conn *hc = h->conns; hc; hc = hc->next)
		if (hc->open)
			streams_sync(hc, 0, now);
	p2p_rcmgr_stats_get(h->rc, out);
}
