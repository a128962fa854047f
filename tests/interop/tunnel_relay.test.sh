#!/usr/bin/env bash
# The tunnel through relays of both implementations, on loopback:
#  1. a js-libp2p relay (no limits) carries a tunnel: our host reserves on
#     it (voucher checked), our client, given only the token's circuit
#     address, CONNECTs through it; a web page and 4 MiB each way arrive
#     intact and the client reports path "relayed";
#  2. a js-libp2p relay with its default limits (2 min, 128 KiB) gives a
#     clear ERROR on both ends and carries no tunnel;
#  3. a js-libp2p node dials our tunnel host through our relay service
#     (tunnel -relay-service) and runs identify and ping over the circuit.
source "$(dirname "$0")/lib.sh"

need_js
TUNNEL=$BUILD_DIR/tunnel
[ -x "$TUNNEL" ] || fail "no tunnel binary in BUILD_DIR=$BUILD_DIR"
HELPER=$SRC_DIR/tests/e2e/tunnel_helper.py
RELAY_JS=$INTEROP_DIR/relay.mjs
SIZE=$((4 * 1024 * 1024))

# wait_event, json_get, wait_port_file
# shellcheck source-path=SCRIPTDIR source=../e2e/events.sh
source "$SRC_DIR/tests/e2e/events.sh"

# start_bg NAME CMD...: in the background, output to $WORK/NAME.out/.err,
# stopped by stop_peer like the others (it prints no listen line).
start_bg() {
	local name=$1
	shift
	"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
	PEER_PIDS[$name]=$!
}

# wait_grep PATTERN FILE: the line may come a moment after the event that
# caused it (the js relay logs after it answered).
wait_grep() {
	local i
	for i in $(seq 100); do
		grep -q "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

# Services on loopback: a page and the bidirectional checker.
mkdir -p "$WORK/www" "$WORK/bidir"
echo "hello through a js relay $$" >"$WORK/www/index.html"
python3 "$HELPER" serve-http "$WORK/web.port" "$WORK/www" >"$WORK/web.log" 2>&1 &
PEER_PIDS[web]=$!
python3 "$HELPER" serve-bidir "$WORK/bidir.port" "$SIZE" "$WORK/bidir" >"$WORK/bidir.log" 2>&1 &
PEER_PIDS[bidir]=$!
WEB_PORT=$(wait_port_file "$WORK/web.port")
SVC_PORT=$(wait_port_file "$WORK/bidir.port")

# start_tunnel_host NAME SERVICE_PORT RELAY: sets TOKEN (its first TOKEN
# event, which waits for the relay's answer) and RTOKEN (the same token
# with only its circuit addresses, so that on loopback the client cannot
# take the direct path).
start_tunnel_host() {
	start_bg "$1" "$TUNNEL" -no-holepunch -port "$2" -listen /ip4/127.0.0.1/tcp/0 -key "$WORK/$1.key" -relay "$3"
	local ev
	ev=$(wait_event "$WORK/$1.out" TOKEN 20) || fail "$1 printed no TOKEN"
	TOKEN=$(json_get "$ev" token)
	RTOKEN=$(python3 "$HELPER" relayed-token "$TOKEN") || fail "$1's TOKEN has no circuit address: $ev"
}

# --- 1. a js relay without limits carries a tunnel ---
start_peer jsrelay "$NODE" "$RELAY_JS" --relay --listen /ip4/127.0.0.1/tcp/0
JS_RELAY=$PEER_ADDR JS_RELAY_ID=$PEER_ID
start_tunnel_host webhost "$WEB_PORT" "$JS_RELAY"
wait_grep '"event":"reservation"' "$WORK/jsrelay.out" || fail "the js relay logged no reservation"
start_bg webclient "$TUNNEL" -no-holepunch -token "$RTOKEN" -port 0
ev=$(wait_event "$WORK/webclient.out" LISTENING 30) || fail "the client printed no LISTENING"
port=$(json_get "$ev" port)
page=$(curl -sS -m 20 "http://127.0.0.1:$port/index.html") || fail "curl through the js relay failed"
[ "$page" = "hello through a js relay $$" ] || fail "wrong page: $page"
# CONNECTED follows the host's OK to that first tunnel, with its way.
ev=$(wait_event "$WORK/webclient.out" CONNECTED 10) || fail "the client printed no CONNECTED"
[ "$(json_get "$ev" path)" = relayed ] || fail "CONNECTED is not relayed: $ev"
json_get "$ev" addr | grep -q "/p2p/$JS_RELAY_ID/p2p-circuit" || fail "not through the js relay: $ev"
[ "$(json_get "$ev" port)" = "$port" ] || fail "CONNECTED has another port than LISTENING: $ev"
wait_grep '"event":"circuit"' "$WORK/jsrelay.out" || fail "the js relay logged no circuit"
echo "ok: a web page through a js-libp2p relay"

start_tunnel_host bidirhost "$SVC_PORT" "$JS_RELAY"
start_bg bidirclient "$TUNNEL" -no-holepunch -token "$RTOKEN" -port 0
ev=$(wait_event "$WORK/bidirclient.out" LISTENING 30) || fail "the client printed no LISTENING"
sent=$(timeout 120 python3 "$HELPER" client-bidir "$(json_get "$ev" port)" "$SIZE") ||
	fail "the transfer through the js relay failed"
for i in $(seq 100); do [ -f "$WORK/bidir/recv.0" ] && break; sleep 0.1; done
[ "$(cat "$WORK/bidir/recv.0")" = "$sent" ] || fail "the service got $(cat "$WORK/bidir/recv.0"), sent $sent"
echo "ok: $((SIZE >> 20)) MiB each way through a js-libp2p relay, checked"
for p in bidirclient bidirhost webclient webhost jsrelay; do stop_peer "$p"; done

# --- 2. a js relay with its default limits carries no tunnel ---
start_peer jslimited "$NODE" "$RELAY_JS" --relay --limited --listen /ip4/127.0.0.1/tcp/0
start_tunnel_host limhost "$WEB_PORT" "$PEER_ADDR"
grep -q '"action":"ERROR".*limits each circuit' "$WORK/limhost.out" ||
	fail "the host did not say that the js relay limits its circuits"
start_bg limclient "$TUNNEL" -no-holepunch -token "$RTOKEN" -port 0
ev=$(wait_event "$WORK/limclient.out" LISTENING 30) || fail "the client printed no LISTENING"
if page=$(curl -sS -m 10 "http://127.0.0.1:$(json_get "$ev" port)/index.html" 2>/dev/null); then
	fail "a page came through a limited relay: $page"
fi
[ -z "${page:-}" ] || fail "partial data through a limited relay: $page"
wait_grep '"action":"ERROR".*unlimited relay' "$WORK/limclient.out" ||
	fail "the client's ERROR does not say an unlimited relay is needed"
grep -q '"action":"CONNECTED"' "$WORK/limclient.out" && fail "CONNECTED over a limited relay"
echo "ok: a limited js-libp2p relay gives a clear ERROR and no data"
for p in limclient limhost jslimited; do stop_peer "$p"; done

# --- 3. a js node reaches our tunnel host through our relay service ---
start_peer crelay "$TUNNEL" -relay-service -listen /ip4/127.0.0.1/tcp/0 -key "$WORK/crelay.key"
start_tunnel_host host3 9 "$PEER_ADDR"
CIRCUIT=$(json_get "$(wait_event "$WORK/host3.out" TOKEN 1)" addrs | grep -o '"[^"]*p2p-circuit[^"]*"' | head -n 1 | tr -d '"')
[ -n "$CIRCUIT" ] || fail "host3's TOKEN has no circuit address"
run_dialer "$NODE" "$RELAY_JS" --dial "$CIRCUIT" --count 3
check_dialer --agent-prefix mtunnel/ --pings 3 \
	--protocols /ipfs/id/1.0.0,/ipfs/ping/1.0.0,/mtunnel/2.0.0,/libp2p/circuit/relay/0.2.0/stop
wait_event "$WORK/crelay.out" CIRCUIT 10 >/dev/null || fail "our relay logged no CIRCUIT"
echo "ok: a js-libp2p node ran identify and ping with our host through our relay"
for p in host3 crelay; do stop_peer "$p"; done
echo "PASS"
