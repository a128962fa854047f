/* HopMessage / StopMessage codec (relay.h) on protobuf-c. The two messages
 * share Peer, Limit and Status; only HopMessage has a Reservation, so both
 * go through the same helpers and differ only in the outer struct. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"
#include "p2p/varint.h"
#include "proto/circuit.pb-c.h"

void p2p_relay_msg_init(p2p_relay_msg *m)
{
	memset(m, 0, sizeof(*m));
	p2p_buf_init(&m->voucher);
}

static void free_addrs(p2p_buf *addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
	free(addrs);
}

void p2p_relay_msg_free(p2p_relay_msg *m)
{
	free_addrs(m->peer_addrs, m->n_peer_addrs);
	free_addrs(m->rsvp_addrs, m->n_rsvp_addrs);
	p2p_buf_free(&m->voucher);
	p2p_relay_msg_init(m);
}

static int add_addr(p2p_buf **addrs, size_t *n, const uint8_t *ma, size_t len)
{
	if (*n >= P2P_RELAY_MAX_ADDRS)
		return P2P_ELIMIT;
	if (p2p_multiaddr_validate(ma, len) != P2P_OK)
		return P2P_EPROTO;
	p2p_buf *grown = realloc(*addrs, (*n + 1) * sizeof(**addrs));
	if (grown == NULL)
		return P2P_ENOMEM;
	*addrs = grown;
	p2p_buf_init(&grown[*n]);
	int rc = p2p_buf_append(&grown[*n], ma, len);
	if (rc != P2P_OK) {
		p2p_buf_free(&grown[*n]);
		return rc;
	}
	(*n)++;
	return P2P_OK;
}

int p2p_relay_msg_add_peer_addr(p2p_relay_msg *m, const uint8_t *ma, size_t len)
{
	int rc = add_addr(&m->peer_addrs, &m->n_peer_addrs, ma, len);
	if (rc == P2P_OK)
		m->has_peer = true;
	return rc;
}

int p2p_relay_msg_add_rsvp_addr(p2p_relay_msg *m, const uint8_t *ma, size_t len)
{
	int rc = add_addr(&m->rsvp_addrs, &m->n_rsvp_addrs, ma, len);
	if (rc == P2P_OK)
		m->has_reservation = true;
	return rc;
}

static bool status_known(int s)
{
	switch (s) {
	case P2P_RELAY_STATUS_OK:
	case P2P_RELAY_STATUS_RESERVATION_REFUSED:
	case P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED:
	case P2P_RELAY_STATUS_PERMISSION_DENIED:
	case P2P_RELAY_STATUS_CONNECTION_FAILED:
	case P2P_RELAY_STATUS_NO_RESERVATION:
	case P2P_RELAY_STATUS_MALFORMED_MESSAGE:
	case P2P_RELAY_STATUS_UNEXPECTED_MESSAGE:
		return true;
	}
	return false;
}

/* The per-type rules, shared by encode (P2P_EINVAL) and decode (P2P_EPROTO)
 * so we never send what we would refuse. */
static bool msg_valid(const p2p_relay_msg *m, p2p_relay_kind kind)
{
	if (m->status != 0 && !status_known(m->status))
		return false;
	if (kind == P2P_RELAY_HOP) {
		switch (m->type) {
		case P2P_RELAY_HOP_RESERVE:
			return true;
		case P2P_RELAY_HOP_CONNECT:
			return m->has_peer;
		case P2P_RELAY_HOP_STATUS:
			return m->status != 0;
		}
		return false;
	}
	if (m->has_reservation)
		return false;
	switch (m->type) {
	case P2P_RELAY_STOP_CONNECT:
		return m->has_peer;
	case P2P_RELAY_STOP_STATUS:
		return m->status != 0;
	}
	return false;
}

/* ---- encode ---- */

/* The protobuf-c view of m: pointers into m, only read by pack. */
typedef struct pb_view {
	Circuit__Pb__Peer peer;
	Circuit__Pb__Reservation rsvp;
	Circuit__Pb__Limit limit;
	ProtobufCBinaryData *peer_addrs;
	ProtobufCBinaryData *rsvp_addrs;
} pb_view;

static ProtobufCBinaryData *bin_list(const p2p_buf *addrs, size_t n)
{
	ProtobufCBinaryData *l = calloc(n + 1, sizeof(*l));
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		l[i].data = addrs[i].data;
		l[i].len = addrs[i].len;
	}
	return l;
}

static int view_init(pb_view *v, const p2p_relay_msg *m)
{
	memset(v, 0, sizeof(*v));
	circuit__pb__peer__init(&v->peer);
	circuit__pb__reservation__init(&v->rsvp);
	circuit__pb__limit__init(&v->limit);
	v->peer_addrs = bin_list(m->peer_addrs, m->n_peer_addrs);
	v->rsvp_addrs = bin_list(m->rsvp_addrs, m->n_rsvp_addrs);
	if (v->peer_addrs == NULL || v->rsvp_addrs == NULL)
		return P2P_ENOMEM;
	v->peer.id.data = (uint8_t *)m->peer_id.bytes;
	v->peer.id.len = m->peer_id.len;
	v->peer.n_addrs = m->n_peer_addrs;
	v->peer.addrs = v->peer_addrs;
	v->rsvp.has_expire = m->has_expire;
	v->rsvp.expire = m->expire;
	v->rsvp.n_addrs = m->n_rsvp_addrs;
	v->rsvp.addrs = v->rsvp_addrs;
	v->rsvp.has_voucher = m->voucher.len > 0;
	v->rsvp.voucher.data = m->voucher.data;
	v->rsvp.voucher.len = m->voucher.len;
	v->limit.has_duration = m->has_duration;
	v->limit.duration = m->duration;
	v->limit.has_data = m->has_data;
	v->limit.data = m->data;
	return P2P_OK;
}

static void view_free(pb_view *v)
{
	free(v->peer_addrs);
	free(v->rsvp_addrs);
}

int p2p_relay_msg_encode(const p2p_relay_msg *m, p2p_relay_kind kind, p2p_buf *out)
{
	if (!msg_valid(m, kind) || (m->has_peer && m->peer_id.len == 0))
		return P2P_EINVAL;
	pb_view v;
	int rc = view_init(&v, m);
	if (rc != P2P_OK)
		goto out;

	Circuit__Pb__HopMessage hop = CIRCUIT__PB__HOP_MESSAGE__INIT;
	Circuit__Pb__StopMessage stop = CIRCUIT__PB__STOP_MESSAGE__INIT;
	const ProtobufCMessage *pb;
	if (kind == P2P_RELAY_HOP) {
		hop.type = (Circuit__Pb__HopMessage__Type)m->type;
		hop.peer = m->has_peer ? &v.peer : NULL;
		hop.reservation = m->has_reservation ? &v.rsvp : NULL;
		hop.limit = m->has_limit ? &v.limit : NULL;
		hop.has_status = m->status != 0;
		hop.status = (Circuit__Pb__Status)m->status;
		pb = &hop.base;
	} else {
		stop.type = (Circuit__Pb__StopMessage__Type)m->type;
		stop.peer = m->has_peer ? &v.peer : NULL;
		stop.limit = m->has_limit ? &v.limit : NULL;
		stop.has_status = m->status != 0;
		stop.status = (Circuit__Pb__Status)m->status;
		pb = &stop.base;
	}
	size_t n = protobuf_c_message_get_packed_size(pb);
	if (n > P2P_RELAY_MAX_MESSAGE) {
		rc = P2P_ETOOBIG;
		goto out;
	}
	rc = p2p_buf_reserve(out, P2P_UVARINT_MAX_LEN + n);
	if (rc != P2P_OK)
		goto out;
	size_t start = out->len;
	rc = p2p_buf_append_uvarint(out, n);
	if (rc != P2P_OK) {
		out->len = start;
		goto out;
	}
	out->len += protobuf_c_message_pack(pb, out->data + out->len);
out:
	view_free(&v);
	return rc;
}

/* ---- decode ---- */

/* Copies the addresses that validate, dropping the others (see relay.h). */
static int copy_addrs(p2p_buf **addrs, size_t *n, const ProtobufCBinaryData *in,
                      size_t n_in)
{
	if (n_in > P2P_RELAY_MAX_ADDRS)
		return P2P_ELIMIT;
	for (size_t i = 0; i < n_in; i++) {
		int rc = add_addr(addrs, n, in[i].data, in[i].len);
		if (rc == P2P_EPROTO)
			continue;
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

static int copy_common(p2p_relay_msg *m, const Circuit__Pb__Peer *peer,
                       const Circuit__Pb__Limit *limit, protobuf_c_boolean has_status,
                       int status)
{
	if (peer != NULL) {
		m->has_peer = true;
		if (p2p_peerid_from_bytes(&m->peer_id, peer->id.data, peer->id.len) !=
		    P2P_OK)
			return P2P_EPROTO;
		int rc = copy_addrs(&m->peer_addrs, &m->n_peer_addrs, peer->addrs,
		                    peer->n_addrs);
		if (rc != P2P_OK)
			return rc;
	}
	if (limit != NULL) {
		m->has_limit = true;
		m->has_duration = limit->has_duration;
		m->duration = limit->duration;
		m->has_data = limit->has_data;
		m->data = limit->data;
	}
	if (has_status) {
		/* protobuf-c keeps unknown enum values; 0 is not a status. */
		if (!status_known(status))
			return P2P_EPROTO;
		m->status = status;
	}
	return P2P_OK;
}

static int copy_rsvp(p2p_relay_msg *m, const Circuit__Pb__Reservation *r)
{
	m->has_reservation = true;
	m->has_expire = r->has_expire;
	m->expire = r->expire;
	if (r->has_voucher && r->voucher.len > 0) {
		int rc = p2p_buf_append(&m->voucher, r->voucher.data, r->voucher.len);
		if (rc != P2P_OK)
			return rc;
	}
	return copy_addrs(&m->rsvp_addrs, &m->n_rsvp_addrs, r->addrs, r->n_addrs);
}

int p2p_relay_msg_decode(p2p_relay_msg *m, p2p_relay_kind kind, const uint8_t *body,
                         size_t len)
{
	if (len > P2P_RELAY_MAX_MESSAGE)
		return P2P_ETOOBIG;
	int rc;
	if (kind == P2P_RELAY_HOP) {
		Circuit__Pb__HopMessage *h =
		    circuit__pb__hop_message__unpack(NULL, len, body);
		if (h == NULL)
			return P2P_EPROTO;
		m->type = (int)h->type;
		rc = copy_common(m, h->peer, h->limit, h->has_status, (int)h->status);
		if (rc == P2P_OK && h->reservation != NULL)
			rc = copy_rsvp(m, h->reservation);
		circuit__pb__hop_message__free_unpacked(h, NULL);
	} else if (kind == P2P_RELAY_STOP) {
		Circuit__Pb__StopMessage *s =
		    circuit__pb__stop_message__unpack(NULL, len, body);
		if (s == NULL)
			return P2P_EPROTO;
		m->type = (int)s->type;
		rc = copy_common(m, s->peer, s->limit, s->has_status, (int)s->status);
		circuit__pb__stop_message__free_unpacked(s, NULL);
	} else {
		return P2P_EINVAL;
	}
	if (rc == P2P_OK && !msg_valid(m, kind))
		rc = P2P_EPROTO;
	return rc;
}
