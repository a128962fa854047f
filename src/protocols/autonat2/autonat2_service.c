/* The AutoNAT v2 service on a host (autonat2_service.h): its lifetime and
 * what the server and client parts share. */
#include <openssl/rand.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "protocols/autonat2/autonat2_service.h"

uint64_t autonat2_now(const p2p_autonat2_service *svc)
{
	return uv_now(svc->loop);
}

void autonat2_unref(p2p_autonat2_service *svc)
{
	if (--svc->refs > 0)
		return;
	p2p_autonat2_server_free(&svc->server);
	free(svc);
}

#define DEFAULT(field, value)                                                            \
	if (cfg->field == 0)                                                             \
		cfg->field = (value);

static void fill_defaults(p2p_autonat2_service_config *cfg)
{
	DEFAULT(dial_timeout_ms, P2P_AUTONAT2_DIAL_TIMEOUT_MS)
	DEFAULT(stream_timeout_ms, P2P_AUTONAT2_STREAM_TIMEOUT_MS)
	DEFAULT(dial_back_timeout_ms, P2P_AUTONAT2_DIAL_BACK_TIMEOUT_MS)
}

#undef DEFAULT

int p2p_autonat2_service_new(p2p_autonat2_service **out, p2p_host *h,
                             const p2p_autonat2_service_config *cfg)
{
	if (out == NULL || h == NULL)
		return P2P_EINVAL;
	p2p_autonat2_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return P2P_ENOMEM;
	svc->host = h;
	svc->loop = p2p_host_loop(h);
	if (cfg)
		svc->cfg = *cfg;
	fill_defaults(&svc->cfg);
	if (RAND_bytes((unsigned char *)&svc->rng, sizeof(svc->rng)) != 1) {
		free(svc);
		return P2P_ECRYPTO;
	}
	p2p_autonat2_server_config sc = {
	    .rpm = svc->cfg.rpm,
	    .per_peer_rpm = svc->cfg.per_peer_rpm,
	    .dial_data_rpm = svc->cfg.dial_data_rpm,
	    .max_concurrent = svc->cfg.max_concurrent,
	    .allow_private = svc->cfg.allow_private,
	};
	int rc = p2p_autonat2_server_init(&svc->server, &sc);
	bool server = false;
	if (rc == P2P_OK && !svc->cfg.disable_server) {
		rc = p2p_host_set_handler(h, P2P_AUTONAT2_DIAL_REQUEST_PROTOCOL,
		                          autonat2_server_on_stream, svc);
		server = rc == P2P_OK;
	}
	if (rc == P2P_OK && !svc->cfg.disable_client)
		rc = p2p_host_set_handler(h, P2P_AUTONAT2_DIAL_BACK_PROTOCOL,
		                          autonat2_client_on_dial_back, svc);
	if (rc < 0) {
		if (server)
			p2p_host_remove_handler(h, P2P_AUTONAT2_DIAL_REQUEST_PROTOCOL);
		p2p_autonat2_server_free(&svc->server);
		free(svc);
		return rc;
	}
	svc->refs = 1;
	*out = svc;
	return P2P_OK;
}

void p2p_autonat2_service_free(p2p_autonat2_service *svc)
{
	if (svc == NULL)
		return;
	svc->freeing = true;
	/* The host has closed, so every stream has; what is left are dials
	 * to cancel and timers closing. */
	autonat2_server_cancel(svc);
	autonat2_client_cancel(svc);
	autonat2_unref(svc);
}

const p2p_autonat2_service_stats *
p2p_autonat2_service_stats_get(const p2p_autonat2_service *svc)
{
	return &svc->stats;
}
