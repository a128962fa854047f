/* A tiny logger: a level and a callback, passed around in configs (there
 * are no globals). A NULL logger, or one with a NULL callback, writes to
 * stderr. */
#ifndef P2P_LOG_H
#define P2P_LOG_H

typedef enum p2p_log_level {
	P2P_LOG_ERROR = 0,
	P2P_LOG_WARN = 1,
	P2P_LOG_INFO = 2,
	P2P_LOG_DEBUG = 3,
} p2p_log_level;

#define P2P_LOG_LINE_MAX 512 /* longer messages are cut */

/* msg is NUL-terminated, without a newline, valid during the call. */
typedef void (*p2p_log_fn)(p2p_log_level level, const char *msg, void *user);

typedef struct p2p_logger {
	p2p_log_level level; /* messages above this level are dropped */
	p2p_log_fn fn;       /* NULL: stderr */
	void *user;
} p2p_logger;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void p2p_log(const p2p_logger *lg, p2p_log_level level, const char *fmt, ...);

#endif
