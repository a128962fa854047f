/* The upgrader and streams over real loopback TCP: Noise + yamux between
 * two connections in one process, without the host. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "echo_streams.h"
#include "mempipe.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/transport.h"
#include "transport/conn_internal.h"
#include "uvtest.h"

#define ECHO_PROTO "/echo/1.0.0"

typedef struct side {
	p2p_privkey *key;
	p2p_peerid id;
	p2p_conn *conn;
	bool done;
	int err;
	bool closed;
	int close_err;
	int inbound_streams;
} side;

typedef struct fixture {
	uv_loop_t loop;
	p2p_logger log;
	side a, b; /* a listens (responder), b dials (initiator) */
	p2p_tcp_listener *l;
	p2p_peerid expect; /* what b expects a to be */
	uint64_t hs_timeout;
	int accepted;
} fixture;

/* --- the echo handler on a (echo_streams.h) --- */

static void a_selected(p2p_stream *s, const char *proto, int err, void *user)
{
	if (err < 0)
		return;
	assert_string_equal(proto, ECHO_PROTO);
	p2p_stream_set_callbacks(s, &echo_cbs, calloc(1, sizeof(echo)));
}

static void a_on_stream(p2p_conn *c, p2p_stream *s, void *user)
{
	side *a = user;
	a->inbound_streams++;
	assert_true(p2p_stream_is_inbound(s));
	static const char *const protos[] = {"/other/1", ECHO_PROTO};
	assert_int_equal(p2p_stream_select(s, false, protos, 2, a_selected, a), 0);
}

static void on_conn_close(p2p_conn *c, int err, void *user)
{
	((side *)user)->closed = true;
	((side *)user)->close_err = err;
}

static const p2p_conn_callbacks a_conn_cbs = {.on_stream = a_on_stream,
                                              .on_close = on_conn_close};
static const p2p_conn_callbacks b_conn_cbs = {.on_close = on_conn_close};

static void on_upgraded(p2p_conn *c, int err, void *user)
{
	side *s = user;
	s->done = true;
	s->err = err;
	s->conn = c;
}

static void on_accept(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	fixture *f = user;
	f->accepted++;
	p2p_upgrade_config cfg = {.identity = f->a.key,
	                          .initiator = false,
	                          .direction = P2P_DIR_INBOUND,
	                          .timeout_ms = f->hs_timeout,
	                          .log = &f->log};
	f->a.done = false;
	assert_int_equal(p2p_upgrade(NULL, &f->loop, pipe, &cfg, &a_conn_cbs, &f->a,
	                             on_upgraded, &f->a),
	                 0);
}

static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	fixture *f = user;
	assert_int_equal(err, 0);
	p2p_upgrade_config cfg = {.identity = f->b.key,
	                          .expected = &f->expect,
	                          .initiator = true,
	                          .direction = P2P_DIR_OUTBOUND,
	                          .log = &f->log};
	assert_int_equal(p2p_upgrade(NULL, &f->loop, pipe, &cfg, &b_conn_cbs, &f->b,
	                             on_upgraded, &f->b),
	                 0);
}

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	f->log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	assert_int_equal(p2p_privkey_generate(&f->a.key), 0);
	assert_int_equal(p2p_privkey_generate(&f->b.key), 0);
	p2p_peerid_from_pubkey(&f->a.id, p2p_privkey_public(f->a.key));
	p2p_peerid_from_pubkey(&f->b.id, p2p_privkey_public(f->b.key));
	f->expect = f->a.id;
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/0", &bin), 0);
	assert_int_equal(
	    p2p_tcp_listen(&f->l, &f->loop, bin.data, bin.len, &f->log, on_accept, f), 0);
	p2p_buf_free(&bin);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->a.conn && !f->a.closed)
		p2p_conn_close(f->a.conn, 0);
	if (f->b.conn && !f->b.closed)
		p2p_conn_close(f->b.conn, 0);
	p2p_tcp_listener_close(f->l, NULL, NULL);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->a.key);
	p2p_privkey_free(f->b.key);
	free(f);
	return 0;
}

static void dial(fixture *f)
{
	const p2p_buf *addr = p2p_tcp_listener_addr(f->l);
	assert_int_equal(
	    p2p_tcp_dial(NULL, &f->loop, addr->data, addr->len, 2000, on_dialed, f), 0);
}

static void connect_both(fixture *f)
{
	dial(f);
	assert_true(uvt_run(&f->loop, &f->b.done, 5000));
	assert_true(uvt_run(&f->loop, &f->a.done, 5000));
	assert_int_equal(f->b.err, 0);
	assert_int_equal(f->a.err, 0);
}

static void test_handshake(void **state)
{
	fixture *f = *state;
	connect_both(f);
	assert_true(p2p_peerid_equal(p2p_conn_remote_peer(f->b.conn), &f->a.id));
	assert_true(p2p_peerid_equal(p2p_conn_remote_peer(f->a.conn), &f->b.id));
	assert_int_equal(p2p_conn_direction(f->a.conn), P2P_DIR_INBOUND);
	assert_int_equal(p2p_conn_direction(f->b.conn), P2P_DIR_OUTBOUND);
	assert_true(p2p_conn_is_open(f->a.conn));
	assert_memory_equal(p2p_conn_remote_addr(f->b.conn)->data,
	                    p2p_tcp_listener_addr(f->l)->data,
	                    p2p_tcp_listener_addr(f->l)->len);
	assert_int_equal(p2p_pubkey_equal(p2p_conn_remote_key(f->b.conn),
	                                  p2p_privkey_public(f->a.key)),
	                 true);
	/* Closing one side closes the other. */
	p2p_conn_close(f->b.conn, 0);
	assert_true(uvt_run(&f->loop, &f->a.closed, 5000));
	assert_true(uvt_run(&f->loop, &f->b.closed, 5000));
}

static void test_wrong_peer(void **state)
{
	fixture *f = *state;
	f->expect = f->b.id; /* b expects itself: a is not that peer */
	dial(f);
	assert_true(uvt_run(&f->loop, &f->b.done, 5000));
	assert_int_equal(f->b.err, P2P_EPEERID);
	assert_null(f->b.conn);
	assert_true(uvt_run(&f->loop, &f->a.done, 5000));
	assert_true(f->a.err < 0);
	f->a.conn = NULL;
	/* a still serves. */
	f->expect = f->a.id;
	f->b.done = false;
	connect_both(f);
}

/* --- a client stream on b --- */

static void open_client(fixture *f, client *c, const char *proto)
{
	p2p_stream *s;
	assert_int_equal(p2p_conn_open_stream(f->b.conn, &s), 0);
	const char *protos[] = {proto};
	assert_int_equal(p2p_stream_select(s, true, protos, 1, cli_selected, c), 0);
}

static void test_echo(void **state)
{
	fixture *f = *state;
	connect_both(f);
	size_t len = 2 * 1024 * 1024 + 3;
	uint8_t *payload = malloc(len);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8) ^ (i >> 16));
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	open_client(f, &c, ECHO_PROTO);
	bool ok = uvt_run(&f->loop, &c.closed, 20000);
	if (!ok)
		print_message("sent %zu got %zu\n", c.sent, c.got.len);
	assert_true(ok);
	assert_int_equal(c.err, 0);
	assert_true(c.fin);
	assert_false(c.reset);
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	assert_int_equal(p2p_conn_num_streams(f->b.conn), 0);
	/* A transfer both ways never made either side stop reading. */
	assert_int_equal(f->a.conn->read_pauses, 0);
	assert_int_equal(f->b.conn->read_pauses, 0);
	p2p_buf_free(&c.got);
	free(payload);
}

static void test_unknown_protocol(void **state)
{
	fixture *f = *state;
	connect_both(f);
	client c = {0};
	open_client(f, &c, "/nope/1.0.0");
	assert_true(uvt_run(&f->loop, &c.ready, 5000));
	assert_int_equal(c.err, P2P_ENEGOTIATE);
	/* The connection goes on. */
	client d = {.payload = (const uint8_t *)"hello", .len = 5};
	p2p_buf_init(&d.got);
	open_client(f, &d, ECHO_PROTO);
	assert_true(uvt_run(&f->loop, &d.closed, 5000));
	assert_int_equal(d.got.len, 5);
	p2p_buf_free(&d.got);
}

/* --- raw TCP clients that misbehave --- */

static void raw_dialed(p2p_pipe *pipe, int err, void *user)
{
	*(p2p_pipe **)user = pipe;
}

static void test_garbage(void **state)
{
	fixture *f = *state;
	p2p_pipe *raw = NULL;
	const p2p_buf *addr = p2p_tcp_listener_addr(f->l);
	p2p_tcp_dial(NULL, &f->loop, addr->data, addr->len, 2000, raw_dialed, &raw);
	while (raw == NULL)
		uv_run(&f->loop, UV_RUN_ONCE);
	p2p_buf junk;
	p2p_buf_init(&junk);
	/* "G" reads as a 71-byte message that does not end in a newline. */
	p2p_buf_append(&junk,
	               "GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE "
	               "GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE ",
	               128);
	p2p_pipe_write(raw, &junk);
	assert_true(uvt_run(&f->loop, &f->a.done, 5000));
	assert_true(f->a.err < 0);
	p2p_pipe_close(raw);
	/* The listener still serves. */
	connect_both(f);
}

static void test_handshake_timeout(void **state)
{
	fixture *f = *state;
	f->hs_timeout = 200;
	p2p_pipe *raw = NULL;
	const p2p_buf *addr = p2p_tcp_listener_addr(f->l);
	p2p_tcp_dial(NULL, &f->loop, addr->data, addr->len, 2000, raw_dialed, &raw);
	assert_true(uvt_run(&f->loop, &f->a.done, 5000));
	assert_int_equal(f->a.err, P2P_ETIMEDOUT);
	p2p_pipe_close(raw);
}

/* The upgrader over another kind of pipe: in-memory, no sockets. The
 * roles are fixed by the config, not by who "dialed". */
static void test_over_memory_pipes(void **state)
{
	fixture *f = *state;
	p2p_pipe *pa, *pb;
	mem_pipe_pair(&f->loop, &pa, &pb);
	p2p_upgrade_config ca = {.identity = f->a.key,
	                         .initiator = false,
	                         .direction = P2P_DIR_OUTBOUND,
	                         .log = &f->log};
	p2p_upgrade_config cb = {.identity = f->b.key,
	                         .expected = &f->a.id,
	                         .initiator = true,
	                         .direction = P2P_DIR_INBOUND,
	                         .log = &f->log};
	assert_int_equal(
	    p2p_upgrade(NULL, &f->loop, pa, &ca, &a_conn_cbs, &f->a, on_upgraded, &f->a),
	    0);
	assert_int_equal(
	    p2p_upgrade(NULL, &f->loop, pb, &cb, &b_conn_cbs, &f->b, on_upgraded, &f->b),
	    0);
	assert_true(uvt_run(&f->loop, &f->b.done, 5000));
	assert_true(uvt_run(&f->loop, &f->a.done, 5000));
	assert_int_equal(f->a.err, 0);
	assert_int_equal(f->b.err, 0);
	assert_int_equal(p2p_conn_direction(f->b.conn), P2P_DIR_INBOUND);
	assert_int_equal(p2p_conn_remote_addr(f->b.conn)->len, 0);
	size_t len = 300000;
	uint8_t *payload = malloc(len);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 13);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	open_client(f, &c, ECHO_PROTO);
	assert_true(uvt_run(&f->loop, &c.closed, 10000));
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	p2p_buf_free(&c.got);
	free(payload);
}

/* --- peers that do not read ---
 *
 * A pipe pair with no buffer between the two ends: what one writes is
 * queued on its side (queued() counts it) until the other reads it, in
 * reads of at most QPIPE_READ bytes, as a socket would deliver them. A
 * reader that stops reading leaves the writer's queue growing, which is
 * what a socket does once the kernel's buffers are full; the writer gets
 * on_drain when its queue falls back to the high-water mark. */

#define QPIPE_READ (64 * 1024)

typedef struct qpipe {
	p2p_pipe base; /* first */
	struct qpipe *peer;
	uv_idle_t idle;
	p2p_buf inbox; /* written by the peer, not yet read: the peer's queue */
	bool reading, peer_eof, eof_told, shut, above_high_water;
} qpipe;

static size_t q_queued(const p2p_pipe *p)
{
	const qpipe *q = (const qpipe *)p;
	return q->peer ? q->peer->inbox.len : 0;
}

static void q_deliver(uv_idle_t *idle)
{
	qpipe *q = idle->data;
	uv_idle_stop(idle);
	uint8_t *chunk = malloc(QPIPE_READ);
	while (!q->base.closing && q->reading && q->inbox.len > 0) {
		size_t n = q->inbox.len < QPIPE_READ ? q->inbox.len : QPIPE_READ;
		memcpy(chunk, q->inbox.data, n);
		p2p_buf_consume(&q->inbox, n);
		qpipe *w = q->peer;
		if (w && w->above_high_water && q->inbox.len <= P2P_PIPE_HIGH_WATER) {
			w->above_high_water = false;
			if (w->base.cb.on_drain)
				w->base.cb.on_drain(&w->base, w->base.user);
		}
		if (!q->base.closing && q->base.cb.on_read)
			q->base.cb.on_read(&q->base, chunk, n, q->base.user);
	}
	free(chunk);
	if (q->peer_eof && !q->eof_told && !q->base.closing && q->reading &&
	    q->inbox.len == 0) {
		q->eof_told = true;
		if (q->base.cb.on_eof)
			q->base.cb.on_eof(&q->base, q->base.user);
	}
}

static void q_kick(qpipe *q)
{
	if (!q->base.closing)
		uv_idle_start(&q->idle, q_deliver);
}

static int q_write(p2p_pipe *p, p2p_buf *data)
{
	qpipe *q = (qpipe *)p;
	if (q->shut || q->peer == NULL) {
		p2p_buf_free(data);
		return P2P_ECLOSED;
	}
	int rc = p2p_buf_append(&q->peer->inbox, data->data, data->len);
	p2p_buf_free(data);
	if (q_queued(p) > P2P_PIPE_HIGH_WATER)
		q->above_high_water = true;
	q_kick(q->peer);
	return rc;
}

static int q_read_start(p2p_pipe *p)
{
	((qpipe *)p)->reading = true;
	q_kick((qpipe *)p);
	return P2P_OK;
}

static int q_read_stop(p2p_pipe *p)
{
	((qpipe *)p)->reading = false;
	return P2P_OK;
}

static void q_tell_eof(qpipe *q)
{
	if (q->peer) {
		q->peer->peer_eof = true;
		q_kick(q->peer);
	}
}

static int q_shutdown(p2p_pipe *p)
{
	((qpipe *)p)->shut = true;
	q_tell_eof((qpipe *)p);
	return P2P_OK;
}

static void q_closed(uv_handle_t *h)
{
	qpipe *q = h->data;
	if (q->base.cb.on_close)
		q->base.cb.on_close(&q->base, q->base.user);
	p2p_buf_free(&q->inbox);
	p2p_buf_free(&q->base.local_addr);
	p2p_buf_free(&q->base.remote_addr);
	free(q);
}

static void q_close(p2p_pipe *p)
{
	qpipe *q = (qpipe *)p;
	q_tell_eof(q);
	if (q->peer)
		q->peer->peer = NULL;
	q->peer = NULL;
	uv_close((uv_handle_t *)&q->idle, q_closed);
}

static const p2p_pipe_ops q_ops = {
    .write = q_write,
    .queued = q_queued,
    .read_start = q_read_start,
    .read_stop = q_read_stop,
    .shutdown = q_shutdown,
    .close = q_close,
};

static qpipe *q_new(uv_loop_t *loop)
{
	qpipe *q = calloc(1, sizeof(*q));
	q->base.ops = &q_ops;
	p2p_buf_init(&q->inbox);
	p2p_buf_init(&q->base.local_addr);
	p2p_buf_init(&q->base.remote_addr);
	uv_idle_init(loop, &q->idle);
	q->idle.data = q;
	return q;
}

/* Upgrades a fresh qpipe pair: a answers (the echo service, with the
 * stall timeout and stream limit given), b dials. */
static void connect_qpipes(fixture *f, side *a, side *b, uint32_t a_max_streams,
                           uint64_t a_stall_ms)
{
	qpipe *x = q_new(&f->loop), *y = q_new(&f->loop);
	x->peer = y;
	y->peer = x;
	p2p_upgrade_config ca = {.identity = f->a.key,
	                         .initiator = false,
	                         .direction = P2P_DIR_INBOUND,
	                         .max_streams = a_max_streams,
	                         .log = &f->log,
	                         .write_stall_ms = a_stall_ms};
	p2p_upgrade_config cb = {.identity = f->b.key,
	                         .expected = &f->a.id,
	                         .initiator = true,
	                         .direction = P2P_DIR_OUTBOUND,
	                         .log = &f->log};
	assert_int_equal(
	    p2p_upgrade(NULL, &f->loop, &x->base, &ca, &a_conn_cbs, a, on_upgraded, a),
	    0);
	assert_int_equal(
	    p2p_upgrade(NULL, &f->loop, &y->base, &cb, &b_conn_cbs, b, on_upgraded, b),
	    0);
	assert_true(uvt_run(&f->loop, &b->done, 5000));
	assert_true(uvt_run(&f->loop, &a->done, 5000));
	assert_int_equal(a->err, 0);
	assert_int_equal(b->err, 0);
}

/* The attacker's sending side, as TCP would let it: it adds to its queue
 * only while that holds less than this. */
#define ATTACK_QUEUE (1024 * 1024)

enum flood_kind { FLOOD_PINGS, FLOOD_SYNS };

/* One round of the attack from b, which has stopped reading: a batch of
 * PING|SYN, or of SYNs for new streams (over a's limit, each answered
 * with an RST), straight into b's yamux output. */
static void flood(side *b, enum flood_kind kind, uint32_t *next_id)
{
	p2p_conn *c = b->conn;
	if (p2p_pipe_queued(c->pipe) >= ATTACK_QUEUE)
		return;
	for (int i = 0; i < 4096; i++) {
		if (kind == FLOOD_PINGS) {
			assert_int_equal(p2p_yamux_ping(c->yamux, (uint32_t)i), 0);
			continue;
		}
		uint32_t id = *next_id;
		*next_id += 2;
		uint8_t h[12] = {0,
		                 1,
		                 0,
		                 1,
		                 (uint8_t)(id >> 24),
		                 (uint8_t)(id >> 16),
		                 (uint8_t)(id >> 8),
		                 (uint8_t)id};
		assert_int_equal(p2p_buf_append(p2p_yamux_output(c->yamux), h, 12), 0);
	}
	conn_flush(c);
}

typedef struct flood_watch {
	size_t max_queued;   /* a's pipe queue, the memory the attack pins */
	bool paused;         /* a stopped reading at some point */
	uint64_t pongs_sent; /* a's ping answers */
	uint64_t pings_dropped;
} flood_watch;

static void watch(side *a, flood_watch *w)
{
	if (a->closed || a->conn->pipe == NULL || a->conn->yamux == NULL)
		return;
	size_t q = p2p_pipe_queued(a->conn->pipe);
	w->max_queued = q > w->max_queued ? q : w->max_queued;
	w->paused |= a->conn->read_paused;
	p2p_yamux_stats st;
	p2p_yamux_get_stats(a->conn->yamux, &st);
	w->pongs_sent = st.pings_answered;
	w->pings_dropped = st.pings_dropped;
}

/* Runs the flood until a closes the connection (or until stop is set, or
 * 10 s), with a legitimate echo on another connection of a's started a
 * quarter into the stall timeout. */
static void run_flood(fixture *f, side *a, side *b, enum flood_kind kind,
                      uint64_t stall_ms, flood_watch *w, client *legit, side *b2,
                      const bool *stop)
{
	uint32_t next_id = 1001;
	uint64_t start = uv_now(&f->loop);
	bool legit_started = false;
	while (!a->closed && !(stop && *stop) && uv_now(&f->loop) - start < 10000) {
		if (!b->closed)
			flood(b, kind, &next_id);
		uv_run(&f->loop, UV_RUN_NOWAIT);
		watch(a, w);
		if (legit && !legit_started && uv_now(&f->loop) - start > stall_ms / 4) {
			legit_started = true;
			p2p_stream *s;
			assert_int_equal(p2p_conn_open_stream(b2->conn, &s), 0);
			const char *protos[] = {ECHO_PROTO};
			assert_int_equal(
			    p2p_stream_select(s, true, protos, 1, cli_selected, legit),
			    0);
		}
	}
}

static void close_side(fixture *f, side *s)
{
	if (s->conn && !s->closed)
		p2p_conn_close(s->conn, 0);
	assert_true(uvt_run(&f->loop, &s->closed, 5000));
	s->conn = NULL;
}

/* A peer floods PING|SYN and reads nothing. Each batch it sends gets at
 * most P2P_YAMUX_MAX_PENDING_PINGS answers, so a's queue stays small; a
 * closes the connection once the peer is over the ping budget
 * (P2P_YAMUX_MAX_PINGS_PER_WINDOW), long before the stall timeout would;
 * and another connection of a's serves as before. */
static void test_ping_flood_bounded(void **state)
{
	fixture *f = *state;
	enum { STALL_MS = 1000 };
	connect_qpipes(f, &f->a, &f->b, 0, STALL_MS);
	side a2 = {0}, b2 = {0};
	connect_qpipes(f, &a2, &b2, 0, 0);
	assert_int_equal(p2p_pipe_read_stop(f->b.conn->pipe), 0);

	size_t len = 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 7);
	client legit = {.payload = payload, .len = len};
	p2p_buf_init(&legit.got);
	flood_watch w = {0};
	uint64_t t0 = uv_now(&f->loop);
	run_flood(f, &f->a, &f->b, FLOOD_PINGS, STALL_MS, &w, NULL, &b2, NULL);
	uint64_t took = uv_now(&f->loop) - t0;
	print_message("ping flood: %" PRIu64 " answered, %" PRIu64
	              " dropped, max queued %zu bytes, closed after %" PRIu64 " ms\n",
	              w.pongs_sent, w.pings_dropped, w.max_queued, took);

	/* The budget closed it, not the stall nor the end of the test. */
	assert_true(f->a.closed);
	assert_int_equal(f->a.close_err, P2P_ELIMIT);
	assert_true(took < STALL_MS);
	/* Most pings went unanswered (at most P2P_YAMUX_MAX_PENDING_PINGS
	 * answers per read), none past the budget, and what was answered is
	 * held in a queue that reading stops growing. */
	assert_true(w.pings_dropped > 10 * w.pongs_sent);
	assert_true(w.pings_dropped + w.pongs_sent <= P2P_YAMUX_MAX_PINGS_PER_WINDOW);
	assert_true(w.max_queued <= P2P_CONN_READ_PAUSE + QPIPE_READ + 1024);
	/* The legitimate echo on a's other connection goes through (the
	 * flood is over before it could start). */
	p2p_stream *ls;
	assert_int_equal(p2p_conn_open_stream(b2.conn, &ls), 0);
	const char *protos[] = {ECHO_PROTO};
	assert_int_equal(p2p_stream_select(ls, true, protos, 1, cli_selected, &legit), 0);
	assert_true(uvt_run(&f->loop, &legit.closed, 5000));
	assert_int_equal(legit.got.len, len);
	assert_memory_equal(legit.got.data, payload, len);
	assert_false(a2.closed);
	p2p_buf_free(&legit.got);
	free(payload);
	close_side(f, &b2);
	close_side(f, &a2);
}

/* SYNs over a's stream limit each cost an RST of the same size, so a peer
 * that sends them without reading makes a's output grow as fast as it
 * sends: a stops reading it above P2P_CONN_READ_PAUSE, the queue stays
 * there, and the stall timeout closes the connection. */
static void test_syn_flood_pauses_reading(void **state)
{
	fixture *f = *state;
	enum { STALL_MS = 1000 };
	connect_qpipes(f, &f->a, &f->b, 2, STALL_MS);
	side a2 = {0}, b2 = {0};
	connect_qpipes(f, &a2, &b2, 0, 0);
	assert_int_equal(p2p_pipe_read_stop(f->b.conn->pipe), 0);

	size_t len = 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 9);
	client legit = {.payload = payload, .len = len};
	p2p_buf_init(&legit.got);
	flood_watch w = {0};
	run_flood(f, &f->a, &f->b, FLOOD_SYNS, STALL_MS, &w, &legit, &b2, NULL);
	print_message("SYN flood: max queued %zu bytes (pause at %d)\n", w.max_queued,
	              P2P_CONN_READ_PAUSE);
	assert_true(w.paused);
	/* Over the pause mark by at most what one read can make us answer. */
	assert_true(w.max_queued > P2P_CONN_READ_PAUSE);
	assert_true(w.max_queued <= P2P_CONN_READ_PAUSE + QPIPE_READ + 1024);
	assert_true(f->a.closed);
	assert_int_equal(f->a.close_err, P2P_ETIMEDOUT);
	assert_true(legit.closed);
	assert_int_equal(legit.got.len, len);
	assert_false(a2.closed);
	p2p_buf_free(&legit.got);
	free(payload);
	close_side(f, &b2);
	close_side(f, &a2);
}

/* Once the peer reads again, a's output drains and a reads again: a pause
 * is not a dead end, and the stall timeout spares a peer that reads. */
static void test_reading_resumes(void **state)
{
	fixture *f = *state;
	enum { STALL_MS = 500 };
	connect_qpipes(f, &f->a, &f->b, 2, STALL_MS);
	assert_int_equal(p2p_pipe_read_stop(f->b.conn->pipe), 0);
	flood_watch w = {0};
	run_flood(f, &f->a, &f->b, FLOOD_SYNS, 0, &w, NULL, NULL,
	          &f->a.conn->read_paused);
	assert_false(f->a.closed);
	assert_true(f->a.conn->read_paused);
	/* b reads (and ignores the RSTs); its queued SYNs get read by a.
	 * Then a stall timeout and a half more, with nothing left queued. */
	assert_int_equal(p2p_pipe_read_start(f->b.conn->pipe), 0);
	uint64_t start = uv_now(&f->loop), drained_at = 0;
	while (uv_now(&f->loop) - start < 5000) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		assert_false(f->a.closed);
		bool drained = !f->a.conn->read_paused &&
		               p2p_pipe_queued(f->a.conn->pipe) == 0 &&
		               p2p_pipe_queued(f->b.conn->pipe) == 0;
		if (!drained)
			drained_at = 0;
		else if (drained_at == 0)
			drained_at = uv_now(&f->loop);
		else if (uv_now(&f->loop) - drained_at > STALL_MS * 3 / 2)
			break;
	}
	assert_true(drained_at != 0);
	assert_true(p2p_conn_is_open(f->a.conn));
	assert_true(f->a.conn->read_pauses >= 1);
}

/* Both ends writing as fast as they can, with no buffer between them: the
 * writers stop at the high-water mark, far from the pause mark, so neither
 * side ever stops reading the other. */
static void test_bulk_both_ways_never_pauses(void **state)
{
	fixture *f = *state;
	connect_qpipes(f, &f->a, &f->b, 0, 0);
	size_t len = 6 * 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 3);
	client c = {.payload = payload, .len = len, .chunk = 256 * 1024};
	p2p_buf_init(&c.got);
	open_client(f, &c, ECHO_PROTO);
	assert_true(uvt_run(&f->loop, &c.closed, 30000));
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	assert_int_equal(f->a.conn->read_pauses, 0);
	assert_int_equal(f->b.conn->read_pauses, 0);
	p2p_buf_free(&c.got);
	free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_protocol, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_over_memory_pipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ping_flood_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syn_flood_pauses_reading, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reading_resumes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_both_ways_never_pauses, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
