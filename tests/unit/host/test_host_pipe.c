/* A connection over a stream of another connection, the way circuit relay
 * v2 runs one: b opens a carrier stream to a over loopback TCP, both turn
 * it into a pipe (p2p_stream_pipe_new) and upgrade it into a second,
 * nested connection (p2p_host_upgrade_pipe), which must carry a 4 MiB echo
 * intact, report itself limited, and close without taking the carrier
 * connection down. */
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

#define CARRIER_PROTO "/test/carrier/1.0.0"
#define ECHO_PROTO    "/test/echo/1.0.0"

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	bool a_closed, b_closed;
	/* the nested connection, as each side saw it */
	bool a_done, b_done;
	int a_err, b_err;
	p2p_conn *a_conn, *b_conn;
	bool refuse;   /* a closes the carrier pipe before upgrading it */
	bool greeting; /* the carrier starts with "HELLO", see greeting_data */
	size_t greeted, leftover;
	p2p_stream *greeting_stream;
	uv_timer_t timer;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void echo_handler(p2p_stream *s, const char *protocol, void *user)
{
	p2p_stream_set_callbacks(s, &echo_cbs, calloc(1, sizeof(echo)));
}

static void on_a_nested(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->a_done = true;
	f->a_err = err;
	f->a_conn = c;
}

static void upgrade_inbound(fixture *f, p2p_stream *s);

/* With `greeting`, the carrier starts with "HELLO" (as a relay's STATUS
 * comes before the relayed bytes): a reads it itself and gives back the
 * rest, which may be the start of b's handshake. */
static void greeting_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	fixture *f = user;
	size_t take = 5 - f->greeted < len ? 5 - f->greeted : len;
	assert_memory_equal(data, &"HELLO"[f->greeted], take);
	f->greeted += take;
	p2p_stream_consume(s, take);
	if (f->greeted < 5)
		return;
	f->leftover = len - take;
	assert_int_equal(p2p_stream_unread(s, data + take, len - take), 0);
	upgrade_inbound(f, s);
}

static const p2p_stream_callbacks greeting_cbs = {.on_data = greeting_data};

static void on_greeting_timer(uv_timer_t *t)
{
	fixture *f = t->data;
	p2p_stream_pause(f->greeting_stream, false);
}

static void carrier_handler(p2p_stream *s, const char *protocol, void *user)
{
	fixture *f = user;
	if (f->greeting) {
		/* Held a while, so that HELLO and b's first handshake bytes
		 * come in one on_data: the case unread is for. */
		p2p_stream_pause(s, true);
		p2p_stream_set_callbacks(s, &greeting_cbs, f);
		f->greeting_stream = s;
		uv_timer_start(&f->timer, on_greeting_timer, 200, 0);
		return;
	}
	upgrade_inbound(f, s);
}

static void upgrade_inbound(fixture *f, p2p_stream *s)
{
	p2p_pipe *pipe;
	assert_int_equal(p2p_stream_pipe_new(s, &pipe), 0);
	if (f->refuse) {
		p2p_pipe_close(pipe);
		return;
	}
	pipe->limited = true;
	p2p_host_pipe_opts o = {.initiator = false, .direction = P2P_DIR_INBOUND};
	assert_int_equal(p2p_host_upgrade_pipe(f->a, pipe, &o, on_a_nested, f), 0);
}

static void on_b_nested(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->b_done = true;
	f->b_err = err;
	f->b_conn = c;
}

static void on_carrier(p2p_stream *s, int err, void *user)
{
	fixture *f = user;
	assert_int_equal(err, 0);
	if (f->greeting)
		assert_int_equal(p2p_stream_write(s, (const uint8_t *)"HELLO", 5), 1);
	p2p_pipe *pipe;
	assert_int_equal(p2p_stream_pipe_new(s, &pipe), 0);
	pipe->limited = true;
	p2p_host_pipe_opts o = {.initiator = true,
	                        .direction = P2P_DIR_OUTBOUND,
	                        .expected = p2p_host_peer_id(f->a)};
	assert_int_equal(p2p_host_upgrade_pipe(f->b, pipe, &o, on_b_nested, f), 0);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	uv_timer_init(&f->loop, &f->timer);
	f->timer.data = f;
	assert_int_equal(p2p_privkey_generate(&f->ka), 0);
	assert_int_equal(p2p_privkey_generate(&f->kb), 0);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	assert_int_equal(p2p_host_new(&f->a, &f->loop, f->ka, &cfg), 0);
	assert_int_equal(p2p_host_new(&f->b, &f->loop, f->kb, &cfg), 0);
	assert_int_equal(p2p_host_set_handler(f->a, CARRIER_PROTO, carrier_handler, f),
	                 0);
	assert_int_equal(p2p_host_set_handler(f->a, ECHO_PROTO, echo_handler, f), 0);
	assert_int_equal(p2p_host_listen(f->a, "/ip4/127.0.0.1/tcp/0"), 0);
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->a, addrs, 1), 1);
	p2p_peerstore_add_addr(p2p_host_peerstore(f->b), p2p_host_peer_id(f->a),
	                       addrs[0]->data, addrs[0]->len, P2P_ADDR_MANUAL);
	*state = f;
	return 0;
}

static void set_flag(void *user)
{
	*(bool *)user = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	p2p_host_close(f->a, set_flag, &f->a_closed);
	if (!f->b_closed)
		p2p_host_close(f->b, set_flag, &f->b_closed);
	uv_close((uv_handle_t *)&f->timer, NULL);
	assert_true(uvt_run(&f->loop, &f->a_closed, 5000));
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->ka);
	p2p_privkey_free(f->kb);
	free(f);
	return 0;
}

static void open_carrier(fixture *f)
{
	const char *protos[] = {CARRIER_PROTO};
	assert_int_equal(
	    p2p_host_new_stream(f->b, p2p_host_peer_id(f->a), protos, 1, on_carrier, f),
	    0);
}

static void nested_echo(fixture *f)
{
	open_carrier(f);
	assert_true(uvt_run(&f->loop, &f->b_done, 10000));
	assert_true(uvt_run(&f->loop, &f->a_done, 10000));
	assert_int_equal(f->b_err, 0);
	assert_int_equal(f->a_err, 0);
	p2p_conn *tcp = p2p_host_conn(f->b, p2p_host_peer_id(f->a));
	assert_non_null(tcp);
	assert_false(p2p_conn_is_limited(tcp));
	/* b holds two connections to a now: the carrier and the nested one. */
	p2p_conn *conns[4];
	assert_int_equal(p2p_host_conns(f->b, conns, 4), 2);
	assert_true(p2p_conn_is_limited(f->b_conn));
	assert_true(p2p_conn_is_limited(f->a_conn));
	assert_true(
	    p2p_peerid_equal(p2p_conn_remote_peer(f->a_conn), p2p_host_peer_id(f->b)));
	assert_int_equal(p2p_conn_direction(f->a_conn), P2P_DIR_INBOUND);

	size_t len = 4 * 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 777);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	p2p_stream *s;
	assert_int_equal(p2p_conn_open_stream(f->b_conn, &s), 0);
	const char *protos[] = {ECHO_PROTO};
	assert_int_equal(p2p_stream_select(s, true, protos, 1, cli_selected, &c), 0);
	assert_true(uvt_run(&f->loop, &c.closed, 30000));
	assert_int_equal(c.err, 0);
	assert_true(c.fin);
	assert_false(c.reset);
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	p2p_buf_free(&c.got);
	free(payload);

	/* Closing the nested connection leaves the carrier up. */
	p2p_conn_close(f->b_conn, 0);
	for (int i = 0; i < 100 && p2p_host_conns(f->a, conns, 4) != 1; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(p2p_host_conns(f->a, conns, 4), 1);
	assert_int_equal(p2p_host_conns(f->b, conns, 4), 1);
	assert_ptr_equal(conns[0], tcp);
}

static void test_nested_echo(void **state)
{
	nested_echo(*state);
}

/* Bytes after a message that a read itself are given back to the stream
 * (p2p_stream_unread) and reach the nested connection's handshake. */
static void test_unread(void **state)
{
	fixture *f = *state;
	f->greeting = true;
	nested_echo(f);
	assert_int_equal(f->greeted, 5);
	assert_true(f->leftover > 0);
}

/* The responder drops the carrier: the initiator's upgrade fails, the
 * carrier connection stays. */
static void test_carrier_refused(void **state)
{
	fixture *f = *state;
	f->refuse = true;
	open_carrier(f);
	assert_true(uvt_run(&f->loop, &f->b_done, 20000));
	assert_true(f->b_err < 0);
	assert_null(f->b_conn);
	assert_false(f->a_done);
	assert_non_null(p2p_host_conn(f->b, p2p_host_peer_id(f->a)));
}

/* The carrier connection goes away under the nested one: the nested
 * connection closes too, on both sides. */
static void test_carrier_lost(void **state)
{
	fixture *f = *state;
	open_carrier(f);
	assert_true(uvt_run(&f->loop, &f->b_done, 10000));
	assert_true(uvt_run(&f->loop, &f->a_done, 10000));
	assert_int_equal(f->b_err, 0);
	p2p_conn *conns[4];
	size_t n = p2p_host_conns(f->b, conns, 4);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		if (!p2p_conn_is_limited(conns[i]))
			p2p_conn_close(conns[i], 0);
	for (int i = 0; i < 200 && (p2p_host_conns(f->a, conns, 4) ||
	                            p2p_host_conns(f->b, conns, 4));
	     i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(p2p_host_conns(f->a, conns, 4), 0);
	assert_int_equal(p2p_host_conns(f->b, conns, 4), 0);
}

/* --- the transport table: a stand-in transport for /p2p-circuit
 * addresses that dials the TCP address in front of /p2p-circuit and marks
 * the pipe limited, as a relay with a Limit would --- */

typedef struct fake_transport {
	uv_loop_t *loop;
	int dials, cancels;
} fake_transport;

static const uint8_t circuit_code[] = {0xa2, 0x02}; /* varint 0x0122 */

static bool fake_can_dial(void *self, const uint8_t *addr, size_t len)
{
	return len > 2 && memcmp(addr + len - 2, circuit_code, 2) == 0;
}

typedef struct fake_dial {
	p2p_dial_cb cb;
	void *user;
} fake_dial;

static void fake_dialed(p2p_pipe *pipe, int err, void *user)
{
	fake_dial *fd = user;
	if (pipe)
		pipe->limited = true;
	fd->cb(pipe, err, fd->user);
	free(fd);
}

static int fake_dial_fn(void *self, const uint8_t *addr, size_t len,
                        const p2p_peerid *peer, p2p_dial_cb cb, void *user, void **handle)
{
	fake_transport *ft = self;
	fake_dial *fd = calloc(1, sizeof(*fd));
	fd->cb = cb;
	fd->user = user;
	ft->dials++;
	p2p_tcp_dialer *d;
	int rc = p2p_tcp_dial(&d, ft->loop, addr, len - 2, 2000, fake_dialed, fd);
	if (rc < 0)
		free(fd);
	*handle = d;
	return rc;
}

static void fake_cancel(void *self, void *handle)
{
	((fake_transport *)self)->cancels++;
	p2p_tcp_dial_cancel(handle);
}

static const p2p_host_transport fake_ops = {
    .name = "fake-circuit",
    .can_dial = fake_can_dial,
    .dial = fake_dial_fn,
    .cancel = fake_cancel,
};

static void circuit_addr(fixture *f, p2p_buf *out)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->a, addrs, 1), 1);
	p2p_buf_init(out);
	p2p_buf_append(out, addrs[0]->data, addrs[0]->len);
	p2p_buf_append(out, circuit_code, 2);
}

static void test_transport_table(void **state)
{
	fixture *f = *state;
	fake_transport ft = {.loop = &f->loop};
	assert_int_equal(p2p_host_add_transport(f->b, &fake_ops, &ft), 0);
	p2p_buf addr;
	circuit_addr(f, &addr);
	assert_int_equal(
	    p2p_host_connect(f->b, p2p_host_peer_id(f->a), &addr, 1, on_b_nested, f), 0);
	assert_true(uvt_run(&f->loop, &f->b_done, 10000));
	assert_int_equal(f->b_err, 0);
	assert_int_equal(ft.dials, 1);
	assert_true(p2p_conn_is_limited(f->b_conn));
	p2p_buf_free(&addr);
}

/* The host closes while a transport's dial runs: it is cancelled. */
static void test_transport_cancel(void **state)
{
	fixture *f = *state;
	fake_transport ft = {.loop = &f->loop};
	assert_int_equal(p2p_host_add_transport(f->b, &fake_ops, &ft), 0);
	p2p_buf addr;
	circuit_addr(f, &addr);
	assert_int_equal(
	    p2p_host_connect(f->b, p2p_host_peer_id(f->a), &addr, 1, on_b_nested, f), 0);
	p2p_host_close(f->b, set_flag, &f->b_closed);
	assert_true(uvt_run(&f->loop, &f->b_done, 10000));
	assert_int_equal(f->b_err, P2P_ECLOSED);
	assert_int_equal(ft.cancels, 1);
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	p2p_buf_free(&addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_nested_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_carrier_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_carrier_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transport_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transport_cancel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
