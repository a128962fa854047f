/* Hole punching on a host: DCUtR (dcutr.h) run over relayed connections,
 * and the TCP simultaneous open it times.
 *
 * When a peer reaches us through a relay (an inbound /p2p-circuit
 * connection), we are DCUtR's initiator ("B"): we open /libp2p/dcutr on
 * that connection, trade candidate addresses, time the RTT and, half an
 * RTT after our SYNC, dial the peer's addresses while it dials ours. When
 * we reached a peer through a relay, we answer its DCUtR stream and dial
 * as soon as its SYNC arrives. Dials leave from our listening port (port
 * reuse, transport.h), so that both SYNs cross in the NATs' mappings.
 *
 * The punched TCP connection is upgraded with the roles DCUtR gives,
 * whatever the socket says: the initiator runs multistream-select and
 * Noise as the initiator (and is yamux's client), the other side as the
 * responder, as go-libp2p does. (js-libp2p 3.3.x takes both roles from
 * the socket after a simultaneous open, so a stock js peer cannot finish
 * a punch with anyone.)
 *
 * Once the direct connection is up, the host prefers it for new streams
 * (p2p_host_conn); the relayed one is closed as soon as it carries no
 * stream, after P2P_HOLEPUNCH_RELAYED_GRACE_MS.
 *
 * Our candidates are the addresses peers observed us at (identify's,
 * p2p_identify_service_observed, one observer is enough) and the host's
 * announced addresses, as p2p_dcutr_filter_addrs keeps them. */
#ifndef P2P_HOLEPUNCH_H
#define P2P_HOLEPUNCH_H

#include <stdbool.h>
#include <stdint.h>

#include "p2p/host.h"
#include "p2p/identify.h"

/* One punch dial (go-libp2p's hole punch dial timeout is 5 s too); a SYN
 * dropped by a NAT that had no mapping yet is sent again after 1 s and
 * 3 s, so this leaves room for two retransmissions. */
#define P2P_HOLEPUNCH_DIAL_TIMEOUT_MS 5000
/* Addresses dialed at once in one attempt. */
#define P2P_HOLEPUNCH_MAX_DIALS 8
/* Punches running at once (one per peer). */
#define P2P_HOLEPUNCH_MAX_PUNCHES 64
/* A relayed connection with a direct one beside it is closed once it has
 * carried no stream for this long. */
#define P2P_HOLEPUNCH_RELAYED_GRACE_MS 10000

typedef struct p2p_holepunch p2p_holepunch;

/* How one punch ended; valid during the callback. */
typedef struct p2p_holepunch_event {
	const p2p_peerid *peer;
	bool initiator;      /* we opened the DCUtR stream */
	bool ok;             /* a direct connection is up */
	int err;             /* when !ok: why (negative P2P_E*) */
	unsigned attempts;   /* 1..P2P_DCUTR_MAX_ATTEMPTS */
	uint64_t rtt_ms;     /* the initiator's last measure of the relayed RTT */
	uint64_t elapsed_ms; /* from the punch's start (on the initiator: the
	                      * relayed connection being up) to this outcome */
	p2p_conn *conn;      /* when ok: the direct connection (borrowed) */
} p2p_holepunch_event;

typedef struct p2p_holepunch_config {
	void (*on_event)(const p2p_holepunch_event *ev, void *user); /* may be NULL */
	void *user;
	uint64_t dial_timeout_ms;  /* 0: P2P_HOLEPUNCH_DIAL_TIMEOUT_MS */
	uint64_t relayed_grace_ms; /* 0: P2P_HOLEPUNCH_RELAYED_GRACE_MS */
	bool keep_relayed;         /* never close the relayed connection */
} p2p_holepunch_config;

/* Serves /libp2p/dcutr on h and punches on every inbound relayed
 * connection. id (borrowed) gives our observed addresses. cfg is copied.
 * Like the identify service, it must outlive the host's connections:
 * free it from p2p_host_close's on_closed (it does not touch the host
 * then); its timers are closed with uv_close, so let the loop run once
 * more. */
int p2p_holepunch_new(p2p_holepunch **out, p2p_host *h, p2p_identify_service *id,
                      const p2p_holepunch_config *cfg);
void p2p_holepunch_free(p2p_holepunch *hp);

/* Punches that ended, by outcome. */
typedef struct p2p_holepunch_stats {
	uint64_t started, succeeded, failed;
} p2p_holepunch_stats;
const p2p_holepunch_stats *p2p_holepunch_stats_get(const p2p_holepunch *hp);

#endif
