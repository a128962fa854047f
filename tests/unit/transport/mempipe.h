/* Test helper: a pair of in-memory pipes joined back to back. Bytes
 * written to one are delivered to the other from the loop (never from
 * inside the write, like a socket), so the upgrader and connections can be
 * driven without TCP, deterministically. */
#ifndef P2P_TEST_MEMPIPE_H
#define P2P_TEST_MEMPIPE_H

#include <stdlib.h>
#include <uv.h>

#include "p2p/error.h"
#include "p2p/pipe.h"

typedef struct mem_pipe {
	p2p_pipe base; /* first */
	struct mem_pipe *peer;
	uv_idle_t idle; /* delivers inbox and EOF */
	p2p_buf inbox;  /* written by the peer, not yet read */
	bool reading;
	bool peer_eof; /* the peer shut down or closed */
	bool eof_told;
	bool shut;
} mem_pipe;

static void mem_deliver(uv_idle_t *idle)
{
	mem_pipe *m = idle->data;
	uv_idle_stop(idle);
	if (m->base.closing || !m->reading)
		return;
	if (m->inbox.len > 0) {
		p2p_buf in;
		p2p_buf_move(&in, &m->inbox);
		if (m->base.cb.on_read)
			m->base.cb.on_read(&m->base, in.data, in.len, m->base.user);
		p2p_buf_free(&in);
	}
	if (m->peer_eof && !m->eof_told && !m->base.closing && m->inbox.len == 0) {
		m->eof_told = true;
		if (m->base.cb.on_eof)
			m->base.cb.on_eof(&m->base, m->base.user);
	}
}

static void mem_kick(mem_pipe *m)
{
	if (!m->base.closing)
		uv_idle_start(&m->idle, mem_deliver);
}

static int mem_write(p2p_pipe *p, p2p_buf *data)
{
	mem_pipe *m = (mem_pipe *)p;
	if (m->shut || m->peer == NULL) {
		p2p_buf_free(data);
		return P2P_ECLOSED;
	}
	int rc = p2p_buf_append(&m->peer->inbox, data->data, data->len);
	p2p_buf_free(data);
	mem_kick(m->peer);
	return rc;
}

static size_t mem_queued(const p2p_pipe *p)
{
	return 0;
}

static int mem_read_start(p2p_pipe *p)
{
	mem_pipe *m = (mem_pipe *)p;
	m->reading = true;
	mem_kick(m);
	return P2P_OK;
}

static int mem_read_stop(p2p_pipe *p)
{
	((mem_pipe *)p)->reading = false;
	return P2P_OK;
}

static void mem_tell_eof(mem_pipe *m)
{
	if (m->peer) {
		m->peer->peer_eof = true;
		mem_kick(m->peer);
	}
}

static int mem_shutdown(p2p_pipe *p)
{
	mem_pipe *m = (mem_pipe *)p;
	m->shut = true;
	mem_tell_eof(m);
	return P2P_OK;
}

static void mem_closed(uv_handle_t *h)
{
	mem_pipe *m = h->data;
	if (m->base.cb.on_close)
		m->base.cb.on_close(&m->base, m->base.user);
	p2p_buf_free(&m->inbox);
	p2p_buf_free(&m->base.local_addr);
	p2p_buf_free(&m->base.remote_addr);
	free(m);
}

static void mem_close(p2p_pipe *p)
{
	mem_pipe *m = (mem_pipe *)p;
	mem_tell_eof(m);
	if (m->peer)
		m->peer->peer = NULL;
	m->peer = NULL;
	uv_close((uv_handle_t *)&m->idle, mem_closed);
}

static const p2p_pipe_ops mem_pipe_ops = {
    .write = mem_write,
    .queued = mem_queued,
    .read_start = mem_read_start,
    .read_stop = mem_read_stop,
    .shutdown = mem_shutdown,
    .close = mem_close,
};

static mem_pipe *mem_pipe_new(uv_loop_t *loop)
{
	mem_pipe *m = calloc(1, sizeof(*m));
	m->base.ops = &mem_pipe_ops;
	p2p_buf_init(&m->inbox);
	p2p_buf_init(&m->base.local_addr);
	p2p_buf_init(&m->base.remote_addr);
	uv_idle_init(loop, &m->idle);
	m->idle.data = m;
	return m;
}

/* Two joined pipes; each is closed with p2p_pipe_close by its holder. */
static inline void mem_pipe_pair(uv_loop_t *loop, p2p_pipe **a, p2p_pipe **b)
{
	mem_pipe *x = mem_pipe_new(loop), *y = mem_pipe_new(loop);
	x->peer = y;
	y->peer = x;
	*a = &x->base;
	*b = &y->base;
}

#endif
