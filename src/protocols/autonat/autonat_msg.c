/* AutoNAT v1 Message codec (autonat.h) on protobuf-c, and the IP ranges
 * both the server and the client judge addresses by. */
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"
#include "proto/autonat.pb-c.h"

void p2p_autonat_msg_init(p2p_autonat_msg *m)
{
	memset(m, 0, sizeof(*m));
	p2p_buf_init(&m->status_text);
	p2p_buf_init(&m->addr);
}

void p2p_autonat_msg_free(p2p_autonat_msg *m)
{
	for (size_t i = 0; i < m->n_addrs; i++)
		p2p_buf_free(&m->addrs[i]);
	free(m->addrs);
	p2p_buf_free(&m->status_text);
	p2p_buf_free(&m->addr);
	p2p_autonat_msg_init(m);
}

static bool status_known(int s)
{
	switch (s) {
	case P2P_AUTONAT_OK:
	case P2P_AUTONAT_E_DIAL_ERROR:
	case P2P_AUTONAT_E_DIAL_REFUSED:
	case P2P_AUTONAT_E_BAD_REQUEST:
	case P2P_AUTONAT_E_INTERNAL_ERROR:
		return true;
	}
	return false;
}

/* ---- encode ---- */

/* Packs msg behind its length prefix; out is unchanged on error. */
static int pack(const Autonat__Pb__Message *msg, p2p_buf *out)
{
	size_t n = autonat__pb__message__get_packed_size(msg);
	if (n > P2P_AUTONAT_MAX_MESSAGE)
		return P2P_ETOOBIG;
	int rc = p2p_buf_reserve(out, P2P_UVARINT_MAX_LEN + n);
	if (rc != P2P_OK)
		return rc;
	size_t start = out->len;
	rc = p2p_buf_append_uvarint(out, n);
	if (rc != P2P_OK) {
		out->len = start;
		return rc;
	}
	out->len += autonat__pb__message__pack(msg, out->data + out->len);
	return P2P_OK;
}

static int encode_dial(const p2p_autonat_msg *m, p2p_buf *out)
{
	if (m->n_addrs > P2P_AUTONAT_MAX_ADDRS || (m->has_peer_id && !m->peer_id_valid))
		return P2P_EINVAL;
	for (size_t i = 0; i < m->n_addrs; i++)
		if (p2p_multiaddr_validate(m->addrs[i].data, m->addrs[i].len) != P2P_OK)
			return P2P_EINVAL;
	/* One more than needed so that calloc(0) is never asked for. */
	ProtobufCBinaryData *addrs = calloc(m->n_addrs + 1, sizeof(*addrs));
	if (addrs == NULL)
		return P2P_ENOMEM;
	for (size_t i = 0; i < m->n_addrs; i++) {
		addrs[i].data = m->addrs[i].data;
		addrs[i].len = m->addrs[i].len;
	}
	Autonat__Pb__Message__PeerInfo peer = AUTONAT__PB__MESSAGE__PEER_INFO__INIT;
	peer.has_id = m->has_peer_id;
	peer.id.data = (uint8_t *)m->peer_id.bytes;
	peer.id.len = m->peer_id.len;
	peer.n_addrs = m->n_addrs;
	peer.addrs = addrs;
	Autonat__Pb__Message__Dial dial = AUTONAT__PB__MESSAGE__DIAL__INIT;
	dial.peer = m->has_peer ? &peer : NULL;
	Autonat__Pb__Message msg = AUTONAT__PB__MESSAGE__INIT;
	msg.has_type = 1;
	msg.type = AUTONAT__PB__MESSAGE__MESSAGE_TYPE__DIAL;
	msg.dial = &dial;
	int rc = pack(&msg, out);
	free(addrs);
	return rc;
}

static int encode_response(p2p_buf *out, int status, const char *text,
                           const uint8_t *addr, size_t addr_len)
{
	if (!status_known(status) ||
	    (addr_len > 0 && p2p_multiaddr_validate(addr, addr_len) != P2P_OK))
		return P2P_EINVAL;
	Autonat__Pb__Message__DialResponse r = AUTONAT__PB__MESSAGE__DIAL_RESPONSE__INIT;
	r.has_status = 1;
	r.status = (Autonat__Pb__Message__ResponseStatus)status;
	/* protobuf-c only reads the string. */
	r.statustext = (char *)text;
	r.has_addr = addr_len > 0;
	r.addr.data = (uint8_t *)addr;
	r.addr.len = addr_len;
	Autonat__Pb__Message msg = AUTONAT__PB__MESSAGE__INIT;
	msg.has_type = 1;
	msg.type = AUTONAT__PB__MESSAGE__MESSAGE_TYPE__DIAL_RESPONSE;
	msg.dialresponse = &r;
	return pack(&msg, out);
}

int p2p_autonat_msg_encode(const p2p_autonat_msg *m, p2p_buf *out)
{
	if (m->type == P2P_AUTONAT_DIAL)
		return encode_dial(m, out);
	if (m->type != P2P_AUTONAT_DIAL_RESPONSE)
		return P2P_EINVAL;
	if (m->status_text.len == 0)
		return encode_response(out, m->status, NULL, m->addr.data, m->addr.len);
	/* The buffer need not end in a NUL; protobuf-c wants a C string (which
	 * stops at a NUL a peer may have sent: all we could have meant). */
	char *text = malloc(m->status_text.len + 1);
	if (text == NULL)
		return P2P_ENOMEM;
	memcpy(text, m->status_text.data, m->status_text.len);
	text[m->status_text.len] = 0;
	int rc = encode_response(out, m->status, text, m->addr.data, m->addr.len);
	free(text);
	return rc;
}

int p2p_autonat_response_encode(p2p_buf *out, int status, const char *text,
                                const uint8_t *addr, size_t addr_len)
{
	if (addr == NULL && addr_len > 0)
		return P2P_EINVAL;
	return encode_response(out, status, text, addr, addr_len);
}

/* ---- decode ---- */

static int copy_addrs(p2p_autonat_msg *m, const ProtobufCBinaryData *in, size_t n_in)
{
	if (n_in > P2P_AUTONAT_MAX_ADDRS)
		return P2P_ELIMIT;
	if (n_in == 0)
		return P2P_OK;
	m->addrs = calloc(n_in, sizeof(*m->addrs));
	if (m->addrs == NULL)
		return P2P_ENOMEM;
	for (size_t i = 0; i < n_in; i++) {
		/* A transport we do not know is no reason to refuse the rest. */
		if (p2p_multiaddr_validate(in[i].data, in[i].len) != P2P_OK)
			continue;
		p2p_buf *b = &m->addrs[m->n_addrs];
		p2p_buf_init(b);
		int rc = p2p_buf_append(b, in[i].data, in[i].len);
		if (rc != P2P_OK)
			return rc;
		m->n_addrs++;
	}
	return P2P_OK;
}

static int copy_dial(p2p_autonat_msg *m, const Autonat__Pb__Message__Dial *dial)
{
	if (dial == NULL || dial->peer == NULL)
		return P2P_OK;
	const Autonat__Pb__Message__PeerInfo *peer = dial->peer;
	m->has_peer = true;
	if (peer->has_id) {
		m->has_peer_id = true;
		m->peer_id_valid = p2p_peerid_from_bytes(&m->peer_id, peer->id.data,
		                                         peer->id.len) == P2P_OK;
		if (!m->peer_id_valid)
			memset(&m->peer_id, 0, sizeof(m->peer_id));
	}
	return copy_addrs(m, peer->addrs, peer->n_addrs);
}

static int copy_response(p2p_autonat_msg *m, const Autonat__Pb__Message__DialResponse *r)
{
	/* go-libp2p would read a missing status as OK; a server that says
	 * nothing has confirmed nothing. */
	if (r == NULL || !r->has_status || !status_known((int)r->status))
		return P2P_EPROTO;
	m->status = (int)r->status;
	if (r->statustext != NULL) {
		int rc =
		    p2p_buf_append(&m->status_text, r->statustext, strlen(r->statustext));
		if (rc == P2P_OK)
			rc = p2p_buf_reserve(&m->status_text, 1);
		if (rc != P2P_OK)
			return rc;
		m->status_text.data[m->status_text.len] = 0;
	}
	if (r->has_addr && r->addr.len > 0 &&
	    p2p_multiaddr_validate(r->addr.data, r->addr.len) == P2P_OK)
		return p2p_buf_append(&m->addr, r->addr.data, r->addr.len);
	return P2P_OK;
}

int p2p_autonat_msg_decode(p2p_autonat_msg *m, const uint8_t *body, size_t len)
{
	if (len > P2P_AUTONAT_MAX_MESSAGE)
		return P2P_ETOOBIG;
	Autonat__Pb__Message *pb = autonat__pb__message__unpack(NULL, len, body);
	if (pb == NULL)
		return P2P_EPROTO;
	int rc;
	/* A missing type reads as its default, DIAL. */
	m->type = (int)pb->type;
	switch (m->type) {
	case P2P_AUTONAT_DIAL:
		rc = copy_dial(m, pb->dial);
		break;
	case P2P_AUTONAT_DIAL_RESPONSE:
		rc = copy_response(m, pb->dialresponse);
		break;
	default:
		rc = P2P_EPROTO;
	}
	autonat__pb__message__free_unpacked(pb, NULL);
	return rc;
}

/* ---- address ranges ---- */

typedef struct ip_range {
	uint8_t prefix[16];
	unsigned bits;
} ip_range;

/* go-multiaddr net/private.go: Private4 and Unroutable4. */
static const ip_range not_public4[] = {
    {{127}, 8},          {{10}, 8},           {{100, 64}, 10}, {{172, 16}, 12},
    {{192, 168}, 16},    {{169, 254}, 16},    {{0}, 8},        {{192, 0, 0}, 26},
    {{192, 0, 2}, 24},   {{192, 88, 99}, 24}, {{198, 18}, 15}, {{198, 51, 100}, 24},
    {{203, 0, 113}, 24}, {{224}, 4},          {{240}, 4},      {{255, 255, 255, 255}, 32},
};

/* IPv6: global unicast (2000::/3) minus documentation (2001:db8::/32), or
 * one of the NAT64 prefixes (RFC 6052, RFC 8215). */
static const ip_range global6 = {{0x20}, 3};
static const ip_range doc6 = {{0x20, 0x01, 0x0d, 0xb8}, 32};
static const ip_range nat64[] = {
    {{0x00, 0x64, 0xff, 0x9b}, 96},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48},
};

static bool in_range(const uint8_t *ip, const ip_range *r)
{
	unsigned full = r->bits / 8, rest = r->bits % 8;
	if (memcmp(ip, r->prefix, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (ip[full] & mask) == (r->prefix[full] & mask);
}

bool p2p_autonat_addr_is_public(const uint8_t *addr, size_t len)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	while (p2p_multiaddr_next(addr, len, &off, &c) == 1) {
		if (c.code == P2P_MA_IP4 && c.value_len == 4) {
			for (size_t i = 0;
			     i < sizeof(not_public4) / sizeof(not_public4[0]); i++)
				if (in_range(c.value, &not_public4[i]))
					return false;
			return true;
		}
		if (c.code == P2P_MA_IP6 && c.value_len == 16) {
			if (in_range(c.value, &global6) && !in_range(c.value, &doc6))
				return true;
			return in_range(c.value, &nat64[0]) ||
			       in_range(c.value, &nat64[1]);
		}
		/* go-multiaddr skips a zone and judges the IP after it. */
		if (c.code != P2P_MA_IP6ZONE)
			return false;
	}
	return false;
}
