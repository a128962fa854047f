/* Internals shared by the host's files: host.c (lifetime, listeners,
 * handlers, observers, connection bookkeeping), connmgr.c (the connection
 * manager: admission through the resource manager, rcmgr.c, eviction,
 * idle and first-byte deadlines) and dial.c (connect, new_stream). */
#ifndef P2P_HOST_INTERNAL_H
#define P2P_HOST_INTERNAL_H

#include "p2p/dns.h"
#include "p2p/host.h"
#include "p2p/transport.h"

/* One connection the host holds, from accept (or dial) to close. */
typedef struct host_conn {
	p2p_host *host;
	p2p_conn *conn; /* NULL while waiting for the first byte */
	/* An accepted TCP connection waiting for its first byte (connmgr.c),
	 * held by the host until then; NULL once handed to the upgrader. */
	p2p_pipe *waiting;
	bool open; /* handshake done, told to the observers */
	bool inbound;
	p2p_rcmgr_ip ip;  /* the IP scope of an inbound connection */
	bool pending;     /* holds a pending-handshake reservation */
	bool reserved;    /* holds a connection reservation */
	bool dropped;     /* closed by the connection manager (idle, trimmed) */
	uint32_t streams; /* streams charged to the resource manager */
	uint64_t since;   /* uv_now() when accepted */
	uint64_t busy_at; /* when a stream was last seen open (or it opened) */
	struct host_conn *prev, *next;
} host_conn;

/* A connect request waiting for its dial (or, when a connection already
 * exists, for the loop to come round). */
typedef struct host_waiter {
	p2p_host_connect_cb cb;
	void *user;
	struct host_waiter *next;
} host_waiter;

/* One lane of a dial: a run of addresses tried one after the other, at
 * most one attempt (dial, DNS look-up or handshake) in flight. */
typedef struct dial_lane {
	struct host_dial *dial;
	bool relay;       /* the /p2p-circuit lane */
	size_t next, end; /* dial->addrs[next..end) are still to try */
	bool started, exhausted;
	const p2p_buf *current; /* the address being dialed */
	p2p_tcp_dialer *tcp;    /* the TCP connect in progress */
	/* or the dial of another transport in progress, and its handle */
	const struct host_transport *other;
	void *other_handle;
	bool resolving;              /* a DNS look-up in progress */
	struct host_conn *upgrading; /* the handshake in progress */
	bool cancelled;              /* the attempt in flight was cancelled */
} dial_lane;

enum { HOST_LANE_DIRECT, HOST_LANE_RELAY };

/* One outbound dial to a peer, in two lanes the way go-libp2p ranks
 * relay addresses: the direct addresses in turn, and the /p2p-circuit ones
 * in turn, starting P2P_HOST_RELAY_DIAL_DELAY_MS later (or as soon as the
 * direct lane has nothing left). The first connection wins; the connect
 * requests made meanwhile for the same peer wait on it.
 *
 * Lifetime: once `done` (the waiters have their answer) the dial stays in
 * h->dials until no lane has an attempt in flight (a lost lane's is
 * cancelled, but a DNS look-up cannot be and runs out); then its timer is
 * closed and the close callback frees it, so it is never freed inside a
 * callback that still uses it. */
typedef struct host_dial {
	p2p_host *host;
	p2p_peerid peer;
	/* The direct addresses first, then the relay ones. */
	p2p_buf addrs[P2P_HOST_MAX_DIAL_ADDRS];
	size_t n_addrs;
	dial_lane lanes[2]; /* HOST_LANE_DIRECT, HOST_LANE_RELAY */
	/* What the direct lane's last DNS address resolved to, tried before
	 * its next address. */
	p2p_buf resolved[P2P_HOST_MAX_DIAL_ADDRS];
	size_t n_resolved, next_resolved;
	uv_timer_t timer; /* starts the relay lane; its close frees the dial */
	bool done;
	int last_err;
	host_waiter *waiters;
	struct host_dial *prev, *next;
} host_dial;

/* A connect request answered from the loop (reused connection, or the
 * host closing): the connection is looked up again when it runs. */
typedef struct host_ready {
	p2p_peerid peer;
	int err;
	p2p_host_connect_cb cb;
	void *user;
	struct host_ready *next;
} host_ready;

typedef struct host_handler {
	char *protocol;
	p2p_stream_handler fn;
	void *user;
} host_handler;

typedef struct host_transport {
	p2p_host_transport t;
	void *self;
} host_transport;

typedef struct host_observer {
	p2p_host_observer obs;
	void *user;
} host_observer;

typedef struct host_expected {
	uint8_t addr[P2P_HOST_EXPECTED_ADDR_MAX]; /* binary /ipX/<ip>/tcp/<port> */
	size_t len;
	bool initiator;
	uint64_t until; /* uv_now() deadline */
} host_expected;

struct p2p_host {
	uv_loop_t *loop;
	const p2p_privkey *key;
	p2p_peerid id;
	p2p_host_config cfg; /* defaults filled in */
	char *agent;
	p2p_peerstore *ps;

	p2p_tcp_listener *listeners[P2P_HOST_MAX_LISTENERS];
	size_t n_listeners;
	/* p2p_host_set_announce_addrs: what identify advertises instead. */
	p2p_buf announce[P2P_HOST_MAX_ANNOUNCE];
	size_t n_announce;
	bool announce_set;
	host_handler handlers[P2P_HOST_MAX_HANDLERS];
	size_t n_handlers;
	host_transport transports[P2P_HOST_MAX_TRANSPORTS];
	size_t n_transports;
	host_observer observers[P2P_HOST_MAX_OBSERVERS];
	size_t n_observers;

	/* p2p_host_expect_inbound: accepted connections that get another
	 * handshake role (a hole punch's SYN taken by our listener). */
	host_expected expected[P2P_HOST_MAX_EXPECTED];
	size_t n_expected;

	host_conn *conns;
	size_t n_open;
	/* The resource manager and the connection manager's tick. */
	p2p_rcmgr *rc;
	uv_timer_t cm_timer;
	bool cm_timer_open;
	uint64_t cm_synced_at; /* when every connection's streams were recounted */
	host_dial *dials;
	size_t n_dials;
	host_ready *ready, *ready_tail;

	uv_idle_t idle; /* delivers `ready` */
	/* The resolver for DNS addresses (dial.c), made on first use. */
	p2p_dns *dns;
	char *dns_servers; /* cfg.dns_servers, copied */
	bool dns_closing;
	size_t closing_listeners;
	bool closing;
	void (*on_closed)(void *user);
	void *closed_user;
};

/* host.c */
p2p_upgrade_config host_upgrade_config(p2p_host *h, bool initiator,
                                       const p2p_peerid *expected);
extern const p2p_conn_callbacks host_conn_callbacks;
/* Registers a connection whose handshake is in progress. */
host_conn *host_conn_add(p2p_host *h, p2p_conn *c, bool inbound);
/* The handshake of hc finished: count it, apply the per-peer limit, tell
 * the observers. Returns false if the connection was refused. */
bool host_conn_opened(host_conn *hc);
/* A connection's handshake failed: forget it. */
void host_conn_failed(host_conn *hc);
void host_maybe_finish(p2p_host *h);
void host_defer_connect(p2p_host *h, const p2p_peerid *peer, int err,
                        p2p_host_connect_cb cb, void *user);

/* connmgr.c */
/* Makes the resource manager and starts the tick. */
int host_cm_init(p2p_host *h);
/* Stops the tick; host_maybe_finish waits for its handle to close. */
void host_cm_close(p2p_host *h);
/* An accepted TCP connection: reserved as a pending handshake, then held
 * until its first byte arrives, and then upgraded. */
void host_accept(p2p_host *h, p2p_pipe *pipe);
/* Takes a pending-handshake reservation for ip, evicting the oldest
 * handshake of the IP holding the most if the budget is full and that IP
 * holds at least two more. P2P_RCMGR_OK, or why not (counted). */
p2p_rcmgr_reason host_pending_admit(p2p_host *h, const p2p_rcmgr_ip *ip);
/* Gives back hc's pending reservation, if it holds one. */
void host_pending_release(host_conn *hc);
/* No room for one more connection, even by trimming an idle one (then
 * counted as a refusal). */
bool host_conns_full(p2p_host *h);
/* A connection reservation for hc, now open (trims the idlest one at the
 * cap if it can). false: refused. */
bool host_conn_admit(host_conn *hc);
/* Gives back what hc holds (connection and streams). */
void host_conn_release(host_conn *hc);
/* The peer opened a stream on hc: false if over budget (reset it). */
bool host_stream_admit(host_conn *hc);

/* host.c, for connmgr.c */
/* Upgrades pipe for hc (registered; its pending reservation taken if it
 * is inbound). On error the pipe is closed, hc forgotten and cb never
 * runs. */
int host_upgrade(host_conn *hc, p2p_pipe *pipe, const p2p_host_pipe_opts *o,
                 p2p_host_connect_cb cb, void *user);

/* dial.c */
void host_dials_cancel(p2p_host *h);
/* Closes the resolver, if any; h->dns is NULL once it is closed. */
void host_dns_close(p2p_host *h);

#endif
