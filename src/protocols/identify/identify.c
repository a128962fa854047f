#include "p2p/identify.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/varint.h"
#include "proto/identify.pb-c.h"

void p2p_identify_init(p2p_identify *id)
{
	memset(id, 0, sizeof(*id));
	p2p_buf_init(&id->public_key);
	p2p_buf_init(&id->observed_addr);
	p2p_buf_init(&id->signed_peer_record);
}

void p2p_identify_free(p2p_identify *id)
{
	free(id->protocol_version);
	free(id->agent_version);
	p2p_buf_free(&id->public_key);
	for (size_t i = 0; i < id->n_listen_addrs; i++)
		p2p_buf_free(&id->listen_addrs[i]);
	free(id->listen_addrs);
	p2p_buf_free(&id->observed_addr);
	for (size_t i = 0; i < id->n_protocols; i++)
		free(id->protocols[i]);
	free(id->protocols);
	p2p_buf_free(&id->signed_peer_record);
	p2p_identify_init(id);
}

static int set_string(char **field, const char *s)
{
	size_t len = strlen(s);
	if (len > P2P_IDENTIFY_MAX_STRING)
		return P2P_ETOOBIG;
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return P2P_ENOMEM;
	memcpy(copy, s, len + 1);
	free(*field);
	*field = copy;
	return P2P_OK;
}

/* Replaces the contents of a bytes field. */
static int set_bytes(p2p_buf *field, const uint8_t *data, size_t len, size_t max)
{
	if (len > max)
		return P2P_ETOOBIG;
	p2p_buf tmp;
	p2p_buf_init(&tmp);
	int rc = p2p_buf_append(&tmp, data, len);
	if (rc != P2P_OK)
		return rc;
	p2p_buf_free(field);
	p2p_buf_move(field, &tmp);
	return P2P_OK;
}

int p2p_identify_set_protocol_version(p2p_identify *id, const char *s)
{
	return set_string(&id->protocol_version, s);
}

int p2p_identify_set_agent_version(p2p_identify *id, const char *s)
{
	return set_string(&id->agent_version, s);
}

int p2p_identify_set_public_key(p2p_identify *id, const uint8_t *pb, size_t len)
{
	return set_bytes(&id->public_key, pb, len, P2P_IDENTIFY_MAX_MESSAGE);
}

int p2p_identify_set_observed_addr(p2p_identify *id, const uint8_t *ma, size_t len)
{
	return set_bytes(&id->observed_addr, ma, len, P2P_IDENTIFY_MAX_ADDR_LEN);
}

int p2p_identify_set_signed_peer_record(p2p_identify *id, const uint8_t *env, size_t len)
{
	return set_bytes(&id->signed_peer_record, env, len, P2P_IDENTIFY_MAX_MESSAGE);
}

int p2p_identify_add_listen_addr(p2p_identify *id, const uint8_t *ma, size_t len)
{
	if (len > P2P_IDENTIFY_MAX_ADDR_LEN)
		return P2P_ETOOBIG;
	if (id->n_listen_addrs >= P2P_IDENTIFY_MAX_ADDRS)
		return P2P_ELIMIT;
	p2p_buf *addrs =
	    realloc(id->listen_addrs, (id->n_listen_addrs + 1) * sizeof(*addrs));
	if (addrs == NULL)
		return P2P_ENOMEM;
	id->listen_addrs = addrs;
	p2p_buf *a = &addrs[id->n_listen_addrs];
	p2p_buf_init(a);
	int rc = p2p_buf_append(a, ma, len);
	if (rc != P2P_OK)
		return rc;
	id->n_listen_addrs++;
	return P2P_OK;
}

int p2p_identify_add_protocol(p2p_identify *id, const char *protocol)
{
	if (id->n_protocols >= P2P_IDENTIFY_MAX_PROTOCOLS)
		return P2P_ELIMIT;
	char **protos = realloc(id->protocols, (id->n_protocols + 1) * sizeof(*protos));
	if (protos == NULL)
		return P2P_ENOMEM;
	id->protocols = protos;
	protos[id->n_protocols] = NULL;
	int rc = set_string(&protos[id->n_protocols], protocol);
	if (rc != P2P_OK)
		return rc;
	id->n_protocols++;
	return P2P_OK;
}

static ProtobufCBinaryData binary(const p2p_buf *b)
{
	return (ProtobufCBinaryData){.len = b->len, .data = b->data};
}

int p2p_identify_encode(const p2p_identify *id, p2p_buf *out)
{
	Identify__Pb__Identify msg = IDENTIFY__PB__IDENTIFY__INIT;
	ProtobufCBinaryData *addrs = NULL;
	if (id->n_listen_addrs > 0) {
		addrs = calloc(id->n_listen_addrs, sizeof(*addrs));
		if (addrs == NULL)
			return P2P_ENOMEM;
		for (size_t i = 0; i < id->n_listen_addrs; i++)
			addrs[i] = binary(&id->listen_addrs[i]);
	}
	/* protobuf-c's message struct is not const-correct; nothing is
	 * written through these pointers while packing. */
	msg.protocolversion = id->protocol_version;
	msg.agentversion = id->agent_version;
	msg.has_publickey = id->public_key.len > 0;
	msg.publickey = binary(&id->public_key);
	msg.n_listenaddrs = id->n_listen_addrs;
	msg.listenaddrs = addrs;
	msg.has_observedaddr = id->observed_addr.len > 0;
	msg.observedaddr = binary(&id->observed_addr);
	msg.n_protocols = id->n_protocols;
	msg.protocols = id->protocols;
	msg.has_signedpeerrecord = id->signed_peer_record.len > 0;
	msg.signedpeerrecord = binary(&id->signed_peer_record);

	int rc = P2P_OK;
	size_t size = identify__pb__identify__get_packed_size(&msg);
	if (size > P2P_IDENTIFY_MAX_SEND) {
		rc = P2P_ETOOBIG;
		goto out;
	}
	rc = p2p_buf_reserve(out, P2P_UVARINT_MAX_LEN + size);
	if (rc != P2P_OK)
		goto out;
	out->len += p2p_uvarint_encode(size, out->data + out->len);
	out->len += identify__pb__identify__pack(&msg, out->data + out->len);
out:
	free(addrs);
	return rc;
}

/* A single field from the wire replaces ours only when it is present. */
static int merge(p2p_identify *id, const Identify__Pb__Identify *msg)
{
	int rc = P2P_OK;
	if (msg->protocolversion != NULL)
		rc = p2p_identify_set_protocol_version(id, msg->protocolversion);
	if (rc == P2P_OK && msg->agentversion != NULL)
		rc = p2p_identify_set_agent_version(id, msg->agentversion);
	if (rc == P2P_OK && msg->has_publickey && msg->publickey.len > 0)
		rc = p2p_identify_set_public_key(id, msg->publickey.data,
		                                 msg->publickey.len);
	if (rc == P2P_OK && msg->has_observedaddr && msg->observedaddr.len > 0)
		rc = p2p_identify_set_observed_addr(id, msg->observedaddr.data,
		                                    msg->observedaddr.len);
	if (rc == P2P_OK && msg->has_signedpeerrecord && msg->signedpeerrecord.len > 0)
		rc = p2p_identify_set_signed_peer_record(id, msg->signedpeerrecord.data,
		                                         msg->signedpeerrecord.len);
	for (size_t i = 0; rc == P2P_OK && i < msg->n_listenaddrs; i++)
		rc = p2p_identify_add_listen_addr(id, msg->listenaddrs[i].data,
		                                  msg->listenaddrs[i].len);
	for (size_t i = 0; rc == P2P_OK && i < msg->n_protocols; i++)
		rc = p2p_identify_add_protocol(id, msg->protocols[i]);
	return rc;
}

int p2p_identify_decode(p2p_identify *id, const uint8_t *pb, size_t len)
{
	if (len > P2P_IDENTIFY_MAX_MESSAGE)
		return P2P_ETOOBIG;
	Identify__Pb__Identify *msg = identify__pb__identify__unpack(NULL, len, pb);
	if (msg == NULL)
		return P2P_EPROTO;
	int rc = merge(id, msg);
	identify__pb__identify__free_unpacked(msg, NULL);
	return rc;
}

void p2p_identify_reader_init(p2p_identify_reader *r)
{
	p2p_buf_init(&r->pending);
	r->parts = 0;
}

void p2p_identify_reader_free(p2p_identify_reader *r)
{
	p2p_buf_free(&r->pending);
	r->parts = 0;
}

/* Merges every complete message in r->pending. */
static int reader_process(p2p_identify_reader *r, p2p_identify *id)
{
	for (;;) {
		uint64_t size;
		int n = p2p_uvarint_decode(r->pending.data, r->pending.len, &size);
		if (n == P2P_EAGAIN)
			return P2P_OK;
		if (n < 0)
			return n;
		if (size > P2P_IDENTIFY_MAX_MESSAGE)
			return P2P_ETOOBIG;
		if (r->pending.len - (size_t)n < size)
			return P2P_OK;
		if (r->parts >= P2P_IDENTIFY_MAX_PARTS)
			return P2P_ELIMIT;
		int rc = p2p_identify_decode(id, r->pending.data + n, (size_t)size);
		if (rc != P2P_OK)
			return rc;
		r->parts++;
		p2p_buf_consume(&r->pending, (size_t)n + (size_t)size);
	}
}

int p2p_identify_reader_recv(p2p_identify_reader *r, p2p_identify *id, const uint8_t *in,
                             size_t len)
{
	/* Take the input in slices so that pending never holds more than one
	 * prefix and one largest message, however much arrives at once. */
	const size_t cap = P2P_UVARINT_MAX_LEN + P2P_IDENTIFY_MAX_MESSAGE;
	while (len > 0) {
		size_t take = cap - r->pending.len;
		if (take > len)
			take = len;
		int rc = p2p_buf_append(&r->pending, in, take);
		if (rc != P2P_OK)
			return rc;
		in += take;
		len -= take;
		rc = reader_process(r, id);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

int p2p_identify_reader_finish(const p2p_identify_reader *r)
{
	if (r->parts == 0 || r->pending.len != 0)
		return P2P_EPROTO;
	return P2P_OK;
}
