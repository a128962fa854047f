/* Circuit relay v2 sans-I/O core: message codec, vouchers, accounting.
 * js-libp2p's relay package is not in tests/interop/node_modules, so the
 * known encodings below are laid out by hand from the spec's .proto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/envelope.h"
#include "p2p/error.h"
#include "p2p/keys.h"
#include "p2p/lpmsg.h"
#include "p2p/peerid.h"
#include "p2p/relay.h"

/* /ip4/127.0.0.1/tcp/4001 */
static const uint8_t addr1[] = {0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};

/* A sha2-256 peer ID multihash: 0x12 0x20 and 32 bytes. */
static void make_peer(p2p_peerid *id, uint8_t fill)
{
	uint8_t mh[34] = {0x12, 0x20};
	memset(mh + 2, fill, 32);
	assert_int_equal(p2p_peerid_from_bytes(id, mh, sizeof(mh)), 0);
}

/* Encodes, strips the prefix, decodes into out. */
static void round_trip(const p2p_relay_msg *in, p2p_relay_kind kind, p2p_relay_msg *out)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_relay_msg_encode(in, kind, &b), 0);
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, P2P_RELAY_MAX_MESSAGE);
	size_t used;
	const uint8_t *body;
	size_t body_len;
	assert_int_equal(p2p_lpmsg_read(&r, b.data, b.len, &used, &body, &body_len), 0);
	assert_int_equal(used, b.len);
	p2p_relay_msg_init(out);
	assert_int_equal(p2p_relay_msg_decode(out, kind, body, body_len), 0);
	p2p_lpmsg_reader_free(&r);
	p2p_buf_free(&b);
}

static void test_hop_round_trips(void **state)
{
	p2p_relay_msg m, d;

	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_RESERVE;
	round_trip(&m, P2P_RELAY_HOP, &d);
	assert_int_equal(d.type, P2P_RELAY_HOP_RESERVE);
	assert_false(d.has_peer);
	assert_int_equal(d.status, 0);
	p2p_relay_msg_free(&d);

	m.type = P2P_RELAY_HOP_CONNECT;
	make_peer(&m.peer_id, 7);
	assert_int_equal(p2p_relay_msg_add_peer_addr(&m, addr1, sizeof(addr1)), 0);
	round_trip(&m, P2P_RELAY_HOP, &d);
	assert_int_equal(d.type, P2P_RELAY_HOP_CONNECT);
	assert_true(d.has_peer);
	assert_true(p2p_peerid_equal(&d.peer_id, &m.peer_id));
	assert_int_equal(d.n_peer_addrs, 1);
	assert_memory_equal(d.peer_addrs[0].data, addr1, sizeof(addr1));
	p2p_relay_msg_free(&d);
	p2p_relay_msg_free(&m);

	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_STATUS;
	m.status = P2P_RELAY_STATUS_OK;
	assert_int_equal(p2p_relay_msg_add_rsvp_addr(&m, addr1, sizeof(addr1)), 0);
	m.has_expire = true;
	m.expire = 1700000000;
	assert_int_equal(p2p_buf_append(&m.voucher, "vv", 2), 0);
	m.has_limit = m.has_duration = m.has_data = true;
	m.duration = 120;
	m.data = 1u << 17;
	round_trip(&m, P2P_RELAY_HOP, &d);
	assert_int_equal(d.status, P2P_RELAY_STATUS_OK);
	assert_true(d.has_reservation);
	assert_true(d.has_expire);
	assert_int_equal(d.expire, 1700000000);
	assert_int_equal(d.n_rsvp_addrs, 1);
	assert_int_equal(d.voucher.len, 2);
	assert_true(d.has_limit && d.has_duration && d.has_data);
	assert_int_equal(d.duration, 120);
	assert_int_equal(d.data, 1u << 17);
	p2p_relay_msg_free(&d);
	p2p_relay_msg_free(&m);
}

static void test_stop_round_trips(void **state)
{
	p2p_relay_msg m, d;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_STOP_CONNECT;
	m.has_peer = true;
	make_peer(&m.peer_id, 9);
	m.has_limit = m.has_duration = true;
	m.duration = 60;
	round_trip(&m, P2P_RELAY_STOP, &d);
	assert_int_equal(d.type, P2P_RELAY_STOP_CONNECT);
	assert_true(p2p_peerid_equal(&d.peer_id, &m.peer_id));
	assert_true(d.has_duration);
	assert_false(d.has_data);
	p2p_relay_msg_free(&d);

	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_STOP_STATUS;
	m.status = P2P_RELAY_STATUS_CONNECTION_FAILED;
	round_trip(&m, P2P_RELAY_STOP, &d);
	assert_int_equal(d.type, P2P_RELAY_STOP_STATUS);
	assert_int_equal(d.status, P2P_RELAY_STATUS_CONNECTION_FAILED);
	p2p_relay_msg_free(&d);
}

/* HopMessage{type=STATUS, reservation{expire=1700000000},
 * limit{duration=120, data=131072}, status=OK}, by hand from the .proto. */
static const uint8_t hop_status_wire[] = {
    0x14,                                           /* uvarint length 20 */
    0x08, 0x02,                                     /* type = STATUS */
    0x1a, 0x06, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, /* reservation.expire */
    0x22, 0x06, 0x08, 0x78, 0x10, 0x80, 0x80, 0x08, /* limit */
    0x28, 0x64,                                     /* status = OK (100) */
};

static void test_known_encoding(void **state)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_decode(&m, P2P_RELAY_HOP, hop_status_wire + 1,
	                                      sizeof(hop_status_wire) - 1),
	                 0);
	assert_int_equal(m.type, P2P_RELAY_HOP_STATUS);
	assert_int_equal(m.status, P2P_RELAY_STATUS_OK);
	assert_int_equal(m.expire, 1700000000);
	assert_int_equal(m.duration, 120);
	assert_int_equal(m.data, 131072);
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_HOP, &b), 0);
	assert_int_equal(b.len, sizeof(hop_status_wire));
	assert_memory_equal(b.data, hop_status_wire, sizeof(hop_status_wire));
	p2p_buf_free(&b);
	p2p_relay_msg_free(&m);

	/* StopMessage{CONNECT, peer{id, addrs=[addr1]}, limit{duration=120}} */
	uint8_t stop[2 + 2 + 46 + 4] = {0x08, 0x00, 0x12, 46, 0x0a, 34, 0x12, 0x20};
	memset(stop + 8, 0xab, 32);
	memcpy(stop + 40, "\x12\x08", 2);
	memcpy(stop + 42, addr1, sizeof(addr1));
	memcpy(stop + 50, "\x1a\x02\x08\x78", 4);
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_decode(&m, P2P_RELAY_STOP, stop, sizeof(stop)), 0);
	assert_int_equal(m.type, P2P_RELAY_STOP_CONNECT);
	assert_int_equal(m.peer_id.len, 34);
	assert_int_equal(m.n_peer_addrs, 1);
	assert_int_equal(m.duration, 120);
	p2p_buf_init(&b);
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_STOP, &b), 0);
	assert_int_equal(b.len, 1 + sizeof(stop));
	assert_memory_equal(b.data + 1, stop, sizeof(stop));
	p2p_buf_free(&b);
	p2p_relay_msg_free(&m);
}

static int decode_hop(const uint8_t *in, size_t len)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	int rc = p2p_relay_msg_decode(&m, P2P_RELAY_HOP, in, len);
	p2p_relay_msg_free(&m);
	return rc;
}

static void test_malformed(void **state)
{
	/* no type (required) */
	assert_int_equal(decode_hop((const uint8_t *)"\x28\x64", 2), P2P_EPROTO);
	/* truncated field */
	assert_int_equal(decode_hop((const uint8_t *)"\x08", 1), P2P_EPROTO);
	/* unknown type */
	assert_int_equal(decode_hop((const uint8_t *)"\x08\x07", 2), P2P_EPROTO);
	/* CONNECT without peer; STATUS without status */
	assert_int_equal(decode_hop((const uint8_t *)"\x08\x01", 2), P2P_EPROTO);
	assert_int_equal(decode_hop((const uint8_t *)"\x08\x02", 2), P2P_EPROTO);
	/* unknown status 101 */
	assert_int_equal(decode_hop((const uint8_t *)"\x08\x02\x28\x65", 4), P2P_EPROTO);
	/* CONNECT with a peer ID that is no multihash we take */
	assert_int_equal(
	    decode_hop((const uint8_t *)"\x08\x01\x12\x04\x0a\x02\x55\x00", 8),
	    P2P_EPROTO);
	/* oversized */
	static uint8_t big[P2P_RELAY_MAX_MESSAGE + 1];
	assert_int_equal(decode_hop(big, sizeof(big)), P2P_ETOOBIG);

	/* a StopMessage has no reservation: field 3 there is the limit, but
	 * STATUS(1) without status is refused */
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	assert_int_equal(
	    p2p_relay_msg_decode(&m, P2P_RELAY_STOP, (const uint8_t *)"\x08\x01", 2),
	    P2P_EPROTO);
	p2p_relay_msg_free(&m);

	/* encode refuses what decode would */
	p2p_buf b;
	p2p_buf_init(&b);
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_CONNECT;
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_HOP, &b), P2P_EINVAL);
	m.type = P2P_RELAY_STOP_STATUS;
	m.status = P2P_RELAY_STATUS_OK;
	m.has_reservation = true;
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_STOP, &b), P2P_EINVAL);
	m.has_reservation = false;
	m.status = 42;
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_STOP, &b), P2P_EINVAL);
	assert_int_equal(b.len, 0);

	/* a voucher past the message size */
	m.type = P2P_RELAY_HOP_STATUS;
	m.status = P2P_RELAY_STATUS_OK;
	m.has_reservation = true;
	assert_int_equal(p2p_buf_append(&m.voucher, big, sizeof(big)), 0);
	assert_int_equal(p2p_relay_msg_encode(&m, P2P_RELAY_HOP, &b), P2P_ETOOBIG);
	assert_int_equal(b.len, 0);
	p2p_relay_msg_free(&m);
	p2p_buf_free(&b);
}

static void test_addresses(void **state)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_add_peer_addr(&m, (const uint8_t *)"\xff\xff", 2),
	                 P2P_EPROTO);
	for (int i = 0; i < P2P_RELAY_MAX_ADDRS; i++)
		assert_int_equal(p2p_relay_msg_add_rsvp_addr(&m, addr1, sizeof(addr1)),
		                 0);
	assert_int_equal(p2p_relay_msg_add_rsvp_addr(&m, addr1, sizeof(addr1)),
	                 P2P_ELIMIT);
	p2p_relay_msg_free(&m);

	/* RESERVE STATUS with one good, one empty, one unknown address: the
	 * bad ones are dropped. */
	static const uint8_t wire[] = {0x08, 0x02, 0x28, 0x64, 0x1a, 16,   0x12, 8,
	                               0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1,
	                               0x12, 0,    0x12, 2,    0xff, 0xff};
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_decode(&m, P2P_RELAY_HOP, wire, sizeof(wire)), 0);
	assert_int_equal(m.n_rsvp_addrs, 1);
	p2p_relay_msg_free(&m);

	/* more than P2P_RELAY_MAX_ADDRS entries */
	enum { inner = 2 * (P2P_RELAY_MAX_ADDRS + 1) }; /* 130: a 2-byte length */
	uint8_t many[4 + 3 + inner] = {
	    0x08, 0x02, 0x28, 0x64, 0x1a, 0x80 | (inner & 0x7f), inner >> 7};
	for (int i = 0; i <= P2P_RELAY_MAX_ADDRS; i++)
		memcpy(many + 7 + 2 * i, "\x12\x00", 2);
	p2p_relay_msg_init(&m);
	assert_int_equal(p2p_relay_msg_decode(&m, P2P_RELAY_HOP, many, sizeof(many)),
	                 P2P_ELIMIT);
	p2p_relay_msg_free(&m);
}

static void test_voucher(void **state)
{
	p2p_privkey *relay_key, *other_key;
	assert_int_equal(p2p_privkey_generate(&relay_key), 0);
	assert_int_equal(p2p_privkey_generate(&other_key), 0);
	p2p_peerid relay, other, peer, peer2;
	assert_int_equal(p2p_peerid_from_pubkey(&relay, p2p_privkey_public(relay_key)),
	                 0);
	assert_int_equal(p2p_peerid_from_pubkey(&other, p2p_privkey_public(other_key)),
	                 0);
	make_peer(&peer, 1);
	make_peer(&peer2, 2);

	p2p_buf env;
	p2p_buf_init(&env);
	assert_int_equal(p2p_relay_voucher_seal(relay_key, &peer, 1000, &env), 0);
	p2p_relay_voucher v;
	assert_int_equal(
	    p2p_relay_voucher_open(&v, env.data, env.len, &relay, &peer, 999), 0);
	assert_true(p2p_peerid_equal(&v.relay, &relay));
	assert_true(p2p_peerid_equal(&v.peer, &peer));
	assert_int_equal(v.expiration, 1000);
	assert_int_equal(p2p_relay_voucher_open(&v, env.data, env.len, NULL, NULL, 0), 0);

	assert_int_equal(
	    p2p_relay_voucher_open(&v, env.data, env.len, &other, &peer, 999),
	    P2P_EPEERID);
	assert_int_equal(
	    p2p_relay_voucher_open(&v, env.data, env.len, &relay, &peer2, 999),
	    P2P_EPEERID);
	assert_int_equal(
	    p2p_relay_voucher_open(&v, env.data, env.len, &relay, &peer, 1000),
	    P2P_ETIMEDOUT);
	for (size_t i = 0; i < env.len; i++) {
		env.data[i] ^= 0x01;
		assert_int_not_equal(
		    p2p_relay_voucher_open(&v, env.data, env.len, &relay, &peer, 999), 0);
		env.data[i] ^= 0x01;
	}

	/* Signed by another key but naming our relay: the signer must be the
	 * voucher's relay. Built by hand with the right domain and type. */
	p2p_buf forged;
	p2p_buf_init(&forged);
	uint8_t payload[2 + P2P_PEERID_MAX_LEN + 2 + 34 + 3];
	size_t n = 0;
	payload[n++] = 0x0a;
	payload[n++] = (uint8_t)relay.len;
	memcpy(payload + n, relay.bytes, relay.len);
	n += relay.len;
	payload[n++] = 0x12;
	payload[n++] = (uint8_t)peer.len;
	memcpy(payload + n, peer.bytes, peer.len);
	n += peer.len;
	memcpy(payload + n, "\x18\xe8\x07", 3); /* expiration 1000 */
	n += 3;
	assert_int_equal(p2p_envelope_seal(other_key, P2P_RELAY_VOUCHER_DOMAIN,
	                                   (const uint8_t *)P2P_RELAY_VOUCHER_TYPE,
	                                   P2P_RELAY_VOUCHER_TYPE_LEN, payload, n,
	                                   &forged),
	                 0);
	assert_int_equal(
	    p2p_relay_voucher_open(&v, forged.data, forged.len, NULL, NULL, 0),
	    P2P_EPEERID);
	p2p_buf_reset(&forged);
	/* right signer, wrong payload type; and a peer-record domain */
	assert_int_equal(p2p_envelope_seal(relay_key, P2P_RELAY_VOUCHER_DOMAIN,
	                                   (const uint8_t *)"\x03\x01", 2, payload, n,
	                                   &forged),
	                 0);
	assert_int_equal(
	    p2p_relay_voucher_open(&v, forged.data, forged.len, NULL, NULL, 0),
	    P2P_EPROTO);
	p2p_buf_reset(&forged);
	assert_int_equal(p2p_envelope_seal(relay_key, "libp2p-peer-record",
	                                   (const uint8_t *)P2P_RELAY_VOUCHER_TYPE, 2,
	                                   payload, n, &forged),
	                 0);
	assert_int_equal(
	    p2p_relay_voucher_open(&v, forged.data, forged.len, NULL, NULL, 0),
	    P2P_ECRYPTO);

	p2p_buf_free(&forged);
	p2p_buf_free(&env);
	p2p_privkey_free(relay_key);
	p2p_privkey_free(other_key);
}

static void test_table_reservations(void **state)
{
	p2p_relay_limits_config cfg;
	p2p_relay_limits_config_default(&cfg);
	assert_int_equal(cfg.max_reservations, 128);
	assert_int_equal(cfg.reservation_ttl, 3600);
	cfg.max_reservations = 3;
	cfg.max_reservations_per_ip = 2;
	p2p_relay_table t;
	assert_int_equal(p2p_relay_table_init(&t, &cfg), 0);
	p2p_peerid a, b, c, d;
	make_peer(&a, 1);
	make_peer(&b, 2);
	make_peer(&c, 3);
	make_peer(&d, 4);
	const uint8_t ip1[4] = {10, 0, 0, 1}, ip2[4] = {10, 0, 0, 2};
	uint64_t exp = 0;

	assert_int_equal(p2p_relay_table_reserve(&t, &a, ip1, 4, 100, &exp), 100);
	assert_int_equal(exp, 3700);
	assert_int_equal(p2p_relay_table_reserve(&t, &b, ip1, 4, 100, &exp), 100);
	/* per IP */
	assert_int_equal(p2p_relay_table_reserve(&t, &c, ip1, 4, 100, &exp),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	/* refresh from the same full IP is fine */
	assert_int_equal(p2p_relay_table_reserve(&t, &a, ip1, 4, 200, &exp), 100);
	assert_int_equal(exp, 3800);
	assert_int_equal(t.n_rsvps, 2);
	/* total */
	assert_int_equal(p2p_relay_table_reserve(&t, &c, ip2, 4, 200, &exp), 100);
	assert_int_equal(p2p_relay_table_reserve(&t, &d, ip2, 4, 200, &exp),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	assert_int_equal(p2p_relay_table_reserve(&t, &d, ip2, 17, 200, &exp), P2P_EINVAL);

	assert_int_equal(p2p_relay_table_find(&t, &a, 3799, &exp), 0);
	assert_int_equal(exp, 3800);
	/* b expires at 3700: no longer counts, and its slot is reused */
	assert_int_equal(p2p_relay_table_find(&t, &b, 3700, NULL), P2P_ENOTFOUND);
	assert_int_equal(p2p_relay_table_reserve(&t, &d, ip2, 4, 3700, &exp), 100);
	assert_int_equal(t.n_rsvps, 3);

	assert_int_equal(p2p_relay_table_release(&t, &d), 0);
	assert_int_equal(p2p_relay_table_release(&t, &d), P2P_ENOTFOUND);
	assert_int_equal(p2p_relay_table_expire(&t, 3800), 2);
	assert_int_equal(t.n_rsvps, 0);
	p2p_relay_table_free(&t);

	cfg.max_reservations = 0;
	assert_int_equal(p2p_relay_table_init(&t, &cfg), 0);
	assert_int_equal(p2p_relay_table_reserve(&t, &a, NULL, 0, 1, &exp),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	p2p_relay_table_free(&t);
}

static void test_table_circuits(void **state)
{
	p2p_relay_limits_config cfg;
	p2p_relay_limits_config_default(&cfg);
	cfg.max_circuits = 3;
	cfg.max_circuits_per_peer = 2;
	p2p_relay_table t;
	assert_int_equal(p2p_relay_table_init(&t, &cfg), 0);
	p2p_peerid a, b, c, d;
	make_peer(&a, 1);
	make_peer(&b, 2);
	make_peer(&c, 3);
	make_peer(&d, 4);
	uint64_t exp;
	assert_int_equal(p2p_relay_table_circuit_open(&t, &a, &b, 0),
	                 P2P_RELAY_STATUS_NO_RESERVATION);
	assert_int_equal(p2p_relay_table_reserve(&t, &b, NULL, 0, 0, &exp), 100);
	assert_int_equal(p2p_relay_table_reserve(&t, &d, NULL, 0, 0, &exp), 100);
	assert_int_equal(p2p_relay_table_circuit_open(&t, &a, &b, 1), 100);
	assert_int_equal(p2p_relay_table_circuit_open(&t, &c, &b, 1), 100);
	/* b's share (as destination) */
	assert_int_equal(p2p_relay_table_circuit_open(&t, &d, &b, 1),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	assert_int_equal(p2p_relay_table_circuit_open(&t, &a, &d, 1), 100);
	/* a's share (as source) and the total */
	assert_int_equal(p2p_relay_table_circuit_open(&t, &a, &d, 1),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	assert_int_equal(p2p_relay_table_circuit_open(&t, &c, &d, 1),
	                 P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
	assert_int_equal(p2p_relay_table_circuit_close(&t, &a, &b), 0);
	assert_int_equal(p2p_relay_table_circuit_close(&t, &a, &b), P2P_ENOTFOUND);
	assert_int_equal(p2p_relay_table_circuit_open(&t, &c, &d, 1), 100);
	/* expired reservation */
	assert_int_equal(p2p_relay_table_circuit_open(&t, &c, &d, 3600),
	                 P2P_RELAY_STATUS_NO_RESERVATION);
	p2p_relay_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hop_round_trips),
	    cmocka_unit_test(test_stop_round_trips),
	    cmocka_unit_test(test_known_encoding),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_voucher),
	    cmocka_unit_test(test_table_reservations),
	    cmocka_unit_test(test_table_circuits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
