/* Ed25519 private keys: the spec vector, the accepted Data forms, RFC 8032
 * signatures, and the key file (created once, reloaded, never replaced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p2p/error.h"
#include "p2p/keys.h"
#include "vectors.h"

/* PrivateKey protobuf for an Ed25519 Data field of the given bytes. */
static size_t make_priv_pb(uint8_t *out, const uint8_t *data, size_t len)
{
	out[0] = 0x08;
	out[1] = 0x01;
	out[2] = 0x12;
	out[3] = (uint8_t)len; /* < 128 */
	memcpy(out + 4, data, len);
	return 4 + len;
}

static void assert_public_is(const p2p_privkey *key, const char *pub_hex)
{
	size_t len;
	uint8_t *want = vec_hex(pub_hex, &len);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_pubkey_encode(p2p_privkey_public(key), &out), P2P_OK);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, want, len);
	p2p_buf_free(&out);
	free(want);
}

static void test_spec_vector(void **state)
{
	size_t len;
	uint8_t *pb = vec_hex(SPEC_ED25519_PRIV, &len);
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_decode(&key, pb, len), P2P_OK);
	/* "Implementations SHOULD check that they can produce the provided
	 * public key from the private key." */
	assert_public_is(key, SPEC_ED25519_PUB);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_privkey_encode(key, &out), P2P_OK);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, pb, len);
	p2p_buf_free(&out);
	p2p_privkey_free(key);
	free(pb);
}

static void test_data_forms(void **state)
{
	size_t len;
	uint8_t *pb = vec_hex(SPEC_ED25519_PRIV, &len);
	const uint8_t *seed = pb + 4, *pub = pb + 36;
	uint8_t data[96], msg[128];
	p2p_privkey *key = NULL;

	/* The bare 32-byte seed: same key, written back as seed||public. */
	size_t n = make_priv_pb(msg, seed, 32);
	assert_int_equal(p2p_privkey_decode(&key, msg, n), P2P_OK);
	assert_public_is(key, SPEC_ED25519_PUB);
	p2p_buf out;
	p2p_buf_init(&out);
	assert_int_equal(p2p_privkey_encode(key, &out), P2P_OK);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, pb, len);
	p2p_buf_free(&out);
	p2p_privkey_free(key);
	key = NULL;

	/* The legacy seed||public||public form. */
	memcpy(data, seed, 32);
	memcpy(data + 32, pub, 32);
	memcpy(data + 64, pub, 32);
	n = make_priv_pb(msg, data, 96);
	assert_int_equal(p2p_privkey_decode(&key, msg, n), P2P_OK);
	assert_public_is(key, SPEC_ED25519_PUB);
	p2p_privkey_free(key);
	key = NULL;

	/* A public half that does not belong to the seed. */
	data[95] ^= 1;
	n = make_priv_pb(msg, data, 96);
	assert_int_equal(p2p_privkey_decode(&key, msg, n), P2P_ECRYPTO);
	data[40] ^= 1;
	n = make_priv_pb(msg, data, 64);
	assert_int_equal(p2p_privkey_decode(&key, msg, n), P2P_ECRYPTO);

	/* Other lengths, other key types, trailing bytes. */
	n = make_priv_pb(msg, data, 48);
	assert_int_equal(p2p_privkey_decode(&key, msg, n), P2P_EPROTO);
	uint8_t *secp = vec_hex(SPEC_SECP256K1_PRIV, &n);
	assert_int_equal(p2p_privkey_decode(&key, secp, n), P2P_EUNSUPPORTED);
	free(secp);
	memcpy(msg, pb, len);
	msg[len] = 0;
	assert_int_equal(p2p_privkey_decode(&key, msg, len + 1), P2P_EPROTO);
	assert_int_equal(p2p_privkey_decode(&key, msg, 0), P2P_EPROTO);
	assert_null(key);
	free(pb);
}

/* RFC 8032 section 7.1, tests 1 and 2: Ed25519 signatures are
 * deterministic, so ours must match byte for byte. */
static void test_rfc8032(void **state)
{
	static const struct {
		const char *seed, *pub, *msg, *sig;
	} vec[] = {
	    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a"
	     "33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e1"
	     "5996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	};
	for (size_t i = 0; i < 2; i++) {
		size_t seed_len, pub_len, msg_len, sig_len;
		uint8_t *seed = vec_hex(vec[i].seed, &seed_len);
		uint8_t *pub = vec_hex(vec[i].pub, &pub_len);
		uint8_t *msg = vec_hex(vec[i].msg, &msg_len);
		uint8_t *want = vec_hex(vec[i].sig, &sig_len);
		uint8_t pb[64];
		size_t n = make_priv_pb(pb, seed, seed_len);
		p2p_privkey *key = NULL;
		assert_int_equal(p2p_privkey_decode(&key, pb, n), P2P_OK);
		p2p_buf enc;
		p2p_buf_init(&enc);
		assert_int_equal(p2p_pubkey_encode(p2p_privkey_public(key), &enc),
		                 P2P_OK);
		assert_memory_equal(enc.data + 4, pub, 32);
		p2p_buf_free(&enc);

		uint8_t sig[P2P_ED25519_SIGNATURE_LEN];
		assert_int_equal(
		    p2p_privkey_sign(key, msg_len ? msg : NULL, msg_len, sig), P2P_OK);
		assert_memory_equal(sig, want, sizeof(sig));
		assert_int_equal(p2p_pubkey_verify(p2p_privkey_public(key), msg, msg_len,
		                                   sig, sizeof(sig)),
		                 P2P_OK);
		p2p_privkey_free(key);
		free(seed);
		free(pub);
		free(msg);
		free(want);
	}
}

static void test_generate_sign_verify(void **state)
{
	p2p_privkey *a = NULL, *b = NULL;
	assert_int_equal(p2p_privkey_generate(&a), P2P_OK);
	assert_int_equal(p2p_privkey_generate(&b), P2P_OK);
	assert_false(p2p_pubkey_equal(p2p_privkey_public(a), p2p_privkey_public(b)));
	assert_int_equal(p2p_pubkey_type(p2p_privkey_public(a)), P2P_KEY_ED25519);

	uint8_t msg[] = "libp2p-tls-handshake:";
	uint8_t sig[P2P_ED25519_SIGNATURE_LEN];
	assert_int_equal(p2p_privkey_sign(a, msg, sizeof(msg), sig), P2P_OK);
	const p2p_pubkey *pa = p2p_privkey_public(a);
	assert_int_equal(p2p_pubkey_verify(pa, msg, sizeof(msg), sig, sizeof(sig)),
	                 P2P_OK);
	/* The other key, a changed message, a changed signature. */
	assert_int_equal(
	    p2p_pubkey_verify(p2p_privkey_public(b), msg, sizeof(msg), sig, sizeof(sig)),
	    P2P_ECRYPTO);
	msg[0] ^= 1;
	assert_int_equal(p2p_pubkey_verify(pa, msg, sizeof(msg), sig, sizeof(sig)),
	                 P2P_ECRYPTO);
	msg[0] ^= 1;
	sig[10] ^= 1;
	assert_int_equal(p2p_pubkey_verify(pa, msg, sizeof(msg), sig, sizeof(sig)),
	                 P2P_ECRYPTO);

	/* Encode / decode gives the same key. */
	p2p_buf enc;
	p2p_buf_init(&enc);
	assert_int_equal(p2p_privkey_encode(a, &enc), P2P_OK);
	assert_int_equal(enc.len, 68);
	p2p_privkey *c = NULL;
	assert_int_equal(p2p_privkey_decode(&c, enc.data, enc.len), P2P_OK);
	assert_true(p2p_pubkey_equal(pa, p2p_privkey_public(c)));
	p2p_buf_free(&enc);
	p2p_privkey_free(a);
	p2p_privkey_free(b);
	p2p_privkey_free(c);
}

/* --- key file --- */

struct tmpdir {
	char root[64];
	char path[128]; /* root/a/b/key, in directories that do not exist yet */
};

static int setup_dir(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/tmp/p2p-keyfile-XXXXXX");
	if (mkdtemp(t->root) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/a/b/key", t->root);
	*state = t;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tmpdir *t = *state;
	char p[160];
	unlink(t->path);
	snprintf(p, sizeof(p), "%s/a/b", t->root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/a", t->root);
	rmdir(p);
	rmdir(t->root);
	free(t);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void test_keyfile_create_reload(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *first = NULL, *again = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&first, t->path, NULL, 0), P2P_OK);

	struct stat st;
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/a/b", t->root);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(dir, sizeof(dir), "%s/a", t->root);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* The file holds the protobuf PrivateKey of the key we got. */
	uint8_t buf[256];
	size_t n = read_file(t->path, buf, sizeof(buf));
	p2p_buf enc;
	p2p_buf_init(&enc);
	assert_int_equal(p2p_privkey_encode(first, &enc), P2P_OK);
	assert_int_equal(n, enc.len);
	assert_memory_equal(buf, enc.data, n);
	p2p_buf_free(&enc);

	/* Loading again gives the same identity. */
	assert_int_equal(p2p_privkey_load_or_create(&again, t->path, NULL, 0), P2P_OK);
	assert_true(
	    p2p_pubkey_equal(p2p_privkey_public(first), p2p_privkey_public(again)));
	p2p_privkey_free(first);
	p2p_privkey_free(again);
}

static void test_keyfile_go_written(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0),
	                 P2P_OK); /* makes dirs */
	p2p_privkey_free(key);
	size_t len;
	uint8_t *pb = vec_hex(SPEC_ED25519_PRIV, &len);
	write_file(t->path, pb, len);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_OK);
	assert_public_is(key, SPEC_ED25519_PUB);
	p2p_privkey_free(key);
	free(pb);
}

static void test_keyfile_corrupt_kept(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_OK);
	p2p_privkey_free(key);
	key = NULL;

	static const uint8_t junk[] = "not a key";
	uint8_t buf[64];
	write_file(t->path, junk, sizeof(junk));
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_EPROTO);
	assert_null(key);
	/* The file is left for its owner to look at. */
	assert_int_equal(read_file(t->path, buf, sizeof(buf)), sizeof(junk));
	assert_memory_equal(buf, junk, sizeof(junk));

	/* Empty, truncated and oversized files are corrupt too. */
	write_file(t->path, junk, 0);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_EPROTO);
	size_t len;
	uint8_t *pb = vec_hex(SPEC_ED25519_PRIV, &len);
	write_file(t->path, pb, len - 1);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_EPROTO);
	free(pb);
	uint8_t *big = calloc(1, 8192);
	write_file(t->path, big, 8192);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0), P2P_EPROTO);
	free(big);
	/* A valid key of a type we do not sign with. */
	pb = vec_hex(SPEC_SECP256K1_PRIV, &len);
	write_file(t->path, pb, len);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->path, NULL, 0),
	                 P2P_EUNSUPPORTED);
	free(pb);
	assert_null(key);
}

static void test_keyfile_bad_path(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	char path[160];
	/* A regular file where a directory should be. */
	snprintf(path, sizeof(path), "%s/file", t->root);
	write_file(path, "x", 1);
	char sub[192];
	snprintf(sub, sizeof(sub), "%s/key", path);
	assert_int_equal(p2p_privkey_load_or_create(&key, sub, NULL, 0), P2P_EIO);
	unlink(path);
	assert_int_equal(p2p_privkey_load_or_create(&key, "", NULL, 0), P2P_EINVAL);
	assert_null(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vector),
	    cmocka_unit_test(test_data_forms),
	    cmocka_unit_test(test_rfc8032),
	    cmocka_unit_test(test_generate_sign_verify),
	    cmocka_unit_test_setup_teardown(test_keyfile_create_reload, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_keyfile_go_written, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_keyfile_corrupt_kept, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_keyfile_bad_path, setup_dir,
	                                    teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
