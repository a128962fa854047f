/* Token text from anywhere (a user pastes it): decoding must never crash or
 * leak, a decoded version 2 token must re-encode to a token that decodes
 * to the same value, and every failure must come with a sentence. The raw
 * bytes also go straight to the gob reader, which the base64 layer would
 * otherwise keep the fuzzer away from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "tunnel/gob.h"
#include "tunnel/token.h"

static void check_same(const tunnel_token *a, const tunnel_token *b)
{
	if (a->version != b->version || a->network != b->network ||
	    a->peer.len != b->peer.len ||
	    memcmp(a->peer.bytes, b->peer.bytes, a->peer.len) != 0 ||
	    a->n_addrs != b->n_addrs || a->has_secret != b->has_secret ||
	    memcmp(a->secret, b->secret, sizeof(a->secret)) != 0)
		abort();
	for (size_t i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].len != b->addrs[i].len ||
		    memcmp(a->addrs[i].bytes, b->addrs[i].bytes, a->addrs[i].len) != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tunnel_gob_conn_token gob;
	const char *why = NULL;
	int rc = tunnel_gob_decode_conn_token(data, size, &gob, &why);
	if (rc == P2P_OK) {
		if (gob.network == NULL || gob.id == NULL || gob.network < data ||
		    gob.network + gob.network_len > data + size || gob.id < data ||
		    gob.id + gob.id_len > data + size)
			abort();
	} else if (why == NULL) {
		abort();
	}

	tunnel_token t;
	why = NULL;
	rc = tunnel_token_decode(&t, (const char *)data, size, &why);
	if (rc != P2P_OK) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (t.version == TUNNEL_TOKEN_VERSION_GOB) {
		if (t.has_secret || t.n_addrs != 0)
			abort();
		return 0;
	}
	p2p_buf text;
	p2p_buf_init(&text);
	if (tunnel_token_encode(&t, &text) != P2P_OK)
		abort();
	tunnel_token again;
	if (tunnel_token_decode(&again, (const char *)text.data, text.len, NULL) !=
	    P2P_OK)
		abort();
	check_same(&t, &again);
	p2p_buf_free(&text);
	return 0;
}
