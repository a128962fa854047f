/* Multibase text from peers (peer IDs, CIDs, certhashes): decoding never
 * misbehaves, and what decodes re-encodes to the same text (up to letter
 * case for the case-insensitive bases) and the same bytes. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/cid.h"
#include "p2p/multibase.h"

static int same_text(const char *a, const uint8_t *b, size_t len, int fold)
{
	for (size_t i = 0; i < len; i++) {
		int x = (unsigned char)a[i], y = b[i];
		if (fold) {
			x = tolower(x);
			y = tolower(y);
		}
		if (x != y)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	p2p_buf bytes, again, back;
	p2p_buf_init(&bytes);
	p2p_buf_init(&again);
	p2p_buf_init(&back);
	if (p2p_multibase_decode(text, size, &bytes) == 0) {
		enum p2p_multibase base = (enum p2p_multibase)text[0];
		if (p2p_multibase_encode(base, bytes.data, bytes.len, &again) != 0)
			abort();
		int fold = strchr("bBfFkK", text[0]) != NULL;
		if (again.len != size || !same_text(text, again.data, size, fold))
			abort();
		if (p2p_multibase_decode((const char *)again.data, again.len, &back) != 0)
			abort();
		if (back.len != bytes.len ||
		    (bytes.len > 0 && memcmp(back.data, bytes.data, bytes.len) != 0))
			abort();
	} else if (bytes.len != 0) {
		abort();
	}

	/* The bare decoders and the CID reader on the same input. */
	p2p_buf_reset(&bytes);
	p2p_base58btc_decode(text, size, &bytes);
	p2p_base32_decode(text, size, &bytes);
	p2p_base36_decode(text, size, &bytes);
	p2p_base16_decode(text, size, &bytes);
	p2p_base64_decode(text, size, &bytes);
	p2p_buf_reset(&bytes);
	if (p2p_cid_from_string(text, size, &bytes) == 0) {
		uint64_t codec;
		const uint8_t *mh;
		size_t mh_len;
		if (p2p_cid_decode(bytes.data, bytes.len, &codec, &mh, &mh_len) != 0)
			abort();
	}
	p2p_buf_free(&bytes);
	p2p_buf_free(&again);
	p2p_buf_free(&back);
	return 0;
}
