/* Test helper: a tiny DNS server on 127.0.0.1 (UDP, on the test's libuv
 * loop) that answers A, AAAA and TXT questions from a table, so resolver
 * tests never send a query anywhere else.
 *
 * A record's data is an address in text ("192.0.2.1", "2001:db8::1") or,
 * for TXT, the value; '|' in a TXT value splits it into separate
 * character-strings of one record, as long records are sent. A name with
 * no record of the asked type gets an empty answer, an unknown name
 * NXDOMAIN, and a muted server no answer at all. Over UDP, an answer too
 * big for the client is truncated (TC), and TCP on the same port serves
 * it whole, as real servers do. A DNSS_SILENT record makes its name get no
 * answer, whatever the question. */
#ifndef P2P_TEST_DNSSERVER_H
#define P2P_TEST_DNSSERVER_H

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define DNSS_A      1
#define DNSS_TXT    16
#define DNSS_AAAA   28
#define DNSS_SILENT 0 /* not a DNS type: the server ignores this name */

typedef struct dnss_record {
	const char *name;
	uint16_t type;
	const char *data;
} dnss_record;

#define DNSS_MAX 4096 /* bytes in a message */

struct dnss_conn;

typedef struct dnss {
	uv_udp_t udp;
	uv_tcp_t tcp;
	struct dnss_conn *conns;
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
	static char space[DNSS_MAX]; /* the loop is single-threaded */
	buf->base = space;
	buf->len = sizeof(space);
}

/* The answer to query q[0..qlen) in out (DNSS_MAX bytes): its length, or
 * 0 for no answer. Over max bytes, only a truncated header (TC) is sent,
 * which tells the client to ask again over TCP. */
static size_t dnss_answer(dnss *s, const uint8_t *q, size_t qlen, uint8_t *out,
                          size_t max)
{
	if (qlen < 12)
		return 0;
	s->queries++;
	if (s->mute)
		return 0;
	/* The question: labels, then type and class. */
	char name[256];
	size_t off = 12, nlen = 0;
	while (off < qlen && q[off] != 0) {
		size_t l = q[off++];
		if (l > 63 || off + l > qlen || nlen + l + 1 >= sizeof(name))
			return 0;
		if (nlen)
			name[nlen++] = '.';
		for (size_t i = 0; i < l; i++)
			name[nlen++] = (char)tolower(q[off + i]);
		off += l;
	}
	name[nlen] = '\0';
	if (off + 5 > qlen)
		return 0;
	off++;
	uint16_t qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	size_t qend = off + 4;

	memcpy(out, q, qend);
	size_t o = qend;
	uint16_t an = 0;
	bool known = false;
	for (size_t i = 0; i < s->n; i++) {
		if (strcasecmp(s->table[i].name, name) != 0)
			continue;
		known = true;
		if (s->table[i].type == DNSS_SILENT)
			return 0;
		if (s->table[i].type != qtype || o + 12 > DNSS_MAX)
			continue;
		out[o++] = 0xc0; /* the name: a pointer to the question's */
		out[o++] = 12;
		o = dnss_put16(out, o, qtype);
		o = dnss_put16(out, o, 1);  /* IN */
		o = dnss_put16(out, o, 0);  /* TTL, high */
		o = dnss_put16(out, o, 60); /* TTL, low */
		size_t rdlen_at = o;
		o += 2;
		size_t end = dnss_rdata(&s->table[i], out, o, DNSS_MAX);
		if (end == 0) {
			fprintf(stderr, "dnss: bad test record for %s\n", name);
			return 0;
		}
		dnss_put16(out, rdlen_at, (uint16_t)(end - o));
		o = end;
		an++;
	}
	bool tc = o > max;
	if (tc) {
		o = qend;
		an = 0;
	}
	/* Header: response, truncated, recursion desired copied; recursion
	 * available, NXDOMAIN. */
	out[2] = (uint8_t)(0x80 | (tc ? 0x02 : 0) | (q[2] & 0x01));
	out[3] = (uint8_t)(0x80 | (known ? 0 : 3));
	dnss_put16(out, 4, 1);
	dnss_put16(out, 6, an);
	dnss_put16(out, 8, 0);
	dnss_put16(out, 10, 0);
	return o;
}

static void dnss_on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *from, unsigned flags)
{
	dnss *s = u->data;
	const uint8_t *q = (const uint8_t *)buf->base;
	if (nread < 12 || from == NULL)
		return;
	/* With an OPT record (EDNS) the client takes more than 512 bytes; we
	 * do not read its size but assume the usual 1232. */
	size_t max = (q[10] || q[11]) ? 1232 : 512;
	uint8_t out[DNSS_MAX];
	size_t n = dnss_answer(s, q, (size_t)nread, out, max);
	if (n == 0)
		return;
	uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);
	uv_udp_try_send(u, &b, 1, from);
}

/* --- TCP: each message after a 2-byte length --- */

typedef struct dnss_conn {
	uv_tcp_t tcp;
	dnss *s;
	uint8_t in[2 + DNSS_MAX];
	size_t in_len;
	struct dnss_conn *next;
} dnss_conn;

typedef struct dnss_write {
	uv_write_t req;
	uint8_t data[2 + DNSS_MAX];
} dnss_write;

static void dnss_conn_closed(uv_handle_t *h)
{
	dnss_conn *c = h->data;
	dnss_conn **link = &c->s->conns;
	while (*link != c)
		link = &(*link)->next;
	*link = c->next;
	free(c);
}

static void dnss_written(uv_write_t *req, int status)
{
	free(req->data);
}

static void dnss_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	dnss_conn *c = h->data;
	buf->base = (char *)c->in + c->in_len;
	buf->len = sizeof(c->in) - c->in_len;
}

static void dnss_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	dnss_conn *c = st->data;
	if (nread < 0) { /* EOF, error, or a message over DNSS_MAX */
		if (!uv_is_closing((uv_handle_t *)st))
			uv_close((uv_handle_t *)st, dnss_conn_closed);
		return;
	}
	c->in_len += (size_t)nread;
	while (c->in_len >= 2) {
		size_t len = (size_t)c->in[0] << 8 | c->in[1];
		if (c->in_len < 2 + len)
			return;
		dnss_write *w = malloc(sizeof(*w));
		size_t n =
		    w ? dnss_answer(c->s, c->in + 2, len, w->data + 2, DNSS_MAX) : 0;
		if (n) {
			dnss_put16(w->data, 0, (uint16_t)n);
			w->req.data = w;
			uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(n + 2));
			if (uv_write(&w->req, st, &b, 1, dnss_written) < 0)
				free(w);
		} else {
			free(w);
		}
		memmove(c->in, c->in + 2 + len, c->in_len - 2 - len);
		c->in_len -= 2 + len;
	}
}

static void dnss_on_connection(uv_stream_t *server, int status)
{
	dnss *s = server->data;
	dnss_conn *c = calloc(1, sizeof(*c));
	if (status < 0 || c == NULL) {
		free(c);
		return;
	}
	c->s = s;
	uv_tcp_init(server->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->conns;
	s->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, dnss_tcp_alloc, dnss_tcp_read) < 0)
		uv_close((uv_handle_t *)&c->tcp, dnss_conn_closed);
}

/* Binds TCP, then UDP, to 127.0.0.1 on one free port; 0 on success. */
static inline int dnss_start(dnss *s, uv_loop_t *loop, const dnss_record *table, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->table = table;
	s->n = n;
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(loop, &s->tcp);
	s->tcp.data = s;
	uv_udp_init(loop, &s->udp);
	s->udp.data = s;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sin, 0) < 0 ||
	    uv_listen((uv_stream_t *)&s->tcp, 8, dnss_on_connection) < 0 ||
	    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) < 0 ||
	    uv_udp_bind(&s->udp, (const struct sockaddr *)&ss, 0) < 0)
		return -1;
	snprintf(s->servers, sizeof(s->servers), "127.0.0.1:%u",
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return uv_udp_recv_start(&s->udp, dnss_alloc, dnss_on_recv);
}

static inline void dnss_stop(dnss *s)
{
	uv_close((uv_handle_t *)&s->udp, NULL);
	uv_close((uv_handle_t *)&s->tcp, NULL);
	for (dnss_conn *c = s->conns; c; c = c->next)
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, dnss_conn_closed);
}

#endif
