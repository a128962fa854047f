/* The host dials DNS multiaddrs: host B reaches host A at
 * /dns4/a.test/tcp/PORT/p2p/A and /dnsaddr/d.test/p2p/A, with the names
 * served by a DNS server inside this process on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/dnsserver.h"
#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"

typedef struct fixture {
	uv_loop_t loop;
	dnss srv;
	dnss_record table[4];
	char txt_a[256], txt_other[256];
	p2p_privkey *ka, *kb;
	p2p_host *a, *b;
	unsigned port; /* A's */
	bool a_closed, b_closed;
	/* the connect result */
	bool done;
	int err;
	p2p_peerid remote;
} fixture;

static void set_flag(void *user)
{
	*(bool *)user = true;
}

static void on_connect(p2p_conn *c, int err, void *user)
{
	fixture *f = user;
	f->err = err;
	if (c)
		f->remote = *p2p_conn_remote_peer(c);
	f->done = true;
}

static void fx_start(fixture *f)
{
	memset(f, 0, sizeof(*f));
	uv_loop_init(&f->loop);
	assert_int_equal(p2p_privkey_generate(&f->ka), 0);
	assert_int_equal(p2p_privkey_generate(&f->kb), 0);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log.level = P2P_LOG_ERROR;
	assert_int_equal(p2p_host_new(&f->a, &f->loop, f->ka, &cfg), 0);
	assert_int_equal(p2p_host_listen(f->a, "/ip4/127.0.0.1/tcp/0"), 0);
	const p2p_buf *la;
	assert_int_equal(p2p_host_addrs(f->a, &la, 1), 1);
	struct sockaddr_storage ss;
	socklen_t sl;
	assert_int_equal(p2p_multiaddr_to_sockaddr(la->data, la->len, &ss, &sl), 0);
	unsigned port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	f->port = port;

	/* a.test is A's address; d.test lists A (through a.test) and another
	 * peer, on the same port, which the /p2p/ suffix must leave out. */
	char id[P2P_PEERID_STR_MAX];
	assert_int_equal(p2p_peerid_to_string(p2p_host_peer_id(f->a), id, sizeof(id)), 0);
	snprintf(f->txt_a, sizeof(f->txt_a), "dnsaddr=/dns4/a.test/tcp/%u/p2p/%s", port,
	         id);
	snprintf(f->txt_other, sizeof(f->txt_other),
	         "dnsaddr=/ip4/127.0.0.1/tcp/%u/p2p/"
	         "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
	         port);
	f->table[0] = (dnss_record){"a.test", DNSS_A, "127.0.0.1"};
	f->table[1] = (dnss_record){"_dnsaddr.d.test", DNSS_TXT, f->txt_other};
	f->table[2] = (dnss_record){"_dnsaddr.d.test", DNSS_TXT, f->txt_a};
	assert_int_equal(dnss_start(&f->srv, &f->loop, f->table, 3), 0);

	cfg.dns_servers = f->srv.servers;
	assert_int_equal(p2p_host_new(&f->b, &f->loop, f->kb, &cfg), 0);
}

static void fx_stop(fixture *f)
{
	p2p_host_close(f->a, set_flag, &f->a_closed);
	p2p_host_close(f->b, set_flag, &f->b_closed);
	assert_true(uvt_run(&f->loop, &f->a_closed, 5000));
	assert_true(uvt_run(&f->loop, &f->b_closed, 5000));
	dnss_stop(&f->srv);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->ka);
	p2p_privkey_free(f->kb);
}

/* B connects to A through the text address (%s: A's peer ID). */
static int connect_via(fixture *f, const char *fmt)
{
	char id[P2P_PEERID_STR_MAX], text[512];
	p2p_peerid_to_string(p2p_host_peer_id(f->a), id, sizeof(id));
	snprintf(text, sizeof(text), fmt, id);
	p2p_buf addr;
	p2p_buf_init(&addr);
	assert_int_equal(p2p_multiaddr_parse(text, &addr), 0);
	f->done = false;
	int rc = p2p_host_connect(f->b, p2p_host_peer_id(f->a), &addr, 1, on_connect, f);
	p2p_buf_free(&addr);
	assert_int_equal(rc, 0);
	assert_true(uvt_run(&f->loop, &f->done, 10000));
	return f->err;
}

static void test_dial_dns4(void **state)
{
	fixture f;
	fx_start(&f);
	char fmt[128];
	snprintf(fmt, sizeof(fmt), "/dns4/a.test/tcp/%u/p2p/%%s", f.port);
	assert_int_equal(connect_via(&f, fmt), 0);
	assert_true(p2p_peerid_equal(&f.remote, p2p_host_peer_id(f.a)));
	assert_true(f.srv.queries >= 1);
	fx_stop(&f);
}

static void test_dial_dnsaddr(void **state)
{
	fixture f;
	fx_start(&f);
	assert_int_equal(connect_via(&f, "/dnsaddr/d.test/p2p/%s"), 0);
	assert_true(p2p_peerid_equal(&f.remote, p2p_host_peer_id(f.a)));
	/* The TXT question, then a.test. */
	assert_true(f.srv.queries >= 2);
	fx_stop(&f);
}

static void test_dial_nxdomain(void **state)
{
	fixture f;
	fx_start(&f);
	assert_int_equal(connect_via(&f, "/dns4/nx.test/tcp/1/p2p/%s"), P2P_ENOTFOUND);
	assert_null(p2p_host_conn(f.b, p2p_host_peer_id(f.a)));
	fx_stop(&f);
}

static void test_close_while_resolving(void **state)
{
	fixture f;
	fx_start(&f);
	f.srv.mute = true;
	p2p_buf addr;
	p2p_buf_init(&addr);
	assert_int_equal(p2p_multiaddr_parse("/dns4/a.test/tcp/1", &addr), 0);
	assert_int_equal(
	    p2p_host_connect(f.b, p2p_host_peer_id(f.a), &addr, 1, on_connect, &f), 0);
	p2p_buf_free(&addr);
	for (int i = 0; i < 20 && f.srv.queries == 0; i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	assert_true(f.srv.queries > 0);
	assert_false(f.done);
	p2p_host_close(f.b, set_flag, &f.b_closed);
	assert_true(uvt_run(&f.loop, &f.b_closed, 5000));
	assert_true(f.done);
	assert_int_equal(f.err, P2P_ECLOSED);
	p2p_host_close(f.a, set_flag, &f.a_closed);
	assert_true(uvt_run(&f.loop, &f.a_closed, 5000));
	dnss_stop(&f.srv);
	assert_true(uvt_drain(&f.loop));
	assert_int_equal(uv_loop_close(&f.loop), 0);
	p2p_privkey_free(f.ka);
	p2p_privkey_free(f.kb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dial_dns4),
	    cmocka_unit_test(test_dial_dnsaddr),
	    cmocka_unit_test(test_dial_nxdomain),
	    cmocka_unit_test(test_close_while_resolving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
