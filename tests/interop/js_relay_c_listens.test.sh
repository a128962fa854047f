#!/usr/bin/env bash
# Circuit relay v2, our client half against js-libp2p's relay server: the C
# peer (p2p-ping --relay) reserves a slot on a js relay and checks its
# voucher; a js peer dials the C peer's circuit address through that relay,
# so the C peer accepts the relay's stop CONNECT and upgrades the relayed
# stream into a connection. Over it: identify, 3 pings and a 1 MiB echo
# that must come back identical. Then the C dialer reaches a js peer
# reserved on the same js relay through it, the same way. Everyone exits 0
# on SIGTERM.
source "$(dirname "$0")/lib.sh"

need_js
P2P_PING=$(p2p_ping)
RELAY_JS=$INTEROP_DIR/relay.mjs
start_peer relay "$NODE" "$RELAY_JS" --relay --listen /ip4/127.0.0.1/tcp/0
RELAY_ADDR=$PEER_ADDR
start_peer cpeer "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 --relay "$RELAY_ADDR"
case $PEER_ADDR in
*/p2p-circuit/p2p/*) ;;
*) fail "the C peer's first address is not a circuit address: $PEER_ADDR" ;;
esac
run_dialer "$NODE" "$RELAY_JS" --dial "$PEER_ADDR" --count 3 --echo 1048576
check_dialer --agent-prefix mtunnel/ --pings 3 --echo 1048576 \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop
grep -q '"event":"reservation"' "$WORK/relay.out" || fail "the js relay logged no reservation"
grep -q '"event":"circuit"' "$WORK/relay.out" || fail "the js relay logged no circuit"
# And the other way: the C dialer reaches a js peer through the js relay.
start_peer jspeer "$NODE" "$RELAY_JS" --reserve "$RELAY_ADDR"
run_dialer "$P2P_PING" "$PEER_ADDR" --count 3 --echo 1048576
check_dialer --pings 3 --echo 1048576 \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/echo/1.0.0,/libp2p/circuit/relay/0.2.0/stop
stop_peer jspeer
stop_peer cpeer
stop_peer relay
echo "PASS"
