/* Multiaddrs (multiformats/multiaddr): self-describing network addresses.
 *
 * The binary form is canonical: a sequence of components, each a varint
 * protocol code followed by the protocol's value (fixed size, or a varint
 * length then the bytes, or nothing). Binary multiaddrs are passed around
 * as (const uint8_t *bin, size_t len) and compared with memcmp. The text
 * form ("/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...") is for people, config
 * files and logs.
 *
 * In /p2p/ the binary value is the peer ID's multihash bytes; the text value
 * is written as bare base58btc and read as bare base58btc ("Qm...",
 * "12D3Koo...") or as a CIDv1 with the libp2p-key codec in any multibase
 * we read ("bafz...", "k51..."). /ipfs/ is read as an alias of /p2p/.
 *
 * Every function that reads a binary multiaddr validates it fully: an
 * unknown protocol code is P2P_EUNSUPPORTED, a malformed one P2P_EPROTO, an
 * empty one P2P_EPROTO, one over the limits below P2P_ETOOBIG. */
#ifndef P2P_MULTIADDR_H
#define P2P_MULTIADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "p2p/buf.h"

/* Limits. A text form made from a valid binary form always fits in
 * P2P_MULTIADDR_MAX_TEXT_LEN, so binary -> text -> binary never fails. */
#define P2P_MULTIADDR_MAX_LEN        1024 /* bytes, binary form */
#define P2P_MULTIADDR_MAX_COMPONENTS 64   /* components in one multiaddr */
#define P2P_MULTIADDR_MAX_TEXT_LEN   8192 /* characters, text form, without NUL */

/* Protocol codes (multiformats/multiaddr protocols.csv). */
#define P2P_MA_IP4               4
#define P2P_MA_TCP               6
#define P2P_MA_DCCP              33
#define P2P_MA_IP6               41
#define P2P_MA_IP6ZONE           42
#define P2P_MA_IPCIDR            43
#define P2P_MA_DNS               53
#define P2P_MA_DNS4              54
#define P2P_MA_DNS6              55
#define P2P_MA_DNSADDR           56
#define P2P_MA_SCTP              132
#define P2P_MA_UDP               273
#define P2P_MA_P2P_WEBRTC_DIRECT 276 /* deprecated */
#define P2P_MA_WEBRTC_DIRECT     280
#define P2P_MA_WEBRTC            281
#define P2P_MA_P2P_CIRCUIT       290
#define P2P_MA_UDT               301
#define P2P_MA_UTP               302
#define P2P_MA_UNIX              400
#define P2P_MA_P2P               421
#define P2P_MA_HTTPS             443 /* deprecated alias of /tls/http */
#define P2P_MA_TLS               448
#define P2P_MA_SNI               449
#define P2P_MA_NOISE             454
#define P2P_MA_QUIC              460
#define P2P_MA_QUIC_V1           461
#define P2P_MA_WEBTRANSPORT      465
#define P2P_MA_CERTHASH          466
#define P2P_MA_WS                477
#define P2P_MA_WSS               478 /* deprecated alias of /tls/ws */
#define P2P_MA_HTTP              480
#define P2P_MA_HTTP_PATH         481
#define P2P_MA_MEMORY            777

/* One component of a binary multiaddr; value points into the multiaddr
 * (value_len is 0 for protocols without a value). */
typedef struct p2p_multiaddr_component {
	uint64_t code;
	const uint8_t *value;
	size_t value_len;
} p2p_multiaddr_component;

/* Text -> binary. `text` is NUL-terminated; trailing slashes are ignored.
 * Appends the binary form to out_bin (left as it was on error). */
int p2p_multiaddr_parse(const char *text, p2p_buf *out_bin);

/* Binary -> text. Appends the text to out_text and keeps a NUL after it
 * (not counted in len), so a buffer that started empty holds a C string at
 * (const char *)out_text->data. Left as it was on error. */
int p2p_multiaddr_to_string(const uint8_t *bin, size_t len, p2p_buf *out_text);

/* P2P_OK if bin[0..len) is a valid multiaddr we understand. */
int p2p_multiaddr_validate(const uint8_t *bin, size_t len);

/* Iteration: start with *offset = 0. Returns 1 and fills *c for each
 * component, 0 at the end, a negative error on a malformed or unknown
 * component (each component is validated as it is read, but whole-address
 * rules such as the limits are only checked by p2p_multiaddr_validate). */
int p2p_multiaddr_next(const uint8_t *bin, size_t len, size_t *offset,
                       p2p_multiaddr_component *c);

/* The protocol's text name ("tcp"), or NULL for a code we do not know. */
const char *p2p_multiaddr_protocol_name(uint64_t code);

/* Appends one component (code and value, validated) to a binary multiaddr
 * in bin; pass value NULL and value_len 0 for protocols without a value. */
int p2p_multiaddr_append(p2p_buf *bin, uint64_t code, const uint8_t *value,
                         size_t value_len);

/* /ip4/A/tcp/P or /ip6/A/tcp/P, optionally followed by /p2p/ID, to a socket
 * address (port in network order). P2P_EUNSUPPORTED for any other shape
 * (dns, udp, ip6zone, ...). */
int p2p_multiaddr_to_sockaddr(const uint8_t *bin, size_t len, struct sockaddr_storage *ss,
                              socklen_t *sslen);

/* AF_INET/AF_INET6 socket address -> appends /ip4|ip6/A/tcp/P to out_bin.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) come out as /ip4. */
int p2p_multiaddr_from_sockaddr(const struct sockaddr *sa, p2p_buf *out_bin);

/* The peer ID of the trailing /p2p/ component: *mh points into bin.
 * P2P_ENOTFOUND if the multiaddr does not end in /p2p/. */
int p2p_multiaddr_peer_id(const uint8_t *bin, size_t len, const uint8_t **mh,
                          size_t *mh_len);

/* Length of bin without its trailing /p2p/ component (len itself if it has
 * none): bin[0..*prefix_len) is the address to dial. Empty if the address
 * was only "/p2p/ID". */
int p2p_multiaddr_without_peer_id(const uint8_t *bin, size_t len, size_t *prefix_len);

/* A plain TCP address: bin is /ip4/<ip>/tcp/<port> or /ip6/<ip>/tcp/<port>,
 * optionally followed by /p2p/<id>, and nothing else. Fills *ip (the IP
 * component; its value points into bin), *port and *prefix_len (the
 * length without /p2p/); any may be NULL. P2P_EINVAL otherwise. The IP and
 * the port are not judged: 0.0.0.0 or port 0 are the caller's to refuse. */
int p2p_multiaddr_tcp(const uint8_t *bin, size_t len, p2p_multiaddr_component *ip,
                      uint16_t *port, size_t *prefix_len);

/* Appends /p2p/<mh> to bin; mh must be an identity or sha2-256 multihash. */
int p2p_multiaddr_append_peer_id(p2p_buf *bin, const uint8_t *mh, size_t mh_len);

#endif
