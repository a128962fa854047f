/* The identify reader must survive any stream: arbitrary bytes, fed in two
 * slices (so messages split across reads are covered), never crash or
 * exceed the limits; and whatever it accepts must encode again within the
 * send limit or be refused cleanly. */
#include <stdint.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_identify id;
	p2p_identify_init(&id);
	p2p_identify_reader r;
	p2p_identify_reader_init(&r);
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;
	int rc = p2p_identify_reader_recv(&r, &id, data, cut);
	if (rc == P2P_OK)
		rc = p2p_identify_reader_recv(&r, &id, data + cut, size - cut);
	if (rc == P2P_OK)
		(void)p2p_identify_reader_finish(&r);
	if (id.n_listen_addrs > P2P_IDENTIFY_MAX_ADDRS ||
	    id.n_protocols > P2P_IDENTIFY_MAX_PROTOCOLS)
		abort();
	p2p_buf out;
	p2p_buf_init(&out);
	rc = p2p_identify_encode(&id, &out);
	if (rc != P2P_OK && rc != P2P_ETOOBIG)
		abort();
	p2p_buf_free(&out);
	p2p_identify_reader_free(&r);
	p2p_identify_free(&id);
	return 0;
}
