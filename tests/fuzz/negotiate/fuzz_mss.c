/* Arbitrary peer bytes, fed to a responder and to an initiator in chunks
 * whose sizes come from the input: nothing may crash or read out of
 * bounds, consumed never exceeds the input, and a finished negotiation
 * names one of our protocols. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/mss.h"

static const char *const protos[] = {"/noise", "/yamux/1.0.0", "/ipfs/id/1.0.0"};

static void run(bool initiator, const uint8_t *data, size_t size, size_t chunk)
{
	p2p_mss *m;
	if (p2p_mss_new(&m, initiator, protos, 3) != P2P_OK)
		abort();
	size_t pos = 0;
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk, c = 0;
		int rc = p2p_mss_recv(m, data + pos, n, &c);
		if (c > n)
			abort();
		pos += c;
		p2p_buf_consume(p2p_mss_output(m), p2p_mss_output(m)->len);
		if (rc != P2P_OK || p2p_mss_done(m))
			break;
		if (c != n)
			abort(); /* all input is taken until done or failed */
	}
	if (p2p_mss_done(m)) {
		const char *sel = p2p_mss_selected(m);
		bool ours = false;
		for (size_t i = 0; i < 3; i++)
			ours |= sel != NULL && strcmp(sel, protos[i]) == 0;
		if (!ours)
			abort();
	}
	p2p_mss_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] % 16) + 1;
	if (data[0] & 0x80)
		chunk = size; /* often, all at once */
	run(false, data + 1, size - 1, chunk);
	run(true, data + 1, size - 1, chunk);
	return 0;
}
