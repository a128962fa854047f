/* The resource manager alone (p2p/rcmgr.h): scopes from addresses, each
 * limit and its refusal counter, eviction choice, the stream floor,
 * protection, and tables that grow and empty. No loop, no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/rcmgr.h"

static const uint8_t seed[P2P_RCMGR_SEED_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                 9, 10, 11, 12, 13, 14, 15, 16};

static p2p_rcmgr_ip ip_of(const char *text)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), 0);
	p2p_rcmgr_ip ip;
	p2p_rcmgr_ip_from_addr(bin.data, bin.len, &ip);
	p2p_buf_free(&bin);
	return ip;
}

static p2p_peerid peer_n(int n)
{
	p2p_peerid id = {.len = 34};
	id.bytes[0] = 0x12;
	id.bytes[1] = 0x20;
	memcpy(id.bytes + 2, &n, sizeof(n));
	return id;
}

static p2p_rcmgr_limits roomy(void)
{
	return (p2p_rcmgr_limits){
	    .pending = UINT32_MAX,
	    .pending_per_ip = UINT32_MAX,
	    .conns = UINT32_MAX,
	    .conns_per_ip = UINT32_MAX,
	    .conns_per_peer = UINT32_MAX,
	    .streams = UINT32_MAX,
	    .streams_per_ip = UINT32_MAX,
	    .streams_per_peer = UINT32_MAX,
	};
}

static void test_ip_scopes(void **state)
{
	p2p_rcmgr_ip a = ip_of("/ip4/192.0.2.7/tcp/4001");
	assert_int_equal(a.len, 4);
	assert_false(a.loopback);
	assert_memory_equal(a.bytes, ((uint8_t[]){192, 0, 2, 7}), 4);
	/* Each loopback address is an IP of its own. */
	p2p_rcmgr_ip l2 = ip_of("/ip4/127.0.0.2/tcp/1"),
	             l3 = ip_of("/ip4/127.0.0.3/tcp/1");
	assert_true(l2.loopback);
	assert_false(p2p_rcmgr_ip_equal(&l2, &l3));
	/* IPv6: the /64. */
	p2p_rcmgr_ip x = ip_of("/ip6/2001:db8:1:2::1/tcp/1");
	p2p_rcmgr_ip y = ip_of("/ip6/2001:db8:1:2:ffff::9/tcp/1");
	p2p_rcmgr_ip z = ip_of("/ip6/2001:db8:1:3::1/tcp/1");
	assert_int_equal(x.len, P2P_RCMGR_IP6_PREFIX);
	assert_true(p2p_rcmgr_ip_equal(&x, &y));
	assert_false(p2p_rcmgr_ip_equal(&x, &z));
	assert_true(ip_of("/ip6/::1/tcp/1").loopback);
	/* IPv4-mapped IPv6 is the IPv4 address. */
	p2p_rcmgr_ip m = ip_of("/ip6/::ffff:192.0.2.7/tcp/1");
	assert_true(p2p_rcmgr_ip_equal(&m, &a));
	/* Relayed: no IP scope (the address is the relay's). */
	p2p_rcmgr_ip r = ip_of("/ip4/192.0.2.7/tcp/4001/p2p/"
	                       "12D3KooWFKjKdXbk2cHGEDQ13iqnfmPC2gXWwfvPYnxTaN77jPop/"
	                       "p2p-circuit");
	assert_int_equal(r.len, 0);
	assert_int_equal(ip_of("/dns4/example.com/tcp/1").len, 0);
}

static void test_pending(void **state)
{
	p2p_rcmgr_limits l = roomy();
	l.pending = 6;
	l.pending_per_ip = 4;
	p2p_rcmgr *rc;
	assert_int_equal(p2p_rcmgr_new(&rc, &l, seed), 0);
	p2p_rcmgr_ip a = ip_of("/ip4/127.0.0.2/tcp/1"), b = ip_of("/ip4/127.0.0.3/tcp/1");
	for (int i = 0; i < 4; i++)
		assert_int_equal(p2p_rcmgr_reserve_pending(rc, &a), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &a), P2P_RCMGR_PENDING_IP);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &b), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, NULL), P2P_RCMGR_OK);
	/* Full: b (1) may evict from a (4), a itself may not. */
	assert_int_equal(p2p_rcmgr_can_pending(rc, &b), P2P_RCMGR_PENDING_SYSTEM);
	p2p_rcmgr_ip v;
	assert_true(p2p_rcmgr_pending_victim(rc, &b, &v));
	assert_true(p2p_rcmgr_ip_equal(&v, &a));
	assert_false(p2p_rcmgr_pending_victim(rc, &a, &v));
	p2p_rcmgr_release_pending(rc, &a);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &b), P2P_RCMGR_OK);
	/* a 3, b 2: one apart, nobody evicts. */
	assert_false(p2p_rcmgr_pending_victim(rc, &b, &v));
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &b), P2P_RCMGR_PENDING_SYSTEM);
	p2p_rcmgr_stats st;
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.pending, 6);
	assert_int_equal(st.ips, 2);
	assert_int_equal(st.count[P2P_RCMGR_PENDING_IP], 1);
	assert_int_equal(st.count[P2P_RCMGR_PENDING_SYSTEM], 1);
	for (int i = 0; i < 3; i++)
		p2p_rcmgr_release_pending(rc, &a);
	for (int i = 0; i < 2; i++)
		p2p_rcmgr_release_pending(rc, &b);
	p2p_rcmgr_release_pending(rc, NULL);
	/* Releasing more than was taken saturates. */
	p2p_rcmgr_release_pending(rc, &a);
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.ips, 0);
	p2p_rcmgr_free(rc);
}

static void test_loopback_exempt(void **state)
{
	p2p_rcmgr_limits l = roomy();
	l.pending_per_ip = 1;
	l.exempt_loopback = true;
	p2p_rcmgr *rc;
	assert_int_equal(p2p_rcmgr_new(&rc, &l, seed), 0);
	p2p_rcmgr_ip lo = ip_of("/ip4/127.0.0.2/tcp/1"),
	             far = ip_of("/ip4/192.0.2.1/tcp/1");
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &lo), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &lo), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &far), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_pending(rc, &far), P2P_RCMGR_PENDING_IP);
	p2p_rcmgr_free(rc);
}

static void test_conns(void **state)
{
	p2p_rcmgr_limits l = roomy();
	l.conns = 5;
	l.conns_per_ip = 3;
	l.conns_per_peer = 2;
	p2p_rcmgr *rc;
	assert_int_equal(p2p_rcmgr_new(&rc, &l, seed), 0);
	p2p_rcmgr_ip a = ip_of("/ip4/192.0.2.1/tcp/1");
	p2p_peerid p1 = peer_n(1), p2 = peer_n(2), p3 = peer_n(3);
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p1), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p1), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p1), P2P_RCMGR_CONNS_PEER);
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p2), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p3), P2P_RCMGR_CONNS_IP);
	/* A protected peer is exempt from the IP's share. */
	assert_int_equal(p2p_rcmgr_protect(rc, &p3, true), 0);
	assert_true(p2p_rcmgr_is_protected(rc, &p3));
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, &a, &p3), P2P_RCMGR_OK);
	/* Outbound (no IP scope) only meets the system's. */
	assert_int_equal(p2p_rcmgr_reserve_conn(rc, NULL, &p2), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_can_conn(rc, NULL, &p3), P2P_RCMGR_CONNS_SYSTEM);
	p2p_rcmgr_stats st;
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.conns, 5);
	assert_int_equal(st.count[P2P_RCMGR_CONNS_PEER], 1);
	assert_int_equal(st.count[P2P_RCMGR_CONNS_IP], 1);
	assert_int_equal(st.count[P2P_RCMGR_CONNS_SYSTEM], 0); /* can_ counts nothing */
	p2p_rcmgr_release_conn(rc, &a, &p1);
	p2p_rcmgr_release_conn(rc, &a, &p1);
	p2p_rcmgr_release_conn(rc, &a, &p2);
	p2p_rcmgr_release_conn(rc, &a, &p3);
	p2p_rcmgr_release_conn(rc, NULL, &p2);
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.ips, 0);
	assert_int_equal(st.peers, 1); /* p3, protected */
	assert_int_equal(p2p_rcmgr_protect(rc, &p3, false), 0);
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.peers, 0);
	p2p_rcmgr_free(rc);
}

static void test_streams_floor(void **state)
{
	p2p_rcmgr_limits l = roomy();
	l.streams = 10;
	l.streams_per_ip = 8;
	l.streams_per_peer = 6;
	l.streams_floor_per_peer = 2;
	p2p_rcmgr *rc;
	assert_int_equal(p2p_rcmgr_new(&rc, &l, seed), 0);
	p2p_rcmgr_ip a = ip_of("/ip4/192.0.2.1/tcp/1"), b = ip_of("/ip4/192.0.2.2/tcp/1");
	p2p_peerid p1 = peer_n(1), p2 = peer_n(2), p3 = peer_n(3), p4 = peer_n(4);
	for (int i = 0; i < 6; i++)
		assert_int_equal(p2p_rcmgr_reserve_stream(rc, &a, &p1), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &a, &p1), P2P_RCMGR_STREAMS_PEER);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &a, &p2), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &a, &p2), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &a, &p2), P2P_RCMGR_STREAMS_IP);
	/* Ours (added unchecked) fill the system... */
	p2p_rcmgr_add_streams(rc, NULL, &p4, 2);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &b, &p4), P2P_RCMGR_STREAMS_SYSTEM);
	/* ...but a peer that has fewer than the floor still gets in. */
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &b, &p3), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &b, &p3), P2P_RCMGR_OK);
	assert_int_equal(p2p_rcmgr_reserve_stream(rc, &b, &p3), P2P_RCMGR_STREAMS_SYSTEM);
	p2p_rcmgr_stats st;
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.streams, 12);
	assert_int_equal(st.count[P2P_RCMGR_STREAMS_SYSTEM], 2);
	p2p_rcmgr_release_streams(rc, &a, &p1, 6);
	p2p_rcmgr_release_streams(rc, &a, &p2, 2);
	p2p_rcmgr_release_streams(rc, &b, &p3, 2);
	p2p_rcmgr_release_streams(rc, NULL, &p4, 2);
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.streams, 0);
	assert_int_equal(st.ips + st.peers, 0);
	p2p_rcmgr_free(rc);
}

/* Thousands of scopes: the tables grow, find each again, and empty. */
static void test_many_scopes(void **state)
{
	p2p_rcmgr *rc;
	p2p_rcmgr_limits l = roomy();
	l.conns_per_ip = 1;
	assert_int_equal(p2p_rcmgr_new(&rc, &l, seed), 0);
	enum { N = 5000 };
	char text[64];
	for (int i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "/ip4/10.%d.%d.1/tcp/1", i / 256, i % 256);
		p2p_rcmgr_ip ip = ip_of(text);
		p2p_peerid p = peer_n(i);
		assert_int_equal(p2p_rcmgr_reserve_conn(rc, &ip, &p), P2P_RCMGR_OK);
	}
	p2p_rcmgr_stats st;
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.ips, N);
	assert_int_equal(st.peers, N);
	for (int i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "/ip4/10.%d.%d.1/tcp/1", i / 256, i % 256);
		p2p_rcmgr_ip ip = ip_of(text);
		p2p_peerid p = peer_n(i + N);
		assert_int_equal(p2p_rcmgr_can_conn(rc, &ip, &p), P2P_RCMGR_CONNS_IP);
		p = peer_n(i);
		p2p_rcmgr_release_conn(rc, &ip, &p);
	}
	p2p_rcmgr_stats_get(rc, &st);
	assert_int_equal(st.ips + st.peers + st.conns, 0);
	p2p_rcmgr_free(rc);
}

static void test_names(void **state)
{
	assert_string_equal(p2p_rcmgr_reason_name(P2P_RCMGR_OK), "ok");
	assert_string_equal(p2p_rcmgr_reason_name(P2P_RCMGR_PENDING_IP), "pending-ip");
	assert_string_equal(p2p_rcmgr_reason_name(P2P_RCMGR_TRIMMED), "trimmed");
	assert_string_equal(p2p_rcmgr_reason_name(P2P_RCMGR_N_REASONS), "?");
	for (int r = 0; r < P2P_RCMGR_N_REASONS; r++)
		assert_non_null(p2p_rcmgr_reason_name((p2p_rcmgr_reason)r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip_scopes),       cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_loopback_exempt), cmocka_unit_test(test_conns),
	    cmocka_unit_test(test_streams_floor),   cmocka_unit_test(test_many_scopes),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
