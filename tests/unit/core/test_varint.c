#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/varint.h"

static void test_spec_vectors(void **state)
{
	/* From the multiformats unsigned-varint spec. */
	static const struct {
		uint64_t v;
		uint8_t enc[9];
		size_t len;
	} vec[] = {
	    {1, {0x01}, 1},
	    {127, {0x7f}, 1},
	    {128, {0x80, 0x01}, 2},
	    {255, {0xff, 0x01}, 2},
	    {300, {0xac, 0x02}, 2},
	    {16384, {0x80, 0x80, 0x01}, 3},
	    {P2P_UVARINT_MAX_VALUE,
	     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	     9},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint8_t out[P2P_UVARINT_MAX_LEN];
		assert_int_equal(p2p_uvarint_encode(vec[i].v, out), vec[i].len);
		assert_memory_equal(out, vec[i].enc, vec[i].len);
		assert_int_equal(p2p_uvarint_size(vec[i].v), vec[i].len);
		uint64_t v = 0;
		assert_int_equal(p2p_uvarint_decode(vec[i].enc, vec[i].len, &v),
		                 (int)vec[i].len);
		assert_true(v == vec[i].v);
	}
}

static void test_rejects(void **state)
{
	uint64_t v;
	static const uint8_t truncated[] = {0x80, 0x80};
	assert_int_equal(p2p_uvarint_decode(truncated, sizeof(truncated), &v),
	                 P2P_EAGAIN);
	assert_int_equal(p2p_uvarint_decode(truncated, 0, &v), P2P_EAGAIN);
	static const uint8_t not_minimal[] = {0x81, 0x00};
	assert_int_equal(p2p_uvarint_decode(not_minimal, sizeof(not_minimal), &v),
	                 P2P_EPROTO);
	static const uint8_t too_long[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(p2p_uvarint_decode(too_long, sizeof(too_long), &v), P2P_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vectors),
	    cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
