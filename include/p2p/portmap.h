/* Port mapping: asks the router in front of us to forward a TCP port
 * (UPnP IGD through miniupnpc, else NAT-PMP through libnatpmp), keeps
 * the lease renewed and removes the mapping when closed.
 *
 *   p2p_portmap_config cfg = {.internal_port = 4001, .on_change = cb};
 *   p2p_portmap_start(&pm, loop, &cfg);
 *   ...
 *   p2p_portmap_close(pm, on_closed, user);
 *
 * Both libraries block (SSDP waits, HTTP/SOAP, UDP retries), so every
 * exchange with the router runs as a job on libuv's thread pool; the job
 * owns copies of what it needs and its result is applied on the loop
 * thread. One job at a time. This module knows nothing of libp2p: the
 * caller decides what the external address is good for. */
#ifndef P2P_PORTMAP_H
#define P2P_PORTMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define P2P_PORTMAP_LEASE_S     3600 /* lease asked for; renewed at half */
#define P2P_PORTMAP_DISCOVER_MS 2000 /* how long SSDP waits for an IGD */
/* After no gateway answered, or a renewal failed: ask again this late. */
#define P2P_PORTMAP_RETRY_MS (5u * 60u * 1000u)
/* A permanent UPnP mapping (lease 0) is re-added this often anyway: a
 * router that rebooted has forgotten it. */
#define P2P_PORTMAP_PERMANENT_RENEW_S 1800
/* One NAT-PMP exchange gives up after this (libnatpmp alone would retry
 * for minutes). */
#define P2P_PORTMAP_NATPMP_WAIT_MS 2000
#define P2P_PORTMAP_WHY_MAX        192

typedef enum p2p_portmap_method {
	P2P_PORTMAP_NONE = 0,
	P2P_PORTMAP_UPNP,
	P2P_PORTMAP_NATPMP,
} p2p_portmap_method;

/* "UPnP IGD", "NAT-PMP", "none". */
const char *p2p_portmap_method_name(p2p_portmap_method m);

typedef struct p2p_portmap_mapping {
	p2p_portmap_method method;
	char external_ip[46]; /* dotted IPv4, as the router reports it */
	uint16_t external_port;
	uint16_t internal_port;
	uint32_t lease_s; /* granted; 0: permanent (UPnP) */
} p2p_portmap_mapping;

typedef struct p2p_portmap p2p_portmap;

/* status 0: m is the mapping now in place (the first one, or one that
 * changed on renewal: another external IP or port). status < 0 (P2P_E*):
 * there is none (P2P_ENOTFOUND: no gateway answered; P2P_EIO: one
 * refused, or stopped answering), m is NULL. why says
 * it in a few words; m and why are valid during the call. On the loop
 * thread; never after p2p_portmap_close. */
typedef void (*p2p_portmap_cb)(int status, const p2p_portmap_mapping *m, const char *why,
                               void *user);

typedef struct p2p_portmap_config {
	uint16_t internal_port; /* the TCP port to forward (required) */
	uint32_t lease_s;       /* 0: P2P_PORTMAP_LEASE_S */
	uint32_t discover_ms;   /* 0: P2P_PORTMAP_DISCOVER_MS */
	uint64_t retry_ms;      /* 0: P2P_PORTMAP_RETRY_MS */
	bool disable_upnp;
	bool disable_natpmp;
	/* The NAT-PMP gateway (dotted IPv4) in place of the default route's
	 * (tests); copied. NULL: the default route's. */
	const char *natpmp_gateway;
	p2p_portmap_cb on_change;
	void *user;
} p2p_portmap_config;

/* Starts the first attempt. P2P_EINVAL (no port, no method, a bad
 * gateway), P2P_ENOMEM, or libuv's error as P2P_EIO. */
int p2p_portmap_start(p2p_portmap **out, uv_loop_t *loop, const p2p_portmap_config *cfg);

/* Stops: lets a job in flight finish, removes the mapping (one more job,
 * bounded by the exchanges' own timeouts: about P2P_PORTMAP_NATPMP_WAIT_MS,
 * or a few seconds of HTTP for UPnP), then calls on_closed(user) (may be
 * NULL) on the loop and frees pm. The jobs keep the loop alive till then. */
void p2p_portmap_close(p2p_portmap *pm, void (*on_closed)(void *user), void *user);

/* The mapping in place now, if any (copied to *out, which may be NULL). */
bool p2p_portmap_active(const p2p_portmap *pm, p2p_portmap_mapping *out);

#endif
