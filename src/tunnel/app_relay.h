/* The relay role (tunnel -relay-service): a standalone circuit relay v2
 * node for those who host their own. Prints the RELAY event (its peer ID
 * and addresses), serves /libp2p/circuit/relay/0.2.0/hop within the
 * limits of the command line, and reports reservations and circuits with
 * RESERVED / UNRESERVED / CIRCUIT events, refusals with ERROR events, and
 * all of it on LIST. */
#ifndef TUNNEL_APP_RELAY_H
#define TUNNEL_APP_RELAY_H

#include <uv.h>

#include "tunnel/cli.h"

/* Runs the relay until SHUTDOWN or a signal; returns the exit status. */
int tunnel_relay_main(uv_loop_t *loop, const tunnel_opts *o);

#endif
