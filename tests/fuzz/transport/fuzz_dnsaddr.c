/* dnsaddr TXT values from DNS servers, and the multiaddrs they expand:
 * the first byte picks the address being resolved, the rest is one TXT
 * value. Whatever comes out must be a valid multiaddr that ends with the
 * address's suffix and starts with its prefix; and any bytes at all, read
 * as a binary multiaddr, must be split without trouble. */
#include <stdlib.h>
#include <string.h>

#include "p2p/dns.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

static const char *const origins[] = {
    "/dnsaddr/example.com",
    "/dnsaddr/example.com/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/example.com/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    ("/ip4/192.0.2.1/tcp/1/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb/"
     "p2p-circuit/"
     "dnsaddr/example.com"),
};

static void check_split(const uint8_t *data, size_t size)
{
	p2p_dns_split sp;
	int rc = p2p_dns_find(data, size, &sp);
	if (rc < 0)
		return;
	if (rc == 0) {
		if (p2p_multiaddr_validate(data, size) != 0)
			abort();
		return;
	}
	if (sp.prefix_len >= sp.rest_off || sp.rest_off > size || sp.name_len == 0 ||
	    sp.name_len > P2P_DNS_MAX_NAME || sp.name < data ||
	    sp.name + sp.name_len > data + size)
		abort();
	if (!p2p_multiaddr_has_suffix(data, size, data + sp.rest_off, size - sp.rest_off))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_split(data, size);
	if (size == 0)
		return 0;
	const char *origin = origins[data[0] % (sizeof(origins) / sizeof(origins[0]))];
	p2p_buf addr, out;
	p2p_buf_init(&addr);
	p2p_buf_init(&out);
	p2p_dns_split sp;
	if (p2p_multiaddr_parse(origin, &addr) != 0 ||
	    p2p_dns_find(addr.data, addr.len, &sp) != 1)
		abort();
	int rc = p2p_dnsaddr_expand(addr.data, addr.len, &sp, data + 1, size - 1, &out);
	if (rc != P2P_OK) {
		if (out.len != 0)
			abort();
		goto done;
	}
	if (p2p_multiaddr_validate(out.data, out.len) != 0)
		abort();
	if (out.len < sp.prefix_len || memcmp(out.data, addr.data, sp.prefix_len) != 0)
		abort();
	if (!p2p_multiaddr_has_suffix(out.data, out.len, addr.data + sp.rest_off,
	                              addr.len - sp.rest_off))
		abort();
done:
	p2p_buf_free(&addr);
	p2p_buf_free(&out);
	return 0;
}
