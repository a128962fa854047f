/* Hole punching (holepunch.h) on three hosts in one process over loopback
 * TCP: relay r (a relay service), a (reserved on r) and b (reaches a
 * through the circuit). a, the relayed connection's inbound side, opens
 * DCUtR; both dial each other's listening ports at once. On loopback the
 * first SYN lands on the other's listener rather than crossing a SYN in
 * flight: that is the LAN case, and it must come out with the roles
 * DCUtR gives all the same. Then: the relayed connection is retired once
 * idle; a peer without DCUtR gives one failure and nothing left behind.
 * Every test ends with the hosts closed and the loop empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../transport/uvtest.h"
#include "p2p/error.h"
#include "p2p/holepunch.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/relay.h"

#define N_HOSTS 3

typedef struct side {
	p2p_holepunch *hp;
	int events;
	p2p_holepunch_event last;
	bool last_conn_relayed;
} side;

typedef struct fixture {
	uv_loop_t loop;
	p2p_privkey *key[N_HOSTS];
	p2p_host *r, *a, *b;
	p2p_identify_service *id[N_HOSTS];
	bool closed[N_HOSTS];
	p2p_relay_service *svc;
	p2p_relay_client *rc;
	side sa, sb;
	bool reserved;
	bool dialed;
	int dial_err;
} fixture;

/* HOLEPUNCH_DEBUG=1 shows the hosts' logs. */
static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	if (getenv("HOLEPUNCH_DEBUG"))
		fprintf(stderr, "[%s] %s\n", (const char *)user, msg);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	p2p_host_config cfg;
	p2p_host_config_init(&cfg);
	cfg.log = (p2p_logger){.level = P2P_LOG_DEBUG, .fn = quiet};
	p2p_host **hosts[N_HOSTS] = {&f->r, &f->a, &f->b};
	static const char *const names[N_HOSTS] = {"r", "a", "b"};
	for (int i = 0; i < N_HOSTS; i++) {
		cfg.log.user = (void *)names[i];
		assert_int_equal(p2p_privkey_generate(&f->key[i]), 0);
		assert_int_equal(p2p_host_new(hosts[i], &f->loop, f->key[i], &cfg), 0);
		assert_int_equal(p2p_host_listen(*hosts[i], "/ip4/127.0.0.1/tcp/0"), 0);
		assert_int_equal(
		    p2p_identify_service_new(&f->id[i], *hosts[i], NULL, NULL), 0);
	}
	p2p_relay_service_config rcfg;
	p2p_relay_service_config_init(&rcfg);
	assert_int_equal(p2p_relay_service_new(&f->svc, f->r, &rcfg), 0);
	assert_int_equal(p2p_relay_client_new(&f->rc, f->a), 0);
	assert_int_equal(p2p_relay_add_transport(f->b), 0);
	*state = f;
	return 0;
}

static void on_host_closed(void *user)
{
	*(bool *)user = true;
}

static int teardown(void **state)
{
	fixture *f = *state;
	p2p_host *hosts[N_HOSTS] = {f->r, f->a, f->b};
	for (int i = 0; i < N_HOSTS; i++)
		p2p_host_close(hosts[i], on_host_closed, &f->closed[i]);
	for (int i = 0; i < N_HOSTS; i++)
		assert_true(uvt_run(&f->loop, &f->closed[i], 5000));
	p2p_holepunch_free(f->sa.hp);
	p2p_holepunch_free(f->sb.hp);
	for (int i = 0; i < N_HOSTS; i++)
		p2p_identify_service_free(f->id[i]);
	p2p_relay_client_free(f->rc);
	p2p_relay_service_free(f->svc);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < N_HOSTS; i++)
		p2p_privkey_free(f->key[i]);
	free(f);
	return 0;
}

static void on_punch(const p2p_holepunch_event *ev, void *user)
{
	side *s = user;
	s->events++;
	s->last = *ev;
	s->last.peer = NULL; /* valid during the call only */
	s->last_conn_relayed = ev->conn != NULL && p2p_conn_is_relayed(ev->conn);
	s->last.conn = NULL;
}

static void punch_on(fixture *f, side *s, p2p_host *h, p2p_identify_service *id,
                     uint64_t grace_ms)
{
	p2p_holepunch_config cfg = {
	    .on_event = on_punch,
	    .user = s,
	    .relayed_grace_ms = grace_ms,
	};
	assert_int_equal(p2p_holepunch_new(&s->hp, h, id, &cfg), 0);
	(void)f;
}

static void on_reserved(int err, int status, const p2p_relay_reservation *res, void *user)
{
	(void)status;
	(void)res;
	fixture *f = user;
	assert_int_equal(err, 0);
	f->reserved = true;
}

static void on_dialed(p2p_conn *c, int err, void *user)
{
	(void)c;
	fixture *f = user;
	f->dialed = true;
	f->dial_err = err;
}

/* a reserves on r, then b dials a through r: a relayed connection, a
 * inbound. */
static void relay_in(fixture *f)
{
	const p2p_buf *ra[1];
	assert_int_equal(p2p_host_addrs(f->r, ra, 1), 1);
	assert_int_equal(p2p_relay_client_reserve(f->rc, p2p_host_peer_id(f->r), ra[0], 1,
	                                          on_reserved, f),
	                 0);
	assert_true(uvt_run(&f->loop, &f->reserved, 5000));
	p2p_buf circ;
	p2p_buf_init(&circ);
	assert_int_equal(p2p_relay_circuit_addr(ra[0]->data, ra[0]->len,
	                                        p2p_host_peer_id(f->r), &circ),
	                 0);
	const p2p_peerid *aid = p2p_host_peer_id(f->a);
	assert_int_equal(p2p_multiaddr_append_peer_id(&circ, aid->bytes, aid->len), 0);
	assert_int_equal(p2p_host_connect(f->b, aid, &circ, 1, on_dialed, f), 0);
	p2p_buf_free(&circ);
	assert_true(uvt_run(&f->loop, &f->dialed, 10000));
	assert_int_equal(f->dial_err, 0);
}

static bool wait_events(fixture *f, const side *s, int n, uint64_t ms)
{
	uint64_t end = uv_now(&f->loop) + ms;
	while (s->events < n && uv_now(&f->loop) < end)
		uvt_run(&f->loop, &(bool){false}, 10);
	return s->events >= n;
}

static size_t conns_to(p2p_host *h, const p2p_peerid *peer, size_t *relayed)
{
	p2p_conn *all[16];
	size_t n = p2p_host_conns(h, all, 16), count = 0;
	*relayed = 0;
	for (size_t i = 0; i < n && i < 16; i++) {
		if (!p2p_peerid_equal(p2p_conn_remote_peer(all[i]), peer))
			continue;
		count++;
		*relayed += p2p_conn_is_relayed(all[i]);
	}
	return count;
}

/* The punch: both sides report a direct connection; new streams go there;
 * the relayed one closes once idle for the grace period. */
static void test_punch(void **state)
{
	fixture *f = *state;
	punch_on(f, &f->sa, f->a, f->id[1], 300);
	punch_on(f, &f->sb, f->b, f->id[2], 300);
	relay_in(f);
	assert_true(wait_events(f, &f->sa, 1, 15000));
	assert_true(wait_events(f, &f->sb, 1, 15000));
	assert_true(f->sa.last.ok);
	assert_true(f->sa.last.initiator);
	assert_false(f->sa.last_conn_relayed);
	assert_true(f->sb.last.ok);
	assert_false(f->sb.last.initiator);
	assert_int_equal(f->sa.last.attempts, 1);

	const p2p_peerid *aid = p2p_host_peer_id(f->a), *bid = p2p_host_peer_id(f->b);
	p2p_conn *c = p2p_host_conn(f->b, aid);
	assert_non_null(c);
	assert_false(p2p_conn_is_relayed(c));
	c = p2p_host_conn(f->a, bid);
	assert_non_null(c);
	assert_false(p2p_conn_is_relayed(c));

	/* The relayed connection goes once it has been idle long enough;
	 * on loopback both dials may connect (each SYN reaches the other's
	 * listener), and the second direct connection goes too. */
	size_t relayed = 1, n = 0;
	uint64_t end = uv_now(&f->loop) + 12000;
	while (uv_now(&f->loop) < end) {
		n = conns_to(f->a, bid, &relayed);
		if (relayed == 0 && n == 1)
			break;
		uvt_run(&f->loop, &(bool){false}, 50);
	}
	assert_int_equal(relayed, 0);
	assert_int_equal(n, 1);
	size_t b_relayed = 1;
	assert_int_equal(conns_to(f->b, aid, &b_relayed), 1);
	assert_int_equal(b_relayed, 0);
	const p2p_holepunch_stats *st = p2p_holepunch_stats_get(f->sa.hp);
	assert_int_equal(st->started, 1);
	assert_int_equal(st->succeeded, 1);
	assert_int_equal(st->failed, 0);
}

/* b speaks no DCUtR: a's stream is refused; one failure, the relayed
 * connection stays and carries on. */
static void test_peer_without_dcutr(void **state)
{
	fixture *f = *state;
	punch_on(f, &f->sa, f->a, f->id[1], 300);
	relay_in(f);
	assert_true(wait_events(f, &f->sa, 1, 15000));
	assert_false(f->sa.last.ok);
	assert_true(f->sa.last.err < 0);
	uvt_run(&f->loop, &(bool){false}, 500);
	assert_int_equal(f->sa.events, 1);
	size_t relayed;
	assert_int_equal(conns_to(f->a, p2p_host_peer_id(f->b), &relayed), 1);
	assert_int_equal(relayed, 1);
	assert_int_equal(p2p_holepunch_stats_get(f->sa.hp)->failed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_punch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_without_dcutr, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
