/* Test helper: a TCP pipe dialed from a chosen source address (127.0.0.2,
 * 127.0.0.3: all of 127/8 is local on Linux), which p2p_tcp_dial cannot
 * do, so that tests can play clients on distinct IPs over loopback. The
 * pipe is then upgraded with p2p_host_upgrade_pipe, which makes it a host
 * connection like a dialed one. Minimal: no high-water mark, no linger. */
#ifndef P2P_TEST_SRCPIPE_H
#define P2P_TEST_SRCPIPE_H

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/pipe.h"

#define SRC_PIPE_READ_BUF 65536

typedef void (*src_pipe_cb)(p2p_pipe *pipe, int err, void *user);

typedef struct src_pipe {
	p2p_pipe base; /* first */
	uv_tcp_t handle;
	uv_connect_t creq;
	size_t queued;
	src_pipe_cb on_connected;
	void *user;
	char rbuf[SRC_PIPE_READ_BUF];
} src_pipe;

typedef struct src_write {
	uv_write_t req;
	p2p_buf data;
	src_pipe *sp;
} src_write;

static void src_on_write(uv_write_t *req, int status)
{
	src_write *w = (src_write *)req;
	w->sp->queued -= w->data.len;
	p2p_buf_free(&w->data);
	free(w);
}

static int src_write_op(p2p_pipe *p, p2p_buf *data)
{
	src_pipe *sp = (src_pipe *)p;
	src_write *w = calloc(1, sizeof(*w));
	p2p_buf_move(&w->data, data);
	w->sp = sp;
	uv_buf_t b = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
	if (uv_write(&w->req, (uv_stream_t *)&sp->handle, &b, 1, src_on_write) < 0) {
		p2p_buf_free(&w->data);
		free(w);
		return P2P_EIO;
	}
	sp->queued += w->data.len;
	return P2P_OK;
}

static size_t src_queued_op(const p2p_pipe *p)
{
	return ((const src_pipe *)p)->queued;
}

static void src_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	src_pipe *sp = h->data;
	*buf = uv_buf_init(sp->rbuf, sizeof(sp->rbuf));
}

static void src_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	src_pipe *sp = s->data;
	if (sp->base.closing)
		return;
	if (nread > 0) {
		if (sp->base.cb.on_read)
			sp->base.cb.on_read(&sp->base, (const uint8_t *)buf->base,
			                    (size_t)nread, sp->base.user);
	} else if (nread == UV_EOF) {
		uv_read_stop(s);
		if (sp->base.cb.on_eof)
			sp->base.cb.on_eof(&sp->base, sp->base.user);
	} else if (nread < 0) {
		uv_read_stop(s);
		if (sp->base.cb.on_error)
			sp->base.cb.on_error(&sp->base, P2P_EIO, sp->base.user);
	}
}

static int src_read_start_op(p2p_pipe *p)
{
	src_pipe *sp = (src_pipe *)p;
	int rc = uv_read_start((uv_stream_t *)&sp->handle, src_alloc, src_on_read);
	return rc < 0 && rc != UV_EALREADY ? P2P_EIO : P2P_OK;
}

static int src_read_stop_op(p2p_pipe *p)
{
	uv_read_stop((uv_stream_t *)&((src_pipe *)p)->handle);
	return P2P_OK;
}

static void src_on_shutdown(uv_shutdown_t *req, int status)
{
	free(req);
}

static int src_shutdown_op(p2p_pipe *p)
{
	uv_shutdown_t *req = calloc(1, sizeof(*req));
	if (uv_shutdown(req, (uv_stream_t *)&((src_pipe *)p)->handle, src_on_shutdown) <
	    0) {
		free(req);
		return P2P_EIO;
	}
	return P2P_OK;
}

static void src_on_closed(uv_handle_t *h)
{
	src_pipe *sp = h->data;
	if (sp->base.cb.on_close)
		sp->base.cb.on_close(&sp->base, sp->base.user);
	p2p_buf_free(&sp->base.local_addr);
	p2p_buf_free(&sp->base.remote_addr);
	free(sp);
}

static void src_close_op(p2p_pipe *p)
{
	uv_close((uv_handle_t *)&((src_pipe *)p)->handle, src_on_closed);
}

static const p2p_pipe_ops src_pipe_ops = {
    .write = src_write_op,
    .queued = src_queued_op,
    .read_start = src_read_start_op,
    .read_stop = src_read_stop_op,
    .shutdown = src_shutdown_op,
    .close = src_close_op,
};

static void src_on_connect(uv_connect_t *req, int status)
{
	src_pipe *sp = req->data;
	if (status < 0) {
		src_pipe_cb cb = sp->on_connected;
		void *user = sp->user;
		sp->base.closing = true;
		uv_close((uv_handle_t *)&sp->handle, src_on_closed);
		cb(NULL, P2P_EIO, user);
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getsockname(&sp->handle, (struct sockaddr *)&ss, &len) == 0)
		p2p_multiaddr_from_sockaddr((struct sockaddr *)&ss, &sp->base.local_addr);
	len = sizeof(ss);
	if (uv_tcp_getpeername(&sp->handle, (struct sockaddr *)&ss, &len) == 0)
		p2p_multiaddr_from_sockaddr((struct sockaddr *)&ss,
		                            &sp->base.remote_addr);
	sp->on_connected(&sp->base, P2P_OK, sp->user);
}

/* Dials dst (a binary /ip4/.../tcp/N) from src_ip (port 0); cb runs once,
 * from the loop, with the pipe or an error. */
static inline int src_pipe_dial(uv_loop_t *loop, const char *src_ip, const p2p_buf *dst,
                                src_pipe_cb cb, void *user)
{
	struct sockaddr_storage to;
	socklen_t to_len;
	struct sockaddr_in from;
	if (p2p_multiaddr_to_sockaddr(dst->data, dst->len, &to, &to_len) < 0 ||
	    uv_ip4_addr(src_ip, 0, &from) < 0)
		return P2P_EINVAL;
	src_pipe *sp = calloc(1, sizeof(*sp));
	sp->base.ops = &src_pipe_ops;
	p2p_buf_init(&sp->base.local_addr);
	p2p_buf_init(&sp->base.remote_addr);
	sp->on_connected = cb;
	sp->user = user;
	uv_tcp_init(loop, &sp->handle);
	sp->handle.data = sp;
	sp->creq.data = sp;
	if (uv_tcp_bind(&sp->handle, (const struct sockaddr *)&from, 0) < 0 ||
	    uv_tcp_connect(&sp->creq, &sp->handle, (const struct sockaddr *)&to,
	                   src_on_connect) < 0) {
		sp->base.closing = true;
		uv_close((uv_handle_t *)&sp->handle, src_on_closed);
		return P2P_EIO;
	}
	return P2P_OK;
}

#endif
