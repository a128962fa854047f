/* Hole punching on a host (holepunch.h): the I/O around the DCUtR core
 * (dcutr.h). One punch per relayed connection; it owns:
 *   - the DCUtR stream, fed to the core;
 *   - one timer: the core's deadline while punching, then, once a direct
 *     connection is up, the check that retires the relayed connection;
 *   - the punch dials in flight (raw TCP from our listening port) and the
 *     upgrades of the ones that connected.
 * A direct connection to the peer showing up (ours, or the peer's SYN
 * taken by our listener) is the success, whichever way it came.
 *
 * A punch is freed once its timer is closed and no dial or upgrade is in
 * flight: their callbacks cannot be withdrawn, so they find the punch
 * still there, marked released. */
#include <stdlib.h>
#include <string.h>

#include "p2p/dcutr.h"
#include "p2p/error.h"
#include "p2p/holepunch.h"
#include "p2p/transport.h"

/* Our candidate addresses at most (observed plus announced). */
#define HP_MAX_OWN_ADDRS P2P_DCUTR_MAX_ADDRS
/* Bytes of the peer's next messages held while we dial. */
#define HP_MAX_BACKLOG (2 * P2P_DCUTR_MAX_MESSAGE)
/* How often a retiring punch looks at its relayed connection. */
#define HP_RETIRE_TICK_MS 1000

typedef struct punch punch;

/* For a stream we let go of: nothing of it reaches the punch again. */
static const p2p_stream_callbacks no_cb;

typedef struct punch_dial {
	punch *p;
	p2p_tcp_dialer *d; /* in flight, or NULL */
} punch_dial;

struct punch {
	p2p_holepunch *hp; /* NULL once the service is freed */
	punch *prev, *next;
	p2p_peerid peer;
	p2p_conn *relayed; /* NULL once it closed */
	p2p_stream *stream;
	bool initiator;
	p2p_dcutr core;
	p2p_buf backlog; /* peer bytes the core did not take yet */
	uv_timer_t timer;
	punch_dial dials[P2P_HOLEPUNCH_MAX_DIALS];
	unsigned dialing;   /* dials in flight */
	unsigned upgrading; /* upgrades in flight */
	bool inbound_wait;  /* a dial found its 4-tuple taken: the peer's SYN
	                     * reached our listener; its upgrade is awaited */
	bool done;          /* the outcome was reported */
	bool retiring;      /* done, ok: watching the relayed connection */
	uint64_t idle_since;
	uint64_t ok_at;            /* when the direct connection came */
	uint64_t started_at;       /* when the punch began (the relayed connection's
	                            * upgrade, on the initiator) */
	bool selecting;            /* multistream-select in flight on stream */
	unsigned expected_attempt; /* expect_peer ran for this attempt */
	bool released;
	bool timer_closed;
};

struct p2p_holepunch {
	p2p_host *host;
	p2p_identify_service *id;
	p2p_holepunch_config cfg;
	punch *punches;
	size_t n_punches;
	p2p_holepunch_stats stats;
};

static const p2p_logger *logger(const p2p_holepunch *hp)
{
	return p2p_host_logger(hp->host);
}

static uint64_t now_ms(const punch *p)
{
	return uv_now(p->timer.loop);
}

/* --- lifetime --- */

static void punch_maybe_free(punch *p)
{
	if (!p->released || !p->timer_closed || p->dialing > 0 || p->upgrading > 0 ||
	    p->selecting)
		return;
	p2p_dcutr_free(&p->core);
	p2p_buf_free(&p->backlog);
	free(p);
}

static void on_timer_closed(uv_handle_t *h)
{
	punch *p = h->data;
	p->timer_closed = true;
	punch_maybe_free(p);
}

static void cancel_dials(punch *p)
{
	for (size_t i = 0; i < P2P_HOLEPUNCH_MAX_DIALS; i++)
		if (p->dials[i].d != NULL)
			p2p_tcp_dial_cancel(p->dials[i].d);
}

/* Lets go of p's stream: nothing of it reaches p again, and it is reset
 * or closed cleanly. One still negotiating is on_selected's to drop. */
static void drop_stream(punch *p, bool reset)
{
	p2p_stream *s = p->stream;
	if (s == NULL || p->selecting)
		return;
	p->stream = NULL;
	p2p_stream_set_callbacks(s, &no_cb, NULL);
	if (reset)
		p2p_stream_reset(s);
	else
		p2p_stream_close(s);
}

/* Unlinks p from the service and lets it go once nothing is in flight. */
static void punch_release(punch *p)
{
	if (p->released)
		return;
	p->released = true;
	if (p->hp) {
		if (p->prev)
			p->prev->next = p->next;
		else
			p->hp->punches = p->next;
		if (p->next)
			p->next->prev = p->prev;
		p->hp->n_punches--;
	}
	drop_stream(p, true);
	p->stream = NULL; /* negotiating: on_selected drops it */
	cancel_dials(p);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}

/* --- outcome --- */

static void on_timer(uv_timer_t *t);
static void start_initiator(p2p_holepunch *hp, p2p_conn *c);

static void finish(punch *p, bool ok, int err, p2p_conn *direct)
{
	if (p->done)
		return;
	p->done = true;
	p->inbound_wait = false;
	p2p_holepunch *hp = p->hp;
	char id[P2P_PEERID_STR_MAX];
	if (p2p_peerid_to_string(&p->peer, id, sizeof id) < 0)
		strcpy(id, "?");
	if (ok) {
		hp->stats.succeeded++;
		p2p_log(logger(hp), P2P_LOG_INFO,
		        "holepunch: direct connection to %s after %u attempt(s)", id,
		        p2p_dcutr_attempt(&p->core));
	} else {
		hp->stats.failed++;
		p2p_log(logger(hp), P2P_LOG_INFO, "holepunch: no direct path to %s: %s",
		        id, p2p_strerror(err));
	}
	/* Finished: a clean close; failed: the peer may still wait. */
	drop_stream(p, !ok);
	cancel_dials(p);
	p2p_holepunch_event ev = {
	    .peer = &p->peer,
	    .initiator = p->initiator,
	    .ok = ok,
	    .err = ok ? 0 : err,
	    .attempts = p2p_dcutr_attempt(&p->core),
	    .rtt_ms = p2p_dcutr_rtt_ms(&p->core),
	    .elapsed_ms = now_ms(p) - p->started_at,
	    .conn = ok ? direct : NULL,
	};
	if (ok && p->relayed != NULL && !hp->cfg.keep_relayed) {
		p->retiring = true;
		p->idle_since = now_ms(p);
		p->ok_at = p->idle_since;
		uv_timer_start(&p->timer, on_timer, HP_RETIRE_TICK_MS, HP_RETIRE_TICK_MS);
	} else {
		punch_release(p);
	}
	if (hp->cfg.on_event)
		hp->cfg.on_event(&ev, hp->cfg.user);
}

/* A direct (not relayed) open connection to the peer, if there is one. */
static p2p_conn *direct_conn(p2p_host *h, const p2p_peerid *peer)
{
	p2p_conn *c = p2p_host_conn(h, peer);
	return c != NULL && !p2p_conn_is_relayed(c) ? c : NULL;
}

/* --- driving the core --- */

static void start_dials(punch *p);
static void dials_over(punch *p);
static void feed(punch *p, const uint8_t *data, size_t len);

/* The initiator, once it has the peer's addresses (its SYNC is out or
 * about to be): the peer dials at once on our SYNC, and without a NAT
 * between us (a LAN, loopback) its SYN lands on our listener, maybe
 * before our own dial starts. That connection must get our role. */
static void expect_peer(punch *p)
{
	size_t n;
	const p2p_buf *addrs = p2p_dcutr_remote_addrs(&p->core, &n);
	if (!p->initiator || n == 0 || p->expected_attempt == p2p_dcutr_attempt(&p->core))
		return;
	p->expected_attempt = p2p_dcutr_attempt(&p->core);
	for (size_t i = 0; i < n && i < P2P_HOLEPUNCH_MAX_DIALS; i++)
		(void)p2p_host_expect_inbound(
		    p->hp->host, addrs[i].data, addrs[i].len, true,
		    p->hp->cfg.dial_timeout_ms + P2P_DCUTR_STEP_TIMEOUT_MS);
}

/* Sends what the core produced, then acts on its state. */
static void after_core(punch *p, p2p_buf *out)
{
	expect_peer(p);
	if (out->len > 0 && p->stream != NULL) {
		int rc = p2p_stream_write(p->stream, out->data, out->len);
		if (rc < 0) {
			p2p_buf_free(out);
			finish(p, false, rc, NULL);
			return;
		}
	}
	p2p_buf_free(out);
	switch (p2p_dcutr_get_state(&p->core)) {
	case P2P_DCUTR_WAIT: {
		uint64_t at = p2p_dcutr_deadline(&p->core), now = now_ms(p);
		if (at != UINT64_MAX)
			uv_timer_start(&p->timer, on_timer, at > now ? at - now : 0, 0);
		else
			uv_timer_stop(&p->timer);
		if (p->backlog.len > 0 && p->dialing == 0 && p->upgrading == 0) {
			p2p_buf held;
			p2p_buf_init(&held);
			p2p_buf_move(&held, &p->backlog);
			feed(p, held.data, held.len);
			p2p_buf_free(&held);
		}
		break;
	}
	case P2P_DCUTR_DIAL:
		uv_timer_stop(&p->timer);
		start_dials(p);
		break;
	case P2P_DCUTR_DONE:
		break; /* finish() ran, or runs, from the connection's arrival */
	case P2P_DCUTR_FAILED:
		finish(p, false, p2p_dcutr_error(&p->core), NULL);
		break;
	}
}

static void feed(punch *p, const uint8_t *data, size_t len)
{
	if (p->done)
		return;
	if (p2p_dcutr_get_state(&p->core) != P2P_DCUTR_WAIT) {
		/* Dialing: the peer's next attempt waits its turn; ours are
		 * given up, as it gave up on them. */
		if (p->backlog.len + len > HP_MAX_BACKLOG) {
			finish(p, false, P2P_ELIMIT, NULL);
			return;
		}
		if (p2p_buf_append(&p->backlog, data, len) < 0) {
			finish(p, false, P2P_ENOMEM, NULL);
			return;
		}
		if (!p->initiator)
			cancel_dials(p);
		return;
	}
	p2p_buf out;
	p2p_buf_init(&out);
	size_t used = 0;
	int rc = p2p_dcutr_recv(&p->core, data, len, &used, now_ms(p), &out);
	if (rc == P2P_OK && used < len &&
	    p2p_buf_append(&p->backlog, data + used, len - used) < 0) {
		p2p_buf_free(&out);
		finish(p, false, P2P_ENOMEM, NULL);
		return;
	}
	after_core(p, &out);
}

/* Two direct connections to the peer after a punch: where each SYN can
 * reach the other's listener (a LAN, loopback), both dials connect. Both
 * sides keep the one the DCUtR initiator dialed, which they agree on, and
 * close the other once it carries no stream. Through NATs the SYNs cross
 * and there is one connection (outbound on both sides): nothing to do. */
static void close_duplicates(punch *p)
{
	p2p_conn *all[P2P_HOST_MAX_CONNS], *extra[P2P_HOST_MAX_CONNS];
	size_t n = p2p_host_conns(p->hp->host, all, P2P_HOST_MAX_CONNS), n_extra = 0;
	p2p_direction keep = p->initiator ? P2P_DIR_OUTBOUND : P2P_DIR_INBOUND;
	bool kept = false;
	for (size_t i = 0; i < n && i < P2P_HOST_MAX_CONNS; i++) {
		p2p_conn *c = all[i];
		if (p2p_conn_is_relayed(c) || !p2p_conn_is_open(c) ||
		    !p2p_peerid_equal(p2p_conn_remote_peer(c), &p->peer))
			continue;
		if (p2p_conn_direction(c) == keep)
			kept = true;
		else if (p2p_conn_num_streams(c) == 0)
			extra[n_extra++] = c;
	}
	if (!kept)
		return;
	for (size_t i = 0; i < n_extra; i++) {
		p2p_log(logger(p->hp), P2P_LOG_DEBUG,
		        "holepunch: closing a second direct connection to the same peer");
		p2p_conn_close(extra[i], 0);
	}
}

static void on_timer(uv_timer_t *t)
{
	punch *p = t->data;
	if (p->retiring) {
		/* Retire the relayed connection once a direct one carries the
		 * peer and it has carried no stream for the grace period; and
		 * for as long as a late dial of either side may still connect,
		 * watch for a second direct connection. */
		p2p_holepunch *hp = p->hp;
		uint64_t now = now_ms(p);
		bool watching = now - p->ok_at < 2 * hp->cfg.dial_timeout_ms;
		close_duplicates(p);
		if (p->relayed == NULL) {
			if (!watching)
				punch_release(p);
			return;
		}
		if (direct_conn(hp->host, &p->peer) == NULL) {
			/* The direct connection died (a NAT forgot its
			 * mapping) and the relay still carries the peer: its
			 * streams go back there (p2p_host_conn); punch again. */
			p2p_conn *c = p->relayed;
			bool again = p->initiator;
			punch_release(p);
			if (again)
				start_initiator(hp, c);
			return;
		}
		if (p2p_conn_num_streams(p->relayed) > 0)
			p->idle_since = now;
		else if (now - p->idle_since >= hp->cfg.relayed_grace_ms) {
			p2p_conn *c = p->relayed;
			p->relayed = NULL;
			if (!watching)
				punch_release(p);
			p2p_conn_close(c, 0);
		}
		return;
	}
	if (p->inbound_wait) {
		/* The peer's connection never came up: this attempt failed. */
		p->inbound_wait = false;
		dials_over(p);
		return;
	}
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_dcutr_tick(&p->core, now_ms(p), &out);
	(void)rc; /* a failure shows in the state */
	after_core(p, &out);
}

/* --- the stream --- */

static void on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	punch *p = user;
	p2p_stream_consume(s, len);
	feed(p, data, len);
}

static void on_stream_gone(punch *p)
{
	p->stream = NULL;
	if (p->done)
		return;
	p2p_dcutr_stream_closed(&p->core);
	/* Dialing still: let the dials decide. */
	if (p2p_dcutr_get_state(&p->core) == P2P_DCUTR_FAILED)
		finish(p, false, p2p_dcutr_error(&p->core), NULL);
}

static void on_fin(p2p_stream *s, void *user)
{
	punch *p = user;
	/* The peer said all it will: whatever we wait for never comes. The
	 * stream lives on (its close is to come): let go of it first. */
	if (p2p_dcutr_get_state(&p->core) == P2P_DCUTR_WAIT && p->stream == s) {
		drop_stream(p, false);
		on_stream_gone(p);
	}
}

static void on_close(p2p_stream *s, void *user)
{
	(void)s;
	on_stream_gone(user);
}

static const p2p_stream_callbacks stream_cb = {
    .on_data = on_data,
    .on_fin = on_fin,
    .on_close = on_close,
};

/* --- dialing --- */

static int open_attempt_stream(punch *p);

/* Every dial and upgrade came back without a connection. The initiator's
 * next attempt goes on a new stream: go-libp2p answers one exchange per
 * stream (the spec would reuse it; a new one suits both). */
static void dials_over(punch *p)
{
	if (p->dialing > 0 || p->upgrading > 0 || p->done || p->released)
		return;
	if (p->inbound_wait) {
		/* Not over while the peer's own connection is on its way: wait
		 * for it (on_connected) as long as a dial may take. */
		if (!uv_is_active((uv_handle_t *)&p->timer))
			uv_timer_start(&p->timer, on_timer, p->hp->cfg.dial_timeout_ms,
			               0);
		return;
	}
	if (p->initiator && p2p_dcutr_attempt(&p->core) < P2P_DCUTR_MAX_ATTEMPTS) {
		int rc = open_attempt_stream(p);
		if (rc < 0)
			finish(p, false, rc, NULL);
		return;
	}
	p2p_buf out;
	p2p_buf_init(&out);
	p2p_dcutr_dial_result(&p->core, false, now_ms(p), &out);
	after_core(p, &out);
}

static void on_upgraded(p2p_conn *c, int err, void *user)
{
	punch *p = user;
	p->upgrading--;
	if (p->released) {
		punch_maybe_free(p);
		return;
	}
	/* Success arrives through on_connected; a failure may be the last
	 * word of this attempt. */
	if (c == NULL) {
		char id[P2P_PEERID_STR_MAX] = "?";
		p2p_peerid_to_string(&p->peer, id, sizeof id);
		p2p_log(logger(p->hp), P2P_LOG_DEBUG, "holepunch: %s: upgrade failed: %s",
		        id, p2p_strerror(err));
		dials_over(p);
	}
}

static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	punch_dial *pd = user;
	punch *p = pd->p;
	pd->d = NULL;
	p->dialing--;
	if (p->released || p->done || p->hp == NULL || err < 0) {
		if (pipe)
			p2p_pipe_close(pipe);
		if (p->released)
			punch_maybe_free(p);
		else
			dials_over(p);
		return;
	}
	/* The first socket through wins; the others are given up. */
	p->upgrading++;
	cancel_dials(p);
	p2p_host_pipe_opts o = {
	    .initiator = p->initiator,
	    .direction = P2P_DIR_OUTBOUND,
	    .expected = &p->peer,
	};
	int rc = p2p_host_upgrade_pipe(p->hp->host, pipe, &o, on_upgraded, p);
	if (rc < 0) {
		p->upgrading--;
		dials_over(p);
	}
}

static void start_dials(punch *p)
{
	size_t n;
	const p2p_buf *addrs = p2p_dcutr_remote_addrs(&p->core, &n);
	uint64_t timeout = p->hp->cfg.dial_timeout_ms;
	for (size_t i = 0; i < n && i < P2P_HOLEPUNCH_MAX_DIALS; i++) {
		/* From the port peers saw us at, or not at all: from another
		 * port the NAT would not know the answer. */
		p2p_tcp_dial_opts o = {.local_port = p2p_host_dial_port(
		                           p->hp->host, addrs[i].data, addrs[i].len),
		                       .no_fallback = true};
		punch_dial *pd = &p->dials[i];
		pd->p = p;
		int rc =
		    p2p_tcp_dial_ex(&pd->d, p2p_host_loop(p->hp->host), addrs[i].data,
		                    addrs[i].len, timeout, &o, on_dialed, pd);
		if (rc < 0)
			pd->d = NULL;
		else
			p->dialing++;
		/* Taken 4-tuple: a connection between the two ports exists
		 * already, the peer's SYN to our listener (no NAT between us:
		 * a LAN, loopback); its upgrade is under way. (A port held by
		 * another program looks the same: the wait costs one dial
		 * timeout then.) */
		if (rc == P2P_EADDRINUSE)
			p->inbound_wait = true;
	}
	if (p->dialing == 0)
		dials_over(p);
}

/* --- starting punches --- */

/* Our candidates: what peers observed, then what we announce. */
static size_t own_addrs(p2p_holepunch *hp, p2p_buf *out, size_t max)
{
	size_t n = p2p_identify_service_observed(hp->id, 1, out, max);
	if (n > max)
		n = max;
	const p2p_buf *ann[P2P_HOST_MAX_ANNOUNCE];
	size_t m = p2p_host_announce_addrs(hp->host, ann, P2P_HOST_MAX_ANNOUNCE);
	for (size_t i = 0; i < m && i < P2P_HOST_MAX_ANNOUNCE && n < max; i++) {
		p2p_buf_reset(&out[n]);
		if (p2p_buf_append(&out[n], ann[i]->data, ann[i]->len) == 0)
			n++;
	}
	return n;
}

static punch *find_punch(p2p_holepunch *hp, const p2p_peerid *peer)
{
	for (punch *p = hp->punches; p; p = p->next)
		if (p2p_peerid_equal(&p->peer, peer))
			return p;
	return NULL;
}

static punch *punch_new(p2p_holepunch *hp, p2p_conn *relayed, bool initiator)
{
	if (hp->n_punches >= P2P_HOLEPUNCH_MAX_PUNCHES)
		return NULL;
	punch *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p2p_buf own[HP_MAX_OWN_ADDRS];
	for (size_t i = 0; i < HP_MAX_OWN_ADDRS; i++)
		p2p_buf_init(&own[i]);
	size_t n = own_addrs(hp, own, HP_MAX_OWN_ADDRS);
	int rc = p2p_dcutr_init(
	    &p->core, initiator ? P2P_DCUTR_INITIATOR : P2P_DCUTR_RESPONDER, own, n);
	for (size_t i = 0; i < HP_MAX_OWN_ADDRS; i++)
		p2p_buf_free(&own[i]);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	p->hp = hp;
	p->peer = *p2p_conn_remote_peer(relayed);
	p->relayed = relayed;
	p->initiator = initiator;
	p2p_buf_init(&p->backlog);
	uv_timer_init(p2p_host_loop(hp->host), &p->timer);
	p->timer.data = p;
	p->started_at = now_ms(p);
	p->next = hp->punches;
	if (hp->punches)
		hp->punches->prev = p;
	hp->punches = p;
	hp->n_punches++;
	hp->stats.started++;
	return p;
}

static void on_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	(void)protocol;
	punch *p = user;
	p->selecting = false;
	if (p->released || p->done) {
		/* Over while negotiating: the stream is ours to drop. */
		if (p->stream == s)
			p->stream = NULL;
		if (err == 0)
			p2p_stream_reset(s);
		punch_maybe_free(p);
		return;
	}
	if (err < 0) {
		p->stream = NULL; /* the library frees it */
		finish(p, false, err, NULL);
		return;
	}
	p2p_stream_set_callbacks(s, &stream_cb, p);
	p2p_buf out;
	p2p_buf_init(&out);
	int rc;
	if (p2p_dcutr_attempt(&p->core) == 0) {
		rc = p2p_dcutr_start(&p->core, now_ms(p), &out);
	} else {
		/* The failed attempt's result, on the new stream: the core
		 * answers with the next CONNECT. */
		rc = p2p_dcutr_new_stream(&p->core);
		if (rc == 0)
			rc = p2p_dcutr_dial_result(&p->core, false, now_ms(p), &out);
	}
	if (rc < 0 && p2p_dcutr_get_state(&p->core) != P2P_DCUTR_FAILED) {
		p2p_buf_free(&out);
		finish(p, false, rc, NULL);
		return;
	}
	after_core(p, &out);
}

/* Opens a DCUtR stream on the relayed connection for the next attempt
 * (the first one too); the old stream, if any, is closed. */
static int open_attempt_stream(punch *p)
{
	if (p->relayed == NULL)
		return P2P_ECLOSED;
	drop_stream(p, false);
	p2p_stream *s = NULL;
	static const char *const protos[] = {P2P_DCUTR_PROTOCOL};
	int rc = p2p_conn_open_stream(p->relayed, &s);
	if (rc < 0)
		return rc;
	p->stream = s;
	p->selecting = true;
	rc = p2p_stream_select(s, true, protos, 1, on_selected, p);
	if (rc < 0) {
		p->selecting = false;
		p->stream = NULL;
		p2p_stream_reset(s);
	}
	return rc;
}

/* We are the relayed connection's inbound side: DCUtR's initiator. */
static void start_initiator(p2p_holepunch *hp, p2p_conn *c)
{
	punch *p = punch_new(hp, c, true);
	if (p == NULL)
		return;
	int rc = open_attempt_stream(p);
	if (rc < 0)
		finish(p, false, rc, NULL);
}

static void on_dcutr_stream(p2p_stream *s, const char *protocol, void *user)
{
	(void)protocol;
	p2p_holepunch *hp = user;
	p2p_conn *c = p2p_stream_conn(s);
	/* Only over a relay, and one punch per peer at a time. */
	if (!p2p_conn_is_relayed(c) || direct_conn(hp->host, p2p_conn_remote_peer(c))) {
		p2p_stream_reset(s);
		return;
	}
	/* The initiator opens a stream per attempt: a new one ends ours
	 * (its dials included). One where we are the initiator ourselves
	 * (both sides relayed in to each other) goes on; this one is
	 * refused. */
	punch *old = find_punch(hp, p2p_conn_remote_peer(c));
	if (old != NULL && old->initiator && !old->retiring) {
		p2p_stream_reset(s);
		return;
	}
	if (old != NULL)
		punch_release(old);
	punch *p = punch_new(hp, c, false);
	if (p == NULL) {
		p2p_stream_reset(s);
		return;
	}
	p->stream = s;
	p2p_stream_set_callbacks(s, &stream_cb, p);
	/* Starts the wait for the first CONNECT (a deadline; nothing sent). */
	p2p_buf out;
	p2p_buf_init(&out);
	if (p2p_dcutr_start(&p->core, now_ms(p), &out) < 0 &&
	    p2p_dcutr_get_state(&p->core) != P2P_DCUTR_FAILED) {
		p2p_buf_free(&out);
		finish(p, false, P2P_EPROTO, NULL);
		return;
	}
	after_core(p, &out);
}

static void on_connected(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_holepunch *hp = user;
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	punch *p = find_punch(hp, peer);
	if (!p2p_conn_is_relayed(c)) {
		/* A direct connection to a peer we punch to: the hole is open,
		 * whichever SYN made it. */
		if (p != NULL && !p->done) {
			p2p_buf out;
			p2p_buf_init(&out);
			p2p_dcutr_dial_result(&p->core, true, now_ms(p), &out);
			p2p_buf_free(&out);
			finish(p, true, 0, c);
		}
		return;
	}
	if (p2p_conn_direction(c) != P2P_DIR_INBOUND || direct_conn(h, peer) != NULL)
		return;
	if (p != NULL && p->retiring && p->relayed == NULL)
		punch_release(p); /* only watching for duplicates: a new punch */
	else if (p != NULL)
		return;
	start_initiator(hp, c);
}

static void on_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	p2p_holepunch *hp = user;
	for (punch *p = hp->punches; p; p = p->next)
		if (p->relayed == c)
			p->relayed = NULL;
}

/* --- the service --- */

int p2p_holepunch_new(p2p_holepunch **out, p2p_host *h, p2p_identify_service *id,
                      const p2p_holepunch_config *cfg)
{
	if (out == NULL || h == NULL || id == NULL)
		return P2P_EINVAL;
	p2p_holepunch *hp = calloc(1, sizeof(*hp));
	if (hp == NULL)
		return P2P_ENOMEM;
	hp->host = h;
	hp->id = id;
	if (cfg)
		hp->cfg = *cfg;
	if (hp->cfg.dial_timeout_ms == 0)
		hp->cfg.dial_timeout_ms = P2P_HOLEPUNCH_DIAL_TIMEOUT_MS;
	if (hp->cfg.relayed_grace_ms == 0)
		hp->cfg.relayed_grace_ms = P2P_HOLEPUNCH_RELAYED_GRACE_MS;
	static const p2p_host_observer obs = {
	    .on_connected = on_connected,
	    .on_disconnected = on_disconnected,
	};
	int rc = p2p_host_set_handler(h, P2P_DCUTR_PROTOCOL, on_dcutr_stream, hp);
	if (rc == 0)
		rc = p2p_host_observe(h, &obs, hp);
	if (rc < 0) {
		p2p_host_remove_handler(h, P2P_DCUTR_PROTOCOL);
		free(hp);
		return rc;
	}
	*out = hp;
	return P2P_OK;
}

void p2p_holepunch_free(p2p_holepunch *hp)
{
	if (hp == NULL)
		return;
	while (hp->punches) {
		punch *p = hp->punches;
		punch_release(p); /* unlinks it */
		p->hp = NULL;
	}
	free(hp);
}

const p2p_holepunch_stats *p2p_holepunch_stats_get(const p2p_holepunch *hp)
{
	return &hp->stats;
}
