/* The tunnel header comes from an unauthenticated-by-secret peer. The first
 * input byte picks the message (request or response) and how the rest is
 * cut into pieces; reading piece by piece must give exactly what reading
 * all at once gives, and never consume a byte past the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/header.h"

typedef struct result {
	int rc;
	size_t consumed;
	tunnel_request req;
	tunnel_response resp;
} result;

static void run(const uint8_t *in, size_t len, int response, size_t piece, result *out)
{
	tunnel_header_reader r;
	tunnel_header_reader_init(&r);
	memset(out, 0, sizeof(*out));
	out->rc = P2P_EAGAIN;
	size_t pos = 0;
	while (out->rc == P2P_EAGAIN && pos < len) {
		size_t n = len - pos < piece ? len - pos : piece;
		size_t used = 0;
		const char *why = NULL;
		if (response)
			out->rc = tunnel_response_read(&r, in + pos, n, &used, &out->resp,
			                               &why);
		else
			out->rc =
			    tunnel_request_read(&r, in + pos, n, &used, &out->req, &why);
		if (used > n)
			abort();
		if (out->rc != P2P_OK && out->rc != P2P_EAGAIN && why == NULL)
			abort();
		pos += used;
		if (out->rc == P2P_EAGAIN && used != n)
			abort();
	}
	out->consumed = pos;
	tunnel_header_reader_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int response = data[0] & 1;
	size_t piece = 1 + (data[0] >> 1);
	data++;
	size--;

	result whole, pieces;
	run(data, size, response, size > 0 ? size : 1, &whole);
	run(data, size, response, piece, &pieces);
	if (whole.rc != pieces.rc)
		abort();
	if (whole.rc != P2P_OK)
		return 0;
	if (whole.consumed != pieces.consumed || whole.consumed > TUNNEL_HEADER_MAX + 2)
		abort();
	if (response) {
		if (whole.resp.status != pieces.resp.status ||
		    strcmp(whole.resp.reason, pieces.resp.reason) != 0 ||
		    strlen(whole.resp.reason) > TUNNEL_REASON_MAX)
			abort();
	} else {
		if (memcmp(&whole.req, &pieces.req, sizeof(whole.req)) != 0 ||
		    whole.req.secret_len > TUNNEL_SECRET_LEN)
			abort();
		/* With its own secret, a request passes exactly when the
		 * secret has the right length. */
		int ok = tunnel_request_check(&whole.req, whole.req.secret,
		                              whole.req.network) == TUNNEL_STATUS_OK;
		if (ok != (whole.req.secret_len == TUNNEL_SECRET_LEN))
			abort();
	}
	return 0;
}
