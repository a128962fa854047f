/* /echo/1.0.0: the server writes back every byte it reads and half-closes
 * after the client did. Not a libp2p spec protocol; js-libp2p's test peers
 * and our tools use it to check that bytes cross a connection intact. */
#ifndef P2P_ECHO_H
#define P2P_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/host.h"

#define P2P_ECHO_PROTOCOL "/echo/1.0.0"
#define P2P_ECHO_CHUNK    (64 * 1024) /* largest write the client makes */

/* Serves echo on h. The server consumes what it read only once its echo
 * has drained, so a client that does not read stalls instead of growing
 * our memory. */
int p2p_echo_serve(p2p_host *h);

/* err 0 if all bytes came back identical and then the stream ended;
 * P2P_EPROTO if a byte differs or too many or too few came back. */
typedef void (*p2p_echo_done_cb)(int err, uint64_t elapsed_ns, void *user);

/* Sends data[0..len) (borrowed: keep it until on_done) over a new echo
 * stream to peer, half-closes, and checks the echo. No timeout here: the
 * caller bounds the run. */
int p2p_echo_run(p2p_host *h, const p2p_peerid *peer, const uint8_t *data, size_t len,
                 p2p_echo_done_cb on_done, void *user);

#endif
