/* yamux under hostile input: ping floods, stream IDs chosen to collide, and
 * floods of frames for streams that do not exist. Each test feeds frames
 * straight into one session, as a peer would, and checks what it costs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mux/yamux_streams.h"
#include "p2p/error.h"
#include "p2p/yamux.h"

enum { T_DATA = 0, T_WINDOW = 1, T_PING = 2, T_GO_AWAY = 3 };
enum { F_SYN = 1, F_ACK = 2 };

static void put_frame(uint8_t *h, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	h[0] = 0;
	h[1] = type;
	h[2] = (uint8_t)(flags >> 8);
	h[3] = (uint8_t)flags;
	for (int i = 0; i < 4; i++) {
		h[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		h[8 + i] = (uint8_t)(len >> (24 - 8 * i));
	}
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int accept_all(p2p_yamux *y, uint32_t id, void *user)
{
	(*(int *)user)++;
	return 0;
}

static p2p_yamux *server(int *opened, uint32_t max_streams)
{
	p2p_yamux_callbacks cb = {.on_open = accept_all};
	p2p_yamux_config cfg = {.max_streams = max_streams};
	p2p_yamux *y;
	assert_int_equal(p2p_yamux_new(&y, false, &cb, opened, &cfg), 0);
	return y;
}

/* --- the table on its own, against a reference --- */

static void test_table_matches_reference(void **state)
{
	enum { SPACE = 3000 };
	static yamux_stream pool[SPACE];
	static bool present[SPACE];
	memset(present, 0, sizeof(present));
	yamux_streams t;
	yamux_streams_init(&t);
	uint32_t rnd = 12345;
	size_t count = 0;
	for (int round = 0; round < 200000; round++) {
		rnd = rnd * 1103515245u + 12345u;
		uint32_t id = 1 + (rnd >> 8) % (SPACE - 1);
		/* Grow to about 2000 entries, then shrink towards none. */
		bool grow = round < 100000 ? (rnd & 3) != 0 : (rnd & 3) == 0;
		if (grow && !present[id]) {
			pool[id].id = id;
			assert_int_equal(yamux_streams_insert(&t, &pool[id]), 0);
			present[id] = true;
			count++;
		} else if (!grow) {
			yamux_stream *s = yamux_streams_remove(&t, id);
			assert_ptr_equal(s, present[id] ? &pool[id] : NULL);
			if (present[id])
				count--;
			present[id] = false;
		}
		assert_int_equal(t.count, count);
		rnd = rnd * 1103515245u + 12345u;
		uint32_t probe = (rnd >> 8) % SPACE;
		assert_ptr_equal(yamux_streams_find(&t, probe),
		                 probe != 0 && present[probe] ? &pool[probe] : NULL);
	}
	for (size_t i = 1; i < t.count; i++)
		assert_true(t.ids[i - 1] < t.ids[i]);
	assert_null(yamux_streams_find(&t, 0));
	assert_null(yamux_streams_find(&t, UINT32_MAX));
	yamux_streams_free(&t);
}

/* --- ping floods --- */

static void test_ping_answers_bounded(void **state)
{
	int opened = 0;
	p2p_yamux *y = server(&opened, 0);
	enum { N = P2P_YAMUX_MAX_PINGS_PER_WINDOW - 1 };
	uint8_t *in = malloc(N * 12);
	for (uint32_t i = 0; i < N; i++)
		put_frame(in + 12 * i, T_PING, F_SYN, 0, i);
	assert_int_equal(p2p_yamux_recv(y, in, N * 12), 0);
	/* One batch of pings: the first P2P_YAMUX_MAX_PENDING_PINGS get
	 * answers, in order, and the rest nothing. */
	p2p_buf *out = p2p_yamux_output(y);
	assert_int_equal(out->len, 12 * P2P_YAMUX_MAX_PENDING_PINGS);
	for (uint32_t i = 0; i < P2P_YAMUX_MAX_PENDING_PINGS; i++) {
		uint8_t want[12];
		put_frame(want, T_PING, F_ACK, 0, i);
		assert_memory_equal(out->data + 12 * i, want, 12);
	}
	p2p_yamux_stats st;
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(st.pings_answered, P2P_YAMUX_MAX_PENDING_PINGS);
	assert_int_equal(st.pings_dropped, N - P2P_YAMUX_MAX_PENDING_PINGS);
	p2p_buf_reset(out);
	/* The next input is a new batch: a lone ping (a peer measuring its
	 * round trip) is answered, even split across two reads. */
	put_frame(in, T_PING, F_SYN, 0, 77);
	assert_int_equal(p2p_yamux_recv(y, in, 5), 0);
	assert_int_equal(p2p_yamux_recv(y, in + 5, 7), 0);
	assert_int_equal(out->len, 12);
	assert_int_equal(out->data[11], 77);
	assert_false(p2p_yamux_is_dead(y));
	free(in);
	p2p_yamux_free(y);
}

/* More pings than P2P_YAMUX_MAX_PINGS_PER_WINDOW in one window end the
 * session with a GO_AWAY (protocol error), counted; the same number spread
 * over windows of the time passed in is answered as usual. */
static void test_ping_budget(void **state)
{
	int opened = 0;
	enum { N = P2P_YAMUX_MAX_PINGS_PER_WINDOW };
	uint8_t *in = malloc((N + 1) * 12);
	for (uint32_t i = 0; i <= N; i++)
		put_frame(in + 12 * i, T_PING, F_SYN, 0, i);

	/* Spread: N pings, then one more in the next window, then N again. */
	p2p_yamux *y = server(&opened, 0);
	p2p_yamux_set_now(y, 5000);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(p2p_yamux_recv(y, in + 12 * i, 12), 0);
	p2p_yamux_set_now(y, 5000 + P2P_YAMUX_PING_WINDOW_MS);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(p2p_yamux_recv(y, in + 12 * i, 12), 0);
	p2p_yamux_stats st;
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(st.pings_answered, 2 * N);
	assert_int_equal(st.ping_floods, 0);
	assert_false(p2p_yamux_is_dead(y));
	p2p_yamux_free(y);

	/* One window: the (N+1)th ping ends it, whatever the batching. */
	y = server(&opened, 0);
	p2p_yamux_set_now(y, 123);
	assert_int_equal(p2p_yamux_recv(y, in, 12 * N), 0);
	p2p_buf *out = p2p_yamux_output(y);
	p2p_buf_reset(out);
	p2p_yamux_set_now(y, 123 + P2P_YAMUX_PING_WINDOW_MS - 1);
	assert_int_equal(p2p_yamux_recv(y, in + 12 * N, 12), P2P_ELIMIT);
	assert_true(p2p_yamux_is_dead(y));
	assert_int_equal(out->len, 12);
	assert_int_equal(out->data[1], T_GO_AWAY);
	assert_int_equal(out->data[11], P2P_YAMUX_GOAWAY_PROTOCOL);
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(st.ping_floods, 1);
	assert_int_equal(p2p_yamux_recv(y, in, 12), P2P_ELIMIT);
	free(in);
	p2p_yamux_free(y);
}

/* --- stream IDs chosen against the table --- */

/* The murmur3 finaliser the old table hashed IDs with, and its inverse:
 * what an attacker computes to put every ID in one probe chain. */
static uint32_t fmix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint32_t inverse_odd(uint32_t a)
{
	uint32_t x = a; /* Newton's iteration doubles the correct low bits */
	for (int i = 0; i < 5; i++)
		x *= 2 - a * x;
	return x;
}

static uint32_t fmix32_inverse(uint32_t h)
{
	h ^= h >> 16;
	h *= inverse_odd(0xc2b2ae35u);
	h ^= (h >> 13) ^ (h >> 26);
	h *= inverse_odd(0x85ebca6bu);
	h ^= h >> 16;
	return h;
}

/* IDs of the client's parity (odd) whose old hash has its low 16 bits
 * zero: one home slot for every table of up to 65,536 slots. skip lets
 * two calls pick disjoint sets. */
static size_t colliding_ids(uint32_t *ids, size_t n, size_t skip)
{
	size_t got = 0, seen = 0;
	for (uint32_t k = 1; k < 65536 && got < n; k++) {
		uint32_t id = fmix32_inverse(k << 16);
		assert_int_equal(fmix32(id), k << 16);
		if ((id & 1) == 0 || seen++ < skip)
			continue;
		ids[got++] = id;
	}
	return got;
}

#define ADV_STREAMS    4000
#define UNKNOWN_FRAMES 1000000

/* The attack: 4000 streams with colliding IDs, then a million
 * window updates for unknown IDs from the same chain. With the old table
 * each lookup walked the whole chain (3.7 s of CPU in a release build);
 * now each is a bisection. */
static void test_adversarial_ids(void **state)
{
	int opened = 0;
	p2p_yamux *y = server(&opened, 4096);
	static uint32_t ids[ADV_STREAMS], unknown[1024];
	assert_int_equal(colliding_ids(ids, ADV_STREAMS, 0), ADV_STREAMS);
	assert_int_equal(colliding_ids(unknown, 1024, ADV_STREAMS), 1024);

	uint8_t *in = malloc(ADV_STREAMS * 12);
	for (size_t i = 0; i < ADV_STREAMS; i++)
		put_frame(in + 12 * i, T_WINDOW, F_SYN, ids[i], 0);
	double t0 = cpu_seconds();
	assert_int_equal(p2p_yamux_recv(y, in, ADV_STREAMS * 12), 0);
	free(in);
	assert_int_equal(opened, ADV_STREAMS);
	assert_int_equal(p2p_yamux_num_streams(y), ADV_STREAMS);
	p2p_buf_reset(p2p_yamux_output(y)); /* the ACKs */

	/* A million frames in batches of 16,384, as reads would bring them
	 * (every batch cycles through the same 1024 IDs). */
	enum { BATCH = 16384 };
	uint8_t *batch = malloc(BATCH * 12);
	for (size_t i = 0; i < BATCH; i++)
		put_frame(batch + 12 * i, T_WINDOW, 0, unknown[i % 1024], 1000);
	for (size_t sent = 0; sent < UNKNOWN_FRAMES; sent += BATCH) {
		size_t n = UNKNOWN_FRAMES - sent < BATCH ? UNKNOWN_FRAMES - sent : BATCH;
		assert_int_equal(p2p_yamux_recv(y, batch, n * 12), 0);
	}
	double cpu = cpu_seconds() - t0;
	free(batch);
	print_message("%d colliding streams + %d unknown-ID window updates: %.3f s CPU\n",
	              ADV_STREAMS, UNKNOWN_FRAMES, cpu);
	assert_true(cpu < 0.5);

	/* They were ignored: no output, no stream, counted. */
	p2p_yamux_stats st;
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(st.unknown_stream_frames, UNKNOWN_FRAMES);
	assert_int_equal(p2p_yamux_output(y)->len, 0);
	assert_int_equal(p2p_yamux_num_streams(y), ADV_STREAMS);
	/* The real streams are all there, untouched. */
	for (size_t i = 0; i < ADV_STREAMS; i++)
		assert_int_equal(p2p_yamux_send_window(y, ids[i]),
		                 P2P_YAMUX_INITIAL_WINDOW);
	/* And they close one by one (removal from the middle). */
	for (size_t i = 0; i < ADV_STREAMS; i += 2)
		assert_int_equal(p2p_yamux_reset(y, ids[i]), 0);
	assert_int_equal(p2p_yamux_num_streams(y), ADV_STREAMS / 2);
	for (size_t i = 1; i < ADV_STREAMS; i += 2)
		assert_int_equal(p2p_yamux_send_window(y, ids[i]),
		                 P2P_YAMUX_INITIAL_WINDOW);
	p2p_yamux_free(y);
}

/* Data frames for unknown IDs: the payload is skipped (never delivered,
 * never counted against a window), the session goes on. */
static void test_unknown_data_skipped(void **state)
{
	int opened = 0;
	p2p_yamux *y = server(&opened, 0);
	enum { PAYLOAD = 1000, N = 200 };
	size_t len = N * (12 + PAYLOAD) + 12;
	uint8_t *in = calloc(1, len);
	for (size_t i = 0; i < N; i++)
		put_frame(in + i * (12 + PAYLOAD), T_DATA, 0, 2 * (uint32_t)i + 1,
		          PAYLOAD);
	put_frame(in + N * (12 + PAYLOAD), T_PING, F_SYN, 0, 9);
	/* In odd-sized pieces, so payloads and headers straddle reads. */
	for (size_t off = 0; off < len; off += 777) {
		size_t n = len - off < 777 ? len - off : 777;
		assert_int_equal(p2p_yamux_recv(y, in + off, n), 0);
	}
	p2p_yamux_stats st;
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(st.unknown_stream_frames, N);
	assert_int_equal(st.pings_answered, 1); /* the frame after them parsed */
	assert_int_equal(opened, 0);
	assert_false(p2p_yamux_is_dead(y));
	free(in);
	p2p_yamux_free(y);
}

/* Refused SYNs (over the limit) are counted; the RSTs they cost are
 * output the connection bounds by pausing reads (conn.c). */
static void test_refusals_counted(void **state)
{
	int opened = 0;
	p2p_yamux *y = server(&opened, 2);
	uint8_t in[12 * 10];
	for (uint32_t i = 0; i < 10; i++)
		put_frame(in + 12 * i, T_WINDOW, F_SYN, 2 * i + 1, 0);
	assert_int_equal(p2p_yamux_recv(y, in, sizeof(in)), 0);
	p2p_yamux_stats st;
	p2p_yamux_get_stats(y, &st);
	assert_int_equal(opened, 2);
	assert_int_equal(st.streams_refused, 8);
	assert_int_equal(p2p_yamux_output(y)->len, 12 * 10); /* 2 ACKs, 8 RSTs */
	p2p_yamux_free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_matches_reference),
	    cmocka_unit_test(test_ping_answers_bounded),
	    cmocka_unit_test(test_ping_budget),
	    cmocka_unit_test(test_adversarial_ids),
	    cmocka_unit_test(test_unknown_data_skipped),
	    cmocka_unit_test(test_refusals_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
