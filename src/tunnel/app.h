/* What the host and client roles of the tunnel program share: the libuv
 * loop, the libp2p host, the identity, signals, the control channel on
 * stdin and the events on stdout, and an orderly stop. */
#ifndef TUNNEL_APP_H
#define TUNNEL_APP_H

#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "p2p/autonat.h"
#include "p2p/autonat2_service.h"
#include "p2p/holepunch.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/ping.h"
#include "p2p/relay.h"
#include "tunnel/cli.h"
#include "tunnel/control.h"
#include "tunnel/output.h"

/* Exit statuses. */
#define TUNNEL_EXIT_OK      0
#define TUNNEL_EXIT_FAILURE 1 /* a runtime failure (cannot listen...) */
#define TUNNEL_EXIT_USAGE   2 /* a bad command line or token */

#define TUNNEL_PATH_MAX 4096
/* Streams on one libp2p connection: each tunneled TCP connection or UDP
 * flow is one, and a client may well hold a thousand. */
#define TUNNEL_MAX_STREAMS_PER_CONN 4096
/* A relay's connections beyond one per reservation and per circuit:
 * peers that only identify or ping, dials in flight. */
#define TUNNEL_RELAY_SPARE_CONNS 64

typedef struct tunnel_app tunnel_app;

typedef struct tunnel_app_role {
	/* A control command (LIST, DISCONNECT; SHUTDOWN is handled here). */
	void (*on_cmd)(tunnel_app *app, const tunnel_cmd *cmd);
	/* Stopping: close the role's own handles (listeners, sockets). The
	 * libp2p host is closed right after, which ends every stream. */
	void (*on_stop)(tunnel_app *app);
} tunnel_app_role;

struct tunnel_app {
	uv_loop_t *loop;
	const tunnel_opts *opts;
	const tunnel_app_role *role;
	p2p_logger log;
	p2p_privkey *key;
	p2p_host *host;
	/* Every tunnel node answers identify (push too) and ping, as any
	 * libp2p node does: relays, AutoNAT and DCUtR stand on identify. */
	p2p_identify_service *identify;
	/* Each peer identified (or its push), for a role that cares (the
	 * host's autorelay); NULL: none. */
	void (*on_identified)(tunnel_app *app, p2p_conn *c, const p2p_identify *info);
	p2p_ping_service *ping;
	/* Hole punching (DCUtR) on the host and the client unless
	 * -no-holepunch; NULL otherwise. Each punch's outcome goes to the
	 * role's on_holepunch, if set. */
	p2p_holepunch *holepunch;
	/* AutoNAT: the relay service and the host answer it; the host also
	 * asks, and emits REACHABILITY. NULL on the client. */
	p2p_autonat_service *autonat;
	p2p_autonat2_service *autonat2; /* serves AutoNAT v2 only */
	/* Each REACHABILITY, for a role that cares (the host's port mapping,
	 * confirmed by it); NULL: none. */
	void (*on_reachability)(tunnel_app *app);
	void (*on_holepunch)(tunnel_app *app, const p2p_holepunch_event *ev);
	/* A host serves the relay's stop protocol (the circuits its relays
	 * bring, -relay or autorelay); NULL otherwise. Freed after the host,
	 * like the rest. */
	p2p_relay_client *relay_client;
	tunnel_control *control;
	uv_signal_t sigint, sigterm;
	bool signals_on;
	FILE *events;
	/* Refused tunnels are logged through this (tunnel_app_say_limited):
	 * a peer can make thousands a second, and each must not be a line. */
	tunnel_output_ratelimit refusals;
	bool stopping;
	int exit_code;
};

/* Sets up the identity (key_path NULL: a fresh ephemeral key), the libp2p
 * host (which dials /p2p-circuit addresses too), signals and the control
 * channel. On failure prints why and
 * returns an exit status (> 0), with everything already released. */
int tunnel_app_init(tunnel_app *app, uv_loop_t *loop, const tunnel_opts *o,
                    const char *key_path, const tunnel_app_role *role);
/* Listens on each -listen address, or on def (NULL: none) without any.
 * Returns 0 or an exit status after an ERROR event. */
int tunnel_app_listen(tunnel_app *app, const char *def);
/* Starts an orderly stop with this exit status (the first one given
 * wins); uv_run returns once everything is closed. */
void tunnel_app_stop(tunnel_app *app, int exit_code);
/* Releases what uv_run could not (after it returned). */
void tunnel_app_free(tunnel_app *app);

/* A human-readable line on stderr, unless -q. Never blocks: with stderr a
 * pipe nobody reads, lines are dropped and counted (output.h). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tunnel_app_say(const tunnel_app *app, const char *fmt, ...);
/* tunnel_app_say for what a peer can make happen at will (refusals): at
 * most TUNNEL_OUTPUT_LOG_BURST lines per TUNNEL_OUTPUT_LOG_WINDOW_MS
 * through rl; the lines held back are counted, and the next line let
 * through ends with "(N more like this in the last S s)". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void tunnel_app_say_limited(const tunnel_app *app, tunnel_output_ratelimit *rl,
                            const char *fmt, ...);

/* A role's default key file: $XDG_CONFIG_HOME/mtunnel/<name>, else
 * $HOME/.config/mtunnel/<name> (name: "host.key", "relay.key").
 * P2P_ENOTFOUND if neither is set. */
int tunnel_app_default_key_path(const char *name, char *out, size_t out_len);

/* How connection c goes: TUNNEL_PATH_RELAYED through a relay, else
 * TUNNEL_PATH_DIRECT (json.h). */
const char *tunnel_app_conn_path(const p2p_conn *c);

/* PATH when the best connection to peer (p2p_host_conn) now goes another
 * way than *path: *path is updated, addr[0..addr_len) gets that
 * connection's remote address, and the change is logged ("<who> <id> now
 * <path> via <addr>") and emitted for session_id. Nothing without a
 * connection, or while *path is NULL (the way was not announced yet). */
void tunnel_app_check_path(tunnel_app *app, const p2p_peerid *peer, const char *who,
                           const char *session_id, const char **path, char *addr,
                           size_t addr_len);

/* Text form of a binary multiaddr into out[0..out_len) ("?" if bad). */
void tunnel_app_addr_text(const p2p_buf *addr, char *out, size_t out_len);

#endif
