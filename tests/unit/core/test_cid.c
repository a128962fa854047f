#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/cid.h"
#include "p2p/error.h"
#include "p2p/multibase.h"

/* Decodes a CID string and checks codec and multihash; returns the
 * base58btc text of the multihash in b58 (a peer ID for libp2p-key). */
static void check_cid(const char *text, uint64_t want_codec, const char *want_b58)
{
	p2p_buf bin, b58;
	p2p_buf_init(&bin);
	p2p_buf_init(&b58);
	assert_int_equal(p2p_cid_from_string(text, strlen(text), &bin), P2P_OK);
	uint64_t codec = 0;
	const uint8_t *mh = NULL;
	size_t mh_len = 0;
	assert_int_equal(p2p_cid_decode(bin.data, bin.len, &codec, &mh, &mh_len), P2P_OK);
	assert_true(codec == want_codec);
	assert_ptr_equal(mh, bin.data + 2);
	assert_int_equal(mh_len, bin.len - 2);
	assert_int_equal(p2p_base58btc_encode(mh, mh_len, &b58), P2P_OK);
	assert_int_equal(b58.len, strlen(want_b58));
	assert_memory_equal(b58.data, want_b58, b58.len);

	/* Back to binary and, for base32 input, to the same text. */
	p2p_buf again, str;
	p2p_buf_init(&again);
	p2p_buf_init(&str);
	assert_int_equal(p2p_cid_encode(codec, mh, mh_len, &again), P2P_OK);
	assert_int_equal(again.len, bin.len);
	assert_memory_equal(again.data, bin.data, bin.len);
	assert_int_equal(p2p_cid_to_string(codec, mh, mh_len, &str), P2P_OK);
	if (text[0] == 'b') {
		assert_int_equal(str.len, strlen(text));
		assert_memory_equal(str.data, text, str.len);
	}
	p2p_buf_free(&str);
	p2p_buf_free(&again);
	p2p_buf_free(&b58);
	p2p_buf_free(&bin);
}

static void test_vectors(void **state)
{
	/* libp2p/specs peer-ids.md: the same sha2-256 peer ID in both forms. */
	check_cid("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe",
	          P2P_CODEC_LIBP2P_KEY, "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
	/* go-multiaddr test vectors: ed25519 (identity) peer ID in base32 and
	 * base36, and a sha2-256 one in base36. */
	check_cid("bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u",
	          P2P_CODEC_LIBP2P_KEY,
	          "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
	check_cid("k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs",
	          P2P_CODEC_LIBP2P_KEY,
	          "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
	check_cid("k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7",
	          P2P_CODEC_LIBP2P_KEY, "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC");
	/* The usual IPFS example, a dag-pb CID. */
	check_cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
	          P2P_CODEC_DAG_PB, "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR");
}

static void test_binary_layout(void **state)
{
	static const uint8_t mh[] = {0x00, 0x02, 0xab, 0xcd};
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_cid_encode(P2P_CODEC_RAW, mh, sizeof(mh), &out), P2P_OK);
	static const uint8_t want[] = {0x01, 0x55, 0x00, 0x02, 0xab, 0xcd};
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));
	/* A codec that needs a multi-byte varint. */
	p2p_buf_reset(&out);
	assert_int_equal(p2p_cid_encode(0x300, mh, sizeof(mh), &out), P2P_OK);
	assert_int_equal(out.len, 7);
	assert_int_equal(out.data[1], 0x80);
	assert_int_equal(out.data[2], 0x06);
	uint64_t codec;
	const uint8_t *m;
	size_t mlen;
	assert_int_equal(p2p_cid_decode(out.data, out.len, &codec, &m, &mlen), P2P_OK);
	assert_true(codec == 0x300);
	assert_int_equal(mlen, sizeof(mh));
	p2p_buf_free(&out);
}

static void test_rejects(void **state)
{
	uint64_t codec;
	const uint8_t *mh;
	size_t mh_len;
	/* CIDv0 (a bare sha2-256 multihash), another version, truncations. */
	static const uint8_t v0[] = {0x12, 0x20, 0x00};
	assert_int_equal(p2p_cid_decode(v0, sizeof(v0), &codec, &mh, &mh_len),
	                 P2P_EUNSUPPORTED);
	static const uint8_t v2[] = {0x02, 0x72, 0x00, 0x00};
	assert_int_equal(p2p_cid_decode(v2, sizeof(v2), &codec, &mh, &mh_len),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(p2p_cid_decode(v2, 0, &codec, &mh, &mh_len), P2P_EPROTO);
	static const uint8_t no_codec[] = {0x01};
	assert_int_equal(p2p_cid_decode(no_codec, 1, &codec, &mh, &mh_len), P2P_EPROTO);
	static const uint8_t no_mh[] = {0x01, 0x72};
	assert_int_equal(p2p_cid_decode(no_mh, 2, &codec, &mh, &mh_len), P2P_EPROTO);
	static const uint8_t short_mh[] = {0x01, 0x72, 0x00, 0x02, 0x00};
	assert_int_equal(p2p_cid_decode(short_mh, sizeof(short_mh), &codec, &mh, &mh_len),
	                 P2P_EPROTO);

	p2p_buf out;
	p2p_buf_init(&out);
	/* Encoding refuses a malformed multihash. */
	assert_int_equal(p2p_cid_encode(P2P_CODEC_RAW, short_mh + 2, 3, &out),
	                 P2P_EPROTO);
	/* Text: a CIDv0 string, a bad character, a valid multibase that is no CID. */
	const char *v0s = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
	assert_int_equal(p2p_cid_from_string(v0s, strlen(v0s), &out), P2P_EUNSUPPORTED);
	assert_int_equal(p2p_cid_from_string("bafz!", 5, &out), P2P_EPROTO);
	assert_int_equal(p2p_cid_from_string("zQmYy", 5, &out), P2P_EUNSUPPORTED);
	assert_int_equal(p2p_cid_from_string("", 0, &out), P2P_EPROTO);
	assert_int_equal(p2p_cid_from_string("b", 1, &out), P2P_EPROTO);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_binary_layout),
	    cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
