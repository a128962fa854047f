/* The AutoNAT v2 client on a host (autonat2_service.h): a check opens a
 * dial-request stream and drives the probe core (autonat2_client.c) with
 * what the server sends; the dial-back streams the server opens are read
 * here too and handed to the probe whose nonce they carry. */
#include <openssl/rand.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "protocols/autonat2/autonat2_service.h"

struct autonat2_probe {
	p2p_autonat2_service *svc;
	p2p_peerid server;
	p2p_stream *stream; /* once negotiated, until on_close */
	bool selecting;     /* p2p_stream_select has not reported */
	bool reported;      /* cb ran */
	uv_timer_t timer;   /* the exchange's deadline, then the dial-back's */
	p2p_lpmsg_reader rd;
	p2p_autonat2_probe core;
	uint64_t data_paid;
	p2p_autonat2_check_cb cb;
	void *user;
	autonat2_probe *prev, *next;
};

/* An inbound dial-back stream, until it closes. */
struct autonat2_back {
	p2p_autonat2_service *svc;
	p2p_stream *stream;
	uv_timer_t timer;
	p2p_lpmsg_reader rd;
	bool read; /* its DialBack came (or was bad) */
};

/* --- probes --- */

static void probe_timer_closed(uv_handle_t *h)
{
	autonat2_probe *p = h->data;
	p2p_autonat2_service *svc = p->svc;
	p2p_lpmsg_reader_free(&p->rd);
	p2p_autonat2_probe_free(&p->core);
	free(p);
	autonat2_unref(svc);
}

static void probe_maybe_free(autonat2_probe *p)
{
	if (p->stream || p->selecting || !p->reported ||
	    uv_is_closing((uv_handle_t *)&p->timer))
		return;
	p2p_autonat2_service *svc = p->svc;
	if (p->prev)
		p->prev->next = p->next;
	else
		svc->probes = p->next;
	if (p->next)
		p->next->prev = p->prev;
	svc->n_probes--;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, probe_timer_closed);
}

/* The outcome, exactly once, when the core is DONE or FAILED. */
static void probe_report(autonat2_probe *p)
{
	p2p_autonat2_probe_state st = p->core.state;
	if (p->reported ||
	    (st != P2P_AUTONAT2_PROBE_DONE && st != P2P_AUTONAT2_PROBE_FAILED))
		return;
	p->reported = true;
	p2p_autonat2_service *svc = p->svc;
	p2p_autonat2_result r = {.server = &p->server,
	                         .status = -1,
	                         .dial_status = -1,
	                         .addr_idx = -1,
	                         .data_paid = p->data_paid};
	if (st == P2P_AUTONAT2_PROBE_DONE) {
		svc->stats.probes_answered++;
		r.status = p->core.status;
		r.dial_status = p->core.dial_status;
		r.reach = p2p_autonat2_probe_result(&p->core, &r.addr_idx);
		if (r.addr_idx >= 0 && (size_t)r.addr_idx < p->core.n_addrs)
			r.addr = &p->core.addrs[r.addr_idx];
		else
			r.addr_idx = -1;
	} else {
		svc->stats.probes_failed++;
		r.err = p->core.err < 0 ? p->core.err : P2P_EPROTO;
	}
	p->cb(&r, p->user);
}

static void probe_fail(autonat2_probe *p, int err)
{
	p2p_autonat2_probe_give_up(&p->core, err);
	probe_report(p);
}

static void probe_on_timer(uv_timer_t *t);

static void probe_arm(autonat2_probe *p, uint64_t ms)
{
	uv_timer_start(&p->timer, probe_on_timer, ms, 0);
}

static void probe_on_message(autonat2_probe *p, const uint8_t *body, size_t len)
{
	p2p_autonat2_msg m;
	p2p_autonat2_msg_init(&m);
	int rc = p2p_autonat2_msg_decode(&m, body, len);
	p2p_buf out;
	p2p_buf_init(&out);
	if (rc == P2P_OK)
		rc = p2p_autonat2_probe_on_message(&p->core, &m, &out);
	if (rc >= 0 && out.len > 0 && p->stream) {
		int wrc = p2p_stream_write(p->stream, out.data, out.len);
		if (wrc < 0)
			p2p_autonat2_probe_give_up(&p->core, wrc);
		else
			p->data_paid = m.num_bytes;
	}
	if (rc < 0)
		p2p_autonat2_probe_give_up(&p->core, rc);
	p2p_buf_free(&out);
	p2p_autonat2_msg_free(&m);
	if (p->core.state == P2P_AUTONAT2_PROBE_DIAL_BACK)
		probe_arm(p, p->svc->cfg.dial_back_timeout_ms);
}

static void probe_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	autonat2_probe *p = user;
	p2p_stream_consume(s, len);
	while (len > 0 && p->core.state == P2P_AUTONAT2_PROBE_WAIT) {
		const uint8_t *body;
		size_t body_len, used;
		int rc = p2p_lpmsg_read(&p->rd, data, len, &used, &body, &body_len);
		data += used;
		len -= used;
		if (rc == P2P_EAGAIN)
			break;
		if (rc < 0)
			p2p_autonat2_probe_give_up(&p->core, rc);
		else
			probe_on_message(p, body, body_len);
	}
	if (p->core.state == P2P_AUTONAT2_PROBE_FAILED)
		p2p_stream_reset(s);
	else if (p->core.state != P2P_AUTONAT2_PROBE_WAIT)
		p2p_stream_close(s); /* answered: the spec has the client close */
	probe_report(p);
}

static void probe_on_fin(p2p_stream *s, void *user)
{
	autonat2_probe *p = user;
	/* After an answer the server closes; before one it gave up. */
	if (p->core.state == P2P_AUTONAT2_PROBE_WAIT)
		probe_fail(p, P2P_ECLOSED);
	p2p_stream_close(s);
}

static void probe_on_reset(p2p_stream *s, int err, void *user)
{
	autonat2_probe *p = user;
	if (p->core.state == P2P_AUTONAT2_PROBE_WAIT)
		probe_fail(p, err < 0 ? err : P2P_ERESET);
}

static void probe_on_close(p2p_stream *s, void *user)
{
	autonat2_probe *p = user;
	p->stream = NULL;
	/* An OK may still wait for its dial-back (the timer bounds it). */
	if (p->core.state == P2P_AUTONAT2_PROBE_WAIT)
		probe_fail(p, P2P_ECLOSED);
	probe_maybe_free(p);
}

static const p2p_stream_callbacks probe_callbacks = {
    .on_data = probe_on_data,
    .on_fin = probe_on_fin,
    .on_reset = probe_on_reset,
    .on_close = probe_on_close,
};

static void probe_on_timer(uv_timer_t *t)
{
	autonat2_probe *p = t->data;
	/* No dial-back after an OK: the server claimed what it did not do. */
	probe_fail(p, p->core.state == P2P_AUTONAT2_PROBE_DIAL_BACK ? P2P_EPROTO
	                                                            : P2P_ETIMEDOUT);
	if (p->stream)
		p2p_stream_reset(p->stream);
	probe_maybe_free(p);
}

static void probe_on_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	autonat2_probe *p = user;
	p->selecting = false;
	if (err < 0 || p->reported) { /* on failure the library resets s */
		if (err == 0)
			p2p_stream_reset(s);
		probe_fail(p, err < 0 ? err : P2P_ECLOSED);
		probe_maybe_free(p);
		return;
	}
	p->stream = s;
	p2p_stream_set_callbacks(s, &probe_callbacks, p);
	p2p_buf req;
	p2p_buf_init(&req);
	int rc = p2p_autonat2_probe_request(&p->core, &req);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, req.data, req.len);
	p2p_buf_free(&req);
	if (rc < 0) {
		probe_fail(p, rc);
		p2p_stream_reset(s);
		return;
	}
	p->svc->stats.probes_sent++;
}

int p2p_autonat2_service_check(p2p_autonat2_service *svc, p2p_conn *c,
                               const p2p_buf *addrs, size_t n, p2p_autonat2_check_cb cb,
                               void *user)
{
	if (svc == NULL || c == NULL || cb == NULL || svc->freeing)
		return P2P_EINVAL;
	if (svc->cfg.disable_client || svc->n_probes >= P2P_AUTONAT2_SERVICE_MAX_PROBES)
		return P2P_ELIMIT;
	uint64_t nonce;
	if (RAND_bytes((unsigned char *)&nonce, sizeof(nonce)) != 1)
		return P2P_ECRYPTO;
	autonat2_probe *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return P2P_ENOMEM;
	bool pay[P2P_AUTONAT2_PROBE_MAX_ADDRS];
	for (size_t i = 0; i < P2P_AUTONAT2_PROBE_MAX_ADDRS; i++)
		pay[i] = !svc->cfg.no_dial_data;
	int rc = p2p_autonat2_probe_init(&p->core, addrs, pay, n, nonce);
	p2p_stream *s = NULL;
	static const char *const protos[] = {P2P_AUTONAT2_DIAL_REQUEST_PROTOCOL};
	if (rc == P2P_OK)
		rc = p2p_conn_open_stream(c, &s);
	if (rc == P2P_OK) {
		rc = p2p_stream_select(s, true, protos, 1, probe_on_selected, p);
		if (rc < 0)
			p2p_stream_reset(s); /* not taken by p2p_stream_select */
	}
	if (rc < 0) {
		p2p_autonat2_probe_free(&p->core);
		free(p);
		return rc;
	}
	p->svc = svc;
	p->server = *p2p_conn_remote_peer(c);
	p->selecting = true;
	p->cb = cb;
	p->user = user;
	p2p_lpmsg_reader_init(&p->rd, P2P_AUTONAT2_MAX_MESSAGE);
	uv_timer_init(svc->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, probe_on_timer, svc->cfg.stream_timeout_ms, 0);
	p->next = svc->probes;
	if (svc->probes)
		svc->probes->prev = p;
	svc->probes = p;
	svc->n_probes++;
	svc->refs++;
	return P2P_OK;
}

/* --- dial-back streams --- */

static void back_timer_closed(uv_handle_t *h)
{
	autonat2_back *b = h->data;
	p2p_autonat2_service *svc = b->svc;
	p2p_lpmsg_reader_free(&b->rd);
	free(b);
	svc->n_backs--;
	autonat2_unref(svc);
}

/* The probe, if any, whose nonce this is; it takes it. */
static autonat2_probe *take_nonce(p2p_autonat2_service *svc, uint64_t nonce,
                                  const p2p_buf *local)
{
	for (autonat2_probe *p = svc->probes; p; p = p->next)
		if (!p->reported && p2p_autonat2_probe_on_dial_back(
		                        &p->core, nonce, local->data, local->len))
			return p;
	return NULL;
}

static void back_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	autonat2_back *b = user;
	p2p_stream_consume(s, len);
	if (b->read)
		return;
	const uint8_t *body;
	size_t body_len, used;
	int rc = p2p_lpmsg_read(&b->rd, data, len, &used, &body, &body_len);
	if (rc == P2P_EAGAIN)
		return;
	b->read = true;
	uint64_t nonce = 0;
	if (rc == P2P_OK)
		rc = p2p_autonat2_dial_back_decode(body, body_len, &nonce);
	p2p_autonat2_service *svc = b->svc;
	autonat2_probe *p = NULL;
	if (rc == P2P_OK && !svc->freeing)
		p = take_nonce(svc, nonce, p2p_conn_local_addr(p2p_stream_conn(s)));
	if (p == NULL) {
		p2p_log(p2p_host_logger(svc->host), P2P_LOG_DEBUG,
		        "autonat2: a dial-back with %s",
		        rc < 0 ? "a bad message" : "no nonce of ours");
		p2p_stream_reset(s);
		return;
	}
	svc->stats.dial_backs++;
	p2p_buf out;
	p2p_buf_init(&out);
	rc = p2p_autonat2_dial_back_response_encode(&out);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, out.data, out.len);
	p2p_buf_free(&out);
	if (rc < 0)
		p2p_stream_reset(s);
	else
		p2p_stream_close(s); /* the spec: the client closes */
	probe_report(p);
	probe_maybe_free(p);
}

static void back_on_fin(p2p_stream *s, void *user)
{
	autonat2_back *b = user;
	if (!b->read)
		p2p_stream_reset(s);
}

static void back_on_close(p2p_stream *s, void *user)
{
	autonat2_back *b = user;
	b->stream = NULL;
	uv_timer_stop(&b->timer);
	uv_close((uv_handle_t *)&b->timer, back_timer_closed);
}

static const p2p_stream_callbacks back_callbacks = {
    .on_data = back_on_data,
    .on_fin = back_on_fin,
    .on_close = back_on_close,
};

static void back_on_timer(uv_timer_t *t)
{
	autonat2_back *b = t->data;
	if (b->stream)
		p2p_stream_reset(b->stream);
}

void autonat2_client_on_dial_back(p2p_stream *s, const char *protocol, void *user)
{
	p2p_autonat2_service *svc = user;
	(void)protocol;
	autonat2_back *b = NULL;
	if (!svc->freeing && svc->n_backs < P2P_AUTONAT2_SERVICE_MAX_DIAL_BACKS)
		b = calloc(1, sizeof(*b));
	if (b == NULL) {
		p2p_stream_reset(s);
		return;
	}
	b->svc = svc;
	b->stream = s;
	p2p_lpmsg_reader_init(&b->rd, P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE);
	uv_timer_init(svc->loop, &b->timer);
	b->timer.data = b;
	uv_timer_start(&b->timer, back_on_timer, svc->cfg.dial_back_timeout_ms, 0);
	svc->n_backs++;
	svc->refs++;
	p2p_stream_set_callbacks(s, &back_callbacks, b);
}

void autonat2_client_cancel(p2p_autonat2_service *svc)
{
	/* The host is gone: a probe still waiting for its dial-back hears
	 * no more. */
	for (autonat2_probe *p = svc->probes; p; p = p->next) {
		probe_fail(p, P2P_ECLOSED);
		uv_timer_stop(&p->timer);
	}
	autonat2_probe *p = svc->probes;
	while (p) {
		autonat2_probe *next = p->next;
		probe_maybe_free(p);
		p = next;
	}
}
