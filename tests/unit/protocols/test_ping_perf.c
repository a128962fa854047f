#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/perf.h"
#include "p2p/ping.h"
#include "protocols/perf/perf_internal.h"

static void test_ping_round_trips(void **state)
{
	p2p_ping_client c;
	p2p_ping_server s;
	p2p_ping_client_init(&c);
	p2p_ping_server_init(&s);
	p2p_buf to_server, to_client;
	p2p_buf_init(&to_server);
	p2p_buf_init(&to_client);

	for (int round = 0; round < 3; round++) {
		assert_int_equal(p2p_ping_client_send(&c, &to_server), 0);
		assert_int_equal(to_server.len, P2P_PING_SIZE);
		/* Only one payload out at a time. */
		assert_int_equal(p2p_ping_client_send(&c, &to_server), P2P_ESTATE);
		/* The server echoes only whole payloads: feed it in two parts. */
		assert_int_equal(p2p_ping_server_recv(&s, to_server.data, 10, &to_client),
		                 0);
		assert_int_equal(to_client.len, 0);
		assert_int_equal(p2p_ping_server_finish(&s), P2P_EPROTO);
		assert_int_equal(
		    p2p_ping_server_recv(&s, to_server.data + 10, 22, &to_client), 0);
		assert_int_equal(to_client.len, P2P_PING_SIZE);
		assert_memory_equal(to_client.data, to_server.data, P2P_PING_SIZE);
		p2p_buf_reset(&to_server);

		size_t used;
		assert_int_equal(p2p_ping_client_recv(&c, to_client.data, 31, &used), 0);
		assert_int_equal(used, 31);
		assert_int_equal(p2p_ping_client_recv(&c, to_client.data + 31, 1, &used),
		                 1);
		assert_int_equal(used, 1);
		p2p_buf_reset(&to_client);
	}
	assert_int_equal(p2p_ping_server_finish(&s), 0);

	/* A wrong echo is an error; bytes with nothing out are too. */
	assert_int_equal(p2p_ping_client_send(&c, &to_server), 0);
	to_server.data[5] ^= 0xff;
	size_t used;
	assert_int_equal(p2p_ping_client_recv(&c, to_server.data, to_server.len, &used),
	                 P2P_EPROTO);
	assert_int_equal(p2p_ping_client_recv(&c, to_server.data, 1, &used), P2P_ESTATE);

	/* Two payloads back to back: the client takes only the first. */
	p2p_buf_reset(&to_server);
	assert_int_equal(p2p_ping_client_send(&c, &to_server), 0);
	uint8_t again[P2P_PING_SIZE];
	memcpy(again, to_server.data, P2P_PING_SIZE);
	assert_int_equal(p2p_buf_append(&to_server, again, P2P_PING_SIZE), 0);
	assert_int_equal(p2p_ping_client_recv(&c, to_server.data, to_server.len, &used),
	                 1);
	assert_int_equal(used, P2P_PING_SIZE);

	p2p_buf_free(&to_server);
	p2p_buf_free(&to_client);
}

/* Runs a whole perf exchange through the two cores with small writes. */
static void run_perf(uint64_t upload, uint64_t download, size_t max)
{
	p2p_perf_client c;
	p2p_perf_server s;
	p2p_perf_client_init(&c, upload, download);
	p2p_perf_server_init(&s);
	p2p_buf wire;
	p2p_buf_init(&wire);

	bool header_checked = false;
	int n;
	while ((n = p2p_perf_client_produce(&c, &wire, max)) > 0) {
		assert_true((size_t)n <= max);
		if (!header_checked) {
			/* The header is the requested size, big-endian. */
			assert_int_equal(n, P2P_PERF_HEADER_LEN);
			uint64_t v = 0;
			for (int i = 0; i < 8; i++)
				v = v << 8 | wire.data[i];
			assert_true(v == download);
			header_checked = true;
		}
		assert_int_equal(p2p_perf_server_recv(&s, wire.data, wire.len), 0);
		/* The server must not answer before the upload is over. */
		assert_int_equal(p2p_perf_server_produce(&s, &wire, max), P2P_ESTATE);
		p2p_buf_reset(&wire);
	}
	assert_int_equal(n, 0);
	assert_true(p2p_perf_client_upload_done(&c));
	assert_int_equal(p2p_perf_server_eof(&s), 0);
	assert_true(s.received == upload);
	assert_true(s.download == download);

	while ((n = p2p_perf_server_produce(&s, &wire, max)) > 0) {
		assert_int_equal(p2p_perf_client_recv(&c, wire.len), 0);
		p2p_buf_reset(&wire);
	}
	assert_int_equal(n, 0);
	assert_true(p2p_perf_server_done(&s));
	assert_int_equal(p2p_perf_client_finish(&c), 0);
	/* Anything more than asked for is a protocol error. */
	assert_int_equal(p2p_perf_client_recv(&c, 1), P2P_EPROTO);
	p2p_buf_free(&wire);
}

static void test_perf(void **state)
{
	run_perf(0, 0, 64);
	run_perf(1000, 0, 100);
	run_perf(0, 1000, 8);
	run_perf(300000, 200000, 1 << 20); /* chunks capped at P2P_PERF_CHUNK */

	/* A client that closes before its header is complete. */
	p2p_perf_server s;
	p2p_perf_server_init(&s);
	assert_int_equal(p2p_perf_server_recv(&s, (const uint8_t *)"\0\0\0", 3), 0);
	assert_int_equal(p2p_perf_server_eof(&s), P2P_EPROTO);

	/* A short reply. */
	p2p_perf_client c;
	p2p_perf_client_init(&c, 0, 10);
	assert_int_equal(p2p_perf_client_recv(&c, 9), 0);
	assert_int_equal(p2p_perf_client_finish(&c), P2P_EPROTO);

	/* The header needs room for 8 bytes. */
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_perf_client_produce(&c, &b, 7), P2P_EINVAL);
	p2p_buf_free(&b);
}

/* The host-side services count the filler instead of producing it: the
 * same totals and the same order rules as produce. */
static void test_perf_take_filler(void **state)
{
	p2p_perf_client c;
	p2p_perf_client_init(&c, 100000, 7);
	assert_int_equal(perf_client_take_filler(&c, 4096), 0); /* header first */
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_perf_client_produce(&c, &out, 1000), P2P_PERF_HEADER_LEN);
	assert_int_equal(perf_client_take_filler(&c, 65536), 65536);
	assert_false(p2p_perf_client_upload_done(&c));
	assert_int_equal(perf_client_take_filler(&c, 65536), 100000 - 65536);
	assert_true(p2p_perf_client_upload_done(&c));
	assert_int_equal(perf_client_take_filler(&c, 65536), 0);

	p2p_perf_server s;
	p2p_perf_server_init(&s);
	assert_int_equal(p2p_perf_server_recv(&s, out.data, out.len), P2P_OK);
	assert_int_equal(perf_server_take_filler(&s, 5), 0); /* before EOF */
	assert_int_equal(p2p_perf_server_eof(&s), P2P_OK);
	assert_int_equal(perf_server_take_filler(&s, 5), 5);
	assert_false(p2p_perf_server_done(&s));
	assert_int_equal(perf_server_take_filler(&s, 5), 2);
	assert_true(p2p_perf_server_done(&s));
	assert_int_equal(perf_server_take_filler(&s, 5), 0);
	p2p_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ping_round_trips),
	    cmocka_unit_test(test_perf),
	    cmocka_unit_test(test_perf_take_filler),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
