/* Test helper: run a libuv loop until a flag is set or a deadline passes,
 * so a broken test fails instead of hanging. */
#ifndef P2P_TEST_UVTEST_H
#define P2P_TEST_UVTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

static void uvt_on_deadline(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Returns true if *done became true before timeout_ms. */
static inline bool uvt_run(uv_loop_t *loop, const bool *done, uint64_t timeout_ms)
{
	bool expired = false;
	uv_timer_t t;
	uv_timer_init(loop, &t);
	t.data = &expired;
	uv_timer_start(&t, uvt_on_deadline, timeout_ms, 0);
	while (!*done && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *done;
}

/* Runs the loop until no handle is left (bounded); true if it emptied. */
static inline bool uvt_drain(uv_loop_t *loop)
{
	for (int i = 0; i < 1000 && uv_loop_alive(loop); i++)
		uv_run(loop, UV_RUN_NOWAIT);
	return !uv_loop_alive(loop);
}

#endif
