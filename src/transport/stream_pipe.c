/* A stream as a pipe (stream.h, pipe.h): what circuit relay v2 needs to run
 * a whole libp2p connection over one stream of another connection.
 *
 * Lifetime: the pipe ends when its holder calls p2p_pipe_close. The stream
 * may be gone before that (the peer reset it, or the connection under it
 * closed): the holder learns it through on_error or on_eof and still
 * closes the pipe. Either way on_close comes from the loop, through the
 * close callback of the pipe's idle handle, after the stream's on_close. */
#include <stdlib.h>

#include "p2p/error.h"
#include "transport/conn_internal.h"

typedef struct stream_pipe {
	p2p_pipe base;      /* first: a p2p_pipe * is a stream_pipe * */
	p2p_stream *stream; /* NULL once the stream is closed */
	uv_idle_t idle;     /* only closed, to call on_close from the loop */
	bool close_asked;   /* p2p_pipe_close was called */
} stream_pipe;

static void sp_finish(stream_pipe *sp);

/* --- the stream's callbacks --- */

static void sp_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	stream_pipe *sp = user;
	if (sp->close_asked) {
		p2p_stream_consume(s, len);
		return;
	}
	/* The pipe's reader takes every byte during the call (pipe.h). */
	if (sp->base.cb.on_read)
		sp->base.cb.on_read(&sp->base, data, len, sp->base.user);
	if (sp->stream)
		p2p_stream_consume(s, len);
}

static void sp_on_fin(p2p_stream *s, void *user)
{
	stream_pipe *sp = user;
	if (!sp->close_asked && sp->base.cb.on_eof)
		sp->base.cb.on_eof(&sp->base, sp->base.user);
}

static void sp_on_drain(p2p_stream *s, void *user)
{
	stream_pipe *sp = user;
	if (!sp->close_asked && sp->base.cb.on_drain)
		sp->base.cb.on_drain(&sp->base, sp->base.user);
}

static void sp_on_reset(p2p_stream *s, int err, void *user)
{
	stream_pipe *sp = user;
	if (!sp->close_asked && sp->base.cb.on_error)
		sp->base.cb.on_error(&sp->base, err < 0 ? err : P2P_ERESET,
		                     sp->base.user);
}

static void sp_on_close(p2p_stream *s, void *user)
{
	stream_pipe *sp = user;
	sp->stream = NULL;
	if (sp->close_asked)
		sp_finish(sp);
}

static const p2p_stream_callbacks sp_stream_callbacks = {
    .on_data = sp_on_data,
    .on_drain = sp_on_drain,
    .on_fin = sp_on_fin,
    .on_reset = sp_on_reset,
    .on_close = sp_on_close,
};

/* --- the pipe's operations --- */

static int sp_write(p2p_pipe *p, p2p_buf *data)
{
	stream_pipe *sp = (stream_pipe *)p;
	int rc = sp->stream ? p2p_stream_write(sp->stream, data->data, data->len)
	                    : P2P_ECLOSED;
	p2p_buf_free(data);
	return rc < 0 ? rc : P2P_OK;
}

static size_t sp_queued(const p2p_pipe *p)
{
	const stream_pipe *sp = (const stream_pipe *)p;
	return sp->stream ? p2p_stream_pending(sp->stream) : 0;
}

static int sp_read_start(p2p_pipe *p)
{
	stream_pipe *sp = (stream_pipe *)p;
	if (sp->stream == NULL)
		return P2P_ECLOSED;
	p2p_stream_pause(sp->stream, false);
	return P2P_OK;
}

static int sp_read_stop(p2p_pipe *p)
{
	stream_pipe *sp = (stream_pipe *)p;
	if (sp->stream == NULL)
		return P2P_ECLOSED;
	p2p_stream_pause(sp->stream, true);
	return P2P_OK;
}

static int sp_shutdown(p2p_pipe *p)
{
	stream_pipe *sp = (stream_pipe *)p;
	return sp->stream ? p2p_stream_close_write(sp->stream) : P2P_ECLOSED;
}

static void on_idle_closed(uv_handle_t *h)
{
	stream_pipe *sp = h->data;
	if (sp->base.cb.on_close)
		sp->base.cb.on_close(&sp->base, sp->base.user);
	p2p_buf_free(&sp->base.local_addr);
	p2p_buf_free(&sp->base.remote_addr);
	free(sp);
}

static void sp_finish(stream_pipe *sp)
{
	uv_close((uv_handle_t *)&sp->idle, on_idle_closed);
}

static void sp_close(p2p_pipe *p)
{
	stream_pipe *sp = (stream_pipe *)p;
	sp->close_asked = true;
	if (sp->stream == NULL) {
		sp_finish(sp);
		return;
	}
	/* Both sides done: nothing to abort. Otherwise "both ways at once". */
	if (sp->stream->fin_sent && sp->stream->remote_fin)
		p2p_stream_close(sp->stream);
	else
		p2p_stream_reset(sp->stream);
}

static const p2p_pipe_ops sp_ops = {
    .write = sp_write,
    .queued = sp_queued,
    .read_start = sp_read_start,
    .read_stop = sp_read_stop,
    .shutdown = sp_shutdown,
    .close = sp_close,
};

int p2p_stream_pipe_new(p2p_stream *s, p2p_pipe **out)
{
	stream_pipe *sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return P2P_ENOMEM;
	sp->base.ops = &sp_ops;
	p2p_buf_init(&sp->base.local_addr);
	p2p_buf_init(&sp->base.remote_addr);
	sp->stream = s;
	uv_idle_init(s->conn->loop, &sp->idle);
	sp->idle.data = sp;
	/* Like a socket, it reads nothing before read_start. */
	p2p_stream_pause(s, true);
	p2p_stream_set_callbacks(s, &sp_stream_callbacks, sp);
	*out = &sp->base;
	return P2P_OK;
}
