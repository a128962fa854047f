/* Ping on a host: the echoing side as a stream handler, which counts each
 * peer's streams, and a client that times a number of round trips on one
 * stream. */
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/ping.h"

/* --- listener --- */

/* A peer with ping streams open to us; freed with its last stream, so
 * there are never more of these than open streams. */
typedef struct ping_peer {
	p2p_ping_service *svc;
	p2p_peerid id;
	unsigned streams;
	struct ping_peer *prev, *next;
} ping_peer;

struct p2p_ping_service {
	ping_peer *peers;
};

/* One inbound ping stream. */
typedef struct ping_stream {
	p2p_ping_server core;
	ping_peer *peer;
} ping_stream;

static ping_peer *peer_find(p2p_ping_service *svc, const p2p_peerid *id)
{
	for (ping_peer *p = svc->peers; p; p = p->next)
		if (p2p_peerid_equal(&p->id, id))
			return p;
	return NULL;
}

static ping_peer *peer_add(p2p_ping_service *svc, const p2p_peerid *id)
{
	ping_peer *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->svc = svc;
	p->id = *id;
	p->next = svc->peers;
	if (svc->peers)
		svc->peers->prev = p;
	svc->peers = p;
	return p;
}

static void peer_unlink_free(ping_peer *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->svc->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p);
}

static void server_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	ping_stream *ps = user;
	p2p_buf echo;
	p2p_buf_init(&echo);
	int rc = p2p_ping_server_recv(&ps->core, data, len, &echo);
	if (rc == P2P_OK && echo.len > 0)
		rc = p2p_stream_write(s, echo.data, echo.len);
	p2p_buf_free(&echo);
	if (rc < 0) {
		p2p_stream_reset(s);
		return;
	}
	/* A pinger waits for each echo before it sends again, so at most a
	 * payload is in flight: no need to hold back the window. */
	p2p_stream_consume(s, len);
}

static void server_on_fin(p2p_stream *s, void *user)
{
	p2p_stream_close(s);
}

static void server_on_close(p2p_stream *s, void *user)
{
	ping_stream *ps = user;
	if (--ps->peer->streams == 0)
		peer_unlink_free(ps->peer);
	free(ps);
}

static const p2p_stream_callbacks server_callbacks = {
    .on_data = server_on_data,
    .on_fin = server_on_fin,
    .on_close = server_on_close,
};

static void on_ping_stream(p2p_stream *s, const char *protocol, void *user)
{
	p2p_ping_service *svc = user;
	const p2p_peerid *id = p2p_stream_remote_peer(s);
	ping_peer *p = peer_find(svc, id);
	if (p && p->streams >= P2P_PING_MAX_INBOUND_PER_PEER) {
		p2p_stream_reset(s);
		return;
	}
	ping_stream *ps = malloc(sizeof(*ps));
	if (ps && p == NULL)
		p = peer_add(svc, id);
	if (ps == NULL || p == NULL) {
		free(ps);
		p2p_stream_reset(s);
		return;
	}
	p->streams++;
	ps->peer = p;
	p2p_ping_server_init(&ps->core);
	p2p_stream_set_callbacks(s, &server_callbacks, ps);
}

int p2p_ping_service_new(p2p_ping_service **out, p2p_host *h)
{
	p2p_ping_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return P2P_ENOMEM;
	int rc = p2p_host_set_handler(h, P2P_PING_PROTOCOL, on_ping_stream, svc);
	if (rc < 0) {
		free(svc);
		return rc;
	}
	*out = svc;
	return P2P_OK;
}

void p2p_ping_service_free(p2p_ping_service *svc)
{
	if (svc == NULL)
		return;
	/* The host has closed, so every stream has too: nothing is left, but
	 * do not leak if something is. */
	ping_peer *next;
	for (ping_peer *p = svc->peers; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	free(svc);
}

/* --- dialer --- */

typedef struct ping_run {
	p2p_ping_client core;
	unsigned remaining;
	uint64_t sent_at; /* uv_hrtime() when the payload went out */
	p2p_ping_rtt_cb on_rtt;
	p2p_ping_done_cb on_done;
	void *user;
	bool finished; /* on_done has run */
} ping_run;

static void run_finish(ping_run *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	r->on_done(err, r->user);
}

static int run_send(ping_run *r, p2p_stream *s)
{
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_ping_client_send(&r->core, &out);
	r->sent_at = uv_hrtime();
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, out.data, out.len);
	p2p_buf_free(&out);
	return rc < 0 ? rc : P2P_OK;
}

static void client_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	ping_run *r = user;
	size_t off = 0;
	while (off < len && !r->finished) {
		size_t used;
		int rc = p2p_ping_client_recv(&r->core, data + off, len - off, &used);
		off += used;
		if (rc == 0)
			break;
		if (rc == 1) {
			r->on_rtt(uv_hrtime() - r->sent_at, r->user);
			if (--r->remaining == 0) {
				run_finish(r, P2P_OK);
				p2p_stream_close(s);
				break;
			}
			rc = run_send(r, s);
		}
		if (rc < 0) {
			run_finish(r, rc);
			p2p_stream_reset(s);
			return;
		}
	}
	p2p_stream_consume(s, len);
}

static void client_on_fin(p2p_stream *s, void *user)
{
	run_finish(user, P2P_ECLOSED);
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
    .on_fin = client_on_fin,
    .on_reset = client_on_reset,
    .on_close = client_on_close,
};

static void on_ready(p2p_stream *s, int err, void *user)
{
	ping_run *r = user;
	if (err < 0) {
		run_finish(r, err);
		free(r);
		return;
	}
	p2p_stream_set_callbacks(s, &client_callbacks, r);
	int rc = run_send(r, s);
	if (rc < 0) {
		run_finish(r, rc);
		p2p_stream_reset(s);
	}
}

int p2p_ping_run(p2p_host *h, const p2p_peerid *peer, unsigned count,
                 p2p_ping_rtt_cb on_rtt, p2p_ping_done_cb on_done, void *user)
{
	if (count == 0 || on_rtt == NULL || on_done == NULL)
		return P2P_EINVAL;
	ping_run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return P2P_ENOMEM;
	p2p_ping_client_init(&r->core);
	r->remaining = count;
	r->on_rtt = on_rtt;
	r->on_done = on_done;
	r->user = user;
	static const char *const protos[] = {P2P_PING_PROTOCOL};
	int rc = p2p_host_new_stream(h, peer, protos, 1, on_ready, r);
	if (rc != P2P_OK)
		free(r);
	return rc;
}
