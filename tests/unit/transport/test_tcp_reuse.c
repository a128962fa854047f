/* Port reuse (transport.h, p2p_tcp_dial_opts): dials that leave from a
 * listener's port, on real loopback sockets.
 *
 * What Linux (6.x) does, as these tests pin down:
 * - A listener and dials may share a port when all set SO_REUSEADDR and
 *   SO_REUSEPORT (and belong to one user); a socket that did not set
 *   SO_REUSEPORT and listens on the port makes the dial's bind fail with
 *   EADDRINUSE.
 * - A second connection from the same port to the same destination fails
 *   in connect() itself, at once, with EADDRNOTAVAIL (the 4-tuple is
 *   taken), whichever side dialed the first one.
 * - A connection in TIME_WAIT does not block the 4-tuple for an
 *   explicitly bound connect when TCP timestamps were on (the default):
 *   the kernel takes the TIME_WAIT socket over (tcp_twsk_unique, whatever
 *   net.ipv4.tcp_tw_reuse says). Without timestamps it is EADDRNOTAVAIL,
 *   and the dial falls back.
 * - Two sockets that connect() to each other from their listeners' ports
 *   "at once" on loopback do not make a simultaneous open: the first SYN
 *   is delivered inside the first connect() call, finds no connecting
 *   socket and goes to the other side's listener; the second connect()
 *   then finds its 4-tuple taken by that accepted connection
 *   (EADDRNOTAVAIL). The SYNs only cross when the first one is lost (as
 *   in a NAT without a mapping yet; here a listener whose accept queue is
 *   full drops it): the second SYN then reaches the first socket, still
 *   in SYN_SENT (connecting sockets are looked up before listeners), and
 *   both connects succeed, with no accept on either side. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/transport.h"
#include "uvtest.h"

#define MAX_ENDS 8

/* One end of a connection that the test holds. */
typedef struct end {
	p2p_pipe *pipe;
	p2p_buf got;
	bool closed;
} end;

typedef struct listener {
	p2p_tcp_listener *l;
	uint16_t port;
	end *accepted[MAX_ENDS];
	int n_accepted;
} listener;

typedef struct dial {
	bool done;
	int err;
	end e;
} dial;

typedef struct fixture {
	uv_loop_t loop;
	listener ls[3];
	int n_ls;
	dial dials[MAX_ENDS];
	int n_dials;
} fixture;

/* --- ends --- */

static void end_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	end *e = user;
	assert_int_equal(p2p_buf_append(&e->got, data, len), 0);
}

static void end_close(p2p_pipe *p, void *user)
{
	end *e = user;
	e->closed = true;
	e->pipe = NULL;
}

static const p2p_pipe_callbacks end_cbs = {
    .on_read = end_read,
    .on_close = end_close,
};

static void end_take(end *e, p2p_pipe *pipe)
{
	e->pipe = pipe;
	p2p_buf_init(&e->got);
	p2p_pipe_set_callbacks(pipe, &end_cbs, e);
	assert_int_equal(p2p_pipe_read_start(pipe), 0);
}

static uint16_t addr_port(const p2p_buf *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(p2p_multiaddr_to_sockaddr(addr->data, addr->len, &ss, &len), 0);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static uint16_t local_port(const end *e)
{
	return addr_port(&e->pipe->local_addr);
}

static uint16_t remote_port(const end *e)
{
	return addr_port(&e->pipe->remote_addr);
}

/* Sends text on a and waits for it on b. */
static void flows(fixture *f, end *a, end *b, const char *text)
{
	size_t had = b->got.len, n = strlen(text);
	p2p_buf m;
	p2p_buf_init(&m);
	assert_int_equal(p2p_buf_append(&m, text, n), 0);
	assert_int_equal(p2p_pipe_write(a->pipe, &m), 0);
	for (int i = 0; i < 250 && b->got.len < had + n; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(b->got.len, had + n);
	assert_memory_equal(b->got.data + had, text, n);
}

/* --- listeners and dials --- */

static void on_accept(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	listener *ls = user;
	assert_true(ls->n_accepted < MAX_ENDS);
	end *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	end_take(e, pipe);
	ls->accepted[ls->n_accepted++] = e;
}

static listener *listen_on(fixture *f, const char *text)
{
	listener *ls = &f->ls[f->n_ls];
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), 0);
	int rc = p2p_tcp_listen(&ls->l, &f->loop, bin.data, bin.len, NULL, on_accept, ls);
	p2p_buf_free(&bin);
	if (rc < 0)
		return NULL;
	f->n_ls++;
	ls->port = addr_port(p2p_tcp_listener_addr(ls->l));
	return ls;
}

static listener *listen_lo(fixture *f)
{
	listener *ls = listen_on(f, "/ip4/127.0.0.1/tcp/0");
	assert_non_null(ls);
	return ls;
}

static void on_dialed(p2p_pipe *pipe, int err, void *user)
{
	dial *d = user;
	assert_false(d->done);
	d->done = true;
	d->err = err;
	if (pipe)
		end_take(&d->e, pipe);
}

/* Starts a dial from `from` (0: ephemeral) to addr; *rc is what
 * p2p_tcp_dial_ex returned (if not 0, the dial never reports: done stays
 * false). */
static dial *dial_addr(fixture *f, uint16_t from, const p2p_buf *addr, bool no_fallback,
                       int *rc)
{
	assert_true(f->n_dials < MAX_ENDS);
	dial *d = &f->dials[f->n_dials++];
	p2p_tcp_dial_opts o = {.local_port = from, .no_fallback = no_fallback};
	*rc = p2p_tcp_dial_ex(NULL, &f->loop, addr->data, addr->len, 2000, &o, on_dialed,
	                      d);
	return d;
}

static dial *dial_start(fixture *f, uint16_t from, const listener *ls, bool no_fallback,
                        int *rc)
{
	return dial_addr(f, from, p2p_tcp_listener_addr(ls->l), no_fallback, rc);
}

/* A dial from `from` to ls that must connect; returns its end. */
static end *dial_ok(fixture *f, uint16_t from, const listener *ls)
{
	int rc;
	dial *d = dial_start(f, from, ls, false, &rc);
	assert_int_equal(rc, 0);
	assert_true(uvt_run(&f->loop, &d->done, 5000));
	assert_int_equal(d->err, 0);
	return &d->e;
}

/* Runs the loop until ls accepted n connections. */
static void wait_accepted(fixture *f, const listener *ls, int n)
{
	for (int i = 0; i < 250 && ls->n_accepted < n; i++)
		uvt_run(&f->loop, &(bool){false}, 20);
	assert_int_equal(ls->n_accepted, n);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	uv_loop_init(&f->loop);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	for (int i = 0; i < f->n_dials; i++)
		if (f->dials[i].e.pipe)
			p2p_pipe_close(f->dials[i].e.pipe);
	for (int i = 0; i < f->n_ls; i++) {
		for (int j = 0; j < f->ls[i].n_accepted; j++)
			if (f->ls[i].accepted[j]->pipe)
				p2p_pipe_close(f->ls[i].accepted[j]->pipe);
		p2p_tcp_listener_close(f->ls[i].l, NULL, NULL);
	}
	assert_true(uvt_drain(&f->loop));
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (int i = 0; i < f->n_dials; i++)
		p2p_buf_free(&f->dials[i].e.got);
	for (int i = 0; i < f->n_ls; i++)
		for (int j = 0; j < f->ls[i].n_accepted; j++) {
			p2p_buf_free(&f->ls[i].accepted[j]->got);
			free(f->ls[i].accepted[j]);
		}
	free(f);
	return 0;
}

/* --- the tests --- */

/* (a) A dial from a listener's port: the accepting side sees that port. */
static void test_dial_from_listen_port(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	end *e = dial_ok(f, a->port, b);
	assert_int_equal(local_port(e), a->port);
	wait_accepted(f, b, 1);
	assert_int_equal(remote_port(b->accepted[0]), a->port);
	flows(f, e, b->accepted[0], "hello");
	flows(f, b->accepted[0], e, "back");
	assert_int_equal(a->n_accepted, 0);
	/* The listener still takes connections on its port. */
	end *in = dial_ok(f, 0, a);
	wait_accepted(f, a, 1);
	flows(f, in, a->accepted[0], "still listening");
}

/* (b) One port, two destinations: two different 4-tuples, both fine. */
static void test_two_destinations(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f), *c = listen_lo(f);
	int rc1, rc2;
	dial *d1 = dial_start(f, a->port, b, true, &rc1);
	dial *d2 = dial_start(f, a->port, c, true, &rc2);
	assert_int_equal(rc1, 0);
	assert_int_equal(rc2, 0);
	assert_true(uvt_run(&f->loop, &d1->done, 5000));
	assert_true(uvt_run(&f->loop, &d2->done, 5000));
	assert_int_equal(d1->err, 0);
	assert_int_equal(d2->err, 0);
	assert_int_equal(local_port(&d1->e), a->port);
	assert_int_equal(local_port(&d2->e), a->port);
	wait_accepted(f, b, 1);
	wait_accepted(f, c, 1);
	assert_int_equal(remote_port(b->accepted[0]), a->port);
	assert_int_equal(remote_port(c->accepted[0]), a->port);
	flows(f, &d1->e, b->accepted[0], "to b");
	flows(f, &d2->e, c->accepted[0], "to c");
}

/* (c) The 4-tuple is taken (a connection from the port to the same
 * destination exists, dialed either way): the dial goes out from an
 * ephemeral port instead, or fails if asked not to fall back. */
static void test_same_destination_falls_back(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	end *first = dial_ok(f, a->port, b);
	assert_int_equal(local_port(first), a->port);
	wait_accepted(f, b, 1);

	end *second = dial_ok(f, a->port, b);
	assert_int_not_equal(local_port(second), a->port);
	wait_accepted(f, b, 2);
	assert_int_not_equal(remote_port(b->accepted[1]), a->port);
	flows(f, second, b->accepted[1], "second");
	flows(f, first, b->accepted[0], "first still works");

	/* The same 4-tuple seen from b: b's port to a's port. */
	end *back = dial_ok(f, b->port, a);
	assert_int_not_equal(local_port(back), b->port);
	wait_accepted(f, a, 1);
	flows(f, back, a->accepted[0], "back");

	/* Without the fallback: connect() said EADDRNOTAVAIL at once. */
	int rc;
	dial_start(f, a->port, b, true, &rc);
	assert_int_equal(rc, P2P_EADDRINUSE);
}

static void never_called(uv_stream_t *server, int status)
{
	fail();
}

static void on_plain_closed(uv_handle_t *h)
{
	*(bool *)h->data = true;
}

/* Closes a handle on the test's stack before the test returns. */
static void close_plain(fixture *f, uv_tcp_t *t)
{
	bool closed = false;
	t->data = &closed;
	uv_close((uv_handle_t *)t, on_plain_closed);
	assert_true(uvt_run(&f->loop, &closed, 5000));
}

/* The port is held by a listener that did not set SO_REUSEPORT (on
 * another loopback address, which our listener's bind allows): the dial's
 * bind to the wildcard address fails, and the dial falls back. */
static void test_bind_taken_falls_back(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	uv_tcp_t plain; /* libuv sets SO_REUSEADDR, not SO_REUSEPORT */
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.2", a->port, &sin);
	uv_tcp_init(&f->loop, &plain);
	if (uv_tcp_bind(&plain, (const struct sockaddr *)&sin, 0) != 0 ||
	    uv_listen((uv_stream_t *)&plain, 1, never_called) != 0) {
		close_plain(f, &plain);
		skip(); /* no 127.0.0.2 here */
	}
	int rc;
	dial_start(f, a->port, b, true, &rc);
	assert_int_equal(rc, P2P_EADDRINUSE);
	end *e = dial_ok(f, a->port, b);
	assert_int_not_equal(local_port(e), a->port);
	wait_accepted(f, b, 1);
	flows(f, e, b->accepted[0], "ephemeral");
	close_plain(f, &plain);
}

/* We closed first, so the connection's 4-tuple is in TIME_WAIT on our
 * side; a new dial from the port to the same destination still connects
 * (from the port itself when the kernel takes the TIME_WAIT socket over,
 * see the top; else from an ephemeral one). */
static void test_time_wait(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	end *first = dial_ok(f, a->port, b);
	wait_accepted(f, b, 1);
	p2p_pipe_close(first->pipe);
	assert_true(uvt_run(&f->loop, &first->closed, 5000));
	/* b has the EOF by now: it closes its side too. */
	uvt_run(&f->loop, &(bool){false}, 50);
	p2p_pipe_close(b->accepted[0]->pipe);
	assert_true(uvt_run(&f->loop, &b->accepted[0]->closed, 5000));
	uvt_run(&f->loop, &(bool){false}, 50); /* its FIN reaches us */

	end *again = dial_ok(f, a->port, b);
	wait_accepted(f, b, 2);
	assert_int_equal(remote_port(b->accepted[1]), local_port(again));
	flows(f, again, b->accepted[1], "after TIME_WAIT");
}

/* The connections of one side: its dial, if it connected, and what its
 * listener accepted. */
static int side_count(const dial *d, const listener *ls)
{
	return (d->done && d->err == 0 ? 1 : 0) + ls->n_accepted;
}

/* The side's one connection. */
static end *side_end(dial *d, const listener *ls)
{
	return d->done && d->err == 0 ? &d->e : ls->accepted[0];
}

/* (d) Each side dials the other from its listener's port at the same time
 * (DCUtR's TCP simultaneous open), without fallback. On loopback Linux
 * delivers the first SYN to the other side's listener and the second
 * connect() fails at once (see the top); if the SYNs did cross, both
 * dials would succeed and neither listener accept. Either way there is
 * exactly one connection, and bytes flow both ways on it. */
static void test_simultaneous_open_listeners(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	int ra, rb;
	dial *da = dial_start(f, a->port, b, true, &ra);
	dial *db = dial_start(f, b->port, a, true, &rb);
	assert_int_equal(ra, 0);
	assert_true(rb == 0 || rb == P2P_EADDRINUSE);
	assert_true(uvt_run(&f->loop, &da->done, 5000));
	if (rb == 0)
		assert_true(uvt_run(&f->loop, &db->done, 5000));
	uvt_run(&f->loop, &(bool){false}, 100); /* accepts, if any, come in */
	assert_int_equal(side_count(da, a), 1);
	assert_int_equal(side_count(db, b), 1);
	if (da->err == 0 && db->done && db->err == 0) {
		/* The SYNs crossed: no listener saw them. */
		assert_int_equal(a->n_accepted + b->n_accepted, 0);
	} else {
		/* What Linux does on loopback: a's SYN went to b's listener. */
		assert_int_equal(da->err, 0);
		assert_int_equal(rb, P2P_EADDRINUSE);
		assert_int_equal(b->n_accepted, 1);
		assert_int_equal(remote_port(b->accepted[0]), a->port);
	}
	end *ea = side_end(da, a), *eb = side_end(db, b);
	assert_int_equal(local_port(ea), a->port);
	assert_int_equal(local_port(eb), b->port);
	flows(f, ea, eb, "a to b");
	flows(f, eb, ea, "b to a");
}

/* A listening socket with the options of ours, outside libuv, that never
 * accepts: with a backlog of 0 its accept queue is full once one
 * connection is in it, and the kernel then drops further SYNs, the way a
 * NAT without a mapping drops the first SYN of a hole punch. */
static int raw_listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	const int on = 1;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 0), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Connections waiting in a listener's accept queue (TCP_INFO reports it
 * as tcpi_unacked for a listening socket). */
static unsigned accept_queue(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_unacked;
}

/* (d) again, the SYNs made to cross: b's listener drops a's SYN (its
 * accept queue is full), so b's SYN, sent next from b's listening port,
 * reaches a's socket still in SYN_SENT, and both connects succeed: a real
 * TCP simultaneous open, with no accept on either side. */
static void test_simultaneous_open_crossing(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f);
	uint16_t b_port;
	int b_listener = raw_listener(&b_port);
	/* Fill b's accept queue. */
	int filler = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(b_port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);
	for (int i = 0; i < 100 && accept_queue(b_listener) < 1; i++)
		usleep(1000);
	assert_int_equal(accept_queue(b_listener), 1);

	p2p_buf baddr;
	p2p_buf_init(&baddr);
	assert_int_equal(p2p_multiaddr_from_sockaddr((struct sockaddr *)&sin, &baddr), 0);
	uint64_t t0 = uv_hrtime();
	int ra, rb;
	dial *da = dial_addr(f, a->port, &baddr, true, &ra);
	dial *db = dial_start(f, b_port, a, true, &rb);
	assert_int_equal(ra, 0);
	assert_int_equal(rb, 0);
	assert_true(uvt_run(&f->loop, &da->done, 5000));
	assert_true(uvt_run(&f->loop, &db->done, 5000));
	/* Before a's SYN is sent again (1 s): the crossing did it. */
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	assert_int_equal(da->err, 0);
	assert_int_equal(db->err, 0);
	assert_true(ms < 900);
	uvt_run(&f->loop, &(bool){false}, 50);
	assert_int_equal(a->n_accepted, 0);
	assert_int_equal(accept_queue(b_listener), 1); /* the filler only */
	assert_int_equal(local_port(&da->e), a->port);
	assert_int_equal(remote_port(&da->e), b_port);
	assert_int_equal(local_port(&db->e), b_port);
	assert_int_equal(remote_port(&db->e), a->port);
	flows(f, &da->e, &db->e, "crossed");
	flows(f, &db->e, &da->e, "and back");
	p2p_buf_free(&baddr);
	close(filler);
	close(b_listener);
}

/* IPv6, where the machine has it: bound to [::] on the port. */
static void test_ip6(void **state)
{
	fixture *f = *state;
	listener *a = listen_on(f, "/ip6/::1/tcp/0");
	listener *b = a ? listen_on(f, "/ip6/::1/tcp/0") : NULL;
	if (b == NULL)
		skip();
	end *e = dial_ok(f, a->port, b);
	assert_int_equal(local_port(e), a->port);
	wait_accepted(f, b, 1);
	assert_int_equal(remote_port(b->accepted[0]), a->port);
	flows(f, e, b->accepted[0], "v6");
}

/* No options, or port 0: an ephemeral port, as p2p_tcp_dial. */
static void test_no_port(void **state)
{
	fixture *f = *state;
	listener *a = listen_lo(f), *b = listen_lo(f);
	end *e = dial_ok(f, 0, b);
	assert_int_not_equal(local_port(e), a->port);
	assert_int_not_equal(local_port(e), 0);
	wait_accepted(f, b, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dial_from_listen_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_destinations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_destination_falls_back, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bind_taken_falls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_simultaneous_open_listeners, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_simultaneous_open_crossing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ip6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_port, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
