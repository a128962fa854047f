/* The generic half of pipes: dispatch to the implementation's ops. */
#include "p2p/pipe.h"

#include "p2p/error.h"

void p2p_pipe_set_callbacks(p2p_pipe *p, const p2p_pipe_callbacks *cb, void *user)
{
	p->cb = *cb;
	p->user = user;
}

int p2p_pipe_write(p2p_pipe *p, p2p_buf *data)
{
	if (p->closing) {
		p2p_buf_free(data);
		return P2P_ECLOSED;
	}
	if (p->ops->queued(p) + data->len > P2P_PIPE_MAX_QUEUED) {
		p2p_buf_free(data);
		return P2P_ELIMIT;
	}
	return p->ops->write(p, data);
}

size_t p2p_pipe_queued(const p2p_pipe *p)
{
	return p->ops->queued(p);
}

bool p2p_pipe_congested(const p2p_pipe *p)
{
	return p->ops->queued(p) > P2P_PIPE_HIGH_WATER;
}

int p2p_pipe_read_start(p2p_pipe *p)
{
	return p->closing ? P2P_ECLOSED : p->ops->read_start(p);
}

int p2p_pipe_read_stop(p2p_pipe *p)
{
	return p->closing ? P2P_ECLOSED : p->ops->read_stop(p);
}

int p2p_pipe_shutdown(p2p_pipe *p)
{
	return p->closing ? P2P_ECLOSED : p->ops->shutdown(p);
}

void p2p_pipe_close(p2p_pipe *p)
{
	if (p->closing)
		return;
	p->closing = true;
	p->ops->close(p);
}
