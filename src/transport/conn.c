/* A connection: a pipe, its handshake (upgrader.c), then Noise + yamux
 * carrying streams (stream.c). See conn_internal.h for the re-entrancy
 * rule: teardown happens from the idle handle. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "transport/conn_internal.h"

static void conn_release(p2p_conn *c);

_Static_assert(2 * CONN_WRITE_BATCH <= P2P_PIPE_HIGH_WATER,
               "the pipe must hold one batch being written and the next one");
/* Writers stop once over the high-water mark, having added at most a
 * chunk and a batch's worth of Noise output: that must not pause reading,
 * or a bulk transfer both ways would read only between drains. And one
 * read's worth of answers more must still fit in the pipe. */
_Static_assert(P2P_CONN_READ_PAUSE >=
                   P2P_PIPE_HIGH_WATER + STREAM_CHUNK + P2P_NOISE_MAX_FRAME + 4096,
               "legitimate writes alone must not pause reading");
_Static_assert(P2P_CONN_READ_PAUSE + 4 * 1024 * 1024 <= P2P_PIPE_MAX_QUEUED,
               "reading pauses well before the pipe refuses writes");

/* --- sending --- */

bool conn_congested(const p2p_conn *c)
{
	if (c->pipe == NULL)
		return true;
	size_t unsent = c->yamux ? p2p_yamux_output(c->yamux)->len : 0;
	unsent += p2p_noise_output(c->noise)->len;
	return p2p_pipe_queued(c->pipe) + unsent > P2P_PIPE_HIGH_WATER;
}

/* Everything the peer has not taken: the pipe's queue and what is on its
 * way there. */
static size_t conn_output(const p2p_conn *c)
{
	size_t n = p2p_pipe_queued(c->pipe) + p2p_noise_output(c->noise)->len;
	return n + (c->yamux ? p2p_yamux_output(c->yamux)->len : 0);
}

/* Reading the peer is what makes our output grow past what our writers
 * queue (answers to its pings and SYNs), so reading stops while the output
 * is over P2P_CONN_READ_PAUSE and starts again once it has drained to the
 * high-water mark. Called after every read, on drain, from the idle handle
 * and on the tick. A peer that sends while we wait is not read: its bytes
 * wait in the kernel, and TCP stops it. */
static void conn_check_read(p2p_conn *c)
{
	if (c->closing || c->pipe == NULL || c->state != CONN_OPEN)
		return;
	size_t out = conn_output(c);
	if (!c->read_paused && out > P2P_CONN_READ_PAUSE) {
		if (p2p_pipe_read_stop(c->pipe) < 0)
			return;
		c->read_paused = true;
		c->read_pauses++;
		p2p_log(
		    c->log, P2P_LOG_DEBUG,
		    "conn: %zu bytes wait for the peer: not reading it until they drain",
		    out);
	} else if (c->read_paused && out <= P2P_PIPE_HIGH_WATER) {
		c->read_paused = false;
		int rc = p2p_pipe_read_start(c->pipe);
		if (rc < 0)
			conn_fail(c, rc, "read start");
	}
}

/* Looks at the pipe's queue: a decrease since the last look, or an empty
 * queue, is progress (see out_mark). */
static void conn_watch_output(p2p_conn *c)
{
	size_t q = p2p_pipe_queued(c->pipe);
	if (q == 0 || q < c->out_mark)
		c->out_progress_at = uv_now(c->loop);
	c->out_mark = q;
}

/* The congestion cleared: let the streams that were held back go on. */
static void conn_unblock(p2p_conn *c)
{
	if (!c->blocked || c->closing || conn_congested(c))
		return;
	c->blocked = false;
	for (p2p_stream *s = c->streams; s != NULL; s = s->next) {
		if (conn_congested(c)) {
			c->blocked = true; /* the rest wait for the next drain */
			break;
		}
		stream_on_writable(s);
	}
	conn_flush(c);
}

/* Hands the Noise output to the pipe: moved to its write request, not
 * copied. */
static void conn_write_out(p2p_conn *c)
{
	p2p_buf *no = p2p_noise_output(c->noise);
	c->flush_owed = false;
	if (no->len == 0)
		return;
	p2p_buf tmp;
	p2p_buf_move(&tmp, no);
	conn_watch_output(c);
	int rc = p2p_pipe_write(c->pipe, &tmp);
	if (rc < 0) {
		conn_fail(c, rc, "write");
		return;
	}
	c->out_mark = p2p_pipe_queued(c->pipe);
}

/* Moves yamux frames through Noise towards the pipe. Inside p2p_yamux_recv
 * it waits: the session is still appending, and recv's caller flushes
 * after. Small amounts wait for the end of the loop iteration (the idle
 * handle), so that a burst of writes makes a few large socket writes
 * rather than many small ones. */
static void conn_flush_mode(p2p_conn *c, bool now)
{
	if (c->in_recv || c->pipe == NULL || c->yamux == NULL || c->torn_down)
		return;
	p2p_buf *yo = p2p_yamux_output(c->yamux);
	if (yo->len > 0) {
		int rc = p2p_noise_send(c->noise, yo->data, yo->len);
		p2p_buf_reset(yo);
		if (rc < 0) {
			conn_fail(c, rc, "noise send");
			return;
		}
	}
	size_t ready = p2p_noise_output(c->noise)->len;
	if (now || ready >= CONN_WRITE_BATCH) {
		conn_write_out(c);
	} else if (ready > 0 && !c->flush_owed) {
		c->flush_owed = true;
		conn_schedule(c);
	}
}

void conn_flush(p2p_conn *c)
{
	conn_flush_mode(c, false);
}

/* Data frames skip yamux's output buffer: the payload is encrypted
 * straight from the writer's bytes, behind whatever yamux had queued. */
static int sink_to_noise(const uint8_t *head, size_t head_len, const uint8_t *payload,
                         size_t len, void *ctx)
{
	p2p_conn *c = ctx;
	p2p_noise_part parts[2] = {{head, head_len}, {payload, len}};
	int rc = p2p_noise_send_parts(c->noise, parts, 2);
	if (rc < 0)
		conn_fail(c, rc, "noise send");
	return rc;
}

ssize_t conn_write_stream(p2p_conn *c, uint32_t id, const uint8_t *data, size_t len)
{
	/* A bulk writer gets room for a whole batch at once (a batch less a
	 * byte, then one more chunk, with Noise's framing): growing the
	 * buffer write by write would copy what is already encrypted. Small
	 * writes (pings, a keystroke) keep small buffers. */
	p2p_buf *no = p2p_noise_output(c->noise);
	size_t room = CONN_WRITE_BATCH + STREAM_CHUNK + P2P_NOISE_MAX_FRAME;
	if (no->cap == 0 && len >= CONN_BULK_WRITE && p2p_buf_reserve(no, room) < 0)
		return P2P_ENOMEM;
	return p2p_yamux_write_to(c->yamux, id, data, len, sink_to_noise, c);
}

static void on_idle(uv_idle_t *h);

void conn_schedule(p2p_conn *c)
{
	if (!c->torn_down)
		uv_idle_start(&c->idle, on_idle);
}

/* --- yamux callbacks --- */

static p2p_stream *stream_of(void *stream_user)
{
	return stream_user;
}

static int y_on_open(p2p_yamux *y, uint32_t id, void *user)
{
	p2p_conn *c = user;
	if (c->closing || c->num_streams >= c->max_streams || c->cb.on_stream == NULL)
		return P2P_ELIMIT;
	p2p_stream *s = stream_new(c, id, true);
	if (s == NULL)
		return P2P_ENOMEM;
	p2p_yamux_set_stream_user(y, id, s);
	c->cb.on_stream(c, s, c->user);
	return P2P_OK;
}

static void y_on_data(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
                      void *stream_user, void *user)
{
	if (stream_user)
		stream_on_data(stream_of(stream_user), data, len);
}

static void y_on_fin(p2p_yamux *y, uint32_t id, void *stream_user, void *user)
{
	if (stream_user)
		stream_on_fin(stream_of(stream_user));
}

static void y_on_reset(p2p_yamux *y, uint32_t id, void *stream_user, void *user)
{
	if (stream_user)
		stream_on_reset(stream_of(stream_user), P2P_ERESET);
}

static void y_on_writable(p2p_yamux *y, uint32_t id, void *stream_user, void *user)
{
	if (stream_user)
		stream_on_writable(stream_of(stream_user));
}

static void y_on_closed(p2p_yamux *y, uint32_t id, void *stream_user, void *user)
{
	if (stream_user)
		stream_on_closed(stream_of(stream_user));
}

static void y_on_go_away(p2p_yamux *y, uint32_t code, void *user)
{
	p2p_conn *c = user;
	p2p_log(c->log, P2P_LOG_DEBUG, "conn: peer sent go-away (code %u)", code);
}

static const p2p_yamux_callbacks yamux_cbs = {
    .on_open = y_on_open,
    .on_data = y_on_data,
    .on_fin = y_on_fin,
    .on_reset = y_on_reset,
    .on_writable = y_on_writable,
    .on_closed = y_on_closed,
    .on_go_away = y_on_go_away,
};

/* --- receiving --- */

static void conn_yamux_recv(p2p_conn *c, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	c->in_recv++;
	p2p_yamux_set_now(c->yamux, uv_now(c->loop));
	int rc = p2p_yamux_recv(c->yamux, data, len);
	c->in_recv--;
	/* What the peer's bytes caused goes out now, window updates above
	 * all: libuv may read many times more before the idle handle runs,
	 * and a late window update stalls the sender. */
	conn_flush_mode(c, true);
	if (rc < 0) {
		conn_fail(c, rc, "yamux");
		return;
	}
	conn_check_read(c);
	conn_unblock(c);
}

void conn_recv(p2p_conn *c, const uint8_t *data, size_t len)
{
	p2p_buf_reset(&c->plain);
	int rc = p2p_noise_recv(c->noise, data, len, &c->plain);
	if (rc < 0) {
		conn_fail(c, rc, "noise");
		return;
	}
	conn_yamux_recv(c, c->plain.data, c->plain.len);
}

static void on_tick(uv_timer_t *t)
{
	p2p_conn *c = t->data;
	uint64_t now = uv_now(c->loop);
	for (p2p_stream *s = c->streams; s != NULL; s = s->next)
		stream_check_deadline(s, now);
	conn_flush_mode(c, true);
	if (c->closing || c->pipe == NULL)
		return;
	conn_watch_output(c);
	if (c->out_mark > 0 && now - c->out_progress_at >= c->write_stall_ms) {
		conn_fail(c, P2P_ETIMEDOUT,
		          "the peer has taken none of our output for too long");
		return;
	}
	conn_check_read(c);
}

void conn_opened(p2p_conn *c, const uint8_t *rest, size_t rest_len)
{
	p2p_yamux_config ycfg = {.max_streams = c->max_streams,
	                         .max_window = P2P_CONN_MAX_WINDOW};
	int rc = p2p_yamux_new(&c->yamux, c->initiator, &yamux_cbs, c, &ycfg);
	if (rc < 0) {
		conn_fail(c, rc, "yamux start");
		return;
	}
	c->state = CONN_OPEN;
	c->out_mark = p2p_pipe_queued(c->pipe);
	c->out_progress_at = uv_now(c->loop);
	/* The tick checks both deadlines, four times within the shorter. */
	uint64_t shortest = c->negotiate_timeout_ms < c->write_stall_ms
	                        ? c->negotiate_timeout_ms
	                        : c->write_stall_ms;
	uint64_t tick = shortest / 4;
	tick = tick > CONN_TICK_MS ? CONN_TICK_MS : tick < 10 ? 10 : tick;
	uv_timer_start(&c->timer, on_tick, tick, tick);
	p2p_upgrade_cb done = c->done;
	c->done = NULL;
	done(c, P2P_OK, c->done_user);
	if (!c->closing)
		conn_yamux_recv(c, rest, rest_len);
}

/* --- the pipe --- */

static void on_pipe_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	p2p_conn *c = user;
	if (c->closing)
		return;
	if (c->state == CONN_OPEN)
		conn_recv(c, data, len);
	else
		upgrade_recv(c, data, len);
}

static void on_pipe_eof(p2p_pipe *p, void *user)
{
	p2p_conn *c = user;
	if (c->state == CONN_OPEN)
		p2p_conn_close(c, 0);
	else
		conn_fail(c, P2P_ECLOSED, "peer closed during the handshake");
}

static void on_pipe_error(p2p_pipe *p, int err, void *user)
{
	conn_fail(user, err, "transport");
}

static void on_pipe_drain(p2p_pipe *p, void *user)
{
	p2p_conn *c = user;
	if (c->state != CONN_OPEN)
		return;
	conn_watch_output(c);
	/* Reading first: the writers woken next may fill the queue again. */
	conn_check_read(c);
	conn_unblock(c);
}

static void on_pipe_close(p2p_pipe *p, void *user)
{
	p2p_conn *c = user;
	c->pipe = NULL;
	conn_release(c);
}

static const p2p_pipe_callbacks pipe_cbs = {
    .on_read = on_pipe_read,
    .on_eof = on_pipe_eof,
    .on_error = on_pipe_error,
    .on_drain = on_pipe_drain,
    .on_close = on_pipe_close,
};

/* --- lifetime --- */

static void on_handshake_timeout(uv_timer_t *t)
{
	conn_fail(t->data, P2P_ETIMEDOUT, "handshake timed out");
}

static void conn_teardown(p2p_conn *c);

static void on_idle(uv_idle_t *h)
{
	p2p_conn *c = h->data;
	uv_idle_stop(h);
	if (c->closing) {
		conn_teardown(c);
		return;
	}
	p2p_stream *next;
	for (p2p_stream *s = c->streams; s != NULL; s = next) {
		next = s->next;
		stream_run_deferred(s);
	}
	conn_flush_mode(c, true);
	/* The pipe's drain only fires after its own queue went over the
	 * high-water mark; congestion that was partly Noise output waiting
	 * for this flush clears here instead. */
	conn_check_read(c);
	conn_unblock(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	conn_release(h->data);
}

/* Called once per closed handle (timer, idle, pipe); the last frees. */
static void conn_release(p2p_conn *c)
{
	if (--c->handles > 0)
		return;
	if (c->done)
		c->done(NULL, c->close_err ? c->close_err : P2P_ECLOSED, c->done_user);
	else if (c->cb.on_close)
		c->cb.on_close(c, c->close_err, c->user);
	p2p_noise_free(c->noise);
	p2p_buf_free(&c->plain);
	p2p_buf_free(&c->local_addr);
	p2p_buf_free(&c->remote_addr);
	free(c);
}

/* Resets every stream, frees the protocol state and closes the handles. */
static void conn_teardown(p2p_conn *c)
{
	c->torn_down = true;
	if (c->yamux) {
		for (p2p_stream *s = c->streams; s != NULL; s = s->next)
			stream_on_reset(s, P2P_ECLOSED);
		/* Best effort: the GoAway is lost if the pipe cannot write it. */
		p2p_yamux_go_away(c->yamux, c->close_err ? P2P_YAMUX_GOAWAY_PROTOCOL
		                                         : P2P_YAMUX_GOAWAY_NORMAL);
		p2p_buf *yo = p2p_yamux_output(c->yamux);
		if (c->pipe && yo->len > 0 &&
		    p2p_noise_send(c->noise, yo->data, yo->len) == 0) {
			p2p_buf tmp;
			p2p_buf_move(&tmp, p2p_noise_output(c->noise));
			p2p_pipe_write(c->pipe, &tmp);
		}
		p2p_yamux_free(c->yamux); /* on_closed for every stream */
		c->yamux = NULL;
	}
	p2p_stream *next;
	for (p2p_stream *s = c->streams; s != NULL; s = next) {
		next = s->next;
		stream_run_deferred(s);
	}
	p2p_mss_free(c->mss);
	c->mss = NULL;
	/* c->noise stays until the end: it holds the remote key. */
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_handle_closed);
	if (c->pipe)
		p2p_pipe_close(c->pipe);
	else
		conn_release(c);
}

/* Bad input from the peer is worth a warning; a peer going away is not. */
static p2p_log_level fail_level(int err)
{
	switch (err) {
	case P2P_ECLOSED:
		return P2P_LOG_DEBUG;
	case P2P_EIO:
	case P2P_ETIMEDOUT:
		return P2P_LOG_INFO;
	default:
		return P2P_LOG_WARN;
	}
}

void conn_fail(p2p_conn *c, int err, const char *why)
{
	if (c->closing)
		return;
	char peer[P2P_PEERID_STR_MAX] = "?";
	if (c->state == CONN_OPEN || (c->noise && p2p_noise_handshake_done(c->noise)))
		p2p_peerid_to_string(&c->remote_peer, peer, sizeof(peer));
	p2p_buf addr;
	p2p_buf_init(&addr);
	if (c->remote_addr.len == 0 ||
	    p2p_multiaddr_to_string(c->remote_addr.data, c->remote_addr.len, &addr) < 0)
		p2p_buf_append(&addr, "?", 2);
	p2p_log(c->log, fail_level(err), "conn %s peer %s: closing: %s: %s",
	        (const char *)addr.data, peer, why, p2p_strerror(err));
	p2p_buf_free(&addr);
	p2p_conn_close(c, err);
}

void p2p_conn_close(p2p_conn *c, int err)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_err = err;
	conn_schedule(c);
}

int p2p_upgrade(p2p_conn **out, uv_loop_t *loop, p2p_pipe *pipe,
                const p2p_upgrade_config *cfg, const p2p_conn_callbacks *cb, void *user,
                p2p_upgrade_cb done, void *done_user)
{
	p2p_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		p2p_pipe_close(pipe);
		return P2P_ENOMEM;
	}
	c->loop = loop;
	c->pipe = pipe;
	c->log = cfg->log;
	c->identity = cfg->identity;
	if (cfg->expected) {
		c->expected = *cfg->expected;
		c->has_expected = true;
	}
	c->initiator = cfg->initiator;
	c->direction = cfg->direction;
	c->limited = pipe->limited;
	c->max_streams = cfg->max_streams ? cfg->max_streams : P2P_CONN_MAX_STREAMS;
	c->negotiate_timeout_ms = cfg->negotiate_timeout_ms
	                              ? cfg->negotiate_timeout_ms
	                              : P2P_STREAM_NEGOTIATE_TIMEOUT_MS;
	c->write_stall_ms =
	    cfg->write_stall_ms ? cfg->write_stall_ms : P2P_CONN_WRITE_STALL_MS;
	if (cb)
		c->cb = *cb;
	c->user = user;
	c->done = done;
	c->done_user = done_user;
	p2p_buf_init(&c->plain);
	p2p_buf_init(&c->local_addr);
	p2p_buf_init(&c->remote_addr);
	p2p_buf_append(&c->local_addr, pipe->local_addr.data, pipe->local_addr.len);
	p2p_buf_append(&c->remote_addr, pipe->remote_addr.data, pipe->remote_addr.len);
	uv_timer_init(loop, &c->timer);
	uv_idle_init(loop, &c->idle);
	c->timer.data = c;
	c->idle.data = c;
	c->handles = 3; /* timer, idle, pipe */
	p2p_pipe_set_callbacks(pipe, &pipe_cbs, c);
	uv_timer_start(&c->timer, on_handshake_timeout,
	               cfg->timeout_ms ? cfg->timeout_ms : P2P_HANDSHAKE_TIMEOUT_MS, 0);
	int rc = upgrade_start(c);
	if (rc == P2P_OK)
		rc = p2p_pipe_read_start(pipe);
	if (rc < 0)
		conn_fail(c, rc, "handshake start");
	if (out)
		*out = c;
	return P2P_OK;
}

/* --- accessors and streams --- */

bool p2p_conn_is_limited(const p2p_conn *c)
{
	return c->limited;
}

bool p2p_conn_is_relayed(const p2p_conn *c)
{
	size_t off = 0;
	p2p_multiaddr_component mc;
	while (p2p_multiaddr_next(c->remote_addr.data, c->remote_addr.len, &off, &mc) ==
	       1)
		if (mc.code == P2P_MA_P2P_CIRCUIT)
			return true;
	return false;
}

void p2p_conn_set_callbacks(p2p_conn *c, const p2p_conn_callbacks *cb, void *user)
{
	c->cb = *cb;
	c->user = user;
}

void *p2p_conn_user(const p2p_conn *c)
{
	return c->user;
}

const p2p_peerid *p2p_conn_remote_peer(const p2p_conn *c)
{
	return &c->remote_peer;
}

const p2p_pubkey *p2p_conn_remote_key(const p2p_conn *c)
{
	return c->noise ? p2p_noise_remote_key(c->noise) : NULL;
}

const p2p_buf *p2p_conn_remote_addr(const p2p_conn *c)
{
	return &c->remote_addr;
}

const p2p_buf *p2p_conn_local_addr(const p2p_conn *c)
{
	return &c->local_addr;
}

p2p_direction p2p_conn_direction(const p2p_conn *c)
{
	return c->direction;
}

const char *p2p_conn_security(const p2p_conn *c)
{
	return P2P_NOISE_PROTOCOL;
}

const char *p2p_conn_muxer(const p2p_conn *c)
{
	return P2P_YAMUX_PROTOCOL;
}

bool p2p_conn_is_open(const p2p_conn *c)
{
	return c->state == CONN_OPEN && !c->closing;
}

size_t p2p_conn_num_streams(const p2p_conn *c)
{
	return c->num_streams;
}

int p2p_conn_open_stream(p2p_conn *c, p2p_stream **out)
{
	if (!p2p_conn_is_open(c))
		return P2P_ECLOSED;
	if (c->num_streams >= c->max_streams)
		return P2P_ELIMIT;
	p2p_stream *s = stream_new(c, 0, false);
	if (s == NULL)
		return P2P_ENOMEM;
	int rc = p2p_yamux_open(c->yamux, &s->id, s);
	if (rc < 0) {
		/* Never known to yamux: no on_closed will come. */
		s->dead = true;
		stream_run_deferred(s);
		return rc;
	}
	conn_flush(c);
	*out = s;
	return P2P_OK;
}
