#include "tunnel/frame.h"

#include <string.h>

#include "p2p/error.h"

void tunnel_frame_reader_init(tunnel_frame_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
	p2p_buf_init(&r->body);
}

void tunnel_frame_reader_close(tunnel_frame_reader *r)
{
	p2p_buf_free(&r->body);
}

static void start_frame(tunnel_frame_reader *r)
{
	r->prefix_len = 0;
	r->have_len = false;
	r->need = 0;
	r->returned = false;
	p2p_buf_reset(&r->body);
}

/* Takes length bytes one at a time, so that nothing past the prefix is
 * looked at before the length is known. Returns bytes used, or an error. */
static int read_prefix(tunnel_frame_reader *r, const uint8_t *in, size_t len,
                       size_t *used)
{
	while (!r->have_len) {
		if (*used == len)
			return P2P_EAGAIN;
		r->prefix[r->prefix_len++] = in[(*used)++];
		uint64_t v;
		int n = p2p_uvarint_decode(r->prefix, r->prefix_len, &v);
		if (n == P2P_EAGAIN) {
			/* As many bytes as max needs and still more to come:
			 * the length is over max, whatever follows. */
			if (r->prefix_len >= p2p_uvarint_size(r->max))
				return P2P_ETOOBIG;
			continue;
		}
		if (n < 0)
			return P2P_EPROTO;
		if (v > r->max)
			return P2P_ETOOBIG;
		r->have_len = true;
		r->need = (size_t)v;
	}
	return P2P_OK;
}

int tunnel_frame_read(tunnel_frame_reader *r, const uint8_t *in, size_t len,
                      size_t *consumed, const uint8_t **frame, size_t *frame_len)
{
	*consumed = 0;
	if (r->err != 0)
		return r->err;
	if (r->returned)
		start_frame(r);

	size_t used = 0;
	int rc = read_prefix(r, in, len, &used);
	*consumed = used;
	if (rc == P2P_EAGAIN)
		return rc;
	if (rc != P2P_OK) {
		r->err = rc;
		return rc;
	}

	/* The whole frame is in this input: hand it out in place. */
	if (r->body.len == 0 && len - used >= r->need) {
		*frame = in + used;
		*frame_len = r->need;
		*consumed = used + r->need;
		r->returned = true;
		return P2P_OK;
	}

	size_t take = r->need - r->body.len;
	if (take > len - used)
		take = len - used;
	rc = p2p_buf_append(&r->body, in + used, take);
	if (rc != P2P_OK) {
		r->err = rc;
		return rc;
	}
	*consumed = used + take;
	if (r->body.len < r->need)
		return P2P_EAGAIN;
	*frame = r->body.data;
	*frame_len = r->need;
	r->returned = true;
	return P2P_OK;
}

bool tunnel_frame_reader_idle(const tunnel_frame_reader *r)
{
	return r->returned || (r->prefix_len == 0 && !r->have_len);
}

int tunnel_frame_write(const uint8_t *data, size_t len, size_t max, p2p_buf *out)
{
	if (len > max)
		return P2P_ETOOBIG;
	size_t start = out->len;
	int rc = p2p_buf_reserve(out, P2P_UVARINT_MAX_LEN + len);
	if (rc == P2P_OK)
		rc = p2p_buf_append_uvarint(out, len);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, data, len);
	if (rc != P2P_OK)
		out->len = start;
	return rc;
}
