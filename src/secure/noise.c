/* The libp2p Noise secure channel (specs: noise/README.md) on top of the
 * Noise XX core in noise_hs.c: framing, the signed handshake payload and
 * the transport phase. */
#include "p2p/noise.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/error.h"
#include "proto/noise.pb-c.h"
#include "secure/noise_cipher.h"
#include "secure/noise_hs.h"

#define FRAME_HEADER_LEN 2
#define SIG_PREFIX       "noise-libp2p-static-key:"
#define SIG_PREFIX_LEN   (sizeof(SIG_PREFIX) - 1)

struct p2p_noise {
	bool initiator;
	const p2p_privkey *identity; /* borrowed */
	bool has_expected;
	p2p_peerid expected;

	p2p_noise_hs hs;       /* closed (wiped) once the handshake is done */
	bool done;             /* handshake finished: send/recv are keyed */
	int error;             /* the first fatal error, returned ever after */
	p2p_noise_cipher send; /* to the peer */
	p2p_noise_cipher recv; /* from the peer */

	p2p_buf out;     /* framed bytes for the peer, drained by the caller */
	p2p_buf partial; /* one incomplete frame with its header, < 2 + 65535 bytes */

	p2p_pubkey *remote_key;
	p2p_peerid remote_peer;
};

static size_t read_be16(const uint8_t *p)
{
	return ((size_t)p[0] << 8) | p[1];
}

/* --- the libp2p handshake payload --- */

/* Appends our NoiseHandshakePayload: our identity key and its signature
 * over SIG_PREFIX || our Noise static key. We send no extensions. */
static int make_payload(p2p_noise *n, p2p_buf *payload)
{
	p2p_buf key;
	p2p_buf_init(&key);
	int rc = p2p_pubkey_encode(p2p_privkey_public(n->identity), &key);
	if (rc != P2P_OK)
		goto out;
	uint8_t to_sign[SIG_PREFIX_LEN + P2P_NOISE_DH_LEN];
	memcpy(to_sign, SIG_PREFIX, SIG_PREFIX_LEN);
	memcpy(to_sign + SIG_PREFIX_LEN, p2p_noise_hs_local_static(&n->hs),
	       P2P_NOISE_DH_LEN);
	uint8_t sig[P2P_ED25519_SIGNATURE_LEN];
	rc = p2p_privkey_sign(n->identity, to_sign, sizeof(to_sign), sig);
	if (rc != P2P_OK)
		goto out;

	Noise__Pb__NoiseHandshakePayload msg = NOISE__PB__NOISE_HANDSHAKE_PAYLOAD__INIT;
	msg.has_identity_key = 1;
	msg.identity_key.data = key.data;
	msg.identity_key.len = key.len;
	msg.has_identity_sig = 1;
	msg.identity_sig.data = sig;
	msg.identity_sig.len = sizeof(sig);
	size_t size = noise__pb__noise_handshake_payload__get_packed_size(&msg);
	rc = p2p_buf_reserve(payload, size);
	if (rc != P2P_OK)
		goto out;
	payload->len +=
	    noise__pb__noise_handshake_payload__pack(&msg, payload->data + payload->len);
out:
	p2p_buf_free(&key);
	return rc;
}

/* Authenticates the peer's payload against the static key it sent in this
 * handshake, and learns who the peer is. */
static int check_payload(p2p_noise *n, const uint8_t *payload, size_t len)
{
	const uint8_t *rs = p2p_noise_hs_remote_static(&n->hs);
	if (rs == NULL)
		return P2P_ESTATE;
	/* protobuf-c skips unknown fields and parses the extensions, which we
	 * have no use for yet; the input is bounded by P2P_NOISE_MAX_PAYLOAD. */
	Noise__Pb__NoiseHandshakePayload *msg =
	    noise__pb__noise_handshake_payload__unpack(NULL, len, payload);
	if (msg == NULL)
		return P2P_EPROTO;
	int rc = P2P_EPROTO;
	p2p_pubkey *key = NULL;
	if (!msg->has_identity_key || !msg->has_identity_sig ||
	    msg->identity_key.len > P2P_PUBKEY_MAX_ENCODED ||
	    msg->identity_sig.len > P2P_SIGNATURE_MAX)
		goto out;
	rc = p2p_pubkey_decode(&key, msg->identity_key.data, msg->identity_key.len);
	if (rc != P2P_OK)
		goto out;
	uint8_t signed_msg[SIG_PREFIX_LEN + P2P_NOISE_DH_LEN];
	memcpy(signed_msg, SIG_PREFIX, SIG_PREFIX_LEN);
	memcpy(signed_msg + SIG_PREFIX_LEN, rs, P2P_NOISE_DH_LEN);
	rc = p2p_pubkey_verify(key, signed_msg, sizeof(signed_msg),
	                       msg->identity_sig.data, msg->identity_sig.len);
	if (rc != P2P_OK) {
		rc = P2P_ECRYPTO;
		goto out;
	}
	rc = p2p_peerid_from_pubkey(&n->remote_peer, key);
	if (rc != P2P_OK)
		goto out;
	if (n->has_expected && !p2p_peerid_equal(&n->expected, &n->remote_peer)) {
		rc = P2P_EPEERID;
		goto out;
	}
	n->remote_key = key;
	key = NULL;
out:
	p2p_pubkey_free(key);
	noise__pb__noise_handshake_payload__free_unpacked(msg, NULL);
	return rc;
}

/* --- handshake --- */

/* Appends the next handshake message, framed, to the output. */
static int write_handshake(p2p_noise *n, const uint8_t *payload, size_t len)
{
	size_t start = n->out.len;
	static const uint8_t no_length_yet[FRAME_HEADER_LEN] = {0, 0};
	int rc = p2p_buf_append(&n->out, no_length_yet, sizeof(no_length_yet));
	if (rc == P2P_OK)
		rc = p2p_noise_hs_write(&n->hs, payload, len, &n->out);
	size_t msg_len = n->out.len - start - FRAME_HEADER_LEN;
	if (rc == P2P_OK && msg_len > P2P_NOISE_MAX_FRAME)
		rc = P2P_ETOOBIG;
	if (rc != P2P_OK) {
		n->out.len = start;
		return rc;
	}
	n->out.data[start] = (uint8_t)(msg_len >> 8);
	n->out.data[start + 1] = (uint8_t)msg_len;
	return P2P_OK;
}

static int write_handshake_with_payload(p2p_noise *n)
{
	p2p_buf payload;
	p2p_buf_init(&payload);
	int rc = make_payload(n, &payload);
	if (rc == P2P_OK)
		rc = write_handshake(n, payload.data, payload.len);
	p2p_buf_free(&payload);
	return rc;
}

static int finish_handshake(p2p_noise *n)
{
	/* Split(): c1 carries initiator-to-responder traffic, c2 the reverse. */
	int rc = n->initiator ? p2p_noise_hs_split(&n->hs, &n->send, &n->recv)
	                      : p2p_noise_hs_split(&n->hs, &n->recv, &n->send);
	if (rc != P2P_OK)
		return rc;
	p2p_noise_hs_close(&n->hs);
	n->done = true;
	return P2P_OK;
}

static int handle_handshake_message(p2p_noise *n, const uint8_t *msg, size_t len)
{
	bool first = !n->initiator && n->hs.step == 0;
	uint8_t payload[P2P_NOISE_MAX_PAYLOAD];
	size_t payload_len = 0;
	int rc =
	    p2p_noise_hs_read(&n->hs, msg, len, payload, sizeof(payload), &payload_len);
	if (rc != P2P_OK)
		return rc;
	if (first) /* -> e: its cleartext payload is empty in libp2p; ignored */
		return write_handshake_with_payload(n);
	rc = check_payload(n, payload, payload_len);
	if (rc == P2P_OK && n->initiator) /* <- e, ee, s, es: answer -> s, se */
		rc = write_handshake_with_payload(n);
	if (rc == P2P_OK)
		rc = finish_handshake(n);
	return rc;
}

/* --- transport --- */

static int handle_frame(p2p_noise *n, const uint8_t *frame, size_t len,
                        p2p_buf *plain_out)
{
	if (!n->done)
		return handle_handshake_message(n, frame, len);
	if (len < P2P_NOISE_TAG_LEN) /* not even a tag: never a valid message */
		return P2P_EPROTO;
	if (plain_out == NULL)
		return P2P_EINVAL;
	size_t plain_len = len - P2P_NOISE_TAG_LEN;
	int rc = p2p_buf_reserve(plain_out, plain_len);
	if (rc != P2P_OK)
		return rc;
	/* Decrypts in place at the end of plain_out; the bytes only become part
	 * of it once the tag checked out. */
	uint8_t *dst = plain_len > 0 ? plain_out->data + plain_out->len : NULL;
	rc = p2p_noise_cipher_decrypt(&n->recv, NULL, 0, frame, len, dst);
	if (rc != P2P_OK)
		return rc;
	plain_out->len += plain_len;
	return P2P_OK;
}

static int recv_frames(p2p_noise *n, const uint8_t *in, size_t len, p2p_buf *plain_out)
{
	while (len > 0) {
		/* Whole frames straight from the input, without copying. */
		if (n->partial.len == 0 && len >= FRAME_HEADER_LEN) {
			size_t frame_len = read_be16(in);
			if (len >= FRAME_HEADER_LEN + frame_len) {
				int rc = handle_frame(n, in + FRAME_HEADER_LEN, frame_len,
				                      plain_out);
				if (rc != P2P_OK)
					return rc;
				in += FRAME_HEADER_LEN + frame_len;
				len -= FRAME_HEADER_LEN + frame_len;
				continue;
			}
		}
		/* Otherwise keep bytes up to the end of the current frame only, so
		 * partial never holds more than one frame. */
		size_t target = FRAME_HEADER_LEN;
		if (n->partial.len >= FRAME_HEADER_LEN)
			target += read_be16(n->partial.data);
		size_t take = target - n->partial.len;
		if (take > len)
			take = len;
		int rc = p2p_buf_append(&n->partial, in, take);
		if (rc != P2P_OK)
			return rc;
		in += take;
		len -= take;
		if (n->partial.len < FRAME_HEADER_LEN ||
		    n->partial.len < FRAME_HEADER_LEN + read_be16(n->partial.data))
			continue;
		rc = handle_frame(n, n->partial.data + FRAME_HEADER_LEN,
		                  n->partial.len - FRAME_HEADER_LEN, plain_out);
		p2p_buf_reset(&n->partial);
		if (rc != P2P_OK)
			return rc;
	}
	return P2P_OK;
}

/* --- the public API --- */

int p2p_noise_new(p2p_noise **out, bool initiator, const p2p_privkey *identity,
                  const p2p_peerid *expected)
{
	*out = NULL;
	if (identity == NULL)
		return P2P_EINVAL;
	p2p_noise *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return P2P_ENOMEM;
	n->initiator = initiator;
	n->identity = identity;
	if (expected != NULL) {
		n->has_expected = true;
		n->expected = *expected;
	}
	p2p_buf_init(&n->out);
	p2p_buf_init(&n->partial);
	int rc = p2p_noise_cipher_init(&n->send);
	if (rc == P2P_OK)
		rc = p2p_noise_cipher_init(&n->recv);
	/* An empty prologue, and a fresh static key for every session. */
	if (rc == P2P_OK) /* calloc left hs safe to close if we never get here */
		rc = p2p_noise_hs_init(&n->hs, initiator, NULL, 0, NULL, NULL);
	if (rc == P2P_OK && initiator) /* -> e, with an empty payload */
		rc = write_handshake(n, NULL, 0);
	if (rc != P2P_OK) {
		p2p_noise_free(n);
		return rc;
	}
	*out = n;
	return P2P_OK;
}

void p2p_noise_free(p2p_noise *n)
{
	if (n == NULL)
		return;
	p2p_noise_hs_close(&n->hs);
	p2p_noise_cipher_close(&n->send);
	p2p_noise_cipher_close(&n->recv);
	p2p_buf_free(&n->out);
	p2p_buf_free(&n->partial);
	p2p_pubkey_free(n->remote_key);
	free(n);
}

int p2p_noise_recv(p2p_noise *n, const uint8_t *in, size_t len, p2p_buf *plain_out)
{
	if (n->error != P2P_OK)
		return n->error;
	if (in == NULL && len > 0)
		return P2P_EINVAL;
	int rc = recv_frames(n, in, len, plain_out);
	if (rc != P2P_OK) {
		n->error = rc;
		p2p_buf_free(&n->partial);
	}
	return rc;
}

int p2p_noise_send(p2p_noise *n, const uint8_t *plain, size_t len)
{
	if (plain == NULL && len > 0)
		return P2P_EINVAL;
	p2p_noise_part part = {plain, len};
	return p2p_noise_send_parts(n, &part, 1);
}

int p2p_noise_send_parts(p2p_noise *n, const p2p_noise_part *parts, size_t nparts)
{
	if (n->error != P2P_OK)
		return n->error;
	if (!n->done)
		return P2P_ESTATE;
	size_t len = 0;
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].data == NULL && parts[i].len > 0)
			return P2P_EINVAL;
		if (parts[i].len > SIZE_MAX / 2 - len)
			return P2P_EINVAL;
		len += parts[i].len;
	}
	size_t frames = (len + P2P_NOISE_MAX_PLAINTEXT - 1) / P2P_NOISE_MAX_PLAINTEXT;
	int rc = p2p_buf_reserve(&n->out,
	                         len + frames * (FRAME_HEADER_LEN + P2P_NOISE_TAG_LEN));
	if (rc != P2P_OK)
		return rc;
	size_t pi = 0, poff = 0; /* the next byte to encrypt: parts[pi] + poff */
	while (len > 0) {
		size_t chunk =
		    len < P2P_NOISE_MAX_PLAINTEXT ? len : P2P_NOISE_MAX_PLAINTEXT;
		size_t frame_len = chunk + P2P_NOISE_TAG_LEN;
		uint8_t *p = n->out.data + n->out.len;
		p[0] = (uint8_t)(frame_len >> 8);
		p[1] = (uint8_t)frame_len;
		uint8_t *dst = p + FRAME_HEADER_LEN;
		rc = p2p_noise_cipher_encrypt_begin(&n->send, NULL, 0);
		for (size_t need = chunk; rc == P2P_OK && need > 0;) {
			if (parts[pi].len == poff) {
				pi++;
				poff = 0;
				continue;
			}
			size_t take = parts[pi].len - poff;
			if (take > need)
				take = need;
			rc = p2p_noise_cipher_encrypt_update(
			    &n->send, parts[pi].data + poff, take, dst);
			dst += take;
			poff += take;
			need -= take;
		}
		if (rc == P2P_OK)
			rc = p2p_noise_cipher_encrypt_finish(&n->send, dst);
		if (rc != P2P_OK) {
			n->error = rc; /* nonce exhausted: the session is over */
			return rc;
		}
		n->out.len += FRAME_HEADER_LEN + frame_len;
		len -= chunk;
	}
	return P2P_OK;
}

p2p_buf *p2p_noise_output(p2p_noise *n)
{
	return &n->out;
}

bool p2p_noise_handshake_done(const p2p_noise *n)
{
	return n->done && n->error == P2P_OK;
}

const p2p_pubkey *p2p_noise_remote_key(const p2p_noise *n)
{
	return n->done ? n->remote_key : NULL;
}

const p2p_peerid *p2p_noise_remote_peer(const p2p_noise *n)
{
	return n->done ? &n->remote_peer : NULL;
}
