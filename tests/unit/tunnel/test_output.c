#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "p2p/error.h"
#include "tunnel/control.h"
#include "tunnel/output.h"

/* --- the queue, without I/O --- */

static void drain_all(tunnel_output_queue *q, char *out, size_t out_len, size_t *got)
{
	*got = 0;
	for (;;) {
		size_t n;
		const uint8_t *p = tunnel_output_queue_peek(q, &n);
		if (!n)
			break;
		assert_true(*got + n <= out_len);
		memcpy(out + *got, p, n);
		*got += n;
		tunnel_output_queue_consume(q, n);
	}
}

static void test_event_queue_never_drops(void **state)
{
	tunnel_output_queue q;
	tunnel_output_queue_init(&q, TUNNEL_OUTPUT_EVENTS, 100);
	char line[60];
	memset(line, 'a', sizeof line);
	assert_int_equal(tunnel_output_queue_push(&q, line, 60), TUNNEL_OUTPUT_QUEUED);
	/* Past the cap: taken, and reported once. */
	memset(line, 'b', sizeof line);
	assert_int_equal(tunnel_output_queue_push(&q, line, 60), TUNNEL_OUTPUT_FULL);
	memset(line, 'c', sizeof line);
	assert_int_equal(tunnel_output_queue_push(&q, line, 60), TUNNEL_OUTPUT_QUEUED);
	assert_int_equal(tunnel_output_queue_len(&q), 180);

	/* Partly written, then the rest, in order. */
	size_t n;
	const uint8_t *p = tunnel_output_queue_peek(&q, &n);
	assert_int_equal(n, 180);
	assert_int_equal(p[0], 'a');
	tunnel_output_queue_consume(&q, 70);
	p = tunnel_output_queue_peek(&q, &n);
	assert_int_equal(n, 110);
	assert_int_equal(p[0], 'b');
	assert_int_equal(p[50], 'c');

	/* Beyond the slack an event is not taken at all, and counted. */
	size_t big = TUNNEL_OUTPUT_EVENT_SLACK;
	char *huge = calloc(1, big);
	assert_non_null(huge);
	assert_int_equal(tunnel_output_queue_push(&q, huge, big), TUNNEL_OUTPUT_LOST);
	assert_int_equal(q.lost, big);
	assert_int_equal(tunnel_output_queue_len(&q), 110);
	free(huge);

	char out[256];
	size_t got;
	drain_all(&q, out, sizeof out, &got);
	assert_int_equal(got, 110);
	/* Events get no note. */
	assert_int_equal(tunnel_output_queue_len(&q), 0);
	tunnel_output_queue_free(&q);
}

/* Queued bytes move to the front as the queue is written and refilled:
 * many small writes through a big queue keep every byte in order. */
static void test_event_queue_order_under_churn(void **state)
{
	tunnel_output_queue q;
	tunnel_output_queue_init(&q, TUNNEL_OUTPUT_EVENTS, 0);
	assert_int_equal(q.max, TUNNEL_OUTPUT_EVENT_QUEUE_MAX);
	uint32_t next_in = 0, next_out = 0;
	for (int round = 0; round < 2000; round++) {
		uint32_t v[37];
		for (size_t i = 0; i < 37; i++)
			v[i] = next_in++;
		assert_int_equal(tunnel_output_queue_push(&q, v, sizeof v),
		                 TUNNEL_OUTPUT_QUEUED);
		size_t n;
		const uint8_t *p = tunnel_output_queue_peek(&q, &n);
		/* A reader slower than the writer, a word at a time. */
		size_t take = (n / 2) & ~(size_t)3;
		for (size_t i = 0; i < take; i += 4) {
			uint32_t w;
			memcpy(&w, p + i, 4);
			assert_int_equal(w, next_out++);
		}
		tunnel_output_queue_consume(&q, take);
	}
	size_t n;
	const uint8_t *p = tunnel_output_queue_peek(&q, &n);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		assert_int_equal(w, next_out++);
	}
	assert_int_equal(next_out, next_in);
	tunnel_output_queue_free(&q);
}

static void test_log_queue_drops_whole_lines(void **state)
{
	tunnel_output_queue q;
	tunnel_output_queue_init(&q, TUNNEL_OUTPUT_LOGS, 64);
	/* 20 bytes a line: three fit in 64, the next two do not. */
	for (int i = 0; i < 5; i++) {
		char line[32];
		snprintf(line, sizeof line, "line %02d ...........\n", i);
		assert_int_equal(strlen(line), 20);
		assert_int_equal(tunnel_output_queue_push(&q, line, 20),
		                 TUNNEL_OUTPUT_QUEUED);
	}
	assert_int_equal(tunnel_output_queue_len(&q), 60);
	assert_int_equal(q.dropped, 2);

	/* No note until the queue has drained. */
	tunnel_output_queue_consume(&q, 30);
	assert_int_equal(tunnel_output_queue_len(&q), 30);
	tunnel_output_queue_consume(&q, 30);
	char out[256];
	size_t got;
	drain_all(&q, out, sizeof out - 1, &got);
	out[got] = 0;
	assert_string_equal(out, "tunnel: 2 log lines dropped (stderr not read)\n");
	assert_int_equal(q.dropped, 0);
	assert_int_equal(tunnel_output_queue_len(&q), 0);

	/* Room again: lines are taken. */
	assert_int_equal(tunnel_output_queue_push(&q, "again\n", 6),
	                 TUNNEL_OUTPUT_QUEUED);
	drain_all(&q, out, sizeof out - 1, &got);
	out[got] = 0;
	assert_string_equal(out, "again\n");
	tunnel_output_queue_free(&q);
}

static void test_log_queue_lines_in_pieces(void **state)
{
	tunnel_output_queue q;
	tunnel_output_queue_init(&q, TUNNEL_OUTPUT_LOGS, 16);
	/* A line that started is finished even past the cap... */
	tunnel_output_queue_push(&q, "0123456789", 10);
	tunnel_output_queue_push(&q, "abcdefghij", 10);
	tunnel_output_queue_push(&q, "\n", 1);
	assert_int_equal(tunnel_output_queue_len(&q), 21);
	assert_int_equal(q.dropped, 0);
	/* ...one that starts with no room is dropped to its end, in
	 * whatever pieces it comes, and the next one is judged afresh. */
	tunnel_output_queue_push(&q, "dropped ", 8);
	tunnel_output_queue_push(&q, "still dropped\nnext\n", 19);
	assert_int_equal(q.dropped, 2);
	assert_int_equal(tunnel_output_queue_len(&q), 21);

	/* Drained: the note. */
	tunnel_output_queue_consume(&q, 21);
	char out[256];
	size_t got;
	drain_all(&q, out, sizeof out - 1, &got);
	out[got] = 0;
	assert_string_equal(out, "tunnel: 2 log lines dropped (stderr not read)\n");

	/* The note waits for the end of a line that is half written. */
	tunnel_output_queue_push(&q, "0123456789abcdef\n", 17);
	assert_int_equal(q.dropped, 1);
	tunnel_output_queue_push(&q, "half", 4);
	tunnel_output_queue_consume(&q, 4);
	assert_int_equal(tunnel_output_queue_len(&q), 0);
	tunnel_output_queue_push(&q, " done\n", 6);
	drain_all(&q, out, sizeof out - 1, &got);
	out[got] = 0;
	assert_string_equal(out, " done\ntunnel: 1 log line dropped (stderr not read)\n");

	/* A runaway line is cut past the cap and the slack, and ended. */
	tunnel_output_queue_push(&q, "x", 1);
	char *blob = malloc(2 * TUNNEL_OUTPUT_LINE_MAX);
	assert_non_null(blob);
	memset(blob, 'y', 2 * TUNNEL_OUTPUT_LINE_MAX);
	tunnel_output_queue_push(&q, blob, 2 * TUNNEL_OUTPUT_LINE_MAX);
	tunnel_output_queue_push(&q, "tail of the runaway\nnew line\n", 29);
	free(blob);
	size_t n;
	const uint8_t *p = tunnel_output_queue_peek(&q, &n);
	assert_int_equal(n, 1 + 1 + 9);
	assert_memory_equal(p, "x\nnew line\n", n);
	tunnel_output_queue_free(&q);
}

/* --- the rate limiter --- */

static void test_ratelimit(void **state)
{
	tunnel_output_ratelimit rl = {0};
	uint64_t held, span;
	uint64_t t = 5000;
	for (int i = 0; i < TUNNEL_OUTPUT_LOG_BURST; i++) {
		assert_true(
		    tunnel_output_ratelimit_take(&rl, t + (uint64_t)i, &held, &span));
		assert_int_equal(held, 0);
	}
	/* The burst is spent: held back (and counted) for the window. */
	for (int i = 0; i < 1000; i++)
		assert_false(tunnel_output_ratelimit_take(&rl, t + 100 + (uint64_t)i,
		                                          &held, &span));
	assert_false(tunnel_output_ratelimit_take(
	    &rl, t + TUNNEL_OUTPUT_LOG_WINDOW_MS - 1, &held, &span));
	/* The window reopens: the next line says how many it stands for. */
	uint64_t later = t + TUNNEL_OUTPUT_LOG_WINDOW_MS + 2000;
	assert_true(tunnel_output_ratelimit_take(&rl, later, &held, &span));
	assert_int_equal(held, 1001);
	assert_int_equal(span, later - (t + 100));
	/* Said once. */
	assert_true(tunnel_output_ratelimit_take(&rl, later + 1, &held, &span));
	assert_int_equal(held, 0);

	/* Quiet for long: a fresh burst. */
	later += 10 * TUNNEL_OUTPUT_LOG_WINDOW_MS;
	for (int i = 0; i < TUNNEL_OUTPUT_LOG_BURST; i++)
		assert_true(tunnel_output_ratelimit_take(&rl, later, &held, &span));
	assert_false(tunnel_output_ratelimit_take(&rl, later, &held, &span));

	/* A zeroed limiter works from time 0 too. */
	tunnel_output_ratelimit rl0 = {0};
	assert_true(tunnel_output_ratelimit_take(&rl0, 0, &held, &span));
}

/* --- sinks on real pipes and sockets --- */

typedef struct full_seen {
	int calls;
	size_t queued;
} full_seen;

static void on_full(void *user, size_t queued)
{
	full_seen *f = user;
	f->calls++;
	f->queued = queued;
}

/* Reads what fd has (non-blocking) into out, returns bytes read. */
static size_t read_some(int fd, char *out, size_t max)
{
	size_t got = 0;
	while (got < max) {
		ssize_t r = read(fd, out + got, max - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A sink's poll handle does not keep the loop alive (output.c): in the
 * tunnel its listeners do; here a timer does, between keep_alive and
 * close_loop. */
static uv_timer_t keeper;

static void on_keeper(uv_timer_t *t)
{
}

static void keep_alive(uv_loop_t *loop)
{
	uv_timer_init(loop, &keeper);
	uv_timer_start(&keeper, on_keeper, 60000, 60000);
}

static void close_loop(uv_loop_t *loop)
{
	if (uv_is_active((uv_handle_t *)&keeper) && keeper.loop == loop)
		uv_close((uv_handle_t *)&keeper, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* A pipe nobody reads: writes return at once, the events wait in the
 * queue, the cap is reported from the loop, and once the reader comes
 * every byte arrives in order. The pipe's own flags stay blocking. */
static void test_sink_pipe_events(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	keep_alive(&loop);
	int p[2];
	assert_int_equal(pipe(p), 0);
	int flags_before = fcntl(p[1], F_GETFL);
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, p[1], TUNNEL_OUTPUT_EVENTS, 256 * 1024),
	    P2P_OK);
	full_seen full = {0};
	tunnel_output_sink_on_full(s, on_full, &full);
	FILE *f = tunnel_output_sink_file(s);
	assert_non_null(f);
	if (access("/proc/self/fd", F_OK) == 0)
		assert_int_equal(fcntl(p[1], F_GETFL), flags_before);

	/* 10000 events of 40 bytes: 400000 bytes, past the pipe (64 KiB) and
	 * the cap. */
	const int count = 10000;
	p2p_buf line;
	p2p_buf_init(&line);
	for (int i = 0; i < count; i++) {
		char ev[64];
		int k = snprintf(ev, sizeof ev, "{\"action\":\"LIST\",\"n\":%017d}\n", i);
		assert_int_equal(k, 40);
		assert_int_equal(p2p_buf_append(&line, ev, (size_t)k), 0);
		tunnel_emit(f, &line);
	}
	p2p_buf_free(&line);
	assert_true(tunnel_output_sink_queued(s) > 0);
	/* Not from inside the write: from the loop, once. */
	assert_int_equal(full.calls, 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(full.calls, 1);
	assert_true(full.queued > 256 * 1024);

	/* The reader comes back: the loop writes the rest as it reads. */
	set_nonblock(p[0]);
	size_t want = (size_t)count * 40, got = 0;
	char *all = malloc(want + 1);
	assert_non_null(all);
	for (int spins = 0; got < want && spins < 100000; spins++) {
		got += read_some(p[0], all + got, want - got);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(got, want);
	for (int i = 0; i < count; i++) {
		char ev[64];
		snprintf(ev, sizeof ev, "{\"action\":\"LIST\",\"n\":%017d}\n", i);
		assert_memory_equal(all + (size_t)i * 40, ev, 40);
	}
	free(all);
	assert_int_equal(tunnel_output_sink_queued(s), 0);
	assert_int_equal(full.calls, 1);
	assert_int_equal(tunnel_output_sink_close(s), 0);
	close_loop(&loop);
	assert_int_equal(fcntl(p[1], F_GETFL), flags_before);
	close(p[0]);
	close(p[1]);
}

/* Logs past the cap are dropped whole and counted, and the count comes
 * after the last line that made it. */
static void test_sink_pipe_logs_dropped(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* A one-page pipe: 128 lines of 32 bytes fill it exactly. */
	if (fcntl(p[1], F_SETPIPE_SZ, 4096) != 4096) {
		close(p[0]);
		close(p[1]);
		uv_loop_close(&loop);
		skip();
	}
	keep_alive(&loop);
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, p[1], TUNNEL_OUTPUT_LOGS, 1024), P2P_OK);
	FILE *f = tunnel_output_sink_file(s);
	for (int i = 0; i < 1000; i++)
		fprintf(f, "tunnel: log line number %07d\n", i); /* 32 bytes */
	/* 128 in the pipe, 32 in the queue (1024 bytes), the rest dropped. */
	assert_int_equal(tunnel_output_sink_queued(s), 1024);

	set_nonblock(p[0]);
	char buf[16384];
	const char *note = "tunnel: 840 log lines dropped (stderr not read)\n";
	size_t want = 160 * 32 + strlen(note), got = 0;
	for (int spins = 0; got < want && spins < 1000; spins++) {
		got += read_some(p[0], buf + got, sizeof buf - 1 - got);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	got += read_some(p[0], buf + got, sizeof buf - 1 - got);
	buf[got] = 0;
	assert_int_equal(got, want);
	assert_memory_equal(buf, "tunnel: log line number 0000000\n", 32);
	assert_memory_equal(buf + 159 * 32, "tunnel: log line number 0000159\n", 32);
	assert_string_equal(buf + 160 * 32, note);

	assert_int_equal(tunnel_output_sink_close(s), 0);
	close_loop(&loop);
	close(p[0]);
	close(p[1]);
}

/* A socket is written with MSG_DONTWAIT: its flags are not touched, so a
 * peer process sharing it (a supervisor's socketpair) is not surprised. */
static void test_sink_socket(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	keep_alive(&loop);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int flags_before = fcntl(sv[0], F_GETFL);
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, sv[0], TUNNEL_OUTPUT_EVENTS, 0), P2P_OK);
	assert_int_equal(fcntl(sv[0], F_GETFL), flags_before);
	size_t want = 4 * 1024 * 1024;
	char *data = malloc(want), *back = malloc(want);
	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < want; i++)
		data[i] = (char)(i * 7 + (i >> 12));
	for (size_t off = 0; off < want; off += 4096)
		tunnel_output_sink_write(s, data + off, 4096);
	assert_true(tunnel_output_sink_queued(s) > 0);
	set_nonblock(sv[1]);
	size_t got = 0;
	for (int spins = 0; got < want && spins < 1000000; spins++) {
		got += read_some(sv[1], back + got, want - got);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(got, want);
	assert_memory_equal(data, back, want);
	free(data);
	free(back);
	assert_int_equal(tunnel_output_sink_close(s), 0);
	close_loop(&loop);
	close(sv[0]);
	close(sv[1]);
}

/* At exit the wait for the reader is bounded, and what is left is lost
 * and said so (the returned count). */
static void test_sink_flush_deadline(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, p[1], TUNNEL_OUTPUT_EVENTS, 0), P2P_OK);
	static char chunk[1000];
	memset(chunk, 'e', sizeof chunk);
	for (int i = 0; i < 200; i++)
		tunnel_output_sink_write(s, chunk, sizeof chunk);
	size_t queued = tunnel_output_sink_queued(s);
	assert_true(queued > 0);
	uint64_t t0 = uv_hrtime();
	assert_int_equal(tunnel_output_sink_flush(s, 300), queued);
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	assert_true(ms >= 250);
	assert_true(ms < 3000);
	/* With a reader, the flush ends as soon as all is out. */
	set_nonblock(p[0]);
	char buf[65536];
	read_some(p[0], buf, sizeof buf);
	size_t left = tunnel_output_sink_flush(s, 10);
	assert_true(left < queued);
	assert_int_equal(tunnel_output_sink_close(s), left);
	close_loop(&loop);
	close(p[0]);
	close(p[1]);
}

/* A reader that closed its end: the rest is discarded, nothing blocks,
 * nothing is reported as unread. */
static void test_sink_reader_gone(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	int flags_before = fcntl(p[1], F_GETFL);
	close(p[0]);
	/* No reader: the pipe cannot be opened again (ENXIO), so this is
	 * the path that sets O_NONBLOCK on the fd and puts it back. */
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, p[1], TUNNEL_OUTPUT_EVENTS, 0), P2P_OK);
	FILE *f = tunnel_output_sink_file(s);
	for (int i = 0; i < 1000; i++)
		fprintf(f, "{\"action\":\"ERROR\",\"error\":\"%d\"}\n", i);
	fflush(f);
	assert_int_equal(tunnel_output_sink_queued(s), 0);
	assert_int_equal(tunnel_output_sink_flush(s, 1000), 0);
	assert_int_equal(tunnel_output_sink_close(s), 0);
	close_loop(&loop);
	assert_int_equal(fcntl(p[1], F_GETFL), flags_before);
	close(p[1]);
}

/* Files and terminals are left to stdio. */
static void test_sink_not_for_files(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	tunnel_output_sink *s;
	assert_int_equal(
	    tunnel_output_sink_open(&s, &loop, fileno(tmp), TUNNEL_OUTPUT_EVENTS, 0),
	    P2P_EUNSUPPORTED);
	assert_null(s);
	fclose(tmp);
	int null = open("/dev/null", O_WRONLY);
	assert_true(null >= 0);
	assert_int_equal(tunnel_output_sink_open(&s, &loop, null, TUNNEL_OUTPUT_LOGS, 0),
	                 P2P_EUNSUPPORTED);
	close(null);
	/* Nothing to close for the process either when init found neither. */
	assert_int_equal(tunnel_output_close(0), 0);
	close_loop(&loop);
}

int main(void)
{
	/* As the tunnel does (main.c): a gone reader is an EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_queue_never_drops),
	    cmocka_unit_test(test_event_queue_order_under_churn),
	    cmocka_unit_test(test_log_queue_drops_whole_lines),
	    cmocka_unit_test(test_log_queue_lines_in_pieces),
	    cmocka_unit_test(test_ratelimit),
	    cmocka_unit_test(test_sink_pipe_events),
	    cmocka_unit_test(test_sink_pipe_logs_dropped),
	    cmocka_unit_test(test_sink_socket),
	    cmocka_unit_test(test_sink_flush_deadline),
	    cmocka_unit_test(test_sink_reader_gone),
	    cmocka_unit_test(test_sink_not_for_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
