#!/usr/bin/env bash
# The C stack listens (p2p-ping --listen), js-libp2p dials: identify must list
# our protocols with an "mtunnel" agent, 3 pings, a 16 MiB echo must come back
# identical, and /perf/1.0.0 must run both ways. The C listener must then exit
# 0 on SIGTERM (under ASan: no leaks).
source "$(dirname "$0")/lib.sh"

need_js
P2P_PING=$(p2p_ping)
start_listener "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0
run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 3 --echo "$TRANSFER_BYTES" \
	--perf-upload "$TRANSFER_BYTES" --perf-download "$TRANSFER_BYTES"
check_dialer --agent-prefix mtunnel --pings 3 --echo "$TRANSFER_BYTES" --perf
stop_listener
echo "PASS"
