/* Opening a voucher (envelope, signature, payload, identity checks) must
 * never crash on arbitrary bytes; the seeds are real sealed vouchers. */
#include <stdint.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_relay_voucher v;
	if (p2p_relay_voucher_open(&v, data, size, NULL, NULL, 0) == P2P_OK &&
	    (v.relay.len == 0 || v.peer.len == 0 || v.expiration == 0))
		abort();
	return 0;
}
