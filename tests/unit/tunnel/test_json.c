#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p2p/error.h"
#include "tunnel/json.h"

static int parse(const char *line, tunnel_cmd *cmd, const char **why)
{
	*why = NULL;
	return tunnel_cmd_parse(line, strlen(line), cmd, why);
}

static void test_good_commands(void **state)
{
	tunnel_cmd cmd;
	const char *why;
	assert_int_equal(parse("{\"action\":\"LIST\"}", &cmd, &why), P2P_OK);
	assert_int_equal(cmd.action, TUNNEL_CMD_LIST);
	assert_false(cmd.detail);
	assert_null(why);
	assert_int_equal(
	    parse(" {\"action\" : \"list\", \"detail\": true}\r\n", &cmd, &why), P2P_OK);
	assert_int_equal(cmd.action, TUNNEL_CMD_LIST);
	assert_true(cmd.detail);
	assert_int_equal(
	    parse("{\"action\":\"SHUTDOWN\",\"extra\":[1,2,{}]}\n", &cmd, &why), P2P_OK);
	assert_int_equal(cmd.action, TUNNEL_CMD_SHUTDOWN);
	assert_int_equal(
	    parse("{\"session_id\":\"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU"
	          "5SA\",\"action\":\"DISCONNECT\"}",
	          &cmd, &why),
	    P2P_OK);
	assert_int_equal(cmd.action, TUNNEL_CMD_DISCONNECT);
	assert_string_equal(cmd.session_id,
	                    "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");

	/* The line need not be NUL-terminated: only len bytes are read. */
	const char *two = "{\"action\":\"LIST\"}{\"action\":\"SHUTDOWN\"}";
	assert_int_equal(tunnel_cmd_parse(two, 17, &cmd, &why), P2P_OK);
	assert_int_equal(cmd.action, TUNNEL_CMD_LIST);

	/* Blank lines are nothing to do, not an error. */
	assert_int_equal(parse("", &cmd, &why), P2P_EAGAIN);
	assert_int_equal(parse(" \r\n", &cmd, &why), P2P_EAGAIN);
	assert_null(why);
}

static void expect_error(const char *line, int err, const char *sentence)
{
	tunnel_cmd cmd;
	const char *why;
	assert_int_equal(parse(line, &cmd, &why), err);
	assert_non_null(why);
	assert_string_equal(why, sentence);
	assert_int_equal(cmd.action, 0);
}

static void test_bad_commands(void **state)
{
	expect_error("{\"action\":\"LIST\"", P2P_EPROTO, "the command is not valid JSON");
	expect_error("action=LIST", P2P_EPROTO, "the command is not valid JSON");
	expect_error("{'action':'LIST'}", P2P_EPROTO, "the command is not valid JSON");
	expect_error("[\"LIST\"]", P2P_EPROTO, "the command is not a JSON object");
	expect_error("\"LIST\"", P2P_EPROTO, "the command is not a JSON object");
	expect_error("{}", P2P_EPROTO, "the command has no \"action\" string");
	expect_error("{\"action\":7}", P2P_EPROTO,
	             "the command has no \"action\" string");
	expect_error("{\"Action\":\"LIST\"}", P2P_EPROTO,
	             "the command has no \"action\" string");
	expect_error("{\"action\":\"REBOOT\"}", P2P_EUNSUPPORTED,
	             "unknown action (the actions are LIST, DISCONNECT and SHUTDOWN)");
	expect_error("{\"action\":\"LIST\"} x", P2P_EPROTO,
	             "the command line has more after the JSON object");
	expect_error("{\"action\":\"LIST\"}{}", P2P_EPROTO,
	             "the command line has more after the JSON object");
	expect_error("{\"action\":\"LIST\",\"detail\":1}", P2P_EPROTO,
	             "\"detail\" must be true or false");
	expect_error("{\"action\":\"DISCONNECT\"}", P2P_EPROTO,
	             "DISCONNECT needs a \"session_id\" string");
	expect_error("{\"action\":\"DISCONNECT\",\"session_id\":42}", P2P_EPROTO,
	             "DISCONNECT needs a \"session_id\" string");
	expect_error("{\"action\":\"DISCONNECT\",\"session_id\":\"\"}", P2P_EPROTO,
	             "the session_id must be 1 to 128 printable ASCII characters");
	expect_error("{\"action\":\"DISCONNECT\",\"session_id\":\"a b\"}", P2P_EPROTO,
	             "the session_id must be 1 to 128 printable ASCII characters");
	expect_error("{\"action\":\"DISCONNECT\",\"session_id\":\"a\\nb\"}", P2P_EPROTO,
	             "the session_id must be 1 to 128 printable ASCII characters");
	expect_error("{\"action\":\"DISCONNECT\",\"session_id\":\"\xc3\xa9\"}",
	             P2P_EPROTO,
	             "the session_id must be 1 to 128 printable ASCII characters");

	char id[200];
	memset(id, 'x', 129);
	id[129] = 0;
	char line[300];
	snprintf(line, sizeof(line), "{\"action\":\"DISCONNECT\",\"session_id\":\"%s\"}",
	         id);
	expect_error(line, P2P_EPROTO,
	             "the session_id must be 1 to 128 printable ASCII characters");
	id[128] = 0;
	snprintf(line, sizeof(line), "{\"action\":\"DISCONNECT\",\"session_id\":\"%s\"}",
	         id);
	tunnel_cmd cmd;
	const char *why;
	assert_int_equal(parse(line, &cmd, &why), P2P_OK);
	assert_int_equal(strlen(cmd.session_id), 128);

	/* An embedded NUL is not the end of the line. */
	static const char with_nul[] = "{\"action\":\"LIST\"}\0garbage";
	assert_int_equal(tunnel_cmd_parse(with_nul, sizeof(with_nul) - 1, &cmd, &why),
	                 P2P_EPROTO);
}

static void test_line_limit(void **state)
{
	/* Exactly the limit parses (padding with spaces); one more is refused
	 * before any parsing. */
	size_t n = TUNNEL_CMD_MAX_LINE;
	char *line = malloc(n + 1);
	memset(line, ' ', n + 1);
	memcpy(line, "{\"action\":\"SHUTDOWN\"}", 21);
	tunnel_cmd cmd;
	const char *why = NULL;
	assert_int_equal(tunnel_cmd_parse(line, n, &cmd, &why), P2P_OK);
	assert_int_equal(tunnel_cmd_parse(line, n + 1, &cmd, &why), P2P_ETOOBIG);
	assert_string_equal(why, "the command line is longer than 64 KiB");
	/* Deep nesting is refused, not a stack overflow. */
	for (size_t i = 0; i < n; i++)
		line[i] = i < n / 2 ? '[' : ']';
	assert_int_equal(tunnel_cmd_parse(line, n, &cmd, &why), P2P_EPROTO);
	free(line);
}

/* Takes the one line in b: checks it ends in its only newline and parses. */
static cJSON *take_line(p2p_buf *b)
{
	assert_true(b->len > 1);
	assert_int_equal(b->data[b->len - 1], '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	cJSON *j = cJSON_ParseWithLength((const char *)b->data, b->len);
	assert_non_null(j);
	p2p_buf_reset(b);
	return j;
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	assert_true(cJSON_IsString(item));
	return item->valuestring;
}

static void test_events(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);

	assert_int_equal(tunnel_event_error(&b, "the command is not valid JSON"), P2P_OK);
	static const char error_line[] =
	    "{\"action\":\"ERROR\",\"error\":\"the command is not valid JSON\"}\n";
	assert_int_equal(b.len, strlen(error_line));
	assert_memory_equal(b.data, error_line, b.len);
	p2p_buf_reset(&b);

	const char *addrs[] = {"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/udp/4001/quic-v1"};
	assert_int_equal(tunnel_event_token(&b, "AgoBAA==", "12D3KooW", addrs, 2),
	                 P2P_OK);
	cJSON *j = take_line(&b);
	assert_string_equal(str(j, "action"), "TOKEN");
	assert_string_equal(str(j, "token"), "AgoBAA==");
	assert_string_equal(str(j, "peer_id"), "12D3KooW");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "addrs");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_string_equal(cJSON_GetArrayItem(list, 1)->valuestring, addrs[1]);
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_connected(&b, "12D3KooW", NULL, 8080), P2P_OK);
	static const char connected_line[] =
	    "{\"action\":\"CONNECTED\",\"session_id\":\"12D3KooW\",\"port\":8080}\n";
	assert_int_equal(b.len, strlen(connected_line));
	assert_memory_equal(b.data, connected_line, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_connected(&b, "s", "/ip4/1.2.3.4/tcp/1", 0),
	                 P2P_OK);
	j = take_line(&b);
	assert_string_equal(str(j, "addr"), "/ip4/1.2.3.4/tcp/1");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "port"));
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_disconnect(&b, "s", NULL), P2P_OK);
	j = take_line(&b);
	assert_string_equal(str(j, "action"), "DISCONNECT");
	assert_string_equal(str(j, "session_id"), "s");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "reason"));
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_list(&b, NULL, 0, false), P2P_OK);
	static const char empty_list[] = "{\"action\":\"LIST\",\"sessions\":[]}\n";
	assert_int_equal(b.len, strlen(empty_list));
	assert_memory_equal(b.data, empty_list, b.len);
	p2p_buf_reset(&b);

	tunnel_session_info s[2] = {
	    {"peer-a", "/ip4/127.0.0.1/tcp/1", 3, UINT64_MAX, 42},
	    {"peer-b", NULL, 0, 0, 0},
	};
	assert_int_equal(tunnel_event_list(&b, s, 2, false), P2P_OK);
	static const char short_list[] =
	    "{\"action\":\"LIST\",\"sessions\":[\"peer-a\",\"peer-b\"]}\n";
	assert_int_equal(b.len, strlen(short_list));
	assert_memory_equal(b.data, short_list, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_list(&b, s, 2, true), P2P_OK);
	/* 64-bit counters are printed exactly. */
	assert_non_null(
	    strstr((const char *)b.data, "\"bytes_in\":18446744073709551615"));
	j = take_line(&b);
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "sessions");
	assert_string_equal(cJSON_GetArrayItem(ids, 1)->valuestring, "peer-b");
	const cJSON *first =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "details"), 0);
	assert_string_equal(str(first, "session_id"), "peer-a");
	assert_string_equal(str(first, "addr"), "/ip4/127.0.0.1/tcp/1");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(first, "streams")->valueint, 3);
	cJSON_Delete(j);

	/* Required strings. */
	assert_int_equal(tunnel_event_error(&b, NULL), P2P_EINVAL);
	assert_int_equal(tunnel_event_token(&b, "t", NULL, NULL, 0), P2P_EINVAL);
	assert_int_equal(tunnel_event_list(&b, NULL, 1, false), P2P_EINVAL);
	assert_int_equal(b.len, 0);
	p2p_buf_free(&b);
}

static void test_event_escaping(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);
	/* Quotes, backslashes, newlines and control characters stay on one
	 * line; good UTF-8 passes; bad UTF-8 (a lone continuation byte, an
	 * overlong '/', a surrogate, a cut sequence) becomes U+FFFD. */
	const char *nasty =
	    "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82";
	assert_int_equal(tunnel_event_error(&b, nasty), P2P_OK);
	cJSON *j = take_line(&b);
	assert_string_equal(str(j, "error"),
	                    "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xef\xbf\xbd "
	                    "\xef\xbf\xbd\xef\xbf\xbd "
	                    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
	                    "\xef\xbf\xbd\xef\xbf\xbd");
	cJSON_Delete(j);
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_commands),  cmocka_unit_test(test_bad_commands),
	    cmocka_unit_test(test_line_limit),     cmocka_unit_test(test_events),
	    cmocka_unit_test(test_event_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
