/* Two hosts in one process, on loopback: B dials A and runs identify,
 * ping, echo, perf and an identify push against it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/echo.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/peer_record.h"
#include "p2p/perf.h"
#include "p2p/ping.h"

#define ANNOUNCE_0 "/ip4/198.18.0.7/tcp/4001"
#define ANNOUNCE_1                                                                       \
	"/ip4/198.18.0.10/tcp/4001/p2p/"                                                 \
	"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit"

#define ECHO_BYTES  (3 * 1024 * 1024 + 17)
#define PERF_UP     (1024 * 1024)
#define PERF_DOWN   (2 * 1024 * 1024 + 5)
#define WATCHDOG_MS 20000

typedef struct world {
	uv_loop_t loop;
	uv_timer_t watchdog;
	p2p_privkey *key_a, *key_b;
	p2p_host *a, *b;
	p2p_identify_service *id_a, *id_b;
	p2p_ping_service *ping_a;
	int identified; /* B's identify of A arrived */
	int pushed;     /* B got A's push */
	int rtts;
	bool ping_done, echo_done, perf_done;
	int hosts_closed;
	uint8_t *echo_data;
} world;

static void on_closed(void *user)
{
	world *w = user;
	w->hosts_closed++;
}

static void shut_down(world *w)
{
	uv_timer_stop(&w->watchdog);
	uv_close((uv_handle_t *)&w->watchdog, NULL);
	p2p_host_close(w->a, on_closed, w);
	p2p_host_close(w->b, on_closed, w);
}

static void on_watchdog(uv_timer_t *t)
{
	fail_msg("the exchange did not finish in time");
}

static void refuse(p2p_stream *s, const char *protocol, void *user)
{
	p2p_stream_reset(s);
}

static void on_push_ready(world *w)
{
	/* A serves a new protocol and tells B. */
	assert_int_equal(p2p_host_set_handler(w->a, "/test/new/1.0.0", refuse, NULL), 0);
	/* Announced addresses replace the listen addresses in identify. */
	p2p_buf ann[2];
	p2p_buf_init(&ann[0]);
	p2p_buf_init(&ann[1]);
	assert_int_equal(p2p_multiaddr_parse(ANNOUNCE_0, &ann[0]), 0);
	assert_int_equal(p2p_multiaddr_parse(ANNOUNCE_1, &ann[1]), 0);
	p2p_buf bad = {.data = (uint8_t *)"\xff\xff", .len = 2};
	assert_int_equal(p2p_host_set_announce_addrs(w->a, &bad, 1), P2P_EINVAL);
	assert_int_equal(p2p_host_set_announce_addrs(w->a, ann, 2), 0);
	const p2p_buf *got[2];
	assert_int_equal(p2p_host_announce_addrs(w->a, got, 2), 2);
	assert_memory_equal(got[1]->data, ann[1].data, ann[1].len);
	p2p_buf_free(&ann[0]);
	p2p_buf_free(&ann[1]);
	assert_int_equal(p2p_identify_service_push(w->id_a), 0);
}

static void on_perf(int err, const p2p_perf_result *r, void *user)
{
	world *w = user;
	assert_int_equal(err, 0);
	assert_true(r->upload_bytes == PERF_UP);
	assert_true(r->download_bytes == PERF_DOWN);
	w->perf_done = true;
	on_push_ready(w);
}

static void on_echo(int err, uint64_t elapsed_ns, void *user)
{
	world *w = user;
	assert_int_equal(err, 0);
	w->echo_done = true;
	assert_int_equal(
	    p2p_perf_run(w->b, p2p_host_peer_id(w->a), PERF_UP, PERF_DOWN, on_perf, w),
	    0);
}

static void on_rtt(uint64_t rtt_ns, void *user)
{
	world *w = user;
	w->rtts++;
	assert_true(rtt_ns > 0);
}

static void on_ping(int err, void *user)
{
	world *w = user;
	assert_int_equal(err, 0);
	assert_int_equal(w->rtts, 3);
	w->ping_done = true;
	w->echo_data = malloc(ECHO_BYTES);
	for (size_t i = 0; i < ECHO_BYTES; i++)
		w->echo_data[i] = (uint8_t)(i * 7 + (i >> 11));
	assert_int_equal(p2p_echo_run(w->b, p2p_host_peer_id(w->a), w->echo_data,
	                              ECHO_BYTES, on_echo, w),
	                 0);
}

static bool has(const p2p_identify *info, const char *proto)
{
	for (size_t i = 0; i < info->n_protocols; i++)
		if (strcmp(info->protocols[i], proto) == 0)
			return true;
	return false;
}

static void on_identified_by_b(p2p_conn *c, const p2p_identify *info, bool push, int err,
                               void *user)
{
	world *w = user;
	assert_int_equal(err, 0);
	assert_true(p2p_peerid_equal(p2p_conn_remote_peer(c), p2p_host_peer_id(w->a)));
	p2p_peerstore *ps = p2p_host_peerstore(w->b);
	const p2p_peerid *a = p2p_host_peer_id(w->a);
	if (push) {
		assert_true(w->perf_done);
		assert_true(has(info, "/test/new/1.0.0"));
		assert_true(p2p_peerstore_supports(ps, a, "/test/new/1.0.0"));
		assert_int_equal(info->n_listen_addrs, 2);
		p2p_buf text;
		p2p_buf_init(&text);
		assert_int_equal(p2p_multiaddr_to_string(info->listen_addrs[1].data,
		                                         info->listen_addrs[1].len,
		                                         &text),
		                 0);
		assert_string_equal((const char *)text.data, ANNOUNCE_1);
		p2p_buf_free(&text);
		w->pushed++;
		shut_down(w);
		return;
	}
	w->identified++;
	assert_string_equal(info->protocol_version, P2P_IDENTIFY_PROTOCOL_VERSION);
	assert_string_equal(info->agent_version, p2p_host_agent_version(w->a));
	assert_true(has(info, P2P_IDENTIFY_PROTOCOL));
	assert_true(has(info, P2P_IDENTIFY_PUSH_PROTOCOL));
	assert_true(has(info, P2P_PING_PROTOCOL));
	assert_true(has(info, P2P_PERF_PROTOCOL));
	assert_true(has(info, P2P_ECHO_PROTOCOL));

	/* A's listen address, in the plain list and in a valid signed record. */
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(w->a, addrs, 1), 1);
	assert_int_equal(info->n_listen_addrs, 1);
	assert_int_equal(info->listen_addrs[0].len, addrs[0]->len);
	assert_memory_equal(info->listen_addrs[0].data, addrs[0]->data, addrs[0]->len);
	p2p_peer_record *rec = NULL;
	assert_int_equal(p2p_peer_record_open(&rec, info->signed_peer_record.data,
	                                      info->signed_peer_record.len, a),
	                 0);
	assert_int_equal(rec->n_addrs, 1);
	p2p_peer_record_free(rec);
	/* B's side of the connection, as A saw it. */
	assert_true(info->observed_addr.len > 0);

	/* The peerstore has it all. */
	assert_true(p2p_peerstore_supports(ps, a, P2P_PING_PROTOCOL));
	assert_string_equal(p2p_peerstore_agent(ps, a), p2p_host_agent_version(w->a));
	assert_non_null(p2p_peerstore_pubkey(ps, a));
	assert_true(
	    p2p_pubkey_equal(p2p_peerstore_pubkey(ps, a), p2p_privkey_public(w->key_a)));

	assert_int_equal(p2p_ping_run(w->b, a, 3, on_rtt, on_ping, w), 0);
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	assert_int_equal(err, 0);
}

static void test_two_hosts(void **state)
{
	world w;
	memset(&w, 0, sizeof(w));
	assert_int_equal(uv_loop_init(&w.loop), 0);
	assert_int_equal(p2p_privkey_generate(&w.key_a), 0);
	assert_int_equal(p2p_privkey_generate(&w.key_b), 0);
	assert_int_equal(p2p_host_new(&w.a, &w.loop, w.key_a, NULL), 0);
	assert_int_equal(p2p_host_new(&w.b, &w.loop, w.key_b, NULL), 0);

	assert_int_equal(p2p_identify_service_new(&w.id_a, w.a, NULL, NULL), 0);
	assert_int_equal(p2p_identify_service_new(&w.id_b, w.b, on_identified_by_b, &w),
	                 0);
	assert_int_equal(p2p_ping_service_new(&w.ping_a, w.a), 0);
	assert_int_equal(p2p_perf_serve(w.a), 0);
	assert_int_equal(p2p_echo_serve(w.a), 0);
	assert_int_equal(p2p_host_listen(w.a, "/ip4/127.0.0.1/tcp/0"), 0);

	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(w.a, addrs, 1), 1);
	assert_int_equal(
	    p2p_host_connect(w.b, p2p_host_peer_id(w.a), addrs[0], 1, on_connected, &w),
	    0);
	uv_timer_init(&w.loop, &w.watchdog);
	uv_timer_start(&w.watchdog, on_watchdog, WATCHDOG_MS, 0);

	assert_int_equal(uv_run(&w.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(w.identified, 1);
	assert_true(w.ping_done && w.echo_done && w.perf_done);
	assert_int_equal(w.pushed, 1);
	assert_int_equal(w.hosts_closed, 2);

	p2p_identify_service_free(w.id_a);
	p2p_identify_service_free(w.id_b);
	p2p_ping_service_free(w.ping_a);
	assert_int_equal(uv_loop_close(&w.loop), 0);
	free(w.echo_data);
	p2p_privkey_free(w.key_a);
	p2p_privkey_free(w.key_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_hosts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
