/* DCUtR's HolePunch codec (protobuf-c, proto/holepunch.proto) and the
 * address filter both directions share: what we offer and what we accept
 * from a peer are the same kind of address, one a TCP punch can use. */
#include <stdlib.h>
#include <string.h>

#include "p2p/dcutr.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/varint.h"
#include "proto/holepunch.pb-c.h"

#define IP4_LEN  4
#define IP6_LEN  16
/* ::ffff:a.b.c.d: ten zero bytes, then 0xff 0xff, then the IPv4 address. */
#define IP6_MAPPED_PREFIX 10

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* The peer cannot reach "any address": 0.0.0.0, :: and ::ffff:0.0.0.0 are
 * what a host listening on every interface reports, never where it is. */
static bool ip_specified(const p2p_multiaddr_component *ip)
{
	if (ip->code == P2P_MA_IP4)
		return ip->value_len == IP4_LEN && !all_zero(ip->value, IP4_LEN);
	if (ip->code != P2P_MA_IP6 || ip->value_len != IP6_LEN)
		return false;
	if (all_zero(ip->value, IP6_LEN))
		return false;
	bool mapped = all_zero(ip->value, IP6_MAPPED_PREFIX) &&
	              ip->value[IP6_MAPPED_PREFIX] == 0xff &&
	              ip->value[IP6_MAPPED_PREFIX + 1] == 0xff;
	return !(mapped && all_zero(ip->value + IP6_MAPPED_PREFIX + 2, IP4_LEN));
}

/* True if ma is /ip4|ip6/X/tcp/N, optionally with a trailing /p2p/ID, with
 * a real IP and port; *keep is the length without the /p2p/ part. The
 * multiaddr module does the parsing, so this only looks at the shape. */
static bool punchable(const uint8_t *ma, size_t len, size_t *keep)
{
	if (ma == NULL || p2p_multiaddr_validate(ma, len) != P2P_OK)
		return false;
	p2p_multiaddr_component ip;
	uint16_t port;
	if (p2p_multiaddr_tcp(ma, len, &ip, &port, keep) != P2P_OK)
		return false;
	return ip_specified(&ip) && port != 0;
}

/* Adds ma to out[0..*count) if it is punchable, new, and there is room.
 * Only P2P_ENOMEM is an error: an address we cannot use is simply not
 * kept, as go-libp2p skips the ones it cannot parse. */
static int keep_addr(const uint8_t *ma, size_t len, p2p_buf *out, size_t *count,
                     size_t max)
{
	size_t keep;
	if (*count >= max || !punchable(ma, len, &keep))
		return P2P_OK;
	for (size_t i = 0; i < *count; i++)
		if (out[i].len == keep && memcmp(out[i].data, ma, keep) == 0)
			return P2P_OK;
	int rc = p2p_buf_append(&out[*count], ma, keep);
	if (rc != P2P_OK) {
		p2p_buf_free(&out[*count]);
		return rc;
	}
	(*count)++;
	return P2P_OK;
}

static void init_all(p2p_buf *out, size_t max)
{
	for (size_t i = 0; i < max; i++)
		p2p_buf_init(&out[i]);
}

size_t p2p_dcutr_filter_addrs(const p2p_buf *in, size_t n, p2p_buf *out, size_t max)
{
	size_t count = 0;
	if (out == NULL)
		return 0;
	init_all(out, max);
	for (size_t i = 0; i < n && in != NULL && count < max; i++)
		if (keep_addr(in[i].data, in[i].len, out, &count, max) != P2P_OK)
			break;
	return count;
}

int p2p_dcutr_msg_append(p2p_buf *out, uint32_t type, const p2p_buf *addrs, size_t n)
{
	if (out == NULL || (addrs == NULL && n > 0))
		return P2P_EINVAL;
	ProtobufCBinaryData *list = NULL;
	if (n > 0) {
		list = calloc(n, sizeof(*list));
		if (list == NULL)
			return P2P_ENOMEM;
		for (size_t i = 0; i < n; i++) {
			list[i].data = addrs[i].data;
			list[i].len = addrs[i].len;
		}
	}
	Holepunch__Pb__HolePunch m = HOLEPUNCH__PB__HOLE_PUNCH__INIT;
	m.has_type = 1;
	/* Any value goes out as given (tests send unknown types); protobuf-c
	 * writes an enum as its int32 varint. */
	m.type = (Holepunch__Pb__HolePunch__Type)type;
	m.n_obsaddrs = n;
	m.obsaddrs = list;

	int rc = P2P_OK;
	size_t size = protobuf_c_message_get_packed_size(&m.base);
	if (size > P2P_DCUTR_MAX_MESSAGE) {
		rc = P2P_ETOOBIG;
		goto out;
	}
	rc = p2p_buf_reserve(out, p2p_uvarint_size(size) + size);
	if (rc != P2P_OK)
		goto out;
	rc = p2p_buf_append_uvarint(out, size);
	if (rc != P2P_OK)
		goto out;
	out->len += protobuf_c_message_pack(&m.base, out->data + out->len);
out:
	free(list);
	return rc;
}

int p2p_dcutr_msg_decode(const uint8_t *body, size_t len, uint32_t *type, p2p_buf *addrs,
                         size_t max, size_t *n_addrs)
{
	*n_addrs = 0;
	*type = 0;
	init_all(addrs, max);
	if (len > P2P_DCUTR_MAX_MESSAGE)
		return P2P_ETOOBIG;
	Holepunch__Pb__HolePunch *m = holepunch__pb__hole_punch__unpack(NULL, len, body);
	if (m == NULL)
		return P2P_EPROTO;
	int rc = P2P_OK;
	/* protobuf-c keeps an enum's value even when the enum does not name
	 * it, so an unknown type arrives here and is refused like a missing
	 * one (go-libp2p's GetType gives 0 then, which is neither). */
	if (!m->has_type || ((uint32_t)m->type != P2P_DCUTR_TYPE_CONNECT &&
	                     (uint32_t)m->type != P2P_DCUTR_TYPE_SYNC)) {
		rc = P2P_EPROTO;
		goto out;
	}
	*type = (uint32_t)m->type;
	for (size_t i = 0; i < m->n_obsaddrs && *n_addrs < max; i++) {
		rc = keep_addr(m->obsaddrs[i].data, m->obsaddrs[i].len, addrs, n_addrs,
		               max);
		if (rc != P2P_OK)
			goto out;
	}
out:
	holepunch__pb__hole_punch__free_unpacked(m, NULL);
	return rc;
}
