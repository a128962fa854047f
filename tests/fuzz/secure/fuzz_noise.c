/* Arbitrary bytes from the remote side of a Noise session must never crash,
 * leak or grow memory: they may only produce an error.
 *
 * Input: mode byte, chunk byte, then the remote's bytes.
 *   mode 0: to a fresh responder (message 1 onwards)
 *   mode 1: to a fresh initiator (message 2 onwards)
 *   mode 2: to both ends of a completed handshake (transport frames)
 *   mode 3: as the decrypted payload of a correctly encrypted message 2,
 *           from a hand-driven responder (reaches the payload checks)
 * The remote's bytes are fed in pieces of (chunk + 1) bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/noise.h"
#include "secure/noise_hs.h"

static p2p_privkey *identity(void)
{
	/* Made once: key generation is not what is being fuzzed. */
	static p2p_privkey *key;
	if (key == NULL && p2p_privkey_generate(&key) != P2P_OK)
		abort();
	return key;
}

static void feed(p2p_noise *n, const uint8_t *data, size_t size, size_t chunk)
{
	p2p_buf plain;
	p2p_buf_init(&plain);
	while (size > 0) {
		size_t len = size < chunk ? size : chunk;
		int rc = p2p_noise_recv(n, data, len, &plain);
		data += len;
		size -= len;
		if (rc != P2P_OK) {
			/* errors are final */
			if (p2p_noise_recv(n, data, size, &plain) != rc)
				abort();
			break;
		}
		/* the output is bounded: at most the handshake messages */
		if (p2p_noise_output(n)->len > 2 * P2P_NOISE_MAX_PAYLOAD)
			abort();
	}
	/* nothing authenticates without the keys */
	if (plain.len != 0)
		abort();
	p2p_buf_free(&plain);
}

static void pump(p2p_noise *from, p2p_noise *to)
{
	p2p_buf *out = p2p_noise_output(from);
	if (p2p_noise_recv(to, out->data, out->len, NULL) != P2P_OK)
		abort();
	p2p_buf_reset(out);
}

static void fuzz_transport(const uint8_t *data, size_t size, size_t chunk)
{
	p2p_noise *a, *b;
	if (p2p_noise_new(&a, true, identity(), NULL) != P2P_OK ||
	    p2p_noise_new(&b, false, identity(), NULL) != P2P_OK)
		abort();
	pump(a, b);
	pump(b, a);
	pump(a, b);
	if (!p2p_noise_handshake_done(a) || !p2p_noise_handshake_done(b))
		abort();
	feed(a, data, size, chunk);
	feed(b, data, size, chunk);
	p2p_noise_free(a);
	p2p_noise_free(b);
}

static void fuzz_payload(const uint8_t *payload, size_t size)
{
	if (size > P2P_NOISE_MAX_PAYLOAD + 16)
		size = P2P_NOISE_MAX_PAYLOAD + 16;
	p2p_noise *a;
	p2p_noise_hs hs;
	if (p2p_noise_new(&a, true, identity(), NULL) != P2P_OK ||
	    p2p_noise_hs_init(&hs, false, NULL, 0, NULL, NULL) != P2P_OK)
		abort();
	p2p_buf *m1 = p2p_noise_output(a);
	uint8_t ignored[1];
	size_t n;
	if (p2p_noise_hs_read(&hs, m1->data + 2, m1->len - 2, ignored, 0, &n) != P2P_OK)
		abort();
	p2p_buf_reset(m1);
	p2p_buf m2;
	p2p_buf_init(&m2);
	if (p2p_buf_append(&m2, "\0\0", 2) != P2P_OK ||
	    p2p_noise_hs_write(&hs, payload, size, &m2) != P2P_OK)
		abort();
	m2.data[0] = (uint8_t)((m2.len - 2) >> 8);
	m2.data[1] = (uint8_t)(m2.len - 2);
	p2p_buf plain;
	p2p_buf_init(&plain);
	int rc = p2p_noise_recv(a, m2.data, m2.len, &plain);
	/* the signature can only verify by accident of a real key: never */
	if (rc == P2P_OK || p2p_noise_handshake_done(a))
		abort();
	p2p_buf_free(&plain);
	p2p_buf_free(&m2);
	p2p_noise_hs_close(&hs);
	p2p_noise_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int mode = data[0] % 4;
	size_t chunk = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	if (mode == 2) {
		fuzz_transport(data, size, chunk);
	} else if (mode == 3) {
		fuzz_payload(data, size);
	} else {
		p2p_noise *n;
		if (p2p_noise_new(&n, mode == 1, identity(), NULL) != P2P_OK)
			abort();
		feed(n, data, size, chunk);
		p2p_noise_free(n);
	}
	return 0;
}
