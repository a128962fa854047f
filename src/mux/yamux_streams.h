/* The yamux session's stream table: an open-addressing hash map from
 * stream ID to stream, so a lookup per frame costs the same with 1 or
 * 10,000 streams. Private to src/mux. */
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

/* Slots hold owned stream pointers; NULL is empty. Stream ID 0 is never
 * stored (it names the session). */
typedef struct yamux_streams {
	yamux_stream **slots;
	size_t mask; /* capacity - 1; capacity is a power of two */
	size_t count;
} yamux_streams;

void yamux_streams_init(yamux_streams *t);
/* Frees the slot array only; the caller frees the streams first. */
void yamux_streams_free(yamux_streams *t);
yamux_stream *yamux_streams_find(const yamux_streams *t, uint32_t id);
/* s->id must not be present. P2P_ENOMEM on failure. */
int yamux_streams_insert(yamux_streams *t, yamux_stream *s);
/* Removes and returns the stream (the caller owns it), or NULL. */
yamux_stream *yamux_streams_remove(yamux_streams *t, uint32_t id);

#endif
