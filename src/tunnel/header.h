/* The header at the start of every tunnel stream ("/mtunnel/2.0.0").
 *
 * The client opens the stream and sends one frame (tunnel/frame.h: uvarint
 * length, then the bytes) holding a protobuf TunnelRequest: the token's
 * secret and the network it expects. The host answers with one frame
 * holding a TunnelResponse (a status and a reason) and, only if the status
 * is OK, both sides start forwarding bytes. Both messages are limited to
 * TUNNEL_HEADER_MAX bytes.
 *
 * Sans-I/O: tunnel_header_reader takes the stream's bytes as they come and
 * leaves every byte after the header unconsumed, for the forwarder. */
#ifndef TUNNEL_HEADER_H
#define TUNNEL_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "tunnel/frame.h"
#include "tunnel/token.h"

#define TUNNEL_PROTOCOL   "/mtunnel/2.0.0"
#define TUNNEL_HEADER_MAX 1024 /* bytes of one request or response message */
#define TUNNEL_REASON_MAX 256  /* bytes of a response's reason */
/* A host's tunnel or flow that has not started forwarding this long after
 * its stream opened (no header, no answer, a refusal or close the peer
 * never answers) is aborted by the host's sweep (tunnel_tcp_fwd_sweep,
 * tunnel_udp_flow_sweep): a peer cannot hold what it has not earned. */
#define TUNNEL_HEADER_TIMEOUT_MS 10000

/* The values of TunnelResponse.Status in proto/tunnel.proto. */
typedef enum tunnel_status {
	TUNNEL_STATUS_OK = 1,
	TUNNEL_STATUS_BAD_REQUEST = 2,
	TUNNEL_STATUS_BAD_SECRET = 3,
	TUNNEL_STATUS_WRONG_NETWORK = 4,
	TUNNEL_STATUS_NOT_ALLOWED = 5,
	TUNNEL_STATUS_SERVICE_UNAVAILABLE = 6,
} tunnel_status;

typedef struct tunnel_request {
	tunnel_network network; /* TUNNEL_NETWORK_NONE if absent or unknown */
	size_t secret_len;      /* as received; only TUNNEL_SECRET_LEN can match */
	uint8_t secret[TUNNEL_SECRET_LEN];
} tunnel_request;

typedef struct tunnel_response {
	/* Any non-zero value; statuses a newer host may add are not OK. */
	tunnel_status status;
	/* NUL-terminated; control characters are replaced by '?'. */
	char reason[TUNNEL_REASON_MAX + 1];
} tunnel_response;

/* A sentence for a status, for logs and the reason field; never NULL. */
const char *tunnel_status_text(tunnel_status status);

/* Append one whole frame to out. P2P_EINVAL for a bad network, a status
 * outside the enum, or a reason over TUNNEL_REASON_MAX (NULL: no reason). */
int tunnel_request_encode(const uint8_t secret[TUNNEL_SECRET_LEN], tunnel_network network,
                          p2p_buf *out);
int tunnel_response_encode(tunnel_status status, const char *reason, p2p_buf *out);

/* The host's verdict on a request: BAD_SECRET unless the secret matches
 * (compared in constant time, and checked first so that a client without
 * the secret learns nothing else), then WRONG_NETWORK unless the networks
 * agree, else OK. */
tunnel_status tunnel_request_check(const tunnel_request *req,
                                   const uint8_t secret[TUNNEL_SECRET_LEN],
                                   tunnel_network network);

/* Reads one header message. */
typedef struct tunnel_header_reader {
	tunnel_frame_reader frame;
	bool done; /* the message was read; later bytes are not ours */
} tunnel_header_reader;

void tunnel_header_reader_init(tunnel_header_reader *r);
void tunnel_header_reader_close(tunnel_header_reader *r);

/* Feed the stream's bytes as they arrive. *consumed says how many were
 * used; bytes after the header are never consumed. Returns P2P_EAGAIN until
 * the message is complete, then P2P_OK with *out filled. Errors are final:
 * P2P_ETOOBIG (over TUNNEL_HEADER_MAX), P2P_EPROTO (malformed: the host
 * should answer BAD_REQUEST), P2P_ESTATE (called again after P2P_OK); *why
 * (if not NULL) then gets a static sentence. */
int tunnel_request_read(tunnel_header_reader *r, const uint8_t *in, size_t len,
                        size_t *consumed, tunnel_request *out, const char **why);
int tunnel_response_read(tunnel_header_reader *r, const uint8_t *in, size_t len,
                         size_t *consumed, tunnel_response *out, const char **why);

#endif
