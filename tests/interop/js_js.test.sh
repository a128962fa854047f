#!/usr/bin/env bash
# Self-check of the interop harness: js-libp2p listens, js-libp2p dials, with
# the same checks as the C tests. If this fails, the harness (or its install)
# is broken, not the C stack.
source "$(dirname "$0")/lib.sh"

need_js
start_listener "$NODE" "$PEER_JS" --listen /ip4/127.0.0.1/tcp/0
run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 3 --echo "$TRANSFER_BYTES" \
	--perf-upload "$TRANSFER_BYTES" --perf-download "$TRANSFER_BYTES"
check_dialer --agent-prefix js-libp2p --pings 3 --echo "$TRANSFER_BYTES" --perf
stop_listener
echo "PASS"
