/* The DNS resolver of p2p/dns.h: c-ares asks the questions, libuv drives
 * its sockets (one uv_poll per socket c-ares opens, from its socket-state
 * callback) and its timeouts (one uv_timer set from ares_timeout).
 *
 * One p2p_dns_resolve is a job; each DNS look-up it makes is a lookup. A
 * job holds one reference per lookup in flight (and one while it is being
 * started): when the last goes, the job is finished and its callback is
 * delivered from a uv_idle, never from inside a c-ares call or from inside
 * p2p_dns_resolve (c-ares answers some look-ups, /etc/hosts and numeric
 * names, from inside the call that asks).
 *
 * Each job has a deadline, so one resolve never waits for all of c-ares's
 * tries. Every job gets the same delay, and the list of jobs is oldest
 * first, so the list is in deadline order too and one uv_timer for the
 * resolver is enough. A job past its deadline is delivered then, with
 * what it has; c-ares 1.x cannot cancel one query (ares_cancel ends every
 * query of the channel), so the job's lookups run on until c-ares gives
 * up, and the job's memory, without its results, lives until the last
 * one returns.
 *
 * c-ares needs no ares_library_init on Linux: since 1.7 it only sets up
 * Winsock, and ares_init checks it only on Windows. So no global state. */
#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p2p/dns.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

#define DNS_CLASS_IN      1
#define DNS_TYPE_TXT      16
#define DNSADDR_LABEL     "_dnsaddr."
#define P2P_DNS_EDNS_SIZE 1232 /* UDP payload we accept */

typedef struct dns_sock {
	p2p_dns *d;
	uv_poll_t poll;
	ares_socket_t fd;
	struct dns_sock *next;
} dns_sock;

typedef struct dns_job {
	p2p_dns *d;
	p2p_dns_cb cb;
	void *user;
	p2p_buf results[P2P_DNS_MAX_RESULTS];
	size_t n_results;
	size_t refs;       /* lookups in flight, +1 while one is being handled */
	size_t lookups;    /* lookups started, against P2P_DNS_MAX_LOOKUPS */
	int err;           /* why, if there is no result */
	uint64_t deadline; /* uv_now() by which the callback runs */
	bool finished;     /* no lookup left: waits for the idle to deliver */
	bool delivered;    /* callback ran (at the deadline); only lookups left */
	struct dns_job *prev, *next;
} dns_job;

typedef struct dns_lookup {
	dns_job *job;
	unsigned depth;      /* lookups made to reach addr */
	p2p_buf addr;        /* the address being resolved */
	p2p_dns_split split; /* its DNS component; points into addr */
} dns_lookup;

struct p2p_dns {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t timer;          /* c-ares's next timeout */
	uv_idle_t idle;            /* delivers finished jobs */
	uv_timer_t deadline_timer; /* the deadline of the oldest unfinished job */
	uint64_t deadline_ms;
	dns_sock *socks;
	dns_job *jobs, *jobs_tail; /* oldest first; every job not yet delivered */
	size_t closing_handles;
	bool closing;
	void (*on_closed)(void *user);
	void *closed_user;
};

static void job_add(dns_job *job, const uint8_t *addr, size_t len, unsigned depth);

static int from_ares(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return P2P_OK;
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		return P2P_ENOTFOUND;
	case ARES_ETIMEOUT:
		return P2P_ETIMEDOUT;
	case ARES_ENOMEM:
		return P2P_ENOMEM;
	case ARES_EBADNAME:
		return P2P_EINVAL;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return P2P_ECLOSED;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		return P2P_EPROTO;
	default: /* server failure, refused, connection refused, file errors */
		return P2P_EIO;
	}
}

/* --- c-ares's sockets and timer on libuv --- */

static void on_handle_closed(uv_handle_t *h);
static void on_timer(uv_timer_t *t);

static void update_timer(p2p_dns *d)
{
	if (d->closing)
		return;
	struct timeval tv;
	if (ares_timeout(d->channel, NULL, &tv) == NULL) {
		uv_timer_stop(&d->timer);
		return;
	}
	uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	uv_timer_start(&d->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
	p2p_dns *d = t->data;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	update_timer(d);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	dns_sock *s = p->data;
	p2p_dns *d = s->d;
	ares_socket_t fd = s->fd;
	/* On an error let c-ares read and write, and find the error itself.
	 * s may be gone once c-ares has run. */
	bool r = status < 0 || (events & UV_READABLE);
	bool w = status < 0 || (events & UV_WRITABLE);
	ares_process_fd(d->channel, r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
	update_timer(d);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	p2p_dns *d = data;
	dns_sock **link = &d->socks;
	while (*link && (*link)->fd != fd)
		link = &(*link)->next;
	dns_sock *s = *link;
	if (!readable && !writable) {
		/* c-ares closes fd after this returns: stop watching it now. */
		if (s) {
			*link = s->next;
			uv_poll_stop(&s->poll);
			d->closing_handles++;
			uv_close((uv_handle_t *)&s->poll, on_handle_closed);
		}
		return;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return; /* unwatched: the query times out */
		if (uv_poll_init_socket(d->loop, &s->poll, fd) < 0) {
			free(s);
			return;
		}
		s->d = d;
		s->fd = fd;
		s->poll.data = s;
		s->next = d->socks;
		d->socks = s;
	}
	uv_poll_start(&s->poll,
	              (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
	              on_poll);
}

/* --- jobs --- */

static void job_note_err(dns_job *job, int err)
{
	/* "Not found" is the least telling reason: any other one wins. */
	if (job->err == P2P_OK || job->err == P2P_ENOTFOUND)
		job->err = err;
}

static void on_idle(uv_idle_t *idle);

static void job_unref(dns_job *job)
{
	if (--job->refs > 0)
		return;
	if (job->delivered) { /* the last lookup of a job past its deadline */
		free(job);
		return;
	}
	job->finished = true;
	if (!job->d->closing)
		uv_idle_start(&job->d->idle, on_idle);
}

static void job_add_result(dns_job *job, const uint8_t *addr, size_t len)
{
	for (size_t i = 0; i < job->n_results; i++)
		if (job->results[i].len == len &&
		    memcmp(job->results[i].data, addr, len) == 0)
			return;
	if (job->n_results == P2P_DNS_MAX_RESULTS)
		return; /* the limit: the first ones are kept */
	p2p_buf *b = &job->results[job->n_results];
	p2p_buf_init(b);
	if (p2p_buf_append(b, addr, len) < 0)
		job_note_err(job, P2P_ENOMEM);
	else
		job->n_results++;
}

static void lookup_free(dns_lookup *l)
{
	p2p_buf_free(&l->addr);
	free(l);
}

/* Ends a lookup: frees it and drops its reference on the job. */
static void lookup_done(dns_lookup *l)
{
	dns_job *job = l->job;
	lookup_free(l);
	job_unref(job);
}

/* One address found for a /dns* lookup. */
static bool lookup_ip(dns_lookup *l, const struct sockaddr *sa)
{
	if ((l->split.code == P2P_MA_DNS4 && sa->sa_family != AF_INET) ||
	    (l->split.code == P2P_MA_DNS6 && sa->sa_family != AF_INET6))
		return false;
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_dns_expand_ip(l->addr.data, l->addr.len, &l->split, sa, &out);
	if (rc == P2P_OK)
		job_add(l->job, out.data, out.len, l->depth + 1);
	else
		job_note_err(l->job, rc);
	p2p_buf_free(&out);
	return rc == P2P_OK;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	dns_lookup *l = arg;
	dns_job *job = l->job;
	if (status != ARES_SUCCESS || job->d->closing || job->delivered) {
		job_note_err(job, from_ares(status));
		goto out;
	}
	size_t found = 0;
	for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next)
		found += lookup_ip(l, n->ai_addr);
	if (found == 0)
		job_note_err(job, P2P_ENOTFOUND);
out:
	if (res)
		ares_freeaddrinfo(res);
	lookup_done(l);
}

/* RFC 6761 6.3: "localhost" and names under it are the loopback
 * addresses, never asked of a server. (c-ares 1.18 has this rule too, but
 * its fallback for a family /etc/hosts lacks leaks the name.) */
static bool is_localhost(const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	return (n == 9 || (n > 9 && name[n - 10] == '.')) &&
	       strncasecmp(name + n - 9, "localhost", 9) == 0;
}

static void lookup_localhost(dns_lookup *l)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6,
	                          .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (l->split.code == P2P_MA_DNSADDR)
		job_note_err(l->job, P2P_ENOTFOUND);
	else {
		lookup_ip(l, (struct sockaddr *)&v4); /* the one that fits the */
		lookup_ip(l, (struct sockaddr *)&v6); /* protocol, or both */
	}
	lookup_done(l);
}

/* One TXT record: c-ares gives its strings one by one, record_start set on
 * the first; they are joined before the record is read. */
static void txt_record(dns_lookup *l, const p2p_buf *txt, size_t *found)
{
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_dnsaddr_expand(l->addr.data, l->addr.len, &l->split, txt->data,
	                            txt->len, &out);
	if (rc == P2P_OK) {
		(*found)++;
		job_add(l->job, out.data, out.len, l->depth + 1);
	} else if (rc == P2P_ENOMEM) {
		job_note_err(l->job, rc);
	} /* else not a dnsaddr record, another suffix, or malformed: skip */
	p2p_buf_free(&out);
}

static void on_txt(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	dns_lookup *l = arg;
	dns_job *job = l->job;
	struct ares_txt_ext *txts = NULL;
	if (status == ARES_SUCCESS && !job->d->closing && !job->delivered)
		status = ares_parse_txt_reply_ext(abuf, alen, &txts);
	if (status != ARES_SUCCESS || job->d->closing || job->delivered) {
		job_note_err(job, from_ares(status));
		goto out;
	}
	size_t found = 0;
	p2p_buf rec;
	p2p_buf_init(&rec);
	bool have = false;
	for (struct ares_txt_ext *t = txts; t; t = t->next) {
		if (t->record_start && have) {
			txt_record(l, &rec, &found);
			p2p_buf_reset(&rec);
		}
		have = true;
		if (p2p_buf_append(&rec, t->txt, t->length) < 0) {
			job_note_err(job, P2P_ENOMEM);
			have = false;
			break;
		}
	}
	if (have)
		txt_record(l, &rec, &found);
	p2p_buf_free(&rec);
	if (found == 0)
		job_note_err(job, P2P_ENOTFOUND);
out:
	if (txts)
		ares_free_data(txts);
	lookup_done(l);
}

static void lookup_start(dns_job *job, const uint8_t *addr, size_t len, unsigned depth)
{
	dns_lookup *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		job_note_err(job, P2P_ENOMEM);
		return;
	}
	l->job = job;
	l->depth = depth;
	p2p_buf_init(&l->addr);
	if (p2p_buf_append(&l->addr, addr, len) < 0 ||
	    p2p_dns_find(l->addr.data, l->addr.len, &l->split) != 1) {
		job_note_err(job, P2P_ENOMEM);
		lookup_free(l);
		return;
	}
	job->lookups++;
	job->refs++;
	/* A label prefix plus a name: no more than P2P_DNS_MAX_NAME each. */
	char name[sizeof(DNSADDR_LABEL) + P2P_DNS_MAX_NAME];
	memcpy(name, l->split.name, l->split.name_len);
	name[l->split.name_len] = '\0';
	if (is_localhost(name)) {
		lookup_localhost(l);
		return;
	}
	if (l->split.code == P2P_MA_DNSADDR) {
		memcpy(name, DNSADDR_LABEL, sizeof(DNSADDR_LABEL) - 1);
		memcpy(name + sizeof(DNSADDR_LABEL) - 1, l->split.name,
		       l->split.name_len);
		name[sizeof(DNSADDR_LABEL) - 1 + l->split.name_len] = '\0';
		ares_query(job->d->channel, name, DNS_CLASS_IN, DNS_TYPE_TXT, on_txt, l);
		return;
	}
	struct ares_addrinfo_hints hints = {
	    /* NOSORT: sorting (RFC 6724) would connect UDP sockets to every
	     * address found, to learn the source addresses. */
	    .ai_flags = ARES_AI_NOSORT,
	    .ai_family = l->split.code == P2P_MA_DNS4   ? AF_INET
	                 : l->split.code == P2P_MA_DNS6 ? AF_INET6
	                                                : AF_UNSPEC,
	};
	ares_getaddrinfo(job->d->channel, name, NULL, &hints, on_addrinfo, l);
}

/* Takes one address into the job: a result if it has no DNS component,
 * else a lookup, within the limits. */
static void job_add(dns_job *job, const uint8_t *addr, size_t len, unsigned depth)
{
	p2p_dns_split split;
	int rc = p2p_dns_find(addr, len, &split);
	if (rc < 0)
		job_note_err(job, rc);
	else if (rc == 0)
		job_add_result(job, addr, len);
	else if (depth >= P2P_DNS_MAX_DEPTH || job->lookups >= P2P_DNS_MAX_LOOKUPS)
		job_note_err(job, P2P_ELIMIT);
	else
		lookup_start(job, addr, len, depth);
}

static void job_free_results(dns_job *job)
{
	for (size_t i = 0; i < job->n_results; i++)
		p2p_buf_free(&job->results[i]);
	job->n_results = 0;
}

static void job_unlink(p2p_dns *d, dns_job *job)
{
	if (job->prev)
		job->prev->next = job->next;
	else
		d->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	else
		d->jobs_tail = job->prev;
}

/* Runs the job's callback, which is out of the list already, and frees
 * its results; the job itself is freed by the caller, or by its last
 * lookup if it has lookups in flight. */
static void job_report(dns_job *job, int err)
{
	if (err == P2P_OK && job->n_results == 0)
		err = job->err ? job->err : P2P_ENOTFOUND;
	job->delivered = true;
	if (err < 0)
		job->cb(err, NULL, 0, job->user);
	else
		job->cb(P2P_OK, job->results, job->n_results, job->user);
	job_free_results(job);
}

/* job_report for a job with no lookup left, which is then freed. */
static void job_deliver(dns_job *job, int err)
{
	job_report(job, err);
	free(job);
}

static dns_job *first_unfinished(p2p_dns *d)
{
	dns_job *job = d->jobs;
	while (job && job->finished)
		job = job->next;
	return job;
}

static void on_deadline(uv_timer_t *t);

/* Sets the timer to the deadline of the oldest job still waiting for a
 * lookup, or stops it, so that it keeps the loop alive only while there
 * is something to wait for. */
static void update_deadline(p2p_dns *d)
{
	if (d->closing)
		return;
	dns_job *job = first_unfinished(d);
	if (job == NULL) {
		uv_timer_stop(&d->deadline_timer);
		return;
	}
	uint64_t now = uv_now(d->loop);
	uv_timer_start(&d->deadline_timer, on_deadline,
	               job->deadline > now ? job->deadline - now : 0, 0);
}

static void on_deadline(uv_timer_t *t)
{
	p2p_dns *d = t->data;
	uint64_t now = uv_now(d->loop);
	/* As in on_idle, a callback may resolve again or close the resolver. */
	while (!d->closing) {
		dns_job *job = first_unfinished(d);
		if (job == NULL || job->deadline > now)
			break;
		job_unlink(d, job);
		/* The addresses found so far, if any, else the timeout: it is why
		 * there is nothing, whatever a finished lookup said. */
		if (job->n_results == 0)
			job->err = P2P_ETIMEDOUT;
		job_report(job, P2P_OK);
	}
	update_deadline(d);
}

static void on_idle(uv_idle_t *idle)
{
	p2p_dns *d = idle->data;
	/* A callback may resolve again (a new job, maybe finished already)
	 * or close the resolver (then p2p_dns_close delivers the rest). */
	while (!d->closing) {
		dns_job *job = d->jobs;
		while (job && !job->finished)
			job = job->next;
		if (job == NULL) {
			uv_idle_stop(idle);
			update_deadline(d);
			return;
		}
		job_unlink(d, job);
		job_deliver(job, P2P_OK);
	}
}

/* --- lifetime --- */

int p2p_dns_new(p2p_dns **out, uv_loop_t *loop, const p2p_dns_config *cfg)
{
	p2p_dns *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return P2P_ENOMEM;
	d->loop = loop;
	char lookups[] = "fb"; /* /etc/hosts, then DNS */
	struct ares_options o = {
	    .timeout = cfg && cfg->timeout_ms ? (int)cfg->timeout_ms : P2P_DNS_TIMEOUT_MS,
	    .tries = cfg && cfg->tries ? (int)cfg->tries : P2P_DNS_TRIES,
	    .lookups = lookups,
	    /* EDNS: dnsaddr answers are often over 512 bytes (the spec's
	     * caveat); 1232 is what DNS Flag Day 2020 settled on. */
	    .flags = ARES_FLAG_EDNS,
	    .ednspsz = P2P_DNS_EDNS_SIZE,
	    .sock_state_cb = on_sock_state,
	    .sock_state_cb_data = d,
	};
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
	           ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ;
	int st = ares_init_options(&d->channel, &o, mask);
	if (st != ARES_SUCCESS) {
		free(d);
		return st == ARES_ENOMEM ? P2P_ENOMEM : P2P_EIO;
	}
	if (cfg && cfg->servers) {
		st = ares_set_servers_ports_csv(d->channel, cfg->servers);
		if (st != ARES_SUCCESS) {
			ares_destroy(d->channel);
			free(d);
			return st == ARES_ENOMEM ? P2P_ENOMEM : P2P_EINVAL;
		}
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_idle_init(loop, &d->idle);
	d->idle.data = d;
	uv_timer_init(loop, &d->deadline_timer);
	d->deadline_timer.data = d;
	d->deadline_ms = cfg && cfg->deadline_ms ? cfg->deadline_ms : P2P_DNS_DEADLINE_MS;
	*out = d;
	return P2P_OK;
}

static void on_handle_closed(uv_handle_t *h)
{
	p2p_dns *d;
	if (h->type == UV_POLL) {
		dns_sock *s = h->data;
		d = s->d;
		free(s);
	} else {
		d = h->data;
	}
	if (--d->closing_handles > 0 || !d->closing)
		return;
	/* Every handle is closed: fail what is left, then free. */
	dns_job *list = d->jobs;
	d->jobs = d->jobs_tail = NULL;
	while (list) {
		dns_job *job = list;
		list = job->next;
		job_deliver(job, P2P_ECLOSED);
	}
	void (*cb)(void *) = d->on_closed;
	void *user = d->closed_user;
	free(d);
	if (cb)
		cb(user);
}

void p2p_dns_close(p2p_dns *d, void (*on_closed)(void *user), void *user)
{
	if (d->closing)
		return;
	d->closing = true;
	d->on_closed = on_closed;
	d->closed_user = user;
	/* Every lookup's callback runs now with ARES_EDESTRUCTION, and every
	 * socket's state callback with (0, 0), which closes its poll. */
	ares_destroy(d->channel);
	d->channel = NULL;
	while (d->socks) { /* none should be left; be sure */
		dns_sock *s = d->socks;
		d->socks = s->next;
		uv_poll_stop(&s->poll);
		d->closing_handles++;
		uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	}
	d->closing_handles += 3;
	uv_close((uv_handle_t *)&d->timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->idle, on_handle_closed);
	uv_close((uv_handle_t *)&d->deadline_timer, on_handle_closed);
}

int p2p_dns_resolve(p2p_dns *d, const uint8_t *maddr, size_t len, p2p_dns_cb cb,
                    void *user)
{
	if (d->closing)
		return P2P_ECLOSED;
	p2p_dns_split split;
	if (cb == NULL || p2p_dns_find(maddr, len, &split) < 0)
		return P2P_EINVAL;
	dns_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return P2P_ENOMEM;
	job->d = d;
	job->cb = cb;
	job->user = user;
	/* uv_now() is cached at the start of the loop's turn: without an
	 * update, the deadline could come earlier than asked. */
	uv_update_time(d->loop);
	job->deadline = uv_now(d->loop) + d->deadline_ms;
	job->prev = d->jobs_tail;
	if (d->jobs_tail)
		d->jobs_tail->next = job;
	else
		d->jobs = job;
	d->jobs_tail = job;
	job->refs = 1; /* held while the first lookups start */
	job_add(job, maddr, len, 0);
	job_unref(job);
	update_timer(d);
	update_deadline(d);
	return P2P_OK;
}
