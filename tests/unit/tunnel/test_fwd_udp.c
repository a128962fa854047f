/* The host's UDP flow before and after forwarding, over two real hosts on
 * loopback: a flow holds no socket until tunnel_udp_flow_connect (so a
 * stream without the secret costs no file descriptor), one whose header
 * never comes is swept after TUNNEL_HEADER_TIMEOUT_MS (and not before),
 * one closed whose peer never closes back is swept as long after, and a
 * connected flow carries a datagram to its service. Either way the peer
 * sees a reset and the flow is freed (ASan checks the loop ends empty). */
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
#include "tunnel/fwd_udp.h"

#define PROTO "/test/fwd-udp/1.0.0"

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	bool a_closed, b_closed;
	/* a's side: the flow made for the inbound stream */
	tunnel_udp_flow *flow;
	bool flow_made, flow_done;
	size_t header_bytes;
	/* b's side: the stream it opened */
	p2p_stream *bs;
	bool b_ready, b_reset, b_fin, b_closed_stream;
	int b_err;
	/* the service: a UDP socket the flow may connect to */
	uv_udp_t svc;
	struct sockaddr_storage svc_addr;
	char got[64];
	size_t got_len;
	bool got_dgram;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
}

/* The header hook takes nothing and never starts the flow. */
static void hold_header(tunnel_udp_flow *f, const uint8_t *data, size_t len, size_t *used)
{
	fixture *fx = f->owner;
	fx->header_bytes += len;
	*used = 0;
}

static void flow_done(tunnel_udp_flow *f)
{
	fixture *fx = f->owner;
	fx->flow_done = true;
	fx->flow = NULL;
}

static const tunnel_udp_flow_hooks hooks = {.on_header = hold_header,
                                            .on_done = flow_done};

static void on_inbound(p2p_stream *s, const char *protocol, void *user)
{
	fixture *fx = user;
	assert_int_equal(tunnel_udp_flow_new_host(&fx->flow, &fx->loop, &hooks, fx),
	                 P2P_OK);
	tunnel_udp_flow_set_stream(fx->flow, s);
	fx->flow_made = true;
}

static void b_on_fin(p2p_stream *s, void *user)
{
	((fixture *)user)->b_fin = true; /* and b never closes back */
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

static const p2p_stream_callbacks b_cb = {
    .on_fin = b_on_fin, .on_reset = b_on_reset, .on_close = b_on_close};

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

static void svc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[65536];
	*buf = uv_buf_init(space, sizeof space);
}

static void svc_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags)
{
	fixture *fx = h->data;
	if (n <= 0 || !addr)
		return;
	fx->got_len = (size_t)n < sizeof fx->got ? (size_t)n : sizeof fx->got;
	memcpy(fx->got, buf->base, fx->got_len);
	fx->got_dgram = true;
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
	/* The service, on a port of its own. */
	struct sockaddr_in any;
	uv_ip4_addr("127.0.0.1", 0, &any);
	assert_int_equal(uv_udp_init(&fx->loop, &fx->svc), 0);
	fx->svc.data = fx;
	assert_int_equal(uv_udp_bind(&fx->svc, (const struct sockaddr *)&any, 0), 0);
	int len = sizeof fx->svc_addr;
	assert_int_equal(
	    uv_udp_getsockname(&fx->svc, (struct sockaddr *)&fx->svc_addr, &len), 0);
	assert_int_equal(uv_udp_recv_start(&fx->svc, svc_alloc, svc_recv), 0);
	/* b opens a stream; a makes a flow for it. */
	static const char *const protos[] = {PROTO};
	assert_int_equal(p2p_host_new_stream(fx->b, p2p_host_peer_id(fx->a), protos, 1,
	                                     on_b_stream, fx),
	                 0);
	assert_true(uvt_run(&fx->loop, &fx->b_ready, 5000));
	assert_int_equal(fx->b_err, 0);
	assert_true(uvt_run(&fx->loop, &fx->flow_made, 5000));
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
	uv_close((uv_handle_t *)&fx->svc, NULL);
	p2p_host_close(fx->a, on_a_closed, fx);
	p2p_host_close(fx->b, on_b_closed, fx);
	assert_true(uvt_run(&fx->loop, &fx->a_closed, 5000));
	assert_true(uvt_run(&fx->loop, &fx->b_closed, 5000));
	assert_true(uvt_drain(&fx->loop));
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	assert_true(fx->flow_done); /* closing the hosts frees a live flow too */
	p2p_privkey_free(fx->ka);
	p2p_privkey_free(fx->kb);
	free(fx);
	return 0;
}

/* Before the header is accepted the flow has no socket, and cannot start
 * without one. */
static void test_no_socket_before_connect(void **state)
{
	fixture *fx = *state;
	tunnel_udp_flow *f = fx->flow;
	assert_null(f->sock);
	assert_false(f->owns_sock);
	assert_int_equal(tunnel_udp_flow_start(f), P2P_ESTATE);
	assert_false(f->forwarding);
}

static void test_sweep_stuck_header(void **state)
{
	fixture *fx = *state;
	tunnel_udp_flow *f = fx->flow;
	/* Not yet stale: nothing happens. */
	assert_int_equal(
	    tunnel_udp_flow_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS - 1), 0);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_false(fx->flow_done);
	assert_false(fx->b_reset);
	/* Stale: aborted once, the peer sees a reset, the flow goes. */
	assert_int_equal(tunnel_udp_flow_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS),
	                 1);
	assert_int_equal(tunnel_udp_flow_sweep(f, f->started + TUNNEL_HEADER_TIMEOUT_MS),
	                 0);
	assert_true(uvt_run(&fx->loop, &fx->flow_done, 5000));
	assert_true(uvt_run(&fx->loop, &fx->b_closed_stream, 5000));
	assert_true(fx->b_reset);
}

/* Connected and started, the flow carries a datagram from the stream to
 * the service; closed, it half-closes the stream, and a peer that never
 * closes back is reset once the header timeout has passed since. */
static void test_connect_forward_then_close_unanswered(void **state)
{
	fixture *fx = *state;
	tunnel_udp_flow *f = fx->flow;
	assert_int_equal(tunnel_udp_flow_connect(f, (struct sockaddr *)&fx->svc_addr),
	                 P2P_OK);
	assert_int_equal(tunnel_udp_flow_connect(f, (struct sockaddr *)&fx->svc_addr),
	                 P2P_ESTATE);
	assert_int_equal(tunnel_udp_flow_start(f), P2P_OK);
	p2p_buf frame;
	p2p_buf_init(&frame);
	assert_int_equal(tunnel_udp_encode((const uint8_t *)"ping", 4, &frame), 0);
	assert_true(p2p_stream_write(fx->bs, frame.data, frame.len) >= 0);
	p2p_buf_free(&frame);
	assert_true(uvt_run(&fx->loop, &fx->got_dgram, 5000));
	assert_int_equal(fx->got_len, 4);
	assert_memory_equal(fx->got, "ping", 4);

	tunnel_udp_flow_close(f);
	assert_true(f->fin_sent);
	assert_true(uvt_run(&fx->loop, &fx->b_fin, 5000));
	assert_int_equal(
	    tunnel_udp_flow_sweep(f, f->fin_at + TUNNEL_HEADER_TIMEOUT_MS - 1), 0);
	assert_int_equal(tunnel_udp_flow_sweep(f, f->fin_at + TUNNEL_HEADER_TIMEOUT_MS),
	                 1);
	assert_true(uvt_run(&fx->loop, &fx->flow_done, 5000));
	assert_true(uvt_run(&fx->loop, &fx->b_closed_stream, 5000));
	assert_true(fx->b_reset);
}

static void test_peer_reset_frees(void **state)
{
	fixture *fx = *state;
	p2p_stream_reset(fx->bs);
	assert_true(uvt_run(&fx->loop, &fx->flow_done, 5000));
}

/* Nothing here: teardown closes the hosts with the flow still waiting
 * for its header, and it must be freed all the same. */
static void test_host_close_frees(void **state)
{
	fixture *fx = *state;
	assert_false(fx->flow_done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_socket_before_connect, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_stuck_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_forward_then_close_unanswered,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_reset_frees, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_close_frees, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
