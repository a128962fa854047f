#!/usr/bin/env bash
# A tunnel host is a libp2p node like any other: js-libp2p dials it and must
# get identify (agent "mtunnel/…", the tunnel, identify and ping protocols)
# and 3 pings. Relays, AutoNAT and DCUtR all stand on identify. The host
# must then exit 0 on SIGTERM (under ASan: no leaks).
source "$(dirname "$0")/lib.sh"

need_js
TUNNEL=$BUILD_DIR/tunnel
[ -x "$TUNNEL" ] || fail "no tunnel binary in BUILD_DIR=$BUILD_DIR"
# The service port is never connected to here: no tunnel stream is opened.
start_listener "$TUNNEL" -port 9 -listen /ip4/127.0.0.1/tcp/0 -key "$WORK/host.key"
run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 3
check_dialer --agent-prefix mtunnel/ --pings 3 \
	--protocols /ipfs/id/1.0.0,/ipfs/id/push/1.0.0,/ipfs/ping/1.0.0,/mtunnel/2.0.0
stop_listener
echo "PASS"
