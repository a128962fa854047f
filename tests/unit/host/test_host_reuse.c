/* Port reuse on a host (host.h, no_reuse_port): its TCP dials leave from
 * its listening port, so the peer sees (and identify would report) the
 * port it can dial back. Hosts on loopback; every test ends with every
 * host closed and the loop empty, so ASan sees any leak. */
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include "p2p/multiaddr.h"
#include "p2p/transport.h"

#define N_HOSTS 3

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *keys[N_HOSTS];
	p2p_host *hosts[N_HOSTS];
	bool closed[N_HOSTS];
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void set_flag(void *user)
{
	*(bool *)user = true;
}

/* Host i, listening on 127.0.0.1:0. */
static p2p_host *host_new(fixture *f, int i, bool no_reuse_port)
{
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	assert_false(cfg.no_reuse_port); /* reuse is the default */
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	cfg.dial_timeout_ms = 2000;
	cfg.no_reuse_port = no_reuse_port;
	assert_int_equal(p2p_privkey_generate(&f->keys[i]), 0);
	assert_int_equal(p2p_host_new(&f->hosts[i], &f->loop, f->keys[i], &cfg), 0);
	assert_int_equal(p2p_host_listen(f->hosts[i], "/ip4/127.0.0.1/tcp/0"), 0);
	return f->hosts[i];
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	uv_loop_init(&f->loop);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	for (int i = 0; i < N_HOSTS; i++)
		if (f->hosts[i])
			p2p_host_close(f->hosts[i], set_flag, &f->closed[i]);
	for (int i = 0; i < N_HOSTS; i++)
		if (f->hosts[i])
			assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < N_HOSTS; i++)
		p2p_privkey_free(f->keys[i]);
	free(f);
	return 0;
}

static uint16_t addr_port(const p2p_buf *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(p2p_multiaddr_to_sockaddr(addr->data, addr->len, &ss, &len), 0);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static uint16_t listen_port(p2p_host *h)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(h, addrs, 1), 1);
	return addr_port(addrs[0]);
}

typedef struct connect_result {
	bool done;
	int err;
	p2p_conn *conn;
} connect_result;

static void on_connect(p2p_conn *c, int err, void *user)
{
	connect_result *r = user;
	r->done = true;
	r->err = err;
	r->conn = c;
}

/* from connects to `to` at its listening address; returns the connection
 * as `to` holds it, once its handshake is done there too. */
static p2p_conn *connect_to(fixture *f, p2p_host *from, p2p_host *to)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(to, addrs, 1), 1);
	connect_result r = {0};
	assert_int_equal(
	    p2p_host_connect(from, p2p_host_peer_id(to), addrs[0], 1, on_connect, &r), 0);
	assert_true(uvt_run(&f->loop, &r.done, 5000));
	assert_int_equal(r.err, 0);
	const p2p_peerid *id = p2p_host_peer_id(from);
	for (int i = 0; i < 250 && p2p_host_conn(to, id) == NULL; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	p2p_conn *c = p2p_host_conn(to, id);
	assert_non_null(c);
	return c;
}

/* a dials b: b sees a's listening port as the remote one. */
static void test_dial_from_listen_port(void **state)
{
	fixture *f = *state;
	p2p_host *a = host_new(f, 0, false), *b = host_new(f, 1, false);
	p2p_conn *on_b = connect_to(f, a, b);
	assert_int_equal(addr_port(p2p_conn_remote_addr(on_b)), listen_port(a));
	p2p_conn *on_a = p2p_host_conn(a, p2p_host_peer_id(b));
	assert_int_equal(addr_port(p2p_conn_local_addr(on_a)), listen_port(a));
	assert_int_equal(addr_port(p2p_conn_remote_addr(on_a)), listen_port(b));
}

/* One port to two peers: two 4-tuples, both from a's port. */
static void test_two_peers(void **state)
{
	fixture *f = *state;
	p2p_host *a = host_new(f, 0, false), *b = host_new(f, 1, false),
	         *c = host_new(f, 2, false);
	p2p_conn *on_b = connect_to(f, a, b);
	p2p_conn *on_c = connect_to(f, a, c);
	assert_int_equal(addr_port(p2p_conn_remote_addr(on_b)), listen_port(a));
	assert_int_equal(addr_port(p2p_conn_remote_addr(on_c)), listen_port(a));
}

/* no_reuse_port: an ephemeral port, as before port reuse. */
static void test_no_reuse_port(void **state)
{
	fixture *f = *state;
	p2p_host *a = host_new(f, 0, true), *b = host_new(f, 1, false);
	p2p_conn *on_b = connect_to(f, a, b);
	assert_int_not_equal(addr_port(p2p_conn_remote_addr(on_b)), listen_port(a));
}

/* Disconnect and connect again at once: the old connection's 4-tuple may
 * still be in TIME_WAIT on a's side; the new one connects regardless. */
static void test_reconnect(void **state)
{
	fixture *f = *state;
	p2p_host *a = host_new(f, 0, false), *b = host_new(f, 1, false);
	connect_to(f, a, b);
	p2p_host_disconnect(a, p2p_host_peer_id(b));
	const p2p_peerid *id = p2p_host_peer_id(a);
	for (int i = 0; i < 250 && p2p_host_conn(b, id) != NULL; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_null(p2p_host_conn(b, id));
	p2p_conn *on_b = connect_to(f, a, b);
	(void)on_b;
}

/* a's dials follow its listener of the destination's family: a host that
 * listens only on IPv6 dials IPv4 from an ephemeral port. */
static void test_family(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	assert_int_equal(p2p_privkey_generate(&f->keys[0]), 0);
	assert_int_equal(p2p_host_new(&f->hosts[0], &f->loop, f->keys[0], &cfg), 0);
	p2p_host *a = f->hosts[0], *b = host_new(f, 1, false);
	if (p2p_host_listen(a, "/ip6/::1/tcp/0") != 0)
		skip(); /* no IPv6 here */
	p2p_conn *on_b = connect_to(f, a, b);
	assert_int_not_equal(addr_port(p2p_conn_remote_addr(on_b)), listen_port(a));
}

/* --- p2p_host_expect_inbound --- */

typedef struct punch_dial {
	p2p_host *h;
	const p2p_peerid *expected;
	connect_result r;
} punch_dial;

static void punch_dialed(p2p_pipe *pipe, int err, void *user)
{
	punch_dial *pd = user;
	assert_int_equal(err, 0);
	/* DCUtR's responder: the handshake's responder, though it dialed. */
	p2p_host_pipe_opts o = {
	    .initiator = false, .direction = P2P_DIR_OUTBOUND, .expected = pd->expected};
	assert_int_equal(p2p_host_upgrade_pipe(pd->h, pipe, &o, on_connect, &pd->r), 0);
}

/* b dials a's listener from its own listening port, as the handshake's
 * responder; a, told to expect b's address, takes the initiator's role
 * on that accepted connection and the handshake succeeds. Without the
 * expectation both would be responders and it fails. */
static void expect_case(fixture *f, bool expect)
{
	p2p_host *a = host_new(f, 0, false), *b = host_new(f, 1, false);
	char text[64];
	snprintf(text, sizeof text, "/ip4/127.0.0.1/tcp/%u", (unsigned)listen_port(b));
	p2p_buf baddr;
	p2p_buf_init(&baddr);
	assert_int_equal(p2p_multiaddr_parse(text, &baddr), 0);
	if (expect)
		assert_int_equal(
		    p2p_host_expect_inbound(a, baddr.data, baddr.len, true, 5000), 0);
	p2p_buf_free(&baddr);

	const p2p_buf *aaddr[1];
	assert_int_equal(p2p_host_addrs(a, aaddr, 1), 1);
	punch_dial pd = {.h = b, .expected = p2p_host_peer_id(a)};
	p2p_tcp_dial_opts o = {.local_port = listen_port(b), .no_fallback = true};
	assert_int_equal(p2p_tcp_dial_ex(NULL, &f->loop, aaddr[0]->data, aaddr[0]->len,
	                                 2000, &o, punch_dialed, &pd),
	                 0);
	assert_true(uvt_run(&f->loop, &pd.r.done, 20000));
	if (!expect) {
		assert_true(pd.r.err < 0);
		return;
	}
	assert_int_equal(pd.r.err, 0);
	p2p_conn *c = NULL;
	for (int i = 0; i < 250 && c == NULL; i++) {
		c = p2p_host_conn(a, p2p_host_peer_id(b));
		if (c == NULL)
			uvt_run(&f->loop, &(bool){false}, 20);
	}
	assert_non_null(c);
	assert_int_equal(p2p_conn_direction(c), P2P_DIR_INBOUND);
}

static void test_expect_inbound(void **state)
{
	expect_case(*state, true);
}

static void test_unexpected_roles_clash(void **state)
{
	expect_case(*state, false);
}

static void test_expect_errors(void **state)
{
	fixture *f = *state;
	p2p_host *a = host_new(f, 0, false);
	p2p_buf addr;
	p2p_buf_init(&addr);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/9", &addr), 0);
	for (int i = 0; i < P2P_HOST_MAX_EXPECTED; i++)
		assert_int_equal(
		    p2p_host_expect_inbound(a, addr.data, addr.len, true, 60000), 0);
	assert_int_equal(p2p_host_expect_inbound(a, addr.data, addr.len, true, 60000),
	                 P2P_ELIMIT);
	assert_int_equal(p2p_host_expect_inbound(a, (const uint8_t *)"\xff", 1, true, 1),
	                 P2P_EINVAL);
	p2p_buf_free(&addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dial_from_listen_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_peers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_reuse_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_family, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_inbound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unexpected_roles_clash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
