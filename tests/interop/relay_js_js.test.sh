#!/usr/bin/env bash
# Self-check of the circuit relay v2 harness, js-libp2p only: a js relay, a
# js peer reserving a slot on it, a js dialer through the relay (identify,
# pings, a 1 MiB echo). Then the same through a --limited relay, where the
# 128 KiB data limit must cut the echo, proving the limit is applied. If this
# fails, the harness (or its install) is broken, not the C stack.
source "$(dirname "$0")/lib.sh"

RELAY_JS=$INTEROP_DIR/relay.mjs
ECHO_BYTES=1048576
SERVED=/ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop

need_js

# Unlimited relay: everything gets through.
start_peer relay "$NODE" "$RELAY_JS" --relay --listen /ip4/127.0.0.1/tcp/0
start_peer reserver "$NODE" "$RELAY_JS" --reserve "$PEER_ADDR"
case $PEER_ADDR in */p2p-circuit/p2p/"$PEER_ID") ;; *) fail "not a circuit address: $PEER_ADDR" ;; esac
run_dialer "$NODE" "$RELAY_JS" --dial "$PEER_ADDR" --count 3 --echo "$ECHO_BYTES" --timeout 30
check_dialer --agent-prefix js-libp2p --protocols "$SERVED" --pings 3 --echo "$ECHO_BYTES"
grep -q '"event":"reservation".*"limit":null' "$WORK/relay.out" || fail "relay logged no unlimited reservation"
grep -q '"event":"circuit"' "$WORK/relay.out" || fail "relay logged no circuit"
stop_peer reserver
stop_peer relay

# Limited relay: the echo must fail.
start_peer relay "$NODE" "$RELAY_JS" --relay --limited --listen /ip4/127.0.0.1/tcp/0
start_peer reserver "$NODE" "$RELAY_JS" --reserve "$PEER_ADDR"
run_dialer_fails "$NODE" "$RELAY_JS" --dial "$PEER_ADDR" --count 1 --echo "$ECHO_BYTES" --timeout 30
grep -q '"echo_bytes"' "$WORK/dialer.out" && fail "1 MiB echo got through a 128 KiB limited relay"
grep -q '"rtt_ms"' "$WORK/dialer.out" || fail "no ping through the limited relay before the echo"
grep -q '"event":"reservation".*"data":131072' "$WORK/relay.out" || fail "relay logged no limited reservation"
stop_peer reserver
stop_peer relay
echo "PASS"
