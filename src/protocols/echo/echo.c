#include "p2p/echo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"

/* --- server --- */

typedef struct echo_server {
	size_t owed; /* bytes echoed but not yet consumed (waiting for on_drain) */
} echo_server;

static void server_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	echo_server *e = user;
	int rc = p2p_stream_write(s, data, len);
	if (rc < 0) {
		p2p_stream_reset(s);
		return;
	}
	/* Consuming lets the peer send more; only do it while our echo keeps
	 * up, else the window closes and the peer waits for us. */
	if (rc == 1 && e->owed == 0)
		p2p_stream_consume(s, len);
	else
		e->owed += len;
}

static void server_on_drain(p2p_stream *s, void *user)
{
	echo_server *e = user;
	size_t owed = e->owed;
	e->owed = 0;
	if (owed > 0)
		p2p_stream_consume(s, owed);
}

static void server_on_fin(p2p_stream *s, void *user)
{
	/* Everything read has been queued; the FIN goes out after it. */
	p2p_stream_close(s);
}

static void server_on_close(p2p_stream *s, void *user)
{
	free(user);
}

static const p2p_stream_callbacks server_callbacks = {
    .on_data = server_on_data,
    .on_drain = server_on_drain,
    .on_fin = server_on_fin,
    .on_close = server_on_close,
};

static void on_echo_stream(p2p_stream *s, const char *protocol, void *user)
{
	echo_server *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_set_callbacks(s, &server_callbacks, e);
}

int p2p_echo_serve(p2p_host *h)
{
	return p2p_host_set_handler(h, P2P_ECHO_PROTOCOL, on_echo_stream, NULL);
}

/* --- client --- */

typedef struct echo_run {
	const uint8_t *data; /* borrowed */
	size_t len;
	size_t sent;
	size_t received;
	uint64_t started;
	p2p_echo_done_cb on_done;
	void *user;
	bool finished;
} echo_run;

static void run_finish(echo_run *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	r->on_done(err, uv_hrtime() - r->started, r->user);
}

static void client_pump(p2p_stream *s, echo_run *r)
{
	while (r->sent < r->len) {
		size_t n = r->len - r->sent;
		if (n > P2P_ECHO_CHUNK)
			n = P2P_ECHO_CHUNK;
		int rc = p2p_stream_write(s, r->data + r->sent, n);
		if (rc < 0) {
			run_finish(r, rc);
			p2p_stream_reset(s);
			return;
		}
		r->sent += n;
		if (rc == 0 && r->sent < r->len)
			return; /* on_drain resumes */
	}
	p2p_stream_close_write(s);
}

static void client_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	echo_run *r = user;
	if (len > r->len - r->received || memcmp(data, r->data + r->received, len) != 0) {
		run_finish(r, P2P_EPROTO);
		p2p_stream_reset(s);
		return;
	}
	r->received += len;
	p2p_stream_consume(s, len);
}

static void client_on_drain(p2p_stream *s, void *user)
{
	echo_run *r = user;
	if (r->sent < r->len)
		client_pump(s, r);
}

static void client_on_fin(p2p_stream *s, void *user)
{
	echo_run *r = user;
	run_finish(r, r->received == r->len && r->sent == r->len ? P2P_OK : P2P_EPROTO);
	p2p_stream_close(s);
}

static void client_on_reset(p2p_stream *s, int err, void *user)
{
	run_finish(user, err < 0 ? err : P2P_ERESET);
}

static void client_on_close(p2p_stream *s, void *user)
{
	run_finish(user, P2P_ECLOSED);
	free(user);
}

static const p2p_stream_callbacks client_callbacks = {
    .on_data = client_on_data,
    .on_drain = client_on_drain,
    .on_fin = client_on_fin,
    .on_reset = client_on_reset,
    .on_close = client_on_close,
};

static void on_ready(p2p_stream *s, int err, void *user)
{
	echo_run *r = user;
	r->started = uv_hrtime();
	if (err < 0) {
		run_finish(r, err);
		free(r);
		return;
	}
	p2p_stream_set_callbacks(s, &client_callbacks, r);
	client_pump(s, r);
}

int p2p_echo_run(p2p_host *h, const p2p_peerid *peer, const uint8_t *data, size_t len,
                 p2p_echo_done_cb on_done, void *user)
{
	if (on_done == NULL || (data == NULL && len > 0))
		return P2P_EINVAL;
	echo_run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return P2P_ENOMEM;
	r->data = data;
	r->len = len;
	r->on_done = on_done;
	r->user = user;
	static const char *const protos[] = {P2P_ECHO_PROTOCOL};
	int rc = p2p_host_new_stream(h, peer, protos, 1, on_ready, r);
	if (rc != P2P_OK)
		free(r);
	return rc;
}
