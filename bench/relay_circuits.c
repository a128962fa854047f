/* Many idle relayed connections for bench/relay.sh: libp2p hosts in one
 * libuv loop, on the library (include/p2p/host.h, include/p2p/relay.h).
 * Loopback only; run by hand, not in CI.
 *
 *   relay_circuits target RELAY_ADDR
 *       One host that reserves a slot on the relay at RELAY_ADDR
 *       (/ip4/../tcp/P/p2p/R) and accepts every circuit to it, with its
 *       connection limits raised (max_conns etc. 4096). Prints
 *       {"action":"READY","peer_id":ID,"circuit":"RELAY_ADDR/p2p-circuit/p2p/ID"}
 *       once reserved, then {"action":"COUNT","conns":N} when the number of
 *       its relayed connections changed (checked every second).
 *   relay_circuits sources CIRCUIT_ADDR N [WINDOW]
 *       N hosts, each with a fresh Ed25519 key and the relay transport,
 *       each connecting to the target through CIRCUIT_ADDR
 *       (.../p2p/R/p2p-circuit/p2p/T); at most WINDOW (default 25)
 *       connects in flight at once, so that neither the relay's pending
 *       inbound handshakes (32 by default) nor the handshake timeouts are
 *       exceeded. When every connect has finished it prints
 *       {"action":"DONE","connected":K,"failed":F,"seconds":S,
 *        "errors":{"<error>":count,...}}
 *       then {"action":"COUNT","open":K} whenever that changes.
 *   relay_circuits relay LISTEN [MAX_CIRCUITS]
 *       A relay service (identify, ping, hop) like `tunnel -relay-service`
 *       but with the host's connection limits raised (max_conns 4096) and
 *       MAX_CIRCUITS (default 2000) circuits in total and per peer. Prints
 *       {"action":"RELAY","peer_id":ID,"addrs":["LISTEN/p2p/ID"]}.
 *
 * Each holds everything until SIGTERM or SIGINT, then exits 0 without
 * closing the connections one by one (the peers see them reset). */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/ping.h"
#include "p2p/relay.h"

#define RAISED_LIMIT   4096
#define DEFAULT_WINDOW 25
#define MAX_ERRORS     32

static uv_loop_t *loop;
static uv_signal_t sig_term, sig_int;
static uv_timer_t tick, progress;

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	fflush(stdout);
	_exit(0);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "relay_circuits: %s: %s\n", what, p2p_strerror(err));
	exit(1);
}

static void raised_config(p2p_host_config *cfg)
{
	p2p_host_config_init(cfg);
	cfg->max_conns = RAISED_LIMIT;
	cfg->max_conns_per_peer = 4;
	cfg->max_pending_inbound = RAISED_LIMIT;
	cfg->max_pending_outbound = RAISED_LIMIT;
	cfg->max_streams_per_conn = RAISED_LIMIT;
	/* Every source is on 127.0.0.1: the per-IP limits would admit 8. */
	cfg->exempt_loopback = true;
	/* Idle circuits are the point: nothing may close them as idle. */
	cfg->idle_timeout_ms = 0;
}

/* Text multiaddr ending in /p2p/ID -> binary (out) and the peer ID. */
static void parse_addr(const char *text, p2p_buf *out, p2p_peerid *id)
{
	int rc = p2p_multiaddr_parse(text, out);
	if (rc < 0)
		die(text, rc);
	const uint8_t *mh;
	size_t mh_len;
	rc = p2p_multiaddr_peer_id(out->data, out->len, &mh, &mh_len);
	if (rc == P2P_OK)
		rc = p2p_peerid_from_bytes(id, mh, mh_len);
	if (rc < 0)
		die("the address's /p2p/ peer ID", rc);
}

static void id_text(const p2p_peerid *id, char *out)
{
	if (p2p_peerid_to_string(id, out, P2P_PEERID_STR_MAX) < 0)
		snprintf(out, P2P_PEERID_STR_MAX, "?");
}

/* ---- target ---- */

static struct {
	const char *relay_text;
	size_t conns, printed;
} tg;

static void target_tick(uv_timer_t *t)
{
	(void)t;
	if (tg.conns == tg.printed)
		return;
	tg.printed = tg.conns;
	printf("{\"action\":\"COUNT\",\"conns\":%zu}\n", tg.conns);
	fflush(stdout);
}

static void target_on_connected(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	(void)user;
	if (p2p_conn_is_relayed(c))
		tg.conns++;
}

static void target_on_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	(void)user;
	if (p2p_conn_is_relayed(c) && tg.conns > 0)
		tg.conns--;
}

static void on_reserved(int err, int status, const p2p_relay_reservation *r, void *user)
{
	p2p_host *h = user;
	(void)r;
	if (err < 0) {
		fprintf(stderr, "relay_circuits: reservation refused (status %d): %s\n",
		        status, p2p_strerror(err));
		exit(1);
	}
	char id[P2P_PEERID_STR_MAX];
	id_text(p2p_host_peer_id(h), id);
	printf("{\"action\":\"READY\",\"peer_id\":\"%s\",\"circuit\":\"%s/p2p-circuit/p2p/%s\"}\n",
	       id, tg.relay_text, id);
	fflush(stdout);
	uv_timer_start(&tick, target_tick, 1000, 1000);
}

static int run_target(const char *relay_text)
{
	tg.relay_text = relay_text;
	p2p_buf addr;
	p2p_buf_init(&addr);
	p2p_peerid relay;
	parse_addr(relay_text, &addr, &relay);
	p2p_privkey *key;
	int rc = p2p_privkey_generate(&key);
	if (rc < 0)
		die("key", rc);
	p2p_host_config cfg;
	raised_config(&cfg);
	p2p_host *h;
	if ((rc = p2p_host_new(&h, loop, key, &cfg)) < 0)
		die("host", rc);
	static const p2p_host_observer obs = {
	    .on_connected = target_on_connected,
	    .on_disconnected = target_on_disconnected,
	};
	p2p_identify_service *ids;
	p2p_relay_client *rcl;
	if ((rc = p2p_host_observe(h, &obs, NULL)) < 0 ||
	    (rc = p2p_identify_service_new(&ids, h, NULL, NULL)) < 0 ||
	    (rc = p2p_relay_client_new(&rcl, h)) < 0 ||
	    (rc = p2p_relay_client_reserve(rcl, &relay, &addr, 1, on_reserved, h)) < 0)
		die("reserving on the relay", rc);
	return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- sources ---- */

typedef struct source {
	p2p_privkey *key;
	p2p_host *host;
	bool up;
} source;

static struct {
	source *s;
	size_t n, window, next, inflight, done, ok, failed, open, printed;
	p2p_buf addr;
	p2p_peerid target;
	uint64_t t0;
	struct {
		int err;
		size_t count;
	} errors[MAX_ERRORS];
	size_t n_errors;
	bool reported;
} sr;

static void note_error(size_t i, int err)
{
	sr.failed++;
	if (sr.failed <= 5)
		fprintf(stderr, "relay_circuits: source %zu: %s\n", i, p2p_strerror(err));
	for (size_t k = 0; k < sr.n_errors; k++)
		if (sr.errors[k].err == err) {
			sr.errors[k].count++;
			return;
		}
	if (sr.n_errors < MAX_ERRORS) {
		sr.errors[sr.n_errors].err = err;
		sr.errors[sr.n_errors].count = 1;
		sr.n_errors++;
	}
}

static void sources_tick(uv_timer_t *t)
{
	(void)t;
	if (sr.open == sr.printed)
		return;
	sr.printed = sr.open;
	printf("{\"action\":\"COUNT\",\"open\":%zu}\n", sr.open);
	fflush(stdout);
}

static void report_done(void)
{
	if (sr.reported)
		return;
	sr.reported = true;
	double secs = (double)(uv_hrtime() - sr.t0) / 1e9;
	printf("{\"action\":\"DONE\",\"connected\":%zu,\"failed\":%zu,\"seconds\":%.2f,"
	       "\"errors\":{",
	       sr.ok, sr.failed, secs);
	for (size_t k = 0; k < sr.n_errors; k++)
		printf("%s\"%s\":%zu", k ? "," : "", p2p_strerror(sr.errors[k].err),
		       sr.errors[k].count);
	printf("}}\n");
	fflush(stdout);
	sr.printed = sr.open;
	uv_timer_start(&tick, sources_tick, 1000, 1000);
}

/* While connects are in flight: progress on stderr every 5 s, so that a
 * connect that never finishes shows. */
static void sources_progress(uv_timer_t *t)
{
	(void)t;
	if (sr.reported) {
		uv_timer_stop(t);
		return;
	}
	fprintf(stderr,
	        "relay_circuits: %.0f s: %zu connected, %zu failed, %zu in flight, %zu "
	        "not started\n",
	        (double)(uv_hrtime() - sr.t0) / 1e9, sr.ok, sr.failed, sr.inflight,
	        sr.n - sr.next);
}

static void launch(void);

static void on_connect(p2p_conn *c, int err, void *user)
{
	size_t i = (size_t)(uintptr_t)user;
	sr.inflight--;
	sr.done++;
	if (c)
		sr.ok++;
	else
		note_error(i, err);
	launch();
}

static void source_on_connected(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	source *s = user;
	if (p2p_conn_is_relayed(c) && !s->up) {
		s->up = true;
		sr.open++;
	}
}

static void source_on_disconnected(p2p_host *h, p2p_conn *c, void *user)
{
	(void)h;
	source *s = user;
	if (p2p_conn_is_relayed(c) && s->up) {
		s->up = false;
		sr.open--;
	}
}

static void launch(void)
{
	while (sr.inflight < sr.window && sr.next < sr.n) {
		size_t i = sr.next++;
		sr.inflight++;
		int rc = p2p_host_connect(sr.s[i].host, &sr.target, &sr.addr, 1, on_connect,
		                          (void *)(uintptr_t)i);
		if (rc < 0) {
			sr.inflight--;
			sr.done++;
			note_error(i, rc);
		}
	}
	if (sr.done == sr.n)
		report_done();
}

static int run_sources(const char *circuit_text, size_t n, size_t window)
{
	p2p_buf_init(&sr.addr);
	parse_addr(circuit_text, &sr.addr, &sr.target);
	sr.n = n;
	sr.window = window;
	sr.s = calloc(n, sizeof *sr.s);
	if (!sr.s)
		die("memory", P2P_ENOMEM);
	static const p2p_host_observer obs = {
	    .on_connected = source_on_connected,
	    .on_disconnected = source_on_disconnected,
	};
	for (size_t i = 0; i < n; i++) {
		source *s = &sr.s[i];
		int rc = p2p_privkey_generate(&s->key);
		if (rc == P2P_OK)
			rc = p2p_host_new(&s->host, loop, s->key, NULL);
		if (rc == P2P_OK)
			rc = p2p_relay_add_transport(s->host);
		if (rc == P2P_OK)
			rc = p2p_host_observe(s->host, &obs, s);
		if (rc < 0)
			die("making a source host", rc);
	}
	sr.t0 = uv_hrtime();
	uv_timer_init(loop, &progress);
	uv_timer_start(&progress, sources_progress, 5000, 5000);
	launch();
	return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- relay ---- */

static int run_relay(const char *listen, size_t max_circuits)
{
	p2p_privkey *key;
	int rc = p2p_privkey_generate(&key);
	if (rc < 0)
		die("key", rc);
	p2p_host_config cfg;
	raised_config(&cfg);
	cfg.max_pending_inbound = 0; /* the default, as the tunnel's relay */
	cfg.max_pending_outbound = 0;
	p2p_host *h;
	if ((rc = p2p_host_new(&h, loop, key, &cfg)) < 0)
		die("host", rc);
	p2p_relay_service_config rcfg;
	p2p_relay_service_config_init(&rcfg);
	rcfg.limits.max_circuits = max_circuits;
	rcfg.limits.max_circuits_per_peer = max_circuits;
	p2p_identify_service *ids;
	p2p_ping_service *ping;
	p2p_relay_service *svc;
	if ((rc = p2p_identify_service_new(&ids, h, NULL, NULL)) < 0 ||
	    (rc = p2p_ping_service_new(&ping, h)) < 0 ||
	    (rc = p2p_relay_service_new(&svc, h, &rcfg)) < 0 ||
	    (rc = p2p_host_listen(h, listen)) < 0)
		die("starting the relay", rc);
	const p2p_buf *addrs[1];
	if (p2p_host_addrs(h, addrs, 1) < 1)
		die("no listen address", P2P_ENOTFOUND);
	p2p_buf text;
	p2p_buf_init(&text);
	if ((rc = p2p_multiaddr_to_string(addrs[0]->data, addrs[0]->len, &text)) < 0)
		die("address", rc);
	char id[P2P_PEERID_STR_MAX];
	id_text(p2p_host_peer_id(h), id);
	printf("{\"action\":\"RELAY\",\"peer_id\":\"%s\",\"addrs\":[\"%s/p2p/%s\"]}\n", id,
	       (const char *)text.data, id);
	fflush(stdout);
	return uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
	/* A write to a connection the relay just refused must be an error, not
	 * the end of the process (as tunnel and p2p-ping do). */
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	uv_signal_init(loop, &sig_term);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_timer_init(loop, &tick);
	if (argc >= 3 && !strcmp(argv[1], "target"))
		return run_target(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "sources")) {
		long n = strtol(argv[3], NULL, 10);
		long w = argc >= 5 ? strtol(argv[4], NULL, 10) : DEFAULT_WINDOW;
		if (n > 0 && w > 0)
			return run_sources(argv[2], (size_t)n, (size_t)w);
	}
	if (argc >= 3 && !strcmp(argv[1], "relay")) {
		long m = argc >= 4 ? strtol(argv[3], NULL, 10) : 2000;
		if (m > 0)
			return run_relay(argv[2], (size_t)m);
	}
	fprintf(stderr, "usage: relay_circuits target RELAY_ADDR\n"
	                "       relay_circuits sources CIRCUIT_ADDR N [WINDOW]\n"
	                "       relay_circuits relay LISTEN [MAX_CIRCUITS]\n");
	return 2;
}
