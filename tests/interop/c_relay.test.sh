#!/usr/bin/env bash
# Circuit relay v2, our relay service (hop) with js-libp2p peers on it:
#  1. a js peer reserves on the C relay (p2p-ping --relay-service) and
#     another js peer dials its circuit address through it: identify,
#     3 pings, a 1 MiB echo back identical;
#  2. a C peer (p2p-ping --relay) reserves on the same C relay and a js peer
#     dials it through the relay the same way;
#  3. a C peer dials that C peer's circuit address through the C relay.
# Everyone exits 0 on SIGTERM (the C ones under ASan: no leaks).
source "$(dirname "$0")/lib.sh"

need_js
P2P_PING=$(p2p_ping)
RELAY_JS=$INTEROP_DIR/relay.mjs
ECHO=1048576
start_peer relay "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 --relay-service
RELAY_ADDR=$PEER_ADDR

start_peer jspeer "$NODE" "$RELAY_JS" --reserve "$RELAY_ADDR"
run_dialer "$NODE" "$RELAY_JS" --dial "$PEER_ADDR" --count 3 --echo $ECHO
check_dialer --pings 3 --echo $ECHO \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop
stop_peer jspeer

start_peer cpeer "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 --relay "$RELAY_ADDR"
case $PEER_ADDR in
*/p2p-circuit/p2p/*) ;;
*) fail "the C peer's first address is not a circuit address: $PEER_ADDR" ;;
esac
run_dialer "$NODE" "$RELAY_JS" --dial "$PEER_ADDR" --count 3 --echo $ECHO
check_dialer --agent-prefix mtunnel/ --pings 3 --echo $ECHO \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop
# 3. C to C through the C relay: p2p-ping dials the circuit address.
run_dialer "$P2P_PING" "$PEER_ADDR" --count 3 --echo $ECHO
check_dialer --agent-prefix mtunnel/ --pings 3 --echo $ECHO \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop
stop_peer cpeer
stop_peer relay
echo "PASS"
