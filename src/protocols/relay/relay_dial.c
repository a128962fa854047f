/* Dialing through a relay: the host's transport for /p2p-circuit
 * addresses (p2p_host_add_transport). For <relay>/p2p/R/p2p-circuit (the
 * host has taken /p2p/<target> off) it connects to R, sends a hop CONNECT
 * naming the target and, on STATUS OK, hands the host the hop stream as a
 * pipe, which the host upgrades expecting the target (Noise proves it: the
 * relay cannot stand in for it). */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"
#include "protocols/relay/relay_stream.h"

typedef struct relay_dial {
	p2p_host *host;
	p2p_peerid relay, target;
	p2p_buf addr; /* the whole circuit address, for the pipe */
	p2p_stream *s;
	p2p_lpmsg_reader rd;
	uv_timer_t timer;
	p2p_dial_cb cb;
	void *user;
	bool cancelled, reported;
} relay_dial;

/* The offset of a final /p2p-circuit component, or 0 if there is none. */
static size_t circuit_offset(const uint8_t *addr, size_t len)
{
	size_t off = 0, last = 0;
	p2p_multiaddr_component c;
	uint64_t last_code = 0;
	while (p2p_multiaddr_next(addr, len, &off, &c) == 1) {
		if (off < len)
			last = off;
		last_code = c.code;
	}
	return last_code == P2P_MA_P2P_CIRCUIT && off == len ? last : 0;
}

static bool relay_can_dial(void *self, const uint8_t *addr, size_t len)
{
	return circuit_offset(addr, len) > 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	relay_dial *d = h->data;
	p2p_lpmsg_reader_free(&d->rd);
	p2p_buf_free(&d->addr);
	free(d);
}

/* Reports once, then lets the dial go (freed once its timer is closed). */
static void dial_report(relay_dial *d, p2p_pipe *pipe, int err)
{
	if (d->reported)
		return;
	d->reported = true;
	if (d->s) {
		p2p_stream_set_callbacks(d->s, &relay_no_callbacks, NULL);
		if (pipe == NULL)
			p2p_stream_reset(d->s);
		d->s = NULL;
	}
	d->cb(pipe, d->cancelled && err < 0 ? P2P_ECLOSED : err, d->user);
	uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

static void on_timeout(uv_timer_t *t)
{
	dial_report(t->data, NULL, P2P_ETIMEDOUT);
}

static void on_answer(relay_dial *d, const p2p_relay_msg *m, const uint8_t *rest,
                      size_t rest_len)
{
	if (m->type != P2P_RELAY_HOP_STATUS) {
		dial_report(d, NULL, P2P_EPROTO);
		return;
	}
	if (m->status != P2P_RELAY_STATUS_OK) {
		p2p_log(p2p_host_logger(d->host), P2P_LOG_INFO,
		        "relay: the relay refused the circuit (status %d)", m->status);
		dial_report(d, NULL,
		            m->status == P2P_RELAY_STATUS_NO_RESERVATION ? P2P_ENOTFOUND
		                                                         : P2P_ECLOSED);
		return;
	}
	p2p_pipe *pipe = NULL;
	int err = relay_stream_to_pipe(d->s, m, rest, rest_len, &pipe);
	if (err != P2P_OK || pipe == NULL) {
		dial_report(d, NULL, err < 0 ? err : P2P_ENOMEM);
		return;
	}
	d->s = NULL; /* the pipe's now */
	p2p_buf_append(&pipe->remote_addr, d->addr.data, d->addr.len);
	dial_report(d, pipe, P2P_OK);
}

static void on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	relay_dial *d = user;
	p2p_relay_msg m;
	size_t used = 0;
	int rc = relay_read_msg(&d->rd, P2P_RELAY_HOP, data, len, &used, &m);
	p2p_stream_consume(s, used);
	if (rc == 0)
		return;
	if (rc < 0) {
		dial_report(d, NULL, P2P_EPROTO);
		return;
	}
	on_answer(d, &m, data + used, len - used);
	p2p_relay_msg_free(&m);
}

static void on_reset(p2p_stream *s, int err, void *user)
{
	relay_dial *d = user;
	d->s = NULL;
	p2p_stream_set_callbacks(s, &relay_no_callbacks, NULL);
	dial_report(d, NULL, err < 0 ? err : P2P_ERESET);
}

static void on_fin(p2p_stream *s, void *user)
{
	on_reset(s, P2P_ECLOSED, user);
}

static const p2p_stream_callbacks dial_cbs = {
    .on_data = on_data, .on_fin = on_fin, .on_reset = on_reset};

static void on_hop_stream(p2p_stream *s, int err, void *user)
{
	relay_dial *d = user;
	if (err < 0) {
		dial_report(d, NULL, err);
		return;
	}
	d->s = s;
	if (d->cancelled) {
		dial_report(d, NULL, P2P_ECLOSED);
		return;
	}
	p2p_stream_set_callbacks(s, &dial_cbs, d);
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	m.type = P2P_RELAY_HOP_CONNECT;
	m.has_peer = true;
	m.peer_id = d->target;
	err = relay_send_msg(s, &m, P2P_RELAY_HOP);
	p2p_relay_msg_free(&m);
	if (err < 0)
		dial_report(d, NULL, err);
}

static int relay_dial_fn(void *self, const uint8_t *addr, size_t len,
                         const p2p_peerid *peer, p2p_dial_cb cb, void *user,
                         void **handle)
{
	p2p_host *h = self;
	size_t off = circuit_offset(addr, len);
	const uint8_t *mh;
	size_t mh_len;
	if (off == 0 || p2p_multiaddr_peer_id(addr, off, &mh, &mh_len) < 0)
		return P2P_EUNSUPPORTED; /* /p2p-circuit needs /p2p/<relay> before it */
	relay_dial *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return P2P_ENOMEM;
	int rc = p2p_peerid_from_bytes(&d->relay, mh, mh_len);
	if (rc == P2P_OK && p2p_peerid_equal(&d->relay, peer))
		rc = P2P_EINVAL; /* a relay to itself */
	if (rc < 0) {
		free(d);
		return rc;
	}
	d->host = h;
	d->target = *peer;
	d->cb = cb;
	d->user = user;
	p2p_buf_init(&d->addr);
	p2p_lpmsg_reader_init(&d->rd, P2P_RELAY_MAX_MESSAGE);
	p2p_buf_append(&d->addr, addr, len);
	size_t prefix;
	if (p2p_multiaddr_without_peer_id(addr, off, &prefix) == P2P_OK && prefix > 0)
		p2p_peerstore_add_addr(p2p_host_peerstore(h), &d->relay, addr, prefix,
		                       P2P_ADDR_MANUAL);
	const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
	rc = p2p_host_new_stream(h, &d->relay, protos, 1, on_hop_stream, d);
	if (rc < 0) {
		p2p_lpmsg_reader_free(&d->rd);
		p2p_buf_free(&d->addr);
		free(d);
		return rc;
	}
	uv_timer_init(p2p_host_loop(h), &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_timeout, P2P_RELAY_HOP_TIMEOUT_MS, 0);
	*handle = d;
	return P2P_OK;
}

static void relay_cancel(void *self, void *handle)
{
	relay_dial *d = handle;
	d->cancelled = true;
	/* A stream in hand is reset now; otherwise on_hop_stream sees the
	 * flag (the host's closing fails the connect meanwhile). */
	if (d->s)
		dial_report(d, NULL, P2P_ECLOSED);
}

static const p2p_host_transport relay_transport = {
    .name = "p2p-circuit",
    .can_dial = relay_can_dial,
    .dial = relay_dial_fn,
    .cancel = relay_cancel,
};

int p2p_relay_add_transport(p2p_host *h)
{
	return p2p_host_add_transport(h, &relay_transport, h);
}
