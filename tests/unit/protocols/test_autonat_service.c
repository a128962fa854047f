/* The AutoNAT v1 service on two hosts in one process over loopback TCP: s
 * serves (allow_private, since everything here is 127.0.0.1), c asks.
 * A client whose listener is reachable becomes PUBLIC at that address,
 * through a fresh connection from an ephemeral port; one that offers only
 * a closed port becomes PRIVATE, the answer held back for the whole dial
 * timeout. Hand-made requests: another peer's ID, another IP, bad bytes
 * and a response in place of a request are refused; the throttle, the
 * per-peer limit and the stream timeout hold; a host without AutoNAT is
 * never asked; hosts closed mid-exchange. Every test ends with the hosts
 * closed and the loop empty, so ASan sees any leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/lpmsg.h"
#include "p2p/multiaddr.h"

#define BOOT_MS         100
#define RETRY_MS        100
#define DIAL_TIMEOUT_MS 600
#define WAIT_MS         10000
#define MAX_RAW         4

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *key[3]; /* s, c, and a third peer's (its ID only) */
	p2p_host *s, *c;
	p2p_identify_service *id_s, *id_c;
	p2p_autonat_service *an_s, *an_c;
	bool closed[2];
	bool notify_identify; /* c's identify callback tells the service */
	uint64_t t0;          /* c's service made */
	/* c's service's events */
	int changes;
	p2p_autonat_reachability state;
	p2p_buf addr;
	int probes, last_status;
	char last_text[128];
	uint64_t probe_at;
	/* connections to c */
	int inbound;
	p2p_buf inbound_addr;
	bool connected;
	int connect_err;
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void on_identified(p2p_conn *c, const p2p_identify *info, bool push, int err,
                          void *user)
{
	fixture *f = user;
	if (f->notify_identify && f->an_c)
		p2p_autonat_service_on_identified(f->an_c, c, info);
}

static void on_c_connected(p2p_host *h, p2p_conn *c, void *user)
{
	fixture *f = user;
	if (p2p_conn_direction(c) != P2P_DIR_INBOUND)
		return;
	f->inbound++;
	p2p_buf_reset(&f->inbound_addr);
	const p2p_buf *ra = p2p_conn_remote_addr(c);
	p2p_buf_append(&f->inbound_addr, ra->data, ra->len);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	p2p_buf_init(&f->addr);
	p2p_buf_init(&f->inbound_addr);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	for (int i = 0; i < 3; i++)
		assert_int_equal(p2p_privkey_generate(&f->key[i]), 0);
	assert_int_equal(p2p_host_new(&f->s, &f->loop, f->key[0], &cfg), 0);
	assert_int_equal(p2p_host_new(&f->c, &f->loop, f->key[1], &cfg), 0);
	assert_int_equal(p2p_host_listen(f->s, "/ip4/127.0.0.1/tcp/0"), 0);
	assert_int_equal(p2p_identify_service_new(&f->id_s, f->s, NULL, NULL), 0);
	assert_int_equal(p2p_identify_service_new(&f->id_c, f->c, on_identified, f), 0);
	p2p_host_observer obs = {.on_connected = on_c_connected};
	assert_int_equal(p2p_host_observe(f->c, &obs, f), 0);
	f->last_status = 1;
	*state = f;
	return 0;
}

/* As the apps do: the services go with their host. */
static void on_s_closed(void *user)
{
	fixture *f = user;
	p2p_autonat_service_free(f->an_s);
	p2p_identify_service_free(f->id_s);
	f->an_s = NULL;
	f->closed[0] = true;
}

static void on_c_closed(void *user)
{
	fixture *f = user;
	p2p_autonat_service_free(f->an_c);
	p2p_identify_service_free(f->id_c);
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
	for (int i = 0; i < 3; i++)
		p2p_privkey_free(f->key[i]);
	p2p_buf_free(&f->addr);
	p2p_buf_free(&f->inbound_addr);
	free(f);
	return 0;
}

/* --- helpers --- */

static void on_change(p2p_autonat_reachability state, const p2p_buf *addr, int confidence,
                      void *user)
{
	fixture *f = user;
	f->changes++;
	f->state = state;
	p2p_buf_reset(&f->addr);
	if (addr)
		p2p_buf_append(&f->addr, addr->data, addr->len);
}

static void on_probe(const p2p_peerid *server, int status, const char *text, void *user)
{
	fixture *f = user;
	f->probes++;
	f->last_status = status;
	snprintf(f->last_text, sizeof(f->last_text), "%s", text);
	f->probe_at = uv_now(&f->loop);
}

static void serve_opts(fixture *f, uint32_t throttle_peer_max, uint64_t stream_timeout_ms,
                       bool allow_private)
{
	p2p_autonat_service_config cfg = {
	    .disable_client = true,
	    .allow_private = allow_private,
	    .dial_timeout_ms = DIAL_TIMEOUT_MS,
	    .stream_timeout_ms = stream_timeout_ms,
	    .throttle_peer_max = throttle_peer_max,
	};
	assert_int_equal(p2p_autonat_service_new(&f->an_s, f->s, f->id_s, &cfg), 0);
}

static void serve(fixture *f, uint32_t throttle_peer_max, uint64_t stream_timeout_ms)
{
	serve_opts(f, throttle_peer_max, stream_timeout_ms, true);
}

static void ask_opts(fixture *f, bool allow_private)
{
	p2p_autonat_service_config cfg = {
	    .on_change = on_change,
	    .on_probe = on_probe,
	    .user = f,
	    .disable_server = true,
	    .allow_private = allow_private,
	    .boot_delay_ms = BOOT_MS,
	    .forced_retry_ms = RETRY_MS / 2,
	    .retry_interval_ms = RETRY_MS,
	};
	f->t0 = uv_now(&f->loop);
	assert_int_equal(p2p_autonat_service_new(&f->an_c, f->c, f->id_c, &cfg), 0);
}

static void ask(fixture *f)
{
	ask_opts(f, true);
}

static void on_connect(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->connected = true;
	f->connect_err = err;
}

static void connect_c_to_s(fixture *f)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->s, addrs, 1), 1);
	f->connected = false;
	assert_int_equal(
	    p2p_host_connect(f->c, p2p_host_peer_id(f->s), addrs[0], 1, on_connect, f),
	    0);
	assert_true(uvt_run(&f->loop, &f->connected, WAIT_MS));
	assert_int_equal(f->connect_err, 0);
}

static void run_for(fixture *f, uint64_t ms)
{
	uvt_run(&f->loop, &(bool){false}, ms);
}

static bool wait_count(fixture *f, const int *count, int n, uint64_t ms)
{
	uint64_t end = uv_now(&f->loop) + ms;
	while (*count < n && uv_now(&f->loop) < end)
		run_for(f, 10);
	return *count >= n;
}

static uint16_t tcp_port(const p2p_buf *a)
{
	size_t off = 0;
	p2p_multiaddr_component comp;
	while (p2p_multiaddr_next(a->data, a->len, &off, &comp) == 1)
		if (comp.code == P2P_MA_TCP && comp.value_len == 2)
			return (uint16_t)(comp.value[0] << 8 | comp.value[1]);
	return 0;
}

/* A loopback port nobody listens on (bound, then let go). */
static uint16_t closed_port(fixture *f)
{
	uv_tcp_t t;
	struct sockaddr_in sa;
	struct sockaddr_storage got;
	int len = sizeof(got);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(&f->loop, &t);
	assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len), 0);
	uv_close((uv_handle_t *)&t, NULL);
	run_for(f, 1);
	return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void parse(const char *text, p2p_buf *out)
{
	p2p_buf_init(out);
	assert_int_equal(p2p_multiaddr_parse(text, out), 0);
}

/* --- hand-made requests from c to s --- */

typedef struct raw {
	p2p_buf req; /* written once negotiated */
	p2p_buf in;  /* what s sent */
	bool opened, reset, done;
	int open_err;
} raw;

static void raw_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	raw *r = user;
	p2p_buf_append(&r->in, data, len);
	p2p_stream_consume(s, len);
}

static void raw_on_fin(p2p_stream *s, void *user)
{
	p2p_stream_close(s);
}

static void raw_on_reset(p2p_stream *s, int err, void *user)
{
	((raw *)user)->reset = true;
}

static void raw_on_close(p2p_stream *s, void *user)
{
	((raw *)user)->done = true;
}

static const p2p_stream_callbacks raw_callbacks = {
    .on_data = raw_on_data,
    .on_fin = raw_on_fin,
    .on_reset = raw_on_reset,
    .on_close = raw_on_close,
};

static void raw_ready(p2p_stream *s, int err, void *user)
{
	raw *r = user;
	r->opened = true;
	r->open_err = err;
	if (err < 0) {
		r->done = true;
		return;
	}
	p2p_stream_set_callbacks(s, &raw_callbacks, r);
	if (r->req.len > 0)
		assert_true(p2p_stream_write(s, r->req.data, r->req.len) >= 0);
}

static void raw_open(fixture *f, raw *r)
{
	static const char *const protos[] = {P2P_AUTONAT_PROTOCOL};
	assert_int_equal(
	    p2p_host_new_stream(f->c, p2p_host_peer_id(f->s), protos, 1, raw_ready, r),
	    0);
	assert_true(uvt_run(&f->loop, &r->opened, WAIT_MS));
	assert_int_equal(r->open_err, 0);
}

/* Sends req on a fresh stream and waits for the end of it; the answer,
 * if any, is decoded into m (initialised here). True if there was one. */
static bool raw_ask(fixture *f, const p2p_buf *req, p2p_autonat_msg *m)
{
	raw r = {0};
	p2p_buf_init(&r.req);
	p2p_buf_init(&r.in);
	p2p_buf_append(&r.req, req->data, req->len);
	raw_open(f, &r);
	assert_true(uvt_run(&f->loop, &r.done, WAIT_MS));
	p2p_autonat_msg_init(m);
	bool answered = false;
	if (r.in.len > 0) {
		p2p_lpmsg_reader rd;
		p2p_lpmsg_reader_init(&rd, P2P_AUTONAT_MAX_MESSAGE);
		const uint8_t *body;
		size_t used, body_len;
		assert_int_equal(
		    p2p_lpmsg_read(&rd, r.in.data, r.in.len, &used, &body, &body_len), 0);
		assert_int_equal(p2p_autonat_msg_decode(m, body, body_len), 0);
		p2p_lpmsg_reader_free(&rd);
		answered = true;
	}
	p2p_buf_free(&r.req);
	p2p_buf_free(&r.in);
	return answered;
}

/* A DIAL from peer `who` for the one address `text`. */
static void dial_request(fixture *f, int who, const char *text, p2p_buf *out)
{
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_pubkey(&id, p2p_privkey_public(f->key[who])), 0);
	p2p_buf a;
	parse(text, &a);
	p2p_buf_init(out);
	assert_int_equal(p2p_autonat_dial_request_encode(out, &id, &a, 1), 0);
	p2p_buf_free(&a);
}

static void c_listen_addr(fixture *f, char *out, size_t len)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->c, addrs, 1), 1);
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(addrs[0]->data, addrs[0]->len, &t), 0);
	snprintf(out, len, "%s", (const char *)t.data);
	p2p_buf_free(&t);
}

/* --- tests --- */

/* c listens, s dials it back: PUBLIC at c's listen address, reached by a
 * new connection from an ephemeral port of s. The peerstore alone tells
 * c that s speaks AutoNAT (its identify callback says nothing here). */
static void test_public(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	serve(f, 0, 0);
	ask(f);
	connect_c_to_s(f);
	assert_int_equal(f->inbound, 0);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->state, P2P_AUTONAT_PUBLIC);
	assert_int_equal(f->last_status, P2P_AUTONAT_OK);
	const p2p_buf *listen[1];
	assert_int_equal(p2p_host_addrs(f->c, listen, 1), 1);
	assert_int_equal(f->addr.len, listen[0]->len);
	assert_memory_equal(f->addr.data, listen[0]->data, f->addr.len);

	const p2p_buf *addr = NULL;
	int confidence = -1;
	assert_int_equal(p2p_autonat_service_state(f->an_c, &addr, &confidence),
	                 P2P_AUTONAT_PUBLIC);
	assert_int_equal(confidence, 0);
	assert_int_equal(addr->len, listen[0]->len);

	/* The dial-back: an inbound connection, not from s's listening port. */
	assert_int_equal(f->inbound, 1);
	const p2p_buf *s_listen[1];
	assert_int_equal(p2p_host_addrs(f->s, s_listen, 1), 1);
	assert_int_not_equal(tcp_port(&f->inbound_addr), 0);
	assert_int_not_equal(tcp_port(&f->inbound_addr), tcp_port(s_listen[0]));

	const p2p_autonat_service_stats *ss = p2p_autonat_service_stats_get(f->an_s);
	const p2p_autonat_service_stats *cs = p2p_autonat_service_stats_get(f->an_c);
	assert_int_equal(ss->served, 1);
	assert_int_equal(ss->dialbacks_ok, 1);
	assert_int_equal(ss->refused, 0);
	assert_int_equal(cs->probes_sent, 1);
	assert_int_equal(cs->probes_answered, 1);
	assert_int_equal(cs->served, 0);

	/* s was asked: no second probe within P2P_AUTONAT_SERVER_RECENT_MS,
	 * however often the rounds come. */
	run_for(f, 5 * RETRY_MS);
	assert_int_equal(cs->probes_sent, 1);
	assert_int_equal(f->changes, 1);
}

/* c offers only a closed port: the dial-back fails at once, but the
 * answer comes only when the dial timeout is over; c is PRIVATE. Here
 * c's identify callback tells the service about s. */
static void test_private(void **state)
{
	fixture *f = *state;
	f->notify_identify = true;
	char text[64];
	snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", closed_port(f));
	p2p_buf a;
	parse(text, &a);
	assert_int_equal(p2p_host_set_announce_addrs(f->c, &a, 1), 0);
	serve(f, 0, 0);
	ask(f);
	connect_c_to_s(f);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->state, P2P_AUTONAT_PRIVATE);
	assert_int_equal(f->addr.len, 0);
	assert_int_equal(f->last_status, P2P_AUTONAT_E_DIAL_ERROR);
	assert_true(f->probe_at - f->t0 >= DIAL_TIMEOUT_MS);
	assert_int_equal(p2p_autonat_service_state(f->an_c, NULL, NULL),
	                 P2P_AUTONAT_PRIVATE);
	const p2p_autonat_service_stats *ss = p2p_autonat_service_stats_get(f->an_s);
	assert_int_equal(ss->dialbacks_failed, 1);
	assert_int_equal(ss->dialbacks_ok, 0);
	assert_int_equal(f->inbound, 0);
	p2p_buf_free(&a);
}

/* An extra address (a port mapping's, set by the application) is offered
 * in the DIAL: c announces only a closed port, the extra one is where it
 * listens, and s reaches c there. More than
 * P2P_AUTONAT_SERVICE_MAX_EXTRA are refused. */
static void test_extra_addrs(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	char text[64];
	snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", closed_port(f));
	p2p_buf a;
	parse(text, &a);
	assert_int_equal(p2p_host_set_announce_addrs(f->c, &a, 1), 0);
	const p2p_buf *listen[1];
	assert_int_equal(p2p_host_addrs(f->c, listen, 1), 1);
	p2p_buf extra[P2P_AUTONAT_SERVICE_MAX_EXTRA + 1];
	for (size_t i = 0; i <= P2P_AUTONAT_SERVICE_MAX_EXTRA; i++) {
		p2p_buf_init(&extra[i]);
		p2p_buf_append(&extra[i], listen[0]->data, listen[0]->len);
	}
	serve(f, 0, 0);
	ask(f);
	assert_int_equal(p2p_autonat_service_set_extra_addrs(
	                     f->an_c, extra, P2P_AUTONAT_SERVICE_MAX_EXTRA + 1),
	                 P2P_ELIMIT);
	assert_int_equal(p2p_autonat_service_set_extra_addrs(f->an_c, extra, 1), 0);
	connect_c_to_s(f);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->state, P2P_AUTONAT_PUBLIC);
	assert_int_equal(f->addr.len, listen[0]->len);
	assert_memory_equal(f->addr.data, listen[0]->data, f->addr.len);
	/* Cleared: nothing is left to free but the copies here. */
	assert_int_equal(p2p_autonat_service_set_extra_addrs(f->an_c, NULL, 0), 0);
	for (size_t i = 0; i <= P2P_AUTONAT_SERVICE_MAX_EXTRA; i++)
		p2p_buf_free(&extra[i]);
	p2p_buf_free(&a);
}

/* Requests s must not act on: another peer's ID, another IP, bytes that
 * are no message, a DIAL_RESPONSE. Nothing is dialed. */
static void test_refused(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	serve(f, 0, 0);
	connect_c_to_s(f);
	char mine[64];
	c_listen_addr(f, mine, sizeof(mine));

	p2p_autonat_msg m;
	p2p_buf req;
	dial_request(f, 2, mine, &req); /* the third peer's ID, c's address */
	assert_true(raw_ask(f, &req, &m));
	assert_int_equal(m.type, P2P_AUTONAT_DIAL_RESPONSE);
	assert_int_equal(m.status, P2P_AUTONAT_E_BAD_REQUEST);
	assert_string_equal((const char *)m.status_text.data, "peer id mismatch");
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&req);

	dial_request(f, 1, "/ip4/127.0.0.2/tcp/4001", &req); /* not c's IP */
	assert_true(raw_ask(f, &req, &m));
	assert_int_equal(m.status, P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal((const char *)m.status_text.data, "no dialable addresses");
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&req);

	/* A length over P2P_AUTONAT_MAX_MESSAGE. */
	p2p_buf_init(&req);
	assert_int_equal(p2p_buf_append_uvarint(&req, P2P_AUTONAT_MAX_MESSAGE + 1), 0);
	assert_int_equal(p2p_buf_append(&req, "xxxx", 4), 0);
	assert_false(raw_ask(f, &req, &m));
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&req);

	p2p_buf_init(&req);
	assert_int_equal(p2p_autonat_response_encode(&req, P2P_AUTONAT_OK, NULL, NULL, 0),
	                 0);
	assert_false(raw_ask(f, &req, &m));
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&req);

	const p2p_autonat_service_stats *ss = p2p_autonat_service_stats_get(f->an_s);
	assert_int_equal(ss->refused, 4);
	assert_int_equal(ss->served, 2);
	assert_int_equal(ss->dialbacks_ok + ss->dialbacks_failed, 0);
	assert_int_equal(f->inbound, 0);
}

/* One dial-back per peer and window: the second request is refused. */
static void test_throttle(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	serve(f, 1, 0);
	connect_c_to_s(f);
	char mine[64];
	c_listen_addr(f, mine, sizeof(mine));
	p2p_buf req;
	dial_request(f, 1, mine, &req);
	p2p_autonat_msg m;
	assert_true(raw_ask(f, &req, &m));
	assert_int_equal(m.status, P2P_AUTONAT_OK);
	p2p_buf want;
	parse(mine, &want);
	assert_int_equal(m.addr.len, want.len);
	assert_memory_equal(m.addr.data, want.data, want.len);
	p2p_autonat_msg_free(&m);

	assert_true(raw_ask(f, &req, &m));
	assert_int_equal(m.status, P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal((const char *)m.status_text.data, "too many dials");
	p2p_autonat_msg_free(&m);
	const p2p_autonat_service_stats *ss = p2p_autonat_service_stats_get(f->an_s);
	assert_int_equal(ss->dialbacks_ok, 1);
	assert_int_equal(ss->refused, 1);
	assert_int_equal(f->inbound, 1);
	p2p_buf_free(&req);
	p2p_buf_free(&want);
}

/* Streams that never send their DIAL: a peer gets
 * P2P_AUTONAT_SERVICE_MAX_PER_PEER of them, the next is reset at once,
 * and the stream timeout resets the others. */
static void test_limits(void **state)
{
	fixture *f = *state;
	serve(f, 0, 300);
	connect_c_to_s(f);
	raw r[P2P_AUTONAT_SERVICE_MAX_PER_PEER + 1];
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i <= P2P_AUTONAT_SERVICE_MAX_PER_PEER; i++) {
		p2p_buf_init(&r[i].req);
		p2p_buf_init(&r[i].in);
		raw_open(f, &r[i]);
	}
	size_t last = P2P_AUTONAT_SERVICE_MAX_PER_PEER;
	assert_true(uvt_run(&f->loop, &r[last].done, 1000));
	assert_true(r[last].reset);
	const p2p_autonat_service_stats *ss = p2p_autonat_service_stats_get(f->an_s);
	assert_int_equal(ss->refused, 1);
	assert_false(r[0].done);
	for (size_t i = 0; i < last; i++) {
		assert_true(uvt_run(&f->loop, &r[i].done, 2000));
		assert_true(r[i].reset);
	}
	assert_int_equal(ss->refused, 1 + last);
	assert_int_equal(ss->served, 0);
	for (size_t i = 0; i <= last; i++) {
		p2p_buf_free(&r[i].req);
		p2p_buf_free(&r[i].in);
	}
}

/* By default (go-libp2p's rule) a server does not dial back a requester
 * seen at a loopback IP: E_DIAL_REFUSED, which is no verdict; and a
 * client does not ask a server there, nor offer such addresses. */
static void test_private_ips(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	serve_opts(f, 0, 0, false);
	ask(f);
	connect_c_to_s(f);
	assert_true(wait_count(f, &f->probes, 1, WAIT_MS));
	assert_int_equal(f->last_status, P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal(f->last_text,
	                    "refusing to dial peer with blocked observed address");
	assert_int_equal(f->changes, 0);
	assert_int_equal(p2p_autonat_service_state(f->an_c, NULL, NULL),
	                 P2P_AUTONAT_UNKNOWN);
	assert_int_equal(p2p_autonat_service_stats_get(f->an_s)->refused, 1);
	assert_int_equal(f->inbound, 0);

	/* The same client with the default: nobody at 127.0.0.1 is asked. */
	p2p_host_close(f->c, on_c_closed, f);
	assert_true(uvt_run(&f->loop, &f->closed[1], 5000));
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	f->closed[1] = false;
	assert_int_equal(p2p_host_new(&f->c, &f->loop, f->key[1], &cfg), 0);
	assert_int_equal(p2p_identify_service_new(&f->id_c, f->c, on_identified, f), 0);
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	ask_opts(f, false);
	connect_c_to_s(f);
	run_for(f, BOOT_MS + 4 * RETRY_MS);
	assert_int_equal(p2p_autonat_service_stats_get(f->an_c)->probes_sent, 0);
	assert_int_equal(f->probes, 1);
}

/* A server without AutoNAT is never asked; the client stays UNKNOWN. */
static void test_no_server(void **state)
{
	fixture *f = *state;
	assert_int_equal(p2p_host_listen(f->c, "/ip4/127.0.0.1/tcp/0"), 0);
	f->notify_identify = true;
	ask(f);
	connect_c_to_s(f);
	run_for(f, BOOT_MS + 4 * RETRY_MS);
	const p2p_autonat_service_stats *cs = p2p_autonat_service_stats_get(f->an_c);
	assert_int_equal(cs->probes_sent, 0);
	assert_int_equal(f->probes, 0);
	assert_int_equal(p2p_autonat_service_state(f->an_c, NULL, NULL),
	                 P2P_AUTONAT_UNKNOWN);
}

/* The hosts close while s holds its answer back (the dial-back failed)
 * and c's probe waits: both services go cleanly. */
static void test_close_in_flight(void **state)
{
	fixture *f = *state;
	char text[64];
	snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", closed_port(f));
	p2p_buf a;
	parse(text, &a);
	assert_int_equal(p2p_host_set_announce_addrs(f->c, &a, 1), 0);
	p2p_buf_free(&a);
	serve(f, 0, 0);
	ask(f);
	connect_c_to_s(f);
	const p2p_autonat_service_stats *cs = p2p_autonat_service_stats_get(f->an_c);
	uint64_t end = uv_now(&f->loop) + WAIT_MS;
	while (cs->probes_sent == 0 && uv_now(&f->loop) < end)
		run_for(f, 10);
	assert_int_equal(cs->probes_sent, 1);
	run_for(f, 50);
	assert_int_equal(f->probes, 0);
	/* teardown closes the hosts now */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_public, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_extra_addrs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private_ips, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
