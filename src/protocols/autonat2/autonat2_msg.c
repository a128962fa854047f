/* AutoNAT v2 codec (autonat2.h) on protobuf-c: the dial-request stream's
 * Message and the dial-back stream's DialBack and DialBackResponse. Every
 * body is a stranger's: sizes are bounded before protobuf-c sees them, and
 * only what the readers need is copied out. */
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat2.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"
#include "proto/autonat_v2.pb-c.h"

/* The data of a DialDataResponse is only counted, never read: one block
 * of zeros (read-only) serves every chunk. */
static const uint8_t zeros[P2P_AUTONAT2_MAX_DATA_CHUNK];

void p2p_autonat2_msg_init(p2p_autonat2_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void p2p_autonat2_msg_free(p2p_autonat2_msg *m)
{
	for (size_t i = 0; i < m->n_addrs; i++)
		p2p_buf_free(&m->addrs[i]);
	free(m->addrs);
	p2p_autonat2_msg_init(m);
}

static bool status_known(int s)
{
	return s == P2P_AUTONAT2_E_INTERNAL_ERROR ||
	       s == P2P_AUTONAT2_E_REQUEST_REJECTED || s == P2P_AUTONAT2_E_DIAL_REFUSED ||
	       s == P2P_AUTONAT2_OK;
}

static bool dial_status_known(int s)
{
	return s == P2P_AUTONAT2_DIAL_UNUSED || s == P2P_AUTONAT2_DIAL_E_DIAL_ERROR ||
	       s == P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR || s == P2P_AUTONAT2_DIAL_OK;
}

/* ---- encode ---- */

/* Appends uvarint(size) and the packed message, which pack() writes into
 * room reserved first; out is unchanged on error. */
static int frame(p2p_buf *out, const ProtobufCMessage *msg, size_t max)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > max)
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
	out->len += protobuf_c_message_pack(msg, out->data + out->len);
	return P2P_OK;
}

static int pack(p2p_buf *out, const Autonatv2__Pb__Message *msg)
{
	return frame(out, &msg->base, P2P_AUTONAT2_MAX_MESSAGE);
}

int p2p_autonat2_dial_request_encode(p2p_buf *out, const p2p_buf *addrs, size_t n,
                                     uint64_t nonce)
{
	if (out == NULL || addrs == NULL || n == 0 || n > P2P_AUTONAT2_MAX_ADDRS)
		return P2P_EINVAL;
	ProtobufCBinaryData bins[P2P_AUTONAT2_MAX_ADDRS];
	for (size_t i = 0; i < n; i++) {
		if (p2p_multiaddr_validate(addrs[i].data, addrs[i].len) != P2P_OK)
			return P2P_EINVAL;
		bins[i].data = addrs[i].data;
		bins[i].len = addrs[i].len;
	}
	Autonatv2__Pb__DialRequest req = AUTONATV2__PB__DIAL_REQUEST__INIT;
	req.n_addrs = n;
	req.addrs = bins;
	req.nonce = nonce;
	Autonatv2__Pb__Message msg = AUTONATV2__PB__MESSAGE__INIT;
	msg.msg_case = AUTONATV2__PB__MESSAGE__MSG_DIAL_REQUEST;
	msg.dialrequest = &req;
	return pack(out, &msg);
}

int p2p_autonat2_dial_response_encode(p2p_buf *out, int status, uint32_t addr_idx,
                                      int dial_status)
{
	if (out == NULL || !status_known(status) || !dial_status_known(dial_status))
		return P2P_EINVAL;
	Autonatv2__Pb__DialResponse r = AUTONATV2__PB__DIAL_RESPONSE__INIT;
	r.status = (Autonatv2__Pb__DialResponse__ResponseStatus)status;
	r.addridx = addr_idx;
	r.dialstatus = (Autonatv2__Pb__DialStatus)dial_status;
	Autonatv2__Pb__Message msg = AUTONATV2__PB__MESSAGE__INIT;
	/* Written even when every field is a default (E_INTERNAL_ERROR): the
	 * oneof member is sent as an empty submessage, which is what says
	 * "a DialResponse". */
	msg.msg_case = AUTONATV2__PB__MESSAGE__MSG_DIAL_RESPONSE;
	msg.dialresponse = &r;
	return pack(out, &msg);
}

int p2p_autonat2_dial_data_request_encode(p2p_buf *out, uint32_t addr_idx,
                                          uint64_t num_bytes)
{
	if (out == NULL)
		return P2P_EINVAL;
	Autonatv2__Pb__DialDataRequest r = AUTONATV2__PB__DIAL_DATA_REQUEST__INIT;
	r.addridx = addr_idx;
	r.numbytes = num_bytes;
	Autonatv2__Pb__Message msg = AUTONATV2__PB__MESSAGE__INIT;
	msg.msg_case = AUTONATV2__PB__MESSAGE__MSG_DIAL_DATA_REQUEST;
	msg.dialdatarequest = &r;
	return pack(out, &msg);
}

int p2p_autonat2_dial_data_response_encode(p2p_buf *out, size_t len)
{
	if (out == NULL || len == 0 || len > P2P_AUTONAT2_MAX_DATA_CHUNK)
		return P2P_EINVAL;
	Autonatv2__Pb__DialDataResponse r = AUTONATV2__PB__DIAL_DATA_RESPONSE__INIT;
	/* protobuf-c only reads it. */
	r.data.data = (uint8_t *)zeros;
	r.data.len = len;
	Autonatv2__Pb__Message msg = AUTONATV2__PB__MESSAGE__INIT;
	msg.msg_case = AUTONATV2__PB__MESSAGE__MSG_DIAL_DATA_RESPONSE;
	msg.dialdataresponse = &r;
	return pack(out, &msg);
}

int p2p_autonat2_dial_back_encode(p2p_buf *out, uint64_t nonce)
{
	if (out == NULL)
		return P2P_EINVAL;
	Autonatv2__Pb__DialBack b = AUTONATV2__PB__DIAL_BACK__INIT;
	b.nonce = nonce;
	return frame(out, &b.base, P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE);
}

int p2p_autonat2_dial_back_response_encode(p2p_buf *out)
{
	if (out == NULL)
		return P2P_EINVAL;
	/* status OK is the default: the body is empty, the prefix a 0. */
	Autonatv2__Pb__DialBackResponse r = AUTONATV2__PB__DIAL_BACK_RESPONSE__INIT;
	r.status = AUTONATV2__PB__DIAL_BACK_RESPONSE__DIAL_BACK_STATUS__OK;
	return frame(out, &r.base, P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE);
}

/* ---- decode ---- */

/* Keeps the first P2P_AUTONAT2_MAX_ADDRS addresses as they came: the
 * server judges each, and an index in the answers refers to this list, so
 * none is dropped from the middle. */
static int copy_request(p2p_autonat2_msg *m, const Autonatv2__Pb__DialRequest *r)
{
	m->nonce = r->nonce;
	size_t n = r->n_addrs;
	if (n > P2P_AUTONAT2_MAX_ADDRS)
		n = P2P_AUTONAT2_MAX_ADDRS;
	if (n == 0)
		return P2P_OK;
	m->addrs = calloc(n, sizeof(*m->addrs));
	if (m->addrs == NULL)
		return P2P_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&m->addrs[i]);
		m->n_addrs++;
		if (r->addrs[i].len > 0) {
			int rc = p2p_buf_append(&m->addrs[i], r->addrs[i].data,
			                        r->addrs[i].len);
			if (rc != P2P_OK)
				return rc;
		}
	}
	return P2P_OK;
}

int p2p_autonat2_msg_decode(p2p_autonat2_msg *m, const uint8_t *body, size_t len)
{
	if (len > P2P_AUTONAT2_MAX_MESSAGE)
		return P2P_ETOOBIG;
	if (body == NULL && len > 0)
		return P2P_EINVAL;
	Autonatv2__Pb__Message *pb = autonatv2__pb__message__unpack(NULL, len, body);
	if (pb == NULL)
		return P2P_EPROTO;
	int rc = P2P_OK;
	switch (pb->msg_case) {
	case AUTONATV2__PB__MESSAGE__MSG_DIAL_REQUEST:
		m->type = P2P_AUTONAT2_DIAL_REQUEST;
		rc = copy_request(m, pb->dialrequest);
		break;
	case AUTONATV2__PB__MESSAGE__MSG_DIAL_RESPONSE:
		m->type = P2P_AUTONAT2_DIAL_RESPONSE;
		/* Open enums: kept as they came, for the reader to judge. */
		m->status = (int)pb->dialresponse->status;
		m->addr_idx = pb->dialresponse->addridx;
		m->dial_status = (int)pb->dialresponse->dialstatus;
		break;
	case AUTONATV2__PB__MESSAGE__MSG_DIAL_DATA_REQUEST:
		m->type = P2P_AUTONAT2_DIAL_DATA_REQUEST;
		m->addr_idx = pb->dialdatarequest->addridx;
		m->num_bytes = pb->dialdatarequest->numbytes;
		break;
	case AUTONATV2__PB__MESSAGE__MSG_DIAL_DATA_RESPONSE:
		m->type = P2P_AUTONAT2_DIAL_DATA_RESPONSE;
		m->data_len = pb->dialdataresponse->data.len;
		/* The spec's bound: a reader may use a small buffer. */
		if (m->data_len > P2P_AUTONAT2_MAX_DATA_CHUNK)
			rc = P2P_EPROTO;
		break;
	default:
		/* No member of the oneof: nothing was said. */
		m->type = P2P_AUTONAT2_NONE;
		rc = P2P_EPROTO;
	}
	autonatv2__pb__message__free_unpacked(pb, NULL);
	return rc;
}

int p2p_autonat2_dial_back_decode(const uint8_t *body, size_t len, uint64_t *nonce)
{
	if (len > P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE)
		return P2P_ETOOBIG;
	if ((body == NULL && len > 0) || nonce == NULL)
		return P2P_EINVAL;
	Autonatv2__Pb__DialBack *b = autonatv2__pb__dial_back__unpack(NULL, len, body);
	if (b == NULL)
		return P2P_EPROTO;
	/* A missing nonce is proto3's 0: no probe of ours will match it
	 * unless it drew 0, which it then did send. */
	*nonce = b->nonce;
	autonatv2__pb__dial_back__free_unpacked(b, NULL);
	return P2P_OK;
}

int p2p_autonat2_dial_back_response_decode(const uint8_t *body, size_t len, int *status)
{
	if (len > P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE)
		return P2P_ETOOBIG;
	if ((body == NULL && len > 0) || status == NULL)
		return P2P_EINVAL;
	Autonatv2__Pb__DialBackResponse *r =
	    autonatv2__pb__dial_back_response__unpack(NULL, len, body);
	if (r == NULL)
		return P2P_EPROTO;
	*status = (int)r->status;
	autonatv2__pb__dial_back_response__free_unpacked(r, NULL);
	return P2P_OK;
}
