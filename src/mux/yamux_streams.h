/* The yamux session's stream table: stream ID to stream, kept as a sorted
 * array searched by bisection. The peer chooses the IDs it opens and the
 * IDs of every frame it sends, known or not, so the table must have no
 * worst case an adversary can pick: a lookup is O(log n) whatever the IDs
 * (at most 12 probes of a contiguous 16 KiB array at 4096 streams), and a
 * frame for an unknown ID costs the same and allocates nothing. An insert
 * or removal moves at most the whole array (memmove), which is bounded by
 * the session's stream limit. An unkeyed hash (the murmur3 finaliser this
 * replaces is invertible) lets the peer put every ID in one probe chain;
 * a keyed one would need a real keyed hash (SipHash), and a sorted array
 * is simpler and smaller. Private to src/mux. */
#ifndef P2P_MUX_YAMUX_STREAMS_H
#define P2P_MUX_YAMUX_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yamux_stream {
	uint32_t id;
	void *user;
	bool outbound;        /* we opened it */
	bool ack_pending;     /* inbound: our next frame carries ACK */
	bool acked;           /* outbound: the peer sent ACK */
	bool local_fin;       /* we sent FIN */
	bool remote_fin;      /* the peer sent FIN */
	bool reset;           /* reset by either side; about to be removed */
	bool write_blocked;   /* a write was cut short: on_writable is owed */
	uint32_t send_window; /* bytes the peer accepts from us now */
	uint32_t recv_avail;  /* bytes we allow the peer to send still */
	uint32_t recv_target; /* the receive window we grant, grows to max_window */
	uint32_t unconsumed;  /* delivered by on_data, not yet consumed */
} yamux_stream;

/* ids[i] is streams[i]->id, ascending; the IDs live apart from the
 * pointers so that a search touches one small array. Stream ID 0 is never
 * stored (it names the session). The table owns the arrays, not the
 * streams. */
typedef struct yamux_streams {
	uint32_t *ids;
	yamux_stream **streams;
	size_t count;
	size_t cap;
} yamux_streams;

void yamux_streams_init(yamux_streams *t);
/* Frees the arrays only; the caller frees the streams first. */
void yamux_streams_free(yamux_streams *t);
yamux_stream *yamux_streams_find(const yamux_streams *t, uint32_t id);
/* s->id must not be present. P2P_ENOMEM on failure. */
int yamux_streams_insert(yamux_streams *t, yamux_stream *s);
/* Removes and returns the stream (the caller owns it), or NULL. */
yamux_stream *yamux_streams_remove(yamux_streams *t, uint32_t id);

#endif
