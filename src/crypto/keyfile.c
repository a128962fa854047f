/* The node's identity on disk: one protobuf PrivateKey in a file of mode
 * 0600. A new file is written to a temporary name and renamed into place,
 * so a crash never leaves half a key behind; an existing file that does not
 * hold a valid key is reported, never replaced (it is someone's identity). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p2p/error.h"
#include "p2p/keys.h"

#define KEYFILE_MAX_LEN  4096 /* far above any PrivateKey we write or read */
#define KEYFILE_PATH_MAX 4096
#define KEYFILE_DIR_MODE 0700

/* Reads the whole file at fd (at most KEYFILE_MAX_LEN bytes) into buf. */
static int read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	for (;;) {
		if (n == cap)
			return P2P_EPROTO; /* larger than any key file */
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return P2P_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return P2P_OK;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return P2P_EIO;
		}
		buf += w;
		len -= (size_t)w;
	}
	return P2P_OK;
}

/* Creates every missing directory on the way to dir, mode 0700 (existing
 * ones are left as they are). dir is modified while we walk it. */
static int make_dirs(char *dir)
{
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, KEYFILE_DIR_MODE) != 0 && errno != EEXIST) {
			*p = saved;
			return P2P_EIO;
		}
		*p = saved;
		if (saved == '\0')
			return P2P_OK;
	}
}

/* Splits path into its directory ("." for a bare name). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(dir, cap, ".");
	} else if (slash == path) {
		snprintf(dir, cap, "/");
	} else {
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
	}
}

static int load(int fd, p2p_privkey **out)
{
	uint8_t buf[KEYFILE_MAX_LEN];
	size_t len = 0;
	int rc = read_all(fd, buf, sizeof(buf), &len);
	if (rc == P2P_OK) {
		rc = p2p_privkey_decode(out, buf, len);
		/* A key of a type we cannot use is not a corrupt file. */
		if (rc != P2P_OK && rc != P2P_EUNSUPPORTED && rc != P2P_ENOMEM)
			rc = P2P_EPROTO;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Writes a fresh key to path through a temporary file in the same
 * directory (rename is only atomic within one file system). */
static int create(const char *path, p2p_privkey **out)
{
	char dir[KEYFILE_PATH_MAX], tmp[KEYFILE_PATH_MAX];
	dir_of(path, dir, sizeof(dir));
	int rc = make_dirs(dir);
	if (rc != P2P_OK)
		return rc;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return P2P_EINVAL;

	p2p_privkey *key = NULL;
	p2p_buf enc;
	p2p_buf_init(&enc);
	rc = p2p_privkey_generate(&key);
	if (rc == P2P_OK)
		rc = p2p_privkey_encode(key, &enc);
	if (rc != P2P_OK)
		goto done;

	int fd = mkstemp(tmp); /* mode 0600, whatever the umask */
	if (fd < 0) {
		rc = P2P_EIO;
		goto done;
	}
	rc = write_all(fd, enc.data, enc.len);
	if (rc == P2P_OK && (fchmod(fd, 0600) != 0 || fsync(fd) != 0))
		rc = P2P_EIO;
	if (close(fd) != 0 && rc == P2P_OK)
		rc = P2P_EIO;
	if (rc == P2P_OK && rename(tmp, path) != 0)
		rc = P2P_EIO;
	if (rc != P2P_OK) {
		unlink(tmp);
		goto done;
	}
	/* Make the rename itself durable. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	*out = key;
	key = NULL;
done:
	if (enc.data != NULL)
		OPENSSL_cleanse(enc.data, enc.cap);
	p2p_buf_free(&enc);
	p2p_privkey_free(key);
	return rc;
}

int p2p_privkey_load_or_create(p2p_privkey **out, const char *path)
{
	if (out == NULL || path == NULL || path[0] == '\0' ||
	    strlen(path) >= KEYFILE_PATH_MAX - 16)
		return P2P_EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int rc = load(fd, out);
		close(fd);
		return rc;
	}
	if (errno != ENOENT)
		return P2P_EIO;
	return create(path, out);
}
