/* As fuzz_relay_hop.c, for StopMessage. */
#define RELAY_KIND P2P_RELAY_STOP
#include "fuzz_relay_hop.c"
