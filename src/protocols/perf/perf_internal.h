/* Internal to the perf protocol: the host-side client and server
 * (perf_service.c) send the filler from a zeroed buffer of their own, so
 * the cores only count it instead of writing zeros for every chunk. */
#ifndef P2P_PROTOCOLS_PERF_INTERNAL_H
#define P2P_PROTOCOLS_PERF_INTERNAL_H

#include <stddef.h>

#include "p2p/perf.h"

/* Counts up to max upload filler bytes as produced and returns how many
 * (0 once the upload is out). The header must have been produced. */
size_t perf_client_take_filler(p2p_perf_client *c, size_t max);
/* The same for the server's reply; 0 before the client's EOF. */
size_t perf_server_take_filler(p2p_perf_server *s, size_t max);

#endif
