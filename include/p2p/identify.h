/* Identify (specs: identify/README.md): a peer tells another its public
 * key, listen addresses, supported protocols and agent, and what address it
 * sees the other one at.
 *
 * On /ipfs/id/1.0.0 the side that accepted the stream writes its Identify
 * message and closes; on /ipfs/id/push/1.0.0 the side that opened the
 * stream does. On the wire a message is a uvarint length followed by the
 * protobuf. go-libp2p may split one Identify into several such messages
 * (the signed peer record in a second one); the reader merges them all
 * until the stream ends, like go-libp2p and js-libp2p do.
 *
 * The first part of this header is sans-I/O: it encodes, decodes and
 * merges messages. The service at the end runs it on a host's streams. */
#ifndef P2P_IDENTIFY_H
#define P2P_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/host.h"

#define P2P_IDENTIFY_PROTOCOL         "/ipfs/id/1.0.0"
#define P2P_IDENTIFY_PUSH_PROTOCOL    "/ipfs/id/push/1.0.0"
#define P2P_IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"
#define P2P_IDENTIFY_AGENT_VERSION    "mtunnel/" P2P_VERSION

/* Limits. go-libp2p reads messages of up to 8 KiB (signedIDSize) and
 * js-libp2p likewise (maxMessageSize 8 KiB), in at most 10 parts; both send
 * at most 4 KiB, which is what rust-libp2p accepts. We do the same. */
#define P2P_IDENTIFY_MAX_MESSAGE   (8 * 1024) /* one message we read */
#define P2P_IDENTIFY_MAX_SEND      (4 * 1024) /* one message we write */
#define P2P_IDENTIFY_MAX_PARTS     10         /* messages merged per stream */
#define P2P_IDENTIFY_MAX_ADDRS     256        /* listen addresses kept */
#define P2P_IDENTIFY_MAX_PROTOCOLS 256        /* protocols kept */
#define P2P_IDENTIFY_MAX_ADDR_LEN  1024       /* one binary multiaddr */
#define P2P_IDENTIFY_MAX_STRING    1024       /* a version string or protocol ID */
/* The service waits this long for a whole answer (or push) once the stream
 * is negotiated (go-libp2p and js-libp2p allow 5 s for all of identify). */
#define P2P_IDENTIFY_TIMEOUT_MS 10000

/* An Identify message. Every pointer is owned by the struct and released
 * by p2p_identify_free. A bytes field of length 0 is absent, as is a NULL
 * string. */
typedef struct p2p_identify {
	char *protocol_version;
	char *agent_version;
	p2p_buf public_key;    /* encoded PublicKey protobuf (keys.h) */
	p2p_buf *listen_addrs; /* binary multiaddrs */
	size_t n_listen_addrs;
	p2p_buf observed_addr; /* binary multiaddr */
	char **protocols;
	size_t n_protocols;
	p2p_buf signed_peer_record; /* serialized Envelope (envelope.h) */
} p2p_identify;

void p2p_identify_init(p2p_identify *id);
void p2p_identify_free(p2p_identify *id);

/* Setters copy their arguments and enforce the limits above (P2P_ETOOBIG
 * for a long item, P2P_ELIMIT for one item too many). */
int p2p_identify_set_protocol_version(p2p_identify *id, const char *s);
int p2p_identify_set_agent_version(p2p_identify *id, const char *s);
int p2p_identify_set_public_key(p2p_identify *id, const uint8_t *pb, size_t len);
int p2p_identify_set_observed_addr(p2p_identify *id, const uint8_t *ma, size_t len);
int p2p_identify_set_signed_peer_record(p2p_identify *id, const uint8_t *env, size_t len);
int p2p_identify_add_listen_addr(p2p_identify *id, const uint8_t *ma, size_t len);
int p2p_identify_add_protocol(p2p_identify *id, const char *protocol);

/* Appends one length-prefixed message; P2P_ETOOBIG if the protobuf would
 * exceed P2P_IDENTIFY_MAX_SEND (send fewer addresses). */
int p2p_identify_encode(const p2p_identify *id, p2p_buf *out);

/* Merges one protobuf message (without its length prefix) into id:
 * present single fields replace, repeated fields append. P2P_EPROTO if
 * malformed, P2P_ETOOBIG / P2P_ELIMIT past a limit. On error id holds
 * whatever was merged before (consistent, but not to be trusted). */
int p2p_identify_decode(p2p_identify *id, const uint8_t *pb, size_t len);

/* Reads the length-prefixed messages of one identify stream. */
typedef struct p2p_identify_reader {
	p2p_buf pending; /* bytes of an incomplete message */
	size_t parts;    /* messages merged so far */
} p2p_identify_reader;

void p2p_identify_reader_init(p2p_identify_reader *r);
void p2p_identify_reader_free(p2p_identify_reader *r);
/* Feeds stream bytes; every complete message is merged into id. Errors are
 * final: P2P_ETOOBIG (message over P2P_IDENTIFY_MAX_MESSAGE), P2P_ELIMIT
 * (over P2P_IDENTIFY_MAX_PARTS), or those of p2p_identify_decode. */
int p2p_identify_reader_recv(p2p_identify_reader *r, p2p_identify *id, const uint8_t *in,
                             size_t len);
/* The stream ended: P2P_OK if at least one whole message was read and
 * nothing is left over, P2P_EPROTO otherwise. */
int p2p_identify_reader_finish(const p2p_identify_reader *r);

/* --- the service on a host (identify_service.c) --- */

typedef struct p2p_identify_service p2p_identify_service;

/* The peer of c was identified (push false), or it pushed an update (push
 * true). info is valid during the call only; on failure it is NULL and err
 * says why. c is valid during the call. */
typedef void (*p2p_identify_cb)(p2p_conn *c, const p2p_identify *info, bool push, int err,
                                void *user);

/* Serves /ipfs/id/1.0.0 and /ipfs/id/push/1.0.0 on h and identifies every
 * new connection. What peers tell goes into the peerstore: public key
 * (when it is the peer's), agent, protocols, and listen addresses, taken
 * from the signed peer record when there is a valid one. cb may be NULL.
 * An answer that takes over P2P_IDENTIFY_TIMEOUT_MS fails with
 * P2P_ETIMEDOUT (the stream is reset).
 * The service must outlive the host's connections: free it once the host
 * has closed (from p2p_host_close's on_closed); it does not touch the host
 * then. */
int p2p_identify_service_new(p2p_identify_service **out, p2p_host *h, p2p_identify_cb cb,
                             void *user);
void p2p_identify_service_free(p2p_identify_service *svc);
/* Pushes our identify to every connected peer (after our addresses or
 * protocols changed). */
int p2p_identify_service_push(p2p_identify_service *svc);
/* Appends the length-prefixed Identify we send on connection c: our
 * addresses, protocols, key, agent, a freshly signed peer record, and c's
 * remote address as the observed address. Trimmed to fit
 * P2P_IDENTIFY_MAX_SEND (the record goes first, then addresses). */
int p2p_identify_service_message(p2p_identify_service *svc, p2p_conn *c, p2p_buf *out);
/* Where peers say they see us (obsaddr.h), from the identify answers of
 * direct connections: inbound ones, and outbound ones dialed from a
 * listening port. Addresses with at least min_observers distinct observer
 * IPs (P2P_OBSADDR_CONFIRMED: confirmed; 1: every candidate), most
 * observed first, copied into out[0..max) (initialised by the caller);
 * returns how many qualify. */
size_t p2p_identify_service_observed(p2p_identify_service *svc, unsigned min_observers,
                                     p2p_buf *out, size_t max);

#endif
