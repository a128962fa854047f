/* Key and secret files (keys.h): refusals that name the file and say what
 * is wrong (corrupt, wrong size, too open), files never replaced, and two
 * processes creating the same file at once ending with the same one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2p/error.h"
#include "p2p/keys.h"

#define SECRET_LEN 32
#define LOST       "the old token stops working"

struct tmpdir {
	char root[64];
	char dir[80];                  /* root/d, not made yet */
	char key[128];                 /* root/d/host.key */
	char secret[128];              /* root/d/host.secret */
	char why[P2P_KEYFILE_WHY_MAX]; /* why the last call failed */
};

static int setup_dir(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/tmp/p2p-keyfile2-XXXXXX");
	if (t == NULL || mkdtemp(t->root) == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/d", t->root);
	snprintf(t->key, sizeof(t->key), "%s/host.key", t->dir);
	snprintf(t->secret, sizeof(t->secret), "%s/host.secret", t->dir);
	*state = t;
	return 0;
}

/* Removes whatever a test left in root/d, then the directories. */
static int teardown_dir(void **state)
{
	struct tmpdir *t = *state;
	DIR *d = opendir(t->dir);
	if (d != NULL) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
			if (unlink(p) != 0)
				rmdir(p);
		}
		closedir(d);
	}
	rmdir(t->dir);
	rmdir(t->root);
	free(t);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* The names in dir, sorted, space-separated. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			strncat(out, names[i]->d_name, cap - strlen(out) - 1);
			strncat(out, " ", cap - strlen(out) - 1);
		}
		free(names[i]);
	}
	free(names);
}

static void assert_why(const struct tmpdir *t, const char *want)
{
	assert_string_equal(t->why, want);
}

/* --- the identity key --- */

static void test_key_create_clean(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	assert_string_equal(t->why, "");
	p2p_privkey_free(key);
	/* No temporary file is left beside it. */
	char names[256];
	list_dir(t->dir, names, sizeof(names));
	assert_string_equal(names, "host.key ");
	struct stat st;
	assert_int_equal(stat(t->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(t->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_key_corrupt(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	p2p_privkey_free(key);
	key = NULL;

	char want[512];
	static const uint8_t junk[] = "not a key";
	write_file(t->key, junk, sizeof(junk), 0600);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_EPROTO);
	assert_null(key);
	snprintf(want, sizeof(want),
	         "%s is not a valid libp2p private key (a protobuf PrivateKey holding "
	         "an Ed25519 key): restore it from a backup, or remove it to make a "
	         "new identity (a new peer ID)",
	         t->key);
	assert_why(t, want);
	/* Never replaced: it may be someone's only copy. */
	uint8_t buf[64];
	assert_int_equal(read_file(t->key, buf, sizeof(buf)), sizeof(junk));
	assert_memory_equal(buf, junk, sizeof(junk));

	write_file(t->key, junk, 0, 0600);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want),
	         "%s is empty, not a libp2p private key: restore it from a backup, or "
	         "remove it to make a new identity (a new peer ID)",
	         t->key);
	assert_why(t, want);

	uint8_t *big = calloc(1, 5000);
	write_file(t->key, big, 5000, 0600);
	free(big);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want),
	         "%s is 5000 bytes, larger than any libp2p private key (at most 4096): "
	         "is it the right file?",
	         t->key);
	assert_why(t, want);
	assert_null(key);

	/* A success clears the reason. */
	unlink(t->key);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	assert_string_equal(t->why, "");
	p2p_privkey_free(key);
}

static void test_key_too_open(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	p2p_privkey_free(key);
	key = NULL;

	/* Checked on the mode bits, so root is refused too. */
	static const mode_t bad[] = {0644, 0640, 0604, 0660, 0602, 0610};
	char want[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(t->key, bad[i]), 0);
		assert_int_equal(
		    p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
		    P2P_ESTATE);
		assert_null(key);
		snprintf(want, sizeof(want),
		         "permissions %04o for %s are too open: chmod 600 %s",
		         (unsigned)bad[i], t->key, t->key);
		assert_why(t, want);
	}
	/* Stricter than 0600 is fine. */
	assert_int_equal(chmod(t->key, 0400), 0);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	p2p_privkey_free(key);
}

static void test_key_not_a_file(void **state)
{
	struct tmpdir *t = *state;
	p2p_privkey *key = NULL;
	char want[512];
	assert_int_equal(mkdir(t->dir, 0700), 0);
	assert_int_equal(mkdir(t->key, 0700), 0);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want), "%s is not a regular file", t->key);
	assert_why(t, want);
	assert_int_equal(rmdir(t->key), 0);

	/* A dangling symlink is reported, not replaced by a new key. */
	assert_int_equal(symlink("nowhere", t->key), 0);
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_EIO);
	snprintf(want, sizeof(want),
	         "%s is a symbolic link to a file that does not exist", t->key);
	assert_why(t, want);
	assert_null(key);
	struct stat st;
	assert_int_equal(lstat(t->key, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* --- the secret --- */

static void test_secret_create_reload(void **state)
{
	struct tmpdir *t = *state;
	uint8_t a[SECRET_LEN], b[SECRET_LEN], buf[64];
	assert_int_equal(p2p_secret_load_or_create(a, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_OK);
	assert_string_equal(t->why, "");
	assert_int_equal(read_file(t->secret, buf, sizeof(buf)), SECRET_LEN);
	assert_memory_equal(buf, a, SECRET_LEN);
	struct stat st;
	assert_int_equal(stat(t->secret, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char names[256];
	list_dir(t->dir, names, sizeof(names));
	assert_string_equal(names, "host.secret ");

	memset(b, 0, sizeof(b));
	assert_int_equal(p2p_secret_load_or_create(b, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_OK);
	assert_memory_equal(a, b, SECRET_LEN);
}

static void test_secret_wrong_size(void **state)
{
	struct tmpdir *t = *state;
	uint8_t s[SECRET_LEN], junk[100] = {1}, buf[128];
	char want[512];
	assert_int_equal(mkdir(t->dir, 0700), 0);

	/* What a crash while writing it in place used to leave behind. */
	write_file(t->secret, junk, 0, 0600);
	assert_int_equal(p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want),
	         "%s is 0 bytes, a secret is 32: remove it to make a new one (the old "
	         "token stops working)",
	         t->secret);
	assert_why(t, want);

	write_file(t->secret, junk, sizeof(junk), 0600);
	assert_int_equal(p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want),
	         "%s is 100 bytes, a secret is 32: remove it to make a new one (the old "
	         "token stops working)",
	         t->secret);
	assert_why(t, want);
	assert_int_equal(read_file(t->secret, buf, sizeof(buf)), sizeof(junk));

	write_file(t->secret, junk, SECRET_LEN - 1, 0600);
	assert_int_equal(p2p_secret_load_or_create(s, SECRET_LEN, t->secret, NULL, t->why,
	                                           sizeof(t->why)),
	                 P2P_EPROTO);
	snprintf(want, sizeof(want),
	         "%s is 31 bytes, a secret is 32: remove it to make a new one",
	         t->secret);
	assert_why(t, want);
}

static void test_secret_too_open(void **state)
{
	struct tmpdir *t = *state;
	uint8_t s[SECRET_LEN];
	char want[512];
	assert_int_equal(p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_OK);
	assert_int_equal(chmod(t->secret, 0644), 0);
	assert_int_equal(p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, t->why,
	                                           sizeof(t->why)),
	                 P2P_ESTATE);
	snprintf(want, sizeof(want), "permissions 0644 for %s are too open: chmod 600 %s",
	         t->secret, t->secret);
	assert_why(t, want);
}

/* --- the caller's buffer --- */

/* No buffer (NULL, 0) is fine; a short one gets the sentence cut short,
 * NUL-terminated, and nothing is written past it; a success empties it. */
static void test_why_buffer(void **state)
{
	struct tmpdir *t = *state;
	uint8_t s[SECRET_LEN];
	p2p_privkey *key = NULL;
	assert_int_equal(
	    p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, NULL, 0), P2P_OK);
	assert_int_equal(chmod(t->secret, 0644), 0);
	assert_int_equal(
	    p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, NULL, 0),
	    P2P_ESTATE);

	char small[16];
	memset(small, 'x', sizeof(small));
	assert_int_equal(
	    p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, small, 8),
	    P2P_ESTATE);
	assert_string_equal(small, "permiss");
	assert_int_equal(small[8], 'x');

	/* A buffer of length 0 is never written. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(
	    p2p_secret_load_or_create(s, SECRET_LEN, t->secret, LOST, small, 0),
	    P2P_ESTATE);
	assert_int_equal(small[0], 'x');

	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, small, sizeof(small)),
	                 P2P_OK);
	assert_int_equal(small[0], '\0');
	p2p_privkey_free(key);

	/* Bad arguments say so too. */
	assert_int_equal(p2p_privkey_load_or_create(NULL, t->key, t->why, sizeof(t->why)),
	                 P2P_EINVAL);
	assert_why(t, "no place to put the key");
	assert_int_equal(p2p_privkey_load_or_create(&key, "", t->why, sizeof(t->why)),
	                 P2P_EINVAL);
	assert_why(t, "no usable file name");
	assert_int_equal(
	    p2p_secret_load_or_create(s, 0, t->secret, LOST, t->why, sizeof(t->why)),
	    P2P_EINVAL);
	assert_why(t, "a secret of 0 bytes: it must be 1 to 4096");
}

/* --- two instances creating the same file at once --- */

#define RACE_ROUNDS 20
#define RACERS      4

/* Loads or creates the file, writes what it holds (the public key, or
 * the secret) to out; returns its length or -1. */
typedef int (*create_fn)(const struct tmpdir *t, uint8_t *out, size_t cap, char *why,
                         size_t why_len);

static int create_key_bytes(const struct tmpdir *t, uint8_t *out, size_t cap, char *why,
                            size_t why_len)
{
	p2p_privkey *key = NULL;
	if (p2p_privkey_load_or_create(&key, t->key, why, why_len) != P2P_OK)
		return -1;
	p2p_buf enc;
	p2p_buf_init(&enc);
	int n = -1;
	if (p2p_pubkey_encode(p2p_privkey_public(key), &enc) == P2P_OK &&
	    enc.len <= cap) {
		memcpy(out, enc.data, enc.len);
		n = (int)enc.len;
	}
	p2p_buf_free(&enc);
	p2p_privkey_free(key);
	return n;
}

static int create_secret_bytes(const struct tmpdir *t, uint8_t *out, size_t cap,
                               char *why, size_t why_len)
{
	if (cap < SECRET_LEN || p2p_secret_load_or_create(out, SECRET_LEN, t->secret,
	                                                  LOST, why, why_len) != P2P_OK)
		return -1;
	return SECRET_LEN;
}

/* RACE_ROUNDS times: RACERS processes wait on one pipe, so that they
 * start together, each create() the same missing file and report what
 * they got; all must have got the same, as must a later load. */
static void race(const struct tmpdir *t, create_fn create, const char *want_names)
{
	for (int round = 0; round < RACE_ROUNDS; round++) {
		unlink(t->key);
		unlink(t->secret);
		int go[2];
		assert_int_equal(pipe(go), 0);
		int res[RACERS][2];
		pid_t pid[RACERS];
		for (int i = 0; i < RACERS; i++) {
			assert_int_equal(pipe(res[i]), 0);
			pid[i] = fork();
			assert_true(pid[i] >= 0);
			if (pid[i] == 0) {
				close(go[1]);
				char c;
				/* EOF on the pipe is the start signal for all. */
				while (read(go[0], &c, 1) > 0)
					;
				uint8_t got[128];
				char why[P2P_KEYFILE_WHY_MAX];
				int n = create(t, got, sizeof(got), why, sizeof(why));
				if (n > 0 && write(res[i][1], got, (size_t)n) != n)
					n = -1;
				if (n <= 0)
					fprintf(stderr, "racer: %s\n", why);
				_exit(n > 0 ? 0 : 1);
			}
			close(res[i][1]);
		}
		close(go[0]);
		close(go[1]);
		uint8_t first[128], got[128];
		ssize_t first_len = -1;
		int status[RACERS];
		/* All of them, before any assert ends the test (and teardown
		 * removes the directory under the others). */
		for (int i = 0; i < RACERS; i++)
			assert_int_equal(waitpid(pid[i], &status[i], 0), pid[i]);
		for (int i = 0; i < RACERS; i++) {
			assert_true(WIFEXITED(status[i]));
			assert_int_equal(WEXITSTATUS(status[i]), 0);
			ssize_t n = read(res[i][0], got, sizeof(got));
			close(res[i][0]);
			assert_true(n > 0);
			if (first_len < 0) {
				memcpy(first, got, (size_t)n);
				first_len = n;
			}
			/* Every racer ends with the winner's. */
			assert_int_equal(n, first_len);
			assert_memory_equal(got, first, (size_t)n);
		}
		/* And so does a later load; no temporary file is left. */
		uint8_t later[128];
		char why[P2P_KEYFILE_WHY_MAX];
		assert_int_equal(create(t, later, sizeof(later), why, sizeof(why)),
		                 first_len);
		assert_memory_equal(later, first, (size_t)first_len);
		char names[256];
		list_dir(t->dir, names, sizeof(names));
		assert_string_equal(names, want_names);
	}
}

static void test_key_race(void **state)
{
	race(*state, create_key_bytes, "host.key ");
}

static void test_secret_race(void **state)
{
	race(*state, create_secret_bytes, "host.secret ");
}

/* A temporary file left by a crash mid-write is ignored, and never taken
 * for the key. */
static void test_stale_temp(void **state)
{
	struct tmpdir *t = *state;
	char tmp[256];
	assert_int_equal(mkdir(t->dir, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp.AAAAAA", t->key);
	write_file(tmp, "", 0, 0600);
	p2p_privkey *key = NULL;
	assert_int_equal(p2p_privkey_load_or_create(&key, t->key, t->why, sizeof(t->why)),
	                 P2P_OK);
	p2p_privkey_free(key);
	struct stat st;
	assert_int_equal(stat(t->key, &st), 0);
	assert_true(st.st_size > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_key_create_clean, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_key_corrupt, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_key_too_open, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_key_not_a_file, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_create_reload, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_wrong_size, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_too_open, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_why_buffer, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_key_race, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_race, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_stale_temp, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
