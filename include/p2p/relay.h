/* Circuit relay v2 (specs: relay/circuit-v2.md).
 *
 * The hop protocol runs between a client and the relay (RESERVE a slot,
 * CONNECT to a peer holding one), the stop protocol between the relay and
 * the reserving peer (a CONNECT from the relay, answered with a STATUS).
 * Each message is a uvarint-length-prefixed protobuf (lpmsg.h). */
#ifndef P2P_RELAY_H
#define P2P_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/host.h"
#include "p2p/keys.h"
#include "p2p/peerid.h"

/* ---- sans-I/O: messages, vouchers, limits ---- */

#define P2P_RELAY_HOP_PROTOCOL  "/libp2p/circuit/relay/0.2.0/hop"
#define P2P_RELAY_STOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/stop"

/* Largest message body (go-libp2p circuitv2 maxMessageSize). */
#define P2P_RELAY_MAX_MESSAGE 4096
/* Addresses kept per Peer or Reservation; ours (a 4 KiB message holds few
 * real addresses, this bounds the tiny-address case). */
#define P2P_RELAY_MAX_ADDRS 64

/* Voucher envelope domain and payload type: the multicodec
 * libp2p-relay-rsvp (0x0302) written as the two bytes 0x03 0x02, as
 * go-libp2p (circuitv2/proto/voucher.go) and js-libp2p write it, like the
 * peer record's 0x03 0x01 (peer_record.h). Note the uvarint of 0x0302 would
 * be 0x82 0x06; no implementation uses that. */
#define P2P_RELAY_VOUCHER_DOMAIN   "libp2p-relay-rsvp"
#define P2P_RELAY_VOUCHER_TYPE     "\x03\x02"
#define P2P_RELAY_VOUCHER_TYPE_LEN 2

/* go-libp2p p2p/protocol/circuitv2/relay/resources.go DefaultResources and
 * DefaultLimit. */
#define P2P_RELAY_DEFAULT_RESERVATION_TTL          3600       /* s, 1 h */
#define P2P_RELAY_DEFAULT_LIMIT_DURATION           120        /* s, 2 min */
#define P2P_RELAY_DEFAULT_LIMIT_DATA               (1u << 17) /* bytes, 128 KiB */
#define P2P_RELAY_DEFAULT_MAX_RESERVATIONS         128
#define P2P_RELAY_DEFAULT_MAX_CIRCUITS_PER_PEER    16 /* go: MaxCircuits */
#define P2P_RELAY_DEFAULT_BUFFER_SIZE              2048
#define P2P_RELAY_DEFAULT_MAX_RESERVATIONS_PER_IP  8
#define P2P_RELAY_DEFAULT_MAX_RESERVATIONS_PER_ASN 32 /* not enforced here */
/* Ours: go-libp2p has no global circuit cap, only per peer. */
#define P2P_RELAY_DEFAULT_MAX_CIRCUITS 256
/* Longest opaque IP key the table stores (an IPv6 address is 16 bytes). */
#define P2P_RELAY_IP_KEY_MAX 16

/* Status codes, with the spec's numeric values. */
typedef enum p2p_relay_status {
	P2P_RELAY_STATUS_OK = 100,
	P2P_RELAY_STATUS_RESERVATION_REFUSED = 200,
	P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED = 201,
	P2P_RELAY_STATUS_PERMISSION_DENIED = 202,
	P2P_RELAY_STATUS_CONNECTION_FAILED = 203,
	P2P_RELAY_STATUS_NO_RESERVATION = 204,
	P2P_RELAY_STATUS_MALFORMED_MESSAGE = 400,
	P2P_RELAY_STATUS_UNEXPECTED_MESSAGE = 401,
} p2p_relay_status;

/* Which protocol a message belongs to: the same struct carries both. */
typedef enum p2p_relay_kind {
	P2P_RELAY_HOP,
	P2P_RELAY_STOP,
} p2p_relay_kind;

/* Message types, with their wire values (which differ per protocol). */
enum {
	P2P_RELAY_HOP_RESERVE = 0,
	P2P_RELAY_HOP_CONNECT = 1,
	P2P_RELAY_HOP_STATUS = 2,
	P2P_RELAY_STOP_CONNECT = 0,
	P2P_RELAY_STOP_STATUS = 1,
};

/* A HopMessage or StopMessage. Everything in it is owned by the struct:
 * the address arrays and buffers are released by p2p_relay_msg_free; add
 * addresses with the helpers below. A StopMessage has no reservation;
 * encode refuses one. */
typedef struct p2p_relay_msg {
	int type; /* P2P_RELAY_HOP_* or P2P_RELAY_STOP_* */

	bool has_peer;
	p2p_peerid peer_id;
	p2p_buf *peer_addrs; /* binary multiaddrs */
	size_t n_peer_addrs;

	bool has_reservation;
	bool has_expire;
	uint64_t expire;     /* unix seconds */
	p2p_buf *rsvp_addrs; /* the relay's addresses, binary multiaddrs */
	size_t n_rsvp_addrs;
	p2p_buf voucher; /* encoded envelope, empty if none */

	bool has_limit;
	bool has_duration;
	uint32_t duration; /* seconds */
	bool has_data;
	uint64_t data; /* bytes */

	int status; /* p2p_relay_status, 0 when absent */
} p2p_relay_msg;

void p2p_relay_msg_init(p2p_relay_msg *m);
void p2p_relay_msg_free(p2p_relay_msg *m);
/* Copy one binary multiaddr into the message (and set has_peer /
 * has_reservation). P2P_EPROTO if it does not validate, P2P_ELIMIT past
 * P2P_RELAY_MAX_ADDRS. */
int p2p_relay_msg_add_peer_addr(p2p_relay_msg *m, const uint8_t *ma, size_t len);
int p2p_relay_msg_add_rsvp_addr(p2p_relay_msg *m, const uint8_t *ma, size_t len);

/* Appends uvarint(len) + the protobuf to out. The message is checked by
 * the same rules as decode (P2P_EINVAL if it breaks them), P2P_ETOOBIG if
 * the body would exceed P2P_RELAY_MAX_MESSAGE; out is unchanged on error. */
int p2p_relay_msg_encode(const p2p_relay_msg *m, p2p_relay_kind kind, p2p_buf *out);

/* Decodes one protobuf body (without its length prefix; see lpmsg.h) into
 * m, which must be freshly initialised; free it whatever the result.
 * Rules: the type is known for the kind; CONNECT carries a peer, STATUS a
 * status; a peer ID parses as a peer ID; a status is one of the spec's;
 * at most P2P_RELAY_MAX_ADDRS addresses per list. Empty addresses and
 * addresses p2p_multiaddr_validate rejects (e.g. protocols we do not know)
 * are dropped rather than failing the message, so a relay that also
 * listens on transports we lack still works.
 * P2P_ETOOBIG over P2P_RELAY_MAX_MESSAGE, P2P_ELIMIT for too many
 * addresses, P2P_EPROTO otherwise. */
int p2p_relay_msg_decode(p2p_relay_msg *m, p2p_relay_kind kind, const uint8_t *body,
                         size_t len);

/* ---- reservation vouchers ---- */

typedef struct p2p_relay_voucher {
	p2p_peerid relay;
	p2p_peerid peer;
	uint64_t expiration; /* unix seconds */
} p2p_relay_voucher;

/* As the relay: seals (our peer ID, peer, expiration) with relay_key and
 * appends the encoded envelope to out. */
int p2p_relay_voucher_seal(const p2p_privkey *relay_key, const p2p_peerid *peer,
                           uint64_t expiration, p2p_buf *out);

/* Opens and checks a voucher: signature for the voucher domain, payload
 * type, the signer is the voucher's relay and, if expected_relay is not
 * NULL, that relay; if expected_peer is not NULL, the voucher is that
 * peer's; expiration > now. Fills *out only on success. Errors:
 * those of p2p_envelope_open (P2P_ECRYPTO for a bad signature), P2P_EPROTO
 * for a wrong type or a malformed payload, P2P_EPEERID for a wrong relay
 * or peer, P2P_ETIMEDOUT when expired. */
int p2p_relay_voucher_open(p2p_relay_voucher *out, const uint8_t *env, size_t len,
                           const p2p_peerid *expected_relay,
                           const p2p_peerid *expected_peer, uint64_t now);

/* ---- the hop server's accounting ---- */

/* Limits of a relay; 0 in any field means "no slot" (refuse all). */
typedef struct p2p_relay_limits_config {
	size_t max_reservations;
	size_t max_reservations_per_ip;
	size_t max_circuits;          /* in total */
	size_t max_circuits_per_peer; /* as source or destination */
	uint64_t reservation_ttl;     /* seconds */
} p2p_relay_limits_config;

/* go-libp2p's defaults (above). */
void p2p_relay_limits_config_default(p2p_relay_limits_config *cfg);

typedef struct p2p_relay_rsvp_slot {
	p2p_peerid peer;
	uint8_t ip[P2P_RELAY_IP_KEY_MAX];
	size_t ip_len;
	uint64_t expire;
} p2p_relay_rsvp_slot;

typedef struct p2p_relay_circuit_slot {
	p2p_peerid src, dst;
} p2p_relay_circuit_slot;

/* Reservations and open circuits, in two arrays allocated once at init with
 * the configured capacities. Every operation is a linear scan: O(n) in
 * max_reservations or max_circuits (a few hundred entries by default),
 * which costs less than the hash table it would take to avoid it. A peer
 * has at most one reservation: reserving again refreshes it (go-libp2p
 * does the same and dropped its per-peer limit). */
typedef struct p2p_relay_table {
	p2p_relay_limits_config cfg;
	p2p_relay_rsvp_slot *rsvps;
	size_t n_rsvps;
	p2p_relay_circuit_slot *circuits;
	size_t n_circuits;
} p2p_relay_table;

int p2p_relay_table_init(p2p_relay_table *t, const p2p_relay_limits_config *cfg);
void p2p_relay_table_free(p2p_relay_table *t);

/* Reserves (or refreshes) a slot for peer, from the connection's IP (an
 * opaque key, e.g. the 4 or 16 address bytes, at most P2P_RELAY_IP_KEY_MAX;
 * may be empty). Expired reservations are dropped first. Returns
 * P2P_RELAY_STATUS_OK and sets *expire = now + ttl, or
 * P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED when the table or the IP's share
 * is full; P2P_EINVAL for a bad argument. */
int p2p_relay_table_reserve(p2p_relay_table *t, const p2p_peerid *peer, const uint8_t *ip,
                            size_t ip_len, uint64_t now, uint64_t *expire);
/* P2P_OK and *expire (may be NULL) if peer holds an unexpired reservation,
 * P2P_ENOTFOUND otherwise. */
int p2p_relay_table_find(const p2p_relay_table *t, const p2p_peerid *peer, uint64_t now,
                         uint64_t *expire);
/* Drops peer's reservation: P2P_OK or P2P_ENOTFOUND. */
int p2p_relay_table_release(p2p_relay_table *t, const p2p_peerid *peer);
/* Drops every reservation with expire <= now; returns how many. */
size_t p2p_relay_table_expire(p2p_relay_table *t, uint64_t now);

/* Accounts a circuit src -> dst. Returns P2P_RELAY_STATUS_OK,
 * P2P_RELAY_STATUS_NO_RESERVATION if dst has no unexpired reservation, or
 * P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED (total, or src's or dst's
 * share). Each OK must be paired with one p2p_relay_table_circuit_close. */
int p2p_relay_table_circuit_open(p2p_relay_table *t, const p2p_peerid *src,
                                 const p2p_peerid *dst, uint64_t now);
/* Releases one src -> dst circuit: P2P_OK or P2P_ENOTFOUND. */
int p2p_relay_table_circuit_close(p2p_relay_table *t, const p2p_peerid *src,
                                  const p2p_peerid *dst);

/* ---- the client on a host (relay_client.c) ---- */

#define P2P_RELAY_CLIENT_MAX_RELAYS 8     /* relays we hold reservations on */
#define P2P_RELAY_HOP_TIMEOUT_MS    30000 /* a hop exchange (js-libp2p: 30 s) */
#define P2P_RELAY_STOP_TIMEOUT_MS   15000 /* the relay's stop CONNECT */

typedef struct p2p_relay_client p2p_relay_client;

/* A reservation as the relay granted it; valid during the callback. */
typedef struct p2p_relay_reservation {
	const p2p_peerid *relay;
	uint64_t expire;      /* unix seconds: reserve again before then */
	const p2p_buf *addrs; /* the relay's addresses, binary multiaddrs */
	size_t n_addrs;
	bool has_voucher; /* sent, and it verified */
	/* The relay limits each circuit: such circuits give limited
	 * connections (p2p_conn_is_limited). */
	bool limited;
	uint32_t limit_duration; /* seconds, 0: none */
	uint64_t limit_data;     /* bytes, 0: none */
} p2p_relay_reservation;

/* err 0 with r; or err < 0 and r NULL: P2P_ENOTFOUND when the relay
 * refused (status says why, a P2P_RELAY_STATUS_*), P2P_EPROTO for a
 * malformed answer, a voucher error, P2P_ETIMEDOUT, connect errors. */
typedef void (*p2p_relay_reserve_cb)(int err, int status, const p2p_relay_reservation *r,
                                     void *user);

/* Serves /libp2p/circuit/relay/0.2.0/stop on h: a CONNECT from a relay we
 * hold a reservation on is answered OK and its stream upgraded into an
 * inbound connection from the peer it names (expected by Noise); others
 * get PERMISSION_DENIED. Like the other services, free it once the host
 * has closed. */
int p2p_relay_client_new(p2p_relay_client **out, p2p_host *h);
void p2p_relay_client_free(p2p_relay_client *rc);
/* Reserves a slot on relay (addrs, binary, may be empty: the peerstore's),
 * over a hop stream; cb runs once, from the loop, unless this fails. The
 * caller refreshes before r->expire. */
int p2p_relay_client_reserve(p2p_relay_client *rc, const p2p_peerid *relay,
                             const p2p_buf *addrs, size_t n, p2p_relay_reserve_cb cb,
                             void *user);
/* Stop CONNECTs accepted and refused so far. */
size_t p2p_relay_client_accepted(const p2p_relay_client *rc);
size_t p2p_relay_client_refused(const p2p_relay_client *rc);

/* Makes h dial /p2p-circuit addresses (relay_dial.c): for
 * <relay address>/p2p/R/p2p-circuit/p2p/T it connects to R, asks it with a
 * hop CONNECT for a circuit to T, and upgrades the stream into a
 * connection that Noise proves is T's (limited if R sent a Limit). The
 * exchange with the relay has P2P_RELAY_HOP_TIMEOUT_MS. */
int p2p_relay_add_transport(p2p_host *h);

/* Appends <relay_addr>[/p2p/<relay>]/p2p-circuit to out (the /p2p/ part
 * only when relay_addr lacks it): the address peers dial to reach us
 * through that relay, once /p2p/<us> is added. */
int p2p_relay_circuit_addr(const uint8_t *relay_addr, size_t len, const p2p_peerid *relay,
                           p2p_buf *out);

/* ---- the relay service on a host (relay_service.c) ---- */

typedef struct p2p_relay_service p2p_relay_service;

/* What the service reports to its owner (p2p_relay_service_config). */
typedef enum p2p_relay_service_event_kind {
	P2P_RELAY_EV_RESERVED = 1, /* a reservation granted or refreshed */
	P2P_RELAY_EV_UNRESERVED,   /* a reservation ended */
	P2P_RELAY_EV_CIRCUIT_OPEN, /* a circuit spliced */
	P2P_RELAY_EV_CIRCUIT_CLOSED,
	P2P_RELAY_EV_REFUSED, /* a hop request answered with an error */
} p2p_relay_service_event_kind;

/* Why a reservation ended. */
typedef enum p2p_relay_unreserved_why {
	P2P_RELAY_UNRESERVED_DISCONNECTED = 1, /* its peer's last connection closed */
	P2P_RELAY_UNRESERVED_EXPIRED,          /* not refreshed in time */
} p2p_relay_unreserved_why;

/* Why a circuit ended. */
typedef enum p2p_relay_circuit_end {
	P2P_RELAY_CIRCUIT_CLOSED = 1,    /* both ends closed */
	P2P_RELAY_CIRCUIT_RESET,         /* an end reset, or its connection went */
	P2P_RELAY_CIRCUIT_DATA_LIMIT,    /* a direction went over limit_data */
	P2P_RELAY_CIRCUIT_DURATION_LIMIT /* it lasted limit_duration */
} p2p_relay_circuit_end;

/* One event; everything it points to is valid during the callback only. */
typedef struct p2p_relay_service_event {
	p2p_relay_service_event_kind kind;
	/* RESERVED, UNRESERVED, REFUSED: the peer; CIRCUIT_*: the source. */
	const p2p_peerid *peer;
	/* CIRCUIT_*: the target; REFUSED: the target a CONNECT named, or
	 * NULL. */
	const p2p_peerid *dst;
	/* RESERVED, REFUSED: the remote address of the peer's connection
	 * (binary multiaddr), or NULL. */
	const p2p_buf *addr;
	uint64_t expire; /* RESERVED: unix seconds */
	bool refresh;    /* RESERVED: the peer held one already */
	int why;         /* UNRESERVED: p2p_relay_unreserved_why; CIRCUIT_CLOSED:
	                    p2p_relay_circuit_end */
	/* REFUSED: the P2P_RELAY_STATUS_* answered (0: none could be sent,
	 * e.g. a timeout), the request (P2P_RELAY_HOP_RESERVE or _CONNECT;
	 * -1 when none was read or it was neither) and a static sentence. */
	int status;
	int request;
	const char *reason;
	/* CIRCUIT_CLOSED: bytes relayed each way. */
	uint64_t bytes_to_dst, bytes_to_src;
} p2p_relay_service_event;

typedef void (*p2p_relay_service_event_cb)(const p2p_relay_service_event *ev, void *user);

typedef struct p2p_relay_service_config {
	p2p_relay_limits_config limits; /* reservations and circuits */
	/* Per-circuit limits sent in every reservation and CONNECT, and
	 * enforced: 0 is none (fit for one's own tunnels); a public relay
	 * uses P2P_RELAY_DEFAULT_LIMIT_DURATION and _DATA. */
	uint32_t limit_duration; /* seconds */
	uint64_t limit_data;     /* bytes, each direction */
	/* The peers that may reserve (copied by p2p_relay_service_new);
	 * n_allow 0: anyone. Others get PERMISSION_DENIED. CONNECT is open
	 * to anyone, as the spec intends: the list bounds who the relay
	 * serves as a destination, and a circuit needs one. */
	const p2p_peerid *allow;
	size_t n_allow;
	/* Called for every event (may be NULL), from the loop, never after
	 * p2p_relay_service_free. It may call the service's list functions
	 * and p2p_host_disconnect. */
	p2p_relay_service_event_cb on_event;
	void *user;
} p2p_relay_service_config;

/* Counted since the service started. */
typedef struct p2p_relay_service_stats {
	uint64_t reservations; /* granted or refreshed */
	uint64_t circuits;     /* spliced */
	uint64_t circuits_open;
	uint64_t refused; /* hop requests answered with an error */
	uint64_t bytes;   /* relayed, both ways, by circuits that ended */
} p2p_relay_service_stats;

/* Limits: go-libp2p's defaults; no per-circuit limit. */
void p2p_relay_service_config_init(p2p_relay_service_config *cfg);
/* Serves /libp2p/circuit/relay/0.2.0/hop on h: RESERVE is granted within
 * the table's limits (refused over a relayed connection) with our listen
 * addresses and a signed voucher, and lasts while the peer stays
 * connected or until it expires; CONNECT to a peer holding a reservation
 * opens /stop to it and splices the two streams (p2p_splice), ending the
 * circuit at the limits. A peer holding a reservation is protected from
 * the host's connection manager (p2p_host_protect) until it loses it. cfg is copied
 * (NULL: the defaults). Free it once the host has closed. */
int p2p_relay_service_new(p2p_relay_service **out, p2p_host *h,
                          const p2p_relay_service_config *cfg);
void p2p_relay_service_free(p2p_relay_service *svc);
const p2p_relay_service_stats *p2p_relay_service_stats_get(const p2p_relay_service *svc);
/* Reservations held now (some may have expired since the last tick). */
size_t p2p_relay_service_reservations(const p2p_relay_service *svc);

/* An open (spliced) circuit, for listing. */
typedef struct p2p_relay_service_circuit {
	p2p_peerid src, dst;
	uint64_t bytes_to_dst, bytes_to_src; /* so far */
	uint64_t opened;                     /* unix seconds */
} p2p_relay_service_circuit;

/* The reservations held now (their peer, IP key and expiry) into
 * out[0..max); returns how many there are, which may be more than max. */
size_t p2p_relay_service_list_reservations(const p2p_relay_service *svc,
                                           p2p_relay_rsvp_slot *out, size_t max);
/* The same for the open circuits. */
size_t p2p_relay_service_list_circuits(const p2p_relay_service *svc,
                                       p2p_relay_service_circuit *out, size_t max);

/* ---- keeping reservations (relay_keeper.c) ---- */

/* The relays a host keeps reservations on, as go-libp2p's autorelay does
 * for its static relays: each is reserved, refreshed before it expires,
 * and, when a reservation fails or is lost (the connection to the relay
 * closed), tried again after a backoff that doubles from MIN to MAX. */
#define P2P_RELAY_KEEPER_MAX_RELAYS     P2P_RELAY_CLIENT_MAX_RELAYS
#define P2P_RELAY_KEEPER_BACKOFF_MIN_MS 1000
#define P2P_RELAY_KEEPER_BACKOFF_MAX_MS 60000
/* Refresh this long before expiry, or at half the reservation's life if
 * that is sooner, but not before a quarter of its life has passed (a relay
 * may grant reservations of about this long or shorter). */
#define P2P_RELAY_KEEPER_REFRESH_SLACK_S 120
/* Circuit addresses kept per relay. */
#define P2P_RELAY_KEEPER_MAX_ADDRS 4
/* Autorelay (p2p_relay_keeper_offer): reservations kept on peers met by
 * chance, as go-libp2p's autorelay keeps (its default is 2 too), and the
 * hop-capable peers remembered for when one of those fails. */
#define P2P_RELAY_KEEPER_AUTO_MAX       2
#define P2P_RELAY_KEEPER_MAX_CANDIDATES 8

typedef struct p2p_relay_keeper p2p_relay_keeper;

/* What happened to one relay's reservation; valid during the callback. */
typedef struct p2p_relay_keeper_event {
	const p2p_peerid *relay;
	bool up;                 /* held now (made or refreshed) or not (lost, refused) */
	int err;                 /* when !up: why (p2p_relay_reserve_cb's errors) */
	int status;              /* when refused: a P2P_RELAY_STATUS_* */
	bool limited;            /* when up: the relay limits each circuit */
	uint32_t limit_duration; /* seconds, 0: none */
	uint64_t limit_data;     /* bytes, 0: none */
	uint64_t retry_ms;       /* when !up: next try in this long; 0: none (the
	                          * host is closing) */
} p2p_relay_keeper_event;

typedef struct p2p_relay_keeper_config {
	/* Every change of a reservation (may be NULL). When the set of
	 * circuit addresses changed too, changed is true: read them again
	 * with p2p_relay_keeper_addrs. */
	void (*on_event)(const p2p_relay_keeper_event *ev, bool changed, void *user);
	void *user;
	uint64_t backoff_min_ms; /* 0: P2P_RELAY_KEEPER_BACKOFF_MIN_MS */
	uint64_t backoff_max_ms; /* 0: P2P_RELAY_KEEPER_BACKOFF_MAX_MS */
	/* Autorelay slots (p2p_relay_keeper_offer); 0: no autorelay. */
	unsigned auto_max;
} p2p_relay_keeper_config;

/* Keeps reservations through rc (borrowed, must outlive the keeper) on
 * rc's host. cfg is copied. One keeper per client: P2P_ESTATE if rc has
 * one already. */
int p2p_relay_keeper_new(p2p_relay_keeper **out, p2p_relay_client *rc,
                         const p2p_relay_keeper_config *cfg);
/* Stops every timer and forgets the relays; no callback runs after this,
 * not even for a reservation still in flight. Free it while the host is
 * open or from the host's on_closed callback at the latest (its timers
 * reach the host); it may be called from on_event. Its timers are closed
 * with uv_close: let the loop run once more to release them. */
void p2p_relay_keeper_free(p2p_relay_keeper *k);
/* Adds a relay by one of its addresses (binary, ending in /p2p/<relay>)
 * and starts reserving on it. P2P_EINVAL without /p2p/; P2P_ESTATE if
 * it is there already, P2P_ELIMIT past P2P_RELAY_KEEPER_MAX_RELAYS. */
int p2p_relay_keeper_add(p2p_relay_keeper *k, const uint8_t *addr, size_t len);
/* Autorelay: peer, connected to us at addr (binary, the connection's
 * remote address; a trailing /p2p/ is allowed), said in identify that it
 * serves the hop protocol. While fewer than cfg.auto_max offered relays
 * are kept, it is kept like an added one (reserved, refreshed, its
 * connection protected from the connection manager), except that on the
 * first failure or loss it is dropped (an event with retry_ms 0) and its
 * slot goes to the oldest remembered candidate. Otherwise it is
 * remembered, up to P2P_RELAY_KEEPER_MAX_CANDIDATES (P2P_ELIMIT past
 * that). P2P_ESTATE when autorelay is off or the peer is known already,
 * P2P_EINVAL for ourselves or an address that is a circuit, unspecified
 * or malformed. */
int p2p_relay_keeper_offer(p2p_relay_keeper *k, const p2p_peerid *peer,
                           const uint8_t *addr, size_t len);
/* The circuit addresses of the reservations held now, each
 * <relay address>/p2p/<relay>/p2p-circuit (binary; add /p2p/<us> to
 * dial us): the address the relay was added by first, then the
 * reservation's addresses that are not it, not unspecified (0.0.0.0,
 * ::), not loopback (unless the relay was added by a loopback address)
 * and not circuits themselves, at most P2P_RELAY_KEEPER_MAX_ADDRS per
 * relay. Fills out[0..max) with buffers the caller initialises and
 * frees; returns how many exist. */
size_t p2p_relay_keeper_addrs(const p2p_relay_keeper *k, p2p_buf *out, size_t max);
/* Reservations held now. */
size_t p2p_relay_keeper_held(const p2p_relay_keeper *k);

#endif
