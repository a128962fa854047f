/* Text multiaddrs from config files and peers: whatever parses must print
 * in a form that parses to the same bytes and prints the same again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p2p_buf bin, str, bin2, str2;
	p2p_buf_init(&bin);
	p2p_buf_init(&str);
	p2p_buf_init(&bin2);
	p2p_buf_init(&str2);
	if (p2p_multiaddr_parse(text, &bin) != 0) {
		if (bin.len != 0)
			abort();
		goto out;
	}
	if (p2p_multiaddr_validate(bin.data, bin.len) != 0)
		abort();
	if (p2p_multiaddr_to_string(bin.data, bin.len, &str) != 0)
		abort();
	if (p2p_multiaddr_parse((const char *)str.data, &bin2) != 0)
		abort();
	if (bin2.len != bin.len || memcmp(bin2.data, bin.data, bin.len) != 0)
		abort();
	if (p2p_multiaddr_to_string(bin2.data, bin2.len, &str2) != 0)
		abort();
	if (str2.len != str.len || memcmp(str2.data, str.data, str.len) != 0)
		abort();
out:
	p2p_buf_free(&bin);
	p2p_buf_free(&str);
	p2p_buf_free(&bin2);
	p2p_buf_free(&str2);
	free(text);
	return 0;
}
