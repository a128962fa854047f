/* splitmix64: a small, fast generator for the few random bits a policy
 * needs (a throttle window's jitter, which server to ask, how much dial
 * data to ask for), from a seed the caller draws once from the system.
 * Not for secrets: nonces and keys come from OpenSSL. The state is the
 * caller's, so there is no global generator. */
#ifndef P2P_SPLITMIX_H
#define P2P_SPLITMIX_H

#include <stdint.h>

static inline uint64_t p2p_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

#endif
