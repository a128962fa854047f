#include "tunnel/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "p2p/error.h"

/* ---- commands ---- */

static int fail(const char **why, int err, const char *sentence)
{
	if (why != NULL)
		*why = sentence;
	return err;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_space(s[i]))
			return false;
	return true;
}

/* Session ids are peer IDs in text: printable ASCII, no spaces. */
static int copy_session_id(const cJSON *item, tunnel_cmd *out, const char **why)
{
	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return fail(why, P2P_EPROTO, "DISCONNECT needs a \"session_id\" string");
	const char *s = item->valuestring;
	size_t len = strlen(s);
	bool ok = len > 0 && len <= TUNNEL_SESSION_ID_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = s[i] > 0x20 && s[i] < 0x7f;
	if (!ok)
		return fail(why, P2P_EPROTO,
		            "the session_id must be 1 to 128 printable ASCII characters");
	memcpy(out->session_id, s, len + 1);
	return P2P_OK;
}

static int read_command(const cJSON *root, tunnel_cmd *out, const char **why)
{
	if (!cJSON_IsObject(root))
		return fail(why, P2P_EPROTO, "the command is not a JSON object");
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
	if (!cJSON_IsString(action) || action->valuestring == NULL)
		return fail(why, P2P_EPROTO, "the command has no \"action\" string");
	const char *name = action->valuestring;
	if (strcasecmp(name, "LIST") == 0) {
		out->action = TUNNEL_CMD_LIST;
		const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail");
		if (detail != NULL && !cJSON_IsBool(detail))
			return fail(why, P2P_EPROTO, "\"detail\" must be true or false");
		out->detail = cJSON_IsTrue(detail);
		return P2P_OK;
	}
	if (strcasecmp(name, "DISCONNECT") == 0) {
		out->action = TUNNEL_CMD_DISCONNECT;
		return copy_session_id(
		    cJSON_GetObjectItemCaseSensitive(root, "session_id"), out, why);
	}
	if (strcasecmp(name, "SHUTDOWN") == 0) {
		out->action = TUNNEL_CMD_SHUTDOWN;
		return P2P_OK;
	}
	return fail(why, P2P_EUNSUPPORTED,
	            "unknown action (the actions are LIST, DISCONNECT and SHUTDOWN)");
}

int tunnel_cmd_parse(const char *line, size_t len, tunnel_cmd *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (why != NULL)
		*why = NULL;
	if (len > TUNNEL_CMD_MAX_LINE)
		return fail(why, P2P_ETOOBIG, "the command line is longer than 64 KiB");
	if (all_space(line, len))
		return P2P_EAGAIN;
	/* cJSON is given a NUL-terminated copy: it then cannot read past the
	 * line even if it looked beyond the length it was told. */
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return fail(why, P2P_ENOMEM, "out of memory");
	memcpy(copy, line, len);
	copy[len] = '\0';
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	int rc;
	if (root == NULL)
		rc = fail(why, P2P_EPROTO, "the command is not valid JSON");
	else if (end == NULL || end < copy || end > copy + len ||
	         !all_space(end, (size_t)(copy + len - end)))
		rc = fail(why, P2P_EPROTO,
		          "the command line has more after the JSON object");
	else
		rc = read_command(root, out, why);
	free(copy);
	cJSON_Delete(root);
	if (rc != P2P_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- events ---- */

/* Length of the well-formed UTF-8 sequence at s (NUL-terminated), or 0.
 * Overlong forms, surrogates and code points past U+10FFFF are not
 * well-formed. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp, min;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	/* A NUL ends the string and is no continuation byte: no over-read. */
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string of value with bad UTF-8 replaced, since cJSON copies
 * bytes as they are and a consumer's JSON parser may reject the line. */
static cJSON *new_string(const char *value)
{
	size_t len = strlen(value);
	/* Each bad byte becomes the 3 bytes of U+FFFD. */
	char *clean = malloc(3 * len + 1);
	if (clean == NULL)
		return NULL;
	const unsigned char *s = (const unsigned char *)value;
	size_t o = 0;
	while (*s != 0) {
		size_t n = utf8_sequence(s);
		if (n == 0) {
			memcpy(clean + o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
		} else {
			memcpy(clean + o, s, n);
			o += n;
			s += n;
		}
	}
	clean[o] = '\0';
	cJSON *str = cJSON_CreateString(clean);
	free(clean);
	return str;
}

static bool add_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *str = new_string(value);
	if (str == NULL)
		return false;
	if (!cJSON_AddItemToObject(obj, key, str)) {
		cJSON_Delete(str);
		return false;
	}
	return true;
}

/* Exact for every uint64_t, unlike cJSON's doubles. */
static bool add_uint(cJSON *obj, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, key, num) != NULL;
}

static cJSON *new_event(const char *action)
{
	cJSON *obj = cJSON_CreateObject();
	if (obj != NULL && !add_string(obj, "action", action)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

/* Prints the event as one line into out, and deletes it. A NULL event, or
 * ok false, means building it failed. */
static int emit(cJSON *event, bool ok, p2p_buf *out)
{
	char *text = ok && event != NULL ? cJSON_PrintUnformatted(event) : NULL;
	cJSON_Delete(event);
	if (text == NULL)
		return P2P_ENOMEM;
	size_t start = out->len;
	size_t len = strlen(text);
	int rc = p2p_buf_reserve(out, len + 1);
	if (rc == P2P_OK)
		rc = p2p_buf_append(out, text, len);
	if (rc == P2P_OK)
		rc = p2p_buf_append_byte(out, '\n');
	if (rc != P2P_OK)
		out->len = start;
	free(text);
	return rc;
}

int tunnel_event_token(p2p_buf *out, const char *token, const char *peer_id,
                       const char *const *addrs, size_t n_addrs)
{
	if (token == NULL || peer_id == NULL || (addrs == NULL && n_addrs > 0))
		return P2P_EINVAL;
	for (size_t i = 0; i < n_addrs; i++)
		if (addrs[i] == NULL)
			return P2P_EINVAL;
	cJSON *ev = new_event("TOKEN");
	bool ok = ev != NULL && add_string(ev, "token", token) &&
	          add_string(ev, "peer_id", peer_id);
	cJSON *list = ok ? cJSON_AddArrayToObject(ev, "addrs") : NULL;
	ok = ok && list != NULL;
	for (size_t i = 0; ok && i < n_addrs; i++) {
		cJSON *str = new_string(addrs[i]);
		ok = str != NULL && cJSON_AddItemToArray(list, str);
		if (!ok)
			cJSON_Delete(str);
	}
	return emit(ev, ok, out);
}

int tunnel_event_connected(p2p_buf *out, const char *session_id, const char *addr,
                           unsigned port, const char *path)
{
	if (session_id == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("CONNECTED");
	bool ok = ev != NULL && add_string(ev, "session_id", session_id);
	if (ok && addr != NULL)
		ok = add_string(ev, "addr", addr);
	if (ok && port != 0)
		ok = add_uint(ev, "port", port);
	if (ok && path != NULL)
		ok = add_string(ev, "path", path);
	return emit(ev, ok, out);
}

int tunnel_event_listening(p2p_buf *out, const char *session_id, unsigned port)
{
	if (session_id == NULL || port == 0)
		return P2P_EINVAL;
	cJSON *ev = new_event("LISTENING");
	bool ok = ev != NULL && add_string(ev, "session_id", session_id) &&
	          add_uint(ev, "port", port);
	return emit(ev, ok, out);
}

int tunnel_event_path(p2p_buf *out, const char *session_id, const char *path,
                      const char *addr)
{
	if (session_id == NULL || path == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("PATH");
	bool ok = ev != NULL && add_string(ev, "session_id", session_id) &&
	          add_string(ev, "path", path);
	if (ok && addr != NULL)
		ok = add_string(ev, "addr", addr);
	return emit(ev, ok, out);
}

int tunnel_event_reachability(p2p_buf *out, const char *reachability, const char *addr)
{
	if (reachability == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("REACHABILITY");
	bool ok = ev != NULL && add_string(ev, "reachability", reachability);
	if (ok && addr != NULL)
		ok = add_string(ev, "addr", addr);
	return emit(ev, ok, out);
}

int tunnel_event_disconnect(p2p_buf *out, const char *session_id, const char *reason)
{
	if (session_id == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("DISCONNECT");
	bool ok = ev != NULL && add_string(ev, "session_id", session_id);
	if (ok && reason != NULL)
		ok = add_string(ev, "reason", reason);
	return emit(ev, ok, out);
}

int tunnel_event_list(p2p_buf *out, const tunnel_session_info *sessions, size_t n,
                      bool detail, const tunnel_counter *refused, size_t n_refused)
{
	if ((sessions == NULL && n > 0) || (refused == NULL && n_refused > 0))
		return P2P_EINVAL;
	for (size_t i = 0; i < n_refused; i++)
		if (refused[i].name == NULL)
			return P2P_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (sessions[i].session_id == NULL)
			return P2P_EINVAL;
	/* "sessions" is the list of peer IDs, as the original mtunnel's; the
	 * per-session detail goes in a parallel "details" array. */
	cJSON *ev = new_event("LIST");
	cJSON *list = ev != NULL ? cJSON_AddArrayToObject(ev, "sessions") : NULL;
	bool ok = list != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *id = cJSON_CreateString(sessions[i].session_id);
		ok = id != NULL && cJSON_AddItemToArray(list, id);
		if (!ok)
			cJSON_Delete(id);
	}
	cJSON *details = ok && detail ? cJSON_AddArrayToObject(ev, "details") : NULL;
	ok = ok && (!detail || details != NULL);
	for (size_t i = 0; ok && detail && i < n; i++) {
		const tunnel_session_info *s = &sessions[i];
		cJSON *item = cJSON_CreateObject();
		ok = item != NULL && cJSON_AddItemToArray(details, item);
		if (!ok) {
			cJSON_Delete(item);
			break;
		}
		ok = add_string(item, "session_id", s->session_id);
		if (ok && s->addr != NULL)
			ok = add_string(item, "addr", s->addr);
		if (ok && s->path != NULL)
			ok = add_string(item, "path", s->path);
		if (ok)
			ok = add_uint(item, "streams", s->streams) &&
			     add_uint(item, "bytes_in", s->bytes_in) &&
			     add_uint(item, "bytes_out", s->bytes_out);
	}
	cJSON *counts = ok && n_refused ? cJSON_AddObjectToObject(ev, "refused") : NULL;
	ok = ok && (n_refused == 0 || counts != NULL);
	for (size_t i = 0; ok && i < n_refused; i++)
		ok = add_uint(counts, refused[i].name, refused[i].value);
	return emit(ev, ok, out);
}

int tunnel_event_error(p2p_buf *out, const char *error)
{
	if (error == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("ERROR");
	bool ok = ev != NULL && add_string(ev, "error", error);
	return emit(ev, ok, out);
}

/* ---- the relay service ---- */

static bool add_string_array(cJSON *obj, const char *key, const char *const *v, size_t n)
{
	cJSON *list = cJSON_AddArrayToObject(obj, key);
	bool ok = list != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *str = new_string(v[i]);
		ok = str != NULL && cJSON_AddItemToArray(list, str);
		if (!ok)
			cJSON_Delete(str);
	}
	return ok;
}

static bool add_circuit(cJSON *obj, const tunnel_relay_circuit_info *c)
{
	return add_string(obj, "src", c->src) && add_string(obj, "dst", c->dst) &&
	       add_uint(obj, "bytes", c->bytes_to_dst + c->bytes_to_src) &&
	       add_uint(obj, "bytes_to_dst", c->bytes_to_dst) &&
	       add_uint(obj, "bytes_to_src", c->bytes_to_src);
}

int tunnel_event_relay(p2p_buf *out, const char *peer_id, const char *const *addrs,
                       size_t n_addrs)
{
	if (peer_id == NULL || (addrs == NULL && n_addrs > 0))
		return P2P_EINVAL;
	for (size_t i = 0; i < n_addrs; i++)
		if (addrs[i] == NULL)
			return P2P_EINVAL;
	cJSON *ev = new_event("RELAY");
	bool ok = ev != NULL && add_string(ev, "peer_id", peer_id) &&
	          add_string_array(ev, "addrs", addrs, n_addrs);
	return emit(ev, ok, out);
}

int tunnel_event_reserved(p2p_buf *out, const char *peer_id, const char *addr,
                          uint64_t expire, bool refresh)
{
	if (peer_id == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("RESERVED");
	bool ok = ev != NULL && add_string(ev, "peer_id", peer_id);
	if (ok && addr != NULL)
		ok = add_string(ev, "addr", addr);
	ok = ok && add_uint(ev, "expire", expire) &&
	     cJSON_AddBoolToObject(ev, "refresh", refresh) != NULL;
	return emit(ev, ok, out);
}

int tunnel_event_unreserved(p2p_buf *out, const char *peer_id, const char *reason)
{
	if (peer_id == NULL || reason == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("UNRESERVED");
	bool ok = ev != NULL && add_string(ev, "peer_id", peer_id) &&
	          add_string(ev, "reason", reason);
	return emit(ev, ok, out);
}

int tunnel_event_circuit(p2p_buf *out, const tunnel_relay_circuit_info *c,
                         const char *reason)
{
	if (c == NULL || c->src == NULL || c->dst == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("CIRCUIT");
	bool ok = ev != NULL && add_string(ev, "state", reason ? "closed" : "open");
	if (ok && reason == NULL)
		ok = add_string(ev, "src", c->src) && add_string(ev, "dst", c->dst);
	else if (ok)
		ok = add_circuit(ev, c) && add_string(ev, "reason", reason);
	return emit(ev, ok, out);
}

int tunnel_event_refused(p2p_buf *out, const char *error, const char *peer_id,
                         const char *request, unsigned status, const char *dst)
{
	if (error == NULL || peer_id == NULL)
		return P2P_EINVAL;
	cJSON *ev = new_event("ERROR");
	bool ok = ev != NULL && add_string(ev, "error", error) &&
	          add_string(ev, "peer_id", peer_id);
	if (ok)
		ok = request ? add_string(ev, "request", request)
		             : cJSON_AddNullToObject(ev, "request") != NULL;
	ok = ok && add_uint(ev, "status", status);
	if (ok && dst != NULL)
		ok = add_string(ev, "dst", dst);
	return emit(ev, ok, out);
}

int tunnel_event_relay_list(p2p_buf *out, const tunnel_relay_rsvp_info *rsvps,
                            size_t n_rsvps, const tunnel_relay_circuit_info *circuits,
                            size_t n_circuits, const tunnel_relay_stats_info *stats)
{
	if ((rsvps == NULL && n_rsvps > 0) || (circuits == NULL && n_circuits > 0) ||
	    stats == NULL)
		return P2P_EINVAL;
	for (size_t i = 0; i < n_rsvps; i++)
		if (rsvps[i].peer_id == NULL)
			return P2P_EINVAL;
	for (size_t i = 0; i < n_circuits; i++)
		if (circuits[i].src == NULL || circuits[i].dst == NULL)
			return P2P_EINVAL;
	cJSON *ev = new_event("LIST");
	cJSON *list = ev != NULL ? cJSON_AddArrayToObject(ev, "reservations") : NULL;
	bool ok = list != NULL;
	for (size_t i = 0; ok && i < n_rsvps; i++) {
		cJSON *item = cJSON_CreateObject();
		ok = item != NULL && cJSON_AddItemToArray(list, item);
		if (!ok) {
			cJSON_Delete(item);
			break;
		}
		ok = add_string(item, "peer_id", rsvps[i].peer_id);
		if (ok && rsvps[i].addr != NULL)
			ok = add_string(item, "addr", rsvps[i].addr);
		ok = ok && add_uint(item, "expire", rsvps[i].expire);
	}
	list = ok ? cJSON_AddArrayToObject(ev, "circuits") : NULL;
	ok = ok && list != NULL;
	for (size_t i = 0; ok && i < n_circuits; i++) {
		cJSON *item = cJSON_CreateObject();
		ok = item != NULL && cJSON_AddItemToArray(list, item);
		if (!ok) {
			cJSON_Delete(item);
			break;
		}
		ok = add_circuit(item, &circuits[i]);
	}
	cJSON *st = ok ? cJSON_AddObjectToObject(ev, "stats") : NULL;
	ok = ok && st != NULL && add_uint(st, "reservations", stats->reservations) &&
	     add_uint(st, "circuits", stats->circuits) &&
	     add_uint(st, "refused", stats->refused) &&
	     add_uint(st, "bytes", stats->bytes);
	return emit(ev, ok, out);
}
