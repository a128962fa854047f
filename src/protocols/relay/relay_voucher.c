/* Reservation vouchers (relay.h): a ReservationVoucher payload in a signed
 * envelope, modelled on peer records (src/protocols/record/peer_record.c). */
#include <stdlib.h>
#include <string.h>

#include "p2p/envelope.h"
#include "p2p/error.h"
#include "p2p/relay.h"
#include "proto/voucher.pb-c.h"

int p2p_relay_voucher_seal(const p2p_privkey *relay_key, const p2p_peerid *peer,
                           uint64_t expiration, p2p_buf *out)
{
	if (relay_key == NULL || peer == NULL || peer->len == 0)
		return P2P_EINVAL;
	p2p_peerid relay;
	int rc = p2p_peerid_from_pubkey(&relay, p2p_privkey_public(relay_key));
	if (rc != P2P_OK)
		return rc;
	Circuit__Pb__ReservationVoucher v = CIRCUIT__PB__RESERVATION_VOUCHER__INIT;
	v.relay.data = relay.bytes;
	v.relay.len = relay.len;
	v.peer.data = (uint8_t *)peer->bytes; /* only read by pack */
	v.peer.len = peer->len;
	v.expiration = expiration;

	p2p_buf payload;
	p2p_buf_init(&payload);
	rc = p2p_buf_reserve(&payload,
	                     circuit__pb__reservation_voucher__get_packed_size(&v));
	if (rc == P2P_OK) {
		/* protobuf-c writes fields in field-number order: the spec's
		 * canonical form. */
		payload.len = circuit__pb__reservation_voucher__pack(&v, payload.data);
		rc = p2p_envelope_seal(relay_key, P2P_RELAY_VOUCHER_DOMAIN,
		                       (const uint8_t *)P2P_RELAY_VOUCHER_TYPE,
		                       P2P_RELAY_VOUCHER_TYPE_LEN, payload.data,
		                       payload.len, out);
	}
	p2p_buf_free(&payload);
	return rc;
}

/* Parses the payload; the caller checks who signed it. */
static int parse_payload(p2p_relay_voucher *v, const p2p_buf *payload)
{
	Circuit__Pb__ReservationVoucher *pb =
	    circuit__pb__reservation_voucher__unpack(NULL, payload->len, payload->data);
	if (pb == NULL)
		return P2P_EPROTO;
	int rc = p2p_peerid_from_bytes(&v->relay, pb->relay.data, pb->relay.len);
	if (rc == P2P_OK)
		rc = p2p_peerid_from_bytes(&v->peer, pb->peer.data, pb->peer.len);
	v->expiration = pb->expiration;
	circuit__pb__reservation_voucher__free_unpacked(pb, NULL);
	return rc == P2P_OK ? P2P_OK : P2P_EPROTO;
}

int p2p_relay_voucher_open(p2p_relay_voucher *out, const uint8_t *env, size_t len,
                           const p2p_peerid *expected_relay,
                           const p2p_peerid *expected_peer, uint64_t now)
{
	p2p_envelope *e = NULL;
	int rc = p2p_envelope_open(&e, env, len, P2P_RELAY_VOUCHER_DOMAIN);
	if (rc != P2P_OK)
		return rc;
	p2p_relay_voucher v;
	memset(&v, 0, sizeof(v));
	/* The signature is good; only now is the payload worth parsing. */
	if (e->payload_type.len != P2P_RELAY_VOUCHER_TYPE_LEN ||
	    memcmp(e->payload_type.data, P2P_RELAY_VOUCHER_TYPE,
	           P2P_RELAY_VOUCHER_TYPE_LEN) != 0)
		rc = P2P_EPROTO;
	if (rc == P2P_OK)
		rc = parse_payload(&v, &e->payload);
	/* A voucher speaks for the relay that signed it, and no other. */
	if (rc == P2P_OK)
		rc = p2p_peerid_matches(&v.relay, e->key);
	if (rc == P2P_OK && expected_relay != NULL &&
	    !p2p_peerid_equal(expected_relay, &v.relay))
		rc = P2P_EPEERID;
	if (rc == P2P_OK && expected_peer != NULL &&
	    !p2p_peerid_equal(expected_peer, &v.peer))
		rc = P2P_EPEERID;
	if (rc == P2P_OK && v.expiration <= now)
		rc = P2P_ETIMEDOUT;
	p2p_envelope_free(e);
	if (rc == P2P_OK)
		*out = v;
	return rc;
}
