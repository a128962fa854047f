/* Two streams joined both ways (splice.h). Each side remembers the bytes it
 * received but has not consumed yet because the other side's write asked
 * to wait; the other side's on_drain consumes them, which reopens the
 * sender's window. */
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/splice.h"

typedef struct splice_side {
	p2p_splice *sp;
	p2p_stream *s;     /* NULL once closed */
	uint64_t bytes;    /* received on this side, passed to the other */
	size_t unconsumed; /* of those, not consumed yet */
} splice_side;

struct p2p_splice {
	splice_side side[2]; /* a, b */
	uint64_t max_bytes;
	p2p_splice_end why;
	p2p_splice_done_cb done;
	void *user;
};

static splice_side *other(splice_side *x)
{
	return x == &x->sp->side[0] ? &x->sp->side[1] : &x->sp->side[0];
}

static void end_all(p2p_splice *sp, p2p_splice_end why)
{
	if (sp->why == P2P_SPLICE_CLOSED)
		sp->why = why;
	for (int i = 0; i < 2; i++)
		if (sp->side[i].s)
			p2p_stream_reset(sp->side[i].s);
}

static void on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	splice_side *x = user;
	splice_side *y = other(x);
	p2p_splice *sp = x->sp;
	x->bytes += len;
	if (sp->max_bytes && x->bytes > sp->max_bytes) {
		end_all(sp, P2P_SPLICE_LIMIT);
		return;
	}
	int r = y->s ? p2p_stream_write(y->s, data, len) : P2P_ECLOSED;
	if (r < 0) {
		end_all(sp, P2P_SPLICE_RESET);
		return;
	}
	x->unconsumed += len;
	if (r == 1) {
		p2p_stream_consume(s, x->unconsumed);
		x->unconsumed = 0;
	} /* else y's on_drain consumes them */
}

static void on_drain(p2p_stream *s, void *user)
{
	splice_side *x = other(user); /* whose bytes this stream was writing */
	if (x->s && x->unconsumed) {
		p2p_stream_consume(x->s, x->unconsumed);
		x->unconsumed = 0;
	}
}

static void on_fin(p2p_stream *s, void *user)
{
	splice_side *y = other(user);
	if (y->s)
		p2p_stream_close_write(y->s);
}

static void on_reset(p2p_stream *s, int err, void *user)
{
	splice_side *x = user;
	end_all(x->sp, P2P_SPLICE_RESET);
}

static void on_close(p2p_stream *s, void *user)
{
	splice_side *x = user;
	p2p_splice *sp = x->sp;
	x->s = NULL;
	if (other(x)->s)
		return;
	if (sp->done)
		sp->done(sp->why, sp->side[0].bytes, sp->side[1].bytes, sp->user);
	free(sp);
}

static const p2p_stream_callbacks splice_cbs = {
    .on_data = on_data,
    .on_drain = on_drain,
    .on_fin = on_fin,
    .on_reset = on_reset,
    .on_close = on_close,
};

int p2p_splice_new(p2p_splice **out, p2p_stream *a, p2p_stream *b, uint64_t max_bytes,
                   p2p_splice_done_cb done, void *user)
{
	if (a == NULL || b == NULL || a == b)
		return P2P_EINVAL;
	p2p_splice *sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return P2P_ENOMEM;
	sp->max_bytes = max_bytes;
	sp->done = done;
	sp->user = user;
	sp->side[0] = (splice_side){.sp = sp, .s = a};
	sp->side[1] = (splice_side){.sp = sp, .s = b};
	p2p_stream_set_callbacks(a, &splice_cbs, &sp->side[0]);
	p2p_stream_set_callbacks(b, &splice_cbs, &sp->side[1]);
	p2p_stream_pause(a, false);
	p2p_stream_pause(b, false);
	if (out)
		*out = sp;
	return P2P_OK;
}

uint64_t p2p_splice_bytes_ab(const p2p_splice *sp)
{
	return sp->side[0].bytes;
}

uint64_t p2p_splice_bytes_ba(const p2p_splice *sp)
{
	return sp->side[1].bytes;
}

void p2p_splice_close(p2p_splice *sp)
{
	end_all(sp, P2P_SPLICE_CLOSED);
}
