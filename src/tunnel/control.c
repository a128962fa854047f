/* Reading JSON commands from stdin and writing JSON events (control.h). */
#include "tunnel/control.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"

/* Bytes asked of a file per read (pipes and terminals use libuv's). */
#define CONTROL_READ_CHUNK 4096

struct tunnel_control {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_pipe_t pipe;
		uv_tty_t tty;
	} h;
	bool is_stream; /* false: a regular file read with uv_fs_read */
	bool closing;
	bool fs_busy; /* a uv_fs_read is in flight */
	uv_fs_t fs_req;
	uv_file fd;
	int64_t fs_offset;
	uv_loop_t *loop;
	FILE *events;
	tunnel_control_cmd_cb cb;
	void *user;
	p2p_buf line;  /* the partial line so far, at most TUNNEL_CMD_MAX_LINE */
	bool too_long; /* the current line passed the limit: skip to '\n' */
	char readbuf[CONTROL_READ_CHUNK];
};

void tunnel_emit(FILE *events, p2p_buf *line)
{
	if (line->len) {
		fwrite(line->data, 1, line->len, events);
		fflush(events);
	}
	p2p_buf_reset(line);
}

void tunnel_emit_error(FILE *events, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "tunnel: error: %s\n", msg);
	p2p_buf ev;
	p2p_buf_init(&ev);
	if (tunnel_event_error(&ev, msg) == P2P_OK)
		tunnel_emit(events, &ev);
	p2p_buf_free(&ev);
}

static void handle_line(tunnel_control *c, const char *line, size_t len)
{
	tunnel_cmd cmd;
	const char *why = NULL;
	int rc = tunnel_cmd_parse(line, len, &cmd, &why);
	if (rc == P2P_EAGAIN)
		return;
	if (rc < 0) {
		tunnel_emit_error(c->events, "%s", why ? why : p2p_strerror(rc));
		return;
	}
	c->cb(&cmd, c->user);
}

/* Splits input into lines; the callback may close c (then we stop). */
static void feed(tunnel_control *c, const char *data, size_t len)
{
	while (len && !c->closing) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (!c->too_long) {
			/* Over the limit, or out of memory: drop this line. */
			if (c->line.len + take > TUNNEL_CMD_MAX_LINE ||
			    p2p_buf_append(&c->line, data, take) < 0) {
				c->too_long = true;
				p2p_buf_reset(&c->line);
			}
		}
		if (!nl)
			return;
		data += take + 1;
		len -= take + 1;
		if (c->too_long) {
			c->too_long = false;
			tunnel_emit_error(c->events,
			                  "a command line is longer than %d bytes",
			                  TUNNEL_CMD_MAX_LINE);
		} else {
			handle_line(c, (const char *)c->line.data, c->line.len);
		}
		p2p_buf_reset(&c->line);
	}
}

/* The last line may lack its newline. */
static void at_eof(tunnel_control *c)
{
	if (c->line.len && !c->too_long)
		handle_line(c, (const char *)c->line.data, c->line.len);
	p2p_buf_reset(&c->line);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	tunnel_control *c = h->data;
	buf->base = c->readbuf;
	buf->len = sizeof c->readbuf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	tunnel_control *c = s->data;
	if (n > 0) {
		feed(c, buf->base, (size_t)n);
	} else if (n < 0) {
		/* EOF (or an error): stop reading; the program goes on. */
		uv_read_stop(s);
		at_eof(c);
	}
}

static void free_control(tunnel_control *c)
{
	p2p_buf_free(&c->line);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	free_control(h->data);
}

static void start_fs_read(tunnel_control *c);

static void on_fs_read(uv_fs_t *req)
{
	tunnel_control *c = req->data;
	ssize_t n = req->result;
	uv_fs_req_cleanup(req);
	c->fs_busy = false;
	if (c->closing) {
		free_control(c);
		return;
	}
	if (n > 0) {
		c->fs_offset += n;
		feed(c, c->readbuf, (size_t)n);
		if (c->closing) {
			free_control(c);
			return;
		}
		start_fs_read(c);
	} else {
		at_eof(c);
	}
}

static void start_fs_read(tunnel_control *c)
{
	uv_buf_t b = uv_buf_init(c->readbuf, sizeof c->readbuf);
	c->fs_req.data = c;
	if (uv_fs_read(c->loop, &c->fs_req, c->fd, &b, 1, c->fs_offset, on_fs_read) == 0)
		c->fs_busy = true;
}

int tunnel_control_new(tunnel_control **out, uv_loop_t *loop, int fd, FILE *events,
                       tunnel_control_cmd_cb cb, void *user)
{
	tunnel_control *c = calloc(1, sizeof *c);
	if (!c)
		return P2P_ENOMEM;
	p2p_buf_init(&c->line);
	c->loop = loop;
	c->fd = fd;
	c->events = events;
	c->cb = cb;
	c->user = user;
	c->h.handle.data = c;

	int rc;
	switch (uv_guess_handle(fd)) {
	case UV_TTY:
		rc = uv_tty_init(loop, &c->h.tty, fd, 1);
		c->is_stream = true;
		break;
	case UV_NAMED_PIPE:
	case UV_TCP:
		rc = uv_pipe_init(loop, &c->h.pipe, 0);
		if (rc == 0) {
			c->is_stream = true;
			rc = uv_pipe_open(&c->h.pipe, fd);
			if (rc < 0) {
				c->h.handle.data = c;
				uv_close(&c->h.handle, on_handle_closed);
				*out = NULL;
				return P2P_EIO;
			}
		}
		break;
	case UV_FILE:
		rc = 0;
		c->fs_offset = -1; /* read from the current position */
		break;
	default:
		/* Closed or unknown stdin: no commands. */
		rc = UV_EINVAL;
		break;
	}
	if (rc < 0) {
		free_control(c);
		*out = NULL;
		return P2P_EIO;
	}
	c->h.handle.data = c;
	if (c->is_stream)
		uv_read_start(&c->h.stream, on_alloc, on_read);
	else
		start_fs_read(c);
	*out = c;
	return P2P_OK;
}

void tunnel_control_close(tunnel_control *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	if (c->is_stream) {
		uv_close(&c->h.handle, on_handle_closed);
	} else if (c->fs_busy) {
		/* A read on a file finishes soon; on_fs_read frees c. Cancel it
		 * if it has not started yet. */
		if (uv_cancel((uv_req_t *)&c->fs_req) == 0)
			return;
	} else {
		free_control(c);
	}
}
