/* Length-prefixed messages: uvarint(len) followed by len bytes, the framing
 * that identify, circuit relay, DCUtR, AutoNAT and Kademlia use on their
 * streams. The reader is sans-I/O: feed it whatever bytes arrived, it says
 * "need more", hands back one whole message, or fails. It never consumes
 * past the end of a message, because on some streams (a relay CONNECT after
 * its STATUS) the bytes that follow belong to someone else. */
#ifndef P2P_LPMSG_H
#define P2P_LPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/varint.h"

typedef struct p2p_lpmsg_reader {
	size_t max;                       /* largest body accepted */
	uint8_t hdr[P2P_UVARINT_MAX_LEN]; /* the length prefix so far */
	size_t hdr_len;
	int have_len;    /* the prefix is complete */
	size_t body_len; /* announced body length */
	p2p_buf body;    /* body bytes so far; owned */
	int done;        /* last call returned a message */
	int failed;      /* sticky error */
} p2p_lpmsg_reader;

/* `max` bounds the body (not counting the prefix). */
void p2p_lpmsg_reader_init(p2p_lpmsg_reader *r, size_t max);
void p2p_lpmsg_reader_free(p2p_lpmsg_reader *r);

/* Feeds in[0..len). Always sets *consumed to the bytes of `in` used; the
 * rest, in[*consumed..len), was not looked at and stays the caller's.
 * Returns
 *   P2P_OK      one whole message: *msg and *msg_len point into the reader and
 *               stay valid until the next call or p2p_lpmsg_reader_free;
 *               the next call starts a new message;
 *   P2P_EAGAIN  every byte was consumed and the message is not complete;
 *   P2P_ETOOBIG the announced length exceeds max;
 *   P2P_EPROTO  the length prefix is not a valid minimal uvarint.
 * After an error the reader keeps failing with the same code. */
int p2p_lpmsg_read(p2p_lpmsg_reader *r, const uint8_t *in, size_t len, size_t *consumed,
                   const uint8_t **msg, size_t *msg_len);

/* Appends uvarint(len) and the body to out; P2P_ETOOBIG if len > max. */
int p2p_lpmsg_append(p2p_buf *out, const uint8_t *body, size_t len, size_t max);

#endif
