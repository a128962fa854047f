/* The tunnel's control channel: JSON commands read from stdin and JSON
 * events written to stdout, one object per line.
 *
 * Commands: {"action":"LIST"} (optionally "detail":true),
 *           {"action":"DISCONNECT","session_id":"<peer-id>"},
 *           {"action":"SHUTDOWN"}.
 * Action names are matched without regard to case; other members are
 * ignored. A bad line gets a sentence for an ERROR event, and the program
 * goes on.
 *
 * Events: TOKEN, LISTENING, CONNECTED, PATH, REACHABILITY, DISCONNECT, LIST,
 * ERROR (and for the
 * relay service RELAY, RESERVED, UNRESERVED, CIRCUIT), each one line of
 * compact JSON ending in '\n', with every string escaped and any invalid
 * UTF-8 replaced by U+FFFD, so a consumer can always parse the line. */
#ifndef TUNNEL_JSON_H
#define TUNNEL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"

#define TUNNEL_CMD_MAX_LINE   (64 * 1024) /* bytes of one command line */
#define TUNNEL_SESSION_ID_MAX 128         /* characters of a session id */

typedef enum tunnel_cmd_action {
	TUNNEL_CMD_LIST = 1,
	TUNNEL_CMD_DISCONNECT = 2,
	TUNNEL_CMD_SHUTDOWN = 3,
} tunnel_cmd_action;

typedef struct tunnel_cmd {
	tunnel_cmd_action action;
	bool detail;                                /* LIST: with per-session detail */
	char session_id[TUNNEL_SESSION_ID_MAX + 1]; /* DISCONNECT; NUL-terminated */
} tunnel_cmd;

/* Parses one line (a trailing newline is fine; the line need not be
 * NUL-terminated). Returns P2P_OK, P2P_EAGAIN for a blank line (nothing to
 * do), or an error with a static sentence in *why (if not NULL):
 * P2P_ETOOBIG (over TUNNEL_CMD_MAX_LINE), P2P_EPROTO (not a JSON object, no
 * action, a bad or missing session_id), P2P_EUNSUPPORTED (unknown action),
 * P2P_ENOMEM. */
int tunnel_cmd_parse(const char *line, size_t len, tunnel_cmd *out, const char **why);

/* One session in a LIST event. Only session_id is required; the rest is
 * printed when the event asks for detail (addr when not NULL). */
typedef struct tunnel_session_info {
	const char *session_id;
	const char *addr; /* the peer's address, text multiaddr */
	const char *path; /* "direct" or "relayed", or NULL */
	uint32_t streams;
	uint64_t bytes_in;
	uint64_t bytes_out;
} tunnel_session_info;

/* Each appends one line to out and returns P2P_OK, P2P_EINVAL for a NULL
 * required string, or P2P_ENOMEM; out is unchanged on error. */
int tunnel_event_token(p2p_buf *out, const char *token, const char *peer_id,
                       const char *const *addrs, size_t n_addrs);
/* The way a session's connection goes: straight to the peer, or through a
 * relay (circuit relay v2). */
#define TUNNEL_PATH_DIRECT  "direct"
#define TUNNEL_PATH_RELAYED "relayed"

/* A session that carries tunnels: on the client, the host answered OK to
 * a tunnel (the first since start, or since a DISCONNECT); on the host, a
 * client passed the secret. addr (may be NULL) says where the tunnel
 * leads or comes from; port (0 for none) is the local port the client
 * listens on; path (may be NULL) is TUNNEL_PATH_DIRECT or
 * TUNNEL_PATH_RELAYED. */
int tunnel_event_connected(p2p_buf *out, const char *session_id, const char *addr,
                           unsigned port, const char *path);
/* The client's local port is open: {"action":"LISTENING","session_id":
 * <the host's peer ID>,"port":N}. Only that: whether the host can be
 * reached and takes the token is for CONNECTED (or an ERROR) to say. port
 * must not be 0. */
int tunnel_event_listening(p2p_buf *out, const char *session_id, unsigned port);
/* What AutoNAT found of our own reachability: "public" (addr: where a
 * server reached us), "private" or "unknown" (addr NULL). */
int tunnel_event_reachability(p2p_buf *out, const char *reachability, const char *addr);
/* A session's connection changed its way (addr may be NULL). */
int tunnel_event_path(p2p_buf *out, const char *session_id, const char *path,
                      const char *addr);
/* reason may be NULL. */
int tunnel_event_disconnect(p2p_buf *out, const char *session_id, const char *reason);
/* A named count, e.g. refusals by reason. */
typedef struct tunnel_counter {
	const char *name;
	uint64_t value;
} tunnel_counter;

/* refused (may be NULL with n_refused 0): printed as "refused":{name:n,…},
 * what the host turned away since it started, by reason. */
int tunnel_event_list(p2p_buf *out, const tunnel_session_info *sessions, size_t n,
                      bool detail, const tunnel_counter *refused, size_t n_refused);
int tunnel_event_error(p2p_buf *out, const char *error);

/* ---- the relay service's events (tunnel -relay-service) ---- */

/* A reservation (LIST). addr may be NULL. */
typedef struct tunnel_relay_rsvp_info {
	const char *peer_id;
	const char *addr;
	uint64_t expire; /* unix seconds */
} tunnel_relay_rsvp_info;

/* A circuit (LIST, CIRCUIT). */
typedef struct tunnel_relay_circuit_info {
	const char *src, *dst; /* peer IDs */
	uint64_t bytes_to_dst, bytes_to_src;
} tunnel_relay_circuit_info;

/* Counted since the relay started (LIST). */
typedef struct tunnel_relay_stats_info {
	uint64_t reservations; /* granted or refreshed */
	uint64_t circuits;     /* opened */
	uint64_t refused;      /* hop requests */
	uint64_t bytes;        /* relayed, both ways */
} tunnel_relay_stats_info;

/* {"action":"RELAY","peer_id":…,"addrs":[…]}: the relay is up. */
int tunnel_event_relay(p2p_buf *out, const char *peer_id, const char *const *addrs,
                       size_t n_addrs);
/* {"action":"RESERVED","peer_id":…,"addr":…,"expire":N,"refresh":bool};
 * addr may be NULL. */
int tunnel_event_reserved(p2p_buf *out, const char *peer_id, const char *addr,
                          uint64_t expire, bool refresh);
/* {"action":"UNRESERVED","peer_id":…,"reason":…}. */
int tunnel_event_unreserved(p2p_buf *out, const char *peer_id, const char *reason);
/* {"action":"CIRCUIT","state":"open","src":…,"dst":…}, or, with a reason
 * (closed), "state":"closed" with "bytes" (both ways), "bytes_to_dst",
 * "bytes_to_src" and "reason". */
int tunnel_event_circuit(p2p_buf *out, const tunnel_relay_circuit_info *c,
                         const char *reason);
/* A refused hop request as an ERROR event: "error" (the sentence),
 * "peer_id", "request" (RESERVE, CONNECT or null), "status" (the spec's
 * number, 0 if none was sent), and "dst" for a CONNECT (may be NULL). */
int tunnel_event_refused(p2p_buf *out, const char *error, const char *peer_id,
                         const char *request, unsigned status, const char *dst);
/* {"action":"LIST","reservations":[{"peer_id","addr","expire"}…],
 *  "circuits":[{"src","dst","bytes","bytes_to_dst","bytes_to_src"}…],
 *  "stats":{"reservations","circuits","refused","bytes"}}. */
int tunnel_event_relay_list(p2p_buf *out, const tunnel_relay_rsvp_info *rsvps,
                            size_t n_rsvps, const tunnel_relay_circuit_info *circuits,
                            size_t n_circuits, const tunnel_relay_stats_info *stats);

#endif
