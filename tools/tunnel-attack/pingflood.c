/* Connections that flood yamux pings and never read (pingflood.h). */
#include "pingflood.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/buf.h"
#include "p2p/error.h"
#include "p2p/mss.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"

/* What one connection keeps queued for the kernel: a sender that TCP has
 * stopped holds about this much, no more (as the unit test's attacker,
 * tests/unit/transport/test_conn.c). */
#define FLOOD_QUEUE (1024 * 1024)
/* Pings per batch: 48 KiB of frames, encrypted at once. */
#define FLOOD_BATCH 4096
/* Handshakes in flight at once: under the host's pending budget per IP,
 * so that the flood is not refused before it starts. */
#define FLOOD_MAX_HANDSHAKES 2
#define FLOOD_TICK_MS        50
#define FLOOD_READ_BUF       65536

typedef enum conn_state {
	CONN_IDLE,       /* no socket: (re)opened on the next tick */
	CONN_CONNECTING, /* TCP connect in flight */
	CONN_MSS,        /* multistream-select /noise, in the clear */
	CONN_NOISE,      /* the Noise XX handshake */
	CONN_MUX_MSS,    /* multistream-select /yamux/1.0.0, encrypted */
	CONN_FLOODING,   /* yamux up: pinging, reading nothing */
	CONN_CLOSING,    /* uv_close called */
} conn_state;

typedef struct flood_conn {
	ping_flood *pf;
	size_t from; /* index into pf->from, if any */
	uv_tcp_t sock;
	uv_connect_t connect_req;
	conn_state state;
	p2p_privkey *key; /* a fresh identity for each connection */
	p2p_mss *mss;
	p2p_noise *noise;
	p2p_yamux *yamux;
	p2p_buf plain; /* decrypted bytes not yet taken by multistream-select */
	size_t queued; /* bytes handed to uv_write, not yet written */
	uint32_t next_opaque;
	uint8_t rbuf[FLOOD_READ_BUF];
} flood_conn;

struct ping_flood {
	uv_loop_t *loop;
	const p2p_peerid *peer;
	struct sockaddr_storage target;
	struct sockaddr_storage from[PING_FLOOD_MAX_FROM];
	size_t n_from, next_from;
	flood_conn *conns;
	size_t n_conns;
	uv_timer_t tick;
	size_t handles; /* open libuv handles (sockets and the timer) */
	bool stopping;
	ping_flood_counts counts;
};

typedef struct flood_write {
	uv_write_t req;
	flood_conn *c;
	p2p_buf data;
} flood_write;

static void maybe_free(ping_flood *pf)
{
	if (pf->stopping && pf->handles == 0) {
		free(pf->conns);
		free(pf);
	}
}

static void on_sock_closed(uv_handle_t *h)
{
	flood_conn *c = h->data;
	ping_flood *pf = c->pf;
	p2p_mss_free(c->mss);
	p2p_noise_free(c->noise);
	p2p_yamux_free(c->yamux);
	p2p_privkey_free(c->key); /* after the Noise session that borrowed it */
	p2p_buf_free(&c->plain);
	c->key = NULL;
	c->mss = NULL;
	c->noise = NULL;
	c->yamux = NULL;
	c->queued = 0;
	c->state = CONN_IDLE;
	pf->handles--;
	maybe_free(pf);
}

static void conn_close(flood_conn *c)
{
	if (c->state == CONN_IDLE || c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_FLOODING) {
		c->pf->counts.flooding--;
		if (!c->pf->stopping)
			c->pf->counts.closed++;
	} else if (!c->pf->stopping) {
		c->pf->counts.failed++;
	}
	c->state = CONN_CLOSING;
	uv_read_stop((uv_stream_t *)&c->sock);
	uv_close((uv_handle_t *)&c->sock, on_sock_closed);
}

static void top_up(flood_conn *c);

static void on_written(uv_write_t *req, int status)
{
	flood_write *w = (flood_write *)req;
	flood_conn *c = w->c;
	c->queued -= w->data.len;
	if (status == 0)
		c->pf->counts.bytes += w->data.len;
	p2p_buf_free(&w->data);
	free(w);
	if (status < 0)
		conn_close(c); /* the host closed it (or we did: ECANCELED) */
	else if (c->state == CONN_FLOODING)
		top_up(c);
}

/* Hands the bytes of b (emptied) to the socket. */
static int conn_write(flood_conn *c, p2p_buf *b)
{
	if (b->len == 0)
		return 0;
	flood_write *w = calloc(1, sizeof *w);
	if (!w)
		return P2P_ENOMEM;
	w->c = c;
	p2p_buf_move(&w->data, b);
	uv_buf_t ub = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
	c->queued += w->data.len;
	int rc = uv_write(&w->req, (uv_stream_t *)&c->sock, &ub, 1, on_written);
	if (rc < 0) {
		c->queued -= w->data.len;
		p2p_buf_free(&w->data);
		free(w);
		return P2P_EIO;
	}
	return 0;
}

/* Encrypts the bytes of b (emptied) and writes them. */
static int conn_send(flood_conn *c, p2p_buf *b)
{
	if (b->len == 0)
		return 0;
	int rc = p2p_noise_send(c->noise, b->data, b->len);
	p2p_buf_reset(b);
	return rc < 0 ? rc : conn_write(c, p2p_noise_output(c->noise));
}

static void top_up(flood_conn *c)
{
	while (c->state == CONN_FLOODING && c->queued < FLOOD_QUEUE) {
		for (int i = 0; i < FLOOD_BATCH; i++)
			if (p2p_yamux_ping(c->yamux, c->next_opaque++) < 0) {
				conn_close(c);
				return;
			}
		if (conn_send(c, p2p_yamux_output(c->yamux)) < 0) {
			conn_close(c);
			return;
		}
		c->pf->counts.pings += FLOOD_BATCH;
	}
}

static const p2p_yamux_callbacks flood_yamux_cb = {0};

/* Decrypted bytes: the answer to /yamux/1.0.0, then (not read any more
 * once the session is up) whatever the host sends. */
static int on_plain(flood_conn *c)
{
	if (c->state != CONN_MUX_MSS || c->plain.len == 0)
		return 0;
	size_t used = 0;
	int rc = p2p_mss_recv(c->mss, c->plain.data, c->plain.len, &used);
	p2p_buf_consume(&c->plain, used);
	if (rc == 0)
		rc = conn_send(c, p2p_mss_output(c->mss));
	if (rc < 0 || !p2p_mss_done(c->mss))
		return rc;
	if (strcmp(p2p_mss_selected(c->mss), P2P_YAMUX_PROTOCOL) != 0)
		return P2P_ENEGOTIATE;
	p2p_mss_free(c->mss);
	c->mss = NULL;
	rc = p2p_yamux_new(&c->yamux, true, &flood_yamux_cb, c, NULL);
	if (rc < 0)
		return rc;
	/* From here on nothing is read: the host's answers back up. */
	uv_read_stop((uv_stream_t *)&c->sock);
	p2p_buf_reset(&c->plain);
	c->state = CONN_FLOODING;
	c->pf->counts.flooding++;
	c->pf->counts.handshakes++;
	top_up(c);
	return 0;
}

static int on_bytes(flood_conn *c, const uint8_t *data, size_t len)
{
	int rc = 0;
	if (c->state == CONN_MSS) {
		size_t used = 0;
		rc = p2p_mss_recv(c->mss, data, len, &used);
		if (rc == 0)
			rc = conn_write(c, p2p_mss_output(c->mss));
		if (rc < 0 || !p2p_mss_done(c->mss))
			return rc;
		if (strcmp(p2p_mss_selected(c->mss), P2P_NOISE_PROTOCOL) != 0)
			return P2P_ENEGOTIATE;
		p2p_mss_free(c->mss);
		c->mss = NULL;
		rc = p2p_noise_new(&c->noise, true, c->key, c->pf->peer);
		if (rc == 0)
			rc = conn_write(c, p2p_noise_output(c->noise));
		if (rc < 0)
			return rc;
		c->state = CONN_NOISE;
		data += used;
		len -= used;
		if (len == 0)
			return 0;
	}
	rc = p2p_noise_recv(c->noise, data, len, &c->plain);
	if (rc == 0)
		rc = conn_write(c, p2p_noise_output(c->noise));
	if (rc < 0)
		return rc;
	if (c->state == CONN_NOISE && p2p_noise_handshake_done(c->noise)) {
		static const char *const mux[] = {P2P_YAMUX_PROTOCOL};
		rc = p2p_mss_new(&c->mss, true, mux, 1);
		if (rc == 0)
			rc = conn_send(c, p2p_mss_output(c->mss));
		if (rc < 0)
			return rc;
		c->state = CONN_MUX_MSS;
	}
	return on_plain(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	flood_conn *c = h->data;
	buf->base = (char *)c->rbuf;
	buf->len = sizeof c->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	flood_conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n > 0 && c->state != CONN_FLOODING &&
	    on_bytes(c, (const uint8_t *)buf->base, (size_t)n) < 0)
		conn_close(c);
}

static void on_connect(uv_connect_t *req, int status)
{
	flood_conn *c = req->data;
	if (c->state != CONN_CONNECTING)
		return; /* stopped meanwhile */
	static const char *const sec[] = {P2P_NOISE_PROTOCOL};
	if (status < 0 || p2p_mss_new(&c->mss, true, sec, 1) < 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_MSS;
	if (conn_write(c, p2p_mss_output(c->mss)) < 0 ||
	    uv_read_start((uv_stream_t *)&c->sock, on_alloc, on_read) < 0)
		conn_close(c);
}

static void conn_open(ping_flood *pf, flood_conn *c)
{
	/* Identities are free: one each, or the host's limit of connections
	 * per peer would stop the flood at two. */
	if (p2p_privkey_generate(&c->key) < 0)
		return;
	if (uv_tcp_init(pf->loop, &c->sock) < 0) {
		p2p_privkey_free(c->key);
		c->key = NULL;
		return;
	}
	pf->handles++;
	c->sock.data = c;
	c->connect_req.data = c;
	c->state = CONN_CONNECTING;
	p2p_buf_init(&c->plain);
	if (pf->n_from) {
		c->from = pf->next_from++ % pf->n_from;
		if (uv_tcp_bind(&c->sock, (const struct sockaddr *)&pf->from[c->from],
		                0) < 0) {
			conn_close(c);
			return;
		}
	}
	if (uv_tcp_connect(&c->connect_req, &c->sock,
	                   (const struct sockaddr *)&pf->target, on_connect) < 0)
		conn_close(c);
}

/* Opens what is closed, a few handshakes at a time. */
static void on_tick(uv_timer_t *t)
{
	ping_flood *pf = t->data;
	size_t busy = 0;
	for (size_t i = 0; i < pf->n_conns; i++) {
		conn_state st = pf->conns[i].state;
		if (st != CONN_IDLE && st != CONN_FLOODING && st != CONN_CLOSING)
			busy++;
	}
	for (size_t i = 0; i < pf->n_conns && busy < FLOOD_MAX_HANDSHAKES; i++)
		if (pf->conns[i].state == CONN_IDLE) {
			conn_open(pf, &pf->conns[i]);
			busy++;
		}
}

int ping_flood_start(ping_flood **out, uv_loop_t *loop, const p2p_peerid *peer,
                     const struct sockaddr *target, const struct sockaddr_storage *from,
                     size_t n_from, size_t n_conns)
{
	if (n_conns == 0 || n_conns > PING_FLOOD_MAX_CONNS ||
	    n_from > PING_FLOOD_MAX_FROM)
		return P2P_EINVAL;
	ping_flood *pf = calloc(1, sizeof *pf);
	if (!pf)
		return P2P_ENOMEM;
	pf->conns = calloc(n_conns, sizeof *pf->conns);
	if (!pf->conns) {
		free(pf);
		return P2P_ENOMEM;
	}
	pf->loop = loop;
	pf->peer = peer;
	memcpy(&pf->target, target,
	       target->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                     : sizeof(struct sockaddr_in));
	for (size_t i = 0; i < n_from; i++)
		pf->from[i] = from[i];
	pf->n_from = n_from;
	pf->n_conns = n_conns;
	pf->counts.conns = n_conns;
	for (size_t i = 0; i < n_conns; i++)
		pf->conns[i].pf = pf;
	uv_timer_init(loop, &pf->tick);
	pf->tick.data = pf;
	pf->handles++;
	uv_timer_start(&pf->tick, on_tick, 0, FLOOD_TICK_MS);
	*out = pf;
	return 0;
}

void ping_flood_counts_get(const ping_flood *pf, ping_flood_counts *out)
{
	*out = pf->counts;
}

static void on_tick_closed(uv_handle_t *h)
{
	ping_flood *pf = h->data;
	pf->handles--;
	maybe_free(pf);
}

void ping_flood_stop(ping_flood *pf)
{
	if (pf->stopping)
		return;
	pf->stopping = true;
	for (size_t i = 0; i < pf->n_conns; i++)
		conn_close(&pf->conns[i]);
	uv_close((uv_handle_t *)&pf->tick, on_tick_closed);
}
