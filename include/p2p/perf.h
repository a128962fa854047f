/* Perf (specs: perf/perf.md), the libp2p throughput benchmark. The client
 * writes the number of bytes it wants back as a big-endian u64, then
 * uploads any number of bytes and closes its write side; the server reads
 * until that close, then sends the requested bytes and closes.
 *
 * Sans-I/O: these cores count bytes and produce filler; the caller moves
 * them, respects backpressure and keeps the time. The filler is zeros (the
 * spec allows any fixed pattern). */
#ifndef P2P_PERF_H
#define P2P_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/host.h"

#define P2P_PERF_PROTOCOL   "/perf/1.0.0"
#define P2P_PERF_HEADER_LEN 8
/* Largest slice p2p_perf_*_produce appends per call. */
#define P2P_PERF_CHUNK (64 * 1024)

/* --- client --- */

typedef struct p2p_perf_client {
	uint64_t upload;   /* bytes to send after the header */
	uint64_t download; /* bytes asked back */
	uint64_t sent;     /* upload bytes produced so far */
	uint64_t received;
	bool header_sent;
} p2p_perf_client;

void p2p_perf_client_init(p2p_perf_client *c, uint64_t upload, uint64_t download);
/* Appends what goes out next (the header first, then upload filler), at
 * most max bytes (capped at P2P_PERF_CHUNK; max must be at least
 * P2P_PERF_HEADER_LEN, else P2P_EINVAL). Returns the number appended,
 * 0 once everything is out (then close the write side), or a negative
 * error. */
int p2p_perf_client_produce(p2p_perf_client *c, p2p_buf *out, size_t max);
bool p2p_perf_client_upload_done(const p2p_perf_client *c);
/* Counts bytes from the server; P2P_EPROTO past the requested amount. */
int p2p_perf_client_recv(p2p_perf_client *c, size_t len);
/* The server closed: P2P_OK if exactly the requested bytes came. */
int p2p_perf_client_finish(const p2p_perf_client *c);

/* --- server --- */

typedef struct p2p_perf_server {
	uint8_t header[P2P_PERF_HEADER_LEN];
	size_t header_len;
	uint64_t download; /* bytes to send back, once the header is in */
	uint64_t received; /* upload bytes counted */
	uint64_t sent;
	bool eof; /* the client closed its write side */
} p2p_perf_server;

void p2p_perf_server_init(p2p_perf_server *s);
/* Feeds the client's bytes. P2P_ESTATE after p2p_perf_server_eof. */
int p2p_perf_server_recv(p2p_perf_server *s, const uint8_t *in, size_t len);
/* The client closed its side: P2P_EPROTO if the header is incomplete.
 * From now on the server sends (the spec forbids sending earlier). */
int p2p_perf_server_eof(p2p_perf_server *s);
/* Like p2p_perf_client_produce: appends up to max bytes of the reply;
 * 0 once all is out (then close). P2P_ESTATE before the client's EOF. */
int p2p_perf_server_produce(p2p_perf_server *s, p2p_buf *out, size_t max);
bool p2p_perf_server_done(const p2p_perf_server *s);

/* --- on a host (perf_service.c) --- */

/* Serves perf on h. The spec advises against serving it on public nodes
 * (a client can ask for any amount); it is for benchmarks. */
int p2p_perf_serve(p2p_host *h);

typedef struct p2p_perf_result {
	uint64_t upload_bytes;
	uint64_t download_bytes;
	/* Upload: from the stream being ready until the first reply byte
	 * (the server answers only once it has read everything), or until
	 * the server's close when nothing is asked back. Download: from the
	 * first reply byte to the server's close. */
	uint64_t upload_ns;
	uint64_t download_ns;
} p2p_perf_result;

/* r is valid during the call only, and NULL when err < 0. */
typedef void (*p2p_perf_done_cb)(int err, const p2p_perf_result *r, void *user);

/* Runs one perf exchange with peer (connecting if needed). No timeout
 * here: the caller bounds the run. */
int p2p_perf_run(p2p_host *h, const p2p_peerid *peer, uint64_t upload, uint64_t download,
                 p2p_perf_done_cb on_done, void *user);

#endif
