/* Decoding must never read past the input, and whatever decodes must
 * re-encode to the same bytes (the minimal-encoding rule). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t v;
	int n = p2p_uvarint_decode(data, size, &v);
	if (n > 0) {
		uint8_t out[P2P_UVARINT_MAX_LEN];
		if (p2p_uvarint_encode(v, out) != (size_t)n || memcmp(out, data, (size_t)n) != 0)
			abort();
	}
	return 0;
}
