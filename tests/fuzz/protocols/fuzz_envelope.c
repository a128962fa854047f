/* Opening an envelope (decode, key parse, signature check) and a peer
 * record inside it must never crash on arbitrary bytes. Random bytes almost
 * never carry a valid signature, so the seeds include real sealed records
 * to let the fuzzer reach the record parser through mutations of them. */
#include <stdint.h>
#include <stdlib.h>

#include "p2p/envelope.h"
#include "p2p/error.h"
#include "p2p/peer_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_envelope *env = NULL;
	if (p2p_envelope_open(&env, data, size, P2P_PEER_RECORD_DOMAIN) == P2P_OK) {
		if (env == NULL || env->key == NULL)
			abort();
		p2p_envelope_free(env);
	}
	p2p_peer_record *rec = NULL;
	if (p2p_peer_record_open(&rec, data, size, NULL) == P2P_OK) {
		if (rec->n_addrs > P2P_PEER_RECORD_MAX_ADDRS)
			abort();
		p2p_peer_record_free(rec);
	}
	return 0;
}
