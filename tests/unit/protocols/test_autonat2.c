/* AutoNAT v2 (autonat2.h): the codec against hand-computed protobuf bytes
 * and hostile bodies, the server's address choice, rate limits and dial
 * data counting, the client's probe on every path, and the fuzz seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/autonat2.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"

#define EQ(a, b) assert_int_equal(a, b)
#define OK(x)    assert_int_equal(x, P2P_OK)

#define PEER_A "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
#define PEER_B "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"

/* DialRequest{addrs: [/ip4/1.2.3.4/tcp/5], nonce: 1}: Message field 1
 * (0a, 19 bytes) holding addrs (0a 08 <ip4 1.2.3.4, tcp 5>) and the
 * fixed64 nonce (11, 8 bytes little-endian), behind the uvarint 21. */
static const uint8_t wire_request[] = {0x15, 0x0a, 0x13, 0x0a, 0x08, 0x04, 0x01, 0x02,
                                       0x03, 0x04, 0x06, 0x00, 0x05, 0x11, 0x01, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* DialResponse{status: OK (200: c8 01), addrIdx: 1, dialStatus: OK}. */
static const uint8_t wire_response[] = {0x0a, 0x12, 0x08, 0x08, 0xc8, 0x01,
                                        0x10, 0x01, 0x18, 0xc8, 0x01};
/* DialResponse{status: E_INTERNAL_ERROR}: every field a default, the
 * oneof member an empty submessage. */
static const uint8_t wire_internal[] = {0x02, 0x12, 0x00};
/* DialDataRequest{addrIdx: 0, numBytes: 30000 (b0 ea 01)}. */
static const uint8_t wire_data_request[] = {0x06, 0x1a, 0x04, 0x10, 0xb0, 0xea, 0x01};
/* DialBack{nonce: 0x0102030405060708}; DialBackResponse{OK}: empty. */
static const uint8_t wire_dial_back[] = {0x09, 0x09, 0x08, 0x07, 0x06,
                                         0x05, 0x04, 0x03, 0x02, 0x01};

static p2p_buf ma(const char *text)
{
	p2p_buf b;
	p2p_buf_init(&b);
	OK(p2p_multiaddr_parse(text, &b));
	return b;
}

static p2p_peerid peer(const char *text)
{
	p2p_peerid id;
	OK(p2p_peerid_from_string(&id, text));
	return id;
}

/* Decodes the framed message at in[*off], moving *off past it. */
static int decode_at(p2p_autonat2_msg *m, const uint8_t *in, size_t len, size_t *off)
{
	uint64_t n;
	int skip = p2p_uvarint_decode(in + *off, len - *off, &n);
	assert_true(skip > 0 && n <= len - *off - (size_t)skip);
	p2p_autonat2_msg_init(m);
	int rc = p2p_autonat2_msg_decode(m, in + *off + skip, (size_t)n);
	*off += (size_t)skip + (size_t)n;
	return rc;
}

static int decode_buf(p2p_autonat2_msg *m, const p2p_buf *b)
{
	size_t off = 0;
	int rc = decode_at(m, b->data, b->len, &off);
	EQ(off, b->len);
	return rc;
}

static void assert_bytes(const p2p_buf *b, const uint8_t *want, size_t len)
{
	EQ(b->len, len);
	assert_memory_equal(b->data, want, len);
}

/* ---- codec ---- */

static void wire_bytes(void **state)
{
	(void)state;
	p2p_buf a = ma("/ip4/1.2.3.4/tcp/5"), out;
	p2p_buf_init(&out);
	OK(p2p_autonat2_dial_request_encode(&out, &a, 1, 1));
	assert_bytes(&out, wire_request, sizeof(wire_request));
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_response_encode(&out, P2P_AUTONAT2_OK, 1,
	                                     P2P_AUTONAT2_DIAL_OK));
	assert_bytes(&out, wire_response, sizeof(wire_response));
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_response_encode(&out, P2P_AUTONAT2_E_INTERNAL_ERROR, 0,
	                                     P2P_AUTONAT2_DIAL_UNUSED));
	assert_bytes(&out, wire_internal, sizeof(wire_internal));
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_data_request_encode(&out, 0, 30000));
	assert_bytes(&out, wire_data_request, sizeof(wire_data_request));
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_back_encode(&out, 0x0102030405060708ull));
	assert_bytes(&out, wire_dial_back, sizeof(wire_dial_back));
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_back_response_encode(&out));
	assert_bytes(&out, (const uint8_t[]){0x00}, 1);
	/* DialDataResponse of 4000: 22 a3 1f (4003) 0a a0 1f (4000), prefix
	 * a6 1f (4006). */
	p2p_buf_reset(&out);
	OK(p2p_autonat2_dial_data_response_encode(&out, 4000));
	EQ(out.len, 4008);
	assert_memory_equal(
	    out.data, ((const uint8_t[]){0xa6, 0x1f, 0x22, 0xa3, 0x1f, 0x0a, 0xa0, 0x1f}),
	    8);
	for (size_t i = 8; i < out.len; i++)
		EQ(out.data[i], 0);
	p2p_buf_free(&out);

	p2p_autonat2_msg m;
	size_t off = 0;
	OK(decode_at(&m, wire_internal, sizeof(wire_internal), &off));
	EQ(m.type, P2P_AUTONAT2_DIAL_RESPONSE);
	EQ(m.status, P2P_AUTONAT2_E_INTERNAL_ERROR);
	p2p_autonat2_msg_free(&m);
	off = 0;
	OK(decode_at(&m, wire_response, sizeof(wire_response), &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_RESPONSE && m.status == P2P_AUTONAT2_OK &&
	            m.addr_idx == 1 && m.dial_status == P2P_AUTONAT2_DIAL_OK);
	p2p_autonat2_msg_free(&m);
	uint64_t nonce = 0;
	OK(p2p_autonat2_dial_back_decode(wire_dial_back + 1, 9, &nonce));
	assert_true(nonce == 0x0102030405060708ull);
	int st = -1;
	OK(p2p_autonat2_dial_back_response_decode(NULL, 0, &st));
	EQ(st, 0);
	p2p_buf_free(&a);
}

static void round_trips(void **state)
{
	(void)state;
	p2p_buf addrs[3] = {ma("/ip4/1.2.3.4/tcp/4001"), ma("/ip6/2606:4700::1/tcp/1"),
	                    ma("/ip4/1.2.3.4/udp/4001/quic-v1/p2p/" PEER_A)};
	p2p_buf out;
	p2p_buf_init(&out);
	OK(p2p_autonat2_dial_request_encode(&out, addrs, 3, 0));
	OK(p2p_autonat2_dial_request_encode(&out, addrs, 2, UINT64_MAX));
	OK(p2p_autonat2_dial_response_encode(&out, P2P_AUTONAT2_E_DIAL_REFUSED, 0,
	                                     P2P_AUTONAT2_DIAL_UNUSED));
	OK(p2p_autonat2_dial_data_request_encode(&out, 7, UINT64_MAX));
	OK(p2p_autonat2_dial_data_response_encode(&out, 4096));
	OK(p2p_autonat2_dial_data_response_encode(&out, 1));
	size_t off = 0;
	p2p_autonat2_msg m;
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_REQUEST && m.n_addrs == 3 &&
	            m.nonce == 0);
	for (size_t i = 0; i < 3; i++)
		assert_bytes(&m.addrs[i], addrs[i].data, addrs[i].len);
	p2p_autonat2_msg_free(&m);
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.n_addrs == 2 && m.nonce == UINT64_MAX);
	p2p_autonat2_msg_free(&m);
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_RESPONSE &&
	            m.status == P2P_AUTONAT2_E_DIAL_REFUSED);
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_DATA_REQUEST && m.addr_idx == 7 &&
	            m.num_bytes == UINT64_MAX);
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_DATA_RESPONSE && m.data_len == 4096);
	OK(decode_at(&m, out.data, out.len, &off));
	assert_true(m.type == P2P_AUTONAT2_DIAL_DATA_RESPONSE && m.data_len == 1);
	EQ(off, out.len);

	/* Bad arguments leave out as it was. */
	size_t len = out.len;
	p2p_buf bad;
	p2p_buf_init(&bad);
	OK(p2p_buf_append(&bad, "\xff\xff", 2));
	EQ(p2p_autonat2_dial_request_encode(&out, addrs, 0, 1), P2P_EINVAL);
	EQ(p2p_autonat2_dial_request_encode(&out, &bad, 1, 1), P2P_EINVAL);
	EQ(p2p_autonat2_dial_request_encode(&out, addrs, 51, 1), P2P_EINVAL);
	EQ(p2p_autonat2_dial_response_encode(&out, 42, 0, 0), P2P_EINVAL);
	EQ(p2p_autonat2_dial_response_encode(&out, P2P_AUTONAT2_OK, 0, 7), P2P_EINVAL);
	EQ(p2p_autonat2_dial_data_response_encode(&out, 0), P2P_EINVAL);
	EQ(p2p_autonat2_dial_data_response_encode(&out, 4097), P2P_EINVAL);
	EQ(out.len, len);
	/* 50 addresses of 200 bytes are over 8192. */
	p2p_buf big[P2P_AUTONAT2_MAX_ADDRS];
	for (size_t i = 0; i < P2P_AUTONAT2_MAX_ADDRS; i++) {
		p2p_buf_init(&big[i]);
		uint8_t dns[190];
		memset(dns, 'a', sizeof(dns));
		OK(p2p_multiaddr_append(&big[i], P2P_MA_DNS4, dns, sizeof(dns)));
	}
	OK(p2p_autonat2_dial_request_encode(&out, big, 40, 1));
	EQ(p2p_autonat2_dial_request_encode(&out, big, 50, 1), P2P_ETOOBIG);
	for (size_t i = 0; i < P2P_AUTONAT2_MAX_ADDRS; i++)
		p2p_buf_free(&big[i]);
	p2p_buf_free(&bad);
	p2p_buf_free(&out);
	for (size_t i = 0; i < 3; i++)
		p2p_buf_free(&addrs[i]);
}

static void hostile_bodies(void **state)
{
	(void)state;
	p2p_autonat2_msg m;
	uint8_t *huge = calloc(1, P2P_AUTONAT2_MAX_MESSAGE + 1);
	assert_non_null(huge);
	p2p_autonat2_msg_init(&m);
	EQ(p2p_autonat2_msg_decode(&m, huge, P2P_AUTONAT2_MAX_MESSAGE + 1), P2P_ETOOBIG);
	uint64_t nonce;
	int st;
	EQ(p2p_autonat2_dial_back_decode(huge, 1025, &nonce), P2P_ETOOBIG);
	EQ(p2p_autonat2_dial_back_response_decode(huge, 1025, &st), P2P_ETOOBIG);
	free(huge);
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	    {"", 0},                     /* no oneof */
	    {"\x28\x01", 2},             /* only an unknown field */
	    {"\x0a\x05\x0a\x08\x04", 5}, /* DialRequest truncated */
	    {"\x0a", 1},                 /* a tag and nothing */
	    {"\x12\x03\x08\xc8", 4},     /* varint cut short */
	    {"\x0a\x02\x11\x01", 4},     /* fixed64 truncated */
	    {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11}, /* bad tag */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p2p_autonat2_msg_init(&m);
		EQ(p2p_autonat2_msg_decode(&m, (const uint8_t *)bad[i].bytes, bad[i].len),
		   P2P_EPROTO);
		p2p_autonat2_msg_free(&m);
	}
	EQ(p2p_autonat2_dial_back_decode((const uint8_t *)"\x09\x01", 2, &nonce),
	   P2P_EPROTO);
	EQ(p2p_autonat2_dial_back_response_decode((const uint8_t *)"\x08", 1, &st),
	   P2P_EPROTO);

	/* A chunk of 4097 data bytes: 22 84 20 0a 81 20 <4097>. */
	p2p_buf b;
	p2p_buf_init(&b);
	OK(p2p_buf_append(&b, "\x22\x84\x20\x0a\x81\x20", 6));
	OK(p2p_buf_reserve(&b, 4097));
	memset(b.data + b.len, 0, 4097);
	b.len += 4097;
	p2p_autonat2_msg_init(&m);
	EQ(p2p_autonat2_msg_decode(&m, b.data, b.len), P2P_EPROTO);
	p2p_autonat2_msg_free(&m);

	/* 60 addresses, some garbage or empty: the first 50 are kept, as they
	 * came, garbage included. */
	p2p_buf req, body;
	p2p_buf_init(&req);
	p2p_buf_init(&body);
	for (int i = 0; i < 60; i++) {
		if (i == 3) {
			OK(p2p_buf_append(&req, "\x0a\x02\xff\xff", 4));
			continue;
		}
		if (i == 4) {
			OK(p2p_buf_append(&req, "\x0a\x00", 2));
			continue;
		}
		uint8_t a[] = {0x0a, 0x08, 0x04, 1, 2, 3, (uint8_t)i, 0x06, 0x00, 0x05};
		OK(p2p_buf_append(&req, a, sizeof(a)));
	}
	OK(p2p_buf_append_byte(&body, 0x0a));
	OK(p2p_buf_append_uvarint(&body, req.len));
	OK(p2p_buf_append(&body, req.data, req.len));
	p2p_autonat2_msg_init(&m);
	OK(p2p_autonat2_msg_decode(&m, body.data, body.len));
	EQ(m.n_addrs, P2P_AUTONAT2_MAX_ADDRS);
	EQ(m.addrs[3].len, 2);
	EQ(m.addrs[4].len, 0);
	EQ(m.addrs[49].data[4], 49);
	EQ(m.nonce, 0);
	p2p_autonat2_msg_free(&m);
	/* Unknown enum values are kept for the reader to judge. */
	p2p_autonat2_msg_init(&m);
	OK(p2p_autonat2_msg_decode(&m, (const uint8_t *)"\x12\x04\x08\x2a\x18\x07", 6));
	assert_true(m.status == 42 && m.dial_status == 7);
	p2p_autonat2_msg_free(&m);
	p2p_buf_free(&req);
	p2p_buf_free(&body);
	p2p_buf_free(&b);
}

/* ---- server ---- */

typedef struct sel {
	p2p_autonat2_server s;
	p2p_autonat2_msg req;
	p2p_autonat2_decision d;
	p2p_peerid a;
} sel;

static void sel_init(sel *x, bool allow_private)
{
	p2p_autonat2_server_config cfg = {.allow_private = allow_private};
	OK(p2p_autonat2_server_init(&x->s, &cfg));
	p2p_autonat2_msg_init(&x->req);
	x->req.type = P2P_AUTONAT2_DIAL_REQUEST;
	p2p_autonat2_decision_init(&x->d);
	x->a = peer(PEER_A);
}

static void sel_free(sel *x)
{
	p2p_autonat2_msg_free(&x->req);
	p2p_autonat2_decision_free(&x->d);
	p2p_autonat2_server_free(&x->s);
}

/* Selects among the addresses (NULL-terminated) for PEER_A seen at
 * observed (text; NULL: no address); returns the chosen index or -1. */
static int pick(sel *x, const char *observed, uint64_t now, uint64_t rnd, ...)
{
	p2p_autonat2_msg_free(&x->req);
	x->req.type = P2P_AUTONAT2_DIAL_REQUEST;
	x->req.addrs = calloc(P2P_AUTONAT2_MAX_ADDRS + 1, sizeof(p2p_buf));
	va_list ap;
	va_start(ap, rnd);
	for (const char *t; (t = va_arg(ap, const char *)) != NULL;)
		x->req.addrs[x->req.n_addrs++] = ma(t);
	va_end(ap);
	p2p_buf obs = observed ? ma(observed) : (p2p_buf){0};
	OK(p2p_autonat2_server_select(&x->s, &x->req, &x->a, obs.data, obs.len, now, rnd,
	                              &x->d));
	p2p_buf_free(&obs);
	if (x->d.status != P2P_AUTONAT2_OK) {
		EQ(x->d.addr.len, 0);
		assert_non_null(x->d.why);
		return -1;
	}
	/* What to dial is bare TCP. */
	size_t prefix;
	OK(p2p_multiaddr_tcp(x->d.addr.data, x->d.addr.len, NULL, NULL, &prefix));
	EQ(prefix, x->d.addr.len);
	assert_true(x->d.addr_idx < x->req.n_addrs);
	return (int)x->d.addr_idx;
}

#define OBS "/ip4/1.2.3.4/tcp/4001"

static void select_rules(void **state)
{
	(void)state;
	sel x;
	sel_init(&x, false);
	EQ(pick(&x, OBS, 0, 0, "/ip4/1.2.3.4/tcp/4001", NULL), 0);
	EQ(x.d.num_bytes, 0);
	/* Private, loopback, port 0, other transports, someone else's ID:
	 * skipped; the first acceptable one wins. */
	EQ(pick(&x, OBS, 0, 0, "/ip4/192.168.1.1/tcp/1", "/ip4/127.0.0.1/tcp/1",
	        "/ip4/1.2.3.4/tcp/0", "/ip4/1.2.3.4/udp/1/quic-v1",
	        "/ip4/1.2.3.4/tcp/1/ws", "/dns4/example.com/tcp/1",
	        "/ip4/1.2.3.4/tcp/1/p2p/" PEER_B, "/ip4/1.2.3.4/tcp/7/p2p/" PEER_A,
	        "/ip4/1.2.3.4/tcp/8", NULL),
	   7);
	p2p_buf bare = ma("/ip4/1.2.3.4/tcp/7");
	assert_bytes(&x.d.addr, bare.data, bare.len);
	p2p_buf_free(&bare);
	EQ(pick(&x, OBS, 0, 0, "/ip4/10.0.0.1/tcp/1", "/ip6/::1/tcp/1", NULL), -1);
	EQ(x.d.status, P2P_AUTONAT2_E_DIAL_REFUSED);
	/* ip6: public, and the observed IP decides the dial data. */
	EQ(pick(&x, "/ip6/2606:4700::1/tcp/9", 0, 0, "/ip6/2606:4700::1/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, 0);
	EQ(pick(&x, OBS, 0, 0, "/ip6/2606:4700::1/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, P2P_AUTONAT2_MIN_DIAL_DATA);
	/* Another IP, a relayed or unknown observed address: data is due, an
	 * amount drawn from rnd in [30000, 100000). */
	EQ(pick(&x, OBS, 0, 69999, "/ip4/5.6.7.8/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, 99999);
	EQ(pick(&x, OBS, 0, 70001, "/ip4/5.6.7.8/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, 30001);
	EQ(pick(&x, "/ip4/1.2.3.4/tcp/4001/p2p/" PEER_B "/p2p-circuit", 0, 5,
	        "/ip4/1.2.3.4/tcp/1", NULL),
	   0);
	EQ(x.d.num_bytes, 30005);
	EQ(pick(&x, NULL, 0, 0, "/ip4/1.2.3.4/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, P2P_AUTONAT2_MIN_DIAL_DATA);
	EQ(pick(&x, "/dns4/example.com/tcp/1", 0, 0, "/ip4/1.2.3.4/tcp/1", NULL), 0);
	assert_true(x.d.num_bytes > 0);
	/* Beyond the 50th address nothing is looked at. */
	pick(&x, OBS, 0, 0, "/ip4/10.0.0.1/tcp/1", NULL);
	for (size_t i = 1; i < P2P_AUTONAT2_MAX_ADDRS; i++)
		x.req.addrs[x.req.n_addrs++] = ma("/ip4/10.0.0.1/tcp/1");
	x.req.addrs[x.req.n_addrs++] = ma(OBS);
	p2p_buf obs = ma(OBS);
	OK(p2p_autonat2_server_select(&x.s, &x.req, &x.a, obs.data, obs.len, 0, 0, &x.d));
	EQ(x.d.status, P2P_AUTONAT2_E_DIAL_REFUSED);
	p2p_buf_free(&x.req.addrs[P2P_AUTONAT2_MAX_ADDRS - 1]);
	x.req.addrs[P2P_AUTONAT2_MAX_ADDRS - 1] = ma(OBS);
	OK(p2p_autonat2_server_select(&x.s, &x.req, &x.a, obs.data, obs.len, 0, 0, &x.d));
	EQ(x.d.addr_idx, P2P_AUTONAT2_MAX_ADDRS - 1);
	x.req.type = P2P_AUTONAT2_DIAL_RESPONSE;
	EQ(p2p_autonat2_server_select(&x.s, &x.req, &x.a, obs.data, obs.len, 0, 0, &x.d),
	   P2P_EPROTO);
	p2p_buf_free(&obs);
	sel_free(&x);

	/* allow_private: anything but unspecified and multicast. */
	sel_init(&x, true);
	EQ(pick(&x, OBS, 0, 0, "/ip4/0.0.0.0/tcp/1", "/ip6/::/tcp/1",
	        "/ip4/224.0.0.1/tcp/1", "/ip6/ff02::1/tcp/1", "/ip6/::ffff:0.0.0.0/tcp/1",
	        "/ip4/192.168.1.1/tcp/1", NULL),
	   5);
	EQ(x.d.num_bytes, P2P_AUTONAT2_MIN_DIAL_DATA);
	EQ(pick(&x, "/ip4/127.0.0.1/tcp/5", 0, 0, "/ip4/127.0.0.1/tcp/1", NULL), 0);
	EQ(x.d.num_bytes, 0);
	EQ(pick(&x, OBS, 0, 0, "/ip4/198.18.0.1/tcp/1", NULL), 0);
	sel_free(&x);
}

static p2p_peerid nth_peer(int i)
{
	p2p_peerid id = peer(PEER_A);
	id.bytes[id.len - 1] = (uint8_t)i;
	id.bytes[id.len - 2] = (uint8_t)(i >> 8);
	return id;
}

static void rate_limits(void **state)
{
	(void)state;
	p2p_autonat2_server s;
	OK(p2p_autonat2_server_init(&s, NULL));
	p2p_peerid a = peer(PEER_A), b = peer(PEER_B);
	/* Two at once per peer; a third waits for one to be done. */
	OK(p2p_autonat2_server_accept(&s, &a, 0));
	OK(p2p_autonat2_server_accept(&s, &a, 0));
	EQ(p2p_autonat2_server_accept(&s, &a, 0), P2P_ELIMIT);
	OK(p2p_autonat2_server_accept(&s, &b, 0));
	p2p_autonat2_server_done(&s, &a);
	/* 12 a minute per peer, in a window that slides. */
	for (int i = 2; i < 12; i++) {
		OK(p2p_autonat2_server_accept(&s, &a, (uint64_t)i * 1000));
		p2p_autonat2_server_done(&s, &a);
	}
	EQ(p2p_autonat2_server_accept(&s, &a, 59999), P2P_ELIMIT);
	p2p_autonat2_server_done(&s, &a);
	/* At 60000 the two grants of 0 are out of the window. */
	for (int i = 0; i < 2; i++) {
		OK(p2p_autonat2_server_accept(&s, &a, 60000));
		p2p_autonat2_server_done(&s, &a);
	}
	EQ(p2p_autonat2_server_accept(&s, &a, 60000), P2P_ELIMIT);
	EQ(p2p_autonat2_server_accept(&s, &a, 61999), P2P_ELIMIT);
	OK(p2p_autonat2_server_accept(&s, &a, 62000));
	p2p_autonat2_server_done(&s, &a);
	p2p_autonat2_server_done(&s, &b);
	/* Past every window the table empties. */
	OK(p2p_autonat2_server_accept(&s, &b, 200000));
	EQ(s.n_peers, 1);
	EQ(s.n_global, 1);
	p2p_autonat2_server_done(&s, &b);
	p2p_autonat2_server_free(&s);

	/* 60 a minute for everyone. */
	OK(p2p_autonat2_server_init(&s, NULL));
	for (int i = 0; i < 60; i++) {
		p2p_peerid p = nth_peer(i);
		OK(p2p_autonat2_server_accept(&s, &p, (uint64_t)i));
		p2p_autonat2_server_done(&s, &p);
	}
	p2p_peerid late = nth_peer(1000);
	EQ(p2p_autonat2_server_accept(&s, &late, 59999), P2P_ELIMIT);
	OK(p2p_autonat2_server_accept(&s, &late, 60000));
	assert_true(s.n_peers <= 60);
	p2p_autonat2_server_free(&s);

	/* A table full of requests that outlived their grants refuses a new
	 * peer; one done makes room. */
	OK(p2p_autonat2_server_init(&s, NULL));
	for (int i = 0; i < 60; i++) {
		p2p_peerid p = nth_peer(i);
		OK(p2p_autonat2_server_accept(&s, &p, 0));
	}
	EQ(p2p_autonat2_server_accept(&s, &late, 70000), P2P_ELIMIT);
	EQ(s.n_peers, 60);
	EQ(s.n_global, 0);
	p2p_peerid p0 = nth_peer(0);
	p2p_autonat2_server_done(&s, &p0);
	OK(p2p_autonat2_server_accept(&s, &late, 70000));
	p2p_autonat2_server_done(&s, &late);
	p2p_autonat2_server_done(&s, &late); /* once too often: ignored */
	p2p_autonat2_server_free(&s);

	/* Dial data: 12 a minute. */
	sel x;
	sel_init(&x, false);
	for (int i = 0; i < 12; i++)
		EQ(pick(&x, OBS, (uint64_t)i * 100, 0, "/ip4/5.6.7.8/tcp/1", NULL), 0);
	EQ(pick(&x, OBS, 59999, 0, "/ip4/5.6.7.8/tcp/1", NULL), -1);
	EQ(x.d.status, P2P_AUTONAT2_E_REQUEST_REJECTED);
	/* Without data due the dial-data rate does not matter. */
	EQ(pick(&x, OBS, 59999, 0, "/ip4/1.2.3.4/tcp/1", NULL), 0);
	EQ(pick(&x, OBS, 60000, 0, "/ip4/5.6.7.8/tcp/1", NULL), 0);
	EQ(pick(&x, OBS, 60000, 0, "/ip4/5.6.7.8/tcp/1", NULL), -1);
	sel_free(&x);

	/* Configured limits. */
	p2p_autonat2_server_config cfg = {
	    .rpm = 3, .per_peer_rpm = 1, .max_concurrent = 1};
	OK(p2p_autonat2_server_init(&s, &cfg));
	OK(p2p_autonat2_server_accept(&s, &a, 0));
	p2p_autonat2_server_done(&s, &a);
	EQ(p2p_autonat2_server_accept(&s, &a, 0), P2P_ELIMIT);
	p2p_autonat2_server_free(&s);
}

static void data_counting(void **state)
{
	(void)state;
	p2p_autonat2_msg m;
	p2p_autonat2_msg_init(&m);
	m.type = P2P_AUTONAT2_DIAL_DATA_RESPONSE;
	uint64_t remain = 30000;
	m.data_len = 4000;
	for (int i = 0; i < 7; i++)
		EQ(p2p_autonat2_server_data(&remain, &m), P2P_EAGAIN);
	EQ(remain, 2000);
	m.data_len = 99;
	EQ(p2p_autonat2_server_data(&remain, &m), P2P_EPROTO);
	m.data_len = 100;
	EQ(p2p_autonat2_server_data(&remain, &m), P2P_EAGAIN);
	m.data_len = 4000; /* past the end: fine */
	OK(p2p_autonat2_server_data(&remain, &m));
	EQ(remain, 0);
	remain = 50;
	m.data_len = 50; /* a small last chunk: fine */
	OK(p2p_autonat2_server_data(&remain, &m));
	remain = 500;
	m.data_len = 0;
	EQ(p2p_autonat2_server_data(&remain, &m), P2P_EPROTO);
	m.type = P2P_AUTONAT2_DIAL_REQUEST;
	m.data_len = 4000;
	EQ(p2p_autonat2_server_data(&remain, &m), P2P_EPROTO);
}

/* ---- probe ---- */

static void probe_new(p2p_autonat2_probe *p, const char *a0, const char *a1, bool pay1)
{
	p2p_buf addrs[2] = {ma(a0), ma(a1)};
	bool pay[2] = {false, pay1};
	OK(p2p_autonat2_probe_init(p, addrs, pay, 2, 77));
	p2p_buf_free(&addrs[0]);
	p2p_buf_free(&addrs[1]);
}

static int feed(p2p_autonat2_probe *p, int type, int status, uint32_t idx, int dial,
                uint64_t num_bytes, p2p_buf *out)
{
	p2p_autonat2_msg m;
	p2p_autonat2_msg_init(&m);
	m.type = (p2p_autonat2_type)type;
	m.status = status;
	m.addr_idx = idx;
	m.dial_status = dial;
	m.num_bytes = num_bytes;
	return p2p_autonat2_probe_on_message(p, &m, out);
}

#define RESP(p, st, idx, dial) feed(p, P2P_AUTONAT2_DIAL_RESPONSE, st, idx, dial, 0, NULL)
#define A4                     "/ip4/1.2.3.4/tcp/4001"
#define A6                     "/ip6/2606:4700::1/tcp/4001"

static bool back(p2p_autonat2_probe *p, uint64_t nonce, const char *local)
{
	p2p_buf l = ma(local);
	bool r = p2p_autonat2_probe_on_dial_back(p, nonce, l.data, l.len);
	p2p_buf_free(&l);
	return r;
}

static void assert_result(const p2p_autonat2_probe *p, p2p_autonat2_reach want, int idx)
{
	int got = 99;
	EQ(p2p_autonat2_probe_result(p, &got), want);
	EQ(got, idx);
}

static void probe_data(void **state)
{
	(void)state;
	p2p_autonat2_probe p;
	p2p_buf out;
	p2p_buf_init(&out);
	probe_new(&p, A4, A6, true);
	OK(p2p_autonat2_probe_request(&p, &out));
	p2p_autonat2_msg m;
	OK(decode_buf(&m, &out));
	assert_true(m.type == P2P_AUTONAT2_DIAL_REQUEST && m.n_addrs == 2 &&
	            m.nonce == 77);
	p2p_autonat2_msg_free(&m);
	p2p_buf_reset(&out);
	EQ(feed(&p, P2P_AUTONAT2_DIAL_DATA_REQUEST, 0, 1, 0, 30001, &out),
	   P2P_AUTONAT2_PROBE_WAIT);
	size_t off = 0, n = 0, total = 0;
	while (off < out.len) {
		OK(decode_at(&m, out.data, out.len, &off));
		EQ(m.type, P2P_AUTONAT2_DIAL_DATA_RESPONSE);
		EQ(m.data_len, n < 7 ? 4000 : 2001);
		total += m.data_len;
		n++;
	}
	assert_true(n == 8 && total == 30001 && p.data_sent);
	/* A second request for data is refused. */
	EQ(feed(&p, P2P_AUTONAT2_DIAL_DATA_REQUEST, 0, 1, 0, 30001, &out),
	   P2P_AUTONAT2_PROBE_FAILED);
	EQ(p.err, P2P_EPROTO);
	p2p_autonat2_probe_free(&p);

	/* The most we pay: 25 chunks of 4000. */
	probe_new(&p, A4, A6, true);
	p2p_buf_reset(&out);
	EQ(feed(&p, P2P_AUTONAT2_DIAL_DATA_REQUEST, 0, 1, 0, 100000, &out),
	   P2P_AUTONAT2_PROBE_WAIT);
	EQ(out.len, 25 * 4008);
	p2p_autonat2_probe_free(&p);
	/* Not an address we pay for, out of range, too much: nothing sent. */
	const uint32_t idx[] = {0, 2, 1};
	const uint64_t amount[] = {30000, 30000, 100001};
	for (int i = 0; i < 3; i++) {
		probe_new(&p, A4, A6, true);
		p2p_buf_reset(&out);
		EQ(feed(&p, P2P_AUTONAT2_DIAL_DATA_REQUEST, 0, idx[i], 0, amount[i],
		        &out),
		   P2P_AUTONAT2_PROBE_FAILED);
		EQ(out.len, 0);
		assert_result(&p, P2P_AUTONAT2_REACH_UNKNOWN, -1);
		p2p_autonat2_probe_free(&p);
	}
	/* pay NULL: for none. */
	p2p_buf a = ma(A4);
	OK(p2p_autonat2_probe_init(&p, &a, NULL, 1, 1));
	EQ(feed(&p, P2P_AUTONAT2_DIAL_DATA_REQUEST, 0, 0, 0, 30000, &out),
	   P2P_AUTONAT2_PROBE_FAILED);
	p2p_autonat2_probe_free(&p);
	/* init refuses 0, too many, or a bad address. */
	p2p_buf many[P2P_AUTONAT2_PROBE_MAX_ADDRS + 1];
	for (size_t i = 0; i <= P2P_AUTONAT2_PROBE_MAX_ADDRS; i++)
		many[i] = a;
	EQ(p2p_autonat2_probe_init(&p, many, NULL, 0, 1), P2P_EINVAL);
	p2p_autonat2_probe_free(&p);
	EQ(p2p_autonat2_probe_init(&p, many, NULL, 9, 1), P2P_EINVAL);
	p2p_autonat2_probe_free(&p);
	p2p_buf bad = {(uint8_t *)"\xff", 1, 1};
	EQ(p2p_autonat2_probe_init(&p, &bad, NULL, 1, 1), P2P_EINVAL);
	p2p_autonat2_probe_free(&p);
	p2p_buf_free(&a);
	p2p_buf_free(&out);
}

static void probe_answers(void **state)
{
	(void)state;
	p2p_autonat2_probe p;
	/* OK: waits for the nonce; a wrong one is not ours. */
	probe_new(&p, A4, A6, false);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_OK),
	   P2P_AUTONAT2_PROBE_DIAL_BACK);
	assert_result(&p, P2P_AUTONAT2_REACH_UNKNOWN, -1);
	assert_false(back(&p, 78, "/ip4/10.0.0.1/tcp/999"));
	EQ(p.state, P2P_AUTONAT2_PROBE_DIAL_BACK);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/tcp/999"));
	EQ(p.state, P2P_AUTONAT2_PROBE_DONE);
	assert_result(&p, P2P_AUTONAT2_REACH_PUBLIC, 0);
	assert_false(back(&p, 77, "/ip4/10.0.0.1/tcp/999")); /* a second one */
	p2p_autonat2_probe_give_up(&p, P2P_ETIMEDOUT);       /* DONE stays */
	EQ(RESP(&p, 42, 0, 0), P2P_AUTONAT2_PROBE_DONE);
	assert_result(&p, P2P_AUTONAT2_REACH_PUBLIC, 0);
	p2p_autonat2_probe_free(&p);

	/* The dial-back first, then the answer (the /p2p/ of ours ignored). */
	probe_new(&p, A4 "/p2p/" PEER_A, A6, false);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/tcp/999"));
	EQ(p.state, P2P_AUTONAT2_PROBE_WAIT);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR),
	   P2P_AUTONAT2_PROBE_DONE);
	assert_result(&p, P2P_AUTONAT2_REACH_PUBLIC, 0);
	p2p_autonat2_probe_free(&p);

	/* Another kind of connection than the address named: a lie. */
	probe_new(&p, A4, A6, false);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 1, P2P_AUTONAT2_DIAL_OK),
	   P2P_AUTONAT2_PROBE_DIAL_BACK);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/tcp/999"));
	EQ(p.state, P2P_AUTONAT2_PROBE_FAILED);
	EQ(p.err, P2P_EPROTO);
	assert_result(&p, P2P_AUTONAT2_REACH_UNKNOWN, -1);
	p2p_autonat2_probe_free(&p);
	probe_new(&p, A4, A6, false);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/udp/1/quic-v1"));
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_OK), P2P_AUTONAT2_PROBE_FAILED);
	p2p_autonat2_probe_free(&p);
	/* A DNS name stands for an IP of its family. */
	probe_new(&p, "/dns4/example.com/tcp/1", "/dns6/example.com/tcp/1", false);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/tcp/2"));
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_OK), P2P_AUTONAT2_PROBE_DONE);
	p2p_autonat2_probe_free(&p);
	probe_new(&p, "/dns4/example.com/tcp/1", "/dns6/example.com/tcp/1", false);
	assert_true(back(&p, 77, "/ip4/10.0.0.1/tcp/2"));
	EQ(RESP(&p, P2P_AUTONAT2_OK, 1, P2P_AUTONAT2_DIAL_OK), P2P_AUTONAT2_PROBE_FAILED);
	p2p_autonat2_probe_free(&p);

	/* No dial-back in time. */
	probe_new(&p, A4, A6, false);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR),
	   P2P_AUTONAT2_PROBE_DIAL_BACK);
	p2p_autonat2_probe_give_up(&p, P2P_ETIMEDOUT);
	assert_true(p.state == P2P_AUTONAT2_PROBE_FAILED && p.err == P2P_ETIMEDOUT);
	assert_false(back(&p, 77, "/ip4/10.0.0.1/tcp/999"));
	p2p_autonat2_probe_free(&p);

	/* E_DIAL_ERROR: private there. */
	probe_new(&p, A4, A6, false);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 1, P2P_AUTONAT2_DIAL_E_DIAL_ERROR),
	   P2P_AUTONAT2_PROBE_DONE);
	assert_result(&p, P2P_AUTONAT2_REACH_PRIVATE, 1);
	p2p_autonat2_probe_free(&p);

	/* Refused, rejected, internal error: no verdict, no index. */
	const int none[] = {P2P_AUTONAT2_E_DIAL_REFUSED, P2P_AUTONAT2_E_REQUEST_REJECTED,
	                    P2P_AUTONAT2_E_INTERNAL_ERROR};
	for (int i = 0; i < 3; i++) {
		probe_new(&p, A4, A6, false);
		EQ(RESP(&p, none[i], 1, 0), P2P_AUTONAT2_PROBE_DONE);
		assert_result(&p, P2P_AUTONAT2_REACH_UNKNOWN, -1);
		EQ(p.status, none[i]);
		p2p_autonat2_probe_free(&p);
	}

	/* What we do not understand: FAILED. */
	const int bad[][3] = {{42, 0, P2P_AUTONAT2_DIAL_OK},
	                      {P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_UNUSED},
	                      {P2P_AUTONAT2_OK, 0, 7},
	                      {P2P_AUTONAT2_OK, 2, P2P_AUTONAT2_DIAL_OK},
	                      {P2P_AUTONAT2_OK, 2, P2P_AUTONAT2_DIAL_E_DIAL_ERROR}};
	for (int i = 0; i < 5; i++) {
		probe_new(&p, A4, A6, false);
		EQ(RESP(&p, bad[i][0], (uint32_t)bad[i][1], bad[i][2]),
		   P2P_AUTONAT2_PROBE_FAILED);
		EQ(p.err, P2P_EPROTO);
		assert_result(&p, P2P_AUTONAT2_REACH_UNKNOWN, -1);
		p2p_autonat2_probe_free(&p);
	}
	/* Another type, or anything after the answer. */
	probe_new(&p, A4, A6, false);
	EQ(feed(&p, P2P_AUTONAT2_DIAL_REQUEST, 0, 0, 0, 0, NULL),
	   P2P_AUTONAT2_PROBE_FAILED);
	p2p_autonat2_probe_free(&p);
	probe_new(&p, A4, A6, false);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_OK),
	   P2P_AUTONAT2_PROBE_DIAL_BACK);
	EQ(RESP(&p, P2P_AUTONAT2_OK, 0, P2P_AUTONAT2_DIAL_OK), P2P_AUTONAT2_PROBE_FAILED);
	p2p_autonat2_probe_free(&p);
	/* Giving up while waiting. */
	probe_new(&p, A4, A6, false);
	p2p_autonat2_probe_give_up(&p, P2P_ECLOSED);
	assert_true(p.state == P2P_AUTONAT2_PROBE_FAILED && p.err == P2P_ECLOSED);
	p2p_autonat2_probe_free(&p);
}

/* ---- fuzz seeds ---- */

static p2p_buf seed(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "fuzz/corpus/autonat2/%s", name);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	p2p_buf b;
	p2p_buf_init(&b);
	uint8_t chunk[512];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		OK(p2p_buf_append(&b, chunk, n));
	fclose(fp);
	return b;
}

/* Each seed is a Message body (no length prefix) of the kind its name
 * says, so that the fuzzer starts from every branch. */
static void fuzz_seeds(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		p2p_autonat2_type type;
	} seeds[] = {
	    {"dial-request", P2P_AUTONAT2_DIAL_REQUEST},
	    {"dial-request-many", P2P_AUTONAT2_DIAL_REQUEST},
	    {"dial-response-ok", P2P_AUTONAT2_DIAL_RESPONSE},
	    {"dial-response-internal", P2P_AUTONAT2_DIAL_RESPONSE},
	    {"dial-data-request", P2P_AUTONAT2_DIAL_DATA_REQUEST},
	    {"dial-data-response", P2P_AUTONAT2_DIAL_DATA_RESPONSE},
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		p2p_buf b = seed(seeds[i].name);
		p2p_autonat2_msg m;
		p2p_autonat2_msg_init(&m);
		OK(p2p_autonat2_msg_decode(&m, b.data, b.len));
		EQ(m.type, seeds[i].type);
		p2p_autonat2_msg_free(&m);
		p2p_buf_free(&b);
	}
	p2p_buf b = seed("dial-request");
	assert_bytes(&b, wire_request + 1, sizeof(wire_request) - 1);
	p2p_buf_free(&b);
	b = seed("dial-back");
	uint64_t nonce;
	OK(p2p_autonat2_dial_back_decode(b.data, b.len, &nonce));
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(wire_bytes),     cmocka_unit_test(round_trips),
	    cmocka_unit_test(hostile_bodies), cmocka_unit_test(select_rules),
	    cmocka_unit_test(rate_limits),    cmocka_unit_test(data_counting),
	    cmocka_unit_test(probe_data),     cmocka_unit_test(probe_answers),
	    cmocka_unit_test(fuzz_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
