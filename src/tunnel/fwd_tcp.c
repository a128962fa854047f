/* A local TCP socket joined to a libp2p stream (fwd_tcp.h). */
#include "tunnel/fwd_tcp.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"

/* Bytes asked of the socket per read. Allocated per read, so an idle
 * connection holds no buffer. */
#define FWD_READ_CHUNK (64 * 1024)

/* One write to the local socket: owns a copy of the stream's bytes. */
typedef struct sock_write {
	uv_write_t req;
	tunnel_tcp_fwd *f;
	size_t len;
	uint8_t data[];
} sock_write;

bool tunnel_tcp_fwd_maybe_done(tunnel_tcp_fwd *f)
{
	if (f->done || !f->sock_closed || f->stream || f->stream_pending)
		return false;
	f->done = true;
	if (f->hooks->on_done)
		f->hooks->on_done(f);
	tunnel_header_reader_close(&f->header);
	p2p_buf_free(&f->early);
	free(f);
	return true;
}

static void on_sock_closed(uv_handle_t *h)
{
	tunnel_tcp_fwd *f = h->data;
	f->sock_closed = true;
	tunnel_tcp_fwd_maybe_done(f);
}

static void close_sock(tunnel_tcp_fwd *f, bool reset)
{
	if (f->sock_closing)
		return;
	f->sock_closing = true;
	f->sock_reading = false;
	uv_read_stop((uv_stream_t *)&f->sock);
	/* An RST tells the local program the tunnel broke (not a clean EOF);
	 * it only works on a connected socket with no shutdown pending. */
	if (reset && f->forwarding && !f->stream_fin &&
	    uv_tcp_close_reset(&f->sock, on_sock_closed) == 0)
		return;
	uv_close((uv_handle_t *)&f->sock, on_sock_closed);
}

void tunnel_tcp_fwd_close_sock(tunnel_tcp_fwd *f)
{
	close_sock(f, false);
}

void tunnel_tcp_fwd_end_after_answer(tunnel_tcp_fwd *f)
{
	if (f->stream) {
		f->reset_on_drain = true;
		p2p_stream_close(f->stream);
	}
	close_sock(f, false);
}

void tunnel_tcp_fwd_abort(tunnel_tcp_fwd *f)
{
	if (f->stream)
		p2p_stream_reset(f->stream);
	close_sock(f, true);
}

/* Both directions ended cleanly: close the socket. */
static void maybe_finish(tunnel_tcp_fwd *f)
{
	if (f->sock_eof && f->shutdown_done)
		close_sock(f, false);
}

static void on_sock_write(uv_write_t *req, int status)
{
	sock_write *w = (sock_write *)req;
	tunnel_tcp_fwd *f = w->f;
	if (status == 0) {
		f->bytes_to_sock += w->len;
		if (f->stream)
			p2p_stream_consume(f->stream, w->len);
	}
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		tunnel_tcp_fwd_abort(f);
}

static void forward_to_sock(tunnel_tcp_fwd *f, const uint8_t *data, size_t len)
{
	if (!len)
		return;
	if (f->sock_closing || f->stream_fin) {
		/* Nowhere to go; let the window move so nothing stalls. */
		p2p_stream_consume(f->stream, len);
		return;
	}
	/* Most of the time the socket takes everything at once: then nothing
	 * is copied and the window reopens right away. What it does not take
	 * is copied into a write request and consumed when that completes. */
	uv_buf_t now = uv_buf_init((char *)data, (unsigned)len);
	int n = uv_try_write((uv_stream_t *)&f->sock, &now, 1);
	if (n < 0 && n != UV_EAGAIN) {
		tunnel_tcp_fwd_abort(f);
		return;
	}
	if (n > 0) {
		f->bytes_to_sock += (uint64_t)n;
		p2p_stream_consume(f->stream, (size_t)n);
		data += n;
		len -= (size_t)n;
		if (!len)
			return;
	}
	sock_write *w = malloc(sizeof *w + len);
	if (!w) {
		tunnel_tcp_fwd_abort(f);
		return;
	}
	w->f = f;
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&f->sock, &b, 1, on_sock_write) < 0) {
		free(w);
		tunnel_tcp_fwd_abort(f);
	}
}

static void on_stream_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	tunnel_tcp_fwd *f = user;
	if (!f->forwarding && !f->hooks->on_header) {
		/* Counted against the window until forwarded, so bounded by it
		 * too. */
		if (f->early.len + len > TUNNEL_FWD_EARLY_MAX ||
		    p2p_buf_append(&f->early, data, len) < 0)
			tunnel_tcp_fwd_abort(f);
		return;
	}
	if (!f->forwarding) {
		size_t used = 0;
		f->hooks->on_header(f, data, len, &used);
		if (used > len)
			used = len;
		if (used && f->stream)
			p2p_stream_consume(f->stream, used);
		data += used;
		len -= used;
		if (!len || !f->stream)
			return;
		if (!f->forwarding) {
			/* Data before the tunnel was accepted: not allowed. */
			tunnel_tcp_fwd_abort(f);
			return;
		}
	}
	forward_to_sock(f, data, len);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	tunnel_tcp_fwd *f = req->data;
	f->shutdown_done = true;
	if (status < 0 && status != UV_ECANCELED)
		close_sock(f, false);
	else
		maybe_finish(f);
}

static void on_stream_fin(p2p_stream *s, void *user)
{
	tunnel_tcp_fwd *f = user;
	if (!f->forwarding) {
		tunnel_tcp_fwd_abort(f);
		return;
	}
	if (f->stream_fin || f->sock_closing)
		return;
	f->stream_fin = true;
	f->shutdown_req.data = f;
	if (uv_shutdown(&f->shutdown_req, (uv_stream_t *)&f->sock, on_shutdown) < 0) {
		f->shutdown_done = true;
		close_sock(f, false);
	}
}

static void on_sock_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = malloc(FWD_READ_CHUNK);
	buf->len = buf->base ? FWD_READ_CHUNK : 0;
}

static void on_sock_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	tunnel_tcp_fwd *f = st->data;
	if (n > 0 && f->stream) {
		int rc =
		    p2p_stream_write(f->stream, (const uint8_t *)buf->base, (size_t)n);
		free(buf->base);
		if (rc < 0) {
			tunnel_tcp_fwd_abort(f);
			return;
		}
		f->bytes_to_stream += (uint64_t)n;
		if (rc == 0 && f->sock_reading) {
			/* The stream is full: wait for its on_drain. */
			uv_read_stop(st);
			f->sock_reading = false;
		}
		return;
	}
	free(buf->base);
	if (n == 0)
		return;
	if (n == UV_EOF && f->stream) {
		uv_read_stop(st);
		f->sock_reading = false;
		f->sock_eof = true;
		p2p_stream_close_write(f->stream);
		maybe_finish(f);
		return;
	}
	tunnel_tcp_fwd_abort(f); /* a read error (ECONNRESET...) or no stream */
}

static void on_stream_drain(p2p_stream *s, void *user)
{
	tunnel_tcp_fwd *f = user;
	if (f->reset_on_drain) {
		/* The refusal is out: the reset goes after it. */
		p2p_stream_reset(s);
		return;
	}
	if (f->forwarding && !f->sock_reading && !f->sock_eof && !f->sock_closing) {
		if (uv_read_start((uv_stream_t *)&f->sock, on_sock_alloc, on_sock_read) ==
		    0)
			f->sock_reading = true;
	}
}

static void on_stream_reset(p2p_stream *s, int err, void *user)
{
	tunnel_tcp_fwd *f = user;
	close_sock(f, true);
}

static void on_stream_close(p2p_stream *s, void *user)
{
	tunnel_tcp_fwd *f = user;
	f->stream = NULL;
	/* A clean end (both half-closed) lets the socket finish its writes and
	 * shutdown; anything else cuts it. */
	if (!(f->sock_eof && f->stream_fin))
		close_sock(f, true);
	tunnel_tcp_fwd_maybe_done(f);
}

static const p2p_stream_callbacks fwd_stream_cb = {
    .on_data = on_stream_data,
    .on_drain = on_stream_drain,
    .on_fin = on_stream_fin,
    .on_reset = on_stream_reset,
    .on_close = on_stream_close,
};

int tunnel_tcp_fwd_new(tunnel_tcp_fwd **out, uv_loop_t *loop,
                       const tunnel_tcp_fwd_hooks *hooks, void *owner)
{
	tunnel_tcp_fwd *f = calloc(1, sizeof *f);
	if (!f)
		return P2P_ENOMEM;
	if (uv_tcp_init(loop, &f->sock) < 0) {
		free(f);
		return P2P_EIO;
	}
	f->sock.data = f;
	f->hooks = hooks;
	f->owner = owner;
	tunnel_header_reader_init(&f->header);
	p2p_buf_init(&f->early);
	f->started = uv_now(loop);
	*out = f;
	return P2P_OK;
}

void tunnel_tcp_fwd_set_stream(tunnel_tcp_fwd *f, p2p_stream *s)
{
	f->stream = s;
	p2p_stream_set_callbacks(s, &fwd_stream_cb, f);
}

int tunnel_tcp_fwd_start(tunnel_tcp_fwd *f)
{
	if (f->sock_closing || !f->stream)
		return P2P_ECLOSED;
	f->forwarding = true;
	uv_tcp_nodelay(&f->sock, 1);
	if (uv_read_start((uv_stream_t *)&f->sock, on_sock_alloc, on_sock_read) < 0) {
		tunnel_tcp_fwd_abort(f);
		return P2P_EIO;
	}
	f->sock_reading = true;
	if (f->early.len) {
		forward_to_sock(f, f->early.data, f->early.len);
		p2p_buf_free(&f->early);
	}
	return P2P_OK;
}

size_t tunnel_tcp_fwd_sweep(tunnel_tcp_fwd *first, uint64_t now)
{
	size_t n = 0;
	for (tunnel_tcp_fwd *f = first; f; f = f->next) {
		if (f->forwarding || f->timed_out || f->stream_pending ||
		    now - f->started < TUNNEL_HEADER_TIMEOUT_MS)
			continue;
		f->timed_out = true;
		tunnel_tcp_fwd_abort(f);
		n++;
	}
	return n;
}
