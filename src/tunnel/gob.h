/* A strict, bounded reader for the one gob stream the tunnel meets: the
 * connection token of the original Go mtunnel, which is Go encoding/gob of
 *
 *     type ConnToken struct { Network string; ID peer.ID }
 *
 * where peer.ID is sent through its MarshalBinary (the raw multihash).
 *
 * A gob stream is a sequence of messages, each a gob uint byte count, a gob
 * int type id, then the content. A negative id defines the type -id (its
 * content is a wireType); a positive id is a value of that type. Structs are
 * sent as (field number delta, value) pairs ending with a zero delta, and
 * fields are matched by the names in the type definition, never by their
 * position in the bytes. This reader understands only what such a token
 * needs: struct types, GobEncoder/BinaryMarshaler types (sent as byte
 * slices) and the built-in scalars; anything else is refused. */
#ifndef TUNNEL_GOB_H
#define TUNNEL_GOB_H

#include <stddef.h>
#include <stdint.h>

#define TUNNEL_GOB_MAX_MESSAGES 16 /* messages in one stream */
#define TUNNEL_GOB_MAX_TYPES    8  /* type definitions in one stream */
#define TUNNEL_GOB_MAX_FIELDS   16 /* fields in one struct type */

/* The decoded ConnToken. Both fields point into the input given to
 * tunnel_gob_decode_conn_token and are only checked to be present. */
typedef struct tunnel_gob_conn_token {
	const uint8_t *network;
	size_t network_len;
	const uint8_t *id; /* the peer ID's multihash bytes */
	size_t id_len;
} tunnel_gob_conn_token;

/* Decodes a whole gob stream holding exactly one ConnToken value. Returns
 * P2P_OK, or P2P_EPROTO for malformed bytes, P2P_EUNSUPPORTED for a gob
 * stream that is not a ConnToken; *why (if not NULL) then gets a static
 * sentence saying what was wrong. */
int tunnel_gob_decode_conn_token(const uint8_t *in, size_t len,
                                 tunnel_gob_conn_token *out, const char **why);

#endif
