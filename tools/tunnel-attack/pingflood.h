/* tunnel-attack -mode ping-flood (issue 10, finding 4): connections that
 * flood yamux PING|SYN frames and never read a byte of the answers, so
 * that the host's output to them backs up. The host's own library cannot
 * send that (its connections always read), so this side speaks the
 * handshake itself with the sans-I/O parts: multistream-select /noise,
 * Noise XX, multistream-select /yamux/1.0.0, then yamux pings encrypted
 * as the host expects them, on raw libuv TCP sockets.
 *
 * Each connection opens from one of the given source addresses in turn
 * (the host's per-IP limits apply to each), with an identity of its own
 * (the host's per-peer limit would stop it at two), at most two
 * handshakes at a time; once its yamux session is up it stops reading and keeps about 1
 * MiB of pings queued (what TCP would let a sender hold), topped up as
 * the kernel takes them. One the host closes (its stall or idle timeout)
 * is opened again. */
#ifndef TUNNEL_ATTACK_PINGFLOOD_H
#define TUNNEL_ATTACK_PINGFLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "p2p/keys.h"
#include "p2p/peerid.h"

#define PING_FLOOD_MAX_CONNS 256
#define PING_FLOOD_MAX_FROM  16

typedef struct ping_flood ping_flood;

typedef struct ping_flood_counts {
	unsigned long conns;      /* asked for */
	unsigned long flooding;   /* handshake done, pinging now */
	unsigned long handshakes; /* completed, reopened ones included */
	unsigned long failed;     /* closed before the handshake completed */
	unsigned long closed;     /* closed while flooding (by the host) */
	uint64_t pings;           /* PING|SYN frames handed to the kernel's queue */
	uint64_t bytes;           /* encrypted bytes the kernel took */
} ping_flood_counts;

/* Starts n_conns connections to target (the host's TCP address) from the
 * n_from source addresses (none: the system picks), expecting the host's
 * peer ID, which is borrowed for the life of the flood. */
int ping_flood_start(ping_flood **out, uv_loop_t *loop, const p2p_peerid *peer,
                     const struct sockaddr *target, const struct sockaddr_storage *from,
                     size_t n_from, size_t n_conns);
void ping_flood_counts_get(const ping_flood *pf, ping_flood_counts *out);
/* Closes every connection; the flood is freed once their handles are
 * closed, from the loop. */
void ping_flood_stop(ping_flood *pf);

#endif
