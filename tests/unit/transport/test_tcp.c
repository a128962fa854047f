/* The TCP transport as plain pipes: real loopback sockets, no handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/transport.h"
#include "uvtest.h"

#define PAYLOAD (3 * 1024 * 1024 + 17)

typedef struct echo_server {
	p2p_tcp_listener *l;
	p2p_pipe *conn;
	size_t echoed;
	bool closed;
	bool listener_closed;
} echo_server;

typedef struct client {
	p2p_pipe *pipe;
	int dial_err;
	bool dialed;
	uint8_t *sent;
	p2p_buf got;
	bool eof;
	bool closed;
} client;

static void srv_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	echo_server *s = user;
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_buf_append(&b, data, len), 0);
	assert_int_equal(p2p_pipe_write(p, &b), 0);
	assert_null(b.data); /* moved, not copied */
	s->echoed += len;
	/* Backpressure: stop reading while the echo queue is long. */
	if (p2p_pipe_congested(p))
		p2p_pipe_read_stop(p);
}

static void srv_drain(p2p_pipe *p, void *user)
{
	p2p_pipe_read_start(p);
}

static void srv_eof(p2p_pipe *p, void *user)
{
	p2p_pipe_shutdown(p);
}

static void srv_close(p2p_pipe *p, void *user)
{
	((echo_server *)user)->closed = true;
}

static void srv_error(p2p_pipe *p, int err, void *user)
{
	p2p_pipe_close(p);
}

static const p2p_pipe_callbacks srv_cbs = {
    .on_read = srv_read,
    .on_eof = srv_eof,
    .on_drain = srv_drain,
    .on_close = srv_close,
    .on_error = srv_error,
};

static void on_accept(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	echo_server *s = user;
	assert_null(s->conn);
	assert_true(pipe->remote_addr.len > 0);
	s->conn = pipe;
	p2p_pipe_set_callbacks(pipe, &srv_cbs, s);
	assert_int_equal(p2p_pipe_read_start(pipe), 0);
}

static void cli_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	client *c = user;
	assert_int_equal(p2p_buf_append(&c->got, data, len), 0);
}

static void cli_eof(p2p_pipe *p, void *user)
{
	((client *)user)->eof = true;
}

static void cli_close(p2p_pipe *p, void *user)
{
	((client *)user)->closed = true;
}

static const p2p_pipe_callbacks cli_cbs = {
    .on_read = cli_read,
    .on_eof = cli_eof,
    .on_close = cli_close,
};

static void on_dial(p2p_pipe *pipe, int err, void *user)
{
	client *c = user;
	c->dialed = true;
	c->dial_err = err;
	c->pipe = pipe;
	if (pipe) {
		p2p_pipe_set_callbacks(pipe, &cli_cbs, c);
		p2p_pipe_read_start(pipe);
	}
}

static void on_listener_closed(void *user)
{
	((echo_server *)user)->listener_closed = true;
}

static void listen_on(uv_loop_t *loop, echo_server *s, const char *text)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), 0);
	assert_int_equal(
	    p2p_tcp_listen(&s->l, loop, bin.data, bin.len, NULL, on_accept, s), 0);
	p2p_buf_free(&bin);
}

static void test_echo(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_server srv = {0};
	listen_on(&loop, &srv, "/ip4/127.0.0.1/tcp/0");

	/* The bound address has the real port. */
	const p2p_buf *addr = p2p_tcp_listener_addr(srv.l);
	struct sockaddr_storage ss;
	socklen_t sslen;
	assert_int_equal(p2p_multiaddr_to_sockaddr(addr->data, addr->len, &ss, &sslen),
	                 0);
	assert_int_not_equal(((struct sockaddr_in *)&ss)->sin_port, 0);

	client cli = {0};
	p2p_buf_init(&cli.got);
	assert_int_equal(
	    p2p_tcp_dial(NULL, &loop, addr->data, addr->len, 2000, on_dial, &cli), 0);
	assert_true(uvt_run(&loop, &cli.dialed, 5000));
	assert_int_equal(cli.dial_err, 0);
	assert_true(cli.pipe->local_addr.len > 0);

	cli.sent = malloc(PAYLOAD);
	for (size_t i = 0; i < PAYLOAD; i++)
		cli.sent[i] = (uint8_t)(i * 7 + (i >> 11));
	for (size_t off = 0; off < PAYLOAD; off += 100000) {
		size_t n = PAYLOAD - off < 100000 ? PAYLOAD - off : 100000;
		p2p_buf b;
		p2p_buf_init(&b);
		p2p_buf_append(&b, cli.sent + off, n);
		assert_int_equal(p2p_pipe_write(cli.pipe, &b), 0);
	}
	assert_int_equal(p2p_pipe_shutdown(cli.pipe), 0);
	assert_int_equal(p2p_pipe_write(cli.pipe, &(p2p_buf){0}), P2P_ECLOSED);
	assert_true(uvt_run(&loop, &cli.eof, 10000));
	assert_int_equal(cli.got.len, PAYLOAD);
	assert_memory_equal(cli.got.data, cli.sent, PAYLOAD);
	assert_int_equal(srv.echoed, PAYLOAD);

	p2p_pipe_close(cli.pipe);
	p2p_pipe_close(srv.conn);
	p2p_tcp_listener_close(srv.l, on_listener_closed, &srv);
	assert_true(uvt_drain(&loop));
	assert_true(cli.closed && srv.closed && srv.listener_closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(cli.sent);
	p2p_buf_free(&cli.got);
}

/* An address nobody listens on: the dial fails, promptly. */
static void test_dial_refused(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_server srv = {0};
	listen_on(&loop, &srv, "/ip4/127.0.0.1/tcp/0");
	p2p_buf addr;
	p2p_buf_init(&addr);
	p2p_buf_append(&addr, p2p_tcp_listener_addr(srv.l)->data,
	               p2p_tcp_listener_addr(srv.l)->len);
	p2p_tcp_listener_close(srv.l, on_listener_closed, &srv);
	assert_true(uvt_drain(&loop));

	client cli = {0};
	assert_int_equal(
	    p2p_tcp_dial(NULL, &loop, addr.data, addr.len, 2000, on_dial, &cli), 0);
	assert_true(uvt_run(&loop, &cli.dialed, 5000));
	assert_true(cli.dial_err == P2P_EIO || cli.dial_err == P2P_ETIMEDOUT);
	assert_null(cli.pipe);
	assert_true(uvt_drain(&loop));
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_buf_free(&addr);
}

static void test_dial_cancel(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_server srv = {0};
	listen_on(&loop, &srv, "/ip4/127.0.0.1/tcp/0");
	const p2p_buf *addr = p2p_tcp_listener_addr(srv.l);
	client cli = {0};
	p2p_tcp_dialer *d = NULL;
	assert_int_equal(
	    p2p_tcp_dial(&d, &loop, addr->data, addr->len, 2000, on_dial, &cli), 0);
	p2p_tcp_dial_cancel(d);
	assert_false(cli.dialed); /* reported from the loop, not from cancel */
	assert_true(uvt_run(&loop, &cli.dialed, 5000));
	assert_int_equal(cli.dial_err, P2P_ECLOSED);
	if (srv.conn)
		p2p_pipe_close(srv.conn);
	p2p_tcp_listener_close(srv.l, NULL, NULL);
	assert_true(uvt_drain(&loop));
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_listen_rejects(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/udp/0", &bin), 0);
	p2p_tcp_listener *l = NULL;
	assert_int_equal(
	    p2p_tcp_listen(&l, &loop, bin.data, bin.len, NULL, on_accept, NULL),
	    P2P_EUNSUPPORTED);
	p2p_buf_free(&bin);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* IPv6 loopback, where the machine has it. */
static void test_ip6(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_server srv = {0};
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse("/ip6/::1/tcp/0", &bin), 0);
	int rc = p2p_tcp_listen(&srv.l, &loop, bin.data, bin.len, NULL, on_accept, &srv);
	p2p_buf_free(&bin);
	if (rc != 0) {
		uvt_drain(&loop);
		uv_loop_close(&loop);
		skip();
	}
	p2p_buf text;
	p2p_buf_init(&text);
	const p2p_buf *addr = p2p_tcp_listener_addr(srv.l);
	assert_int_equal(p2p_multiaddr_to_string(addr->data, addr->len, &text), 0);
	assert_true(strncmp((char *)text.data, "/ip6/::1/tcp/", 13) == 0);
	p2p_buf_free(&text);
	client cli = {0};
	p2p_buf_init(&cli.got);
	assert_int_equal(
	    p2p_tcp_dial(NULL, &loop, addr->data, addr->len, 2000, on_dial, &cli), 0);
	assert_true(uvt_run(&loop, &cli.dialed, 5000));
	assert_int_equal(cli.dial_err, 0);
	p2p_buf b;
	p2p_buf_init(&b);
	p2p_buf_append(&b, "ping", 4);
	p2p_pipe_write(cli.pipe, &b);
	p2p_pipe_shutdown(cli.pipe);
	assert_true(uvt_run(&loop, &cli.eof, 5000));
	assert_int_equal(cli.got.len, 4);
	p2p_pipe_close(cli.pipe);
	p2p_pipe_close(srv.conn);
	p2p_tcp_listener_close(srv.l, NULL, NULL);
	assert_true(uvt_drain(&loop));
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_buf_free(&cli.got);
}

/* Closing a pipe with writes queued still delivers them (the linger). */
typedef struct counter {
	size_t n;
	bool eof;
} counter;

static void count_read(p2p_pipe *p, const uint8_t *data, size_t len, void *user)
{
	((counter *)user)->n += len;
}

static void count_eof(p2p_pipe *p, void *user)
{
	((counter *)user)->eof = true;
}

static void count_accept(p2p_tcp_listener *l, p2p_pipe *pipe, void *user)
{
	static const p2p_pipe_callbacks cbs = {.on_read = count_read,
	                                       .on_eof = count_eof};
	echo_server *s = user;
	s->conn = pipe;
	p2p_pipe_set_callbacks(pipe, &cbs, s->conn->user);
}

static void test_close_flushes(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_server srv = {0};
	counter cnt = {0};
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/0", &bin), 0);
	assert_int_equal(
	    p2p_tcp_listen(&srv.l, &loop, bin.data, bin.len, NULL, count_accept, &srv),
	    0);
	p2p_buf_free(&bin);
	const p2p_buf *addr = p2p_tcp_listener_addr(srv.l);
	client cli = {0};
	assert_int_equal(
	    p2p_tcp_dial(NULL, &loop, addr->data, addr->len, 2000, on_dial, &cli), 0);
	assert_true(uvt_run(&loop, &cli.dialed, 5000));
	assert_non_null(srv.conn);
	srv.conn->user = &cnt;
	p2p_pipe_read_start(srv.conn);
	size_t len = 8 * 1024 * 1024;
	p2p_buf b;
	p2p_buf_init(&b);
	p2p_buf_reserve(&b, len);
	memset(b.data, 0x5a, len);
	b.len = len;
	assert_int_equal(p2p_pipe_write(cli.pipe, &b), 0);
	assert_true(p2p_pipe_queued(cli.pipe) > 0); /* too much for one go */
	p2p_pipe_close(cli.pipe);
	assert_true(uvt_run(&loop, &cnt.eof, 5000));
	assert_int_equal(cnt.n, len);
	assert_true(uvt_run(&loop, &cli.closed, 5000));
	p2p_pipe_close(srv.conn);
	p2p_tcp_listener_close(srv.l, NULL, NULL);
	assert_true(uvt_drain(&loop));
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo),        cmocka_unit_test(test_dial_refused),
	    cmocka_unit_test(test_dial_cancel), cmocka_unit_test(test_listen_rejects),
	    cmocka_unit_test(test_ip6),         cmocka_unit_test(test_close_flushes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
