/* Non-blocking stdout and stderr (output.h). */
#define _GNU_SOURCE /* fopencookie */
#include "tunnel/output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p2p/error.h"

#if defined(__GLIBC__)
#define OUTPUT_HAVE_COOKIE 1
#else
#define OUTPUT_HAVE_COOKIE 0
#endif

/* An empty queue keeps its memory up to this; a bigger one (after a
 * burst) gives it back. */
#define OUTPUT_KEEP_BYTES (64 * 1024)
/* The stdio buffer of a sink's FILE: a line is handed over whole. */
#define OUTPUT_FILE_BUF 8192

/* --- the queue --- */

void tunnel_output_queue_init(tunnel_output_queue *q, tunnel_output_kind kind, size_t max)
{
	memset(q, 0, sizeof *q);
	q->kind = kind;
	q->max = max                            ? max
	         : kind == TUNNEL_OUTPUT_EVENTS ? TUNNEL_OUTPUT_EVENT_QUEUE_MAX
	                                        : TUNNEL_OUTPUT_LOG_QUEUE_MAX;
	q->line = TUNNEL_OUTPUT_AT_LINE_START;
}

void tunnel_output_queue_free(tunnel_output_queue *q)
{
	free(q->data);
	q->data = NULL;
	q->head = q->tail = q->cap = 0;
}

size_t tunnel_output_queue_len(const tunnel_output_queue *q)
{
	return q->tail - q->head;
}

static bool queue_append(tunnel_output_queue *q, const void *data, size_t len)
{
	if (len == 0)
		return true;
	size_t used = q->tail - q->head;
	if (q->cap - q->tail < len) {
		/* Move the unwritten bytes to the front; grow if that is not
		 * room enough. Each byte moves at most once per doubling, so
		 * this stays linear however the writes are cut. */
		if (used > SIZE_MAX / 2 - len)
			return false;
		if (q->cap - used < len) {
			size_t cap = q->cap ? q->cap : 4096;
			while (cap - used < len)
				cap *= 2;
			uint8_t *p = realloc(q->data, cap);
			if (!p)
				return false;
			q->data = p;
			q->cap = cap;
		}
		memmove(q->data, q->data + q->head, used);
		q->head = 0;
		q->tail = used;
	}
	memcpy(q->data + q->tail, data, len);
	q->tail += len;
	return true;
}

static tunnel_output_push_result push_event(tunnel_output_queue *q, const void *data,
                                            size_t len)
{
	/* All or nothing: a chunk is an event line (tunnel_emit flushes
	 * each), and half an event is worse than none. */
	if (tunnel_output_queue_len(q) + len > q->max + TUNNEL_OUTPUT_EVENT_SLACK ||
	    !queue_append(q, data, len)) {
		q->lost += len;
		return TUNNEL_OUTPUT_LOST;
	}
	if (!q->over && tunnel_output_queue_len(q) > q->max) {
		q->over = true;
		return TUNNEL_OUTPUT_FULL;
	}
	return TUNNEL_OUTPUT_QUEUED;
}

/* Logs are taken or dropped a line at a time, decided at the line's
 * start: a line either appears whole or not at all (the FILE's buffer
 * hands most lines over in one piece, but a long one may come in
 * several). */
static void push_log(tunnel_output_queue *q, const uint8_t *p, size_t len)
{
	while (len) {
		const uint8_t *nl = memchr(p, '\n', len);
		size_t seg = nl ? (size_t)(nl - p) + 1 : len;
		size_t queued = tunnel_output_queue_len(q);
		switch (q->line) {
		case TUNNEL_OUTPUT_AT_LINE_START:
			if (queued + seg > q->max || !queue_append(q, p, seg)) {
				q->dropped++;
				q->line = nl ? TUNNEL_OUTPUT_AT_LINE_START
				             : TUNNEL_OUTPUT_SKIPPING_LINE;
			} else {
				q->line = nl ? TUNNEL_OUTPUT_AT_LINE_START
				             : TUNNEL_OUTPUT_IN_LINE;
			}
			break;
		case TUNNEL_OUTPUT_IN_LINE:
			if (queued + seg > q->max + TUNNEL_OUTPUT_LINE_MAX ||
			    !queue_append(q, p, seg)) {
				/* Cut a runaway line, but end it, so that the
				 * next one does not run on from it. */
				queue_append(q, "\n", 1);
				q->line = nl ? TUNNEL_OUTPUT_AT_LINE_START
				             : TUNNEL_OUTPUT_SKIPPING_LINE;
			} else {
				q->line = nl ? TUNNEL_OUTPUT_AT_LINE_START
				             : TUNNEL_OUTPUT_IN_LINE;
			}
			break;
		case TUNNEL_OUTPUT_SKIPPING_LINE:
			if (nl)
				q->line = TUNNEL_OUTPUT_AT_LINE_START;
			break;
		}
		p += seg;
		len -= seg;
	}
}

tunnel_output_push_result tunnel_output_queue_push(tunnel_output_queue *q,
                                                   const void *data, size_t len)
{
	if (q->kind == TUNNEL_OUTPUT_EVENTS)
		return push_event(q, data, len);
	push_log(q, data, len);
	return TUNNEL_OUTPUT_QUEUED;
}

const uint8_t *tunnel_output_queue_peek(const tunnel_output_queue *q, size_t *len)
{
	*len = q->tail - q->head;
	return *len ? q->data + q->head : NULL;
}

void tunnel_output_queue_consume(tunnel_output_queue *q, size_t n)
{
	size_t used = q->tail - q->head;
	q->head += n < used ? n : used;
	if (q->head != q->tail)
		return;
	q->head = q->tail = 0;
	if (q->cap > OUTPUT_KEEP_BYTES) {
		tunnel_output_queue_free(q);
	}
	/* The reader caught up: say what it missed, unless a line is half
	 * written (the note would run into it; it goes after that line). */
	if (q->kind == TUNNEL_OUTPUT_LOGS && q->dropped &&
	    q->line != TUNNEL_OUTPUT_IN_LINE) {
		char note[96];
		int k =
		    snprintf(note, sizeof note,
		             "tunnel: %" PRIu64 " log line%s dropped (stderr not read)\n",
		             q->dropped, q->dropped == 1 ? "" : "s");
		if (k > 0 && queue_append(q, note, (size_t)k))
			q->dropped = 0;
	}
}

size_t tunnel_output_queue_discard(tunnel_output_queue *q)
{
	size_t n = q->tail - q->head;
	q->head = q->tail = 0;
	return n;
}

/* --- the rate limiter --- */

bool tunnel_output_ratelimit_take(tunnel_output_ratelimit *rl, uint64_t now_ms,
                                  uint64_t *held, uint64_t *span_ms)
{
	*held = 0;
	*span_ms = 0;
	if (!rl->started || now_ms < rl->window_start ||
	    now_ms - rl->window_start >= TUNNEL_OUTPUT_LOG_WINDOW_MS) {
		rl->started = true;
		rl->window_start = now_ms;
		rl->used = 0;
	}
	if (rl->used < TUNNEL_OUTPUT_LOG_BURST) {
		rl->used++;
		if (rl->held) {
			*held = rl->held;
			*span_ms = now_ms >= rl->held_since ? now_ms - rl->held_since : 0;
			rl->held = 0;
		}
		return true;
	}
	if (rl->held++ == 0)
		rl->held_since = now_ms;
	return false;
}

/* --- sinks --- */

struct tunnel_output_sink {
	tunnel_output_queue q;
	uv_loop_t *loop;
	int fd;            /* where we write: fd itself, or our own open of it */
	int own_fd;        /* ours to close (the /proc reopen), or -1 */
	int restore_fd;    /* whose flags we changed, or -1 */
	int restore_flags; /* and what they were */
	bool is_socket;    /* written with send(MSG_DONTWAIT) */
	bool dead;         /* the reader went away: nothing more is written */
	bool polling;      /* waiting for the fd to take more */
	bool closing;
	int open_handles;
	uv_poll_t poll;
	uv_timer_t timer; /* runs the full callback outside any write */
	tunnel_output_full_cb full_cb;
	void *full_user;
	FILE *file;
};

static void on_poll(uv_poll_t *h, int status, int events);

static ssize_t sink_write_fd(tunnel_output_sink *s, const uint8_t *p, size_t n)
{
	ssize_t r;
	do {
		r = s->is_socket ? send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
		                 : write(s->fd, p, n);
	} while (r < 0 && errno == EINTR);
	return r;
}

static void sink_set_polling(tunnel_output_sink *s, bool on)
{
	if (on == s->polling || (on && s->closing))
		return;
	if (on) {
		if (uv_poll_start(&s->poll, UV_WRITABLE, on_poll) == 0)
			s->polling = true;
	} else {
		uv_poll_stop(&s->poll);
		s->polling = false;
	}
}

/* The reader closed its end (EPIPE) or the fd broke: as with a blocking
 * stdio stream before, what it would have got is gone. */
static void sink_kill(tunnel_output_sink *s)
{
	s->dead = true;
	tunnel_output_queue_discard(&s->q);
	sink_set_polling(s, false);
}

/* Writes what the fd takes now; polls for room if it took less. */
static void sink_drain(tunnel_output_sink *s)
{
	while (!s->dead) {
		size_t n;
		const uint8_t *p = tunnel_output_queue_peek(&s->q, &n);
		if (!n) {
			sink_set_polling(s, false);
			return;
		}
		ssize_t r = sink_write_fd(s, p, n);
		if (r > 0) {
			tunnel_output_queue_consume(&s->q, (size_t)r);
			continue;
		}
		if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			sink_set_polling(s, true);
			return;
		}
		sink_kill(s);
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	tunnel_output_sink *s = h->data;
	if (status < 0) {
		sink_kill(s);
		return;
	}
	sink_drain(s);
}

static void on_full_timer(uv_timer_t *t)
{
	tunnel_output_sink *s = t->data;
	if (s->full_cb)
		s->full_cb(s->full_user, tunnel_output_queue_len(&s->q));
}

void tunnel_output_sink_write(tunnel_output_sink *s, const void *data, size_t len)
{
	if (s->dead || len == 0)
		return;
	/* Through the queue even when it is empty: the fd may take only part,
	 * and the rest must follow in order. */
	if (tunnel_output_queue_push(&s->q, data, len) == TUNNEL_OUTPUT_FULL &&
	    !s->closing) {
		/* Not from here: we may be inside the FILE's own write, and the
		 * callback stops the program, which prints. */
		uv_timer_start(&s->timer, on_full_timer, 0, 0);
	}
	/* While polling, the fd had no room a moment ago: on_poll writes. */
	if (!s->polling)
		sink_drain(s);
}

size_t tunnel_output_sink_queued(const tunnel_output_sink *s)
{
	return tunnel_output_queue_len(&s->q);
}

void tunnel_output_sink_on_full(tunnel_output_sink *s, tunnel_output_full_cb cb,
                                void *user)
{
	s->full_cb = cb;
	s->full_user = user;
}

FILE *tunnel_output_sink_file(tunnel_output_sink *s)
{
	return s->file;
}

#if OUTPUT_HAVE_COOKIE
static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
	/* Taken or dropped, it never fails: an error would make stdio stop
	 * writing to the FILE for good. */
	tunnel_output_sink_write(cookie, buf, size);
	return (ssize_t)size;
}

static FILE *open_file(tunnel_output_sink *s)
{
	cookie_io_functions_t io = {.write = cookie_write};
	FILE *f = fopencookie(s, "w", io);
	if (f)
		setvbuf(f, NULL, _IOLBF, OUTPUT_FILE_BUF);
	return f;
}
#else
static FILE *open_file(tunnel_output_sink *s)
{
	return NULL;
}
#endif

/* Our own non-blocking open file description of the pipe behind fd, or
 * -1 (no /proc, no permission, or not the same pipe). */
static int reopen_pipe(int fd, const struct stat *st)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (own < 0)
		return -1;
	struct stat st2;
	if (fstat(own, &st2) < 0 || st2.st_dev != st->st_dev ||
	    st2.st_ino != st->st_ino) {
		close(own);
		return -1;
	}
	return own;
}

static void on_handle_closed(uv_handle_t *h)
{
	tunnel_output_sink *s = h->data;
	if (--s->open_handles > 0)
		return;
	if (s->own_fd >= 0)
		close(s->own_fd);
	tunnel_output_queue_free(&s->q);
	free(s);
}

int tunnel_output_sink_open(tunnel_output_sink **out, uv_loop_t *loop, int fd,
                            tunnel_output_kind kind, size_t max)
{
	*out = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return P2P_EIO;
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return P2P_EUNSUPPORTED;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return P2P_EIO;
	tunnel_output_sink *s = calloc(1, sizeof *s);
	if (!s)
		return P2P_ENOMEM;
	tunnel_output_queue_init(&s->q, kind, max);
	s->loop = loop;
	s->fd = fd;
	s->own_fd = -1;
	s->restore_fd = -1;
	s->is_socket = S_ISSOCK(st.st_mode);
	if (!s->is_socket) {
		s->own_fd = reopen_pipe(fd, &st);
		if (s->own_fd >= 0) {
			s->fd = s->own_fd;
		} else if (!(flags & O_NONBLOCK)) {
			/* Shared with whoever else holds the pipe: put back at
			 * close. */
			if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
				free(s);
				return P2P_EIO;
			}
			s->restore_fd = fd;
			s->restore_flags = flags;
		}
	}
	if (uv_poll_init(loop, &s->poll, s->fd) < 0) {
		if (s->restore_fd >= 0)
			fcntl(s->restore_fd, F_SETFL, s->restore_flags);
		if (s->own_fd >= 0)
			close(s->own_fd);
		free(s);
		return P2P_EIO;
	}
	/* uv_poll_init made the socket non-blocking; send(MSG_DONTWAIT) does
	 * not need that, and others sharing the socket keep it as it was. */
	if (s->is_socket)
		fcntl(fd, F_SETFL, flags);
	uv_timer_init(loop, &s->timer);
	s->poll.data = s->timer.data = s;
	s->open_handles = 2;
	/* Waiting output never keeps the loop alive: what is left at exit is
	 * flushed then, with a deadline. */
	uv_unref((uv_handle_t *)&s->poll);
	s->file = open_file(s);
	*out = s;
	return P2P_OK;
}

/* Writes the sinks' queues, waiting (poll) up to wait_ms for room. */
static void flush_sinks(tunnel_output_sink *const *v, int n, int wait_ms)
{
	for (int i = 0; i < n; i++)
		if (v[i]->file)
			fflush(v[i]->file);
	uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		struct pollfd pfd[2];
		int k = 0;
		for (int i = 0; i < n && k < 2; i++) {
			sink_drain(v[i]);
			if (!v[i]->dead && tunnel_output_queue_len(&v[i]->q))
				pfd[k++] =
				    (struct pollfd){.fd = v[i]->fd, .events = POLLOUT};
		}
		uint64_t now = uv_hrtime() / 1000000;
		if (k == 0 || now >= deadline)
			return;
		if (poll(pfd, (nfds_t)k, (int)(deadline - now)) < 0 && errno != EINTR)
			return;
	}
}

size_t tunnel_output_sink_flush(tunnel_output_sink *s, int wait_ms)
{
	tunnel_output_sink *v[1] = {s};
	flush_sinks(v, 1, wait_ms);
	return tunnel_output_queue_len(&s->q);
}

uint64_t tunnel_output_sink_close(tunnel_output_sink *s)
{
	if (s->file) {
		FILE *f = s->file;
		s->file = NULL;
		fclose(f); /* anything still buffered goes into the queue */
	}
	s->closing = true;
	uint64_t lost = s->q.lost;
	if (s->q.kind == TUNNEL_OUTPUT_EVENTS && !s->dead)
		lost += tunnel_output_queue_len(&s->q);
	sink_set_polling(s, false);
	uv_timer_stop(&s->timer);
	if (s->restore_fd >= 0)
		fcntl(s->restore_fd, F_SETFL, s->restore_flags);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	return lost;
}

/* --- the process's stdout and stderr --- */

/* There is one stdout and one stderr per process: the sinks under them
 * are too. */
static struct {
	tunnel_output_sink *out, *err;
	FILE *saved_stdout, *saved_stderr;
} g_output;

void tunnel_output_init(uv_loop_t *loop)
{
	if (!OUTPUT_HAVE_COOKIE || g_output.out || g_output.err)
		return;
	fflush(stdout);
	fflush(stderr);
	/* glibc's stdout and stderr are plain variables, meant to be
	 * assignable: everything that prints to them from now on, the
	 * library's logger included, goes through the sinks. */
	if (tunnel_output_sink_open(&g_output.out, loop, STDOUT_FILENO,
	                            TUNNEL_OUTPUT_EVENTS, 0) == P2P_OK) {
		if (tunnel_output_sink_file(g_output.out)) {
			g_output.saved_stdout = stdout;
			stdout = tunnel_output_sink_file(g_output.out);
		} else {
			tunnel_output_sink_close(g_output.out);
			g_output.out = NULL;
		}
	}
	if (tunnel_output_sink_open(&g_output.err, loop, STDERR_FILENO,
	                            TUNNEL_OUTPUT_LOGS, 0) == P2P_OK) {
		if (tunnel_output_sink_file(g_output.err)) {
			g_output.saved_stderr = stderr;
			stderr = tunnel_output_sink_file(g_output.err);
		} else {
			tunnel_output_sink_close(g_output.err);
			g_output.err = NULL;
		}
	}
}

void tunnel_output_on_events_full(tunnel_output_full_cb cb, void *user)
{
	if (g_output.out)
		tunnel_output_sink_on_full(g_output.out, cb, user);
}

uint64_t tunnel_output_close(int wait_ms)
{
	tunnel_output_sink *v[2];
	int n = 0;
	if (g_output.out)
		v[n++] = g_output.out;
	if (g_output.err)
		v[n++] = g_output.err;
	flush_sinks(v, n, wait_ms);
	uint64_t lost = 0;
	if (g_output.out) {
		stdout = g_output.saved_stdout;
		lost = tunnel_output_sink_close(g_output.out);
	}
	if (lost) {
		/* Said through the stderr sink if there is one (its reader may
		 * be as absent as stdout's: a blocking write could hang the
		 * exit), else to the file or terminal stderr is. */
		fprintf(stderr,
		        "tunnel: %" PRIu64 " bytes of events were lost: "
		        "nobody read stdout\n",
		        lost);
		if (g_output.err)
			tunnel_output_sink_flush(g_output.err, 0);
	}
	if (g_output.err) {
		stderr = g_output.saved_stderr;
		tunnel_output_sink_close(g_output.err);
	}
	memset(&g_output, 0, sizeof g_output);
	return lost;
}
