/* The host role: exposes a local service (-port / -target) to clients that
 * hold its token. Prints the TOKEN event, serves /mtunnel/2.0.0 streams
 * (header check, then forwarding), and reports sessions (one per client
 * peer) with CONNECTED / DISCONNECT / LIST events. */
#ifndef TUNNEL_APP_HOST_H
#define TUNNEL_APP_HOST_H

#include <uv.h>

#include "tunnel/cli.h"

/* Runs the host until SHUTDOWN or a signal; returns the exit status. */
int tunnel_host_main(uv_loop_t *loop, const tunnel_opts *o);

#endif
