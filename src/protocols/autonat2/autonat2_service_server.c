/* The AutoNAT v2 server on a host (autonat2_service.h): reads a
 * DialRequest, lets the policy (autonat2_server.c) choose the address,
 * collects the dial data it asks for, dials the address over a fresh TCP
 * connection, sends the nonce on a dial-back stream and answers.
 *
 * A request goes READ -> (DATA) -> DIAL -> BACK -> answered; the timer
 * holds the earlier of the exchange's deadline and the phase's. */
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "p2p/splitmix.h"
#include "p2p/transport.h"
#include "protocols/autonat2/autonat2_service.h"

typedef enum req_phase {
	REQ_READ, /* for the DialRequest */
	REQ_DATA, /* for dial data */
	REQ_DIAL, /* TCP dial and upgrade */
	REQ_BACK, /* the dial-back stream: negotiating, then the nonce */
	REQ_OVER, /* answered, or given up: nothing more is written */
} req_phase;

struct autonat2_req {
	p2p_autonat2_service *svc;
	p2p_stream *stream; /* the dial request; NULL once closed */
	p2p_peerid peer;
	bool accepted; /* counted by the rate limiter: p2p_autonat2_server_done */
	req_phase phase;
	uv_timer_t timer;
	p2p_lpmsg_reader rd;
	p2p_autonat2_decision d;
	uint64_t nonce;
	uint64_t remain;        /* dial data still due */
	p2p_tcp_dialer *dialer; /* a TCP dial in flight */
	bool upgrading;         /* its pipe in the host's upgrade */
	bool back_selecting;    /* the dial-back stream negotiating */
	p2p_stream *back;       /* the dial-back stream, negotiated */
	bool nonce_sent;
	uint64_t stream_deadline, phase_deadline;
	autonat2_req *prev, *next;
};

static void req_on_timer(uv_timer_t *t);

static void req_timer_closed(uv_handle_t *h)
{
	autonat2_req *r = h->data;
	p2p_autonat2_service *svc = r->svc;
	p2p_lpmsg_reader_free(&r->rd);
	p2p_autonat2_decision_free(&r->d);
	free(r);
	autonat2_unref(svc);
}

static void req_maybe_free(autonat2_req *r)
{
	if (r->stream || r->dialer || r->upgrading || r->back_selecting || r->back ||
	    uv_is_closing((uv_handle_t *)&r->timer))
		return;
	p2p_autonat2_service *svc = r->svc;
	if (r->accepted)
		p2p_autonat2_server_done(&svc->server, &r->peer);
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

static void req_arm(autonat2_req *r)
{
	uint64_t at = r->stream_deadline;
	if ((r->phase == REQ_DIAL || r->phase == REQ_BACK) && r->phase_deadline < at)
		at = r->phase_deadline;
	uint64_t now = autonat2_now(r->svc);
	uv_timer_start(&r->timer, req_on_timer, at > now ? at - now : 0, 0);
}

/* Writes msg (NULL: it could not be encoded) and half-closes; the
 * exchange's deadline still bounds the peer's close. */
static void req_write_last(autonat2_req *r, const p2p_buf *msg)
{
	r->phase = REQ_OVER;
	if (r->stream == NULL)
		return;
	int rc = msg ? p2p_stream_write(r->stream, msg->data, msg->len) : P2P_ENOMEM;
	if (rc < 0)
		p2p_stream_reset(r->stream);
	else
		p2p_stream_close(r->stream);
	req_arm(r);
}

static void req_answer(autonat2_req *r, int status, uint32_t idx, int dial_status)
{
	p2p_autonat2_service *svc = r->svc;
	if (status == P2P_AUTONAT2_OK)
		svc->stats.served++;
	else
		svc->stats.refused++;
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_autonat2_dial_response_encode(&out, status, idx, dial_status);
	req_write_last(r, rc == P2P_OK ? &out : NULL);
	p2p_buf_free(&out);
}

/* Bad input, or a stream we will not serve: reset without an answer. */
static void req_reset(autonat2_req *r, const char *why)
{
	p2p_autonat2_service *svc = r->svc;
	if (r->phase != REQ_OVER)
		svc->stats.refused++;
	r->phase = REQ_OVER;
	char id[P2P_PEERID_STR_MAX] = "?";
	p2p_peerid_to_string(&r->peer, id, sizeof(id));
	p2p_log(p2p_host_logger(svc->host), P2P_LOG_DEBUG,
	        "autonat2: reset %s's request: %s", id, why);
	if (r->stream)
		p2p_stream_reset(r->stream);
}

/* --- the dial-back --- */

/* Lets go of the dial-back stream and its connection (which proved what
 * it could and is of no other use). */
static void back_drop(autonat2_req *r)
{
	p2p_stream *s = r->back;
	if (s == NULL)
		return;
	r->back = NULL;
	p2p_stream_set_callbacks(s, &(p2p_stream_callbacks){0}, NULL);
	p2p_conn *c = p2p_stream_conn(s);
	p2p_stream_reset(s);
	p2p_conn_close(c, 0);
}

/* The dial-back is over: answer with how it went. */
static void dial_done(autonat2_req *r, int dial_status)
{
	if (r->phase != REQ_DIAL && r->phase != REQ_BACK)
		return;
	back_drop(r);
	p2p_autonat2_service *svc = r->svc;
	if (dial_status == P2P_AUTONAT2_DIAL_OK)
		svc->stats.dialbacks_ok++;
	else
		svc->stats.dialbacks_failed++;
	req_answer(r, P2P_AUTONAT2_OK, r->d.addr_idx, dial_status);
}

static void back_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	/* The DialBackResponse, or anything: the nonce got there. */
	p2p_stream_consume(s, len);
	dial_done(user, P2P_AUTONAT2_DIAL_OK);
}

static void back_on_fin(p2p_stream *s, void *user)
{
	dial_done(user, P2P_AUTONAT2_DIAL_OK);
}

static void back_on_close(p2p_stream *s, void *user)
{
	autonat2_req *r = user;
	p2p_conn *c = p2p_stream_conn(s);
	r->back = NULL;
	dial_done(r, r->nonce_sent ? P2P_AUTONAT2_DIAL_OK
	                           : P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR);
	p2p_conn_close(c, 0);
	req_maybe_free(r);
}

static const p2p_stream_callbacks back_callbacks = {
    .on_data = back_on_data,
    .on_fin = back_on_fin,
    .on_close = back_on_close,
};

static void back_on_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	autonat2_req *r = user;
	r->back_selecting = false;
	if (err < 0 || r->phase != REQ_BACK) {
		p2p_conn *c = p2p_stream_conn(s);
		if (err == 0) /* on failure the library resets s */
			p2p_stream_reset(s);
		p2p_conn_close(c, 0);
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR);
		req_maybe_free(r);
		return;
	}
	r->back = s;
	p2p_stream_set_callbacks(s, &back_callbacks, r);
	p2p_buf msg;
	p2p_buf_init(&msg);
	int rc = p2p_autonat2_dial_back_encode(&msg, r->nonce);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, msg.data, msg.len);
	p2p_buf_free(&msg);
	if (rc >= 0) {
		r->nonce_sent = true;
		p2p_stream_close_write(s);
	} else {
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR);
	}
}

static void on_upgraded(p2p_conn *c, int err, void *user)
{
	autonat2_req *r = user;
	r->upgrading = false;
	if (c == NULL) {
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
	} else if (r->phase != REQ_DIAL) {
		p2p_conn_close(c, 0);
	} else {
		r->phase = REQ_BACK;
		r->phase_deadline =
		    autonat2_now(r->svc) + r->svc->cfg.dial_back_timeout_ms;
		req_arm(r);
		static const char *const protos[] = {P2P_AUTONAT2_DIAL_BACK_PROTOCOL};
		p2p_stream *s = NULL;
		int rc = p2p_conn_open_stream(c, &s);
		if (rc == P2P_OK) {
			rc = p2p_stream_select(s, true, protos, 1, back_on_selected, r);
			if (rc == P2P_OK)
				r->back_selecting = true;
			else
				p2p_stream_reset(s);
		}
		if (rc < 0) {
			p2p_conn_close(c, 0);
			dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR);
		}
	}
	req_maybe_free(r);
}

static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	autonat2_req *r = user;
	r->dialer = NULL;
	if (pipe != NULL && (r->phase != REQ_DIAL || r->svc->freeing)) {
		p2p_pipe_close(pipe);
	} else if (pipe != NULL) {
		p2p_host_pipe_opts o = {.initiator = true,
		                        .direction = P2P_DIR_OUTBOUND,
		                        .expected = &r->peer};
		r->upgrading = true;
		/* On error the host has closed the pipe. */
		if (p2p_host_upgrade_pipe(r->svc->host, pipe, &o, on_upgraded, r) < 0) {
			r->upgrading = false;
			dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
		}
	} else {
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
	}
	req_maybe_free(r);
}

/* From an ephemeral port (p2p_tcp_dial): from the listening one, the
 * dial could punch the very hole it is meant to test for. */
static void dial_start(autonat2_req *r)
{
	p2p_autonat2_service *svc = r->svc;
	r->phase = REQ_DIAL;
	r->phase_deadline = autonat2_now(svc) + svc->cfg.dial_timeout_ms;
	req_arm(r);
	if (p2p_tcp_dial(&r->dialer, svc->loop, r->d.addr.data, r->d.addr.len,
	                 svc->cfg.dial_timeout_ms, on_dialed, r) != P2P_OK) {
		r->dialer = NULL;
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
	}
}

/* --- the dial-request stream --- */

static void req_on_request(autonat2_req *r, const p2p_autonat2_msg *m)
{
	p2p_autonat2_service *svc = r->svc;
	const p2p_buf *observed = p2p_conn_remote_addr(p2p_stream_conn(r->stream));
	int rc = p2p_autonat2_server_select(&svc->server, m, &r->peer, observed->data,
	                                    observed->len, autonat2_now(svc),
	                                    p2p_splitmix64(&svc->rng), &r->d);
	if (rc == P2P_EPROTO) {
		req_reset(r, "not a DialRequest");
		return;
	}
	if (rc < 0) {
		req_answer(r, P2P_AUTONAT2_E_INTERNAL_ERROR, 0, 0);
		return;
	}
	if (r->d.status != P2P_AUTONAT2_OK) {
		req_answer(r, r->d.status, 0, 0);
		return;
	}
	r->nonce = m->nonce;
	if (r->d.num_bytes == 0) {
		dial_start(r);
		return;
	}
	p2p_buf out;
	p2p_buf_init(&out);
	rc = p2p_autonat2_dial_data_request_encode(&out, r->d.addr_idx, r->d.num_bytes);
	if (rc == P2P_OK)
		rc = p2p_stream_write(r->stream, out.data, out.len);
	p2p_buf_free(&out);
	if (rc < 0) {
		req_reset(r, "cannot ask for dial data");
		return;
	}
	svc->stats.data_requests++;
	r->remain = r->d.num_bytes;
	r->phase = REQ_DATA;
}

/* One whole message; false once the request is past reading. */
static bool req_on_message(autonat2_req *r, const uint8_t *body, size_t len)
{
	p2p_autonat2_msg m;
	p2p_autonat2_msg_init(&m);
	int rc = p2p_autonat2_msg_decode(&m, body, len);
	if (rc < 0) {
		req_reset(r, "malformed message");
	} else if (r->phase == REQ_READ) {
		req_on_request(r, &m);
	} else {
		rc = p2p_autonat2_server_data(&r->remain, &m);
		if (rc == P2P_OK)
			dial_start(r);
		else if (rc != P2P_EAGAIN)
			req_reset(r, "bad dial data");
	}
	p2p_autonat2_msg_free(&m);
	return r->phase == REQ_READ || r->phase == REQ_DATA;
}

static void req_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	autonat2_req *r = user;
	p2p_stream_consume(s, len);
	/* Dial data comes many messages to a read; anything once the request
	 * is past reading is ignored. */
	while (len > 0 && (r->phase == REQ_READ || r->phase == REQ_DATA)) {
		const uint8_t *body;
		size_t body_len, used;
		int rc = p2p_lpmsg_read(&r->rd, data, len, &used, &body, &body_len);
		data += used;
		len -= used;
		if (rc == P2P_EAGAIN)
			return;
		if (rc < 0) {
			req_reset(r, "message too big or malformed");
			return;
		}
		if (!req_on_message(r, body, body_len))
			return;
	}
}

static void req_on_fin(p2p_stream *s, void *user)
{
	autonat2_req *r = user;
	/* A FIN once the data is in is fine: the answer still goes out. */
	if (r->phase == REQ_READ || r->phase == REQ_DATA)
		req_reset(r, "closed before its request was complete");
}

static void req_on_close(p2p_stream *s, void *user)
{
	autonat2_req *r = user;
	r->stream = NULL;
	if (r->phase != REQ_OVER)
		r->svc->stats.refused++;
	r->phase = REQ_OVER;
	if (r->dialer)
		p2p_tcp_dial_cancel(r->dialer); /* on_dialed follows */
	back_drop(r);
	req_maybe_free(r);
}

static const p2p_stream_callbacks req_callbacks = {
    .on_data = req_on_data,
    .on_fin = req_on_fin,
    .on_close = req_on_close,
};

static void req_on_timer(uv_timer_t *t)
{
	autonat2_req *r = t->data;
	uint64_t now = autonat2_now(r->svc);
	if (r->phase == REQ_DIAL && now >= r->phase_deadline &&
	    now < r->stream_deadline) {
		/* The dial's time is up: its callbacks see the phase. */
		if (r->dialer)
			p2p_tcp_dial_cancel(r->dialer);
		dial_done(r, P2P_AUTONAT2_DIAL_E_DIAL_ERROR);
		return;
	}
	if (r->phase == REQ_BACK && now >= r->phase_deadline &&
	    now < r->stream_deadline) {
		/* The peer neither answered nor closed: the nonce was sent. */
		dial_done(r, r->nonce_sent ? P2P_AUTONAT2_DIAL_OK
		                           : P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR);
		return;
	}
	/* The exchange's time is up, whatever it was doing. */
	req_reset(r, "timed out");
	if (r->dialer)
		p2p_tcp_dial_cancel(r->dialer);
	back_drop(r);
}

void autonat2_server_on_stream(p2p_stream *s, const char *protocol, void *user)
{
	p2p_autonat2_service *svc = user;
	(void)protocol;
	/* Over a relay the requester's IP is the relay's and a dial-back
	 * could not tell much: go-libp2p takes no AutoNAT stream on a
	 * limited connection. */
	autonat2_req *r = NULL;
	if (!svc->freeing && !p2p_conn_is_relayed(p2p_stream_conn(s)) &&
	    svc->n_reqs < P2P_AUTONAT2_SERVICE_MAX_REQUESTS)
		r = calloc(1, sizeof(*r));
	if (r == NULL) {
		svc->stats.refused++;
		p2p_stream_reset(s);
		return;
	}
	r->svc = svc;
	r->stream = s;
	r->peer = *p2p_stream_remote_peer(s);
	p2p_lpmsg_reader_init(&r->rd, P2P_AUTONAT2_MAX_MESSAGE);
	p2p_autonat2_decision_init(&r->d);
	uv_timer_init(svc->loop, &r->timer);
	r->timer.data = r;
	uint64_t now = autonat2_now(svc);
	r->stream_deadline = now + svc->cfg.stream_timeout_ms;
	r->next = svc->reqs;
	if (svc->reqs)
		svc->reqs->prev = r;
	svc->reqs = r;
	svc->n_reqs++;
	svc->refs++;
	p2p_stream_set_callbacks(s, &req_callbacks, r);
	req_arm(r);
	/* As go-libp2p, the rate limit is checked before anything is read. */
	if (p2p_autonat2_server_accept(&svc->server, &r->peer, now) == P2P_OK)
		r->accepted = true;
	else
		req_answer(r, P2P_AUTONAT2_E_REQUEST_REJECTED, 0, 0);
}

void autonat2_server_cancel(p2p_autonat2_service *svc)
{
	for (autonat2_req *r = svc->reqs; r; r = r->next)
		if (r->dialer)
			p2p_tcp_dial_cancel(r->dialer); /* on_dialed follows */
}
