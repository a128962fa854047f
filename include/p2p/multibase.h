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
	/* Also read and written, for completeness with the multibase table. */
	P2P_MULTIBASE_BASE16 = 'f',
	P2P_MULTIBASE_BASE16UPPER = 'F',
	P2P_MULTIBASE_BASE32UPPER = 'B',
	P2P_MULTIBASE_BASE36 = 'k', /* IPNS keys, some peer ID CIDs */
	P2P_MULTIBASE_BASE36UPPER = 'K',
	P2P_MULTIBASE_BASE64PAD = 'M',
	P2P_MULTIBASE_BASE64URLPAD = 'U',
};

/* base58 and base36 cost quadratic time in the input length, so both
 * directions refuse inputs longer than this (bytes to encode, characters to
 * decode) with P2P_ETOOBIG. A peer ID or CID is under 100 characters. */
#define P2P_BASE58_MAX_LEN 1024

/* Bare codecs. Encoders append text (no NUL) to out. Decoders append bytes
 * to out and return P2P_EPROTO on a character outside the alphabet, an
 * impossible length or non-zero unused trailing bits. As the multibase spec
 * asks, base16, base32 and base36 decoding ignore letter case. On any error out is
 * left as it was. */
int p2p_base58btc_encode(const uint8_t *in, size_t len, p2p_buf *out);
int p2p_base58btc_decode(const char *in, size_t len, p2p_buf *out);
int p2p_base32_encode(const uint8_t *in, size_t len, p2p_buf *out);
int p2p_base32_decode(const char *in, size_t len, p2p_buf *out);
/* Upper-case base32 ('B'); base16 (hex) and base36 in lower or upper case
 * (decoders take either). */
int p2p_base32upper_encode(const uint8_t *in, size_t len, p2p_buf *out);
int p2p_base16_encode(const uint8_t *in, size_t len, int upper, p2p_buf *out);
int p2p_base16_decode(const char *in, size_t len, p2p_buf *out);
int p2p_base36_encode(const uint8_t *in, size_t len, int upper, p2p_buf *out);
int p2p_base36_decode(const char *in, size_t len, p2p_buf *out);
/* base64: url selects the URL-safe alphabet; encode pads with '=' when pad
 * is set. The decoder accepts both alphabets, with or without padding. */
int p2p_base64_encode(const uint8_t *in, size_t len, int url, int pad, p2p_buf *out);
int p2p_base64_decode(const char *in, size_t len, p2p_buf *out);

/* Prefixed: appends base's prefix character and the text. */
int p2p_multibase_encode(enum p2p_multibase base, const uint8_t *in, size_t len,
                         p2p_buf *out);
/* Reads the prefix and decodes; P2P_EUNSUPPORTED for another base. Each
 * prefix accepts exactly its own alphabet and padding rule ('m' and 'u'
 * without '=', 'M' and 'U' with it), unlike the lenient bare base64. */
int p2p_multibase_decode(const char *in, size_t len, p2p_buf *out);

#endif
