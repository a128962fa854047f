/* The dialer's two lanes (host.h, p2p_host_connect): direct addresses in
 * turn, and /p2p-circuit ones P2P_HOST_RELAY_DIAL_DELAY_MS later or as soon
 * as the direct ones are gone; the first connection wins and the other
 * lane's attempt is cancelled.
 *
 * Everything stays on loopback. A "relay" is a stand-in transport for
 * /p2p-circuit addresses that dials the TCP address in front of
 * /p2p-circuit; a blackholed address is one a stand-in transport takes and
 * never answers (until cancelled), or a local listener that accepts and
 * never speaks, so that the handshake stalls. Every test ends with both
 * hosts closed and the loop empty, so ASan sees any leak. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"

static const uint8_t circuit_code[] = {0xa2, 0x02}; /* varint 290, /p2p-circuit */

/* --- the relay stand-in: <tcp address>/p2p-circuit dials the TCP address
 * and reports the whole address as the pipe's remote one, as the relay
 * transport does --- */

typedef struct fake_relay {
	uv_loop_t *loop;
	int dials, cancels;
} fake_relay;

static bool relay_can_dial(void *self, const uint8_t *addr, size_t len)
{
	return len > 2 && memcmp(addr + len - 2, circuit_code, 2) == 0;
}

typedef struct relay_dial {
	p2p_dial_cb cb;
	void *user;
	p2p_buf addr;
} relay_dial;

static void relay_dialed(p2p_pipe *pipe, int err, void *user)
{
	relay_dial *rd = user;
	if (pipe) {
		p2p_buf_reset(&pipe->remote_addr);
		p2p_buf_append(&pipe->remote_addr, rd->addr.data, rd->addr.len);
	}
	rd->cb(pipe, err, rd->user);
	p2p_buf_free(&rd->addr);
	free(rd);
}

static int relay_dial_fn(void *self, const uint8_t *addr, size_t len,
                         const p2p_peerid *peer, p2p_dial_cb cb, void *user,
                         void **handle)
{
	fake_relay *fr = self;
	relay_dial *rd = calloc(1, sizeof(*rd));
	rd->cb = cb;
	rd->user = user;
	p2p_buf_init(&rd->addr);
	p2p_buf_append(&rd->addr, addr, len);
	fr->dials++;
	p2p_tcp_dialer *d;
	int rc = p2p_tcp_dial(&d, fr->loop, addr, len - 2, 2000, relay_dialed, rd);
	if (rc < 0) {
		p2p_buf_free(&rd->addr);
		free(rd);
	}
	*handle = d;
	return rc;
}

static void relay_cancel(void *self, void *handle)
{
	((fake_relay *)self)->cancels++;
	p2p_tcp_dial_cancel(handle);
}

static const p2p_host_transport relay_ops = {
    .name = "fake-circuit",
    .can_dial = relay_can_dial,
    .dial = relay_dial_fn,
    .cancel = relay_cancel,
};

/* --- the blackhole: takes every /ip4/127.0.0.3 address (direct or
 * circuit) and never answers; a cancel answers P2P_ECLOSED from the loop,
 * as the transport contract asks --- */

typedef struct blackhole {
	int dials, cancels, answered;
} blackhole;

static const uint8_t bh_prefix[] = {0x04, 127, 0, 0, 3};

static bool bh_can_dial(void *self, const uint8_t *addr, size_t len)
{
	return len > sizeof(bh_prefix) && memcmp(addr, bh_prefix, sizeof(bh_prefix)) == 0;
}

typedef struct bh_dial {
	uv_timer_t timer;
	blackhole *bh;
	p2p_dial_cb cb;
	void *user;
} bh_dial;

static void bh_closed(uv_handle_t *h)
{
	free(h->data);
}

static void bh_answer(uv_timer_t *t)
{
	bh_dial *bd = t->data;
	bd->bh->answered++;
	bd->cb(NULL, P2P_ECLOSED, bd->user);
	uv_close((uv_handle_t *)&bd->timer, bh_closed);
}

static uv_loop_t *bh_loop; /* the fixture's */

static int bh_dial_fn(void *self, const uint8_t *addr, size_t len, const p2p_peerid *peer,
                      p2p_dial_cb cb, void *user, void **handle)
{
	blackhole *bh = self;
	bh_dial *bd = calloc(1, sizeof(*bd));
	bd->bh = bh;
	bd->cb = cb;
	bd->user = user;
	uv_timer_init(bh_loop, &bd->timer);
	bd->timer.data = bd;
	bh->dials++;
	*handle = bd;
	return P2P_OK;
}

static void bh_cancel(void *self, void *handle)
{
	bh_dial *bd = handle;
	bd->bh->cancels++;
	uv_timer_start(&bd->timer, bh_answer, 0, 0);
}

static const p2p_host_transport bh_ops = {
    .name = "blackhole",
    .can_dial = bh_can_dial,
    .dial = bh_dial_fn,
    .cancel = bh_cancel,
};

/* --- the fixture: b dials a --- */

#define MAX_SILENT 4

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	bool a_closed, b_closed;
	fake_relay relay;
	blackhole bh;
	/* the connect's result */
	int calls, err;
	bool done;
	p2p_conn *conn;
	uint64_t elapsed_ms;
	uint64_t started;
	/* the silent listener and what it accepted */
	uv_tcp_t silent;
	uv_tcp_t accepted[MAX_SILENT];
	int n_accepted, n_eof;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->calls++;
	f->err = err;
	f->conn = c;
	f->done = true;
	f->elapsed_ms = (uv_hrtime() - f->started) / 1000000;
}

static void silent_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char scratch[4096];
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

/* Reads what the dialer sends, never answers; counts the closes. */
static void silent_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	fixture *f = s->data;
	if (n < 0) {
		f->n_eof++;
		uv_read_stop(s);
	}
}

static void silent_accept(uv_stream_t *server, int status)
{
	fixture *f = server->data;
	assert_int_equal(status, 0);
	assert_true(f->n_accepted < MAX_SILENT);
	uv_tcp_t *c = &f->accepted[f->n_accepted++];
	uv_tcp_init(&f->loop, c);
	c->data = f;
	assert_int_equal(uv_accept(server, (uv_stream_t *)c), 0);
	uv_read_start((uv_stream_t *)c, silent_alloc, silent_read);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	bh_loop = &f->loop;
	f->relay.loop = &f->loop;
	assert_int_equal(p2p_privkey_generate(&f->ka), 0);
	assert_int_equal(p2p_privkey_generate(&f->kb), 0);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	assert_int_equal(p2p_host_new(&f->a, &f->loop, f->ka, &cfg), 0);
	assert_int_equal(p2p_host_new(&f->b, &f->loop, f->kb, &cfg), 0);
	assert_int_equal(p2p_host_listen(f->a, "/ip4/127.0.0.1/tcp/0"), 0);
	assert_int_equal(p2p_host_add_transport(f->b, &bh_ops, &f->bh), 0);
	assert_int_equal(p2p_host_add_transport(f->b, &relay_ops, &f->relay), 0);

	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(&f->loop, &f->silent);
	f->silent.data = f;
	assert_int_equal(uv_tcp_bind(&f->silent, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->silent, 8, silent_accept), 0);
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
	uv_close((uv_handle_t *)&f->silent, NULL);
	for (int i = 0; i < f->n_accepted; i++)
		uv_close((uv_handle_t *)&f->accepted[i], NULL);
	assert_true(uvt_run(&f->loop, &f->a_closed, 5000));
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->ka);
	p2p_privkey_free(f->kb);
	free(f);
	return 0;
}

/* --- addresses --- */

static void a_addr(fixture *f, p2p_buf *out)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->a, addrs, 1), 1);
	p2p_buf_init(out);
	p2p_buf_append(out, addrs[0]->data, addrs[0]->len);
}

static void tcp_addr(const char *ip, int port, p2p_buf *out)
{
	char text[64];
	snprintf(text, sizeof(text), "/ip4/%s/tcp/%d", ip, port);
	p2p_buf_init(out);
	assert_int_equal(p2p_multiaddr_parse(text, out), 0);
}

static void add_circuit(p2p_buf *addr)
{
	p2p_buf_append(addr, circuit_code, 2);
}

static int silent_port(fixture *f)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&f->silent, (struct sockaddr *)&ss, &len);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A loopback port nothing listens on: bound, then let go. */
static int closed_port(fixture *f)
{
	uv_tcp_t t;
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(&f->loop, &t);
	assert_int_equal(uv_tcp_bind(&t, (struct sockaddr *)&sin, 0), 0);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void connect_b(fixture *f, p2p_buf *addrs, size_t n)
{
	uv_update_time(&f->loop); /* the delay counts from now */
	f->started = uv_hrtime();
	assert_int_equal(
	    p2p_host_connect(f->b, p2p_host_peer_id(f->a), addrs, n, on_connected, f), 0);
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
}

static void wait_ms(fixture *f, uint64_t ms)
{
	uvt_run(&f->loop, &(bool){false}, ms);
}

/* --- tests --- */

/* The direct address accepts and then says nothing (a middlebox that
 * lets the SYN through and eats the rest): the relay lane starts after
 * the delay and wins long before the handshake timeout; the stalled
 * handshake is closed. */
static void test_relay_wins_over_stalled_handshake(void **state)
{
	fixture *f = *state;
	p2p_buf addrs[2];
	tcp_addr("127.0.0.1", silent_port(f), &addrs[0]);
	a_addr(f, &addrs[1]);
	add_circuit(&addrs[1]);
	connect_b(f, addrs, 2);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, 0);
	assert_non_null(f->conn);
	assert_true(p2p_conn_is_relayed(f->conn));
	assert_false(p2p_conn_is_limited(f->conn));
	assert_int_equal(f->relay.dials, 1);
	assert_true(f->elapsed_ms >= P2P_HOST_RELAY_DIAL_DELAY_MS - 50);
	assert_true(f->elapsed_ms < 2000);
	assert_int_equal(f->n_accepted, 1);
	/* The lost handshake is closed: the silent end sees it go. */
	for (int i = 0; i < 100 && f->n_eof == 0; i++)
		wait_ms(f, 10);
	assert_int_equal(f->n_eof, 1);
	p2p_conn *conns[4];
	assert_int_equal(p2p_host_conns(f->b, conns, 4), 1);
	assert_ptr_equal(conns[0], f->conn);
	assert_int_equal(f->calls, 1);
}

/* Direct addresses that blackhole (more of them than the cap) and one
 * relay address: the relay address keeps its slot, its lane wins after
 * the delay, and the blackholed dial is cancelled. */
static void test_relay_wins_over_blackhole(void **state)
{
	fixture *f = *state;
	enum { N = P2P_HOST_MAX_DIAL_ADDRS + 4 };
	p2p_buf addrs[N + 1];
	for (int i = 0; i < N; i++)
		tcp_addr("127.0.0.3", 1000 + i, &addrs[i]);
	a_addr(f, &addrs[N]);
	add_circuit(&addrs[N]);
	connect_b(f, addrs, N + 1);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, 0);
	assert_true(p2p_conn_is_relayed(f->conn));
	assert_true(f->elapsed_ms >= P2P_HOST_RELAY_DIAL_DELAY_MS - 50);
	assert_true(f->elapsed_ms < 2000);
	assert_int_equal(f->relay.dials, 1);
	assert_int_equal(f->bh.dials, 1);
	assert_int_equal(f->bh.cancels, 1);
	for (int i = 0; i < 100 && f->bh.answered == 0; i++)
		wait_ms(f, 10);
	assert_int_equal(f->bh.answered, 1);
	/* The cancelled lane gave up instead of going on to the next address. */
	assert_int_equal(f->bh.dials, 1);
	assert_int_equal(f->calls, 1);
}

/* A working direct address wins within the delay: the relay lane never
 * starts, not even after the delay has passed. */
static void test_direct_wins(void **state)
{
	fixture *f = *state;
	p2p_buf addrs[2];
	a_addr(f, &addrs[0]);
	a_addr(f, &addrs[1]);
	add_circuit(&addrs[1]);
	connect_b(f, addrs, 2);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, 0);
	assert_false(p2p_conn_is_relayed(f->conn));
	wait_ms(f, P2P_HOST_RELAY_DIAL_DELAY_MS + 200);
	assert_int_equal(f->relay.dials, 0);
	assert_int_equal(f->calls, 1);
}

/* Both lanes fail: one callback with the error; the relay lane started
 * as soon as the direct one had failed, not after the delay. */
static void test_both_fail(void **state)
{
	fixture *f = *state;
	p2p_buf addrs[2];
	tcp_addr("127.0.0.1", closed_port(f), &addrs[0]);
	tcp_addr("127.0.0.1", closed_port(f), &addrs[1]);
	add_circuit(&addrs[1]);
	connect_b(f, addrs, 2);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_true(f->err < 0);
	assert_null(f->conn);
	assert_int_equal(f->relay.dials, 1);
	assert_true(f->elapsed_ms < P2P_HOST_RELAY_DIAL_DELAY_MS);
	wait_ms(f, P2P_HOST_RELAY_DIAL_DELAY_MS + 200);
	assert_int_equal(f->calls, 1);
}

/* Only relay addresses: no direct lane to wait for. */
static void test_relay_only(void **state)
{
	fixture *f = *state;
	p2p_buf addr;
	a_addr(f, &addr);
	add_circuit(&addr);
	connect_b(f, &addr, 1);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, 0);
	assert_true(p2p_conn_is_relayed(f->conn));
	assert_true(f->elapsed_ms < P2P_HOST_RELAY_DIAL_DELAY_MS);
}

/* The host closes while both lanes wait on blackholes: both are
 * cancelled and the connect fails once with P2P_ECLOSED. */
static void test_close_cancels_both_lanes(void **state)
{
	fixture *f = *state;
	p2p_buf addrs[2];
	tcp_addr("127.0.0.3", 1, &addrs[0]);
	tcp_addr("127.0.0.3", 2, &addrs[1]);
	add_circuit(&addrs[1]);
	connect_b(f, addrs, 2);
	for (int i = 0; i < 200 && f->bh.dials < 2; i++)
		wait_ms(f, 10);
	assert_int_equal(f->bh.dials, 2);
	assert_false(f->done);
	p2p_host_close(f->b, set_flag, &f->b_closed);
	assert_int_equal(f->bh.cancels, 2);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, P2P_ECLOSED);
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_int_equal(f->bh.answered, 2);
	assert_int_equal(f->calls, 1);
}

/* The host closes before the delay: the relay lane never dials. */
static void test_close_before_relay_lane(void **state)
{
	fixture *f = *state;
	p2p_buf addrs[2];
	tcp_addr("127.0.0.3", 1, &addrs[0]);
	a_addr(f, &addrs[1]);
	add_circuit(&addrs[1]);
	connect_b(f, addrs, 2);
	wait_ms(f, 50);
	p2p_host_close(f->b, set_flag, &f->b_closed);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	assert_int_equal(f->err, P2P_ECLOSED);
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	assert_int_equal(f->bh.cancels, 1);
	assert_int_equal(f->relay.dials, 0);
	assert_int_equal(f->calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_relay_wins_over_stalled_handshake, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_relay_wins_over_blackhole, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_direct_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_both_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_cancels_both_lanes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_close_before_relay_lane, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
