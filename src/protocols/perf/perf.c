#include "p2p/perf.h"

#include <string.h>

#include "p2p/error.h"
#include "protocols/perf/perf_internal.h"

/* Appends min(remaining, max, P2P_PERF_CHUNK) zero bytes. */
static int append_filler(p2p_buf *out, uint64_t remaining, size_t max)
{
	size_t n = max < P2P_PERF_CHUNK ? max : P2P_PERF_CHUNK;
	if (remaining < n)
		n = (size_t)remaining;
	if (n == 0)
		return 0;
	int rc = p2p_buf_reserve(out, n);
	if (rc != P2P_OK)
		return rc;
	memset(out->data + out->len, 0, n);
	out->len += n;
	return (int)n;
}

void p2p_perf_client_init(p2p_perf_client *c, uint64_t upload, uint64_t download)
{
	memset(c, 0, sizeof(*c));
	c->upload = upload;
	c->download = download;
}

int p2p_perf_client_produce(p2p_perf_client *c, p2p_buf *out, size_t max)
{
	if (!c->header_sent) {
		if (max < P2P_PERF_HEADER_LEN)
			return P2P_EINVAL;
		uint8_t h[P2P_PERF_HEADER_LEN];
		for (int i = 0; i < P2P_PERF_HEADER_LEN; i++)
			h[i] = (uint8_t)(c->download >> (56 - 8 * i));
		int rc = p2p_buf_append(out, h, sizeof(h));
		if (rc != P2P_OK)
			return rc;
		c->header_sent = true;
		return P2P_PERF_HEADER_LEN;
	}
	int n = append_filler(out, c->upload - c->sent, max);
	if (n > 0)
		c->sent += (uint64_t)n;
	return n;
}

bool p2p_perf_client_upload_done(const p2p_perf_client *c)
{
	return c->header_sent && c->sent == c->upload;
}

int p2p_perf_client_recv(p2p_perf_client *c, size_t len)
{
	if (len > c->download - c->received)
		return P2P_EPROTO;
	c->received += len;
	return P2P_OK;
}

int p2p_perf_client_finish(const p2p_perf_client *c)
{
	return c->received == c->download ? P2P_OK : P2P_EPROTO;
}

void p2p_perf_server_init(p2p_perf_server *s)
{
	memset(s, 0, sizeof(*s));
}

int p2p_perf_server_recv(p2p_perf_server *s, const uint8_t *in, size_t len)
{
	if (s->eof)
		return P2P_ESTATE;
	while (len > 0 && s->header_len < P2P_PERF_HEADER_LEN) {
		s->header[s->header_len++] = *in++;
		len--;
		if (s->header_len == P2P_PERF_HEADER_LEN)
			for (int i = 0; i < P2P_PERF_HEADER_LEN; i++)
				s->download = (s->download << 8) | s->header[i];
	}
	/* The upload is only counted: a benchmark reads and discards. */
	s->received += len;
	return P2P_OK;
}

int p2p_perf_server_eof(p2p_perf_server *s)
{
	if (s->header_len < P2P_PERF_HEADER_LEN)
		return P2P_EPROTO;
	s->eof = true;
	return P2P_OK;
}

int p2p_perf_server_produce(p2p_perf_server *s, p2p_buf *out, size_t max)
{
	if (!s->eof)
		return P2P_ESTATE;
	int n = append_filler(out, s->download - s->sent, max);
	if (n > 0)
		s->sent += (uint64_t)n;
	return n;
}

bool p2p_perf_server_done(const p2p_perf_server *s)
{
	return s->eof && s->sent == s->download;
}

static size_t take(uint64_t *done, uint64_t total, size_t max)
{
	size_t n = total - *done < max ? (size_t)(total - *done) : max;
	*done += n;
	return n;
}

size_t perf_client_take_filler(p2p_perf_client *c, size_t max)
{
	return c->header_sent ? take(&c->sent, c->upload, max) : 0;
}

size_t perf_server_take_filler(p2p_perf_server *s, size_t max)
{
	return s->eof ? take(&s->sent, s->download, max) : 0;
}
