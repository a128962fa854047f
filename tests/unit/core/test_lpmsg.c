#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"

/* Two messages ("abc", "") then relayed bytes that are not ours. */
static const uint8_t stream[] = {3, 'a', 'b', 'c', 0, 'X', 'Y'};

static void test_one_piece(void **state)
{
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, 16);
	size_t used;
	const uint8_t *msg;
	size_t len;
	assert_int_equal(p2p_lpmsg_read(&r, stream, sizeof(stream), &used, &msg, &len),
	                 0);
	assert_int_equal(used, 4);
	assert_int_equal(len, 3);
	assert_memory_equal(msg, "abc", 3);
	size_t off = used;
	assert_int_equal(
	    p2p_lpmsg_read(&r, stream + off, sizeof(stream) - off, &used, &msg, &len), 0);
	assert_int_equal(used, 1);
	assert_int_equal(len, 0);
	assert_non_null(msg);
	off += used;
	/* the leftover is the caller's: "XY" */
	assert_int_equal(sizeof(stream) - off, 2);
	assert_memory_equal(stream + off, "XY", 2);
	p2p_lpmsg_reader_free(&r);
}

static void test_byte_by_byte(void **state)
{
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, 300);
	uint8_t in[2 + 200 + 1];
	in[0] = 0xc8; /* 200 */
	in[1] = 0x01;
	for (int i = 0; i < 200; i++)
		in[2 + i] = (uint8_t)i;
	in[202] = 0xee;
	size_t used;
	const uint8_t *msg = NULL;
	size_t len = 0;
	size_t i;
	for (i = 0; i < sizeof(in); i++) {
		int rc = p2p_lpmsg_read(&r, in + i, 1, &used, &msg, &len);
		assert_int_equal(used, 1);
		if (rc == P2P_OK)
			break;
		assert_int_equal(rc, P2P_EAGAIN);
	}
	assert_int_equal(i, 201);
	assert_int_equal(len, 200);
	assert_memory_equal(msg, in + 2, 200);
	/* an empty feed needs more */
	assert_int_equal(p2p_lpmsg_read(&r, in, 0, &used, &msg, &len), P2P_EAGAIN);
	assert_int_equal(used, 0);
	p2p_lpmsg_reader_free(&r);
}

static void test_errors(void **state)
{
	p2p_lpmsg_reader r;
	size_t used;
	const uint8_t *msg;
	size_t len;
	p2p_lpmsg_reader_init(&r, 4);
	assert_int_equal(
	    p2p_lpmsg_read(&r, (const uint8_t *)"\x05xxxxx", 6, &used, &msg, &len),
	    P2P_ETOOBIG);
	assert_int_equal(used, 1);
	/* sticky */
	assert_int_equal(
	    p2p_lpmsg_read(&r, (const uint8_t *)"\x01x", 2, &used, &msg, &len),
	    P2P_ETOOBIG);
	assert_int_equal(used, 0);
	p2p_lpmsg_reader_free(&r);

	p2p_lpmsg_reader_init(&r, 4);
	/* not minimal */
	assert_int_equal(
	    p2p_lpmsg_read(&r, (const uint8_t *)"\x81\x00", 2, &used, &msg, &len),
	    P2P_EPROTO);
	p2p_lpmsg_reader_free(&r);

	p2p_lpmsg_reader_init(&r, SIZE_MAX);
	static const uint8_t ten[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(p2p_lpmsg_read(&r, ten, sizeof(ten), &used, &msg, &len),
	                 P2P_EPROTO);
	assert_true(used <= 9);
	p2p_lpmsg_reader_free(&r);
}

static void test_append(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_lpmsg_append(&b, (const uint8_t *)"abc", 3, 3), 0);
	assert_int_equal(p2p_lpmsg_append(&b, NULL, 0, 3), 0);
	assert_int_equal(p2p_lpmsg_append(&b, (const uint8_t *)"abcd", 4, 3),
	                 P2P_ETOOBIG);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, stream, 5);
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_piece),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
