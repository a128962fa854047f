/* The connection token a host prints and a client is given: everything a
 * client needs to reach the host's service, as one line of base64.
 *
 * Version 2 (ours): the byte 0x02, then a protobuf Token (proto/tunnel.proto)
 * holding the network, the host's peer ID, its dialable addresses (binary
 * multiaddrs) and a 32-byte random secret that the client must present on
 * every tunnel stream.
 *
 * Version 1 (the original Go mtunnel): Go encoding/gob of ConnToken
 * { Network string; ID peer.ID }. It is only read, never written, and has
 * no addresses and no secret.
 *
 * On input, base64 may use the standard or the URL-safe alphabet, with or
 * without padding, and surrounding whitespace is ignored. */
#ifndef TUNNEL_TOKEN_H
#define TUNNEL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/peerid.h"

#define TUNNEL_TOKEN_VERSION_GOB 1 /* the original Go mtunnel token */
#define TUNNEL_TOKEN_VERSION     2 /* the token we write */

#define TUNNEL_SECRET_LEN         32   /* bytes of the token secret */
#define TUNNEL_TOKEN_MAX_ADDRS    16   /* addresses in one token */
#define TUNNEL_TOKEN_MAX_ADDR_LEN 200  /* bytes of one binary multiaddr */
#define TUNNEL_TOKEN_MAX_LEN      4096 /* bytes of a decoded token */
/* Characters of a token's text, whitespace excluded: base64 with padding of
 * TUNNEL_TOKEN_MAX_LEN bytes. */
#define TUNNEL_TOKEN_MAX_TEXT (4 * ((TUNNEL_TOKEN_MAX_LEN + 2) / 3))

typedef enum tunnel_network {
	TUNNEL_NETWORK_NONE = 0,
	TUNNEL_NETWORK_TCP = 1,
	TUNNEL_NETWORK_UDP = 2,
} tunnel_network;

typedef struct tunnel_token_addr {
	uint8_t
	    bytes[TUNNEL_TOKEN_MAX_ADDR_LEN]; /* binary multiaddr, not validated here */
	size_t len;
} tunnel_token_addr;

/* A plain value: no pointers, nothing to free. */
typedef struct tunnel_token {
	int version; /* TUNNEL_TOKEN_VERSION or TUNNEL_TOKEN_VERSION_GOB */
	tunnel_network network;
	p2p_peerid peer;
	size_t n_addrs;
	tunnel_token_addr addrs[TUNNEL_TOKEN_MAX_ADDRS];
	bool has_secret; /* always true for version 2 */
	uint8_t secret[TUNNEL_SECRET_LEN];
} tunnel_token;

/* "tcp" / "udp", or NULL for anything else. */
const char *tunnel_network_name(tunnel_network net);
/* Parses "tcp" or "udp" (lower case, as the -network flag takes them). */
int tunnel_network_parse(const char *name, tunnel_network *out);

/* Starts a version 2 token for `peer` with a fresh random secret (OpenSSL's
 * RAND_bytes) and no addresses. P2P_ECRYPTO if no randomness was to be had. */
int tunnel_token_init(tunnel_token *t, tunnel_network net, const p2p_peerid *peer);
/* Adds a binary multiaddr. P2P_ELIMIT when the token has
 * TUNNEL_TOKEN_MAX_ADDRS already, P2P_ETOOBIG when addr is too long. */
int tunnel_token_add_addr(tunnel_token *t, const uint8_t *addr, size_t len);

/* Appends the text form of a version 2 token (standard base64 with padding,
 * no NUL) to text_out. P2P_EINVAL if the token is not a complete version 2
 * token. */
int tunnel_token_encode(const tunnel_token *t, p2p_buf *text_out);

/* Reads a token of either version from its text. On failure returns
 * P2P_EINVAL (empty), P2P_ETOOBIG (over the limits), P2P_EPROTO
 * (malformed) or P2P_EUNSUPPORTED (an unknown version or network), and
 * *why (if not NULL) gets a static sentence for the user. */
int tunnel_token_decode(tunnel_token *t, const char *text, size_t len, const char **why);

#endif
