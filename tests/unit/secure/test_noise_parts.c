/* Gathered encryption: a message encrypted from several pieces
 * (p2p_noise_cipher_encrypt_begin/update/finish, p2p_noise_send_parts)
 * must be the very bytes the one-piece calls produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "p2p/error.h"
#include "p2p/noise.h"
#include "secure/noise_cipher.h"

static uint8_t *pattern(size_t n)
{
	uint8_t *d = malloc(n);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(i * 11 + (i >> 10));
	return d;
}

/* Two CipherStates with one key: the same messages, whole and in pieces,
 * give identical ciphertexts and tags, message after message (the nonce
 * advances the same way). */
static void test_cipher_pieces_identical(void **state)
{
	uint8_t k[P2P_NOISE_KEY_LEN];
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(0xa0 + i);
	p2p_noise_cipher whole, pieces;
	assert_int_equal(p2p_noise_cipher_init(&whole), P2P_OK);
	assert_int_equal(p2p_noise_cipher_init(&pieces), P2P_OK);
	p2p_noise_cipher_set_key(&whole, k);
	p2p_noise_cipher_set_key(&pieces, k);

	size_t n = 70000;
	uint8_t *plain = pattern(n);
	uint8_t *a = malloc(n + P2P_NOISE_TAG_LEN), *b = malloc(n + P2P_NOISE_TAG_LEN);
	assert_non_null(a);
	assert_non_null(b);
	const uint8_t ad[] = "associated";
	/* cuts: none, a 12-byte head, odd sizes, empty pieces */
	size_t cuts[][4] = {{n, 0, 0, 0},
	                    {12, n - 12, 0, 0},
	                    {1, 0, 4095, n - 4096},
	                    {0, 3, 65536, n - 65539}};
	for (size_t m = 0; m < 4; m++) {
		const uint8_t *use_ad = m % 2 ? ad : NULL;
		size_t ad_len = m % 2 ? sizeof(ad) : 0;
		assert_int_equal(
		    p2p_noise_cipher_encrypt(&whole, use_ad, ad_len, plain, n, a),
		    P2P_OK);
		assert_int_equal(p2p_noise_cipher_encrypt_begin(&pieces, use_ad, ad_len),
		                 P2P_OK);
		size_t off = 0;
		for (size_t c = 0; c < 4; c++) {
			assert_int_equal(p2p_noise_cipher_encrypt_update(
			                     &pieces, plain + off, cuts[m][c], b + off),
			                 P2P_OK);
			off += cuts[m][c];
		}
		assert_int_equal(off, n);
		assert_int_equal(p2p_noise_cipher_encrypt_finish(&pieces, b + n), P2P_OK);
		assert_memory_equal(a, b, n + P2P_NOISE_TAG_LEN);
	}
	/* and the result decrypts */
	p2p_noise_cipher rx;
	assert_int_equal(p2p_noise_cipher_init(&rx), P2P_OK);
	p2p_noise_cipher_set_key(&rx, k);
	uint8_t *back = malloc(n);
	assert_non_null(back);
	p2p_noise_cipher_encrypt(&pieces, NULL, 0, plain, n, b);
	rx.n = pieces.n - 1;
	assert_int_equal(
	    p2p_noise_cipher_decrypt(&rx, NULL, 0, b, n + P2P_NOISE_TAG_LEN, back),
	    P2P_OK);
	assert_memory_equal(back, plain, n);

	free(back);
	free(a);
	free(b);
	free(plain);
	p2p_noise_cipher_close(&whole);
	p2p_noise_cipher_close(&pieces);
	p2p_noise_cipher_close(&rx);
}

typedef struct pair {
	p2p_privkey *ka, *kb;
	p2p_noise *a, *b; /* a dials b */
	p2p_buf plain_b;
} pair;

static void deliver(p2p_noise *from, p2p_noise *to, p2p_buf *plain)
{
	p2p_buf *out = p2p_noise_output(from);
	assert_int_equal(p2p_noise_recv(to, out->data, out->len, plain), P2P_OK);
	p2p_buf_reset(out);
}

static void pair_open(pair *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(p2p_privkey_generate(&p->ka), P2P_OK);
	assert_int_equal(p2p_privkey_generate(&p->kb), P2P_OK);
	assert_int_equal(p2p_noise_new(&p->a, true, p->ka, NULL), P2P_OK);
	assert_int_equal(p2p_noise_new(&p->b, false, p->kb, NULL), P2P_OK);
	p2p_buf_init(&p->plain_b);
	p2p_buf discard;
	p2p_buf_init(&discard);
	for (int i = 0; i < 2; i++) {
		deliver(p->a, p->b, &p->plain_b);
		deliver(p->b, p->a, &discard);
	}
	assert_true(p2p_noise_handshake_done(p->a));
	assert_true(p2p_noise_handshake_done(p->b));
	assert_int_equal(p->plain_b.len, 0);
	p2p_buf_free(&discard);
}

static void pair_close(pair *p)
{
	p2p_noise_free(p->a);
	p2p_noise_free(p->b);
	p2p_privkey_free(p->ka);
	p2p_privkey_free(p->kb);
	p2p_buf_free(&p->plain_b);
}

/* The frame lengths p2p_noise_send gives len bytes. */
static void check_frames(const p2p_buf *out, size_t len)
{
	size_t off = 0;
	while (len > 0) {
		size_t chunk =
		    len < P2P_NOISE_MAX_PLAINTEXT ? len : P2P_NOISE_MAX_PLAINTEXT;
		assert_true(off + 2 <= out->len);
		size_t flen = ((size_t)out->data[off] << 8) | out->data[off + 1];
		assert_int_equal(flen, chunk + P2P_NOISE_TAG_LEN);
		off += 2 + flen;
		len -= chunk;
	}
	assert_int_equal(off, out->len);
}

/* Frame for frame the same lengths as p2p_noise_send of the joined bytes,
 * and the peer decrypts them (with the nonces of that send) to the joined
 * bytes: the AEAD is deterministic and its tag covers every ciphertext
 * byte, so these are the same frames p2p_noise_send makes. */
static void test_send_parts(void **state)
{
	pair p;
	pair_open(&p);
	size_t n = 3 * P2P_NOISE_MAX_PLAINTEXT + 5000;
	uint8_t *data = pattern(n);
	uint8_t head[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9};
	struct {
		p2p_noise_part parts[4];
		size_t nparts;
	} cases[] = {
	    {{{head, sizeof(head)}, {data, n}}, 2},
	    {{{data, 1},
	      {NULL, 0},
	      {data + 1, P2P_NOISE_MAX_PLAINTEXT},
	      {data + 1 + P2P_NOISE_MAX_PLAINTEXT, 100}},
	     4},
	    {{{head, 3}}, 1},
	    {{{NULL, 0}}, 1},
	    {{{0}}, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		p2p_buf joined;
		p2p_buf_init(&joined);
		for (size_t i = 0; i < cases[c].nparts; i++)
			assert_int_equal(p2p_buf_append(&joined, cases[c].parts[i].data,
			                                cases[c].parts[i].len),
			                 P2P_OK);
		assert_int_equal(
		    p2p_noise_send_parts(p.a, cases[c].parts, cases[c].nparts), P2P_OK);
		check_frames(p2p_noise_output(p.a), joined.len);
		p2p_buf_reset(&p.plain_b);
		deliver(p.a, p.b, &p.plain_b);
		assert_int_equal(p.plain_b.len, joined.len);
		if (joined.len > 0)
			assert_memory_equal(p.plain_b.data, joined.data, joined.len);
		/* the plain send of the same bytes, next in the nonce sequence,
		 * frames them the same way */
		assert_int_equal(p2p_noise_send(p.a, joined.data, joined.len), P2P_OK);
		check_frames(p2p_noise_output(p.a), joined.len);
		p2p_buf_reset(&p.plain_b);
		deliver(p.a, p.b, &p.plain_b);
		assert_int_equal(p.plain_b.len, joined.len);
		p2p_buf_free(&joined);
	}
	p2p_noise_part bad = {NULL, 1};
	assert_int_equal(p2p_noise_send_parts(p.a, &bad, 1), P2P_EINVAL);
	assert_int_equal(p2p_noise_output(p.a)->len, 0);
	free(data);
	pair_close(&p);
}

static void test_send_parts_before_handshake(void **state)
{
	p2p_privkey *k;
	assert_int_equal(p2p_privkey_generate(&k), P2P_OK);
	p2p_noise *n;
	assert_int_equal(p2p_noise_new(&n, true, k, NULL), P2P_OK);
	p2p_noise_part part = {(const uint8_t *)"x", 1};
	assert_int_equal(p2p_noise_send_parts(n, &part, 1), P2P_ESTATE);
	p2p_noise_free(n);
	p2p_privkey_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cipher_pieces_identical),
	    cmocka_unit_test(test_send_parts),
	    cmocka_unit_test(test_send_parts_before_handshake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
