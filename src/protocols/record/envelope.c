#include "p2p/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "proto/envelope.pb-c.h"

int p2p_envelope_signing_buffer(const char *domain, const uint8_t *type, size_t type_len,
                                const uint8_t *payload, size_t payload_len, p2p_buf *out)
{
	size_t domain_len = strlen(domain);
	if (domain_len > P2P_ENVELOPE_MAX_DOMAIN)
		return P2P_ETOOBIG;
	size_t start = out->len;
	int rc = p2p_buf_append_uvarint(out, domain_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, domain, domain_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, type_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, type, type_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, payload_len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, payload, payload_len);
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}

int p2p_envelope_seal(const p2p_privkey *key, const char *domain, const uint8_t *type,
                      size_t type_len, const uint8_t *payload, size_t payload_len,
                      p2p_buf *out)
{
	p2p_buf unsigned_buf, pubkey;
	p2p_buf_init(&unsigned_buf);
	p2p_buf_init(&pubkey);
	uint8_t sig[P2P_ED25519_SIGNATURE_LEN];

	int rc = p2p_envelope_signing_buffer(domain, type, type_len, payload, payload_len,
	                                     &unsigned_buf);
	if (rc == P2P_OK)
		rc = p2p_privkey_sign(key, unsigned_buf.data, unsigned_buf.len, sig);
	if (rc == P2P_OK)
		rc = p2p_pubkey_encode(p2p_privkey_public(key), &pubkey);
	if (rc != P2P_OK)
		goto out;

	/* protobuf-c wants non-const pointers; packing only reads them. */
	Record__Pb__Envelope msg = RECORD__PB__ENVELOPE__INIT;
	msg.public_key = (ProtobufCBinaryData){.len = pubkey.len, .data = pubkey.data};
	msg.payload_type =
	    (ProtobufCBinaryData){.len = type_len, .data = (uint8_t *)type};
	msg.payload =
	    (ProtobufCBinaryData){.len = payload_len, .data = (uint8_t *)payload};
	msg.signature = (ProtobufCBinaryData){.len = sizeof(sig), .data = sig};
	size_t size = record__pb__envelope__get_packed_size(&msg);
	if (size > P2P_ENVELOPE_MAX_SIZE) {
		rc = P2P_ETOOBIG;
		goto out;
	}
	rc = p2p_buf_reserve(out, size);
	if (rc != P2P_OK)
		goto out;
	out->len += record__pb__envelope__pack(&msg, out->data + out->len);
out:
	p2p_buf_free(&unsigned_buf);
	p2p_buf_free(&pubkey);
	return rc;
}

void p2p_envelope_free(p2p_envelope *env)
{
	if (env == NULL)
		return;
	p2p_pubkey_free(env->key);
	p2p_buf_free(&env->payload_type);
	p2p_buf_free(&env->payload);
	p2p_buf_free(&env->signature);
	free(env);
}

int p2p_envelope_open(p2p_envelope **out, const uint8_t *in, size_t len,
                      const char *domain)
{
	if (len > P2P_ENVELOPE_MAX_SIZE)
		return P2P_ETOOBIG;
	Record__Pb__Envelope *msg = record__pb__envelope__unpack(NULL, len, in);
	if (msg == NULL)
		return P2P_EPROTO;

	p2p_buf unsigned_buf;
	p2p_buf_init(&unsigned_buf);
	p2p_envelope *env = calloc(1, sizeof(*env));
	int rc = env == NULL ? P2P_ENOMEM : P2P_OK;
	if (rc == P2P_OK && (msg->public_key.len == 0 || msg->signature.len == 0))
		rc = P2P_EPROTO;
	if (rc == P2P_OK && msg->signature.len > P2P_SIGNATURE_MAX)
		rc = P2P_ETOOBIG;
	if (rc == P2P_OK)
		rc = p2p_pubkey_decode(&env->key, msg->public_key.data,
		                       msg->public_key.len);
	if (rc == P2P_OK)
		rc = p2p_envelope_signing_buffer(domain, msg->payload_type.data,
		                                 msg->payload_type.len, msg->payload.data,
		                                 msg->payload.len, &unsigned_buf);
	if (rc == P2P_OK)
		rc = p2p_pubkey_verify(env->key, unsigned_buf.data, unsigned_buf.len,
		                       msg->signature.data, msg->signature.len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(&env->payload_type, msg->payload_type.data,
		                    msg->payload_type.len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(&env->payload, msg->payload.data, msg->payload.len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(&env->signature, msg->signature.data,
		                    msg->signature.len);

	p2p_buf_free(&unsigned_buf);
	record__pb__envelope__free_unpacked(msg, NULL);
	if (rc != P2P_OK) {
		p2p_envelope_free(env);
		return rc;
	}
	*out = env;
	return P2P_OK;
}
