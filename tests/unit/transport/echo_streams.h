/* Test helper: an echo server and a client that pushes a payload and
 * collects what comes back, as stream callbacks. Shared by the transport
 * and host tests. */
#ifndef P2P_TEST_ECHO_STREAMS_H
#define P2P_TEST_ECHO_STREAMS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "p2p/buf.h"
#include "p2p/stream.h"

/* --- the echo server: writes back what it reads, consuming only what
 * its writes took --- */

typedef struct echo {
	size_t unconsumed;
} echo;

static void echo_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	echo *e = user;
	int r = p2p_stream_write(s, data, len);
	assert_true(r >= 0);
	e->unconsumed += len;
	if (r == 1) {
		p2p_stream_consume(s, e->unconsumed);
		e->unconsumed = 0;
	}
}

static void echo_drain(p2p_stream *s, void *user)
{
	echo *e = user;
	p2p_stream_consume(s, e->unconsumed);
	e->unconsumed = 0;
}

static void echo_fin(p2p_stream *s, void *user)
{
	p2p_stream_close_write(s);
}

static void echo_close(p2p_stream *s, void *user)
{
	free(user);
}

static const p2p_stream_callbacks echo_cbs = {
    .on_data = echo_data,
    .on_drain = echo_drain,
    .on_fin = echo_fin,
    .on_close = echo_close,
};

/* --- a client stream: sends payload[0..len) in chunks, half-closes, and
 * keeps what comes back in got --- */

typedef struct client {
	p2p_stream *s;
	int err;
	bool ready;
	const uint8_t *payload;
	size_t len, sent;
	size_t chunk; /* bytes per write; 0: 64 KiB */
	p2p_buf got;
	bool fin, closed, reset;
	int *done_count;
} client;

static void cli_pump(p2p_stream *s, client *c)
{
	while (c->sent < c->len) {
		size_t chunk = c->chunk ? c->chunk : 65536;
		size_t n = c->len - c->sent < chunk ? c->len - c->sent : chunk;
		int r = p2p_stream_write(s, c->payload + c->sent, n);
		assert_true(r >= 0);
		c->sent += n;
		if (r == 0)
			return;
	}
	p2p_stream_close_write(s);
}

static void cli_drain(p2p_stream *s, void *user)
{
	cli_pump(s, user);
}

static void cli_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	client *c = user;
	p2p_buf_append(&c->got, data, len);
	p2p_stream_consume(s, len);
}

static void cli_fin(p2p_stream *s, void *user)
{
	((client *)user)->fin = true;
}

static void cli_reset(p2p_stream *s, int err, void *user)
{
	((client *)user)->reset = true;
}

static void cli_close(p2p_stream *s, void *user)
{
	client *c = user;
	c->closed = true;
	if (c->done_count)
		(*c->done_count)++;
}

static const p2p_stream_callbacks cli_cbs = {
    .on_data = cli_data,
    .on_drain = cli_drain,
    .on_fin = cli_fin,
    .on_reset = cli_reset,
    .on_close = cli_close,
};

/* Starts the client on a stream negotiated with p2p_stream_select. */
static inline void cli_selected(p2p_stream *s, const char *proto, int err, void *user)
{
	client *c = user;
	c->ready = true;
	c->err = err;
	if (err < 0)
		return;
	c->s = s;
	p2p_stream_set_callbacks(s, &cli_cbs, c);
	cli_pump(s, c);
}

/* The same as cli_selected, for p2p_host_new_stream. */
static inline void cli_opened(p2p_stream *s, int err, void *user)
{
	cli_selected(s, NULL, err, user);
}

/* len pseudo-random bytes (malloc'd, the caller frees), the same for
 * the same seed. */
static inline uint8_t *echo_pattern(size_t len, uint32_t seed)
{
	uint8_t *p = malloc(len);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

#endif
