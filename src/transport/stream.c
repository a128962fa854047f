/* Streams over the connection's yamux session: write queueing with
 * backpressure, held-back input, multistream-select, lifetime. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "transport/conn_internal.h"

p2p_stream *stream_new(p2p_conn *c, uint32_t id, bool inbound)
{
	p2p_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->conn = c;
	s->id = id;
	s->inbound = inbound;
	p2p_buf_init(&s->pending);
	p2p_buf_init(&s->held);
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->num_streams++;
	return s;
}

static void stream_free(p2p_stream *s)
{
	p2p_conn *c = s->conn;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->num_streams--;
	p2p_buf_free(&s->pending);
	p2p_buf_free(&s->held);
	p2p_mss_free(s->mss);
	free(s->protocol);
	free(s);
}

static bool stream_live(const p2p_stream *s)
{
	return !s->dead && !s->reset && s->conn->yamux != NULL;
}

/* --- writing --- */

/* Moves pending bytes into yamux as far as the window and the pipe allow,
 * then the FIN if one is owed. */
static void stream_push(p2p_stream *s)
{
	p2p_conn *c = s->conn;
	if (!stream_live(s))
		return;
	while (s->pending.len > 0 && !conn_congested(c)) {
		size_t take =
		    s->pending.len < STREAM_CHUNK ? s->pending.len : STREAM_CHUNK;
		ssize_t n = conn_write_stream(c, s->id, s->pending.data, take);
		if (n <= 0)
			break; /* window shut: on_writable will come */
		p2p_buf_consume(&s->pending, (size_t)n);
		conn_flush(c);
	}
	if (s->pending.len > 0 && conn_congested(c))
		c->blocked = true;
	if (s->pending.len == 0 && s->close_write && !s->fin_sent && !s->mss) {
		s->fin_sent = true;
		p2p_yamux_close(c->yamux, s->id); /* may finish the stream */
	}
}

static void stream_maybe_drain(p2p_stream *s)
{
	if (!s->want_drain || s->pending.len > 0 || !stream_live(s))
		return;
	if (conn_congested(s->conn)) {
		s->conn->blocked = true; /* on_drain once the pipe drains */
		return;
	}
	s->want_drain = false;
	if (s->has_cb && s->cb.on_drain)
		s->cb.on_drain(s, s->user);
}

/* Queues bytes for the peer, ignoring the application's half-close (the
 * negotiation uses it). */
static int stream_queue(p2p_stream *s, const uint8_t *data, size_t len)
{
	p2p_conn *c = s->conn;
	if (len > P2P_STREAM_MAX_PENDING - s->pending.len)
		return P2P_ELIMIT;
	size_t n = 0;
	/* Straight into yamux while nothing waits before it, chunk by chunk so
	 * the pipe's queue stays near its high-water mark. */
	while (s->pending.len == 0 && n < len && !conn_congested(c)) {
		size_t take = len - n < STREAM_CHUNK ? len - n : STREAM_CHUNK;
		/* Even into a shut window: yamux then owes us on_writable. */
		ssize_t w = conn_write_stream(c, s->id, data + n, take);
		if (w < 0)
			return (int)w;
		n += (size_t)w;
		conn_flush(c);
		if ((size_t)w < take)
			break;
	}
	if (p2p_buf_append(&s->pending, data + n, len - n) < 0)
		return P2P_ENOMEM;
	if (s->pending.len == 0 && !conn_congested(c))
		return 1;
	s->want_drain = true;
	if (conn_congested(c))
		c->blocked = true; /* the pipe's drain (or recv's end) unblocks */
	return 0;
}

int p2p_stream_write(p2p_stream *s, const uint8_t *data, size_t len)
{
	if (s->reset)
		return P2P_ERESET;
	if (!stream_live(s) || s->close_write || s->discard)
		return P2P_ECLOSED;
	if (s->mss)
		return P2P_ESTATE;
	return stream_queue(s, data, len);
}

void stream_on_writable(p2p_stream *s)
{
	stream_push(s);
	conn_flush(s->conn);
	stream_maybe_drain(s);
}

int p2p_stream_close_write(p2p_stream *s)
{
	if (s->reset)
		return P2P_ERESET;
	if (!stream_live(s))
		return P2P_ECLOSED;
	s->close_write = true;
	stream_push(s);
	conn_flush(s->conn);
	return P2P_OK;
}

void p2p_stream_reset(p2p_stream *s)
{
	if (!stream_live(s))
		return;
	s->reset = true;
	p2p_mss_free(s->mss);
	s->mss = NULL;
	s->select_cb = NULL;
	p2p_yamux_reset(s->conn->yamux, s->id); /* on_closed: dead */
	conn_flush(s->conn);
	conn_schedule(s->conn);
}

void p2p_stream_close(p2p_stream *s)
{
	if (!stream_live(s))
		return;
	if (s->mss) {
		p2p_stream_reset(s);
		return;
	}
	s->discard = true;
	if (s->held.len > 0) {
		p2p_yamux_consume(s->conn->yamux, s->id, s->held.len);
		p2p_buf_free(&s->held);
	}
	p2p_stream_close_write(s);
}

/* --- reading --- */

int p2p_stream_consume(p2p_stream *s, size_t n)
{
	if (!stream_live(s))
		return s->reset ? P2P_ERESET : P2P_ECLOSED;
	int rc = p2p_yamux_consume(s->conn->yamux, s->id, n);
	conn_flush(s->conn);
	return rc;
}

static void select_finish(p2p_stream *s, int err)
{
	p2p_stream_select_cb cb = s->select_cb;
	void *user = s->select_user;
	s->select_cb = NULL;
	if (err == P2P_OK) {
		const char *sel = p2p_mss_selected(s->mss);
		s->protocol = strdup(sel);
		if (s->protocol == NULL)
			err = P2P_ENOMEM;
	}
	p2p_mss_free(s->mss);
	s->mss = NULL;
	if (err == P2P_OK) {
		if (cb)
			cb(s, s->protocol, P2P_OK, user);
		if (s->held.len > 0 || s->remote_fin)
			conn_schedule(s->conn);
		return;
	}
	if (cb)
		cb(s, NULL, err, user);
	s->has_cb = false; /* the application is done with it */
	p2p_stream_reset(s);
}

/* Feeds the peer's bytes to multistream-select; what follows the
 * negotiation is held for the application. */
static void select_recv(p2p_stream *s, const uint8_t *data, size_t len)
{
	size_t used = 0;
	int rc = p2p_mss_recv(s->mss, data, len, &used);
	if (used > 0)
		p2p_yamux_consume(s->conn->yamux, s->id, used);
	if (rc == P2P_OK) {
		p2p_buf *out = p2p_mss_output(s->mss);
		if (out->len > 0) {
			int w = stream_queue(s, out->data, out->len);
			p2p_buf_reset(out);
			if (w < 0)
				rc = w;
		}
	}
	if (rc < 0) {
		select_finish(s, rc);
		return;
	}
	if (!p2p_mss_done(s->mss))
		return;
	if (used < len && p2p_buf_append(&s->held, data + used, len - used) < 0) {
		select_finish(s, P2P_ENOMEM);
		return;
	}
	select_finish(s, P2P_OK);
}

int p2p_stream_select(p2p_stream *s, bool initiator, const char *const *protocols,
                      size_t n, p2p_stream_select_cb done, void *user)
{
	if (!stream_live(s))
		return s->reset ? P2P_ERESET : P2P_ECLOSED;
	if (s->mss || s->protocol)
		return P2P_ESTATE;
	int rc = p2p_mss_new(&s->mss, initiator, protocols, n);
	if (rc < 0)
		return rc;
	s->select_cb = done;
	s->select_user = user;
	s->select_deadline = uv_now(s->conn->loop) + s->conn->negotiate_timeout_ms;
	p2p_buf *out = p2p_mss_output(s->mss);
	if (out->len > 0) {
		rc = stream_queue(s, out->data, out->len);
		p2p_buf_reset(out);
		if (rc < 0) {
			p2p_mss_free(s->mss);
			s->mss = NULL;
			return rc;
		}
	}
	if (s->held.len > 0) {
		/* Arrived before negotiation started. */
		p2p_buf early;
		p2p_buf_move(&early, &s->held);
		select_recv(s, early.data, early.len);
		p2p_buf_free(&early);
	}
	return P2P_OK;
}

void stream_check_deadline(p2p_stream *s, uint64_t now)
{
	if (s->mss && stream_live(s) && now >= s->select_deadline)
		select_finish(s, P2P_ETIMEDOUT);
}

void stream_on_data(p2p_stream *s, const uint8_t *data, size_t len)
{
	if (!stream_live(s))
		return;
	if (s->mss) {
		select_recv(s, data, len);
		return;
	}
	if (s->discard) {
		p2p_yamux_consume(s->conn->yamux, s->id, len);
		return;
	}
	if (s->has_cb && s->held.len == 0 && !s->paused) {
		if (s->cb.on_data)
			s->cb.on_data(s, data, len, s->user);
		return;
	}
	/* Not ready for the application yet: hold (bounded by the window). */
	if (p2p_buf_append(&s->held, data, len) < 0) {
		p2p_stream_reset(s);
		return;
	}
	conn_schedule(s->conn);
}

void stream_on_fin(p2p_stream *s)
{
	s->remote_fin = true;
	if (s->mss) {
		select_finish(s, P2P_ECLOSED);
		return;
	}
	if (s->has_cb && s->held.len == 0 && !s->discard && !s->paused) {
		s->fin_delivered = true;
		if (s->cb.on_fin)
			s->cb.on_fin(s, s->user);
		return;
	}
	conn_schedule(s->conn);
}

void stream_on_reset(p2p_stream *s, int err)
{
	if (s->dead || s->reset)
		return;
	s->reset = true;
	if (s->mss) {
		select_finish(s, err);
		return;
	}
	if (s->has_cb && s->cb.on_reset)
		s->cb.on_reset(s, err, s->user);
}

void stream_on_closed(p2p_stream *s)
{
	s->dead = true;
	conn_schedule(s->conn);
}

void stream_run_deferred(p2p_stream *s)
{
	bool ready = s->has_cb && !s->mss && !s->discard && !s->reset && !s->paused;
	if (ready && s->held.len > 0) {
		p2p_buf in;
		p2p_buf_move(&in, &s->held);
		if (s->cb.on_data)
			s->cb.on_data(s, in.data, in.len, s->user);
		p2p_buf_free(&in);
	}
	ready = s->has_cb && !s->mss && !s->discard && !s->reset && !s->paused;
	if (ready && s->remote_fin && !s->fin_delivered && s->held.len == 0) {
		s->fin_delivered = true;
		if (s->cb.on_fin)
			s->cb.on_fin(s, s->user);
	}
	if (!s->dead)
		return;
	if (s->has_cb && s->cb.on_close)
		s->cb.on_close(s, s->user);
	stream_free(s);
}

void p2p_stream_pause(p2p_stream *s, bool paused)
{
	if (s->paused == paused)
		return;
	s->paused = paused;
	if (!paused && (s->held.len > 0 || s->remote_fin))
		conn_schedule(s->conn);
}

int p2p_stream_unread(p2p_stream *s, const uint8_t *data, size_t len)
{
	if (!stream_live(s))
		return s->reset ? P2P_ERESET : P2P_ECLOSED;
	if (len == 0)
		return P2P_OK;
	p2p_buf in;
	p2p_buf_init(&in);
	if (p2p_buf_append(&in, data, len) < 0 ||
	    p2p_buf_append(&in, s->held.data, s->held.len) < 0) {
		p2p_buf_free(&in);
		return P2P_ENOMEM;
	}
	p2p_buf_free(&s->held);
	p2p_buf_move(&s->held, &in);
	conn_schedule(s->conn);
	return P2P_OK;
}

size_t p2p_stream_pending(const p2p_stream *s)
{
	return s->pending.len;
}

/* --- accessors --- */

void p2p_stream_set_callbacks(p2p_stream *s, const p2p_stream_callbacks *cb, void *user)
{
	s->cb = *cb;
	s->user = user;
	s->has_cb = true;
	if (s->held.len > 0 || s->remote_fin)
		conn_schedule(s->conn);
}

void *p2p_stream_user(const p2p_stream *s)
{
	return s->user;
}

const char *p2p_stream_protocol(const p2p_stream *s)
{
	return s->protocol;
}

const p2p_peerid *p2p_stream_remote_peer(const p2p_stream *s)
{
	return &s->conn->remote_peer;
}

p2p_conn *p2p_stream_conn(p2p_stream *s)
{
	return s->conn;
}

bool p2p_stream_is_inbound(const p2p_stream *s)
{
	return s->inbound;
}
