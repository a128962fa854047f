/* The blocking half of portmap (portmap.h): one exchange with the router,
 * run on libuv's thread pool. A job holds copies of everything it reads
 * and writes only itself; the loop thread reads the result once
 * uv_queue_work's after-work callback runs. */
#ifndef P2P_PORTMAP_JOB_H
#define P2P_PORTMAP_JOB_H

#include <uv.h>

#include "p2p/portmap.h"

/* UPnP's control URL and service type are kept from the mapping for the
 * renewals and the removal (miniupnpc's MINIUPNPC_URL_MAXSIZE is 128). */
#define PORTMAP_URL_MAX 256

typedef enum portmap_job_kind {
	PORTMAP_JOB_MAP,   /* find a gateway, map */
	PORTMAP_JOB_RENEW, /* the same mapping again; a fresh MAP if that fails */
	PORTMAP_JOB_UNMAP,
} portmap_job_kind;

/* Where the mapping lives, for the next job. */
typedef struct portmap_igd {
	char control_url[PORTMAP_URL_MAX];
	char service_type[PORTMAP_URL_MAX];
	char lan_addr[64];
} portmap_igd;

typedef struct portmap_job {
	uv_work_t req;
	struct p2p_portmap *pm; /* not touched by the worker */
	portmap_job_kind kind;
	/* In. */
	uint16_t internal_port;
	uint32_t lease_s;
	uint32_t discover_ms;
	bool disable_upnp, disable_natpmp;
	bool force_gateway;
	uint32_t gateway;         /* network order, when force_gateway */
	p2p_portmap_mapping have; /* RENEW, UNMAP: the mapping in place */
	portmap_igd igd;          /* the same, for UPnP */
	/* Out. */
	int status; /* 0, or P2P_E* */
	char why[P2P_PORTMAP_WHY_MAX];
	p2p_portmap_mapping got; /* MAP, RENEW: when status is 0 */
} portmap_job;

/* uv_queue_work's work callback: does job->kind, fills the out fields. */
void portmap_job_run(uv_work_t *req);

#endif
