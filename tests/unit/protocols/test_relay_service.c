/* The relay service and client on three hosts in one process (relay r,
 * peers a and b over loopback TCP), for what the interop tests do not
 * reach: the status codes of refused hop requests (CONNECT without a
 * reservation, a malformed message, an unexpected one), a reservation
 * that ends with its peer's connection, and a stop CONNECT from a relay
 * we hold no reservation on. Every test ends with the hosts closed and
 * the loop empty, so ASan sees any leak. */
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

typedef struct fixture {
	uv_loop_t loop;
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
	assert_int_equal(p2p_relay_service_new(&f->svc, f->r, NULL), 0);
	assert_int_equal(p2p_relay_client_new(&f->client_a, f->a), 0);
	add_addr(f->a, f->r);
	add_addr(f->b, f->r);
	add_addr(f->b, f->a);
	p2p_buf_init(&f->request);
	p2p_buf_init(&f->answer);
	*state = f;
	return 0;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
