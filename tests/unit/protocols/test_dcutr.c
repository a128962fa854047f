/* DCUtR sans-I/O core: the two roles driven against each other with made-up
 * timestamps, retries, timeouts, hostile input, and the exact bytes
 * go-libp2p puts on the wire (laid out by hand from the spec's .proto:
 * field 1 varint, field 2 length-delimited). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/dcutr.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

#define PEER           "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
#define PEER2          "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"
#define MAX_TEST_ADDRS 32

/* /ip4/127.0.0.1/tcp/4001 */
static const uint8_t lo4001[] = {0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};
/* What go-libp2p writes: CONNECT = 08 64 (type 100), 12 08 <lo4001>
 * (ObsAddrs); SYNC = 08 ac 02 (type 300). Each after its length. */
static const uint8_t connect_lo[] = {0x0c, 0x08, 0x64, 0x12, 0x08, 0x04, 0x7f,
                                     0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};
static const uint8_t sync_msg[] = {0x03, 0x08, 0xac, 0x02};

typedef struct addr_list {
	p2p_buf a[MAX_TEST_ADDRS];
	size_t n;
} addr_list;

static void list_add(addr_list *l, const char *text)
{
	assert_true(l->n < MAX_TEST_ADDRS);
	p2p_buf_init(&l->a[l->n]);
	assert_int_equal(p2p_multiaddr_parse(text, &l->a[l->n]), P2P_OK);
	l->n++;
}

static void list_add_raw(addr_list *l, const uint8_t *bytes, size_t len)
{
	assert_true(l->n < MAX_TEST_ADDRS);
	p2p_buf_init(&l->a[l->n]);
	if (len > 0)
		assert_int_equal(p2p_buf_append(&l->a[l->n], bytes, len), P2P_OK);
	l->n++;
}

static void list_free(addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		p2p_buf_free(&l->a[i]);
	l->n = 0;
}

static void assert_addr(const p2p_buf *b, const char *text)
{
	p2p_buf want;
	p2p_buf_init(&want);
	assert_int_equal(p2p_multiaddr_parse(text, &want), P2P_OK);
	assert_int_equal(b->len, want.len);
	assert_memory_equal(b->data, want.data, want.len);
	p2p_buf_free(&want);
}

/* d with the one address text as ours. */
static void init_one(p2p_dcutr *d, p2p_dcutr_role role, const char *text)
{
	addr_list l = {0};
	list_add(&l, text);
	assert_int_equal(p2p_dcutr_init(d, role, l.a, l.n), P2P_OK);
	list_free(&l);
}

/* The initiator offers one punchable address among others it must drop;
 * the responder two (one with /p2p/ to strip). */
static void make_pair(p2p_dcutr *ini, p2p_dcutr *resp)
{
	addr_list l = {0};
	list_add(&l, "/ip4/198.18.0.5/tcp/4001");
	list_add(&l, "/ip4/198.18.0.5/udp/4001/quic-v1");
	list_add(&l, "/ip4/0.0.0.0/tcp/4001");
	assert_int_equal(p2p_dcutr_init(ini, P2P_DCUTR_INITIATOR, l.a, l.n), P2P_OK);
	list_free(&l);
	list_add(&l, "/ip4/192.168.1.7/tcp/5000/p2p/" PEER);
	list_add(&l, "/ip6/::1/tcp/6000");
	list_add(&l, "/dns4/example.com/tcp/1");
	assert_int_equal(p2p_dcutr_init(resp, P2P_DCUTR_RESPONDER, l.a, l.n), P2P_OK);
	list_free(&l);
}

/* Feeds all of in to d at now; asserts it was all taken and returned OK. */
static void feed_all(p2p_dcutr *d, const p2p_buf *in, uint64_t now, p2p_buf *out)
{
	size_t used = 99;
	assert_int_equal(p2p_dcutr_recv(d, in->data, in->len, &used, now, out), P2P_OK);
	assert_int_equal(used, in->len);
}

/* One attempt, from the initiator's CONNECT (already in to_resp) to both
 * sides in DIAL. Times: CONNECT out at t, the responder gets it at t+d1,
 * the initiator its answer at t+rtt, the responder the SYNC at t+rtt+d1. */
static void run_attempt(p2p_dcutr *ini, p2p_dcutr *resp, p2p_buf *to_resp, uint64_t t,
                        uint64_t rtt, unsigned attempt)
{
	p2p_buf to_ini;
	p2p_buf_init(&to_ini);
	uint64_t d1 = rtt / 2;
	assert_int_equal(p2p_dcutr_deadline(ini), t + P2P_DCUTR_STEP_TIMEOUT_MS);

	feed_all(resp, to_resp, t + d1, &to_ini);
	p2p_buf_reset(to_resp);
	assert_int_equal(p2p_dcutr_get_state(resp), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_attempt(resp), attempt);
	assert_int_equal(p2p_dcutr_deadline(resp), t + d1 + P2P_DCUTR_STEP_TIMEOUT_MS);
	size_t n;
	const p2p_buf *ra = p2p_dcutr_remote_addrs(resp, &n);
	assert_int_equal(n, 1);
	assert_addr(&ra[0], "/ip4/198.18.0.5/tcp/4001");
	assert_true(to_ini.len > 0);

	feed_all(ini, &to_ini, t + rtt, to_resp);
	p2p_buf_reset(&to_ini);
	assert_int_equal(p2p_dcutr_get_state(ini), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_rtt_ms(ini), rtt);
	assert_int_equal(p2p_dcutr_deadline(ini), t + rtt + rtt / 2);
	ra = p2p_dcutr_remote_addrs(ini, &n);
	assert_int_equal(n, 2);
	assert_addr(&ra[0], "/ip4/192.168.1.7/tcp/5000");
	assert_addr(&ra[1], "/ip6/::1/tcp/6000");
	assert_int_equal(to_resp->len, sizeof(sync_msg));
	assert_memory_equal(to_resp->data, sync_msg, sizeof(sync_msg));

	/* The responder dials the moment SYNC arrives... */
	feed_all(resp, to_resp, t + rtt + d1, &to_ini);
	p2p_buf_reset(to_resp);
	assert_int_equal(p2p_dcutr_get_state(resp), P2P_DCUTR_DIAL);
	assert_int_equal(p2p_dcutr_deadline(resp), UINT64_MAX);
	assert_int_equal(p2p_dcutr_rtt_ms(resp), rtt);
	assert_int_equal(to_ini.len, 0);

	/* ...the initiator half an RTT after sending it, not a ms earlier. */
	assert_int_equal(p2p_dcutr_tick(ini, t + rtt + rtt / 2 - 1, to_resp), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(ini), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_tick(ini, t + rtt + rtt / 2, to_resp), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(ini), P2P_DCUTR_DIAL);
	assert_int_equal(p2p_dcutr_deadline(ini), UINT64_MAX);
	assert_int_equal(p2p_dcutr_attempt(ini), attempt);
	assert_int_equal(to_resp->len, 0);
	p2p_buf_free(&to_ini);
}

static void test_full_exchange(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_deadline(&ini), UINT64_MAX);
	assert_int_equal(p2p_dcutr_attempt(&ini), 0);
	assert_int_equal(p2p_dcutr_start(&resp, 990, &out), P2P_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(p2p_dcutr_deadline(&resp), 990 + P2P_DCUTR_STEP_TIMEOUT_MS);
	assert_int_equal(p2p_dcutr_start(&ini, 1000, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_start(&ini, 1000, &out), P2P_ESTATE);
	assert_int_equal(p2p_dcutr_attempt(&ini), 1);

	run_attempt(&ini, &resp, &out, 1000, 80, 1);
	assert_int_equal(p2p_dcutr_dial_result(&ini, true, 1200, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_dial_result(&resp, true, 1200, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_DONE);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_DONE);
	assert_int_equal(p2p_dcutr_error(&ini), P2P_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(p2p_dcutr_dial_result(&ini, true, 1200, &out), P2P_ESTATE);
	/* Once done, the stream's end changes nothing, and bytes are left. */
	p2p_dcutr_stream_closed(&ini);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_DONE);
	size_t used = 9;
	assert_int_equal(p2p_dcutr_recv(&ini, lo4001, sizeof(lo4001), &used, 1300, &out),
	                 P2P_OK);
	assert_int_equal(used, 0);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_dcutr_free(&resp); /* harmless */
	p2p_buf_free(&out);
}

static void test_retries_then_failed(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out;
	p2p_buf_init(&out);
	uint64_t t = 5000;
	assert_int_equal(p2p_dcutr_start(&ini, t, &out), P2P_OK);
	static const uint64_t rtts[] = {300, 41, 7};
	for (unsigned a = 1; a <= P2P_DCUTR_MAX_ATTEMPTS; a++) {
		uint64_t rtt = rtts[a - 1];
		run_attempt(&ini, &resp, &out, t, rtt, a);
		t += 2 * rtt + 1000; /* the dials took a second */
		int want = a < P2P_DCUTR_MAX_ATTEMPTS ? P2P_OK : P2P_ELIMIT;
		assert_int_equal(p2p_dcutr_dial_result(&resp, false, t, &out), want);
		assert_int_equal(out.len, 0);
		assert_int_equal(p2p_dcutr_dial_result(&ini, false, t, &out), want);
		if (want == P2P_OK) {
			/* The retry is a fresh CONNECT on the same stream. */
			assert_true(out.len > 0);
			assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_WAIT);
			assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_WAIT);
			assert_int_equal(p2p_dcutr_attempt(&ini), a + 1);
			assert_int_equal(p2p_dcutr_deadline(&resp),
			                 t + P2P_DCUTR_STEP_TIMEOUT_MS);
		}
	}
	assert_int_equal(out.len, 0);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_FAILED);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_FAILED);
	assert_int_equal(p2p_dcutr_error(&ini), P2P_ELIMIT);
	assert_int_equal(p2p_dcutr_error(&resp), P2P_ELIMIT);
	assert_int_equal(p2p_dcutr_attempt(&ini), P2P_DCUTR_MAX_ATTEMPTS);
	assert_int_equal(p2p_dcutr_deadline(&ini), UINT64_MAX);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
}

static void test_step_timeouts(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out, back;
	p2p_buf_init(&out);
	p2p_buf_init(&back);

	/* The initiator waiting for the answer to its CONNECT. */
	assert_int_equal(p2p_dcutr_start(&ini, 100, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_tick(&ini, 100 + P2P_DCUTR_STEP_TIMEOUT_MS - 1, &back),
	                 P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_tick(&ini, 100 + P2P_DCUTR_STEP_TIMEOUT_MS, &back),
	                 P2P_ETIMEDOUT);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_FAILED);
	assert_int_equal(p2p_dcutr_error(&ini), P2P_ETIMEDOUT);
	assert_int_equal(p2p_dcutr_deadline(&ini), UINT64_MAX);
	/* A late answer is refused with the same error, and not consumed. */
	size_t used = 9;
	assert_int_equal(p2p_dcutr_recv(&ini, out.data, out.len, &used, 20000, &back),
	                 P2P_ETIMEDOUT);
	assert_int_equal(used, 0);

	/* The responder without start has no clock for the first CONNECT. */
	assert_int_equal(p2p_dcutr_deadline(&resp), UINT64_MAX);
	assert_int_equal(p2p_dcutr_tick(&resp, UINT64_MAX - 1, &back), P2P_OK);
	/* Then waiting for SYNC. */
	feed_all(&resp, &out, 200, &back);
	assert_int_equal(p2p_dcutr_deadline(&resp), 200 + P2P_DCUTR_STEP_TIMEOUT_MS);
	assert_int_equal(p2p_dcutr_tick(&resp, 300 + P2P_DCUTR_STEP_TIMEOUT_MS, &back),
	                 P2P_ETIMEDOUT);
	assert_int_equal(p2p_dcutr_error(&resp), P2P_ETIMEDOUT);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);

	/* The responder started, waiting for the first CONNECT. */
	make_pair(&ini, &resp);
	assert_int_equal(p2p_dcutr_start(&resp, 0, &back), P2P_OK);
	assert_int_equal(p2p_dcutr_start(&resp, 0, &back), P2P_ESTATE);
	assert_int_equal(p2p_dcutr_tick(&resp, P2P_DCUTR_STEP_TIMEOUT_MS, &back),
	                 P2P_ETIMEDOUT);
	/* A clock near the end of time neither wraps nor means "none". */
	assert_int_equal(p2p_dcutr_start(&ini, UINT64_MAX - 5, &back), P2P_OK);
	assert_true(p2p_dcutr_deadline(&ini) != UINT64_MAX);
	assert_true(p2p_dcutr_deadline(&ini) >= UINT64_MAX - 5);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&back);
}

/* Feeds raw bytes to a fresh role; returns the recv result. */
static int feed_fresh(p2p_dcutr_role role, const uint8_t *in, size_t len, size_t *used)
{
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out;
	p2p_buf_init(&out);
	p2p_dcutr *d = role == P2P_DCUTR_INITIATOR ? &ini : &resp;
	if (role == P2P_DCUTR_INITIATOR)
		assert_int_equal(p2p_dcutr_start(d, 0, &out), P2P_OK);
	p2p_buf_reset(&out);
	int rc = p2p_dcutr_recv(d, in, len, used, 10, &out);
	if (rc != P2P_OK) {
		assert_int_equal(p2p_dcutr_get_state(d), P2P_DCUTR_FAILED);
		assert_int_equal(p2p_dcutr_error(d), rc);
		assert_int_equal(out.len, 0);
		assert_int_equal(p2p_dcutr_deadline(d), UINT64_MAX);
	}
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	return rc;
}

typedef struct bad_case {
	const char *what;
	const uint8_t *in;
	size_t len;
	size_t used; /* bytes recv took before failing */
	p2p_dcutr_role role;
	int err;
} bad_case;

#define BAD(what, role, bytes, err, used)                                                \
	{                                                                                \
		what, bytes, sizeof(bytes), used, role, err                              \
	}

/* 4097 announced: refused on the prefix, before any body. */
static const uint8_t bad_big[] = {0x81, 0x20, 0x08, 0x64};
static const uint8_t bad_nonmin[] = {0x80, 0x00};
static const uint8_t bad_wiretype[] = {0x01, 0x0f}; /* field 1, wire type 7 */
static const uint8_t bad_trunc[] = {0x04, 0x08, 0x64, 0x12, 0x08};
static const uint8_t bad_empty[] = {0x00};
static const uint8_t bad_type7[] = {0x0c, 0x08, 0x07, 0x12, 0x08, 0x04, 0x7f,
                                    0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};
/* ObsAddrs /ip4/1.2.3.4/udp/1/quic-v1 and ff ff: nothing a TCP punch uses. */
static const uint8_t bad_quic[] = {0x13, 0x08, 0x64, 0x12, 0x0b, 0x04, 0x01,
                                   0x02, 0x03, 0x04, 0x91, 0x02, 0x00, 0x01,
                                   0xcd, 0x03, 0x12, 0x02, 0xff, 0xff};
static const uint8_t bad_bare[] = {0x02, 0x08, 0x64}; /* no ObsAddrs */

static void test_bad_input(void **state)
{
	(void)state;
	const p2p_dcutr_role R = P2P_DCUTR_RESPONDER, I = P2P_DCUTR_INITIATOR;
	const bad_case cases[] = {
	    BAD("oversized", R, bad_big, P2P_ETOOBIG, 2),
	    BAD("non-minimal prefix", R, bad_nonmin, P2P_EPROTO, 2),
	    BAD("not protobuf", R, bad_wiretype, P2P_EPROTO, 2),
	    BAD("truncated field", R, bad_trunc, P2P_EPROTO, 5),
	    BAD("no type", R, bad_empty, P2P_EPROTO, 1),
	    BAD("unknown type", R, bad_type7, P2P_EPROTO, 13),
	    BAD("SYNC first", R, sync_msg, P2P_EPROTO, 4),
	    BAD("SYNC for CONNECT", I, sync_msg, P2P_EPROTO, 4),
	    BAD("no usable address", R, bad_quic, P2P_EUNSUPPORTED, 20),
	    BAD("no usable address", I, bad_quic, P2P_EUNSUPPORTED, 20),
	    BAD("no address", R, bad_bare, P2P_EUNSUPPORTED, 3),
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t used = 99;
		int rc = feed_fresh(cases[i].role, cases[i].in, cases[i].len, &used);
		if (rc != cases[i].err || used != cases[i].used)
			fail_msg("%s: rc %d used %zu", cases[i].what, rc, used);
	}

	/* Peer bytes before the initiator's own CONNECT. */
	p2p_dcutr d;
	p2p_buf out;
	p2p_buf_init(&out);
	size_t used;
	assert_int_equal(p2p_dcutr_init(&d, P2P_DCUTR_INITIATOR, NULL, 0), P2P_OK);
	assert_int_equal(p2p_dcutr_recv(&d, sync_msg, sizeof(sync_msg), &used, 0, &out),
	                 P2P_EPROTO);
	assert_int_equal(used, 0);
	p2p_dcutr_free(&d);
	/* Bad arguments. */
	assert_int_equal(p2p_dcutr_init(&d, (p2p_dcutr_role)7, NULL, 0), P2P_EINVAL);
	assert_int_equal(p2p_dcutr_get_state(&d), P2P_DCUTR_FAILED);
	p2p_dcutr_free(&d);
	assert_int_equal(p2p_dcutr_init(&d, P2P_DCUTR_RESPONDER, NULL, 1), P2P_EINVAL);
	p2p_dcutr_free(&d);
	p2p_buf_free(&out);
}

static void test_unexpected_in_rtt_wait(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out, back;
	p2p_buf_init(&out);
	p2p_buf_init(&back);
	assert_int_equal(p2p_dcutr_start(&ini, 0, &out), P2P_OK);
	feed_all(&resp, &out, 5, &back);
	/* The responder's CONNECT twice in one read: the first is the answer,
	 * the second arrives during the RTT/2 wait and is a protocol error. */
	p2p_buf twice;
	p2p_buf_init(&twice);
	assert_int_equal(p2p_buf_append(&twice, back.data, back.len), P2P_OK);
	assert_int_equal(p2p_buf_append(&twice, back.data, back.len), P2P_OK);
	p2p_buf_reset(&out);
	size_t used;
	assert_int_equal(p2p_dcutr_recv(&ini, twice.data, twice.len, &used, 10, &out),
	                 P2P_EPROTO);
	assert_int_equal(used, twice.len);
	assert_int_equal(p2p_dcutr_error(&ini), P2P_EPROTO);
	/* The responder gets a second CONNECT while waiting for SYNC. */
	p2p_dcutr ini2;
	init_one(&ini2, P2P_DCUTR_INITIATOR, "/ip4/198.18.0.9/tcp/1");
	p2p_buf_reset(&out);
	assert_int_equal(p2p_dcutr_start(&ini2, 0, &out), P2P_OK);
	p2p_buf_reset(&back);
	assert_int_equal(p2p_dcutr_recv(&resp, out.data, out.len, &used, 20, &back),
	                 P2P_EPROTO);
	assert_int_equal(back.len, 0);
	p2p_dcutr_free(&ini2);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&back);
	p2p_buf_free(&twice);
}

static void test_no_own_addrs(void **state)
{
	(void)state;
	p2p_dcutr d;
	p2p_buf out;
	p2p_buf_init(&out);
	init_one(&d, P2P_DCUTR_INITIATOR, "/ip4/1.2.3.4/udp/1/quic-v1");
	assert_int_equal(p2p_dcutr_start(&d, 0, &out), P2P_ENOTFOUND);
	assert_int_equal(p2p_dcutr_get_state(&d), P2P_DCUTR_FAILED);
	assert_int_equal(out.len, 0);
	p2p_dcutr_free(&d);
	/* The responder learns it has nothing to offer when asked. */
	init_one(&d, P2P_DCUTR_RESPONDER, "/ip4/1.2.3.4/udp/1/quic-v1");
	size_t used;
	assert_int_equal(
	    p2p_dcutr_recv(&d, connect_lo, sizeof(connect_lo), &used, 0, &out),
	    P2P_ENOTFOUND);
	assert_int_equal(out.len, 0);
	p2p_dcutr_free(&d);
	p2p_buf_free(&out);
}

/* The largest message allowed passes: one junk ObsAddrs pads the CONNECT to
 * exactly P2P_DCUTR_MAX_MESSAGE, and the real address after it is used. */
static void test_max_size_accepted(void **state)
{
	(void)state;
	p2p_buf m;
	p2p_buf_init(&m);
	/* 08 64 | 12 L junk(L) | 12 08 addr(8): 2 + 3 + L + 10 = 4096 */
	size_t junk = P2P_DCUTR_MAX_MESSAGE - 15;
	assert_int_equal(p2p_buf_append_uvarint(&m, P2P_DCUTR_MAX_MESSAGE), P2P_OK);
	assert_int_equal(p2p_buf_append(&m, "\x08\x64\x12", 3), P2P_OK);
	assert_int_equal(p2p_buf_append_uvarint(&m, junk), P2P_OK);
	for (size_t i = 0; i < junk; i++)
		assert_int_equal(p2p_buf_append_byte(&m, 0xee), P2P_OK);
	assert_int_equal(p2p_buf_append(&m, "\x12\x08", 2), P2P_OK);
	assert_int_equal(p2p_buf_append(&m, lo4001, sizeof(lo4001)), P2P_OK);
	assert_int_equal(m.len, 2 + P2P_DCUTR_MAX_MESSAGE);

	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out;
	p2p_buf_init(&out);
	feed_all(&resp, &m, 0, &out);
	size_t n;
	const p2p_buf *ra = p2p_dcutr_remote_addrs(&resp, &n);
	assert_int_equal(n, 1);
	assert_addr(&ra[0], "/ip4/127.0.0.1/tcp/4001");
	assert_true(out.len > 0);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&m);
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out, back;
	p2p_buf_init(&out);
	p2p_buf_init(&back);
	assert_int_equal(p2p_dcutr_start(&ini, 0, &out), P2P_OK);
	uint64_t t = 0;
	for (size_t i = 0; i < out.len; i++) {
		size_t used;
		assert_int_equal(
		    p2p_dcutr_recv(&resp, out.data + i, 1, &used, t++, &back), P2P_OK);
		assert_int_equal(used, 1);
		/* Nothing is answered before the last byte. */
		assert_int_equal(back.len == 0, i + 1 < out.len);
	}
	p2p_buf_reset(&out);
	for (size_t i = 0; i < back.len; i++) {
		size_t used;
		assert_int_equal(p2p_dcutr_recv(&ini, back.data + i, 1, &used, t++, &out),
		                 P2P_OK);
		assert_int_equal(used, 1);
	}
	assert_int_equal(p2p_dcutr_rtt_ms(&ini), t - 1);
	assert_int_equal(out.len, 4); /* SYNC */
	p2p_buf_reset(&back);
	for (size_t i = 0; i < out.len; i++) {
		size_t used;
		assert_int_equal(p2p_dcutr_recv(&resp, out.data + i, 1, &used, t, &back),
		                 P2P_OK);
		assert_int_equal(used, 1);
		assert_int_equal(p2p_dcutr_get_state(&resp),
		                 i + 1 < out.len ? P2P_DCUTR_WAIT : P2P_DCUTR_DIAL);
	}
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&back);
}

/* Several messages in one read: CONNECT and SYNC are both handled; the
 * next attempt's CONNECT behind them is left until the dial is reported. */
static void test_several_at_once(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf in, out;
	p2p_buf_init(&in);
	p2p_buf_init(&out);
	assert_int_equal(p2p_dcutr_start(&ini, 0, &in), P2P_OK);
	size_t connect_len = in.len;
	assert_int_equal(p2p_dcutr_msg_append(&in, P2P_DCUTR_TYPE_SYNC, NULL, 0), P2P_OK);
	size_t first = in.len;
	/* From a copy: appending a buffer to itself may move it. */
	uint8_t copy[64];
	assert_true(connect_len <= sizeof(copy));
	memcpy(copy, in.data, connect_len);
	assert_int_equal(p2p_buf_append(&in, copy, connect_len), P2P_OK);

	size_t used;
	assert_int_equal(p2p_dcutr_recv(&resp, in.data, in.len, &used, 50, &out), P2P_OK);
	assert_int_equal(used, first);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_DIAL);
	assert_true(out.len > 0);
	/* In DIAL, nothing is taken. */
	assert_int_equal(
	    p2p_dcutr_recv(&resp, in.data + used, in.len - used, &used, 60, &out),
	    P2P_OK);
	assert_int_equal(used, 0);
	assert_int_equal(p2p_dcutr_dial_result(&resp, false, 70, &out), P2P_OK);
	p2p_buf_reset(&out);
	assert_int_equal(
	    p2p_dcutr_recv(&resp, in.data + first, in.len - first, &used, 80, &out),
	    P2P_OK);
	assert_int_equal(used, in.len - first);
	assert_int_equal(p2p_dcutr_attempt(&resp), 2);
	assert_true(out.len > 0);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&in);
	p2p_buf_free(&out);
}

static void test_stream_closed(void **state)
{
	(void)state;
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	p2p_buf out, back;
	p2p_buf_init(&out);
	p2p_buf_init(&back);
	assert_int_equal(p2p_dcutr_start(&ini, 0, &out), P2P_OK);
	feed_all(&resp, &out, 10, &back);
	/* Waiting for SYNC: the end of the stream is the end. */
	p2p_dcutr_stream_closed(&resp);
	assert_int_equal(p2p_dcutr_error(&resp), P2P_ECLOSED);
	/* go-libp2p's responder closes right after the exchange, before the
	 * initiator's RTT/2 has passed: that attempt still dials. */
	p2p_buf_reset(&out);
	feed_all(&ini, &back, 20, &out);
	p2p_dcutr_stream_closed(&ini);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_WAIT);
	assert_int_equal(p2p_dcutr_tick(&ini, 30, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_DIAL);
	/* A retry on a fresh stream goes on; without one it cannot. */
	assert_int_equal(p2p_dcutr_new_stream(&ini), P2P_OK);
	p2p_buf_reset(&out);
	assert_int_equal(p2p_dcutr_dial_result(&ini, false, 30, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_attempt(&ini), 2);
	assert_true(out.len > 0);
	assert_int_equal(p2p_dcutr_new_stream(&ini), P2P_ESTATE);
	p2p_dcutr_free(&resp);
	init_one(&resp, P2P_DCUTR_RESPONDER, "/ip4/10.0.0.2/tcp/7");
	p2p_buf_reset(&back);
	feed_all(&resp, &out, 40, &back);
	p2p_buf_reset(&out);
	feed_all(&ini, &back, 50, &out);
	assert_int_equal(p2p_dcutr_tick(&ini, 60, &out), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_DIAL);
	p2p_dcutr_stream_closed(&ini);
	assert_int_equal(p2p_dcutr_dial_result(&ini, false, 60, &out), P2P_ECLOSED);
	assert_int_equal(p2p_dcutr_get_state(&ini), P2P_DCUTR_FAILED);
	/* The responder in DIAL: the initiator closed after SYNC; the dial
	 * goes on, and a success is a success. */
	feed_all(&resp, &out, 60, &back);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_DIAL);
	p2p_dcutr_stream_closed(&resp);
	assert_int_equal(p2p_dcutr_dial_result(&resp, true, 70, &back), P2P_OK);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_DONE);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	/* Closed before the initiator even spoke, or while it waits. */
	make_pair(&ini, &resp);
	p2p_dcutr_stream_closed(&ini);
	assert_int_equal(p2p_dcutr_error(&ini), P2P_ECLOSED);
	p2p_dcutr_stream_closed(&resp);
	assert_int_equal(p2p_dcutr_error(&resp), P2P_ECLOSED);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&back);
}

/* What go-libp2p sends, byte for byte, and what we send for the same. */
static void test_wire_interop(void **state)
{
	(void)state;
	addr_list l = {0};
	list_add_raw(&l, lo4001, sizeof(lo4001));
	p2p_dcutr ini, resp;
	assert_int_equal(p2p_dcutr_init(&ini, P2P_DCUTR_INITIATOR, l.a, l.n), P2P_OK);
	assert_int_equal(p2p_dcutr_init(&resp, P2P_DCUTR_RESPONDER, l.a, l.n), P2P_OK);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_dcutr_start(&ini, 0, &out), P2P_OK);
	assert_int_equal(out.len, sizeof(connect_lo));
	assert_memory_equal(out.data, connect_lo, sizeof(connect_lo));

	/* A go CONNECT as go builds it from its listen addresses: a circuit
	 * address first, /p2p/ suffixes, a QUIC address; two survive. */
	p2p_buf body, msg;
	p2p_buf_init(&body);
	p2p_buf_init(&msg);
	addr_list g = {0};
	list_add(&g, "/ip4/203.0.113.5/tcp/4001/p2p/" PEER2 "/p2p-circuit/p2p/" PEER);
	list_add(&g, "/ip4/198.51.100.7/tcp/41000/p2p/" PEER);
	list_add(&g, "/ip4/198.51.100.7/udp/41000/quic-v1");
	list_add(&g, "/ip6/2001:db8::7/tcp/41000");
	assert_int_equal(p2p_buf_append(&body, "\x08\x64", 2), P2P_OK);
	for (size_t i = 0; i < g.n; i++) {
		assert_int_equal(p2p_buf_append_byte(&body, 0x12), P2P_OK);
		assert_int_equal(p2p_buf_append_uvarint(&body, g.a[i].len), P2P_OK);
		assert_int_equal(p2p_buf_append(&body, g.a[i].data, g.a[i].len), P2P_OK);
	}
	assert_int_equal(p2p_buf_append_uvarint(&msg, body.len), P2P_OK);
	assert_int_equal(p2p_buf_append(&msg, body.data, body.len), P2P_OK);
	/* The same bytes as our encoder makes of that list. */
	p2p_buf ours;
	p2p_buf_init(&ours);
	assert_int_equal(p2p_dcutr_msg_append(&ours, P2P_DCUTR_TYPE_CONNECT, g.a, g.n),
	                 P2P_OK);
	assert_int_equal(ours.len, msg.len);
	assert_memory_equal(ours.data, msg.data, msg.len);

	p2p_buf_reset(&out);
	feed_all(&resp, &msg, 0, &out);
	assert_int_equal(out.len, sizeof(connect_lo));
	assert_memory_equal(out.data, connect_lo, sizeof(connect_lo));
	size_t n;
	const p2p_buf *ra = p2p_dcutr_remote_addrs(&resp, &n);
	assert_int_equal(n, 2);
	assert_addr(&ra[0], "/ip4/198.51.100.7/tcp/41000");
	assert_addr(&ra[1], "/ip6/2001:db8::7/tcp/41000");
	/* go's SYNC: 08 ac 02 (type = 300), no ObsAddrs. */
	p2p_buf s = {.data = (uint8_t *)sync_msg, .len = sizeof(sync_msg), .cap = 0};
	feed_all(&resp, &s, 1, &out);
	assert_int_equal(p2p_dcutr_get_state(&resp), P2P_DCUTR_DIAL);

	/* Decoding stops keeping addresses at max, without failing. */
	uint32_t type;
	p2p_buf few[1];
	assert_int_equal(p2p_dcutr_msg_decode(body.data, body.len, &type, few, 1, &n),
	                 P2P_OK);
	assert_int_equal(type, P2P_DCUTR_TYPE_CONNECT);
	assert_int_equal(n, 1);
	assert_addr(&few[0], "/ip4/198.51.100.7/tcp/41000");
	p2p_buf_free(&few[0]);
	assert_int_equal(
	    p2p_dcutr_msg_decode(body.data, P2P_DCUTR_MAX_MESSAGE + 1, &type, few, 1, &n),
	    P2P_ETOOBIG);

	list_free(&l);
	list_free(&g);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&out);
	p2p_buf_free(&body);
	p2p_buf_free(&msg);
	p2p_buf_free(&ours);
}

/* More than P2P_DCUTR_MAX_ADDRS in a CONNECT: the first ones are kept. */
static void test_many_addrs(void **state)
{
	(void)state;
	addr_list g = {0};
	char text[64];
	for (int i = 0; i < P2P_DCUTR_MAX_ADDRS + 4; i++) {
		snprintf(text, sizeof(text), "/ip4/10.0.0.%d/tcp/%d", i + 1, 1000 + i);
		list_add(&g, text);
	}
	p2p_buf msg, out;
	p2p_buf_init(&msg);
	p2p_buf_init(&out);
	assert_int_equal(p2p_dcutr_msg_append(&msg, P2P_DCUTR_TYPE_CONNECT, g.a, g.n),
	                 P2P_OK);
	p2p_dcutr ini, resp;
	make_pair(&ini, &resp);
	feed_all(&resp, &msg, 0, &out);
	size_t n;
	const p2p_buf *ra = p2p_dcutr_remote_addrs(&resp, &n);
	assert_int_equal(n, P2P_DCUTR_MAX_ADDRS);
	assert_int_equal(ra[n - 1].len, g.a[n - 1].len);
	assert_memory_equal(ra[n - 1].data, g.a[n - 1].data, g.a[n - 1].len);
	/* Our own list is capped the same way. */
	p2p_dcutr big;
	assert_int_equal(p2p_dcutr_init(&big, P2P_DCUTR_INITIATOR, g.a, g.n), P2P_OK);
	assert_int_equal(big.n_ours, P2P_DCUTR_MAX_ADDRS);
	p2p_dcutr_free(&big);
	list_free(&g);
	p2p_dcutr_free(&ini);
	p2p_dcutr_free(&resp);
	p2p_buf_free(&msg);
	p2p_buf_free(&out);
}

static void test_filter_addrs(void **state)
{
	(void)state;
	addr_list in = {0};
	list_add(&in, "/ip4/1.2.3.4/tcp/4001");
	list_add(&in, "/ip4/1.2.3.4/tcp/4001/p2p/" PEER); /* duplicate once stripped */
	list_add(&in, "/ip4/198.18.0.1/tcp/1");           /* RFC 2544: the lab */
	list_add(&in, "/ip4/10.0.0.1/tcp/2");             /* private */
	list_add(&in, "/ip4/127.0.0.1/tcp/3/p2p/" PEER);  /* loopback */
	list_add(&in, "/ip6/::1/tcp/4");
	list_add(&in, "/ip6/2001:db8::1/tcp/5");
	list_add(&in, "/ip4/0.0.0.0/tcp/1");
	list_add(&in, "/ip6/::/tcp/1");
	list_add(&in, "/ip6/::ffff:0.0.0.0/tcp/1");
	list_add(&in, "/ip4/1.2.3.4/tcp/0");
	list_add(&in, "/ip4/1.2.3.4/udp/1/quic-v1");
	list_add(&in, "/ip4/1.2.3.4/tcp/1/ws");
	list_add(&in, "/dns4/example.com/tcp/1");
	list_add(&in, "/ip4/1.2.3.4/tcp/1/p2p/" PEER2 "/p2p-circuit/p2p/" PEER);
	list_add(&in, "/ip4/1.2.3.4/tcp/1/p2p/" PEER2 "/p2p-circuit");
	list_add(&in, "/p2p/" PEER);
	list_add(&in, "/ip6zone/eth0/ip6/fe80::1/tcp/1");
	list_add(&in, "/ip4/1.2.3.4");
	static const uint8_t junk[] = {0x04, 0x01, 0x02};
	list_add_raw(&in, junk, sizeof(junk));
	list_add_raw(&in, NULL, 0);
	list_add(&in, "/ip4/5.6.7.8/tcp/9"); /* after all the dropped ones */

	p2p_buf out[MAX_TEST_ADDRS];
	size_t n = p2p_dcutr_filter_addrs(in.a, in.n, out, MAX_TEST_ADDRS);
	static const char *const want[] = {
	    "/ip4/1.2.3.4/tcp/4001", "/ip4/198.18.0.1/tcp/1", "/ip4/10.0.0.1/tcp/2",
	    "/ip4/127.0.0.1/tcp/3",  "/ip6/::1/tcp/4",        "/ip6/2001:db8::1/tcp/5",
	    "/ip4/5.6.7.8/tcp/9",
	};
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_addr(&out[i], want[i]);
	for (size_t i = n; i < MAX_TEST_ADDRS; i++)
		assert_int_equal(out[i].len, 0);
	for (size_t i = 0; i < MAX_TEST_ADDRS; i++)
		p2p_buf_free(&out[i]);

	/* max bounds the output; the rest of the input is not looked at. */
	n = p2p_dcutr_filter_addrs(in.a, in.n, out, 3);
	assert_int_equal(n, 3);
	assert_addr(&out[2], "/ip4/10.0.0.1/tcp/2");
	for (size_t i = 0; i < 3; i++)
		p2p_buf_free(&out[i]);
	assert_int_equal(p2p_dcutr_filter_addrs(in.a, in.n, out, 0), 0);
	assert_int_equal(p2p_dcutr_filter_addrs(NULL, 0, out, 1), 0);
	p2p_buf_free(&out[0]);
	list_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_exchange),
	    cmocka_unit_test(test_retries_then_failed),
	    cmocka_unit_test(test_step_timeouts),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_unexpected_in_rtt_wait),
	    cmocka_unit_test(test_no_own_addrs),
	    cmocka_unit_test(test_max_size_accepted),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_several_at_once),
	    cmocka_unit_test(test_stream_closed),
	    cmocka_unit_test(test_wire_interop),
	    cmocka_unit_test(test_many_addrs),
	    cmocka_unit_test(test_filter_addrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
