/* The upgrader and streams over real loopback TCP: Noise + yamux between
 * two connections in one process, without the host. */
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
#include "uvtest.h"

#define ECHO_PROTO "/echo/1.0.0"

typedef struct side {
	p2p_privkey *key;
	p2p_peerid id;
	p2p_conn *conn;
	bool done;
	int err;
	bool closed;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
