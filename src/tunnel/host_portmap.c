/* The host's port mapping (host_internal.h): asks the router to forward
 * the libp2p listen port (UPnP IGD, else NAT-PMP; p2p/portmap.h), offers
 * the external address to AutoNAT, and puts it in the token once a server
 * has reached us there. Until then it is only a claim of the router's: a
 * second NAT in front, or a firewall, would make it a dead address in
 * every token. */
#include <arpa/inet.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "tunnel/addrs.h"
#include "tunnel/host_internal.h"

/* The port of the first bound IPv4 TCP listener that is not loopback-only
 * (0.0.0.0 or a LAN address), or 0. A host on loopback alone has nothing
 * a router could forward to, and asks none: that also keeps the tests,
 * which listen on 127.0.0.1, from sending SSDP or NAT-PMP anywhere. */
static uint16_t mappable_port(const p2p_host *h)
{
	const p2p_buf *addrs[TUNNEL_ADDRS_MAX];
	size_t n = p2p_host_addrs(h, addrs, TUNNEL_ADDRS_MAX);
	for (size_t i = 0; i < n && i < TUNNEL_ADDRS_MAX; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (p2p_multiaddr_to_sockaddr(addrs[i]->data, addrs[i]->len, &ss, &len) <
		        0 ||
		    ss.ss_family != AF_INET)
			continue;
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		if (sin->sin_port != 0 &&
		    !tunnel_addr_is_loopback((const struct sockaddr *)sin))
			return ntohs(sin->sin_port);
	}
	return 0;
}

/* Whether AutoNAT's confirmed address is the mapped one. */
static bool mapping_confirmed(const host_app *ha)
{
	if (ha->app.autonat == NULL || ha->portmap_addr.len == 0)
		return false;
	const p2p_buf *addr = NULL;
	if (p2p_autonat_service_state(ha->app.autonat, &addr, NULL) !=
	        P2P_AUTONAT_PUBLIC ||
	    addr == NULL)
		return false;
	return addr->len == ha->portmap_addr.len &&
	       !memcmp(addr->data, ha->portmap_addr.data, addr->len);
}

/* A new TOKEN when the confirmed mapping came or went. */
static void update_token(host_app *ha)
{
	bool confirmed = mapping_confirmed(ha);
	if (confirmed == ha->portmap_confirmed)
		return;
	ha->portmap_confirmed = confirmed;
	if (confirmed) {
		char text[HOST_ADDR_TEXT_MAX];
		tunnel_app_addr_text(&ha->portmap_addr, text, sizeof text);
		tunnel_app_say(&ha->app,
		               "AutoNAT reached us at the mapped address %s: it goes "
		               "into the token",
		               text);
	}
	if (ha->token_printed && !ha->app.stopping && host_token_print(ha) != 0)
		tunnel_app_stop(&ha->app, TUNNEL_EXIT_FAILURE);
}

static void on_portmap(int status, const p2p_portmap_mapping *m, const char *why,
                       void *user)
{
	host_app *ha = user;
	if (ha->app.stopping)
		return;
	p2p_buf_free(&ha->portmap_addr);
	if (status == 0 && m != NULL) {
		struct sockaddr_in sin = {.sin_family = AF_INET,
		                          .sin_port = htons(m->external_port)};
		if (inet_pton(AF_INET, m->external_ip, &sin.sin_addr) != 1 ||
		    p2p_multiaddr_from_sockaddr((const struct sockaddr *)&sin,
		                                &ha->portmap_addr) < 0) {
			p2p_buf_free(&ha->portmap_addr);
			tunnel_app_say(&ha->app, "port mapping: the router gave an odd "
			                         "external address, not used");
		} else {
			tunnel_app_say(&ha->app,
			               "port mapping (%s): the router forwards %s:%u to "
			               "our port %u (lease %u s); waiting for AutoNAT to "
			               "confirm it",
			               p2p_portmap_method_name(m->method), m->external_ip,
			               (unsigned)m->external_port,
			               (unsigned)m->internal_port, (unsigned)m->lease_s);
		}
		ha->portmap_failed = false;
	} else if (!ha->portmap_failed) {
		/* Once, not at every retry: most routers have neither. */
		tunnel_app_say(&ha->app, "port mapping: %s; going on without",
		               why && *why ? why : p2p_strerror(status));
		ha->portmap_failed = true;
	}
	if (ha->app.autonat != NULL)
		p2p_autonat_service_set_extra_addrs(ha->app.autonat, &ha->portmap_addr,
		                                    ha->portmap_addr.len ? 1 : 0);
	update_token(ha);
}

void host_portmap_start(host_app *ha, const tunnel_opts *o)
{
	p2p_buf_init(&ha->portmap_addr);
	if (o->no_portmap)
		return;
	uint16_t port = mappable_port(ha->app.host);
	if (port == 0)
		return;
	p2p_portmap_config cfg = {
	    .internal_port = port,
	    .on_change = on_portmap,
	    .user = ha,
	};
	int rc = p2p_portmap_start(&ha->portmap, ha->app.loop, &cfg);
	if (rc < 0) {
		/* Not fatal: the relays and the hole punch remain. */
		tunnel_app_say(&ha->app, "port mapping: cannot start: %s",
		               p2p_strerror(rc));
		ha->portmap = NULL;
	}
}

void host_portmap_on_reachability(host_app *ha)
{
	update_token(ha);
}

const p2p_buf *host_portmap_token_addr(const host_app *ha)
{
	return ha->portmap_confirmed ? &ha->portmap_addr : NULL;
}

static void on_portmap_closed(void *user)
{
	host_app *ha = user;
	p2p_buf_free(&ha->portmap_addr);
}

void host_portmap_stop(host_app *ha)
{
	if (ha->portmap == NULL) {
		p2p_buf_free(&ha->portmap_addr);
		return;
	}
	/* The mapping is removed in the background; the loop runs until it
	 * is (a bounded wait, portmap.h), so that no router keeps
	 * forwarding to a port nobody listens on. */
	p2p_portmap_close(ha->portmap, on_portmap_closed, ha);
	ha->portmap = NULL;
}
