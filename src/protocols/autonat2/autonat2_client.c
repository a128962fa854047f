/* AutoNAT v2 client probe (autonat2.h), as go-libp2p's client: one
 * DialRequest, at most one DialDataRequest paid for, then a DialResponse
 * that is believed only as far as the dial-back shows. The nonce may come
 * back before or after the answer (the server dials, then answers), so the
 * dial-back is remembered and judged once both are in. */
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat2.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

int p2p_autonat2_probe_init(p2p_autonat2_probe *p, const p2p_buf *addrs, const bool *pay,
                            size_t n, uint64_t nonce)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < P2P_AUTONAT2_PROBE_MAX_ADDRS; i++)
		p2p_buf_init(&p->addrs[i]);
	p2p_buf_init(&p->dial_back_addr);
	p->nonce = nonce;
	p->state = P2P_AUTONAT2_PROBE_WAIT;
	if (addrs == NULL || n == 0 || n > P2P_AUTONAT2_PROBE_MAX_ADDRS)
		return P2P_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (p2p_multiaddr_validate(addrs[i].data, addrs[i].len) != P2P_OK)
			return P2P_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int rc = p2p_buf_append(&p->addrs[i], addrs[i].data, addrs[i].len);
		if (rc != P2P_OK) {
			p2p_autonat2_probe_free(p);
			return rc;
		}
		p->pay[i] = pay != NULL && pay[i];
	}
	p->n_addrs = n;
	return P2P_OK;
}

void p2p_autonat2_probe_free(p2p_autonat2_probe *p)
{
	for (size_t i = 0; i < P2P_AUTONAT2_PROBE_MAX_ADDRS; i++)
		p2p_buf_free(&p->addrs[i]);
	p2p_buf_free(&p->dial_back_addr);
	p->n_addrs = 0;
}

int p2p_autonat2_probe_request(const p2p_autonat2_probe *p, p2p_buf *out)
{
	return p2p_autonat2_dial_request_encode(out, p->addrs, p->n_addrs, p->nonce);
}

static int fail(p2p_autonat2_probe *p, int err)
{
	p->state = P2P_AUTONAT2_PROBE_FAILED;
	p->err = err;
	return (int)p->state;
}

/* The protocol codes of a multiaddr, without a trailing /p2p/; 0 if it is
 * malformed or has too many. */
static size_t codes(const uint8_t *bin, size_t len, uint64_t *out, size_t max)
{
	size_t off = 0, n = 0;
	p2p_multiaddr_component c;
	int rc;
	if (bin == NULL || len == 0)
		return 0;
	while ((rc = p2p_multiaddr_next(bin, len, &off, &c)) == 1) {
		if (n == max)
			return 0;
		out[n++] = c.code;
	}
	if (rc != 0)
		return 0;
	if (n > 0 && out[n - 1] == P2P_MA_P2P)
		n--;
	return n;
}

/* Whether the connection the nonce came on (local address `local`) is of
 * the kind the server says it dialed (`dialed`): the same protocols, as
 * go-libp2p's areAddrsConsistent, a DNS name standing for an IP of its
 * family. Without it, a server could claim a dial it made elsewhere. */
static bool consistent(const uint8_t *local, size_t local_len, const p2p_buf *dialed)
{
	uint64_t l[P2P_MULTIADDR_MAX_COMPONENTS], d[P2P_MULTIADDR_MAX_COMPONENTS];
	size_t nl = codes(local, local_len, l, P2P_MULTIADDR_MAX_COMPONENTS);
	size_t nd = codes(dialed->data, dialed->len, d, P2P_MULTIADDR_MAX_COMPONENTS);
	if (nl == 0 || nl != nd)
		return false;
	switch (d[0]) {
	case P2P_MA_DNS:
	case P2P_MA_DNSADDR:
		if (l[0] != P2P_MA_IP4 && l[0] != P2P_MA_IP6)
			return false;
		break;
	case P2P_MA_DNS4:
		if (l[0] != P2P_MA_IP4)
			return false;
		break;
	case P2P_MA_DNS6:
		if (l[0] != P2P_MA_IP6)
			return false;
		break;
	default:
		if (l[0] != d[0])
			return false;
	}
	for (size_t i = 1; i < nl; i++)
		if (l[i] != d[i])
			return false;
	return true;
}

/* An OK answer whose nonce is in: believed, or the server lied. */
static int judge(p2p_autonat2_probe *p)
{
	if (!consistent(p->dial_back_addr.data, p->dial_back_addr.len,
	                &p->addrs[p->addr_idx]))
		return fail(p, P2P_EPROTO);
	p->state = P2P_AUTONAT2_PROBE_DONE;
	return (int)p->state;
}

/* Sends num_bytes of dial data as go-libp2p does: chunks of
 * P2P_AUTONAT2_DATA_CHUNK, the last one shorter. out is unchanged on
 * error. */
static int pay(p2p_buf *out, uint64_t num_bytes)
{
	size_t start = out->len;
	for (uint64_t left = num_bytes; left > 0;) {
		size_t n = left < P2P_AUTONAT2_DATA_CHUNK ? (size_t)left
		                                          : P2P_AUTONAT2_DATA_CHUNK;
		int rc = p2p_autonat2_dial_data_response_encode(out, n);
		if (rc != P2P_OK) {
			out->len = start;
			return rc;
		}
		left -= n;
	}
	return P2P_OK;
}

static int on_data_request(p2p_autonat2_probe *p, const p2p_autonat2_msg *m, p2p_buf *out)
{
	/* Paying is for an address we chose to pay for, once, and no more
	 * than a handshake's worth: anything else is a server making us
	 * send data for its own ends. */
	if (p->data_sent || m->addr_idx >= p->n_addrs || !p->pay[m->addr_idx] ||
	    m->num_bytes > P2P_AUTONAT2_MAX_DIAL_DATA || out == NULL)
		return fail(p, P2P_EPROTO);
	int rc = pay(out, m->num_bytes);
	if (rc != P2P_OK) {
		fail(p, rc);
		return rc;
	}
	p->data_sent = true;
	return (int)p->state;
}

static int on_response(p2p_autonat2_probe *p, const p2p_autonat2_msg *m)
{
	p->status = m->status;
	p->dial_status = m->dial_status;
	p->addr_idx = m->addr_idx;
	switch (m->status) {
	case P2P_AUTONAT2_E_DIAL_REFUSED:
	case P2P_AUTONAT2_E_REQUEST_REJECTED:
	case P2P_AUTONAT2_E_INTERNAL_ERROR:
		p->state = P2P_AUTONAT2_PROBE_DONE;
		return (int)p->state;
	case P2P_AUTONAT2_OK:
		break;
	default:
		/* The spec: discard what we do not understand. */
		return fail(p, P2P_EPROTO);
	}
	if (m->addr_idx >= p->n_addrs)
		return fail(p, P2P_EPROTO);
	switch (m->dial_status) {
	case P2P_AUTONAT2_DIAL_E_DIAL_ERROR:
		p->state = P2P_AUTONAT2_PROBE_DONE;
		return (int)p->state;
	case P2P_AUTONAT2_DIAL_OK:
	case P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR:
		/* Either way the server connected: the nonce, if it came,
		 * proves it. */
		if (p->dial_back)
			return judge(p);
		p->state = P2P_AUTONAT2_PROBE_DIAL_BACK;
		return (int)p->state;
	default: /* UNUSED or unknown */
		return fail(p, P2P_EPROTO);
	}
}

int p2p_autonat2_probe_on_message(p2p_autonat2_probe *p, const p2p_autonat2_msg *m,
                                  p2p_buf *out)
{
	if (p->state == P2P_AUTONAT2_PROBE_DONE || p->state == P2P_AUTONAT2_PROBE_FAILED)
		return (int)p->state;
	/* After the answer the server has nothing more to say. */
	if (p->state != P2P_AUTONAT2_PROBE_WAIT || m == NULL)
		return fail(p, P2P_EPROTO);
	switch (m->type) {
	case P2P_AUTONAT2_DIAL_DATA_REQUEST:
		return on_data_request(p, m, out);
	case P2P_AUTONAT2_DIAL_RESPONSE:
		return on_response(p, m);
	default:
		return fail(p, P2P_EPROTO);
	}
}

bool p2p_autonat2_probe_on_dial_back(p2p_autonat2_probe *p, uint64_t nonce,
                                     const uint8_t *local_addr, size_t local_len)
{
	/* One dial-back per probe, and only while it can still matter. */
	if (nonce != p->nonce || p->dial_back || p->state == P2P_AUTONAT2_PROBE_DONE ||
	    p->state == P2P_AUTONAT2_PROBE_FAILED || p->n_addrs == 0)
		return false;
	p->dial_back = true;
	if (local_addr != NULL && local_len > 0 &&
	    p2p_buf_append(&p->dial_back_addr, local_addr, local_len) != P2P_OK) {
		/* It is ours all the same (answer it), but cannot be judged. */
		fail(p, P2P_ENOMEM);
		return true;
	}
	if (p->state == P2P_AUTONAT2_PROBE_DIAL_BACK)
		judge(p);
	return true;
}

void p2p_autonat2_probe_give_up(p2p_autonat2_probe *p, int err)
{
	/* A verdict stands: a late timeout or close does not undo it. */
	if (p->state == P2P_AUTONAT2_PROBE_DONE)
		return;
	fail(p, err);
}

p2p_autonat2_reach p2p_autonat2_probe_result(const p2p_autonat2_probe *p, int *addr_idx)
{
	p2p_autonat2_reach r = P2P_AUTONAT2_REACH_UNKNOWN;
	int idx = -1;
	/* DONE with OK means the index was in range and, for a dial that
	 * connected, that the dial-back was consistent. */
	if (p->state == P2P_AUTONAT2_PROBE_DONE && p->status == P2P_AUTONAT2_OK) {
		idx = (int)p->addr_idx;
		r = p->dial_status == P2P_AUTONAT2_DIAL_E_DIAL_ERROR
		        ? P2P_AUTONAT2_REACH_PRIVATE
		        : P2P_AUTONAT2_REACH_PUBLIC;
	}
	if (addr_idx != NULL)
		*addr_idx = idx;
	return r;
}
