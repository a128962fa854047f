/* yamux as a sans-I/O session (hashicorp/yamux spec.md; behaviour follows
 * go-yamux where the spec is silent).
 *
 * Input is parsed in place: only an unfinished 12-byte header is copied.
 * A data frame's payload is handed to on_data straight from the caller's
 * buffer, in as many pieces as the input arrives in, so nothing is
 * buffered here. Its bytes count against the stream's receive window from
 * the moment the header arrives until the application consumes them.
 *
 * Callbacks may call back into the session, so no stream pointer is kept
 * across a callback: the stream is looked up again by ID afterwards, and
 * a stream is removed from the table before its on_closed runs. */
#include "p2p/yamux.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mux/yamux_streams.h"
#include "p2p/error.h"

#define HDR_LEN       12
#define YAMUX_VERSION 0

enum { TYPE_DATA = 0, TYPE_WINDOW_UPDATE = 1, TYPE_PING = 2, TYPE_GO_AWAY = 3 };
enum { FLAG_SYN = 1, FLAG_ACK = 2, FLAG_FIN = 4, FLAG_RST = 8 };
#define KNOWN_FLAGS (FLAG_SYN | FLAG_ACK | FLAG_FIN | FLAG_RST)

struct p2p_yamux {
	bool is_client;
	p2p_yamux_callbacks cb;
	void *user;
	uint32_t max_streams; /* per direction, like go-yamux's MaxIncomingStreams */
	uint32_t max_window;
	uint32_t next_id; /* 0 once IDs are exhausted */
	size_t n_inbound, n_outbound;
	yamux_streams streams;
	p2p_buf out;
	int err; /* nonzero: the session is dead, and this is why */
	bool local_go_away, remote_go_away;
	bool in_recv; /* recv is not reentrant */
	/* Ping answers queued by this p2p_yamux_recv call: a peer's batch of
	 * pings gets at most P2P_YAMUX_MAX_PENDING_PINGS of them. */
	uint32_t pongs_this_recv;
	/* The ping budget: pings since ping_window_ms (p2p_yamux_set_now). */
	uint64_t now_ms, ping_window_ms;
	uint32_t pings_in_window;
	p2p_yamux_stats stats;

	/* The frame being parsed: its header, while unfinished, and for a data
	 * frame the payload bytes still to come. */
	uint8_t hdr[HDR_LEN];
	size_t hdr_len;
	uint32_t cur_id;
	uint16_t cur_flags;
	uint32_t cur_rem;
	bool cur_deliver; /* false: the payload is skipped */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
	       p[3];
}

static void put_header(uint8_t *h, uint8_t type, uint16_t flags, uint32_t id,
                       uint32_t len)
{
	h[0] = YAMUX_VERSION;
	h[1] = type;
	h[2] = (uint8_t)(flags >> 8);
	h[3] = (uint8_t)flags;
	h[4] = (uint8_t)(id >> 24);
	h[5] = (uint8_t)(id >> 16);
	h[6] = (uint8_t)(id >> 8);
	h[7] = (uint8_t)id;
	h[8] = (uint8_t)(len >> 24);
	h[9] = (uint8_t)(len >> 16);
	h[10] = (uint8_t)(len >> 8);
	h[11] = (uint8_t)len;
}

/* Appends one frame. Losing a frame would desynchronise the peer's view
 * (windows, stream states), so running out of memory kills the session. */
static int emit(p2p_yamux *y, uint8_t type, uint16_t flags, uint32_t id, uint32_t len,
                const uint8_t *payload)
{
	size_t plen = payload ? len : 0;
	if (p2p_buf_reserve(&y->out, HDR_LEN + plen) != P2P_OK) {
		if (y->err == 0)
			y->err = P2P_ENOMEM;
		return P2P_ENOMEM;
	}
	put_header(y->out.data + y->out.len, type, flags, id, len);
	if (plen > 0)
		memcpy(y->out.data + y->out.len + HDR_LEN, payload, plen);
	y->out.len += HDR_LEN + plen;
	return P2P_OK;
}

/* A frame on a stream: the first one we send on an inbound stream carries
 * the ACK. */
static int emit_stream(p2p_yamux *y, yamux_stream *s, uint8_t type, uint16_t flags,
                       uint32_t len, const uint8_t *payload)
{
	if (s->ack_pending && !(flags & FLAG_RST))
		flags |= FLAG_ACK;
	int rc = emit(y, type, flags, s->id, len, payload);
	if (rc == P2P_OK && (flags & FLAG_ACK))
		s->ack_pending = false;
	return rc;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static yamux_stream *find(const p2p_yamux *y, uint32_t id)
{
	return yamux_streams_find(&y->streams, id);
}

static yamux_stream *stream_new(p2p_yamux *y, uint32_t id, bool outbound)
{
	yamux_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->id = id;
	s->outbound = outbound;
	s->ack_pending = !outbound;
	s->send_window = P2P_YAMUX_INITIAL_WINDOW;
	s->recv_avail = P2P_YAMUX_INITIAL_WINDOW;
	s->recv_target = P2P_YAMUX_INITIAL_WINDOW;
	if (yamux_streams_insert(&y->streams, s) != P2P_OK) {
		free(s);
		return NULL;
	}
	if (outbound)
		y->n_outbound++;
	else
		y->n_inbound++;
	return s;
}

/* Removes the stream without telling the application. */
static yamux_stream *stream_unlink(p2p_yamux *y, uint32_t id)
{
	yamux_stream *s = yamux_streams_remove(&y->streams, id);
	if (s == NULL)
		return NULL;
	if (s->outbound)
		y->n_outbound--;
	else
		y->n_inbound--;
	return s;
}

/* The stream is gone: unlink it first, so that whatever on_closed does
 * cannot see it, then tell the application. */
static void stream_finish(p2p_yamux *y, uint32_t id)
{
	yamux_stream *s = stream_unlink(y, id);
	if (s == NULL)
		return;
	if (y->cb.on_closed)
		y->cb.on_closed(y, s->id, s->user, y->user);
	free(s);
}

int p2p_yamux_new(p2p_yamux **out, bool is_client, const p2p_yamux_callbacks *cb,
                  void *user, const p2p_yamux_config *cfg)
{
	if (out == NULL)
		return P2P_EINVAL;
	p2p_yamux *y = calloc(1, sizeof(*y));
	if (y == NULL)
		return P2P_ENOMEM;
	y->is_client = is_client;
	if (cb != NULL)
		y->cb = *cb;
	y->user = user;
	y->max_streams =
	    cfg && cfg->max_streams ? cfg->max_streams : P2P_YAMUX_MAX_STREAMS;
	y->max_window = cfg && cfg->max_window ? cfg->max_window : P2P_YAMUX_MAX_WINDOW;
	/* Both sides assume the initial window; we cannot offer less. */
	if (y->max_window < P2P_YAMUX_INITIAL_WINDOW)
		y->max_window = P2P_YAMUX_INITIAL_WINDOW;
	y->next_id = is_client ? 1 : 2;
	yamux_streams_init(&y->streams);
	p2p_buf_init(&y->out);
	*out = y;
	return P2P_OK;
}

void p2p_yamux_free(p2p_yamux *y)
{
	if (y == NULL)
		return;
	/* Calls made from on_closed below find a dead session. */
	if (y->err == 0)
		y->err = P2P_ECLOSED;
	/* Take the streams out of the table first: on_closed may look them
	 * up, and must find none. */
	yamux_streams all = y->streams;
	yamux_streams_init(&y->streams);
	for (size_t i = 0; i < all.count; i++) {
		yamux_stream *s = all.streams[i];
		if (y->cb.on_closed)
			y->cb.on_closed(y, s->id, s->user, y->user);
		free(s);
	}
	yamux_streams_free(&all);
	p2p_buf_free(&y->out);
	free(y);
}

/* --- receiving ----------------------------------------------------------- */

static void remote_fin(p2p_yamux *y, yamux_stream *s)
{
	if (s->remote_fin)
		return;
	s->remote_fin = true;
	uint32_t id = s->id;
	if (y->cb.on_fin)
		y->cb.on_fin(y, id, s->user, y->user);
	s = find(y, id);
	if (s != NULL && s->local_fin)
		stream_finish(y, id);
}

static void remote_reset(p2p_yamux *y, yamux_stream *s)
{
	uint32_t id = s->id;
	s->reset = true;
	if (y->cb.on_reset)
		y->cb.on_reset(y, id, s->user, y->user);
	stream_finish(y, id);
}

/* A SYN from the peer. Refusals (limit, go-away, on_open) answer RST and
 * leave no stream, so the rest of the frame is skipped like any frame for
 * an unknown stream. */
static int incoming_stream(p2p_yamux *y, uint32_t id)
{
	bool peer_parity = (id & 1) == (y->is_client ? 0 : 1);
	if (id == 0 || !peer_parity || find(y, id) != NULL)
		return P2P_EPROTO;
	if (y->local_go_away || y->n_inbound >= y->max_streams) {
		y->stats.streams_refused++;
		return emit(y, TYPE_WINDOW_UPDATE, FLAG_RST, id, 0, NULL);
	}
	yamux_stream *s = stream_new(y, id, false);
	if (s == NULL) {
		y->err = P2P_ENOMEM;
		return P2P_ENOMEM;
	}
	int accept = y->cb.on_open ? y->cb.on_open(y, id, y->user) : 0;
	s = find(y, id);
	if (s == NULL)
		return y->err ? y->err : P2P_OK; /* reset from inside on_open */
	if (accept < 0) {
		free(stream_unlink(y, id));
		y->stats.streams_refused++;
		return emit(y, TYPE_WINDOW_UPDATE, FLAG_RST, id, 0, NULL);
	}
	if (s->ack_pending)
		return emit_stream(y, s, TYPE_WINDOW_UPDATE, 0, 0, NULL);
	return P2P_OK;
}

static void window_grew(p2p_yamux *y, yamux_stream *s, uint32_t delta)
{
	s->send_window =
	    (UINT32_MAX - s->send_window < delta) ? UINT32_MAX : s->send_window + delta;
	if (s->write_blocked && s->send_window > 0 && !s->local_fin && !s->reset) {
		s->write_blocked = false;
		if (y->cb.on_writable)
			y->cb.on_writable(y, s->id, s->user, y->user);
	}
}

/* Data and window update frames. */
static int stream_frame(p2p_yamux *y, uint8_t type, uint16_t flags, uint32_t id,
                        uint32_t len)
{
	if (flags & FLAG_SYN) {
		int rc = incoming_stream(y, id);
		if (rc != P2P_OK)
			return rc;
	}
	/* Unknown IDs are streams we reset or refused, or that closed while
	 * frames were in flight: ignore them, as go-yamux does. A peer may
	 * send any number of them; each costs one O(log n) search (see
	 * yamux_streams.h) and allocates nothing, and a data frame's payload
	 * is skipped. */
	yamux_stream *s = find(y, id);
	if (s == NULL) {
		if (!(flags & FLAG_SYN))
			y->stats.unknown_stream_frames++;
		return P2P_OK;
	}
	if ((flags & FLAG_ACK) && s->outbound && !s->acked) {
		s->acked = true;
		if (y->cb.on_ack)
			y->cb.on_ack(y, id, s->user, y->user);
		if ((s = find(y, id)) == NULL)
			return P2P_OK;
	}
	if (flags & FLAG_RST) {
		remote_reset(y, s);
		return P2P_OK;
	}
	if (type == TYPE_WINDOW_UPDATE) {
		if (len > 0) {
			window_grew(y, s, len);
			if ((s = find(y, id)) == NULL)
				return P2P_OK;
		}
		if (flags & FLAG_FIN)
			remote_fin(y, s);
		return P2P_OK;
	}
	if (s->remote_fin)
		return P2P_OK; /* data after FIN: dropped */
	if (len > s->recv_avail)
		return P2P_EPROTO;
	s->recv_avail -= len;
	y->cur_deliver = true; /* FIN, if any, is handled after the payload */
	return P2P_OK;
}

/* Every answer costs us output the peer may never read, and a ping costs
 * the peer only 12 bytes of input: a batch of pings (one call to recv)
 * gets a bounded number of answers and the rest are dropped, as go-yamux
 * drops the replies its small pong queue has no room for. A peer that
 * measures its round trip waits for each answer, so it never sees a drop. */
static int answer_ping(p2p_yamux *y, uint32_t opaque)
{
	/* A window starts at the first ping after the last one ended. */
	if (y->pings_in_window == 0 || y->now_ms < y->ping_window_ms ||
	    y->now_ms - y->ping_window_ms >= P2P_YAMUX_PING_WINDOW_MS) {
		y->ping_window_ms = y->now_ms;
		y->pings_in_window = 0;
	}
	if (++y->pings_in_window > P2P_YAMUX_MAX_PINGS_PER_WINDOW) {
		y->stats.ping_floods++;
		return P2P_ELIMIT;
	}
	if (y->pongs_this_recv >= P2P_YAMUX_MAX_PENDING_PINGS) {
		y->stats.pings_dropped++;
		return P2P_OK;
	}
	y->pongs_this_recv++;
	y->stats.pings_answered++;
	return emit(y, TYPE_PING, FLAG_ACK, 0, opaque, NULL);
}

static int on_header(p2p_yamux *y, const uint8_t *h)
{
	uint8_t version = h[0], type = h[1];
	uint16_t flags = get16(h + 2);
	uint32_t id = get32(h + 4), len = get32(h + 8);

	if (version != YAMUX_VERSION || type > TYPE_GO_AWAY || (flags & ~KNOWN_FLAGS))
		return P2P_EPROTO;
	y->cur_id = id;
	y->cur_flags = flags;
	y->cur_rem = type == TYPE_DATA ? len : 0;
	y->cur_deliver = false;

	switch (type) {
	case TYPE_PING:
		if (flags & FLAG_SYN)
			return answer_ping(y, len);
		if ((flags & FLAG_ACK) && y->cb.on_pong)
			y->cb.on_pong(y, len, y->user);
		return P2P_OK;
	case TYPE_GO_AWAY:
		y->remote_go_away = true;
		if (y->cb.on_go_away)
			y->cb.on_go_away(y, len, y->user);
		return P2P_OK;
	default:
		return stream_frame(y, type, flags, id, len);
	}
}

static void deliver(p2p_yamux *y, const uint8_t *data, size_t n)
{
	yamux_stream *s = find(y, y->cur_id);
	if (s == NULL || s->reset) {
		y->cur_deliver = false;
		return;
	}
	s->unconsumed += (uint32_t)n;
	if (y->cb.on_data)
		y->cb.on_data(y, s->id, data, n, s->user, y->user);
}

static void end_of_data(p2p_yamux *y)
{
	if (y->cur_deliver && (y->cur_flags & FLAG_FIN)) {
		yamux_stream *s = find(y, y->cur_id);
		if (s != NULL)
			remote_fin(y, s);
	}
	y->cur_deliver = false;
}

static int parse(p2p_yamux *y, const uint8_t *in, size_t len)
{
	size_t pos = 0;
	while (pos < len && y->err == 0) {
		if (y->cur_rem > 0) {
			size_t n = min32(y->cur_rem, len - pos > UINT32_MAX
			                                 ? UINT32_MAX
			                                 : (uint32_t)(len - pos));
			y->cur_rem -= (uint32_t)n;
			if (y->cur_deliver)
				deliver(y, in + pos, n);
			pos += n;
			if (y->cur_rem == 0)
				end_of_data(y);
			continue;
		}
		const uint8_t *h;
		if (y->hdr_len == 0 && len - pos >= HDR_LEN) {
			h = in + pos;
			pos += HDR_LEN;
		} else {
			size_t take = HDR_LEN - y->hdr_len;
			if (take > len - pos)
				take = len - pos;
			memcpy(y->hdr + y->hdr_len, in + pos, take);
			y->hdr_len += take;
			pos += take;
			if (y->hdr_len < HDR_LEN)
				break;
			y->hdr_len = 0;
			h = y->hdr;
		}
		int rc = on_header(y, h);
		if (rc != P2P_OK)
			return rc;
		if (y->cur_rem == 0)
			end_of_data(y);
	}
	return y->err;
}

int p2p_yamux_recv(p2p_yamux *y, const uint8_t *in, size_t len)
{
	if (y == NULL || (in == NULL && len > 0))
		return P2P_EINVAL;
	if (y->in_recv)
		return P2P_ESTATE;
	if (y->err != 0)
		return y->err;
	y->in_recv = true;
	y->pongs_this_recv = 0;
	int rc = parse(y, in, len);
	y->in_recv = false;
	if (rc == P2P_EPROTO || rc == P2P_ELIMIT) {
		y->err = rc;
		emit(y, TYPE_GO_AWAY, 0, 0, P2P_YAMUX_GOAWAY_PROTOCOL, NULL);
		y->local_go_away = true;
	} else if (rc != P2P_OK && y->err == 0) {
		y->err = rc;
	}
	return rc;
}

/* --- the application's side ---------------------------------------------- */

/* Returns the live stream, or NULL with *rc set. */
static yamux_stream *lookup(p2p_yamux *y, uint32_t id, int *rc)
{
	if (y->err != 0) {
		*rc = P2P_ECLOSED;
		return NULL;
	}
	yamux_stream *s = find(y, id);
	if (s == NULL) {
		*rc = P2P_ENOTFOUND;
		return NULL;
	}
	if (s->reset) {
		*rc = P2P_ERESET;
		return NULL;
	}
	return s;
}

int p2p_yamux_open(p2p_yamux *y, uint32_t *id, void *stream_user)
{
	if (y == NULL || id == NULL)
		return P2P_EINVAL;
	if (y->err != 0 || y->local_go_away || y->remote_go_away)
		return P2P_ECLOSED;
	if (y->n_outbound >= y->max_streams || y->next_id == 0)
		return P2P_ELIMIT;
	yamux_stream *s = stream_new(y, y->next_id, true);
	if (s == NULL)
		return P2P_ENOMEM;
	s->user = stream_user;
	/* IDs are never reused; after the last one, opening fails. */
	y->next_id = y->next_id >= UINT32_MAX - 1 ? 0 : y->next_id + 2;
	/* Like go-yamux: a window update with SYN opens the stream at once. */
	int rc = emit(y, TYPE_WINDOW_UPDATE, FLAG_SYN, s->id, 0, NULL);
	if (rc != P2P_OK) {
		free(stream_unlink(y, s->id));
		return rc;
	}
	*id = s->id;
	return P2P_OK;
}

ssize_t p2p_yamux_write(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len)
{
	int rc;
	if (y == NULL || (data == NULL && len > 0))
		return P2P_EINVAL;
	yamux_stream *s = lookup(y, id, &rc);
	if (s == NULL)
		return rc;
	if (s->local_fin)
		return P2P_ECLOSED;
	size_t n = len < s->send_window ? len : s->send_window;
	if (n < len)
		s->write_blocked = true;
	if (n == 0)
		return 0;
	size_t frames = (n + P2P_YAMUX_MAX_FRAME - 1) / P2P_YAMUX_MAX_FRAME;
	if (p2p_buf_reserve(&y->out, n + frames * HDR_LEN) != P2P_OK)
		return P2P_ENOMEM;
	for (size_t off = 0; off < n; off += P2P_YAMUX_MAX_FRAME) {
		uint32_t chunk =
		    (uint32_t)(n - off < P2P_YAMUX_MAX_FRAME ? n - off
		                                             : P2P_YAMUX_MAX_FRAME);
		emit_stream(y, s, TYPE_DATA, 0, chunk,
		            data + off); /* reserved: cannot fail */
	}
	s->send_window -= (uint32_t)n;
	return (ssize_t)n;
}

ssize_t p2p_yamux_write_to(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
                           p2p_yamux_frame_sink sink, void *ctx)
{
	int rc;
	if (y == NULL || sink == NULL || (data == NULL && len > 0))
		return P2P_EINVAL;
	yamux_stream *s = lookup(y, id, &rc);
	if (s == NULL)
		return rc;
	if (s->local_fin)
		return P2P_ECLOSED;
	size_t n = len < s->send_window ? len : s->send_window;
	if (n < len)
		s->write_blocked = true;
	for (size_t off = 0; off < n; off += P2P_YAMUX_MAX_FRAME) {
		uint32_t chunk =
		    (uint32_t)(n - off < P2P_YAMUX_MAX_FRAME ? n - off
		                                             : P2P_YAMUX_MAX_FRAME);
		/* The header alone; the payload goes to sink beside it. */
		rc = emit_stream(y, s, TYPE_DATA, 0, chunk, NULL);
		if (rc == P2P_OK)
			rc = sink(y->out.data, y->out.len, data + off, chunk, ctx);
		if (rc != P2P_OK) {
			/* A header without its payload may be queued: the
			 * stream of frames is broken for good. */
			if (y->err == 0)
				y->err = rc;
			return rc;
		}
		p2p_buf_reset(&y->out);
		s->send_window -= chunk;
	}
	return (ssize_t)n;
}

/* Sends a window update once the peer's remaining allowance plus what the
 * application holds has fallen to half the window (go-yamux does the
 * same). The window doubles, up to max_window, when the application has
 * consumed everything: the reader keeps up, so a larger window only buys
 * throughput on a long round trip, and memory stays bounded per stream. */
static int update_window(p2p_yamux *y, yamux_stream *s)
{
	if (s->remote_fin || s->reset)
		return P2P_OK;
	uint64_t outstanding = (uint64_t)s->recv_avail + s->unconsumed;
	if (y->cur_deliver && y->cur_id == s->id)
		outstanding += y->cur_rem;
	if (outstanding > s->recv_target / 2)
		return P2P_OK;
	if (s->unconsumed == 0 && s->recv_target < y->max_window) {
		uint64_t grown = (uint64_t)s->recv_target * 2;
		s->recv_target = grown > y->max_window ? y->max_window : (uint32_t)grown;
	}
	uint32_t delta = s->recv_target - (uint32_t)outstanding;
	int rc = emit_stream(y, s, TYPE_WINDOW_UPDATE, 0, delta, NULL);
	if (rc == P2P_OK)
		s->recv_avail += delta;
	return rc;
}

int p2p_yamux_consume(p2p_yamux *y, uint32_t id, size_t n)
{
	int rc;
	if (y == NULL)
		return P2P_EINVAL;
	yamux_stream *s = lookup(y, id, &rc);
	if (s == NULL)
		return rc;
	if (n > s->unconsumed)
		return P2P_EINVAL;
	s->unconsumed -= (uint32_t)n;
	return update_window(y, s);
}

int p2p_yamux_close(p2p_yamux *y, uint32_t id)
{
	int rc;
	if (y == NULL)
		return P2P_EINVAL;
	yamux_stream *s = lookup(y, id, &rc);
	if (s == NULL)
		return rc;
	if (s->local_fin)
		return P2P_OK;
	rc = emit_stream(y, s, TYPE_WINDOW_UPDATE, FLAG_FIN, 0, NULL);
	if (rc != P2P_OK)
		return rc;
	s->local_fin = true;
	s->write_blocked = false;
	if (s->remote_fin)
		stream_finish(y, id);
	return P2P_OK;
}

int p2p_yamux_reset(p2p_yamux *y, uint32_t id)
{
	if (y == NULL)
		return P2P_EINVAL;
	yamux_stream *s = find(y, id);
	if (s == NULL)
		return P2P_ENOTFOUND;
	/* A stream the peer reset (we are inside on_reset) needs no RST back;
	 * on a dead session there is no one to tell. Either way it goes. */
	int rc = P2P_OK;
	if (!s->reset && y->err == 0)
		rc = emit(y, TYPE_WINDOW_UPDATE, FLAG_RST, id, 0, NULL);
	s->reset = true;
	stream_finish(y, id);
	return rc;
}

void *p2p_yamux_stream_user(p2p_yamux *y, uint32_t id)
{
	yamux_stream *s = y ? find(y, id) : NULL;
	return s ? s->user : NULL;
}

void p2p_yamux_set_stream_user(p2p_yamux *y, uint32_t id, void *stream_user)
{
	yamux_stream *s = y ? find(y, id) : NULL;
	if (s != NULL)
		s->user = stream_user;
}

size_t p2p_yamux_send_window(p2p_yamux *y, uint32_t id)
{
	yamux_stream *s = y ? find(y, id) : NULL;
	if (s == NULL || s->reset || s->local_fin || y->err != 0)
		return 0;
	return s->send_window;
}

size_t p2p_yamux_num_streams(const p2p_yamux *y)
{
	return y ? y->streams.count : 0;
}

int p2p_yamux_ping(p2p_yamux *y, uint32_t opaque)
{
	if (y == NULL)
		return P2P_EINVAL;
	if (y->err != 0)
		return P2P_ECLOSED;
	return emit(y, TYPE_PING, FLAG_SYN, 0, opaque, NULL);
}

int p2p_yamux_go_away(p2p_yamux *y, uint32_t code)
{
	if (y == NULL)
		return P2P_EINVAL;
	if (y->err != 0)
		return P2P_ECLOSED;
	if (y->local_go_away)
		return P2P_OK;
	y->local_go_away = true;
	return emit(y, TYPE_GO_AWAY, 0, 0, code, NULL);
}

void p2p_yamux_get_stats(const p2p_yamux *y, p2p_yamux_stats *out)
{
	if (y == NULL)
		memset(out, 0, sizeof(*out));
	else
		*out = y->stats;
}

void p2p_yamux_set_now(p2p_yamux *y, uint64_t now_ms)
{
	if (y != NULL)
		y->now_ms = now_ms;
}

bool p2p_yamux_is_dead(const p2p_yamux *y)
{
	return y == NULL || y->err != 0;
}

p2p_buf *p2p_yamux_output(p2p_yamux *y)
{
	return &y->out;
}
