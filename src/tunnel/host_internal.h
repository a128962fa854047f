/* The host role's state, shared by its files: app_host.c (sessions,
 * tunnels, control, set-up) and host_token.c (the token, its secret and
 * the relays whose addresses go into it). Not for the other roles. */
#ifndef TUNNEL_HOST_INTERNAL_H
#define TUNNEL_HOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "p2p/portmap.h"
#include "p2p/relay.h"
#include "tunnel/acl.h"
#include "tunnel/app.h"
#include "tunnel/fwd_tcp.h"
#include "tunnel/fwd_udp.h"
#include "tunnel/header.h"
#include "tunnel/token.h"

#define HOST_ADDR_TEXT_MAX 256
/* With -relay, the first TOKEN waits until every relay answered once (its
 * reservation made or refused), at most this long, so that the token a
 * user copies first already carries the relay addresses. */
#define HOST_FIRST_TOKEN_WAIT_MS 10000

/* One client peer that passed the header check at least once. */
typedef struct host_session {
	p2p_peerid peer;
	char id[P2P_PEERID_STR_MAX];
	char addr[HOST_ADDR_TEXT_MAX];
	const char *path; /* TUNNEL_PATH_*, of the connection it came over */
	uint32_t streams;
	uint64_t bytes_in, bytes_out; /* of the tunnels that ended */
	struct host_session *next;
} host_session;

typedef struct host_app {
	tunnel_app app; /* first: the role hooks get &app */
	tunnel_token token;
	struct sockaddr_storage target;
	char target_text[HOST_ADDR_TEXT_MAX];
	tunnel_acl acl;
	host_session *sessions;
	size_t n_sessions;
	tunnel_tcp_fwd *fwds;   /* live TCP tunnels */
	tunnel_udp_flow *flows; /* live UDP flows */
	size_t n_flows;
	uv_timer_t sweep_timer; /* expires idle UDP flows and stuck tunnels */
	bool timer_on;
	/* -relay: reservations kept on the relays, whose circuit addresses go
	 * into the token. */
	p2p_relay_keeper *keeper;
	size_t relays_answered; /* relays that gave a first answer */
	bool token_printed;
	uv_timer_t token_timer; /* HOST_FIRST_TOKEN_WAIT_MS */
	bool token_timer_on;
	/* UPnP IGD / NAT-PMP (host_portmap.c): the router's mapping of the
	 * listen port, its external address (binary, empty without one), and
	 * whether AutoNAT reached us there (then it is in the token). */
	p2p_portmap *portmap;
	p2p_buf portmap_addr;
	bool portmap_confirmed;
	bool portmap_failed; /* said so once */
	/* Tunnel streams refused, by tunnel_status (LIST's "refused"). */
	uint64_t refused[TUNNEL_STATUS_SERVICE_UNAVAILABLE + 1];
} host_app;

/* Loads the token's secret from beside the key file (host.key ->
 * host.secret), or makes a fresh one and stores it there, so that the
 * token survives restarts. On failure `why` (why_len bytes,
 * P2P_KEYFILE_WHY_MAX always fits; or NULL and 0) says which file and
 * what is wrong with it; after a success why[0] is '\0'. */
int host_secret_load_or_create(const char *key_path, uint8_t secret[TUNNEL_SECRET_LEN],
                               char *why, size_t why_len);
/* Builds the token's addresses afresh (direct, relays', loopback), has
 * identify advertise them and prints the TOKEN event. 0, or an exit
 * status after an ERROR event. */
int host_token_print(host_app *ha);
/* -relay: reserves on each relay; the first TOKEN waits for their answers
 * (then a new TOKEN follows every change of the relay addresses). 0 or an
 * exit status after an ERROR event. */
int host_relays_start(host_app *ha, const tunnel_opts *o);
/* Stops keeping reservations (the host is closing). */
void host_relays_stop(host_app *ha);

/* Port mapping, unless -no-portmap or the host listens on loopback only:
 * maps the listen port on the router and offers the external address to
 * AutoNAT. Failing is not fatal: a line says why. */
void host_portmap_start(host_app *ha, const tunnel_opts *o);
/* A REACHABILITY came: a confirmed mapping goes into the token (a new
 * TOKEN), one no longer confirmed leaves it. */
void host_portmap_on_reachability(host_app *ha);
/* The mapped address once AutoNAT confirmed it, else NULL (owned by ha). */
const p2p_buf *host_portmap_token_addr(const host_app *ha);
/* Removes the mapping (the loop runs until the router has been told). */
void host_portmap_stop(host_app *ha);

#endif
