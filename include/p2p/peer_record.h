/* Peer records (specs: RFC/0003-routing-records.md): a peer's ID, a
 * sequence number and its listen addresses, sealed in a signed envelope
 * (envelope.h) by the peer itself, so the addresses can be passed on by
 * others without being forged. Identify carries one in signedPeerRecord.
 *
 * The RFC's draft domain and type were replaced in every implementation by
 * the ones below (go-libp2p core/peer/record.go, js-libp2p peer-record,
 * rust-libp2p): domain "libp2p-peer-record", payload type the multicodec
 * libp2p-peer-record (0x0301) written as the two bytes 0x03 0x01. */
#ifndef P2P_PEER_RECORD_H
#define P2P_PEER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/keys.h"
#include "p2p/peerid.h"

#define P2P_PEER_RECORD_DOMAIN       "libp2p-peer-record"
#define P2P_PEER_RECORD_TYPE         "\x03\x01"
#define P2P_PEER_RECORD_TYPE_LEN     2
#define P2P_PEER_RECORD_MAX_ADDRS    256  /* addresses kept from a record */
#define P2P_PEER_RECORD_MAX_ADDR_LEN 1024 /* one binary multiaddr */

/* A verified peer record. Owned by the caller; p2p_peer_record_free. */
typedef struct p2p_peer_record {
	p2p_peerid peer_id;
	uint64_t seq;
	p2p_buf *addrs; /* binary multiaddrs */
	size_t n_addrs;
} p2p_peer_record;

/* Builds the record of our own key (peer ID derived from it) with the
 * given sequence number and binary multiaddrs, seals it and appends the
 * encoded envelope to out. Use a seq that grows (e.g. unix time). */
int p2p_peer_record_seal(const p2p_privkey *key, uint64_t seq,
                         const uint8_t *const *addrs, const size_t *addr_lens,
                         size_t n_addrs, p2p_buf *out);

/* Opens an encoded envelope holding a peer record: checks the signature
 * (domain above), the payload type, and that the record's peer ID is the
 * envelope key's. If `expected` is not NULL the record must also be that
 * peer's (P2P_EPEERID otherwise). Sets *out only on success. */
int p2p_peer_record_open(p2p_peer_record **out, const uint8_t *env, size_t len,
                         const p2p_peerid *expected);
void p2p_peer_record_free(p2p_peer_record *rec);

#endif
