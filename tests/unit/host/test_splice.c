/* Splicing (splice.h) as a relay does it: a opens a stream to r, r opens
 * one to b's echo service and joins the two. 4 MiB must come back to a
 * intact; with a data limit, the byte past it resets both streams; a reset
 * on one side resets the other. */
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
#include "p2p/splice.h"

#define HOP_PROTO  "/test/hop/1.0.0"
#define ECHO_PROTO "/test/echo/1.0.0"

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *key[3];
	p2p_host *a, *r, *b;
	bool closed[3];
	uint64_t max_bytes;
	p2p_stream *pending_in; /* r: the inbound stream waiting for b's */
	bool done;
	p2p_splice_end why;
	uint64_t ab, ba;
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

static void on_spliced(p2p_splice_end why, uint64_t ab, uint64_t ba, void *user)
{
	fixture *f = user;
	f->done = true;
	f->why = why;
	f->ab = ab;
	f->ba = ba;
}

static void on_out_stream(p2p_stream *s, int err, void *user)
{
	fixture *f = user;
	assert_int_equal(err, 0);
	if (f->pending_in == NULL) { /* a gave up meanwhile */
		p2p_stream_reset(s);
		on_spliced(P2P_SPLICE_RESET, 0, 0, f);
		return;
	}
	assert_int_equal(
	    p2p_splice_new(NULL, f->pending_in, s, f->max_bytes, on_spliced, f), 0);
	f->pending_in = NULL;
}

/* While r dials b, the inbound stream may go away: a relay must watch it. */
static void waiting_close(p2p_stream *s, void *user)
{
	((fixture *)user)->pending_in = NULL;
}

static const p2p_stream_callbacks waiting_cbs = {.on_close = waiting_close};

static void hop_handler(p2p_stream *s, const char *protocol, void *user)
{
	fixture *f = user;
	f->pending_in = s;
	p2p_stream_pause(s, true); /* its bytes wait for the splice */
	p2p_stream_set_callbacks(s, &waiting_cbs, f);
	const char *protos[] = {ECHO_PROTO};
	assert_int_equal(p2p_host_new_stream(f->r, p2p_host_peer_id(f->b), protos, 1,
	                                     on_out_stream, f),
	                 0);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	p2p_host **hosts[3] = {&f->a, &f->r, &f->b};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p2p_privkey_generate(&f->key[i]), 0);
		assert_int_equal(p2p_host_new(hosts[i], &f->loop, f->key[i], &cfg), 0);
		assert_int_equal(p2p_host_listen(*hosts[i], "/ip4/127.0.0.1/tcp/0"), 0);
	}
	assert_int_equal(p2p_host_set_handler(f->r, HOP_PROTO, hop_handler, f), 0);
	assert_int_equal(p2p_host_set_handler(f->b, ECHO_PROTO, echo_handler, f), 0);
	const p2p_buf *addrs[1];
	p2p_host_addrs(f->r, addrs, 1);
	p2p_peerstore_add_addr(p2p_host_peerstore(f->a), p2p_host_peer_id(f->r),
	                       addrs[0]->data, addrs[0]->len, P2P_ADDR_MANUAL);
	p2p_host_addrs(f->b, addrs, 1);
	p2p_peerstore_add_addr(p2p_host_peerstore(f->r), p2p_host_peer_id(f->b),
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
	p2p_host *hosts[3] = {f->a, f->r, f->b};
	for (int i = 0; i < 3; i++)
		p2p_host_close(hosts[i], set_flag, &f->closed[i]);
	for (int i = 0; i < 3; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < 3; i++)
		p2p_privkey_free(f->key[i]);
	free(f);
	return 0;
}

static void run_echo(fixture *f, client *c)
{
	const char *protos[] = {HOP_PROTO};
	assert_int_equal(
	    p2p_host_new_stream(f->a, p2p_host_peer_id(f->r), protos, 1, cli_opened, c),
	    0);
	assert_true(uvt_run(&f->loop, &c->closed, 30000));
	assert_true(uvt_run(&f->loop, &f->done, 5000));
}

static void test_splice_echo(void **state)
{
	fixture *f = *state;
	size_t len = 4 * 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 4242);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	run_echo(f, &c);
	assert_int_equal(c.err, 0);
	assert_true(c.fin);
	assert_false(c.reset);
	assert_int_equal(c.got.len, len);
	assert_memory_equal(c.got.data, payload, len);
	assert_int_equal(f->why, P2P_SPLICE_CLOSED);
	assert_int_equal(f->ab, len);
	assert_int_equal(f->ba, len);
	p2p_buf_free(&c.got);
	free(payload);
}

static void test_splice_limit(void **state)
{
	fixture *f = *state;
	f->max_bytes = 64 * 1024;
	size_t len = 1024 * 1024;
	uint8_t *payload = echo_pattern(len, 4242);
	client c = {.payload = payload, .len = len};
	p2p_buf_init(&c.got);
	run_echo(f, &c);
	assert_true(c.reset);
	assert_int_equal(f->why, P2P_SPLICE_LIMIT);
	assert_true(c.got.len <= f->max_bytes);
	assert_true(f->ab <= len);
	p2p_buf_free(&c.got);
	free(payload);
}

static void on_hop_then_reset(p2p_stream *s, int err, void *user)
{
	client *c = user;
	assert_int_equal(err, 0);
	c->s = s;
	p2p_stream_set_callbacks(s, &cli_cbs, c);
	p2p_stream_write(s, (const uint8_t *)"hello", 5);
	p2p_stream_reset(s);
}

static void test_splice_reset(void **state)
{
	fixture *f = *state;
	client c = {0};
	p2p_buf_init(&c.got);
	const char *protos[] = {HOP_PROTO};
	assert_int_equal(p2p_host_new_stream(f->a, p2p_host_peer_id(f->r), protos, 1,
	                                     on_hop_then_reset, &c),
	                 0);
	assert_true(uvt_run(&f->loop, &f->done, 10000));
	assert_int_equal(f->why, P2P_SPLICE_RESET);
	assert_true(uvt_run(&f->loop, &c.closed, 5000));
	p2p_buf_free(&c.got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_splice_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_splice_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_splice_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
