/* The relay keeper on three hosts in one process over loopback TCP: relay
 * r (a relay service), a (the keeper, through a relay client) and b (a
 * dialer through the circuit). A reservation made and dialed through, one
 * refreshed before it expires, one lost with its connection and made
 * again, one whose refresh gets no answer before it expires, a relay that
 * cannot be reached, a keeper freed with a reserve in
 * flight, and add's errors. Every test ends with the hosts closed and the
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
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/relay.h"

#define MAX_EVENTS 32

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *key[3];
	p2p_host *r, *a, *b;
	bool closed[3];
	p2p_relay_service *svc;
	p2p_relay_client *rc;
	p2p_relay_keeper *k;
	/* the keeper's events */
	size_t ups, downs, changes;
	p2p_relay_keeper_event last;
	bool last_changed;
	int errs[MAX_EVENTS];
	uint64_t retries[MAX_EVENTS];
	/* a dial from b */
	bool dialed;
	int dial_err;
	p2p_peerid dialed_peer;
	bool dialed_relayed;
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
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	p2p_host **hosts[3] = {&f->r, &f->a, &f->b};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p2p_privkey_generate(&f->key[i]), 0);
		assert_int_equal(p2p_host_new(hosts[i], &f->loop, f->key[i], &cfg), 0);
		assert_int_equal(p2p_host_listen(*hosts[i], "/ip4/127.0.0.1/tcp/0"), 0);
	}
	assert_int_equal(p2p_relay_client_new(&f->rc, f->a), 0);
	*state = f;
	return 0;
}

static void on_host_closed(void *user)
{
	*(bool *)user = true;
}

/* As the apps do: the keeper goes with its host (its timers reach it). */
static void on_a_closed(void *user)
{
	fixture *f = user;
	p2p_relay_keeper_free(f->k);
	f->k = NULL;
	f->closed[1] = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	p2p_host_close(f->r, on_host_closed, &f->closed[0]);
	p2p_host_close(f->a, on_a_closed, f);
	p2p_host_close(f->b, on_host_closed, &f->closed[2]);
	for (int i = 0; i < 3; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	p2p_relay_client_free(f->rc);
	p2p_relay_service_free(f->svc);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < 3; i++)
		p2p_privkey_free(f->key[i]);
	free(f);
	return 0;
}

/* --- helpers --- */

static void on_event(const p2p_relay_keeper_event *ev, bool changed, void *user)
{
	fixture *f = user;
	size_t i = f->ups + f->downs;
	if (i < MAX_EVENTS) {
		f->errs[i] = ev->err;
		f->retries[i] = ev->retry_ms;
	}
	if (ev->up)
		f->ups++;
	else
		f->downs++;
	f->changes += changed;
	f->last = *ev;
	f->last.relay = NULL; /* valid during the call only */
	f->last_changed = changed;
}

static void serve(fixture *f, uint64_t ttl)
{
	p2p_relay_service_config cfg;
	p2p_relay_service_config_init(&cfg);
	if (ttl)
		cfg.limits.reservation_ttl = ttl;
	assert_int_equal(p2p_relay_service_new(&f->svc, f->r, &cfg), 0);
}

static void keep_auto(fixture *f, uint64_t min_ms, uint64_t max_ms, unsigned auto_max)
{
	p2p_relay_keeper_config cfg = {
	    .on_event = on_event,
	    .user = f,
	    .backoff_min_ms = min_ms,
	    .backoff_max_ms = max_ms,
	    .auto_max = auto_max,
	};
	assert_int_equal(p2p_relay_keeper_new(&f->k, f->rc, &cfg), 0);
}

static void keep(fixture *f, uint64_t min_ms, uint64_t max_ms)
{
	keep_auto(f, min_ms, max_ms, 0);
}

/* h's listen address, with /p2p/<h> if with_id. */
static void host_addr(p2p_host *h, bool with_id, p2p_buf *out)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(h, addrs, 1), 1);
	assert_int_equal(p2p_buf_append(out, addrs[0]->data, addrs[0]->len), 0);
	if (with_id) {
		const p2p_peerid *id = p2p_host_peer_id(h);
		assert_int_equal(p2p_multiaddr_append_peer_id(out, id->bytes, id->len),
		                 0);
	}
}

static void add_relay(fixture *f)
{
	p2p_buf a;
	p2p_buf_init(&a);
	host_addr(f->r, true, &a);
	assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), 0);
	p2p_buf_free(&a);
}

/* Runs the loop until *count reaches n or ms pass. */
static bool wait_count(fixture *f, const size_t *count, size_t n, uint64_t ms)
{
	uint64_t end = uv_now(&f->loop) + ms;
	while (*count < n && uv_now(&f->loop) < end)
		uvt_run(&f->loop, &(bool){false}, 10);
	return *count >= n;
}

static void run_for(fixture *f, uint64_t ms)
{
	uvt_run(&f->loop, &(bool){false}, ms);
}

static void on_dialed(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->dialed = true;
	f->dial_err = err;
	if (c) {
		f->dialed_peer = *p2p_conn_remote_peer(c);
		const p2p_buf *ra = p2p_conn_remote_addr(c);
		p2p_buf t;
		p2p_buf_init(&t);
		f->dialed_relayed = p2p_multiaddr_to_string(ra->data, ra->len, &t) == 0 &&
		                    strstr((const char *)t.data, "/p2p-circuit") != NULL;
		p2p_buf_free(&t);
	}
}

/* --- tests --- */

/* a reserves on r; its circuit address is r's own with /p2p/R/p2p-circuit,
 * and b reaches a through it. Freed while the hosts are open, the keeper
 * then says nothing of a's connection to r closing. */
static void test_reserve_and_dial(void **state)
{
	fixture *f = *state;
	serve(f, 0);
	keep(f, 0, 0);
	add_relay(f);
	assert_true(wait_count(f, &f->ups, 1, 5000));
	assert_int_equal(f->downs, 0);
	assert_true(f->last.up);
	assert_true(f->last_changed);
	assert_false(f->last.limited);
	assert_int_equal(p2p_relay_keeper_held(f->k), 1);

	p2p_buf out[3];
	for (int i = 0; i < 3; i++)
		p2p_buf_init(&out[i]);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, out, 3), 1);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 1);
	p2p_buf want, text, got;
	p2p_buf_init(&want);
	p2p_buf_init(&text);
	p2p_buf_init(&got);
	host_addr(f->r, false, &want);
	assert_int_equal(p2p_multiaddr_to_string(want.data, want.len, &text), 0);
	char rid[P2P_PEERID_STR_MAX], expect[1024];
	assert_int_equal(p2p_peerid_to_string(p2p_host_peer_id(f->r), rid, sizeof rid),
	                 0);
	snprintf(expect, sizeof expect, "%s/p2p/%s/p2p-circuit", (const char *)text.data,
	         rid);
	assert_int_equal(p2p_multiaddr_to_string(out[0].data, out[0].len, &got), 0);
	assert_string_equal((const char *)got.data, expect);
	assert_non_null(strstr(expect, "/ip4/127.0.0.1/tcp/"));

	/* b knows a only by that address. */
	assert_int_equal(p2p_relay_add_transport(f->b), 0);
	const p2p_peerid *aid = p2p_host_peer_id(f->a);
	assert_int_equal(p2p_multiaddr_append_peer_id(&out[0], aid->bytes, aid->len), 0);
	assert_int_equal(p2p_host_connect(f->b, aid, &out[0], 1, on_dialed, f), 0);
	assert_true(uvt_run(&f->loop, &f->dialed, 10000));
	assert_int_equal(f->dial_err, 0);
	assert_true(p2p_peerid_equal(&f->dialed_peer, aid));
	assert_true(f->dialed_relayed);
	assert_int_equal(p2p_relay_client_accepted(f->rc), 1);

	p2p_relay_keeper_free(f->k);
	f->k = NULL;
	size_t events = f->ups + f->downs;
	p2p_host_disconnect(f->a, p2p_host_peer_id(f->r));
	run_for(f, 200);
	assert_int_equal(f->ups + f->downs, events);

	for (int i = 0; i < 3; i++)
		p2p_buf_free(&out[i]);
	p2p_buf_free(&want);
	p2p_buf_free(&text);
	p2p_buf_free(&got);
}

/* A 2-second reservation is refreshed (every half second to a second)
 * and never lapses; the addresses stay the same. */
static void test_refresh(void **state)
{
	fixture *f = *state;
	serve(f, 2);
	keep(f, 0, 0);
	add_relay(f);
	assert_true(wait_count(f, &f->ups, 3, 5000));
	assert_int_equal(f->downs, 0);
	assert_int_equal(f->changes, 1); /* the first reservation only */
	assert_true(p2p_relay_service_stats_get(f->svc)->reservations >= 3);
	assert_int_equal(p2p_relay_keeper_held(f->k), 1);
	assert_int_equal(p2p_relay_service_reservations(f->svc), 1);
}

/* The connection to the relay closes, from our side then from the
 * relay's: each time the reservation is lost, and made again after the
 * (reset) backoff. */
static void test_loss_and_retry(void **state)
{
	fixture *f = *state;
	serve(f, 0);
	keep(f, 100, 1000);
	add_relay(f);
	assert_true(wait_count(f, &f->ups, 1, 5000));

	p2p_host_disconnect(f->a, p2p_host_peer_id(f->r));
	assert_true(wait_count(f, &f->downs, 1, 2000));
	assert_false(f->last.up);
	assert_int_equal(f->last.err, P2P_ECLOSED);
	assert_true(f->last_changed);
	assert_int_equal(f->last.retry_ms, 100);
	assert_int_equal(p2p_relay_keeper_held(f->k), 0);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 0);
	assert_true(wait_count(f, &f->ups, 2, 3000));
	assert_true(f->last_changed);
	assert_int_equal(p2p_relay_keeper_held(f->k), 1);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 1);

	p2p_host_disconnect(f->r, p2p_host_peer_id(f->a));
	assert_true(wait_count(f, &f->downs, 2, 2000));
	assert_int_equal(f->last.err, P2P_ECLOSED);
	assert_int_equal(f->last.retry_ms, 100);
	assert_true(wait_count(f, &f->ups, 3, 3000));
	assert_int_equal(f->downs, 2);
}

/* The relay's hop protocol, gone silent: reads and never answers (the
 * stream ends with its connection). */
static void silent_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	p2p_stream_consume(s, len);
}

static void silent_hop(p2p_stream *s, const char *protocol, void *user)
{
	static const p2p_stream_callbacks cbs = {.on_data = silent_data};
	p2p_stream_set_callbacks(s, &cbs, NULL);
}

/* The refresh of a 2-second reservation gets no answer: the reservation
 * is lost when it expires, not 30 s later when the exchange times out. */
static void test_expiry(void **state)
{
	fixture *f = *state;
	serve(f, 2);
	keep(f, 100, 1000);
	add_relay(f);
	assert_true(wait_count(f, &f->ups, 1, 5000));
	assert_int_equal(
	    p2p_host_set_handler(f->r, P2P_RELAY_HOP_PROTOCOL, silent_hop, NULL), 0);
	assert_true(wait_count(f, &f->downs, 1, 4000));
	assert_int_equal(f->ups, 1);
	assert_int_equal(f->last.err, P2P_ETIMEDOUT);
	assert_true(f->last_changed);
	assert_int_equal(f->last.retry_ms, 100);
	assert_int_equal(p2p_relay_keeper_held(f->k), 0);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 0);
}

/* A closed loopback port: bound, then let go. */
static int closed_port(uv_loop_t *loop)
{
	uv_tcp_t s;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_init(loop, &s), 0);
	assert_int_equal(uv_tcp_bind(&s, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&s, (struct sockaddr *)&ss, &len), 0);
	uv_close((uv_handle_t *)&s, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void fake_relay_addr(p2p_buf *out, int port, uint8_t seed)
{
	char text[64];
	snprintf(text, sizeof text, "/ip4/127.0.0.1/tcp/%d", port);
	assert_int_equal(p2p_multiaddr_parse(text, out), 0);
	uint8_t mh[34] = {0x12, 0x20}; /* sha2-256 */
	memset(mh + 2, seed, 32);
	assert_int_equal(p2p_multiaddr_append_peer_id(out, mh, sizeof mh), 0);
}

/* Nothing listens there: failures, with a backoff that doubles up to its
 * maximum; nothing is ever held. */
static void test_unreachable(void **state)
{
	fixture *f = *state;
	keep(f, 50, 200);
	p2p_buf a;
	p2p_buf_init(&a);
	fake_relay_addr(&a, closed_port(&f->loop), 7);
	assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), 0);
	p2p_buf_free(&a);
	assert_true(wait_count(f, &f->downs, 4, 3000));
	assert_int_equal(f->ups, 0);
	assert_int_equal(f->changes, 0);
	const uint64_t want[4] = {50, 100, 200, 200};
	for (int i = 0; i < 4; i++) {
		assert_true(f->errs[i] < 0);
		assert_int_equal(f->retries[i], want[i]);
	}
	assert_int_equal(p2p_relay_keeper_held(f->k), 0);
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 0);
}

/* Freed as its first reserve is on its way: the relay grants it, and the
 * answer finds no keeper to call. */
static void test_free_in_flight(void **state)
{
	fixture *f = *state;
	serve(f, 0);
	keep(f, 0, 0);
	add_relay(f);
	uv_run(&f->loop, UV_RUN_NOWAIT); /* the first try starts */
	assert_int_equal(f->ups + f->downs, 0);
	p2p_relay_keeper_free(f->k);
	f->k = NULL;
	const uint64_t *granted = &p2p_relay_service_stats_get(f->svc)->reservations;
	for (int i = 0; i < 300 && *granted == 0; i++)
		run_for(f, 10);
	assert_int_equal(*granted, 1);
	run_for(f, 100);
	assert_int_equal(f->ups + f->downs, 0);
}

static void test_add_errors(void **state)
{
	fixture *f = *state;
	keep(f, 60000, 60000);
	p2p_relay_keeper *other;
	assert_int_equal(p2p_relay_keeper_new(&other, f->rc, NULL), P2P_ESTATE);

	p2p_buf a;
	p2p_buf_init(&a);
	host_addr(f->r, false, &a); /* no /p2p/ */
	assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), P2P_EINVAL);
	assert_int_equal(p2p_relay_keeper_add(f->k, (const uint8_t *)"\xff\xff", 2),
	                 P2P_EINVAL);
	p2p_buf_reset(&a);
	host_addr(f->a, true, &a); /* ourselves */
	assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), P2P_EINVAL);

	int port = closed_port(&f->loop);
	for (int i = 0; i < P2P_RELAY_KEEPER_MAX_RELAYS; i++) {
		p2p_buf_reset(&a);
		fake_relay_addr(&a, port, (uint8_t)(i + 1));
		assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), 0);
		assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), P2P_ESTATE);
	}
	p2p_buf_reset(&a);
	fake_relay_addr(&a, port, 0xee);
	assert_int_equal(p2p_relay_keeper_add(f->k, a.data, a.len), P2P_ELIMIT);
	p2p_buf_free(&a);
	/* Each is tried once and waits its (long) backoff. */
	assert_true(wait_count(f, &f->downs, P2P_RELAY_KEEPER_MAX_RELAYS, 3000));
	run_for(f, 50);
	assert_int_equal(f->downs, P2P_RELAY_KEEPER_MAX_RELAYS);
	assert_int_equal(f->ups, 0);
}

/* Autorelay with one slot: r, offered, is reserved and its peer
 * protected; a second hop-capable peer waits as a candidate. When r's
 * connection goes, r is dropped (no retry) and the candidate takes the
 * slot; that one cannot be reached and is dropped too. r offered again is
 * reserved again. */
static void test_autorelay(void **state)
{
	fixture *f = *state;
	serve(f, 0);
	keep_auto(f, 100, 1000, 1);
	const p2p_peerid *rid = p2p_host_peer_id(f->r);
	p2p_buf a, fake;
	p2p_buf_init(&a);
	p2p_buf_init(&fake);
	host_addr(f->r, false, &a);
	assert_int_equal(p2p_relay_keeper_offer(f->k, rid, a.data, a.len), 0);
	assert_int_equal(p2p_relay_keeper_offer(f->k, rid, a.data, a.len), P2P_ESTATE);
	assert_true(wait_count(f, &f->ups, 1, 5000));
	assert_true(p2p_host_is_protected(f->a, rid));
	assert_int_equal(p2p_relay_keeper_held(f->k), 1);

	fake_relay_addr(&fake, closed_port(&f->loop), 9);
	p2p_peerid fake_id;
	const uint8_t *mh;
	size_t mh_len;
	assert_int_equal(p2p_multiaddr_peer_id(fake.data, fake.len, &mh, &mh_len), 0);
	assert_int_equal(p2p_peerid_from_bytes(&fake_id, mh, mh_len), 0);
	assert_int_equal(p2p_relay_keeper_offer(f->k, &fake_id, fake.data, fake.len), 0);
	run_for(f, 50);
	assert_int_equal(f->ups + f->downs, 1); /* remembered, not tried */

	p2p_host_disconnect(f->a, rid);
	assert_true(wait_count(f, &f->downs, 2, 3000));
	assert_int_equal(f->errs[1], P2P_ECLOSED);
	assert_int_equal(f->retries[1], 0);
	assert_true(f->errs[2] < 0); /* the candidate: unreachable */
	assert_int_equal(f->retries[2], 0);
	assert_false(p2p_host_is_protected(f->a, rid));
	run_for(f, 300);
	assert_int_equal(f->downs, 2); /* neither is tried again */
	assert_int_equal(p2p_relay_keeper_held(f->k), 0);

	assert_int_equal(p2p_relay_keeper_offer(f->k, rid, a.data, a.len), 0);
	assert_true(wait_count(f, &f->ups, 2, 5000));
	assert_int_equal(p2p_relay_keeper_addrs(f->k, NULL, 0), 1);
	p2p_buf_free(&a);
	p2p_buf_free(&fake);
}

static void test_offer_errors(void **state)
{
	fixture *f = *state;
	keep(f, 60000, 60000); /* autorelay off */
	p2p_buf a;
	p2p_buf_init(&a);
	host_addr(f->r, false, &a);
	assert_int_equal(
	    p2p_relay_keeper_offer(f->k, p2p_host_peer_id(f->r), a.data, a.len),
	    P2P_ESTATE);
	p2p_relay_keeper_free(f->k);
	keep_auto(f, 60000, 60000, 2);
	assert_int_equal(
	    p2p_relay_keeper_offer(f->k, p2p_host_peer_id(f->a), a.data, a.len),
	    P2P_EINVAL); /* ourselves */
	p2p_buf circ;
	p2p_buf_init(&circ);
	assert_int_equal(
	    p2p_relay_circuit_addr(a.data, a.len, p2p_host_peer_id(f->r), &circ), 0);
	assert_int_equal(
	    p2p_relay_keeper_offer(f->k, p2p_host_peer_id(f->b), circ.data, circ.len),
	    P2P_EINVAL);
	/* Two slots and eight candidates, then no more. */
	int port = closed_port(&f->loop);
	for (int i = 0; i < 2 + P2P_RELAY_KEEPER_MAX_CANDIDATES + 1; i++) {
		p2p_buf_reset(&a);
		fake_relay_addr(&a, port, (uint8_t)(i + 1));
		p2p_peerid id;
		const uint8_t *mh;
		size_t mh_len;
		assert_int_equal(p2p_multiaddr_peer_id(a.data, a.len, &mh, &mh_len), 0);
		assert_int_equal(p2p_peerid_from_bytes(&id, mh, mh_len), 0);
		assert_int_equal(p2p_relay_keeper_offer(f->k, &id, a.data, a.len),
		                 i < 2 + P2P_RELAY_KEEPER_MAX_CANDIDATES ? 0
		                                                         : P2P_ELIMIT);
	}
	p2p_buf_free(&a);
	p2p_buf_free(&circ);
	/* Each fails and hands its slot on, until none is left. */
	assert_true(wait_count(f, &f->downs, 2 + P2P_RELAY_KEEPER_MAX_CANDIDATES, 5000));
	run_for(f, 50);
	assert_int_equal(f->ups, 0);
	assert_int_equal(f->downs, 2 + P2P_RELAY_KEEPER_MAX_CANDIDATES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reserve_and_dial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loss_and_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_autorelay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offer_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
