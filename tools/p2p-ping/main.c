/* p2p-ping: a libp2p node for trying the stack by hand and for interop
 * tests. It either listens (serving identify, ping, perf and echo) or dials
 * one peer, prints what identify says about it, pings it, and optionally
 * checks an echo and runs perf. Every result is one JSON line on stdout;
 * any failure is {"error":"..."} and a non-zero exit. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <uv.h>

#include "json.h"
#include "p2p/echo.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/peer_record.h"
#include "p2p/perf.h"
#include "p2p/ping.h"
#include "p2p/relay.h"

#define TOOL_MAX_LISTEN        8                       /* --listen options */
#define TOOL_DEFAULT_COUNT     3                       /* pings */
#define TOOL_DEFAULT_TIMEOUT_S 60                      /* whole dialer run */
#define TOOL_MAX_ECHO          (1024ULL * 1024 * 1024) /* --echo bytes held in memory */
#define TOOL_MAX_COUNT         100000                  /* --count */

static const char usage[] =
    "usage: p2p-ping --listen MULTIADDR [--listen MULTIADDR]... [--key FILE]\n"
    "                [--relay MULTIADDR/p2p/RELAY_ID] [--relay-service]\n"
    "       p2p-ping MULTIADDR/p2p/PEER_ID [--count N] [--echo BYTES]\n"
    "                [--perf-upload BYTES] [--perf-download BYTES]\n"
    "                [--timeout SECONDS] [--key FILE]\n"
    "       p2p-ping --help | --version\n"
    "\n"
    "Listening, it prints {\"peer_id\":...,\"addrs\":[...]} once ready and serves\n"
    "identify, ping, perf and /echo/1.0.0 until SIGINT or SIGTERM; with\n"
    "--relay it first reserves a slot on that circuit relay v2 and lists\n"
    "its circuit addresses first; with --relay-service it is a circuit relay\n"
    "v2 itself (hop), with no limit per circuit.\n"
    "Dialing, it prints the peer's identify, one {\"rtt_ms\":...} per ping\n"
    "(default 3), then the echo and perf results if asked (MB = 10^6 bytes).\n"
    "Failures print {\"error\":...} and exit non-zero.\n";

typedef struct options {
	const char *listen[TOOL_MAX_LISTEN];
	size_t n_listen;
	const char *target;
	const char *key_file;
	const char *relay;
	bool relay_service;
	unsigned long long count;
	unsigned long long echo;
	unsigned long long perf_upload;
	unsigned long long perf_download;
	bool perf;
	unsigned long long timeout_s;
} options;

typedef struct app {
	options opt;
	uv_loop_t loop;
	p2p_privkey *key;
	p2p_host *host;
	p2p_identify_service *identify;
	p2p_ping_service *ping;       /* when listening */
	p2p_relay_client *relay;      /* with --relay */
	p2p_relay_service *relay_svc; /* with --relay-service */
	p2p_buf relay_addr;           /* binary */
	p2p_peerid relay_id;
	uv_signal_t sigint, sigterm;
	uv_timer_t timer;
	bool handles_open;
	bool closing;
	int exit_code;
	/* dialer */
	p2p_peerid target;
	p2p_buf target_addr; /* binary */
	bool identified;
	uint8_t *echo_data;
} app;

static void print_error(const char *what, int err)
{
	char msg[256];
	if (err != 0)
		snprintf(msg, sizeof(msg), "%s: %s", what, p2p_strerror(err));
	else
		snprintf(msg, sizeof(msg), "%s", what);
	json_line j;
	json_begin(&j);
	json_str(&j, "error", msg);
	json_end(&j);
}

/* The same with a sentence that says why (it names the file, say), which
 * may be longer than print_error's room. */
static void print_sentence(const char *what, const char *why)
{
	char msg[P2P_KEYFILE_WHY_MAX + 64];
	snprintf(msg, sizeof(msg), "%s: %s", what, why);
	json_line j;
	json_begin(&j);
	json_str(&j, "error", msg);
	json_end(&j);
}

/* --- shutdown --- */

static void on_handle_closed(uv_handle_t *h)
{
}

static void on_host_closed(void *user)
{
	app *a = user;
	p2p_identify_service_free(a->identify);
	a->identify = NULL;
	p2p_ping_service_free(a->ping);
	a->ping = NULL;
	p2p_relay_client_free(a->relay);
	a->relay = NULL;
	p2p_relay_service_free(a->relay_svc);
	a->relay_svc = NULL;
	a->host = NULL;
}

/* Ends the run: closes our handles and the host; uv_run returns once
 * everything is closed. */
static void finish(app *a, int exit_code)
{
	if (a->closing)
		return;
	a->closing = true;
	a->exit_code = exit_code;
	if (a->handles_open) {
		uv_close((uv_handle_t *)&a->sigint, on_handle_closed);
		uv_close((uv_handle_t *)&a->sigterm, on_handle_closed);
		uv_close((uv_handle_t *)&a->timer, on_handle_closed);
		a->handles_open = false;
	}
	if (a->host != NULL)
		p2p_host_close(a->host, on_host_closed, a);
}

static void fail(app *a, const char *what, int err)
{
	if (a->closing)
		return;
	print_error(what, err);
	finish(a, 1);
}

static void on_signal(uv_signal_t *s, int signum)
{
	finish(s->data, 0);
}

static void on_timeout(uv_timer_t *t)
{
	fail(t->data, "timed out", 0);
}

/* --- the dialer's steps: identify, ping, echo, perf --- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double mb_per_s(uint64_t bytes, uint64_t ns)
{
	return ns == 0 ? 0.0 : ((double)bytes / 1e6) / ((double)ns / 1e9);
}

static void start_echo(app *a);
static void start_perf(app *a);

static void on_perf_done(int err, const p2p_perf_result *r, void *user)
{
	app *a = user;
	if (err < 0) {
		fail(a, "perf", err);
		return;
	}
	json_line j;
	json_begin(&j);
	json_uint(&j, "perf_upload_bytes", r->upload_bytes);
	json_uint(&j, "perf_download_bytes", r->download_bytes);
	json_num(&j, "upload_mb_per_s", mb_per_s(r->upload_bytes, r->upload_ns));
	json_num(&j, "download_mb_per_s", mb_per_s(r->download_bytes, r->download_ns));
	json_num(&j, "upload_ms", ms(r->upload_ns));
	json_num(&j, "download_ms", ms(r->download_ns));
	json_end(&j);
	finish(a, 0);
}

static void start_perf(app *a)
{
	if (!a->opt.perf) {
		finish(a, 0);
		return;
	}
	int rc = p2p_perf_run(a->host, &a->target, a->opt.perf_upload,
	                      a->opt.perf_download, on_perf_done, a);
	if (rc != P2P_OK)
		fail(a, "perf", rc);
}

static void on_echo_done(int err, uint64_t elapsed_ns, void *user)
{
	app *a = user;
	if (err < 0) {
		fail(a, "echo", err);
		return;
	}
	json_line j;
	json_begin(&j);
	json_uint(&j, "echo_bytes", a->opt.echo);
	json_bool(&j, "ok", true);
	json_num(&j, "mb_per_s", mb_per_s(a->opt.echo, elapsed_ns));
	json_num(&j, "ms", ms(elapsed_ns));
	json_end(&j);
	start_perf(a);
}

static void start_echo(app *a)
{
	if (a->opt.echo == 0) {
		start_perf(a);
		return;
	}
	a->echo_data = malloc(a->opt.echo);
	if (a->echo_data == NULL) {
		fail(a, "echo", P2P_ENOMEM);
		return;
	}
	/* RAND_bytes takes an int length: fill in slices. */
	for (unsigned long long off = 0; off < a->opt.echo;) {
		unsigned long long n = a->opt.echo - off;
		if (n > INT_MAX)
			n = INT_MAX;
		if (RAND_bytes(a->echo_data + off, (int)n) != 1) {
			fail(a, "echo", P2P_ECRYPTO);
			return;
		}
		off += n;
	}
	int rc =
	    p2p_echo_run(a->host, &a->target, a->echo_data, a->opt.echo, on_echo_done, a);
	if (rc != P2P_OK)
		fail(a, "echo", rc);
}

static void on_rtt(uint64_t rtt_ns, void *user)
{
	json_line j;
	json_begin(&j);
	json_num(&j, "rtt_ms", ms(rtt_ns));
	json_end(&j);
}

static void on_ping_done(int err, void *user)
{
	app *a = user;
	if (err < 0) {
		fail(a, "ping", err);
		return;
	}
	start_echo(a);
}

static void start_ping(app *a)
{
	if (a->opt.count == 0) {
		start_echo(a);
		return;
	}
	int rc = p2p_ping_run(a->host, &a->target, (unsigned)a->opt.count, on_rtt,
	                      on_ping_done, a);
	if (rc != P2P_OK)
		fail(a, "ping", rc);
}

/* Adds a binary multiaddr as text to the current JSON array. */
static void json_array_addr(json_line *j, const uint8_t *bin, size_t len)
{
	p2p_buf text;
	p2p_buf_init(&text);
	if (p2p_multiaddr_to_string(bin, len, &text) == P2P_OK)
		json_array_str(j, (const char *)text.data);
	p2p_buf_free(&text);
}

static void print_identify(app *a, const p2p_identify *info)
{
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(&a->target, id, sizeof(id));
	json_line j;
	json_begin(&j);
	json_str(&j, "peer_id", id);
	json_str(&j, "agent_version", info->agent_version ? info->agent_version : "");
	json_str(&j, "protocol_version",
	         info->protocol_version ? info->protocol_version : "");
	json_array_begin(&j, "protocols");
	for (size_t i = 0; i < info->n_protocols; i++)
		json_array_str(&j, info->protocols[i]);
	json_array_end(&j);
	json_array_begin(&j, "listen_addrs");
	for (size_t i = 0; i < info->n_listen_addrs; i++)
		json_array_addr(&j, info->listen_addrs[i].data,
		                info->listen_addrs[i].len);
	json_array_end(&j);
	if (info->observed_addr.len > 0) {
		p2p_buf text;
		p2p_buf_init(&text);
		if (p2p_multiaddr_to_string(info->observed_addr.data,
		                            info->observed_addr.len, &text) == P2P_OK)
			json_str(&j, "observed_addr", (const char *)text.data);
		p2p_buf_free(&text);
	}
	if (info->signed_peer_record.len > 0) {
		p2p_peer_record *rec = NULL;
		int rc = p2p_peer_record_open(&rec, info->signed_peer_record.data,
		                              info->signed_peer_record.len, &a->target);
		json_bool(&j, "signed_peer_record_valid", rc == P2P_OK);
		p2p_peer_record_free(rec);
	}
	json_end(&j);
}

static void on_identified(p2p_conn *c, const p2p_identify *info, bool push, int err,
                          void *user)
{
	app *a = user;
	if (push || a->identified || a->closing ||
	    !p2p_peerid_equal(p2p_conn_remote_peer(c), &a->target))
		return;
	a->identified = true;
	if (err < 0) {
		fail(a, "identify", err);
		return;
	}
	print_identify(a, info);
	start_ping(a);
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	if (err < 0)
		fail(user, "connect", err);
	/* Otherwise the identify service runs on the new connection and
	 * on_identified takes it from there. */
}

/* --- setup --- */

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Returns 0 to run, 1 when done (help, version), -1 on a usage error
 * (already reported). */
static int parse_args(int argc, char **argv, options *o)
{
	o->count = TOOL_DEFAULT_COUNT;
	o->timeout_s = TOOL_DEFAULT_TIMEOUT_S;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		} else if (strcmp(arg, "--version") == 0) {
			printf("p2p-ping %s\n", P2P_VERSION);
			return 1;
		} else if (strcmp(arg, "--listen") == 0) {
			bad = val == NULL || o->n_listen == TOOL_MAX_LISTEN;
			if (!bad)
				o->listen[o->n_listen++] = val;
			i++;
		} else if (strcmp(arg, "--relay") == 0) {
			bad = val == NULL;
			o->relay = val;
			i++;
		} else if (strcmp(arg, "--relay-service") == 0) {
			o->relay_service = true;
		} else if (strcmp(arg, "--key") == 0) {
			bad = val == NULL;
			o->key_file = val;
			i++;
		} else if (strcmp(arg, "--count") == 0) {
			bad = parse_uint(val, TOOL_MAX_COUNT, &o->count);
			i++;
		} else if (strcmp(arg, "--echo") == 0) {
			bad = parse_uint(val, TOOL_MAX_ECHO, &o->echo);
			i++;
		} else if (strcmp(arg, "--perf-upload") == 0) {
			bad = parse_uint(val, UINT64_MAX, &o->perf_upload);
			o->perf = true;
			i++;
		} else if (strcmp(arg, "--perf-download") == 0) {
			bad = parse_uint(val, UINT64_MAX, &o->perf_download);
			o->perf = true;
			i++;
		} else if (strcmp(arg, "--timeout") == 0) {
			bad = parse_uint(val, 86400, &o->timeout_s) || o->timeout_s == 0;
			i++;
		} else if (arg[0] == '/' && o->target == NULL) {
			o->target = arg;
		} else {
			bad = 1;
		}
		if (bad) {
			char what[128];
			snprintf(what, sizeof(what), "bad argument: %s", arg);
			print_error(what, 0);
			fputs(usage, stderr);
			return -1;
		}
	}
	if ((o->target == NULL) == (o->n_listen == 0)) {
		print_error("give either --listen or a multiaddr to dial", 0);
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

/* Prints {"peer_id":…,"addrs":[…]}: the circuit addresses of r (if any)
 * first, then the listen addresses, each with /p2p/<us>. */
static void print_listening(app *a, const p2p_relay_reservation *r)
{
	const p2p_peerid *me = p2p_host_peer_id(a->host);
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(me, id, sizeof(id));
	const p2p_buf *addrs[P2P_HOST_MAX_LISTENERS];
	size_t n = p2p_host_addrs(a->host, addrs, P2P_HOST_MAX_LISTENERS);
	if (n > P2P_HOST_MAX_LISTENERS)
		n = P2P_HOST_MAX_LISTENERS;
	json_line j;
	json_begin(&j);
	json_str(&j, "peer_id", id);
	json_array_begin(&j, "addrs");
	size_t n_circuit = r ? r->n_addrs : 0;
	for (size_t i = 0; i < n_circuit + n; i++) {
		p2p_buf full;
		p2p_buf_init(&full);
		int rc = i < n_circuit
		             ? p2p_relay_circuit_addr(r->addrs[i].data, r->addrs[i].len,
		                                      r->relay, &full)
		             : p2p_buf_append(&full, addrs[i - n_circuit]->data,
		                              addrs[i - n_circuit]->len);
		if (rc == P2P_OK &&
		    p2p_multiaddr_append_peer_id(&full, me->bytes, me->len) == P2P_OK)
			json_array_addr(&j, full.data, full.len);
		p2p_buf_free(&full);
	}
	json_array_end(&j);
	json_end(&j);
}

static void on_reserved(int err, int status, const p2p_relay_reservation *r, void *user)
{
	app *a = user;
	if (err < 0) {
		char what[64];
		snprintf(what, sizeof(what), "reserve on the relay (status %d)", status);
		fail(a, what, err);
		return;
	}
	print_listening(a, r);
}

static int start_relay(app *a)
{
	int rc = p2p_multiaddr_parse(a->opt.relay, &a->relay_addr);
	const uint8_t *mh;
	size_t mh_len;
	if (rc == P2P_OK)
		rc = p2p_multiaddr_peer_id(a->relay_addr.data, a->relay_addr.len, &mh,
		                           &mh_len);
	if (rc == P2P_OK)
		rc = p2p_peerid_from_bytes(&a->relay_id, mh, mh_len);
	if (rc != P2P_OK) {
		print_error("--relay must be a multiaddr ending in /p2p/RELAY_ID", rc);
		return rc;
	}
	rc = p2p_relay_client_new(&a->relay, a->host);
	if (rc == P2P_OK)
		rc = p2p_relay_client_reserve(a->relay, &a->relay_id, &a->relay_addr, 1,
		                              on_reserved, a);
	if (rc != P2P_OK)
		print_error("reserve on the relay", rc);
	return rc;
}

static int start_listener(app *a)
{
	for (size_t i = 0; i < a->opt.n_listen; i++) {
		int rc = p2p_host_listen(a->host, a->opt.listen[i]);
		if (rc != P2P_OK) {
			char what[256];
			snprintf(what, sizeof(what), "listen on %s", a->opt.listen[i]);
			print_error(what, rc);
			return rc;
		}
	}
	if (a->opt.relay)
		return start_relay(a);
	print_listening(a, NULL);
	return P2P_OK;
}

static int start_dialer(app *a)
{
	int rc = p2p_multiaddr_parse(a->opt.target, &a->target_addr);
	if (rc != P2P_OK) {
		print_error("bad multiaddr", rc);
		return rc;
	}
	const uint8_t *mh;
	size_t mh_len;
	rc = p2p_multiaddr_peer_id(a->target_addr.data, a->target_addr.len, &mh, &mh_len);
	if (rc == P2P_OK)
		rc = p2p_peerid_from_bytes(&a->target, mh, mh_len);
	if (rc != P2P_OK) {
		print_error("the multiaddr must end in /p2p/PEER_ID", rc);
		return rc;
	}
	uv_timer_start(&a->timer, on_timeout, a->opt.timeout_s * 1000, 0);
	rc = p2p_host_connect(a->host, &a->target, &a->target_addr, 1, on_connected, a);
	if (rc != P2P_OK)
		print_error("connect", rc);
	return rc;
}

static int setup(app *a)
{
	char why[P2P_KEYFILE_WHY_MAX] = "";
	int rc =
	    a->opt.key_file != NULL
	        ? p2p_privkey_load_or_create(&a->key, a->opt.key_file, why, sizeof(why))
	        : p2p_privkey_generate(&a->key);
	if (rc != P2P_OK) {
		if (why[0] != '\0')
			print_sentence("key", why);
		else
			print_error("key", rc);
		return rc;
	}
	rc = p2p_host_new(&a->host, &a->loop, a->key, NULL);
	if (rc != P2P_OK) {
		print_error("host", rc);
		return rc;
	}
	bool listener = a->opt.target == NULL;
	rc = p2p_relay_add_transport(a->host); /* /p2p-circuit addresses */
	if (rc != P2P_OK) {
		print_error("relay transport", rc);
		return rc;
	}
	rc = p2p_identify_service_new(&a->identify, a->host,
	                              listener ? NULL : on_identified, a);
	if (rc == P2P_OK && listener)
		rc = p2p_ping_service_new(&a->ping, a->host);
	if (rc == P2P_OK && listener)
		rc = p2p_perf_serve(a->host);
	if (rc == P2P_OK && listener)
		rc = p2p_echo_serve(a->host);
	if (rc == P2P_OK && listener && a->opt.relay_service)
		rc = p2p_relay_service_new(&a->relay_svc, a->host, NULL);
	if (rc != P2P_OK) {
		print_error("protocols", rc);
		return rc;
	}

	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sigterm);
	uv_timer_init(&a->loop, &a->timer);
	a->sigint.data = a->sigterm.data = a->timer.data = a;
	a->handles_open = true;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	return listener ? start_listener(a) : start_dialer(a);
}

int main(int argc, char **argv)
{
	/* A peer that goes away mid-write must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	static app a;
	int rc = parse_args(argc, argv, &a.opt);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	p2p_buf_init(&a.target_addr);
	p2p_buf_init(&a.relay_addr);
	if (uv_loop_init(&a.loop) != 0) {
		print_error("cannot start the event loop", 0);
		return 1;
	}
	if (setup(&a) != P2P_OK)
		finish(&a, 1); /* the error is printed */
	uv_run(&a.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&a.loop) != 0)
		fputs("p2p-ping: handles left open at exit\n", stderr);
	free(a.echo_data);
	p2p_buf_free(&a.target_addr);
	p2p_buf_free(&a.relay_addr);
	p2p_privkey_free(a.key);
	return a.exit_code;
}
