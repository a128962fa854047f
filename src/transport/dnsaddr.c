/* The sans-I/O half of DNS multiaddrs (p2p/dns.h): finding the component
 * to resolve and building the addresses an answer stands for. Nothing here
 * touches the network; dns.c does the look-ups. */
#include <string.h>

#include "p2p/dns.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

#define DNSADDR_PREFIX     "dnsaddr="
#define DNSADDR_PREFIX_LEN (sizeof(DNSADDR_PREFIX) - 1)

static bool is_dns_code(uint64_t code)
{
	return code == P2P_MA_DNS || code == P2P_MA_DNS4 || code == P2P_MA_DNS6 ||
	       code == P2P_MA_DNSADDR;
}

/* The multiaddr already refuses '/' and NUL; c-ares would send anything
 * else, so refuse what no host name contains and a log line would mangle. */
static bool name_ok(const uint8_t *name, size_t len)
{
	if (len == 0 || len > P2P_DNS_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return true;
}

int p2p_dns_find(const uint8_t *addr, size_t len, p2p_dns_split *out)
{
	int rc = p2p_multiaddr_validate(addr, len);
	if (rc < 0)
		return rc;
	size_t off = 0;
	for (;;) {
		size_t start = off;
		p2p_multiaddr_component c;
		rc = p2p_multiaddr_next(addr, len, &off, &c);
		if (rc <= 0)
			return rc;
		if (!is_dns_code(c.code))
			continue;
		if (!name_ok(c.value, c.value_len))
			return P2P_EINVAL;
		*out = (p2p_dns_split){
		    .code = c.code,
		    .prefix_len = start,
		    .name = c.value,
		    .name_len = c.value_len,
		    .rest_off = off,
		};
		return 1;
	}
}

/* prefix + mid + rest, validated as a whole (the limits), into out. */
static int build(const uint8_t *prefix, size_t prefix_len, const uint8_t *mid,
                 size_t mid_len, const uint8_t *rest, size_t rest_len, p2p_buf *out)
{
	if (prefix_len + mid_len + rest_len > P2P_MULTIADDR_MAX_LEN)
		return P2P_ETOOBIG;
	size_t old = out->len;
	int rc = p2p_buf_reserve(out, prefix_len + mid_len + rest_len);
	if (rc < 0)
		return rc;
	p2p_buf_append(out, prefix, prefix_len);
	p2p_buf_append(out, mid, mid_len);
	p2p_buf_append(out, rest, rest_len);
	rc = p2p_multiaddr_validate(out->data + old, out->len - old);
	if (rc < 0)
		out->len = old;
	return rc;
}

int p2p_dns_expand_ip(const uint8_t *addr, size_t len, const p2p_dns_split *split,
                      const struct sockaddr *sa, p2p_buf *out)
{
	p2p_buf ip;
	p2p_buf_init(&ip);
	int rc;
	if (sa->sa_family == AF_INET)
		rc = p2p_multiaddr_append(
		    &ip, P2P_MA_IP4,
		    (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		rc = p2p_multiaddr_append(
		    &ip, P2P_MA_IP6,
		    (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		rc = P2P_EUNSUPPORTED;
	if (rc == P2P_OK)
		rc = build(addr, split->prefix_len, ip.data, ip.len,
		           addr + split->rest_off, len - split->rest_off, out);
	p2p_buf_free(&ip);
	return rc;
}

/* Offsets of the components of a valid multiaddr: at most
 * P2P_MULTIADDR_MAX_COMPONENTS, which validate enforces. */
static int component_offsets(const uint8_t *addr, size_t len,
                             size_t offs[P2P_MULTIADDR_MAX_COMPONENTS + 1])
{
	size_t off = 0, n = 0;
	p2p_multiaddr_component c;
	while (n < P2P_MULTIADDR_MAX_COMPONENTS) {
		offs[n] = off;
		if (p2p_multiaddr_next(addr, len, &off, &c) != 1)
			break;
		n++;
	}
	offs[n] = len;
	return (int)n;
}

bool p2p_multiaddr_has_suffix(const uint8_t *addr, size_t len, const uint8_t *suffix,
                              size_t suffix_len)
{
	if (suffix_len == 0)
		return true;
	if (suffix_len > len)
		return false;
	/* Byte equality is not enough: the suffix must start on a component
	 * boundary of addr. */
	size_t offs[P2P_MULTIADDR_MAX_COMPONENTS + 1];
	int n = component_offsets(addr, len, offs);
	for (int i = n - 1; i >= 0; i--) {
		if (len - offs[i] == suffix_len)
			return memcmp(addr + offs[i], suffix, suffix_len) == 0;
		if (len - offs[i] > suffix_len)
			break;
	}
	return false;
}

int p2p_dnsaddr_expand(const uint8_t *addr, size_t len, const p2p_dns_split *split,
                       const uint8_t *txt, size_t txt_len, p2p_buf *out)
{
	if (txt_len < DNSADDR_PREFIX_LEN ||
	    memcmp(txt, DNSADDR_PREFIX, DNSADDR_PREFIX_LEN) != 0)
		return P2P_ENOTFOUND;
	txt += DNSADDR_PREFIX_LEN;
	txt_len -= DNSADDR_PREFIX_LEN;
	if (txt_len > P2P_MULTIADDR_MAX_TEXT_LEN || memchr(txt, '\0', txt_len))
		return P2P_EPROTO;
	char text[P2P_MULTIADDR_MAX_TEXT_LEN + 1];
	memcpy(text, txt, txt_len);
	text[txt_len] = '\0';
	p2p_buf rec;
	p2p_buf_init(&rec);
	int rc = p2p_multiaddr_parse(text, &rec);
	if (rc == P2P_ENOMEM || rc == P2P_ETOOBIG)
		goto out;
	if (rc < 0) {
		rc = P2P_EPROTO;
		goto out;
	}
	if (!p2p_multiaddr_has_suffix(rec.data, rec.len, addr + split->rest_off,
	                              len - split->rest_off)) {
		rc = P2P_ENOTFOUND;
		goto out;
	}
	/* The record already ends with the suffix: it replaces everything
	 * from the /dnsaddr/ component on. */
	rc = build(addr, split->prefix_len, rec.data, rec.len, NULL, 0, out);
out:
	p2p_buf_free(&rec);
	return rc;
}
