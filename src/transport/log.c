#include "p2p/log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *level_name(p2p_log_level level)
{
	switch (level) {
	case P2P_LOG_ERROR:
		return "error";
	case P2P_LOG_WARN:
		return "warn";
	case P2P_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void p2p_log(const p2p_logger *lg, p2p_log_level level, const char *fmt, ...)
{
	p2p_log_level max = lg ? lg->level : P2P_LOG_WARN;
	if (level > max)
		return;
	char msg[P2P_LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lg && lg->fn)
		lg->fn(level, msg, lg->user);
	else
		fprintf(stderr, "p2p %s: %s\n", level_name(level), msg);
}
