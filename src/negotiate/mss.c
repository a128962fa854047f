/* multistream-select 1.0 as a sans-I/O state machine.
 *
 * Input is parsed in place from the caller's buffer; only a message cut
 * short by the end of a buffer is copied into `part`, which is bounded by
 * P2P_MSS_MAX_MESSAGE plus its length prefix. Parsing stops right after the
 * message that completes the negotiation, so the bytes that follow it (the
 * selected protocol's first bytes) stay with the caller. */
#include "p2p/mss.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/varint.h"

/* A length prefix for messages up to P2P_MSS_MAX_MESSAGE takes at most this
 * many bytes; a longer unfinished prefix already means "too big". */
#define MSS_MAX_PREFIX 2

enum mss_state {
	MSS_WAIT_HEADER,  /* expecting the peer's "/multistream/1.0.0" */
	MSS_WAIT_MESSAGE, /* initiator: answer to a proposal; responder: a proposal */
	MSS_DONE,
	MSS_FAILED,
};

struct p2p_mss {
	bool initiator;
	enum mss_state state;
	int err;          /* the final error once FAILED */
	char **protocols; /* owned copies */
	size_t n;
	size_t current;  /* initiator: index of the proposal in flight */
	size_t attempts; /* responder: proposals answered so far */
	const char *selected;
	p2p_buf out;
	uint8_t part[MSS_MAX_PREFIX + P2P_MSS_MAX_MESSAGE]; /* a partial message */
	size_t part_len;
};

/* Appends uvarint(len + 1) || msg || '\n'. */
static int append_message(p2p_buf *b, const char *msg, size_t len)
{
	int rc = p2p_buf_reserve(b, P2P_UVARINT_MAX_LEN + len + 1);
	if (rc != P2P_OK)
		return rc;
	p2p_buf_append_uvarint(b, len + 1);
	p2p_buf_append(b, msg, len);
	return p2p_buf_append_byte(b, '\n');
}

static int append_string(p2p_buf *b, const char *s)
{
	return append_message(b, s, strlen(s));
}

/* The "ls" answer (multistream-select README, "ls example in detail"): one
 * message whose body is every protocol as a message of its own, followed
 * by the outer message's newline. go-multistream and rust-libp2p agree. */
static int append_list(p2p_mss *m)
{
	p2p_buf body;
	p2p_buf_init(&body);
	int rc = P2P_OK;
	for (size_t i = 0; i < m->n && rc == P2P_OK; i++)
		rc = append_string(&body, m->protocols[i]);
	if (rc == P2P_OK)
		rc = append_message(&m->out, (const char *)body.data, body.len);
	p2p_buf_free(&body);
	return rc;
}

static bool valid_protocol(const char *p)
{
	size_t len = strlen(p);
	return len > 0 && len + 1 <= P2P_MSS_MAX_MESSAGE && memchr(p, '\n', len) == NULL;
}

int p2p_mss_new(p2p_mss **out, bool initiator, const char *const *protocols, size_t n)
{
	if (out == NULL || (n > 0 && protocols == NULL) || n > P2P_MSS_MAX_PROTOCOLS ||
	    (initiator && n == 0))
		return P2P_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (protocols[i] == NULL || !valid_protocol(protocols[i]))
			return P2P_EINVAL;

	p2p_mss *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return P2P_ENOMEM;
	m->initiator = initiator;
	m->state = MSS_WAIT_HEADER;
	p2p_buf_init(&m->out);
	if (n > 0) {
		m->protocols = calloc(n, sizeof(char *));
		if (m->protocols == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		m->protocols[i] = strdup(protocols[i]);
		if (m->protocols[i] == NULL)
			goto nomem;
		m->n++;
	}
	/* Both sides send the header at once; the initiator pipelines its first
	 * proposal with it to save a round trip (connections/README.md). */
	if (append_string(&m->out, P2P_MSS_PROTOCOL) != P2P_OK)
		goto nomem;
	if (initiator && append_string(&m->out, m->protocols[0]) != P2P_OK)
		goto nomem;
	*out = m;
	return P2P_OK;
nomem:
	p2p_mss_free(m);
	return P2P_ENOMEM;
}

void p2p_mss_free(p2p_mss *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; m->protocols != NULL && i < m->n; i++)
		free(m->protocols[i]);
	free(m->protocols);
	p2p_buf_free(&m->out);
	free(m);
}

static bool msg_is(const uint8_t *msg, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(msg, s, len) == 0;
}

static int on_initiator_message(p2p_mss *m, const uint8_t *msg, size_t len)
{
	const char *proposal = m->protocols[m->current];
	if (msg_is(msg, len, proposal)) {
		m->selected = proposal;
		m->state = MSS_DONE;
		return P2P_OK;
	}
	if (!msg_is(msg, len, "na"))
		return P2P_EPROTO;
	if (++m->current == m->n)
		return P2P_ENEGOTIATE;
	return append_string(&m->out, m->protocols[m->current]);
}

static int on_responder_message(p2p_mss *m, const uint8_t *msg, size_t len)
{
	if (++m->attempts > P2P_MSS_MAX_ATTEMPTS)
		return P2P_ENEGOTIATE;
	if (msg_is(msg, len, "ls"))
		return append_list(m);
	for (size_t i = 0; i < m->n; i++) {
		if (msg_is(msg, len, m->protocols[i])) {
			int rc = append_string(&m->out, m->protocols[i]);
			if (rc != P2P_OK)
				return rc;
			m->selected = m->protocols[i];
			m->state = MSS_DONE;
			return P2P_OK;
		}
	}
	return append_string(&m->out, "na");
}

/* One complete message; body includes the trailing newline. */
static int on_message(p2p_mss *m, const uint8_t *body, size_t len)
{
	if (len == 0 || body[len - 1] != '\n')
		return P2P_EPROTO;
	len--;
	if (m->state == MSS_WAIT_HEADER) {
		if (!msg_is(body, len, P2P_MSS_PROTOCOL))
			return P2P_EPROTO;
		m->state = MSS_WAIT_MESSAGE;
		return P2P_OK;
	}
	return m->initiator ? on_initiator_message(m, body, len)
	                    : on_responder_message(m, body, len);
}

/* Looks at the start of a message in in[0..len). Returns its total size
 * (prefix + body) and sets *prefix, or P2P_EAGAIN when the prefix itself
 * is unfinished, or an error. */
static int message_size(const uint8_t *in, size_t len, size_t *prefix)
{
	uint64_t body;
	int n = p2p_uvarint_decode(in, len, &body);
	if (n == P2P_EAGAIN)
		return len >= MSS_MAX_PREFIX ? P2P_ETOOBIG : P2P_EAGAIN;
	if (n < 0)
		return n;
	if (body > P2P_MSS_MAX_MESSAGE)
		return P2P_ETOOBIG;
	*prefix = (size_t)n;
	return n + (int)body;
}

/* Feeds bytes to the partial message; returns how many it took, or an
 * error. Finishing a message handles it. */
static int feed_partial(p2p_mss *m, const uint8_t *in, size_t len)
{
	size_t prefix = 0;
	int total = message_size(m->part, m->part_len, &prefix);
	size_t take;
	if (total == P2P_EAGAIN)
		take = 1; /* the prefix is at most two bytes: go byte by byte */
	else if (total < 0)
		return total;
	else
		take = (size_t)total - m->part_len;
	if (take > len)
		take = len;
	memcpy(m->part + m->part_len, in, take);
	m->part_len += take;

	total = message_size(m->part, m->part_len, &prefix);
	if (total == P2P_EAGAIN)
		return (int)take;
	if (total < 0)
		return total;
	if ((size_t)total == m->part_len) {
		m->part_len = 0;
		int rc = on_message(m, m->part + prefix, (size_t)total - prefix);
		if (rc != P2P_OK)
			return rc;
	}
	return (int)take;
}

static int fail(p2p_mss *m, int err)
{
	m->state = MSS_FAILED;
	m->err = err;
	return err;
}

int p2p_mss_recv(p2p_mss *m, const uint8_t *in, size_t len, size_t *consumed)
{
	size_t pos = 0;
	if (consumed != NULL)
		*consumed = 0;
	if (m == NULL || (in == NULL && len > 0))
		return P2P_EINVAL;
	if (m->state == MSS_FAILED)
		return m->err;
	if (m->state == MSS_DONE)
		return P2P_ECLOSED;

	int rc = P2P_OK;
	while (pos < len && m->state != MSS_DONE) {
		if (m->part_len > 0) {
			rc = feed_partial(m, in + pos, len - pos);
			if (rc < 0)
				break;
			pos += (size_t)rc;
			rc = P2P_OK;
			continue;
		}
		size_t prefix = 0;
		int total = message_size(in + pos, len - pos, &prefix);
		if (total >= 0 && (size_t)total <= len - pos) {
			rc = on_message(m, in + pos + prefix, (size_t)total - prefix);
			if (rc != P2P_OK)
				break;
			pos += (size_t)total;
		} else if (total >= 0 || total == P2P_EAGAIN) {
			/* The rest is one unfinished message, no longer than part. */
			memcpy(m->part, in + pos, len - pos);
			m->part_len = len - pos;
			pos = len;
		} else {
			rc = total;
			break;
		}
	}
	if (consumed != NULL)
		*consumed = pos;
	return rc == P2P_OK ? P2P_OK : fail(m, rc);
}

p2p_buf *p2p_mss_output(p2p_mss *m)
{
	return &m->out;
}

bool p2p_mss_done(const p2p_mss *m)
{
	return m->state == MSS_DONE;
}

const char *p2p_mss_selected(const p2p_mss *m)
{
	return m->state == MSS_DONE ? m->selected : NULL;
}
