/* Multiaddr binary and text forms. Each protocol has a value kind that
 * decides its binary size, how its value is checked and how it is written
 * as text; everything else is a walk over the components. */
#include "p2p/multiaddr.h"

#include <arpa/inet.h>
#include <string.h>

#include "p2p/cid.h"
#include "p2p/error.h"
#include "p2p/multibase.h"
#include "p2p/multihash.h"
#include "p2p/varint.h"

enum value_kind {
	V_NONE,      /* no value */
	V_IP4,       /* 4 bytes, dotted quad */
	V_IP6,       /* 16 bytes, RFC 5952 text */
	V_PORT,      /* 2 bytes big-endian, decimal */
	V_BYTE,      /* 1 byte, decimal (ipcidr) */
	V_U64,       /* 8 bytes big-endian, decimal (memory) */
	V_NAME,      /* non-empty bytes without '/' or NUL, as is (dns, sni, zone) */
	V_PATH,      /* "/..." as is; must be the last component (unix) */
	V_PEER,      /* peer ID multihash; base58btc text */
	V_MULTIHASH, /* any multihash; multibase text, base64url when written */
	V_ESCAPED,   /* non-empty bytes, percent-encoded text (http-path) */
};

struct protocol {
	uint64_t code;
	const char *name;
	enum value_kind kind;
};

static const struct protocol PROTOCOLS[] = {
    {P2P_MA_IP4, "ip4", V_IP4},
    {P2P_MA_TCP, "tcp", V_PORT},
    {P2P_MA_DCCP, "dccp", V_PORT},
    {P2P_MA_IP6, "ip6", V_IP6},
    {P2P_MA_IP6ZONE, "ip6zone", V_NAME},
    {P2P_MA_IPCIDR, "ipcidr", V_BYTE},
    {P2P_MA_DNS, "dns", V_NAME},
    {P2P_MA_DNS4, "dns4", V_NAME},
    {P2P_MA_DNS6, "dns6", V_NAME},
    {P2P_MA_DNSADDR, "dnsaddr", V_NAME},
    {P2P_MA_SCTP, "sctp", V_PORT},
    {P2P_MA_UDP, "udp", V_PORT},
    {P2P_MA_P2P_WEBRTC_DIRECT, "p2p-webrtc-direct", V_NONE},
    {P2P_MA_WEBRTC_DIRECT, "webrtc-direct", V_NONE},
    {P2P_MA_WEBRTC, "webrtc", V_NONE},
    {P2P_MA_P2P_CIRCUIT, "p2p-circuit", V_NONE},
    {P2P_MA_UDT, "udt", V_NONE},
    {P2P_MA_UTP, "utp", V_NONE},
    {P2P_MA_UNIX, "unix", V_PATH},
    {P2P_MA_P2P, "p2p", V_PEER},
    {P2P_MA_HTTPS, "https", V_NONE},
    {P2P_MA_TLS, "tls", V_NONE},
    {P2P_MA_SNI, "sni", V_NAME},
    {P2P_MA_NOISE, "noise", V_NONE},
    {P2P_MA_QUIC, "quic", V_NONE},
    {P2P_MA_QUIC_V1, "quic-v1", V_NONE},
    {P2P_MA_WEBTRANSPORT, "webtransport", V_NONE},
    {P2P_MA_CERTHASH, "certhash", V_MULTIHASH},
    {P2P_MA_WS, "ws", V_NONE},
    {P2P_MA_WSS, "wss", V_NONE},
    {P2P_MA_HTTP, "http", V_NONE},
    {P2P_MA_HTTP_PATH, "http-path", V_ESCAPED},
    {P2P_MA_MEMORY, "memory", V_U64},
};
#define NPROTOCOLS (sizeof(PROTOCOLS) / sizeof(PROTOCOLS[0]))

/* Size of the value in bytes for fixed kinds, 0 for V_NONE, and
 * VAR_SIZE for kinds whose value is length-prefixed. */
#define VAR_SIZE ((size_t)-1)

static size_t kind_size(enum value_kind kind)
{
	switch (kind) {
	case V_NONE:
		return 0;
	case V_IP4:
		return 4;
	case V_IP6:
		return 16;
	case V_PORT:
		return 2;
	case V_BYTE:
		return 1;
	case V_U64:
		return 8;
	default:
		return VAR_SIZE;
	}
}

static const struct protocol *by_code(uint64_t code)
{
	for (size_t i = 0; i < NPROTOCOLS; i++)
		if (PROTOCOLS[i].code == code)
			return &PROTOCOLS[i];
	return NULL;
}

static const struct protocol *by_name(const char *name, size_t len)
{
	/* "ipfs" is the old name of "p2p"; we read it but never write it. */
	if (len == 4 && memcmp(name, "ipfs", 4) == 0)
		return by_code(P2P_MA_P2P);
	for (size_t i = 0; i < NPROTOCOLS; i++)
		if (strlen(PROTOCOLS[i].name) == len &&
		    memcmp(PROTOCOLS[i].name, name, len) == 0)
			return &PROTOCOLS[i];
	return NULL;
}

const char *p2p_multiaddr_protocol_name(uint64_t code)
{
	const struct protocol *p = by_code(code);
	return p ? p->name : NULL;
}

static int check_peer_id(const uint8_t *mh, size_t mh_len)
{
	uint64_t code;
	const uint8_t *digest;
	size_t dlen;
	int rc = p2p_multihash_parse(mh, mh_len, &code, &digest, &dlen);
	if (rc != P2P_OK)
		return rc;
	/* peer-ids.md: identity or sha2-256, and a sha2-256 digest is 32 bytes. */
	if (code == P2P_MH_SHA2_256 && dlen == 32)
		return P2P_OK;
	if (code == P2P_MH_IDENTITY)
		return P2P_OK;
	return P2P_EPROTO;
}

/* Checks a component value of a valid length for its kind. */
static int check_value(enum value_kind kind, const uint8_t *v, size_t len)
{
	uint64_t code;
	const uint8_t *digest;
	size_t dlen;
	switch (kind) {
	case V_NAME:
		/* '/' would split the text form, NUL would end it. */
		if (len == 0 || memchr(v, '/', len) || memchr(v, '\0', len))
			return P2P_EPROTO;
		return P2P_OK;
	case V_PATH:
		if (len < 2 || v[0] != '/' || v[len - 1] == '/' || memchr(v, '\0', len))
			return P2P_EPROTO;
		return P2P_OK;
	case V_PEER:
		return check_peer_id(v, len) == P2P_OK ? P2P_OK : P2P_EPROTO;
	case V_MULTIHASH:
		return p2p_multihash_parse(v, len, &code, &digest, &dlen) == P2P_OK
		           ? P2P_OK
		           : P2P_EPROTO;
	case V_ESCAPED:
		return len > 0 ? P2P_OK : P2P_EPROTO;
	default:
		return P2P_OK; /* fixed sizes: any bytes */
	}
}

int p2p_multiaddr_next(const uint8_t *bin, size_t len, size_t *offset,
                       p2p_multiaddr_component *c)
{
	size_t off = *offset;
	if (off >= len)
		return 0;
	uint64_t code;
	int n = p2p_uvarint_decode(bin + off, len - off, &code);
	if (n < 0)
		return P2P_EPROTO;
	off += (size_t)n;
	const struct protocol *p = by_code(code);
	if (p == NULL)
		return P2P_EUNSUPPORTED;
	size_t size = kind_size(p->kind);
	if (size == VAR_SIZE) {
		uint64_t vlen;
		n = p2p_uvarint_decode(bin + off, len - off, &vlen);
		if (n < 0)
			return P2P_EPROTO;
		off += (size_t)n;
		if (vlen > len - off)
			return P2P_EPROTO;
		size = (size_t)vlen;
	} else if (size > len - off) {
		return P2P_EPROTO;
	}
	int rc = check_value(p->kind, bin + off, size);
	if (rc != P2P_OK)
		return rc;
	c->code = code;
	c->value = bin + off;
	c->value_len = size;
	*offset = off + size;
	return 1;
}

int p2p_multiaddr_validate(const uint8_t *bin, size_t len)
{
	if (len == 0)
		return P2P_EPROTO;
	if (len > P2P_MULTIADDR_MAX_LEN)
		return P2P_ETOOBIG;
	size_t off = 0, count = 0;
	p2p_multiaddr_component c = {0};
	int rc;
	while ((rc = p2p_multiaddr_next(bin, len, &off, &c)) == 1) {
		if (++count > P2P_MULTIADDR_MAX_COMPONENTS)
			return P2P_ETOOBIG;
		/* A path swallows the rest of the text form, so nothing may
		 * follow it. */
		if (c.code == P2P_MA_UNIX && off != len)
			return P2P_EPROTO;
	}
	return rc;
}

int p2p_multiaddr_append(p2p_buf *bin, uint64_t code, const uint8_t *value,
                         size_t value_len)
{
	const struct protocol *p = by_code(code);
	if (p == NULL)
		return P2P_EUNSUPPORTED;
	size_t size = kind_size(p->kind);
	if (size != VAR_SIZE && value_len != size)
		return P2P_EINVAL;
	if (value_len > P2P_MULTIADDR_MAX_LEN)
		return P2P_ETOOBIG;
	int rc = check_value(p->kind, value, value_len);
	if (rc != P2P_OK)
		return P2P_EINVAL;
	size_t need = p2p_uvarint_size(code) + value_len;
	if (size == VAR_SIZE)
		need += p2p_uvarint_size(value_len);
	if (bin->len > P2P_MULTIADDR_MAX_LEN || need > P2P_MULTIADDR_MAX_LEN - bin->len)
		return P2P_ETOOBIG;
	rc = p2p_buf_reserve(bin, need);
	if (rc != P2P_OK)
		return rc;
	p2p_buf_append_uvarint(bin, code); /* cannot fail after the reserve */
	if (size == VAR_SIZE)
		p2p_buf_append_uvarint(bin, value_len);
	p2p_buf_append(bin, value, value_len);
	return P2P_OK;
}

/* ---- values to text ---- */

static int append_str(p2p_buf *out, const char *s)
{
	return p2p_buf_append(out, s, strlen(s));
}

static int append_decimal(p2p_buf *out, uint64_t v)
{
	char tmp[21];
	size_t n = sizeof(tmp);
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return p2p_buf_append(out, tmp + n, sizeof(tmp) - n);
}

static int is_unreserved(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	       ch == '~';
}

static int append_escaped(p2p_buf *out, const uint8_t *v, size_t len)
{
	static const char HEX[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		char tmp[3] = {'%', HEX[v[i] >> 4], HEX[v[i] & 15]};
		int rc = is_unreserved(v[i]) ? p2p_buf_append_byte(out, v[i])
		                             : p2p_buf_append(out, tmp, 3);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

static int value_to_text(enum value_kind kind, const uint8_t *v, size_t len, p2p_buf *out)
{
	char ip[INET6_ADDRSTRLEN];
	switch (kind) {
	case V_NONE:
		return P2P_OK;
	case V_IP4:
	case V_IP6:
		if (inet_ntop(kind == V_IP4 ? AF_INET : AF_INET6, v, ip, sizeof(ip)) ==
		    NULL)
			return P2P_EPROTO;
		return append_str(out, ip);
	case V_PORT:
		return append_decimal(out, (uint64_t)v[0] << 8 | v[1]);
	case V_BYTE:
		return append_decimal(out, v[0]);
	case V_U64: {
		uint64_t x = 0;
		for (size_t i = 0; i < 8; i++)
			x = x << 8 | v[i];
		return append_decimal(out, x);
	}
	case V_NAME:
	case V_PATH:
		return p2p_buf_append(out, v, len);
	case V_PEER:
		return p2p_base58btc_encode(v, len, out);
	case V_MULTIHASH:
		return p2p_multibase_encode(P2P_MULTIBASE_BASE64URL, v, len, out);
	case V_ESCAPED:
		return append_escaped(out, v, len);
	}
	return P2P_EINVAL;
}

int p2p_multiaddr_to_string(const uint8_t *bin, size_t len, p2p_buf *out_text)
{
	int rc = p2p_multiaddr_validate(bin, len);
	if (rc != P2P_OK)
		return rc;
	size_t start = out_text->len, off = 0;
	p2p_multiaddr_component c;
	while ((rc = p2p_multiaddr_next(bin, len, &off, &c)) == 1) {
		const struct protocol *p = by_code(c.code);
		rc = p2p_buf_append_byte(out_text, '/');
		if (rc == P2P_OK)
			rc = append_str(out_text, p->name);
		/* A path value starts with its own '/'. */
		if (rc == P2P_OK && p->kind != V_NONE && p->kind != V_PATH)
			rc = p2p_buf_append_byte(out_text, '/');
		if (rc == P2P_OK)
			rc = value_to_text(p->kind, c.value, c.value_len, out_text);
		if (rc != P2P_OK)
			break;
	}
	if (rc == P2P_OK)
		rc = p2p_buf_reserve(out_text, 1);
	if (rc != P2P_OK) {
		out_text->len = start;
		return rc;
	}
	out_text->data[out_text->len] = '\0';
	return P2P_OK;
}

/* ---- text to values ---- */

/* Decimal digits only, at most max. */
static int parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	if (len == 0)
		return P2P_EPROTO;
	uint64_t x = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return P2P_EPROTO;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (max - d) / 10)
			return P2P_EPROTO;
		x = x * 10 + d;
	}
	*v = x;
	return P2P_OK;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding as URL query unescaping does it ('+' is a space). */
static int unescape(const char *s, size_t len, p2p_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = (uint8_t)s[i];
		if (s[i] == '+') {
			ch = ' ';
		} else if (s[i] == '%') {
			if (len - i < 3)
				return P2P_EPROTO;
			int hi = hex_value(s[i + 1]);
			int lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return P2P_EPROTO;
			ch = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		int rc = p2p_buf_append_byte(out, ch);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

/* A /p2p/ value: bare base58btc multihash ("Qm...", "1...") or a
 * libp2p-key CIDv1 in multibase (peer-ids.md, "Decoding"). */
static int peer_from_text(const char *s, size_t len, p2p_buf *out)
{
	if ((len >= 2 && s[0] == 'Q' && s[1] == 'm') || (len >= 1 && s[0] == '1'))
		return p2p_base58btc_decode(s, len, out);
	p2p_buf cid;
	p2p_buf_init(&cid);
	int rc = p2p_cid_from_string(s, len, &cid);
	uint64_t codec;
	const uint8_t *mh;
	size_t mh_len;
	if (rc == P2P_OK)
		rc = p2p_cid_decode(cid.data, cid.len, &codec, &mh, &mh_len);
	if (rc == P2P_OK && codec != P2P_CODEC_LIBP2P_KEY)
		rc = P2P_EPROTO;
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, mh, mh_len);
	p2p_buf_free(&cid);
	return rc;
}

/* Appends the binary value of text s[0..len) to out (which starts empty). */
static int value_from_text(enum value_kind kind, const char *s, size_t len, p2p_buf *out)
{
	char tmp[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	uint64_t v;
	int rc;
	switch (kind) {
	case V_NONE:
		return P2P_OK;
	case V_IP4:
	case V_IP6:
		if (len >= sizeof(tmp))
			return P2P_EPROTO;
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (inet_pton(kind == V_IP4 ? AF_INET : AF_INET6, tmp, addr) != 1)
			return P2P_EPROTO;
		return p2p_buf_append(out, addr, kind == V_IP4 ? 4 : 16);
	case V_PORT:
	case V_BYTE:
		rc = parse_decimal(s, len, kind == V_PORT ? 65535 : 255, &v);
		if (rc != P2P_OK)
			return rc;
		if (kind == V_BYTE)
			return p2p_buf_append_byte(out, (uint8_t)v);
		addr[0] = (uint8_t)(v >> 8);
		addr[1] = (uint8_t)v;
		return p2p_buf_append(out, addr, 2);
	case V_U64:
		rc = parse_decimal(s, len, UINT64_MAX, &v);
		if (rc != P2P_OK)
			return rc;
		for (size_t i = 0; i < 8; i++)
			addr[i] = (uint8_t)(v >> (56 - 8 * i));
		return p2p_buf_append(out, addr, 8);
	case V_NAME:
	case V_PATH:
		return p2p_buf_append(out, s, len);
	case V_PEER:
		return peer_from_text(s, len, out);
	case V_MULTIHASH:
		return p2p_multibase_decode(s, len, out);
	case V_ESCAPED:
		return unescape(s, len, out);
	}
	return P2P_EINVAL;
}

int p2p_multiaddr_parse(const char *text, p2p_buf *out_bin)
{
	size_t len = strnlen(text, P2P_MULTIADDR_MAX_TEXT_LEN + 1);
	if (len > P2P_MULTIADDR_MAX_TEXT_LEN)
		return P2P_ETOOBIG;
	while (len > 0 && text[len - 1] == '/')
		len--;
	if (len == 0 || text[0] != '/')
		return P2P_EPROTO;

	/* Built apart so that the size limit counts this multiaddr only. */
	p2p_buf ma, value;
	p2p_buf_init(&ma);
	p2p_buf_init(&value);
	size_t pos = 0, count = 0;
	int rc = P2P_OK;
	while (rc == P2P_OK && pos < len) {
		/* text[pos] is the '/' before a protocol name. */
		const char *name = text + pos + 1;
		const char *slash = memchr(name, '/', len - pos - 1);
		size_t name_len = slash ? (size_t)(slash - name) : len - pos - 1;
		pos += 1 + name_len;
		const struct protocol *p = by_name(name, name_len);
		if (p == NULL) {
			rc = name_len == 0 ? P2P_EPROTO : P2P_EUNSUPPORTED;
			break;
		}
		if (++count > P2P_MULTIADDR_MAX_COMPONENTS) {
			rc = P2P_ETOOBIG;
			break;
		}
		p2p_buf_reset(&value);
		if (p->kind != V_NONE) {
			if (pos >= len) {
				rc = P2P_EPROTO; /* value missing */
				break;
			}
			size_t vstart = pos, vlen;
			if (p->kind == V_PATH) {
				vlen = len - pos; /* the rest, with its leading '/' */
			} else {
				vstart = pos + 1;
				const char *end =
				    memchr(text + vstart, '/', len - vstart);
				vlen =
				    end ? (size_t)(end - (text + vstart)) : len - vstart;
			}
			rc = value_from_text(p->kind, text + vstart, vlen, &value);
			pos = vstart + vlen;
		}
		if (rc == P2P_OK)
			rc = p2p_multiaddr_append(&ma, p->code, value.data, value.len);
		if (rc == P2P_EINVAL)
			rc = P2P_EPROTO; /* a bad value in the text */
	}
	if (rc == P2P_OK)
		rc = p2p_buf_append(out_bin, ma.data, ma.len);
	p2p_buf_free(&value);
	p2p_buf_free(&ma);
	return rc;
}

/* ---- sockets and peer IDs ---- */

int p2p_multiaddr_to_sockaddr(const uint8_t *bin, size_t len, struct sockaddr_storage *ss,
                              socklen_t *sslen)
{
	int rc = p2p_multiaddr_validate(bin, len);
	if (rc != P2P_OK)
		return rc;
	p2p_multiaddr_component ip, port, peer;
	size_t off = 0;
	p2p_multiaddr_next(bin, len, &off, &ip); /* valid and non-empty */
	if ((ip.code != P2P_MA_IP4 && ip.code != P2P_MA_IP6) ||
	    p2p_multiaddr_next(bin, len, &off, &port) != 1 || port.code != P2P_MA_TCP)
		return P2P_EUNSUPPORTED;
	if (p2p_multiaddr_next(bin, len, &off, &peer) == 1 &&
	    (peer.code != P2P_MA_P2P || off != len))
		return P2P_EUNSUPPORTED;

	memset(ss, 0, sizeof(*ss));
	uint16_t nport = htons((uint16_t)(port.value[0] << 8 | port.value[1]));
	if (ip.code == P2P_MA_IP4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = nport;
		memcpy(&sin->sin_addr, ip.value, 4);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = nport;
		memcpy(&sin6->sin6_addr, ip.value, 16);
		*sslen = sizeof(*sin6);
	}
	return P2P_OK;
}

int p2p_multiaddr_from_sockaddr(const struct sockaddr *sa, p2p_buf *out_bin)
{
	const uint8_t *addr;
	uint64_t code;
	uint16_t nport;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		addr = (const uint8_t *)&sin->sin_addr;
		code = P2P_MA_IP4;
		nport = sin->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		addr = (const uint8_t *)&sin6->sin6_addr;
		code = P2P_MA_IP6;
		nport = sin6->sin6_port;
		/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			addr += 12;
			code = P2P_MA_IP4;
		}
	} else {
		return P2P_EUNSUPPORTED;
	}
	uint16_t port = ntohs(nport);
	uint8_t pbytes[2] = {(uint8_t)(port >> 8), (uint8_t)port};
	size_t start = out_bin->len;
	int rc = p2p_multiaddr_append(out_bin, code, addr, code == P2P_MA_IP4 ? 4 : 16);
	if (rc == P2P_OK)
		rc = p2p_multiaddr_append(out_bin, P2P_MA_TCP, pbytes, 2);
	if (rc != P2P_OK)
		out_bin->len = start;
	return rc;
}

/* Offset of the last component's start, and that component. */
static int last_component(const uint8_t *bin, size_t len, size_t *last_off,
                          p2p_multiaddr_component *last)
{
	int rc = p2p_multiaddr_validate(bin, len);
	if (rc != P2P_OK)
		return rc;
	size_t off = 0, before = 0;
	while (p2p_multiaddr_next(bin, len, &off, last) == 1) {
		if (off == len)
			break;
		before = off;
	}
	*last_off = before;
	return P2P_OK;
}

int p2p_multiaddr_peer_id(const uint8_t *bin, size_t len, const uint8_t **mh,
                          size_t *mh_len)
{
	size_t last_off;
	p2p_multiaddr_component c = {0};
	int rc = last_component(bin, len, &last_off, &c);
	if (rc != P2P_OK)
		return rc;
	if (c.code != P2P_MA_P2P)
		return P2P_ENOTFOUND;
	*mh = c.value;
	*mh_len = c.value_len;
	return P2P_OK;
}

int p2p_multiaddr_without_peer_id(const uint8_t *bin, size_t len, size_t *prefix_len)
{
	size_t last_off;
	p2p_multiaddr_component c = {0};
	int rc = last_component(bin, len, &last_off, &c);
	if (rc != P2P_OK)
		return rc;
	*prefix_len = c.code == P2P_MA_P2P ? last_off : len;
	return P2P_OK;
}

int p2p_multiaddr_tcp(const uint8_t *bin, size_t len, p2p_multiaddr_component *ip,
                      uint16_t *port, size_t *prefix_len)
{
	size_t off = 0, prefix;
	p2p_multiaddr_component c[3] = {{0}};
	if (bin == NULL || p2p_multiaddr_next(bin, len, &off, &c[0]) != 1 ||
	    (c[0].code != P2P_MA_IP4 && c[0].code != P2P_MA_IP6) ||
	    p2p_multiaddr_next(bin, len, &off, &c[1]) != 1 || c[1].code != P2P_MA_TCP ||
	    c[1].value_len != 2)
		return P2P_EINVAL;
	prefix = off;
	int rc = p2p_multiaddr_next(bin, len, &off, &c[2]);
	if (rc == 1 && c[2].code == P2P_MA_P2P)
		rc = p2p_multiaddr_next(bin, len, &off, &c[2]);
	if (rc != 0)
		return P2P_EINVAL;
	if (ip)
		*ip = c[0];
	if (port)
		*port = (uint16_t)(c[1].value[0] << 8 | c[1].value[1]);
	if (prefix_len)
		*prefix_len = prefix;
	return P2P_OK;
}

int p2p_multiaddr_append_peer_id(p2p_buf *bin, const uint8_t *mh, size_t mh_len)
{
	return p2p_multiaddr_append(bin, P2P_MA_P2P, mh, mh_len);
}
