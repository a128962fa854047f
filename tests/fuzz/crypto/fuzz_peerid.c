/* Peer IDs from text (addresses, config, the command line) and from bytes
 * (the wire). What parses must print and parse back to the same ID, and a
 * key extracted from an inline ID must be the key of that ID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/peerid.h"

#define FUZZ_TEXT_MAX 256 /* beyond P2P_PEERID_STR_MAX, to test the limit */

static void check_id(const p2p_peerid *id)
{
	char text[P2P_PEERID_STR_MAX];
	p2p_peerid back;
	if (p2p_peerid_to_string(id, text, sizeof(text)) != P2P_OK ||
	    p2p_peerid_from_string(&back, text) != P2P_OK || !p2p_peerid_equal(&back, id))
		abort();
	if (p2p_peerid_to_cid_string(id, text, sizeof(text)) != P2P_OK ||
	    p2p_peerid_from_string(&back, text) != P2P_OK || !p2p_peerid_equal(&back, id))
		abort();
	p2p_pubkey *key = NULL;
	int rc = p2p_peerid_extract_pubkey(id, &key);
	if (rc == P2P_OK) {
		if (p2p_peerid_matches(id, key) != P2P_OK)
			abort();
		p2p_pubkey_free(key);
	} else if (key != NULL) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_peerid id;
	char text[FUZZ_TEXT_MAX + 1];
	size_t n = size < FUZZ_TEXT_MAX ? size : FUZZ_TEXT_MAX;
	memcpy(text, data, n);
	text[n] = '\0';
	if (p2p_peerid_from_string(&id, text) == P2P_OK)
		check_id(&id);
	if (p2p_peerid_from_bytes(&id, data, size) == P2P_OK)
		check_id(&id);
	return 0;
}
