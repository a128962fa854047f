/* Lines typed on stdin. The parser must never crash, must give a sentence
 * for every bad line, and what it accepts must be well formed. The same
 * bytes, as the text of an ERROR event, must come out as exactly one line
 * of valid JSON that gives back a string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p2p/error.h"
#include "tunnel/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tunnel_cmd cmd;
	const char *why = NULL;
	int rc = tunnel_cmd_parse((const char *)data, size, &cmd, &why);
	if (rc == P2P_OK) {
		if (cmd.action < TUNNEL_CMD_LIST || cmd.action > TUNNEL_CMD_SHUTDOWN)
			abort();
		size_t n = strnlen(cmd.session_id, sizeof(cmd.session_id));
		if (n == sizeof(cmd.session_id) ||
		    (cmd.action == TUNNEL_CMD_DISCONNECT && n == 0))
			abort();
	} else if (rc != P2P_EAGAIN && why == NULL) {
		abort();
	}

	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	p2p_buf line;
	p2p_buf_init(&line);
	if (tunnel_event_error(&line, text) != P2P_OK)
		abort();
	if (line.len < 2 || line.data[line.len - 1] != '\n' ||
	    memchr(line.data, '\n', line.len - 1) != NULL)
		abort();
	cJSON *j = cJSON_ParseWithLength((const char *)line.data, line.len);
	if (j == NULL || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")))
		abort();
	cJSON_Delete(j);
	p2p_buf_free(&line);
	free(text);
	return 0;
}
