#include "mux/yamux_streams.h"

#include <stdlib.h>

#include "p2p/error.h"

#define INITIAL_SLOTS 16

/* Stream IDs step by two, so the low bits alone would fill every other
 * slot: mix all bits first (murmur3's finalizer). */
static size_t home_slot(uint32_t id, size_t mask)
{
	uint32_t h = id;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & mask;
}

void yamux_streams_init(yamux_streams *t)
{
	t->slots = NULL;
	t->mask = 0;
	t->count = 0;
}

void yamux_streams_free(yamux_streams *t)
{
	free(t->slots);
	yamux_streams_init(t);
}

yamux_stream *yamux_streams_find(const yamux_streams *t, uint32_t id)
{
	if (t->slots == NULL || id == 0)
		return NULL;
	for (size_t i = home_slot(id, t->mask);; i = (i + 1) & t->mask) {
		yamux_stream *s = t->slots[i];
		if (s == NULL)
			return NULL;
		if (s->id == id)
			return s;
	}
}

static void place(yamux_stream **slots, size_t mask, yamux_stream *s)
{
	size_t i = home_slot(s->id, mask);
	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = s;
}

int yamux_streams_insert(yamux_streams *t, yamux_stream *s)
{
	size_t cap = t->slots ? t->mask + 1 : 0;
	/* Keep the load at most one half so probe runs stay short. */
	if ((t->count + 1) * 2 > cap) {
		size_t ncap = cap ? cap * 2 : INITIAL_SLOTS;
		yamux_stream **slots = calloc(ncap, sizeof(*slots));
		if (slots == NULL)
			return P2P_ENOMEM;
		for (size_t i = 0; i < cap; i++)
			if (t->slots[i] != NULL)
				place(slots, ncap - 1, t->slots[i]);
		free(t->slots);
		t->slots = slots;
		t->mask = ncap - 1;
	}
	place(t->slots, t->mask, s);
	t->count++;
	return P2P_OK;
}

yamux_stream *yamux_streams_remove(yamux_streams *t, uint32_t id)
{
	if (t->slots == NULL || id == 0)
		return NULL;
	size_t i = home_slot(id, t->mask);
	while (t->slots[i] != NULL && t->slots[i]->id != id)
		i = (i + 1) & t->mask;
	yamux_stream *found = t->slots[i];
	if (found == NULL)
		return NULL;
	t->slots[i] = NULL;
	t->count--;
	/* Backward-shift deletion: pull later members of the probe run into
	 * the hole unless that would move them before their home slot. */
	for (size_t j = (i + 1) & t->mask; t->slots[j] != NULL; j = (j + 1) & t->mask) {
		size_t k = home_slot(t->slots[j]->id, t->mask);
		bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
	return found;
}
