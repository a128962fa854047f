#include "tunnel/token.h"

#include <string.h>

#include <openssl/rand.h>

#include "p2p/error.h"
#include "p2p/multibase.h"
#include "proto/tunnel.pb-c.h"
#include "tunnel/gob.h"

/* Leading bytes below this are token versions. A gob stream starts with
 * the byte count of a type definition: a user type id takes 2 bytes and the
 * smallest wireType 3 more, so a gob token never starts with a byte below 5
 * and the two kinds never collide. */
#define TOKEN_VERSION_BYTE_LIMIT 5

/* The largest version 2 token must fit the limit, or encode could fail for
 * a token that add_addr accepted. Per field: tag, length varint, bytes. */
_Static_assert(1 + 2 + (2 + P2P_PEERID_MAX_LEN) + (3 + TUNNEL_SECRET_LEN) +
                       TUNNEL_TOKEN_MAX_ADDRS * (3 + TUNNEL_TOKEN_MAX_ADDR_LEN) <=
                   TUNNEL_TOKEN_MAX_LEN,
               "token limits are inconsistent");

const char *tunnel_network_name(tunnel_network net)
{
	switch (net) {
	case TUNNEL_NETWORK_TCP:
		return "tcp";
	case TUNNEL_NETWORK_UDP:
		return "udp";
	default:
		return NULL;
	}
}

static int network_from_bytes(const uint8_t *name, size_t len, tunnel_network *out)
{
	if (len == 3 && memcmp(name, "tcp", 3) == 0) {
		*out = TUNNEL_NETWORK_TCP;
		return P2P_OK;
	}
	if (len == 3 && memcmp(name, "udp", 3) == 0) {
		*out = TUNNEL_NETWORK_UDP;
		return P2P_OK;
	}
	return P2P_EUNSUPPORTED;
}

int tunnel_network_parse(const char *name, tunnel_network *out)
{
	if (name == NULL)
		return P2P_EINVAL;
	return network_from_bytes((const uint8_t *)name, strlen(name), out);
}

int tunnel_token_init(tunnel_token *t, tunnel_network net, const p2p_peerid *peer)
{
	if (tunnel_network_name(net) == NULL || peer == NULL || peer->len == 0 ||
	    peer->len > P2P_PEERID_MAX_LEN)
		return P2P_EINVAL;
	memset(t, 0, sizeof(*t));
	t->version = TUNNEL_TOKEN_VERSION;
	t->network = net;
	t->peer = *peer;
	if (RAND_bytes(t->secret, TUNNEL_SECRET_LEN) != 1)
		return P2P_ECRYPTO;
	t->has_secret = true;
	return P2P_OK;
}

int tunnel_token_add_addr(tunnel_token *t, const uint8_t *addr, size_t len)
{
	if (len == 0)
		return P2P_EINVAL;
	if (len > TUNNEL_TOKEN_MAX_ADDR_LEN)
		return P2P_ETOOBIG;
	if (t->n_addrs == TUNNEL_TOKEN_MAX_ADDRS)
		return P2P_ELIMIT;
	tunnel_token_addr *a = &t->addrs[t->n_addrs++];
	memcpy(a->bytes, addr, len);
	a->len = len;
	return P2P_OK;
}

int tunnel_token_encode(const tunnel_token *t, p2p_buf *text_out)
{
	if (t->version != TUNNEL_TOKEN_VERSION || !t->has_secret ||
	    tunnel_network_name(t->network) == NULL || t->peer.len == 0 ||
	    t->peer.len > P2P_PEERID_MAX_LEN || t->n_addrs > TUNNEL_TOKEN_MAX_ADDRS)
		return P2P_EINVAL;

	ProtobufCBinaryData addrs[TUNNEL_TOKEN_MAX_ADDRS];
	for (size_t i = 0; i < t->n_addrs; i++) {
		if (t->addrs[i].len == 0 || t->addrs[i].len > TUNNEL_TOKEN_MAX_ADDR_LEN)
			return P2P_EINVAL;
		/* protobuf-c wants non-const pointers but only reads them. */
		addrs[i].data = (uint8_t *)t->addrs[i].bytes;
		addrs[i].len = t->addrs[i].len;
	}
	Mtunnel__Pb__Token pb = MTUNNEL__PB__TOKEN__INIT;
	pb.network = t->network == TUNNEL_NETWORK_TCP ? MTUNNEL__PB__NETWORK__TCP
	                                              : MTUNNEL__PB__NETWORK__UDP;
	pb.peer_id.data = (uint8_t *)t->peer.bytes;
	pb.peer_id.len = t->peer.len;
	pb.n_addrs = t->n_addrs;
	pb.addrs = addrs;
	pb.secret.data = (uint8_t *)t->secret;
	pb.secret.len = TUNNEL_SECRET_LEN;

	uint8_t raw[TUNNEL_TOKEN_MAX_LEN];
	size_t n = mtunnel__pb__token__get_packed_size(&pb);
	if (n > sizeof(raw) - 1)
		return P2P_ETOOBIG; /* ruled out by the _Static_assert above */
	raw[0] = TUNNEL_TOKEN_VERSION;
	mtunnel__pb__token__pack(&pb, raw + 1);
	return p2p_base64_encode(raw, n + 1, 0, 1, text_out);
}

static int fail(const char **why, int err, const char *sentence)
{
	if (why != NULL)
		*why = sentence;
	return err;
}

static int decode_v2(tunnel_token *t, const uint8_t *raw, size_t len, const char **why)
{
	Mtunnel__Pb__Token *pb = mtunnel__pb__token__unpack(NULL, len, raw);
	if (pb == NULL)
		return fail(why, P2P_EPROTO,
		            "the token is damaged (its content does not parse)");
	int rc = P2P_OK;
	if (pb->network == MTUNNEL__PB__NETWORK__TCP)
		t->network = TUNNEL_NETWORK_TCP;
	else if (pb->network == MTUNNEL__PB__NETWORK__UDP)
		t->network = TUNNEL_NETWORK_UDP;
	else
		rc = fail(why, P2P_EUNSUPPORTED,
		          "the token is for a network other than tcp or udp");

	if (rc == P2P_OK &&
	    p2p_peerid_from_bytes(&t->peer, pb->peer_id.data, pb->peer_id.len) != P2P_OK)
		rc = fail(why, P2P_EPROTO,
		          "the token's peer ID is missing or not a valid peer ID");
	if (rc == P2P_OK && pb->n_addrs > TUNNEL_TOKEN_MAX_ADDRS)
		rc = fail(why, P2P_ETOOBIG, "the token has more than 16 addresses");
	for (size_t i = 0; rc == P2P_OK && i < pb->n_addrs; i++) {
		if (pb->addrs[i].len == 0)
			rc = fail(why, P2P_EPROTO, "the token has an empty address");
		else if (pb->addrs[i].len > TUNNEL_TOKEN_MAX_ADDR_LEN)
			rc = fail(why, P2P_ETOOBIG,
			          "the token has an address over 200 bytes");
		else
			rc =
			    tunnel_token_add_addr(t, pb->addrs[i].data, pb->addrs[i].len);
	}
	if (rc == P2P_OK && pb->secret.len != TUNNEL_SECRET_LEN)
		rc = fail(why, P2P_EPROTO, "the token's secret is not 32 bytes long");
	if (rc == P2P_OK) {
		memcpy(t->secret, pb->secret.data, TUNNEL_SECRET_LEN);
		t->has_secret = true;
		t->version = TUNNEL_TOKEN_VERSION;
	}
	mtunnel__pb__token__free_unpacked(pb, NULL);
	return rc;
}

static int decode_gob(tunnel_token *t, const uint8_t *raw, size_t len, const char **why)
{
	tunnel_gob_conn_token gob;
	int rc = tunnel_gob_decode_conn_token(raw, len, &gob, why);
	if (rc != P2P_OK)
		return rc;
	if (network_from_bytes(gob.network, gob.network_len, &t->network) != P2P_OK)
		return fail(
		    why, P2P_EUNSUPPORTED,
		    "the original (gob) token is for a network other than tcp or udp");
	if (p2p_peerid_from_bytes(&t->peer, gob.id, gob.id_len) != P2P_OK)
		return fail(why, P2P_EPROTO,
		            "the original (gob) token's peer ID is not valid");
	t->version = TUNNEL_TOKEN_VERSION_GOB;
	return P2P_OK;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int tunnel_token_decode(tunnel_token *t, const char *text, size_t len, const char **why)
{
	memset(t, 0, sizeof(*t));
	while (len > 0 && is_space(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && is_space(text[len - 1]))
		len--;
	if (len == 0)
		return fail(why, P2P_EINVAL, "the token is empty");
	if (len > TUNNEL_TOKEN_MAX_TEXT)
		return fail(why, P2P_ETOOBIG,
		            "the token is too long (over 4 KiB decoded)");

	p2p_buf raw;
	p2p_buf_init(&raw);
	int rc = p2p_base64_decode(text, len, &raw);
	if (rc == P2P_ENOMEM)
		rc = fail(why, rc, "out of memory");
	else if (rc != P2P_OK)
		rc = fail(why, P2P_EPROTO, "the token is not valid base64");
	else if (raw.len > TUNNEL_TOKEN_MAX_LEN)
		rc = fail(why, P2P_ETOOBIG, "the token is too long (over 4 KiB decoded)");
	else if (raw.len == 0)
		rc = fail(why, P2P_EPROTO, "the token is empty");
	else if (raw.data[0] == TUNNEL_TOKEN_VERSION)
		rc = decode_v2(t, raw.data + 1, raw.len - 1, why);
	else if (raw.data[0] < TOKEN_VERSION_BYTE_LIMIT)
		rc = fail(
		    why, P2P_EUNSUPPORTED,
		    "the token has a version this program does not know (is it newer?)");
	else
		rc = decode_gob(t, raw.data, raw.len, why);
	p2p_buf_free(&raw);
	if (rc != P2P_OK)
		memset(t, 0, sizeof(*t));
	else if (why != NULL)
		*why = NULL;
	return rc;
}
