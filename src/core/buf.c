#include "p2p/buf.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "p2p/varint.h"

void p2p_buf_init(p2p_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void p2p_buf_free(p2p_buf *b)
{
	free(b->data);
	p2p_buf_init(b);
}

int p2p_buf_reserve(p2p_buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return P2P_ENOMEM;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return P2P_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return P2P_ENOMEM;
	b->data = p;
	b->cap = cap;
	return P2P_OK;
}

int p2p_buf_append(p2p_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return P2P_OK;
	int rc = p2p_buf_reserve(b, len);
	if (rc != P2P_OK)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return P2P_OK;
}

int p2p_buf_append_byte(p2p_buf *b, uint8_t byte)
{
	return p2p_buf_append(b, &byte, 1);
}

int p2p_buf_append_uvarint(p2p_buf *b, uint64_t v)
{
	uint8_t tmp[P2P_UVARINT_MAX_LEN];
	size_t n = p2p_uvarint_encode(v, tmp);
	return p2p_buf_append(b, tmp, n);
}

void p2p_buf_consume(p2p_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void p2p_buf_reset(p2p_buf *b)
{
	b->len = 0;
}

void p2p_buf_move(p2p_buf *out, p2p_buf *b)
{
	*out = *b;
	p2p_buf_init(b);
}
