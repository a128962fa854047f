#!/usr/bin/env bash
# js-libp2p listens, the C stack dials (p2p-ping): the C side must read js's
# identify (agent "js-libp2p…", its protocols), ping 3 times, get a 16 MiB
# echo back identical and run /perf/1.0.0 both ways, then exit 0.
source "$(dirname "$0")/lib.sh"

need_js
P2P_PING=$(p2p_ping)
start_listener "$NODE" "$PEER_JS" --listen /ip4/127.0.0.1/tcp/0
run_dialer "$P2P_PING" "$LISTEN_ADDR" --count 3 --echo "$TRANSFER_BYTES" \
	--perf-upload "$TRANSFER_BYTES" --perf-download "$TRANSFER_BYTES"
check_dialer --agent-prefix js-libp2p --pings 3 --echo "$TRANSFER_BYTES" --perf
stop_listener
echo "PASS"
