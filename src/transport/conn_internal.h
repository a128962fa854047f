/* Internals shared by the connection (conn.c), its handshake
 * (upgrader.c) and its streams (stream.c).
 *
 * Re-entrancy rule: user callbacks may call back into any stream or
 * connection function, so nothing is freed from inside a callback chain.
 * Streams that are over, and a connection that is closing, are torn down
 * from the connection's idle handle, on a clean stack. */
#ifndef P2P_TRANSPORT_CONN_INTERNAL_H
#define P2P_TRANSPORT_CONN_INTERNAL_H

#include <uv.h>

#include "p2p/conn.h"
#include "p2p/mss.h"
#include "p2p/noise.h"
#include "p2p/transport.h"
#include "p2p/yamux.h"

/* Bytes a stream hands yamux in one go (then the pipe is checked again). */
#define STREAM_CHUNK (256 * 1024)
/* Encrypted bytes worth a socket write of their own; less waits for the
 * end of the loop iteration, so bursts go out in large writes. Kept under
 * a typical per-core L2 cache (1 MiB on the development machine): the
 * kernel then copies what Noise just wrote from L2, not from L3. With
 * writes just over 1 MiB a bulk sender needed 10-20% more CPU per byte
 * (bench/README.md). Half the pipe's high-water mark, so that one batch
 * is written while the next fills. */
#define CONN_WRITE_BATCH (768 * 1024)
/* A stream write at least this large reserves a whole batch's buffer. */
#define CONN_BULK_WRITE (16 * 1024)
/* How often stream negotiation deadlines are checked once open (more
 * often for deadlines under four ticks). */
#define CONN_TICK_MS 1000

enum conn_state {
	CONN_MSS_SECURITY, /* multistream-select for "/noise", in the clear */
	CONN_NOISE,        /* the Noise XX handshake */
	CONN_MSS_MUXER,    /* multistream-select for "/yamux/1.0.0", encrypted */
	CONN_OPEN,
};

struct p2p_stream {
	p2p_conn *conn;
	uint32_t id;
	bool inbound;
	p2p_stream *prev, *next; /* the connection's list */
	p2p_stream_callbacks cb;
	void *user;
	bool has_cb;
	p2p_buf pending;  /* our bytes waiting for window (or a congested pipe) */
	p2p_buf held;     /* the peer's bytes not handed to the application yet */
	bool want_drain;  /* a write returned 0: on_drain is owed */
	bool close_write; /* half-close asked for; FIN goes after pending */
	bool fin_sent;
	bool discard; /* p2p_stream_close: drop what arrives */
	bool paused;  /* p2p_stream_pause: hold what arrives */
	bool remote_fin;
	bool fin_delivered;
	bool reset; /* either side reset it: no more I/O */
	bool dead;  /* the muxer is done with it; freed from the idle handle */
	/* multistream-select, while negotiating */
	p2p_mss *mss;
	p2p_stream_select_cb select_cb;
	void *select_user;
	uint64_t select_deadline; /* uv_now() time */
	char *protocol;
};

struct p2p_conn {
	uv_loop_t *loop;
	p2p_pipe *pipe; /* NULL once closed */
	const p2p_logger *log;
	const p2p_privkey *identity;
	p2p_peerid expected;
	bool has_expected;
	bool initiator;
	p2p_direction direction;
	uint32_t max_streams;
	uint64_t negotiate_timeout_ms;
	uint64_t write_stall_ms; /* p2p_upgrade_config's */
	bool limited;

	enum conn_state state;
	p2p_mss *mss;
	p2p_noise *noise;
	p2p_yamux *yamux;
	p2p_buf plain; /* decrypted input, scratch */
	p2p_peerid remote_peer;
	p2p_buf local_addr, remote_addr;

	uv_timer_t timer; /* handshake deadline, then the negotiation tick */
	uv_idle_t idle;   /* deferred work, see the re-entrancy rule */
	int handles;      /* libuv handles (and the pipe) not yet closed */

	p2p_upgrade_cb done;
	void *done_user;
	p2p_conn_callbacks cb;
	void *user;

	p2p_stream *streams;
	size_t num_streams;
	int in_recv;     /* inside p2p_yamux_recv: output is flushed after */
	bool blocked;    /* a stream waits for the congestion to clear */
	bool flush_owed; /* Noise output waits for the idle handle */
	/* Reading is paused while our output is over P2P_CONN_READ_PAUSE. */
	bool read_paused;
	uint64_t read_pauses; /* how often, for tests and reports */
	/* Write progress: the pipe's queue as we last saw it, and when it
	 * last went down (or was empty). Only we add to that queue, and we
	 * look right before every addition, so a decrease means bytes went
	 * out. */
	size_t out_mark;
	uint64_t out_progress_at; /* uv_now() time */
	bool closing;
	bool torn_down;
	int close_err;
};

/* conn.c */
void conn_flush(p2p_conn *c);
/* Writes stream data through yamux and Noise without copying it into
 * yamux's output; as p2p_yamux_write otherwise. */
ssize_t conn_write_stream(p2p_conn *c, uint32_t id, const uint8_t *data, size_t len);
void conn_schedule(p2p_conn *c);
/* Too much is queued for the pipe (or waiting in yamux to go to it). */
bool conn_congested(const p2p_conn *c);
/* Logs why and closes the connection. */
void conn_fail(p2p_conn *c, int err, const char *why);
/* The handshake is over: start yamux and report the connection. */
void conn_opened(p2p_conn *c, const uint8_t *rest, size_t rest_len);
/* Decrypts and demultiplexes bytes from an open connection. */
void conn_recv(p2p_conn *c, const uint8_t *data, size_t len);

/* upgrader.c */
int upgrade_start(p2p_conn *c);
void upgrade_recv(p2p_conn *c, const uint8_t *data, size_t len);

/* stream.c */
p2p_stream *stream_new(p2p_conn *c, uint32_t id, bool inbound);
void stream_on_data(p2p_stream *s, const uint8_t *data, size_t len);
void stream_on_fin(p2p_stream *s);
void stream_on_reset(p2p_stream *s, int err);
void stream_on_writable(p2p_stream *s);
void stream_on_closed(p2p_stream *s);
/* Deferred work (held data, FIN, on_close); frees s if it is dead. */
void stream_run_deferred(p2p_stream *s);
void stream_check_deadline(p2p_stream *s, uint64_t now);

#endif
