/* Files that hold secrets (keys.h): the node's identity, one protobuf
 * PrivateKey, and raw random secrets such as the tunnel token's.
 *
 * Each is mode 0600 in a directory we create 0700. A new file is written
 * to a temporary name in the same directory, fsynced, then link()ed into
 * place: a crash never leaves an empty or half-written file behind, and
 * link() fails with EEXIST rather than replacing a file that a second
 * instance put there meanwhile, so both end with the winner's. An
 * existing file is never replaced: one that is corrupt, of the wrong size
 * or readable by others (as ssh refuses) is reported, with a sentence that
 * names it and says what to do, written to the caller's buffer. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "p2p/error.h"
#include "p2p/keys.h"

#define KEYFILE_MAX_LEN  4096 /* far above any PrivateKey we write or read */
#define KEYFILE_PATH_MAX 4096
#define KEYFILE_DIR_MODE 0700
#define KEYFILE_TRIES    3 /* a file that vanishes as we read it: try again */

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0) /* linux/fs.h */
#endif

/* Two paths (the permissions sentence), or one and `lost`, and the words. */
_Static_assert(P2P_KEYFILE_WHY_MAX >= 3 * KEYFILE_PATH_MAX + 256,
               "P2P_KEYFILE_WHY_MAX must hold every sentence");

/* The caller's buffer for the sentence that says why a call failed
 * (buf NULL, len 0: no sentence). */
typedef struct kf_why {
	char *buf;
	size_t len;
} kf_why;

/* Starts a call: no sentence until something fails. */
static kf_why why_start(char *buf, size_t len)
{
	kf_why w = {.buf = len > 0 ? buf : NULL, .len = buf != NULL ? len : 0};
	if (w.buf != NULL)
		w.buf[0] = '\0';
	return w;
}

/* Records why the call fails; returns err so that callers can return it. */
static int fail(kf_why *w, int err, const char *fmt, ...)
{
	if (w->buf == NULL)
		return err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->buf, w->len, fmt, ap);
	va_end(ap);
	return err;
}

/* strerror() is not thread-safe. */
static const char *errno_text(int e, char *buf, size_t cap)
{
	if (strerror_r(e, buf, cap) != 0)
		snprintf(buf, cap, "error %d", e);
	return buf;
}

static int fail_errno(kf_why *w, int e, const char *what, const char *path)
{
	char text[128];
	return fail(w, P2P_EIO, "cannot %s %s: %s", what, path,
	            errno_text(e, text, sizeof(text)));
}

/* Reads the whole file at fd, at most cap bytes: more is reported as
 * cap + 1 in *len, so that a file that grew since fstat is still refused. */
static int read_all(kf_why *w, int fd, uint8_t *buf, size_t cap, size_t *len,
                    const char *path)
{
	size_t n = 0;
	for (;;) {
		uint8_t extra;
		ssize_t r = n < cap ? read(fd, buf + n, cap - n) : read(fd, &extra, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail_errno(w, errno, "read", path);
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap)
			break;
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
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Creates every missing directory on the way to dir, mode 0700: the files
 * in it are secrets (existing ones are left as they are). dir is modified
 * while we walk it. */
static int make_dirs(kf_why *w, char *dir)
{
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, KEYFILE_DIR_MODE) != 0 && errno != EEXIST) {
			int e = errno;
			int rc = fail_errno(w, e, "create the directory", dir);
			*p = saved;
			return rc;
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

/* Opens an existing file: 1 with *fd and *st set, 0 if there is none, or
 * an error. Anyone else who can read the file has the secret, so a mode
 * that lets group or others read or write it is refused, as ssh does;
 * st_mode, not access(), so that this holds for root too. */
static int open_existing(kf_why *w, const char *path, int *fd, struct stat *st)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && errno != ENOENT)
		return fail_errno(w, errno, "open", path);
	if (*fd < 0) {
		/* A dangling symlink: link() would not go through it, and
		 * replacing it would be a surprise. Anything else that is
		 * there now was created since open(): the caller's link()
		 * will meet it (EEXIST) and read it. */
		if (lstat(path, st) == 0 && S_ISLNK(st->st_mode))
			return fail(w, P2P_EIO,
			            "%s is a symbolic link to a file that does not exist",
			            path);
		return 0;
	}
	int rc = P2P_OK;
	if (fstat(*fd, st) != 0)
		rc = fail_errno(w, errno, "stat", path);
	else if (!S_ISREG(st->st_mode))
		rc = fail(w, P2P_EPROTO, "%s is not a regular file", path);
	else if ((st->st_mode & 077) != 0)
		rc = fail(w, P2P_ESTATE,
		          "permissions %04o for %s are too open: chmod 600 %s",
		          (unsigned)(st->st_mode & 07777), path, path);
	if (rc != P2P_OK) {
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 1;
}

/* link() is the atomic "create unless it exists" for a whole file; where
 * the file system has no hard links, renameat2(RENAME_NOREPLACE) is (and
 * then tmp is gone: *renamed). */
static int link_noreplace(const char *tmp, const char *path, int *renamed)
{
	*renamed = 0;
	if (link(tmp, path) == 0)
		return 0;
#if defined(__linux__) && defined(SYS_renameat2)
	if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
		int e = errno;
		if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, path,
		            RENAME_NOREPLACE) == 0) {
			*renamed = 1;
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS)
			errno = e; /* no renameat2 either: link's reason is the one */
	}
#endif
	return -1;
}

/* Puts data at path, whole or not at all, unless a file is there already:
 * P2P_OK once ours is in place (and durable), 1 if another one was there
 * first (a second instance won the race: the caller reads it), else an
 * error. */
static int publish(kf_why *w, const char *path, const uint8_t *data, size_t len)
{
	char dir[KEYFILE_PATH_MAX], tmp[KEYFILE_PATH_MAX];
	dir_of(path, dir, sizeof(dir));
	int rc = make_dirs(w, dir);
	if (rc != P2P_OK)
		return rc;
	/* In the same directory: link() does not cross file systems. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return fail(w, P2P_EINVAL, "the path %s is too long", path);
	int fd = mkstemp(tmp); /* mode 0600, whatever the umask */
	if (fd < 0)
		return fail_errno(w, errno, "create a file in", dir);
	if (write_all(fd, data, len) != 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0)
		rc = fail_errno(w, errno, "write", path);
	if (close(fd) != 0 && rc == P2P_OK)
		rc = fail_errno(w, errno, "write", path);
	int renamed = 0;
	if (rc == P2P_OK && link_noreplace(tmp, path, &renamed) != 0)
		rc = errno == EEXIST ? 1 : fail_errno(w, errno, "create", path);
	/* A crash before this leaves a stray 0600 temp file, never a broken
	 * `path`. */
	if (!renamed)
		unlink(tmp);
	if (rc != P2P_OK)
		return rc;
	/* Make the new name itself durable. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return P2P_OK;
}

static int check_path(kf_why *w, const char *path)
{
	if (path == NULL || path[0] == '\0' || strlen(path) >= KEYFILE_PATH_MAX - 16)
		return fail(w, P2P_EINVAL, "no usable file name");
	return P2P_OK;
}

/* --- the identity key --- */

static int load_key(kf_why *w, int fd, const struct stat *st, const char *path,
                    p2p_privkey **out)
{
	uint8_t buf[KEYFILE_MAX_LEN];
	size_t len = 0;
	int rc = read_all(w, fd, buf, sizeof(buf), &len, path);
	if (rc != P2P_OK)
		goto done;
	if (len == 0) {
		rc = fail(w, P2P_EPROTO,
		          "%s is empty, not a libp2p private key: restore it from a "
		          "backup, or remove it to make a new identity (a new peer ID)",
		          path);
	} else if (len > sizeof(buf)) {
		rc = fail(w, P2P_EPROTO,
		          "%s is %lld bytes, larger than any libp2p private key (at most "
		          "%d): is it the right file?",
		          path, (long long)st->st_size, KEYFILE_MAX_LEN);
	} else {
		rc = p2p_privkey_decode(out, buf, len);
		if (rc == P2P_EUNSUPPORTED)
			rc = fail(
			    w, rc,
			    "%s holds a key of a type we cannot sign with (only Ed25519)",
			    path);
		else if (rc == P2P_ENOMEM)
			rc = fail(w, rc, "out of memory loading %s", path);
		else if (rc != P2P_OK)
			rc = fail(
			    w, P2P_EPROTO,
			    "%s is not a valid libp2p private key (a protobuf PrivateKey "
			    "holding an Ed25519 key): restore it from a backup, or "
			    "remove it "
			    "to make a new identity (a new peer ID)",
			    path);
	}
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int create_key(kf_why *w, const char *path, p2p_privkey **out)
{
	p2p_privkey *key = NULL;
	p2p_buf enc;
	p2p_buf_init(&enc);
	int rc = p2p_privkey_generate(&key);
	if (rc == P2P_OK)
		rc = p2p_privkey_encode(key, &enc);
	if (rc != P2P_OK)
		rc = fail(w, rc, "cannot make a key for %s: %s", path, p2p_strerror(rc));
	else
		rc = publish(w, path, enc.data, enc.len);
	if (rc == P2P_OK) {
		*out = key;
		key = NULL;
	}
	if (enc.data != NULL)
		OPENSSL_cleanse(enc.data, enc.cap);
	p2p_buf_free(&enc);
	p2p_privkey_free(key);
	return rc;
}

int p2p_privkey_load_or_create(p2p_privkey **out, const char *path, char *why,
                               size_t why_len)
{
	kf_why ctx = why_start(why, why_len);
	kf_why *w = &ctx;
	if (out == NULL)
		return fail(w, P2P_EINVAL, "no place to put the key");
	int rc = check_path(w, path);
	for (int i = 0; rc == P2P_OK && i < KEYFILE_TRIES; i++) {
		int fd;
		struct stat st;
		rc = open_existing(w, path, &fd, &st);
		if (rc == 1) {
			rc = load_key(w, fd, &st, path, out);
			close(fd);
			return rc;
		}
		if (rc == 0)
			rc = create_key(w, path, out);
		if (rc != 1)
			return rc;
		rc = P2P_OK; /* another instance created it first: load theirs */
	}
	return rc == P2P_OK ? fail(w, P2P_EIO, "%s keeps appearing and vanishing", path)
	                    : rc;
}

/* --- raw secrets --- */

static int load_secret(kf_why *w, int fd, const struct stat *st, const char *path,
                       uint8_t *secret, size_t len, const char *lost)
{
	/* Any other size is a file cut short (a crash in an old version, a
	 * full disk) or another file: say so, never guess. */
	uint8_t buf[KEYFILE_MAX_LEN];
	size_t n = 0;
	int rc = read_all(w, fd, buf, len, &n, path);
	if (rc == P2P_OK && n != len)
		rc = fail(w, P2P_EPROTO,
		          "%s is %lld bytes, a secret is %zu: remove it to make a new "
		          "one%s%s%s",
		          path, (long long)(n > len ? st->st_size : (off_t)n), len,
		          lost ? " (" : "", lost ? lost : "", lost ? ")" : "");
	if (rc == P2P_OK)
		memcpy(secret, buf, len);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int p2p_secret_load_or_create(uint8_t *secret, size_t len, const char *path,
                              const char *lost, char *why, size_t why_len)
{
	kf_why ctx = why_start(why, why_len);
	kf_why *w = &ctx;
	if (secret == NULL)
		return fail(w, P2P_EINVAL, "no place to put the secret");
	if (len == 0 || len > KEYFILE_MAX_LEN)
		return fail(w, P2P_EINVAL, "a secret of %zu bytes: it must be 1 to %d",
		            len, KEYFILE_MAX_LEN);
	int rc = check_path(w, path);
	for (int i = 0; rc == P2P_OK && i < KEYFILE_TRIES; i++) {
		int fd;
		struct stat st;
		rc = open_existing(w, path, &fd, &st);
		if (rc == 1) {
			rc = load_secret(w, fd, &st, path, secret, len, lost);
			close(fd);
			return rc;
		}
		if (rc != 0)
			return rc;
		uint8_t fresh[KEYFILE_MAX_LEN];
		if (RAND_bytes(fresh, (int)len) != 1)
			return fail(w, P2P_ECRYPTO, "no random bytes for %s", path);
		rc = publish(w, path, fresh, len);
		if (rc == P2P_OK)
			memcpy(secret, fresh, len);
		OPENSSL_cleanse(fresh, sizeof(fresh));
		if (rc != 1)
			return rc;
		rc = P2P_OK; /* another instance created it first: load theirs */
	}
	return rc == P2P_OK ? fail(w, P2P_EIO, "%s keeps appearing and vanishing", path)
	                    : rc;
}
