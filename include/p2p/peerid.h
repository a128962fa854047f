/* Peer IDs (specs: peer-ids/peer-ids.md): the multihash of a protobuf
 * PublicKey, identity-hashed when the encoding is at most 42 bytes (so
 * Ed25519 IDs carry their key), SHA-256 otherwise. */
#ifndef P2P_PEERID_H
#define P2P_PEERID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/keys.h"

#define P2P_PEERID_MAX_LEN 64     /* multihash bytes */
#define P2P_PEERID_STR_MAX 128    /* text forms, with the NUL */
#define P2P_PEERID_INLINE_MAX 42  /* keys up to this size use the identity hash */

typedef struct p2p_peerid {
	uint8_t bytes[P2P_PEERID_MAX_LEN]; /* the multihash */
	size_t len;
} p2p_peerid;

int p2p_peerid_from_pubkey(p2p_peerid *id, const p2p_pubkey *key);
/* From the binary multihash; only identity and sha2-256 multihashes are
 * peer IDs. P2P_EPROTO otherwise. */
int p2p_peerid_from_bytes(p2p_peerid *id, const uint8_t *bytes, size_t len);
/* Parses the legacy base58btc form ("12D3Koo…", "Qm…") or a CIDv1 with the
 * libp2p-key codec in any multibase we support ("bafz…"). */
int p2p_peerid_from_string(p2p_peerid *id, const char *str);
/* Writes the base58btc form, NUL-terminated. */
int p2p_peerid_to_string(const p2p_peerid *id, char *out, size_t out_len);
/* Writes the CIDv1 (libp2p-key, base32 lower) form, NUL-terminated. */
int p2p_peerid_to_cid_string(const p2p_peerid *id, char *out, size_t out_len);
bool p2p_peerid_equal(const p2p_peerid *a, const p2p_peerid *b);
/* For identity-hashed IDs: the embedded public key. P2P_ENOTFOUND when the
 * ID is a SHA-256 hash (the key must come from elsewhere). */
int p2p_peerid_extract_pubkey(const p2p_peerid *id, p2p_pubkey **out);
/* P2P_OK if `key` is the key of `id`, else P2P_EPEERID. */
int p2p_peerid_matches(const p2p_peerid *id, const p2p_pubkey *key);

#endif
