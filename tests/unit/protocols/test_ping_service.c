/* The ping listener's per-peer stream limit (ping/ping.md: "the listening
 * peer SHOULD accept at most two streams per peer"): B opens one ping
 * stream more than P2P_PING_MAX_INBOUND_PER_PEER to A; the extra one is
 * reset, the others go on echoing, and once one of them closes a new
 * stream is accepted again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/ping.h"

#define WATCHDOG_MS 20000
#define N_STREAMS   (P2P_PING_MAX_INBOUND_PER_PEER + 2)
#define EXTRA       P2P_PING_MAX_INBOUND_PER_PEER /* the one over the limit */
#define LATE        (EXTRA + 1) /* opened after one of the first closed */

struct world;

typedef struct cstream {
	struct world *w;
	int idx;
	p2p_stream *s;
	p2p_ping_client core;
	int echoes;
	bool reset, closed;
} cstream;

typedef struct world {
	uv_loop_t loop;
	uv_timer_t watchdog;
	p2p_privkey *key_a, *key_b;
	p2p_host *a, *b;
	p2p_ping_service *ping;
	cstream cs[N_STREAMS];
	bool shutting;
	int hosts_closed;
} world;

static void on_closed(void *user)
{
	world *w = user;
	w->hosts_closed++;
}

static void shut_down(world *w)
{
	w->shutting = true;
	uv_timer_stop(&w->watchdog);
	uv_close((uv_handle_t *)&w->watchdog, NULL);
	p2p_host_close(w->a, on_closed, w);
	p2p_host_close(w->b, on_closed, w);
}

static void on_watchdog(uv_timer_t *t)
{
	fail_msg("the exchange did not finish in time");
}

static int send_ping(cstream *c)
{
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_ping_client_send(&c->core, &out);
	if (rc == P2P_OK)
		rc = p2p_stream_write(c->s, out.data, out.len);
	p2p_buf_free(&out);
	return rc;
}

static void open_stream(world *w, int idx);

/* The test's steps, driven by echoes, resets and closes. */
static void on_echo(cstream *c)
{
	world *w = c->w;
	if (c->idx < EXTRA && c->echoes == 1) {
		/* The first streams, one after the other; each is accepted
		 * (the echo proves it) before the next is opened. */
		open_stream(w, c->idx + 1);
		return;
	}
	if (c->idx < EXTRA) {
		/* Second round on the accepted streams, after the reset. */
		for (int i = 0; i < EXTRA; i++)
			if (w->cs[i].echoes < 2)
				return;
		p2p_stream_close(w->cs[0].s); /* frees a slot */
		return;
	}
	assert_int_equal(c->idx, LATE);
	shut_down(w);
}

static void on_extra_reset(world *w)
{
	cstream *x = &w->cs[EXTRA];
	if (x->reset)
		return;
	x->reset = true;
	assert_int_equal(x->echoes, 0);
	/* The accepted streams still work. */
	for (int i = 0; i < EXTRA; i++) {
		assert_false(w->cs[i].reset);
		assert_true(send_ping(&w->cs[i]) >= 0);
	}
}

static void on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	cstream *c = user;
	size_t used;
	int rc = p2p_ping_client_recv(&c->core, data, len, &used);
	assert_true(rc >= 0);
	p2p_stream_consume(s, len);
	if (rc == 1) {
		assert_int_equal(used, len);
		c->echoes++;
		on_echo(c);
	}
}

static void on_reset(p2p_stream *s, int err, void *user)
{
	cstream *c = user;
	if (c->w->shutting)
		return;
	assert_int_equal(c->idx, EXTRA);
	on_extra_reset(c->w);
}

static void on_fin(p2p_stream *s, void *user)
{
	cstream *c = user;
	assert_int_equal(c->idx, 0); /* the one we closed */
}

static void on_close(p2p_stream *s, void *user)
{
	cstream *c = user;
	c->closed = true;
	c->s = NULL;
	if (c->idx == 0 && !c->w->shutting) {
		assert_int_equal(c->echoes, 2);
		open_stream(c->w, LATE);
	}
}

static const p2p_stream_callbacks client_callbacks = {
    .on_data = on_data,
    .on_fin = on_fin,
    .on_reset = on_reset,
    .on_close = on_close,
};

static void on_ready(p2p_stream *s, int err, void *user)
{
	cstream *c = user;
	if (err < 0) {
		/* The reset may come before the negotiation is over for us. */
		assert_int_equal(c->idx, EXTRA);
		on_extra_reset(c->w);
		return;
	}
	c->s = s;
	p2p_stream_set_callbacks(s, &client_callbacks, c);
	int rc = send_ping(c);
	if (c->idx != EXTRA) /* the extra one may be reset already */
		assert_true(rc >= 0);
}

static void open_stream(world *w, int idx)
{
	cstream *c = &w->cs[idx];
	c->w = w;
	c->idx = idx;
	p2p_ping_client_init(&c->core);
	static const char *const protos[] = {P2P_PING_PROTOCOL};
	assert_int_equal(
	    p2p_host_new_stream(w->b, p2p_host_peer_id(w->a), protos, 1, on_ready, c), 0);
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	assert_int_equal(err, 0);
	open_stream(user, 0);
}

static void test_per_peer_limit(void **state)
{
	world w;
	memset(&w, 0, sizeof(w));
	assert_int_equal(uv_loop_init(&w.loop), 0);
	assert_int_equal(p2p_privkey_generate(&w.key_a), 0);
	assert_int_equal(p2p_privkey_generate(&w.key_b), 0);
	assert_int_equal(p2p_host_new(&w.a, &w.loop, w.key_a, NULL), 0);
	assert_int_equal(p2p_host_new(&w.b, &w.loop, w.key_b, NULL), 0);
	assert_int_equal(p2p_ping_service_new(&w.ping, w.a), 0);
	assert_int_equal(p2p_host_listen(w.a, "/ip4/127.0.0.1/tcp/0"), 0);

	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(w.a, addrs, 1), 1);
	assert_int_equal(
	    p2p_host_connect(w.b, p2p_host_peer_id(w.a), addrs[0], 1, on_connected, &w),
	    0);
	uv_timer_init(&w.loop, &w.watchdog);
	uv_timer_start(&w.watchdog, on_watchdog, WATCHDOG_MS, 0);

	assert_int_equal(uv_run(&w.loop, UV_RUN_DEFAULT), 0);
	for (int i = 0; i < EXTRA; i++)
		assert_int_equal(w.cs[i].echoes, 2);
	assert_true(w.cs[EXTRA].reset);
	assert_int_equal(w.cs[EXTRA].echoes, 0);
	assert_int_equal(w.cs[LATE].echoes, 1);
	assert_int_equal(w.hosts_closed, 2);

	p2p_ping_service_free(w.ping);
	assert_int_equal(uv_loop_close(&w.loop), 0);
	p2p_privkey_free(w.key_a);
	p2p_privkey_free(w.key_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_peer_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
