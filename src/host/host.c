/* The host: lifetime, listeners, protocol handlers, observers, and the
 * bookkeeping of connections. What a connection may hold and when it goes
 * is the connection manager's (connmgr.c); dialing is in dial.c. */
#include <stdlib.h>
#include <string.h>

#include "host/host_internal.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

#ifndef P2P_VERSION
#define P2P_VERSION "0"
#endif

void p2p_host_config_init(p2p_host_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log.level = P2P_LOG_WARN;
	cfg->max_conns = P2P_HOST_MAX_CONNS;
	cfg->max_conns_per_peer = P2P_HOST_MAX_CONNS_PER_PEER;
	cfg->max_pending_inbound = P2P_HOST_MAX_PENDING_INBOUND;
	cfg->max_pending_outbound = P2P_HOST_MAX_PENDING_OUTBOUND;
	cfg->max_streams_per_conn = P2P_CONN_MAX_STREAMS;
	cfg->dial_timeout_ms = P2P_DIAL_TIMEOUT_MS;
	cfg->handshake_timeout_ms = P2P_HANDSHAKE_TIMEOUT_MS;
	cfg->negotiate_timeout_ms = P2P_STREAM_NEGOTIATE_TIMEOUT_MS;
	cfg->write_stall_ms = P2P_CONN_WRITE_STALL_MS;
	cfg->max_pending_per_ip = P2P_HOST_MAX_PENDING_PER_IP;
	cfg->max_conns_per_ip = P2P_HOST_MAX_CONNS_PER_IP;
	cfg->max_streams = P2P_HOST_MAX_STREAMS;
	cfg->max_streams_per_ip = P2P_HOST_MAX_STREAMS_PER_IP;
	cfg->max_streams_per_peer = P2P_HOST_MAX_STREAMS_PER_PEER;
	cfg->streams_floor_per_peer = P2P_HOST_STREAMS_FLOOR_PER_PEER;
	cfg->first_byte_timeout_ms = P2P_HOST_FIRST_BYTE_TIMEOUT_MS;
	cfg->trim_grace_ms = P2P_HOST_TRIM_GRACE_MS;
	cfg->idle_timeout_ms = P2P_HOST_IDLE_TIMEOUT_MS;
}

/* --- deferred connect results --- */

static void on_idle(uv_idle_t *idle)
{
	p2p_host *h = idle->data;
	host_ready *list = h->ready;
	h->ready = h->ready_tail = NULL;
	uv_idle_stop(idle);
	while (list) {
		host_ready *r = list;
		list = r->next;
		p2p_conn *c = r->err == 0 ? p2p_host_conn(h, &r->peer) : NULL;
		int err = r->err ? r->err : (c ? P2P_OK : P2P_ECLOSED);
		r->cb(c, err, r->user);
		free(r);
	}
	host_maybe_finish(h);
}

void host_defer_connect(p2p_host *h, const p2p_peerid *peer, int err,
                        p2p_host_connect_cb cb, void *user)
{
	host_ready *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		/* Cannot defer: answer now rather than never. */
		cb(NULL, P2P_ENOMEM, user);
		return;
	}
	r->peer = *peer;
	r->err = err;
	r->cb = cb;
	r->user = user;
	if (h->ready_tail)
		h->ready_tail->next = r;
	else
		h->ready = r;
	h->ready_tail = r;
	uv_idle_start(&h->idle, on_idle);
}

/* --- connections --- */

p2p_upgrade_config host_upgrade_config(p2p_host *h, bool initiator,
                                       const p2p_peerid *expected)
{
	return (p2p_upgrade_config){
	    .identity = h->key,
	    .expected = expected,
	    .initiator = initiator,
	    .direction = initiator ? P2P_DIR_OUTBOUND : P2P_DIR_INBOUND,
	    .timeout_ms = h->cfg.handshake_timeout_ms,
	    .max_streams = h->cfg.max_streams_per_conn,
	    .log = &h->cfg.log,
	    .negotiate_timeout_ms = h->cfg.negotiate_timeout_ms,
	    .write_stall_ms = h->cfg.write_stall_ms,
	};
}

host_conn *host_conn_add(p2p_host *h, p2p_conn *c, bool inbound)
{
	host_conn *hc = calloc(1, sizeof(*hc));
	if (hc == NULL)
		return NULL;
	hc->host = h;
	hc->conn = c;
	hc->inbound = inbound;
	hc->since = hc->busy_at = uv_now(h->loop);
	hc->next = h->conns;
	if (h->conns)
		h->conns->prev = hc;
	h->conns = hc;
	return hc;
}

static void host_conn_remove(host_conn *hc)
{
	p2p_host *h = hc->host;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	free(hc);
	host_maybe_finish(h);
}

void host_conn_failed(host_conn *hc)
{
	host_conn_remove(hc);
}

static void notify(p2p_host *h, p2p_conn *c, bool connected)
{
	/* A copy: observers may subscribe or unsubscribe from a callback. */
	host_observer obs[P2P_HOST_MAX_OBSERVERS];
	size_t n = h->n_observers;
	memcpy(obs, h->observers, n * sizeof(obs[0]));
	for (size_t i = 0; i < n; i++) {
		if (connected && obs[i].obs.on_connected)
			obs[i].obs.on_connected(h, c, obs[i].user);
		else if (!connected && obs[i].obs.on_disconnected)
			obs[i].obs.on_disconnected(h, c, obs[i].user);
	}
}

bool host_conn_opened(host_conn *hc)
{
	p2p_host *h = hc->host;
	const p2p_peerid *peer = p2p_conn_remote_peer(hc->conn);
	if (h->closing) {
		p2p_conn_close(hc->conn, P2P_ECLOSED);
		return false;
	}
	if (!host_conn_admit(hc)) {
		p2p_conn_close(hc->conn, P2P_ELIMIT);
		return false;
	}
	hc->open = true;
	h->n_open++;
	const p2p_pubkey *key = p2p_conn_remote_key(hc->conn);
	if (key)
		p2p_peerstore_set_pubkey(h->ps, peer, key);
	if (!hc->inbound) {
		const p2p_buf *ra = p2p_conn_remote_addr(hc->conn);
		if (ra->len)
			p2p_peerstore_add_addr(h->ps, peer, ra->data, ra->len,
			                       P2P_ADDR_CONNECTION);
	}
	notify(h, hc->conn, true);
	return true;
}

static void handle_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	p2p_host *h = user;
	if (err < 0)
		return; /* the library resets the stream */
	for (size_t i = 0; i < h->n_handlers; i++) {
		if (strcmp(h->handlers[i].protocol, protocol) == 0) {
			h->handlers[i].fn(s, protocol, h->handlers[i].user);
			return;
		}
	}
	p2p_stream_reset(s); /* the handler went away meanwhile */
}

static void on_conn_stream(p2p_conn *c, p2p_stream *s, void *user)
{
	host_conn *hc = user;
	p2p_host *h = hc->host;
	if (h->closing || h->n_handlers == 0 || !host_stream_admit(hc)) {
		p2p_stream_reset(s);
		return;
	}
	const char *protos[P2P_HOST_MAX_HANDLERS];
	for (size_t i = 0; i < h->n_handlers; i++)
		protos[i] = h->handlers[i].protocol;
	if (p2p_stream_select(s, false, protos, h->n_handlers, handle_selected, h) < 0)
		p2p_stream_reset(s);
}

static void on_conn_close(p2p_conn *c, int err, void *user)
{
	host_conn *hc = user;
	p2p_host *h = hc->host;
	host_conn_release(hc);
	if (hc->open) {
		h->n_open--;
		notify(h, c, false);
	}
	host_conn_remove(hc);
}

const p2p_conn_callbacks host_conn_callbacks = {
    .on_stream = on_conn_stream,
    .on_close = on_conn_close,
};

/* An accepted TCP connection waits for its first byte (connmgr.c), then
 * is upgraded like a pipe from any carrier. */
static void on_accept(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	host_accept(user, pipe);
}

/* --- pipes from other carriers (relay circuits, hole punches) --- */

typedef struct pipe_upgrade {
	host_conn *hc;
	p2p_host_connect_cb cb;
	void *user;
} pipe_upgrade;

static void on_pipe_upgraded(p2p_conn *c, int err, void *user)
{
	pipe_upgrade *pu = user;
	host_conn *hc = pu->hc;
	p2p_host_connect_cb cb = pu->cb;
	void *cb_user = pu->user;
	free(pu);
	host_pending_release(hc);
	if (err < 0) {
		host_conn_failed(hc);
	} else if (!host_conn_opened(hc)) {
		c = NULL;
		err = P2P_ELIMIT;
	}
	if (cb)
		cb(err < 0 ? NULL : c, err, cb_user);
}

int host_upgrade(host_conn *hc, p2p_pipe *pipe, const p2p_host_pipe_opts *o,
                 p2p_host_connect_cb cb, void *user)
{
	p2p_host *h = hc->host;
	pipe_upgrade *pu = calloc(1, sizeof(*pu));
	if (pu == NULL) {
		p2p_pipe_close(pipe);
		host_pending_release(hc);
		host_conn_failed(hc);
		return P2P_ENOMEM;
	}
	pu->hc = hc;
	pu->cb = cb;
	pu->user = user;
	p2p_upgrade_config cfg = host_upgrade_config(h, o->initiator, o->expected);
	cfg.direction = o->direction;
	int rc = p2p_upgrade(&hc->conn, h->loop, pipe, &cfg, &host_conn_callbacks, hc,
	                     on_pipe_upgraded, pu);
	if (rc < 0) {
		host_pending_release(hc);
		host_conn_failed(hc);
		free(pu);
	}
	return rc;
}

int p2p_host_upgrade_pipe(p2p_host *h, p2p_pipe *pipe, const p2p_host_pipe_opts *o,
                          p2p_host_connect_cb cb, void *user)
{
	bool inbound = o->direction == P2P_DIR_INBOUND;
	p2p_rcmgr_ip ip = {.len = 0};
	if (inbound)
		p2p_rcmgr_ip_from_addr(pipe->remote_addr.data, pipe->remote_addr.len,
		                       &ip);
	int rc = P2P_OK;
	if (h->closing)
		rc = P2P_ECLOSED;
	else if (host_conns_full(h) ||
	         (inbound && host_pending_admit(h, &ip) != P2P_RCMGR_OK))
		rc = P2P_ELIMIT;
	host_conn *hc = rc == P2P_OK ? host_conn_add(h, NULL, inbound) : NULL;
	if (rc == P2P_OK && hc == NULL) {
		if (inbound)
			p2p_rcmgr_release_pending(h->rc, &ip);
		rc = P2P_ENOMEM;
	}
	if (rc < 0) {
		p2p_pipe_close(pipe);
		return rc;
	}
	hc->ip = ip;
	hc->pending = inbound;
	return host_upgrade(hc, pipe, o, cb, user);
}

/* --- lifetime --- */

int p2p_host_new(p2p_host **out, uv_loop_t *loop, const p2p_privkey *key,
                 const p2p_host_config *cfg)
{
	p2p_host *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return P2P_ENOMEM;
	p2p_host_config defaults;
	p2p_host_config_init(&defaults);
	h->cfg = cfg ? *cfg : defaults;
#define DEFAULT(field)                                                                   \
	if (h->cfg.field == 0)                                                           \
		h->cfg.field = defaults.field;
	DEFAULT(max_conns)
	DEFAULT(max_conns_per_peer)
	DEFAULT(max_pending_inbound)
	DEFAULT(max_pending_outbound)
	DEFAULT(max_streams_per_conn)
	DEFAULT(dial_timeout_ms)
	DEFAULT(handshake_timeout_ms)
	DEFAULT(negotiate_timeout_ms)
	DEFAULT(write_stall_ms)
	DEFAULT(max_pending_per_ip)
	DEFAULT(max_conns_per_ip)
	DEFAULT(max_streams)
	DEFAULT(max_streams_per_ip)
	DEFAULT(max_streams_per_peer)
	DEFAULT(streams_floor_per_peer)
	DEFAULT(first_byte_timeout_ms)
	DEFAULT(trim_grace_ms)
	/* idle_timeout_ms: 0 means never. */
#undef DEFAULT
	h->loop = loop;
	h->key = key;
	int rc = p2p_peerid_from_pubkey(&h->id, p2p_privkey_public(key));
	if (rc == P2P_OK)
		rc = p2p_peerstore_new(&h->ps);
	h->agent = strdup(cfg && cfg->agent_version ? cfg->agent_version
	                                            : "mtunnel/" P2P_VERSION);
	h->cfg.agent_version = h->agent;
	if (rc == P2P_OK && h->agent == NULL)
		rc = P2P_ENOMEM;
	if (cfg && cfg->dns_servers) {
		h->dns_servers = strdup(cfg->dns_servers);
		if (rc == P2P_OK && h->dns_servers == NULL)
			rc = P2P_ENOMEM;
	}
	h->cfg.dns_servers = h->dns_servers;
	if (rc == P2P_OK)
		rc = host_cm_init(h); /* last: nothing after it fails */
	if (rc < 0) {
		p2p_peerstore_free(h->ps);
		free(h->dns_servers);
		free(h->agent);
		free(h);
		return rc;
	}
	uv_idle_init(loop, &h->idle);
	h->idle.data = h;
	*out = h;
	return P2P_OK;
}

static void on_idle_closed(uv_handle_t *handle)
{
	p2p_host *h = handle->data;
	void (*cb)(void *) = h->on_closed;
	void *user = h->closed_user;
	for (size_t i = 0; i < h->n_handlers; i++)
		free(h->handlers[i].protocol);
	for (size_t i = 0; i < h->n_announce; i++)
		p2p_buf_free(&h->announce[i]);
	p2p_peerstore_free(h->ps);
	p2p_rcmgr_free(h->rc);
	free(h->dns_servers);
	free(h->agent);
	free(h);
	if (cb)
		cb(user);
}

void host_maybe_finish(p2p_host *h)
{
	if (!h->closing || h->conns || h->dials || h->ready || h->closing_listeners ||
	    h->dns || h->cm_timer_open)
		return;
	if (uv_is_closing((uv_handle_t *)&h->idle))
		return;
	uv_close((uv_handle_t *)&h->idle, on_idle_closed);
}

static void on_listener_closed(void *user)
{
	p2p_host *h = user;
	h->closing_listeners--;
	host_maybe_finish(h);
}

void p2p_host_close(p2p_host *h, void (*on_closed)(void *user), void *user)
{
	if (h->closing)
		return;
	h->closing = true;
	h->on_closed = on_closed;
	h->closed_user = user;
	for (size_t i = 0; i < h->n_listeners; i++) {
		h->closing_listeners++;
		p2p_tcp_listener_close(h->listeners[i], on_listener_closed, h);
	}
	h->n_listeners = 0;
	host_dials_cancel(h);
	host_dns_close(h);
	host_cm_close(h);
	for (host_conn *hc = h->conns; hc; hc = hc->next) {
		if (hc->waiting)
			p2p_pipe_close(hc->waiting); /* its on_close forgets hc */
		else if (hc->conn)
			p2p_conn_close(hc->conn, 0);
	}
	host_maybe_finish(h);
}

/* --- accessors --- */

const p2p_peerid *p2p_host_peer_id(const p2p_host *h)
{
	return &h->id;
}

const p2p_privkey *p2p_host_key(const p2p_host *h)
{
	return h->key;
}

uv_loop_t *p2p_host_loop(const p2p_host *h)
{
	return h->loop;
}

const p2p_logger *p2p_host_logger(const p2p_host *h)
{
	return &h->cfg.log;
}

const char *p2p_host_agent_version(const p2p_host *h)
{
	return h->agent;
}

p2p_peerstore *p2p_host_peerstore(p2p_host *h)
{
	return h->ps;
}

/* --- listening --- */

int p2p_host_listen_bin(p2p_host *h, const uint8_t *addr, size_t addr_len)
{
	if (h->closing)
		return P2P_ECLOSED;
	if (h->n_listeners == P2P_HOST_MAX_LISTENERS)
		return P2P_ELIMIT;
	p2p_tcp_listener *l;
	int rc = p2p_tcp_listen(&l, h->loop, addr, addr_len, &h->cfg.log, on_accept, h);
	if (rc < 0)
		return rc;
	h->listeners[h->n_listeners++] = l;
	return P2P_OK;
}

int p2p_host_listen(p2p_host *h, const char *multiaddr)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	int rc = p2p_multiaddr_parse(multiaddr, &bin);
	if (rc == P2P_OK)
		rc = p2p_host_listen_bin(h, bin.data, bin.len);
	p2p_buf_free(&bin);
	return rc;
}

size_t p2p_host_addrs(const p2p_host *h, const p2p_buf **out, size_t max)
{
	for (size_t i = 0; i < h->n_listeners && i < max; i++)
		out[i] = p2p_tcp_listener_addr(h->listeners[i]);
	return h->n_listeners;
}

int p2p_host_set_announce_addrs(p2p_host *h, const p2p_buf *addrs, size_t n)
{
	if (n > P2P_HOST_MAX_ANNOUNCE || (n > 0 && addrs == NULL))
		return P2P_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (p2p_multiaddr_validate(addrs[i].data, addrs[i].len) < 0)
			return P2P_EINVAL;
	p2p_buf copy[P2P_HOST_MAX_ANNOUNCE];
	for (size_t i = 0; i < n; i++) {
		p2p_buf_init(&copy[i]);
		if (p2p_buf_append(&copy[i], addrs[i].data, addrs[i].len) < 0) {
			for (size_t j = 0; j <= i; j++)
				p2p_buf_free(&copy[j]);
			return P2P_ENOMEM;
		}
	}
	for (size_t i = 0; i < h->n_announce; i++)
		p2p_buf_free(&h->announce[i]);
	for (size_t i = 0; i < n; i++)
		h->announce[i] = copy[i]; /* moved: h owns the bytes now */
	h->n_announce = n;
	h->announce_set = addrs != NULL;
	return P2P_OK;
}

size_t p2p_host_announce_addrs(const p2p_host *h, const p2p_buf **out, size_t max)
{
	if (!h->announce_set)
		return p2p_host_addrs(h, out, max);
	for (size_t i = 0; i < h->n_announce && i < max; i++)
		out[i] = &h->announce[i];
	return h->n_announce;
}

/* --- handlers --- */

int p2p_host_set_handler(p2p_host *h, const char *protocol, p2p_stream_handler handler,
                         void *user)
{
	if (protocol == NULL || handler == NULL || protocol[0] == '\0' ||
	    strlen(protocol) > P2P_PROTOCOL_ID_MAX)
		return P2P_EINVAL;
	for (size_t i = 0; i < h->n_handlers; i++) {
		if (strcmp(h->handlers[i].protocol, protocol) == 0) {
			h->handlers[i].fn = handler;
			h->handlers[i].user = user;
			return P2P_OK;
		}
	}
	if (h->n_handlers == P2P_HOST_MAX_HANDLERS)
		return P2P_ELIMIT;
	char *copy = strdup(protocol);
	if (copy == NULL)
		return P2P_ENOMEM;
	h->handlers[h->n_handlers++] = (host_handler){copy, handler, user};
	return P2P_OK;
}

int p2p_host_remove_handler(p2p_host *h, const char *protocol)
{
	for (size_t i = 0; i < h->n_handlers; i++) {
		if (strcmp(h->handlers[i].protocol, protocol) == 0) {
			free(h->handlers[i].protocol);
			memmove(&h->handlers[i], &h->handlers[i + 1],
			        (h->n_handlers - i - 1) * sizeof(h->handlers[0]));
			h->n_handlers--;
			return P2P_OK;
		}
	}
	return P2P_ENOTFOUND;
}

size_t p2p_host_protocols(const p2p_host *h, const char **out, size_t max)
{
	for (size_t i = 0; i < h->n_handlers && i < max; i++)
		out[i] = h->handlers[i].protocol;
	return h->n_handlers;
}

/* --- connections --- */

/* How good a way to a peer c is: direct, relayed, limited. */
static int conn_rank(const p2p_conn *c)
{
	if (p2p_conn_is_limited(c))
		return 0;
	return p2p_conn_is_relayed(c) ? 1 : 2;
}

p2p_conn *p2p_host_conn(const p2p_host *h, const p2p_peerid *peer)
{
	/* New connections go to the head of the list: the first of a rank
	 * is the newest. */
	p2p_conn *best = NULL;
	for (host_conn *hc = h->conns; hc; hc = hc->next) {
		if (!hc->open || !p2p_conn_is_open(hc->conn) ||
		    !p2p_peerid_equal(p2p_conn_remote_peer(hc->conn), peer))
			continue;
		if (best == NULL || conn_rank(hc->conn) > conn_rank(best))
			best = hc->conn;
	}
	return best;
}

size_t p2p_host_conns(const p2p_host *h, p2p_conn **out, size_t max)
{
	size_t n = 0;
	for (host_conn *hc = h->conns; hc; hc = hc->next) {
		if (!hc->open)
			continue;
		if (n < max)
			out[n] = hc->conn;
		n++;
	}
	return n;
}

void p2p_host_disconnect(p2p_host *h, const p2p_peerid *peer)
{
	for (host_conn *hc = h->conns; hc; hc = hc->next)
		if (hc->open && p2p_peerid_equal(p2p_conn_remote_peer(hc->conn), peer))
			p2p_conn_close(hc->conn, 0);
}

/* --- observers --- */

int p2p_host_observe(p2p_host *h, const p2p_host_observer *obs, void *user)
{
	if (h->n_observers == P2P_HOST_MAX_OBSERVERS)
		return P2P_ELIMIT;
	h->observers[h->n_observers++] = (host_observer){*obs, user};
	return P2P_OK;
}

void p2p_host_unobserve(p2p_host *h, void *user)
{
	for (size_t i = 0; i < h->n_observers; i++) {
		if (h->observers[i].user == user) {
			memmove(&h->observers[i], &h->observers[i + 1],
			        (h->n_observers - i - 1) * sizeof(h->observers[0]));
			h->n_observers--;
			return;
		}
	}
}
