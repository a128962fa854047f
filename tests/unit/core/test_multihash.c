#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multihash.h"

/* The sha2-256 example of the multihash spec: sha2-256("multihash"). */
static const uint8_t MH_MULTIHASH[] = {
    0x12, 0x20, 0x9c, 0xbc, 0x07, 0xc3, 0xf9, 0x91, 0x72, 0x58, 0x36, 0xa3,
    0xaa, 0x2a, 0x58, 0x1c, 0xa2, 0x02, 0x91, 0x98, 0xaa, 0x42, 0x0b, 0x9d,
    0x99, 0xbc, 0x0e, 0x13, 0x1d, 0x9f, 0x3e, 0x2c, 0xbe, 0x47,
};

static void test_sha2_256(void **state)
{
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(
	    p2p_multihash_encode(P2P_MH_SHA2_256, (const uint8_t *)"multihash", 9, &out),
	    P2P_OK);
	assert_int_equal(out.len, sizeof(MH_MULTIHASH));
	assert_memory_equal(out.data, MH_MULTIHASH, sizeof(MH_MULTIHASH));

	uint64_t code = 99;
	const uint8_t *digest = NULL;
	size_t dlen = 0;
	assert_int_equal(p2p_multihash_parse(out.data, out.len, &code, &digest, &dlen),
	                 P2P_OK);
	assert_true(code == P2P_MH_SHA2_256);
	assert_int_equal(dlen, 32);
	assert_ptr_equal(digest, out.data + 2);
	p2p_buf_free(&out);
}

static void test_identity(void **state)
{
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(
	    p2p_multihash_encode(P2P_MH_IDENTITY, (const uint8_t *)"abc", 3, &out),
	    P2P_OK);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data,
	                    "\x00\x03"
	                    "abc",
	                    5);
	uint64_t code = 99;
	const uint8_t *digest = NULL;
	size_t dlen = 99;
	assert_int_equal(p2p_multihash_parse(out.data, out.len, &code, &digest, &dlen),
	                 P2P_OK);
	assert_true(code == P2P_MH_IDENTITY);
	assert_int_equal(dlen, 3);
	assert_memory_equal(digest, "abc", 3);

	/* An empty identity digest is valid. */
	p2p_buf_reset(&out);
	assert_int_equal(p2p_multihash_encode(P2P_MH_IDENTITY, NULL, 0, &out), P2P_OK);
	assert_int_equal(out.len, 2);
	assert_int_equal(p2p_multihash_parse(out.data, out.len, &code, &digest, &dlen),
	                 P2P_OK);
	assert_int_equal(dlen, 0);

	/* Longer than we would accept back: refused, buffer untouched. */
	static const uint8_t big[P2P_MH_MAX_DIGEST + 1];
	assert_int_equal(p2p_multihash_encode(P2P_MH_IDENTITY, big, sizeof(big), &out),
	                 P2P_ETOOBIG);
	assert_int_equal(out.len, 2);
	assert_int_equal(
	    p2p_multihash_encode(P2P_MH_IDENTITY, big, P2P_MH_MAX_DIGEST, &out), P2P_OK);
	assert_int_equal(out.len, 2 + 3 + P2P_MH_MAX_DIGEST); /* 128 is a 2-byte varint */
	p2p_buf_free(&out);
}

static void test_parse_other_codes(void **state)
{
	/* sha2-512 (0x13) truncated and blake2b-256 (0xb220): parsed, not made. */
	static const uint8_t sha512[] = {0x13, 0x02, 0xaa, 0xbb};
	static const uint8_t blake[] = {0xa0, 0xe4, 0x02, 0x01, 0x00};
	uint64_t code;
	const uint8_t *digest;
	size_t dlen;
	assert_int_equal(
	    p2p_multihash_parse(sha512, sizeof(sha512), &code, &digest, &dlen), P2P_OK);
	assert_true(code == 0x13);
	assert_int_equal(dlen, 2);
	assert_int_equal(p2p_multihash_parse(blake, sizeof(blake), &code, &digest, &dlen),
	                 P2P_OK);
	assert_true(code == 0xb220);
	assert_int_equal(dlen, 1);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_multihash_encode(0x13, (const uint8_t *)"x", 1, &out),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);
}

static void test_parse_rejects(void **state)
{
	uint64_t code;
	const uint8_t *digest;
	size_t dlen;
	/* Length says 32, 31 bytes follow; and one byte too many. */
	assert_int_equal(p2p_multihash_parse(MH_MULTIHASH, sizeof(MH_MULTIHASH) - 1,
	                                     &code, &digest, &dlen),
	                 P2P_EPROTO);
	uint8_t longer[sizeof(MH_MULTIHASH) + 1];
	memcpy(longer, MH_MULTIHASH, sizeof(MH_MULTIHASH));
	longer[sizeof(MH_MULTIHASH)] = 0;
	assert_int_equal(
	    p2p_multihash_parse(longer, sizeof(longer), &code, &digest, &dlen),
	    P2P_EPROTO);
	/* Empty, truncated varints, non-minimal varint. */
	assert_int_equal(p2p_multihash_parse(MH_MULTIHASH, 0, &code, &digest, &dlen),
	                 P2P_EPROTO);
	assert_int_equal(p2p_multihash_parse(MH_MULTIHASH, 1, &code, &digest, &dlen),
	                 P2P_EPROTO);
	static const uint8_t cut[] = {0x12, 0x80};
	assert_int_equal(p2p_multihash_parse(cut, sizeof(cut), &code, &digest, &dlen),
	                 P2P_EPROTO);
	static const uint8_t not_minimal[] = {0x92, 0x00, 0x00};
	assert_int_equal(
	    p2p_multihash_parse(not_minimal, sizeof(not_minimal), &code, &digest, &dlen),
	    P2P_EPROTO);
	/* Declared digest over the limit. */
	static const uint8_t huge[] = {0x00, 0x81, 0x01};
	assert_int_equal(p2p_multihash_parse(huge, sizeof(huge), &code, &digest, &dlen),
	                 P2P_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha2_256),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_parse_other_codes),
	    cmocka_unit_test(test_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
