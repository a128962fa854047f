#include "p2p/ping.h"

#include <string.h>

#include <openssl/rand.h>

#include "p2p/error.h"

void p2p_ping_client_init(p2p_ping_client *c)
{
	memset(c, 0, sizeof(*c));
}

int p2p_ping_client_send(p2p_ping_client *c, p2p_buf *out)
{
	if (c->waiting)
		return P2P_ESTATE;
	if (RAND_bytes(c->sent, P2P_PING_SIZE) != 1)
		return P2P_ECRYPTO;
	int rc = p2p_buf_append(out, c->sent, P2P_PING_SIZE);
	if (rc != P2P_OK)
		return rc;
	c->got_len = 0;
	c->waiting = true;
	return P2P_OK;
}

int p2p_ping_client_recv(p2p_ping_client *c, const uint8_t *in, size_t len,
                         size_t *consumed)
{
	*consumed = 0;
	if (!c->waiting)
		return len == 0 ? 0 : P2P_ESTATE;
	size_t take = P2P_PING_SIZE - c->got_len;
	if (take > len)
		take = len;
	memcpy(c->got + c->got_len, in, take);
	c->got_len += take;
	*consumed = take;
	if (c->got_len < P2P_PING_SIZE)
		return 0;
	c->waiting = false;
	if (memcmp(c->got, c->sent, P2P_PING_SIZE) != 0)
		return P2P_EPROTO;
	return 1;
}

void p2p_ping_server_init(p2p_ping_server *s)
{
	memset(s, 0, sizeof(*s));
}

int p2p_ping_server_recv(p2p_ping_server *s, const uint8_t *in, size_t len, p2p_buf *out)
{
	while (len > 0) {
		size_t take = P2P_PING_SIZE - s->got_len;
		if (take > len)
			take = len;
		memcpy(s->got + s->got_len, in, take);
		s->got_len += take;
		in += take;
		len -= take;
		if (s->got_len == P2P_PING_SIZE) {
			int rc = p2p_buf_append(out, s->got, P2P_PING_SIZE);
			if (rc != P2P_OK)
				return rc;
			s->got_len = 0;
		}
	}
	return P2P_OK;
}

int p2p_ping_server_finish(const p2p_ping_server *s)
{
	return s->got_len == 0 ? P2P_OK : P2P_EPROTO;
}
