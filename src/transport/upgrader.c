/* The upgrader: multistream-select "/noise", Noise XX, multistream-select
 * "/yamux/1.0.0" (inside Noise), then yamux. Bytes that arrive with the
 * last message of one stage belong to the next, so each stage hands its
 * leftovers on. */
#include <string.h>

#include "p2p/error.h"
#include "transport/conn_internal.h"

static const char *const security_protos[] = {P2P_NOISE_PROTOCOL};
static const char *const muxer_protos[] = {P2P_YAMUX_PROTOCOL};

/* Sends what a cleartext stage produced. */
static int send_clear(p2p_conn *c, p2p_buf *out)
{
	if (out->len == 0)
		return P2P_OK;
	p2p_buf tmp;
	p2p_buf_move(&tmp, out);
	return p2p_pipe_write(c->pipe, &tmp);
}

/* Encrypts what the muxer negotiation produced and sends it. */
static int send_secure(p2p_conn *c, p2p_buf *plain)
{
	if (plain->len > 0) {
		int rc = p2p_noise_send(c->noise, plain->data, plain->len);
		p2p_buf_reset(plain);
		if (rc < 0)
			return rc;
	}
	return send_clear(c, p2p_noise_output(c->noise));
}

int upgrade_start(p2p_conn *c)
{
	int rc = p2p_mss_new(&c->mss, c->initiator, security_protos, 1);
	if (rc < 0)
		return rc;
	c->state = CONN_MSS_SECURITY;
	return send_clear(c, p2p_mss_output(c->mss));
}

static void muxer_stage(p2p_conn *c, const uint8_t *in, size_t len)
{
	size_t used = 0;
	int rc = p2p_mss_recv(c->mss, in, len, &used);
	if (rc == P2P_OK)
		rc = send_secure(c, p2p_mss_output(c->mss));
	if (rc < 0) {
		conn_fail(c, rc, "muxer negotiation");
		return;
	}
	if (!p2p_mss_done(c->mss))
		return;
	p2p_mss_free(c->mss);
	c->mss = NULL;
	conn_opened(c, in + used, len - used);
}

static void noise_stage(p2p_conn *c, const uint8_t *in, size_t len)
{
	p2p_buf_reset(&c->plain);
	int rc = p2p_noise_recv(c->noise, in, len, &c->plain);
	if (rc == P2P_OK)
		rc = send_clear(c, p2p_noise_output(c->noise));
	if (rc < 0) {
		conn_fail(c, rc, "noise handshake");
		return;
	}
	if (!p2p_noise_handshake_done(c->noise))
		return;
	c->remote_peer = *p2p_noise_remote_peer(c->noise);
	rc = p2p_mss_new(&c->mss, c->initiator, muxer_protos, 1);
	if (rc == P2P_OK)
		rc = send_secure(c, p2p_mss_output(c->mss));
	if (rc < 0) {
		conn_fail(c, rc, "muxer negotiation");
		return;
	}
	c->state = CONN_MSS_MUXER;
	if (c->plain.len > 0) {
		/* muxer_stage may feed c->plain to yamux: hand it a copy-free
		 * view by taking the buffer out first. */
		p2p_buf rest;
		p2p_buf_move(&rest, &c->plain);
		muxer_stage(c, rest.data, rest.len);
		p2p_buf_free(&rest);
	}
}

static void security_stage(p2p_conn *c, const uint8_t *in, size_t len)
{
	size_t used = 0;
	int rc = p2p_mss_recv(c->mss, in, len, &used);
	if (rc == P2P_OK)
		rc = send_clear(c, p2p_mss_output(c->mss));
	if (rc < 0) {
		conn_fail(c, rc, "security negotiation");
		return;
	}
	if (!p2p_mss_done(c->mss))
		return;
	p2p_mss_free(c->mss);
	c->mss = NULL;
	rc = p2p_noise_new(&c->noise, c->initiator, c->identity,
	                   c->has_expected ? &c->expected : NULL);
	if (rc == P2P_OK)
		rc = send_clear(c, p2p_noise_output(c->noise));
	if (rc < 0) {
		conn_fail(c, rc, "noise start");
		return;
	}
	c->state = CONN_NOISE;
	if (used < len)
		noise_stage(c, in + used, len - used);
}

void upgrade_recv(p2p_conn *c, const uint8_t *data, size_t len)
{
	switch (c->state) {
	case CONN_MSS_SECURITY:
		security_stage(c, data, len);
		break;
	case CONN_NOISE:
		noise_stage(c, data, len);
		break;
	case CONN_MSS_MUXER: {
		p2p_buf_reset(&c->plain);
		int rc = p2p_noise_recv(c->noise, data, len, &c->plain);
		if (rc < 0) {
			conn_fail(c, rc, "noise");
			return;
		}
		p2p_buf rest;
		p2p_buf_move(&rest, &c->plain);
		muxer_stage(c, rest.data, rest.len);
		p2p_buf_free(&rest);
		break;
	}
	default:
		break;
	}
}
