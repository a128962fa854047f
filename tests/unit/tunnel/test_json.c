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

	assert_int_equal(tunnel_event_connected(&b, "12D3KooW", NULL, 8080, NULL),
	                 P2P_OK);
	static const char connected_line[] =
	    "{\"action\":\"CONNECTED\",\"session_id\":\"12D3KooW\",\"port\":8080}\n";
	assert_int_equal(b.len, strlen(connected_line));
	assert_memory_equal(b.data, connected_line, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(
	    tunnel_event_connected(&b, "s", "/ip4/1.2.3.4/tcp/1", 0, TUNNEL_PATH_RELAYED),
	    P2P_OK);
	j = take_line(&b);
	assert_string_equal(str(j, "addr"), "/ip4/1.2.3.4/tcp/1");
	assert_string_equal(str(j, "path"), "relayed");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "port"));
	cJSON_Delete(j);

	assert_int_equal(
	    tunnel_event_path(&b, "s", TUNNEL_PATH_DIRECT, "/ip4/1.2.3.4/tcp/2"), P2P_OK);
	j = take_line(&b);
	assert_string_equal(str(j, "action"), "PATH");
	assert_string_equal(str(j, "session_id"), "s");
	assert_string_equal(str(j, "path"), "direct");
	assert_string_equal(str(j, "addr"), "/ip4/1.2.3.4/tcp/2");
	cJSON_Delete(j);
	assert_int_equal(tunnel_event_path(&b, "s", NULL, NULL), P2P_EINVAL);

	assert_int_equal(tunnel_event_disconnect(&b, "s", NULL), P2P_OK);
	j = take_line(&b);
	assert_string_equal(str(j, "action"), "DISCONNECT");
	assert_string_equal(str(j, "session_id"), "s");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "reason"));
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_list(&b, NULL, 0, false, NULL, 0), P2P_OK);
	static const char empty_list[] = "{\"action\":\"LIST\",\"sessions\":[]}\n";
	assert_int_equal(b.len, strlen(empty_list));
	assert_memory_equal(b.data, empty_list, b.len);
	p2p_buf_reset(&b);

	tunnel_session_info s[2] = {
	    {"peer-a", "/ip4/127.0.0.1/tcp/1", "direct", 3, UINT64_MAX, 42},
	    {"peer-b", NULL, NULL, 0, 0, 0},
	};
	assert_int_equal(tunnel_event_list(&b, s, 2, false, NULL, 0), P2P_OK);
	static const char short_list[] =
	    "{\"action\":\"LIST\",\"sessions\":[\"peer-a\",\"peer-b\"]}\n";
	assert_int_equal(b.len, strlen(short_list));
	assert_memory_equal(b.data, short_list, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_list(&b, s, 2, true, NULL, 0), P2P_OK);
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
	assert_string_equal(str(first, "path"), "direct");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(first, "streams")->valueint, 3);
	cJSON_Delete(j);

	/* Required strings. */
	assert_int_equal(tunnel_event_error(&b, NULL), P2P_EINVAL);
	assert_int_equal(tunnel_event_token(&b, "t", NULL, NULL, 0), P2P_EINVAL);
	assert_int_equal(tunnel_event_list(&b, NULL, 1, false, NULL, 0), P2P_EINVAL);
	assert_int_equal(tunnel_event_list(&b, NULL, 0, false, NULL, 1), P2P_EINVAL);

	/* Refusal counters, exact 64-bit. */
	tunnel_counter c[2] = {{"bad-secret", 3}, {"conns-ip", UINT64_MAX}};
	assert_int_equal(tunnel_event_list(&b, NULL, 0, false, c, 2), P2P_OK);
	assert_non_null(
	    strstr((const char *)b.data, "\"conns-ip\":18446744073709551615"));
	j = take_line(&b);
	const cJSON *refused = cJSON_GetObjectItemCaseSensitive(j, "refused");
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(refused, "bad-secret")->valueint, 3);
	cJSON_Delete(j);
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

static uint64_t num(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	assert_true(cJSON_IsNumber(item));
	return (uint64_t)item->valuedouble;
}

/* The relay service's events: RELAY, RESERVED, UNRESERVED, CIRCUIT (open
 * and closed), a refusal as ERROR, and its LIST. */
static void test_relay_events(void **state)
{
	p2p_buf b;
	p2p_buf_init(&b);

	const char *addrs[] = {"/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWR"};
	assert_int_equal(tunnel_event_relay(&b, "12D3KooWR", addrs, 1), P2P_OK);
	static const char relay_line[] =
	    "{\"action\":\"RELAY\",\"peer_id\":\"12D3KooWR\",\"addrs\":[\"/ip4/192.0.2.1/"
	    "tcp/4001/p2p/12D3KooWR\"]}\n";
	assert_int_equal(b.len, strlen(relay_line));
	assert_memory_equal(b.data, relay_line, b.len);
	p2p_buf_reset(&b);

	assert_int_equal(tunnel_event_reserved(&b, "peer-a", "/ip4/127.0.0.1/tcp/5",
	                                       1700000000, false),
	                 P2P_OK);
	static const char reserved_line[] =
	    "{\"action\":\"RESERVED\",\"peer_id\":\"peer-a\",\"addr\":\"/ip4/127.0.0.1/"
	    "tcp/5\",\"expire\":1700000000,\"refresh\":false}\n";
	assert_int_equal(b.len, strlen(reserved_line));
	assert_memory_equal(b.data, reserved_line, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_reserved(&b, "peer-a", NULL, 1, true), P2P_OK);
	cJSON *j = take_line(&b);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "addr"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "refresh")));
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_unreserved(&b, "peer-a", "expired"), P2P_OK);
	static const char unreserved_line[] =
	    "{\"action\":\"UNRESERVED\",\"peer_id\":\"peer-a\",\"reason\":\"expired\"}\n";
	assert_int_equal(b.len, strlen(unreserved_line));
	assert_memory_equal(b.data, unreserved_line, b.len);
	p2p_buf_reset(&b);

	tunnel_relay_circuit_info c = {"peer-b", "peer-a", UINT64_MAX - 7, 7};
	assert_int_equal(tunnel_event_circuit(&b, &c, NULL), P2P_OK);
	static const char open_line[] =
	    "{\"action\":\"CIRCUIT\",\"state\":\"open\",\"src\":"
	    "\"peer-b\",\"dst\":\"peer-a\"}\n";
	assert_int_equal(b.len, strlen(open_line));
	assert_memory_equal(b.data, open_line, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_circuit(&b, &c, "data limit"), P2P_OK);
	/* bytes is the sum, exact in 64 bits. */
	assert_non_null(strstr((const char *)b.data, "\"bytes\":18446744073709551615"));
	assert_non_null(
	    strstr((const char *)b.data, "\"bytes_to_dst\":18446744073709551608"));
	j = take_line(&b);
	assert_string_equal(str(j, "state"), "closed");
	assert_string_equal(str(j, "reason"), "data limit");
	assert_int_equal(num(j, "bytes_to_src"), 7);
	cJSON_Delete(j);

	assert_int_equal(tunnel_event_refused(&b, "refused RESERVE from peer-b", "peer-b",
	                                      "RESERVE", 202, NULL),
	                 P2P_OK);
	static const char refused_line[] =
	    "{\"action\":\"ERROR\",\"error\":\"refused RESERVE from peer-b\",\"peer_id\":"
	    "\"peer-b\",\"request\":\"RESERVE\",\"status\":202}\n";
	assert_int_equal(b.len, strlen(refused_line));
	assert_memory_equal(b.data, refused_line, b.len);
	p2p_buf_reset(&b);
	assert_int_equal(tunnel_event_refused(&b, "x", "peer-b", NULL, 0, "peer-a"),
	                 P2P_OK);
	j = take_line(&b);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "request")));
	assert_string_equal(str(j, "dst"), "peer-a");
	cJSON_Delete(j);

	tunnel_relay_stats_info st = {3, 2, 1, 1000};
	assert_int_equal(tunnel_event_relay_list(&b, NULL, 0, NULL, 0, &st), P2P_OK);
	static const char empty_list[] =
	    "{\"action\":\"LIST\",\"reservations\":[],\"circuits\":[],\"stats\":{"
	    "\"reservations\":3,\"circuits\":2,\"refused\":1,\"bytes\":1000}}\n";
	assert_int_equal(b.len, strlen(empty_list));
	assert_memory_equal(b.data, empty_list, b.len);
	p2p_buf_reset(&b);
	tunnel_relay_rsvp_info r[2] = {{"peer-a", "/ip4/127.0.0.1/tcp/5", 99},
	                               {"peer-c", NULL, 100}};
	tunnel_relay_circuit_info cs[1] = {{"peer-b", "peer-a", 10, 20}};
	assert_int_equal(tunnel_event_relay_list(&b, r, 2, cs, 1, &st), P2P_OK);
	j = take_line(&b);
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "reservations");
	assert_int_equal(cJSON_GetArraySize(rs), 2);
	assert_string_equal(str(cJSON_GetArrayItem(rs, 0), "addr"),
	                    "/ip4/127.0.0.1/tcp/5");
	assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rs, 1), "addr"));
	assert_int_equal(num(cJSON_GetArrayItem(rs, 1), "expire"), 100);
	const cJSON *c0 =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "circuits"), 0);
	assert_string_equal(str(c0, "src"), "peer-b");
	assert_int_equal(num(c0, "bytes"), 30);
	assert_int_equal(num(cJSON_GetObjectItemCaseSensitive(j, "stats"), "refused"), 1);
	cJSON_Delete(j);

	/* Required members. */
	assert_int_equal(tunnel_event_relay(&b, NULL, NULL, 0), P2P_EINVAL);
	assert_int_equal(tunnel_event_reserved(&b, NULL, NULL, 0, false), P2P_EINVAL);
	assert_int_equal(tunnel_event_unreserved(&b, "p", NULL), P2P_EINVAL);
	tunnel_relay_circuit_info bad = {"p", NULL, 0, 0};
	assert_int_equal(tunnel_event_circuit(&b, &bad, NULL), P2P_EINVAL);
	assert_int_equal(tunnel_event_refused(&b, NULL, "p", NULL, 0, NULL), P2P_EINVAL);
	assert_int_equal(tunnel_event_relay_list(&b, NULL, 0, NULL, 0, NULL), P2P_EINVAL);
	assert_int_equal(tunnel_event_relay_list(&b, NULL, 1, NULL, 0, &st), P2P_EINVAL);
	assert_int_equal(b.len, 0);
	p2p_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_commands),  cmocka_unit_test(test_bad_commands),
	    cmocka_unit_test(test_line_limit),     cmocka_unit_test(test_events),
	    cmocka_unit_test(test_event_escaping), cmocka_unit_test(test_relay_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
