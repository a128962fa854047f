/* The host and client roles' shared set-up and shutdown (app.h). */
#include "tunnel/app.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/json.h"

void tunnel_app_say(const tunnel_app *app, const char *fmt, ...)
{
	if (app->opts && app->opts->verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("tunnel: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void tunnel_app_say_limited(const tunnel_app *app, tunnel_output_ratelimit *rl,
                            const char *fmt, ...)
{
	if (app->opts && app->opts->verbosity < 0)
		return;
	uint64_t held, span_ms;
	if (!tunnel_output_ratelimit_take(rl, uv_now(app->loop), &held, &span_ms))
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("tunnel: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (held)
		fprintf(stderr, " (%" PRIu64 " more like this in the last %" PRIu64 " s)",
		        held, (span_ms + 999) / 1000);
	fputc('\n', stderr);
}

/* stdout's reader has not taken TUNNEL_OUTPUT_EVENT_QUEUE_MAX of events:
 * going on would mean losing some (output.h). Said whatever -q says. */
static void on_events_full(void *user, size_t queued)
{
	tunnel_app *app = user;
	fprintf(stderr,
	        "tunnel: error: nobody reads the events on stdout (%zu MiB waiting): "
	        "stopping\n",
	        queued >> 20);
	tunnel_app_stop(app, TUNNEL_EXIT_FAILURE);
}

int tunnel_app_default_key_path(const char *name, char *out, size_t out_len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(out, out_len, "%s/mtunnel/%s", xdg, name);
	else if (home && home[0])
		n = snprintf(out, out_len, "%s/.config/mtunnel/%s", home, name);
	else
		return P2P_ENOTFOUND;
	return n > 0 && (size_t)n < out_len ? P2P_OK : P2P_ETOOBIG;
}

void tunnel_app_addr_text(const p2p_buf *addr, char *out, size_t out_len)
{
	p2p_buf t;
	p2p_buf_init(&t);
	if (addr && addr->len && p2p_multiaddr_to_string(addr->data, addr->len, &t) == 0)
		snprintf(out, out_len, "%s", (const char *)t.data);
	else
		snprintf(out, out_len, "?");
	p2p_buf_free(&t);
}

const char *tunnel_app_conn_path(const p2p_conn *c)
{
	return p2p_conn_is_relayed(c) ? TUNNEL_PATH_RELAYED : TUNNEL_PATH_DIRECT;
}

void tunnel_app_check_path(tunnel_app *app, const p2p_peerid *peer, const char *who,
                           const char *session_id, const char **path, char *addr,
                           size_t addr_len)
{
	p2p_conn *c = p2p_host_conn(app->host, peer);
	if (c == NULL || *path == NULL)
		return;
	const char *now = tunnel_app_conn_path(c);
	if (now == *path)
		return;
	*path = now;
	tunnel_app_addr_text(p2p_conn_remote_addr(c), addr, addr_len);
	tunnel_app_say(app, "%s %s now %s via %s", who, session_id, now, addr);
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_path(&ev, session_id, now, addr) == 0)
		tunnel_emit(app->events, &ev);
	p2p_buf_free(&ev);
}

static void on_signal(uv_signal_t *s, int signum)
{
	tunnel_app *app = s->data;
	tunnel_app_say(app, "got signal %d, shutting down", signum);
	tunnel_app_stop(app, TUNNEL_EXIT_OK);
}

static void on_command(const tunnel_cmd *cmd, void *user)
{
	tunnel_app *app = user;
	if (app->stopping)
		return;
	if (cmd->action == TUNNEL_CMD_SHUTDOWN) {
		tunnel_app_stop(app, TUNNEL_EXIT_OK);
		return;
	}
	app->role->on_cmd(app, cmd);
}

/* The services outlive the host's connections (identify.h, ping.h). */
static void on_host_closed(void *user)
{
	tunnel_app *app = user;
	p2p_identify_service_free(app->identify);
	app->identify = NULL;
	p2p_ping_service_free(app->ping);
	app->ping = NULL;
	p2p_relay_client_free(app->relay_client);
	app->relay_client = NULL;
	p2p_holepunch_free(app->holepunch);
	app->holepunch = NULL;
	p2p_autonat_service_free(app->autonat);
	app->autonat = NULL;
	p2p_autonat2_service_free(app->autonat2);
	app->autonat2 = NULL;
}

/* A multiaddr in text, for an event. */
#define APP_ADDR_TEXT_MAX 256

static const char *reachability_name(p2p_autonat_reachability r)
{
	switch (r) {
	case P2P_AUTONAT_PUBLIC:
		return "public";
	case P2P_AUTONAT_PRIVATE:
		return "private";
	default:
		return "unknown";
	}
}

/* REACHABILITY: what AutoNAT found, each time it changes. */
static void on_reachability(p2p_autonat_reachability state, const p2p_buf *addr,
                            int confidence, void *user)
{
	(void)confidence;
	tunnel_app *app = user;
	if (app->stopping)
		return;
	char text[APP_ADDR_TEXT_MAX];
	bool has_addr = state == P2P_AUTONAT_PUBLIC && addr != NULL && addr->len > 0;
	if (has_addr)
		tunnel_app_addr_text(addr, text, sizeof text);
	tunnel_app_say(app, "reachability: %s%s%s", reachability_name(state),
	               has_addr ? " at " : "", has_addr ? text : "");
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_reachability(&ev, reachability_name(state),
	                              has_addr ? text : NULL) == 0)
		tunnel_emit(app->events, &ev);
	p2p_buf_free(&ev);
	if (app->on_reachability)
		app->on_reachability(app);
}

/* AutoNAT on the roles that have a use for it: the relay service answers
 * (it has a public address), the host answers and asks. Private ranges
 * count: our server dials back only the requester's own observed IP, and
 * LANs and the NAT lab (198.18.0.0/15) live there. */
static int start_autonat(tunnel_app *app, const tunnel_opts *o)
{
	if (o->role == TUNNEL_ROLE_CLIENT)
		return P2P_OK;
	p2p_autonat_service_config cfg = {
	    .on_change = on_reachability,
	    .user = app,
	    .disable_client = o->role == TUNNEL_ROLE_RELAY,
	    .allow_private = true,
	};
	int rc = p2p_autonat_service_new(&app->autonat, app->host, app->identify, &cfg);
	/* AutoNAT v2 answers too, for the go-libp2p peers that check their
	 * addresses with it. Public addresses only, as the spec says: v2 may
	 * dial another IP than the requester's (it pays dial data for that),
	 * and a relay must not be made to knock on its own LAN. */
	p2p_autonat2_service_config cfg2 = {.disable_client = true};
	if (rc == P2P_OK)
		rc = p2p_autonat2_service_new(&app->autonat2, app->host, &cfg2);
	return rc;
}

static void on_punch(const p2p_holepunch_event *ev, void *user)
{
	tunnel_app *app = user;
	if (app->stopping)
		return;
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(ev->peer, id, sizeof id);
	if (ev->ok)
		tunnel_app_say(app,
		               "direct connection to %s through the NATs (hole punch, "
		               "%u attempt(s), relay RTT %llu ms, %llu ms after the "
		               "relayed connection)",
		               id, ev->attempts, (unsigned long long)ev->rtt_ms,
		               (unsigned long long)ev->elapsed_ms);
	else if (ev->initiator)
		/* The side that punches says it once; the other side's view of
		 * the same failure adds nothing. */
		tunnel_app_say(app,
		               "no direct path to %s found (hole punch: %s); staying "
		               "on the relay",
		               id, p2p_strerror(ev->err));
	if (app->on_holepunch)
		app->on_holepunch(app, ev);
}

static void on_identified(p2p_conn *c, const p2p_identify *info, bool push, int err,
                          void *user)
{
	(void)push;
	tunnel_app *app = user;
	if (err != 0 || info == NULL || app->stopping)
		return;
	if (app->autonat != NULL)
		p2p_autonat_service_on_identified(app->autonat, c, info);
	if (app->on_identified != NULL)
		app->on_identified(app, c, info);
}

int tunnel_app_init(tunnel_app *app, uv_loop_t *loop, const tunnel_opts *o,
                    const char *key_path, const tunnel_app_role *role)
{
	memset(app, 0, sizeof *app);
	app->loop = loop;
	app->opts = o;
	app->role = role;
	/* stdout: through output.h's queue if it is a pipe or a socket. */
	app->events = stdout;
	tunnel_output_on_events_full(on_events_full, app);
	app->log.level = o->verbosity < 0    ? P2P_LOG_ERROR
	                 : o->verbosity == 0 ? P2P_LOG_WARN
	                 : o->verbosity == 1 ? P2P_LOG_INFO
	                                     : P2P_LOG_DEBUG;

	char why[P2P_KEYFILE_WHY_MAX] = "";
	int rc = key_path
	             ? p2p_privkey_load_or_create(&app->key, key_path, why, sizeof why)
	             : p2p_privkey_generate(&app->key);
	if (rc < 0) {
		tunnel_emit_error(app->events, "cannot %s the identity key%s%s: %s",
		                  key_path ? "load or create" : "make",
		                  key_path ? " " : "", key_path ? key_path : "",
		                  why[0] ? why : p2p_strerror(rc));
		return TUNNEL_EXIT_FAILURE;
	}
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = app->log;
	cfg.max_streams_per_conn = TUNNEL_MAX_STREAMS_PER_CONN;
	if (o->role == TUNNEL_ROLE_RELAY) {
		/* Each circuit's source holds a connection to us, and each
		 * reserving peer one more: the host's default cap would refuse
		 * circuits long before -max-circuits does. */
		uint64_t want = o->relay_opts.max_reservations +
		                o->relay_opts.max_circuits + TUNNEL_RELAY_SPARE_CONNS;
		if (want > P2P_HOST_MAX_CONNS)
			cfg.max_conns = want > UINT32_MAX ? UINT32_MAX : (uint32_t)want;
		/* Peers on the relay's own machine are its owner's. */
		cfg.exempt_loopback = true;
	}
	rc = p2p_host_new(&app->host, loop, app->key, &cfg);
	if (rc < 0) {
		tunnel_emit_error(app->events, "cannot start the libp2p host: %s",
		                  p2p_strerror(rc));
		p2p_privkey_free(app->key);
		app->key = NULL;
		return TUNNEL_EXIT_FAILURE;
	}
	rc = p2p_identify_service_new(&app->identify, app->host, on_identified, app);
	if (rc == P2P_OK)
		rc = p2p_ping_service_new(&app->ping, app->host);
	if (rc == P2P_OK)
		rc = p2p_relay_add_transport(app->host);
	if (rc == P2P_OK && o->role != TUNNEL_ROLE_RELAY && !o->no_holepunch) {
		p2p_holepunch_config hc = {.on_event = on_punch, .user = app};
		rc = p2p_holepunch_new(&app->holepunch, app->host, app->identify, &hc);
	}
	if (rc == P2P_OK)
		rc = start_autonat(app, o);
	if (rc < 0) {
		tunnel_emit_error(app->events,
		                  "cannot start identify, ping, hole punching and the "
		                  "relay transport: %s",
		                  p2p_strerror(rc));
		p2p_host_close(app->host, on_host_closed, app);
		app->host = NULL;
		uv_run(loop, UV_RUN_DEFAULT);
		p2p_privkey_free(app->key);
		app->key = NULL;
		return TUNNEL_EXIT_FAILURE;
	}
	uv_signal_init(loop, &app->sigint);
	uv_signal_init(loop, &app->sigterm);
	app->sigint.data = app->sigterm.data = app;
	uv_signal_start(&app->sigint, on_signal, SIGINT);
	uv_signal_start(&app->sigterm, on_signal, SIGTERM);
	app->signals_on = true;
	/* No usable stdin (closed) just means no commands. */
	if (tunnel_control_new(&app->control, loop, 0, app->events, on_command, app) < 0)
		app->control = NULL;
	return 0;
}

int tunnel_app_listen(tunnel_app *app, const char *def)
{
	const tunnel_opts *o = app->opts;
	size_t n = o->n_listen;
	const char *const *addrs = o->listen;
	const char *defs[1] = {def};
	if (n == 0 && def) {
		addrs = defs;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		p2p_buf bin;
		p2p_buf_init(&bin);
		int rc = p2p_multiaddr_parse(addrs[i], &bin);
		p2p_buf_free(&bin);
		if (rc < 0) {
			tunnel_emit_error(
			    app->events, "-listen %s is not a valid multiaddr", addrs[i]);
			return TUNNEL_EXIT_USAGE;
		}
		rc = p2p_host_listen(app->host, addrs[i]);
		if (rc == P2P_EUNSUPPORTED) {
			tunnel_emit_error(app->events,
			                  "cannot listen on %s: only /ip4 and /ip6 TCP "
			                  "addresses are supported",
			                  addrs[i]);
			return TUNNEL_EXIT_USAGE;
		}
		if (rc < 0) {
			tunnel_emit_error(app->events,
			                  "cannot listen on %s: %s (is the port in use?)",
			                  addrs[i], p2p_strerror(rc));
			return TUNNEL_EXIT_FAILURE;
		}
	}
	return 0;
}

static void close_signals(tunnel_app *app)
{
	if (!app->signals_on)
		return;
	app->signals_on = false;
	uv_close((uv_handle_t *)&app->sigint, NULL);
	uv_close((uv_handle_t *)&app->sigterm, NULL);
}

void tunnel_app_stop(tunnel_app *app, int exit_code)
{
	if (app->stopping)
		return;
	app->stopping = true;
	app->exit_code = exit_code;
	if (app->role && app->role->on_stop)
		app->role->on_stop(app);
	tunnel_control_close(app->control);
	app->control = NULL;
	close_signals(app);
	if (app->host) {
		p2p_host_close(app->host, on_host_closed, app);
		app->host = NULL;
	}
}

void tunnel_app_free(tunnel_app *app)
{
	p2p_privkey_free(app->key);
	app->key = NULL;
}
