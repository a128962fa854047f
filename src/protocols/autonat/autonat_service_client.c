/* The AutoNAT v1 client on a host (autonat.h): one timer for the
 * tracker's rounds (autonat_client.c); each round asks one connected peer
 * that speaks AutoNAT to dial us back at our candidate addresses, and
 * feeds its answer to the tracker. */
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"
#include "p2p/multiaddr.h"
#include "p2p/splitmix.h"
#include "protocols/autonat/autonat_service.h"

/* Addresses offered in one DIAL: the announce set and the observed ones. */
enum {
	MAX_CANDIDATES = P2P_AUTONAT_SERVICE_MAX_EXTRA + P2P_HOST_MAX_ANNOUNCE +
	                 P2P_AUTONAT_SERVICE_MAX_OBSERVED
};

/* Whether binary multiaddrs a and b start with the same IP. */
static bool same_ip(const p2p_buf *a, const p2p_buf *b)
{
	size_t oa = 0, ob = 0;
	p2p_multiaddr_component ca, cb;
	return p2p_multiaddr_next(a->data, a->len, &oa, &ca) == 1 &&
	       p2p_multiaddr_next(b->data, b->len, &ob, &cb) == 1 && ca.code == cb.code &&
	       ca.value_len == cb.value_len &&
	       memcmp(ca.value, cb.value, ca.value_len) == 0;
}

struct autonat_probe {
	p2p_autonat_service *svc;
	p2p_peerid server;
	p2p_stream *stream; /* once negotiated, until on_close */
	bool selecting;     /* p2p_stream_select has not reported */
	bool done;          /* the outcome went to the tracker */
	uv_timer_t timer;   /* the request's deadline, then its close's */
	p2p_lpmsg_reader rd;
	p2p_buf request;
	autonat_probe *prev, *next;
};

/* The core names each interval by go-libp2p's constant (autonat.h,
 * p2p_autonat_client_next_probe); the configured ones stand in for them. */
static uint64_t interval(const p2p_autonat_service *svc, uint64_t after)
{
	const p2p_autonat_service_config *cfg = &svc->cfg;
	uint64_t twice = 2 * (uint64_t)P2P_AUTONAT_REFRESH_INTERVAL_MS;
	uint64_t our_twice = 2 * cfg->refresh_interval_ms;
	if (twice > P2P_AUTONAT_MAX_REFRESH_MS)
		twice = P2P_AUTONAT_MAX_REFRESH_MS;
	if (our_twice > P2P_AUTONAT_MAX_REFRESH_MS)
		our_twice = P2P_AUTONAT_MAX_REFRESH_MS;
	if (after == P2P_AUTONAT_FORCED_RETRY_MS)
		return cfg->forced_retry_ms;
	if (after == P2P_AUTONAT_RETRY_INTERVAL_MS)
		return cfg->retry_interval_ms;
	if (after == P2P_AUTONAT_REFRESH_INTERVAL_MS)
		return cfg->refresh_interval_ms;
	if (after == twice)
		return our_twice;
	return after;
}

static void on_round(uv_timer_t *t);

void autonat_client_arm(p2p_autonat_service *svc)
{
	if (svc->cfg.disable_client || svc->freeing)
		return;
	const p2p_autonat_client *c = &svc->client;
	uint64_t now = autonat_svc_now(svc), at;
	if (!c->probed)
		at = c->boot_ms + svc->cfg.boot_delay_ms;
	else /* unclamped (now 0): the interval it chose */
		at =
		    c->last_probe_ms +
		    interval(svc, p2p_autonat_client_next_probe(c, 0) - c->last_probe_ms);
	uv_timer_start(&svc->timer, on_round, at > now ? at - now : 0, 0);
}

static void probe_timer_closed(uv_handle_t *h)
{
	autonat_probe *p = h->data;
	p2p_autonat_service *svc = p->svc;
	p2p_lpmsg_reader_free(&p->rd);
	p2p_buf_free(&p->request);
	free(p);
	autonat_svc_unref(svc);
}

static void probe_maybe_free(autonat_probe *p)
{
	if (p->stream || p->selecting || uv_is_closing((uv_handle_t *)&p->timer))
		return;
	p2p_autonat_service *svc = p->svc;
	if (p->prev)
		p->prev->next = p->next;
	else
		svc->probes = p->next;
	if (p->next)
		p->next->prev = p->prev;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, probe_timer_closed);
}

/* The probe's outcome, exactly once: resp a DIAL_RESPONSE, or NULL and
 * why not. */
static void probe_report(autonat_probe *p, const p2p_autonat_msg *resp, int err)
{
	if (p->done)
		return;
	p->done = true;
	p2p_autonat_service *svc = p->svc;
	if (resp)
		svc->stats.probes_answered++;
	else
		svc->stats.probes_failed++;
	int changed = p2p_autonat_client_on_response(&svc->client, resp);
	autonat_client_arm(svc);
	if (svc->freeing)
		return;
	const p2p_autonat_service_config *cfg = &svc->cfg;
	if (cfg->on_probe) {
		const char *text = resp && resp->status_text.len > 0
		                       ? (const char *)resp->status_text.data
		                       : "";
		cfg->on_probe(&p->server, resp ? resp->status : err, text, cfg->user);
	}
	if (changed > 0 && cfg->on_change) {
		p2p_autonat_reachability state = p2p_autonat_client_state(&svc->client);
		cfg->on_change(state,
		               state == P2P_AUTONAT_PUBLIC
		                   ? p2p_autonat_client_addr(&svc->client)
		                   : NULL,
		               p2p_autonat_client_confidence(&svc->client), cfg->user);
	}
}

static void probe_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	autonat_probe *p = user;
	p2p_stream_consume(s, len);
	if (p->done)
		return;
	const uint8_t *body;
	size_t body_len, used;
	int rc = p2p_lpmsg_read(&p->rd, data, len, &used, &body, &body_len);
	if (rc == P2P_EAGAIN)
		return;
	p2p_autonat_msg m;
	p2p_autonat_msg_init(&m);
	if (rc == P2P_OK)
		rc = p2p_autonat_msg_decode(&m, body, body_len);
	if (rc == P2P_OK && m.type != P2P_AUTONAT_DIAL_RESPONSE)
		rc = P2P_EPROTO;
	probe_report(p, rc == P2P_OK ? &m : NULL, rc);
	p2p_autonat_msg_free(&m);
	if (rc == P2P_OK)
		p2p_stream_close(s);
	else
		p2p_stream_reset(s);
}

static void probe_on_fin(p2p_stream *s, void *user)
{
	probe_report(user, NULL, P2P_ECLOSED);
	p2p_stream_close(s);
}

static void probe_on_reset(p2p_stream *s, int err, void *user)
{
	probe_report(user, NULL, err < 0 ? err : P2P_ERESET);
}

static void probe_on_close(p2p_stream *s, void *user)
{
	autonat_probe *p = user;
	p->stream = NULL;
	probe_report(p, NULL, P2P_ECLOSED);
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
	autonat_probe *p = t->data;
	probe_report(p, NULL, P2P_ETIMEDOUT);
	/* Also after an answer: a server that never closes is cut off. */
	if (p->stream)
		p2p_stream_reset(p->stream);
}

static void probe_on_selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	autonat_probe *p = user;
	p->selecting = false;
	if (err < 0) { /* the library resets s */
		probe_report(p, NULL, err);
		probe_maybe_free(p);
		return;
	}
	p->stream = s;
	p2p_stream_set_callbacks(s, &probe_callbacks, p);
	int rc = p->done ? P2P_ETIMEDOUT
	                 : p2p_stream_write(s, p->request.data, p->request.len);
	if (rc < 0) {
		probe_report(p, NULL, rc);
		p2p_stream_reset(s);
		return;
	}
	p->svc->stats.probes_sent++;
}

static void probe_start(p2p_autonat_service *svc, p2p_conn *c, const p2p_buf *addrs,
                        size_t n)
{
	autonat_probe *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		/* The tracker expects one answer per probe begun. */
		svc->stats.probes_failed++;
		p2p_autonat_client_on_response(&svc->client, NULL);
		return;
	}
	p->svc = svc;
	p->server = *p2p_conn_remote_peer(c);
	p2p_lpmsg_reader_init(&p->rd, P2P_AUTONAT_MAX_MESSAGE);
	p2p_buf_init(&p->request);
	uv_timer_init(svc->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, probe_on_timer, svc->cfg.request_timeout_ms, 0);
	p->next = svc->probes;
	if (svc->probes)
		svc->probes->prev = p;
	svc->probes = p;
	svc->refs++;

	static const char *const protos[] = {P2P_AUTONAT_PROTOCOL};
	p2p_stream *s = NULL;
	int rc = p2p_autonat_dial_request_encode(&p->request, p2p_host_peer_id(svc->host),
	                                         addrs, n);
	if (rc == P2P_OK)
		rc = p2p_conn_open_stream(c, &s);
	if (rc == P2P_OK) {
		rc = p2p_stream_select(s, true, protos, 1, probe_on_selected, p);
		if (rc == P2P_OK) {
			p->selecting = true;
			return;
		}
		p2p_stream_reset(s); /* not taken by p2p_stream_select */
	}
	probe_report(p, NULL, rc);
	probe_maybe_free(p);
}

/* A connected peer to ask: direct, speaking AutoNAT (its identify, in
 * the peerstore), not asked lately, at a usable IP; one at random. */
static p2p_conn *pick_server(p2p_autonat_service *svc, uint64_t now)
{
	p2p_conn *conns[P2P_HOST_MAX_CONNS];
	size_t n = p2p_host_conns(svc->host, conns, P2P_HOST_MAX_CONNS);
	if (n > P2P_HOST_MAX_CONNS)
		n = P2P_HOST_MAX_CONNS;
	const p2p_peerstore *ps = p2p_host_peerstore(svc->host);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		p2p_conn *c = conns[i];
		const p2p_peerid *peer = p2p_conn_remote_peer(c);
		if (p2p_conn_is_open(c) && !p2p_conn_is_relayed(c) &&
		    p2p_peerstore_supports(ps, peer, P2P_AUTONAT_PROTOCOL) &&
		    p2p_autonat_client_may_ask(&svc->client, peer, now) &&
		    autonat_ip_usable(svc, p2p_conn_remote_addr(c)))
			conns[k++] = c;
	}
	return k == 0 ? NULL : conns[p2p_splitmix64(&svc->rng) % k];
}

static void add_candidate(const p2p_autonat_service *svc, const p2p_buf *a, p2p_buf *out,
                          size_t *n)
{
	if (*n < MAX_CANDIDATES && autonat_ip_usable(svc, a) &&
	    p2p_buf_append(&out[*n], a->data, a->len) == P2P_OK)
		(*n)++;
}

/* Where a server may reach us: the application's extra addresses (a
 * port mapping), what we announce (the listen addresses without one),
 * then where peers saw us. out[MAX_CANDIDATES] initialised. */
static size_t candidates(p2p_autonat_service *svc, p2p_buf *out)
{
	size_t n = 0;
	for (size_t i = 0; i < svc->n_extra; i++)
		add_candidate(svc, &svc->extra[i], out, &n);
	const p2p_buf *ann[P2P_HOST_MAX_ANNOUNCE];
	size_t n_ann = p2p_host_announce_addrs(svc->host, ann, P2P_HOST_MAX_ANNOUNCE);
	for (size_t i = 0; i < n_ann && i < P2P_HOST_MAX_ANNOUNCE; i++)
		add_candidate(svc, ann[i], out, &n);
	if (svc->identify == NULL)
		return n;
	p2p_buf obs[P2P_AUTONAT_SERVICE_MAX_OBSERVED];
	for (size_t i = 0; i < P2P_AUTONAT_SERVICE_MAX_OBSERVED; i++)
		p2p_buf_init(&obs[i]);
	size_t n_obs = p2p_identify_service_observed(svc->identify, 1, obs,
	                                             P2P_AUTONAT_SERVICE_MAX_OBSERVED);
	for (size_t i = 0; i < n_obs && i < P2P_AUTONAT_SERVICE_MAX_OBSERVED; i++)
		add_candidate(svc, &obs[i], out, &n);
	for (size_t i = 0; i < P2P_AUTONAT_SERVICE_MAX_OBSERVED; i++)
		p2p_buf_free(&obs[i]);
	return n;
}

static void on_round(uv_timer_t *t)
{
	p2p_autonat_service *svc = t->data;
	uint64_t now = autonat_svc_now(svc);
	p2p_buf addrs[MAX_CANDIDATES];
	for (size_t i = 0; i < MAX_CANDIDATES; i++)
		p2p_buf_init(&addrs[i]);
	size_t n = candidates(svc, addrs);
	p2p_conn *c = n > 0 ? pick_server(svc, now) : NULL;
	/* A round without a server (or without an address to offer) counts
	 * too: the next one comes a retry interval later. */
	if (p2p_autonat_client_begin_probe(
	        &svc->client, c ? p2p_conn_remote_peer(c) : NULL, now) == P2P_OK)
		probe_start(svc, c, addrs, n);
	for (size_t i = 0; i < MAX_CANDIDATES; i++)
		p2p_buf_free(&addrs[i]);
	autonat_client_arm(svc);
}

/* Someone outside reached us: the schedule takes it into account. */
void autonat_client_on_connected(p2p_host *h, p2p_conn *c, void *user)
{
	p2p_autonat_service *svc = user;
	const p2p_buf *ra = p2p_conn_remote_addr(c);
	if (svc->cfg.disable_client || p2p_conn_direction(c) != P2P_DIR_INBOUND ||
	    p2p_conn_is_relayed(c) || !autonat_ip_usable(svc, ra) ||
	    same_ip(ra, p2p_conn_local_addr(c)))
		return;
	p2p_autonat_client_on_inbound(&svc->client, autonat_svc_now(svc));
	autonat_client_arm(svc);
}

void p2p_autonat_service_on_identified(p2p_autonat_service *svc, p2p_conn *c,
                                       const p2p_identify *info)
{
	if (svc == NULL || info == NULL || svc->cfg.disable_client || svc->freeing)
		return;
	for (size_t i = 0; i < info->n_protocols; i++) {
		if (strcmp(info->protocols[i], P2P_AUTONAT_PROTOCOL) == 0) {
			p2p_autonat_client_on_server_found(&svc->client);
			autonat_client_arm(svc);
			return;
		}
	}
}

int p2p_autonat_service_set_extra_addrs(p2p_autonat_service *svc, const p2p_buf *addrs,
                                        size_t n)
{
	if (svc == NULL || (n > 0 && addrs == NULL))
		return P2P_EINVAL;
	if (n > P2P_AUTONAT_SERVICE_MAX_EXTRA)
		return P2P_ELIMIT;
	p2p_buf copy[P2P_AUTONAT_SERVICE_MAX_EXTRA];
	for (size_t i = 0; i < P2P_AUTONAT_SERVICE_MAX_EXTRA; i++)
		p2p_buf_init(&copy[i]);
	for (size_t i = 0; i < n; i++) {
		if (p2p_buf_append(&copy[i], addrs[i].data, addrs[i].len) < 0) {
			for (size_t j = 0; j <= i; j++)
				p2p_buf_free(&copy[j]);
			return P2P_ENOMEM;
		}
	}
	for (size_t i = 0; i < P2P_AUTONAT_SERVICE_MAX_EXTRA; i++) {
		p2p_buf_free(&svc->extra[i]);
		svc->extra[i] = copy[i];
	}
	svc->n_extra = n;
	p2p_autonat_service_addrs_changed(svc);
	return P2P_OK;
}

void p2p_autonat_service_addrs_changed(p2p_autonat_service *svc)
{
	if (svc == NULL || svc->cfg.disable_client || svc->freeing)
		return;
	p2p_autonat_client_on_addrs_changed(&svc->client);
	autonat_client_arm(svc);
}
