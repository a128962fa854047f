/* Internals shared by the host's files: host.c (lifetime, listeners,
 * handlers, observers, the connection manager) and dial.c (connect,
 * new_stream). */
#ifndef P2P_HOST_INTERNAL_H
#define P2P_HOST_INTERNAL_H

#include "p2p/dns.h"
#include "p2p/host.h"
#include "p2p/transport.h"

/* One connection the host holds, from handshake to close. */
typedef struct host_conn {
	p2p_host *host;
	p2p_conn *conn;
	bool open; /* handshake done, counted as a connection */
	bool inbound;
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

	host_conn *conns;
	size_t n_open, n_pending_in;
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

/* dial.c */
void host_dials_cancel(p2p_host *h);
/* Closes the resolver, if any; h->dns is NULL once it is closed. */
void host_dns_close(p2p_host *h);

#endif
