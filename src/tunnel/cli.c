/* Command-line parsing for the tunnel (see cli.h). */
#include "tunnel/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <stddef.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/relay.h"

static const char usage_text[] =
    "Usage:\n"
    "  host:   tunnel -port PORT [-network tcp|udp] [-target HOST:PORT] "
    "[options]\n"
    "  client: tunnel -token TOKEN [-port PORT] [-bind ADDR] [-network "
    "tcp|udp] [options]\n"
    "  relay:  tunnel -relay-service [-listen MULTIADDR...] [-key FILE] "
    "[limits]\n"
    "\n"
    "The host exposes a local service and prints a token; the client, given\n"
    "the token, listens on a local port and forwards to the host's service.\n"
    "A host behind a NAT is reached through a relay (circuit relay v2): run\n"
    "one with -relay-service on a machine with a public address, and give\n"
    "its address to the host with -relay.\n"
    "stdout carries JSON events, one per line; stdin takes JSON commands\n"
    "({\"action\":\"LIST\"}, {\"action\":\"DISCONNECT\",\"session_id\":ID},\n"
    "{\"action\":\"SHUTDOWN\"}). Human-readable messages go to stderr.\n"
    "\n"
    "Options (one dash or two; -flag VALUE or -flag=VALUE):\n"
    "  -port PORT         host: the service's port on 127.0.0.1;\n"
    "                     client: local port to listen on (0: any, the "
    "default)\n"
    "  -target HOST:PORT  host: forward to this address instead\n"
    "  -token TOKEN       client: the token printed by the host\n"
    "  -bind ADDR         client: local address to listen on (default "
    "127.0.0.1)\n"
    "  -network tcp|udp   what to forward (default tcp; the client takes the "
    "token's)\n"
    "  -listen MULTIADDR  libp2p listen address, repeatable\n"
    "                     (host default /ip4/0.0.0.0/tcp/0 and /ip6/::/tcp/0;\n"
    "                     relay: the same on port 4001; client:\n"
    "                     /ip4/0.0.0.0/tcp/0, for hole punching)\n"
    "  -key FILE          identity key file (host default\n"
    "                     $XDG_CONFIG_HOME/mtunnel/host.key, relay: relay.key;\n"
    "                     client: ephemeral)\n"
    "  -relay MULTIADDR   host: reserve on this relay and put it in the token;\n"
    "                     client: also try reaching the host through it\n"
    "                     (.../p2p/RELAYID, repeatable)\n"
    "  -allow PEERID      host: admit only these client peer IDs; relay: let\n"
    "                     only these peers reserve (repeatable)\n"
    "  -compat            host: also serve original mtunnel clients\n"
    "                     (/mtunnel/1.0.0, TCP, no secret: anyone who knows\n"
    "                     the peer ID gets in, unless -allow limits it)\n"
    "  -connect MULTIADDR client: the host's address, for original mtunnel\n"
    "                     tokens, which carry none (repeatable)\n"
    "  -udp-timeout SEC   idle UDP flows expire after SEC seconds (default "
    "60)\n"
    "  -no-holepunch      host, client: stay on the relay; do not try a\n"
    "                     direct connection through the NATs (DCUtR)\n"
    "  -no-portmap        host: do not ask the router to forward the listen\n"
    "                     port (UPnP IGD, NAT-PMP); on by default when\n"
    "                     listening beyond loopback\n"
    "\n"
    "Relay limits (-relay-service; a public relay would use go-libp2p's\n"
    "-circuit-duration 120 -circuit-data 131072, which no tunnel fits in):\n"
    "  -max-reservations N         peers holding a reservation (default 128)\n"
    "  -max-reservations-per-ip N  of them from one IP address (default 8)\n"
    "  -max-circuits N             open circuits (default 256)\n"
    "  -max-circuits-per-peer N    per peer, either end (default 16)\n"
    "  -reservation-ttl SEC        a reservation's life (default 3600)\n"
    "  -circuit-duration SEC       end a circuit after SEC (default 0: never)\n"
    "  -circuit-data BYTES         end a circuit after BYTES each way\n"
    "                              (default 0: no limit)\n"
    "  -v                 more log messages (repeat for debug)\n"
    "  -q                 errors only\n"
    "  -help, -h          this text\n"
    "  -version           print the version\n"
    "\n"
    "Exit status: 0 after SHUTDOWN or a signal, 1 on a runtime failure,\n"
    "2 for a bad command line or token.\n";

const char *tunnel_cli_usage(void)
{
	return usage_text;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	if (err && err_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return P2P_EINVAL;
}

/* Parses a decimal integer in [lo, hi] filling the whole string. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	if (!s || !*s || *s == '+' || *s == ' ')
		return false;
	long v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int tunnel_cli_split_hostport(const char *s, char *host_out, size_t host_len, int *port)
{
	if (!s)
		return P2P_EINVAL;
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return P2P_EINVAL;
	const char *h = s;
	size_t hl = (size_t)(colon - s);
	if (h[0] == '[') {
		if (hl < 3 || h[hl - 1] != ']')
			return P2P_EINVAL;
		h++;
		hl -= 2;
	} else if (memchr(h, ':', hl)) {
		return P2P_EINVAL; /* a bare IPv6 address needs brackets */
	}
	long p;
	if (hl + 1 > host_len || !parse_int(colon + 1, 1, 65535, &p))
		return P2P_EINVAL;
	memcpy(host_out, h, hl);
	host_out[hl] = '\0';
	*port = (int)p;
	return P2P_OK;
}

enum flag_kind { FLAG_BOOL, FLAG_VALUE };

static const struct {
	const char *name;
	enum flag_kind kind;
} flags[] = {
    {"help", FLAG_BOOL},
    {"h", FLAG_BOOL},
    {"version", FLAG_BOOL},
    {"v", FLAG_BOOL},
    {"q", FLAG_BOOL},
    {"compat", FLAG_BOOL},
    {"no-holepunch", FLAG_BOOL},
    {"no-portmap", FLAG_BOOL},
    {"port", FLAG_VALUE},
    {"target", FLAG_VALUE},
    {"token", FLAG_VALUE},
    {"bind", FLAG_VALUE},
    {"network", FLAG_VALUE},
    {"listen", FLAG_VALUE},
    {"key", FLAG_VALUE},
    {"allow", FLAG_VALUE},
    {"udp-timeout", FLAG_VALUE},
    {"connect", FLAG_VALUE},
    {"relay", FLAG_VALUE},
    {"relay-service", FLAG_BOOL},
    {"max-reservations", FLAG_VALUE},
    {"max-reservations-per-ip", FLAG_VALUE},
    {"max-circuits", FLAG_VALUE},
    {"max-circuits-per-peer", FLAG_VALUE},
    {"reservation-ttl", FLAG_VALUE},
    {"circuit-duration", FLAG_VALUE},
    {"circuit-data", FLAG_VALUE},
};

/* -relay-service's numeric flags: where each goes and its range. */
static const struct {
	const char *name;
	size_t offset;
	uint64_t lo, hi;
	const char *unit;
} relay_limits[] = {
    {"max-reservations", offsetof(tunnel_relay_opts, max_reservations), 1, 100000,
     "peers"},
    {"max-reservations-per-ip", offsetof(tunnel_relay_opts, max_reservations_per_ip), 1,
     100000, "peers"},
    {"max-circuits", offsetof(tunnel_relay_opts, max_circuits), 1, 100000, "circuits"},
    {"max-circuits-per-peer", offsetof(tunnel_relay_opts, max_circuits_per_peer), 1,
     100000, "circuits"},
    {"reservation-ttl", offsetof(tunnel_relay_opts, reservation_ttl), 1, 86400,
     "seconds"},
    {"circuit-duration", offsetof(tunnel_relay_opts, circuit_duration), 0, UINT32_MAX,
     "seconds"},
    {"circuit-data", offsetof(tunnel_relay_opts, circuit_data), 0, (uint64_t)1 << 50,
     "bytes"},
};

/* Parses a decimal integer in [lo, hi] filling the whole string. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int apply_relay_limit(tunnel_opts *o, const char *name, const char *val, char *err,
                             size_t err_len)
{
	for (size_t i = 0; i < sizeof relay_limits / sizeof relay_limits[0]; i++) {
		if (strcmp(relay_limits[i].name, name) != 0)
			continue;
		uint64_t *field =
		    (uint64_t *)((char *)&o->relay_opts + relay_limits[i].offset);
		if (!parse_u64(val, relay_limits[i].lo, relay_limits[i].hi, field))
			return fail(err, err_len,
			            "-%s wants %s from %llu to %llu, not \"%s\"", name,
			            relay_limits[i].unit,
			            (unsigned long long)relay_limits[i].lo,
			            (unsigned long long)relay_limits[i].hi, val);
		o->relay_limits_set = true;
		return P2P_OK;
	}
	return P2P_ENOTFOUND;
}

static int apply(tunnel_opts *o, const char *name, const char *val, char *err,
                 size_t err_len)
{
	long n;
	int rc = apply_relay_limit(o, name, val, err, err_len);
	if (rc != P2P_ENOTFOUND)
		return rc;
	if (!strcmp(name, "help") || !strcmp(name, "h")) {
		o->help = true;
	} else if (!strcmp(name, "version")) {
		o->version = true;
	} else if (!strcmp(name, "v")) {
		if (o->verbosity < 0)
			o->verbosity = 0;
		o->verbosity++;
	} else if (!strcmp(name, "q")) {
		o->verbosity = -1;
	} else if (!strcmp(name, "compat")) {
		o->compat = true;
	} else if (!strcmp(name, "no-holepunch")) {
		o->no_holepunch = true;
	} else if (!strcmp(name, "no-portmap")) {
		o->no_portmap = true;
	} else if (!strcmp(name, "relay-service")) {
		o->relay_service = true;
	} else if (!strcmp(name, "relay")) {
		p2p_buf bin;
		p2p_buf_init(&bin);
		int prc = p2p_multiaddr_parse(val, &bin);
		const uint8_t *mh;
		size_t mh_len;
		if (prc == 0)
			prc = p2p_multiaddr_peer_id(bin.data, bin.len, &mh, &mh_len);
		p2p_buf_free(&bin);
		if (prc < 0)
			return fail(err, err_len,
			            "-relay wants a multiaddr ending in /p2p/RELAYID, "
			            "not \"%s\"",
			            val);
		if (o->n_relay == TUNNEL_CLI_MAX_RELAY)
			return fail(err, err_len, "at most %d -relay addresses",
			            TUNNEL_CLI_MAX_RELAY);
		o->relay[o->n_relay++] = val;
	} else if (!strcmp(name, "port")) {
		if (!parse_int(val, 0, 65535, &n))
			return fail(err, err_len,
			            "-port wants a number from 0 to 65535, not \"%s\"",
			            val);
		o->port = (int)n;
	} else if (!strcmp(name, "target")) {
		char h[256];
		int p;
		if (tunnel_cli_split_hostport(val, h, sizeof h, &p) < 0)
			return fail(err, err_len, "-target wants HOST:PORT, not \"%s\"",
			            val);
		o->target = val;
	} else if (!strcmp(name, "token")) {
		o->token = val;
	} else if (!strcmp(name, "bind")) {
		o->bind = val;
	} else if (!strcmp(name, "network")) {
		if (tunnel_network_parse(val, &o->network) < 0)
			return fail(err, err_len, "-network is tcp or udp, not \"%s\"",
			            val);
		o->network_set = true;
	} else if (!strcmp(name, "listen")) {
		if (o->n_listen == TUNNEL_CLI_MAX_LISTEN)
			return fail(err, err_len, "at most %d -listen addresses",
			            TUNNEL_CLI_MAX_LISTEN);
		o->listen[o->n_listen++] = val;
	} else if (!strcmp(name, "key")) {
		o->key = val;
	} else if (!strcmp(name, "allow")) {
		if (o->n_allow == TUNNEL_CLI_MAX_ALLOW)
			return fail(err, err_len, "at most %d -allow peer IDs",
			            TUNNEL_CLI_MAX_ALLOW);
		o->allow[o->n_allow++] = val;
	} else if (!strcmp(name, "connect")) {
		if (o->n_connect == TUNNEL_CLI_MAX_CONNECT)
			return fail(err, err_len, "at most %d -connect addresses",
			            TUNNEL_CLI_MAX_CONNECT);
		o->connect[o->n_connect++] = val;
	} else if (!strcmp(name, "udp-timeout")) {
		if (!parse_int(val, 1, TUNNEL_UDP_TIMEOUT_MAX_S, &n))
			return fail(err, err_len,
			            "-udp-timeout wants seconds from 1 to %d, not \"%s\"",
			            TUNNEL_UDP_TIMEOUT_MAX_S, val);
		o->udp_timeout_ms = (uint64_t)n * 1000;
	}
	return P2P_OK;
}

int tunnel_cli_parse(tunnel_opts *o, int argc, char *const *argv, char *err,
                     size_t err_len)
{
	memset(o, 0, sizeof *o);
	o->network = TUNNEL_NETWORK_TCP;
	o->port = -1;
	o->udp_timeout_ms = TUNNEL_UDP_TIMEOUT_DEFAULT_MS;
	o->relay_opts = (tunnel_relay_opts){
	    .max_reservations = P2P_RELAY_DEFAULT_MAX_RESERVATIONS,
	    .max_reservations_per_ip = P2P_RELAY_DEFAULT_MAX_RESERVATIONS_PER_IP,
	    .max_circuits = P2P_RELAY_DEFAULT_MAX_CIRCUITS,
	    .max_circuits_per_peer = P2P_RELAY_DEFAULT_MAX_CIRCUITS_PER_PEER,
	    .reservation_ttl = P2P_RELAY_DEFAULT_RESERVATION_TTL,
	};
	if (err && err_len)
		err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0')
			return fail(err, err_len, "unexpected argument \"%s\"", arg);
		const char *name = arg + 1;
		if (*name == '-')
			name++;
		const char *eq = strchr(name, '=');
		size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
		int k = -1;
		for (size_t j = 0; j < sizeof flags / sizeof flags[0]; j++)
			if (strlen(flags[j].name) == name_len &&
			    !strncmp(flags[j].name, name, name_len))
				k = (int)j;
		if (k < 0)
			return fail(err, err_len, "unknown flag \"%s\" (see --help)",
			            arg);
		const char *val = NULL;
		if (flags[k].kind == FLAG_VALUE) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return fail(err, err_len, "flag -%s needs a value",
				            flags[k].name);
		} else if (eq) {
			if (strcmp(eq + 1, "false") == 0)
				continue;
			if (strcmp(eq + 1, "true") != 0)
				return fail(err, err_len, "flag -%s takes no value",
				            flags[k].name);
		}
		int rc = apply(o, flags[k].name, val, err, err_len);
		if (rc < 0)
			return rc;
	}
	if (o->help || o->version)
		return P2P_OK;

	o->role = o->relay_service ? TUNNEL_ROLE_RELAY
	          : o->token       ? TUNNEL_ROLE_CLIENT
	                           : TUNNEL_ROLE_HOST;
	if (o->role != TUNNEL_ROLE_RELAY && o->relay_limits_set)
		return fail(err, err_len,
		            "the relay limits are for -relay-service (see --help)");
	if (o->role == TUNNEL_ROLE_RELAY) {
		if (o->token || o->port >= 0 || o->target || o->bind || o->n_connect ||
		    o->n_relay || o->compat || o->network_set)
			return fail(
			    err, err_len,
			    "-relay-service takes only -listen, -key, -allow, the "
			    "relay limits, -v and -q");
	} else if (o->role == TUNNEL_ROLE_HOST) {
		if (o->bind)
			return fail(err, err_len,
			            "-bind is for the client (with -token)");
		if (o->port == 0)
			return fail(err, err_len,
			            "the host needs the service's port: -port 1..65535");
		if (o->port < 0 && !o->target)
			return fail(err, err_len,
			            "nothing to expose: give -port PORT (host) or -token "
			            "TOKEN (client)");
		if (o->port > 0 && o->target)
			return fail(err, err_len, "give -port or -target, not both");
		if (o->n_connect)
			return fail(err, err_len,
			            "-connect is for the client (with -token)");
	} else {
		if (o->target)
			return fail(err, err_len,
			            "-target is for the host (without -token)");
		if (o->compat || o->n_allow)
			return fail(err, err_len, "-compat and -allow are for the host");
		if (o->port < 0)
			o->port = 0;
		if (!o->bind)
			o->bind = "127.0.0.1";
	}
	return P2P_OK;
}
