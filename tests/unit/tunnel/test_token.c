#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multibase.h"
#include "proto/tunnel.pb-c.h"
#include "tunnel/gob.h"
#include "tunnel/token.h"

/* From /work/shared/vectors/mtunnel-go-tokens.txt: made by Go's own
 * encoding/gob with the original mtunnel's type definitions. */
static const struct {
	const char *network;
	const char *peer;
	const char *token;
	const char *gob_hex;
} go_vectors[] = {
    {"tcp", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
     "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAw/"
     "4IBA3RjcAEmACQIARIgL/o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sA",
     "2bff8103010109436f6e6e546f6b656e01ff8200010201074e6574776f726b010c000102494401ff840"
     "00000"
     "0eff8306010102494401ff8400000030ff82010374637001260024080112202ffa35a99d3a3cfbb17bb"
     "7c1dc"
     "5561b18a8dcca4df38dc613ea859c37eb1336b00"},
    {"udp", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
     "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAw/"
     "4IBA3VkcAEmACQIARIgL/o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sA",
     "2bff8103010109436f6e6e546f6b656e01ff8200010201074e6574776f726b010c000102494401ff840"
     "00000"
     "0eff8306010102494401ff8400000030ff82010375647001260024080112202ffa35a99d3a3cfbb17bb"
     "7c1dc"
     "5561b18a8dcca4df38dc613ea859c37eb1336b00"},
    {"tcp", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
     "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAs/"
     "4IBA3RjcAEiEiCd/zsX10z004pQ2LY4PpLRgaEDlaXnOnJtzMvSG/bwuQA=",
     "2bff8103010109436f6e6e546f6b656e01ff8200010201074e6574776f726b010c000102494401ff840"
     "00000"
     "0eff8306010102494401ff840000002cff820103746370012212209dff3b17d74cf4d38a50d8b6383e9"
     "2d181"
     "a10395a5e73a726dcccbd21bf6f0b900"},
};

/* Hand-made gob streams (a small gob writer in Python that reproduces the
 * Go vectors byte for byte made them). */
/* Types defined in the other order and the struct's fields swapped: ID is
 * field 0, Network field 1; network "udp". */
static const char gob_reordered[] =
    "Dv+LBgEBAklEAf+MAAAAK/+NAwEBCUNvbm5Ub2tlbgH/jgABAgECSUQB/4wAAQdOZXR3b3JrAQwAAAAw/"
    "44BJgAkCAESIC/6NamdOjz7sXu3wdxVYbGKjcyk3zjcYT6oWcN+sTNrAQN1ZHAA";
/* Extra fields Port int and Name string around them, ID as plain []byte. */
static const char gob_extra_fields[] =
    "PP+BAwEBCUNvbm5Ub2tlbgH/ggABBAEHTmV0d29yawEMAAEEUG9ydAEEAAECSUQBCgABBE5hbWUBDAAAADf/"
    "ggEDdGNwAf4/IAEmACQIARIgL/o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sBAXgA";
static const char gob_no_id[] = "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/"
                                "4QAAAAO/4MGAQECSUQB/4QAAAAI/4IBA3RjcAA=";
static const char gob_other_struct[] =
    "H/+BAwEBBU90aGVyAf+CAAECAQFBAQwAAQFCAQwAAAAI/4IBA3RjcAA=";
static const char gob_sctp[] =
    "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAx/"
    "4IBBHNjdHABJgAkCAESIC/6NamdOjz7sXu3wdxVYbGKjcyk3zjcYT6oWcN+sTNrAA==";
static const char gob_value_twice[] =
    "K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAw/"
    "4IBA3RjcAEmACQIARIgL/"
    "o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sAMP+CAQN0Y3ABJgAkCAESIC/"
    "6NamdOjz7sXu3wdxVYbGKjcyk3zjcYT6oWcN+sTNrAA==";

static const char *ed25519_peer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

/* The legacy text form of a peer ID is bare base58btc of its bytes. */
static void assert_peer_is(const p2p_peerid *id, const char *b58)
{
	p2p_buf s;
	p2p_buf_init(&s);
	assert_int_equal(p2p_base58btc_encode(id->bytes, id->len, &s), P2P_OK);
	assert_int_equal(s.len, strlen(b58));
	assert_memory_equal(s.data, b58, s.len);
	p2p_buf_free(&s);
}

static void peer_from_b58(p2p_peerid *id, const char *b58)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_base58btc_decode(b58, strlen(b58), &b), P2P_OK);
	assert_true(b.len <= sizeof(id->bytes));
	memcpy(id->bytes, b.data, b.len);
	id->len = b.len;
	p2p_buf_free(&b);
}

static void from_hex(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n;
}

static int decode_str(tunnel_token *t, const char *text, const char **why)
{
	return tunnel_token_decode(t, text, strlen(text), why);
}

static void test_go_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(go_vectors) / sizeof(go_vectors[0]); i++) {
		tunnel_token t;
		const char *why = "unset";
		assert_int_equal(decode_str(&t, go_vectors[i].token, &why), P2P_OK);
		assert_null(why);
		assert_int_equal(t.version, TUNNEL_TOKEN_VERSION_GOB);
		assert_string_equal(tunnel_network_name(t.network),
		                    go_vectors[i].network);
		assert_peer_is(&t.peer, go_vectors[i].peer);
		assert_false(t.has_secret);
		assert_int_equal(t.n_addrs, 0);

		/* The gob column agrees with the base64 column. */
		uint8_t raw[256];
		size_t len;
		from_hex(go_vectors[i].gob_hex, raw, &len);
		tunnel_gob_conn_token g;
		assert_int_equal(tunnel_gob_decode_conn_token(raw, len, &g, NULL),
		                 P2P_OK);
		assert_int_equal(g.network_len, 3);
		assert_memory_equal(g.network, go_vectors[i].network, 3);
		assert_int_equal(g.id_len, t.peer.len);
		assert_memory_equal(g.id, t.peer.bytes, g.id_len);
	}
}

static void test_go_vector_truncated_and_padded(void **state)
{
	uint8_t raw[256];
	size_t len;
	from_hex(go_vectors[0].gob_hex, raw, &len);
	for (size_t cut = 0; cut < len; cut++) {
		tunnel_gob_conn_token g;
		const char *why = NULL;
		assert_int_not_equal(tunnel_gob_decode_conn_token(raw, cut, &g, &why),
		                     P2P_OK);
		assert_non_null(why);
	}
	/* A trailing byte after the value message. */
	raw[len] = 0x01;
	tunnel_gob_conn_token g;
	const char *why = NULL;
	assert_int_equal(tunnel_gob_decode_conn_token(raw, len + 1, &g, &why),
	                 P2P_EPROTO);
	assert_non_null(strstr(why, "gob"));
}

static void test_gob_by_field_names(void **state)
{
	tunnel_token t;
	const char *why;
	assert_int_equal(decode_str(&t, gob_reordered, &why), P2P_OK);
	assert_int_equal(t.network, TUNNEL_NETWORK_UDP);
	assert_peer_is(&t.peer, ed25519_peer);

	assert_int_equal(decode_str(&t, gob_extra_fields, &why), P2P_OK);
	assert_int_equal(t.network, TUNNEL_NETWORK_TCP);
	assert_peer_is(&t.peer, ed25519_peer);
}

static void test_gob_rejects(void **state)
{
	tunnel_token t;
	const char *why = NULL;
	assert_int_equal(decode_str(&t, gob_no_id, &why), P2P_EPROTO);
	assert_string_equal(
	    why, "not a tunnel token (nor a valid original gob token: gob token "
	         "has no peer ID)");
	assert_int_equal(decode_str(&t, gob_other_struct, &why), P2P_EUNSUPPORTED);
	assert_non_null(strstr(why, "no Network and ID fields"));
	assert_int_equal(decode_str(&t, gob_sctp, &why), P2P_EUNSUPPORTED);
	assert_non_null(strstr(why, "network other than tcp or udp"));
	assert_int_equal(decode_str(&t, gob_value_twice, &why), P2P_EPROTO);
	assert_non_null(strstr(why, "bytes after its value"));
	/* The token is cleared on failure. */
	assert_int_equal(t.peer.len, 0);
	assert_int_equal(t.network, TUNNEL_NETWORK_NONE);
}

static void make_token(tunnel_token *t, tunnel_network net, size_t n_addrs)
{
	p2p_peerid id;
	peer_from_b58(&id, ed25519_peer);
	assert_int_equal(tunnel_token_init(t, net, &id), P2P_OK);
	for (size_t i = 0; i < n_addrs; i++) {
		/* /ip4/127.0.0.<i>/tcp/4001 */
		uint8_t ma[] = {0x04, 127, 0, 0, (uint8_t)i, 0x06, 0x0f, 0xa1};
		assert_int_equal(tunnel_token_add_addr(t, ma, sizeof(ma)), P2P_OK);
	}
}

static void assert_tokens_equal(const tunnel_token *a, const tunnel_token *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->network, b->network);
	assert_int_equal(a->peer.len, b->peer.len);
	assert_memory_equal(a->peer.bytes, b->peer.bytes, a->peer.len);
	assert_int_equal(a->n_addrs, b->n_addrs);
	for (size_t i = 0; i < a->n_addrs; i++) {
		assert_int_equal(a->addrs[i].len, b->addrs[i].len);
		assert_memory_equal(a->addrs[i].bytes, b->addrs[i].bytes,
		                    a->addrs[i].len);
	}
	assert_int_equal(a->has_secret, b->has_secret);
	assert_memory_equal(a->secret, b->secret, TUNNEL_SECRET_LEN);
}

static char *encode_str(const tunnel_token *t)
{
	p2p_buf text;
	p2p_buf_init(&text);
	assert_int_equal(tunnel_token_encode(t, &text), P2P_OK);
	assert_int_equal(p2p_buf_append_byte(&text, 0), P2P_OK);
	return (char *)text.data;
}

static void test_v2_round_trip(void **state)
{
	tunnel_token t, u;
	make_token(&t, TUNNEL_NETWORK_UDP, 2);
	tunnel_token other;
	make_token(&other, TUNNEL_NETWORK_UDP, 2);
	/* Each token gets its own random secret. */
	assert_memory_not_equal(t.secret, other.secret, TUNNEL_SECRET_LEN);

	char *text = encode_str(&t);
	const char *why = "unset";
	assert_int_equal(decode_str(&u, text, &why), P2P_OK);
	assert_null(why);
	assert_tokens_equal(&t, &u);
	assert_int_equal(u.version, TUNNEL_TOKEN_VERSION);

	/* The binary form starts with the version byte. */
	p2p_buf raw;
	p2p_buf_init(&raw);
	assert_int_equal(p2p_base64_decode(text, strlen(text), &raw), P2P_OK);
	assert_int_equal(raw.data[0], 2);
	p2p_buf_free(&raw);

	/* URL-safe alphabet, no padding, surrounding whitespace. */
	size_t n = strlen(text);
	char *url = malloc(n + 8);
	size_t m = 0;
	url[m++] = ' ';
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '=')
			continue;
		url[m++] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
	}
	url[m++] = '\r';
	url[m++] = '\n';
	url[m] = 0;
	assert_int_equal(decode_str(&u, url, &why), P2P_OK);
	assert_tokens_equal(&t, &u);
	free(url);
	free(text);

	/* The biggest token the limits allow still encodes and decodes. */
	make_token(&t, TUNNEL_NETWORK_TCP, 0);
	uint8_t big[TUNNEL_TOKEN_MAX_ADDR_LEN];
	memset(big, 0x42, sizeof(big));
	for (size_t i = 0; i < TUNNEL_TOKEN_MAX_ADDRS; i++)
		assert_int_equal(tunnel_token_add_addr(&t, big, sizeof(big)), P2P_OK);
	assert_int_equal(tunnel_token_add_addr(&t, big, 1), P2P_ELIMIT);
	text = encode_str(&t);
	assert_int_equal(decode_str(&u, text, &why), P2P_OK);
	assert_tokens_equal(&t, &u);
	free(text);
}

static void test_add_addr_limits(void **state)
{
	tunnel_token t;
	make_token(&t, TUNNEL_NETWORK_TCP, 0);
	uint8_t big[TUNNEL_TOKEN_MAX_ADDR_LEN + 1] = {0};
	assert_int_equal(tunnel_token_add_addr(&t, big, sizeof(big)), P2P_ETOOBIG);
	assert_int_equal(tunnel_token_add_addr(&t, big, 0), P2P_EINVAL);
	assert_int_equal(t.n_addrs, 0);

	p2p_buf out;
	p2p_buf_init(&out);
	t.version = TUNNEL_TOKEN_VERSION_GOB; /* we never write version 1 */
	assert_int_equal(tunnel_token_encode(&t, &out), P2P_EINVAL);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);

	tunnel_network net;
	assert_int_equal(tunnel_network_parse("udp", &net), P2P_OK);
	assert_int_equal(net, TUNNEL_NETWORK_UDP);
	assert_int_equal(tunnel_network_parse("sctp", &net), P2P_EUNSUPPORTED);
}

/* base64 of 0x02 then a packed Token with the given fields. */
static char *v2_text(uint32_t network, const uint8_t *peer, size_t peer_len,
                     size_t n_addrs, size_t addr_len, size_t secret_len)
{
	static uint8_t addr_bytes[512];
	static uint8_t secret[64];
	ProtobufCBinaryData addrs[32];
	for (size_t i = 0; i < n_addrs; i++) {
		addrs[i].data = addr_bytes;
		addrs[i].len = addr_len;
	}
	Mtunnel__Pb__Token pb = MTUNNEL__PB__TOKEN__INIT;
	pb.network = (Mtunnel__Pb__Network)network;
	pb.peer_id.data = (uint8_t *)peer;
	pb.peer_id.len = peer_len;
	pb.n_addrs = n_addrs;
	pb.addrs = addrs;
	pb.secret.data = secret;
	pb.secret.len = secret_len;
	uint8_t raw[16384];
	raw[0] = 2;
	size_t n = mtunnel__pb__token__pack(&pb, raw + 1);
	p2p_buf text;
	p2p_buf_init(&text);
	assert_int_equal(p2p_base64_encode(raw, n + 1, 0, 0, &text), P2P_OK);
	assert_int_equal(p2p_buf_append_byte(&text, 0), P2P_OK);
	return (char *)text.data;
}

static void expect_v2_error(char *text, int err, const char *why_part)
{
	tunnel_token t;
	const char *why = NULL;
	assert_int_equal(decode_str(&t, text, &why), err);
	assert_non_null(why);
	assert_non_null(strstr(why, why_part));
	free(text);
}

static void test_v2_rejects(void **state)
{
	p2p_peerid id;
	peer_from_b58(&id, ed25519_peer);
	const uint8_t *p = id.bytes;
	size_t pl = id.len;

	/* The well-formed reference passes. */
	char *ok = v2_text(1, p, pl, 1, 8, 32);
	tunnel_token t;
	assert_int_equal(decode_str(&t, ok, NULL), P2P_OK);
	free(ok);

	expect_v2_error(v2_text(1, p, pl, 0, 0, 31), P2P_EPROTO,
	                "secret is not 32 bytes");
	expect_v2_error(v2_text(1, p, pl, 0, 0, 0), P2P_EPROTO, "secret is not 32 bytes");
	expect_v2_error(v2_text(0, p, pl, 0, 0, 32), P2P_EUNSUPPORTED, "network");
	expect_v2_error(v2_text(7, p, pl, 0, 0, 32), P2P_EUNSUPPORTED, "network");
	expect_v2_error(v2_text(1, p, 0, 0, 0, 32), P2P_EPROTO, "peer ID");
	expect_v2_error(v2_text(1, p, pl - 1, 0, 0, 32), P2P_EPROTO, "peer ID");
	static const uint8_t md5_mh[] = {0xd5, 0x01, 0x02, 0xaa, 0xbb};
	expect_v2_error(v2_text(1, md5_mh, sizeof(md5_mh), 0, 0, 32), P2P_EPROTO,
	                "peer ID");
	expect_v2_error(v2_text(1, p, pl, 17, 8, 32), P2P_ETOOBIG,
	                "more than 16 addresses");
	expect_v2_error(v2_text(1, p, pl, 1, 201, 32), P2P_ETOOBIG, "over 200 bytes");
	expect_v2_error(v2_text(1, p, pl, 1, 0, 32), P2P_EPROTO, "empty address");
	/* Over 4 KiB once decoded, though each part is within its limit. */
	expect_v2_error(v2_text(1, p, pl, 32, 200, 32), P2P_ETOOBIG, "too long");
}

static void test_v2_truncated(void **state)
{
	tunnel_token t;
	make_token(&t, TUNNEL_NETWORK_TCP, 3);
	char *text = encode_str(&t);
	p2p_buf raw;
	p2p_buf_init(&raw);
	assert_int_equal(p2p_base64_decode(text, strlen(text), &raw), P2P_OK);
	/* The secret is the last field, so every cut loses at least part of it. */
	for (size_t cut = 1; cut < raw.len; cut++) {
		p2p_buf cut_text;
		p2p_buf_init(&cut_text);
		assert_int_equal(p2p_base64_encode(raw.data, cut, 1, 0, &cut_text),
		                 P2P_OK);
		tunnel_token u;
		const char *why = NULL;
		assert_int_not_equal(tunnel_token_decode(&u, (const char *)cut_text.data,
		                                         cut_text.len, &why),
		                     P2P_OK);
		assert_non_null(why);
		p2p_buf_free(&cut_text);
	}
	p2p_buf_free(&raw);
	free(text);
}

static void test_garbage(void **state)
{
	tunnel_token t;
	const char *why = NULL;
	assert_int_equal(decode_str(&t, "", &why), P2P_EINVAL);
	assert_string_equal(why, "the token is empty");
	assert_int_equal(decode_str(&t, " \n\t", &why), P2P_EINVAL);
	assert_int_equal(decode_str(&t, "not base64!", &why), P2P_EPROTO);
	assert_string_equal(why, "the token is not valid base64");
	assert_int_equal(decode_str(&t, "A", &why), P2P_EPROTO);
	assert_int_equal(decode_str(&t, "aGVsbG8gd29ybGQ=", &why),
	                 P2P_EPROTO); /* "hello world" */
	assert_non_null(strstr(why, "not a tunnel token"));
	assert_int_equal(decode_str(&t, "Aw==", &why), P2P_EUNSUPPORTED); /* version 3 */
	assert_non_null(strstr(why, "version"));
	assert_int_equal(decode_str(&t, "AA==", &why), P2P_EUNSUPPORTED); /* version 0 */
	assert_int_equal(decode_str(&t, "Ag==", &why),
	                 P2P_EUNSUPPORTED); /* version 2, empty */

	size_t n = TUNNEL_TOKEN_MAX_TEXT + 4;
	char *long_text = malloc(n + 1);
	memset(long_text, 'A', n);
	long_text[n] = 0;
	assert_int_equal(decode_str(&t, long_text, &why), P2P_ETOOBIG);
	assert_non_null(strstr(why, "too long"));
	free(long_text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_go_vectors),
	    cmocka_unit_test(test_go_vector_truncated_and_padded),
	    cmocka_unit_test(test_gob_by_field_names),
	    cmocka_unit_test(test_gob_rejects),
	    cmocka_unit_test(test_v2_round_trip),
	    cmocka_unit_test(test_add_addr_limits),
	    cmocka_unit_test(test_v2_rejects),
	    cmocka_unit_test(test_v2_truncated),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
