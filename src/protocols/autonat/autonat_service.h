/* What the three parts of the AutoNAT service share (autonat_service.c:
 * lifetime and helpers; autonat_service_server.c; autonat_service_client.c).
 * Internal to src/protocols/autonat.
 *
 * Lifetimes: a server request lives until its stream has closed and its
 * dial-back (a TCP dial, then the host's upgrade) has reported; a probe
 * until its stream has closed. Each has a timer, closed with uv_close, and
 * holds a reference on the service, whose memory goes with the last of
 * them: a TCP dial cancelled at shutdown reports from the loop, after the
 * host is gone. */
#ifndef P2P_AUTONAT_SERVICE_INTERNAL_H
#define P2P_AUTONAT_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "p2p/autonat.h"

typedef struct autonat_req autonat_req;
typedef struct autonat_probe autonat_probe;

struct p2p_autonat_service {
	p2p_host *host; /* not touched once freeing */
	uv_loop_t *loop;
	p2p_identify_service *identify;
	p2p_autonat_service_config cfg; /* every 0 replaced by its default */
	p2p_autonat_server server;
	p2p_autonat_client client;
	uv_timer_t timer; /* the client's next round */
	uint64_t rng;     /* which server to ask */
	autonat_req *reqs;
	size_t n_reqs;
	autonat_probe *probes;
	size_t refs; /* the timer, each request, each probe */
	bool freeing;
	p2p_autonat_service_stats stats;
	/* p2p_autonat_service_set_extra_addrs: offered first in a DIAL. */
	p2p_buf extra[P2P_AUTONAT_SERVICE_MAX_EXTRA];
	size_t n_extra;
};

uint64_t autonat_svc_now(const p2p_autonat_service *svc);
/* Drops a reference; the last one frees the service. */
void autonat_svc_unref(p2p_autonat_service *svc);
/* Whether binary multiaddr a starts with an IP that says something about
 * the Internet: a public one, or with allow_private any but 0.0.0.0 and
 * ::. */
bool autonat_ip_usable(const p2p_autonat_service *svc, const p2p_buf *a);

/* The server (autonat_service_server.c): the stream handler, and the
 * dial-backs to cancel when the service goes. */
void autonat_server_on_stream(p2p_stream *s, const char *protocol, void *user);
void autonat_server_cancel_dials(p2p_autonat_service *svc);

/* The client (autonat_service_client.c): (re)starts the round timer for
 * the tracker's next round; a host observer's on_connected. */
void autonat_client_arm(p2p_autonat_service *svc);
void autonat_client_on_connected(p2p_host *h, p2p_conn *c, void *user);

#endif
