/* p2p-autonat: a host with identify and the AutoNAT v1 and v2 services,
 * for the interop tests (tests/interop/autonat*.test.sh). It listens, prints one
 * {"peer_id":…,"addrs":[…]} line as the js peers do, optionally dials
 * peers, and then prints one JSON line per AutoNAT event until SIGINT or
 * SIGTERM, when it prints its counters and exits 0:
 *   {"event":"connected","peer":ID}
 *   {"event":"probe","server":ID,"status":N,"text":"…"}  (status < 0: no answer)
 *   {"event":"reachability","state":"public"|"private"|"unknown","addr":…,"confidence":N}
 *   {"event":"v2_result","server":ID,"status":N,"dial_status":N,"addr_idx":N,
 *    "reach":"public"|"private"|"unknown"|"failed","addr":…,"data_paid":N}
 *      (one per run, with --v2-check: the first --connect peer, once
 *      identified, is asked about those addresses; status -1 and the
 *      "error" text when no answer came)
 *   {"event":"stats","served":N,"refused":N,…}
 * Failures print {"error":"…"} and exit 1; a bad command line exits 2. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/autonat.h"
#include "p2p/autonat2_service.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/keys.h"
#include "p2p/multiaddr.h"

#define TOOL_MAX_LISTEN  8    /* --listen options */
#define TOOL_MAX_CONNECT 8    /* --connect options */
#define TOOL_LINE_MAX    4096 /* one JSON line */
#define TOOL_TEXT_MAX    256  /* of a server's status text, printed */
#define TOOL_MAX_CHECK   P2P_AUTONAT2_PROBE_MAX_ADDRS /* --v2-check options */

static const char usage[] =
    "usage: p2p-autonat --listen MULTIADDR [--listen MULTIADDR]...\n"
    "                   [--connect MULTIADDR/p2p/ID]... [--allow-private]\n"
    "                   [--no-server] [--no-client] [--boot-delay MS]\n"
    "                   [--retry MS] [--dial-timeout MS]\n"
    "                   [--v2-check MULTIADDR]... [--no-dial-data] [-v]\n"
    "Serves identify and AutoNAT v1 (/libp2p/autonat/1.0.0) and v2\n"
    "(/libp2p/autonat/2/dial-request), asks the peers it is connected to\n"
    "whether it is reachable (v1) and, with --v2-check, asks the first\n"
    "--connect peer about those addresses (v2); prints JSON lines.\n";

typedef struct opts {
	const char *listen[TOOL_MAX_LISTEN];
	size_t n_listen;
	const char *connect[TOOL_MAX_CONNECT];
	size_t n_connect;
	const char *check[TOOL_MAX_CHECK];
	size_t n_check;
	bool allow_private, no_server, no_client, no_dial_data, verbose;
	uint64_t boot_delay_ms, retry_ms, dial_timeout_ms;
} opts;

typedef struct app {
	uv_loop_t loop;
	opts opt;
	p2p_privkey *key;
	p2p_host *host;
	p2p_identify_service *identify;
	p2p_autonat_service *autonat;
	p2p_autonat2_service *autonat2;
	p2p_peerid check_peer; /* the first --connect peer */
	bool checked;          /* the v2 check was sent */
	uv_signal_t sigint, sigterm;
	bool handles_open, closing;
	int exit_code;
} app;

/* --- output: one JSON object a line, flushed --- */

typedef struct line {
	char buf[TOOL_LINE_MAX];
	size_t len;
} line;

static void put(line *l, const char *s)
{
	size_t n = strlen(s);
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void put_str(line *l, const char *s)
{
	put(l, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8] = {(char)*p, 0};
		if (*p == '"' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		put(l, esc);
	}
	put(l, "\"");
}

static void put_addr(line *l, const p2p_buf *a)
{
	p2p_buf t;
	p2p_buf_init(&t);
	if (a != NULL && a->len > 0 && p2p_multiaddr_to_string(a->data, a->len, &t) == 0)
		put_str(l, (const char *)t.data);
	else
		put(l, "null");
	p2p_buf_free(&t);
}

static void put_peer(line *l, const p2p_peerid *id)
{
	char s[P2P_PEERID_STR_MAX] = "";
	p2p_peerid_to_string(id, s, sizeof(s));
	put_str(l, s);
}

static void put_num(line *l, const char *key, long long v)
{
	char s[64];
	snprintf(s, sizeof(s), ",\"%s\":%lld", key, v);
	put(l, s);
}

static void emit(const line *l)
{
	fputs(l->buf, stdout);
	fputs("}\n", stdout);
	fflush(stdout);
}

static void print_error(const char *what, int err)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s", what, p2p_strerror(err));
	line l = {.len = 0};
	put(&l, "{\"error\":");
	put_str(&l, msg);
	emit(&l);
}

/* --- shutdown --- */

static void on_host_closed(void *user)
{
	app *a = user;
	p2p_autonat_service_free(a->autonat);
	p2p_autonat2_service_free(a->autonat2);
	p2p_identify_service_free(a->identify);
	a->autonat = NULL;
	a->autonat2 = NULL;
	a->identify = NULL;
	a->host = NULL;
}

static void print_stats(const app *a)
{
	if (a->autonat == NULL)
		return;
	const p2p_autonat_service_stats *s = p2p_autonat_service_stats_get(a->autonat);
	line l = {.len = 0};
	put(&l, "{\"event\":\"stats\"");
	put_num(&l, "served", (long long)s->served);
	put_num(&l, "refused", (long long)s->refused);
	put_num(&l, "dialbacks_ok", (long long)s->dialbacks_ok);
	put_num(&l, "dialbacks_failed", (long long)s->dialbacks_failed);
	put_num(&l, "probes_sent", (long long)s->probes_sent);
	put_num(&l, "probes_answered", (long long)s->probes_answered);
	put_num(&l, "probes_failed", (long long)s->probes_failed);
	if (a->autonat2 != NULL) {
		const p2p_autonat2_service_stats *s2 =
		    p2p_autonat2_service_stats_get(a->autonat2);
		put_num(&l, "v2_served", (long long)s2->served);
		put_num(&l, "v2_refused", (long long)s2->refused);
		put_num(&l, "v2_dialbacks_ok", (long long)s2->dialbacks_ok);
		put_num(&l, "v2_dialbacks_failed", (long long)s2->dialbacks_failed);
		put_num(&l, "v2_data_requests", (long long)s2->data_requests);
		put_num(&l, "v2_probes_sent", (long long)s2->probes_sent);
		put_num(&l, "v2_probes_answered", (long long)s2->probes_answered);
		put_num(&l, "v2_dial_backs", (long long)s2->dial_backs);
	}
	emit(&l);
}

static void finish(app *a, int exit_code)
{
	if (a->closing)
		return;
	a->closing = true;
	a->exit_code = exit_code;
	if (exit_code == 0)
		print_stats(a);
	if (a->handles_open) {
		uv_close((uv_handle_t *)&a->sigint, NULL);
		uv_close((uv_handle_t *)&a->sigterm, NULL);
		a->handles_open = false;
	}
	if (a->host != NULL)
		p2p_host_close(a->host, on_host_closed, a);
}

static void on_signal(uv_signal_t *s, int signum)
{
	finish(s->data, 0);
}

/* --- events --- */

static const char *reach_name(p2p_autonat2_reach r)
{
	return r == P2P_AUTONAT2_REACH_PUBLIC    ? "public"
	       : r == P2P_AUTONAT2_REACH_PRIVATE ? "private"
	                                         : "unknown";
}

static void on_v2_result(const p2p_autonat2_result *r, void *user)
{
	line l = {.len = 0};
	put(&l, "{\"event\":\"v2_result\",\"server\":");
	put_peer(&l, r->server);
	put_num(&l, "status", r->status);
	put_num(&l, "dial_status", r->dial_status);
	put_num(&l, "addr_idx", r->addr_idx);
	put(&l, ",\"reach\":");
	put_str(&l, r->err < 0 ? "failed" : reach_name(r->reach));
	put(&l, ",\"addr\":");
	put_addr(&l, r->addr);
	put_num(&l, "data_paid", (long long)r->data_paid);
	if (r->err < 0) {
		put(&l, ",\"error\":");
		put_str(&l, p2p_strerror(r->err));
	}
	emit(&l);
}

/* The --v2-check request, to the first --connect peer once identified. */
static void v2_check(app *a, p2p_conn *c)
{
	p2p_buf addrs[TOOL_MAX_CHECK];
	size_t n = 0;
	int rc = P2P_OK;
	for (size_t i = 0; i < a->opt.n_check && rc == P2P_OK; i++) {
		p2p_buf_init(&addrs[i]);
		rc = p2p_multiaddr_parse(a->opt.check[i], &addrs[i]);
		n++;
	}
	if (rc == P2P_OK)
		rc =
		    p2p_autonat2_service_check(a->autonat2, c, addrs, n, on_v2_result, a);
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
	if (rc < 0) {
		print_error("v2 check", rc);
		finish(a, 1);
	}
}

static void on_identified(p2p_conn *c, const p2p_identify *info, bool push, int err,
                          void *user)
{
	app *a = user;
	p2p_autonat_service_on_identified(a->autonat, c, info);
	if (info != NULL && a->opt.n_check > 0 && !a->checked && a->opt.n_connect > 0 &&
	    p2p_peerid_equal(p2p_conn_remote_peer(c), &a->check_peer)) {
		a->checked = true;
		v2_check(a, c);
	}
}

static const char *state_name(p2p_autonat_reachability s)
{
	return s == P2P_AUTONAT_PUBLIC    ? "public"
	       : s == P2P_AUTONAT_PRIVATE ? "private"
	                                  : "unknown";
}

static void on_change(p2p_autonat_reachability state, const p2p_buf *addr, int confidence,
                      void *user)
{
	line l = {.len = 0};
	put(&l, "{\"event\":\"reachability\",\"state\":");
	put_str(&l, state_name(state));
	put(&l, ",\"addr\":");
	put_addr(&l, addr);
	put_num(&l, "confidence", confidence);
	emit(&l);
}

static void on_probe(const p2p_peerid *server, int status, const char *text, void *user)
{
	line l = {.len = 0};
	put(&l, "{\"event\":\"probe\",\"server\":");
	put_peer(&l, server);
	put_num(&l, "status", status);
	/* A server's text may be long (up to a message): cut to fit a line. */
	char cut[TOOL_TEXT_MAX];
	snprintf(cut, sizeof(cut), "%s", status < 0 ? p2p_strerror(status) : text);
	put(&l, ",\"text\":");
	put_str(&l, cut);
	emit(&l);
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	app *a = user;
	if (err < 0) {
		print_error("connect", err);
		finish(a, 1);
		return;
	}
	line l = {.len = 0};
	put(&l, "{\"event\":\"connected\",\"peer\":");
	put_peer(&l, p2p_conn_remote_peer(c));
	emit(&l);
}

/* --- setup --- */

static int parse_num(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v = s ? strtoull(s, &end, 10) : 0;
	if (s == NULL || *s == '\0' || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* 0: run; 1: --help; -1: bad (usage printed). */
static int parse_args(int argc, char **argv, opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool bad = false, takes = true;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		} else if (strcmp(arg, "--listen") == 0) {
			bad = val == NULL || o->n_listen == TOOL_MAX_LISTEN;
			if (!bad)
				o->listen[o->n_listen++] = val;
		} else if (strcmp(arg, "--connect") == 0) {
			bad = val == NULL || o->n_connect == TOOL_MAX_CONNECT;
			if (!bad)
				o->connect[o->n_connect++] = val;
		} else if (strcmp(arg, "--v2-check") == 0) {
			bad = val == NULL || o->n_check == TOOL_MAX_CHECK;
			if (!bad)
				o->check[o->n_check++] = val;
		} else if (strcmp(arg, "--boot-delay") == 0) {
			bad = parse_num(val, &o->boot_delay_ms) < 0;
		} else if (strcmp(arg, "--retry") == 0) {
			bad = parse_num(val, &o->retry_ms) < 0;
		} else if (strcmp(arg, "--dial-timeout") == 0) {
			bad = parse_num(val, &o->dial_timeout_ms) < 0;
		} else {
			takes = false;
			if (strcmp(arg, "--allow-private") == 0)
				o->allow_private = true;
			else if (strcmp(arg, "--no-server") == 0)
				o->no_server = true;
			else if (strcmp(arg, "--no-client") == 0)
				o->no_client = true;
			else if (strcmp(arg, "--no-dial-data") == 0)
				o->no_dial_data = true;
			else if (strcmp(arg, "-v") == 0)
				o->verbose = true;
			else
				bad = true;
		}
		if (bad) {
			fprintf(stderr, "p2p-autonat: bad argument: %s\n%s", arg, usage);
			return -1;
		}
		i += takes;
	}
	if (o->n_listen == 0) {
		fprintf(stderr, "p2p-autonat: give --listen\n%s", usage);
		return -1;
	}
	return 0;
}

static void print_listening(app *a)
{
	const p2p_buf *addrs[TOOL_MAX_LISTEN];
	size_t n = p2p_host_addrs(a->host, addrs, TOOL_MAX_LISTEN);
	const p2p_peerid *me = p2p_host_peer_id(a->host);
	line l = {.len = 0};
	put(&l, "{\"peer_id\":");
	put_peer(&l, me);
	put(&l, ",\"addrs\":[");
	for (size_t i = 0; i < n && i < TOOL_MAX_LISTEN; i++) {
		p2p_buf full;
		p2p_buf_init(&full);
		if (p2p_buf_append(&full, addrs[i]->data, addrs[i]->len) == 0 &&
		    p2p_multiaddr_append_peer_id(&full, me->bytes, me->len) == 0) {
			if (i > 0)
				put(&l, ",");
			put_addr(&l, &full);
		}
		p2p_buf_free(&full);
	}
	put(&l, "]");
	emit(&l);
}

static int connect_to(app *a, const char *text)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	p2p_peerid peer;
	const uint8_t *mh;
	size_t mh_len;
	int rc = p2p_multiaddr_parse(text, &bin);
	if (rc == P2P_OK)
		rc = p2p_multiaddr_peer_id(bin.data, bin.len, &mh, &mh_len);
	if (rc == P2P_OK)
		rc = p2p_peerid_from_bytes(&peer, mh, mh_len);
	if (rc == P2P_OK && a->opt.n_connect > 0 && text == a->opt.connect[0])
		a->check_peer = peer;
	if (rc == P2P_OK)
		rc = p2p_host_connect(a->host, &peer, &bin, 1, on_connected, a);
	p2p_buf_free(&bin);
	if (rc < 0)
		print_error(text, rc);
	return rc;
}

static int setup(app *a)
{
	int rc = p2p_privkey_generate(&a->key);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	if (a->opt.verbose)
		cfg.log.level = P2P_LOG_DEBUG;
	if (rc == P2P_OK)
		rc = p2p_host_new(&a->host, &a->loop, a->key, &cfg);
	if (rc < 0) {
		print_error("cannot start the host", rc);
		return rc;
	}
	p2p_autonat_service_config acfg = {
	    .on_change = on_change,
	    .on_probe = on_probe,
	    .user = a,
	    .disable_server = a->opt.no_server,
	    .disable_client = a->opt.no_client,
	    .allow_private = a->opt.allow_private,
	    .boot_delay_ms = a->opt.boot_delay_ms,
	    .forced_retry_ms = a->opt.retry_ms,
	    .retry_interval_ms = a->opt.retry_ms,
	    .dial_timeout_ms = a->opt.dial_timeout_ms,
	};
	rc = p2p_identify_service_new(&a->identify, a->host, on_identified, a);
	if (rc == P2P_OK)
		rc = p2p_autonat_service_new(&a->autonat, a->host, a->identify, &acfg);
	p2p_autonat2_service_config acfg2 = {
	    .disable_server = a->opt.no_server,
	    .allow_private = a->opt.allow_private,
	    .no_dial_data = a->opt.no_dial_data,
	    .dial_timeout_ms = a->opt.dial_timeout_ms,
	};
	if (rc == P2P_OK)
		rc = p2p_autonat2_service_new(&a->autonat2, a->host, &acfg2);
	if (rc < 0) {
		print_error("cannot start the services", rc);
		return rc;
	}
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sigterm);
	a->sigint.data = a->sigterm.data = a;
	a->handles_open = true;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	for (size_t i = 0; i < a->opt.n_listen; i++) {
		rc = p2p_host_listen(a->host, a->opt.listen[i]);
		if (rc < 0) {
			print_error(a->opt.listen[i], rc);
			return rc;
		}
	}
	print_listening(a);
	for (size_t i = 0; i < a->opt.n_connect; i++)
		if ((rc = connect_to(a, a->opt.connect[i])) < 0)
			return rc;
	return P2P_OK;
}

int main(int argc, char **argv)
{
	/* A peer that goes away mid-write must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	static app a;
	int rc = parse_args(argc, argv, &a.opt);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (uv_loop_init(&a.loop) != 0) {
		print_error("cannot start the event loop", P2P_EIO);
		return 1;
	}
	if (setup(&a) != P2P_OK)
		finish(&a, 1);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&a.loop) != 0)
		fputs("p2p-autonat: handles left open at exit\n", stderr);
	/* The services went with the host (on_host_closed). */
	p2p_privkey_free(a.key);
	return a.exit_code;
}
