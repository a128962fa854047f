/* The tunnel's stdout (JSON events) and stderr (human-readable logs),
 * written without ever blocking the event loop.
 *
 * A supervisor that stops reading a pipe would otherwise stall the whole
 * daemon in a blocking write: every tunnel, every peer. So when fd 1 or
 * fd 2 is a pipe or a socket, tunnel_output_init replaces `stdout` or
 * `stderr` with a FILE (glibc's fopencookie) whose bytes go into a queue
 * in memory, written out with non-blocking writes as fast as the reader
 * takes them (a uv_poll_t says when the fd has room again). Everything
 * that prints through stdio is covered: tunnel_emit(app->events, ...),
 * tunnel_app_say, and the library's p2p_log, which writes to `stderr`.
 * Regular files and terminals are left as they are: a write to a file
 * does not stall, and a terminal is shared with the user's shell, whose
 * file flags we must not change.
 *
 * Non-blocking without touching anyone else's file: a pipe is opened
 * again through /proc/self/fd/N with O_NONBLOCK, which gives us our own
 * open file description of the same pipe (O_NONBLOCK on fd 1 itself
 * would reach every process sharing it: the shell, a sibling in the
 * pipeline). Without /proc (an empty chroot) fd N itself is made
 * non-blocking and its flags are put back at exit. A socket is written
 * with send(MSG_DONTWAIT) and keeps its flags.
 *
 * What happens when a queue is full:
 *   - Events are never dropped while the program runs. Their queue holds
 *     up to TUNNEL_OUTPUT_EVENT_QUEUE_MAX bytes; past that, nobody has
 *     read stdout for a long time (16 MiB is hundreds of thousands of
 *     events), the program cannot keep its promise not to lose one, so it
 *     says so on stderr and stops with exit status 1 (the full callback,
 *     which the app points at tunnel_app_stop). The events of the stop
 *     itself (DISCONNECT...) are still queued, up to
 *     TUNNEL_OUTPUT_EVENT_SLACK more; at exit the queue gets
 *     TUNNEL_OUTPUT_EXIT_WAIT_MS to drain, and what the reader has not
 *     taken by then is lost, which the exit status (1) tells.
 *   - Logs are dropped past TUNNEL_OUTPUT_LOG_QUEUE_MAX, whole lines at a
 *     time, and counted; once the queue has drained, a line "tunnel: N log
 *     lines dropped (stderr not read)" says how many.
 *   - A reader that closed its end (EPIPE) gets nothing more, as before.
 *
 * Everything here runs on the loop's thread. The queue and the rate
 * limiter are plain structs with the time passed in (unit-tested without
 * I/O); the sink is the queue joined to an fd. */
#ifndef TUNNEL_OUTPUT_H
#define TUNNEL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

/* Events waiting for stdout before the program gives up on its reader. */
#define TUNNEL_OUTPUT_EVENT_QUEUE_MAX (16u * 1024 * 1024)
/* Events still queued after that, while the program stops; beyond, they
 * are lost (and counted). */
#define TUNNEL_OUTPUT_EVENT_SLACK (1024u * 1024)
/* Log bytes waiting for stderr; lines past it are dropped and counted. */
#define TUNNEL_OUTPUT_LOG_QUEUE_MAX (256u * 1024)
/* A log line that was started may pass the cap by this much to end whole;
 * a longer one is cut (and ended with a newline). */
#define TUNNEL_OUTPUT_LINE_MAX 4096
/* At exit, how long the queues may take to drain. */
#define TUNNEL_OUTPUT_EXIT_WAIT_MS 2000

/* Refusal logs: at most TUNNEL_OUTPUT_LOG_BURST lines per limiter in a
 * window of TUNNEL_OUTPUT_LOG_WINDOW_MS; the rest are counted, and the
 * first line let through after them says how many. */
#define TUNNEL_OUTPUT_LOG_BURST     10
#define TUNNEL_OUTPUT_LOG_WINDOW_MS 10000

typedef enum tunnel_output_kind {
	TUNNEL_OUTPUT_EVENTS, /* never dropped; the full callback past the cap */
	TUNNEL_OUTPUT_LOGS,   /* lines dropped and counted past the cap */
} tunnel_output_kind;

/* --- the queue (no I/O) --- */

typedef enum tunnel_output_push_result {
	TUNNEL_OUTPUT_QUEUED = 0, /* all taken (logs: or some lines dropped) */
	TUNNEL_OUTPUT_FULL = 1,   /* events: taken, and the queue just passed
	                           * its cap (reported once) */
	TUNNEL_OUTPUT_LOST = 2,   /* events: past the slack too (or no memory);
	                           * some bytes were not taken */
} tunnel_output_push_result;

typedef struct tunnel_output_queue {
	uint8_t *data;
	size_t head; /* bytes before it were written already */
	size_t tail; /* queued bytes are data[head..tail) */
	size_t cap;  /* allocated */
	size_t max;  /* queued bytes allowed (the cap above) */
	tunnel_output_kind kind;
	/* Logs: where the last byte taken or dropped left us in a line. */
	enum {
		TUNNEL_OUTPUT_AT_LINE_START,
		TUNNEL_OUTPUT_IN_LINE,
		TUNNEL_OUTPUT_SKIPPING_LINE
	} line;
	uint64_t dropped; /* logs: lines dropped, not yet reported */
	uint64_t lost;    /* events: bytes not taken (past the slack) */
	bool over;        /* events: the cap was passed (FULL was returned) */
} tunnel_output_queue;

/* max 0: the kind's default. */
void tunnel_output_queue_init(tunnel_output_queue *q, tunnel_output_kind kind,
                              size_t max);
void tunnel_output_queue_free(tunnel_output_queue *q);
size_t tunnel_output_queue_len(const tunnel_output_queue *q);
tunnel_output_push_result tunnel_output_queue_push(tunnel_output_queue *q,
                                                   const void *data, size_t len);
/* The queued bytes, in one piece (*len 0: none). */
const uint8_t *tunnel_output_queue_peek(const tunnel_output_queue *q, size_t *len);
/* n bytes were written. When that empties a log queue that dropped lines,
 * the note saying how many is queued (the next thing written). */
void tunnel_output_queue_consume(tunnel_output_queue *q, size_t n);
/* Forgets what is queued (the reader is gone); returns how many bytes. */
size_t tunnel_output_queue_discard(tunnel_output_queue *q);

/* --- the rate limiter (no I/O) --- */

typedef struct tunnel_output_ratelimit {
	uint64_t window_start; /* ms */
	uint64_t held_since;   /* ms: the first line held back */
	uint64_t held;         /* lines held back, not yet reported */
	uint32_t used;         /* lines let through in this window */
	bool started;          /* zeroed: nothing seen yet */
} tunnel_output_ratelimit;

/* Whether a line may be written at now_ms (a zeroed struct is ready).
 * When it may and lines were held back before it, *held says how many and
 * *span_ms over how long (from the first of them to now): the caller adds
 * "(N more like this in the last S s)". A flood that stops therefore
 * leaves its count unsaid until the next such line, as with the kernel's
 * printk_ratelimit. */
bool tunnel_output_ratelimit_take(tunnel_output_ratelimit *rl, uint64_t now_ms,
                                  uint64_t *held, uint64_t *span_ms);

/* --- a sink: a queue written to an fd --- */

typedef struct tunnel_output_sink tunnel_output_sink;

/* The event queue passed its cap (once per sink); called from the loop,
 * never from inside a write. */
typedef void (*tunnel_output_full_cb)(void *user, size_t queued);

/* Writes to fd through a queue of this kind (max 0: the default). Only
 * for a pipe or a socket: P2P_EUNSUPPORTED for anything else (a file, a
 * terminal), P2P_EIO if it cannot be polled. fd stays open and ours to
 * close after tunnel_output_sink_close. */
int tunnel_output_sink_open(tunnel_output_sink **out, uv_loop_t *loop, int fd,
                            tunnel_output_kind kind, size_t max);
/* A stdio stream (line-buffered) whose bytes go into the sink. */
FILE *tunnel_output_sink_file(tunnel_output_sink *s);
void tunnel_output_sink_on_full(tunnel_output_sink *s, tunnel_output_full_cb cb,
                                void *user);
/* Queues data and writes what the fd takes now. */
void tunnel_output_sink_write(tunnel_output_sink *s, const void *data, size_t len);
size_t tunnel_output_sink_queued(const tunnel_output_sink *s);
/* Flushes the FILE, then writes, blocking up to wait_ms for the reader;
 * returns the bytes still queued. */
size_t tunnel_output_sink_flush(tunnel_output_sink *s, int wait_ms);
/* Closes the FILE and the handles (the memory goes once the loop has run
 * the close callbacks), without flushing: flush first. Returns the event
 * bytes lost (still queued, or past the slack). */
uint64_t tunnel_output_sink_close(tunnel_output_sink *s);

/* --- the process's stdout and stderr --- */

/* Puts sinks under stdout and stderr where they are pipes or sockets (see
 * above); harmless to call when they are not. Call before anything is
 * printed on the loop, once. */
void tunnel_output_init(uv_loop_t *loop);
/* Where the stdout sink reports a full event queue (NULL: nowhere). */
void tunnel_output_on_events_full(tunnel_output_full_cb cb, void *user);
/* At exit, after uv_run: drains both queues for up to wait_ms, gives the
 * process its own stdout and stderr back, and closes the sinks (run the
 * loop once more for the close callbacks). Returns the event bytes that
 * could not be written (0: every event reached stdout's reader, or the
 * reader had closed its end). */
uint64_t tunnel_output_close(int wait_ms);

#endif
