/* The ceiling for bench/throughput.sh: what one TCP connection on loopback
 * carries when each byte is encrypted and decrypted exactly as Noise
 * transport messages are (ChaCha20-Poly1305 with OpenSSL, 65535-byte frames
 * behind a 2-byte length), with nothing else around it: no multiplexer, no
 * event loop, one reused buffer, blocking reads and writes. The libp2p
 * stack is measured against it in the same run.
 *
 *   ceiling BYTES [SENDER_CPU RECEIVER_CPU]
 *       prints {"mb_per_s":…,"sender_s_per_gib":…,"receiver_s_per_gib":…}
 *
 * The receiver is a child process, pinned to RECEIVER_CPU when given (as
 * the script pins the two p2p-ping processes); it checks every tag and
 * exits non-zero on a bad one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_PLAIN 65519 /* the largest Noise transport payload */
#define TAG         16
#define BATCH       (1024 * 1024) /* bytes per write and per read */
#define PIECE       (16 * 1024)   /* as src/secure/noise_cipher.c */

static const unsigned char key[32] = {1};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(const char *cpu)
{
	if (cpu == NULL)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(atoi(cpu), &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity");
}

static double seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void nonce_of(uint64_t n, unsigned char iv[12])
{
	memset(iv, 0, 12);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (unsigned char)(n >> (8 * i));
}

/* Fills out with as many whole frames of zeros as fit; returns the bytes. */
static size_t seal_batch(EVP_CIPHER_CTX *c, const unsigned char *zeros,
                         unsigned char *out, uint64_t *n, size_t want)
{
	size_t off = 0;
	while (want > 0 && off + 2 + FRAME_PLAIN + TAG <= BATCH) {
		size_t plain = FRAME_PLAIN;
		if (want < plain)
			plain = want;
		unsigned char iv[12];
		int outl;
		nonce_of((*n)++, iv);
		if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1)
			die("encrypt init");
		out[off] = (unsigned char)((plain + TAG) >> 8);
		out[off + 1] = (unsigned char)(plain + TAG);
		for (size_t p = 0; p < plain; p += PIECE) {
			int len = (int)(plain - p < PIECE ? plain - p : PIECE);
			if (EVP_EncryptUpdate(c, out + off + 2 + p, &outl, zeros + p,
			                      len) != 1)
				die("encrypt");
		}
		if (EVP_EncryptFinal_ex(c, out + off + 2 + plain, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG,
		                        out + off + 2 + plain) != 1)
			die("tag");
		off += 2 + plain + TAG;
		want -= plain;
	}
	return off;
}

static void write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k <= 0)
			die("write");
		p += k;
		len -= (size_t)k;
	}
}

/* Reads frames until EOF, opening each; exits 1 on a bad tag. */
static void receive(int fd)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *in = malloc(BATCH + 2 + FRAME_PLAIN + TAG);
	unsigned char *plain = malloc(FRAME_PLAIN);
	if (c == NULL || in == NULL || plain == NULL ||
	    EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, NULL) != 1)
		die("receiver set-up");
	size_t have = 0;
	uint64_t n = 0;
	for (;;) {
		ssize_t k = read(fd, in + have, BATCH);
		if (k < 0)
			die("read");
		if (k == 0)
			break;
		have += (size_t)k;
		size_t off = 0;
		while (have - off >= 2) {
			size_t len = ((size_t)in[off] << 8) | in[off + 1];
			if (len < TAG || have - off < 2 + len)
				break;
			size_t plen = len - TAG;
			unsigned char iv[12];
			int outl;
			nonce_of(n++, iv);
			if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) != 1)
				die("decrypt init");
			for (size_t p = 0; p < plen; p += PIECE) {
				int m = (int)(plen - p < PIECE ? plen - p : PIECE);
				if (EVP_DecryptUpdate(c, plain + p, &outl,
				                      in + off + 2 + p, m) != 1)
					die("decrypt");
			}
			if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG,
			                        in + off + 2 + plen) != 1 ||
			    EVP_DecryptFinal_ex(c, plain, &outl) != 1) {
				fprintf(stderr, "ceiling: bad tag on frame %llu\n",
				        (unsigned long long)(n - 1));
				exit(1);
			}
			off += 2 + len;
		}
		memmove(in, in + off, have - off);
		have -= off;
	}
	exit(have == 0 ? 0 : 1);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: ceiling BYTES [SENDER_CPU RECEIVER_CPU]\n");
		return 2;
	}
	size_t total = strtoull(argv[1], NULL, 10);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		die("listen");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		pin(argc == 4 ? argv[3] : NULL);
		int s = accept(l, NULL, NULL);
		if (s < 0)
			die("accept");
		receive(s);
	}
	close(l);
	pin(argc == 4 ? argv[2] : NULL);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("connect");
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *zeros = calloc(1, FRAME_PLAIN);
	unsigned char *batch = malloc(BATCH);
	if (c == NULL || zeros == NULL || batch == NULL ||
	    EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, NULL) != 1)
		die("sender set-up");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t n = 0;
	for (size_t left = total; left > 0;) {
		size_t before = n;
		size_t len = seal_batch(c, zeros, batch, &n, left);
		write_all(s, batch, len);
		left -= len - (size_t)(n - before) * (2 + TAG);
	}
	shutdown(s, SHUT_WR);
	int status;
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ceiling: the receiver failed\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs =
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double gib = (double)total / (1024.0 * 1024.0 * 1024.0);
	printf(
	    "{\"mb_per_s\":%.1f,\"sender_s_per_gib\":%.3f,\"receiver_s_per_gib\":%.3f}\n",
	    (double)total / secs / 1e6,
	    (seconds(&self.ru_utime) + seconds(&self.ru_stime)) / gib,
	    (seconds(&kids.ru_utime) + seconds(&kids.ru_stime)) / gib);
	return 0;
}
