/* The peerstore: addresses (dedup, order, /p2p/ stripping, bounds), keys,
 * protocols, agent, eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/peerstore.h"

static void make_peer(p2p_peerid *id, p2p_privkey **key)
{
	assert_int_equal(p2p_privkey_generate(key), 0);
	assert_int_equal(p2p_peerid_from_pubkey(id, p2p_privkey_public(*key)), 0);
}

static void add(p2p_peerstore *ps, const p2p_peerid *id, const char *text,
                p2p_addr_source src)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), 0);
	assert_int_equal(p2p_peerstore_add_addr(ps, id, bin.data, bin.len, src), 0);
	p2p_buf_free(&bin);
}

static void assert_addr(const p2p_buf *b, const char *text)
{
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(b->data, b->len, &t), 0);
	assert_string_equal((const char *)t.data, text);
	p2p_buf_free(&t);
}

static void test_addrs(void **state)
{
	p2p_peerstore *ps;
	assert_int_equal(p2p_peerstore_new(&ps), 0);
	p2p_privkey *k;
	p2p_peerid id;
	make_peer(&id, &k);
	char with_id[256], id_text[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(&id, id_text, sizeof(id_text));
	snprintf(with_id, sizeof(with_id), "/ip4/127.0.0.1/tcp/4001/p2p/%s", id_text);

	add(ps, &id, with_id, P2P_ADDR_MANUAL);
	add(ps, &id, "/ip6/::1/tcp/4002", P2P_ADDR_IDENTIFY);
	add(ps, &id, "/ip4/127.0.0.1/tcp/4001",
	    P2P_ADDR_CONNECTION); /* known: moves up */
	const p2p_buf *out[4];
	p2p_addr_source src[4];
	assert_int_equal(p2p_peerstore_addrs(ps, &id, out, src, 4), 2);
	assert_addr(out[0], "/ip4/127.0.0.1/tcp/4001");
	assert_int_equal(src[0], P2P_ADDR_CONNECTION);
	assert_addr(out[1], "/ip6/::1/tcp/4002");

	/* Bounded: the oldest goes. */
	for (int i = 0; i < P2P_PEERSTORE_MAX_ADDRS + 3; i++) {
		char text[64];
		snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/%d", 5000 + i);
		add(ps, &id, text, P2P_ADDR_IDENTIFY);
	}
	assert_int_equal(p2p_peerstore_addrs(ps, &id, out, NULL, 1),
	                 P2P_PEERSTORE_MAX_ADDRS);
	p2p_peerstore_clear_addrs(ps, &id, P2P_ADDR_IDENTIFY);
	assert_int_equal(p2p_peerstore_addrs(ps, &id, out, NULL, 4), 0);

	/* Garbage is refused. */
	static const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_true(p2p_peerstore_add_addr(ps, &id, junk, sizeof(junk), P2P_ADDR_MANUAL) <
	            0);
	p2p_peerstore_free(ps);
	p2p_privkey_free(k);
}

static void test_key_protocols_agent(void **state)
{
	p2p_peerstore *ps;
	assert_int_equal(p2p_peerstore_new(&ps), 0);
	p2p_privkey *k1, *k2;
	p2p_peerid id1, id2;
	make_peer(&id1, &k1);
	make_peer(&id2, &k2);
	assert_int_equal(p2p_peerstore_set_pubkey(ps, &id1, p2p_privkey_public(k2)),
	                 P2P_EPEERID);
	assert_null(p2p_peerstore_pubkey(ps, &id1));
	assert_int_equal(p2p_peerstore_set_pubkey(ps, &id1, p2p_privkey_public(k1)), 0);
	assert_true(
	    p2p_pubkey_equal(p2p_peerstore_pubkey(ps, &id1), p2p_privkey_public(k1)));

	const char *protos[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"};
	assert_int_equal(p2p_peerstore_set_protocols(ps, &id1, protos, 2), 0);
	assert_true(p2p_peerstore_supports(ps, &id1, "/ipfs/ping/1.0.0"));
	assert_false(p2p_peerstore_supports(ps, &id1, "/x"));
	assert_false(p2p_peerstore_supports(ps, &id2, "/ipfs/ping/1.0.0"));
	const char *got[4];
	assert_int_equal(p2p_peerstore_protocols(ps, &id1, got, 4), 2);
	assert_string_equal(got[1], "/ipfs/ping/1.0.0");

	assert_null(p2p_peerstore_agent(ps, &id1));
	char long_agent[P2P_PEERSTORE_MAX_AGENT * 2];
	memset(long_agent, 'a', sizeof(long_agent) - 1);
	long_agent[sizeof(long_agent) - 1] = '\0';
	assert_int_equal(p2p_peerstore_set_agent(ps, &id1, long_agent), 0);
	assert_int_equal(strlen(p2p_peerstore_agent(ps, &id1)), P2P_PEERSTORE_MAX_AGENT);

	assert_true(p2p_peerstore_has(ps, &id1));
	p2p_peerstore_remove(ps, &id1);
	assert_false(p2p_peerstore_has(ps, &id1));
	p2p_peerstore_free(ps);
	p2p_privkey_free(k1);
	p2p_privkey_free(k2);
}

static void test_eviction(void **state)
{
	p2p_peerstore *ps;
	assert_int_equal(p2p_peerstore_new(&ps), 0);
	p2p_peerid first;
	for (int i = 0; i < P2P_PEERSTORE_MAX_PEERS + 10; i++) {
		/* Distinct identity-multihash IDs without key generation. */
		uint8_t mh[36] = {0x00, 0x22, 0x08, 0x01, 0x12, 0x20};
		mh[6] = (uint8_t)i;
		mh[7] = (uint8_t)(i >> 8);
		p2p_peerid id;
		assert_int_equal(p2p_peerid_from_bytes(&id, mh, sizeof(mh)), 0);
		if (i == 0)
			first = id;
		assert_int_equal(p2p_peerstore_set_agent(ps, &id, "x"), 0);
	}
	assert_int_equal(p2p_peerstore_num_peers(ps), P2P_PEERSTORE_MAX_PEERS);
	assert_false(p2p_peerstore_has(ps, &first));
	p2p_peerstore_free(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrs),
	    cmocka_unit_test(test_key_protocols_agent),
	    cmocka_unit_test(test_eviction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
