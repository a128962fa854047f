#include "tunnel/header.h"

#include <string.h>

#include <openssl/crypto.h>

#include "p2p/error.h"
#include "proto/tunnel.pb-c.h"

const char *tunnel_status_text(tunnel_status status)
{
	switch (status) {
	case TUNNEL_STATUS_OK:
		return "ok";
	case TUNNEL_STATUS_BAD_REQUEST:
		return "the host could not read the tunnel request";
	case TUNNEL_STATUS_BAD_SECRET:
		return "the token's secret is wrong (is the token current?)";
	case TUNNEL_STATUS_WRONG_NETWORK:
		return "the host serves another network (tcp or udp) than the one asked "
		       "for";
	case TUNNEL_STATUS_NOT_ALLOWED:
		return "the host does not allow this peer";
	case TUNNEL_STATUS_SERVICE_UNAVAILABLE:
		return "the host could not reach its local service";
	default:
		return "the host refused the tunnel";
	}
}

static Mtunnel__Pb__Network pb_network(tunnel_network network)
{
	return network == TUNNEL_NETWORK_TCP ? MTUNNEL__PB__NETWORK__TCP
	       : network == TUNNEL_NETWORK_UDP
	           ? MTUNNEL__PB__NETWORK__UDP
	           : MTUNNEL__PB__NETWORK__NETWORK_UNSPECIFIED;
}

/* Packs msg into one frame appended to out. */
static int append_frame(const ProtobufCMessage *msg, p2p_buf *out)
{
	uint8_t packed[TUNNEL_HEADER_MAX];
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > sizeof(packed))
		return P2P_EINVAL;
	protobuf_c_message_pack(msg, packed);
	return tunnel_frame_write(packed, n, TUNNEL_HEADER_MAX, out);
}

int tunnel_request_encode(const uint8_t secret[TUNNEL_SECRET_LEN], tunnel_network network,
                          p2p_buf *out)
{
	if (tunnel_network_name(network) == NULL)
		return P2P_EINVAL;
	Mtunnel__Pb__TunnelRequest req = MTUNNEL__PB__TUNNEL_REQUEST__INIT;
	req.secret.data = (uint8_t *)secret; /* only read */
	req.secret.len = TUNNEL_SECRET_LEN;
	req.network = pb_network(network);
	return append_frame(&req.base, out);
}

int tunnel_response_encode(tunnel_status status, const char *reason, p2p_buf *out)
{
	if (status < TUNNEL_STATUS_OK || status > TUNNEL_STATUS_SERVICE_UNAVAILABLE)
		return P2P_EINVAL;
	if (reason != NULL && strlen(reason) > TUNNEL_REASON_MAX)
		return P2P_EINVAL;
	Mtunnel__Pb__TunnelResponse resp = MTUNNEL__PB__TUNNEL_RESPONSE__INIT;
	resp.status = (Mtunnel__Pb__TunnelResponse__Status)status;
	if (reason != NULL)
		resp.reason = (char *)reason; /* only read */
	return append_frame(&resp.base, out);
}

tunnel_status tunnel_request_check(const tunnel_request *req,
                                   const uint8_t secret[TUNNEL_SECRET_LEN],
                                   tunnel_network network)
{
	/* Always compare all 32 bytes, so the time taken says nothing about
	 * how much of the secret was right. */
	int differs = CRYPTO_memcmp(req->secret, secret, TUNNEL_SECRET_LEN) != 0;
	if (differs || req->secret_len != TUNNEL_SECRET_LEN)
		return TUNNEL_STATUS_BAD_SECRET;
	if (req->network != network)
		return TUNNEL_STATUS_WRONG_NETWORK;
	return TUNNEL_STATUS_OK;
}

void tunnel_header_reader_init(tunnel_header_reader *r)
{
	tunnel_frame_reader_init(&r->frame, TUNNEL_HEADER_MAX);
	r->done = false;
}

void tunnel_header_reader_close(tunnel_header_reader *r)
{
	tunnel_frame_reader_close(&r->frame);
}

static int fail(const char **why, int err, const char *sentence)
{
	if (why != NULL)
		*why = sentence;
	return err;
}

/* Runs the frame reader; P2P_OK once the message's bytes are in *msg. */
static int read_message(tunnel_header_reader *r, const uint8_t *in, size_t len,
                        size_t *consumed, const uint8_t **msg, size_t *msg_len,
                        const char **why)
{
	*consumed = 0;
	if (r->done)
		return fail(why, P2P_ESTATE, "the tunnel header was already read");
	int rc = tunnel_frame_read(&r->frame, in, len, consumed, msg, msg_len);
	if (rc == P2P_ETOOBIG)
		return fail(why, rc, "the tunnel header is longer than 1 KiB");
	if (rc == P2P_EPROTO)
		return fail(why, rc, "the tunnel header's length is malformed");
	if (rc == P2P_ENOMEM)
		return fail(why, rc, "out of memory");
	if (rc == P2P_OK)
		r->done = true;
	return rc;
}

int tunnel_request_read(tunnel_header_reader *r, const uint8_t *in, size_t len,
                        size_t *consumed, tunnel_request *out, const char **why)
{
	const uint8_t *msg;
	size_t msg_len;
	int rc = read_message(r, in, len, consumed, &msg, &msg_len, why);
	if (rc != P2P_OK)
		return rc;
	Mtunnel__Pb__TunnelRequest *req =
	    mtunnel__pb__tunnel_request__unpack(NULL, msg_len, msg);
	if (req == NULL)
		return fail(why, P2P_EPROTO, "the tunnel request is not a valid message");
	memset(out, 0, sizeof(*out));
	if (req->secret.len > TUNNEL_SECRET_LEN) {
		rc = fail(why, P2P_EPROTO, "the tunnel request's secret is too long");
	} else {
		out->secret_len = req->secret.len;
		if (req->secret.len > 0)
			memcpy(out->secret, req->secret.data, req->secret.len);
		if (req->network == MTUNNEL__PB__NETWORK__TCP)
			out->network = TUNNEL_NETWORK_TCP;
		else if (req->network == MTUNNEL__PB__NETWORK__UDP)
			out->network = TUNNEL_NETWORK_UDP;
	}
	mtunnel__pb__tunnel_request__free_unpacked(req, NULL);
	return rc;
}

int tunnel_response_read(tunnel_header_reader *r, const uint8_t *in, size_t len,
                         size_t *consumed, tunnel_response *out, const char **why)
{
	const uint8_t *msg;
	size_t msg_len;
	int rc = read_message(r, in, len, consumed, &msg, &msg_len, why);
	if (rc != P2P_OK)
		return rc;
	Mtunnel__Pb__TunnelResponse *resp =
	    mtunnel__pb__tunnel_response__unpack(NULL, msg_len, msg);
	if (resp == NULL)
		return fail(why, P2P_EPROTO,
		            "the tunnel response is not a valid message");
	memset(out, 0, sizeof(*out));
	size_t reason_len = strlen(resp->reason);
	if (resp->status == MTUNNEL__PB__TUNNEL_RESPONSE__STATUS__STATUS_UNSPECIFIED) {
		rc = fail(why, P2P_EPROTO, "the tunnel response has no status");
	} else if (reason_len > TUNNEL_REASON_MAX) {
		rc = fail(why, P2P_EPROTO, "the tunnel response's reason is too long");
	} else {
		out->status = (tunnel_status)resp->status;
		for (size_t i = 0; i < reason_len; i++) {
			unsigned char c = (unsigned char)resp->reason[i];
			out->reason[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	mtunnel__pb__tunnel_response__free_unpacked(resp, NULL);
	return rc;
}
