/* The TCP forwarder's life before forwarding, over two real hosts on
 * loopback: a stream that never completes its header is swept after
 * TUNNEL_HEADER_TIMEOUT_MS (and not before), bytes that come before the
 * tunnel starts abort it, and either way the peer sees a reset and the
 * forwarder is freed (ASan checks the loop ends empty). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "tunnel/fwd_tcp.h"

#define PROTO "/test/fwd/1.0.0"

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	bool a_closed, b_closed;
	/* a's side: the forwarder made for the inbound stream */
	tunnel_tcp_fwd *fwd;
	bool fwd_made, fwd_done;
	size_t header_bytes;
	/* b's side: the stream it opened */
	p2p_stream *bs;
	bool b_ready, b_reset, b_closed_stream;
	int b_err;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
}

/* The header hook takes nothing and never starts the tunnel. */
static void hold_header(tunnel_tcp_fwd *f, const uint8_t *data, size_t len, size_t *used)
{
	fixture *fx = f->owner;
	fx->header_bytes += len;
	*used = 0;
}

static void fwd_done(tunnel_tcp_fwd *f)
{
	fixture *fx = f->owner;
	fx->fwd_done = true;
	fx->fwd = NULL;
}

static const tunnel_tcp_fwd_hooks hooks = {.on_header = hold_header, .on_done = fwd_done};

static void on_inbound(p2p_stream *s, const char *protocol, void *user)
{
	fixture *fx = user;
	assert_int_equal(tunnel_tcp_fwd_new(&fx->fwd, &fx->loop, &hooks, fx), P2P_OK);
	tunnel_tcp_fwd_set_stream(fx->fwd, s);
	fx->fwd_made = true;
}

static void b_on_reset(p2p_stream *s, int err, void *user)
{
	((fixture *)user)->b_reset = true;
}

static void b_on_close(p2p_stream *s, void *user)
{
	fixture *fx = user;
	fx->b_closed_stream = true;
	fx->bs = NULL;
}

static const p2p_stream_callbacks b_cb = {.on_reset = b_on_reset, .on_close = b_on_close};

static void on_b_stream(p2p_stream *s, int err, void *user)
{
	fixture *fx = user;
	fx->b_err = err;
	fx->b_ready = true;
	if (s) {
		fx->bs = s;
		p2p_stream_set_callbacks(s, &b_cb, fx);
	}
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof *fx);
	uv_loop_init(&fx->loop);
	assert_int_equal(p2p_privkey_generate(&fx->ka), 0);
	assert_int_equal(p2p_privkey_generate(&fx->kb), 0);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	assert_int_equal(p2p_host_new(&fx->a, &fx->loop, fx->ka, &cfg), 0);
	assert_int_equal(p2p_host_new(&fx->b, &fx->loop, fx->kb, &cfg), 0);
	assert_int_equal(p2p_host_set_handler(fx->a, PROTO, on_inbound, fx), 0);
	assert_int_equal(p2p_host_listen(fx->a, "/ip4/127.0.0.1/tcp/0"), 0);
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(fx->a, addrs, 1), 1);
	assert_int_equal(p2p_peerstore_add_addr(p2p_host_peerstore(fx->b),
	                                        p2p_host_peer_id(fx->a), addrs[0]->data,
	                                        addrs[0]->len, P2P_ADDR_MANUAL),
	                 0);
	/* b opens a stream; a makes a forwarder for it. */
	static const char *const protos[] = {PROTO};
	assert_int_equal(p2p_host_new_stream(fx->b, p2p_host_peer_id(fx->a), protos, 1,
	                                     on_b_stream, fx),
	                 0);
	assert_true(uvt_run(&fx->loop, &fx->b_ready, 5000));
	assert_int_equal(fx->b_err, 0);
	assert_true(uvt_run(&fx->loop, &fx->fwd_made, 5000));
	*state = fx;
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
	fixture *fx = *state;
	p2p_host_close(fx->a, on_a_closed, fx);
	p2p_host_close(fx->b, on_b_closed, fx);
	assert_true(uvt_run(&fx->loop, &fx->a_closed, 5000));
	assert_true(uvt_run(&fx->loop, &fx->b_closed, 5000));
	assert_true(uvt_drain(&fx->loop));
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	assert_true(fx->fwd_done); /* closing the hosts frees a live forwarder too */
	p2p_privkey_free(fx->ka);
	p2p_privkey_free(fx->kb);
	free(fx);
	return 0;
}

static void test_sweep_stuck_header(void **state)
{
	fixture *fx = *state;
	tunnel_tcp_fwd *f = fx->fwd;
	/* Not yet stale: nothing happens. */
	assert_int_equal(
	    tunnel_tcp_fwd_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS - 1), 0);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_false(fx->fwd_done);
	assert_false(fx->b_reset);
	/* Stale: aborted once, the peer sees a reset, the forwarder goes. */
	assert_int_equal(tunnel_tcp_fwd_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS),
	                 1);
	assert_int_equal(tunnel_tcp_fwd_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS),
	                 0);
	assert_true(uvt_run(&fx->loop, &fx->fwd_done, 5000));
	assert_true(uvt_run(&fx->loop, &fx->b_closed_stream, 5000));
	assert_true(fx->b_reset);
}

static void test_data_before_start_aborts(void **state)
{
	fixture *fx = *state;
	static const uint8_t early[] = "bytes before the tunnel was accepted";
	assert_true(p2p_stream_write(fx->bs, early, sizeof early) >= 0);
	assert_true(uvt_run(&fx->loop, &fx->fwd_done, 5000));
	assert_int_equal(fx->header_bytes, sizeof early);
	assert_true(uvt_run(&fx->loop, &fx->b_closed_stream, 5000));
	assert_true(fx->b_reset);
}

static void test_peer_reset_frees(void **state)
{
	fixture *fx = *state;
	p2p_stream_reset(fx->bs);
	assert_true(uvt_run(&fx->loop, &fx->fwd_done, 5000));
}

/* Nothing here: teardown closes the hosts with the forwarder still
 * waiting for its header, and it must be freed all the same. */
static void test_host_close_frees(void **state)
{
	fixture *fx = *state;
	assert_false(fx->fwd_done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sweep_stuck_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_before_start_aborts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_peer_reset_frees, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_close_frees, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
