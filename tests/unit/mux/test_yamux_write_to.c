/* p2p_yamux_write_to: the gathered write must put on the wire exactly what
 * p2p_yamux_write puts in the output, frame for frame, and honour the
 * window the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/yamux.h"

#define HDR_LEN 12

typedef struct sink_state {
	p2p_buf wire; /* what went to the sink, joined */
	int calls;
	int fail_at; /* call number that fails (1-based), 0: never */
} sink_state;

static int sink(const uint8_t *head, size_t head_len, const uint8_t *payload, size_t len,
                void *ctx)
{
	sink_state *st = ctx;
	st->calls++;
	assert_true(head_len >= HDR_LEN);
	/* The header at the end of head announces exactly this payload. */
	const uint8_t *h = head + head_len - HDR_LEN;
	uint32_t announced = ((uint32_t)h[8] << 24) | ((uint32_t)h[9] << 16) |
	                     ((uint32_t)h[10] << 8) | h[11];
	assert_int_equal(h[1], 0); /* a data frame */
	assert_int_equal(announced, len);
	if (st->fail_at == st->calls)
		return P2P_ENOMEM;
	assert_int_equal(p2p_buf_append(&st->wire, head, head_len), P2P_OK);
	assert_int_equal(p2p_buf_append(&st->wire, payload, len), P2P_OK);
	return P2P_OK;
}

/* Appends and empties the session's own output. */
static void drain(p2p_yamux *y, p2p_buf *to)
{
	p2p_buf *out = p2p_yamux_output(y);
	assert_int_equal(p2p_buf_append(to, out->data, out->len), P2P_OK);
	p2p_buf_reset(out);
}

static void test_same_bytes_as_write(void **state)
{
	/* Two clients in the same state: one writes through its output, the
	 * other through the sink. */
	p2p_yamux *a, *b;
	assert_int_equal(p2p_yamux_new(&a, true, NULL, NULL, NULL), P2P_OK);
	assert_int_equal(p2p_yamux_new(&b, true, NULL, NULL, NULL), P2P_OK);
	uint32_t ida, idb;
	assert_int_equal(p2p_yamux_open(a, &ida, NULL), P2P_OK);
	assert_int_equal(p2p_yamux_open(b, &idb, NULL), P2P_OK);
	assert_int_equal(ida, idb);
	/* A ping queued before the data must come out before it. */
	assert_int_equal(p2p_yamux_ping(a, 7), P2P_OK);
	assert_int_equal(p2p_yamux_ping(b, 7), P2P_OK);

	size_t big = 300000; /* more than the 256 KiB initial window */
	uint8_t *data = malloc(big);
	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 9));

	p2p_buf wa;
	p2p_buf_init(&wa);
	sink_state st = {0};
	p2p_buf_init(&st.wire);
	size_t sizes[] = {1, 100, 70000, big}; /* the last is cut by the window */
	size_t off = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ssize_t na = p2p_yamux_write(a, ida, data + off, sizes[i]);
		ssize_t nb = p2p_yamux_write_to(b, idb, data + off, sizes[i], sink, &st);
		assert_true(na > 0);
		assert_int_equal(na, nb);
		off += (size_t)na;
		drain(a, &wa);
		assert_int_equal(p2p_yamux_output(b)->len, 0);
	}
	assert_int_equal(off, P2P_YAMUX_INITIAL_WINDOW);
	assert_int_equal(st.calls, 4);
	assert_int_equal(wa.len, st.wire.len);
	assert_memory_equal(wa.data, st.wire.data, wa.len);

	/* A shut window: nothing goes, the sink is not called. */
	assert_int_equal(p2p_yamux_write_to(b, idb, data, 10, sink, &st), 0);
	assert_int_equal(st.calls, 4);
	/* Control frames still go through the output as usual. */
	assert_int_equal(p2p_yamux_close(b, idb), P2P_OK);
	assert_int_equal(p2p_yamux_output(b)->len, HDR_LEN);
	assert_int_equal(p2p_yamux_write_to(b, idb, data, 10, sink, &st), P2P_ECLOSED);
	assert_int_equal(p2p_yamux_write_to(b, idb + 2, data, 10, sink, &st),
	                 P2P_ENOTFOUND);
	assert_int_equal(p2p_yamux_write_to(b, idb, data, 10, NULL, &st), P2P_EINVAL);

	free(data);
	p2p_buf_free(&wa);
	p2p_buf_free(&st.wire);
	p2p_yamux_free(a);
	p2p_yamux_free(b);
}

static void test_frames_split_at_max_frame(void **state)
{
	p2p_yamux *y;
	assert_int_equal(p2p_yamux_new(&y, true, NULL, NULL, NULL), P2P_OK);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(y, &id, NULL), P2P_OK);
	/* The peer acknowledges and grants one more frame's worth. */
	uint32_t grant = P2P_YAMUX_MAX_FRAME;
	const uint8_t update[HDR_LEN] = {0,
	                                 1,
	                                 0,
	                                 2,
	                                 0,
	                                 0,
	                                 0,
	                                 (uint8_t)id,
	                                 (uint8_t)(grant >> 24),
	                                 (uint8_t)(grant >> 16),
	                                 (uint8_t)(grant >> 8),
	                                 (uint8_t)grant};
	assert_int_equal(p2p_yamux_recv(y, update, sizeof(update)), P2P_OK);
	size_t n = P2P_YAMUX_INITIAL_WINDOW + grant + 1;
	uint8_t *data = calloc(1, n);
	assert_non_null(data);
	sink_state st = {0};
	p2p_buf_init(&st.wire);
	/* Two full frames, the first behind the SYN; the last byte waits. */
	assert_int_equal(p2p_yamux_write_to(y, id, data, n, sink, &st), n - 1);
	assert_int_equal(st.calls, 2);
	assert_int_equal(st.wire.len, HDR_LEN + 2 * (HDR_LEN + P2P_YAMUX_MAX_FRAME));
	assert_int_equal(p2p_yamux_send_window(y, id), 0);
	free(data);
	p2p_buf_free(&st.wire);
	p2p_yamux_free(y);
}

static void test_sink_failure_kills_session(void **state)
{
	p2p_yamux *y;
	assert_int_equal(p2p_yamux_new(&y, true, NULL, NULL, NULL), P2P_OK);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(y, &id, NULL), P2P_OK);
	sink_state st = {.fail_at = 1};
	p2p_buf_init(&st.wire);
	uint8_t data[64] = {0};
	assert_int_equal(p2p_yamux_write_to(y, id, data, sizeof(data), sink, &st),
	                 P2P_ENOMEM);
	assert_true(p2p_yamux_is_dead(y));
	assert_int_equal(p2p_yamux_write(y, id, data, sizeof(data)), P2P_ECLOSED);
	p2p_buf_free(&st.wire);
	p2p_yamux_free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_write),
	    cmocka_unit_test(test_frames_split_at_max_frame),
	    cmocka_unit_test(test_sink_failure_kills_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
