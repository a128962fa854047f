/* The AutoNAT v1 server on a host (autonat.h): reads a DIAL, lets the
 * policy (autonat_server.c) decide, dials the requester back over a fresh
 * TCP connection and answers. A dial-back proves something only if it is
 * a new connection to the address asked about: the one the request came
 * on was opened by the requester. */
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "protocols/autonat/autonat_service.h"

struct autonat_req {
	p2p_autonat_service *svc;
	p2p_stream *stream; /* NULL once closed */
	p2p_peerid peer;
	uv_timer_t timer; /* the stream's deadline, or the dial-back's */
	p2p_lpmsg_reader rd;
	p2p_autonat_dialback db;
	size_t next_addr;       /* of db, the next to dial */
	p2p_tcp_dialer *dialer; /* a TCP dial in flight */
	bool upgrading;         /* its pipe in the host's upgrade */
	bool dialing;           /* the dial-back runs */
	bool answered;          /* or given up: nothing more is written */
	uint64_t stream_deadline, dial_deadline;
	autonat_req *prev, *next;
};

static void req_on_timer(uv_timer_t *t);

static void req_timer_closed(uv_handle_t *h)
{
	autonat_req *r = h->data;
	p2p_autonat_service *svc = r->svc;
	p2p_lpmsg_reader_free(&r->rd);
	p2p_autonat_dialback_free(&r->db);
	free(r);
	autonat_svc_unref(svc);
}

static void req_maybe_free(autonat_req *r)
{
	if (r->stream || r->dialer || r->upgrading ||
	    uv_is_closing((uv_handle_t *)&r->timer))
		return;
	p2p_autonat_service *svc = r->svc;
	if (r->prev)
		r->prev->next = r->next;
	else
		svc->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	svc->n_reqs--;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, req_timer_closed);
}

static void req_arm(autonat_req *r)
{
	uint64_t at = r->stream_deadline;
	if (r->dialing && !r->answered && r->dial_deadline < at)
		at = r->dial_deadline;
	uint64_t now = autonat_svc_now(r->svc);
	uv_timer_start(&r->timer, req_on_timer, at > now ? at - now : 0, 0);
}

/* Writes the answer (NULL: it could not be encoded) and half-closes; the
 * stream's deadline still bounds the peer's close. */
static void req_answer(autonat_req *r, const p2p_buf *msg)
{
	r->answered = true;
	r->svc->stats.served++;
	if (r->stream == NULL)
		return;
	int rc = msg ? p2p_stream_write(r->stream, msg->data, msg->len) : P2P_ENOMEM;
	if (rc < 0)
		p2p_stream_reset(r->stream);
	else
		p2p_stream_close(r->stream);
	req_arm(r);
}

static void req_refuse(autonat_req *r, int status, const char *text)
{
	p2p_autonat_service *svc = r->svc;
	svc->stats.refused++;
	char id[P2P_PEERID_STR_MAX] = "?";
	p2p_peerid_to_string(&r->peer, id, sizeof(id));
	p2p_log(p2p_host_logger(svc->host), P2P_LOG_DEBUG, "autonat: refused %s: %s (%d)",
	        id, text, status);
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_autonat_response_encode(&out, status, text, NULL, 0);
	req_answer(r, rc == P2P_OK ? &out : NULL);
	p2p_buf_free(&out);
}

/* Bad input, or a stream we will not serve: reset without an answer. */
static void req_reset(autonat_req *r)
{
	r->svc->stats.refused++;
	r->answered = true;
	if (r->stream)
		p2p_stream_reset(r->stream);
}

static void dial_next(autonat_req *r);

static void on_upgraded(p2p_conn *c, int err, void *user)
{
	autonat_req *r = user;
	r->upgrading = false;
	if (c != NULL) {
		if (!r->answered) {
			r->svc->stats.dialbacks_ok++;
			const p2p_buf *ra = p2p_conn_remote_addr(c);
			p2p_buf out;
			p2p_buf_init(&out);
			int rc =
			    p2p_autonat_server_result(&out, P2P_OK, ra->data, ra->len);
			req_answer(r, rc == P2P_OK ? &out : NULL);
			p2p_buf_free(&out);
		}
		/* The handshake was the proof; the connection is of no use. */
		p2p_conn_close(c, 0);
	} else if (!r->answered) {
		dial_next(r);
	}
	req_maybe_free(r);
}

static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	autonat_req *r = user;
	r->dialer = NULL;
	if (pipe != NULL && (r->answered || r->svc->freeing)) {
		p2p_pipe_close(pipe);
	} else if (pipe != NULL) {
		p2p_host_pipe_opts o = {.initiator = true,
		                        .direction = P2P_DIR_OUTBOUND,
		                        .expected = &r->peer};
		r->upgrading = true;
		/* On error the host has closed the pipe. */
		if (p2p_host_upgrade_pipe(r->svc->host, pipe, &o, on_upgraded, r) < 0)
			r->upgrading = false;
	}
	if (!r->upgrading && !r->answered)
		dial_next(r);
	req_maybe_free(r);
}

/* Dials the next address, each with what is left of the deadline. When
 * none is left the answer waits for the deadline (req_on_timer), as
 * go-libp2p's does, so that how soon E_DIAL_ERROR comes tells nothing
 * about the port: the server is no port scanner. */
static void dial_next(autonat_req *r)
{
	uint64_t now = autonat_svc_now(r->svc);
	while (r->next_addr < r->db.n_addrs && now < r->dial_deadline) {
		const p2p_buf *a = &r->db.addrs[r->next_addr++];
		p2p_tcp_dialer *d = NULL;
		if (p2p_tcp_dial(&d, r->svc->loop, a->data, a->len,
		                 r->dial_deadline - now, on_dialed, r) == P2P_OK) {
			r->dialer = d;
			return;
		}
	}
}

static void req_on_timer(uv_timer_t *t)
{
	autonat_req *r = t->data;
	if (r->dialing && !r->answered) {
		/* The dial-back's time is up: its callbacks see `answered`. */
		if (r->dialer)
			p2p_tcp_dial_cancel(r->dialer);
		r->svc->stats.dialbacks_failed++;
		p2p_buf out;
		p2p_buf_init(&out);
		int rc = p2p_autonat_server_result(&out, P2P_ETIMEDOUT, NULL, 0);
		req_answer(r, rc == P2P_OK ? &out : NULL);
		p2p_buf_free(&out);
		return;
	}
	/* The stream's time is up, whatever it was doing. */
	if (!r->answered)
		r->svc->stats.refused++;
	r->answered = true;
	if (r->stream)
		p2p_stream_reset(r->stream);
}

static void req_handle(autonat_req *r, const p2p_autonat_msg *m)
{
	p2p_autonat_service *svc = r->svc;
	const p2p_buf *observed = p2p_conn_remote_addr(p2p_stream_conn(r->stream));
	uint64_t now = autonat_svc_now(svc);
	int rc = p2p_autonat_server_check(&svc->server, m, &r->peer, observed->data,
	                                  observed->len, now, &r->db);
	if (rc == P2P_EPROTO) { /* not a DIAL: go-libp2p resets */
		req_reset(r);
	} else if (rc < 0) {
		req_refuse(r, P2P_AUTONAT_E_INTERNAL_ERROR, "internal error");
	} else if (r->db.status != P2P_AUTONAT_OK) {
		req_refuse(r, r->db.status, r->db.text);
	} else {
		r->dialing = true;
		r->dial_deadline = now + svc->cfg.dial_timeout_ms;
		req_arm(r);
		dial_next(r);
	}
}

static void req_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	autonat_req *r = user;
	p2p_stream_consume(s, len);
	/* One request a stream: anything after it is ignored. */
	if (r->answered || r->dialing)
		return;
	const uint8_t *body;
	size_t body_len, used;
	int rc = p2p_lpmsg_read(&r->rd, data, len, &used, &body, &body_len);
	if (rc == P2P_EAGAIN)
		return;
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	if (rc == P2P_OK)
		rc = p2p_autonat_msg_decode(&m, body, body_len);
	if (rc == P2P_OK)
		req_handle(r, &m);
	else
		req_reset(r);
	p2p_autonat_msg_free(&m);
}

static void req_on_fin(p2p_stream *s, void *user)
{
	autonat_req *r = user;
	/* A FIN after the DIAL is fine: the answer still goes out. */
	if (!r->answered && !r->dialing)
		req_reset(r);
}

static void req_on_close(p2p_stream *s, void *user)
{
	autonat_req *r = user;
	r->stream = NULL;
	r->answered = true;
	if (r->dialer)
		p2p_tcp_dial_cancel(r->dialer); /* on_dialed follows */
	req_maybe_free(r);
}

static const p2p_stream_callbacks req_callbacks = {
    .on_data = req_on_data,
    .on_fin = req_on_fin,
    .on_close = req_on_close,
};

static size_t peer_requests(const p2p_autonat_service *svc, const p2p_peerid *peer)
{
	size_t n = 0;
	for (const autonat_req *r = svc->reqs; r; r = r->next)
		n += p2p_peerid_equal(&r->peer, peer);
	return n;
}

void autonat_server_on_stream(p2p_stream *s, const char *protocol, void *user)
{
	p2p_autonat_service *svc = user;
	const p2p_peerid *peer = p2p_stream_remote_peer(s);
	/* Over a relay the requester's IP is the relay's: nothing to dial
	 * (go-libp2p takes no AutoNAT stream on a limited connection). */
	autonat_req *r = NULL;
	if (!svc->freeing && !p2p_conn_is_relayed(p2p_stream_conn(s)) &&
	    svc->n_reqs < P2P_AUTONAT_SERVICE_MAX_REQUESTS &&
	    peer_requests(svc, peer) < P2P_AUTONAT_SERVICE_MAX_PER_PEER)
		r = calloc(1, sizeof(*r));
	if (r == NULL) {
		svc->stats.refused++;
		p2p_stream_reset(s);
		return;
	}
	r->svc = svc;
	r->stream = s;
	r->peer = *peer;
	p2p_lpmsg_reader_init(&r->rd, P2P_AUTONAT_MAX_MESSAGE);
	p2p_autonat_dialback_init(&r->db);
	uv_timer_init(svc->loop, &r->timer);
	r->timer.data = r;
	r->stream_deadline = autonat_svc_now(svc) + svc->cfg.stream_timeout_ms;
	r->next = svc->reqs;
	if (svc->reqs)
		svc->reqs->prev = r;
	svc->reqs = r;
	svc->n_reqs++;
	svc->refs++;
	p2p_stream_set_callbacks(s, &req_callbacks, r);
	req_arm(r);
}

void autonat_server_cancel_dials(p2p_autonat_service *svc)
{
	for (autonat_req *r = svc->reqs; r; r = r->next)
		if (r->dialer)
			p2p_tcp_dial_cancel(r->dialer); /* on_dialed follows */
}
