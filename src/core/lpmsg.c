#include "p2p/lpmsg.h"

#include <string.h>

#include "p2p/error.h"

void p2p_lpmsg_reader_init(p2p_lpmsg_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
	p2p_buf_init(&r->body);
}

void p2p_lpmsg_reader_free(p2p_lpmsg_reader *r)
{
	p2p_buf_free(&r->body);
}

static void start_message(p2p_lpmsg_reader *r)
{
	r->hdr_len = 0;
	r->have_len = 0;
	r->body_len = 0;
	r->done = 0;
	p2p_buf_reset(&r->body);
}

int p2p_lpmsg_read(p2p_lpmsg_reader *r, const uint8_t *in, size_t len, size_t *consumed,
                   const uint8_t **msg, size_t *msg_len)
{
	size_t used = 0;
	*consumed = 0;
	if (r->failed != 0)
		return r->failed;
	if (r->done)
		start_message(r);

	/* The prefix byte by byte: it is at most 9 bytes, and reading exactly
	 * up to its end keeps us from touching the body's bytes early. */
	while (!r->have_len) {
		if (used == len) {
			*consumed = used;
			return P2P_EAGAIN;
		}
		r->hdr[r->hdr_len++] = in[used++];
		uint64_t v;
		int n = p2p_uvarint_decode(r->hdr, r->hdr_len, &v);
		if (n == P2P_EAGAIN) {
			if (r->hdr_len == sizeof(r->hdr)) {
				r->failed = P2P_EPROTO;
				break;
			}
			continue;
		}
		if (n < 0) {
			r->failed = P2P_EPROTO;
			break;
		}
		if (v > r->max) {
			r->failed = P2P_ETOOBIG;
			break;
		}
		r->body_len = (size_t)v;
		r->have_len = 1;
		/* Reserve once: the length is bounded by max, checked above. */
		if (r->body_len > 0 && p2p_buf_reserve(&r->body, r->body_len) != P2P_OK) {
			r->failed = P2P_ENOMEM;
			break;
		}
	}
	*consumed = used;
	if (r->failed != 0)
		return r->failed;

	size_t want = r->body_len - r->body.len;
	size_t take = len - used < want ? len - used : want;
	if (take > 0) {
		memcpy(r->body.data + r->body.len, in + used, take);
		r->body.len += take;
		used += take;
	}
	*consumed = used;
	if (r->body.len < r->body_len)
		return P2P_EAGAIN;
	r->done = 1;
	/* An empty body has no allocation; hand back a valid pointer anyway. */
	static const uint8_t empty[1];
	*msg = r->body.len > 0 ? r->body.data : empty;
	*msg_len = r->body.len;
	return P2P_OK;
}

int p2p_lpmsg_append(p2p_buf *out, const uint8_t *body, size_t len, size_t max)
{
	if (len > max)
		return P2P_ETOOBIG;
	int rc = p2p_buf_reserve(out, p2p_uvarint_size(len) + len);
	if (rc != P2P_OK)
		return rc;
	rc = p2p_buf_append_uvarint(out, len);
	if (rc == P2P_OK && len > 0)
		rc = p2p_buf_append(out, body, len);
	return rc;
}
