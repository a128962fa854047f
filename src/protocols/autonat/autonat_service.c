/* The AutoNAT v1 service on a host (autonat.h): its lifetime, what the
 * server (autonat_service_server.c) and the client
 * (autonat_service_client.c) share, and the calls the application makes.
 * How the parts' lifetimes hang together: autonat_service.h. */
#include <openssl/rand.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "protocols/autonat/autonat_service.h"

uint64_t autonat_svc_now(const p2p_autonat_service *svc)
{
	return uv_now(svc->loop);
}

void autonat_svc_unref(p2p_autonat_service *svc)
{
	if (--svc->refs > 0)
		return;
	for (size_t i = 0; i < P2P_AUTONAT_SERVICE_MAX_EXTRA; i++)
		p2p_buf_free(&svc->extra[i]);
	p2p_autonat_server_free(&svc->server);
	p2p_autonat_client_free(&svc->client);
	free(svc);
}

bool autonat_ip_usable(const p2p_autonat_service *svc, const p2p_buf *a)
{
	size_t off = 0;
	p2p_multiaddr_component c;
	if (p2p_multiaddr_next(a->data, a->len, &off, &c) != 1 ||
	    (c.code != P2P_MA_IP4 && c.code != P2P_MA_IP6))
		return false;
	if (!svc->cfg.allow_private)
		return p2p_autonat_addr_is_public(a->data, a->len);
	for (size_t i = 0; i < c.value_len; i++)
		if (c.value[i] != 0)
			return true;
	return false; /* 0.0.0.0 or ::, a wildcard listen address */
}

#define DEFAULT(field, value)                                                            \
	if (cfg->field == 0)                                                             \
		cfg->field = (value);

static void fill_defaults(p2p_autonat_service_config *cfg)
{
	DEFAULT(boot_delay_ms, P2P_AUTONAT_BOOT_DELAY_MS)
	DEFAULT(forced_retry_ms, P2P_AUTONAT_FORCED_RETRY_MS)
	DEFAULT(retry_interval_ms, P2P_AUTONAT_RETRY_INTERVAL_MS)
	DEFAULT(refresh_interval_ms, P2P_AUTONAT_REFRESH_INTERVAL_MS)
	DEFAULT(request_timeout_ms, P2P_AUTONAT_REQUEST_TIMEOUT_MS)
	DEFAULT(dial_timeout_ms, P2P_AUTONAT_DIAL_TIMEOUT_MS)
	DEFAULT(stream_timeout_ms, P2P_AUTONAT_STREAM_TIMEOUT_MS)
}

#undef DEFAULT

int p2p_autonat_service_new(p2p_autonat_service **out, p2p_host *h,
                            p2p_identify_service *identify,
                            const p2p_autonat_service_config *cfg)
{
	if (out == NULL || h == NULL)
		return P2P_EINVAL;
	p2p_autonat_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return P2P_ENOMEM;
	svc->host = h;
	svc->loop = p2p_host_loop(h);
	svc->identify = identify;
	if (cfg)
		svc->cfg = *cfg;
	fill_defaults(&svc->cfg);
	uint64_t seed[2];
	if (RAND_bytes((unsigned char *)seed, sizeof(seed)) != 1) {
		free(svc);
		return P2P_ECRYPTO;
	}
	svc->rng = seed[1];
	p2p_autonat_server_config sc = {
	    .throttle_peer_max = svc->cfg.throttle_peer_max,
	    .throttle_global = svc->cfg.throttle_global,
	    .throttle_reset_ms = svc->cfg.throttle_reset_ms,
	    .throttle_jitter_ms = svc->cfg.throttle_jitter_ms,
	    .jitter_seed = seed[0],
	    .allow_private = svc->cfg.allow_private,
	};
	uint64_t now = autonat_svc_now(svc);
	int rc = p2p_autonat_server_init(&svc->server, &sc, now);
	p2p_autonat_client_init(&svc->client, now);
	bool handler = false;
	if (rc == P2P_OK && !svc->cfg.disable_server) {
		rc = p2p_host_set_handler(h, P2P_AUTONAT_PROTOCOL,
		                          autonat_server_on_stream, svc);
		handler = rc == P2P_OK;
	}
	static const p2p_host_observer obs = {.on_connected =
	                                          autonat_client_on_connected};
	if (rc == P2P_OK)
		rc = p2p_host_observe(h, &obs, svc);
	if (rc < 0) {
		if (handler)
			p2p_host_remove_handler(h, P2P_AUTONAT_PROTOCOL);
		p2p_autonat_server_free(&svc->server);
		p2p_autonat_client_free(&svc->client);
		free(svc);
		return rc;
	}
	uv_timer_init(svc->loop, &svc->timer);
	svc->timer.data = svc;
	/* The rounds go on for as long as the host does, whose handles keep
	 * the loop alive: this timer alone must not. */
	uv_unref((uv_handle_t *)&svc->timer);
	svc->refs = 1;
	autonat_client_arm(svc);
	*out = svc;
	return P2P_OK;
}

static void svc_timer_closed(uv_handle_t *h)
{
	autonat_svc_unref(h->data);
}

void p2p_autonat_service_free(p2p_autonat_service *svc)
{
	if (svc == NULL)
		return;
	svc->freeing = true;
	/* The host has closed, so every stream has; what is left are dials
	 * to cancel and timers closing. */
	autonat_server_cancel_dials(svc);
	uv_timer_stop(&svc->timer);
	uv_close((uv_handle_t *)&svc->timer, svc_timer_closed);
}

p2p_autonat_reachability p2p_autonat_service_state(const p2p_autonat_service *svc,
                                                   const p2p_buf **addr, int *confidence)
{
	if (addr)
		*addr = p2p_autonat_client_addr(&svc->client);
	if (confidence)
		*confidence = p2p_autonat_client_confidence(&svc->client);
	return p2p_autonat_client_state(&svc->client);
}

const p2p_autonat_service_stats *
p2p_autonat_service_stats_get(const p2p_autonat_service *svc)
{
	return &svc->stats;
}
