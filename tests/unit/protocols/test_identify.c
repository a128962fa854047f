#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/identify.h"
#include "p2p/varint.h"

/* /ip4/127.0.0.1/tcp/4001 */
static const uint8_t addr1[] = {0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};
/* /ip4/10.0.0.1/tcp/80 */
static const uint8_t addr2[] = {0x04, 0x0a, 0x00, 0x00, 0x01, 0x06, 0x00, 0x50};

static void fill(p2p_identify *id)
{
	static const uint8_t key[] = {0x08, 0x01, 0x12, 0x02, 0xaa, 0xbb};
	assert_int_equal(
	    p2p_identify_set_protocol_version(id, P2P_IDENTIFY_PROTOCOL_VERSION), 0);
	assert_int_equal(p2p_identify_set_agent_version(id, "mtunnel/test"), 0);
	assert_int_equal(p2p_identify_set_public_key(id, key, sizeof(key)), 0);
	assert_int_equal(p2p_identify_add_listen_addr(id, addr1, sizeof(addr1)), 0);
	assert_int_equal(p2p_identify_add_listen_addr(id, addr2, sizeof(addr2)), 0);
	assert_int_equal(p2p_identify_set_observed_addr(id, addr2, sizeof(addr2)), 0);
	assert_int_equal(p2p_identify_add_protocol(id, P2P_IDENTIFY_PROTOCOL), 0);
	assert_int_equal(p2p_identify_add_protocol(id, "/ipfs/ping/1.0.0"), 0);
	assert_int_equal(
	    p2p_identify_set_signed_peer_record(id, (const uint8_t *)"env", 3), 0);
}

static void assert_same(const p2p_identify *a, const p2p_identify *b)
{
	assert_string_equal(a->protocol_version, b->protocol_version);
	assert_string_equal(a->agent_version, b->agent_version);
	assert_int_equal(a->public_key.len, b->public_key.len);
	assert_memory_equal(a->public_key.data, b->public_key.data, a->public_key.len);
	assert_int_equal(a->n_listen_addrs, b->n_listen_addrs);
	for (size_t i = 0; i < a->n_listen_addrs; i++) {
		assert_int_equal(a->listen_addrs[i].len, b->listen_addrs[i].len);
		assert_memory_equal(a->listen_addrs[i].data, b->listen_addrs[i].data,
		                    a->listen_addrs[i].len);
	}
	assert_int_equal(a->observed_addr.len, b->observed_addr.len);
	assert_memory_equal(a->observed_addr.data, b->observed_addr.data,
	                    a->observed_addr.len);
	assert_int_equal(a->n_protocols, b->n_protocols);
	for (size_t i = 0; i < a->n_protocols; i++)
		assert_string_equal(a->protocols[i], b->protocols[i]);
	assert_int_equal(a->signed_peer_record.len, b->signed_peer_record.len);
}

static void test_round_trip_byte_by_byte(void **state)
{
	p2p_identify a, b;
	p2p_identify_init(&a);
	p2p_identify_init(&b);
	fill(&a);
	p2p_buf wire;
	p2p_buf_init(&wire);
	assert_int_equal(p2p_identify_encode(&a, &wire), 0);

	/* The prefix is the protobuf's length. */
	uint64_t size;
	int n = p2p_uvarint_decode(wire.data, wire.len, &size);
	assert_true(n > 0);
	assert_int_equal((size_t)n + size, wire.len);

	p2p_identify_reader r;
	p2p_identify_reader_init(&r);
	assert_int_equal(p2p_identify_reader_finish(&r), P2P_EPROTO); /* nothing yet */
	for (size_t i = 0; i < wire.len; i++) {
		assert_int_equal(p2p_identify_reader_recv(&r, &b, wire.data + i, 1), 0);
		if (i + 1 < wire.len)
			assert_int_equal(p2p_identify_reader_finish(&r), P2P_EPROTO);
	}
	assert_int_equal(p2p_identify_reader_finish(&r), 0);
	assert_same(&a, &b);

	p2p_identify_reader_free(&r);
	p2p_buf_free(&wire);
	p2p_identify_free(&a);
	p2p_identify_free(&b);
}

/* Bytes laid out by hand from the spec's field numbers, so the encoding is
 * checked against the spec and not only against itself. */
static void test_decode_spec_layout(void **state)
{
	static const uint8_t pb[] = {
	    0x2a, 0x0a, 'i',  'p',  'f',  's',  '/',  '0',  '.',  '1',  '.',
	    '0',                         /* 5 protocolVersion */
	    0x32, 0x03, 'g',  'o',  '!', /* 6 agentVersion */
	    0x12, 0x08, 0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1, /* 2 listenAddrs
	                                                                 */
	    0x1a, 0x03, '/',  'x',  'y',                                /* 3 protocols */
	    0x22, 0x08, 0x04, 0x0a, 0x00, 0x00, 0x01, 0x06, 0x00, 0x50, /* 4 observedAddr
	                                                                 */
	    0x0a, 0x02, 0x08, 0x01,                                     /* 1 publicKey */
	    0x42, 0x01, 0xee, /* 8 signedPeerRecord */
	    0x78, 0x05,       /* 15: unknown, skipped */
	};
	p2p_identify id;
	p2p_identify_init(&id);
	assert_int_equal(p2p_identify_decode(&id, pb, sizeof(pb)), 0);
	assert_string_equal(id.protocol_version, "ipfs/0.1.0");
	assert_string_equal(id.agent_version, "go!");
	assert_int_equal(id.n_listen_addrs, 1);
	assert_memory_equal(id.listen_addrs[0].data, addr1, sizeof(addr1));
	assert_int_equal(id.n_protocols, 1);
	assert_string_equal(id.protocols[0], "/xy");
	assert_memory_equal(id.observed_addr.data, addr2, sizeof(addr2));
	assert_int_equal(id.public_key.len, 2);
	assert_int_equal(id.signed_peer_record.len, 1);
	assert_int_equal(id.signed_peer_record.data[0], 0xee);

	/* And our encoder writes the same fields the same way. */
	p2p_identify_free(&id);
	p2p_identify_init(&id);
	assert_int_equal(p2p_identify_set_agent_version(&id, "go!"), 0);
	p2p_buf wire;
	p2p_buf_init(&wire);
	assert_int_equal(p2p_identify_encode(&id, &wire), 0);
	static const uint8_t expect[] = {0x05, 0x32, 0x03, 'g', 'o', '!'};
	assert_int_equal(wire.len, sizeof(expect));
	assert_memory_equal(wire.data, expect, sizeof(expect));
	p2p_buf_free(&wire);
	p2p_identify_free(&id);
}

/* go-libp2p sends a large Identify in two messages, the signed record in
 * the second; single fields of a later part replace, lists append. */
static void test_merge_parts(void **state)
{
	p2p_identify a, b, got;
	p2p_identify_init(&a);
	p2p_identify_init(&b);
	p2p_identify_init(&got);
	assert_int_equal(p2p_identify_set_agent_version(&a, "first"), 0);
	assert_int_equal(p2p_identify_add_protocol(&a, "/a"), 0);
	assert_int_equal(p2p_identify_set_agent_version(&b, "second"), 0);
	assert_int_equal(p2p_identify_add_protocol(&b, "/b"), 0);
	assert_int_equal(
	    p2p_identify_set_signed_peer_record(&b, (const uint8_t *)"rec", 3), 0);
	p2p_buf wire;
	p2p_buf_init(&wire);
	assert_int_equal(p2p_identify_encode(&a, &wire), 0);
	assert_int_equal(p2p_identify_encode(&b, &wire), 0);

	p2p_identify_reader r;
	p2p_identify_reader_init(&r);
	assert_int_equal(p2p_identify_reader_recv(&r, &got, wire.data, wire.len), 0);
	assert_int_equal(p2p_identify_reader_finish(&r), 0);
	assert_int_equal(r.parts, 2);
	assert_string_equal(got.agent_version, "second");
	assert_int_equal(got.n_protocols, 2);
	assert_string_equal(got.protocols[0], "/a");
	assert_string_equal(got.protocols[1], "/b");
	assert_int_equal(got.signed_peer_record.len, 3);
	assert_null(got.protocol_version);

	p2p_identify_reader_free(&r);
	p2p_buf_free(&wire);
	p2p_identify_free(&a);
	p2p_identify_free(&b);
	p2p_identify_free(&got);
}

static void test_limits(void **state)
{
	p2p_identify id;
	p2p_identify_init(&id);

	/* Setters. */
	char *long_str = malloc(P2P_IDENTIFY_MAX_STRING + 2);
	memset(long_str, 'x', P2P_IDENTIFY_MAX_STRING + 1);
	long_str[P2P_IDENTIFY_MAX_STRING + 1] = 0;
	assert_int_equal(p2p_identify_set_agent_version(&id, long_str), P2P_ETOOBIG);
	assert_int_equal(p2p_identify_add_protocol(&id, long_str), P2P_ETOOBIG);
	assert_int_equal(id.n_protocols, 0);
	free(long_str);
	uint8_t big[P2P_IDENTIFY_MAX_ADDR_LEN + 1] = {0};
	assert_int_equal(p2p_identify_add_listen_addr(&id, big, sizeof(big)),
	                 P2P_ETOOBIG);
	for (int i = 0; i < P2P_IDENTIFY_MAX_PROTOCOLS; i++)
		assert_int_equal(p2p_identify_add_protocol(&id, "/p"), 0);
	assert_int_equal(p2p_identify_add_protocol(&id, "/p"), P2P_ELIMIT);

	/* We never send more than P2P_IDENTIFY_MAX_SEND. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(p2p_identify_add_listen_addr(&id, big, 1000), 0);
	p2p_buf wire;
	p2p_buf_init(&wire);
	assert_int_equal(p2p_identify_encode(&id, &wire), P2P_ETOOBIG);
	assert_int_equal(wire.len, 0);
	p2p_identify_free(&id);

	/* A message announced over the read limit is refused from its prefix. */
	p2p_identify_init(&id);
	p2p_identify_reader r;
	p2p_identify_reader_init(&r);
	p2p_buf_append_uvarint(&wire, P2P_IDENTIFY_MAX_MESSAGE + 1);
	assert_int_equal(p2p_identify_reader_recv(&r, &id, wire.data, wire.len),
	                 P2P_ETOOBIG);
	p2p_identify_reader_free(&r);

	/* Too many parts. */
	p2p_identify_reader_init(&r);
	p2p_buf_reset(&wire);
	for (int i = 0; i <= P2P_IDENTIFY_MAX_PARTS; i++)
		p2p_buf_append_byte(&wire, 0); /* an empty Identify */
	assert_int_equal(p2p_identify_reader_recv(&r, &id, wire.data, wire.len),
	                 P2P_ELIMIT);
	p2p_identify_reader_free(&r);

	/* Too many addresses across parts. */
	p2p_identify_reader_init(&r);
	p2p_buf_reset(&wire);
	p2p_identify many;
	p2p_identify_init(&many);
	for (int i = 0; i < P2P_IDENTIFY_MAX_ADDRS / 2 + 1; i++)
		assert_int_equal(p2p_identify_add_listen_addr(&many, addr1, 2), 0);
	assert_int_equal(p2p_identify_encode(&many, &wire), 0);
	assert_int_equal(p2p_identify_encode(&many, &wire), 0);
	p2p_identify_free(&id);
	p2p_identify_init(&id);
	assert_int_equal(p2p_identify_reader_recv(&r, &id, wire.data, wire.len),
	                 P2P_ELIMIT);
	assert_true(id.n_listen_addrs <= P2P_IDENTIFY_MAX_ADDRS);
	p2p_identify_reader_free(&r);
	p2p_identify_free(&many);

	/* Malformed protobuf, and a stream cut inside a message. */
	static const uint8_t bad[] = {0x02, 0x0a, 0x05};
	p2p_identify_reader_init(&r);
	assert_int_equal(p2p_identify_reader_recv(&r, &id, bad, sizeof(bad)), P2P_EPROTO);
	p2p_identify_reader_free(&r);
	static const uint8_t cut[] = {0x05, 0x32, 0x03, 'g'};
	p2p_identify_reader_init(&r);
	assert_int_equal(p2p_identify_reader_recv(&r, &id, cut, sizeof(cut)), 0);
	assert_int_equal(p2p_identify_reader_finish(&r), P2P_EPROTO);
	p2p_identify_reader_free(&r);

	p2p_buf_free(&wire);
	p2p_identify_free(&id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_byte_by_byte),
	    cmocka_unit_test(test_decode_spec_layout),
	    cmocka_unit_test(test_merge_parts),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
