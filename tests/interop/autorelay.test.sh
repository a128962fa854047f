#!/usr/bin/env bash
# Autorelay, on loopback: a tunnel host started without -relay reserves on
# a js-libp2p relay that connects to it (as the DHT will bring such
# peers), because the relay's identify lists the hop protocol. The host
# then prints a new TOKEN with the relay's circuit address, and a client
# given only that address reaches the service through the js relay. When
# the relay goes, the host drops it (no retry: a relay met by chance) and
# prints a TOKEN without it.
source "$(dirname "$0")/lib.sh"

need_js
TUNNEL=$BUILD_DIR/tunnel
[ -x "$TUNNEL" ] || fail "no tunnel binary in BUILD_DIR=$BUILD_DIR"
HELPER=$SRC_DIR/tests/e2e/tunnel_helper.py
RELAY_JS=$INTEROP_DIR/relay.mjs

# wait_event, json_get, wait_port_file
# shellcheck source-path=SCRIPTDIR source=../e2e/events.sh
source "$SRC_DIR/tests/e2e/events.sh"

start_bg() {
	local name=$1
	shift
	"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
	PEER_PIDS[$name]=$!
}

# client_port FILE: the local port of a client, from its first event
# that carries one.
client_port() {
	local i line
	for i in $(seq 300); do
		line=$(grep -m 1 -E '"action":"(LISTENING|CONNECTED)"' "$1" || true)
		[ -n "$line" ] && json_get "$line" port && return 0
		sleep 0.1
	done
	return 1
}

mkdir -p "$WORK/www"
echo "hello through an autorelay $$" >"$WORK/www/index.html"
python3 "$HELPER" serve-http "$WORK/web.port" "$WORK/www" >"$WORK/web.log" 2>&1 &
PEER_PIDS[web]=$!
WEB_PORT=$(wait_port_file "$WORK/web.port")

start_bg host "$TUNNEL" -no-holepunch -port "$WEB_PORT" -listen /ip4/127.0.0.1/tcp/0 -key "$WORK/host.key"
ev=$(wait_event "$WORK/host.out" TOKEN 20) || fail "the host printed no TOKEN"
case $ev in *p2p-circuit*) fail "a circuit address before any relay: $ev" ;; esac
HOST_ADDR=$(json_get "$ev" addrs | grep -o '"/ip4/127.0.0.1/tcp/[0-9]*/p2p/[^"]*"' | head -n 1 | tr -d '"')
[ -n "$HOST_ADDR" ] || fail "no loopback address in the host's TOKEN: $ev"

start_peer jsrelay "$NODE" "$RELAY_JS" --relay --listen /ip4/127.0.0.1/tcp/0 --connect "$HOST_ADDR"
JS_RELAY_ID=$PEER_ID
ev=$(wait_event "$WORK/host.out" TOKEN 20 2) || fail "no second TOKEN after the relay connected"
json_get "$ev" addrs | grep -q "/p2p/$JS_RELAY_ID/p2p-circuit/" ||
	fail "the second TOKEN has no circuit through the js relay: $ev"
grep -q '"event":"reservation"' "$WORK/jsrelay.out" || fail "the js relay logged no reservation"
RTOKEN=$(python3 "$HELPER" relayed-token "$(json_get "$ev" token)") || fail "no circuit in the token"
echo "ok: the host reserved on a js-libp2p relay it met"

start_bg client "$TUNNEL" -no-holepunch -token "$RTOKEN" -port 0
port=$(client_port "$WORK/client.out") || fail "the client printed no port"
page=$(curl -sS -m 20 "http://127.0.0.1:$port/index.html") || fail "curl through the autorelay failed"
[ "$page" = "hello through an autorelay $$" ] || fail "wrong page: $page"
ev=$(wait_event "$WORK/client.out" CONNECTED 10) || fail "the client printed no CONNECTED"
[ "$(json_get "$ev" path)" = relayed ] || fail "CONNECTED is not relayed: $ev"
echo "ok: a web page through the relay the host found by itself"

stop_peer client
stop_peer jsrelay
ev=$(wait_event "$WORK/host.out" TOKEN 20 3) || fail "no new TOKEN after the relay left"
case $ev in *p2p-circuit*) fail "the TOKEN still lists the dead relay: $ev" ;; esac
sleep 2
[ "$(grep -c '"action":"TOKEN"' "$WORK/host.out")" = 3 ] || fail "the host kept trying the dead relay"
echo "ok: the relay gone, the host dropped it"
stop_peer host
echo "PASS"
