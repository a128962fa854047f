/* Multibase text encodings (multiformats/multibase): base58btc ('z'),
 * base32 lower without padding ('b'), base64 standard ('m') and URL-safe
 * ('u'), both without padding. Plain (unprefixed) codecs are exposed too:
 * legacy peer IDs are bare base58btc and tokens are bare base64. */
#ifndef P2P_MULTIBASE_H
#define P2P_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

enum p2p_multibase {
	P2P_MULTIBASE_BASE58BTC = 'z',
	P2P_MULTIBASE_BASE32 = 'b',
	P2P_MULTIBASE_BASE64 = 'm',
	P2P_MULTIBASE_BASE64URL = 'u',
};

/* Bare codecs. Encoders append text (no NUL) to out. Decoders append bytes
 * to out and return P2P_EPROTO on a character outside the alphabet. */
int p2p_base58btc_encode(const uint8_t *in, size_t len, p2p_buf *out);
int p2p_base58btc_decode(const char *in, size_t len, p2p_buf *out);
int p2p_base32_encode(const uint8_t *in, size_t len, p2p_buf *out);
int p2p_base32_decode(const char *in, size_t len, p2p_buf *out);
/* base64: url selects the URL-safe alphabet; encode pads with '=' when pad
 * is set. The decoder accepts both alphabets, with or without padding. */
int p2p_base64_encode(const uint8_t *in, size_t len, int url, int pad, p2p_buf *out);
int p2p_base64_decode(const char *in, size_t len, p2p_buf *out);

/* Prefixed: appends base's prefix character and the text. */
int p2p_multibase_encode(enum p2p_multibase base, const uint8_t *in, size_t len,
			 p2p_buf *out);
/* Reads the prefix and decodes; P2P_EUNSUPPORTED for another base. */
int p2p_multibase_decode(const char *in, size_t len, p2p_buf *out);

#endif
