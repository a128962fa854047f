/* Unsigned varints as multiformats defines them: LEB128, at most 9 bytes
 * (63 bits), and always in the minimal encoding. */
#ifndef P2P_VARINT_H
#define P2P_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define P2P_UVARINT_MAX_LEN 9
#define P2P_UVARINT_MAX_VALUE ((UINT64_C(1) << 63) - 1)

/* Writes v (must be <= P2P_UVARINT_MAX_VALUE) to out, returns bytes written. */
size_t p2p_uvarint_encode(uint64_t v, uint8_t out[P2P_UVARINT_MAX_LEN]);
/* Number of bytes p2p_uvarint_encode would write. */
size_t p2p_uvarint_size(uint64_t v);
/* Reads a varint from in[0..len). Returns bytes read (> 0) and sets *v,
 * P2P_EAGAIN if the input ends inside the varint, or P2P_EPROTO if it is
 * longer than 9 bytes or not minimally encoded. */
int p2p_uvarint_decode(const uint8_t *in, size_t len, uint64_t *v);

#endif
