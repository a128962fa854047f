/* Two hosts in one process over loopback TCP: connect, streams, limits,
 * bad input, shutdown. Every test ends with both hosts closed and the loop
 * empty, so ASan sees any leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/echo_streams.h"
#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "p2p/transport.h"
#include "p2p/yamux.h"

#define ECHO_PROTO "/test/echo/1.0.0"
#define SINK_PROTO "/test/sink/1.0.0"
#define MAX_SINKS  8

typedef struct sink {
	p2p_stream *s;
	size_t received, unconsumed;
} sink;

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	int a_connected, a_disconnected, b_connected, b_disconnected;
	bool a_closed, b_closed;
	bool closing; /* the test closed the hosts itself */
	sink sinks[MAX_SINKS];
	int n_sinks;
} fixture;

/* --- echo on a (echo_streams.h) --- */

static void echo_handler(p2p_stream *s, const char *protocol, void *user)
{
	assert_string_equal(protocol, ECHO_PROTO);
	assert_true(p2p_stream_is_inbound(s));
	p2p_stream_set_callbacks(s, &echo_cbs, calloc(1, sizeof(echo)));
}

/* --- a sink on a: takes data but consumes only when told --- */

static void sink_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	sink *k = user;
	k->received += len;
	k->unconsumed += len;
}

static void sink_close(p2p_stream *s, void *user)
{
	sink *k = user;
	k->s = NULL;
}

static const p2p_stream_callbacks sink_cbs = {.on_data = sink_data,
                                              .on_close = sink_close};

static void sink_handler(p2p_stream *s, const char *protocol, void *user)
{
	fixture *f = user;
	assert_true(f->n_sinks < MAX_SINKS);
	sink *k = &f->sinks[f->n_sinks++];
	k->s = s;
	p2p_stream_set_callbacks(s, &sink_cbs, k);
}

static void count_up(p2p_host *h, p2p_conn *c, void *user)
{
	fixture *f = user;
	if (h == f->a)
		f->a_connected++;
	else
		f->b_connected++;
}

static void count_down(p2p_host *h, p2p_conn *c, void *user)
{
	fixture *f = user;
	if (h == f->a)
		f->a_disconnected++;
	else
		f->b_disconnected++;
}

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

/* The prestate, if any, holds limits for a. */
static int setup(void **state)
{
	const p2p_host_config *limits = *state;
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	assert_int_equal(p2p_privkey_generate(&f->ka), 0);
	assert_int_equal(p2p_privkey_generate(&f->kb), 0);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	cfg.dial_timeout_ms = 2000;
	assert_int_equal(p2p_host_new(&f->b, &f->loop, f->kb, &cfg), 0);
	if (limits) {
		cfg.max_streams_per_conn = limits->max_streams_per_conn;
		cfg.max_pending_inbound = limits->max_pending_inbound;
		cfg.negotiate_timeout_ms = limits->negotiate_timeout_ms;
	}
	assert_int_equal(p2p_host_new(&f->a, &f->loop, f->ka, &cfg), 0);
	assert_int_equal(p2p_host_set_handler(f->a, SINK_PROTO, sink_handler, f), 0);
	assert_int_equal(p2p_host_set_handler(f->a, ECHO_PROTO, echo_handler, f), 0);
	assert_int_equal(p2p_host_listen(f->a, "/ip4/127.0.0.1/tcp/0"), 0);
	p2p_host_observer obs = {.on_connected = count_up, .on_disconnected = count_down};
	assert_int_equal(p2p_host_observe(f->a, &obs, f), 0);
	assert_int_equal(p2p_host_observe(f->b, &obs, f), 0);
	*state = f;
	return 0;
}

static void on_a_closed(void *user)
{
	((fixture *)user)->a_closed = true;
}

static void on_b_closed(void *user)
{
	((fixture *)user)->b_closed = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (!f->closing) {
		p2p_host_close(f->a, on_a_closed, f);
		p2p_host_close(f->b, on_b_closed, f);
	}
	assert_true(uvt_run(&f->loop, &f->a_closed, 5000));
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->ka);
	p2p_privkey_free(f->kb);
	free(f);
	return 0;
}

/* --- connecting --- */

typedef struct connect_result {
	bool done;
	int err;
	p2p_conn *conn;
} connect_result;

static void on_connect(p2p_conn *c, int err, void *user)
{
	connect_result *r = user;
	r->done = true;
	r->err = err;
	r->conn = c;
}

static int connect_b(fixture *f, const p2p_peerid *expect, connect_result *r)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->a, addrs, 1), 1);
	memset(r, 0, sizeof(*r));
	int rc = p2p_host_connect(f->b, expect, addrs[0], 1, on_connect, r);
	if (rc < 0)
		return rc;
	assert_false(r->done); /* from the loop, never from inside the call */
	assert_true(uvt_run(&f->loop, &r->done, 5000));
	return r->err;
}

static void test_connect(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	assert_true(
	    p2p_peerid_equal(p2p_conn_remote_peer(r.conn), p2p_host_peer_id(f->a)));
	assert_ptr_equal(p2p_host_conn(f->b, p2p_host_peer_id(f->a)), r.conn);
	/* A second connect reuses the connection. */
	connect_result r2;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r2), 0);
	assert_ptr_equal(r2.conn, r.conn);
	/* The peerstore learned the key and address. */
	assert_non_null(
	    p2p_peerstore_pubkey(p2p_host_peerstore(f->b), p2p_host_peer_id(f->a)));
	const p2p_buf *known[4];
	assert_int_equal(p2p_peerstore_addrs(p2p_host_peerstore(f->b),
	                                     p2p_host_peer_id(f->a), known, NULL, 4),
	                 1);
	/* Observers on both sides (a hears of it once its handshake ends). */
	for (int i = 0; i < 100 && f->a_connected == 0; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(f->b_connected, 1);
	assert_int_equal(f->a_connected, 1);
	const char *protos[4];
	assert_int_equal(p2p_host_protocols(f->a, protos, 4), 2);
	assert_string_equal(protos[0], SINK_PROTO); /* in the order added */
	assert_string_equal(protos[1], ECHO_PROTO);
	/* Disconnect: both sides hear of it. */
	p2p_host_disconnect(f->b, p2p_host_peer_id(f->a));
	for (int i = 0; i < 100 && f->a_disconnected == 0; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(f->b_disconnected, 1);
	assert_int_equal(f->a_disconnected, 1);
	assert_null(p2p_host_conn(f->b, p2p_host_peer_id(f->a)));
}

static void test_wrong_peer(void **state)
{
	fixture *f = *state;
	connect_result r;
	/* b expects a peer that a is not. */
	p2p_privkey *other;
	p2p_privkey_generate(&other);
	p2p_peerid wrong;
	p2p_peerid_from_pubkey(&wrong, p2p_privkey_public(other));
	p2p_privkey_free(other);
	assert_int_equal(connect_b(f, &wrong, &r), P2P_EPEERID);
	assert_null(r.conn);
	assert_null(p2p_host_conn(f->b, &wrong));
	/* a keeps serving. */
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
}

static void set_flag(void *user)
{
	*(bool *)user = true;
}

static void test_dial_refused(void **state)
{
	fixture *f = *state;
	/* A port nobody listens on: bind one, note it, close it. */
	p2p_host *tmp;
	assert_int_equal(p2p_host_new(&tmp, &f->loop, f->ka, NULL), 0);
	assert_int_equal(p2p_host_listen(tmp, "/ip4/127.0.0.1/tcp/0"), 0);
	const p2p_buf *addrs[1];
	p2p_host_addrs(tmp, addrs, 1);
	p2p_buf dead;
	p2p_buf_init(&dead);
	p2p_buf_append(&dead, addrs[0]->data, addrs[0]->len);
	bool closed = false;
	p2p_host_close(tmp, set_flag, &closed);
	assert_true(uvt_run(&f->loop, &closed, 5000));

	connect_result r = {0};
	assert_int_equal(
	    p2p_host_connect(f->b, p2p_host_peer_id(f->a), &dead, 1, on_connect, &r), 0);
	assert_true(uvt_run(&f->loop, &r.done, 5000));
	assert_true(r.err == P2P_EIO || r.err == P2P_ETIMEDOUT);
	p2p_buf_free(&dead);
	/* No address at all. */
	p2p_peerid nobody = *p2p_host_peer_id(f->b);
	nobody.bytes[nobody.len - 1] ^= 1;
	assert_int_equal(p2p_host_connect(f->b, &nobody, NULL, 0, on_connect, &r),
	                 P2P_ENOTFOUND);
}

/* --- streams --- */

static void on_new_stream(p2p_stream *s, int err, void *user)
{
	client *c = user;
	c->ready = true;
	c->err = err;
	if (err < 0) {
		assert_null(s);
		if (c->done_count)
			(*c->done_count)++;
		return;
	}
	c->s = s;
	assert_string_equal(p2p_stream_protocol(s), ECHO_PROTO);
	p2p_stream_set_callbacks(s, &cli_cbs, c);
	cli_pump(s, c);
}

static void test_echo_4mib(void **state)
{
	fixture *f = *state;
	/* Addresses through the peerstore: new_stream dials by itself. */
	const p2p_buf *addrs[1];
	p2p_host_addrs(f->a, addrs, 1);
	p2p_peerstore_add_addr(p2p_host_peerstore(f->b), p2p_host_peer_id(f->a),
	                       addrs[0]->data, addrs[0]->len, P2P_ADDR_MANUAL);
	size_t len = 4 * 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 12345);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	const char *protos[] = {"/not/this/1", ECHO_PROTO};
	assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 2,
	                                     on_new_stream, &c),
	                 0);
	assert_true(uvt_run(&f->loop, &c.closed, 30000));
	assert_int_equal(c.err, 0);
	assert_true(c.fin);
	assert_false(c.reset);
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	p2p_buf_free(&c.got);
	free(payload);
}

/* Writes as large as a stream may queue at once go out in pieces, the
 * pipe's queue staying bounded. */
static void test_echo_big_writes(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	size_t len = 3 * P2P_STREAM_MAX_PENDING;
	uint8_t *payload = malloc(len);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i % 251);
	client c = {.payload = payload, .len = len, .chunk = P2P_STREAM_MAX_PENDING};
	p2p_buf_init(&c.got);
	const char *protos[] = {ECHO_PROTO};
	assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1,
	                                     on_new_stream, &c),
	                 0);
	assert_true(uvt_run(&f->loop, &c.closed, 30000));
	assert_int_equal(c.err, 0);
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	p2p_buf_free(&c.got);
	free(payload);
}

static void test_unknown_protocol(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	client c = {0};
	const char *protos[] = {"/nobody/speaks/this"};
	assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1,
	                                     on_new_stream, &c),
	                 0);
	assert_true(uvt_run(&f->loop, &c.ready, 5000));
	assert_int_equal(c.err, P2P_ENEGOTIATE);
	assert_non_null(p2p_host_conn(f->b, p2p_host_peer_id(f->a)));
}

static void test_many_streams(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	enum { N = 200, LEN = 20000 };
	uint8_t *payload = malloc(LEN);
	for (size_t i = 0; i < LEN; i++)
		payload[i] = (uint8_t)(i * 31);
	client *cs = calloc(N, sizeof(*cs));
	int done = 0;
	const char *protos[] = {ECHO_PROTO};
	for (int i = 0; i < N; i++) {
		cs[i] = (client){.payload = payload, .len = LEN, .done_count = &done};
		p2p_buf_init(&cs[i].got);
		assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos,
		                                     1, on_new_stream, &cs[i]),
		                 0);
	}
	for (int i = 0; i < 1000 && done < N; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(done, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(cs[i].err, 0);
		assert_int_equal(cs[i].got.len, LEN);
		assert_memory_equal(cs[i].got.data, payload, LEN);
		p2p_buf_free(&cs[i].got);
	}
	/* All on the one connection. */
	p2p_conn *conns[4];
	assert_int_equal(p2p_host_conns(f->b, conns, 4), 1);
	free(cs);
	free(payload);
}

/* --- bad input --- */

static void raw_dialed(p2p_pipe *pipe, int err, void *user)
{
	*(p2p_pipe **)user = pipe;
}

static void raw_eof(p2p_pipe *p, void *user)
{
	*(bool *)user = true;
}

static void test_garbage(void **state)
{
	fixture *f = *state;
	const p2p_buf *addrs[1];
	p2p_host_addrs(f->a, addrs, 1);
	p2p_pipe *raw = NULL;
	assert_int_equal(p2p_tcp_dial(NULL, &f->loop, addrs[0]->data, addrs[0]->len, 2000,
	                              raw_dialed, &raw),
	                 0);
	for (int i = 0; i < 100 && raw == NULL; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_non_null(raw);
	bool eof = false;
	p2p_pipe_callbacks cbs = {.on_eof = raw_eof};
	p2p_pipe_set_callbacks(raw, &cbs, &eof);
	p2p_pipe_read_start(raw);
	p2p_buf junk;
	p2p_buf_init(&junk);
	for (int i = 0; i < 64; i++)
		p2p_buf_append(&junk, "\xff\x01garbage!", 10);
	p2p_pipe_write(raw, &junk);
	assert_true(uvt_run(&f->loop, &eof, 5000)); /* a hung up on us */
	p2p_pipe_close(raw);
	/* The listener serves the next client. */
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
}

/* Closing hosts with connections and streams open frees everything (the
 * teardown checks the loop is empty; ASan checks the heap). */
static void test_close_with_open_streams(void **state)
{
	fixture *f = *state;
	size_t len = 1024 * 1024;
	uint8_t *payload = calloc(1, len);
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	const char *protos[] = {ECHO_PROTO};
	p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1, on_new_stream, &c);
	assert_true(uvt_run(&f->loop, &c.ready, 5000));
	/* A pending request too. */
	client d = {0};
	p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1, on_new_stream, &d);
	f->closing = true;
	p2p_host_close(f->a, on_a_closed, f);
	p2p_host_close(f->b, on_b_closed, f);
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_true(c.closed);
	assert_true(d.ready);
	p2p_buf_free(&c.got);
	free(payload);
}

/* --- backpressure and limits --- */

typedef struct writer {
	p2p_stream *s;
	int err;
	bool ready;
	int drains;
} writer;

static void w_drain(p2p_stream *s, void *user)
{
	((writer *)user)->drains++;
}

static const p2p_stream_callbacks w_cbs = {.on_drain = w_drain};

static void w_ready(p2p_stream *s, int err, void *user)
{
	writer *w = user;
	w->ready = true;
	w->err = err;
	w->s = s;
	if (s)
		p2p_stream_set_callbacks(s, &w_cbs, w);
}

static void spin(fixture *f, int ms)
{
	uvt_run(&f->loop, &(bool){false}, ms);
}

/* A reader that does not consume stops the writer: write returns 0 once
 * the window is used up, no more crosses, and on_drain comes only after
 * the reader consumes. Past the hard cap, writes fail. */
static void test_backpressure(void **state)
{
	fixture *f = *state;
	static uint8_t chunk[65536];
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	writer w = {0};
	const char *protos[] = {SINK_PROTO};
	assert_int_equal(
	    p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1, w_ready, &w), 0);
	assert_true(uvt_run(&f->loop, &w.ready, 5000));
	assert_int_equal(w.err, 0);
	size_t accepted = 0;
	int rc;
	while ((rc = p2p_stream_write(w.s, chunk, sizeof(chunk))) == 1) {
		accepted += sizeof(chunk);
		assert_true(accepted < 64 * 1024 * 1024);
	}
	assert_int_equal(rc, 0);
	accepted += sizeof(chunk);
	spin(f, 300);
	sink *k = &f->sinks[0];
	assert_int_equal(f->n_sinks, 1);
	assert_true(k->received > 0);
	assert_true(k->received <= P2P_YAMUX_INITIAL_WINDOW);
	assert_true(accepted <= P2P_YAMUX_INITIAL_WINDOW + sizeof(chunk));
	assert_int_equal(w.drains, 0);

	uint8_t *big = calloc(1, P2P_STREAM_MAX_PENDING + 1);
	assert_int_equal(p2p_stream_write(w.s, big, P2P_STREAM_MAX_PENDING + 1),
	                 P2P_ELIMIT);
	free(big);

	/* The reader catches up: the rest crosses and the writer may go on. */
	for (int i = 0; i < 100 && (w.drains == 0 || k->received < accepted); i++) {
		p2p_stream_consume(k->s, k->unconsumed);
		k->unconsumed = 0;
		spin(f, 20);
	}
	assert_int_equal(w.drains, 1);
	assert_int_equal(k->received, accepted);
}

static void test_stream_limit(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	enum { N = 6 };
	writer w[N];
	memset(w, 0, sizeof(w));
	const char *protos[] = {SINK_PROTO};
	for (int i = 0; i < N; i++)
		assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos,
		                                     1, w_ready, &w[i]),
		                 0);
	for (int i = 0; i < 200; i++) {
		int ready = 0;
		for (int j = 0; j < N; j++)
			ready += w[j].ready;
		if (ready == N)
			break;
		spin(f, 20);
	}
	int ok = 0, refused = 0;
	for (int j = 0; j < N; j++) {
		assert_true(w[j].ready);
		if (w[j].err == 0)
			ok++;
		else if (w[j].err == P2P_ERESET)
			refused++;
	}
	assert_int_equal(ok, 4);
	assert_int_equal(refused, 2);
	assert_int_equal(f->n_sinks, 4);
}

static void test_pending_inbound_limit(void **state)
{
	fixture *f = *state;
	const p2p_buf *addrs[1];
	p2p_host_addrs(f->a, addrs, 1);
	/* One silent client takes the only handshake slot... */
	p2p_pipe *raw1 = NULL, *raw2 = NULL;
	p2p_tcp_dial(NULL, &f->loop, addrs[0]->data, addrs[0]->len, 2000, raw_dialed,
	             &raw1);
	for (int i = 0; i < 100 && raw1 == NULL; i++)
		spin(f, 20);
	assert_non_null(raw1);
	spin(f, 50);
	/* ...so the next one is turned away at once. */
	p2p_tcp_dial(NULL, &f->loop, addrs[0]->data, addrs[0]->len, 2000, raw_dialed,
	             &raw2);
	for (int i = 0; i < 100 && raw2 == NULL; i++)
		spin(f, 20);
	assert_non_null(raw2);
	bool eof = false;
	p2p_pipe_callbacks cbs = {.on_eof = raw_eof};
	p2p_pipe_set_callbacks(raw2, &cbs, &eof);
	p2p_pipe_read_start(raw2);
	assert_true(uvt_run(&f->loop, &eof, 5000));
	p2p_pipe_close(raw2);
	/* Once the slot is free, a real peer gets in. */
	p2p_pipe_close(raw1);
	spin(f, 100);
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
}

/* Closing a host with dials in progress (TCP connecting, and a handshake
 * with a silent listener) fails them with P2P_ECLOSED and frees all. */
static void hold_pipe(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	*(p2p_pipe **)user = pipe;
}

static void test_close_during_dial(void **state)
{
	fixture *f = *state;
	p2p_pipe *held = NULL;
	p2p_tcp_listener *silent;
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/0", &bin), 0);
	assert_int_equal(
	    p2p_tcp_listen(&silent, &f->loop, bin.data, bin.len, NULL, hold_pipe, &held),
	    0);
	p2p_buf_free(&bin);
	/* Handshake stuck: the silent listener never answers. */
	connect_result r1 = {0};
	assert_int_equal(p2p_host_connect(f->b, p2p_host_peer_id(f->a),
	                                  p2p_tcp_listener_addr(silent), 1, on_connect,
	                                  &r1),
	                 0);
	for (int i = 0; i < 100 && held == NULL; i++)
		spin(f, 20);
	assert_non_null(held);
	spin(f, 50);
	assert_false(r1.done);
	/* TCP connect in flight: closing in the same turn. */
	connect_result r2 = {0};
	const p2p_buf *addrs[1];
	p2p_host_addrs(f->a, addrs, 1);
	p2p_peerid other = *p2p_host_peer_id(f->a);
	other.bytes[other.len - 1] ^= 1;
	assert_int_equal(p2p_host_connect(f->b, &other, addrs[0], 1, on_connect, &r2), 0);
	f->closing = true;
	p2p_host_close(f->b, on_b_closed, f);
	p2p_host_close(f->a, on_a_closed, f);
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_true(r1.done && r2.done);
	assert_int_equal(r1.err, P2P_ECLOSED);
	assert_int_equal(r2.err, P2P_ECLOSED);
	p2p_pipe_close(held);
	p2p_tcp_listener_close(silent, NULL, NULL);
}

/* A stream whose opener never starts multistream-select is reset when the
 * negotiation deadline passes; the connection goes on. */
static void test_negotiation_timeout(void **state)
{
	fixture *f = *state;
	connect_result r;
	assert_int_equal(connect_b(f, p2p_host_peer_id(f->a), &r), 0);
	p2p_stream *s;
	assert_int_equal(p2p_conn_open_stream(r.conn, &s), 0);
	client c = {0};
	p2p_buf_init(&c.got);
	p2p_stream_set_callbacks(s, &cli_cbs, &c);
	/* One byte so that the stream reaches a (a SYN alone may wait). */
	assert_int_equal(p2p_stream_write(s, (const uint8_t *)"\x13", 1), 1);
	spin(f, 100);
	assert_false(c.reset);
	assert_true(uvt_run(&f->loop, &c.closed, 5000));
	assert_true(c.reset);
	assert_non_null(p2p_host_conn(f->b, p2p_host_peer_id(f->a)));
	p2p_buf_free(&c.got);
}

static const p2p_host_config negotiate_limit = {.negotiate_timeout_ms = 400};
static const p2p_host_config stream_limit = {.max_streams_per_conn = 4};
static const p2p_host_config pending_limit = {.max_pending_inbound = 1};

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dial_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_echo_4mib, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_echo_big_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_protocol, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_with_open_streams, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_during_dial, setup, teardown),
	    cmocka_unit_test_prestate_setup_teardown(test_negotiation_timeout, setup,
	                                             teardown, (void *)&negotiate_limit),
	    cmocka_unit_test_prestate_setup_teardown(test_stream_limit, setup, teardown,
	                                             (void *)&stream_limit),
	    cmocka_unit_test_prestate_setup_teardown(test_pending_inbound_limit, setup,
	                                             teardown, (void *)&pending_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
