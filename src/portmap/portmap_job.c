/* The exchanges with the router (portmap_job.h), on the thread pool:
 * UPnP IGD through miniupnpc, NAT-PMP (RFC 6886) through libnatpmp. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <natpmp.h>

#include "p2p/error.h"
#include "portmap/portmap_job.h"

#define UPNP_DESC "mtunnel"
/* UPnP errors AddPortMapping answers that we act on. */
#define UPNP_CONFLICT       718 /* ConflictInMappingEntry: port taken */
#define UPNP_ONLY_PERMANENT 725 /* OnlyPermanentLeasesSupported */

/* --- UPnP IGD --- */

static const char *upnp_err(int rc)
{
	const char *s = strupnperror(rc);
	return s ? s : "error";
}

/* AddPortMapping of the internal port, the same external port first;
 * when that is taken, AddAnyPortMapping (IGDv2) lets the router pick. */
static int upnp_add(portmap_job *j, uint16_t ext_port, uint16_t *got_port,
                    uint32_t *got_lease)
{
	const portmap_igd *g = &j->igd;
	char in[8], ext[8], lease[16], reserved[8] = "";
	snprintf(in, sizeof in, "%u", (unsigned)j->internal_port);
	snprintf(ext, sizeof ext, "%u", (unsigned)ext_port);
	snprintf(lease, sizeof lease, "%u", (unsigned)j->lease_s);
	int rc = UPNP_AddPortMapping(g->control_url, g->service_type, ext, in,
	                             g->lan_addr, UPNP_DESC, "TCP", NULL, lease);
	*got_lease = j->lease_s;
	if (rc == UPNP_ONLY_PERMANENT) {
		rc = UPNP_AddPortMapping(g->control_url, g->service_type, ext, in,
		                         g->lan_addr, UPNP_DESC, "TCP", NULL, "0");
		*got_lease = 0;
	}
	if (rc == 0) {
		*got_port = ext_port;
		return 0;
	}
	if (rc == UPNP_CONFLICT &&
	    UPNP_AddAnyPortMapping(g->control_url, g->service_type, ext, in, g->lan_addr,
	                           UPNP_DESC, "TCP", NULL, lease, reserved) == 0) {
		unsigned p = 0;
		if (sscanf(reserved, "%u", &p) == 1 && p > 0 && p <= 65535) {
			*got_port = (uint16_t)p;
			return 0;
		}
	}
	snprintf(j->why, sizeof j->why, "the UPnP IGD refused port %u: %s (%d)",
	         (unsigned)ext_port, upnp_err(rc), rc);
	return P2P_EIO;
}

static int upnp_external_ip(portmap_job *j, char *out)
{
	char ip[40] = "";
	int rc = UPNP_GetExternalIPAddress(j->igd.control_url, j->igd.service_type, ip);
	struct in_addr a;
	if (rc != 0 || inet_pton(AF_INET, ip, &a) != 1) {
		snprintf(j->why, sizeof j->why,
		         "the UPnP IGD gave no external address: %s (%d)", upnp_err(rc),
		         rc);
		return P2P_EIO;
	}
	snprintf(out, 46, "%s", ip);
	return 0;
}

/* Finds a connected IGD (SSDP on the LAN), then maps. */
static int upnp_map(portmap_job *j)
{
	int err = 0;
	struct UPNPDev *devs =
	    upnpDiscover((int)j->discover_ms, NULL, NULL, 0, 0, 2, &err);
	if (devs == NULL) {
		snprintf(j->why, sizeof j->why, "no UPnP IGD answered");
		return P2P_ENOTFOUND;
	}
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64] = "";
	memset(&urls, 0, sizeof urls);
	int r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan);
	freeUPNPDevlist(devs);
	if (r != 1) {
		/* 2: an IGD that says it is not connected; 3: some other
		 * UPnP device. Neither forwards anything. */
		if (r != 0)
			FreeUPNPUrls(&urls);
		snprintf(j->why, sizeof j->why, "%s",
		         r == 2 ? "the UPnP IGD is not connected"
		                : "no UPnP IGD answered");
		return P2P_ENOTFOUND;
	}
	snprintf(j->igd.control_url, sizeof j->igd.control_url, "%s", urls.controlURL);
	snprintf(j->igd.service_type, sizeof j->igd.service_type, "%s",
	         data.first.servicetype);
	snprintf(j->igd.lan_addr, sizeof j->igd.lan_addr, "%s", lan);
	FreeUPNPUrls(&urls);
	int rc = upnp_external_ip(j, j->got.external_ip);
	if (rc == 0)
		rc =
		    upnp_add(j, j->internal_port, &j->got.external_port, &j->got.lease_s);
	if (rc == 0)
		j->got.method = P2P_PORTMAP_UPNP;
	return rc;
}

static int upnp_renew(portmap_job *j)
{
	int rc = upnp_external_ip(j, j->got.external_ip);
	if (rc == 0)
		rc = upnp_add(j, j->have.external_port, &j->got.external_port,
		              &j->got.lease_s);
	if (rc == 0)
		j->got.method = P2P_PORTMAP_UPNP;
	return rc;
}

static void upnp_unmap(portmap_job *j)
{
	char ext[8];
	snprintf(ext, sizeof ext, "%u", (unsigned)j->have.external_port);
	UPNP_DeletePortMapping(j->igd.control_url, j->igd.service_type, ext, "TCP", NULL);
}

/* --- NAT-PMP --- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for the answer to the request just sent, with libnatpmp's own
 * retransmissions, for at most P2P_PORTMAP_NATPMP_WAIT_MS. */
static int natpmp_wait(natpmp_t *n, natpmpresp_t *resp)
{
	uint64_t end = mono_ms() + P2P_PORTMAP_NATPMP_WAIT_MS;
	for (;;) {
		struct timeval tv;
		if (getnatpmprequesttimeout(n, &tv) < 0)
			return NATPMP_ERR_GETTIMEOFDAYERR;
		uint64_t now = mono_ms();
		if (now >= end)
			return NATPMP_TRYAGAIN;
		uint64_t left = end - now;
		if ((uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u > left) {
			tv.tv_sec = (time_t)(left / 1000u);
			tv.tv_usec = (suseconds_t)((left % 1000u) * 1000u);
		}
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(n->s, &fds);
		if (select(n->s + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
			return NATPMP_ERR_RECVFROM;
		int rc = readnatpmpresponseorretry(n, resp);
		if (rc != NATPMP_TRYAGAIN)
			return rc;
	}
}

static int natpmp_open(portmap_job *j, natpmp_t *n)
{
	int rc = initnatpmp(n, j->force_gateway ? 1 : 0, j->gateway);
	if (rc < 0) {
		snprintf(j->why, sizeof j->why, "%s",
		         rc == NATPMP_ERR_CANNOTGETGATEWAY
		             ? "no default gateway for NAT-PMP"
		             : "cannot open a NAT-PMP socket");
		return P2P_ENOTFOUND;
	}
	return 0;
}

/* A request's answer: 0, P2P_ENOTFOUND (silence, or ICMP: no NAT-PMP
 * there), P2P_EIO (an answer that refuses). */
static int natpmp_result(portmap_job *j, int rc, const natpmpresp_t *resp,
                         const char *what)
{
	if (rc >= 0 && resp->resultcode == 0)
		return 0;
	if (rc == NATPMP_TRYAGAIN || rc == NATPMP_ERR_RECVFROM ||
	    rc == NATPMP_ERR_NOGATEWAYSUPPORT) {
		snprintf(j->why, sizeof j->why, "no NAT-PMP gateway answered");
		return P2P_ENOTFOUND;
	}
	snprintf(j->why, sizeof j->why, "the NAT-PMP gateway refused the %s (%d)", what,
	         rc < 0 ? rc : (int)resp->resultcode);
	return P2P_EIO;
}

/* The public address, then a TCP mapping of the internal port to `ext`
 * (a hint; the gateway may give another), or its removal (lifetime 0). */
static int natpmp_exchange(portmap_job *j, uint16_t ext, uint32_t lifetime)
{
	natpmp_t n;
	natpmpresp_t resp;
	int rc = natpmp_open(j, &n);
	if (rc < 0)
		return rc;
	if (lifetime > 0) {
		rc = sendpublicaddressrequest(&n);
		rc = natpmp_result(j, rc < 0 ? rc : natpmp_wait(&n, &resp), &resp,
		                   "address request");
		if (rc == 0 && !inet_ntop(AF_INET, &resp.pnu.publicaddress.addr,
		                          j->got.external_ip, sizeof j->got.external_ip))
			rc = P2P_EIO;
	}
	if (rc == 0) {
		int s = sendnewportmappingrequest(&n, NATPMP_PROTOCOL_TCP,
		                                  j->internal_port, ext, lifetime);
		rc = natpmp_result(j, s < 0 ? s : natpmp_wait(&n, &resp), &resp,
		                   lifetime ? "mapping" : "removal");
	}
	if (rc == 0 && lifetime > 0) {
		j->got.method = P2P_PORTMAP_NATPMP;
		j->got.external_port = resp.pnu.newportmapping.mappedpublicport;
		j->got.lease_s = resp.pnu.newportmapping.lifetime;
	}
	closenatpmp(&n);
	return rc;
}

/* --- the job --- */

static int map(portmap_job *j)
{
	int rc = P2P_ENOTFOUND;
	char upnp_why[P2P_PORTMAP_WHY_MAX] = "";
	if (!j->disable_upnp) {
		rc = upnp_map(j);
		if (rc == 0)
			return 0;
		snprintf(upnp_why, sizeof upnp_why, "%s", j->why);
	}
	if (!j->disable_natpmp) {
		int r2 = natpmp_exchange(j, j->internal_port, j->lease_s);
		if (r2 == 0)
			return 0;
		/* Say what either found: "no UPnP IGD answered, no NAT-PMP..." */
		if (upnp_why[0] != '\0') {
			char both[P2P_PORTMAP_WHY_MAX];
			snprintf(both, sizeof both, "%.90s, %.90s", upnp_why, j->why);
			snprintf(j->why, sizeof j->why, "%s", both);
		}
		/* A refusal says more than silence. */
		rc = rc == P2P_ENOTFOUND ? r2 : rc;
	}
	return rc;
}

void portmap_job_run(uv_work_t *req)
{
	portmap_job *j = req->data;
	memset(&j->got, 0, sizeof j->got);
	j->got.internal_port = j->internal_port;
	j->why[0] = '\0';
	switch (j->kind) {
	case PORTMAP_JOB_MAP:
		j->status = map(j);
		break;
	case PORTMAP_JOB_RENEW:
		j->status = j->have.method == P2P_PORTMAP_UPNP
		                ? upnp_renew(j)
		                : natpmp_exchange(j, j->have.external_port, j->lease_s);
		/* The router may have rebooted (a new IGD URL) or changed its
		 * mind: start over. */
		if (j->status != 0)
			j->status = map(j);
		break;
	case PORTMAP_JOB_UNMAP:
		if (j->have.method == P2P_PORTMAP_UPNP)
			upnp_unmap(j);
		else
			j->status = natpmp_exchange(j, 0, 0);
		break;
	}
	if (j->status != 0 && j->why[0] == '\0')
		snprintf(j->why, sizeof j->why, "%s", p2p_strerror(j->status));
}
