/* An AutoNAT message body from a stranger must never crash or leak. What
 * decodes must re-encode and decode to the same; a DIAL then goes through
 * the server's policy, whose answer must hold to its promises (only the
 * observed IP, bare TCP, bounded); a DIAL_RESPONSE goes to the client's
 * tracker, whose state must stay in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"

/* 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA, the requester. */
static const uint8_t peer_a[] = {
    0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x2f, 0xfa, 0x35, 0xa9, 0x9d, 0x3a, 0x3c,
    0xfb, 0xb1, 0x7b, 0xb7, 0xc1, 0xdc, 0x55, 0x61, 0xb1, 0x8a, 0x8d, 0xcc, 0xa4,
    0xdf, 0x38, 0xdc, 0x61, 0x3e, 0xa8, 0x59, 0xc3, 0x7e, 0xb1, 0x33, 0x6b,
};
/* /ip4/1.2.3.4/tcp/55555 and /ip6/2606:4700::1/tcp/55555 */
static const uint8_t obs4[] = {0x04, 0x01, 0x02, 0x03, 0x04, 0x06, 0xd9, 0x03};
static const uint8_t obs6[] = {0x29, 0x26, 0x06, 0x47, 0x00, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                               0x00, 0x00, 0x01, 0x06, 0xd9, 0x03};

static void check_reencode(const p2p_autonat_msg *m, size_t size)
{
	/* A bad peer ID is decoded (the server answers it) but never sent. */
	if (m->type == P2P_AUTONAT_DIAL && m->has_peer_id && !m->peer_id_valid)
		return;
	p2p_buf b;
	p2p_buf_init(&b);
	int rc = p2p_autonat_msg_encode(m, &b);
	/* Unknown fields and bad addresses are dropped, but a missing type or
	 * Dial is written out: at most 4 bytes more than the input. */
	if (rc == P2P_ETOOBIG && size + 4 > P2P_AUTONAT_MAX_MESSAGE) {
		p2p_buf_free(&b);
		return;
	}
	if (rc != P2P_OK)
		abort();
	uint64_t body_len;
	int skip = p2p_uvarint_decode(b.data, b.len, &body_len);
	p2p_autonat_msg d;
	p2p_autonat_msg_init(&d);
	if (skip <= 0 || body_len != b.len - (size_t)skip ||
	    p2p_autonat_msg_decode(&d, b.data + skip, b.len - (size_t)skip) != P2P_OK ||
	    d.type != m->type || d.has_peer != m->has_peer || d.n_addrs != m->n_addrs ||
	    d.status != m->status || d.addr.len != m->addr.len)
		abort();
	p2p_autonat_msg_free(&d);
	p2p_buf_free(&b);
}

static void check_server(const p2p_autonat_msg *m, const uint8_t *obs, size_t obs_len,
                         bool allow_private)
{
	p2p_autonat_server_config cfg = {.allow_private = allow_private};
	p2p_autonat_server s;
	if (p2p_autonat_server_init(&s, &cfg, 0) != P2P_OK)
		abort();
	p2p_peerid from;
	if (p2p_peerid_from_bytes(&from, peer_a, sizeof(peer_a)) != P2P_OK)
		abort();
	p2p_autonat_dialback d;
	p2p_autonat_dialback_init(&d);
	if (p2p_autonat_server_check(&s, m, &from, obs, obs_len, 0, &d) != P2P_OK)
		abort();
	if ((d.status == P2P_AUTONAT_OK) != (d.n_addrs > 0) ||
	    d.n_addrs > P2P_AUTONAT_SERVER_MAX_ADDRS)
		abort();
	/* obs ends in /tcp/<port>: its IP component is all but 3 bytes. */
	size_t ip_len = obs_len - 3;
	for (size_t i = 0; i < d.n_addrs; i++) {
		const p2p_buf *a = &d.addrs[i];
		if (a->len != obs_len || memcmp(a->data, obs, ip_len) != 0 ||
		    a->data[ip_len] != P2P_MA_TCP)
			abort();
		for (size_t j = 0; j < i; j++)
			if (memcmp(d.addrs[j].data, a->data, a->len) == 0)
				abort();
	}
	p2p_buf out;
	p2p_buf_init(&out);
	if (d.status != P2P_AUTONAT_OK &&
	    p2p_autonat_response_encode(&out, d.status, d.text, NULL, 0) != P2P_OK)
		abort();
	p2p_buf_free(&out);
	p2p_autonat_dialback_free(&d);
	p2p_autonat_server_free(&s);
}

static void check_client(const p2p_autonat_msg *m)
{
	p2p_autonat_client c;
	p2p_autonat_client_init(&c, 0);
	p2p_peerid server;
	if (p2p_peerid_from_bytes(&server, peer_a, sizeof(peer_a)) != P2P_OK)
		abort();
	for (int i = 0; i < 5; i++) {
		server.bytes[server.len - 1]++;
		uint64_t now = p2p_autonat_client_next_probe(&c, (uint64_t)i * 1000);
		if (p2p_autonat_client_begin_probe(&c, &server, now) != P2P_OK)
			abort();
		int rc = p2p_autonat_client_on_response(&c, m);
		if (rc < 0 && rc != P2P_ENOMEM)
			abort();
		int conf = p2p_autonat_client_confidence(&c);
		if (conf < 0 || conf > P2P_AUTONAT_MAX_CONFIDENCE)
			abort();
		p2p_autonat_reachability st = p2p_autonat_client_state(&c);
		if (st != P2P_AUTONAT_PUBLIC && p2p_autonat_client_addr(&c)->len != 0)
			abort();
	}
	p2p_autonat_client_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	if (p2p_autonat_msg_decode(&m, data, size) == P2P_OK) {
		if (m.n_addrs > P2P_AUTONAT_MAX_ADDRS)
			abort();
		check_reencode(&m, size);
		if (m.type == P2P_AUTONAT_DIAL) {
			check_server(&m, obs4, sizeof(obs4), false);
			check_server(&m, obs6, sizeof(obs6), true);
		} else {
			check_client(&m);
		}
	}
	p2p_autonat_msg_free(&m);
	return 0;
}
