#include "p2p/peer_record.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/envelope.h"
#include "p2p/error.h"
#include "proto/peer_record.pb-c.h"

int p2p_peer_record_seal(const p2p_privkey *key, uint64_t seq,
                         const uint8_t *const *addrs, const size_t *addr_lens,
                         size_t n_addrs, p2p_buf *out)
{
	if (n_addrs > P2P_PEER_RECORD_MAX_ADDRS)
		return P2P_ELIMIT;
	p2p_peerid id;
	int rc = p2p_peerid_from_pubkey(&id, p2p_privkey_public(key));
	if (rc != P2P_OK)
		return rc;

	Peer__Pb__PeerRecord__AddressInfo *infos = calloc(n_addrs + 1, sizeof(*infos));
	Peer__Pb__PeerRecord__AddressInfo **ptrs = calloc(n_addrs + 1, sizeof(*ptrs));
	p2p_buf payload;
	p2p_buf_init(&payload);
	if (infos == NULL || ptrs == NULL) {
		rc = P2P_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_addrs; i++) {
		if (addr_lens[i] == 0 || addr_lens[i] > P2P_PEER_RECORD_MAX_ADDR_LEN) {
			rc = P2P_EINVAL;
			goto out;
		}
		peer__pb__peer_record__address_info__init(&infos[i]);
		infos[i].multiaddr.data = (uint8_t *)addrs[i]; /* only read by pack */
		infos[i].multiaddr.len = addr_lens[i];
		ptrs[i] = &infos[i];
	}
	Peer__Pb__PeerRecord rec = PEER__PB__PEER_RECORD__INIT;
	rec.peer_id.data = id.bytes;
	rec.peer_id.len = id.len;
	rec.seq = seq;
	rec.n_addresses = n_addrs;
	rec.addresses = ptrs;

	rc = p2p_buf_reserve(&payload, peer__pb__peer_record__get_packed_size(&rec));
	if (rc != P2P_OK)
		goto out;
	payload.len = peer__pb__peer_record__pack(&rec, payload.data);
	rc = p2p_envelope_seal(key, P2P_PEER_RECORD_DOMAIN,
	                       (const uint8_t *)P2P_PEER_RECORD_TYPE,
	                       P2P_PEER_RECORD_TYPE_LEN, payload.data, payload.len, out);
out:
	free(infos);
	free(ptrs);
	p2p_buf_free(&payload);
	return rc;
}

void p2p_peer_record_free(p2p_peer_record *rec)
{
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->n_addrs; i++)
		p2p_buf_free(&rec->addrs[i]);
	free(rec->addrs);
	free(rec);
}

/* Copies the decoded record; the caller checks the peer ID. */
static int copy_record(p2p_peer_record *rec, const Peer__Pb__PeerRecord *msg)
{
	int rc =
	    p2p_peerid_from_bytes(&rec->peer_id, msg->peer_id.data, msg->peer_id.len);
	if (rc != P2P_OK)
		return P2P_EPROTO;
	rec->seq = msg->seq;
	if (msg->n_addresses > P2P_PEER_RECORD_MAX_ADDRS)
		return P2P_ELIMIT;
	if (msg->n_addresses == 0)
		return P2P_OK;
	rec->addrs = calloc(msg->n_addresses, sizeof(*rec->addrs));
	if (rec->addrs == NULL)
		return P2P_ENOMEM;
	for (size_t i = 0; i < msg->n_addresses; i++) {
		const ProtobufCBinaryData *ma = &msg->addresses[i]->multiaddr;
		/* Some implementations wrote empty addresses; they say nothing. */
		if (ma->len == 0)
			continue;
		if (ma->len > P2P_PEER_RECORD_MAX_ADDR_LEN)
			return P2P_EPROTO;
		p2p_buf *a = &rec->addrs[rec->n_addrs++];
		p2p_buf_init(a);
		rc = p2p_buf_append(a, ma->data, ma->len);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

int p2p_peer_record_open(p2p_peer_record **out, const uint8_t *env, size_t len,
                         const p2p_peerid *expected)
{
	p2p_envelope *e = NULL;
	int rc = p2p_envelope_open(&e, env, len, P2P_PEER_RECORD_DOMAIN);
	if (rc != P2P_OK)
		return rc;
	/* The signature is good; only now is the payload worth parsing. */
	if (e->payload_type.len != P2P_PEER_RECORD_TYPE_LEN ||
	    memcmp(e->payload_type.data, P2P_PEER_RECORD_TYPE,
	           P2P_PEER_RECORD_TYPE_LEN) != 0) {
		p2p_envelope_free(e);
		return P2P_EPROTO;
	}
	Peer__Pb__PeerRecord *msg =
	    peer__pb__peer_record__unpack(NULL, e->payload.len, e->payload.data);
	p2p_peer_record *rec = calloc(1, sizeof(*rec));
	if (msg == NULL)
		rc = P2P_EPROTO;
	else if (rec == NULL)
		rc = P2P_ENOMEM;
	else
		rc = copy_record(rec, msg);
	/* The signer must be the peer the record speaks for. */
	if (rc == P2P_OK)
		rc = p2p_peerid_matches(&rec->peer_id, e->key);
	if (rc == P2P_OK && expected != NULL &&
	    !p2p_peerid_equal(expected, &rec->peer_id))
		rc = P2P_EPEERID;

	if (msg != NULL)
		peer__pb__peer_record__free_unpacked(msg, NULL);
	p2p_envelope_free(e);
	if (rc != P2P_OK) {
		p2p_peer_record_free(rec);
		return rc;
	}
	*out = rec;
	return P2P_OK;
}
