#include "tunnel/gob.h"

#include <stdbool.h>
#include <string.h>

#include "p2p/error.h"

/* Type ids gob predefines for the built-in types (encoding/gob type.go);
 * user-defined types get ids from GOB_FIRST_USER_ID on. */
enum {
	GOB_BOOL = 1,
	GOB_INT = 2,
	GOB_UINT = 3,
	GOB_FLOAT = 4,
	GOB_BYTES = 5,
	GOB_STRING = 6,
	GOB_FIRST_USER_ID = 64,
	GOB_MAX_TYPE_ID = 0x7fffffff, /* Go's typeId is an int32 */
};

/* Field numbers of gob's wireType struct, the content of a definition. */
enum {
	WIRE_ARRAY = 0,
	WIRE_SLICE = 1,
	WIRE_STRUCT = 2,
	WIRE_MAP = 3,
	WIRE_GOB_ENCODER = 4,
	WIRE_BINARY_MARSHALER = 5,
	WIRE_TEXT_MARSHALER = 6,
};

#define GOB_MAX_UINT_BYTES 8

/* The sentences reach the user through tunnel_token_decode, who may have
 * pasted anything: say first that this is not a token. */
#define WHY(detail) "not a tunnel token (nor a valid original gob token: " detail ")"

typedef struct gob_field {
	const uint8_t *name; /* points into the input */
	size_t name_len;
	int64_t type;
} gob_field;

typedef struct gob_type {
	int64_t id;
	/* Otherwise a GobEncoder or BinaryMarshaler type, whose values travel
	 * as byte slices. */
	bool is_struct;
	size_t n_fields;
	gob_field fields[TUNNEL_GOB_MAX_FIELDS];
} gob_type;

typedef struct cursor {
	const uint8_t *p;
	size_t left;
} cursor;

typedef struct gob_decoder {
	gob_type types[TUNNEL_GOB_MAX_TYPES];
	size_t n_types;
	const char *why; /* the first error's sentence */
} gob_decoder;

static int fail(gob_decoder *d, int err, const char *why)
{
	if (d->why == NULL)
		d->why = why;
	return err;
}

/* A gob uint: one byte below 128, else the negated byte count and then
 * that many big-endian bytes. */
static int read_uint(gob_decoder *d, cursor *c, uint64_t *v)
{
	if (c->left == 0)
		return fail(d, P2P_EPROTO, WHY("gob data ends inside a number"));
	uint8_t first = c->p[0];
	if (first < 0x80) {
		*v = first;
		c->p++;
		c->left--;
		return P2P_OK;
	}
	size_t n = 256 - (size_t)first;
	if (n > GOB_MAX_UINT_BYTES)
		return fail(d, P2P_EPROTO, WHY("gob number is longer than 8 bytes"));
	if (n > c->left - 1)
		return fail(d, P2P_EPROTO, WHY("gob data ends inside a number"));
	uint64_t x = 0;
	for (size_t i = 1; i <= n; i++)
		x = (x << 8) | c->p[i];
	*v = x;
	c->p += n + 1;
	c->left -= n + 1;
	return P2P_OK;
}

/* A gob int: a uint whose bit 0 says the rest is complemented. */
static int read_int(gob_decoder *d, cursor *c, int64_t *v)
{
	uint64_t u = 0;
	int rc = read_uint(d, c, &u);
	if (rc != P2P_OK)
		return rc;
	if (u & 1)
		*v = ~(int64_t)(u >> 1);
	else
		*v = (int64_t)(u >> 1);
	return P2P_OK;
}

/* Strings, byte slices and GobEncoder values: a uint length and the bytes. */
static int read_bytes(gob_decoder *d, cursor *c, const uint8_t **p, size_t *len)
{
	uint64_t n;
	int rc = read_uint(d, c, &n);
	if (rc != P2P_OK)
		return rc;
	if (n > c->left)
		return fail(
		    d, P2P_EPROTO,
		    WHY("gob string or byte slice runs past the end of its message"));
	*p = c->p;
	*len = (size_t)n;
	c->p += n;
	c->left -= (size_t)n;
	return P2P_OK;
}

static int read_type_id(gob_decoder *d, cursor *c, int64_t *id)
{
	int rc = read_int(d, c, id);
	if (rc != P2P_OK)
		return rc;
	if (*id < -GOB_MAX_TYPE_ID || *id > GOB_MAX_TYPE_ID)
		return fail(d, P2P_EPROTO, WHY("gob type id is out of range"));
	return P2P_OK;
}

/* Reads the next field number delta of a struct. *field starts at -1; on
 * return it is the new field number, or *end is set at the struct's end. */
static int next_field(gob_decoder *d, cursor *c, int64_t *field, int64_t last_field,
                      bool *end)
{
	uint64_t delta;
	int rc = read_uint(d, c, &delta);
	if (rc != P2P_OK)
		return rc;
	*end = delta == 0;
	if (*end)
		return P2P_OK;
	if (delta > (uint64_t)(last_field - *field))
		return fail(d, P2P_EPROTO,
		            WHY("gob struct has a field number beyond its last field"));
	*field += (int64_t)delta;
	return P2P_OK;
}

/* commonType { Name string; Id typeId } and fieldType { Name string; Id
 * typeId } have the same shape. */
static int read_name_and_id(gob_decoder *d, cursor *c, const uint8_t **name,
                            size_t *name_len, int64_t *id)
{
	*name = NULL;
	*name_len = 0;
	*id = 0;
	int64_t field = -1;
	for (;;) {
		bool end;
		int rc = next_field(d, c, &field, 1, &end);
		if (rc != P2P_OK || end)
			return rc;
		if (field == 0)
			rc = read_bytes(d, c, name, name_len);
		else
			rc = read_type_id(d, c, id);
		if (rc != P2P_OK)
			return rc;
	}
}

/* structType { CommonType; Field []*fieldType } */
static int read_struct_type(gob_decoder *d, cursor *c, gob_type *t)
{
	int64_t field = -1;
	for (;;) {
		bool end;
		int rc = next_field(d, c, &field, 1, &end);
		if (rc != P2P_OK || end)
			return rc;
		const uint8_t *name;
		size_t name_len;
		int64_t id;
		if (field == 0) {
			rc = read_name_and_id(d, c, &name, &name_len, &id);
			if (rc != P2P_OK)
				return rc;
			continue;
		}
		uint64_t count;
		rc = read_uint(d, c, &count);
		if (rc != P2P_OK)
			return rc;
		if (count > TUNNEL_GOB_MAX_FIELDS)
			return fail(d, P2P_EUNSUPPORTED,
			            WHY("gob struct type has too many fields"));
		for (size_t i = 0; i < count; i++) {
			gob_field *f = &t->fields[i];
			rc = read_name_and_id(d, c, &f->name, &f->name_len, &f->type);
			if (rc != P2P_OK)
				return rc;
		}
		t->n_fields = (size_t)count;
	}
}

/* gobEncoderType { CommonType }, used for GobEncoder and BinaryMarshaler. */
static int read_encoder_type(gob_decoder *d, cursor *c)
{
	int64_t field = -1;
	for (;;) {
		bool end;
		int rc = next_field(d, c, &field, 0, &end);
		if (rc != P2P_OK || end)
			return rc;
		const uint8_t *name;
		size_t name_len;
		int64_t id;
		rc = read_name_and_id(d, c, &name, &name_len, &id);
		if (rc != P2P_OK)
			return rc;
	}
}

static gob_type *find_type(gob_decoder *d, int64_t id)
{
	for (size_t i = 0; i < d->n_types; i++)
		if (d->types[i].id == id)
			return &d->types[i];
	return NULL;
}

/* The content of a definition message: a wireType with exactly one field
 * set, which says what kind of type `id` is. */
static int read_definition(gob_decoder *d, cursor *c, int64_t id)
{
	if (id < GOB_FIRST_USER_ID)
		return fail(d, P2P_EPROTO, WHY("gob stream redefines a built-in type"));
	if (find_type(d, id) != NULL)
		return fail(d, P2P_EPROTO, WHY("gob stream defines the same type twice"));
	if (d->n_types == TUNNEL_GOB_MAX_TYPES)
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob stream defines too many types for a token"));
	gob_type *t = &d->types[d->n_types];
	memset(t, 0, sizeof(*t));
	t->id = id;

	int64_t field = -1;
	bool seen = false;
	for (;;) {
		bool end;
		int rc = next_field(d, c, &field, WIRE_TEXT_MARSHALER, &end);
		if (rc != P2P_OK)
			return rc;
		if (end)
			break;
		if (seen)
			return fail(
			    d, P2P_EPROTO,
			    WHY("gob type definition describes two kinds of type"));
		seen = true;
		switch (field) {
		case WIRE_STRUCT:
			t->is_struct = true;
			rc = read_struct_type(d, c, t);
			break;
		case WIRE_GOB_ENCODER:
		case WIRE_BINARY_MARSHALER:
			rc = read_encoder_type(d, c);
			break;
		default:
			return fail(d, P2P_EUNSUPPORTED,
			            WHY("gob stream uses an array, slice, map or text "
			                "type, which a "
			                "connection token does not have"));
		}
		if (rc != P2P_OK)
			return rc;
	}
	if (!seen)
		return fail(d, P2P_EPROTO, WHY("gob type definition is empty"));
	d->n_types++;
	return P2P_OK;
}

static bool name_is(const gob_field *f, const char *name)
{
	return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0;
}

/* Types whose values are a uint length and bytes. */
static bool is_byte_like(gob_decoder *d, int64_t type)
{
	if (type == GOB_BYTES || type == GOB_STRING)
		return true;
	const gob_type *t = find_type(d, type);
	return t != NULL && !t->is_struct;
}

/* Skips the value of a field the token does not need (gob lets a sender
 * add fields). Only scalars are skipped; anything else is refused. */
static int skip_value(gob_decoder *d, cursor *c, int64_t type)
{
	uint64_t u = 0;
	const uint8_t *p;
	size_t len;
	switch (type) {
	case GOB_BOOL:
	case GOB_INT:
	case GOB_UINT:
	case GOB_FLOAT:
		return read_uint(d, c, &u);
	default:
		if (is_byte_like(d, type))
			return read_bytes(d, c, &p, &len);
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob token has an extra field of an unsupported type"));
	}
}

static int read_value(gob_decoder *d, cursor *c, const gob_type *t,
                      tunnel_gob_conn_token *out)
{
	if (!t->is_struct)
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob value is not a struct, so not a connection token"));
	int64_t network_field = -1, id_field = -1;
	for (size_t i = 0; i < t->n_fields; i++) {
		if (name_is(&t->fields[i], "Network"))
			network_field = (int64_t)i;
		else if (name_is(&t->fields[i], "ID"))
			id_field = (int64_t)i;
	}
	if (network_field < 0 || id_field < 0)
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob struct has no Network and ID fields, so is not a "
		                "connection token"));
	if (t->fields[network_field].type != GOB_STRING)
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob token's Network field is not a string"));
	if (!is_byte_like(d, t->fields[id_field].type))
		return fail(d, P2P_EUNSUPPORTED,
		            WHY("gob token's ID field is not a peer ID"));

	memset(out, 0, sizeof(*out));
	int64_t field = -1;
	for (;;) {
		bool end;
		int rc = next_field(d, c, &field, (int64_t)t->n_fields - 1, &end);
		if (rc != P2P_OK)
			return rc;
		if (end)
			break;
		if (field == network_field)
			rc = read_bytes(d, c, &out->network, &out->network_len);
		else if (field == id_field)
			rc = read_bytes(d, c, &out->id, &out->id_len);
		else
			rc = skip_value(d, c, t->fields[field].type);
		if (rc != P2P_OK)
			return rc;
	}
	/* gob leaves out zero values, so an empty field is simply absent. */
	if (out->network == NULL)
		return fail(d, P2P_EPROTO, WHY("gob token has no network"));
	if (out->id == NULL)
		return fail(d, P2P_EPROTO, WHY("gob token has no peer ID"));
	return P2P_OK;
}

static int read_stream(gob_decoder *d, const uint8_t *in, size_t len,
                       tunnel_gob_conn_token *out)
{
	cursor c = {in, len};
	bool have_value = false;
	for (size_t n = 0; c.left > 0; n++) {
		if (have_value)
			return fail(d, P2P_EPROTO,
			            WHY("gob token has bytes after its value"));
		if (n == TUNNEL_GOB_MAX_MESSAGES)
			return fail(d, P2P_EUNSUPPORTED,
			            WHY("gob stream has too many messages for a token"));
		uint64_t msg_len;
		int rc = read_uint(d, &c, &msg_len);
		if (rc != P2P_OK)
			return rc;
		if (msg_len == 0)
			return fail(d, P2P_EPROTO,
			            WHY("gob stream has an empty message"));
		if (msg_len > c.left)
			return fail(d, P2P_EPROTO, WHY("gob stream is truncated"));
		cursor msg = {c.p, (size_t)msg_len};
		c.p += msg_len;
		c.left -= (size_t)msg_len;

		int64_t id;
		rc = read_type_id(d, &msg, &id);
		if (rc != P2P_OK)
			return rc;
		if (id < 0) {
			rc = read_definition(d, &msg, -id);
		} else if (id == 0) {
			rc = fail(d, P2P_EPROTO, WHY("gob message has type id 0"));
		} else {
			const gob_type *t = find_type(d, id);
			if (t == NULL)
				return fail(
				    d, P2P_EPROTO,
				    WHY("gob value has a type that was never defined"));
			rc = read_value(d, &msg, t, out);
			have_value = true;
		}
		if (rc != P2P_OK)
			return rc;
		if (msg.left != 0)
			return fail(d, P2P_EPROTO,
			            WHY("gob message has bytes after its content"));
	}
	if (!have_value)
		return fail(d, P2P_EPROTO, WHY("gob stream ends before the token value"));
	return P2P_OK;
}

int tunnel_gob_decode_conn_token(const uint8_t *in, size_t len,
                                 tunnel_gob_conn_token *out, const char **why)
{
	/* Holds TUNNEL_GOB_MAX_TYPES * TUNNEL_GOB_MAX_FIELDS fields: a few KiB,
	 * fine on the stack, and nothing to free on any path. */
	gob_decoder d;
	d.n_types = 0;
	d.why = NULL;
	int rc = read_stream(&d, in, len, out);
	if (why != NULL)
		*why = rc == P2P_OK ? NULL : d.why;
	return rc;
}
