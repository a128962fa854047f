#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/mss.h"

#define HDR "\x13/multistream/1.0.0\n"
#define NA  "\x03na\n"

static const char *const noise_yamux[] = {"/noise", "/yamux/1.0.0"};

static void assert_output(p2p_mss *m, const char *bytes, size_t len)
{
	p2p_buf *out = p2p_mss_output(m);
	assert_int_equal(out->len, len);
	assert_memory_equal(out->data, bytes, len);
	p2p_buf_consume(out, out->len);
}

/* Feeds all of in, byte by byte or at once, and returns the bytes used. */
static size_t feed(p2p_mss *m, const void *in, size_t len, bool bytewise, int expect_rc)
{
	const uint8_t *p = in;
	size_t used = 0, c = 0;
	int rc = P2P_OK;
	if (!bytewise) {
		rc = p2p_mss_recv(m, p, len, &c);
		assert_int_equal(rc, expect_rc);
		return c;
	}
	for (size_t i = 0; i < len && !p2p_mss_done(m); i++) {
		rc = p2p_mss_recv(m, p + i, 1, &c);
		used += c;
		if (rc != P2P_OK)
			break;
	}
	assert_int_equal(rc, expect_rc);
	return used;
}

static void test_initiator_vectors(void **state)
{
	static const char *const protos[] = {"/yamux/1.0.0"};
	p2p_mss *m;
	assert_int_equal(p2p_mss_new(&m, true, protos, 1), P2P_OK);
	assert_output(m, HDR "\x0d/yamux/1.0.0\n", 20 + 14);
	assert_false(p2p_mss_done(m));
	assert_null(p2p_mss_selected(m));
	static const char reply[] = HDR "\x0d/yamux/1.0.0\n"
	                                "APPDATA";
	size_t used = feed(m, reply, sizeof(reply) - 1, false, P2P_OK);
	assert_int_equal(used, 20 + 14); /* application bytes are left alone */
	assert_true(p2p_mss_done(m));
	assert_string_equal(p2p_mss_selected(m), "/yamux/1.0.0");
	size_t c = 99;
	assert_int_equal(p2p_mss_recv(m, (const uint8_t *)"x", 1, &c), P2P_ECLOSED);
	assert_int_equal(c, 0);
	p2p_mss_free(m);
}

static void test_responder_vectors(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		p2p_mss *m;
		assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
		assert_output(m, HDR, 20);
		static const char in[] = HDR "\x07/noise\n"
		                             "\x00\x01rest";
		size_t used = feed(m, in, sizeof(in) - 1, bytewise, P2P_OK);
		assert_int_equal(used, 20 + 8);
		assert_true(p2p_mss_done(m));
		assert_string_equal(p2p_mss_selected(m), "/noise");
		assert_output(m, "\x07/noise\n", 8);
		p2p_mss_free(m);
	}
}

/* Runs an initiator against a responder, shuttling bytes with the given
 * chunk size, and returns what the initiator selected (or NULL). */
static void run_pair(const char *const *iprotos, size_t ni, const char *const *rprotos,
                     size_t nr, size_t chunk, int expect_rc, const char *expect)
{
	p2p_mss *i, *r;
	assert_int_equal(p2p_mss_new(&i, true, iprotos, ni), P2P_OK);
	assert_int_equal(p2p_mss_new(&r, false, rprotos, nr), P2P_OK);
	int rc = P2P_OK;
	for (int round = 0; round < 1000 && rc == P2P_OK; round++) {
		p2p_buf *io = p2p_mss_output(i), *ro = p2p_mss_output(r);
		if (io->len == 0 && ro->len == 0)
			break;
		while (io->len > 0 && rc == P2P_OK && !p2p_mss_done(r)) {
			size_t n = io->len < chunk ? io->len : chunk, c;
			rc = p2p_mss_recv(r, io->data, n, &c);
			assert_int_equal(c, rc == P2P_OK ? n : c);
			p2p_buf_consume(io, c);
		}
		while (ro->len > 0 && rc == P2P_OK && !p2p_mss_done(i)) {
			size_t n = ro->len < chunk ? ro->len : chunk, c;
			rc = p2p_mss_recv(i, ro->data, n, &c);
			p2p_buf_consume(ro, c);
		}
		if (p2p_mss_done(i) && p2p_mss_done(r))
			break;
	}
	assert_int_equal(rc, expect_rc);
	if (expect != NULL) {
		assert_true(p2p_mss_done(i));
		assert_true(p2p_mss_done(r));
		assert_string_equal(p2p_mss_selected(i), expect);
		assert_string_equal(p2p_mss_selected(r), expect);
		assert_int_equal(p2p_mss_output(i)->len, 0);
		assert_int_equal(p2p_mss_output(r)->len, 0);
	}
	p2p_mss_free(i);
	p2p_mss_free(r);
}

static void test_pair(void **state)
{
	static const char *const want[] = {"/tls/1.0.0", "/mplex/6.7.0", "/yamux/1.0.0"};
	for (size_t chunk = 1; chunk <= 64; chunk *= 4) {
		run_pair(want, 3, noise_yamux, 2, chunk, P2P_OK, "/yamux/1.0.0");
		run_pair(noise_yamux, 1, noise_yamux, 2, chunk, P2P_OK, "/noise");
		run_pair(want, 2, noise_yamux, 2, chunk, P2P_ENEGOTIATE, NULL);
	}
}

static void test_na_fallback_bytes(void **state)
{
	static const char *const protos[] = {"/a", "/b"};
	p2p_mss *m;
	assert_int_equal(p2p_mss_new(&m, true, protos, 2), P2P_OK);
	assert_output(m, HDR "\x03/a\n", 24);
	assert_int_equal(feed(m, HDR NA, 24, true, P2P_OK), 24);
	assert_output(m, "\x03/b\n", 4);
	assert_false(p2p_mss_done(m));
	assert_int_equal(feed(m, NA, 4, false, P2P_ENEGOTIATE), 0);
	/* errors are final */
	size_t c;
	assert_int_equal(p2p_mss_recv(m, (const uint8_t *)"\x03/b\n", 4, &c),
	                 P2P_ENEGOTIATE);
	assert_false(p2p_mss_done(m));
	p2p_mss_free(m);
}

static void test_ls(void **state)
{
	p2p_mss *m;
	assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
	assert_output(m, HDR, 20);
	assert_int_equal(feed(m, HDR "\x03ls\n", 24, false, P2P_OK), 24);
	/* outer length 23 = 8 ("\x07/noise\n") + 14 ("\x0d/yamux/1.0.0\n") + 1 */
	assert_output(m, "\x17\x07/noise\n\x0d/yamux/1.0.0\n\n", 24);
	assert_int_equal(feed(m, "\x07/other\n", 8, false, P2P_OK), 8);
	assert_output(m, NA, 4);
	assert_false(p2p_mss_done(m));
	p2p_mss_free(m);
}

static void test_malformed(void **state)
{
	p2p_mss *m;
	size_t c;
	/* no trailing newline */
	assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
	assert_int_equal(
	    p2p_mss_recv(m, (const uint8_t *)"\x13/multistream/1.0.0x", 20, &c),
	    P2P_EPROTO);
	p2p_mss_free(m);
	/* empty message */
	assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
	assert_int_equal(p2p_mss_recv(m, (const uint8_t *)"\x00", 1, &c), P2P_EPROTO);
	p2p_mss_free(m);
	/* wrong header */
	assert_int_equal(p2p_mss_new(&m, true, noise_yamux, 2), P2P_OK);
	assert_int_equal(
	    p2p_mss_recv(m, (const uint8_t *)"\x13/multistream/2.0.0\n", 20, &c),
	    P2P_EPROTO);
	p2p_mss_free(m);
	/* an answer that is neither the proposal nor na */
	assert_int_equal(p2p_mss_new(&m, true, noise_yamux, 2), P2P_OK);
	assert_int_equal(feed(m, HDR "\x07/other\n", 28, false, P2P_EPROTO), 20);
	p2p_mss_free(m);
	/* oversize length: 1025, whole or byte by byte */
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
		feed(m, "\x81\x08", 2, bytewise, P2P_ETOOBIG);
		p2p_mss_free(m);
		/* an unfinished three-byte length is too big already */
		assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
		feed(m, "\x80\x80", 2, bytewise, P2P_ETOOBIG);
		p2p_mss_free(m);
	}
	/* the longest allowed message is fine (and not ours: na) */
	assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
	uint8_t big[2 + P2P_MSS_MAX_MESSAGE];
	big[0] = 0x80;
	big[1] = 0x08; /* 1024 */
	memset(big + 2, 'a', P2P_MSS_MAX_MESSAGE - 1);
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(feed(m, HDR, 20, false, P2P_OK), 20);
	assert_int_equal(feed(m, big, sizeof(big), true, P2P_OK), sizeof(big));
	assert_output(m, HDR NA, 24);
	p2p_mss_free(m);
}

static void test_attempt_limit(void **state)
{
	p2p_mss *m;
	assert_int_equal(p2p_mss_new(&m, false, noise_yamux, 2), P2P_OK);
	assert_int_equal(feed(m, HDR, 20, false, P2P_OK), 20);
	for (int i = 0; i < P2P_MSS_MAX_ATTEMPTS; i++)
		assert_int_equal(feed(m, "\x03/x\n", 4, false, P2P_OK), 4);
	feed(m, "\x03/x\n", 4, false, P2P_ENEGOTIATE);
	p2p_mss_free(m);
}

static void test_bad_arguments(void **state)
{
	p2p_mss *m = NULL;
	static const char *const bad[] = {"/a\nb"};
	static const char *const empty[] = {""};
	assert_int_equal(p2p_mss_new(&m, true, NULL, 0), P2P_EINVAL);
	assert_int_equal(p2p_mss_new(&m, true, bad, 1), P2P_EINVAL);
	assert_int_equal(p2p_mss_new(&m, false, empty, 1), P2P_EINVAL);
	/* a responder with nothing to offer still answers */
	assert_int_equal(p2p_mss_new(&m, false, NULL, 0), P2P_OK);
	assert_int_equal(feed(m, HDR "\x03/x\n", 24, false, P2P_OK), 24);
	assert_output(m, HDR NA, 24);
	p2p_mss_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_initiator_vectors),
	    cmocka_unit_test(test_responder_vectors),
	    cmocka_unit_test(test_pair),
	    cmocka_unit_test(test_na_fallback_bytes),
	    cmocka_unit_test(test_ls),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_attempt_limit),
	    cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
