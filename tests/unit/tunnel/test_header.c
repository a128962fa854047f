#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "p2p/error.h"
#include "proto/tunnel.pb-c.h"
#include "tunnel/header.h"

static const uint8_t secret[TUNNEL_SECRET_LEN] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};

static void test_request_wire_format(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(tunnel_request_encode(secret, TUNNEL_NETWORK_UDP, &b), P2P_OK);
	/* length 36: field 1 (secret, bytes) then field 2 (network, varint 2) */
	assert_int_equal(b.len, 37);
	assert_int_equal(b.data[0], 36);
	assert_int_equal(b.data[1], 0x0a);
	assert_int_equal(b.data[2], 32);
	assert_memory_equal(b.data + 3, secret, 32);
	assert_int_equal(b.data[35], 0x10);
	assert_int_equal(b.data[36], 2);
	assert_int_equal(tunnel_request_encode(secret, TUNNEL_NETWORK_NONE, &b),
	                 P2P_EINVAL);
	assert_int_equal(b.len, 37);
	p2p_buf_free(&b);
}

/* The request, then stream data that must stay unconsumed, fed one byte at
 * a time. */
static void test_request_byte_by_byte(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(tunnel_request_encode(secret, TUNNEL_NETWORK_TCP, &b), P2P_OK);
	size_t header_len = b.len;
	assert_int_equal(p2p_buf_append(&b, "GET / HTTP/1.1\r\n", 16), P2P_OK);

	tunnel_header_reader r;
	tunnel_header_reader_init(&r);
	tunnel_request req;
	size_t pos = 0, used;
	int rc = P2P_EAGAIN;
	while (rc == P2P_EAGAIN) {
		assert_true(pos < header_len);
		rc = tunnel_request_read(&r, b.data + pos, 1, &used, &req, NULL);
		assert_int_equal(used, 1);
		pos++;
	}
	assert_int_equal(rc, P2P_OK);
	assert_int_equal(pos, header_len);
	assert_int_equal(req.network, TUNNEL_NETWORK_TCP);
	assert_int_equal(req.secret_len, 32);
	assert_memory_equal(req.secret, secret, 32);
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_TCP),
	                 TUNNEL_STATUS_OK);
	/* Once done, the reader takes nothing more. */
	const char *why = NULL;
	assert_int_equal(
	    tunnel_request_read(&r, b.data + pos, b.len - pos, &used, &req, &why),
	    P2P_ESTATE);
	assert_int_equal(used, 0);
	assert_non_null(why);
	tunnel_header_reader_close(&r);

	/* All at once: the same, and the data after it is left over. */
	tunnel_header_reader_init(&r);
	assert_int_equal(tunnel_request_read(&r, b.data, b.len, &used, &req, NULL),
	                 P2P_OK);
	assert_int_equal(used, header_len);
	assert_memory_equal(b.data + used, "GET / HTTP/1.1\r\n", 16);
	tunnel_header_reader_close(&r);
	p2p_buf_free(&b);
}

static void test_request_check(void **state)
{
	tunnel_request req;
	memset(&req, 0, sizeof(req));
	memcpy(req.secret, secret, 32);
	req.secret_len = 32;
	req.network = TUNNEL_NETWORK_UDP;
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_UDP),
	                 TUNNEL_STATUS_OK);
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_TCP),
	                 TUNNEL_STATUS_WRONG_NETWORK);
	/* One bit off anywhere, or a short secret: bad, whatever the network. */
	for (size_t i = 0; i < 32; i++) {
		req.secret[i] ^= 0x80;
		assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_TCP),
		                 TUNNEL_STATUS_BAD_SECRET);
		req.secret[i] ^= 0x80;
	}
	req.secret_len = 31;
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_UDP),
	                 TUNNEL_STATUS_BAD_SECRET);
}

/* Packs a TunnelRequest with any secret length and network into a frame. */
static size_t raw_request(uint8_t *out, size_t secret_len, uint32_t network)
{
	static uint8_t long_secret[64];
	Mtunnel__Pb__TunnelRequest req = MTUNNEL__PB__TUNNEL_REQUEST__INIT;
	req.secret.data = long_secret;
	req.secret.len = secret_len;
	req.network = (Mtunnel__Pb__Network)network;
	size_t n = mtunnel__pb__tunnel_request__pack(&req, out + 1);
	out[0] = (uint8_t)n;
	return n + 1;
}

static int read_request(const uint8_t *in, size_t len, tunnel_request *req,
                        const char **why)
{
	tunnel_header_reader r;
	tunnel_header_reader_init(&r);
	size_t used;
	int rc = tunnel_request_read(&r, in, len, &used, req, why);
	tunnel_header_reader_close(&r);
	return rc;
}

static void test_request_bad(void **state)
{
	uint8_t buf[2048];
	tunnel_request req;
	const char *why = NULL;

	/* A wrong secret parses, and is then refused. */
	size_t n = raw_request(buf, 32, 2);
	assert_int_equal(read_request(buf, n, &req, NULL), P2P_OK);
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_UDP),
	                 TUNNEL_STATUS_BAD_SECRET);
	/* No secret at all, or an unknown network. */
	n = raw_request(buf, 0, 9);
	assert_int_equal(read_request(buf, n, &req, NULL), P2P_OK);
	assert_int_equal(req.secret_len, 0);
	assert_int_equal(req.network, TUNNEL_NETWORK_NONE);
	assert_int_equal(tunnel_request_check(&req, secret, TUNNEL_NETWORK_UDP),
	                 TUNNEL_STATUS_BAD_SECRET);
	/* A secret longer than any token's. */
	n = raw_request(buf, 33, 1);
	assert_int_equal(read_request(buf, n, &req, &why), P2P_EPROTO);
	assert_string_equal(why, "the tunnel request's secret is too long");

	/* Not protobuf: a field with wire type 7. */
	static const uint8_t junk[] = {0x02, 0x0f, 0x00};
	assert_int_equal(read_request(junk, sizeof(junk), &req, &why), P2P_EPROTO);
	assert_string_equal(why, "the tunnel request is not a valid message");

	/* Over 1 KiB: refused from the length alone, before the bytes arrive. */
	static const uint8_t big[] = {0x81, 0x08}; /* 1025 */
	assert_int_equal(read_request(big, sizeof(big), &req, &why), P2P_ETOOBIG);
	assert_string_equal(why, "the tunnel header is longer than 1 KiB");
	static const uint8_t too_long_varint[] = {0x80, 0x80, 0x80};
	assert_int_equal(read_request(too_long_varint, 3, &req, &why), P2P_ETOOBIG);
	static const uint8_t not_minimal[] = {0x80, 0x00};
	assert_int_equal(read_request(not_minimal, 2, &req, &why), P2P_EPROTO);

	/* Exactly 1 KiB is fine (unknown fields are skipped). */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x80;
	buf[1] = 0x08;
	buf[2] = 0x1a; /* field 3, bytes */
	buf[3] = 0xfd; /* 1021 */
	buf[4] = 0x07;
	assert_int_equal(read_request(buf, 2 + 1024, &req, &why), P2P_OK);
	/* Truncated: more needed. */
	assert_int_equal(read_request(buf, 2 + 1023, &req, &why), P2P_EAGAIN);
}

static void test_response(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(tunnel_response_encode(TUNNEL_STATUS_OK, NULL, &b), P2P_OK);
	static const uint8_t ok_wire[] = {0x02, 0x08, 0x01};
	assert_int_equal(b.len, sizeof(ok_wire));
	assert_memory_equal(b.data, ok_wire, sizeof(ok_wire));
	assert_int_equal(tunnel_response_encode(TUNNEL_STATUS_BAD_SECRET, "nope\n", &b),
	                 P2P_OK);
	assert_int_equal(p2p_buf_append(&b, "data", 4), P2P_OK);

	tunnel_header_reader r;
	tunnel_header_reader_init(&r);
	tunnel_response resp;
	size_t used;
	assert_int_equal(tunnel_response_read(&r, b.data, b.len, &used, &resp, NULL),
	                 P2P_OK);
	assert_int_equal(used, 3);
	assert_int_equal(resp.status, TUNNEL_STATUS_OK);
	assert_string_equal(resp.reason, "");
	tunnel_header_reader_close(&r);

	/* The second response, byte by byte; control characters are masked. */
	tunnel_header_reader_init(&r);
	size_t pos = 3;
	int rc;
	do {
		rc = tunnel_response_read(&r, b.data + pos, 1, &used, &resp, NULL);
		pos += used;
	} while (rc == P2P_EAGAIN);
	assert_int_equal(rc, P2P_OK);
	assert_int_equal(resp.status, TUNNEL_STATUS_BAD_SECRET);
	assert_string_equal(resp.reason, "nope?");
	assert_int_equal(b.len - pos, 4);
	tunnel_header_reader_close(&r);

	/* An empty response is not an OK. */
	static const uint8_t empty[] = {0x00};
	const char *why = NULL;
	tunnel_header_reader_init(&r);
	assert_int_equal(tunnel_response_read(&r, empty, 1, &used, &resp, &why),
	                 P2P_EPROTO);
	assert_string_equal(why, "the tunnel response has no status");
	tunnel_header_reader_close(&r);

	/* Bad arguments to the encoder. */
	char long_reason[TUNNEL_REASON_MAX + 2];
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = 0;
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_response_encode(TUNNEL_STATUS_OK, long_reason, &b),
	                 P2P_EINVAL);
	assert_int_equal(tunnel_response_encode((tunnel_status)0, NULL, &b), P2P_EINVAL);
	assert_int_equal(tunnel_response_encode((tunnel_status)7, NULL, &b), P2P_EINVAL);
	assert_int_equal(b.len, 0);
	long_reason[TUNNEL_REASON_MAX] = 0;
	assert_int_equal(
	    tunnel_response_encode(TUNNEL_STATUS_NOT_ALLOWED, long_reason, &b), P2P_OK);
	p2p_buf_free(&b);

	/* A status from a newer host is read, and is not OK. */
	static const uint8_t newer[] = {0x02, 0x08, 0x63};
	tunnel_header_reader_init(&r);
	assert_int_equal(tunnel_response_read(&r, newer, 3, &used, &resp, NULL), P2P_OK);
	assert_int_not_equal(resp.status, TUNNEL_STATUS_OK);
	assert_string_equal(tunnel_status_text(resp.status),
	                    "the host refused the tunnel");
	tunnel_header_reader_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_wire_format),
	    cmocka_unit_test(test_request_byte_by_byte),
	    cmocka_unit_test(test_request_check),
	    cmocka_unit_test(test_request_bad),
	    cmocka_unit_test(test_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
