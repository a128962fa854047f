/* AutoNAT v1 (autonat.h): the codec against go-libp2p's bytes, the
 * server's address filter and throttles, the client's confidence rule and
 * schedule, and the fuzz seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"

#define PEER_A "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
#define PEER_B "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"

/* The multihash of PEER_A: identity, 36 bytes of protobuf Ed25519 key. */
#define PEER_A_BYTES                                                                     \
	0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x2f, 0xfa, 0x35, 0xa9, 0x9d, 0x3a, 0x3c,    \
	    0xfb, 0xb1, 0x7b, 0xb7, 0xc1, 0xdc, 0x55, 0x61, 0xb1, 0x8a, 0x8d, 0xcc,      \
	    0xa4, 0xdf, 0x38, 0xdc, 0x61, 0x3e, 0xa8, 0x59, 0xc3, 0x7e, 0xb1, 0x33, 0x6b
/* /ip4/1.2.3.4/tcp/4001 and /ip4/1.2.3.4/udp/4001/quic-v1 */
#define ADDR_TCP  0x04, 0x01, 0x02, 0x03, 0x04, 0x06, 0x0f, 0xa1
#define ADDR_QUIC 0x04, 0x01, 0x02, 0x03, 0x04, 0x91, 0x02, 0x0f, 0xa1, 0xcd, 0x03

/* What go-libp2p's newDialMessage marshals for PEER_A at those two
 * addresses (fields in number order, type 0 written), behind pbio's
 * uvarint length. */
static const uint8_t go_dial[] = {
    0x45, 0x08,         0x00, 0x12, 0x41,     0x0a, 0x3f, 0x0a,
    0x26, PEER_A_BYTES, 0x12, 0x08, ADDR_TCP, 0x12, 0x0b, ADDR_QUIC,
};
/* newDialResponseOK(/ip4/1.2.3.4/tcp/4001) and
 * newDialResponseError(E_DIAL_ERROR, "dial failed"). */
static const uint8_t go_ok[] = {0x10, 0x08, 0x01, 0x1a, 0x0c,
                                0x08, 0x00, 0x1a, 0x08, ADDR_TCP};
static const uint8_t go_dial_error[] = {0x13, 0x08, 0x01, 0x1a, 0x0f, 0x08, 0x64,
                                        0x12, 0x0b, 'd',  'i',  'a',  'l',  ' ',
                                        'f',  'a',  'i',  'l',  'e',  'd'};

static p2p_buf ma(const char *text)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_multiaddr_parse(text, &b), P2P_OK);
	return b;
}

static p2p_peerid peer(const char *text)
{
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_string(&id, text), P2P_OK);
	return id;
}

static void assert_addr(const p2p_buf *b, const char *text)
{
	p2p_buf s;
	p2p_buf_init(&s);
	assert_int_equal(p2p_multiaddr_to_string(b->data, b->len, &s), P2P_OK);
	assert_string_equal((const char *)s.data, text);
	p2p_buf_free(&s);
}

static void add_addr(p2p_autonat_msg *m, const char *text)
{
	p2p_buf a = ma(text);
	m->addrs = realloc(m->addrs, (m->n_addrs + 1) * sizeof(*m->addrs));
	assert_non_null(m->addrs);
	m->addrs[m->n_addrs++] = a;
}

/* Decodes a whole framed message (prefix included) into m. */
static int decode_framed(p2p_autonat_msg *m, const uint8_t *in, size_t len)
{
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, P2P_AUTONAT_MAX_MESSAGE);
	size_t used;
	const uint8_t *body;
	size_t body_len;
	int rc = p2p_lpmsg_read(&r, in, len, &used, &body, &body_len);
	assert_int_equal(rc, P2P_OK);
	assert_int_equal(used, len);
	p2p_autonat_msg_init(m);
	rc = p2p_autonat_msg_decode(m, body, body_len);
	p2p_lpmsg_reader_free(&r);
	return rc;
}

/* ---- codec ---- */

static void dial_matches_go(void **state)
{
	(void)state;
	p2p_peerid a = peer(PEER_A);
	p2p_buf addrs[2] = {ma("/ip4/1.2.3.4/tcp/4001"),
	                    ma("/ip4/1.2.3.4/udp/4001/quic-v1")};
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_autonat_dial_request_encode(&out, &a, addrs, 2), P2P_OK);
	assert_int_equal(out.len, sizeof(go_dial));
	assert_memory_equal(out.data, go_dial, sizeof(go_dial));

	p2p_autonat_msg m;
	assert_int_equal(decode_framed(&m, go_dial, sizeof(go_dial)), P2P_OK);
	assert_int_equal(m.type, P2P_AUTONAT_DIAL);
	assert_true(m.has_peer && m.has_peer_id && m.peer_id_valid);
	assert_true(p2p_peerid_equal(&m.peer_id, &a));
	assert_int_equal(m.n_addrs, 2);
	assert_addr(&m.addrs[0], "/ip4/1.2.3.4/tcp/4001");
	assert_addr(&m.addrs[1], "/ip4/1.2.3.4/udp/4001/quic-v1");

	/* And back to the same bytes. */
	p2p_buf again;
	p2p_buf_init(&again);
	assert_int_equal(p2p_autonat_msg_encode(&m, &again), P2P_OK);
	assert_int_equal(again.len, sizeof(go_dial));
	assert_memory_equal(again.data, go_dial, sizeof(go_dial));
	p2p_buf_free(&again);
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&out);
	p2p_buf_free(&addrs[0]);
	p2p_buf_free(&addrs[1]);
}

static void responses_match_go(void **state)
{
	(void)state;
	p2p_buf tcp = ma("/ip4/1.2.3.4/tcp/4001");
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_autonat_server_result(&out, P2P_OK, tcp.data, tcp.len),
	                 P2P_OK);
	assert_int_equal(out.len, sizeof(go_ok));
	assert_memory_equal(out.data, go_ok, sizeof(go_ok));

	/* The connection's address may end in /p2p/: it is not sent. */
	p2p_buf_reset(&out);
	p2p_buf with_id = ma("/ip4/1.2.3.4/tcp/4001/p2p/" PEER_A);
	assert_int_equal(
	    p2p_autonat_server_result(&out, P2P_OK, with_id.data, with_id.len), P2P_OK);
	assert_memory_equal(out.data, go_ok, sizeof(go_ok));
	p2p_buf_free(&with_id);

	p2p_buf_reset(&out);
	assert_int_equal(p2p_autonat_server_result(&out, P2P_ETIMEDOUT, NULL, 0), P2P_OK);
	assert_int_equal(out.len, sizeof(go_dial_error));
	assert_memory_equal(out.data, go_dial_error, sizeof(go_dial_error));

	p2p_autonat_msg m;
	assert_int_equal(decode_framed(&m, go_ok, sizeof(go_ok)), P2P_OK);
	assert_int_equal(m.type, P2P_AUTONAT_DIAL_RESPONSE);
	assert_int_equal(m.status, P2P_AUTONAT_OK);
	assert_addr(&m.addr, "/ip4/1.2.3.4/tcp/4001");
	assert_int_equal(m.status_text.len, 0);
	p2p_autonat_msg_free(&m);

	assert_int_equal(decode_framed(&m, go_dial_error, sizeof(go_dial_error)), P2P_OK);
	assert_int_equal(m.status, P2P_AUTONAT_E_DIAL_ERROR);
	assert_string_equal((const char *)m.status_text.data, "dial failed");
	assert_int_equal(m.addr.len, 0);
	/* Round trip of a decoded response. */
	p2p_buf_reset(&out);
	assert_int_equal(p2p_autonat_msg_encode(&m, &out), P2P_OK);
	assert_memory_equal(out.data, go_dial_error, sizeof(go_dial_error));
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&out);
	p2p_buf_free(&tcp);
}

static void round_trip(void **state)
{
	(void)state;
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	m.type = P2P_AUTONAT_DIAL;
	m.has_peer = true;
	add_addr(&m, "/ip6/2001:4860::1/tcp/443");
	add_addr(&m, "/dns4/example.com/tcp/80");
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_autonat_msg_encode(&m, &out), P2P_OK);
	p2p_autonat_msg d;
	assert_int_equal(decode_framed(&d, out.data, out.len), P2P_OK);
	assert_true(d.has_peer);
	assert_false(d.has_peer_id);
	assert_int_equal(d.n_addrs, 2);
	assert_addr(&d.addrs[0], "/ip6/2001:4860::1/tcp/443");
	assert_addr(&d.addrs[1], "/dns4/example.com/tcp/80");
	p2p_autonat_msg_free(&d);
	p2p_autonat_msg_free(&m);

	/* A response with every field. */
	p2p_buf_reset(&out);
	p2p_buf a = ma("/ip4/1.2.3.4/tcp/4001");
	assert_int_equal(p2p_autonat_response_encode(&out, P2P_AUTONAT_E_DIAL_REFUSED,
	                                             "busy", a.data, a.len),
	                 P2P_OK);
	assert_int_equal(decode_framed(&d, out.data, out.len), P2P_OK);
	assert_int_equal(d.status, P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal((const char *)d.status_text.data, "busy");
	assert_addr(&d.addr, "/ip4/1.2.3.4/tcp/4001");
	p2p_autonat_msg_free(&d);
	p2p_buf_free(&a);
	p2p_buf_free(&out);
}

static int decode(const uint8_t *body, size_t len, p2p_autonat_msg *m)
{
	p2p_autonat_msg_init(m);
	return p2p_autonat_msg_decode(m, body, len);
}

/* Appends a length-delimited protobuf field: tag, uvarint length, bytes. */
static void wrap(p2p_buf *out, uint8_t tag, const p2p_buf *in)
{
	assert_int_equal(p2p_buf_append_byte(out, tag), P2P_OK);
	assert_int_equal(p2p_buf_append_uvarint(out, in->len), P2P_OK);
	assert_int_equal(p2p_buf_append(out, in->data, in->len), P2P_OK);
}

static void decode_rules(void **state)
{
	(void)state;
	p2p_autonat_msg m;
	/* No type at all: DIAL, the proto2 default; no Dial: no peer. */
	assert_int_equal(decode(NULL, 0, &m), P2P_OK);
	assert_int_equal(m.type, P2P_AUTONAT_DIAL);
	assert_false(m.has_peer);
	p2p_autonat_msg_free(&m);
	/* An empty PeerInfo. */
	static const uint8_t empty_peer[] = {0x08, 0x00, 0x12, 0x02, 0x0a, 0x00};
	assert_int_equal(decode(empty_peer, sizeof(empty_peer), &m), P2P_OK);
	assert_true(m.has_peer);
	assert_false(m.has_peer_id);
	p2p_autonat_msg_free(&m);
	/* A peer ID that is none is the server's to answer, not an error. */
	static const uint8_t bad_id[] = {0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x07};
	assert_int_equal(decode(bad_id, sizeof(bad_id), &m), P2P_OK);
	assert_true(m.has_peer_id);
	assert_false(m.peer_id_valid);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_autonat_msg_encode(&m, &out), P2P_EINVAL);
	assert_int_equal(out.len, 0);
	p2p_autonat_msg_free(&m);
	/* An address we cannot read is dropped, the rest kept. */
	static const uint8_t junk_addr[] = {0x12, 0x10, 0x0a, 0x0e, 0x12,    0x02,
	                                    0xff, 0xff, 0x12, 0x08, ADDR_TCP};
	assert_int_equal(decode(junk_addr, sizeof(junk_addr), &m), P2P_OK);
	assert_int_equal(m.n_addrs, 1);
	assert_addr(&m.addrs[0], "/ip4/1.2.3.4/tcp/4001");
	p2p_autonat_msg_free(&m);

	/* Unknown type, response without status, unknown status, garbage. */
	static const uint8_t type2[] = {0x08, 0x02};
	static const uint8_t no_resp[] = {0x08, 0x01};
	static const uint8_t no_status[] = {0x08, 0x01, 0x1a, 0x00};
	static const uint8_t status5[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x05};
	static const uint8_t garbage[] = {0x12, 0x7f, 0x00};
	assert_int_equal(decode(type2, sizeof(type2), &m), P2P_EPROTO);
	p2p_autonat_msg_free(&m);
	assert_int_equal(decode(no_resp, sizeof(no_resp), &m), P2P_EPROTO);
	p2p_autonat_msg_free(&m);
	assert_int_equal(decode(no_status, sizeof(no_status), &m), P2P_EPROTO);
	p2p_autonat_msg_free(&m);
	assert_int_equal(decode(status5, sizeof(status5), &m), P2P_EPROTO);
	p2p_autonat_msg_free(&m);
	assert_int_equal(decode(garbage, sizeof(garbage), &m), P2P_EPROTO);
	p2p_autonat_msg_free(&m);

	/* Over the size limit, before protobuf is even asked. */
	uint8_t *big = calloc(P2P_AUTONAT_MAX_MESSAGE + 1, 1);
	assert_non_null(big);
	assert_int_equal(decode(big, P2P_AUTONAT_MAX_MESSAGE + 1, &m), P2P_ETOOBIG);
	p2p_autonat_msg_free(&m);
	free(big);

	/* One address past the count limit. */
	p2p_buf info, peer_info, dial;
	p2p_buf_init(&info);
	p2p_buf_init(&peer_info);
	p2p_buf_init(&dial);
	for (int i = 0; i <= P2P_AUTONAT_MAX_ADDRS; i++)
		assert_int_equal(
		    p2p_buf_append(&info, (const uint8_t[]){0x12, 0x08, ADDR_TCP}, 10),
		    P2P_OK);
	wrap(&peer_info, 0x0a, &info);
	wrap(&dial, 0x12, &peer_info);
	assert_int_equal(decode(dial.data, dial.len, &m), P2P_ELIMIT);
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&info);
	p2p_buf_free(&peer_info);
	p2p_buf_free(&dial);

	/* Encode refuses what decode would. */
	p2p_autonat_msg_init(&m);
	m.type = P2P_AUTONAT_DIAL_RESPONSE;
	m.status = 7;
	assert_int_equal(p2p_autonat_msg_encode(&m, &out), P2P_EINVAL);
	m.type = 9;
	assert_int_equal(p2p_autonat_msg_encode(&m, &out), P2P_EINVAL);
	assert_int_equal(out.len, 0);
	p2p_autonat_msg_free(&m);
	assert_int_equal(p2p_autonat_response_encode(&out, P2P_AUTONAT_OK, NULL,
	                                             (const uint8_t *)"\xff\xff", 2),
	                 P2P_EINVAL);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);
}

static bool public(const char *text)
{
	p2p_buf a = ma(text);
	bool r = p2p_autonat_addr_is_public(a.data, a.len);
	p2p_buf_free(&a);
	return r;
}

static void public_ranges(void **state)
{
	(void)state;
	assert_true(public("/ip4/1.2.3.4/tcp/1"));
	assert_true(public("/ip4/8.8.8.8"));
	assert_true(public("/ip4/100.128.0.1"));
	assert_true(public("/ip4/172.32.0.1"));
	assert_false(public("/ip4/127.0.0.1/tcp/1"));
	assert_false(public("/ip4/10.1.2.3"));
	assert_false(public("/ip4/100.64.0.1"));
	assert_false(public("/ip4/172.31.255.255"));
	assert_false(public("/ip4/192.168.1.1"));
	assert_false(public("/ip4/169.254.0.1"));
	assert_false(public("/ip4/0.0.0.0"));
	assert_false(public("/ip4/198.19.0.1"));
	assert_false(public("/ip4/203.0.113.5"));
	assert_false(public("/ip4/224.0.0.1"));
	assert_false(public("/ip4/255.255.255.255"));
	assert_true(public("/ip6/2606:4700::1111/tcp/1"));
	assert_true(public("/ip6/64:ff9b::808:808"));
	assert_true(public("/ip6zone/eth0/ip6/2606:4700::1"));
	assert_false(public("/ip6/::1"));
	assert_false(public("/ip6/fe80::1"));
	assert_false(public("/ip6/fd00::1"));
	assert_false(public("/ip6/2001:db8::1"));
	assert_false(public("/ip6/ff02::1"));
	assert_false(public("/ip6/::ffff:1.2.3.4"));
	assert_false(public("/dns4/example.com/tcp/1"));
	assert_false(public("/tcp/1"));
}

/* ---- server ---- */

typedef struct server_fixture {
	p2p_autonat_server s;
	p2p_autonat_dialback d;
	p2p_peerid a;
} server_fixture;

static void fixture(server_fixture *f, const p2p_autonat_server_config *cfg)
{
	assert_int_equal(p2p_autonat_server_init(&f->s, cfg, 0), P2P_OK);
	p2p_autonat_dialback_init(&f->d);
	f->a = peer(PEER_A);
}

static void fixture_free(server_fixture *f)
{
	p2p_autonat_dialback_free(&f->d);
	p2p_autonat_server_free(&f->s);
}

static void dial_msg(p2p_autonat_msg *m, const p2p_peerid *id)
{
	p2p_autonat_msg_init(m);
	m->type = P2P_AUTONAT_DIAL;
	m->has_peer = true;
	if (id != NULL) {
		m->has_peer_id = true;
		m->peer_id_valid = true;
		m->peer_id = *id;
	}
}

/* Runs the check of m from `from` at `observed`; returns the status. */
static int check(server_fixture *f, const p2p_autonat_msg *m, const p2p_peerid *from,
                 const char *observed, uint64_t now)
{
	p2p_buf o = ma(observed);
	assert_int_equal(
	    p2p_autonat_server_check(&f->s, m, from, o.data, o.len, now, &f->d), P2P_OK);
	p2p_buf_free(&o);
	if (f->d.status == P2P_AUTONAT_OK)
		assert_null(f->d.text);
	else
		assert_non_null(f->d.text);
	return f->d.status;
}

static void server_filters(void **state)
{
	(void)state;
	server_fixture f;
	fixture(&f, NULL);
	p2p_autonat_msg m;
	dial_msg(&m, &f.a);
	add_addr(&m, "/ip4/5.6.7.8/tcp/4001");             /* another IP */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4001");             /* kept */
	add_addr(&m, "/ip4/1.2.3.4/udp/4001/quic-v1");     /* not TCP */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4001/p2p/" PEER_A); /* the same */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4002/p2p/" PEER_B); /* someone else */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4003/p2p/" PEER_B "/p2p-circuit/p2p/" PEER_A);
	add_addr(&m, "/ip4/1.2.3.4/tcp/0");                /* no port */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4004/ws");          /* not bare TCP */
	add_addr(&m, "/ip6/2606:4700::1/tcp/4005");        /* another family */
	add_addr(&m, "/dns4/example.com/tcp/4006");        /* a name */
	add_addr(&m, "/ip4/1.2.3.4/tcp/4007/p2p/" PEER_A); /* kept, bare */
	assert_int_equal(check(&f, &m, &f.a, "/ip4/1.2.3.4/tcp/55555", 0),
	                 P2P_AUTONAT_OK);
	assert_int_equal(f.d.n_addrs, 2);
	assert_addr(&f.d.addrs[0], "/ip4/1.2.3.4/tcp/4001");
	assert_addr(&f.d.addrs[1], "/ip4/1.2.3.4/tcp/4007");
	p2p_autonat_msg_free(&m);

	/* IPv6, and the cap on what one request makes us dial. */
	dial_msg(&m, NULL);
	char text[64];
	for (int port = 1; port <= 20; port++) {
		snprintf(text, sizeof(text), "/ip6/2606:4700::1/tcp/%d", port);
		add_addr(&m, text);
	}
	assert_int_equal(check(&f, &m, &f.a, "/ip6/2606:4700::1/tcp/9", 0),
	                 P2P_AUTONAT_OK);
	assert_int_equal(f.d.n_addrs, P2P_AUTONAT_SERVER_MAX_ADDRS);
	assert_addr(&f.d.addrs[15], "/ip6/2606:4700::1/tcp/16");
	p2p_autonat_msg_free(&m);
	fixture_free(&f);
}

static void server_refusals(void **state)
{
	(void)state;
	server_fixture f;
	fixture(&f, NULL);
	p2p_peerid b = peer(PEER_B);
	const char *obs = "/ip4/1.2.3.4/tcp/55555";
	p2p_autonat_msg m;

	p2p_autonat_msg_init(&m);
	assert_int_equal(check(&f, &m, &f.a, obs, 0), P2P_AUTONAT_E_BAD_REQUEST);
	p2p_autonat_msg_free(&m);

	dial_msg(&m, &f.a);
	add_addr(&m, "/ip4/1.2.3.4/tcp/4001");
	/* A request for someone else. */
	assert_int_equal(check(&f, &m, &b, obs, 0), P2P_AUTONAT_E_BAD_REQUEST);
	assert_string_equal(f.d.text, "peer id mismatch");
	m.peer_id_valid = false;
	assert_int_equal(check(&f, &m, &f.a, obs, 0), P2P_AUTONAT_E_BAD_REQUEST);
	assert_string_equal(f.d.text, "bad peer id");
	m.peer_id_valid = true;

	/* Through a relay, at a private IP, at no IP. */
	assert_int_equal(
	    check(&f, &m, &f.a, "/ip4/9.9.9.9/tcp/4001/p2p/" PEER_B "/p2p-circuit", 0),
	    P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(check(&f, &m, &f.a, "/ip4/192.168.1.2/tcp/5", 0),
	                 P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(check(&f, &m, &f.a, "/dns4/example.com/tcp/5", 0),
	                 P2P_AUTONAT_E_INTERNAL_ERROR);
	/* Nothing at the observed IP. */
	assert_int_equal(check(&f, &m, &f.a, "/ip4/1.2.3.5/tcp/5", 0),
	                 P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal(f.d.text, "no dialable addresses");
	assert_int_equal(f.d.n_addrs, 0);
	/* None of these took from the budget. */
	assert_int_equal(f.s.global, 0);

	/* Not a DIAL: the stream is reset, nothing answered. */
	p2p_buf o = ma(obs);
	m.type = P2P_AUTONAT_DIAL_RESPONSE;
	assert_int_equal(p2p_autonat_server_check(&f.s, &m, &f.a, o.data, o.len, 0, &f.d),
	                 P2P_EPROTO);
	p2p_buf_free(&o);
	p2p_autonat_msg_free(&m);
	fixture_free(&f);

	/* A LAN server may dial private IPs when told to. */
	p2p_autonat_server_config cfg = {.allow_private = true};
	fixture(&f, &cfg);
	dial_msg(&m, &f.a);
	add_addr(&m, "/ip4/192.168.1.2/tcp/4001");
	assert_int_equal(check(&f, &m, &f.a, "/ip4/192.168.1.2/tcp/5", 0),
	                 P2P_AUTONAT_OK);
	assert_int_equal(f.d.n_addrs, 1);
	assert_int_equal(
	    check(&f, &m, &f.a, "/ip4/9.9.9.9/tcp/1/p2p/" PEER_B "/p2p-circuit", 0),
	    P2P_AUTONAT_E_DIAL_REFUSED);
	p2p_autonat_msg_free(&m);
	fixture_free(&f);
}

static void server_throttles(void **state)
{
	(void)state;
	server_fixture f;
	fixture(&f, &(p2p_autonat_server_config){.jitter_seed = 42});
	const char *obs = "/ip4/1.2.3.4/tcp/55555";
	p2p_autonat_msg m;
	dial_msg(&m, NULL);
	add_addr(&m, "/ip4/1.2.3.4/tcp/4001");

	/* Per peer: three a window. */
	for (int i = 0; i < P2P_AUTONAT_THROTTLE_PEER_MAX; i++)
		assert_int_equal(check(&f, &m, &f.a, obs, 1000 + i), P2P_AUTONAT_OK);
	assert_int_equal(check(&f, &m, &f.a, obs, 2000), P2P_AUTONAT_E_DIAL_REFUSED);
	assert_string_equal(f.d.text, "too many dials");
	/* The first window is exactly the reset period. */
	assert_int_equal(check(&f, &m, &f.a, obs, P2P_AUTONAT_THROTTLE_RESET_MS - 1),
	                 P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(check(&f, &m, &f.a, obs, P2P_AUTONAT_THROTTLE_RESET_MS),
	                 P2P_AUTONAT_OK);
	/* The next one adds the jitter. */
	uint64_t end = f.s.window_end_ms;
	assert_true(end >= 2 * P2P_AUTONAT_THROTTLE_RESET_MS);
	assert_true(end <=
	            2 * P2P_AUTONAT_THROTTLE_RESET_MS + P2P_AUTONAT_THROTTLE_JITTER_MS);

	/* Globally: thirty a window, whoever asks. */
	uint64_t now = end;
	assert_int_equal(check(&f, &m, &f.a, obs, now), P2P_AUTONAT_OK);
	for (int i = 1; i < P2P_AUTONAT_THROTTLE_GLOBAL; i++) {
		p2p_peerid other = f.a;
		other.bytes[other.len - 1] ^= (uint8_t)i; /* any distinct identity */
		assert_int_equal(check(&f, &m, &other, obs, now + (uint64_t)i),
		                 P2P_AUTONAT_OK);
	}
	p2p_peerid late = peer(PEER_B);
	assert_int_equal(check(&f, &m, &late, obs, now + 100),
	                 P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(f.s.n_peers, P2P_AUTONAT_THROTTLE_GLOBAL);
	/* Long idle: the next window starts from the request. */
	now += 10 * 3600 * 1000ull;
	assert_int_equal(check(&f, &m, &late, obs, now), P2P_AUTONAT_OK);
	assert_true(f.s.window_end_ms > now);
	assert_int_equal(f.s.global, 1);
	p2p_autonat_msg_free(&m);
	fixture_free(&f);

	/* Configured limits. */
	fixture(&f, &(p2p_autonat_server_config){.throttle_peer_max = 1,
	                                         .throttle_global = 2,
	                                         .throttle_reset_ms = 1000,
	                                         .throttle_jitter_ms = 1});
	dial_msg(&m, NULL);
	add_addr(&m, "/ip4/1.2.3.4/tcp/4001");
	p2p_peerid b = peer(PEER_B);
	assert_int_equal(check(&f, &m, &f.a, obs, 0), P2P_AUTONAT_OK);
	assert_int_equal(check(&f, &m, &f.a, obs, 1), P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(check(&f, &m, &b, obs, 2), P2P_AUTONAT_OK);
	p2p_peerid c = b;
	c.bytes[c.len - 1] ^= 1;
	assert_int_equal(check(&f, &m, &c, obs, 3), P2P_AUTONAT_E_DIAL_REFUSED);
	assert_int_equal(check(&f, &m, &c, obs, 1000), P2P_AUTONAT_OK);
	p2p_autonat_msg_free(&m);
	fixture_free(&f);
}

/* ---- client ---- */

typedef struct client_fixture {
	p2p_autonat_client c;
	p2p_peerid server;
	uint64_t now;
} client_fixture;

/* One probe of a fresh server, answered with status (-1: no answer). */
static int probe(client_fixture *f, int status, const char *addr)
{
	f->server.bytes[f->server.len - 1]++;
	f->now += 1000;
	assert_true(p2p_autonat_client_may_ask(&f->c, &f->server, f->now));
	assert_int_equal(p2p_autonat_client_begin_probe(&f->c, &f->server, f->now),
	                 P2P_OK);
	if (status < 0)
		return p2p_autonat_client_on_response(&f->c, NULL);
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	m.type = P2P_AUTONAT_DIAL_RESPONSE;
	m.status = status;
	if (addr != NULL)
		m.addr = ma(addr);
	int rc = p2p_autonat_client_on_response(&f->c, &m);
	p2p_autonat_msg_free(&m);
	return rc;
}

static void client_fixture_init(client_fixture *f)
{
	f->now = 0;
	p2p_autonat_client_init(&f->c, 0);
	f->server = peer(PEER_B);
}

static void client_confidence(void **state)
{
	(void)state;
	client_fixture f;
	client_fixture_init(&f);
	p2p_autonat_client *c = &f.c;
	const int both = P2P_AUTONAT_CHANGED_STATE | P2P_AUTONAT_CHANGED_ADDR;
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_UNKNOWN);

	/* One success is enough to be public (go-libp2p flips at once). */
	assert_int_equal(probe(&f, P2P_AUTONAT_OK, "/ip4/1.2.3.4/tcp/4001"), both);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PUBLIC);
	assert_int_equal(p2p_autonat_client_confidence(c), 0);
	assert_addr(p2p_autonat_client_addr(c), "/ip4/1.2.3.4/tcp/4001");
	/* More agree: confidence up to its cap, nothing to report. */
	for (int i = 1; i <= P2P_AUTONAT_MAX_CONFIDENCE + 1; i++)
		assert_int_equal(probe(&f, P2P_AUTONAT_OK, "/ip4/1.2.3.4/tcp/4001"), 0);
	assert_int_equal(p2p_autonat_client_confidence(c), P2P_AUTONAT_MAX_CONFIDENCE);
	/* Another address, or none. */
	assert_int_equal(probe(&f, P2P_AUTONAT_OK, "/ip4/1.2.3.4/tcp/4002"),
	                 P2P_AUTONAT_CHANGED_ADDR);
	assert_int_equal(probe(&f, P2P_AUTONAT_OK, NULL), 0);
	assert_addr(p2p_autonat_client_addr(c), "/ip4/1.2.3.4/tcp/4002");

	/* Refusals say nothing. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_REFUSED, NULL), 0);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PUBLIC);
	assert_int_equal(p2p_autonat_client_confidence(c), P2P_AUTONAT_MAX_CONFIDENCE);

	/* Failures wear the confidence down, one each, then flip. */
	for (int i = P2P_AUTONAT_MAX_CONFIDENCE - 1; i >= 0; i--) {
		assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL), 0);
		assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PUBLIC);
		assert_int_equal(p2p_autonat_client_confidence(c), i);
	}
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL), both);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PRIVATE);
	assert_int_equal(p2p_autonat_client_confidence(c), 0);
	assert_int_equal(p2p_autonat_client_addr(c)->len, 0);
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL), 0);
	assert_int_equal(p2p_autonat_client_confidence(c), 1);

	/* Answers that are no verdict take confidence off, then make it
	 * unknown; a refusal is not one of them. */
	assert_int_equal(probe(&f, P2P_AUTONAT_E_INTERNAL_ERROR, NULL), 0);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PRIVATE);
	assert_int_equal(p2p_autonat_client_confidence(c), 0);
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_REFUSED, NULL), 0);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PRIVATE);
	assert_int_equal(probe(&f, -1, NULL), P2P_AUTONAT_CHANGED_STATE);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_UNKNOWN);

	/* From unknown at no confidence, one failure is enough (go-libp2p). */
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL),
	                 P2P_AUTONAT_CHANGED_STATE);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PRIVATE);
	/* A success flips it back at once. */
	assert_int_equal(probe(&f, P2P_AUTONAT_OK, NULL), P2P_AUTONAT_CHANGED_STATE);
	assert_int_equal(p2p_autonat_client_state(c), P2P_AUTONAT_PUBLIC);
	assert_int_equal(p2p_autonat_client_addr(c)->len, 0);

	/* No probe pending: a glue bug, refused. */
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	m.type = P2P_AUTONAT_DIAL_RESPONSE;
	assert_int_equal(p2p_autonat_client_on_response(c, &m), P2P_ESTATE);
	p2p_autonat_msg_free(&m);
	p2p_autonat_client_free(c);
}

static void client_schedule(void **state)
{
	(void)state;
	client_fixture f;
	f.now = 0;
	p2p_autonat_client_init(&f.c, 5000);
	f.server = peer(PEER_B);
	p2p_autonat_client *c = &f.c;

	/* Boot delay, even when a server shows up. */
	assert_int_equal(p2p_autonat_client_next_probe(c, 5000),
	                 5000 + P2P_AUTONAT_BOOT_DELAY_MS);
	p2p_autonat_client_on_server_found(c);
	assert_int_equal(p2p_autonat_client_next_probe(c, 6000),
	                 5000 + P2P_AUTONAT_BOOT_DELAY_MS);
	assert_int_equal(p2p_autonat_client_next_probe(c, 99999), 99999);

	/* A round without a server still counts: wait the retry interval. */
	uint64_t t = 20000;
	assert_int_equal(p2p_autonat_client_begin_probe(c, NULL, t), P2P_ENOTFOUND);
	assert_int_equal(p2p_autonat_client_next_probe(c, t),
	                 t + P2P_AUTONAT_RETRY_INTERVAL_MS);
	/* Forced while unknown: soon. */
	p2p_autonat_client_on_server_found(c);
	assert_int_equal(p2p_autonat_client_next_probe(c, t + 1),
	                 t + P2P_AUTONAT_FORCED_RETRY_MS);
	assert_int_equal(p2p_autonat_client_next_probe(c, t + 5000), t + 5000);

	/* A refusal forces too. */
	f.now = t;
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_REFUSED, NULL), 0);
	t = f.now;
	assert_int_equal(p2p_autonat_client_next_probe(c, t),
	                 t + P2P_AUTONAT_FORCED_RETRY_MS);

	/* Public, below full confidence: retry interval; full: refresh. */
	assert_int_equal(probe(&f, P2P_AUTONAT_OK, "/ip4/1.2.3.4/tcp/4001"),
	                 P2P_AUTONAT_CHANGED_STATE | P2P_AUTONAT_CHANGED_ADDR);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now),
	                 f.now + P2P_AUTONAT_RETRY_INTERVAL_MS);
	for (int i = 0; i < P2P_AUTONAT_MAX_CONFIDENCE; i++)
		probe(&f, P2P_AUTONAT_OK, NULL);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now),
	                 f.now + P2P_AUTONAT_REFRESH_INTERVAL_MS);
	/* Peers reach us: ask half as often. */
	p2p_autonat_client_on_inbound(c, f.now + 10);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now + 10),
	                 f.now + 2 * (uint64_t)P2P_AUTONAT_REFRESH_INTERVAL_MS);
	/* A new address of ours: less sure, retry interval. */
	p2p_autonat_client_on_addrs_changed(c);
	assert_int_equal(p2p_autonat_client_confidence(c),
	                 P2P_AUTONAT_MAX_CONFIDENCE - 1);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now + 10),
	                 f.now + P2P_AUTONAT_RETRY_INTERVAL_MS);
	p2p_autonat_client_on_addrs_changed(c);
	assert_int_equal(p2p_autonat_client_confidence(c),
	                 P2P_AUTONAT_MAX_CONFIDENCE - 1);

	/* Private at full confidence: refresh, unless someone reached us. */
	for (int i = 0; i < P2P_AUTONAT_MAX_CONFIDENCE - 1; i++)
		assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL), 0);
	assert_int_equal(probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL),
	                 P2P_AUTONAT_CHANGED_STATE | P2P_AUTONAT_CHANGED_ADDR);
	for (int i = 0; i < P2P_AUTONAT_MAX_CONFIDENCE; i++)
		probe(&f, P2P_AUTONAT_E_DIAL_ERROR, NULL);
	assert_int_equal(p2p_autonat_client_confidence(c), P2P_AUTONAT_MAX_CONFIDENCE);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now),
	                 f.now + P2P_AUTONAT_REFRESH_INTERVAL_MS);
	p2p_autonat_client_on_inbound(c, f.now + 1);
	assert_int_equal(p2p_autonat_client_next_probe(c, f.now + 1),
	                 f.now + P2P_AUTONAT_RETRY_INTERVAL_MS);
	p2p_autonat_client_free(c);
}

static void client_throttles_servers(void **state)
{
	(void)state;
	p2p_autonat_client c;
	p2p_autonat_client_init(&c, 0);
	p2p_peerid s = peer(PEER_B);
	assert_false(p2p_autonat_client_may_ask(&c, NULL, 0));
	assert_int_equal(p2p_autonat_client_begin_probe(&c, &s, 100), P2P_OK);
	/* The same server, too soon. */
	assert_false(p2p_autonat_client_may_ask(&c, &s, 200));
	assert_int_equal(p2p_autonat_client_begin_probe(&c, &s, 200), P2P_ELIMIT);
	assert_true(
	    p2p_autonat_client_may_ask(&c, &s, 100 + P2P_AUTONAT_SERVER_RECENT_MS));
	/* At most P2P_AUTONAT_MAX_PENDING in flight. */
	for (int i = 1; i < P2P_AUTONAT_MAX_PENDING; i++) {
		s.bytes[s.len - 1]++;
		assert_int_equal(p2p_autonat_client_begin_probe(&c, &s, 300), P2P_OK);
	}
	s.bytes[s.len - 1]++;
	assert_false(p2p_autonat_client_may_ask(&c, &s, 300));
	assert_int_equal(p2p_autonat_client_begin_probe(&c, &s, 300), P2P_ELIMIT);
	assert_true(p2p_autonat_client_on_response(&c, NULL) >= 0);
	assert_true(p2p_autonat_client_may_ask(&c, &s, 300));

	/* More servers than remembered: the oldest is forgotten first. */
	p2p_autonat_client_free(&c);
	p2p_autonat_client_init(&c, 0);
	p2p_peerid first = peer(PEER_A), x = first;
	for (int i = 0; i <= P2P_AUTONAT_MAX_RECENT; i++) {
		assert_int_equal(
		    p2p_autonat_client_begin_probe(&c, &x, 1000 + (uint64_t)i), P2P_OK);
		assert_true(p2p_autonat_client_on_response(&c, NULL) >= 0);
		x.bytes[x.len - 1]++;
	}
	assert_int_equal(c.n_recent, P2P_AUTONAT_MAX_RECENT);
	assert_true(p2p_autonat_client_may_ask(&c, &first, 2000));
	x.bytes[x.len - 1]--;
	assert_false(p2p_autonat_client_may_ask(&c, &x, 2000));
	p2p_autonat_client_free(&c);
}

static void dial_request_builder(void **state)
{
	(void)state;
	p2p_peerid a = peer(PEER_A);
	p2p_buf addrs[4] = {
	    ma("/ip4/1.2.3.4/tcp/4001"),
	    ma("/ip4/9.9.9.9/tcp/4001/p2p/" PEER_B "/p2p-circuit"),
	    ma("/ip4/1.2.3.4/tcp/4001"),
	    ma("/ip4/1.2.3.4/udp/4001/quic-v1"),
	};
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_autonat_dial_request_encode(&out, &a, addrs, 4), P2P_OK);
	/* Circuit and duplicate left out: exactly go's two-address message. */
	assert_int_equal(out.len, sizeof(go_dial));
	assert_memory_equal(out.data, go_dial, sizeof(go_dial));
	for (int i = 0; i < 4; i++)
		p2p_buf_free(&addrs[i]);

	/* Too many for one message: the first ones are kept. */
	p2p_buf big[P2P_AUTONAT_MAX_ADDRS];
	for (int i = 0; i < P2P_AUTONAT_MAX_ADDRS; i++) {
		char text[200];
		snprintf(text, sizeof(text), "/dns4/host-%d.%060d.%060d.example/tcp/%d",
		         i, 0, 0, i + 1);
		big[i] = ma(text);
	}
	p2p_buf_reset(&out);
	assert_int_equal(
	    p2p_autonat_dial_request_encode(&out, &a, big, P2P_AUTONAT_MAX_ADDRS),
	    P2P_OK);
	p2p_autonat_msg m;
	assert_int_equal(decode_framed(&m, out.data, out.len), P2P_OK);
	assert_true(m.n_addrs > 0 && m.n_addrs < P2P_AUTONAT_MAX_ADDRS);
	assert_true(out.len <= P2P_AUTONAT_MAX_MESSAGE + 2);
	assert_int_equal(m.addrs[0].len, big[0].len);
	assert_memory_equal(m.addrs[0].data, big[0].data, big[0].len);
	p2p_autonat_msg_free(&m);
	for (int i = 0; i < P2P_AUTONAT_MAX_ADDRS; i++)
		p2p_buf_free(&big[i]);

	/* A caller's bad address is a bug. */
	p2p_buf bad;
	p2p_buf_init(&bad);
	assert_int_equal(p2p_buf_append(&bad, "\xff\xff", 2), P2P_OK);
	p2p_buf_reset(&out);
	assert_int_equal(p2p_autonat_dial_request_encode(&out, &a, &bad, 1), P2P_EINVAL);
	assert_int_equal(out.len, 0);
	/* No addresses at all is still a request. */
	assert_int_equal(p2p_autonat_dial_request_encode(&out, &a, NULL, 0), P2P_OK);
	p2p_buf_free(&bad);
	p2p_buf_free(&out);
}

/* ---- the fuzz seeds ---- */

static p2p_buf seed(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "fuzz/corpus/autonat/%s", name);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	p2p_buf b;
	p2p_buf_init(&b);
	uint8_t chunk[512];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(p2p_buf_append(&b, chunk, n), P2P_OK);
	fclose(fp);
	return b;
}

/* Each seed is a message body (no length prefix) of the kind its name
 * says, so that the fuzzer starts from every branch. */
static void fuzz_seeds(void **state)
{
	(void)state;
	p2p_peerid a = peer(PEER_A);
	p2p_autonat_msg m;
	p2p_buf b = seed("dial-go");
	assert_int_equal(b.len + 1, sizeof(go_dial));
	assert_memory_equal(b.data, go_dial + 1, b.len);
	p2p_buf_free(&b);

	b = seed("dial-mismatch");
	assert_int_equal(decode(b.data, b.len, &m), P2P_OK);
	assert_true(m.peer_id_valid && !p2p_peerid_equal(&m.peer_id, &a));
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&b);

	b = seed("dial-no-peer");
	assert_int_equal(decode(b.data, b.len, &m), P2P_OK);
	assert_false(m.has_peer);
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&b);

	b = seed("dial-many");
	assert_int_equal(decode(b.data, b.len, &m), P2P_OK);
	assert_true(m.n_addrs > P2P_AUTONAT_SERVER_MAX_ADDRS);
	p2p_autonat_msg_free(&m);
	p2p_buf_free(&b);

	b = seed("response-ok");
	assert_int_equal(b.len + 1, sizeof(go_ok));
	assert_memory_equal(b.data, go_ok + 1, b.len);
	p2p_buf_free(&b);

	b = seed("response-error");
	assert_int_equal(b.len + 1, sizeof(go_dial_error));
	assert_memory_equal(b.data, go_dial_error + 1, b.len);
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dial_matches_go),
	    cmocka_unit_test(responses_match_go),
	    cmocka_unit_test(round_trip),
	    cmocka_unit_test(decode_rules),
	    cmocka_unit_test(public_ranges),
	    cmocka_unit_test(server_filters),
	    cmocka_unit_test(server_refusals),
	    cmocka_unit_test(server_throttles),
	    cmocka_unit_test(client_confidence),
	    cmocka_unit_test(client_schedule),
	    cmocka_unit_test(client_throttles_servers),
	    cmocka_unit_test(dial_request_builder),
	    cmocka_unit_test(fuzz_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
