/* The client role: given a host's token, listens on a local port and
 * carries each local connection to the host's service over its own
 * libp2p stream (/mtunnel/2.0.0, after the header exchange). */
#ifndef TUNNEL_APP_CLIENT_H
#define TUNNEL_APP_CLIENT_H

#include <uv.h>

#include "tunnel/cli.h"

/* Runs the client until SHUTDOWN, a signal or a refused token; returns
 * the exit status. */
int tunnel_client_main(uv_loop_t *loop, const tunnel_opts *o);

#endif
