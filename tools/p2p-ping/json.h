/* Just enough JSON output for one-line results: an object of string,
 * number, boolean and string-array members, built in a p2p_buf. */
#ifndef P2P_PING_JSON_H
#define P2P_PING_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "p2p/buf.h"

typedef struct json_line {
	p2p_buf buf;
	bool first; /* no member written yet at this level */
	int err;    /* first allocation failure, sticky */
} json_line;

void json_begin(json_line *j);
void json_str(json_line *j, const char *key, const char *value);
void json_num(json_line *j, const char *key, double value);
void json_uint(json_line *j, const char *key, unsigned long long value);
void json_bool(json_line *j, const char *key, bool value);
/* An array of strings: json_array_begin, json_array_str..., json_array_end. */
void json_array_begin(json_line *j, const char *key);
void json_array_str(json_line *j, const char *value);
void json_array_end(json_line *j);
/* Closes the object, writes it and a newline to stdout, flushes, and
 * frees the buffer. */
void json_end(json_line *j);

#endif
