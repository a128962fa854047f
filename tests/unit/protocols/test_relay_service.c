/* The relay service and client on three hosts in one process (relay r,
 * peers a and b over loopback TCP), for what the interop tests do not
 * reach: the status codes of refused hop requests (CONNECT without a
 * reservation, a malformed message, an unexpected one), a reservation
 * that ends with its peer's connection, and a stop CONNECT from a relay
 * we hold no reservation on; the service's events, its allow-list and
 * its listing of reservations and circuits. Every test ends with the
 * hosts closed and the loop empty, so ASan sees any leak. */
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
#include "p2p/lpmsg.h"
#include "p2p/relay.h"

/* One service event as recorded (the pointers copied out). */
typedef struct rec_event {
	p2p_relay_service_event_kind kind;
	p2p_peerid peer, dst;
	bool has_dst, has_addr, refresh;
	uint64_t expire;
	int why, status, request;
	uint64_t bytes_to_dst, bytes_to_src;
} rec_event;

#define MAX_EVENTS 16

typedef struct fixture {
	uv_loop_t loop;
	rec_event events[MAX_EVENTS];
	size_t n_events;
	bool got_event;
	p2p_privkey *key[3];
	p2p_host *r, *a, *b;
	bool closed[3];
	p2p_relay_service *svc;
	p2p_relay_client *client_a;
	/* one raw exchange: a message out, the answer back */
	p2p_relay_kind kind;
	p2p_buf request;
	p2p_buf answer;
	bool answered, ended;
	/* a reservation */
	bool reserved;
	int reserve_err;
	bool voucher;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void add_addr(p2p_host *from, p2p_host *to)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(to, addrs, 1), 1);
	p2p_peerstore_add_addr(p2p_host_peerstore(from), p2p_host_peer_id(to),
	                       addrs[0]->data, addrs[0]->len, P2P_ADDR_MANUAL);
}

static void record(const p2p_relay_service_event *ev, void *user)
{
	fixture *f = user;
	f->got_event = true;
	assert_true(f->n_events < MAX_EVENTS);
	rec_event *r = &f->events[f->n_events++];
	memset(r, 0, sizeof(*r));
	r->kind = ev->kind;
	r->peer = *ev->peer;
	r->has_dst = ev->dst != NULL;
	if (ev->dst)
		r->dst = *ev->dst;
	r->has_addr = ev->addr != NULL && ev->addr->len > 0;
	r->refresh = ev->refresh;
	r->expire = ev->expire;
	r->why = ev->why;
	r->status = ev->status;
	r->request = ev->request;
	r->bytes_to_dst = ev->bytes_to_dst;
	r->bytes_to_src = ev->bytes_to_src;
	if (ev->kind == P2P_RELAY_EV_REFUSED)
		assert_non_null(ev->reason);
}

/* The service's configuration, made once the hosts (hence peer IDs)
 * exist; NULL tweak: the defaults, given as a NULL config. */
typedef void (*tweak_fn)(fixture *f, p2p_relay_service_config *cfg);

static int setup_with(void **state, tweak_fn tweak)
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
	p2p_relay_service_config svc_cfg;
	p2p_relay_service_config_init(&svc_cfg);
	if (tweak) {
		svc_cfg.on_event = record;
		svc_cfg.user = f;
		tweak(f, &svc_cfg);
	}
	assert_int_equal(p2p_relay_service_new(&f->svc, f->r, tweak ? &svc_cfg : NULL),
	                 0);
	assert_int_equal(p2p_relay_client_new(&f->client_a, f->a), 0);
	add_addr(f->a, f->r);
	add_addr(f->b, f->r);
	add_addr(f->b, f->a);
	p2p_buf_init(&f->request);
	p2p_buf_init(&f->answer);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static void on_host_closed(void *user)
{
	*(bool *)user = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	p2p_host *hosts[3] = {f->r, f->a, f->b};
	for (int i = 0; i < 3; i++)
		p2p_host_close(hosts[i], on_host_closed, &f->closed[i]);
	for (int i = 0; i < 3; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	p2p_relay_service_free(f->svc);
	p2p_relay_client_free(f->client_a);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < 3; i++)
		p2p_privkey_free(f->key[i]);
	p2p_buf_free(&f->request);
	p2p_buf_free(&f->answer);
	free(f);
	return 0;
}

/* --- a raw exchange on a hop or stop stream --- */

static void raw_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	fixture *f = user;
	p2p_buf_append(&f->answer, data, len);
	p2p_stream_consume(s, len);
	f->answered = true;
}

static void raw_end(p2p_stream *s, void *user)
{
	((fixture *)user)->ended = true;
}

static void raw_reset(p2p_stream *s, int err, void *user)
{
	((fixture *)user)->ended = true;
}

static const p2p_stream_callbacks raw_cbs = {
    .on_data = raw_data, .on_fin = raw_end, .on_reset = raw_reset};

static void raw_opened(p2p_stream *s, int err, void *user)
{
	fixture *f = user;
	assert_int_equal(err, 0);
	p2p_stream_set_callbacks(s, &raw_cbs, f);
	assert_true(p2p_stream_write(s, f->request.data, f->request.len) >= 0);
}

/* Sends f->request from `from` to `to` on protocol and decodes the one
 * message that comes back. */
static void exchange(fixture *f, p2p_host *from, p2p_host *to, const char *protocol,
                     p2p_relay_kind kind, p2p_relay_msg *answer)
{
	const char *protos[] = {protocol};
	assert_int_equal(
	    p2p_host_new_stream(from, p2p_host_peer_id(to), protos, 1, raw_opened, f), 0);
	assert_true(uvt_run(&f->loop, &f->ended, 10000));
	p2p_lpmsg_reader rd;
	p2p_lpmsg_reader_init(&rd, P2P_RELAY_MAX_MESSAGE);
	const uint8_t *body;
	size_t body_len, used;
	assert_int_equal(
	    p2p_lpmsg_read(&rd, f->answer.data, f->answer.len, &used, &body, &body_len),
	    0);
	p2p_relay_msg_init(answer);
	assert_int_equal(p2p_relay_msg_decode(answer, kind, body, body_len), 0);
	p2p_lpmsg_reader_free(&rd);
}

static void hop_request(fixture *f, int type, const p2p_peerid *peer)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = type;
	if (peer) {
		m.has_peer = true;
		m.peer_id = *peer;
	}
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_HOP, &f->request), 0);
	p2p_relay_msg_free(&m);
}

static void test_connect_without_reservation(void **state)
{
	fixture *f = *state;
	hop_request(f, P2P_RELAY_HOP_CONNECT, p2p_host_peer_id(f->a));
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	assert_int_equal(m.type, P2P_RELAY_HOP_STATUS);
	assert_int_equal(m.status, P2P_RELAY_STATUS_NO_RESERVATION);
	p2p_relay_msg_free(&m);
	assert_int_equal(p2p_relay_service_stats_get(f->svc)->refused, 1);
}

static void test_malformed(void **state)
{
	fixture *f = *state;
	/* A 3-byte body that is no protobuf (field 0 is invalid). */
	p2p_buf_append(&f->request, "\x03\x00\x00\x00", 4);
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	assert_int_equal(m.status, P2P_RELAY_STATUS_MALFORMED_MESSAGE);
	p2p_relay_msg_free(&m);
}

static void test_unexpected(void **state)
{
	fixture *f = *state;
	p2p_relay_msg req;
	p2p_relay_msg_init(&req);
	req.type = P2P_RELAY_HOP_STATUS;
	req.status = P2P_RELAY_STATUS_OK;
	assert_int_equal(p2p_relay_msg_encode(&req, P2P_RELAY_HOP, &f->request), 0);
	p2p_relay_msg_free(&req);
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	assert_int_equal(m.status, P2P_RELAY_STATUS_UNEXPECTED_MESSAGE);
	p2p_relay_msg_free(&m);
}

static void on_reserved(int err, int status, const p2p_relay_reservation *r, void *user)
{
	fixture *f = user;
	f->reserved = true;
	f->reserve_err = err;
	if (err == 0) {
		f->voucher = r->has_voucher;
		assert_true(p2p_peerid_equal(r->relay, p2p_host_peer_id(f->r)));
		assert_true(r->n_addrs >= 1);
		assert_false(r->limited);
	}
}

/* a reserves (the voucher checks out); the reservation ends with a's
 * connection to the relay. */
static void test_reservation_lifetime(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_relay_client_reserve(f->client_a, p2p_host_peer_id(f->r),
	                                          NULL, 0, on_reserved, f),
	                 0);
	assert_true(uvt_run(&f->loop, &f->reserved, 10000));
	assert_int_equal(f->reserve_err, 0);
	assert_true(f->voucher);
	assert_int_equal(p2p_relay_service_reservations(f->svc), 1);
	p2p_host_disconnect(f->a, p2p_host_peer_id(f->r));
	for (int i = 0; i < 200 && p2p_relay_service_reservations(f->svc) > 0; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(p2p_relay_service_reservations(f->svc), 0);
}

/* b is no relay of a's: its stop CONNECT is refused. */
static void test_stop_without_reservation(void **state)
{
	fixture *f = *state;
	p2p_relay_msg req;
	p2p_relay_msg_init(&req);
	req.type = P2P_RELAY_STOP_CONNECT;
	req.has_peer = true;
	req.peer_id = *p2p_host_peer_id(f->r);
	assert_int_equal(p2p_relay_msg_encode(&req, P2P_RELAY_STOP, &f->request), 0);
	p2p_relay_msg_free(&req);
	p2p_relay_msg m;
	exchange(f, f->b, f->a, P2P_RELAY_STOP_PROTOCOL, P2P_RELAY_STOP, &m);
	assert_int_equal(m.type, P2P_RELAY_STOP_STATUS);
	assert_int_equal(m.status, P2P_RELAY_STATUS_PERMISSION_DENIED);
	p2p_relay_msg_free(&m);
	assert_int_equal(p2p_relay_client_refused(f->client_a), 1);
	assert_int_equal(p2p_relay_client_accepted(f->client_a), 0);
}

/* --- events, the allow-list, listing --- */

static void tweak_events(fixture *f, p2p_relay_service_config *cfg)
{
}

static int setup_events(void **state)
{
	return setup_with(state, tweak_events);
}

/* Only a may reserve. */
static p2p_peerid allow_list[1];

static void tweak_allow_a(fixture *f, p2p_relay_service_config *cfg)
{
	allow_list[0] = *p2p_host_peer_id(f->a);
	cfg->allow = allow_list;
	cfg->n_allow = 1;
}

static int setup_allow_a(void **state)
{
	int rc = setup_with(state, tweak_allow_a);
	/* The service has its own copy. */
	memset(allow_list, 0, sizeof(allow_list));
	return rc;
}

static void tweak_short_ttl(fixture *f, p2p_relay_service_config *cfg)
{
	/* 2, not 1: the voucher must still be valid when a checks it, in
	 * the next second maybe. */
	cfg->limits.reservation_ttl = 2;
}

static int setup_short_ttl(void **state)
{
	return setup_with(state, tweak_short_ttl);
}

static void reserve_a(fixture *f, int want_err)
{
	f->reserved = false;
	assert_int_equal(p2p_relay_client_reserve(f->client_a, p2p_host_peer_id(f->r),
	                                          NULL, 0, on_reserved, f),
	                 0);
	assert_true(uvt_run(&f->loop, &f->reserved, 10000));
	assert_int_equal(f->reserve_err, want_err);
}

/* Runs the loop until the service has reported n events. */
static void wait_events(fixture *f, size_t n)
{
	for (int i = 0; i < 300 && f->n_events < n; i++) {
		f->got_event = false;
		uvt_run(&f->loop, &f->got_event, 20);
	}
	assert_int_equal(f->n_events, n);
}

/* RESERVED (new, then a refresh), listed, then UNRESERVED when a's
 * connection ends; a CONNECT to nobody is REFUSED naming its target. */
static void test_events(void **state)
{
	fixture *f = *state;
	const p2p_peerid *a = p2p_host_peer_id(f->a);
	reserve_a(f, 0);
	wait_events(f, 1);
	rec_event *e = &f->events[0];
	assert_int_equal(e->kind, P2P_RELAY_EV_RESERVED);
	assert_true(p2p_peerid_equal(&e->peer, a));
	assert_true(e->has_addr);
	assert_false(e->refresh);
	assert_true(e->expire > 0);
	reserve_a(f, 0);
	wait_events(f, 2);
	assert_int_equal(f->events[1].kind, P2P_RELAY_EV_RESERVED);
	assert_true(f->events[1].refresh);

	p2p_relay_rsvp_slot slots[2];
	assert_int_equal(p2p_relay_service_list_reservations(f->svc, slots, 2), 1);
	assert_true(p2p_peerid_equal(&slots[0].peer, a));
	assert_int_equal(slots[0].expire, f->events[1].expire);
	assert_int_equal(slots[0].ip_len, 4); /* 127.0.0.1 */
	assert_int_equal(p2p_relay_service_list_reservations(f->svc, NULL, 0), 1);
	assert_int_equal(p2p_relay_service_list_circuits(f->svc, NULL, 0), 0);
	assert_int_equal(p2p_relay_service_stats_get(f->svc)->reservations, 2);

	/* b asks for a circuit to itself: it holds no reservation. */
	hop_request(f, P2P_RELAY_HOP_CONNECT, p2p_host_peer_id(f->b));
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	assert_int_equal(m.status, P2P_RELAY_STATUS_NO_RESERVATION);
	p2p_relay_msg_free(&m);
	wait_events(f, 3);
	e = &f->events[2];
	assert_int_equal(e->kind, P2P_RELAY_EV_REFUSED);
	assert_true(p2p_peerid_equal(&e->peer, p2p_host_peer_id(f->b)));
	assert_true(e->has_dst);
	assert_true(p2p_peerid_equal(&e->dst, p2p_host_peer_id(f->b)));
	assert_int_equal(e->status, P2P_RELAY_STATUS_NO_RESERVATION);
	assert_int_equal(e->request, P2P_RELAY_HOP_CONNECT);

	p2p_host_disconnect(f->a, p2p_host_peer_id(f->r));
	wait_events(f, 4);
	e = &f->events[3];
	assert_int_equal(e->kind, P2P_RELAY_EV_UNRESERVED);
	assert_true(p2p_peerid_equal(&e->peer, a));
	assert_int_equal(e->why, P2P_RELAY_UNRESERVED_DISCONNECTED);
	assert_int_equal(p2p_relay_service_list_reservations(f->svc, slots, 2), 0);
}

/* A malformed request is refused with no request type. */
static void test_event_malformed(void **state)
{
	fixture *f = *state;
	p2p_buf_append(&f->request, "\x03\x00\x00\x00", 4);
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	p2p_relay_msg_free(&m);
	wait_events(f, 1);
	assert_int_equal(f->events[0].kind, P2P_RELAY_EV_REFUSED);
	assert_int_equal(f->events[0].status, P2P_RELAY_STATUS_MALFORMED_MESSAGE);
	assert_int_equal(f->events[0].request, -1);
	assert_false(f->events[0].has_dst);
}

/* A reservation not refreshed in time ends with an event of its own,
 * while the peer stays connected and the service has nothing else to
 * do. */
static void test_expiry(void **state)
{
	fixture *f = *state;
	reserve_a(f, 0);
	for (int i = 0; i < 400 && f->n_events < 2; i++) {
		f->got_event = false;
		uvt_run(&f->loop, &f->got_event, 20);
	}
	assert_int_equal(f->n_events, 2);
	assert_int_equal(f->events[0].kind, P2P_RELAY_EV_RESERVED);
	assert_int_equal(f->events[1].kind, P2P_RELAY_EV_UNRESERVED);
	assert_int_equal(f->events[1].why, P2P_RELAY_UNRESERVED_EXPIRED);
	assert_int_equal(p2p_relay_service_reservations(f->svc), 0);
	assert_non_null(p2p_host_conn(f->r, p2p_host_peer_id(f->a)));
}

/* The circuit b opens with a raw hop CONNECT; its stream stays open. */
static p2p_stream *circuit_stream;

static void circuit_opened(p2p_stream *s, int err, void *user)
{
	fixture *f = user;
	assert_int_equal(err, 0);
	circuit_stream = s;
	p2p_stream_set_callbacks(s, &raw_cbs, f);
	assert_true(p2p_stream_write(s, f->request.data, f->request.len) >= 0);
}

/* Only a may reserve: b's RESERVE is PERMISSION_DENIED (and an event
 * says so), but b may still CONNECT to a; the circuit is listed with its
 * bytes and reported when it ends. */
static void test_allow_list(void **state)
{
	fixture *f = *state;
	const p2p_peerid *a = p2p_host_peer_id(f->a), *b = p2p_host_peer_id(f->b);
	hop_request(f, P2P_RELAY_HOP_RESERVE, NULL);
	p2p_relay_msg m;
	exchange(f, f->b, f->r, P2P_RELAY_HOP_PROTOCOL, P2P_RELAY_HOP, &m);
	assert_int_equal(m.status, P2P_RELAY_STATUS_PERMISSION_DENIED);
	assert_false(m.has_reservation);
	p2p_relay_msg_free(&m);
	wait_events(f, 1);
	rec_event *e = &f->events[0];
	assert_int_equal(e->kind, P2P_RELAY_EV_REFUSED);
	assert_true(p2p_peerid_equal(&e->peer, b));
	assert_int_equal(e->status, P2P_RELAY_STATUS_PERMISSION_DENIED);
	assert_int_equal(e->request, P2P_RELAY_HOP_RESERVE);
	assert_true(e->has_addr);
	assert_int_equal(p2p_relay_service_reservations(f->svc), 0);

	reserve_a(f, 0);
	wait_events(f, 2);
	assert_int_equal(f->events[1].kind, P2P_RELAY_EV_RESERVED);

	/* b, not on the list, asks for a circuit to a. */
	p2p_buf_free(&f->request);
	p2p_buf_init(&f->request);
	p2p_buf_free(&f->answer);
	p2p_buf_init(&f->answer);
	f->answered = f->ended = false;
	hop_request(f, P2P_RELAY_HOP_CONNECT, a);
	const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
	circuit_stream = NULL;
	assert_int_equal(p2p_host_new_stream(f->b, p2p_host_peer_id(f->r), protos, 1,
	                                     circuit_opened, f),
	                 0);
	wait_events(f, 3);
	e = &f->events[2];
	assert_int_equal(e->kind, P2P_RELAY_EV_CIRCUIT_OPEN);
	assert_true(p2p_peerid_equal(&e->peer, b));
	assert_true(p2p_peerid_equal(&e->dst, a));
	assert_true(uvt_run(&f->loop, &f->answered, 5000));
	p2p_lpmsg_reader rd;
	p2p_lpmsg_reader_init(&rd, P2P_RELAY_MAX_MESSAGE);
	const uint8_t *body;
	size_t body_len, used;
	assert_int_equal(
	    p2p_lpmsg_read(&rd, f->answer.data, f->answer.len, &used, &body, &body_len),
	    0);
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_decode(&m, P2P_RELAY_HOP, body, body_len), 0);
	assert_int_equal(m.status, P2P_RELAY_STATUS_OK);
	p2p_relay_msg_free(&m);
	p2p_lpmsg_reader_free(&rd);

	/* 5 bytes to a; a's side reads them as the start of a handshake and
	 * waits for more. */
	assert_non_null(circuit_stream);
	assert_true(p2p_stream_write(circuit_stream, (const uint8_t *)"hello", 5) >= 0);
	p2p_relay_service_circuit c[2];
	for (int i = 0; i < 200; i++) {
		if (p2p_relay_service_list_circuits(f->svc, c, 2) == 1 &&
		    c[0].bytes_to_dst == 5)
			break;
		uvt_run(&f->loop, &(bool){false}, 20);
	}
	assert_int_equal(p2p_relay_service_list_circuits(f->svc, c, 2), 1);
	assert_true(p2p_peerid_equal(&c[0].src, b));
	assert_true(p2p_peerid_equal(&c[0].dst, a));
	assert_int_equal(c[0].bytes_to_dst, 5);
	assert_true(c[0].opened > 0);

	p2p_stream_reset(circuit_stream);
	wait_events(f, 4);
	e = &f->events[3];
	assert_int_equal(e->kind, P2P_RELAY_EV_CIRCUIT_CLOSED);
	assert_int_equal(e->why, P2P_RELAY_CIRCUIT_RESET);
	assert_int_equal(e->bytes_to_dst, 5);
	assert_int_equal(p2p_relay_service_list_circuits(f->svc, c, 2), 0);
	const p2p_relay_service_stats *st = p2p_relay_service_stats_get(f->svc);
	assert_int_equal(st->circuits, 1);
	assert_int_equal(st->circuits_open, 0);
	assert_int_equal(st->refused, 1);
	assert_true(st->bytes >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_connect_without_reservation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unexpected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reservation_lifetime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_without_reservation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup_events, teardown),
	    cmocka_unit_test_setup_teardown(test_event_malformed, setup_events, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup_short_ttl, teardown),
	    cmocka_unit_test_setup_teardown(test_allow_list, setup_allow_a, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
