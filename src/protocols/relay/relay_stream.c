/* Relay messages on streams (relay_stream.h). */
#include "protocols/relay/relay_stream.h"

#include <time.h>

#include "p2p/error.h"

const p2p_stream_callbacks relay_no_callbacks = {0};

int relay_read_msg(p2p_lpmsg_reader *rd, p2p_relay_kind kind, const uint8_t *data,
                   size_t len, size_t *used, p2p_relay_msg *m)
{
	const uint8_t *body;
	size_t body_len;
	int rc = p2p_lpmsg_read(rd, data, len, used, &body, &body_len);
	if (rc == P2P_EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	p2p_relay_msg_init(m);
	rc = p2p_relay_msg_decode(m, kind, body, body_len);
	if (rc < 0) {
		p2p_relay_msg_free(m);
		return rc;
	}
	return 1;
}

int relay_send_msg(p2p_stream *s, const p2p_relay_msg *m, p2p_relay_kind kind)
{
	p2p_buf out;
	p2p_buf_init(&out);
	int rc = p2p_relay_msg_encode(m, kind, &out);
	if (rc == P2P_OK)
		rc = p2p_stream_write(s, out.data, out.len);
	p2p_buf_free(&out);
	return rc < 0 ? rc : P2P_OK;
}

bool relay_msg_limited(const p2p_relay_msg *m)
{
	return m->has_limit &&
	       ((m->has_duration && m->duration) || (m->has_data && m->data));
}

int relay_stream_to_pipe(p2p_stream *s, const p2p_relay_msg *m, const uint8_t *rest,
                         size_t rest_len, p2p_pipe **out)
{
	p2p_pipe *pipe = NULL;
	int rc = p2p_stream_unread(s, rest, rest_len);
	if (rc == P2P_OK)
		rc = p2p_stream_pipe_new(s, &pipe);
	if (rc != P2P_OK || pipe == NULL)
		return rc < 0 ? rc : P2P_ENOMEM;
	pipe->limited = relay_msg_limited(m);
	*out = pipe;
	return P2P_OK;
}

uint64_t relay_unix_now(void)
{
	return (uint64_t)time(NULL);
}
