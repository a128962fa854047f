/* One UDP flow over a libp2p stream (fwd_udp.h). */
#include "tunnel/fwd_udp.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"

bool tunnel_udp_flow_maybe_done(tunnel_udp_flow *f)
{
	if (f->done || !f->sock_closed || f->stream || f->stream_pending)
		return false;
	f->done = true;
	if (f->hooks->on_done)
		f->hooks->on_done(f);
	tunnel_header_reader_close(&f->header);
	tunnel_udp_decoder_close(&f->dec);
	p2p_buf_free(&f->queue);
	free(f);
	return true;
}

static void on_own_sock_closed(uv_handle_t *h)
{
	tunnel_udp_flow *f = h->data;
	f->sock_closed = true;
	tunnel_udp_flow_maybe_done(f);
}

static void close_own_sock(tunnel_udp_flow *f)
{
	if (f->owns_sock && !uv_is_closing((uv_handle_t *)&f->own_sock))
		uv_close((uv_handle_t *)&f->own_sock, on_own_sock_closed);
}

void tunnel_udp_flow_abort(tunnel_udp_flow *f)
{
	f->closing = true;
	if (f->stream)
		p2p_stream_reset(f->stream);
	close_own_sock(f);
}

void tunnel_udp_flow_close(tunnel_udp_flow *f)
{
	if (f->closing)
		return;
	f->closing = true;
	/* Half-close: the far side sees the end and closes too; the stream's
	 * on_close then frees the flow (or the sweep resets a stream whose
	 * peer never does). */
	if (f->stream) {
		p2p_stream_close(f->stream);
		f->fin_sent = true;
		f->fin_at = uv_now(f->loop);
	}
	close_own_sock(f);
}

void tunnel_udp_flow_end_after_answer(tunnel_udp_flow *f)
{
	f->reset_on_drain = f->stream != NULL;
	tunnel_udp_flow_close(f);
}

uint64_t tunnel_udp_flow_idle_ms(const tunnel_udp_flow *f)
{
	return uv_now(f->loop) - f->last_active;
}

/* A datagram from the stream to the local socket. UDP may drop, so a
 * socket that cannot take it now loses it. */
static void deliver(tunnel_udp_flow *f, const uint8_t *d, size_t len)
{
	if (f->closing)
		return;
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)len);
	const struct sockaddr *to =
	    f->owns_sock ? NULL : (const struct sockaddr *)&f->peer;
	if (uv_udp_try_send(f->sock, &b, 1, to) < 0) {
		f->dropped++;
		return;
	}
	f->dgrams_to_sock++;
	f->bytes_to_sock += len;
	f->last_active = uv_now(f->loop);
}

static void decode_all(tunnel_udp_flow *f, const uint8_t *data, size_t len)
{
	while (len) {
		size_t used = 0;
		const uint8_t *d;
		size_t dl;
		int rc = tunnel_udp_decode(&f->dec, data, len, &used, &d, &dl);
		data += used;
		len -= used;
		if (rc == P2P_EAGAIN)
			return;
		if (rc < 0) {
			tunnel_udp_flow_abort(f); /* a broken frame: the stream is lost */
			return;
		}
		deliver(f, d, dl);
		if (!used && len)
			return; /* cannot happen: every frame takes a byte */
	}
}

static void on_stream_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	tunnel_udp_flow *f = user;
	size_t total = len;
	if (!f->forwarding) {
		size_t used = 0;
		if (f->hooks->on_header)
			f->hooks->on_header(f, data, len, &used);
		if (used > len)
			used = len;
		data += used;
		len -= used;
		if (len && !f->forwarding) {
			tunnel_udp_flow_abort(f);
			return;
		}
	}
	if (len && !f->closing)
		decode_all(f, data, len);
	/* Everything was delivered, copied or dropped. */
	if (f->stream)
		p2p_stream_consume(f->stream, total);
}

static void on_stream_drain(p2p_stream *s, void *user)
{
	tunnel_udp_flow *f = user;
	if (f->reset_on_drain) {
		/* The refusal is out: the reset goes after it. */
		p2p_stream_reset(s);
		return;
	}
	f->congested = false;
	f->congested_bytes = 0;
}

static void on_stream_fin(p2p_stream *s, void *user)
{
	tunnel_udp_flow_close(user);
}

static void on_stream_reset(p2p_stream *s, int err, void *user)
{
	tunnel_udp_flow *f = user;
	f->closing = true;
	close_own_sock(f);
}

static void on_stream_close(p2p_stream *s, void *user)
{
	tunnel_udp_flow *f = user;
	f->stream = NULL;
	f->closing = true;
	close_own_sock(f);
	tunnel_udp_flow_maybe_done(f);
}

static const p2p_stream_callbacks flow_stream_cb = {
    .on_data = on_stream_data,
    .on_drain = on_stream_drain,
    .on_fin = on_stream_fin,
    .on_reset = on_stream_reset,
    .on_close = on_stream_close,
};

static tunnel_udp_flow *flow_alloc(uv_loop_t *loop, const tunnel_udp_flow_hooks *hooks,
                                   void *owner)
{
	tunnel_udp_flow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->loop = loop;
	f->hooks = hooks;
	f->owner = owner;
	f->sock_closed = true;
	tunnel_header_reader_init(&f->header);
	tunnel_udp_decoder_init(&f->dec);
	p2p_buf_init(&f->queue);
	f->started = f->last_active = uv_now(loop);
	return f;
}

int tunnel_udp_flow_new_client(tunnel_udp_flow **out, uv_loop_t *loop, uv_udp_t *sock,
                               const struct sockaddr *peer,
                               const tunnel_udp_flow_hooks *hooks, void *owner)
{
	tunnel_udp_flow *f = flow_alloc(loop, hooks, owner);
	if (!f)
		return P2P_ENOMEM;
	f->sock = sock;
	memcpy(&f->peer, peer,
	       peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                   : sizeof(struct sockaddr_in));
	*out = f;
	return P2P_OK;
}

static void on_own_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = malloc(TUNNEL_UDP_RECV_MAX);
	buf->len = buf->base ? TUNNEL_UDP_RECV_MAX : 0;
}

static void on_own_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
	tunnel_udp_flow *f = h->data;
	/* n == 0 with addr NULL means nothing more to read now. */
	if (n >= 0 && addr && !(flags & UV_UDP_PARTIAL))
		tunnel_udp_flow_send(f, (const uint8_t *)buf->base, (size_t)n);
	free(buf->base);
}

int tunnel_udp_flow_new_host(tunnel_udp_flow **out, uv_loop_t *loop,
                             const tunnel_udp_flow_hooks *hooks, void *owner)
{
	tunnel_udp_flow *f = flow_alloc(loop, hooks, owner);
	if (!f)
		return P2P_ENOMEM;
	*out = f;
	return P2P_OK;
}

int tunnel_udp_flow_connect(tunnel_udp_flow *f, const struct sockaddr *target)
{
	if (f->owns_sock || f->sock || f->closing)
		return P2P_ESTATE;
	if (uv_udp_init(f->loop, &f->own_sock) < 0)
		return P2P_EIO;
	f->own_sock.data = f;
	f->owns_sock = true;
	f->sock_closed = false;
	if (uv_udp_connect(&f->own_sock, target) < 0) {
		/* The handle is closed from the loop; the flow lives on, still
		 * without a socket, for its owner to refuse. */
		close_own_sock(f);
		return P2P_EIO;
	}
	f->sock = &f->own_sock;
	int sz = TUNNEL_UDP_SOCK_BUFFER;
	uv_recv_buffer_size((uv_handle_t *)&f->own_sock, &sz);
	sz = TUNNEL_UDP_SOCK_BUFFER;
	uv_send_buffer_size((uv_handle_t *)&f->own_sock, &sz);
	return P2P_OK;
}

void tunnel_udp_flow_set_stream(tunnel_udp_flow *f, p2p_stream *s)
{
	f->stream = s;
	p2p_stream_set_callbacks(s, &flow_stream_cb, f);
}

int tunnel_udp_flow_start(tunnel_udp_flow *f)
{
	if (f->closing || !f->stream)
		return P2P_ECLOSED;
	if (!f->sock)
		return P2P_ESTATE; /* a host flow not connected */
	f->forwarding = true;
	if (f->owns_sock &&
	    uv_udp_recv_start(&f->own_sock, on_own_alloc, on_own_recv) < 0) {
		tunnel_udp_flow_abort(f);
		return P2P_EIO;
	}
	if (f->queue.len) {
		int rc = p2p_stream_write(f->stream, f->queue.data, f->queue.len);
		p2p_buf_reset(&f->queue);
		if (rc < 0) {
			tunnel_udp_flow_abort(f);
			return rc;
		}
		f->congested = rc == 0;
	}
	return P2P_OK;
}

void tunnel_udp_flow_send(tunnel_udp_flow *f, const uint8_t *data, size_t len)
{
	if (f->closing || len > TUNNEL_UDP_MAX_DATAGRAM) {
		f->dropped++;
		return;
	}
	f->last_active = uv_now(f->loop);
	if (!f->forwarding) {
		if (f->queue.len + len + P2P_UVARINT_MAX_LEN >
		        TUNNEL_UDP_FLOW_QUEUE_MAX ||
		    tunnel_udp_encode(data, len, &f->queue) < 0) {
			f->dropped++;
			return;
		}
		f->dgrams_to_stream++;
		f->bytes_to_stream += len;
		return;
	}
	if (!f->stream ||
	    (f->congested && f->congested_bytes + len > TUNNEL_UDP_FLOW_QUEUE_MAX)) {
		f->dropped++;
		return;
	}
	p2p_buf frame;
	p2p_buf_init(&frame);
	int rc = tunnel_udp_encode(data, len, &frame);
	size_t frame_len = frame.len;
	if (rc == 0)
		rc = p2p_stream_write(f->stream, frame.data, frame.len);
	p2p_buf_free(&frame);
	if (rc < 0) {
		f->dropped++;
		if (rc != P2P_ELIMIT)
			tunnel_udp_flow_abort(f);
		return;
	}
	if (rc == 0 || f->congested) {
		f->congested = true;
		f->congested_bytes += frame_len;
	}
	f->dgrams_to_stream++;
	f->bytes_to_stream += len;
}

size_t tunnel_udp_flow_sweep(tunnel_udp_flow *first, uint64_t now)
{
	size_t n = 0;
	for (tunnel_udp_flow *f = first; f; f = f->next) {
		if (!f->stream || f->timed_out || f->stream_pending)
			continue;
		bool stuck = !f->forwarding && !f->closing &&
		             now - f->started >= TUNNEL_HEADER_TIMEOUT_MS;
		bool unanswered =
		    f->fin_sent && now - f->fin_at >= TUNNEL_HEADER_TIMEOUT_MS;
		if (!stuck && !unanswered)
			continue;
		f->timed_out = true;
		tunnel_udp_flow_abort(f);
		n++;
	}
	return n;
}
