/* Hostile peers against one host (A) on loopback, each attack from its
 * own source IP (127.0.0.2; legitimate clients from 127.0.0.1 or
 * 127.0.0.3), and what must still hold (issue 10, findings 1, 2 and 6):
 *   - silent TCP sockets take no more than their IP's share of the
 *     handshake slots, lose them to a lighter IP when all are taken, and
 *     are closed when they send nothing for the first-byte timeout;
 *   - idle libp2p connections (real handshakes, fresh keys) are capped per
 *     IP, closed after the idle timeout unless protected or busy, and
 *     trimmed, the idlest first, to make room at the connection cap;
 *   - a stream flood is reset past the host-wide budget while another
 *     peer's streams go on and it can still open new ones.
 * In every case a legitimate client gets through within a second. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "srcpipe.h"

#define ECHO_PROTO  "/test/echo/1.0.0"
#define SINK_PROTO  "/test/sink/1.0.0"
#define MAX_PEERS   16
#define MAX_RAW     64
#define MAX_FLOOD   128
#define ATTACKER_IP "127.0.0.2"
#define OTHER_IP    "127.0.0.3"

typedef struct connect_result {
	bool done;
	int err;
} connect_result;

/* A client host with a key of its own. */
typedef struct peer_host {
	p2p_privkey *key;
	p2p_host *h;
	bool closed;
	connect_result r;
} peer_host;

/* A stream kept open on a client, echoing through A. */
typedef struct held {
	p2p_stream *s;
	bool ready, closed;
	int err;
	p2p_buf got;
} held;

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *ka;
	p2p_host *a;
	bool a_closed;
	peer_host peers[MAX_PEERS];
	int n_peers;
	int raw[MAX_RAW];
	int n_raw;
	held flood[MAX_FLOOD];
} fixture;

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

static void spin(fixture *f, int ms)
{
	uvt_run(&f->loop, &(bool){false}, ms);
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* --- A and its handlers --- */

static void echo_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	p2p_stream_write(s, data, len);
	p2p_stream_consume(s, len);
}

static void echo_fin(p2p_stream *s, void *user)
{
	p2p_stream_close_write(s);
}

static const p2p_stream_callbacks echo_cbs = {.on_data = echo_data, .on_fin = echo_fin};

static void echo_handler(p2p_stream *s, const char *protocol, void *user)
{
	p2p_stream_set_callbacks(s, &echo_cbs, NULL);
}

/* Takes a stream and holds it, reading nothing. */
static void sink_handler(p2p_stream *s, const char *protocol, void *user)
{
	static const p2p_stream_callbacks none = {0};
	p2p_stream_set_callbacks(s, &none, NULL);
}

static p2p_host_config base_config(void)
{
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	cfg.dial_timeout_ms = 2000;
	return cfg;
}

static void start_a(fixture *f, const p2p_host_config *cfg)
{
	assert_int_equal(p2p_host_new(&f->a, &f->loop, f->ka, cfg), 0);
	assert_int_equal(p2p_host_set_handler(f->a, ECHO_PROTO, echo_handler, f), 0);
	assert_int_equal(p2p_host_set_handler(f->a, SINK_PROTO, sink_handler, f), 0);
	assert_int_equal(p2p_host_listen(f->a, "/ip4/127.0.0.1/tcp/0"), 0);
}

static const p2p_buf *a_addr(fixture *f)
{
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(f->a, addrs, 1), 1);
	return addrs[0];
}

static size_t a_conns(fixture *f)
{
	return p2p_host_conns(f->a, NULL, 0);
}

static p2p_rcmgr_stats a_stats(fixture *f)
{
	p2p_rcmgr_stats st;
	p2p_host_rcmgr_stats(f->a, &st);
	return st;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	assert_int_equal(p2p_privkey_generate(&f->ka), 0);
	*state = f;
	return 0;
}

static void on_closed(void *user)
{
	*(bool *)user = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	for (int i = 0; i < f->n_raw; i++)
		close(f->raw[i]);
	for (int i = 0; i < MAX_FLOOD; i++)
		p2p_buf_free(&f->flood[i].got);
	for (int i = 0; i < f->n_peers; i++)
		p2p_host_close(f->peers[i].h, on_closed, &f->peers[i].closed);
	if (f->a)
		p2p_host_close(f->a, on_closed, &f->a_closed);
	for (int i = 0; i < f->n_peers; i++) {
		assert_true(uvt_run(&f->loop, &f->peers[i].closed, 5000));
		p2p_privkey_free(f->peers[i].key);
	}
	if (f->a)
		assert_true(uvt_run(&f->loop, &f->a_closed, 5000));
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	p2p_privkey_free(f->ka);
	free(f);
	return 0;
}

/* --- clients --- */

static peer_host *new_peer(fixture *f)
{
	assert_true(f->n_peers < MAX_PEERS);
	peer_host *p = &f->peers[f->n_peers++];
	assert_int_equal(p2p_privkey_generate(&p->key), 0);
	p2p_host_config cfg = base_config();
	assert_int_equal(p2p_host_new(&p->h, &f->loop, p->key, &cfg), 0);
	return p;
}

static void on_connect(p2p_conn *c, int err, void *user)
{
	connect_result *r = user;
	r->done = true;
	r->err = err;
}

typedef struct src_dial {
	fixture *f;
	peer_host *p;
} src_dial;

static void on_src_pipe(p2p_pipe *pipe, int err, void *user)
{
	src_dial *d = user;
	peer_host *p = d->p;
	p2p_host_pipe_opts o = {.initiator = true,
	                        .direction = P2P_DIR_OUTBOUND,
	                        .expected = p2p_host_peer_id(d->f->a)};
	free(d);
	if (err == P2P_OK)
		err = p2p_host_upgrade_pipe(p->h, pipe, &o, on_connect, &p->r);
	if (err < 0)
		on_connect(NULL, err, &p->r);
}

/* Connects p to A from src (an address of 127/8), or with an ordinary
 * dial (from 127.0.0.1) if src is NULL, and waits for the result. */
static int connect_from(fixture *f, peer_host *p, const char *src)
{
	memset(&p->r, 0, sizeof(p->r));
	if (src == NULL) {
		assert_int_equal(p2p_host_connect(p->h, p2p_host_peer_id(f->a), a_addr(f),
		                                  1, on_connect, &p->r),
		                 0);
	} else {
		src_dial *d = calloc(1, sizeof(*d));
		*d = (src_dial){f, p};
		assert_int_equal(src_pipe_dial(&f->loop, src, a_addr(f), on_src_pipe, d),
		                 0);
	}
	assert_true(uvt_run(&f->loop, &p->r.done, 5000));
	spin(f, 20); /* A's side of it settles */
	return p->r.err;
}

static bool a_has(fixture *f, const peer_host *p)
{
	return p2p_host_conn(f->a, p2p_host_peer_id(p->h)) != NULL;
}

/* A legitimate client: connects and echoes within a second. */
static void legit_gets_through(fixture *f, const char *src)
{
	peer_host *p = new_peer(f);
	uint64_t t0 = now_ms();
	assert_int_equal(connect_from(f, p, src), 0);
	assert_true(a_has(f, p));
	assert_true(now_ms() - t0 < 1000);
}

/* --- raw sockets --- */

/* A TCP connection to A from src that sends nothing (a blocking connect
 * completes in the kernel, before A accepts). */
static int raw_connect(fixture *f, const char *src)
{
	assert_true(f->n_raw < MAX_RAW);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in from = {.sin_family = AF_INET};
	inet_pton(AF_INET, src, &from.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	struct sockaddr_storage to;
	socklen_t to_len;
	const p2p_buf *addr = a_addr(f);
	assert_int_equal(p2p_multiaddr_to_sockaddr(addr->data, addr->len, &to, &to_len),
	                 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, to_len), 0);
	f->raw[f->n_raw++] = fd;
	return fd;
}

/* A closed the connection (EOF or reset). */
static bool raw_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int raw_count_closed(fixture *f)
{
	int n = 0;
	for (int i = 0; i < f->n_raw; i++)
		n += raw_closed(f->raw[i]);
	return n;
}

/* (1) 40 silent sockets from one IP hold 4 slots; the rest are refused at
 * once and a client from elsewhere connects. */
static void test_silent_sockets(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg = base_config();
	start_a(f, &cfg);
	for (int i = 0; i < 40; i++)
		raw_connect(f, ATTACKER_IP);
	spin(f, 300);
	p2p_rcmgr_stats st = a_stats(f);
	assert_int_equal(st.pending, P2P_HOST_MAX_PENDING_PER_IP);
	assert_int_equal(st.count[P2P_RCMGR_PENDING_IP],
	                 40 - P2P_HOST_MAX_PENDING_PER_IP);
	assert_int_equal(raw_count_closed(f), 40 - P2P_HOST_MAX_PENDING_PER_IP);
	legit_gets_through(f, NULL);
	legit_gets_through(f, OTHER_IP);
}

/* (1) When every slot is taken, a newcomer from a lighter IP evicts the
 * oldest handshake of the heaviest. */
static void test_pending_eviction(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg = base_config();
	cfg.max_pending_inbound = 4;
	cfg.max_pending_per_ip = 4;
	start_a(f, &cfg);
	int first = raw_connect(f, ATTACKER_IP);
	spin(f, 20);
	for (int i = 0; i < 3; i++)
		raw_connect(f, ATTACKER_IP);
	spin(f, 100);
	assert_int_equal(a_stats(f).pending, 4);
	assert_int_equal(raw_count_closed(f), 0);
	legit_gets_through(f, NULL);
	p2p_rcmgr_stats st = a_stats(f);
	assert_int_equal(st.count[P2P_RCMGR_EVICTED], 1);
	assert_int_equal(st.pending, 3);
	assert_true(raw_closed(first));
	assert_int_equal(raw_count_closed(f), 1);
	/* The attacker, now at 3 of 4 slots, cannot evict anyone. */
	raw_connect(f, ATTACKER_IP);
	spin(f, 100);
	assert_int_equal(a_stats(f).count[P2P_RCMGR_EVICTED], 1);
	assert_int_equal(a_stats(f).pending, 4);
}

/* (1) A socket that sends nothing goes after the first-byte timeout; one
 * that has begun its handshake stays. */
static void test_first_byte_timeout(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg = base_config();
	cfg.first_byte_timeout_ms = 300;
	start_a(f, &cfg);
	for (int i = 0; i < 4; i++)
		raw_connect(f, ATTACKER_IP);
	int talker = raw_connect(f, OTHER_IP);
	assert_int_equal(send(talker, "/", 1, 0), 1);
	spin(f, 150);
	assert_int_equal(raw_count_closed(f), 0);
	spin(f, 500);
	p2p_rcmgr_stats st = a_stats(f);
	assert_int_equal(st.count[P2P_RCMGR_FIRST_BYTE], 4);
	assert_int_equal(st.pending, 1);
	assert_int_equal(raw_count_closed(f), 4);
	assert_false(raw_closed(talker));
	legit_gets_through(f, ATTACKER_IP);
}

/* (2) Idle libp2p connections: at most 8 from one IP; a client from
 * another IP gets in; after the idle timeout only the protected one and
 * the one with a stream open are left. */
static void held_selected(p2p_stream *s, int err, void *user)
{
	held *k = user;
	k->ready = true;
	k->err = err;
	k->s = s;
}

static void test_idle_connections(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg = base_config();
	cfg.idle_timeout_ms = 1000;
	start_a(f, &cfg);
	peer_host *attackers[10];
	for (int i = 0; i < 10; i++) {
		attackers[i] = new_peer(f);
		connect_from(f, attackers[i], ATTACKER_IP);
	}
	assert_int_equal(a_conns(f), P2P_HOST_MAX_CONNS_PER_IP);
	p2p_rcmgr_stats st = a_stats(f);
	assert_int_equal(st.count[P2P_RCMGR_CONNS_IP], 10 - P2P_HOST_MAX_CONNS_PER_IP);
	assert_int_equal(p2p_host_protect(f->a, p2p_host_peer_id(attackers[0]->h), true),
	                 0);
	assert_true(p2p_host_is_protected(f->a, p2p_host_peer_id(attackers[0]->h)));

	peer_host *legit = new_peer(f);
	assert_int_equal(connect_from(f, legit, OTHER_IP), 0);
	assert_true(a_has(f, legit));
	held k = {0};
	const char *protos[] = {SINK_PROTO};
	assert_int_equal(p2p_host_new_stream(legit->h, p2p_host_peer_id(f->a), protos, 1,
	                                     held_selected, &k),
	                 0);
	assert_true(uvt_run(&f->loop, &k.ready, 2000));
	assert_int_equal(k.err, 0);

	spin(f, 1600);
	assert_int_equal(a_conns(f), 2);
	assert_true(a_has(f, attackers[0]));
	assert_true(a_has(f, legit));
	assert_int_equal(a_stats(f).count[P2P_RCMGR_IDLE], P2P_HOST_MAX_CONNS_PER_IP - 1);
	/* The IP's share is free again. */
	legit_gets_through(f, ATTACKER_IP);
	p2p_stream_reset(k.s);
}

/* (2) At the connection cap a newcomer replaces the idlest unprotected
 * connection, once that has been idle past the grace period. */
static void test_trim_at_cap(void **state)
{
	fixture *f = *state;
	p2p_host_config cfg = base_config();
	cfg.max_conns = 4;
	cfg.trim_grace_ms = 300;
	cfg.idle_timeout_ms = 0; /* never */
	start_a(f, &cfg);
	peer_host *p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = new_peer(f);
		assert_int_equal(connect_from(f, p[i], NULL), 0);
		spin(f, 20); /* each idle a little longer than the next */
	}
	assert_int_equal(a_conns(f), 4);
	assert_int_equal(p2p_host_protect(f->a, p2p_host_peer_id(p[0]->h), true), 0);
	/* Within the grace period nobody is trimmed: refused. */
	peer_host *early = new_peer(f);
	connect_from(f, early, NULL);
	assert_false(a_has(f, early));
	assert_true(a_stats(f).count[P2P_RCMGR_CONNS_SYSTEM] >= 1);
	assert_int_equal(a_stats(f).count[P2P_RCMGR_TRIMMED], 0);
	/* Past it, the oldest unprotected one (p[1]) makes room. */
	spin(f, 400);
	legit_gets_through(f, NULL);
	spin(f, 50);
	assert_int_equal(a_stats(f).count[P2P_RCMGR_TRIMMED], 1);
	assert_int_equal(a_conns(f), 4);
	assert_true(a_has(f, p[0]));
	assert_false(a_has(f, p[1]));
	assert_true(a_has(f, p[2]));
}

/* (6) A stream flood is reset past the host-wide budget; another peer's
 * open stream goes on, and it still opens new ones (its floor), and more
 * once the flood has gone. */
typedef struct flood {
	int ok, failed;
} flood;

static flood *flood_of;

static void flood_opened(p2p_stream *s, int err, void *user)
{
	held *k = user;
	k->ready = true;
	k->err = err;
	k->s = s;
	if (err == 0)
		flood_of->ok++;
	else
		flood_of->failed++;
}

static void held_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	held *k = user;
	p2p_buf_append(&k->got, data, len);
	p2p_stream_consume(s, len);
}

static void held_close(p2p_stream *s, void *user)
{
	((held *)user)->closed = true;
}

static const p2p_stream_callbacks held_cbs = {.on_data = held_data,
                                              .on_close = held_close};

static int open_one(fixture *f, peer_host *p, const char *proto, held *k)
{
	memset(k, 0, sizeof(*k));
	const char *protos[] = {proto};
	assert_int_equal(p2p_host_new_stream(p->h, p2p_host_peer_id(f->a), protos, 1,
	                                     held_selected, k),
	                 0);
	assert_true(uvt_run(&f->loop, &k->ready, 2000));
	if (k->err == 0)
		p2p_stream_set_callbacks(k->s, &held_cbs, k);
	return k->err;
}

static void expect_echo(fixture *f, held *k)
{
	p2p_buf_reset(&k->got);
	assert_int_equal(p2p_stream_write(k->s, (const uint8_t *)"hello", 5), 1);
	for (int i = 0; i < 100 && k->got.len < 5; i++)
		spin(f, 10);
	assert_int_equal(k->got.len, 5);
	assert_memory_equal(k->got.data, "hello", 5);
}

static void test_stream_flood(void **state)
{
	fixture *f = *state;
	enum { BUDGET = 64, FLOOR = 4, FLOOD = 100 };
	p2p_host_config cfg = base_config();
	cfg.max_streams = BUDGET;
	cfg.streams_floor_per_peer = FLOOR;
	start_a(f, &cfg);
	peer_host *legit = new_peer(f), *attacker = new_peer(f);
	assert_int_equal(connect_from(f, legit, NULL), 0);
	/* Static: a failed assertion leaves them to callbacks after return. */
	static held mine[FLOOR + 2];
	assert_int_equal(open_one(f, legit, ECHO_PROTO, &mine[0]), 0);
	expect_echo(f, &mine[0]);

	assert_int_equal(connect_from(f, attacker, ATTACKER_IP), 0);
	flood fl = {0};
	flood_of = &fl;
	const char *protos[] = {SINK_PROTO};
	for (int i = 0; i < FLOOD; i++)
		assert_int_equal(p2p_host_new_stream(attacker->h, p2p_host_peer_id(f->a),
		                                     protos, 1, flood_opened,
		                                     &f->flood[i]),
		                 0);
	for (int i = 0; i < 300 && fl.ok + fl.failed < FLOOD; i++)
		spin(f, 10);
	assert_int_equal(fl.ok + fl.failed, FLOOD);
	assert_int_equal(fl.ok, BUDGET - 1); /* the legit stream holds one */
	p2p_rcmgr_stats st = a_stats(f);
	assert_int_equal(st.count[P2P_RCMGR_STREAMS_SYSTEM], FLOOD - (BUDGET - 1));
	assert_int_equal(st.streams, BUDGET);

	/* The other peer's stream still works, and its floor gets it in. */
	expect_echo(f, &mine[0]);
	for (int i = 1; i < FLOOR; i++)
		assert_int_equal(open_one(f, legit, ECHO_PROTO, &mine[i]), 0);
	assert_int_not_equal(open_one(f, legit, ECHO_PROTO, &mine[FLOOR]), 0);
	expect_echo(f, &mine[FLOOR - 1]);

	/* The flood goes: its budget is free again. */
	for (int i = 0; i < FLOOD; i++)
		if (f->flood[i].err == 0 && f->flood[i].s)
			p2p_stream_reset(f->flood[i].s);
	spin(f, 100);
	assert_int_equal(open_one(f, legit, ECHO_PROTO, &mine[FLOOR + 1]), 0);
	expect_echo(f, &mine[FLOOR + 1]);
	for (int i = 0; i < FLOOR + 2; i++)
		if (i != FLOOR)
			p2p_stream_reset(mine[i].s);
	for (int i = 0; i < FLOOR + 2; i++) {
		/* on_close comes from the loop, while mine[] is still here. */
		for (int j = 0; j < 100 && i != FLOOR && !mine[i].closed; j++)
			spin(f, 10);
		assert_true(i == FLOOR || mine[i].closed);
		p2p_buf_free(&mine[i].got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_silent_sockets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_eviction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_byte_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trim_at_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_flood, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
