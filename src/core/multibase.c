/* Multibase codecs. Decoders are strict about alphabet, length and zero
 * trailing bits (only letter case is free in base16/base32, per the spec),
 * and every function leaves `out` untouched when it fails. */
#include "p2p/multibase.h"

#include <string.h>

#include "p2p/error.h"

static const char B58_ALPHABET[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char B32_LOWER[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char B32_UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char B64_STD[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B16_LOWER[] = "0123456789abcdef";
static const char B16_UPPER[] = "0123456789ABCDEF";

/* Index of c in alphabet[0..n), or -1. Linear, but alphabets are tiny. */
static int alpha_index(const char *alphabet, size_t n, char c)
{
	if (c == '\0')
		return -1;
	const char *p = memchr(alphabet, c, n);
	return p ? (int)(p - alphabet) : -1;
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- base58btc and base36: big-number radix conversion ---- */

static const char B36_LOWER[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char B36_UPPER[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* Leading zero bytes become leading zero digits (alphabet[0]); the rest is
 * the number written in `radix`. Quadratic, hence P2P_BASE58_MAX_LEN. */
static int radix_encode(const char *alphabet, unsigned radix, const uint8_t *in,
                        size_t len, p2p_buf *out)
{
	if (radix < 16)
		return P2P_EINVAL;
	if (len > P2P_BASE58_MAX_LEN)
		return P2P_ETOOBIG;
	size_t zeros = 0;
	while (zeros < len && in[zeros] == 0)
		zeros++;
	/* Two digits per byte suffice for any radix >= 16. */
	uint8_t digits[2 * P2P_BASE58_MAX_LEN];
	size_t ndig = 0; /* digits[0..ndig) little-endian */
	for (size_t i = zeros; i < len; i++) {
		unsigned carry = in[i];
		for (size_t j = 0; j < ndig; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = (uint8_t)(carry % radix);
			carry /= radix;
		}
		while (carry > 0) {
			digits[ndig++] = (uint8_t)(carry % radix);
			carry /= radix;
		}
	}
	int rc = p2p_buf_reserve(out, zeros + ndig);
	if (rc != P2P_OK)
		return rc;
	for (size_t i = 0; i < zeros; i++)
		out->data[out->len++] = (uint8_t)alphabet[0];
	for (size_t j = ndig; j > 0; j--)
		out->data[out->len++] = (uint8_t)alphabet[digits[j - 1]];
	return P2P_OK;
}

/* fold_case: the alphabet is lower case and upper-case input is accepted. */
static int radix_decode(const char *alphabet, unsigned radix, int fold_case,
                        const char *in, size_t len, p2p_buf *out)
{
	if (len > P2P_BASE58_MAX_LEN)
		return P2P_ETOOBIG;
	size_t zeros = 0;
	while (zeros < len && in[zeros] == alphabet[0])
		zeros++;
	uint8_t bytes[P2P_BASE58_MAX_LEN]; /* under one byte per digit */
	size_t nbytes = 0;                 /* bytes[0..nbytes) little-endian */
	for (size_t i = zeros; i < len; i++) {
		int d = alpha_index(alphabet, radix, fold_case ? to_lower(in[i]) : in[i]);
		if (d < 0)
			return P2P_EPROTO;
		unsigned carry = (unsigned)d;
		for (size_t j = 0; j < nbytes; j++) {
			carry += (unsigned)bytes[j] * radix;
			bytes[j] = (uint8_t)(carry & 0xff);
			carry >>= 8;
		}
		while (carry > 0) {
			bytes[nbytes++] = (uint8_t)(carry & 0xff);
			carry >>= 8;
		}
	}
	if (zeros + nbytes == 0)
		return P2P_OK; /* out may have no storage yet */
	int rc = p2p_buf_reserve(out, zeros + nbytes);
	if (rc != P2P_OK)
		return rc;
	memset(out->data + out->len, 0, zeros);
	out->len += zeros;
	for (size_t j = nbytes; j > 0; j--)
		out->data[out->len++] = bytes[j - 1];
	return P2P_OK;
}

int p2p_base58btc_encode(const uint8_t *in, size_t len, p2p_buf *out)
{
	return radix_encode(B58_ALPHABET, 58, in, len, out);
}

int p2p_base58btc_decode(const char *in, size_t len, p2p_buf *out)
{
	return radix_decode(B58_ALPHABET, 58, 0, in, len, out);
}

int p2p_base36_encode(const uint8_t *in, size_t len, int upper, p2p_buf *out)
{
	return radix_encode(upper ? B36_UPPER : B36_LOWER, 36, in, len, out);
}

int p2p_base36_decode(const char *in, size_t len, p2p_buf *out)
{
	return radix_decode(B36_LOWER, 36, 1, in, len, out);
}

/* ---- base32 (RFC 4648 alphabet, no padding) ---- */

static int base32_encode(const char *alphabet, const uint8_t *in, size_t len,
                         p2p_buf *out)
{
	size_t n = (len * 8 + 4) / 5;
	int rc = p2p_buf_reserve(out, n);
	if (rc != P2P_OK)
		return rc;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out->data[out->len++] = (uint8_t)alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out->data[out->len++] = (uint8_t)alphabet[(acc << (5 - bits)) & 31];
	return P2P_OK;
}

int p2p_base32_decode(const char *in, size_t len, p2p_buf *out)
{
	/* 8 characters carry 5 bytes; a final group of 1, 3 or 6 characters
	 * cannot come from whole bytes. */
	size_t rem = len % 8;
	if (rem == 1 || rem == 3 || rem == 6)
		return P2P_EPROTO;
	size_t start = out->len;
	int rc = p2p_buf_reserve(out, len * 5 / 8);
	if (rc != P2P_OK)
		return rc;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int d = alpha_index(B32_LOWER, 32, to_lower(in[i]));
		if (d < 0) {
			out->len = start;
			return P2P_EPROTO;
		}
		acc = (acc << 5) | (uint32_t)d;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0) {
		out->len = start;
		return P2P_EPROTO;
	}
	return P2P_OK;
}

int p2p_base32_encode(const uint8_t *in, size_t len, p2p_buf *out)
{
	return base32_encode(B32_LOWER, in, len, out);
}

int p2p_base32upper_encode(const uint8_t *in, size_t len, p2p_buf *out)
{
	return base32_encode(B32_UPPER, in, len, out);
}

/* ---- base16 ---- */

int p2p_base16_encode(const uint8_t *in, size_t len, int upper, p2p_buf *out)
{
	const char *alphabet = upper ? B16_UPPER : B16_LOWER;
	if (len > SIZE_MAX / 2)
		return P2P_ENOMEM;
	int rc = p2p_buf_reserve(out, len * 2);
	if (rc != P2P_OK)
		return rc;
	for (size_t i = 0; i < len; i++) {
		out->data[out->len++] = (uint8_t)alphabet[in[i] >> 4];
		out->data[out->len++] = (uint8_t)alphabet[in[i] & 15];
	}
	return P2P_OK;
}

int p2p_base16_decode(const char *in, size_t len, p2p_buf *out)
{
	if (len % 2 != 0)
		return P2P_EPROTO;
	size_t start = out->len;
	int rc = p2p_buf_reserve(out, len / 2);
	if (rc != P2P_OK)
		return rc;
	for (size_t i = 0; i < len; i += 2) {
		int hi = alpha_index(B16_LOWER, 16, to_lower(in[i]));
		int lo = alpha_index(B16_LOWER, 16, to_lower(in[i + 1]));
		if (hi < 0 || lo < 0) {
			out->len = start;
			return P2P_EPROTO;
		}
		out->data[out->len++] = (uint8_t)(hi << 4 | lo);
	}
	return P2P_OK;
}

/* ---- base64 ---- */

int p2p_base64_encode(const uint8_t *in, size_t len, int url, int pad, p2p_buf *out)
{
	const char *alphabet = url ? B64_URL : B64_STD;
	if (len > SIZE_MAX / 2)
		return P2P_ENOMEM;
	int rc = p2p_buf_reserve(out, (len + 2) / 3 * 4);
	if (rc != P2P_OK)
		return rc;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out->data[out->len++] = (uint8_t)alphabet[v >> 18];
		out->data[out->len++] = (uint8_t)alphabet[(v >> 12) & 63];
		out->data[out->len++] = (uint8_t)alphabet[(v >> 6) & 63];
		out->data[out->len++] = (uint8_t)alphabet[v & 63];
	}
	size_t rest = len - i;
	if (rest == 0)
		return P2P_OK;
	uint32_t v = (uint32_t)in[i] << 16;
	if (rest == 2)
		v |= (uint32_t)in[i + 1] << 8;
	out->data[out->len++] = (uint8_t)alphabet[v >> 18];
	out->data[out->len++] = (uint8_t)alphabet[(v >> 12) & 63];
	if (rest == 2)
		out->data[out->len++] = (uint8_t)alphabet[(v >> 6) & 63];
	if (pad) {
		out->data[out->len++] = '=';
		if (rest == 1)
			out->data[out->len++] = '=';
	}
	return P2P_OK;
}

enum {
	B64_ALLOW_STD = 1,
	B64_ALLOW_URL = 2,
	B64_NEED_PAD = 4, /* padding required */
	B64_ALLOW_PAD = 8 /* padding accepted if present */
};

static int base64_value(char c, int flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if ((flags & B64_ALLOW_STD) && c == '+')
		return 62;
	if ((flags & B64_ALLOW_STD) && c == '/')
		return 63;
	if ((flags & B64_ALLOW_URL) && c == '-')
		return 62;
	if ((flags & B64_ALLOW_URL) && c == '_')
		return 63;
	return -1;
}

static int base64_decode(const char *in, size_t len, int flags, p2p_buf *out)
{
	size_t npad = 0;
	while (npad < 2 && npad < len && in[len - 1 - npad] == '=')
		npad++;
	if (npad > 0) {
		if (!(flags & (B64_NEED_PAD | B64_ALLOW_PAD)) || len % 4 != 0)
			return P2P_EPROTO;
	} else if ((flags & B64_NEED_PAD) && len % 4 != 0) {
		return P2P_EPROTO;
	}
	len -= npad;
	/* A final group of one character cannot come from whole bytes, and
	 * with padding the pad must complete exactly the last group. */
	if (len % 4 == 1 || (npad > 0 && (len % 4) + npad != 4))
		return P2P_EPROTO;
	size_t start = out->len;
	int rc = p2p_buf_reserve(out, len * 3 / 4);
	if (rc != P2P_OK)
		return rc;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int d = base64_value(in[i], flags);
		if (d < 0) {
			out->len = start;
			return P2P_EPROTO;
		}
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0) {
		out->len = start;
		return P2P_EPROTO;
	}
	return P2P_OK;
}

int p2p_base64_decode(const char *in, size_t len, p2p_buf *out)
{
	return base64_decode(in, len, B64_ALLOW_STD | B64_ALLOW_URL | B64_ALLOW_PAD, out);
}

/* ---- prefixed ---- */

int p2p_multibase_encode(enum p2p_multibase base, const uint8_t *in, size_t len,
                         p2p_buf *out)
{
	size_t start = out->len;
	int rc = p2p_buf_append_byte(out, (uint8_t)base);
	if (rc != P2P_OK)
		return rc;
	switch (base) {
	case P2P_MULTIBASE_BASE58BTC:
		rc = p2p_base58btc_encode(in, len, out);
		break;
	case P2P_MULTIBASE_BASE36:
	case P2P_MULTIBASE_BASE36UPPER:
		rc = p2p_base36_encode(in, len, base == P2P_MULTIBASE_BASE36UPPER, out);
		break;
	case P2P_MULTIBASE_BASE32:
		rc = p2p_base32_encode(in, len, out);
		break;
	case P2P_MULTIBASE_BASE32UPPER:
		rc = p2p_base32upper_encode(in, len, out);
		break;
	case P2P_MULTIBASE_BASE16:
	case P2P_MULTIBASE_BASE16UPPER:
		rc = p2p_base16_encode(in, len, base == P2P_MULTIBASE_BASE16UPPER, out);
		break;
	case P2P_MULTIBASE_BASE64:
	case P2P_MULTIBASE_BASE64URL:
	case P2P_MULTIBASE_BASE64PAD:
	case P2P_MULTIBASE_BASE64URLPAD:
		rc = p2p_base64_encode(
		    in, len,
		    base == P2P_MULTIBASE_BASE64URL || base == P2P_MULTIBASE_BASE64URLPAD,
		    base == P2P_MULTIBASE_BASE64PAD || base == P2P_MULTIBASE_BASE64URLPAD,
		    out);
		break;
	default:
		rc = P2P_EUNSUPPORTED;
		break;
	}
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}

int p2p_multibase_decode(const char *in, size_t len, p2p_buf *out)
{
	if (len == 0)
		return P2P_EPROTO;
	const char *body = in + 1;
	size_t n = len - 1;
	switch (in[0]) {
	case P2P_MULTIBASE_BASE58BTC:
		return p2p_base58btc_decode(body, n, out);
	case P2P_MULTIBASE_BASE36:
	case P2P_MULTIBASE_BASE36UPPER:
		return p2p_base36_decode(body, n, out);
	case P2P_MULTIBASE_BASE32:
	case P2P_MULTIBASE_BASE32UPPER:
		return p2p_base32_decode(body, n, out);
	case P2P_MULTIBASE_BASE16:
	case P2P_MULTIBASE_BASE16UPPER:
		return p2p_base16_decode(body, n, out);
	case P2P_MULTIBASE_BASE64:
		return base64_decode(body, n, B64_ALLOW_STD, out);
	case P2P_MULTIBASE_BASE64URL:
		return base64_decode(body, n, B64_ALLOW_URL, out);
	case P2P_MULTIBASE_BASE64PAD:
		return base64_decode(body, n, B64_ALLOW_STD | B64_NEED_PAD, out);
	case P2P_MULTIBASE_BASE64URLPAD:
		return base64_decode(body, n, B64_ALLOW_URL | B64_NEED_PAD, out);
	default:
		return P2P_EUNSUPPORTED;
	}
}
