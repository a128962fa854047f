/* CIDv1 (multiformats/cid): 0x01, codec varint, multihash. Enough for peer
 * IDs in the libp2p-key codec and for DHT keys. */
#ifndef P2P_CID_H
#define P2P_CID_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

#define P2P_CODEC_RAW 0x55
#define P2P_CODEC_DAG_PB 0x70
#define P2P_CODEC_LIBP2P_KEY 0x72

/* Appends the binary CIDv1. */
int p2p_cid_encode(uint64_t codec, const uint8_t *multihash, size_t mh_len, p2p_buf *out);
/* Parses a binary CIDv1 spanning `len` bytes; the multihash points into in. */
int p2p_cid_decode(const uint8_t *in, size_t len, uint64_t *codec, const uint8_t **multihash,
		   size_t *mh_len);
/* Text form: multibase of the binary CID (base32 lower, 'b', by default). */
int p2p_cid_to_string(uint64_t codec, const uint8_t *multihash, size_t mh_len, p2p_buf *out);
/* Decodes a multibase CIDv1 string into binary (appended to out). */
int p2p_cid_from_string(const char *str, size_t len, p2p_buf *out);

#endif
