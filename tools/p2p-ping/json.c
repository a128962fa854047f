#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void put(json_line *j, const char *s, size_t len)
{
	if (j->err == 0)
		j->err = p2p_buf_append(&j->buf, s, len);
}

static void puts_raw(json_line *j, const char *s)
{
	put(j, s, strlen(s));
}

/* A JSON string literal: quotes, backslashes and control characters are
 * escaped; other bytes (UTF-8 included) pass through. */
static void put_string(json_line *j, const char *s)
{
	puts_raw(j, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(j, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			puts_raw(j, esc);
		} else {
			put(j, (const char *)p, 1);
		}
	}
	puts_raw(j, "\"");
}

static void put_key(json_line *j, const char *key)
{
	if (!j->first)
		puts_raw(j, ",");
	j->first = false;
	put_string(j, key);
	puts_raw(j, ":");
}

void json_begin(json_line *j)
{
	p2p_buf_init(&j->buf);
	j->first = true;
	j->err = 0;
	puts_raw(j, "{");
}

void json_str(json_line *j, const char *key, const char *value)
{
	put_key(j, key);
	put_string(j, value);
}

void json_num(json_line *j, const char *key, double value)
{
	char num[64];
	/* JSON has no NaN or infinity (a zero-length interval gives those). */
	snprintf(num, sizeof(num), "%.3f", isfinite(value) ? value : 0.0);
	put_key(j, key);
	puts_raw(j, num);
}

void json_uint(json_line *j, const char *key, unsigned long long value)
{
	char num[32];
	snprintf(num, sizeof(num), "%llu", value);
	put_key(j, key);
	puts_raw(j, num);
}

void json_bool(json_line *j, const char *key, bool value)
{
	put_key(j, key);
	puts_raw(j, value ? "true" : "false");
}

void json_array_begin(json_line *j, const char *key)
{
	put_key(j, key);
	puts_raw(j, "[");
	j->first = true;
}

void json_array_str(json_line *j, const char *value)
{
	if (!j->first)
		puts_raw(j, ",");
	j->first = false;
	put_string(j, value);
}

void json_array_end(json_line *j)
{
	puts_raw(j, "]");
	j->first = false;
}

void json_end(json_line *j)
{
	puts_raw(j, "}\n");
	if (j->err == 0)
		fwrite(j->buf.data, 1, j->buf.len, stdout);
	else
		fputs("{\"error\":\"out of memory\"}\n", stdout);
	fflush(stdout);
	p2p_buf_free(&j->buf);
}
