#include "mux/yamux_streams.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"

#define INITIAL_CAP 8

void yamux_streams_init(yamux_streams *t)
{
	t->ids = NULL;
	t->streams = NULL;
	t->count = 0;
	t->cap = 0;
}

void yamux_streams_free(yamux_streams *t)
{
	free(t->ids);
	free(t->streams);
	yamux_streams_init(t);
}

/* The index of the first ID not below id (count if none): the slot id has
 * or would take. Branch-light bisection over the IDs alone. */
static size_t lower_bound(const yamux_streams *t, uint32_t id)
{
	size_t lo = 0, n = t->count;
	while (n > 0) {
		size_t half = n / 2;
		if (t->ids[lo + half] < id) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

yamux_stream *yamux_streams_find(const yamux_streams *t, uint32_t id)
{
	if (t->count == 0 || id == 0)
		return NULL;
	size_t i = lower_bound(t, id);
	return i < t->count && t->ids[i] == id ? t->streams[i] : NULL;
}

static int grow(yamux_streams *t)
{
	size_t ncap = t->cap ? t->cap * 2 : INITIAL_CAP;
	uint32_t *ids = realloc(t->ids, ncap * sizeof(*ids));
	if (ids == NULL)
		return P2P_ENOMEM;
	t->ids = ids;
	yamux_stream **streams = realloc(t->streams, ncap * sizeof(*streams));
	if (streams == NULL)
		return P2P_ENOMEM; /* ids is larger than needed: harmless */
	t->streams = streams;
	t->cap = ncap;
	return P2P_OK;
}

int yamux_streams_insert(yamux_streams *t, yamux_stream *s)
{
	if (t->count == t->cap && grow(t) != P2P_OK)
		return P2P_ENOMEM;
	size_t i = lower_bound(t, s->id);
	/* Our own IDs only grow, and so do a well-behaved peer's: the common
	 * insert is at the end and moves nothing. */
	size_t tail = t->count - i;
	memmove(t->ids + i + 1, t->ids + i, tail * sizeof(*t->ids));
	memmove(t->streams + i + 1, t->streams + i, tail * sizeof(*t->streams));
	t->ids[i] = s->id;
	t->streams[i] = s;
	t->count++;
	return P2P_OK;
}

yamux_stream *yamux_streams_remove(yamux_streams *t, uint32_t id)
{
	if (t->count == 0 || id == 0)
		return NULL;
	size_t i = lower_bound(t, id);
	if (i == t->count || t->ids[i] != id)
		return NULL;
	yamux_stream *found = t->streams[i];
	size_t tail = t->count - i - 1;
	memmove(t->ids + i, t->ids + i + 1, tail * sizeof(*t->ids));
	memmove(t->streams + i, t->streams + i + 1, tail * sizeof(*t->streams));
	t->count--;
	/* A session that once had many streams and now has few gives the
	 * memory back (with slack, so that one stream opening and closing at
	 * the boundary does not reallocate every time). */
	if (t->cap > INITIAL_CAP && t->count < t->cap / 4) {
		size_t ncap = t->cap / 2;
		uint32_t *ids = realloc(t->ids, ncap * sizeof(*ids));
		if (ids != NULL) {
			t->ids = ids;
			yamux_stream **streams =
			    realloc(t->streams, ncap * sizeof(*streams));
			if (streams != NULL)
				t->streams = streams;
			t->cap = ncap; /* both arrays hold at least ncap now */
		}
	}
	return found;
}
