/* Decoding a HopMessage body must never crash or leak, and whatever decodes
 * must re-encode (decode's rules are encode's) and decode to the same. */
#include <stdint.h>
#include <stdlib.h>

#include "p2p/error.h"
#include "p2p/relay.h"
#include "p2p/varint.h"

#ifndef RELAY_KIND
#define RELAY_KIND P2P_RELAY_HOP
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_relay_msg m;
	p2p_relay_msg_init(&m);
	if (p2p_relay_msg_decode(&m, RELAY_KIND, data, size) == P2P_OK) {
		if (m.n_peer_addrs > P2P_RELAY_MAX_ADDRS ||
		    m.n_rsvp_addrs > P2P_RELAY_MAX_ADDRS)
			abort();
		p2p_buf b;
		p2p_buf_init(&b);
		/* Unknown fields are dropped, so the re-encoding is no longer
		 * than the input and always fits. */
		if (p2p_relay_msg_encode(&m, RELAY_KIND, &b) != P2P_OK)
			abort();
		p2p_relay_msg d;
		p2p_relay_msg_init(&d);
		uint64_t body_len;
		int skip = p2p_uvarint_decode(b.data, b.len, &body_len);
		if (skip <= 0 || body_len != b.len - (size_t)skip ||
		    p2p_relay_msg_decode(&d, RELAY_KIND, b.data + skip, b.len - skip) !=
		        P2P_OK ||
		    d.type != m.type || d.status != m.status ||
		    d.n_peer_addrs != m.n_peer_addrs || d.n_rsvp_addrs != m.n_rsvp_addrs)
			abort();
		p2p_relay_msg_free(&d);
		p2p_buf_free(&b);
	}
	p2p_relay_msg_free(&m);
	return 0;
}
