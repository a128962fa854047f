/* Length-prefixed frames (an unsigned varint byte count, then the bytes), as
 * the tunnel uses them on its streams: for the header at the start of each
 * stream, and for UDP datagrams carried over a stream.
 *
 * The reader is sans-I/O and incremental: it takes whatever bytes arrived,
 * however they were split, and yields whole frames one at a time. It never
 * consumes bytes past the frame it returns, so what follows stays with the
 * caller, and it holds at most one frame of `max` bytes. */
#ifndef TUNNEL_FRAME_H
#define TUNNEL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/varint.h"

typedef struct tunnel_frame_reader {
	size_t max;                          /* longest frame accepted */
	uint8_t prefix[P2P_UVARINT_MAX_LEN]; /* length bytes read so far */
	size_t prefix_len;
	bool have_len; /* the prefix is complete */
	size_t need;   /* the frame's length, once have_len */
	p2p_buf body;  /* owned; a frame split across calls is gathered here */
	bool returned; /* the last call returned a frame: start afresh */
	int err;       /* sticky: once the stream is broken it stays broken */
} tunnel_frame_reader;

/* max: the longest frame to accept (at most P2P_UVARINT_MAX_VALUE). */
void tunnel_frame_reader_init(tunnel_frame_reader *r, size_t max);
void tunnel_frame_reader_close(tunnel_frame_reader *r);

/* Reads from in[0..len). *consumed tells how many bytes were used. Returns
 * P2P_OK with *frame / *frame_len set when a whole frame is ready (it may
 * be empty): *frame points into `in` or into the reader and stays valid
 * until the next call; call again with the rest of the input for the next
 * frame. Returns P2P_EAGAIN when all input was consumed without completing
 * a frame. Errors are final: P2P_ETOOBIG (a frame over max), P2P_EPROTO (a
 * malformed length), P2P_ENOMEM. */
int tunnel_frame_read(tunnel_frame_reader *r, const uint8_t *in, size_t len,
                      size_t *consumed, const uint8_t **frame, size_t *frame_len);

/* True when no part of a frame is pending (a clean place for the stream to
 * end). */
bool tunnel_frame_reader_idle(const tunnel_frame_reader *r);

/* Appends one frame holding data[0..len). P2P_ETOOBIG if len > max. */
int tunnel_frame_write(const uint8_t *data, size_t len, size_t max, p2p_buf *out);

#endif
