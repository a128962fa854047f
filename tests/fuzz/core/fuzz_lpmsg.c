/* The length-prefixed reader fed the input in two splits must give the
 * same messages and consume exactly what it reports. The first byte picks
 * the split point and the max. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/lpmsg.h"

/* Reads all messages of in[0..len) fed in chunks of `chunk`; returns the
 * number of messages and the final status, and sums their lengths. */
static int run(const uint8_t *in, size_t len, size_t chunk, size_t max, size_t *n_msgs,
               size_t *total)
{
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, max);
	*n_msgs = *total = 0;
	int rc = P2P_EAGAIN;
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used;
		const uint8_t *msg;
		size_t msg_len;
		rc = p2p_lpmsg_read(&r, in + off, n, &used, &msg, &msg_len);
		if (used > n)
			abort();
		off += used;
		if (rc == P2P_OK) {
			if (msg_len > max)
				abort();
			(*n_msgs)++;
			*total += msg_len;
		} else if (rc != P2P_EAGAIN) {
			break;
		} else if (used != n) {
			abort();
		}
	}
	p2p_lpmsg_reader_free(&r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = data[0] & 0x3f;
	size_t chunk = (data[0] >> 6) + 1;
	size_t n1, t1, n2, t2;
	int rc1 = run(data + 1, size - 1, size, max, &n1, &t1);
	int rc2 = run(data + 1, size - 1, chunk, max, &n2, &t2);
	if (rc1 != rc2 || n1 != n2 || t1 != t2)
		abort();
	return 0;
}
