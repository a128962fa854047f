/* A growable byte buffer. The struct owns `data`; p2p_buf_free releases it.
 * Bytes are read from the front (p2p_buf_consume) and appended at the back. */
#ifndef P2P_BUF_H
#define P2P_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct p2p_buf {
	uint8_t *data;
	size_t len; /* bytes in use, starting at data */
	size_t cap; /* bytes allocated */
} p2p_buf;

void p2p_buf_init(p2p_buf *b);
void p2p_buf_free(p2p_buf *b);
/* Make room for at least `extra` more bytes; P2P_ENOMEM on failure. */
int p2p_buf_reserve(p2p_buf *b, size_t extra);
int p2p_buf_append(p2p_buf *b, const void *data, size_t len);
int p2p_buf_append_byte(p2p_buf *b, uint8_t byte);
/* Append an unsigned varint. */
int p2p_buf_append_uvarint(p2p_buf *b, uint64_t v);
/* Drop the first n bytes (n <= len). */
void p2p_buf_consume(p2p_buf *b, size_t n);
void p2p_buf_reset(p2p_buf *b);
/* Move the contents out: *out takes ownership of the data, b becomes empty. */
void p2p_buf_move(p2p_buf *out, p2p_buf *b);

#endif
