#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/frame.h"
#include "tunnel/udp.h"

/* A small deterministic generator, so failures reproduce. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* Encodes a datagram of each length in `sizes`, feeds the concatenation in
 * chunks of 1..max_chunk bytes, and checks that exactly the same datagrams
 * come out, in order. */
static void round_trip(const size_t *sizes, size_t n, size_t max_chunk, uint32_t seed)
{
	p2p_buf stream;
	p2p_buf_init(&stream);
	uint8_t *dgram = malloc(TUNNEL_UDP_MAX_DATAGRAM);
	for (size_t i = 0; i < n; i++) {
		fill(dgram, sizes[i], (uint32_t)i);
		assert_int_equal(tunnel_udp_encode(dgram, sizes[i], &stream), P2P_OK);
	}

	tunnel_udp_decoder d;
	tunnel_udp_decoder_init(&d);
	assert_true(tunnel_udp_decoder_idle(&d));
	size_t pos = 0, got = 0;
	uint8_t *expect = malloc(TUNNEL_UDP_MAX_DATAGRAM);
	while (pos < stream.len) {
		size_t chunk = 1 + next_rand(&seed) % max_chunk;
		if (chunk > stream.len - pos)
			chunk = stream.len - pos;
		const uint8_t *in = stream.data + pos;
		size_t left = chunk;
		for (;;) {
			size_t used;
			const uint8_t *out;
			size_t out_len;
			int rc = tunnel_udp_decode(&d, in, left, &used, &out, &out_len);
			assert_true(used <= left);
			in += used;
			left -= used;
			if (rc == P2P_EAGAIN) {
				assert_int_equal(left, 0);
				break;
			}
			assert_int_equal(rc, P2P_OK);
			assert_true(got < n);
			assert_int_equal(out_len, sizes[got]);
			fill(expect, out_len, (uint32_t)got);
			if (out_len > 0)
				assert_memory_equal(out, expect, out_len);
			got++;
			if (left == 0)
				break;
		}
		pos += chunk;
	}
	assert_int_equal(got, n);
	assert_true(tunnel_udp_decoder_idle(&d));
	tunnel_udp_decoder_close(&d);
	free(expect);
	free(dgram);
	p2p_buf_free(&stream);
}

static void test_small_sizes_byte_by_byte(void **state)
{
	size_t sizes[300];
	for (size_t i = 0; i < 300; i++)
		sizes[i] = i;
	round_trip(sizes, 300, 1, 1);
	round_trip(sizes, 300, 7, 2);
	round_trip(sizes, 300, 100000, 3); /* mostly whole frames in one input */
}

static void test_large_sizes_fragmented(void **state)
{
	/* The varint length's byte-count boundaries, and the maximum. */
	static const size_t edges[] = {0,     1,     127,   128,   129, 16383, 16384,
	                               16385, 32768, 65534, 65535, 0,   65535, 1};
	round_trip(edges, sizeof(edges) / sizeof(edges[0]), 1000, 4);
	round_trip(edges, sizeof(edges) / sizeof(edges[0]), 70000, 5);
	/* A spread over the whole range. */
	size_t sizes[70];
	size_t n = 0;
	for (size_t s = 0; s <= 65535; s += 997)
		sizes[n++] = s;
	round_trip(sizes, n, 4096, 6);
}

static void test_encode_limits(void **state)
{
	p2p_buf out;
	p2p_buf_init(&out);
	uint8_t *big = calloc(1, TUNNEL_UDP_MAX_DATAGRAM + 1);
	assert_int_equal(tunnel_udp_encode(big, TUNNEL_UDP_MAX_DATAGRAM + 1, &out),
	                 P2P_ETOOBIG);
	assert_int_equal(out.len, 0);
	assert_int_equal(tunnel_udp_encode(big, TUNNEL_UDP_MAX_DATAGRAM, &out), P2P_OK);
	assert_int_equal(out.len, 3 + TUNNEL_UDP_MAX_DATAGRAM);
	static const uint8_t prefix[] = {0xff, 0xff, 0x03};
	assert_memory_equal(out.data, prefix, 3);
	p2p_buf_reset(&out);
	assert_int_equal(tunnel_udp_encode(NULL, 0, &out), P2P_OK);
	assert_int_equal(out.len, 1);
	assert_int_equal(out.data[0], 0);
	free(big);
	p2p_buf_free(&out);
}

static int decode_all(const uint8_t *in, size_t len, size_t *frames)
{
	tunnel_udp_decoder d;
	tunnel_udp_decoder_init(&d);
	*frames = 0;
	int rc;
	for (;;) {
		size_t used;
		const uint8_t *out;
		size_t out_len;
		rc = tunnel_udp_decode(&d, in, len, &used, &out, &out_len);
		in += used;
		len -= used;
		if (rc != P2P_OK)
			break;
		(*frames)++;
	}
	tunnel_udp_decoder_close(&d);
	return rc;
}

static void test_rejects_oversize(void **state)
{
	size_t frames;
	/* 65536: one over the maximum, caught from the length alone. */
	static const uint8_t over[] = {0x80, 0x80, 0x04};
	assert_int_equal(decode_all(over, sizeof(over), &frames), P2P_ETOOBIG);
	/* A fourth length byte is over the maximum whatever it says. */
	static const uint8_t four[] = {0x80, 0x80, 0x80};
	assert_int_equal(decode_all(four, sizeof(four), &frames), P2P_ETOOBIG);
	/* Not minimally encoded. */
	static const uint8_t not_minimal[] = {0x81, 0x00, 0xaa};
	assert_int_equal(decode_all(not_minimal, sizeof(not_minimal), &frames),
	                 P2P_EPROTO);
	/* A good frame, then a bad one: the good one is delivered first. */
	static const uint8_t good_then_bad[] = {0x01, 0xaa, 0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(decode_all(good_then_bad, sizeof(good_then_bad), &frames),
	                 P2P_ETOOBIG);
	assert_int_equal(frames, 1);

	/* Errors are final. */
	tunnel_udp_decoder d;
	tunnel_udp_decoder_init(&d);
	size_t used;
	const uint8_t *out;
	size_t out_len;
	assert_int_equal(tunnel_udp_decode(&d, over, sizeof(over), &used, &out, &out_len),
	                 P2P_ETOOBIG);
	static const uint8_t fine[] = {0x00};
	assert_int_equal(tunnel_udp_decode(&d, fine, 1, &used, &out, &out_len),
	                 P2P_ETOOBIG);
	assert_int_equal(used, 0);
	tunnel_udp_decoder_close(&d);
}

static void test_partial_state(void **state)
{
	tunnel_udp_decoder d;
	tunnel_udp_decoder_init(&d);
	size_t used;
	const uint8_t *out;
	size_t out_len;
	static const uint8_t part[] = {0x03, 0x01};
	assert_int_equal(tunnel_udp_decode(&d, part, 2, &used, &out, &out_len),
	                 P2P_EAGAIN);
	assert_int_equal(used, 2);
	assert_false(tunnel_udp_decoder_idle(&d)); /* a datagram is cut off here */
	static const uint8_t rest[] = {0x02, 0x03, 0x00, 0x09};
	assert_int_equal(tunnel_udp_decode(&d, rest, 4, &used, &out, &out_len), P2P_OK);
	assert_int_equal(used, 2); /* the next frame's bytes are left alone */
	static const uint8_t want[] = {1, 2, 3};
	assert_int_equal(out_len, 3);
	assert_memory_equal(out, want, 3);
	assert_true(tunnel_udp_decoder_idle(&d));
	assert_int_equal(tunnel_udp_decode(&d, rest + 2, 2, &used, &out, &out_len),
	                 P2P_OK);
	assert_int_equal(used, 1);
	assert_int_equal(out_len, 0);
	assert_int_equal(tunnel_udp_decode(&d, rest + 3, 1, &used, &out, &out_len),
	                 P2P_EAGAIN);
	assert_int_equal(used, 1);
	assert_int_equal(tunnel_udp_decode(&d, NULL, 0, &used, &out, &out_len),
	                 P2P_EAGAIN);
	assert_int_equal(used, 0);
	tunnel_udp_decoder_close(&d);
}

static void test_frame_reader_small_max(void **state)
{
	/* With a one-byte maximum length, a second length byte is too many. */
	tunnel_frame_reader r;
	tunnel_frame_reader_init(&r, 10);
	size_t used;
	const uint8_t *out;
	size_t out_len;
	static const uint8_t eleven[] = {0x0b};
	assert_int_equal(tunnel_frame_read(&r, eleven, 1, &used, &out, &out_len),
	                 P2P_ETOOBIG);
	tunnel_frame_reader_close(&r);

	tunnel_frame_reader_init(&r, 10);
	static const uint8_t two_bytes[] = {0x80};
	assert_int_equal(tunnel_frame_read(&r, two_bytes, 1, &used, &out, &out_len),
	                 P2P_ETOOBIG);
	tunnel_frame_reader_close(&r);

	p2p_buf b;
	p2p_buf_init(&b);
	uint8_t data[11] = {0};
	assert_int_equal(tunnel_frame_write(data, 11, 10, &b), P2P_ETOOBIG);
	assert_int_equal(tunnel_frame_write(data, 10, 10, &b), P2P_OK);
	assert_int_equal(b.len, 11);
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_sizes_byte_by_byte),
	    cmocka_unit_test(test_large_sizes_fragmented),
	    cmocka_unit_test(test_encode_limits),
	    cmocka_unit_test(test_rejects_oversize),
	    cmocka_unit_test(test_partial_state),
	    cmocka_unit_test(test_frame_reader_small_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
