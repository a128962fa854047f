/* UDP datagrams carried over a tunnel stream. A stream is a byte pipe, so
 * each datagram travels as one length-prefixed frame (tunnel/frame.h): an
 * unsigned varint length, then the datagram. The far side reads whole
 * datagrams back, with their boundaries, however the stream cut the bytes.
 * Empty datagrams are legal in UDP and pass through as empty frames. */
#ifndef TUNNEL_UDP_H
#define TUNNEL_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "tunnel/frame.h"

/* The largest datagram we carry: the UDP length field is 16 bits. */
#define TUNNEL_UDP_MAX_DATAGRAM 65535

typedef struct tunnel_udp_decoder {
	tunnel_frame_reader frames;
} tunnel_udp_decoder;

void tunnel_udp_decoder_init(tunnel_udp_decoder *d);
void tunnel_udp_decoder_close(tunnel_udp_decoder *d);

/* Feeds stream bytes; same contract as tunnel_frame_read: P2P_OK with one
 * whole datagram in *dgram / *dgram_len (valid until the next call; loop
 * with the unconsumed rest), P2P_EAGAIN when the input is used up, and
 * final errors P2P_ETOOBIG (a length over TUNNEL_UDP_MAX_DATAGRAM),
 * P2P_EPROTO, P2P_ENOMEM. */
int tunnel_udp_decode(tunnel_udp_decoder *d, const uint8_t *in, size_t len,
                      size_t *consumed, const uint8_t **dgram, size_t *dgram_len);

/* True between datagrams, where the stream may end cleanly. */
bool tunnel_udp_decoder_idle(const tunnel_udp_decoder *d);

/* Appends the frame for one datagram. P2P_ETOOBIG over the maximum. */
int tunnel_udp_encode(const uint8_t *dgram, size_t len, p2p_buf *out);

#endif
