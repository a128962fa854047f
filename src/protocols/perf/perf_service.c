/* Perf on a host: the server as a stream handler and a client that times
 * one exchange. Both write with backpressure: produce a chunk, write it,
 * and stop when the stream asks to wait for on_drain. */
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/perf.h"
#include "protocols/perf/perf_internal.h"

/* Bytes handed to one stream write: large writes keep the per-write costs
 * of the stream, yamux and Noise small. The filler is all zeros, sent from
 * one zeroed buffer of this size per exchange. */
#define PERF_WRITE (256 * 1024)

/* --- server --- */

typedef struct perf_server_ctx {
	p2p_perf_server core;
	uint8_t *zeros; /* PERF_WRITE zero bytes, allocated for the reply */
} perf_server_ctx;

/* Sends the reply until it is all out or the stream is full. */
static void server_pump(p2p_stream *s, perf_server_ctx *ctx)
{
	for (;;) {
		if (p2p_perf_server_done(&ctx->core)) {
			p2p_stream_close(s);
			return;
		}
		if (ctx->zeros == NULL && (ctx->zeros = calloc(1, PERF_WRITE)) == NULL) {
			p2p_stream_reset(s);
			return;
		}
		size_t n = perf_server_take_filler(&ctx->core, PERF_WRITE);
		int rc = p2p_stream_write(s, ctx->zeros, n);
		if (rc < 0) {
			p2p_stream_reset(s);
			return;
		}
		if (rc == 0)
			return; /* on_drain resumes */
	}
}

static void server_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	perf_server_ctx *ctx = user;
	if (p2p_perf_server_recv(&ctx->core, data, len) != P2P_OK) {
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_consume(s, len);
}

static void server_on_fin(p2p_stream *s, void *user)
{
	perf_server_ctx *ctx = user;
	if (p2p_perf_server_eof(&ctx->core) != P2P_OK) {
		p2p_stream_reset(s);
		return;
	}
	server_pump(s, ctx);
}

static void server_on_drain(p2p_stream *s, void *user)
{
	perf_server_ctx *ctx = user;
	if (ctx->core.eof)
		server_pump(s, ctx);
}

static void server_on_close(p2p_stream *s, void *user)
{
	perf_server_ctx *ctx = user;
	free(ctx->zeros);
	free(ctx);
}

static const p2p_stream_callbacks server_callbacks = {
    .on_data = server_on_data,
    .on_drain = server_on_drain,
    .on_fin = server_on_fin,
    .on_close = server_on_close,
};

static void on_perf_stream(p2p_stream *s, const char *protocol, void *user)
{
	perf_server_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		p2p_stream_reset(s);
		return;
	}
	p2p_perf_server_init(&ctx->core);
	p2p_stream_set_callbacks(s, &server_callbacks, ctx);
}

int p2p_perf_serve(p2p_host *h)
{
	return p2p_host_set_handler(h, P2P_PERF_PROTOCOL, on_perf_stream, NULL);
}

/* --- client --- */

typedef struct perf_run {
	p2p_perf_client core;
	p2p_buf chunk;    /* the header */
	uint8_t *zeros;   /* PERF_WRITE zero bytes for the upload */
	uint64_t started; /* uv_hrtime() of the stream being ready */
	uint64_t first_byte;
	bool got_first_byte;
	p2p_perf_done_cb on_done;
	void *user;
	bool finished;
} perf_run;

static void run_free(perf_run *r)
{
	p2p_buf_free(&r->chunk);
	free(r->zeros);
	free(r);
}

static void run_finish(perf_run *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	if (err < 0) {
		r->on_done(err, NULL, r->user);
		return;
	}
	uint64_t now = uv_hrtime();
	p2p_perf_result res = {
	    .upload_bytes = r->core.upload,
	    .download_bytes = r->core.received,
	};
	if (r->got_first_byte) {
		res.upload_ns = r->first_byte - r->started;
		res.download_ns = now - r->first_byte;
	} else {
		res.upload_ns = now - r->started;
	}
	r->on_done(P2P_OK, &res, r->user);
}

static void client_pump(p2p_stream *s, perf_run *r)
{
	while (!p2p_perf_client_upload_done(&r->core)) {
		int rc;
		if (r->core.header_sent) {
			size_t n = perf_client_take_filler(&r->core, PERF_WRITE);
			rc = p2p_stream_write(s, r->zeros, n);
		} else {
			p2p_buf_reset(&r->chunk);
			int n =
			    p2p_perf_client_produce(&r->core, &r->chunk, P2P_PERF_CHUNK);
			rc = n < 0 ? n : p2p_stream_write(s, r->chunk.data, r->chunk.len);
		}
		if (rc < 0) {
			run_finish(r, rc);
			p2p_stream_reset(s);
			return;
		}
		if (rc == 0 && !p2p_perf_client_upload_done(&r->core))
			return; /* on_drain resumes */
	}
	p2p_stream_close_write(s);
}

static void client_on_data(p2p_stream *s, const uint8_t *data, size_t len, void *user)
{
	perf_run *r = user;
	if (!r->got_first_byte) {
		r->got_first_byte = true;
		r->first_byte = uv_hrtime();
	}
	int rc = p2p_perf_client_recv(&r->core, len);
	if (rc != P2P_OK) {
		run_finish(r, rc);
		p2p_stream_reset(s);
		return;
	}
	p2p_stream_consume(s, len);
}

static void client_on_drain(p2p_stream *s, void *user)
{
	perf_run *r = user;
	if (!p2p_perf_client_upload_done(&r->core))
		client_pump(s, r);
}

static void client_on_fin(p2p_stream *s, void *user)
{
	perf_run *r = user;
	/* A reply before our upload ended breaks the spec's order. */
	int rc = p2p_perf_client_upload_done(&r->core) ? p2p_perf_client_finish(&r->core)
	                                               : P2P_EPROTO;
	run_finish(r, rc);
	p2p_stream_close(s);
}

static void client_on_reset(p2p_stream *s, int err, void *user)
{
	run_finish(user, err < 0 ? err : P2P_ERESET);
}

static void client_on_close(p2p_stream *s, void *user)
{
	perf_run *r = user;
	run_finish(r, P2P_ECLOSED);
	run_free(r);
}

static const p2p_stream_callbacks client_callbacks = {
    .on_data = client_on_data,
    .on_drain = client_on_drain,
    .on_fin = client_on_fin,
    .on_reset = client_on_reset,
    .on_close = client_on_close,
};

static void on_ready(p2p_stream *s, int err, void *user)
{
	perf_run *r = user;
	if (err < 0) {
		run_finish(r, err);
		run_free(r);
		return;
	}
	r->started = uv_hrtime();
	p2p_stream_set_callbacks(s, &client_callbacks, r);
	client_pump(s, r);
}

int p2p_perf_run(p2p_host *h, const p2p_peerid *peer, uint64_t upload, uint64_t download,
                 p2p_perf_done_cb on_done, void *user)
{
	if (on_done == NULL)
		return P2P_EINVAL;
	perf_run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return P2P_ENOMEM;
	p2p_perf_client_init(&r->core, upload, download);
	p2p_buf_init(&r->chunk);
	if (upload > 0 && (r->zeros = calloc(1, PERF_WRITE)) == NULL) {
		free(r);
		return P2P_ENOMEM;
	}
	r->on_done = on_done;
	r->user = user;
	static const char *const protos[] = {P2P_PERF_PROTOCOL};
	int rc = p2p_host_new_stream(h, peer, protos, 1, on_ready, r);
	if (rc != P2P_OK) {
		run_free(r);
	}
	return rc;
}
