/* Helpers shared by the files of the crypto module; not part of the public
 * contract. */
#ifndef P2P_CRYPTO_KEY_INTERNAL_H
#define P2P_CRYPTO_KEY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/keys.h"

#define P2P_ED25519_KEY_LEN 32 /* public key and private seed alike */

/* Makes a public key from the contents of the protobuf Data field (the raw
 * key material, whose form depends on the type). The material is checked as
 * p2p_pubkey_decode checks it, and must be in its canonical form. */
int p2p_pubkey_from_raw(p2p_pubkey **out, p2p_key_type type, const uint8_t *data,
                        size_t len);

#endif
