/* The identify service against a misbehaving peer: host M answers
 * /ipfs/id/1.0.0 with whatever bytes a case prepares, and we check what
 * host B's identify service makes of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/peer_record.h"

#define WATCHDOG_MS (P2P_IDENTIFY_TIMEOUT_MS + 10000)

/* /ip4/127.0.0.2/tcp/1111 and /ip4/127.0.0.3/tcp/2222: stored, never dialed. */
static const uint8_t addr_x[] = {0x04, 127, 0, 0, 2, 0x06, 0x04, 0x57};
static const uint8_t addr_y[] = {0x04, 127, 0, 0, 3, 0x06, 0x08, 0xae};

typedef struct scene {
	uv_loop_t loop;
	uv_timer_t watchdog;
	p2p_privkey *key_b, *key_m;
	p2p_host *b, *m;
	p2p_identify_service *id_b;
	p2p_buf reply; /* what M answers */
	bool silent;   /* M answers nothing and keeps the stream open */
	int calls;
	int err;
	int closed;
} scene;

static void on_watchdog(uv_timer_t *t)
{
	fail_msg("no identify result in time");
}

static void on_closed(void *user)
{
	((scene *)user)->closed++;
}

static void m_answers(p2p_stream *s, const char *protocol, void *user)
{
	scene *sc = user;
	if (sc->silent)
		return; /* the host resets the stream when it closes */
	if (sc->reply.len > 0)
		assert_true(p2p_stream_write(s, sc->reply.data, sc->reply.len) >= 0);
	p2p_stream_close(s);
}

static void on_identified(p2p_conn *c, const p2p_identify *info, bool push, int err,
                          void *user)
{
	scene *sc = user;
	sc->calls++;
	sc->err = err;
	assert_true(err == P2P_OK ? info != NULL : info == NULL);
}

static void on_connected(p2p_conn *c, int err, void *user)
{
	assert_int_equal(err, 0);
}

static void scene_init(scene *sc)
{
	memset(sc, 0, sizeof(*sc));
	p2p_buf_init(&sc->reply);
	assert_int_equal(uv_loop_init(&sc->loop), 0);
	assert_int_equal(p2p_privkey_generate(&sc->key_b), 0);
	assert_int_equal(p2p_privkey_generate(&sc->key_m), 0);
	assert_int_equal(p2p_host_new(&sc->b, &sc->loop, sc->key_b, NULL), 0);
	assert_int_equal(p2p_host_new(&sc->m, &sc->loop, sc->key_m, NULL), 0);
}

/* Connects B to M and runs until B's identify has a result. */
static void scene_run(scene *sc)
{
	assert_int_equal(p2p_identify_service_new(&sc->id_b, sc->b, on_identified, sc),
	                 0);
	assert_int_equal(
	    p2p_host_set_handler(sc->m, P2P_IDENTIFY_PROTOCOL, m_answers, sc), 0);
	assert_int_equal(p2p_host_listen(sc->m, "/ip4/127.0.0.1/tcp/0"), 0);
	const p2p_buf *addrs[1];
	assert_int_equal(p2p_host_addrs(sc->m, addrs, 1), 1);
	assert_int_equal(p2p_host_connect(sc->b, p2p_host_peer_id(sc->m), addrs[0], 1,
	                                  on_connected, sc),
	                 0);
	uv_timer_init(&sc->loop, &sc->watchdog);
	uv_timer_start(&sc->watchdog, on_watchdog, WATCHDOG_MS, 0);
	/* Stop at the result, to look at B's peerstore; scene_free closes. */
	while (sc->calls == 0)
		uv_run(&sc->loop, UV_RUN_ONCE);
	assert_int_equal(sc->calls, 1);
}

static void scene_free(scene *sc)
{
	uv_timer_stop(&sc->watchdog);
	uv_close((uv_handle_t *)&sc->watchdog, NULL);
	p2p_host_close(sc->b, on_closed, sc);
	p2p_host_close(sc->m, on_closed, sc);
	assert_int_equal(uv_run(&sc->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(sc->closed, 2);
	p2p_identify_service_free(sc->id_b);
	assert_int_equal(uv_loop_close(&sc->loop), 0);
	p2p_privkey_free(sc->key_b);
	p2p_privkey_free(sc->key_m);
	p2p_buf_free(&sc->reply);
}

static void expect_error(const uint8_t *reply, size_t len, int err)
{
	scene sc;
	scene_init(&sc);
	assert_int_equal(p2p_buf_append(&sc.reply, reply, len), 0);
	scene_run(&sc);
	assert_int_equal(sc.err, err);
	scene_free(&sc);
}

static void test_malformed(void **state)
{
	static const uint8_t garbage[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
	expect_error(garbage, sizeof(garbage), P2P_EPROTO);
	/* 9000 bytes announced: over the limit before any of them arrive. */
	static const uint8_t too_big[] = {0xa8, 0x46};
	expect_error(too_big, sizeof(too_big), P2P_ETOOBIG);
	/* The stream ends inside the message. */
	static const uint8_t cut[] = {0x0a, 0x32, 0x03, 'g'};
	expect_error(cut, sizeof(cut), P2P_EPROTO);
	/* Nothing at all. */
	expect_error(NULL, 0, P2P_EPROTO);
}

static void test_silent_peer_times_out(void **state)
{
	scene sc;
	scene_init(&sc);
	sc.silent = true;
	uint64_t start = uv_hrtime();
	scene_run(&sc);
	assert_int_equal(sc.err, P2P_ETIMEDOUT);
	assert_true(uv_hrtime() - start >=
	            (uint64_t)P2P_IDENTIFY_TIMEOUT_MS * 1000000 * 9 / 10);
	scene_free(&sc);
}

static bool peerstore_has(scene *sc, const uint8_t *addr, size_t len)
{
	const p2p_buf *addrs[P2P_PEERSTORE_MAX_ADDRS];
	size_t n = p2p_peerstore_addrs(p2p_host_peerstore(sc->b), p2p_host_peer_id(sc->m),
	                               addrs, NULL, P2P_PEERSTORE_MAX_ADDRS);
	for (size_t i = 0; i < n && i < P2P_PEERSTORE_MAX_ADDRS; i++)
		if (addrs[i]->len == len && memcmp(addrs[i]->data, addr, len) == 0)
			return true;
	return false;
}

/* M sends X in its plain list and a peer record for Y signed by `signer`. */
static void run_record_case(bool own_key, bool expect_y)
{
	scene sc;
	scene_init(&sc);
	p2p_privkey *other = NULL;
	assert_int_equal(p2p_privkey_generate(&other), 0);
	const p2p_privkey *signer = own_key ? sc.key_m : other;

	p2p_identify id;
	p2p_identify_init(&id);
	assert_int_equal(p2p_identify_add_listen_addr(&id, addr_x, sizeof(addr_x)), 0);
	assert_int_equal(p2p_identify_add_protocol(&id, "/m/1.0.0"), 0);
	const uint8_t *rec_addrs[] = {addr_y};
	const size_t rec_lens[] = {sizeof(addr_y)};
	p2p_buf rec;
	p2p_buf_init(&rec);
	assert_int_equal(p2p_peer_record_seal(signer, 7, rec_addrs, rec_lens, 1, &rec),
	                 0);
	assert_int_equal(p2p_identify_set_signed_peer_record(&id, rec.data, rec.len), 0);
	assert_int_equal(p2p_identify_encode(&id, &sc.reply), 0);
	p2p_buf_free(&rec);
	p2p_identify_free(&id);

	scene_run(&sc);
	assert_int_equal(sc.err, 0);
	assert_true(p2p_peerstore_supports(p2p_host_peerstore(sc.b),
	                                   p2p_host_peer_id(sc.m), "/m/1.0.0"));
	assert_true(peerstore_has(&sc, addr_y, sizeof(addr_y)) == expect_y);
	assert_true(peerstore_has(&sc, addr_x, sizeof(addr_x)) == !expect_y);
	scene_free(&sc);
	p2p_privkey_free(other);
}

/* M says it sees B at X. B keeps that only from a connection that tells
 * something about its listening port: B dialing from an ephemeral port
 * (it does not listen) does not; B dialing from its listening port does
 * (port reuse, transport.h). */
static void run_observed_case(bool b_listens)
{
	scene sc;
	scene_init(&sc);
	if (b_listens)
		assert_int_equal(p2p_host_listen(sc.b, "/ip4/127.0.0.1/tcp/0"), 0);
	p2p_identify id;
	p2p_identify_init(&id);
	assert_int_equal(p2p_identify_set_observed_addr(&id, addr_x, sizeof(addr_x)), 0);
	assert_int_equal(p2p_identify_encode(&id, &sc.reply), 0);
	p2p_identify_free(&id);

	scene_run(&sc);
	assert_int_equal(sc.err, 0);
	p2p_buf out[2];
	p2p_buf_init(&out[0]);
	p2p_buf_init(&out[1]);
	size_t n = p2p_identify_service_observed(sc.id_b, 1, out, 2);
	if (b_listens) {
		assert_int_equal(n, 1);
		assert_int_equal(out[0].len, sizeof(addr_x));
		assert_memory_equal(out[0].data, addr_x, sizeof(addr_x));
		/* One observer: a candidate, not confirmed. */
		assert_int_equal(p2p_identify_service_observed(sc.id_b, 2, out, 2), 0);
	} else {
		assert_int_equal(n, 0);
	}
	p2p_buf_free(&out[0]);
	p2p_buf_free(&out[1]);
	scene_free(&sc);
}

static void test_observed_ephemeral_ignored(void **state)
{
	run_observed_case(false);
}

static void test_observed_from_listen_port(void **state)
{
	run_observed_case(true);
}

static void test_signed_record_preferred(void **state)
{
	run_record_case(true, true);
}

static void test_forged_record_ignored(void **state)
{
	run_record_case(false, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_signed_record_preferred),
	    cmocka_unit_test(test_forged_record_ignored),
	    cmocka_unit_test(test_observed_ephemeral_ignored),
	    cmocka_unit_test(test_observed_from_listen_port),
	    cmocka_unit_test(test_silent_peer_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
