/* An AutoNAT v2 body from a stranger must never crash or leak. The input
 * is tried as a dial-request Message and as the dial-back stream's two
 * messages. What decodes must re-encode to the same; a DialRequest goes
 * through the server's policy (whose decision must keep its promises, and
 * whose dial data, paid by a probe, must be counted to the end); a
 * DialResponse or DialDataRequest goes to probes paying or not, with the
 * dial-back before or after, whose state and verdict must stay coherent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/autonat2.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"

#define NONCE 0x5eed5eed5eed5eedull

/* 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA, the requester. */
static const uint8_t peer_a[] = {
    0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x2f, 0xfa, 0x35, 0xa9, 0x9d, 0x3a, 0x3c,
    0xfb, 0xb1, 0x7b, 0xb7, 0xc1, 0xdc, 0x55, 0x61, 0xb1, 0x8a, 0x8d, 0xcc, 0xa4,
    0xdf, 0x38, 0xdc, 0x61, 0x3e, 0xa8, 0x59, 0xc3, 0x7e, 0xb1, 0x33, 0x6b,
};

static p2p_buf ma(const char *text)
{
	p2p_buf b;
	p2p_buf_init(&b);
	if (p2p_multiaddr_parse(text, &b) != P2P_OK)
		abort();
	return b;
}

/* The framed message at in[*off]: its body, *off moved past it. */
static void next_body(const p2p_buf *in, size_t *off, const uint8_t **body, size_t *len)
{
	uint64_t n;
	int skip = p2p_uvarint_decode(in->data + *off, in->len - *off, &n);
	if (skip <= 0 || n > in->len - *off - (size_t)skip)
		abort();
	*body = in->data + *off + skip;
	*len = (size_t)n;
	*off += (size_t)skip + (size_t)n;
}

static void decode_one(const p2p_buf *in, p2p_autonat2_msg *m)
{
	size_t off = 0, len;
	const uint8_t *body;
	next_body(in, &off, &body, &len);
	p2p_autonat2_msg_init(m);
	if (off != in->len || p2p_autonat2_msg_decode(m, body, len) != P2P_OK)
		abort();
}

static void check_reencode(const p2p_autonat2_msg *m)
{
	p2p_buf b;
	p2p_buf_init(&b);
	int rc = P2P_EINVAL;
	switch (m->type) {
	case P2P_AUTONAT2_DIAL_REQUEST:
		/* Garbage addresses are kept for the indices, never sent. */
		rc = p2p_autonat2_dial_request_encode(&b, m->addrs, m->n_addrs, m->nonce);
		break;
	case P2P_AUTONAT2_DIAL_RESPONSE:
		rc = p2p_autonat2_dial_response_encode(&b, m->status, m->addr_idx,
		                                       m->dial_status);
		break;
	case P2P_AUTONAT2_DIAL_DATA_REQUEST:
		rc = p2p_autonat2_dial_data_request_encode(&b, m->addr_idx, m->num_bytes);
		if (rc != P2P_OK)
			abort();
		break;
	case P2P_AUTONAT2_DIAL_DATA_RESPONSE:
		rc = p2p_autonat2_dial_data_response_encode(&b, m->data_len);
		if (rc != P2P_OK && m->data_len != 0)
			abort();
		break;
	default:
		abort();
	}
	if (rc != P2P_OK) {
		if (b.len != 0)
			abort();
		p2p_buf_free(&b);
		return;
	}
	p2p_autonat2_msg d;
	decode_one(&b, &d);
	if (d.type != m->type || d.n_addrs != m->n_addrs || d.nonce != m->nonce ||
	    d.status != m->status || d.dial_status != m->dial_status ||
	    d.addr_idx != m->addr_idx || d.num_bytes != m->num_bytes ||
	    d.data_len != m->data_len)
		abort();
	for (size_t i = 0; i < d.n_addrs; i++)
		if (d.addrs[i].len != m->addrs[i].len ||
		    memcmp(d.addrs[i].data, m->addrs[i].data, d.addrs[i].len) != 0)
			abort();
	p2p_autonat2_msg_free(&d);
	p2p_buf_free(&b);
}

/* The server's request for data, paid by a probe and counted to the end:
 * the amount is reached exactly with the last chunk. */
static void pay_and_count(const p2p_autonat2_decision *d)
{
	p2p_buf addr = ma("/ip4/1.2.3.4/tcp/1"), req, out;
	p2p_buf_init(&req);
	p2p_buf_init(&out);
	p2p_buf addrs[P2P_AUTONAT2_PROBE_MAX_ADDRS];
	bool pay[P2P_AUTONAT2_PROBE_MAX_ADDRS];
	size_t n = d->addr_idx < P2P_AUTONAT2_PROBE_MAX_ADDRS ? d->addr_idx + 1 : 1;
	for (size_t i = 0; i < n; i++) {
		addrs[i] = addr;
		pay[i] = true;
	}
	p2p_autonat2_probe p;
	if (p2p_autonat2_probe_init(&p, addrs, pay, n, NONCE) != P2P_OK ||
	    p2p_autonat2_dial_data_request_encode(&req, (uint32_t)(n - 1),
	                                          d->num_bytes) != P2P_OK)
		abort();
	p2p_autonat2_msg m;
	decode_one(&req, &m);
	if (p2p_autonat2_probe_on_message(&p, &m, &out) != P2P_AUTONAT2_PROBE_WAIT)
		abort();
	uint64_t remain = d->num_bytes;
	size_t off = 0;
	int rc = P2P_EAGAIN;
	while (off < out.len) {
		const uint8_t *body;
		size_t len;
		if (rc != P2P_EAGAIN)
			abort(); /* more chunks than needed */
		next_body(&out, &off, &body, &len);
		p2p_autonat2_msg c;
		p2p_autonat2_msg_init(&c);
		if (p2p_autonat2_msg_decode(&c, body, len) != P2P_OK)
			abort();
		rc = p2p_autonat2_server_data(&remain, &c);
		p2p_autonat2_msg_free(&c);
	}
	if (rc != P2P_OK || remain != 0)
		abort();
	p2p_autonat2_probe_free(&p);
	p2p_buf_free(&out);
	p2p_buf_free(&req);
	p2p_buf_free(&addr);
}

static void check_server(const p2p_autonat2_msg *m, const char *observed,
                         bool allow_private, uint64_t rnd)
{
	p2p_autonat2_server_config cfg = {.allow_private = allow_private};
	p2p_autonat2_server s;
	p2p_peerid from;
	if (p2p_autonat2_server_init(&s, &cfg) != P2P_OK ||
	    p2p_peerid_from_bytes(&from, peer_a, sizeof(peer_a)) != P2P_OK ||
	    p2p_autonat2_server_accept(&s, &from, 0) != P2P_OK)
		abort();
	p2p_buf obs = ma(observed);
	p2p_autonat2_decision d;
	p2p_autonat2_decision_init(&d);
	if (p2p_autonat2_server_select(&s, m, &from, obs.data, obs.len, 0, rnd, &d) !=
	    P2P_OK)
		abort();
	if (d.status == P2P_AUTONAT2_OK) {
		p2p_multiaddr_component ip;
		uint16_t port;
		size_t prefix;
		if (d.why != NULL || d.addr_idx >= m->n_addrs ||
		    d.addr_idx >= P2P_AUTONAT2_MAX_ADDRS ||
		    p2p_multiaddr_tcp(d.addr.data, d.addr.len, &ip, &port, &prefix) !=
		        P2P_OK ||
		    prefix != d.addr.len || port == 0 ||
		    (!allow_private &&
		     !p2p_autonat_addr_is_public(d.addr.data, d.addr.len)) ||
		    memcmp(m->addrs[d.addr_idx].data, d.addr.data, d.addr.len) != 0)
			abort();
		if (d.num_bytes != 0 && (d.num_bytes < P2P_AUTONAT2_MIN_DIAL_DATA ||
		                         d.num_bytes >= P2P_AUTONAT2_MAX_DIAL_DATA))
			abort();
		if (d.num_bytes != 0)
			pay_and_count(&d);
	} else if (d.addr.len != 0 || d.why == NULL || d.num_bytes != 0 ||
	           (d.status != P2P_AUTONAT2_E_DIAL_REFUSED &&
	            d.status != P2P_AUTONAT2_E_REQUEST_REJECTED)) {
		abort();
	}
	p2p_buf out;
	p2p_buf_init(&out);
	if (p2p_autonat2_dial_response_encode(&out, d.status, d.addr_idx,
	                                      P2P_AUTONAT2_DIAL_E_DIAL_ERROR) != P2P_OK)
		abort();
	p2p_buf_free(&out);
	p2p_autonat2_server_done(&s, &from);
	p2p_autonat2_decision_free(&d);
	p2p_buf_free(&obs);
	p2p_autonat2_server_free(&s);
}

static void check_data(const p2p_autonat2_msg *m)
{
	static const uint64_t amounts[] = {0, 50, 4096, 30000};
	for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
		uint64_t remain = amounts[i];
		int rc = p2p_autonat2_server_data(&remain, m);
		if ((rc == P2P_OK && remain != 0) ||
		    (rc == P2P_EAGAIN && remain >= amounts[i]) ||
		    (rc != P2P_OK && rc != P2P_EAGAIN && rc != P2P_EPROTO))
			abort();
	}
}

/* One probe about /ip4/tcp, /ip6/tcp and /ip4/udp/quic-v1. */
static void check_probe(const p2p_autonat2_msg *m, bool pay_all, bool back_first)
{
	p2p_buf addrs[3] = {ma("/ip4/1.2.3.4/tcp/1"), ma("/ip6/2606:4700::1/tcp/1"),
	                    ma("/ip4/1.2.3.4/udp/1/quic-v1")};
	p2p_buf local = ma("/ip4/10.0.0.1/tcp/2"), out;
	p2p_buf_init(&out);
	const bool pay[3] = {pay_all, pay_all, pay_all};
	p2p_autonat2_probe p;
	if (p2p_autonat2_probe_init(&p, addrs, pay, 3, NONCE) != P2P_OK)
		abort();
	if (back_first &&
	    !p2p_autonat2_probe_on_dial_back(&p, NONCE, local.data, local.len))
		abort();
	int rc = p2p_autonat2_probe_on_message(&p, m, &out);
	if (rc != P2P_ENOMEM && rc != (int)p.state)
		abort();
	if (p.state == P2P_AUTONAT2_PROBE_WAIT) {
		/* Only a data request we pay for keeps the probe waiting. */
		if (m->type != P2P_AUTONAT2_DIAL_DATA_REQUEST || !pay_all ||
		    m->addr_idx >= 3 || m->num_bytes > P2P_AUTONAT2_MAX_DIAL_DATA)
			abort();
		uint64_t total = 0;
		size_t off = 0, n = 0;
		while (off < out.len) {
			const uint8_t *body;
			size_t len;
			next_body(&out, &off, &body, &len);
			p2p_autonat2_msg c;
			p2p_autonat2_msg_init(&c);
			if (p2p_autonat2_msg_decode(&c, body, len) != P2P_OK ||
			    c.type != P2P_AUTONAT2_DIAL_DATA_RESPONSE ||
			    (c.data_len != P2P_AUTONAT2_DATA_CHUNK && off != out.len))
				abort();
			total += c.data_len;
			n++;
		}
		if (total != m->num_bytes ||
		    n != (m->num_bytes + P2P_AUTONAT2_DATA_CHUNK - 1) /
		             P2P_AUTONAT2_DATA_CHUNK)
			abort();
		/* Once only. */
		if (p2p_autonat2_probe_on_message(&p, m, &out) !=
		    P2P_AUTONAT2_PROBE_FAILED)
			abort();
	} else if (out.len != 0) {
		abort();
	}
	if (p.state == P2P_AUTONAT2_PROBE_DIAL_BACK) {
		if (back_first ||
		    p2p_autonat2_probe_on_dial_back(&p, NONCE + 1, local.data,
		                                    local.len) ||
		    !p2p_autonat2_probe_on_dial_back(&p, NONCE, local.data, local.len))
			abort();
		/* The nonce came on an ip4/tcp connection. */
		if ((p.state == P2P_AUTONAT2_PROBE_DONE) != (p.addr_idx == 0))
			abort();
	}
	int idx;
	p2p_autonat2_reach r = p2p_autonat2_probe_result(&p, &idx);
	if (p.state != P2P_AUTONAT2_PROBE_DONE &&
	    (r != P2P_AUTONAT2_REACH_UNKNOWN || idx != -1))
		abort();
	if ((r == P2P_AUTONAT2_REACH_UNKNOWN) != (idx == -1) || idx >= 3)
		abort();
	if (r == P2P_AUTONAT2_REACH_PUBLIC && idx != 0)
		abort();
	p2p_autonat2_probe_give_up(&p, P2P_ETIMEDOUT);
	if (p.state != P2P_AUTONAT2_PROBE_DONE && p.state != P2P_AUTONAT2_PROBE_FAILED)
		abort();
	p2p_autonat2_probe_free(&p);
	p2p_buf_free(&out);
	p2p_buf_free(&local);
	for (int i = 0; i < 3; i++)
		p2p_buf_free(&addrs[i]);
}

static void check_dial_back(const uint8_t *data, size_t size)
{
	uint64_t nonce;
	if (p2p_autonat2_dial_back_decode(data, size, &nonce) == P2P_OK) {
		p2p_buf b;
		p2p_buf_init(&b);
		uint64_t again;
		size_t off = 0, len;
		const uint8_t *body;
		if (p2p_autonat2_dial_back_encode(&b, nonce) != P2P_OK)
			abort();
		next_body(&b, &off, &body, &len);
		if (p2p_autonat2_dial_back_decode(body, len, &again) != P2P_OK ||
		    again != nonce)
			abort();
		p2p_buf_free(&b);
	}
	int status;
	(void)p2p_autonat2_dial_back_response_decode(data, size, &status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_dial_back(data, size);
	p2p_autonat2_msg m;
	p2p_autonat2_msg_init(&m);
	if (p2p_autonat2_msg_decode(&m, data, size) == P2P_OK) {
		if (m.type == P2P_AUTONAT2_NONE || m.n_addrs > P2P_AUTONAT2_MAX_ADDRS ||
		    m.data_len > P2P_AUTONAT2_MAX_DATA_CHUNK)
			abort();
		check_reencode(&m);
		switch (m.type) {
		case P2P_AUTONAT2_DIAL_REQUEST:
			check_server(&m, "/ip4/1.2.3.4/tcp/4001", false, size);
			check_server(&m, "/ip6/2606:4700::1/tcp/4001", true, size * 7919);
			check_server(&m, "/ip4/1.2.3.4/tcp/4001/p2p-circuit", true,
			             m.nonce);
			break;
		case P2P_AUTONAT2_DIAL_DATA_RESPONSE:
			check_data(&m);
			break;
		default:
			for (int v = 0; v < 4; v++)
				check_probe(&m, v & 1, v & 2);
		}
	}
	p2p_autonat2_msg_free(&m);
	return 0;
}
