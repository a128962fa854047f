/* DNS multiaddrs: the pure helpers, then the resolver against a DNS server
 * inside this process on 127.0.0.1 (dnsserver.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnsserver.h"
#include "p2p/dns.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "uvtest.h"

/* Peer IDs from the dnsaddr spec's example. */
#define ID_A "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
#define ID_B "QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb"

static p2p_buf bin(const char *text)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_multiaddr_parse(text, &b), 0);
	return b;
}

static void assert_text(const uint8_t *addr, size_t len, const char *want)
{
	p2p_buf t;
	p2p_buf_init(&t);
	assert_int_equal(p2p_multiaddr_to_string(addr, len, &t), 0);
	assert_string_equal((const char *)t.data, want);
	p2p_buf_free(&t);
}

/* --- sans-I/O --- */

static void test_find(void **state)
{
	p2p_dns_split sp;
	p2p_buf a = bin("/ip4/1.2.3.4/tcp/1");
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), 0);
	p2p_buf_free(&a);

	a = bin("/dns4/example.com/tcp/1");
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), 1);
	assert_int_equal(sp.code, P2P_MA_DNS4);
	assert_int_equal(sp.prefix_len, 0);
	assert_int_equal(sp.name_len, 11);
	assert_memory_equal(sp.name, "example.com", 11);
	p2p_buf rest = bin("/tcp/1");
	assert_int_equal(a.len - sp.rest_off, rest.len);
	assert_memory_equal(a.data + sp.rest_off, rest.data, rest.len);
	p2p_buf_free(&rest);
	p2p_buf_free(&a);

	/* The first DNS component, after a prefix. */
	a = bin("/ip4/1.2.3.4/tcp/1/p2p/" ID_A "/p2p-circuit/dnsaddr/x.test");
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), 1);
	assert_int_equal(sp.code, P2P_MA_DNSADDR);
	assert_int_equal(sp.rest_off, a.len);
	p2p_buf_free(&a);

	/* Names no resolver should be asked for. */
	a = bin("/dns/a b.test/tcp/1");
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), P2P_EINVAL);
	p2p_buf_free(&a);
	char name[300] = "/dns/";
	memset(name + 5, 'a', P2P_DNS_MAX_NAME + 1);
	a = bin(name);
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), P2P_EINVAL);
	p2p_buf_free(&a);
	uint8_t junk[] = {0xff, 0xff};
	assert_true(p2p_dns_find(junk, sizeof(junk), &sp) < 0);
}

static void test_suffix(void **state)
{
	p2p_buf a = bin("/ip4/1.2.3.4/tcp/4001/p2p/" ID_A);
	p2p_buf s1 = bin("/p2p/" ID_A);
	p2p_buf s2 = bin("/tcp/4001/p2p/" ID_A);
	p2p_buf s3 = bin("/p2p/" ID_B);
	assert_true(p2p_multiaddr_has_suffix(a.data, a.len, s1.data, s1.len));
	assert_true(p2p_multiaddr_has_suffix(a.data, a.len, s2.data, s2.len));
	assert_true(p2p_multiaddr_has_suffix(a.data, a.len, a.data, a.len));
	assert_true(p2p_multiaddr_has_suffix(a.data, a.len, NULL, 0));
	assert_false(p2p_multiaddr_has_suffix(a.data, a.len, s3.data, s3.len));
	assert_false(p2p_multiaddr_has_suffix(s1.data, s1.len, a.data, a.len));
	/* The suffix must start on a component boundary of the address. */
	p2p_buf b = bin("/ip4/1.2.3.4/tcp/1");
	p2p_buf tail = bin("/tcp/1");
	assert_true(p2p_multiaddr_has_suffix(b.data, b.len, tail.data, tail.len));
	assert_false(p2p_multiaddr_has_suffix(b.data, b.len, b.data + 1, b.len - 1));
	p2p_buf_free(&a);
	p2p_buf_free(&b);
	p2p_buf_free(&tail);
	p2p_buf_free(&s1);
	p2p_buf_free(&s2);
	p2p_buf_free(&s3);
}

static int expand(const char *orig, const char *txt, p2p_buf *out)
{
	p2p_buf a = bin(orig);
	p2p_dns_split sp;
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), 1);
	int rc = p2p_dnsaddr_expand(a.data, a.len, &sp, (const uint8_t *)txt, strlen(txt),
	                            out);
	p2p_buf_free(&a);
	return rc;
}

static void test_dnsaddr_expand(void **state)
{
	p2p_buf out;
	p2p_buf_init(&out);
	/* The spec's example: the suffix /p2p/ID_A keeps one record of two. */
	const char *o = "/dnsaddr/bootstrap.libp2p.io/p2p/" ID_A;
	assert_int_equal(
	    expand(o, "dnsaddr=/dnsaddr/sjc-1.bootstrap.libp2p.io/tcp/4001/p2p/" ID_A,
	           &out),
	    0);
	assert_text(out.data, out.len,
	            "/dnsaddr/sjc-1.bootstrap.libp2p.io/tcp/4001/p2p/" ID_A);
	p2p_buf_reset(&out);
	assert_int_equal(
	    expand(o, "dnsaddr=/dnsaddr/ams-2.bootstrap.libp2p.io/tcp/4001/p2p/" ID_B,
	           &out),
	    P2P_ENOTFOUND);
	assert_int_equal(out.len, 0);
	/* No suffix: anything goes. */
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr=/ip4/192.0.2.1/tcp/1", &out),
	                 0);
	assert_text(out.data, out.len, "/ip4/192.0.2.1/tcp/1");
	p2p_buf_reset(&out);
	/* A record without the suffix is dropped. */
	assert_int_equal(expand(o, "dnsaddr=/ip4/192.0.2.1/tcp/1", &out), P2P_ENOTFOUND);
	/* A prefix before /dnsaddr/ is kept. */
	assert_int_equal(expand("/ip4/192.0.2.9/tcp/1/p2p/" ID_B
	                        "/p2p-circuit/dnsaddr/d.test",
	                        "dnsaddr=/p2p/" ID_A, &out),
	                 0);
	assert_text(out.data, out.len,
	            "/ip4/192.0.2.9/tcp/1/p2p/" ID_B "/p2p-circuit/p2p/" ID_A);
	p2p_buf_reset(&out);
	/* Other TXT records and malformed values. */
	assert_int_equal(expand("/dnsaddr/d.test", "v=spf1 -all", &out), P2P_ENOTFOUND);
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr", &out), P2P_ENOTFOUND);
	assert_int_equal(expand("/dnsaddr/d.test", "Dnsaddr=/ip4/1.2.3.4", &out),
	                 P2P_ENOTFOUND);
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr=", &out), P2P_EPROTO);
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr=/ip4/300.1.1.1/tcp/1", &out),
	                 P2P_EPROTO);
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr=/nosuch/1", &out),
	                 P2P_EPROTO);
	assert_int_equal(expand("/dnsaddr/d.test", "dnsaddr= /ip4/1.2.3.4", &out),
	                 P2P_EPROTO);
	assert_int_equal(out.len, 0);
	p2p_buf_free(&out);
}

static void test_expand_ip(void **state)
{
	p2p_buf a = bin("/dns6/h.test/tcp/443/p2p/" ID_A);
	p2p_dns_split sp;
	assert_int_equal(p2p_dns_find(a.data, a.len, &sp), 1);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(
	    p2p_dns_expand_ip(a.data, a.len, &sp, (struct sockaddr *)&s6, &out), 0);
	assert_text(out.data, out.len, "/ip6/2001:db8::7/tcp/443/p2p/" ID_A);
	struct sockaddr sa = {.sa_family = AF_UNIX};
	size_t len = out.len;
	assert_int_equal(p2p_dns_expand_ip(a.data, a.len, &sp, &sa, &out),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(out.len, len);
	p2p_buf_free(&out);
	p2p_buf_free(&a);
}

/* --- the resolver --- */

static const dnss_record table[] = {
    {"a.test", DNSS_A, "192.0.2.1"},
    {"a.test", DNSS_A, "192.0.2.2"},
    {"a.test", DNSS_AAAA, "2001:db8::1"},
    {"v4only.test", DNSS_A, "192.0.2.3"},
    {"_dnsaddr.d.test", DNSS_TXT, "dnsaddr=/ip4/192.0.2.10/tcp/1/p2p/" ID_A},
    {"_dnsaddr.d.test", DNSS_TXT, "dnsaddr=/ip4/192.0.2.11/tcp/1/p2p/" ID_B},
    {"_dnsaddr.d.test", DNSS_TXT, "dnsaddr=/dnsaddr/sub.d.test/p2p/" ID_A},
    {"_dnsaddr.d.test", DNSS_TXT, "dnsaddr=/ip4/not-an-ip/tcp/1/p2p/" ID_A},
    {"_dnsaddr.d.test", DNSS_TXT, "v=spf1 -all"},
    /* One record in two character-strings. */
    {"_dnsaddr.d.test", DNSS_TXT, "dnsaddr=/ip4/192.0.2.12|/tcp/3/p2p/" ID_A},
    {"_dnsaddr.sub.d.test", DNSS_TXT, "dnsaddr=/dns4/a.test/tcp/2/p2p/" ID_A},
    {"_dnsaddr.bad.test", DNSS_TXT, "dnsaddr=/ip4/1.2.3/tcp/1"},
    {"_dnsaddr.bad.test", DNSS_TXT, "hello"},
    /* A chain: l0 -> l1 -> l2 -> l3 -> l4 -> an address. */
    {"_dnsaddr.l0.test", DNSS_TXT, "dnsaddr=/dnsaddr/l1.test"},
    {"_dnsaddr.l1.test", DNSS_TXT, "dnsaddr=/dnsaddr/l2.test"},
    {"_dnsaddr.l2.test", DNSS_TXT, "dnsaddr=/dnsaddr/l3.test"},
    {"_dnsaddr.l3.test", DNSS_TXT, "dnsaddr=/dnsaddr/l4.test"},
    {"_dnsaddr.l4.test", DNSS_TXT, "dnsaddr=/ip4/192.0.2.4/tcp/4"},
    /* One answer now, one never (for the deadline). */
    {"_dnsaddr.part.test", DNSS_TXT, "dnsaddr=/ip4/192.0.2.20/tcp/1"},
    {"_dnsaddr.part.test", DNSS_TXT, "dnsaddr=/dnsaddr/silent.test"},
    {"_dnsaddr.silent.test", DNSS_SILENT, ""},
};

typedef struct fixture {
	uv_loop_t loop;
	dnss srv;
	p2p_dns *dns;
	bool dns_closed;
	/* the last result */
	bool done;
	bool in_call; /* inside p2p_dns_resolve */
	int err;
	size_t n;
	char *texts[P2P_DNS_MAX_RESULTS];
} fixture;

static void fx_clear(fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->texts[i]);
	f->n = 0;
	f->done = false;
	f->err = 1;
}

static void on_resolved(int err, const p2p_buf *addrs, size_t n, void *user)
{
	fixture *f = user;
	assert_false(f->in_call);
	assert_false(f->done);
	assert_true(err < 0 ? n == 0 : n > 0);
	assert_true(n <= P2P_DNS_MAX_RESULTS);
	f->err = err;
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		p2p_buf t;
		p2p_buf_init(&t);
		assert_int_equal(p2p_multiaddr_to_string(addrs[i].data, addrs[i].len, &t),
		                 0);
		f->texts[i] = (char *)t.data;
	}
	f->done = true;
}

static void fx_start_deadline(fixture *f, const dnss_record *t, size_t n,
                              uint32_t timeout_ms, uint32_t tries, uint32_t deadline_ms)
{
	memset(f, 0, sizeof(*f));
	uv_loop_init(&f->loop);
	assert_int_equal(dnss_start(&f->srv, &f->loop, t, n), 0);
	p2p_dns_config cfg = {.servers = f->srv.servers,
	                      .timeout_ms = timeout_ms,
	                      .tries = tries,
	                      .deadline_ms = deadline_ms};
	assert_int_equal(p2p_dns_new(&f->dns, &f->loop, &cfg), 0);
}

static void fx_start(fixture *f, const dnss_record *t, size_t n, uint32_t timeout_ms,
                     uint32_t tries)
{
	fx_start_deadline(f, t, n, timeout_ms, tries, 0);
}

static void on_dns_closed(void *user)
{
	((fixture *)user)->dns_closed = true;
}

static void fx_stop(fixture *f)
{
	fx_clear(f);
	p2p_dns_close(f->dns, on_dns_closed, f);
	dnss_stop(&f->srv);
	assert_true(uvt_drain(&f->loop));
	assert_true(f->dns_closed);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* Resolves and waits; returns the error. */
static int resolve(fixture *f, const char *text)
{
	fx_clear(f);
	p2p_buf a = bin(text);
	f->in_call = true;
	int rc = p2p_dns_resolve(f->dns, a.data, a.len, on_resolved, f);
	f->in_call = false;
	p2p_buf_free(&a);
	assert_int_equal(rc, 0);
	assert_true(uvt_run(&f->loop, &f->done, 5000));
	return f->err;
}

static bool has(const fixture *f, const char *text)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->texts[i], text) == 0)
			return true;
	return false;
}

#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

static void test_resolve_ip(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	assert_int_equal(resolve(&f, "/dns4/a.test/tcp/4001"), 0);
	assert_int_equal(f.n, 2);
	assert_true(has(&f, "/ip4/192.0.2.1/tcp/4001"));
	assert_true(has(&f, "/ip4/192.0.2.2/tcp/4001"));

	assert_int_equal(resolve(&f, "/dns6/a.test/tcp/4001/p2p/" ID_A), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip6/2001:db8::1/tcp/4001/p2p/" ID_A);

	assert_int_equal(resolve(&f, "/dns/a.test/udp/9"), 0);
	assert_int_equal(f.n, 3);
	assert_true(has(&f, "/ip4/192.0.2.1/udp/9"));
	assert_true(has(&f, "/ip4/192.0.2.2/udp/9"));
	assert_true(has(&f, "/ip6/2001:db8::1/udp/9"));

	/* NXDOMAIN, and a name without records of the asked type. */
	assert_int_equal(resolve(&f, "/dns4/nx.test/tcp/1"), P2P_ENOTFOUND);
	assert_int_equal(resolve(&f, "/dns6/v4only.test/tcp/1"), P2P_ENOTFOUND);
	assert_int_equal(resolve(&f, "/dnsaddr/nx.test"), P2P_ENOTFOUND);

	/* Nothing to resolve: back unchanged, still from the loop. */
	size_t queries = f.srv.queries;
	assert_int_equal(resolve(&f, "/ip4/127.0.0.1/tcp/7/p2p/" ID_B), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip4/127.0.0.1/tcp/7/p2p/" ID_B);
	assert_int_equal(f.srv.queries, queries);
	fx_stop(&f);
}

static void test_localhost(void **state)
{
	/* RFC 6761: loopback, and no query is sent. */
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	assert_int_equal(resolve(&f, "/dns4/localhost/tcp/5"), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip4/127.0.0.1/tcp/5");
	assert_int_equal(resolve(&f, "/dns6/LocalHost./tcp/5"), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip6/::1/tcp/5");
	assert_int_equal(resolve(&f, "/dns/a.localhost/tcp/5"), 0);
	assert_int_equal(f.n, 2);
	assert_true(has(&f, "/ip4/127.0.0.1/tcp/5"));
	assert_true(has(&f, "/ip6/::1/tcp/5"));
	assert_int_equal(resolve(&f, "/dnsaddr/localhost"), P2P_ENOTFOUND);
	assert_int_equal(f.srv.queries, 0);
	/* Not a localhost name. */
	assert_int_equal(resolve(&f, "/dns4/notlocalhost/tcp/5"), P2P_ENOTFOUND);
	assert_true(f.srv.queries > 0);
	fx_stop(&f);
}

/* A name of /etc/hosts with an IPv4 address (not localhost), if any. */
static bool hosts_entry(char *name, size_t name_max, char *ip, size_t ip_max)
{
	FILE *fp = fopen("/etc/hosts", "r");
	if (fp == NULL)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), fp)) {
		char a[64], n[128];
		struct in_addr in;
		if (line[0] == '#' || sscanf(line, "%63s %127s", a, n) != 2 ||
		    inet_pton(AF_INET, a, &in) != 1 || strstr(n, "localhost") ||
		    strlen(n) >= name_max || strlen(a) >= ip_max || strchr(n, '#'))
			continue;
		snprintf(name, name_max, "%s", n);
		snprintf(ip, ip_max, "%s", a);
		found = true;
	}
	fclose(fp);
	return found;
}

static void test_hosts_file(void **state)
{
	char name[128], ip[64], text[256], want[256];
	if (!hosts_entry(name, sizeof(name), ip, sizeof(ip)))
		skip();
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	snprintf(text, sizeof(text), "/dns4/%s/tcp/6", name);
	snprintf(want, sizeof(want), "/ip4/%s/tcp/6", ip);
	assert_int_equal(resolve(&f, text), 0);
	assert_true(has(&f, want));
	assert_int_equal(f.srv.queries, 0); /* /etc/hosts is read first */
	fx_stop(&f);
}

static void test_dnsaddr(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	/* Filtered by /p2p/ID_A, one record nested (dnsaddr -> dns4), one
	 * malformed, one not a dnsaddr record, one in two strings. */
	assert_int_equal(resolve(&f, "/dnsaddr/d.test/p2p/" ID_A), 0);
	assert_int_equal(f.n, 4);
	assert_true(has(&f, "/ip4/192.0.2.10/tcp/1/p2p/" ID_A));
	assert_true(has(&f, "/ip4/192.0.2.1/tcp/2/p2p/" ID_A));
	assert_true(has(&f, "/ip4/192.0.2.2/tcp/2/p2p/" ID_A));
	assert_true(has(&f, "/ip4/192.0.2.12/tcp/3/p2p/" ID_A));

	assert_int_equal(resolve(&f, "/dnsaddr/d.test/p2p/" ID_B), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip4/192.0.2.11/tcp/1/p2p/" ID_B);

	/* No suffix: every good record. */
	assert_int_equal(resolve(&f, "/dnsaddr/d.test"), 0);
	assert_int_equal(f.n, 5);
	assert_true(has(&f, "/ip4/192.0.2.11/tcp/1/p2p/" ID_B));

	/* Records, none good. */
	assert_int_equal(resolve(&f, "/dnsaddr/bad.test"), P2P_ENOTFOUND);
	fx_stop(&f);
}

static void test_depth_limit(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	/* l1 -> l2 -> l3 -> l4 -> address: P2P_DNS_MAX_DEPTH (4) look-ups. */
	assert_int_equal(resolve(&f, "/dnsaddr/l1.test"), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.texts[0], "/ip4/192.0.2.4/tcp/4");
	/* One more is one too many. */
	size_t queries = f.srv.queries;
	assert_int_equal(resolve(&f, "/dnsaddr/l0.test"), P2P_ELIMIT);
	assert_int_equal(f.srv.queries - queries, P2P_DNS_MAX_DEPTH);
	fx_stop(&f);
}

static void test_result_limit(void **state)
{
	/* 40 records in one answer: about 3 KB, over the EDNS size the
	 * resolver asks for, so the UDP answer is truncated and the resolver
	 * asks again over TCP (the spec's caveat). */
	enum { N = 40 };
	static char values[N][96];
	dnss_record t[N];
	for (int i = 0; i < N; i++) {
		snprintf(values[i], sizeof(values[i]),
		         "dnsaddr=/ip4/192.0.2.%d/tcp/1/p2p/" ID_A, i + 1);
		t[i] = (dnss_record){"_dnsaddr.many.test", DNSS_TXT, values[i]};
	}
	fixture f;
	fx_start(&f, t, N, 0, 0);
	assert_int_equal(resolve(&f, "/dnsaddr/many.test/p2p/" ID_A), 0);
	assert_int_equal(f.n, P2P_DNS_MAX_RESULTS);
	assert_int_equal(f.srv.queries, 2); /* UDP, then TCP */
	fx_stop(&f);
}

static void test_lookup_limit(void **state)
{
	/* fan -> f0..f9 -> 10 names each: 111 look-ups wanted, none of them
	 * found; P2P_DNS_MAX_LOOKUPS are made, and the limit is the reason. */
	enum { K = 10 };
	static char names[K][32], values[K + K * K][48];
	dnss_record t[K + K * K];
	size_t n = 0;
	for (int i = 0; i < K; i++) {
		snprintf(names[i], sizeof(names[i]), "_dnsaddr.f%d.test", i);
		snprintf(values[n], sizeof(values[n]), "dnsaddr=/dnsaddr/f%d.test", i);
		t[n] = (dnss_record){"_dnsaddr.fan.test", DNSS_TXT, values[n]};
		n++;
		for (int j = 0; j < K; j++, n++) {
			snprintf(values[n], sizeof(values[n]),
			         "dnsaddr=/dns4/nx%d.test/tcp/1", j);
			t[n] = (dnss_record){names[i], DNSS_TXT, values[n]};
		}
	}
	fixture f;
	fx_start(&f, t, n, 0, 0);
	assert_int_equal(resolve(&f, "/dnsaddr/fan.test"), P2P_ELIMIT);
	/* An NXDOMAIN may be retried with the search domains: at most a few
	 * queries per look-up. */
	assert_true(f.srv.queries >= P2P_DNS_MAX_LOOKUPS);
	assert_true(f.srv.queries <= P2P_DNS_MAX_LOOKUPS * 4);
	fx_stop(&f);
}

static void test_timeout(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 200, 1);
	f.srv.mute = true;
	uint64_t t0 = uv_now(&f.loop);
	assert_int_equal(resolve(&f, "/dns4/a.test/tcp/1"), P2P_ETIMEDOUT);
	uv_update_time(&f.loop);
	uint64_t took = uv_now(&f.loop) - t0;
	assert_true(took >= 150);
	assert_true(took < 1500);
	assert_true(f.srv.queries >= 1);
	fx_stop(&f);
}

/* Milliseconds a resolve takes, and its error in f->err. */
static uint64_t timed_resolve(fixture *f, const char *text)
{
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	resolve(f, text);
	uv_update_time(&f->loop);
	return uv_now(&f->loop) - t0;
}

/* A server that never answers: c-ares alone would wait 1 + 2 + 4 s; the
 * deadline ends the resolve at 300 ms, once. */
static void test_deadline(void **state)
{
	fixture f;
	fx_start_deadline(&f, table, TABLE_LEN, 1000, 3, 300);
	f.srv.mute = true;
	uint64_t took = timed_resolve(&f, "/dns4/a.test/tcp/1");
	assert_int_equal(f.err, P2P_ETIMEDOUT);
	assert_true(took >= 250);
	assert_true(took < 900); /* before c-ares's first try even ended */
	assert_true(f.srv.queries >= 1);
	/* dnsaddr too, and two resolves at once, each ended by its own
	 * deadline. */
	took = timed_resolve(&f, "/dnsaddr/d.test/p2p/" ID_A);
	assert_int_equal(f.err, P2P_ETIMEDOUT);
	assert_true(took < 900);
	/* What was found by the deadline is the result. */
	f.srv.mute = false;
	took = timed_resolve(&f, "/dnsaddr/part.test");
	assert_int_equal(f.err, 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "/ip4/192.0.2.20/tcp/1"));
	assert_true(took >= 250 && took < 900);
	/* Closing with the timed-out look-ups still in c-ares: ASan checks
	 * that the jobs they belong to are freed. */
	fx_stop(&f);
}

/* The look-up of a job past its deadline returns later (here c-ares gives
 * up at 400 ms): the callback must not run again, and the resolver goes
 * on working. */
static void test_deadline_then_late_answer(void **state)
{
	fixture f;
	fx_start_deadline(&f, table, TABLE_LEN, 400, 1, 100);
	f.srv.mute = true;
	uint64_t took = timed_resolve(&f, "/dns4/a.test/tcp/1");
	assert_int_equal(f.err, P2P_ETIMEDOUT);
	assert_true(took < 350);
	/* f.done stays true: on_resolved fails if it runs again. */
	bool never = false;
	assert_false(uvt_run(&f.loop, &never, 700));
	f.srv.mute = false;
	assert_int_equal(resolve(&f, "/dns4/a.test/tcp/1"), 0);
	assert_true(has(&f, "/ip4/192.0.2.1/tcp/1"));
	fx_stop(&f);
}

static void test_close_in_flight(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	f.srv.mute = true;
	fx_clear(&f);
	p2p_buf a = bin("/dnsaddr/d.test/p2p/" ID_A);
	p2p_buf b = bin("/ip4/127.0.0.1/tcp/1");
	assert_int_equal(p2p_dns_resolve(f.dns, a.data, a.len, on_resolved, &f), 0);
	/* Let the query go out, then close. */
	for (int i = 0; i < 20 && f.srv.queries == 0; i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	assert_true(f.srv.queries > 0);
	p2p_dns_close(f.dns, on_dns_closed, &f);
	assert_false(f.done); /* not from inside p2p_dns_close */
	assert_int_equal(p2p_dns_resolve(f.dns, b.data, b.len, on_resolved, &f),
	                 P2P_ECLOSED);
	dnss_stop(&f.srv);
	assert_true(uvt_drain(&f.loop));
	assert_true(f.done);
	assert_int_equal(f.err, P2P_ECLOSED);
	assert_true(f.dns_closed);
	assert_int_equal(uv_loop_close(&f.loop), 0);
	p2p_buf_free(&a);
	p2p_buf_free(&b);
}

static void test_bad_input(void **state)
{
	fixture f;
	fx_start(&f, table, TABLE_LEN, 0, 0);
	uint8_t junk[] = {0x04, 0x01};
	assert_int_equal(p2p_dns_resolve(f.dns, junk, sizeof(junk), on_resolved, &f),
	                 P2P_EINVAL);
	p2p_buf a = bin("/dns4/a\tb/tcp/1");
	assert_int_equal(p2p_dns_resolve(f.dns, a.data, a.len, on_resolved, &f),
	                 P2P_EINVAL);
	p2p_buf_free(&a);
	p2p_dns *d;
	p2p_dns_config cfg = {.servers = "not a server"};
	assert_int_equal(p2p_dns_new(&d, &f.loop, &cfg), P2P_EINVAL);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_suffix),
	    cmocka_unit_test(test_dnsaddr_expand),
	    cmocka_unit_test(test_expand_ip),
	    cmocka_unit_test(test_resolve_ip),
	    cmocka_unit_test(test_localhost),
	    cmocka_unit_test(test_hosts_file),
	    cmocka_unit_test(test_dnsaddr),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_result_limit),
	    cmocka_unit_test(test_lookup_limit),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_deadline_then_late_answer),
	    cmocka_unit_test(test_close_in_flight),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
