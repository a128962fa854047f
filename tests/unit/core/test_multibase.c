#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multibase.h"

/* Decodes text with the prefixed decoder and checks the bytes. */
static void check_decode(const char *text, const void *bytes, size_t len)
{
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_multibase_decode(text, strlen(text), &out), P2P_OK);
	assert_int_equal(out.len, len);
	if (len > 0)
		assert_memory_equal(out.data, bytes, len);
	p2p_buf_free(&out);
}

/* Encodes bytes under text's prefix and checks the text, then decodes. */
static void check_roundtrip(const char *text, const void *bytes, size_t len)
{
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(
	    p2p_multibase_encode((enum p2p_multibase)text[0], bytes, len, &out), P2P_OK);
	assert_int_equal(out.len, strlen(text));
	assert_memory_equal(out.data, text, out.len);
	p2p_buf_free(&out);
	check_decode(text, bytes, len);
}

/* multiformats/multibase tests/{basic,leading_zero,two_leading_zeros}.csv,
 * the rows for the bases we implement. */
static void test_spec_vectors(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *text;
	} vec[] = {
	    {"yes mani !", 10, "f796573206d616e692021"},
	    {"yes mani !", 10, "F796573206D616E692021"},
	    {"yes mani !", 10, "bpfsxgidnmfxgsibb"},
	    {"yes mani !", 10, "BPFSXGIDNMFXGSIBB"},
	    {"yes mani !", 10, "z7paNL19xttacUY"},
	    {"yes mani !", 10, "k2lcpzo5yikidynfl"},
	    {"yes mani !", 10, "K2LCPZO5YIKIDYNFL"},
	    {"yes mani !", 10, "meWVzIG1hbmkgIQ"},
	    {"yes mani !", 10, "MeWVzIG1hbmkgIQ=="},
	    {"yes mani !", 10, "ueWVzIG1hbmkgIQ"},
	    {"yes mani !", 10, "UeWVzIG1hbmkgIQ=="},
	    {"\0yes mani !", 11, "f00796573206d616e692021"},
	    {"\0yes mani !", 11, "F00796573206D616E692021"},
	    {"\0yes mani !", 11, "bab4wk4zanvqw42jaee"},
	    {"\0yes mani !", 11, "BAB4WK4ZANVQW42JAEE"},
	    {"\0yes mani !", 11, "z17paNL19xttacUY"},
	    {"\0yes mani !", 11, "k02lcpzo5yikidynfl"},
	    {"\0yes mani !", 11, "K02LCPZO5YIKIDYNFL"},
	    {"\0yes mani !", 11, "mAHllcyBtYW5pICE"},
	    {"\0yes mani !", 11, "MAHllcyBtYW5pICE="},
	    {"\0yes mani !", 11, "uAHllcyBtYW5pICE"},
	    {"\0yes mani !", 11, "UAHllcyBtYW5pICE="},
	    {"\0\0yes mani !", 12, "f0000796573206d616e692021"},
	    {"\0\0yes mani !", 12, "baaahszltebwwc3tjeaqq"},
	    {"\0\0yes mani !", 12, "BAAAHSZLTEBWWC3TJEAQQ"},
	    {"\0\0yes mani !", 12, "z117paNL19xttacUY"},
	    {"\0\0yes mani !", 12, "k002lcpzo5yikidynfl"},
	    {"\0\0yes mani !", 12, "mAAB5ZXMgbWFuaSAh"},
	    {"\0\0yes mani !", 12, "MAAB5ZXMgbWFuaSAh"},
	    {"\0\0yes mani !", 12, "uAAB5ZXMgbWFuaSAh"},
	    {"\0\0yes mani !", 12, "UAAB5ZXMgbWFuaSAh"},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
		check_roundtrip(vec[i].text, vec[i].bytes, vec[i].len);
}

/* tests/case_insensitivity.csv: base16 and base32 ignore letter case. */
static void test_case_insensitivity(void **state)
{
	check_decode("f68656c6c6f20776F726C64", "hello world", 11);
	check_decode("F68656c6c6f20776F726C64", "hello world", 11);
	check_decode("bnbswy3dpeB3W64TMMQ", "hello world", 11);
	check_decode("Bnbswy3dpeB3W64TMMQ", "hello world", 11);
	check_decode("kfUvrsIvVnfRbjWaJo", "hello world", 11);
	check_decode("KfUVrSIVVnFRbJWAJo", "hello world", 11);
}

/* RFC 4648 section 10, without padding for base32 (multibase 'b'). */
static void test_rfc4648(void **state)
{
	static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *b32[] = {"",        "my",       "mzxq",      "mzxw6",
	                            "mzxw6yq", "mzxw6ytb", "mzxw6ytboi"};
	static const char *b64[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                            "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		p2p_buf out;
		p2p_buf_init(&out);
		size_t n = strlen(in[i]);
		assert_int_equal(p2p_base32_encode((const uint8_t *)in[i], n, &out),
		                 P2P_OK);
		assert_int_equal(out.len, strlen(b32[i]));
		assert_memory_equal(out.data, b32[i], out.len);
		p2p_buf_reset(&out);
		assert_int_equal(p2p_base32_decode(b32[i], strlen(b32[i]), &out), P2P_OK);
		assert_int_equal(out.len, n);
		assert_memory_equal(out.data, in[i], n);

		p2p_buf_reset(&out);
		assert_int_equal(p2p_base64_encode((const uint8_t *)in[i], n, 0, 1, &out),
		                 P2P_OK);
		assert_int_equal(out.len, strlen(b64[i]));
		assert_memory_equal(out.data, b64[i], out.len);
		/* The bare decoder takes it with and without the padding. */
		size_t tlen = strlen(b64[i]);
		for (int pad = 0; pad < 2; pad++) {
			p2p_buf_reset(&out);
			assert_int_equal(p2p_base64_decode(b64[i], tlen, &out), P2P_OK);
			assert_int_equal(out.len, n);
			assert_memory_equal(out.data, in[i], n);
			while (tlen > 0 && b64[i][tlen - 1] == '=')
				tlen--;
		}
		p2p_buf_free(&out);
	}
}

static void test_base64_alphabets(void **state)
{
	static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_base64_encode(bytes, 3, 0, 0, &out), P2P_OK);
	assert_memory_equal(out.data, "+/+/", 4);
	p2p_buf_reset(&out);
	assert_int_equal(p2p_base64_encode(bytes, 3, 1, 0, &out), P2P_OK);
	assert_memory_equal(out.data, "-_-_", 4);
	p2p_buf_reset(&out);
	assert_int_equal(p2p_base64_decode("-_-_", 4, &out), P2P_OK);
	assert_int_equal(p2p_base64_decode("+/+/", 4, &out), P2P_OK);
	assert_int_equal(out.len, 6);
	assert_memory_equal(out.data, bytes, 3);
	assert_memory_equal(out.data + 3, bytes, 3);
	p2p_buf_free(&out);
	/* The prefixed forms hold each to its own alphabet and padding. */
	check_decode("u-_-_", bytes, 3);
	check_decode("m+/+/", bytes, 3);
	p2p_buf_init(&out);
	assert_int_equal(p2p_multibase_decode("m-_-_", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_multibase_decode("u+/+/", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_multibase_decode("mZg==", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_multibase_decode("MZg", 3, &out), P2P_EPROTO);
	assert_int_equal(p2p_multibase_decode("UZg=", 4, &out), P2P_EPROTO);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);
}

/* A real peer ID: base58btc of a sha2-256 multihash. */
static void test_base58_peer_id(void **state)
{
	static const char id[] = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
	p2p_buf out, text;
	p2p_buf_init(&out);
	p2p_buf_init(&text);
	assert_int_equal(p2p_base58btc_decode(id, strlen(id), &out), P2P_OK);
	assert_int_equal(out.len, 34);
	assert_int_equal(out.data[0], 0x12);
	assert_int_equal(out.data[1], 0x20);
	assert_int_equal(p2p_base58btc_encode(out.data, out.len, &text), P2P_OK);
	assert_int_equal(text.len, strlen(id));
	assert_memory_equal(text.data, id, text.len);
	p2p_buf_free(&out);
	p2p_buf_free(&text);

	/* Edge cases: empty (into a buffer without storage), all zeros. */
	p2p_buf_init(&out);
	assert_int_equal(p2p_multibase_decode("z", 1, &out), P2P_OK);
	assert_int_equal(p2p_multibase_decode("k", 1, &out), P2P_OK);
	assert_int_equal(p2p_multibase_decode("b", 1, &out), P2P_OK);
	assert_int_equal(p2p_multibase_decode("u", 1, &out), P2P_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(p2p_base58btc_encode((const uint8_t *)"", 0, &out), P2P_OK);
	assert_int_equal(out.len, 0);
	static const uint8_t zeros[3] = {0};
	assert_int_equal(p2p_base58btc_encode(zeros, 3, &out), P2P_OK);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "111", 3);
	p2p_buf_reset(&out);
	assert_int_equal(p2p_base58btc_decode("111", 3, &out), P2P_OK);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, zeros, 3);
	p2p_buf_free(&out);
}

static void test_rejects(void **state)
{
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_buf_append(&out, "keep", 4), P2P_OK);
	/* Characters outside the alphabet: 0, O, I, l are not base58. */
	assert_int_equal(p2p_base58btc_decode("z0", 2, &out), P2P_EPROTO);
	assert_int_equal(p2p_base58btc_decode("abcO", 4, &out), P2P_EPROTO);
	assert_int_equal(p2p_base58btc_decode("I", 1, &out), P2P_EPROTO);
	assert_int_equal(p2p_base58btc_decode("ab\0c", 4, &out), P2P_EPROTO);
	assert_int_equal(p2p_base32_decode("mzxw1", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_base32_decode("mzxw=", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_base64_decode("Zm9v!", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_base16_decode("0g", 2, &out), P2P_EPROTO);
	/* Impossible lengths. */
	assert_int_equal(p2p_base32_decode("m", 1, &out), P2P_EPROTO);
	assert_int_equal(p2p_base32_decode("mzx", 3, &out), P2P_EPROTO);
	assert_int_equal(p2p_base32_decode("mzxw6y", 6, &out), P2P_EPROTO);
	assert_int_equal(p2p_base64_decode("Z", 1, &out), P2P_EPROTO);
	assert_int_equal(p2p_base64_decode("Zm9vY", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_base64_decode("Zg===", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_base64_decode("Zm=", 3, &out), P2P_EPROTO);
	assert_int_equal(p2p_base16_decode("abc", 3, &out), P2P_EPROTO);
	/* Non-zero unused trailing bits ("Zh" would be "f" plus a stray bit). */
	assert_int_equal(p2p_base64_decode("Zh", 2, &out), P2P_EPROTO);
	assert_int_equal(p2p_base32_decode("mz", 2, &out), P2P_EPROTO);
	/* Every failure left the buffer as it was. */
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "keep", 4);
	assert_int_equal(p2p_base36_decode("2lcp-", 5, &out), P2P_EPROTO);
	assert_int_equal(out.len, 4);
	/* Prefixes: empty, unknown (base32hex 'v', base10 '9'). */
	assert_int_equal(p2p_multibase_decode("", 0, &out), P2P_EPROTO);
	assert_int_equal(p2p_multibase_decode("vf5in683dc5n6i811", 17, &out),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(p2p_multibase_decode("9573277761329450583662625", 25, &out),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(
	    p2p_multibase_encode((enum p2p_multibase)'v', (const uint8_t *)"a", 1, &out),
	    P2P_EUNSUPPORTED);
	assert_int_equal(out.len, 4);
	p2p_buf_free(&out);
}

static void test_base58_limit(void **state)
{
	static uint8_t big[P2P_BASE58_MAX_LEN + 1];
	static char text[P2P_BASE58_MAX_LEN + 1];
	memset(big, 0xff, sizeof(big));
	memset(text, 'z', sizeof(text));
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_base58btc_encode(big, sizeof(big), &out), P2P_ETOOBIG);
	assert_int_equal(p2p_base58btc_decode(text, sizeof(text), &out), P2P_ETOOBIG);
	/* At the limit both directions work. */
	assert_int_equal(p2p_base58btc_decode(text, P2P_BASE58_MAX_LEN, &out), P2P_OK);
	size_t n = out.len;
	p2p_buf text_out;
	p2p_buf_init(&text_out);
	assert_int_equal(p2p_base58btc_encode(out.data, n, &text_out), P2P_OK);
	assert_int_equal(text_out.len, P2P_BASE58_MAX_LEN);
	assert_memory_equal(text_out.data, text, P2P_BASE58_MAX_LEN);
	assert_int_equal(p2p_base58btc_encode(big, P2P_BASE58_MAX_LEN, &text_out),
	                 P2P_OK);
	p2p_buf_free(&text_out);
	p2p_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vectors),
	    cmocka_unit_test(test_case_insensitivity),
	    cmocka_unit_test(test_rfc4648),
	    cmocka_unit_test(test_base64_alphabets),
	    cmocka_unit_test(test_base58_peer_id),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_base58_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
