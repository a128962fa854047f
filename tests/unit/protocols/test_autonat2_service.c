/* The AutoNAT v2 service on two hosts in one process over loopback TCP: s
 * serves (allow_private: everything here is 127.0.0.x), c asks about its
 * own addresses. c's listener on 127.0.0.1 is PUBLIC without dial data
 * (the IP s sees c at); c's listener on 127.0.0.2 costs dial data first,
 * then is PUBLIC, the nonce coming back on a connection to 127.0.0.2; a
 * closed port is PRIVATE; a client that will not pay gets no verdict; an
 * address s will not dial is refused (UNKNOWN); the per-peer rate limit
 * rejects the next request. Every test ends with the hosts closed and the
 * loop empty, so ASan sees any leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/autonat2_service.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"

#define DIAL_TIMEOUT_MS 600
#define WAIT_MS         10000

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *key[2];
	p2p_host *s, *c;
	p2p_autonat2_service *an_s, *an_c;
	bool closed[2];
	p2p_conn *conn; /* c's to s */
	bool connected;
	int connect_err;
	/* the last result */
	bool got;
	int err, status, dial_status, addr_idx;
	p2p_autonat2_reach reach;
	uint64_t data_paid;
	p2p_buf addr;
} fixture;

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
	p2p_buf_init(&f->addr);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	for (int i = 0; i < 2; i++)
		assert_int_equal(p2p_privkey_generate(&f->key[i]), 0);
	assert_int_equal(p2p_host_new(&f->s, &f->loop, f->key[0], &cfg), 0);
	assert_int_equal(p2p_host_new(&f->c, &f->loop, f->key[1], &cfg), 0);
	assert_int_equal(p2p_host_listen(f->s, "/ip4/127.0.0.1/tcp/0"), 0);
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	*state = f;
	return 0;
}

static void on_s_closed(void *user)
{
	fixture *f = user;
	p2p_autonat2_service_free(f->an_s);
	f->an_s = NULL;
	f->closed[0] = true;
}

static void on_c_closed(void *user)
{
	fixture *f = user;
	p2p_autonat2_service_free(f->an_c);
	f->an_c = NULL;
	f->closed[1] = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	p2p_host_close(f->s, on_s_closed, f);
	p2p_host_close(f->c, on_c_closed, f);
	for (int i = 0; i < 2; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < 2; i++)
		p2p_privkey_free(f->key[i]);
	p2p_buf_free(&f->addr);
	free(f);
	return 0;
}

/* --- helpers --- */

static void start(fixture *f, uint32_t per_peer_rpm, bool no_dial_data)
{
	p2p_autonat2_service_config sc = {
	    .disable_client = true,
	    .allow_private = true,
	    .dial_timeout_ms = DIAL_TIMEOUT_MS,
	    .per_peer_rpm = per_peer_rpm,
	};
	assert_int_equal(p2p_autonat2_service_new(&f->an_s, f->s, &sc), 0);
	p2p_autonat2_service_config cc = {.disable_server = true,
	                                  .no_dial_data = no_dial_data};
	assert_int_equal(p2p_autonat2_service_new(&f->an_c, f->c, &cc), 0);
}

static void on_connect(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->connected = true;
	f->connect_err = err;
	f->conn = c;
}

static void connect_c_to_s(fixture *f)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->s, addrs, 1), 1);
	assert_int_equal(
	    p2p_host_connect(f->c, p2p_host_peer_id(f->s), addrs[0], 1, on_connect, f),
	    0);
	assert_true(uvt_run(&f->loop, &f->connected, WAIT_MS));
	assert_int_equal(f->connect_err, 0);
}

static void on_result(const p2p_autonat2_result *r, void *user)
{
	fixture *f = user;
	assert_false(f->got); /* exactly once */
	f->got = true;
	f->err = r->err;
	f->status = r->status;
	f->dial_status = r->dial_status;
	f->addr_idx = r->addr_idx;
	f->reach = r->reach;
	f->data_paid = r->data_paid;
	p2p_buf_reset(&f->addr);
	if (r->addr)
		p2p_buf_append(&f->addr, r->addr->data, r->addr->len);
}

/* Asks s about the addresses (text); waits for the result. */
static void check(fixture *f, const char *const *text, size_t n)
{
	p2p_buf addrs[P2P_AUTONAT2_PROBE_MAX_ADDRS];
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&addrs[i]);
		assert_int_equal(p2p_multiaddr_parse(text[i], &addrs[i]), 0);
	}
	f->got = false;
	assert_int_equal(
	    p2p_autonat2_service_check(f->an_c, f->conn, addrs, n, on_result, f), 0);
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
	assert_true(uvt_run(&f->loop, &f->got, WAIT_MS));
}

/* c's listen address as text, with ip in place of 127.0.0.1. */
static void c_addr(fixture *f, char *out, size_t size)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->c, addrs, 1), 1);
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(addrs[0]->data, addrs[0]->len, &t), 0);
	snprintf(out, size, "%s", (const char *)t.data);
	p2p_buf_free(&t);
}

static void assert_addr(fixture *f, const char *text)
{
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(f->addr.data, f->addr.len, &t), 0);
	assert_string_equal((const char *)t.data, text);
	p2p_buf_free(&t);
}

/* --- tests --- */

static void test_public(void **state)
{
	fixture *f = *state;
	start(f, 0, false);
	connect_c_to_s(f);
	char a[128];
	c_addr(f, a, sizeof(a));
	const char *addrs[] = {a};
	check(f, addrs, 1);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->status, P2P_AUTONAT2_OK);
	assert_int_equal(f->dial_status, P2P_AUTONAT2_DIAL_OK);
	assert_int_equal(f->addr_idx, 0);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_PUBLIC);
	assert_int_equal(f->data_paid, 0);
	assert_addr(f, a);
	const p2p_autonat2_service_stats *ss = p2p_autonat2_service_stats_get(f->an_s);
	const p2p_autonat2_service_stats *cs = p2p_autonat2_service_stats_get(f->an_c);
	assert_int_equal(ss->served, 1);
	assert_int_equal(ss->dialbacks_ok, 1);
	assert_int_equal(ss->data_requests, 0);
	assert_int_equal(cs->probes_sent, 1);
	assert_int_equal(cs->probes_answered, 1);
	assert_int_equal(cs->dial_backs, 1);
}

/* An address at another IP than the one s sees c at: dial data first. */
static void test_other_ip_pays(void **state)
{
	fixture *f = *state;
	if (p2p_host_listen(f->c, "/ip4/127.0.0.2/tcp/0") != 0)
		skip(); /* no 127.0.0.2 here */
	start(f, 0, false);
	connect_c_to_s(f);
	const p2p_buf *la[2];
	assert_int_equal(p2p_host_addrs(f->c, la, 2), 2);
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(la[1]->data, la[1]->len, &t), 0);
	const char *closed = "/ip4/127.0.0.2/udp/1/quic-v1"; /* not dialable: skipped */
	const char *addrs[] = {closed, (const char *)t.data};
	check(f, addrs, 2);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->status, P2P_AUTONAT2_OK);
	assert_int_equal(f->dial_status, P2P_AUTONAT2_DIAL_OK);
	assert_int_equal(f->addr_idx, 1);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_PUBLIC);
	assert_true(f->data_paid >= P2P_AUTONAT2_MIN_DIAL_DATA);
	assert_true(f->data_paid < P2P_AUTONAT2_MAX_DIAL_DATA);
	assert_addr(f, (const char *)t.data);
	p2p_buf_free(&t);
	assert_int_equal(p2p_autonat2_service_stats_get(f->an_s)->data_requests, 1);
}

static void test_no_pay(void **state)
{
	fixture *f = *state;
	start(f, 0, true);
	connect_c_to_s(f);
	const char *addrs[] = {"/ip4/127.0.0.2/tcp/4001"};
	check(f, addrs, 1);
	assert_true(f->err < 0);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_UNKNOWN);
	const p2p_autonat2_service_stats *ss = p2p_autonat2_service_stats_get(f->an_s);
	assert_int_equal(ss->data_requests, 1);
	assert_int_equal(ss->dialbacks_ok + ss->dialbacks_failed, 0);
}

static void test_private(void **state)
{
	fixture *f = *state;
	start(f, 0, false);
	connect_c_to_s(f);
	/* A port nobody listens on (port 1 on loopback: refused at once). */
	const char *addrs[] = {"/ip4/127.0.0.1/tcp/1"};
	check(f, addrs, 1);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->status, P2P_AUTONAT2_OK);
	assert_int_equal(f->dial_status, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_PRIVATE);
	assert_int_equal(p2p_autonat2_service_stats_get(f->an_c)->dial_backs, 0);
}

static void test_refused(void **state)
{
	fixture *f = *state;
	start(f, 0, false);
	connect_c_to_s(f);
	const char *addrs[] = {"/ip4/127.0.0.1/udp/4001/quic-v1", "/ip4/127.0.0.1/tcp/0"};
	check(f, addrs, 2);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->status, P2P_AUTONAT2_E_DIAL_REFUSED);
	assert_int_equal(f->addr_idx, -1);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_UNKNOWN);
}

static void test_rate_limit(void **state)
{
	fixture *f = *state;
	start(f, 1, false);
	connect_c_to_s(f);
	const char *addrs[] = {"/ip4/127.0.0.1/tcp/1"};
	check(f, addrs, 1);
	assert_int_equal(f->status, P2P_AUTONAT2_OK);
	check(f, addrs, 1);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->status, P2P_AUTONAT2_E_REQUEST_REJECTED);
	assert_int_equal(f->reach, P2P_AUTONAT2_REACH_UNKNOWN);
	assert_int_equal(p2p_autonat2_service_stats_get(f->an_s)->refused, 1);
}

/* The hosts close while a check is in flight: the callback still runs
 * once, and nothing leaks. */
static void test_close_in_flight(void **state)
{
	fixture *f = *state;
	start(f, 0, false);
	connect_c_to_s(f);
	p2p_buf a;
	p2p_buf_init(&a);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/1", &a), 0);
	f->got = false;
	assert_int_equal(
	    p2p_autonat2_service_check(f->an_c, f->conn, &a, 1, on_result, f), 0);
	p2p_buf_free(&a);
	/* teardown closes both hosts now; on_result must have run by then. */
	p2p_host_close(f->s, on_s_closed, f);
	p2p_host_close(f->c, on_c_closed, f);
	for (int i = 0; i < 2; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	assert_true(f->got);
	assert_true(f->err < 0);
	/* Fresh hosts for teardown to close. */
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	f->closed[0] = f->closed[1] = false;
	assert_int_equal(p2p_host_new(&f->s, &f->loop, f->key[0], &cfg), 0);
	assert_int_equal(p2p_host_new(&f->c, &f->loop, f->key[1], &cfg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_public, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_ip_pays, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_pay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
