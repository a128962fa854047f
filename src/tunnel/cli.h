/* The tunnel's command line. Flags follow the original Go mtunnel: a
 * single dash ("-port 8080"), with "--port", "-port=8080" and
 * "--port=8080" accepted too. Parsing is pure (no I/O), so it is
 * unit-tested on argv arrays. */
#ifndef TUNNEL_CLI_H
#define TUNNEL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunnel/token.h"

#define TUNNEL_CLI_MAX_LISTEN         8  /* -listen flags */
#define TUNNEL_CLI_MAX_ALLOW          64 /* -allow flags */
#define TUNNEL_CLI_MAX_CONNECT        8  /* -connect flags */
#define TUNNEL_CLI_MAX_RELAY          8  /* -relay flags */
#define TUNNEL_CLI_ERR_MAX            256
#define TUNNEL_UDP_TIMEOUT_DEFAULT_MS 60000
#define TUNNEL_UDP_TIMEOUT_MAX_S      86400

typedef enum tunnel_role {
	TUNNEL_ROLE_HOST = 0,   /* no -token: expose a local service */
	TUNNEL_ROLE_CLIENT = 1, /* -token: reach a host's service */
	TUNNEL_ROLE_RELAY = 2,  /* -relay-service: a circuit relay for others */
} tunnel_role;

/* -relay-service's limits; 0 for the per-circuit ones means none. The
 * defaults suit one's own tunnels: go-libp2p's caps on reservations and
 * circuits, no limit on a circuit's duration or data. */
typedef struct tunnel_relay_opts {
	uint64_t max_reservations;        /* -max-reservations */
	uint64_t max_reservations_per_ip; /* -max-reservations-per-ip */
	uint64_t max_circuits;            /* -max-circuits */
	uint64_t max_circuits_per_peer;   /* -max-circuits-per-peer */
	uint64_t reservation_ttl;         /* -reservation-ttl, seconds */
	uint64_t circuit_duration;        /* -circuit-duration, seconds */
	uint64_t circuit_data;            /* -circuit-data, bytes each way */
} tunnel_relay_opts;

/* Every string points into argv (borrowed). */
typedef struct tunnel_opts {
	bool help;
	bool version;
	tunnel_role role;
	int verbosity; /* -1 with -q, 0 by default, +1 per -v */
	tunnel_network network;
	bool network_set;   /* -network was given */
	int port;           /* -1 when not given */
	const char *target; /* host: HOST:PORT to forward to; NULL: 127.0.0.1:port */
	const char *token;  /* client */
	const char *bind;   /* client: local address; default 127.0.0.1 */
	const char *listen[TUNNEL_CLI_MAX_LISTEN];
	size_t n_listen;
	const char *key; /* identity file; NULL: default (host) or ephemeral (client) */
	const char *allow[TUNNEL_CLI_MAX_ALLOW];
	size_t n_allow;
	/* client: more addresses of the host (original tokens carry none) */
	const char *connect[TUNNEL_CLI_MAX_CONNECT];
	size_t n_connect;
	/* host: relays to reserve on; client: more relays to reach the host
	 * through (text multiaddrs ending in /p2p/<relay>) */
	const char *relay[TUNNEL_CLI_MAX_RELAY];
	size_t n_relay;
	bool relay_service;           /* -relay-service */
	tunnel_relay_opts relay_opts; /* its limits */
	bool relay_limits_set;        /* a limit flag was given */
	bool compat;                  /* host: also serve /mtunnel/1.0.0 */
	bool no_holepunch;            /* -no-holepunch: no DCUtR */
	bool no_portmap;              /* host, -no-portmap: no UPnP / NAT-PMP */
	uint64_t udp_timeout_ms;      /* idle UDP flows expire after this */
} tunnel_opts;

/* Parses argv[1..argc). Returns P2P_OK, or P2P_EINVAL with a sentence in
 * err[0..err_len). A successful parse with help or version set needs no
 * further checks. */
int tunnel_cli_parse(tunnel_opts *o, int argc, char *const *argv, char *err,
                     size_t err_len);

/* The --help text. */
const char *tunnel_cli_usage(void);

/* Splits "HOST:PORT" or "[V6]:PORT" into host (NUL-terminated, into
 * host_out[0..host_len)) and port. P2P_EINVAL if malformed. */
int tunnel_cli_split_hostport(const char *s, char *host_out, size_t host_len, int *port);

#endif
