/* Port mapping's loop side (portmap.h): the schedule (map, renew at half
 * the lease, retry), the one job in flight, and an orderly close that
 * removes the mapping. The exchanges themselves: portmap_job.c. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "portmap/portmap_job.h"

struct p2p_portmap {
	uv_loop_t *loop;
	p2p_portmap_config cfg; /* every 0 replaced by its default */
	bool force_gateway;
	uint32_t gateway;
	uv_timer_t timer; /* the next job */
	portmap_job *job; /* in flight, or NULL */
	bool active;
	p2p_portmap_mapping current;
	portmap_igd igd; /* where a UPnP mapping lives */
	bool closing;
	void (*on_closed)(void *user);
	void *closed_user;
};

const char *p2p_portmap_method_name(p2p_portmap_method m)
{
	switch (m) {
	case P2P_PORTMAP_UPNP:
		return "UPnP IGD";
	case P2P_PORTMAP_NATPMP:
		return "NAT-PMP";
	default:
		return "none";
	}
}

static void on_job_done(uv_work_t *req, int status);

static int queue_job(p2p_portmap *pm, portmap_job_kind kind)
{
	portmap_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return P2P_ENOMEM;
	j->req.data = j;
	j->pm = pm;
	j->kind = kind;
	j->internal_port = pm->cfg.internal_port;
	j->lease_s = pm->cfg.lease_s;
	j->discover_ms = pm->cfg.discover_ms;
	j->disable_upnp = pm->cfg.disable_upnp;
	j->disable_natpmp = pm->cfg.disable_natpmp;
	j->force_gateway = pm->force_gateway;
	j->gateway = pm->gateway;
	j->have = pm->current;
	j->igd = pm->igd;
	int rc = uv_queue_work(pm->loop, &j->req, portmap_job_run, on_job_done);
	if (rc < 0) {
		free(j);
		return P2P_EIO;
	}
	pm->job = j;
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	p2p_portmap *pm = h->data;
	if (pm->on_closed)
		pm->on_closed(pm->closed_user);
	free(pm);
}

/* Closing, with no job in flight: remove the mapping first if there is
 * one, else end. */
static void close_step(p2p_portmap *pm)
{
	if (pm->active) {
		pm->active = false;
		if (queue_job(pm, PORTMAP_JOB_UNMAP) == 0)
			return;
	}
	uv_close((uv_handle_t *)&pm->timer, on_timer_closed);
}

static void on_timer(uv_timer_t *t)
{
	p2p_portmap *pm = t->data;
	if (pm->job != NULL || pm->closing)
		return;
	if (queue_job(pm, pm->active ? PORTMAP_JOB_RENEW : PORTMAP_JOB_MAP) < 0)
		uv_timer_start(&pm->timer, on_timer, pm->cfg.retry_ms, 0);
}

static bool same_mapping(const p2p_portmap_mapping *a, const p2p_portmap_mapping *b)
{
	return a->method == b->method && a->external_port == b->external_port &&
	       strcmp(a->external_ip, b->external_ip) == 0;
}

static void on_job_done(uv_work_t *req, int status)
{
	portmap_job *j = req->data;
	p2p_portmap *pm = j->pm;
	pm->job = NULL;
	if (pm->closing) {
		/* A MAP or RENEW that succeeded has a mapping to remove. */
		if (j->kind != PORTMAP_JOB_UNMAP && status == 0 && j->status == 0) {
			pm->current = j->got;
			pm->igd = j->igd;
			pm->active = true;
		}
		free(j);
		close_step(pm);
		return;
	}
	int rc = status < 0 ? P2P_EIO : j->status;
	bool was = pm->active;
	p2p_portmap_mapping before = pm->current;
	uint64_t next_ms = pm->cfg.retry_ms;
	if (rc == 0) {
		pm->current = j->got;
		pm->igd = j->igd;
		pm->active = true;
		uint32_t lease =
		    j->got.lease_s ? j->got.lease_s : P2P_PORTMAP_PERMANENT_RENEW_S;
		next_ms = (uint64_t)lease * 1000u / 2u;
		if (next_ms < 1000)
			next_ms = 1000; /* a router that grants a second or two */
	} else {
		pm->active = false;
		memset(&pm->current, 0, sizeof pm->current);
	}
	uv_timer_start(&pm->timer, on_timer, next_ms, 0);
	/* Only what changed: a renewal that keeps the mapping says nothing;
	 * repeated failures only the first time. */
	if (rc == 0 && (!was || !same_mapping(&before, &pm->current)))
		pm->cfg.on_change(0, &pm->current, "", pm->cfg.user);
	else if (rc < 0 && (was || j->kind == PORTMAP_JOB_MAP))
		pm->cfg.on_change(rc, NULL, j->why, pm->cfg.user);
	free(j);
}

int p2p_portmap_start(p2p_portmap **out, uv_loop_t *loop, const p2p_portmap_config *cfg)
{
	if (out == NULL || loop == NULL || cfg == NULL || cfg->internal_port == 0 ||
	    cfg->on_change == NULL || (cfg->disable_upnp && cfg->disable_natpmp))
		return P2P_EINVAL;
	struct in_addr gw = {0};
	if (cfg->natpmp_gateway != NULL &&
	    inet_pton(AF_INET, cfg->natpmp_gateway, &gw) != 1)
		return P2P_EINVAL;
	p2p_portmap *pm = calloc(1, sizeof *pm);
	if (pm == NULL)
		return P2P_ENOMEM;
	pm->loop = loop;
	pm->cfg = *cfg;
	pm->cfg.natpmp_gateway = NULL; /* copied below, not kept */
	pm->force_gateway = cfg->natpmp_gateway != NULL;
	pm->gateway = gw.s_addr;
	if (pm->cfg.lease_s == 0)
		pm->cfg.lease_s = P2P_PORTMAP_LEASE_S;
	if (pm->cfg.discover_ms == 0)
		pm->cfg.discover_ms = P2P_PORTMAP_DISCOVER_MS;
	if (pm->cfg.retry_ms == 0)
		pm->cfg.retry_ms = P2P_PORTMAP_RETRY_MS;
	uv_timer_init(loop, &pm->timer);
	pm->timer.data = pm;
	/* The renewals go on while the caller runs; they alone must not keep
	 * the loop alive (the jobs do, which is what close relies on). */
	uv_unref((uv_handle_t *)&pm->timer);
	int rc = queue_job(pm, PORTMAP_JOB_MAP);
	if (rc < 0) {
		pm->on_closed = NULL;
		uv_close((uv_handle_t *)&pm->timer, on_timer_closed);
		return rc;
	}
	*out = pm;
	return 0;
}

void p2p_portmap_close(p2p_portmap *pm, void (*on_closed)(void *user), void *user)
{
	if (pm == NULL || pm->closing)
		return;
	pm->closing = true;
	pm->on_closed = on_closed;
	pm->closed_user = user;
	uv_timer_stop(&pm->timer);
	if (pm->job == NULL)
		close_step(pm);
	/* else on_job_done goes on from there */
}

bool p2p_portmap_active(const p2p_portmap *pm, p2p_portmap_mapping *out)
{
	if (pm == NULL || !pm->active)
		return false;
	if (out != NULL)
		*out = pm->current;
	return true;
}
