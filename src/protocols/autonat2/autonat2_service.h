/* What the parts of the AutoNAT v2 service share (autonat2_service.c:
 * lifetime; autonat2_service_server.c; autonat2_service_client.c).
 * Internal to src/protocols/autonat2.
 *
 * Lifetimes, as the v1 service's: a server request lives until its stream
 * has closed and its dial-back (TCP dial, upgrade, dial-back stream,
 * connection) is over; a probe until its stream has closed; a dial-back
 * stream until it has closed. Each has a timer, closed with uv_close, and
 * holds a reference on the service, whose memory goes with the last. */
#ifndef P2P_AUTONAT2_SERVICE_INTERNAL_H
#define P2P_AUTONAT2_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "p2p/autonat2_service.h"

typedef struct autonat2_req autonat2_req;
typedef struct autonat2_probe autonat2_probe;
typedef struct autonat2_back autonat2_back;

struct p2p_autonat2_service {
	p2p_host *host; /* not touched once freeing */
	uv_loop_t *loop;
	p2p_autonat2_service_config cfg; /* every 0 replaced by its default */
	p2p_autonat2_server server;
	uint64_t rng; /* p2p_splitmix64 state: dial-data amounts */
	autonat2_req *reqs;
	size_t n_reqs;
	autonat2_probe *probes;
	size_t n_probes;
	size_t n_backs;
	size_t refs; /* 1 until freed, plus each request, probe, dial-back */
	bool freeing;
	p2p_autonat2_service_stats stats;
};

uint64_t autonat2_now(const p2p_autonat2_service *svc);
/* Drops a reference; the last one frees the service. */
void autonat2_unref(p2p_autonat2_service *svc);

/* The server (autonat2_service_server.c): the dial-request handler, and
 * what to cut off when the service goes. */
void autonat2_server_on_stream(p2p_stream *s, const char *protocol, void *user);
void autonat2_server_cancel(p2p_autonat2_service *svc);

/* The client (autonat2_service_client.c): the dial-back handler; a nonce
 * that came back (true if a probe of ours took it); what to cut off. */
void autonat2_client_on_dial_back(p2p_stream *s, const char *protocol, void *user);
void autonat2_client_cancel(p2p_autonat2_service *svc);

#endif
