/* Test helper: a tiny DNS server on 127.0.0.1 (UDP, on the test's libuv
 * loop) that answers A, AAAA and TXT questions from a table, so resolver
 * tests never send a query anywhere else.
 *
 * A record's data is an address in text ("192.0.2.1", "2001:db8::1") or,
 * for TXT, the value; '|' in a TXT value splits it into separate
 * character-strings of one record, as long records are sent. A name with
 * no record of the asked type gets an empty answer, an unknown name
 * NXDOMAIN, and a muted server no answer at all. */
#ifndef P2P_TEST_DNSSERVER_H
#define P2P_TEST_DNSSERVER_H

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define DNSS_A    1
#define DNSS_TXT  16
#define DNSS_AAAA 28

typedef struct dnss_record {
	const char *name;
	uint16_t type;
	const char *data;
} dnss_record;

typedef struct dnss {
	uv_udp_t udp;
	const dnss_record *table;
	size_t n;
	bool mute;
	size_t queries;
	char servers[32]; /* "127.0.0.1:PORT" for p2p_dns_config.servers */
} dnss;

static size_t dnss_put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)(v >> 8);
	p[off + 1] = (uint8_t)v;
	return off + 2;
}

/* rdata of one record at out[off..]; returns the new offset or 0. */
static size_t dnss_rdata(const dnss_record *r, uint8_t *out, size_t off, size_t cap)
{
	if (r->type == DNSS_A || r->type == DNSS_AAAA) {
		size_t n = r->type == DNSS_A ? 4 : 16;
		if (off + n > cap || inet_pton(r->type == DNSS_A ? AF_INET : AF_INET6,
		                               r->data, out + off) != 1)
			return 0;
		return off + n;
	}
	const char *s = r->data;
	for (;;) {
		const char *bar = strchr(s, '|');
		size_t n = bar ? (size_t)(bar - s) : strlen(s);
		if (n > 255 || off + 1 + n > cap)
			return 0;
		out[off++] = (uint8_t)n;
		memcpy(out + off, s, n);
		off += n;
		if (bar == NULL)
			return off;
		s = bar + 1;
	}
}

static void dnss_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[4096]; /* the loop is single-threaded */
	buf->base = space;
	buf->len = sizeof(space);
}

static void dnss_on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *from, unsigned flags)
{
	dnss *s = u->data;
	const uint8_t *q = (const uint8_t *)buf->base;
	if (nread < 12 || from == NULL)
		return;
	s->queries++;
	if (s->mute)
		return;
	/* The question: labels, then type and class. */
	char name[256];
	size_t off = 12, nlen = 0;
	while (off < (size_t)nread && q[off] != 0) {
		size_t l = q[off++];
		if (l > 63 || off + l > (size_t)nread || nlen + l + 1 >= sizeof(name))
			return;
		if (nlen)
			name[nlen++] = '.';
		for (size_t i = 0; i < l; i++)
			name[nlen++] = (char)tolower(q[off + i]);
		off += l;
	}
	name[nlen] = '\0';
	if (off + 5 > (size_t)nread)
		return;
	off++;
	uint16_t qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	size_t qend = off + 4;

	uint8_t out[4096];
	memcpy(out, q, qend);
	size_t o = qend;
	uint16_t an = 0;
	bool known = false;
	for (size_t i = 0; i < s->n; i++) {
		if (strcasecmp(s->table[i].name, name) != 0)
			continue;
		known = true;
		if (s->table[i].type != qtype || o + 12 > sizeof(out))
			continue;
		out[o++] = 0xc0; /* the name: a pointer to the question's */
		out[o++] = 12;
		o = dnss_put16(out, o, qtype);
		o = dnss_put16(out, o, 1);  /* IN */
		o = dnss_put16(out, o, 0);  /* TTL, high */
		o = dnss_put16(out, o, 60); /* TTL, low */
		size_t rdlen_at = o;
		o += 2;
		size_t end = dnss_rdata(&s->table[i], out, o, sizeof(out));
		if (end == 0) {
			fprintf(stderr, "dnss: bad test record for %s\n", name);
			return;
		}
		dnss_put16(out, rdlen_at, (uint16_t)(end - o));
		o = end;
		an++;
	}
	/* Header: response, recursion desired copied, recursion available. */
	out[2] = (uint8_t)(0x80 | (q[2] & 0x01));
	out[3] = (uint8_t)(0x80 | (known ? 0 : 3)); /* NXDOMAIN */
	dnss_put16(out, 4, 1);
	dnss_put16(out, 6, an);
	dnss_put16(out, 8, 0);
	dnss_put16(out, 10, 0);
	uv_buf_t b = uv_buf_init((char *)out, (unsigned)o);
	uv_udp_try_send(u, &b, 1, from);
}

/* Binds to 127.0.0.1 on a free port; 0 on success. */
static inline int dnss_start(dnss *s, uv_loop_t *loop, const dnss_record *table, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->table = table;
	s->n = n;
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	if (uv_udp_init(loop, &s->udp) < 0)
		return -1;
	s->udp.data = s;
	if (uv_udp_bind(&s->udp, (const struct sockaddr *)&sin, 0) < 0)
		return -1;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_udp_getsockname(&s->udp, (struct sockaddr *)&ss, &len);
	snprintf(s->servers, sizeof(s->servers), "127.0.0.1:%u",
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return uv_udp_recv_start(&s->udp, dnss_alloc, dnss_on_recv);
}

static inline void dnss_stop(dnss *s)
{
	uv_close((uv_handle_t *)&s->udp, NULL);
}

#endif
