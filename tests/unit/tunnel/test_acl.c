#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "p2p/error.h"
#include "tunnel/acl.h"

/* Peer IDs from the peer-ids spec and the Go token vectors. */
static const char *ed25519_b58 = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
static const char *rsa_b58 = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";

static void test_empty_allows_all(void **state)
{
	tunnel_acl acl;
	tunnel_acl_init(&acl);
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_string(&id, ed25519_b58), P2P_OK);
	assert_true(tunnel_acl_allows(&acl, &id));
}

static void test_allowlist(void **state)
{
	tunnel_acl acl;
	tunnel_acl_init(&acl);
	const char *why = "unset";
	assert_int_equal(tunnel_acl_add_string(&acl, ed25519_b58, &why), P2P_OK);
	assert_null(why);
	/* The same peer twice is kept once. */
	assert_int_equal(tunnel_acl_add_string(&acl, ed25519_b58, NULL), P2P_OK);
	assert_int_equal(acl.n, 1);

	p2p_peerid ed, rsa;
	assert_int_equal(p2p_peerid_from_string(&ed, ed25519_b58), P2P_OK);
	assert_int_equal(p2p_peerid_from_string(&rsa, rsa_b58), P2P_OK);
	assert_true(tunnel_acl_allows(&acl, &ed));
	assert_false(tunnel_acl_allows(&acl, &rsa));
	assert_int_equal(tunnel_acl_add(&acl, &rsa), P2P_OK);
	assert_true(tunnel_acl_allows(&acl, &rsa));

	/* The CIDv1 form of the same peer names the same peer. */
	char cid[P2P_PEERID_STR_MAX];
	assert_int_equal(p2p_peerid_to_cid_string(&ed, cid, sizeof(cid)), P2P_OK);
	assert_int_equal(tunnel_acl_add_string(&acl, cid, NULL), P2P_OK);
	assert_int_equal(acl.n, 2);
}

static void test_bad_and_full(void **state)
{
	tunnel_acl acl;
	tunnel_acl_init(&acl);
	const char *why = NULL;
	assert_int_equal(tunnel_acl_add_string(&acl, "not-a-peer", &why), P2P_EPROTO);
	assert_string_equal(why, "an -allow value is not a peer ID");
	assert_int_equal(tunnel_acl_add_string(&acl, "", &why), P2P_EPROTO);
	assert_int_equal(acl.n, 0);

	/* Fill the list with distinct (sha2-256) IDs. */
	p2p_peerid id;
	memset(&id, 0, sizeof(id));
	id.bytes[0] = 0x12;
	id.bytes[1] = 0x20;
	id.len = 34;
	for (size_t i = 0; i < TUNNEL_ACL_MAX; i++) {
		id.bytes[2] = (uint8_t)i;
		id.bytes[3] = (uint8_t)(i >> 8);
		assert_int_equal(tunnel_acl_add(&acl, &id), P2P_OK);
	}
	id.bytes[3] = 0xff;
	assert_int_equal(tunnel_acl_add(&acl, &id), P2P_ELIMIT);
	assert_int_equal(tunnel_acl_add_string(&acl, ed25519_b58, &why), P2P_ELIMIT);
	assert_string_equal(why, "too many -allow peers (the limit is 256)");
	assert_false(tunnel_acl_allows(&acl, &id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_allows_all),
	    cmocka_unit_test(test_allowlist),
	    cmocka_unit_test(test_bad_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
