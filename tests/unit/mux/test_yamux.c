/* Two yamux sessions wired back to back in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/yamux.h"

#define MAX_EVENTS 64

typedef struct peer peer;
struct peer {
	p2p_yamux *y;
	const char *name;
	/* counters */
	int opened, acked, fins, resets, writables, closed, pongs, go_aways;
	uint32_t last_open, last_closed, last_pong, last_go_away;
	/* received bytes, for small tests */
	uint8_t rx[4096];
	size_t rx_len;
	size_t rx_total;
	bool consume_in_callback;
	int refuse; /* on_open's answer */
	/* reentrancy hooks, run from the callbacks when set */
	void (*on_open_hook)(peer *p, uint32_t id);
	void (*on_data_hook)(peer *p, uint32_t id);
	void (*on_fin_hook)(peer *p, uint32_t id);
	void (*on_reset_hook)(peer *p, uint32_t id);
	void (*on_closed_hook)(peer *p, uint32_t id);
	/* large-transfer check: expected next byte value */
	bool check_pattern;
};

static int cb_open(p2p_yamux *y, uint32_t id, void *user)
{
	peer *p = user;
	p->opened++;
	p->last_open = id;
	if (p->on_open_hook)
		p->on_open_hook(p, id);
	return p->refuse;
}

static void cb_ack(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	((peer *)user)->acked++;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12));
}

static void cb_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t n, void *su,
                    void *user)
{
	peer *p = user;
	if (p->check_pattern) {
		size_t bad = 0;
		for (size_t i = 0; i < n; i++)
			bad += d[i] != pattern(p->rx_total + i);
		assert_int_equal(bad, 0);
	} else if (p->rx_len + n <= sizeof(p->rx)) {
		memcpy(p->rx + p->rx_len, d, n);
		p->rx_len += n;
	}
	p->rx_total += n;
	if (p->consume_in_callback)
		assert_int_equal(p2p_yamux_consume(y, id, n), P2P_OK);
	if (p->on_data_hook)
		p->on_data_hook(p, id);
}

static void cb_fin(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	peer *p = user;
	p->fins++;
	if (p->on_fin_hook)
		p->on_fin_hook(p, id);
}

static void cb_reset(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	peer *p = user;
	p->resets++;
	if (p->on_reset_hook)
		p->on_reset_hook(p, id);
}

static void cb_writable(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	((peer *)user)->writables++;
}

static void cb_closed(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	peer *p = user;
	p->closed++;
	p->last_closed = id;
	if (p->on_closed_hook)
		p->on_closed_hook(p, id);
}

static void cb_pong(p2p_yamux *y, uint32_t opaque, void *user)
{
	peer *p = user;
	p->pongs++;
	p->last_pong = opaque;
}

static void cb_go_away(p2p_yamux *y, uint32_t code, void *user)
{
	peer *p = user;
	p->go_aways++;
	p->last_go_away = code;
}

static const p2p_yamux_callbacks callbacks = {
    .on_open = cb_open,
    .on_ack = cb_ack,
    .on_data = cb_data,
    .on_fin = cb_fin,
    .on_reset = cb_reset,
    .on_writable = cb_writable,
    .on_closed = cb_closed,
    .on_pong = cb_pong,
    .on_go_away = cb_go_away,
};

static void peer_init(peer *p, bool client, const p2p_yamux_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->consume_in_callback = true;
	assert_int_equal(p2p_yamux_new(&p->y, client, &callbacks, p, cfg), P2P_OK);
}

/* What a session queues is whole frames, and data frames are at most
 * P2P_YAMUX_MAX_FRAME long. */
static void check_frames(const p2p_buf *b)
{
	size_t pos = 0;
	while (pos < b->len) {
		assert_true(b->len - pos >= 12);
		const uint8_t *h = b->data + pos;
		assert_int_equal(h[0], 0);
		assert_true(h[1] <= 3);
		uint32_t len =
		    (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | h[10] << 8 | h[11];
		pos += 12;
		if (h[1] == 0) {
			assert_true(len <= P2P_YAMUX_MAX_FRAME);
			pos += len;
		}
	}
	assert_int_equal(pos, b->len);
}

/* Moves everything `from` has queued into `to`, `chunk` bytes per call. */
static int deliver(peer *from, peer *to, size_t chunk)
{
	p2p_buf tmp;
	p2p_buf_move(&tmp, p2p_yamux_output(from->y));
	check_frames(&tmp);
	int rc = P2P_OK;
	for (size_t off = 0; off < tmp.len && rc == P2P_OK; off += chunk) {
		size_t n = tmp.len - off < chunk ? tmp.len - off : chunk;
		rc = p2p_yamux_recv(to->y, tmp.data + off, n);
	}
	p2p_buf_free(&tmp);
	return rc;
}

/* Shuttles bytes both ways until both sides are quiet. */
static void pump(peer *a, peer *b, size_t chunk)
{
	for (int i = 0; i < 10000; i++) {
		if (p2p_yamux_output(a->y)->len == 0 && p2p_yamux_output(b->y)->len == 0)
			return;
		assert_int_equal(deliver(a, b, chunk), P2P_OK);
		assert_int_equal(deliver(b, a, chunk), P2P_OK);
	}
	fail_msg("pump did not settle");
}

static void assert_output(peer *p, const void *bytes, size_t len)
{
	p2p_buf *out = p2p_yamux_output(p->y);
	assert_int_equal(out->len, len);
	assert_memory_equal(out->data, bytes, len);
}

static void drop_output(peer *p)
{
	p2p_buf_reset(p2p_yamux_output(p->y));
}

static void test_header_vectors(void **state)
{
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	uint32_t id = 0;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	assert_int_equal(id, 1);
	/* window update (type 1) with SYN for stream 1, delta 0 */
	assert_output(&c, "\x00\x01\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00", 12);
	assert_int_equal(p2p_yamux_write(c.y, 1, (const uint8_t *)"hi", 2), 2);
	assert_output(&c,
	              "\x00\x01\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00"
	              "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02hi",
	              26);
	assert_int_equal(deliver(&c, &s, 1000), P2P_OK);
	assert_int_equal(s.opened, 1);
	assert_int_equal(s.last_open, 1);
	assert_memory_equal(s.rx, "hi", 2);
	/* ACK as a window update; the consumed bytes are too few for an update */
	assert_output(&s, "\x00\x01\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00", 12);
	drop_output(&s);
	/* server streams are even; the first frame on an inbound stream carries ACK */
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_OK);
	assert_int_equal(id, 2);
	drop_output(&s);

	assert_int_equal(p2p_yamux_ping(c.y, 42), P2P_OK);
	assert_output(&c, "\x00\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a", 12);
	assert_int_equal(deliver(&c, &s, 1000), P2P_OK);
	assert_output(&s, "\x00\x02\x00\x02\x00\x00\x00\x00\x00\x00\x00\x2a", 12);
	assert_int_equal(deliver(&s, &c, 1000), P2P_OK);
	assert_int_equal(c.pongs, 1);
	assert_int_equal(c.last_pong, 42);

	assert_int_equal(p2p_yamux_close(c.y, 1), P2P_OK);
	assert_output(&c, "\x00\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00", 12);
	drop_output(&c);
	assert_int_equal(p2p_yamux_reset(c.y, 1), P2P_OK);
	assert_output(&c, "\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00", 12);
	drop_output(&c);
	assert_int_equal(p2p_yamux_go_away(c.y, P2P_YAMUX_GOAWAY_NORMAL), P2P_OK);
	assert_output(&c, "\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void write_hello(peer *p, uint32_t id)
{
	assert_int_equal(p2p_yamux_write(p->y, id, (const uint8_t *)"hello", 5), 5);
}

static void test_open_data_both_ways(void **state)
{
	for (size_t chunk = 1; chunk <= 4096; chunk *= 64) {
		peer c, s;
		peer_init(&c, true, NULL);
		peer_init(&s, false, NULL);
		s.on_open_hook = write_hello;
		uint32_t id;
		assert_int_equal(p2p_yamux_open(c.y, &id, &c), P2P_OK);
		assert_ptr_equal(p2p_yamux_stream_user(c.y, id), &c);
		assert_int_equal(p2p_yamux_write(c.y, id, (const uint8_t *)"ping!", 5),
		                 5);
		if (chunk == 1) {
			/* the ACK rides on the data written from on_open */
			assert_int_equal(deliver(&c, &s, chunk), P2P_OK);
			assert_output(&s,
			              "\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x05"
			              "hello",
			              17);
		}
		pump(&c, &s, chunk);
		assert_int_equal(s.opened, 1);
		assert_int_equal(c.acked, 1);
		assert_int_equal(s.rx_len, 5);
		assert_memory_equal(s.rx, "ping!", 5);
		assert_int_equal(c.rx_len, 5);
		assert_memory_equal(c.rx, "hello", 5);
		assert_int_equal(p2p_yamux_num_streams(c.y), 1);
		assert_int_equal(p2p_yamux_num_streams(s.y), 1);
		assert_int_equal(p2p_yamux_send_window(c.y, id),
		                 P2P_YAMUX_INITIAL_WINDOW - 5);
		/* free closes what is left */
		p2p_yamux_free(c.y);
		p2p_yamux_free(s.y);
		assert_int_equal(c.closed, 1);
		assert_int_equal(s.closed, 1);
	}
}

static void test_half_close(void **state)
{
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	assert_int_equal(p2p_yamux_write(c.y, id, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(p2p_yamux_close(c.y, id), P2P_OK);
	assert_int_equal(p2p_yamux_close(c.y, id), P2P_OK); /* idempotent */
	assert_int_equal(p2p_yamux_write(c.y, id, (const uint8_t *)"x", 1), P2P_ECLOSED);
	assert_int_equal(p2p_yamux_send_window(c.y, id), 0);
	pump(&c, &s, 7);
	assert_int_equal(s.fins, 1);
	assert_int_equal(s.rx_len, 3);
	/* the other direction still works */
	assert_int_equal(p2p_yamux_write(s.y, id, (const uint8_t *)"reply", 5), 5);
	pump(&c, &s, 7);
	assert_int_equal(c.rx_len, 5);
	assert_int_equal(c.closed, 0);
	assert_int_equal(p2p_yamux_close(s.y, id), P2P_OK);
	assert_int_equal(s.closed, 1); /* both directions done */
	pump(&c, &s, 7);
	assert_int_equal(c.fins, 1);
	assert_int_equal(c.closed, 1);
	assert_int_equal(c.last_closed, id);
	assert_int_equal(p2p_yamux_num_streams(c.y), 0);
	assert_int_equal(p2p_yamux_num_streams(s.y), 0);
	assert_int_equal(p2p_yamux_write(c.y, id, (const uint8_t *)"x", 1),
	                 P2P_ENOTFOUND);
	/* FIN riding on a data frame: data first, then on_fin */
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_OK);
	pump(&c, &s, 100);
	static const uint8_t data_fin[] = {0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2, 'o', 'k'};
	c.rx_len = 0;
	assert_int_equal(p2p_yamux_recv(s.y, data_fin, 5), P2P_OK);
	assert_int_equal(p2p_yamux_recv(s.y, data_fin + 5, 8), P2P_OK);
	assert_int_equal(s.fins, 1);
	assert_int_equal(p2p_yamux_recv(s.y, data_fin + 13, 1), P2P_OK);
	assert_int_equal(s.fins, 2);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void test_reset(void **state)
{
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	pump(&c, &s, 3);
	assert_int_equal(p2p_yamux_reset(c.y, id), P2P_OK);
	assert_int_equal(c.closed, 1);
	assert_int_equal(c.resets, 0); /* on_reset is for the peer's resets */
	assert_int_equal(p2p_yamux_reset(c.y, id), P2P_ENOTFOUND);
	pump(&c, &s, 3);
	assert_int_equal(s.resets, 1);
	assert_int_equal(s.closed, 1);
	assert_int_equal(p2p_yamux_write(s.y, id, (const uint8_t *)"x", 1),
	                 P2P_ENOTFOUND);
	/* late frames for the reset stream are ignored */
	static const uint8_t late[] = {0,   0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 'a', 'b',
	                               'c', 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
	assert_int_equal(p2p_yamux_recv(s.y, late, sizeof(late)), P2P_OK);
	assert_false(p2p_yamux_is_dead(s.y));
	assert_int_equal(s.rx_total, 0);
	/* ... and so are frames for IDs never seen */
	static const uint8_t unknown[] = {0, 0, 0, 0, 0, 0, 0x10, 1, 0, 0, 0, 1, 'z'};
	assert_int_equal(p2p_yamux_recv(s.y, unknown, sizeof(unknown)), P2P_OK);
	assert_int_equal(p2p_yamux_output(s.y)->len, 0);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void test_stream_limit(void **state)
{
	p2p_yamux_config cfg = {.max_streams = 2};
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, &cfg);
	uint32_t id;
	for (int i = 0; i < 3; i++)
		assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	pump(&c, &s, 64);
	assert_int_equal(s.opened, 2); /* the third was refused before on_open */
	assert_int_equal(p2p_yamux_num_streams(s.y), 2);
	assert_int_equal(c.resets, 1);
	assert_int_equal(c.last_closed, 5);
	assert_int_equal(p2p_yamux_num_streams(c.y), 2);
	/* our own limit */
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_OK);
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_OK);
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_ELIMIT);
	/* the application refuses */
	c.refuse = P2P_ELIMIT;
	pump(&c, &s, 64);
	assert_int_equal(s.resets, 2);
	assert_int_equal(c.closed, 1); /* refused streams get no on_closed */
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void test_many_streams(void **state)
{
	peer c, s;
	p2p_yamux_config cfg = {.max_streams = 3000};
	peer_init(&c, true, &cfg);
	peer_init(&s, false, &cfg);
	uint32_t ids[2000];
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(p2p_yamux_open(c.y, &ids[i], NULL), P2P_OK);
		assert_int_equal(p2p_yamux_write(c.y, ids[i], (const uint8_t *)"x", 1),
		                 1);
	}
	pump(&c, &s, 4096);
	assert_int_equal(p2p_yamux_num_streams(s.y), 2000);
	assert_int_equal(s.rx_total, 2000);
	/* close every other one, from both sides; the rest stay reachable */
	for (int i = 0; i < 2000; i += 2) {
		assert_int_equal(p2p_yamux_close(c.y, ids[i]), P2P_OK);
		assert_int_equal(p2p_yamux_close(s.y, ids[i]), P2P_OK);
	}
	pump(&c, &s, 4096);
	assert_int_equal(p2p_yamux_num_streams(s.y), 1000);
	assert_int_equal(p2p_yamux_num_streams(c.y), 1000);
	for (int i = 1; i < 2000; i += 2)
		assert_int_equal(p2p_yamux_send_window(c.y, ids[i]),
		                 P2P_YAMUX_INITIAL_WINDOW - 1);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
	assert_int_equal(s.closed, 2000);
}

/* 8 MiB through a reader that takes at most 32 KiB per round: writes stop
 * at the window, on_writable restarts them, and what the reader holds never
 * exceeds the window it granted. */
static void backpressure(size_t TOTAL, size_t chunk)
{
	enum { READ_PER_ROUND = 32 * 1024 };
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	s.consume_in_callback = false;
	s.check_pattern = true;
	uint8_t *src = malloc(TOTAL);
	assert_non_null(src);
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = pattern(i);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	size_t sent = 0, consumed = 0;
	int zero_writes = 0;
	for (int round = 0; round < 100000 && consumed < TOTAL; round++) {
		ssize_t n = p2p_yamux_write(c.y, id, src + sent, TOTAL - sent);
		assert_true(n >= 0);
		if (n == 0 && sent < TOTAL)
			zero_writes++;
		sent += (size_t)n;
		/* in flight (queued) + held by the reader <= the granted window */
		assert_true(p2p_yamux_output(c.y)->len <= P2P_YAMUX_MAX_WINDOW + 1024);
		assert_int_equal(deliver(&c, &s, chunk), P2P_OK);
		size_t held = s.rx_total - consumed;
		assert_true(held <= P2P_YAMUX_MAX_WINDOW);
		size_t take = held < READ_PER_ROUND ? held : READ_PER_ROUND;
		if (take > 0)
			assert_int_equal(p2p_yamux_consume(s.y, id, take), P2P_OK);
		consumed += take;
		assert_int_equal(deliver(&s, &c, chunk), P2P_OK);
	}
	assert_int_equal(consumed, TOTAL);
	assert_int_equal(sent, TOTAL);
	assert_true(zero_writes > 0);
	assert_true(c.writables > 0);
	/* consuming more than was delivered is the application's bug */
	assert_int_equal(p2p_yamux_consume(s.y, id, 1), P2P_EINVAL);
	free(src);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void test_backpressure(void **state)
{
	backpressure(8 * 1024 * 1024, 100000);
	backpressure(1024 * 1024, 7); /* and with the frames cut into pieces */
}

/* A reader that keeps up lets the window grow, but never past max_window. */
static void test_window_growth(void **state)
{
	enum { TOTAL = 16 * 1024 * 1024 };
	p2p_yamux_config cfg = {.max_window = 4 * 1024 * 1024};
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, &cfg);
	s.check_pattern = true;
	uint8_t *src = malloc(TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = pattern(i);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	size_t sent = 0, max_window = 0;
	while (s.rx_total < TOTAL) {
		size_t w = p2p_yamux_send_window(c.y, id);
		if (w > max_window)
			max_window = w;
		ssize_t n = p2p_yamux_write(c.y, id, src + sent, TOTAL - sent);
		assert_true(n >= 0);
		sent += (size_t)n;
		pump(&c, &s, 1 << 20);
	}
	assert_int_equal(max_window, cfg.max_window);
	free(src);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void test_go_away(void **state)
{
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	pump(&c, &s, 5);
	assert_int_equal(p2p_yamux_go_away(s.y, P2P_YAMUX_GOAWAY_NORMAL), P2P_OK);
	assert_int_equal(p2p_yamux_go_away(s.y, P2P_YAMUX_GOAWAY_NORMAL), P2P_OK);
	assert_int_equal(p2p_yamux_output(s.y)->len, 12); /* sent once */
	pump(&c, &s, 5);
	assert_int_equal(c.go_aways, 1);
	assert_int_equal(c.last_go_away, P2P_YAMUX_GOAWAY_NORMAL);
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_ECLOSED);
	assert_int_equal(p2p_yamux_open(s.y, &id, NULL), P2P_ECLOSED);
	/* existing streams carry on */
	assert_int_equal(p2p_yamux_write(c.y, 1, (const uint8_t *)"still", 5), 5);
	pump(&c, &s, 5);
	assert_int_equal(s.rx_len, 5);
	/* a SYN after our go-away is refused with RST */
	static const uint8_t syn3[] = {0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0};
	assert_int_equal(p2p_yamux_recv(s.y, syn3, 12), P2P_OK);
	assert_output(&s, "\x00\x01\x00\x08\x00\x00\x00\x03\x00\x00\x00\x00", 12);
	assert_int_equal(s.opened, 1);
	assert_false(p2p_yamux_is_dead(s.y));
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

static void expect_proto_error(bool client, const uint8_t *in, size_t len, bool bytewise)
{
	peer p;
	peer_init(&p, client, NULL);
	int rc = P2P_OK;
	for (size_t i = 0; i < len && rc == P2P_OK; i += bytewise ? 1 : len)
		rc = p2p_yamux_recv(p.y, in + i, bytewise ? 1 : len);
	assert_int_equal(rc, P2P_EPROTO);
	assert_true(p2p_yamux_is_dead(p.y));
	p2p_buf *out = p2p_yamux_output(p.y);
	assert_true(out->len >= 12);
	assert_memory_equal(out->data + out->len - 12,
	                    "\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 12);
	/* errors are final */
	assert_int_equal(p2p_yamux_recv(p.y, in, 1), P2P_EPROTO);
	uint32_t id;
	assert_int_equal(p2p_yamux_open(p.y, &id, NULL), P2P_ECLOSED);
	assert_int_equal(p2p_yamux_ping(p.y, 1), P2P_ECLOSED);
	p2p_yamux_free(p.y);
}

static void test_protocol_errors(void **state)
{
	static const struct {
		bool client;
		uint8_t in[28];
		size_t len;
	} cases[] = {
	    /* version 1 */
	    {false, {1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 12},
	    /* unknown type 4 */
	    {false, {0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12},
	    /* unknown flag 0x10 */
	    {false, {0, 1, 0, 0x11, 0, 0, 0, 1, 0, 0, 0, 0}, 12},
	    /* SYN with our own parity (server opening odd... to a client: odd) */
	    {true, {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 12},
	    /* SYN on stream 0 */
	    {false, {0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 12},
	    /* duplicate SYN */
	    {false,
	     {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0},
	     24},
	    /* data beyond the initial window: 256 KiB + 1 */
	    {false, {0, 0, 0, 1, 0, 0, 0, 1, 0, 0x04, 0, 1}, 12},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int bytewise = 0; bytewise < 2; bytewise++)
			expect_proto_error(cases[i].client, cases[i].in, cases[i].len,
			                   bytewise);

	/* overrunning the window over several frames */
	peer s;
	peer_init(&s, false, NULL);
	s.consume_in_callback = false;
	uint8_t *frame = calloc(1, 12 + 128 * 1024);
	static const uint8_t syn1[] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
	assert_int_equal(p2p_yamux_recv(s.y, syn1, 12), P2P_OK);
	memcpy(frame, "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x02\x00\x00", 12);
	assert_int_equal(p2p_yamux_recv(s.y, frame, 12 + 128 * 1024), P2P_OK);
	assert_int_equal(p2p_yamux_recv(s.y, frame, 12 + 128 * 1024), P2P_OK);
	assert_int_equal(p2p_yamux_recv(s.y, frame, 12), P2P_EPROTO);
	assert_true(p2p_yamux_is_dead(s.y));
	free(frame);
	p2p_yamux_free(s.y);
}

/* --- callbacks that call back into the session --------------------------- */

static void reset_it(peer *p, uint32_t id)
{
	assert_int_equal(p2p_yamux_reset(p->y, id), P2P_OK);
	/* the stream is gone at once */
	assert_int_equal(p2p_yamux_write(p->y, id, (const uint8_t *)"x", 1),
	                 P2P_ENOTFOUND);
}

static void close_it(peer *p, uint32_t id)
{
	assert_int_equal(p2p_yamux_close(p->y, id), P2P_OK);
}

static void reply_and_close(peer *p, uint32_t id)
{
	assert_int_equal(p2p_yamux_write(p->y, id, (const uint8_t *)"bye", 3), 3);
	assert_int_equal(p2p_yamux_close(p->y, id), P2P_OK);
}

static void open_another(peer *p, uint32_t id)
{
	uint32_t nid;
	assert_int_equal(p2p_yamux_write(p->y, id, (const uint8_t *)"x", 1),
	                 P2P_ENOTFOUND);
	if (p->closed < 3)
		assert_int_equal(p2p_yamux_open(p->y, &nid, NULL), P2P_OK);
}

static void reset_back(peer *p, uint32_t id)
{
	/* inside on_reset: writes fail, a reset back is quietly accepted */
	assert_int_equal(p2p_yamux_write(p->y, id, (const uint8_t *)"x", 1), P2P_ERESET);
	assert_int_equal(p2p_yamux_reset(p->y, id), P2P_OK);
}

static void test_reentrancy(void **state)
{
	for (size_t chunk = 1; chunk <= 1024; chunk *= 32) {
		peer c, s;
		peer_init(&c, true, NULL);
		peer_init(&s, false, NULL);
		uint32_t id;

		/* on_open writes and closes; on_data resets */
		s.on_open_hook = reply_and_close;
		c.on_data_hook = reset_it;
		assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
		assert_int_equal(p2p_yamux_write(c.y, id, (const uint8_t *)"hello", 5),
		                 5);
		pump(&c, &s, chunk);
		assert_int_equal(c.closed, 1);
		assert_int_equal(s.closed, 1);
		assert_int_equal(s.resets, 1);
		assert_true(c.rx_total >= 1);
		s.on_open_hook = NULL;
		c.on_data_hook = NULL;

		/* on_fin closes (finishing the stream inside on_fin); on_closed
		 * opens a new stream */
		s.on_fin_hook = close_it;
		c.on_closed_hook = open_another;
		assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
		assert_int_equal(p2p_yamux_close(c.y, id), P2P_OK);
		pump(&c, &s, chunk);
		assert_int_equal(c.closed, 2);
		assert_int_equal(p2p_yamux_num_streams(c.y),
		                 1); /* the one on_closed opened */
		s.on_fin_hook = NULL;
		c.on_closed_hook = NULL;

		/* on_reset resets back */
		s.on_reset_hook = reset_back;
		assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
		pump(&c, &s, chunk);
		assert_int_equal(p2p_yamux_reset(c.y, id), P2P_OK);
		size_t before = s.closed;
		pump(&c, &s, chunk);
		assert_int_equal(s.closed, before + 1);

		/* on_data resets mid-frame: the rest of the frame is skipped */
		s.on_reset_hook = NULL;
		s.on_data_hook = reset_it;
		size_t rx = s.rx_total;
		uint8_t big[5000];
		memset(big, 'q', sizeof(big));
		assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
		assert_int_equal(p2p_yamux_write(c.y, id, big, sizeof(big)),
		                 (ssize_t)sizeof(big));
		assert_int_equal(p2p_yamux_write(c.y, id, big, 10), 10);
		pump(&c, &s, chunk);
		/* SYN (12) and the data header (12) come first in the chunks */
		assert_int_equal(s.rx_total - rx, chunk == 1 ? 1 : chunk - 24);
		assert_false(p2p_yamux_is_dead(s.y));
		assert_false(p2p_yamux_is_dead(c.y));

		p2p_yamux_free(c.y);
		p2p_yamux_free(s.y);
	}
}

static void recurse_recv(peer *p, uint32_t id)
{
	assert_int_equal(p2p_yamux_recv(p->y, (const uint8_t *)"x", 1), P2P_ESTATE);
}

static void test_recv_not_reentrant(void **state)
{
	peer c, s;
	peer_init(&c, true, NULL);
	peer_init(&s, false, NULL);
	s.on_open_hook = recurse_recv;
	uint32_t id;
	assert_int_equal(p2p_yamux_open(c.y, &id, NULL), P2P_OK);
	pump(&c, &s, 12);
	assert_int_equal(s.opened, 1);
	p2p_yamux_free(c.y);
	p2p_yamux_free(s.y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_vectors),
	    cmocka_unit_test(test_open_data_both_ways),
	    cmocka_unit_test(test_half_close),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_stream_limit),
	    cmocka_unit_test(test_many_streams),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_window_growth),
	    cmocka_unit_test(test_go_away),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_reentrancy),
	    cmocka_unit_test(test_recv_not_reentrant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
