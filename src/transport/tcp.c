/* The TCP transport on libuv: a TCP socket as a pipe, listeners and dials,
 * with port reuse (transport.h, p2p_tcp_dial_opts). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/transport.h"

/* One read; the receiver processes it at once. A connection whose reads
 * fill the buffer gets a larger one, up to TCP_READ_BUF_MAX: fewer read
 * calls, and fewer 64 KiB Noise frames split across two reads (the Noise
 * layer copies those). It goes back to the small one after
 * TCP_READ_SHRINK_AFTER reads in a row that would have fit in it, so idle
 * connections stay small. The small one is allocated for a read and let
 * go after one of less than TCP_READ_KEEP bytes: an idle connection (a
 * relay holds thousands) then holds no read buffer at all, and one that
 * only trickles pays a malloc per read. */
#define TCP_READ_BUF          (64 * 1024)
#define TCP_READ_KEEP         (16 * 1024)
#define TCP_READ_BUF_MAX      (1024 * 1024)
#define TCP_READ_SHRINK_AFTER 16
/* How long a closed pipe may still try to send what is queued (a GoAway,
 * the end of a stream) before the socket goes regardless. */
#define TCP_LINGER_MS 2000

typedef struct tcp_pipe {
	p2p_pipe base; /* first: a p2p_pipe * is a tcp_pipe * */
	uv_tcp_t handle;
	size_t queued; /* bytes in uv_write requests not yet completed */
	bool above_high_water;
	bool shut;
	bool failed;
	uv_timer_t linger; /* initialised only when closing with writes queued */
	bool lingering;
	bool closing_handles;
	int open_handles;
	uint8_t *big;       /* the larger read buffer, or NULL */
	size_t big_cap;     /* its size */
	unsigned small_run; /* reads in a row that fit in rbuf */
	uint8_t *rbuf;      /* TCP_READ_BUF bytes while reads come, or NULL */
} tcp_pipe;

/* A write request owns the bytes it writes (moved in, freed when done). */
typedef struct tcp_write {
	uv_write_t req;
	p2p_buf data;
	tcp_pipe *tp;
} tcp_write;

static int uv_to_p2p(int uverr)
{
	switch (uverr) {
	case UV_ETIMEDOUT:
		return P2P_ETIMEDOUT;
	case UV_ENOMEM:
		return P2P_ENOMEM;
	case UV_ECANCELED:
		return P2P_ECLOSED;
	case UV_EADDRINUSE:
	case UV_EADDRNOTAVAIL:
		return P2P_EADDRINUSE;
	default:
		return P2P_EIO;
	}
}

static void pipe_fail(tcp_pipe *tp, int err)
{
	if (tp->failed || tp->base.closing)
		return;
	tp->failed = true;
	if (tp->base.cb.on_error)
		tp->base.cb.on_error(&tp->base, err, tp->base.user);
}

static void tcp_close_now(tcp_pipe *tp);

static void on_write(uv_write_t *req, int status)
{
	tcp_write *w = (tcp_write *)req;
	tcp_pipe *tp = w->tp;
	tp->queued -= w->data.len;
	p2p_buf_free(&w->data);
	free(w);
	if (tp->base.closing) {
		if (tp->queued == 0 || status < 0)
			tcp_close_now(tp);
		return;
	}
	if (status < 0) {
		pipe_fail(tp, uv_to_p2p(status));
		return;
	}
	if (tp->above_high_water && tp->queued <= P2P_PIPE_HIGH_WATER &&
	    !tp->base.closing) {
		tp->above_high_water = false;
		if (tp->base.cb.on_drain)
			tp->base.cb.on_drain(&tp->base, tp->base.user);
	}
}

static int tcp_write_op(p2p_pipe *p, p2p_buf *data)
{
	tcp_pipe *tp = (tcp_pipe *)p;
	if (tp->shut || tp->failed) {
		p2p_buf_free(data);
		return P2P_ECLOSED;
	}
	if (data->len == 0) {
		p2p_buf_free(data);
		return P2P_OK;
	}
	tcp_write *w = malloc(sizeof(*w));
	if (w == NULL) {
		p2p_buf_free(data);
		return P2P_ENOMEM;
	}
	p2p_buf_move(&w->data, data);
	w->tp = tp;
	uv_buf_t b = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
	int rc = uv_write(&w->req, (uv_stream_t *)&tp->handle, &b, 1, on_write);
	if (rc < 0) {
		p2p_buf_free(&w->data);
		free(w);
		return uv_to_p2p(rc);
	}
	tp->queued += w->data.len;
	if (tp->queued > P2P_PIPE_HIGH_WATER)
		tp->above_high_water = true;
	return P2P_OK;
}

/* What is still to be written to the socket, to the byte: libuv counts a
 * partial write at once, where `queued` waits for the whole request (up to
 * a 768 KiB batch). On a slow link that difference is what tells a write
 * making progress from one that stalled (conn.c's stall timeout). */
static size_t tcp_queued_op(const p2p_pipe *p)
{
	const tcp_pipe *tp = (const tcp_pipe *)p;
	size_t unsent = tp->handle.write_queue_size;
	return unsent < tp->queued ? unsent : tp->queued;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	tcp_pipe *tp = h->data;
	if (tp->big != NULL) {
		*buf = uv_buf_init((char *)tp->big, (unsigned)tp->big_cap);
		return;
	}
	if (tp->rbuf == NULL)
		tp->rbuf = malloc(TCP_READ_BUF);
	/* NULL: libuv reports UV_ENOBUFS to on_read, which fails the pipe. */
	*buf = uv_buf_init((char *)tp->rbuf, tp->rbuf ? TCP_READ_BUF : 0);
}

/* Sizes the next read's buffer after this one (see TCP_READ_BUF). */
static void adapt_read_buf(tcp_pipe *tp, size_t nread, size_t cap)
{
	if (nread == cap && cap < TCP_READ_BUF_MAX) {
		size_t grown = cap * 2;
		uint8_t *p = malloc(grown); /* realloc would copy what was read */
		if (p == NULL)
			return; /* keep reading with what we have */
		free(tp->big);
		tp->big = p;
		tp->big_cap = grown;
		tp->small_run = 0;
		return;
	}
	if (tp->big == NULL)
		return;
	if (nread > TCP_READ_BUF) {
		tp->small_run = 0;
	} else if (++tp->small_run >= TCP_READ_SHRINK_AFTER) {
		free(tp->big);
		tp->big = NULL;
		tp->big_cap = 0;
		tp->small_run = 0;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tcp_pipe *tp = s->data;
	if (tp->base.closing) {
		/* Lingering: keep reading (and dropping) so the kernel does not
		 * answer the peer with a reset. */
		if (nread < 0)
			uv_read_stop(s);
		return;
	}
	if (nread > 0) {
		/* The pipe may be closed from on_read, but its memory stays until
		 * on_close, after this returns. */
		if (tp->base.cb.on_read)
			tp->base.cb.on_read(&tp->base, (const uint8_t *)buf->base,
			                    (size_t)nread, tp->base.user);
		adapt_read_buf(tp, (size_t)nread, buf->len);
		if (tp->big == NULL && (size_t)nread < TCP_READ_KEEP) {
			free(tp->rbuf);
			tp->rbuf = NULL;
		}
	} else if (nread == UV_EOF) {
		uv_read_stop(s);
		if (tp->base.cb.on_eof)
			tp->base.cb.on_eof(&tp->base, tp->base.user);
	} else if (nread < 0) {
		uv_read_stop(s);
		pipe_fail(tp, uv_to_p2p((int)nread));
	}
}

static int tcp_read_start_op(p2p_pipe *p)
{
	tcp_pipe *tp = (tcp_pipe *)p;
	int rc = uv_read_start((uv_stream_t *)&tp->handle, on_alloc, on_read);
	return rc < 0 && rc != UV_EALREADY ? uv_to_p2p(rc) : P2P_OK;
}

static int tcp_read_stop_op(p2p_pipe *p)
{
	uv_read_stop((uv_stream_t *)&((tcp_pipe *)p)->handle);
	return P2P_OK;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	free(req);
}

static int tcp_shutdown_op(p2p_pipe *p)
{
	tcp_pipe *tp = (tcp_pipe *)p;
	if (tp->shut)
		return P2P_OK;
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (req == NULL)
		return P2P_ENOMEM;
	int rc = uv_shutdown(req, (uv_stream_t *)&tp->handle, on_shutdown);
	if (rc < 0) {
		free(req);
		return uv_to_p2p(rc);
	}
	tp->shut = true;
	return P2P_OK;
}

static void on_pipe_closed(uv_handle_t *h)
{
	tcp_pipe *tp = h->data;
	if (--tp->open_handles > 0)
		return;
	if (tp->base.cb.on_close)
		tp->base.cb.on_close(&tp->base, tp->base.user);
	p2p_buf_free(&tp->base.local_addr);
	p2p_buf_free(&tp->base.remote_addr);
	free(tp->big);
	free(tp->rbuf);
	free(tp);
}

static void tcp_close_now(tcp_pipe *tp)
{
	if (tp->closing_handles)
		return;
	tp->closing_handles = true;
	if (tp->lingering) {
		tp->open_handles++;
		uv_close((uv_handle_t *)&tp->linger, on_pipe_closed);
	}
	uv_close((uv_handle_t *)&tp->handle, on_pipe_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
	tcp_close_now(t->data);
}

/* Lets queued writes go out first (bounded by TCP_LINGER_MS): closing
 * right away would drop them, and the peer would miss e.g. our GoAway. */
static void tcp_close_op(p2p_pipe *p)
{
	tcp_pipe *tp = (tcp_pipe *)p;
	if (tp->queued == 0 || tp->failed) {
		tcp_close_now(tp);
		return;
	}
	uv_timer_init(tp->handle.loop, &tp->linger);
	tp->linger.data = tp;
	tp->lingering = true;
	uv_timer_start(&tp->linger, on_linger_timeout, TCP_LINGER_MS, 0);
}

static const p2p_pipe_ops tcp_pipe_ops = {
    .write = tcp_write_op,
    .queued = tcp_queued_op,
    .read_start = tcp_read_start_op,
    .read_stop = tcp_read_stop_op,
    .shutdown = tcp_shutdown_op,
    .close = tcp_close_op,
};

/* family AF_UNSPEC: no socket yet (uv_accept or uv_tcp_connect makes
 * one); AF_INET or AF_INET6: the socket is made now, to be set up before
 * it binds. */
static tcp_pipe *tcp_pipe_new(uv_loop_t *loop, int family)
{
	tcp_pipe *tp = calloc(1, sizeof(*tp));
	if (tp == NULL)
		return NULL;
	if (uv_tcp_init_ex(loop, &tp->handle, (unsigned)family) < 0) {
		free(tp);
		return NULL;
	}
	tp->handle.data = tp;
	tp->open_handles = 1;
	tp->base.ops = &tcp_pipe_ops;
	p2p_buf_init(&tp->base.local_addr);
	p2p_buf_init(&tp->base.remote_addr);
	return tp;
}

/* Fills the pipe's addresses from the socket and turns Nagle off (libp2p
 * protocols are chatty request/response exchanges). */
static void tcp_pipe_connected(tcp_pipe *tp)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_nodelay(&tp->handle, 1);
	if (uv_tcp_getsockname(&tp->handle, (struct sockaddr *)&ss, &len) == 0)
		p2p_multiaddr_from_sockaddr((struct sockaddr *)&ss, &tp->base.local_addr);
	len = sizeof(ss);
	if (uv_tcp_getpeername(&tp->handle, (struct sockaddr *)&ss, &len) == 0)
		p2p_multiaddr_from_sockaddr((struct sockaddr *)&ss,
		                            &tp->base.remote_addr);
}

/* SO_REUSEADDR and SO_REUSEPORT, before the bind: the kernel lets a
 * listener and the dials that leave from its port share it only if every
 * one of them set both (and all belong to the same user). libuv sets
 * SO_REUSEADDR on its own binds, but a dial binds by hand. */
static int set_reuse(uv_tcp_t *h)
{
	uv_os_fd_t fd;
	int rc = uv_fileno((uv_handle_t *)h, &fd);
	if (rc < 0)
		return rc;
	const int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
		return uv_translate_sys_error(errno);
	return 0;
}

/* --- listeners --- */

struct p2p_tcp_listener {
	uv_tcp_t handle;
	p2p_buf addr;
	const p2p_logger *log;
	p2p_tcp_accept_cb on_accept;
	void *user;
	void (*on_closed)(void *user);
	void *closed_user;
};

static void on_connection(uv_stream_t *server, int status)
{
	p2p_tcp_listener *l = server->data;
	if (status < 0) {
		p2p_log(l->log, P2P_LOG_WARN, "tcp accept: %s", uv_strerror(status));
		return;
	}
	tcp_pipe *tp = tcp_pipe_new(server->loop, AF_UNSPEC);
	if (tp == NULL) {
		p2p_log(l->log, P2P_LOG_ERROR, "tcp accept: out of memory");
		return;
	}
	int rc = uv_accept(server, (uv_stream_t *)&tp->handle);
	if (rc < 0) {
		p2p_log(l->log, P2P_LOG_WARN, "tcp accept: %s", uv_strerror(rc));
		p2p_pipe_close(&tp->base);
		return;
	}
	tcp_pipe_connected(tp);
	l->on_accept(l, &tp->base, l->user);
}

static void on_listener_closed(uv_handle_t *h)
{
	p2p_tcp_listener *l = h->data;
	if (l->on_closed)
		l->on_closed(l->closed_user);
	p2p_buf_free(&l->addr);
	free(l);
}

int p2p_tcp_listen(p2p_tcp_listener **out, uv_loop_t *loop, const uint8_t *addr,
                   size_t addr_len, const p2p_logger *log, p2p_tcp_accept_cb on_accept,
                   void *user)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int rc = p2p_multiaddr_to_sockaddr(addr, addr_len, &ss, &sslen);
	if (rc < 0)
		return rc;
	p2p_tcp_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return P2P_ENOMEM;
	/* The socket is made now, not by the bind, so that set_reuse comes
	 * first. */
	if (uv_tcp_init_ex(loop, &l->handle, ss.ss_family) < 0) {
		free(l);
		return P2P_EIO;
	}
	l->handle.data = l;
	l->log = log;
	l->on_accept = on_accept;
	l->user = user;
	p2p_buf_init(&l->addr);
	/* IPv6 listeners are IPv6-only so /ip4 and /ip6 listeners on one port
	 * coexist. */
	unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	rc = set_reuse(&l->handle);
	if (rc == 0)
		rc = uv_tcp_bind(&l->handle, (struct sockaddr *)&ss, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->handle, P2P_TCP_BACKLOG, on_connection);
	if (rc == 0) {
		int len = sizeof(ss);
		rc = uv_tcp_getsockname(&l->handle, (struct sockaddr *)&ss, &len);
	}
	if (rc == 0 && p2p_multiaddr_from_sockaddr((struct sockaddr *)&ss, &l->addr) < 0)
		rc = UV_EINVAL;
	if (rc < 0) {
		p2p_log(log, P2P_LOG_WARN, "tcp listen: %s", uv_strerror(rc));
		uv_close((uv_handle_t *)&l->handle, on_listener_closed);
		return P2P_EIO;
	}
	*out = l;
	return P2P_OK;
}

const p2p_buf *p2p_tcp_listener_addr(const p2p_tcp_listener *l)
{
	return &l->addr;
}

void p2p_tcp_listener_close(p2p_tcp_listener *l, void (*on_closed)(void *user),
                            void *user)
{
	l->on_closed = on_closed;
	l->closed_user = user;
	uv_close((uv_handle_t *)&l->handle, on_listener_closed);
}

/* --- dials --- */

/* The dial lives until both the connect request and the timer are done.
 * The connect callback is the one place that reports the outcome: a
 * timeout or a cancel closes the socket, which completes the request with
 * UV_ECANCELED. */
struct p2p_tcp_dialer {
	uv_connect_t req;
	uv_timer_t timer;
	tcp_pipe *tp;
	int err;  /* set by timeout or cancel */
	int live; /* connect request + timer handle outstanding */
	p2p_tcp_dial_cb cb;
	void *user;
};

static void dial_release(p2p_tcp_dialer *d)
{
	if (--d->live == 0)
		free(d);
}

static void on_dial_timer_closed(uv_handle_t *h)
{
	dial_release(h->data);
}

static void dial_abort(p2p_tcp_dialer *d, int err)
{
	if (d->err || d->tp == NULL)
		return;
	d->err = err;
	p2p_pipe_close(&d->tp->base);
}

static void on_dial_timeout(uv_timer_t *t)
{
	dial_abort(t->data, P2P_ETIMEDOUT);
}

static void on_connect(uv_connect_t *req, int status)
{
	p2p_tcp_dialer *d = req->data;
	tcp_pipe *tp = d->tp;
	d->tp = NULL;
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, on_dial_timer_closed);
	if (d->err == 0 && status == 0) {
		tcp_pipe_connected(tp);
		d->cb(&tp->base, P2P_OK, d->user);
	} else {
		int err = d->err ? d->err : uv_to_p2p(status);
		p2p_pipe_close(&tp->base); /* no-op if aborted already */
		d->cb(NULL, err, d->user);
	}
	dial_release(d);
}

/* Binds a dial's socket to port on the wildcard address of family, the
 * way the listener on that port is set up, so that the kernel lets the
 * two share it. By hand rather than with uv_tcp_bind: libuv keeps a
 * bind's EADDRINUSE and reports it only in the connect callback, a loop
 * turn later; here it shows at once, where the dial falls back. */
static int bind_local_port(tcp_pipe *tp, int family, uint16_t port)
{
	int rc = set_reuse(&tp->handle);
	uv_os_fd_t fd = -1;
	if (rc == 0)
		rc = uv_fileno((uv_handle_t *)&tp->handle, &fd);
	if (rc < 0)
		return rc;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
		/* As our IPv6 listeners: [::]:port must not also claim the
		 * IPv4 port, which a socket without SO_REUSEPORT may hold. */
		const int on = 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
			return uv_translate_sys_error(errno);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return uv_translate_sys_error(errno);
	return 0;
}

/* Makes the dial's pipe and starts its connect, from local_port if it is
 * not 0. A libuv error if it did not start (the pipe is let go then). */
static int dial_connect(p2p_tcp_dialer *d, uv_loop_t *loop,
                        const struct sockaddr_storage *dst, uint16_t local_port)
{
	d->tp = tcp_pipe_new(loop, local_port ? dst->ss_family : AF_UNSPEC);
	if (d->tp == NULL)
		return UV_ENOMEM;
	int rc = local_port ? bind_local_port(d->tp, dst->ss_family, local_port) : 0;
	if (rc == 0)
		rc = uv_tcp_connect(&d->req, &d->tp->handle, (const struct sockaddr *)dst,
		                    on_connect);
	if (rc < 0) {
		p2p_pipe_close(&d->tp->base);
		d->tp = NULL;
	}
	return rc;
}

int p2p_tcp_dial(p2p_tcp_dialer **out, uv_loop_t *loop, const uint8_t *addr,
                 size_t addr_len, uint64_t timeout_ms, p2p_tcp_dial_cb cb, void *user)
{
	return p2p_tcp_dial_ex(out, loop, addr, addr_len, timeout_ms, NULL, cb, user);
}

int p2p_tcp_dial_ex(p2p_tcp_dialer **out, uv_loop_t *loop, const uint8_t *addr,
                    size_t addr_len, uint64_t timeout_ms, const p2p_tcp_dial_opts *o,
                    p2p_tcp_dial_cb cb, void *user)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int rc = p2p_multiaddr_to_sockaddr(addr, addr_len, &ss, &sslen);
	if (rc < 0)
		return rc;
	p2p_tcp_dialer *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return P2P_ENOMEM;
	d->cb = cb;
	d->user = user;
	d->req.data = d;
	d->timer.data = d;
	uint16_t port = o ? o->local_port : 0;
	rc = dial_connect(d, loop, &ss, port);
	/* The port cannot be had: the bind fails (a socket without
	 * SO_REUSEPORT, or another user's, holds it) or connect finds the
	 * 4-tuple taken (a connection from this port to this destination
	 * exists, either way round). Both show here, at once: the kernel
	 * checks the 4-tuple in connect() itself, before the SYN goes. */
	if (port != 0 && !o->no_fallback &&
	    (rc == UV_EADDRINUSE || rc == UV_EADDRNOTAVAIL))
		rc = dial_connect(d, loop, &ss, 0);
	if (rc < 0) {
		free(d);
		return uv_to_p2p(rc);
	}
	d->live = 2;
	uv_timer_init(loop, &d->timer);
	uv_timer_start(&d->timer, on_dial_timeout,
	               timeout_ms ? timeout_ms : P2P_DIAL_TIMEOUT_MS, 0);
	if (out)
		*out = d;
	return P2P_OK;
}

void p2p_tcp_dial_cancel(p2p_tcp_dialer *d)
{
	dial_abort(d, P2P_ECLOSED);
}
