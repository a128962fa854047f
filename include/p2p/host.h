/* The libp2p host: our identity, listeners, connections to peers, the
 * protocol handlers that serve inbound streams, a peerstore and a
 * connection manager with explicit limits.
 *
 * Threading: the host runs on the caller's libuv loop and never makes
 * threads; every callback runs on that loop. Nothing is global: two hosts
 * can share one loop (the tests do).
 *
 * Typical use:
 *   p2p_host_new(&h, loop, key, NULL);
 *   p2p_host_set_handler(h, "/echo/1.0.0", on_echo_stream, app);
 *   p2p_host_listen(h, "/ip4/0.0.0.0/tcp/4001");
 *   p2p_host_new_stream(h, &peer, protos, 1, on_stream_ready, app);
 *   ...
 *   p2p_host_close(h, on_host_closed, app);  then let uv_run finish. */
#ifndef P2P_HOST_H
#define P2P_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "p2p/conn.h"
#include "p2p/keys.h"
#include "p2p/log.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/peerstore.h"
#include "p2p/rcmgr.h"
#include "p2p/stream.h"
#include "p2p/transport.h"

/* Connection manager defaults (each overridable in p2p_host_config). */
#define P2P_HOST_MAX_CONNS            256 /* open connections in total */
#define P2P_HOST_MAX_CONNS_PER_PEER   2   /* e.g. both sides dialed at once */
#define P2P_HOST_MAX_PENDING_INBOUND  32  /* inbound handshakes in progress */
#define P2P_HOST_MAX_PENDING_OUTBOUND 64  /* dials in progress */
/* Resource manager defaults (p2p/rcmgr.h), for a tunnel host: a few
 * clients, each with up to thousands of tunneled connections (streams) on
 * one libp2p connection. Each overridable in p2p_host_config; docs/
 * architecture.md ("Resource manager") has the values for a public relay.
 * Per IP means per IPv4 address or IPv6 /64, inbound connections only. */
/* Handshakes in progress from one IP: with the eviction below, an
 * attacker on one IP holds at most this many of the 32 slots. */
#define P2P_HOST_MAX_PENDING_PER_IP 4
/* A TCP connection must send its first byte within this, or go: a silent
 * socket holds a handshake slot 3 s, not the 15 s of
 * P2P_HANDSHAKE_TIMEOUT_MS (which counts from the first byte on). */
#define P2P_HOST_FIRST_BYTE_TIMEOUT_MS 3000
#define P2P_HOST_MAX_CONNS_PER_IP      8 /* established inbound ones */
/* Streams open at once (both ways, every connection): about 0.6 KiB
 * each before any data, so the default is some 5 MiB. */
#define P2P_HOST_MAX_STREAMS 8192
/* One tunnel client may use its whole connection (the tunnel allows 4096
 * streams on one) but not the whole host. */
#define P2P_HOST_MAX_STREAMS_PER_IP   4096
#define P2P_HOST_MAX_STREAMS_PER_PEER 4096
/* A peer's first streams get in even over P2P_HOST_MAX_STREAMS, so that
 * a flood from elsewhere never locks it out (bounded: max_conns times
 * this on top). */
#define P2P_HOST_STREAMS_FLOOR_PER_PEER 16
/* An inbound connection with no stream open for this long is closed,
 * unless its peer is protected (p2p_host_protect). */
#define P2P_HOST_IDLE_TIMEOUT_MS 30000
/* At max_conns, a new connection takes the place of the inbound,
 * unprotected connection idle the longest, if that is longer than this;
 * otherwise it is refused. A new connection is never the one trimmed. */
#define P2P_HOST_TRIM_GRACE_MS 5000
/* How often the connection manager looks for deadlines (first byte,
 * idle), at most; shorter for short timeouts (a quarter of the shortest). */
#define P2P_HOST_CM_TICK_MS 1000
/* Other limits. */
#define P2P_HOST_MAX_LISTENERS 8
#define P2P_HOST_MAX_HANDLERS  64 /* protocol handlers (mss's offer limit) */
#define P2P_HOST_MAX_OBSERVERS 16
/* Addresses tried per connect: as many as a tunnel token carries. Past it
 * the first ones of each kind (direct, /p2p-circuit) are kept, each kind
 * getting at least half of the slots if it has that many. */
#define P2P_HOST_MAX_DIAL_ADDRS 16
/* How long a connect gives the direct addresses before it also tries the
 * /p2p-circuit ones, as go-libp2p's RelayDelay: a peer behind a NAT that
 * drops our SYNs is still reached through its relay soon. */
#define P2P_HOST_RELAY_DIAL_DELAY_MS 500

typedef struct p2p_host p2p_host;

typedef struct p2p_host_config {
	p2p_logger log;     /* copied; fn NULL writes to stderr */
	uint32_t max_conns; /* 0 in any field: the default */
	uint32_t max_conns_per_peer;
	uint32_t max_pending_inbound;
	uint32_t max_pending_outbound;
	uint32_t max_streams_per_conn; /* default P2P_CONN_MAX_STREAMS */
	uint64_t dial_timeout_ms;      /* default P2P_DIAL_TIMEOUT_MS */
	uint64_t handshake_timeout_ms; /* default P2P_HANDSHAKE_TIMEOUT_MS */
	const char *agent_version;     /* copied; NULL: "mtunnel/<version>" */
	uint64_t negotiate_timeout_ms; /* default P2P_STREAM_NEGOTIATE_TIMEOUT_MS */
	uint64_t write_stall_ms;       /* default P2P_CONN_WRITE_STALL_MS */
	/* Name servers for dialing /dns, /dns4, /dns6 and /dnsaddr addresses
	 * (p2p/dns.h), e.g. "127.0.0.1:5353" (copied); NULL: the system's
	 * (/etc/resolv.conf). /etc/hosts is read first either way. */
	const char *dns_servers;
	/* The resource manager (p2p/rcmgr.h); 0: the default, UINT32_MAX: no
	 * limit. */
	uint32_t max_pending_per_ip;     /* P2P_HOST_MAX_PENDING_PER_IP */
	uint32_t max_conns_per_ip;       /* P2P_HOST_MAX_CONNS_PER_IP */
	uint32_t max_streams;            /* P2P_HOST_MAX_STREAMS */
	uint32_t max_streams_per_ip;     /* P2P_HOST_MAX_STREAMS_PER_IP */
	uint32_t max_streams_per_peer;   /* P2P_HOST_MAX_STREAMS_PER_PEER */
	uint32_t streams_floor_per_peer; /* P2P_HOST_STREAMS_FLOOR_PER_PEER */
	uint64_t first_byte_timeout_ms;  /* P2P_HOST_FIRST_BYTE_TIMEOUT_MS */
	uint64_t trim_grace_ms;          /* P2P_HOST_TRIM_GRACE_MS */
	/* No stream this long closes an inbound connection; 0: never
	 * (unlike the fields above, 0 is not the default: p2p_host_config_init
	 * sets P2P_HOST_IDLE_TIMEOUT_MS). */
	uint64_t idle_timeout_ms;
	/* Loopback sources (127.0.0.0/8, ::1) are exempt from the per-IP
	 * limits (the system ones still apply). Default false: 127.0.0.2 and
	 * 127.0.0.3 are different IPs, each with its own share. */
	bool exempt_loopback;
	/* TCP dials leave from the port of our listener of the destination's
	 * family (port reuse, as go-libp2p's reuseport transport: transport.h,
	 * p2p_tcp_dial_opts), so that a NAT maps them to the public port
	 * peers observe and can dial back, which hole punching needs. Where
	 * that port cannot be had (a connection from it to the same address
	 * exists) the dial falls back to an ephemeral port. Default false:
	 * reuse on; true: every dial from an ephemeral port. */
	bool no_reuse_port;
} p2p_host_config;

/* Fills cfg with the defaults (log level P2P_LOG_WARN to stderr). */
void p2p_host_config_init(p2p_host_config *cfg);

/* key is borrowed and must outlive the host. cfg is copied; NULL means
 * the defaults. */
int p2p_host_new(p2p_host **out, uv_loop_t *loop, const p2p_privkey *key,
                 const p2p_host_config *cfg);
/* Graceful shutdown: stops listening, fails pending dials and streams
 * requests with P2P_ECLOSED, closes every connection (streams get
 * on_reset/on_close, observers on_disconnected), then, once libuv has
 * closed every handle, frees the host and calls on_closed (may be NULL).
 * The loop must keep running until then. */
void p2p_host_close(p2p_host *h, void (*on_closed)(void *user), void *user);

const p2p_peerid *p2p_host_peer_id(const p2p_host *h);
const p2p_privkey *p2p_host_key(const p2p_host *h);
uv_loop_t *p2p_host_loop(const p2p_host *h);
const p2p_logger *p2p_host_logger(const p2p_host *h);
/* The agent version we announce (identify). Owned by h. */
const char *p2p_host_agent_version(const p2p_host *h);
/* Owned by h. */
p2p_peerstore *p2p_host_peerstore(p2p_host *h);

/* --- listening --- */

/* Listens on a multiaddr in text form ("/ip4/127.0.0.1/tcp/0") or binary
 * form. Port 0 picks a free port: see p2p_host_addrs. */
int p2p_host_listen(p2p_host *h, const char *multiaddr);
int p2p_host_listen_bin(p2p_host *h, const uint8_t *addr, size_t addr_len);
/* The bound listen addresses (binary multiaddrs with the real ports,
 * without /p2p/): fills out[0..max) and returns how many there are. The
 * bufs are owned by h. */
size_t p2p_host_addrs(const p2p_host *h, const p2p_buf **out, size_t max);

#define P2P_HOST_MAX_ANNOUNCE 16 /* addresses set to be advertised */

/* The addresses identify advertises for us, in place of the listen
 * addresses, as go-libp2p's AddrsFactory: the listen addresses with a
 * wildcard replaced by the interfaces' addresses, relay circuits. Binary,
 * without /p2p/<us>; copied. addrs NULL (n 0) goes back to the listen
 * addresses. P2P_EINVAL past P2P_HOST_MAX_ANNOUNCE or for an address that
 * does not validate. Call p2p_identify_service_push to tell peers. */
int p2p_host_set_announce_addrs(p2p_host *h, const p2p_buf *addrs, size_t n);
/* What we advertise (owned by h): the announce addresses if set, else the
 * listen addresses. Fills out[0..max), returns how many exist. */
size_t p2p_host_announce_addrs(const p2p_host *h, const p2p_buf **out, size_t max);

/* --- protocols --- */

/* An inbound stream negotiated to `protocol` (owned by s). The handler
 * owns the stream from now on: set its callbacks, or close/reset it. */
typedef void (*p2p_stream_handler)(p2p_stream *s, const char *protocol, void *user);

/* Serves `protocol` (copied) with handler; replaces an existing handler
 * for the same ID. P2P_ELIMIT past P2P_HOST_MAX_HANDLERS. */
int p2p_host_set_handler(p2p_host *h, const char *protocol, p2p_stream_handler handler,
                         void *user);
int p2p_host_remove_handler(p2p_host *h, const char *protocol);
/* The protocols we serve, in the order they were added (identify
 * advertises them). Fills out[0..max), returns the count; owned by h. */
size_t p2p_host_protocols(const p2p_host *h, const char **out, size_t max);

/* --- connections and streams --- */

/* c is borrowed (valid until on_disconnected) or NULL with err < 0. */
typedef void (*p2p_host_connect_cb)(p2p_conn *c, int err, void *user);

/* Connects to `peer`, reusing an open connection if there is one (cb then
 * runs from the loop, not from inside this call). Otherwise tries addrs
 * (binary multiaddrs, data[0..len) of each; a /p2p/ suffix is allowed;
 * copied; at most P2P_HOST_MAX_DIAL_ADDRS, also added to the peerstore)
 * or, if n is 0, the peerstore's addresses.
 *
 * The addresses are dialed in two lanes, each one address after the
 * other in the order given: the direct lane (every address without
 * /p2p-circuit; a DNS address is resolved when its turn comes, and up to
 * P2P_HOST_MAX_DIAL_ADDRS of the TCP addresses it stands for are tried)
 * and the relay lane (the /p2p-circuit addresses, through an added
 * transport), which starts P2P_HOST_RELAY_DIAL_DELAY_MS after the direct
 * one, or at once when the direct lane has failed or is empty. The first
 * connection made wins and the other lane's attempt is cancelled; the
 * connect fails, with the last error, once both lanes have failed.
 *
 * If the remote authenticates as another peer the connection is closed and
 * the error is P2P_EPEERID. Returns 0 and cb runs later, always from the
 * loop; or a negative error and cb never runs: P2P_ENOTFOUND (no address),
 * P2P_ELIMIT (connection manager), P2P_EINVAL, P2P_EPEERID (an address
 * names another peer), P2P_ECLOSED (host closing). Errors given to cb:
 * P2P_EPEERID, P2P_ETIMEDOUT, P2P_EIO, P2P_ELIMIT, P2P_ECLOSED,
 * P2P_EUNSUPPORTED (a relay address and no transport for it), any
 * handshake error. */
int p2p_host_connect(p2p_host *h, const p2p_peerid *peer, const p2p_buf *addrs, size_t n,
                     p2p_host_connect_cb cb, void *user);

/* On success s is a negotiated stream owned by the callee (set its
 * callbacks); on failure s is NULL and err says why (connect errors, or
 * P2P_ENEGOTIATE if the peer supports none of the protocols). */
typedef void (*p2p_host_stream_cb)(p2p_stream *s, int err, void *user);

/* Connects if needed (peerstore addresses), opens a stream and proposes
 * `protocols` (copied, at most P2P_MSS_MAX_PROTOCOLS) in order of
 * preference. Returns 0 and cb runs later, or a negative error (as
 * p2p_host_connect) and cb never runs. */
int p2p_host_new_stream(p2p_host *h, const p2p_peerid *peer, const char *const *protocols,
                        size_t n, p2p_host_stream_cb cb, void *user);

/* An open connection to peer, or NULL: the best there is, a direct one
 * before a relayed one (p2p_conn_is_relayed), and an unlimited relayed
 * one before a limited one (p2p_conn_is_limited); among equals the
 * newest. Borrowed. */
p2p_conn *p2p_host_conn(const p2p_host *h, const p2p_peerid *peer);
/* Fills out[0..max) with the open connections; returns how many exist. */
size_t p2p_host_conns(const p2p_host *h, p2p_conn **out, size_t max);
/* Closes every connection to peer. */
void p2p_host_disconnect(p2p_host *h, const p2p_peerid *peer);

/* --- the connection manager and the resource manager --- */

/* A protected peer's inbound connections are never closed for being idle
 * nor trimmed at max_conns, and are exempt from the per-IP limits: for
 * peers with live tunnels or on an allow-list. Kept until turned off,
 * whether the peer is connected or not. P2P_ENOMEM. */
int p2p_host_protect(p2p_host *h, const p2p_peerid *peer, bool on);
bool p2p_host_is_protected(const p2p_host *h, const p2p_peerid *peer);
/* What the resource manager holds now (the streams recounted first), and
 * every refusal and closing so far by reason (p2p_rcmgr_reason_name names
 * them). */
void p2p_host_rcmgr_stats(p2p_host *h, p2p_rcmgr_stats *out);

/* The local port the host's TCP dials to addr (binary) leave from: a
 * listening port of addr's family (port reuse; a wildcard listener first,
 * a loopback one only for a loopback destination), or 0 for an ephemeral
 * one (no such listener, or no_reuse_port). For a caller that dials by
 * itself what must leave from there too (a hole punch). */
uint16_t p2p_host_dial_port(const p2p_host *h, const uint8_t *addr, size_t len);

/* --- transports --- */

#define P2P_HOST_MAX_TRANSPORTS 4 /* besides TCP, which is built in */

/* A way to dial addresses the host cannot dial over TCP by itself, e.g.
 * /p2p-circuit ones (circuit relay v2); QUIC would be one more. Addresses
 * are binary, without the final /p2p/<peer>. The pipe a transport dials is
 * upgraded by the host as the initiator, expecting `peer`. */
typedef struct p2p_host_transport {
	const char *name; /* for logs */
	bool (*can_dial)(void *self, const uint8_t *addr, size_t len);
	/* Starts a dial; cb runs exactly once, from the loop, unless this
	 * returns an error. *handle (for cancel) is valid until cb runs. */
	int (*dial)(void *self, const uint8_t *addr, size_t len, const p2p_peerid *peer,
	            p2p_dial_cb cb, void *user, void **handle);
	/* cb follows with P2P_ECLOSED. */
	void (*cancel)(void *self, void *handle);
} p2p_host_transport;

/* Adds a transport (t is copied; self is borrowed and must outlive the
 * host). Transports are asked in the order added, before DNS and TCP.
 * P2P_ELIMIT past P2P_HOST_MAX_TRANSPORTS. */
int p2p_host_add_transport(p2p_host *h, const p2p_host_transport *t, void *self);

/* --- connections over other carriers --- */

/* How to upgrade a pipe that did not come from one of the host's own
 * listeners or dials: a relayed stream (circuit relay v2), a TCP
 * simultaneous open (DCUtR). */
typedef struct p2p_host_pipe_opts {
	bool initiator;             /* the handshake role (transport.h) */
	p2p_direction direction;    /* who asked for the connection */
	const p2p_peerid *expected; /* the peer we mean to reach; NULL: anyone */
} p2p_host_pipe_opts;

/* Upgrades `pipe` (taken over, also on error) into one of the host's
 * connections: counted and limited like the others (an inbound one against
 * max_pending_inbound during its handshake), served by the handlers and
 * reported to the observers. cb (may be NULL) runs once from the loop:
 * with the open connection, or NULL and the error (P2P_ELIMIT,
 * P2P_EPEERID, any handshake error). Returns 0, or a negative error (the
 * pipe is closed) and cb never runs. */
int p2p_host_upgrade_pipe(p2p_host *h, p2p_pipe *pipe, const p2p_host_pipe_opts *o,
                          p2p_host_connect_cb cb, void *user);

/* A connection accepted within ttl_ms from exactly remote_addr (binary
 * /ip4|ip6/<ip>/tcp/<port>, as its pipe's remote address will read; a
 * trailing /p2p/ is ignored) is upgraded with this handshake role, once,
 * instead of as the responder; as the initiator it starts at once rather
 * than wait for the peer's first byte. For a hole punch: without a NAT in
 * between (a LAN, loopback) the peer's SYN lands on our listener while
 * DCUtR made us the initiator. P2P_ELIMIT with P2P_HOST_MAX_EXPECTED
 * pending, P2P_EINVAL for a longer address. */
#define P2P_HOST_MAX_EXPECTED      16
#define P2P_HOST_EXPECTED_ADDR_MAX 32
int p2p_host_expect_inbound(p2p_host *h, const uint8_t *remote_addr, size_t len,
                            bool initiator, uint64_t ttl_ms);

/* --- notifications --- */

typedef struct p2p_host_observer {
	/* A connection is open (after the security and muxer handshakes). */
	void (*on_connected)(p2p_host *h, p2p_conn *c, void *user);
	/* The connection is closing; c is valid during the call only. */
	void (*on_disconnected)(p2p_host *h, p2p_conn *c, void *user);
} p2p_host_observer;

/* Subscribes (obs is copied; either callback may be NULL). P2P_ELIMIT
 * past P2P_HOST_MAX_OBSERVERS. */
int p2p_host_observe(p2p_host *h, const p2p_host_observer *obs, void *user);
/* Unsubscribes the subscription made with the same user pointer. */
void p2p_host_unobserve(p2p_host *h, void *user);

#endif
