#include "tunnel/udp.h"

void tunnel_udp_decoder_init(tunnel_udp_decoder *d)
{
	tunnel_frame_reader_init(&d->frames, TUNNEL_UDP_MAX_DATAGRAM);
}

void tunnel_udp_decoder_close(tunnel_udp_decoder *d)
{
	tunnel_frame_reader_close(&d->frames);
}

int tunnel_udp_decode(tunnel_udp_decoder *d, const uint8_t *in, size_t len,
                      size_t *consumed, const uint8_t **dgram, size_t *dgram_len)
{
	return tunnel_frame_read(&d->frames, in, len, consumed, dgram, dgram_len);
}

bool tunnel_udp_decoder_idle(const tunnel_udp_decoder *d)
{
	return tunnel_frame_reader_idle(&d->frames);
}

int tunnel_udp_encode(const uint8_t *dgram, size_t len, p2p_buf *out)
{
	return tunnel_frame_write(dgram, len, TUNNEL_UDP_MAX_DATAGRAM, out);
}
