/* Identify on a host: answers /ipfs/id/1.0.0, reads /ipfs/id/push/1.0.0,
 * asks every new connection who is on the other side, and files the
 * answers in the peerstore. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p2p/error.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/obsaddr.h"
#include "p2p/peer_record.h"

struct p2p_identify_service {
	p2p_host *host;
	p2p_identify_cb cb;
	void *user;
	uint64_t last_seq;    /* of the last peer record we signed */
	p2p_obsaddr observed; /* where peers say they see us */
};

/* One identify or push stream we read from. */
typedef struct id_reader_ctx {
	p2p_identify_service *svc;
	p2p_stream *stream; /* once negotiated */
	uv_timer_t timer;   /* P2P_IDENTIFY_TIMEOUT_MS for the whole answer */
	bool push;
	bool reported; /* the callback has run */
	p2p_identify_reader reader;
	p2p_identify info;
} id_reader_ctx;

static const p2p_logger *logger(p2p_identify_service *svc)
{
	return p2p_host_logger(svc->host);
}

/* Peer record sequence numbers must grow, also across restarts: wall-clock
 * nanoseconds as go-libp2p uses, or one more than the last if the clock
 * went back. */
static uint64_t next_seq(p2p_identify_service *svc)
{
	struct timespec ts;
	uint64_t now = 0;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	svc->last_seq = now > svc->last_seq ? now : svc->last_seq + 1;
	return svc->last_seq;
}

static int fill_message(p2p_identify_service *svc, p2p_conn *c, p2p_identify *id)
{
	p2p_host *h = svc->host;
	const p2p_privkey *key = p2p_host_key(h);
	p2p_buf pubkey;
	p2p_buf_init(&pubkey);
	int rc = p2p_pubkey_encode(p2p_privkey_public(key), &pubkey);
	if (rc == P2P_OK)
		rc = p2p_identify_set_public_key(id, pubkey.data, pubkey.len);
	p2p_buf_free(&pubkey);
	if (rc == P2P_OK)
		rc = p2p_identify_set_protocol_version(id, P2P_IDENTIFY_PROTOCOL_VERSION);
	if (rc == P2P_OK)
		rc = p2p_identify_set_agent_version(id, p2p_host_agent_version(h));

	/* The announce set when there is one: a wildcard listen address
	 * (0.0.0.0) tells a peer nothing. */
	enum {
		MAX_ADDRS = P2P_HOST_MAX_ANNOUNCE > P2P_HOST_MAX_LISTENERS
		                ? P2P_HOST_MAX_ANNOUNCE
		                : P2P_HOST_MAX_LISTENERS
	};
	const p2p_buf *addrs[MAX_ADDRS];
	size_t n_addrs = p2p_host_announce_addrs(h, addrs, MAX_ADDRS);
	if (n_addrs > MAX_ADDRS)
		n_addrs = MAX_ADDRS;
	for (size_t i = 0; rc == P2P_OK && i < n_addrs; i++)
		rc = p2p_identify_add_listen_addr(id, addrs[i]->data, addrs[i]->len);

	const char *protos[P2P_HOST_MAX_HANDLERS];
	size_t n_protos = p2p_host_protocols(h, protos, P2P_HOST_MAX_HANDLERS);
	if (n_protos > P2P_HOST_MAX_HANDLERS)
		n_protos = P2P_HOST_MAX_HANDLERS;
	for (size_t i = 0; rc == P2P_OK && i < n_protos; i++)
		rc = p2p_identify_add_protocol(id, protos[i]);

	const p2p_buf *observed = c != NULL ? p2p_conn_remote_addr(c) : NULL;
	if (rc == P2P_OK && observed != NULL && observed->len > 0)
		rc = p2p_identify_set_observed_addr(id, observed->data, observed->len);

	if (rc == P2P_OK && n_addrs > 0) {
		const uint8_t *bins[MAX_ADDRS];
		size_t lens[MAX_ADDRS];
		for (size_t i = 0; i < n_addrs; i++) {
			bins[i] = addrs[i]->data;
			lens[i] = addrs[i]->len;
		}
		p2p_buf rec;
		p2p_buf_init(&rec);
		rc = p2p_peer_record_seal(key, next_seq(svc), bins, lens, n_addrs, &rec);
		if (rc == P2P_OK)
			rc = p2p_identify_set_signed_peer_record(id, rec.data, rec.len);
		p2p_buf_free(&rec);
	}
	return rc;
}

int p2p_identify_service_message(p2p_identify_service *svc, p2p_conn *c, p2p_buf *out)
{
	p2p_identify id;
	p2p_identify_init(&id);
	int rc = fill_message(svc, c, &id);
	if (rc == P2P_OK)
		rc = p2p_identify_encode(&id, out);
	if (rc == P2P_ETOOBIG) {
		/* Like go-libp2p: what does not fit is left out, the record
		 * first (it repeats the addresses), then addresses. */
		p2p_buf_free(&id.signed_peer_record);
		rc = p2p_identify_encode(&id, out);
	}
	while (rc == P2P_ETOOBIG && id.n_listen_addrs > 0) {
		p2p_buf_free(&id.listen_addrs[--id.n_listen_addrs]);
		rc = p2p_identify_encode(&id, out);
	}
	p2p_identify_free(&id);
	return rc;
}

/* The TCP port of a binary multiaddr, or 0. */
static unsigned tcp_port(const p2p_buf *a)
{
	uint16_t port = 0;
	return p2p_multiaddr_tcp(a->data, a->len, NULL, &port, NULL) == P2P_OK ? port : 0;
}

/* Whether what the peer of c saw says something about where others can
 * reach us: not over a relay (it would see the circuit), and, for a
 * connection we dialed, only from one of our listening ports (with port
 * reuse, transport.h); an ephemeral port's mapping is of no use to
 * anyone else. */
static bool observation_usable(const p2p_identify_service *svc, p2p_conn *c)
{
	if (p2p_conn_is_relayed(c))
		return false;
	if (p2p_conn_direction(c) == P2P_DIR_INBOUND)
		return true;
	unsigned port = tcp_port(p2p_conn_local_addr(c));
	const p2p_buf *listen[P2P_HOST_MAX_LISTENERS];
	size_t n = p2p_host_addrs(svc->host, listen, P2P_HOST_MAX_LISTENERS);
	for (size_t i = 0; port != 0 && i < n && i < P2P_HOST_MAX_LISTENERS; i++)
		if (tcp_port(listen[i]) == port)
			return true;
	return false;
}

static void record_observed(p2p_identify_service *svc, p2p_conn *c,
                            const p2p_identify *info)
{
	if (info->observed_addr.len == 0 || !observation_usable(svc, c))
		return;
	const p2p_buf *remote = p2p_conn_remote_addr(c);
	/* An address we cannot use (a DNS name, a circuit) is no error. */
	(void)p2p_obsaddr_record(&svc->observed, info->observed_addr.data,
	                         info->observed_addr.len, remote->data, remote->len,
	                         uv_now(p2p_host_loop(svc->host)));
}

size_t p2p_identify_service_observed(p2p_identify_service *svc, unsigned min_observers,
                                     p2p_buf *out, size_t max)
{
	return p2p_obsaddr_list(&svc->observed, uv_now(p2p_host_loop(svc->host)),
	                        min_observers, out, max);
}

/* Files what the peer of c told us. Push messages may be partial: only the
 * fields they carry change anything. */
static void apply(p2p_identify_service *svc, p2p_conn *c, const p2p_identify *info,
                  bool push)
{
	p2p_peerstore *ps = p2p_host_peerstore(svc->host);
	const p2p_peerid *peer = p2p_conn_remote_peer(c);
	char peer_str[P2P_PEERID_STR_MAX] = "?";
	p2p_peerid_to_string(peer, peer_str, sizeof(peer_str));

	if (info->public_key.len > 0) {
		p2p_pubkey *key = NULL;
		int rc =
		    p2p_pubkey_decode(&key, info->public_key.data, info->public_key.len);
		if (rc == P2P_OK)
			rc = p2p_peerstore_set_pubkey(ps, peer, key);
		if (rc != P2P_OK)
			p2p_log(logger(svc), P2P_LOG_WARN,
			        "identify: %s sent an unusable key: %s", peer_str,
			        p2p_strerror(rc));
		p2p_pubkey_free(key);
	}
	if (info->agent_version != NULL)
		p2p_peerstore_set_agent(ps, peer, info->agent_version);
	record_observed(svc, c, info);
	if (info->n_protocols > 0 || !push)
		p2p_peerstore_set_protocols(
		    ps, peer, (const char *const *)info->protocols, info->n_protocols);

	/* Addresses: the signed record's if it is valid and the peer's own,
	 * else the plain list. */
	p2p_peer_record *rec = NULL;
	const p2p_buf *addrs = info->listen_addrs;
	size_t n_addrs = info->n_listen_addrs;
	if (info->signed_peer_record.len > 0) {
		int rc = p2p_peer_record_open(&rec, info->signed_peer_record.data,
		                              info->signed_peer_record.len, peer);
		if (rc == P2P_OK) {
			addrs = rec->addrs;
			n_addrs = rec->n_addrs;
		} else {
			p2p_log(logger(svc), P2P_LOG_WARN,
			        "identify: %s sent a bad signed peer record: %s",
			        peer_str, p2p_strerror(rc));
		}
	}
	if (n_addrs > 0 || !push) {
		p2p_peerstore_clear_addrs(ps, peer, P2P_ADDR_IDENTIFY);
		for (size_t i = 0; i < n_addrs; i++)
			(void)p2p_peerstore_add_addr(ps, peer, addrs[i].data,
			                             addrs[i].len, P2P_ADDR_IDENTIFY);
	}
	p2p_peer_record_free(rec);
}

static void report(id_reader_ctx *ctx, p2p_stream *s, int err)
{
	if (ctx->reported)
		return;
	ctx->reported = true;
	p2p_conn *c = p2p_stream_conn(s);
	if (err == P2P_OK)
		apply(ctx->svc, c, &ctx->info, ctx->push);
	else
		p2p_log(logger(ctx->svc), P2P_LOG_INFO, "identify%s failed: %s",
		        ctx->push ? " push" : "", p2p_strerror(err));
	if (ctx->svc->cb != NULL)
		ctx->svc->cb(c, err == P2P_OK ? &ctx->info : NULL, ctx->push, err,
		             ctx->svc->user);
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Frees ctx, once libuv is done with its timer. */
static void reader_release(id_reader_ctx *ctx)
{
	p2p_identify_reader_free(&ctx->reader);
	p2p_identify_free(&ctx->info);
	uv_timer_stop(&ctx->timer);
	uv_close((uv_handle_t *)&ctx->timer, on_timer_closed);
}

static void on_timeout(uv_timer_t *t)
{
	id_reader_ctx *ctx = t->data;
	report(ctx, ctx->stream, P2P_ETIMEDOUT);
	p2p_stream_reset(ctx->stream);
}

static void reader_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	id_reader_ctx *ctx = user;
	if (ctx->reported)
		return;
	int rc = p2p_identify_reader_recv(&ctx->reader, &ctx->info, data, len);
	if (rc != P2P_OK) {
		report(ctx, s, rc);
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_consume(s, len);
}

static void reader_on_fin(p2p_stream *s, void *user)
{
	id_reader_ctx *ctx = user;
	uv_timer_stop(&ctx->timer);
	report(ctx, s, p2p_identify_reader_finish(&ctx->reader));
	p2p_stream_close(s);
}

static void reader_on_reset(p2p_stream *s, int err, void *user)
{
	report(user, s, err < 0 ? err : P2P_ERESET);
}

static void reader_on_close(p2p_stream *s, void *user)
{
	id_reader_ctx *ctx = user;
	uv_timer_stop(&ctx->timer);
	report(ctx, s, P2P_ECLOSED);
	reader_release(ctx);
}

static const p2p_stream_callbacks reader_callbacks = {
    .on_data = reader_on_data,
    .on_fin = reader_on_fin,
    .on_reset = reader_on_reset,
    .on_close = reader_on_close,
};

static id_reader_ctx *reader_new(p2p_identify_service *svc, bool push)
{
	id_reader_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->svc = svc;
	ctx->push = push;
	p2p_identify_reader_init(&ctx->reader);
	p2p_identify_init(&ctx->info);
	uv_timer_init(p2p_host_loop(svc->host), &ctx->timer);
	ctx->timer.data = ctx;
	return ctx;
}

/* The stream is negotiated: read it, within the deadline. */
static void reader_start(id_reader_ctx *ctx, p2p_stream *s)
{
	ctx->stream = s;
	p2p_stream_set_callbacks(s, &reader_callbacks, ctx);
	uv_timer_start(&ctx->timer, on_timeout, P2P_IDENTIFY_TIMEOUT_MS, 0);
}

/* Someone asks who we are: answer and close. */
static void on_identify_stream(p2p_stream *s, const char *protocol, void *user)
{
	p2p_identify_service *svc = user;
	p2p_buf msg;
	p2p_buf_init(&msg);
	int rc = p2p_identify_service_message(svc, p2p_stream_conn(s), &msg);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, msg.data, msg.len);
	p2p_buf_free(&msg);
	if (rc < 0) {
		p2p_log(logger(svc), P2P_LOG_WARN, "identify: cannot answer: %s",
		        p2p_strerror(rc));
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_close(s);
}

static void on_push_stream(p2p_stream *s, const char *protocol, void *user)
{
	id_reader_ctx *ctx = reader_new(user, true);
	if (ctx == NULL) {
		p2p_stream_reset(s);
		return;
	}
	reader_start(ctx, s);
}

static void on_identify_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	id_reader_ctx *ctx = user;
	if (err != P2P_OK) {
		report(ctx, s, err);
		reader_release(ctx);
		return;
	}
	reader_start(ctx, s);
	/* We only listen on this stream. */
	p2p_stream_close_write(s);
}

static void on_connected(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_identify_service *svc = user;
	id_reader_ctx *ctx = reader_new(svc, false);
	p2p_stream *s = NULL;
	int rc = ctx == NULL ? P2P_ENOMEM : p2p_conn_open_stream(c, &s);
	static const char *const protos[] = {P2P_IDENTIFY_PROTOCOL};
	if (rc == P2P_OK)
		rc = p2p_stream_select(s, true, protos, 1, on_identify_selected, ctx);
	if (rc == P2P_OK)
		return;
	/* p2p_stream_select did not take the stream: it is still ours. */
	if (s != NULL)
		p2p_stream_reset(s);
	if (ctx != NULL)
		reader_release(ctx);
	p2p_log(logger(svc), P2P_LOG_WARN, "identify: cannot open a stream: %s",
	        p2p_strerror(rc));
	if (svc->cb != NULL)
		svc->cb(c, NULL, false, rc, svc->user);
}

int p2p_identify_service_new(p2p_identify_service **out, p2p_host *h, p2p_identify_cb cb,
                             void *user)
{
	p2p_identify_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return P2P_ENOMEM;
	svc->host = h;
	svc->cb = cb;
	svc->user = user;
	p2p_obsaddr_init(&svc->observed);
	static const p2p_host_observer obs = {.on_connected = on_connected};
	int rc = p2p_host_set_handler(h, P2P_IDENTIFY_PROTOCOL, on_identify_stream, svc);
	if (rc == P2P_OK)
		rc = p2p_host_set_handler(h, P2P_IDENTIFY_PUSH_PROTOCOL, on_push_stream,
		                          svc);
	if (rc == P2P_OK)
		rc = p2p_host_observe(h, &obs, svc);
	if (rc != P2P_OK) {
		p2p_host_remove_handler(h, P2P_IDENTIFY_PROTOCOL);
		p2p_host_remove_handler(h, P2P_IDENTIFY_PUSH_PROTOCOL);
		free(svc);
		return rc;
	}
	*out = svc;
	return P2P_OK;
}

void p2p_identify_service_free(p2p_identify_service *svc)
{
	free(svc);
}

static void on_push_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	p2p_identify_service *svc = user;
	if (err != P2P_OK)
		return; /* the peer does not take pushes */
	p2p_buf msg;
	p2p_buf_init(&msg);
	int rc = p2p_identify_service_message(svc, p2p_stream_conn(s), &msg);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, msg.data, msg.len);
	p2p_buf_free(&msg);
	if (rc < 0)
		p2p_stream_reset(s);
	else
		p2p_stream_close(s);
}

int p2p_identify_service_push(p2p_identify_service *svc)
{
	p2p_conn *conns[P2P_HOST_MAX_CONNS];
	size_t n = p2p_host_conns(svc->host, conns, P2P_HOST_MAX_CONNS);
	if (n > P2P_HOST_MAX_CONNS)
		n = P2P_HOST_MAX_CONNS;
	static const char *const protos[] = {P2P_IDENTIFY_PUSH_PROTOCOL};
	int first_err = P2P_OK;
	for (size_t i = 0; i < n; i++) {
		p2p_stream *s = NULL;
		int rc = p2p_conn_open_stream(conns[i], &s);
		if (rc == P2P_OK)
			rc = p2p_stream_select(s, true, protos, 1, on_push_selected, svc);
		else
			s = NULL;
		if (rc != P2P_OK && s != NULL)
			p2p_stream_reset(s);
		if (rc != P2P_OK && first_err == P2P_OK)
			first_err = rc;
	}
	return first_err;
}
