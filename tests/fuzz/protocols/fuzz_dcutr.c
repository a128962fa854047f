/* DCUtR: the input is what the peer writes on the /libp2p/dcutr stream.
 * It drives the state machine in both roles, all at once and a byte at a
 * time, dialing and ticking as a caller would. Nothing may crash or leak,
 * recv never takes more than it was given (and all of it while waiting),
 * the invariants of dcutr.h hold after every call, and every byte we send
 * decodes as a CONNECT or SYNC. The input is also decoded as one bare
 * HolePunch body, which must re-encode and decode to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/dcutr.h"
#include "p2p/error.h"
#include "p2p/lpmsg.h"

/* Ours: /ip4/198.18.0.1/tcp/4001 and /ip6/::1/tcp/4001. */
static const uint8_t our4[] = {0x04, 198, 18, 0, 1, 0x06, 0x0f, 0xa1};
static const uint8_t our6[] = {0x29, 0, 0, 0, 0, 0, 0, 0,    0,    0,
                               0,    0, 0, 0, 0, 0, 1, 0x06, 0x0f, 0xa1};
/* How far the fake clock moves between two reads. */
#define FUZZ_STEP_MS 3

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Everything we wrote must be whole messages we would accept ourselves. */
static void check_out(p2p_buf *out)
{
	p2p_lpmsg_reader r;
	p2p_lpmsg_reader_init(&r, P2P_DCUTR_MAX_MESSAGE);
	size_t off = 0;
	while (off < out->len) {
		size_t used;
		const uint8_t *msg;
		size_t len;
		check(p2p_lpmsg_read(&r, out->data + off, out->len - off, &used, &msg,
		                     &len) == P2P_OK);
		off += used;
		uint32_t type;
		size_t n;
		p2p_buf addrs[P2P_DCUTR_MAX_ADDRS];
		check(p2p_dcutr_msg_decode(msg, len, &type, addrs, P2P_DCUTR_MAX_ADDRS,
		                           &n) == P2P_OK);
		check(type == P2P_DCUTR_TYPE_SYNC ? n == 0 : n == 2);
		for (size_t i = 0; i < P2P_DCUTR_MAX_ADDRS; i++)
			p2p_buf_free(&addrs[i]);
	}
	p2p_lpmsg_reader_free(&r);
	p2p_buf_reset(out);
}

static void check_state(const p2p_dcutr *d)
{
	p2p_dcutr_state s = p2p_dcutr_get_state(d);
	int err = p2p_dcutr_error(d);
	check((s == P2P_DCUTR_FAILED) == (err < 0));
	check(p2p_dcutr_attempt(d) <= P2P_DCUTR_MAX_ATTEMPTS);
	if (s != P2P_DCUTR_WAIT)
		check(p2p_dcutr_deadline(d) == UINT64_MAX);
	size_t n;
	const p2p_buf *ra = p2p_dcutr_remote_addrs(d, &n);
	check(n <= P2P_DCUTR_MAX_ADDRS);
	if (s == P2P_DCUTR_DIAL)
		check(n > 0);
	/* What we dial passed the filter: filtering it again changes nothing. */
	for (size_t i = 0; i < n; i++) {
		p2p_buf again;
		check(p2p_dcutr_filter_addrs(&ra[i], 1, &again, 1) == 1);
		check(again.len == ra[i].len &&
		      memcmp(again.data, ra[i].data, again.len) == 0);
		p2p_buf_free(&again);
	}
}

static void drive(p2p_dcutr_role role, const uint8_t *data, size_t size, size_t step)
{
	p2p_buf ours[2] = {{(uint8_t *)our4, sizeof(our4), 0},
	                   {(uint8_t *)our6, sizeof(our6), 0}};
	p2p_dcutr d;
	check(p2p_dcutr_init(&d, role, ours, 2) == P2P_OK);
	p2p_buf out;
	p2p_buf_init(&out);
	uint64_t now = 1000;
	check(p2p_dcutr_start(&d, now, &out) == P2P_OK);
	check_out(&out);
	/* The dial that works, if any, depends on the input's length. */
	unsigned lucky = (unsigned)(size % (P2P_DCUTR_MAX_ATTEMPTS + 1));

	size_t pos = 0;
	while (pos < size) {
		p2p_dcutr_state s = p2p_dcutr_get_state(&d);
		if (s == P2P_DCUTR_DONE || s == P2P_DCUTR_FAILED)
			break;
		if (s == P2P_DCUTR_DIAL) {
			int rc = p2p_dcutr_dial_result(&d, p2p_dcutr_attempt(&d) == lucky,
			                               now, &out);
			check(rc == p2p_dcutr_error(&d));
			check_out(&out);
			check_state(&d);
			continue;
		}
		if (d.phase == P2P_DCUTR_PHASE_WAIT_HALF_RTT) {
			/* A caller's timer fires at the deadline, not before. */
			uint64_t at = p2p_dcutr_deadline(&d);
			check(at != UINT64_MAX);
			if (at > now) {
				check(p2p_dcutr_tick(&d, at - 1, &out) == P2P_OK);
				check(p2p_dcutr_get_state(&d) == P2P_DCUTR_WAIT);
				now = at;
			}
			check(p2p_dcutr_tick(&d, now, &out) == P2P_OK);
			check(p2p_dcutr_get_state(&d) == P2P_DCUTR_DIAL);
			check_out(&out);
			continue;
		}
		size_t chunk = size - pos < step ? size - pos : step;
		size_t used = SIZE_MAX;
		int rc = p2p_dcutr_recv(&d, data + pos, chunk, &used, now, &out);
		check(used <= chunk);
		check(rc == p2p_dcutr_error(&d));
		if (rc == P2P_OK && p2p_dcutr_get_state(&d) == P2P_DCUTR_WAIT &&
		    d.phase != P2P_DCUTR_PHASE_WAIT_HALF_RTT)
			check(used == chunk);
		check_out(&out);
		check_state(&d);
		pos += used;
		now += FUZZ_STEP_MS;
	}
	/* The peer went quiet: a wait for a message times out, the RTT/2 wait
	 * ends in a dial; then the stream ends. */
	int rc = p2p_dcutr_tick(&d, UINT64_MAX - 1, &out);
	check(rc == P2P_OK || rc == P2P_ETIMEDOUT);
	check(p2p_dcutr_get_state(&d) != P2P_DCUTR_WAIT);
	check_state(&d);
	p2p_dcutr_stream_closed(&d);
	if (p2p_dcutr_get_state(&d) == P2P_DCUTR_DIAL) {
		rc = p2p_dcutr_dial_result(&d, false, UINT64_MAX - 1, &out);
		check(rc == P2P_ECLOSED || rc == P2P_ELIMIT);
	}
	check_out(&out);
	check_state(&d);
	p2p_dcutr_free(&d);
	p2p_buf_free(&out);
}

/* The input as one message body. */
static void codec(const uint8_t *data, size_t size)
{
	uint32_t type;
	size_t n;
	p2p_buf addrs[P2P_DCUTR_MAX_ADDRS];
	int rc = p2p_dcutr_msg_decode(data, size, &type, addrs, P2P_DCUTR_MAX_ADDRS, &n);
	if (rc == P2P_OK) {
		check(n <= P2P_DCUTR_MAX_ADDRS);
		p2p_buf b;
		p2p_buf_init(&b);
		check(p2p_dcutr_msg_append(&b, type, addrs, n) == P2P_OK);
		p2p_lpmsg_reader r;
		p2p_lpmsg_reader_init(&r, P2P_DCUTR_MAX_MESSAGE);
		size_t used, len, n2;
		const uint8_t *msg;
		uint32_t type2;
		p2p_buf again[P2P_DCUTR_MAX_ADDRS];
		check(p2p_lpmsg_read(&r, b.data, b.len, &used, &msg, &len) == P2P_OK);
		check(used == b.len);
		check(p2p_dcutr_msg_decode(msg, len, &type2, again, P2P_DCUTR_MAX_ADDRS,
		                           &n2) == P2P_OK);
		check(type2 == type && n2 == n);
		for (size_t i = 0; i < n; i++)
			check(again[i].len == addrs[i].len &&
			      memcmp(again[i].data, addrs[i].data, addrs[i].len) == 0);
		for (size_t i = 0; i < P2P_DCUTR_MAX_ADDRS; i++)
			p2p_buf_free(&again[i]);
		p2p_lpmsg_reader_free(&r);
		p2p_buf_free(&b);
	}
	for (size_t i = 0; i < P2P_DCUTR_MAX_ADDRS; i++)
		p2p_buf_free(&addrs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	codec(data, size);
	drive(P2P_DCUTR_INITIATOR, data, size, size);
	drive(P2P_DCUTR_RESPONDER, data, size, size);
	drive(P2P_DCUTR_INITIATOR, data, size, 1);
	drive(P2P_DCUTR_RESPONDER, data, size, 1);
	return 0;
}
