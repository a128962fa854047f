/* Fuzzes a connection after the handshake: two connections are upgraded
 * over an in-memory pipe pair, then the input goes to one of them as
 * decrypted yamux bytes from its peer (encrypted by the peer's Noise
 * session, so they pass authentication). The victim serves an echo and a
 * slow sink protocol, so streams, negotiation, backpressure and teardown
 * all see hostile frames. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>

#include "../../unit/transport/mempipe.h"
#include "p2p/error.h"
#include "p2p/transport.h"
#include "transport/conn_internal.h"

#define ROUNDS 200 /* loop turns after the input, enough to settle */

typedef struct side {
	p2p_conn *conn;
	bool done, closed;
	int err;
} side;

static void echo_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	if (p2p_stream_write(s, data, len) == 1)
		p2p_stream_consume(s, len);
}

static void echo_fin(p2p_stream *s, void *user)
{
	p2p_stream_close_write(s);
}

static const p2p_stream_callbacks echo_cbs = {.on_data = echo_data, .on_fin = echo_fin};

/* The sink never consumes: the window must hold the peer back. */
static const p2p_stream_callbacks sink_cbs = {0};

static void selected(p2p_stream *s, const char *protocol, int err, void *user)
{
	if (err < 0)
		return;
	if (protocol[1] == 'e')
		p2p_stream_set_callbacks(s, &echo_cbs, NULL);
	else
		p2p_stream_set_callbacks(s, &sink_cbs, NULL);
}

static void on_stream(p2p_conn *c, p2p_stream *s, void *user)
{
	static const char *const protos[] = {"/echo/1.0.0", "/sink/1.0.0"};
	if (p2p_stream_select(s, false, protos, 2, selected, NULL) < 0)
		p2p_stream_reset(s);
}

static void on_close(p2p_conn *c, int err, void *user)
{
	((side *)user)->closed = true;
}

static void on_upgraded(p2p_conn *c, int err, void *user)
{
	side *s = user;
	s->done = true;
	s->err = err;
	s->conn = c;
	if (err < 0)
		s->closed = true;
}

static void quiet(p2p_log_level level, const char *msg, void *user)
{
	(void)level;
	(void)msg;
	(void)user;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static p2p_privkey *ka, *kb; /* made once: key generation is slow */
	if (ka == NULL &&
	    (p2p_privkey_generate(&ka) < 0 || p2p_privkey_generate(&kb) < 0))
		abort();
	p2p_logger log = {.level = P2P_LOG_DEBUG, .fn = quiet};
	uv_loop_t loop;
	uv_loop_init(&loop);
	p2p_pipe *pa, *pb;
	mem_pipe_pair(&loop, &pa, &pb);
	side a = {0}, b = {0};
	p2p_conn_callbacks victim = {.on_stream = on_stream, .on_close = on_close};
	p2p_conn_callbacks peer = {.on_close = on_close};
	p2p_upgrade_config ca = {
	    .identity = ka, .initiator = false, .log = &log, .max_streams = 8};
	p2p_upgrade_config cb = {.identity = kb, .initiator = true, .log = &log};
	p2p_upgrade(NULL, &loop, pa, &ca, &victim, &a, on_upgraded, &a);
	p2p_upgrade(NULL, &loop, pb, &cb, &peer, &b, on_upgraded, &b);
	for (int i = 0; i < 1000 && !(a.done && b.done); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (a.err || b.err || !a.done || !b.done)
		abort(); /* the handshake over memory must work */

	/* The input, as the peer's yamux output. */
	p2p_conn *pc = b.conn;
	if (p2p_noise_send(pc->noise, data, size) == P2P_OK) {
		p2p_buf out;
		p2p_buf_move(&out, p2p_noise_output(pc->noise));
		p2p_pipe_write(pc->pipe, &out);
	}
	for (int i = 0; i < ROUNDS && !a.closed; i++)
		uv_run(&loop, UV_RUN_NOWAIT);

	if (!a.closed)
		p2p_conn_close(a.conn, 0);
	if (!b.closed)
		p2p_conn_close(b.conn, 0);
	for (int i = 0; i < 1000 && !(a.closed && b.closed); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&loop) != 0)
		abort(); /* a handle was left open */
	return 0;
}
