/* Binary multiaddrs from the network: whatever validates must print and
 * parse back to the same bytes; whatever does not must be refused by every
 * function alike, without touching the output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int valid = p2p_multiaddr_validate(data, size);
	p2p_buf text, bin;
	p2p_buf_init(&text);
	p2p_buf_init(&bin);
	int rc = p2p_multiaddr_to_string(data, size, &text);
	if (rc != valid)
		abort();
	if (rc != 0) {
		if (text.len != 0)
			abort();
		goto out;
	}
	if (text.len > P2P_MULTIADDR_MAX_TEXT_LEN ||
	    strlen((const char *)text.data) != text.len)
		abort();
	if (p2p_multiaddr_parse((const char *)text.data, &bin) != 0)
		abort();
	if (bin.len != size || memcmp(bin.data, data, size) != 0)
		abort();

	/* The helpers agree with the walk. */
	size_t off = 0, count = 0;
	p2p_multiaddr_component c;
	while ((rc = p2p_multiaddr_next(data, size, &off, &c)) == 1)
		count++;
	if (rc != 0 || off != size || count == 0 || count > P2P_MULTIADDR_MAX_COMPONENTS)
		abort();
	const uint8_t *mh;
	size_t mh_len, prefix;
	if (p2p_multiaddr_without_peer_id(data, size, &prefix) != 0 || prefix > size)
		abort();
	rc = p2p_multiaddr_peer_id(data, size, &mh, &mh_len);
	if ((rc == 0) != (prefix < size))
		abort();
	if (rc == 0 && (mh < data || mh + mh_len != data + size))
		abort();
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (p2p_multiaddr_to_sockaddr(data, size, &ss, &sslen) == 0) {
		p2p_buf_reset(&bin);
		if (p2p_multiaddr_from_sockaddr((const struct sockaddr *)&ss, &bin) != 0)
			abort();
		if (bin.len > size || memcmp(bin.data, data, bin.len) != 0) {
			/* Only a v4-mapped /ip6 may come back different (as /ip4). */
			if (data[0] != P2P_MA_IP6)
				abort();
		}
	}
out:
	p2p_buf_free(&text);
	p2p_buf_free(&bin);
	return 0;
}
