/* Splicing two streams: what one side sends is written to the other, both
 * ways, as a relay's hop service joins the stream of the peer that asked
 * for a circuit to the stream it opened to the target (circuit relay v2).
 *
 * Backpressure is end to end: bytes from one stream are consumed only once
 * the other stream has taken them without asking to wait, so what the
 * splice holds for one direction is bounded by the sender's receive window
 * (P2P_CONN_MAX_WINDOW), never more. A half-close is passed on as a
 * half-close, a reset as a reset.
 *
 * Lifetime: the splice takes both streams over (it sets their callbacks
 * and unpauses them: a stream that waited, paused, for the other one to
 * open keeps its bytes until now).
 * done runs once, from the loop, after both streams have closed; the
 * splice is freed right after it returns. */
#ifndef P2P_SPLICE_H
#define P2P_SPLICE_H

#include <stdint.h>

#include "p2p/stream.h"

typedef struct p2p_splice p2p_splice;

/* Why a splice ended. */
typedef enum p2p_splice_end {
	P2P_SPLICE_CLOSED = 0, /* both sides closed, or p2p_splice_close */
	P2P_SPLICE_RESET = 1,  /* a side reset (or its connection went away) */
	P2P_SPLICE_LIMIT = 2,  /* a direction went over max_bytes: both reset */
} p2p_splice_end;

/* bytes_ab and bytes_ba: what went from a to b and from b to a. */
typedef void (*p2p_splice_done_cb)(p2p_splice_end why, uint64_t bytes_ab,
                                   uint64_t bytes_ba, void *user);

/* Joins a and b. max_bytes (0: no limit) bounds each direction; a byte
 * past it resets both streams. */
int p2p_splice_new(p2p_splice **out, p2p_stream *a, p2p_stream *b, uint64_t max_bytes,
                   p2p_splice_done_cb done, void *user);
/* Bytes so far, each way. */
uint64_t p2p_splice_bytes_ab(const p2p_splice *sp);
uint64_t p2p_splice_bytes_ba(const p2p_splice *sp);
/* Ends the splice now (a duration limit ran out, the relay is stopping):
 * both streams are reset; done follows from the loop. */
void p2p_splice_close(p2p_splice *sp);

#endif
