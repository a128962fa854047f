/* Multihash (multiformats/multihash): varint code, varint length, digest.
 * We make and read the identity and sha2-256 kinds. */
#ifndef P2P_MULTIHASH_H
#define P2P_MULTIHASH_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

#define P2P_MH_IDENTITY 0x00
#define P2P_MH_SHA2_256 0x12
#define P2P_MH_MAX_DIGEST 128 /* longest digest we accept when parsing */

/* Appends the multihash of data: identity copies it, sha2-256 hashes it. */
int p2p_multihash_encode(uint64_t code, const uint8_t *data, size_t len, p2p_buf *out);
/* Parses a multihash that must span exactly `len` bytes. The digest points
 * into `in`. P2P_EPROTO if malformed, P2P_ETOOBIG over P2P_MH_MAX_DIGEST.
 * Any hash code is accepted (certhash uses others); callers that need a
 * particular kind check *code (and the digest length) themselves. */
int p2p_multihash_parse(const uint8_t *in, size_t len, uint64_t *code,
			const uint8_t **digest, size_t *digest_len);

#endif
