/* portmap against a fake NAT-PMP gateway (RFC 6886) on a loopback
 * address, run on the test's own loop while the job waits on the thread
 * pool: the mapping comes up with the gateway's address and port, is
 * renewed at half its lease, and is removed on close; a refusal, a
 * missing gateway and a close while a job is in flight end cleanly.
 * UPnP is off here (its discovery is multicast, which a test must not
 * send); the NAT lab (tests/lab/portmap.test.sh) runs it against
 * miniupnpd. */
#include <arpa/inet.h>
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
#include "p2p/portmap.h"

/* NAT-PMP's port is fixed (libnatpmp sends to 5351); the address is one
 * no other test uses. */
#define GW      "127.0.83.1"
#define NOBODY  "127.0.83.2"
#define EXT_IP  "203.0.113.7"
#define PORT    4321
#define WAIT_MS 5000

typedef struct fake_gw {
	uv_udp_t udp;
	uint16_t result; /* the result code of mapping answers */
	bool silent;     /* answers nothing */
	int addr_reqs;   /* opcode 0 */
	int map_reqs;    /* opcode 2, lifetime > 0 */
	int unmap_reqs;  /* opcode 2, lifetime 0 */
	uint32_t last_lifetime;
} fake_gw;

typedef struct fixture {
	uv_loop_t loop;
	fake_gw gw;
	bool gw_open;
	p2p_portmap *pm;
	int changes;
	int last_status;
	p2p_portmap_mapping last;
	char why[P2P_PORTMAP_WHY_MAX];
	bool closed;
} fixture;

static void gw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char mem[64];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(mem, sizeof mem);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void on_sent(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

static void gw_reply(fake_gw *g, const struct sockaddr *to, const uint8_t *msg,
                     size_t len)
{
	uv_udp_send_t *req = malloc(sizeof *req + len);
	assert_non_null(req);
	memcpy(req + 1, msg, len);
	uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
	assert_int_equal(uv_udp_send(req, &g->udp, &b, 1, to, on_sent), 0);
}

static void gw_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags)
{
	(void)flags;
	fake_gw *g = u->data;
	const uint8_t *p = (const uint8_t *)buf->base;
	if (n < 2 || from == NULL || p[0] != 0)
		return;
	uint8_t r[16] = {0};
	r[1] = (uint8_t)(128 + p[1]);
	put32(r + 4, 1000); /* seconds since the gateway started */
	if (p[1] == 0 && n == 2) {
		g->addr_reqs++;
		if (g->silent)
			return;
		struct in_addr a;
		inet_pton(AF_INET, EXT_IP, &a);
		memcpy(r + 8, &a, 4);
		gw_reply(g, from, r, 12);
	} else if (p[1] == 2 && n == 12) {
		uint16_t in = (uint16_t)(p[4] << 8 | p[5]);
		uint32_t life = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
		                (uint32_t)p[10] << 8 | p[11];
		g->last_lifetime = life;
		if (life == 0)
			g->unmap_reqs++;
		else
			g->map_reqs++;
		if (g->silent)
			return;
		put16(r + 2, life ? g->result : 0);
		put16(r + 8, in);
		/* Another external port than asked: the gateway's word counts. */
		put16(r + 10, life ? (uint16_t)(in + 1000) : 0);
		put32(r + 12, life);
		gw_reply(g, from, r, 16);
	}
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_udp_init(&f->loop, &f->gw.udp), 0);
	f->gw.udp.data = &f->gw;
	struct sockaddr_in sa;
	assert_int_equal(uv_ip4_addr(GW, 5351, &sa), 0);
	assert_int_equal(uv_udp_bind(&f->gw.udp, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_udp_recv_start(&f->gw.udp, gw_alloc, gw_recv), 0);
	f->gw_open = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->gw_open)
		uv_close((uv_handle_t *)&f->gw.udp, NULL);
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void on_change(int status, const p2p_portmap_mapping *m, const char *why,
                      void *user)
{
	fixture *f = user;
	f->changes++;
	f->last_status = status;
	if (m != NULL)
		f->last = *m;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
}

static void on_closed(void *user)
{
	((fixture *)user)->closed = true;
}

static void start(fixture *f, const char *gw, uint32_t lease_s)
{
	p2p_portmap_config cfg = {
	    .internal_port = PORT,
	    .lease_s = lease_s,
	    .disable_upnp = true,
	    .natpmp_gateway = gw,
	    .on_change = on_change,
	    .user = f,
	};
	assert_int_equal(p2p_portmap_start(&f->pm, &f->loop, &cfg), 0);
}

static bool wait_count(fixture *f, const int *count, int n, uint64_t ms)
{
	uint64_t end = uv_now(&f->loop) + ms;
	while (*count < n && uv_now(&f->loop) < end)
		uvt_run(&f->loop, &(bool){false}, 10);
	return *count >= n;
}

static void close_pm(fixture *f)
{
	p2p_portmap_close(f->pm, on_closed, f);
	f->pm = NULL;
	assert_true(uvt_run(&f->loop, &f->closed, WAIT_MS));
}

/* Mapped with the gateway's address and port; renewed at half a 2 s
 * lease without a second report (nothing changed); removed on close. */
static void test_map_renew_close(void **state)
{
	fixture *f = *state;
	start(f, GW, 2);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->last_status, 0);
	assert_int_equal(f->last.method, P2P_PORTMAP_NATPMP);
	assert_string_equal(f->last.external_ip, EXT_IP);
	assert_int_equal(f->last.external_port, PORT + 1000);
	assert_int_equal(f->last.internal_port, PORT);
	assert_int_equal(f->last.lease_s, 2);
	p2p_portmap_mapping now;
	assert_true(p2p_portmap_active(f->pm, &now));
	assert_int_equal(now.external_port, PORT + 1000);
	assert_int_equal(f->gw.map_reqs, 1);
	assert_true(wait_count(f, &f->gw.map_reqs, 2, WAIT_MS));
	uvt_run(&f->loop, &(bool){false}, 100);
	assert_int_equal(f->changes, 1);
	close_pm(f);
	assert_int_equal(f->gw.unmap_reqs, 1);
	assert_int_equal(f->gw.last_lifetime, 0);
	assert_int_equal(f->changes, 1);
}

/* A gateway that answers "not authorized" (result 2). */
static void test_refused(void **state)
{
	fixture *f = *state;
	f->gw.result = 2;
	start(f, GW, 0);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->last_status, P2P_EIO);
	assert_non_null(strstr(f->why, "refused"));
	assert_false(p2p_portmap_active(f->pm, NULL));
	close_pm(f);
	assert_int_equal(f->gw.unmap_reqs, 0); /* nothing to remove */
}

/* Nobody at the gateway's address: the port is closed (ICMP), so the
 * answer comes at once. */
static void test_no_gateway(void **state)
{
	fixture *f = *state;
	uint64_t t0 = uv_now(&f->loop);
	start(f, NOBODY, 0);
	assert_true(wait_count(f, &f->changes, 1, WAIT_MS));
	assert_int_equal(f->last_status, P2P_ENOTFOUND);
	assert_true(uv_now(&f->loop) - t0 <= P2P_PORTMAP_NATPMP_WAIT_MS + 500);
	close_pm(f);
}

/* A gateway that never answers, closed while the job waits for it: the
 * close waits for the job (bounded) and reports nothing. */
static void test_close_in_flight(void **state)
{
	fixture *f = *state;
	f->gw.silent = true;
	start(f, GW, 0);
	assert_true(wait_count(f, &f->gw.addr_reqs, 1, WAIT_MS));
	uint64_t t0 = uv_now(&f->loop);
	close_pm(f);
	assert_true(uv_now(&f->loop) - t0 <= P2P_PORTMAP_NATPMP_WAIT_MS + 1000);
	assert_int_equal(f->changes, 0);
}

static void test_invalid(void **state)
{
	fixture *f = *state;
	p2p_portmap *pm = NULL;
	p2p_portmap_config cfg = {.internal_port = PORT, .on_change = on_change};
	cfg.internal_port = 0;
	assert_int_equal(p2p_portmap_start(&pm, &f->loop, &cfg), P2P_EINVAL);
	cfg.internal_port = PORT;
	cfg.disable_upnp = cfg.disable_natpmp = true;
	assert_int_equal(p2p_portmap_start(&pm, &f->loop, &cfg), P2P_EINVAL);
	cfg.disable_upnp = cfg.disable_natpmp = false;
	cfg.natpmp_gateway = "not an address";
	assert_int_equal(p2p_portmap_start(&pm, &f->loop, &cfg), P2P_EINVAL);
	cfg.natpmp_gateway = NULL;
	cfg.on_change = NULL;
	assert_int_equal(p2p_portmap_start(&pm, &f->loop, &cfg), P2P_EINVAL);
	assert_null(pm);
	assert_string_equal(p2p_portmap_method_name(P2P_PORTMAP_UPNP), "UPnP IGD");
	assert_string_equal(p2p_portmap_method_name(P2P_PORTMAP_NATPMP), "NAT-PMP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_map_renew_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_gateway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
