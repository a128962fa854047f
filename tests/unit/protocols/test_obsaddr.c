/* Observed addresses (obsaddr.h): confirmation by distinct IPs, expiry,
 * ranking, what is refused, and the table's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/obsaddr.h"

static p2p_buf ma(const char *text)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_multiaddr_parse(text, &b), P2P_OK);
	return b;
}

static int record(p2p_obsaddr *t, const char *addr, const char *observer, uint64_t now)
{
	p2p_buf a = ma(addr), o = ma(observer);
	int rc = p2p_obsaddr_record(t, a.data, a.len, o.data, o.len, now);
	p2p_buf_free(&a);
	p2p_buf_free(&o);
	return rc;
}

static size_t count(const p2p_obsaddr *t, const char *addr, uint64_t now)
{
	p2p_buf a = ma(addr);
	size_t n = p2p_obsaddr_count(t, a.data, a.len, now);
	p2p_buf_free(&a);
	return n;
}

static void assert_addr(const p2p_buf *b, const char *text)
{
	p2p_buf s;
	p2p_buf_init(&s);
	assert_int_equal(p2p_multiaddr_to_string(b->data, b->len, &s), P2P_OK);
	assert_int_equal(s.len, strlen(text));
	assert_memory_equal(s.data, text, s.len);
	p2p_buf_free(&s);
}

static void confirmed_by_two_ips(void **state)
{
	(void)state;
	p2p_obsaddr t;
	p2p_obsaddr_init(&t);
	const char *us = "/ip4/198.18.0.10/tcp/4001";
	assert_int_equal(record(&t, us, "/ip4/198.18.0.1/tcp/4001", 1000), P2P_OK);
	/* The same IP again, on another port: still one observer. */
	assert_int_equal(record(&t, us, "/ip4/198.18.0.1/tcp/5000", 2000), P2P_OK);
	assert_int_equal(count(&t, us, 2000), 1);

	p2p_buf out[4];
	for (size_t i = 0; i < 4; i++)
		p2p_buf_init(&out[i]);
	assert_int_equal(p2p_obsaddr_list(&t, 2000, P2P_OBSADDR_CONFIRMED, out, 4), 0);
	assert_int_equal(p2p_obsaddr_list(&t, 2000, 1, out, 4), 1);
	assert_addr(&out[0], us);

	/* A second IP confirms it; a trailing /p2p/ is not part of it. */
	assert_int_equal(record(&t,
	                        "/ip4/198.18.0.10/tcp/4001/p2p/"
	                        "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
	                        "/ip4/198.18.0.2/tcp/4001", 3000),
	                 P2P_OK);
	assert_int_equal(count(&t, us, 3000), 2);
	assert_int_equal(p2p_obsaddr_list(&t, 3000, P2P_OBSADDR_CONFIRMED, out, 4), 1);
	assert_addr(&out[0], us);
	for (size_t i = 0; i < 4; i++)
		p2p_buf_free(&out[i]);
}

static void expires_and_ranks(void **state)
{
	(void)state;
	p2p_obsaddr t;
	p2p_obsaddr_init(&t);
	const char *a = "/ip4/10.0.0.1/tcp/1000", *b = "/ip6/2001:db8::1/tcp/2000";
	record(&t, a, "/ip4/10.0.0.2/tcp/1", 0);
	record(&t, b, "/ip4/10.0.0.3/tcp/1", 10);
	record(&t, b, "/ip6/2001:db8:1::9/tcp/1", 20);
	p2p_buf out[4];
	for (size_t i = 0; i < 4; i++)
		p2p_buf_init(&out[i]);
	/* b has two observers: first. */
	assert_int_equal(p2p_obsaddr_list(&t, 100, 1, out, 4), 2);
	assert_addr(&out[0], b);
	assert_addr(&out[1], a);
	/* max bounds the copies, not the count. */
	assert_int_equal(p2p_obsaddr_list(&t, 100, 1, out, 1), 2);

	/* a's only observation expires; b's first one too, its second not. */
	uint64_t later = P2P_OBSADDR_TTL_MS + 15;
	assert_int_equal(count(&t, a, later), 0);
	assert_int_equal(count(&t, b, later), 1);
	assert_int_equal(p2p_obsaddr_list(&t, later, 1, out, 4), 1);
	assert_addr(&out[0], b);
	assert_int_equal(t.n, 1);
	for (size_t i = 0; i < 4; i++)
		p2p_buf_free(&out[i]);
}

static void refuses_what_cannot_be_dialed(void **state)
{
	(void)state;
	p2p_obsaddr t;
	p2p_obsaddr_init(&t);
	const char *obs = "/ip4/10.0.0.2/tcp/1";
	assert_int_equal(record(&t, "/ip4/0.0.0.0/tcp/4001", obs, 0), P2P_EINVAL);
	assert_int_equal(record(&t, "/ip4/1.2.3.4/tcp/0", obs, 0), P2P_EINVAL);
	assert_int_equal(record(&t, "/ip4/1.2.3.4/udp/4001/quic-v1", obs, 0), P2P_EINVAL);
	assert_int_equal(record(&t, "/dns4/example.com/tcp/4001", obs, 0), P2P_EINVAL);
	assert_int_equal(
	    record(&t,
	           "/ip4/1.2.3.4/tcp/4001/p2p/"
	           "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
	           obs, 0),
	    P2P_EINVAL);
	/* An observer without an IP (a circuit) cannot vouch for anything. */
	assert_int_equal(
	    record(&t, "/ip4/1.2.3.4/tcp/4001",
	           "/ip4/1.2.3.4/tcp/1/p2p/"
	           "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
	           0),
	    P2P_EINVAL);
	assert_int_equal(p2p_obsaddr_record(&t, NULL, 0, NULL, 0, 0), P2P_EINVAL);
	assert_int_equal(t.n, 0);
	/* Private and loopback ranges are kept on purpose. */
	assert_int_equal(record(&t, "/ip4/192.168.1.5/tcp/4001", obs, 0), P2P_OK);
	assert_int_equal(record(&t, "/ip4/127.0.0.1/tcp/4001", obs, 0), P2P_OK);
	assert_int_equal(t.n, 2);
}

static void bounded(void **state)
{
	(void)state;
	p2p_obsaddr t;
	p2p_obsaddr_init(&t);
	char addr[64], obs[64];
	/* A well-observed address survives a flood of one-off ones. */
	for (int i = 0; i < 3; i++) {
		snprintf(obs, sizeof obs, "/ip4/10.1.0.%d/tcp/1", i + 1);
		record(&t, "/ip4/203.0.113.7/tcp/4001", obs, 5);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(addr, sizeof addr, "/ip4/203.0.113.8/tcp/%d", 1000 + i);
		snprintf(obs, sizeof obs, "/ip4/10.2.%d.%d/tcp/1", i / 250, i % 250 + 1);
		assert_int_equal(record(&t, addr, obs, 10 + (uint64_t)i), P2P_OK);
	}
	assert_int_equal(t.n, P2P_OBSADDR_MAX_ADDRS);
	assert_int_equal(count(&t, "/ip4/203.0.113.7/tcp/4001", 300), 3);
	/* Observers per address are bounded too. */
	for (int i = 0; i < 50; i++) {
		snprintf(obs, sizeof obs, "/ip4/10.3.0.%d/tcp/1", i + 1);
		record(&t, "/ip4/203.0.113.7/tcp/4001", obs, 400 + (uint64_t)i);
	}
	assert_int_equal(count(&t, "/ip4/203.0.113.7/tcp/4001", 500),
	                 P2P_OBSADDR_MAX_OBSERVERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(confirmed_by_two_ips),
	    cmocka_unit_test(expires_and_ranks),
	    cmocka_unit_test(refuses_what_cannot_be_dialed),
	    cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
