/* A PublicKey from the network: decoding must never crash or leak, what
 * decodes must re-encode to exactly the input (we only accept the canonical
 * form), and verifying any signature with it must fail cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/keys.h"
#include "p2p/peerid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_pubkey *key = NULL;
	if (p2p_pubkey_decode(&key, data, size) != P2P_OK)
		return 0;

	p2p_buf enc;
	p2p_buf_init(&enc);
	if (p2p_pubkey_encode(key, &enc) != P2P_OK || enc.len != size ||
	    memcmp(enc.data, data, size) != 0)
		abort();
	p2p_buf_free(&enc);

	/* The input itself as a signature of the input, and a short one. */
	int rc = p2p_pubkey_verify(key, data, size, data, size);
	if (rc != P2P_OK && rc != P2P_ECRYPTO)
		abort();
	rc = p2p_pubkey_verify(key, data, size, data, size / 4);
	if (rc != P2P_OK && rc != P2P_ECRYPTO)
		abort();

	p2p_peerid id;
	if (p2p_peerid_from_pubkey(&id, key) != P2P_OK ||
	    p2p_peerid_matches(&id, key) != P2P_OK)
		abort();
	p2p_pubkey *copy = p2p_pubkey_dup(key);
	if (copy == NULL || !p2p_pubkey_equal(copy, key))
		abort();
	p2p_pubkey_free(copy);
	p2p_pubkey_free(key);
	return 0;
}
