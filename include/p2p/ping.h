/* Ping (specs: ping/ping.md): the dialer writes 32 random bytes, the
 * listener echoes them, the dialer measures the round trip; repeat on the
 * same stream as often as wanted, then the dialer closes its write side.
 *
 * Sans-I/O: no clock here. The caller notes the time when the payload is
 * sent and when p2p_ping_client_recv reports it back. */
#ifndef P2P_PING_H
#define P2P_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/host.h"

#define P2P_PING_PROTOCOL "/ipfs/ping/1.0.0"
#define P2P_PING_SIZE     32
/* Ping streams one peer may have open to us at once; more are reset. The
 * spec: "the listening peer SHOULD accept at most two streams per peer",
 * as it may see the dialer's close of one stream after its next open. */
#define P2P_PING_MAX_INBOUND_PER_PEER 2

/* --- dialer --- */

typedef struct p2p_ping_client {
	uint8_t sent[P2P_PING_SIZE];
	uint8_t got[P2P_PING_SIZE];
	size_t got_len;
	bool waiting; /* a payload is out and not fully back */
} p2p_ping_client;

void p2p_ping_client_init(p2p_ping_client *c);
/* Appends a new random payload to out. P2P_ESTATE if one is still out. */
int p2p_ping_client_send(p2p_ping_client *c, p2p_buf *out);
/* Feeds the listener's bytes; *consumed tells how many were used (bytes
 * after a complete echo are left for the next round). Returns 1 when the
 * payload came back whole, 0 when more bytes are needed, P2P_EPROTO if the
 * echo differs, P2P_ESTATE if no payload was out. */
int p2p_ping_client_recv(p2p_ping_client *c, const uint8_t *in, size_t len,
                         size_t *consumed);

/* --- listener --- */

typedef struct p2p_ping_server {
	uint8_t got[P2P_PING_SIZE];
	size_t got_len;
} p2p_ping_server;

void p2p_ping_server_init(p2p_ping_server *s);
/* Feeds the dialer's bytes and appends each complete payload to out (the
 * echo). At most P2P_PING_SIZE - 1 bytes wait inside between calls. */
int p2p_ping_server_recv(p2p_ping_server *s, const uint8_t *in, size_t len, p2p_buf *out);
/* The dialer closed its side: P2P_OK if it ended on a whole payload,
 * P2P_EPROTO if a partial one is left over. */
int p2p_ping_server_finish(const p2p_ping_server *s);

/* --- on a host (ping_service.c); round trips timed with uv_hrtime --- */

typedef struct p2p_ping_service p2p_ping_service;

/* Answers pings on h, at most P2P_PING_MAX_INBOUND_PER_PEER streams per
 * peer at once. The service must outlive the host's connections: free it
 * once the host has closed (from p2p_host_close's on_closed); it does not
 * touch the host then. */
int p2p_ping_service_new(p2p_ping_service **out, p2p_host *h);
void p2p_ping_service_free(p2p_ping_service *svc);

/* Called after each round trip. */
typedef void (*p2p_ping_rtt_cb)(uint64_t rtt_ns, void *user);
/* Called once at the end: err 0 after `count` round trips. */
typedef void (*p2p_ping_done_cb)(int err, void *user);

/* Opens a ping stream to peer (connecting if needed) and pings it `count`
 * times, one after the other, then closes the stream. There is no timeout
 * here: the caller bounds the whole run (closing the host ends it). */
int p2p_ping_run(p2p_host *h, const p2p_peerid *peer, unsigned count,
                 p2p_ping_rtt_cb on_rtt, p2p_ping_done_cb on_done, void *user);

#endif
