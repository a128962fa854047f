/* DCUtR's state machine (dcutr.h). One p2p_dcutr is one side of one
 * stream's exchange, retries included; the caller owns the stream, the
 * clock and the dials. Every transition is in a function below that takes
 * now_ms, so a test or the fuzzer can drive it with made-up times. */
#include <string.h>

#include "p2p/dcutr.h"
#include "p2p/error.h"

/* A deadline far in the future must not wrap around to the past, and
 * UINT64_MAX is reserved for "none". */
static uint64_t add_ms(uint64_t now, uint64_t delta)
{
	if (now >= UINT64_MAX - 1 - delta)
		return UINT64_MAX - 1;
	return now + delta;
}

/* A clock that steps back (the caller's, not ours) gives 0, not 2^64. */
static uint64_t elapsed_ms(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

static void free_addrs(p2p_buf *addrs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		p2p_buf_free(&addrs[i]);
	*n = 0;
}

static int fail(p2p_dcutr *d, int err)
{
	d->phase = P2P_DCUTR_PHASE_FAILED;
	d->err = err;
	d->deadline_ms = UINT64_MAX;
	return err;
}

int p2p_dcutr_init(p2p_dcutr *d, p2p_dcutr_role role, const p2p_buf *our_addrs, size_t n)
{
	if (d == NULL)
		return P2P_EINVAL;
	memset(d, 0, sizeof(*d));
	p2p_lpmsg_reader_init(&d->rd, P2P_DCUTR_MAX_MESSAGE);
	d->deadline_ms = UINT64_MAX;
	if ((role != P2P_DCUTR_INITIATOR && role != P2P_DCUTR_RESPONDER) ||
	    (our_addrs == NULL && n > 0)) {
		fail(d, P2P_EINVAL);
		return P2P_EINVAL;
	}
	d->role = role;
	/* The responder waits for a CONNECT from the start; the initiator
	 * speaks first and waits for nothing until p2p_dcutr_start. */
	d->phase = role == P2P_DCUTR_INITIATOR ? P2P_DCUTR_PHASE_IDLE
	                                       : P2P_DCUTR_PHASE_WAIT_CONNECT;
	d->n_ours = p2p_dcutr_filter_addrs(our_addrs, n, d->ours, P2P_DCUTR_MAX_ADDRS);
	for (size_t i = 0; i < P2P_DCUTR_MAX_ADDRS; i++)
		p2p_buf_init(&d->remote[i]);
	return P2P_OK;
}

void p2p_dcutr_free(p2p_dcutr *d)
{
	if (d == NULL)
		return;
	free_addrs(d->ours, &d->n_ours);
	free_addrs(d->remote, &d->n_remote);
	p2p_lpmsg_reader_free(&d->rd);
	/* Zeroed storage frees as nothing, so a second free is harmless. */
	memset(d, 0, sizeof(*d));
	d->phase = P2P_DCUTR_PHASE_FAILED;
	d->err = P2P_ESTATE;
	d->deadline_ms = UINT64_MAX;
}

/* Our CONNECT; it starts the RTT measure (initiator) and the wait for the
 * peer's answer (both roles). */
static int send_connect(p2p_dcutr *d, uint64_t now_ms, p2p_buf *out)
{
	/* The spec's CONNECT tells the peer where to dial: without an address
	 * there is nothing to punch to (go-libp2p gives up there too). */
	if (d->n_ours == 0)
		return fail(d, P2P_ENOTFOUND);
	int rc = p2p_dcutr_msg_append(out, P2P_DCUTR_TYPE_CONNECT, d->ours, d->n_ours);
	if (rc != P2P_OK)
		return fail(d, rc);
	d->connect_ms = now_ms;
	d->deadline_ms = add_ms(now_ms, P2P_DCUTR_STEP_TIMEOUT_MS);
	return P2P_OK;
}

int p2p_dcutr_start(p2p_dcutr *d, uint64_t now_ms, p2p_buf *out)
{
	if (d == NULL || out == NULL)
		return P2P_EINVAL;
	if (d->role == P2P_DCUTR_INITIATOR) {
		if (d->phase != P2P_DCUTR_PHASE_IDLE)
			return P2P_ESTATE;
		d->attempt = 1;
		d->phase = P2P_DCUTR_PHASE_WAIT_CONNECT;
		return send_connect(d, now_ms, out);
	}
	if (d->phase != P2P_DCUTR_PHASE_WAIT_CONNECT || d->attempt != 0 ||
	    d->clock_started)
		return P2P_ESTATE;
	d->clock_started = true;
	d->deadline_ms = add_ms(now_ms, P2P_DCUTR_STEP_TIMEOUT_MS);
	return P2P_OK;
}

/* Keeps the addresses of the CONNECT just decoded, dropping the last
 * attempt's: each attempt dials what the peer offered in that attempt. */
static void take_remote(p2p_dcutr *d, p2p_buf *addrs, size_t n)
{
	free_addrs(d->remote, &d->n_remote);
	for (size_t i = 0; i < n; i++) {
		d->remote[i] = addrs[i];
		p2p_buf_init(&addrs[i]);
	}
	d->n_remote = n;
}

static int on_connect(p2p_dcutr *d, p2p_buf *addrs, size_t n, uint64_t now_ms,
                      p2p_buf *out)
{
	if (n == 0)
		return fail(d, P2P_EUNSUPPORTED);
	take_remote(d, addrs, n);
	if (d->role == P2P_DCUTR_INITIATOR) {
		d->rtt_ms = elapsed_ms(now_ms, d->connect_ms);
		int rc = p2p_dcutr_msg_append(out, P2P_DCUTR_TYPE_SYNC, NULL, 0);
		if (rc != P2P_OK)
			return fail(d, rc);
		/* The SYNC reaches the responder about half an RTT from now and
		 * it dials at once; dialing then too makes the SYNs cross. */
		d->phase = P2P_DCUTR_PHASE_WAIT_HALF_RTT;
		d->deadline_ms = add_ms(now_ms, d->rtt_ms / 2);
		return P2P_OK;
	}
	d->attempt++;
	d->phase = P2P_DCUTR_PHASE_WAIT_SYNC;
	return send_connect(d, now_ms, out);
}

static int on_message(p2p_dcutr *d, const uint8_t *body, size_t len, uint64_t now_ms,
                      p2p_buf *out)
{
	uint32_t type;
	size_t n;
	p2p_buf addrs[P2P_DCUTR_MAX_ADDRS];
	int rc = p2p_dcutr_msg_decode(body, len, &type, addrs, P2P_DCUTR_MAX_ADDRS, &n);
	if (rc != P2P_OK) {
		fail(d, rc);
	} else if (d->phase == P2P_DCUTR_PHASE_WAIT_CONNECT &&
	           type == P2P_DCUTR_TYPE_CONNECT) {
		rc = on_connect(d, addrs, n, now_ms, out);
	} else if (d->phase == P2P_DCUTR_PHASE_WAIT_SYNC && type == P2P_DCUTR_TYPE_SYNC) {
		d->rtt_ms = elapsed_ms(now_ms, d->connect_ms);
		d->phase = P2P_DCUTR_PHASE_DIAL;
		d->deadline_ms = UINT64_MAX;
	} else {
		/* Including anything during the initiator's RTT/2 wait: the
		 * responder has nothing to say until our next CONNECT. */
		rc = fail(d, P2P_EPROTO);
	}
	free_addrs(addrs, &n);
	return rc;
}

int p2p_dcutr_recv(p2p_dcutr *d, const uint8_t *in, size_t len, size_t *consumed,
                   uint64_t now_ms, p2p_buf *out)
{
	if (consumed != NULL)
		*consumed = 0;
	if (d == NULL || consumed == NULL || out == NULL || (in == NULL && len > 0))
		return P2P_EINVAL;
	if (d->phase == P2P_DCUTR_PHASE_FAILED)
		return d->err;
	if (len == 0 || p2p_dcutr_get_state(d) != P2P_DCUTR_WAIT)
		return P2P_OK;
	/* The responder never speaks first: bytes before our CONNECT are not
	 * an answer to anything. */
	if (d->phase == P2P_DCUTR_PHASE_IDLE)
		return fail(d, P2P_EPROTO);

	size_t used = 0;
	int rc = P2P_OK;
	/* One message at a time, and stop as soon as the state leaves WAIT:
	 * the bytes after a SYNC belong to the next attempt, which starts only
	 * once the caller has reported the dial. */
	while (used < len && p2p_dcutr_get_state(d) == P2P_DCUTR_WAIT) {
		size_t took;
		const uint8_t *msg;
		size_t msg_len;
		rc = p2p_lpmsg_read(&d->rd, in + used, len - used, &took, &msg, &msg_len);
		used += took;
		if (rc == P2P_EAGAIN) {
			rc = P2P_OK;
			break;
		}
		if (rc != P2P_OK) {
			fail(d, rc);
			break;
		}
		rc = on_message(d, msg, msg_len, now_ms, out);
		if (rc != P2P_OK)
			break;
	}
	*consumed = used;
	return rc;
}

uint64_t p2p_dcutr_deadline(const p2p_dcutr *d)
{
	return d != NULL ? d->deadline_ms : UINT64_MAX;
}

int p2p_dcutr_tick(p2p_dcutr *d, uint64_t now_ms, p2p_buf *out)
{
	(void)out;
	if (d == NULL)
		return P2P_EINVAL;
	if (d->deadline_ms == UINT64_MAX || now_ms < d->deadline_ms)
		return P2P_OK;
	switch (d->phase) {
	case P2P_DCUTR_PHASE_WAIT_HALF_RTT:
		d->phase = P2P_DCUTR_PHASE_DIAL;
		d->deadline_ms = UINT64_MAX;
		return P2P_OK;
	case P2P_DCUTR_PHASE_WAIT_CONNECT:
	case P2P_DCUTR_PHASE_WAIT_SYNC:
		return fail(d, P2P_ETIMEDOUT);
	default:
		/* Other phases keep no deadline; nothing to do. */
		return P2P_OK;
	}
}

int p2p_dcutr_dial_result(p2p_dcutr *d, bool ok, uint64_t now_ms, p2p_buf *out)
{
	if (d == NULL || out == NULL)
		return P2P_EINVAL;
	if (d->phase != P2P_DCUTR_PHASE_DIAL)
		return P2P_ESTATE;
	if (ok) {
		d->phase = P2P_DCUTR_PHASE_DONE;
		d->deadline_ms = UINT64_MAX;
		return P2P_OK;
	}
	if (d->attempt >= P2P_DCUTR_MAX_ATTEMPTS)
		return fail(d, P2P_ELIMIT);
	if (d->stream_closed)
		return fail(d, P2P_ECLOSED);
	d->phase = P2P_DCUTR_PHASE_WAIT_CONNECT;
	if (d->role == P2P_DCUTR_INITIATOR) {
		d->attempt++;
		return send_connect(d, now_ms, out);
	}
	d->deadline_ms = add_ms(now_ms, P2P_DCUTR_STEP_TIMEOUT_MS);
	return P2P_OK;
}

void p2p_dcutr_stream_closed(p2p_dcutr *d)
{
	if (d == NULL)
		return;
	switch (d->phase) {
	case P2P_DCUTR_PHASE_IDLE:
	case P2P_DCUTR_PHASE_WAIT_CONNECT:
	case P2P_DCUTR_PHASE_WAIT_SYNC:
		fail(d, P2P_ECLOSED);
		break;
	case P2P_DCUTR_PHASE_WAIT_HALF_RTT:
	case P2P_DCUTR_PHASE_DIAL:
		/* This attempt needs no more messages; a retry would. */
		d->stream_closed = true;
		break;
	case P2P_DCUTR_PHASE_DONE:
	case P2P_DCUTR_PHASE_FAILED:
		break;
	}
}

int p2p_dcutr_new_stream(p2p_dcutr *d)
{
	if (d == NULL)
		return P2P_EINVAL;
	if (d->phase != P2P_DCUTR_PHASE_DIAL && d->phase != P2P_DCUTR_PHASE_WAIT_HALF_RTT)
		return P2P_ESTATE;
	/* Between two exchanges the reader holds no partial message, but a
	 * fresh one also forgets a sticky error of the old stream's framing. */
	p2p_lpmsg_reader_free(&d->rd);
	p2p_lpmsg_reader_init(&d->rd, P2P_DCUTR_MAX_MESSAGE);
	d->stream_closed = false;
	return P2P_OK;
}

p2p_dcutr_state p2p_dcutr_get_state(const p2p_dcutr *d)
{
	if (d == NULL)
		return P2P_DCUTR_FAILED;
	switch (d->phase) {
	case P2P_DCUTR_PHASE_DIAL:
		return P2P_DCUTR_DIAL;
	case P2P_DCUTR_PHASE_DONE:
		return P2P_DCUTR_DONE;
	case P2P_DCUTR_PHASE_FAILED:
		return P2P_DCUTR_FAILED;
	default:
		return P2P_DCUTR_WAIT;
	}
}

int p2p_dcutr_error(const p2p_dcutr *d)
{
	if (d == NULL)
		return P2P_EINVAL;
	return d->phase == P2P_DCUTR_PHASE_FAILED ? d->err : P2P_OK;
}

const p2p_buf *p2p_dcutr_remote_addrs(const p2p_dcutr *d, size_t *n)
{
	if (d == NULL) {
		if (n != NULL)
			*n = 0;
		return NULL;
	}
	if (n != NULL)
		*n = d->n_remote;
	return d->remote;
}

uint64_t p2p_dcutr_rtt_ms(const p2p_dcutr *d)
{
	return d != NULL ? d->rtt_ms : 0;
}

unsigned p2p_dcutr_attempt(const p2p_dcutr *d)
{
	return d != NULL ? d->attempt : 0;
}
