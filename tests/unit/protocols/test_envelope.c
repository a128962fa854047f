#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p2p/envelope.h"
#include "p2p/error.h"
#include "p2p/keys.h"
#include "p2p/peer_record.h"
#include "p2p/peerid.h"

/* /ip4/127.0.0.1/tcp/4001 and /ip4/10.0.0.1/tcp/80 */
static const uint8_t addr1[] = {0x04, 0x7f, 0x00, 0x00, 0x01, 0x06, 0x0f, 0xa1};
static const uint8_t addr2[] = {0x04, 0x0a, 0x00, 0x00, 0x01, 0x06, 0x00, 0x50};

static const uint8_t *const addrs[] = {addr1, addr2};
static const size_t addr_lens[] = {sizeof(addr1), sizeof(addr2)};

/* The signing buffer, laid out by hand from RFC 0002 for the peer-record
 * domain and type and the payload "hi". */
static void test_signing_buffer_layout(void **state)
{
	static const uint8_t expect[] = {
	    18,  'l', 'i', 'b', 'p', '2', 'p', '-',  'p',  'e', 'e', 'r', '-',
	    'r', 'e', 'c', 'o', 'r', 'd', 2,   0x03, 0x01, 2,   'h', 'i',
	};
	p2p_buf b;
	p2p_buf_init(&b);
	assert_int_equal(p2p_envelope_signing_buffer(
	                     P2P_PEER_RECORD_DOMAIN,
	                     (const uint8_t *)P2P_PEER_RECORD_TYPE,
	                     P2P_PEER_RECORD_TYPE_LEN, (const uint8_t *)"hi", 2, &b),
	                 0);
	assert_int_equal(b.len, sizeof(expect));
	assert_memory_equal(b.data, expect, sizeof(expect));
	p2p_buf_free(&b);
}

static void test_seal_open_tamper(void **state)
{
	p2p_privkey *key;
	assert_int_equal(p2p_privkey_generate(&key), 0);
	p2p_buf env;
	p2p_buf_init(&env);
	assert_int_equal(p2p_envelope_seal(key, "test-domain", (const uint8_t *)"/t", 2,
	                                   (const uint8_t *)"payload", 7, &env),
	                 0);

	p2p_envelope *e = NULL;
	assert_int_equal(p2p_envelope_open(&e, env.data, env.len, "test-domain"), 0);
	assert_true(p2p_pubkey_equal(e->key, p2p_privkey_public(key)));
	assert_int_equal(e->payload.len, 7);
	assert_memory_equal(e->payload.data, "payload", 7);
	assert_int_equal(e->payload_type.len, 2);
	assert_int_equal(e->signature.len, P2P_ED25519_SIGNATURE_LEN);

	/* The signature is over exactly the RFC's signing buffer. */
	p2p_buf sb;
	p2p_buf_init(&sb);
	assert_int_equal(p2p_envelope_signing_buffer("test-domain", (const uint8_t *)"/t",
	                                             2, (const uint8_t *)"payload", 7,
	                                             &sb),
	                 0);
	assert_int_equal(p2p_pubkey_verify(p2p_privkey_public(key), sb.data, sb.len,
	                                   e->signature.data, e->signature.len),
	                 0);
	p2p_buf_free(&sb);
	p2p_envelope_free(e);

	/* Another domain: the signature must not count there. */
	e = NULL;
	assert_int_equal(p2p_envelope_open(&e, env.data, env.len, "other-domain"),
	                 P2P_ECRYPTO);
	assert_null(e);

	/* Flip every byte in turn: never accepted, never a crash. */
	for (size_t i = 0; i < env.len; i++) {
		env.data[i] ^= 0x01;
		e = NULL;
		int rc = p2p_envelope_open(&e, env.data, env.len, "test-domain");
		assert_true(rc < 0);
		assert_null(e);
		env.data[i] ^= 0x01;
	}
	/* Truncations. */
	for (size_t n = 0; n < env.len; n++) {
		e = NULL;
		assert_true(p2p_envelope_open(&e, env.data, n, "test-domain") < 0);
	}
	p2p_buf_free(&env);
	p2p_privkey_free(key);
}

static void test_peer_record(void **state)
{
	p2p_privkey *key;
	assert_int_equal(p2p_privkey_generate(&key), 0);
	p2p_peerid id;
	assert_int_equal(p2p_peerid_from_pubkey(&id, p2p_privkey_public(key)), 0);

	p2p_buf env;
	p2p_buf_init(&env);
	assert_int_equal(p2p_peer_record_seal(key, 1234567, addrs, addr_lens, 2, &env),
	                 0);

	p2p_peer_record *rec = NULL;
	assert_int_equal(p2p_peer_record_open(&rec, env.data, env.len, &id), 0);
	assert_true(p2p_peerid_equal(&rec->peer_id, &id));
	assert_true(rec->seq == 1234567);
	assert_int_equal(rec->n_addrs, 2);
	assert_memory_equal(rec->addrs[0].data, addr1, sizeof(addr1));
	assert_memory_equal(rec->addrs[1].data, addr2, sizeof(addr2));
	p2p_peer_record_free(rec);

	/* Without an expected peer it opens too; with another peer it fails. */
	rec = NULL;
	assert_int_equal(p2p_peer_record_open(&rec, env.data, env.len, NULL), 0);
	p2p_peer_record_free(rec);
	p2p_privkey *other;
	assert_int_equal(p2p_privkey_generate(&other), 0);
	p2p_peerid other_id;
	assert_int_equal(p2p_peerid_from_pubkey(&other_id, p2p_privkey_public(other)), 0);
	rec = NULL;
	assert_int_equal(p2p_peer_record_open(&rec, env.data, env.len, &other_id),
	                 P2P_EPEERID);
	assert_null(rec);

	/* A record for us, validly signed by another key: the signer is not
	 * the peer the record speaks for. Reuse our record's payload. */
	p2p_envelope *e = NULL;
	assert_int_equal(p2p_envelope_open(&e, env.data, env.len, P2P_PEER_RECORD_DOMAIN),
	                 0);
	p2p_buf forged;
	p2p_buf_init(&forged);
	assert_int_equal(p2p_envelope_seal(other, P2P_PEER_RECORD_DOMAIN,
	                                   (const uint8_t *)P2P_PEER_RECORD_TYPE,
	                                   P2P_PEER_RECORD_TYPE_LEN, e->payload.data,
	                                   e->payload.len, &forged),
	                 0);
	assert_int_equal(p2p_peer_record_open(&rec, forged.data, forged.len, NULL),
	                 P2P_EPEERID);

	/* The right key but the wrong payload type, or the wrong domain. */
	p2p_buf_reset(&forged);
	assert_int_equal(p2p_envelope_seal(key, P2P_PEER_RECORD_DOMAIN,
	                                   (const uint8_t *)"/x", 2, e->payload.data,
	                                   e->payload.len, &forged),
	                 0);
	assert_int_equal(p2p_peer_record_open(&rec, forged.data, forged.len, NULL),
	                 P2P_EPROTO);
	p2p_buf_reset(&forged);
	assert_int_equal(p2p_envelope_seal(key, "libp2p-routing-state",
	                                   (const uint8_t *)P2P_PEER_RECORD_TYPE,
	                                   P2P_PEER_RECORD_TYPE_LEN, e->payload.data,
	                                   e->payload.len, &forged),
	                 0);
	assert_int_equal(p2p_peer_record_open(&rec, forged.data, forged.len, NULL),
	                 P2P_ECRYPTO);
	assert_null(rec);

	p2p_buf_free(&forged);
	p2p_envelope_free(e);
	p2p_buf_free(&env);
	p2p_privkey_free(other);
	p2p_privkey_free(key);
}

static void test_limits(void **state)
{
	p2p_privkey *key;
	assert_int_equal(p2p_privkey_generate(&key), 0);
	p2p_buf env;
	p2p_buf_init(&env);
	static uint8_t big[P2P_ENVELOPE_MAX_SIZE];
	assert_int_equal(p2p_envelope_seal(key, "d", NULL, 0, big, sizeof(big), &env),
	                 P2P_ETOOBIG);
	assert_int_equal(env.len, 0);
	p2p_envelope *e = NULL;
	static uint8_t huge[P2P_ENVELOPE_MAX_SIZE + 1];
	assert_int_equal(p2p_envelope_open(&e, huge, sizeof(huge), "d"), P2P_ETOOBIG);

	/* An empty envelope has no key. */
	assert_int_equal(p2p_envelope_open(&e, huge, 0, "d"), P2P_EPROTO);
	p2p_buf_free(&env);
	p2p_privkey_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signing_buffer_layout),
	    cmocka_unit_test(test_seal_open_tamper),
	    cmocka_unit_test(test_peer_record),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
