/* A yamux session fed arbitrary frames, interleaved with local calls, and
 * with callbacks that consume, write, close and reset from inside recv.
 * Every stream gets a heap-allocated stream_user that on_closed frees, so
 * a stream closed twice or never shows up under ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/yamux.h"

static void *new_user(void)
{
	void *u = malloc(1);
	if (u == NULL)
		abort();
	return u;
}

static int on_open(p2p_yamux *y, uint32_t id, void *user)
{
	if (id % 7 == 0)
		return P2P_ELIMIT;
	p2p_yamux_set_stream_user(y, id, new_user());
	if (id % 5 == 0)
		p2p_yamux_write(y, id, (const uint8_t *)"hello", 5);
	return 0;
}

static void on_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t n, void *su,
                    void *user)
{
	switch (d[0] % 8) {
	case 0:
		p2p_yamux_write(y, id, d, n);
		break;
	case 1:
		p2p_yamux_close(y, id);
		break;
	case 2:
		p2p_yamux_reset(y, id);
		return;
	case 3:
		return; /* hold on to the bytes: the window shrinks */
	default:
		break;
	}
	p2p_yamux_consume(y, id, n);
}

static void on_fin(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	if (id % 3 == 0)
		p2p_yamux_close(y, id);
}

static void on_reset(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	if (id % 2 == 0)
		p2p_yamux_reset(y, id);
}

static void on_writable(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	p2p_yamux_write(y, id, (const uint8_t *)"more", 4);
}

static void on_closed(p2p_yamux *y, uint32_t id, void *su, void *user)
{
	free(su);
	if (p2p_yamux_stream_user(y, id) != NULL)
		abort(); /* the ID is dead inside on_closed */
}

static const p2p_yamux_callbacks cb = {
    .on_open = on_open,
    .on_data = on_data,
    .on_fin = on_fin,
    .on_reset = on_reset,
    .on_writable = on_writable,
    .on_closed = on_closed,
};

/* A local call chosen by op, on a stream near arg. */
static void local_call(p2p_yamux *y, uint8_t op, uint8_t arg)
{
	uint32_t id = arg;
	switch (op % 8) {
	case 0: {
		uint32_t nid;
		void *u = new_user();
		if (p2p_yamux_open(y, &nid, u) != P2P_OK)
			free(u);
		break;
	}
	case 1:
		p2p_yamux_write(y, id, (const uint8_t *)"data data data", 14);
		break;
	case 2:
		p2p_yamux_close(y, id);
		break;
	case 3:
		p2p_yamux_reset(y, id);
		break;
	case 4:
		p2p_yamux_consume(y, id, arg);
		break;
	case 5:
		p2p_yamux_ping(y, arg);
		break;
	case 6:
		p2p_yamux_go_away(y, arg % 3);
		break;
	default:
		p2p_yamux_send_window(y, id);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	p2p_yamux_config cfg = {.max_streams = 1 + data[0] % 16};
	p2p_yamux *y;
	if (p2p_yamux_new(&y, data[0] & 0x80, &cb, NULL, &cfg) != P2P_OK)
		abort();
	size_t pos = 1;
	while (pos < size) {
		uint8_t c = data[pos++];
		if (c & 0x80) {
			if (pos + 1 > size)
				break;
			local_call(y, c, data[pos++]);
		} else {
			size_t n = (size_t)(c & 0x7f) + 1;
			if (n > size - pos)
				n = size - pos;
			p2p_yamux_stats before, after;
			p2p_yamux_get_stats(y, &before);
			int rc = p2p_yamux_recv(y, data + pos, n);
			pos += n;
			if (rc != P2P_OK && !p2p_yamux_is_dead(y))
				abort(); /* errors are final */
			/* A batch of pings gets a bounded number of answers. */
			p2p_yamux_get_stats(y, &after);
			if (after.pings_answered - before.pings_answered >
			    P2P_YAMUX_MAX_PENDING_PINGS)
				abort();
		}
		if (p2p_yamux_num_streams(y) > 2 * (size_t)cfg.max_streams)
			abort();
		p2p_buf_reset(p2p_yamux_output(y));
	}
	p2p_yamux_free(y);
	return 0;
}
