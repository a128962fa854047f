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
 * Events: TOKEN, CONNECTED, DISCONNECT, LIST, ERROR, each one line of
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
	uint32_t streams;
	uint64_t bytes_in;
	uint64_t bytes_out;
} tunnel_session_info;

/* Each appends one line to out and returns P2P_OK, P2P_EINVAL for a NULL
 * required string, or P2P_ENOMEM; out is unchanged on error. */
int tunnel_event_token(p2p_buf *out, const char *token, const char *peer_id,
                       const char *const *addrs, size_t n_addrs);
/* addr (may be NULL) says where the tunnel leads or comes from; port (0 for
 * none) is the local port the client listens on. */
int tunnel_event_connected(p2p_buf *out, const char *session_id, const char *addr,
                           unsigned port);
/* reason may be NULL. */
int tunnel_event_disconnect(p2p_buf *out, const char *session_id, const char *reason);
int tunnel_event_list(p2p_buf *out, const tunnel_session_info *sessions, size_t n,
                      bool detail);
int tunnel_event_error(p2p_buf *out, const char *error);

#endif
