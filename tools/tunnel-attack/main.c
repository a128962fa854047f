/* tunnel-attack: a hostile tunnel client for the end-to-end tests and
 * bench/attacks.sh. It connects once to the host named by a token and
 * opens many /mtunnel/2.0.0 streams on that one connection, each of which
 * sends nothing (-mode silent), a header with a wrong secret (bad-secret)
 * or the token's own header (secret), and then holds the stream open: it
 * never closes or resets a stream itself, as an attacker would not.
 *
 * -mode ping-flood is another attack (pingflood.h): -conns N connections
 * (default 8) to the token's first TCP address, from the -from addresses
 * in turn (repeatable), each flooding yamux pings and reading nothing.
 * It prints CONNECTED once the first one floods, then every second (and
 * on exit) {"action":"FLOODING",...} with the counts of pingflood.h.
 *
 * It prints JSON lines on stdout, shaped as the tunnel's events:
 *   {"action":"CONNECTED","peer_id":...}
 *   {"action":"SETTLED",...counts...} once every stream opened (or failed
 *       to) and nothing changed for a moment
 *   {"action":"ALL_CLOSED",...} when the host has ended every
 *       stream it let open (after settled)
 * with the counts: streams opened, failed to open, answered (with the
 * first answer's status and reason, and how many distinct answers came),
 * reset without an answer, and still live. -window N keeps at most N
 * streams waiting for the host's answer (or reset) at a time, so that
 * a refused stream must free its slot for the next one to get a hearing;
 * without it all streams open at once. -hold SEC exits after SEC
 * seconds; otherwise it runs until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "pingflood.h"
#include "tunnel/header.h"
#include "tunnel/token.h"

#define ATTACK_MAX_STREAMS 4096 /* the host's streams per connection */
#define ATTACK_SETTLE_MS   500  /* quiet this long after the last stream: settled */
#define ATTACK_TICK_MS     50
#define ATTACK_FLOOD_CONNS 8    /* -mode ping-flood without -conns */
#define ATTACK_REPORT_MS   1000 /* FLOODING every this often */

static const char usage[] =
    "usage: tunnel-attack -token TOKEN [-mode silent|bad-secret|secret]\n"
    "                     [-streams N] [-window N] [-key FILE] [-hold SECONDS]\n"
    "       tunnel-attack -token TOKEN -mode ping-flood [-conns N] [-from IP]...\n"
    "                     [-hold SECONDS]\n"
    "       tunnel-attack -key FILE -id   (prints the key's peer ID)\n";

typedef enum mode { MODE_SILENT, MODE_BAD_SECRET, MODE_SECRET, MODE_PING_FLOOD } mode;

typedef struct attack attack;

typedef struct one_stream {
	attack *a;
	tunnel_header_reader header;
	bool answered;
} one_stream;

struct attack {
	uv_loop_t loop;
	p2p_privkey *key;
	p2p_host *host;
	tunnel_token token;
	mode mode;
	unsigned long streams;
	unsigned long window; /* 0: no limit */
	unsigned long hold_s;
	/* -mode ping-flood */
	unsigned long conns;
	struct sockaddr_storage from[PING_FLOOD_MAX_FROM];
	size_t n_from;
	ping_flood *flood;
	bool flood_seen;      /* CONNECTED printed */
	uint64_t reported_at; /* the last FLOODING */
	uv_signal_t sigint, sigterm;
	uv_timer_t tick, hold;
	bool handles_open, closing;
	int exit_code;

	/* counts */
	unsigned long requested, opened, open_failed, answered, reset_unanswered, live;
	int first_status;
	char first_reason[TUNNEL_REASON_MAX + 1];
	unsigned long distinct_answers;
	uint64_t last_change, settled_at;
	bool settled, all_closed;
};

static void on_handle_closed(uv_handle_t *h)
{
}

static void print_flood(attack *a)
{
	ping_flood_counts n;
	ping_flood_counts_get(a->flood, &n);
	printf("{\"action\":\"FLOODING\",\"conns\":%lu,\"flooding\":%lu,"
	       "\"handshakes\":%lu,\"failed\":%lu,\"closed\":%lu,\"pings\":%llu,"
	       "\"bytes\":%llu}\n",
	       n.conns, n.flooding, n.handshakes, n.failed, n.closed,
	       (unsigned long long)n.pings, (unsigned long long)n.bytes);
	fflush(stdout);
}

static void on_host_closed(void *user)
{
	((attack *)user)->host = NULL;
}

static void finish(attack *a, int code)
{
	if (a->closing)
		return;
	a->closing = true;
	a->exit_code = code;
	if (a->handles_open) {
		uv_close((uv_handle_t *)&a->sigint, on_handle_closed);
		uv_close((uv_handle_t *)&a->sigterm, on_handle_closed);
		uv_close((uv_handle_t *)&a->tick, on_handle_closed);
		uv_close((uv_handle_t *)&a->hold, on_handle_closed);
		a->handles_open = false;
	}
	if (a->flood) {
		print_flood(a);
		ping_flood_stop(a->flood);
		a->flood = NULL;
	}
	if (a->host)
		p2p_host_close(a->host, on_host_closed, a);
}

/* A JSON string member; the reason has no control characters (header.h)
 * but may hold quotes. */
static void print_str(const char *key, const char *v)
{
	printf(",\"%s\":\"", key);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			putchar('\\');
		putchar(*v);
	}
	putchar('"');
}

static void print_counts(attack *a, const char *event)
{
	printf("{\"action\":\"%s\",\"requested\":%lu,\"opened\":%lu,\"open_failed\":%lu,"
	       "\"answered\":%lu,\"reset_unanswered\":%lu,\"live\":%lu,"
	       "\"distinct_answers\":%lu,\"status\":%d",
	       event, a->requested, a->opened, a->open_failed, a->answered,
	       a->reset_unanswered, a->live, a->distinct_answers, a->first_status);
	print_str("reason", a->first_reason);
	printf(",\"ms\":%llu}\n",
	       (unsigned long long)(a->settled ? uv_now(&a->loop) - a->settled_at : 0));
	fflush(stdout);
}

static void open_more(attack *a);

/* Something happened; with -window, a stream that got its answer (or
 * reset) makes room for the next. */
static void changed(attack *a)
{
	a->last_change = uv_now(&a->loop);
	if (a->window && !a->closing)
		open_more(a);
}

/* --- one stream --- */

static void on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	one_stream *o = user;
	attack *a = o->a;
	p2p_stream_consume(s, len);
	if (o->answered)
		return;
	tunnel_response resp;
	size_t used = 0;
	if (tunnel_response_read(&o->header, data, len, &used, &resp, NULL) != P2P_OK)
		return; /* incomplete or malformed: counted as unanswered */
	o->answered = true;
	a->answered++;
	if (a->distinct_answers == 0) {
		a->first_status = (int)resp.status;
		snprintf(a->first_reason, sizeof a->first_reason, "%s", resp.reason);
		a->distinct_answers = 1;
	} else if (a->distinct_answers == 1 &&
	           ((int)resp.status != a->first_status ||
	            strcmp(resp.reason, a->first_reason) != 0)) {
		a->distinct_answers = 2; /* "more than one" is all the tests ask */
	}
	changed(a);
}

static void on_reset(p2p_stream *s, int err, void *user)
{
	one_stream *o = user;
	if (!o->answered)
		o->a->reset_unanswered++;
	changed(o->a);
}

static void on_close(p2p_stream *s, void *user)
{
	one_stream *o = user;
	o->a->live--;
	changed(o->a);
	tunnel_header_reader_close(&o->header);
	free(o);
}

static const p2p_stream_callbacks stream_cb = {
    .on_data = on_data,
    .on_reset = on_reset,
    .on_close = on_close,
};

static void send_header(attack *a, p2p_stream *s)
{
	if (a->mode == MODE_SILENT)
		return;
	uint8_t secret[TUNNEL_SECRET_LEN];
	memcpy(secret, a->token.secret, sizeof secret);
	if (a->mode == MODE_BAD_SECRET)
		secret[0] ^= 0x5a; /* wrong in one byte: the check is constant time */
	p2p_buf req;
	p2p_buf_init(&req);
	if (tunnel_request_encode(secret, a->token.network, &req) == P2P_OK)
		p2p_stream_write(s, req.data, req.len);
	p2p_buf_free(&req);
}

static void on_stream(p2p_stream *s, int err, void *user)
{
	attack *a = user;
	changed(a);
	if (err < 0 || a->closing) {
		a->open_failed++;
		if (s)
			p2p_stream_reset(s);
		return;
	}
	one_stream *o = calloc(1, sizeof *o);
	if (!o) {
		a->open_failed++;
		p2p_stream_reset(s);
		return;
	}
	o->a = a;
	tunnel_header_reader_init(&o->header);
	a->opened++;
	a->live++;
	p2p_stream_set_callbacks(s, &stream_cb, o);
	send_header(a, s);
}

/* --- the run --- */

static void open_more(attack *a)
{
	/* All on the one connection: new_stream reuses the open one. */
	static const char *const protos[] = {TUNNEL_PROTOCOL};
	while (a->requested < a->streams) {
		unsigned long heard = a->answered + a->reset_unanswered + a->open_failed;
		if (a->window && a->requested - heard >= a->window)
			return;
		a->requested++;
		if (p2p_host_new_stream(a->host, &a->token.peer, protos, 1, on_stream,
		                        a) < 0)
			a->open_failed++;
	}
}

/* CONNECTED once a connection has reached the flooding state (what the
 * bench waits for; counted by handshakes, since the host's ping budget
 * may close it before the next tick sees it flooding), then the counts
 * every ATTACK_REPORT_MS. */
static void on_flood_tick(attack *a, uint64_t now)
{
	ping_flood_counts n;
	ping_flood_counts_get(a->flood, &n);
	if (!a->flood_seen && n.handshakes > 0) {
		a->flood_seen = true;
		char id[P2P_PEERID_STR_MAX];
		p2p_peerid_to_string(&a->token.peer, id, sizeof id);
		printf("{\"action\":\"CONNECTED\",\"peer_id\":\"%s\"}\n", id);
		fflush(stdout);
	}
	if (now - a->reported_at >= ATTACK_REPORT_MS) {
		a->reported_at = now;
		print_flood(a);
	}
}

static void on_tick(uv_timer_t *t)
{
	attack *a = t->data;
	uint64_t now = uv_now(&a->loop);
	if (a->flood) {
		on_flood_tick(a, now);
		return;
	}
	bool all_back =
	    a->requested == a->streams && a->opened + a->open_failed == a->requested;
	if (!a->settled && all_back && now - a->last_change >= ATTACK_SETTLE_MS) {
		a->settled = true;
		a->settled_at = now;
		print_counts(a, "SETTLED");
	}
	if (a->settled && !a->all_closed && a->live == 0) {
		a->all_closed = true;
		print_counts(a, "ALL_CLOSED");
	}
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	attack *a = user;
	if (err < 0) {
		fprintf(stderr, "tunnel-attack: connect: %s\n", p2p_strerror(err));
		finish(a, 1);
		return;
	}
	char id[P2P_PEERID_STR_MAX];
	p2p_peerid_to_string(p2p_host_peer_id(a->host), id, sizeof id);
	printf("{\"action\":\"CONNECTED\",\"peer_id\":\"%s\"}\n", id);
	fflush(stdout);
	open_more(a);
	changed(a);
	uv_timer_start(&a->tick, on_tick, ATTACK_TICK_MS, ATTACK_TICK_MS);
}

static void on_signal(uv_signal_t *s, int signum)
{
	finish(s->data, 0);
}

static void on_hold(uv_timer_t *t)
{
	finish(t->data, 0);
}

static int parse_args(attack *a, int argc, char **argv, const char **token,
                      const char **key, bool *id_only)
{
	a->streams = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "-id") == 0) {
			*id_only = true;
			continue;
		}
		if (!val)
			return -1;
		i++;
		char *end = NULL;
		if (strcmp(arg, "-token") == 0) {
			*token = val;
		} else if (strcmp(arg, "-key") == 0) {
			*key = val;
		} else if (strcmp(arg, "-mode") == 0) {
			if (strcmp(val, "silent") == 0)
				a->mode = MODE_SILENT;
			else if (strcmp(val, "bad-secret") == 0)
				a->mode = MODE_BAD_SECRET;
			else if (strcmp(val, "secret") == 0)
				a->mode = MODE_SECRET;
			else if (strcmp(val, "ping-flood") == 0)
				a->mode = MODE_PING_FLOOD;
			else
				return -1;
		} else if (strcmp(arg, "-conns") == 0) {
			a->conns = strtoul(val, &end, 10);
			if (*end || a->conns == 0 || a->conns > PING_FLOOD_MAX_CONNS)
				return -1;
		} else if (strcmp(arg, "-from") == 0) {
			struct sockaddr_storage *ss = &a->from[a->n_from];
			if (a->n_from == PING_FLOOD_MAX_FROM ||
			    (uv_ip4_addr(val, 0, (struct sockaddr_in *)ss) < 0 &&
			     uv_ip6_addr(val, 0, (struct sockaddr_in6 *)ss) < 0))
				return -1;
			a->n_from++;
		} else if (strcmp(arg, "-streams") == 0) {
			a->streams = strtoul(val, &end, 10);
			if (*end || a->streams == 0 || a->streams > ATTACK_MAX_STREAMS)
				return -1;
		} else if (strcmp(arg, "-window") == 0) {
			a->window = strtoul(val, &end, 10);
			if (*end)
				return -1;
		} else if (strcmp(arg, "-hold") == 0) {
			a->hold_s = strtoul(val, &end, 10);
			if (*end)
				return -1;
		} else {
			return -1;
		}
	}
	return *id_only ? (*key ? 0 : -1) : (*token ? 0 : -1);
}

static void start_handles(attack *a)
{
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sigterm);
	uv_timer_init(&a->loop, &a->tick);
	uv_timer_init(&a->loop, &a->hold);
	a->sigint.data = a->sigterm.data = a->tick.data = a->hold.data = a;
	a->handles_open = true;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	if (a->hold_s)
		uv_timer_start(&a->hold, on_hold, a->hold_s * 1000, 0);
}

/* -mode ping-flood: raw connections to the token's first TCP address. */
static int setup_flood(attack *a)
{
	struct sockaddr_storage target;
	socklen_t len = sizeof target;
	size_t i = 0;
	while (i < a->token.n_addrs &&
	       p2p_multiaddr_to_sockaddr(a->token.addrs[i].bytes, a->token.addrs[i].len,
	                                 &target, &len) < 0)
		i++;
	if (i == a->token.n_addrs) {
		fprintf(stderr, "tunnel-attack: the token has no TCP address\n");
		return -1;
	}
	start_handles(a);
	if (ping_flood_start(&a->flood, &a->loop, &a->token.peer,
	                     (const struct sockaddr *)&target, a->from, a->n_from,
	                     a->conns ? a->conns : ATTACK_FLOOD_CONNS) < 0) {
		fprintf(stderr, "tunnel-attack: cannot start the flood\n");
		return -1;
	}
	a->reported_at = uv_now(&a->loop);
	uv_timer_start(&a->tick, on_tick, ATTACK_TICK_MS, ATTACK_TICK_MS);
	return 0;
}

static int setup(attack *a, const char *token_text)
{
	const char *why = NULL;
	if (tunnel_token_decode(&a->token, token_text, strlen(token_text), &why) < 0 ||
	    !a->token.has_secret) {
		fprintf(stderr, "tunnel-attack: bad token: %s\n",
		        why ? why : "no secret");
		return -1;
	}
	if (a->mode == MODE_PING_FLOOD)
		return setup_flood(a);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.max_streams_per_conn = ATTACK_MAX_STREAMS;
	if (p2p_host_new(&a->host, &a->loop, a->key, &cfg) < 0)
		return -1;
	p2p_peerstore *ps = p2p_host_peerstore(a->host);
	for (size_t i = 0; i < a->token.n_addrs; i++)
		p2p_peerstore_add_addr(ps, &a->token.peer, a->token.addrs[i].bytes,
		                       a->token.addrs[i].len, P2P_ADDR_MANUAL);
	start_handles(a);
	if (p2p_host_connect(a->host, &a->token.peer, NULL, 0, on_connected, a) < 0) {
		fprintf(stderr, "tunnel-attack: nothing to connect to\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	static attack a;
	const char *token = NULL, *key = NULL;
	bool id_only = false;
	if (parse_args(&a, argc, argv, &token, &key, &id_only) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	char why[P2P_KEYFILE_WHY_MAX] = "";
	int rc = key ? p2p_privkey_load_or_create(&a.key, key, why, sizeof why)
	             : p2p_privkey_generate(&a.key);
	if (rc < 0) {
		fprintf(stderr, "tunnel-attack: key: %s\n",
		        why[0] ? why : p2p_strerror(rc));
		return 1;
	}
	if (id_only) {
		p2p_peerid id;
		char text[P2P_PEERID_STR_MAX];
		if (p2p_peerid_from_pubkey(&id, p2p_privkey_public(a.key)) < 0) {
			p2p_privkey_free(a.key);
			return 1;
		}
		p2p_peerid_to_string(&id, text, sizeof text);
		puts(text);
		p2p_privkey_free(a.key);
		return 0;
	}
	if (uv_loop_init(&a.loop) != 0)
		return 1;
	if (setup(&a, token) < 0)
		finish(&a, 1);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	uv_loop_close(&a.loop);
	p2p_privkey_free(a.key);
	return a.exit_code;
}
