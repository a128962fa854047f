/* The libp2p Noise session: two of them back to back in memory, and a
 * hand-driven "malicious" responder built on the Noise core to send
 * payloads an honest peer never would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "p2p/error.h"
#include "p2p/noise.h"
#include "proto/noise.pb-c.h"
#include "secure/noise_hs.h"

typedef struct pair {
	p2p_privkey *ka, *kb;
	p2p_peerid ida, idb;
	p2p_noise *a, *b; /* a dials b */
	p2p_buf plain_a, plain_b;
} pair;

static void pair_keys(pair *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(p2p_privkey_generate(&p->ka), P2P_OK);
	assert_int_equal(p2p_privkey_generate(&p->kb), P2P_OK);
	assert_int_equal(p2p_peerid_from_pubkey(&p->ida, p2p_privkey_public(p->ka)),
	                 P2P_OK);
	assert_int_equal(p2p_peerid_from_pubkey(&p->idb, p2p_privkey_public(p->kb)),
	                 P2P_OK);
	p2p_buf_init(&p->plain_a);
	p2p_buf_init(&p->plain_b);
}

static void pair_new(pair *p, const p2p_peerid *a_expects, const p2p_peerid *b_expects)
{
	pair_keys(p);
	assert_int_equal(p2p_noise_new(&p->a, true, p->ka, a_expects), P2P_OK);
	assert_int_equal(p2p_noise_new(&p->b, false, p->kb, b_expects), P2P_OK);
}

static void pair_free(pair *p)
{
	p2p_noise_free(p->a);
	p2p_noise_free(p->b);
	p2p_privkey_free(p->ka);
	p2p_privkey_free(p->kb);
	p2p_buf_free(&p->plain_a);
	p2p_buf_free(&p->plain_b);
}

/* Moves everything `from` has for its peer into `to`, in chunks of `step`
 * bytes (0: all at once). Returns the first error of `to`. */
static int deliver(p2p_noise *from, p2p_noise *to, p2p_buf *plain, size_t step)
{
	p2p_buf *out = p2p_noise_output(from);
	while (out->len > 0) {
		size_t n = step == 0 || step > out->len ? out->len : step;
		int rc = p2p_noise_recv(to, out->data, n, plain);
		p2p_buf_consume(out, n);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

/* Runs the three handshake messages; returns the first error either side
 * reported. */
static int handshake(pair *p, size_t step)
{
	int rc;
	for (int i = 0; i < 3; i++) {
		if ((rc = deliver(p->a, p->b, &p->plain_b, step)) != P2P_OK)
			return rc;
		if ((rc = deliver(p->b, p->a, &p->plain_a, step)) != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

static void test_handshake_and_data(void **state)
{
	pair p;
	pair_keys(&p);
	assert_int_equal(p2p_noise_new(&p.a, true, p.ka, &p.idb), P2P_OK);
	assert_int_equal(p2p_noise_new(&p.b, false, p.kb, NULL), P2P_OK);
	/* message 1 is the bare ephemeral key: 2 + 32 bytes */
	assert_int_equal(p2p_noise_output(p.a)->len, 34);
	assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)"x", 1), P2P_ESTATE);
	assert_null(p2p_noise_remote_peer(p.a));
	assert_int_equal(handshake(&p, 0), P2P_OK);
	assert_true(p2p_noise_handshake_done(p.a));
	assert_true(p2p_noise_handshake_done(p.b));
	assert_true(p2p_peerid_equal(p2p_noise_remote_peer(p.a), &p.idb));
	assert_true(p2p_peerid_equal(p2p_noise_remote_peer(p.b), &p.ida));
	assert_true(
	    p2p_pubkey_equal(p2p_noise_remote_key(p.b), p2p_privkey_public(p.ka)));

	assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)"ping", 4), P2P_OK);
	assert_int_equal(p2p_noise_output(p.a)->len, 2 + 4 + 16);
	assert_int_equal(deliver(p.a, p.b, &p.plain_b, 0), P2P_OK);
	assert_int_equal(p.plain_b.len, 4);
	assert_memory_equal(p.plain_b.data, "ping", 4);
	assert_int_equal(p2p_noise_send(p.b, (const uint8_t *)"pong!", 5), P2P_OK);
	assert_int_equal(deliver(p.b, p.a, &p.plain_a, 0), P2P_OK);
	assert_int_equal(p.plain_a.len, 5);
	assert_memory_equal(p.plain_a.data, "pong!", 5);

	/* 1 MiB: 17 frames, none over the limit, reassembled exactly */
	size_t big = 1 << 20;
	uint8_t *data = malloc(big);
	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	assert_int_equal(p2p_noise_send(p.b, data, big), P2P_OK);
	p2p_buf *out = p2p_noise_output(p.b);
	size_t frames = 0;
	for (size_t off = 0; off < out->len; frames++) {
		size_t len = ((size_t)out->data[off] << 8) | out->data[off + 1];
		assert_true(len <= P2P_NOISE_MAX_FRAME && len > P2P_NOISE_TAG_LEN);
		off += 2 + len;
		assert_true(off <= out->len);
	}
	assert_int_equal(frames,
	                 (big + P2P_NOISE_MAX_PLAINTEXT - 1) / P2P_NOISE_MAX_PLAINTEXT);
	assert_int_equal(out->len, big + frames * 18);
	p2p_buf_reset(&p.plain_a);
	/* in uneven pieces that straddle frame boundaries */
	assert_int_equal(deliver(p.b, p.a, &p.plain_a, 40000), P2P_OK);
	assert_int_equal(p.plain_a.len, big);
	assert_memory_equal(p.plain_a.data, data, big);
	free(data);
	pair_free(&p);
}

static void test_byte_by_byte(void **state)
{
	pair p;
	pair_new(&p, NULL, NULL);
	assert_int_equal(handshake(&p, 1), P2P_OK);
	assert_true(p2p_noise_handshake_done(p.a) && p2p_noise_handshake_done(p.b));
	static const char msg[] = "one byte at a time";
	for (int i = 0; i < 3; i++)
		assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)msg, sizeof(msg)),
		                 P2P_OK);
	/* an empty send writes nothing */
	size_t before = p2p_noise_output(p.a)->len;
	assert_int_equal(p2p_noise_send(p.a, NULL, 0), P2P_OK);
	assert_int_equal(p2p_noise_output(p.a)->len, before);
	assert_int_equal(deliver(p.a, p.b, &p.plain_b, 1), P2P_OK);
	assert_int_equal(p.plain_b.len, 3 * sizeof(msg));
	for (int i = 0; i < 3; i++)
		assert_memory_equal(p.plain_b.data + i * sizeof(msg), msg, sizeof(msg));
	pair_free(&p);
}

static void test_expected_peer_mismatch(void **state)
{
	pair p;
	pair_keys(&p);
	/* the dialer expects a, but reaches b */
	assert_int_equal(p2p_noise_new(&p.a, true, p.ka, &p.ida), P2P_OK);
	assert_int_equal(p2p_noise_new(&p.b, false, p.kb, NULL), P2P_OK);
	assert_int_equal(handshake(&p, 0), P2P_EPEERID);
	assert_false(p2p_noise_handshake_done(p.a));
	/* the error is final */
	assert_int_equal(p2p_noise_recv(p.a, (const uint8_t *)"\0", 1, &p.plain_a),
	                 P2P_EPEERID);
	assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)"x", 1), P2P_EPEERID);
	pair_free(&p);

	/* a listener that expects someone else rejects the third message */
	pair_keys(&p);
	assert_int_equal(p2p_noise_new(&p.a, true, p.ka, &p.idb), P2P_OK);
	assert_int_equal(p2p_noise_new(&p.b, false, p.kb, &p.idb), P2P_OK);
	assert_int_equal(handshake(&p, 0), P2P_EPEERID);
	assert_true(p2p_noise_handshake_done(p.a));
	assert_false(p2p_noise_handshake_done(p.b));
	pair_free(&p);
}

/* Flips one bit of handshake message `which` (1..3) at `offset` of the
 * Noise message; returns what the receiving side reports. */
static int tampered_handshake(int which, size_t offset)
{
	pair p;
	pair_new(&p, NULL, NULL);
	int rc = P2P_OK;
	for (int i = 1; i <= 3 && rc == P2P_OK; i++) {
		p2p_noise *from = i % 2 ? p.a : p.b, *to = i % 2 ? p.b : p.a;
		p2p_buf *out = p2p_noise_output(from);
		if (i == which) {
			assert_true(2 + offset < out->len);
			out->data[2 + offset] ^= 0x10;
		}
		rc = deliver(from, to, i % 2 ? &p.plain_b : &p.plain_a, 0);
	}
	pair_free(&p);
	return rc;
}

static void test_tampered_handshake(void **state)
{
	/* message 1's ephemeral key: both transcripts differ, message 2 fails */
	assert_int_equal(tampered_handshake(1, 5), P2P_ECRYPTO);
	/* message 2: ephemeral, encrypted static key, encrypted payload */
	assert_int_equal(tampered_handshake(2, 3), P2P_ECRYPTO);
	assert_int_equal(tampered_handshake(2, 40), P2P_ECRYPTO);
	assert_int_equal(tampered_handshake(2, 100), P2P_ECRYPTO);
	/* message 3: encrypted static key, encrypted payload */
	assert_int_equal(tampered_handshake(3, 0), P2P_ECRYPTO);
	assert_int_equal(tampered_handshake(3, 60), P2P_ECRYPTO);
}

static void test_tampered_and_bad_frames(void **state)
{
	pair p;
	pair_new(&p, NULL, NULL);
	assert_int_equal(handshake(&p, 0), P2P_OK);
	assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)"hello", 5), P2P_OK);
	p2p_noise_output(p.a)->data[2 + 5 + 3] ^= 1; /* in the tag */
	assert_int_equal(deliver(p.a, p.b, &p.plain_b, 0), P2P_ECRYPTO);
	assert_int_equal(p.plain_b.len, 0);
	assert_int_equal(p2p_noise_recv(p.b, NULL, 0, &p.plain_b), P2P_ECRYPTO);
	pair_free(&p);

	/* a replayed frame does not decrypt under the next nonce */
	pair_new(&p, NULL, NULL);
	assert_int_equal(handshake(&p, 0), P2P_OK);
	assert_int_equal(p2p_noise_send(p.a, (const uint8_t *)"hello", 5), P2P_OK);
	p2p_buf copy;
	p2p_buf_init(&copy);
	assert_int_equal(p2p_buf_append(&copy, p2p_noise_output(p.a)->data,
	                                p2p_noise_output(p.a)->len),
	                 P2P_OK);
	assert_int_equal(deliver(p.a, p.b, &p.plain_b, 0), P2P_OK);
	assert_int_equal(p2p_noise_recv(p.b, copy.data, copy.len, &p.plain_b),
	                 P2P_ECRYPTO);
	p2p_buf_free(&copy);
	pair_free(&p);

	/* a zero-length frame, and a frame shorter than a tag, are malformed */
	static const uint8_t empty[] = {0, 0}, short_frame[] = {0, 3, 1, 2, 3};
	pair_new(&p, NULL, NULL);
	assert_int_equal(handshake(&p, 0), P2P_OK);
	assert_int_equal(p2p_noise_recv(p.b, empty, sizeof(empty), &p.plain_b),
	                 P2P_EPROTO);
	pair_free(&p);
	pair_new(&p, NULL, NULL);
	assert_int_equal(handshake(&p, 0), P2P_OK);
	assert_int_equal(p2p_noise_recv(p.a, short_frame, 1, &p.plain_a), P2P_OK);
	assert_int_equal(p2p_noise_recv(p.a, short_frame + 1, 4, &p.plain_a), P2P_EPROTO);
	pair_free(&p);

	/* a zero-length handshake message */
	pair_new(&p, NULL, NULL);
	assert_int_equal(p2p_noise_recv(p.b, empty, sizeof(empty), &p.plain_b),
	                 P2P_EPROTO);
	pair_free(&p);
}

/* --- a hand-driven responder that sends a payload of our choosing --- */

typedef enum payload_kind {
	PAYLOAD_WRONG_SIGNER, /* a's key, signed by another key */
	PAYLOAD_NOT_PROTOBUF,
	PAYLOAD_NO_SIGNATURE,
	PAYLOAD_WITH_EXTENSIONS, /* valid, with extensions and an unknown field */
	PAYLOAD_OVERSIZED,       /* valid, padded past P2P_NOISE_MAX_PAYLOAD */
} payload_kind;

static void build_payload(payload_kind kind, const p2p_privkey *id,
                          const p2p_privkey *signer, const uint8_t static_pub[32],
                          p2p_buf *out)
{
	if (kind == PAYLOAD_NOT_PROTOBUF) {
		assert_int_equal(p2p_buf_append(out, "\xff\xff\xff", 3), P2P_OK);
		return;
	}
	p2p_buf key;
	p2p_buf_init(&key);
	assert_int_equal(p2p_pubkey_encode(p2p_privkey_public(id), &key), P2P_OK);
	uint8_t to_sign[24 + 32], sig[64];
	memcpy(to_sign, "noise-libp2p-static-key:", 24);
	memcpy(to_sign + 24, static_pub, 32);
	assert_int_equal(p2p_privkey_sign(signer, to_sign, sizeof(to_sign), sig), P2P_OK);
	Noise__Pb__NoiseHandshakePayload msg = NOISE__PB__NOISE_HANDSHAKE_PAYLOAD__INIT;
	Noise__Pb__NoiseExtensions ext = NOISE__PB__NOISE_EXTENSIONS__INIT;
	char *muxers[] = {"/yamux/1.0.0"};
	msg.has_identity_key = 1;
	msg.identity_key.data = key.data;
	msg.identity_key.len = key.len;
	msg.has_identity_sig = kind != PAYLOAD_NO_SIGNATURE;
	msg.identity_sig.data = sig;
	msg.identity_sig.len = sizeof(sig);
	if (kind == PAYLOAD_WITH_EXTENSIONS) {
		ext.n_stream_muxers = 1;
		ext.stream_muxers = muxers;
		msg.extensions = &ext;
	}
	assert_int_equal(p2p_buf_reserve(out, 512), P2P_OK);
	out->len = noise__pb__noise_handshake_payload__pack(&msg, out->data);
	if (kind == PAYLOAD_WITH_EXTENSIONS) /* field 15, varint: unknown */
		assert_int_equal(p2p_buf_append(out, "\x78\x01", 2), P2P_OK);
	while (kind == PAYLOAD_OVERSIZED && out->len <= P2P_NOISE_MAX_PAYLOAD)
		assert_int_equal(p2p_buf_append(out, "\x78\x01", 2), P2P_OK);
	p2p_buf_free(&key);
}

static int fake_responder(payload_kind kind)
{
	pair p;
	pair_new(&p, NULL, NULL);
	p2p_noise_hs hs;
	assert_int_equal(p2p_noise_hs_init(&hs, false, NULL, 0, NULL, NULL), P2P_OK);
	p2p_buf *m1 = p2p_noise_output(p.a);
	uint8_t ignored[8];
	size_t n;
	assert_int_equal(
	    p2p_noise_hs_read(&hs, m1->data + 2, m1->len - 2, ignored, 8, &n), P2P_OK);
	p2p_buf_reset(m1);
	p2p_buf payload, m2;
	p2p_buf_init(&payload);
	p2p_buf_init(&m2);
	/* identity kb, but the signature is made with ka */
	build_payload(kind, p.kb, kind == PAYLOAD_WRONG_SIGNER ? p.ka : p.kb,
	              p2p_noise_hs_local_static(&hs), &payload);
	assert_int_equal(p2p_buf_append(&m2, "\0\0", 2), P2P_OK);
	assert_int_equal(p2p_noise_hs_write(&hs, payload.data, payload.len, &m2), P2P_OK);
	m2.data[0] = (uint8_t)((m2.len - 2) >> 8);
	m2.data[1] = (uint8_t)(m2.len - 2);
	int rc = p2p_noise_recv(p.a, m2.data, m2.len, &p.plain_a);
	if (rc == P2P_OK) {
		assert_true(p2p_noise_handshake_done(p.a));
		assert_true(p2p_peerid_equal(p2p_noise_remote_peer(p.a), &p.idb));
	}
	p2p_buf_free(&payload);
	p2p_buf_free(&m2);
	p2p_noise_hs_close(&hs);
	pair_free(&p);
	return rc;
}

static void test_bad_payloads(void **state)
{
	assert_int_equal(fake_responder(PAYLOAD_WRONG_SIGNER), P2P_ECRYPTO);
	assert_int_equal(fake_responder(PAYLOAD_NOT_PROTOBUF), P2P_EPROTO);
	assert_int_equal(fake_responder(PAYLOAD_NO_SIGNATURE), P2P_EPROTO);
	assert_int_equal(fake_responder(PAYLOAD_WITH_EXTENSIONS), P2P_OK);
	assert_int_equal(fake_responder(PAYLOAD_OVERSIZED), P2P_ETOOBIG);
}

/* An all-zero ephemeral key is a low-order point: the DH fails. */
static void test_low_order_ephemeral(void **state)
{
	pair p;
	pair_new(&p, NULL, NULL);
	uint8_t msg1[34] = {0, 32};
	assert_int_equal(p2p_noise_recv(p.b, msg1, sizeof(msg1), &p.plain_b),
	                 P2P_ECRYPTO);
	assert_int_equal(p2p_noise_output(p.b)->len, 0);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_data),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_expected_peer_mismatch),
	    cmocka_unit_test(test_tampered_handshake),
	    cmocka_unit_test(test_tampered_and_bad_frames),
	    cmocka_unit_test(test_bad_payloads),
	    cmocka_unit_test(test_low_order_ephemeral),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
