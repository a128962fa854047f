#!/usr/bin/env bash
# A tunnel between two NATs, through our relay: the host behind NAT1 and the
# client behind NAT2 cannot reach each other directly (each router drops
# what it did not ask for), so with only the token the client goes through
# `tunnel -relay-service` on the public segment. For EIM/EIM,
# symmetric/symmetric and EIM/symmetric: a web page and TUNNEL_LAB_MIB
# (default 64) MiB each way arrive with matching SHA-256, and the client
# reports path "relayed". Then: the relay in use dies while a second relay
# is up, the host announces a new TOKEN without it, the client reconnects
# through the other one and a new transfer succeeds. Last, a relay that
# limits its circuits (go-libp2p's public defaults) gives a clear ERROR on
# both ends and no data, rather than a tunnel cut off mid-transfer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
lab_need_root
# Say where errexit struck, in functions too: a silent exit is no help.
set -E
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
: "${SRC_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
TUNNEL="$BUILD_DIR/tunnel"
HELPER="$SRC_DIR/tests/e2e/tunnel_helper.py"
SIZE=$((${TUNNEL_LAB_MIB:-64} * 1024 * 1024))
RELAY_PORT=4001
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
[ -x "$TUNNEL" ] || {
	echo "FAIL: no tunnel binary at $TUNNEL" >&2
	exit 1
}

T="" # the current lab's scratch directory (LAB_TMP)

fail() {
	echo "FAIL: $*" >&2
	if [ -n "$T" ]; then
		for f in "$T"/*.out "$T"/*.err; do
			[ -f "$f" ] || continue
			echo "--- $f" >&2
			tail -n 25 "$f" >&2
		done
	fi
	exit 1
}

# wait_event, json_get, wait_port_file
# shellcheck source-path=SCRIPTDIR source=../e2e/events.sh
source "$SRC_DIR/tests/e2e/events.sh"

# bg NODE NAME cmd...: in the background inside NODE, stdout/stderr to
# $T/NAME.out/.err; lab_down kills it. Sets LAST_PID.
bg() {
	local node=$1 name=$2
	shift 2
	ip netns exec "$LAB_PREFIX$node" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	LAST_PID=$!
	LAB_PIDS+=("$LAST_PID")
}

# start_relay NODE ADDR NAME [FLAGS...]: sets RELAY_ADDR (.../p2p/ID) and
# RELAY_ID.
start_relay() {
	local node=$1 addr=$2 name=$3 ev
	shift 3
	# The default listen address (every interface, port 4001): what it
	# announces must be its real address, not 0.0.0.0.
	bg "$node" "$name" "$TUNNEL" -relay-service \
		-key "$T/$name.key" "$@"
	ev=$(wait_event "$T/$name.out" RELAY 20) || fail "$name printed no RELAY"
	RELAY_ID=$(json_get "$ev" peer_id)
	RELAY_ADDR="/ip4/$addr/tcp/$RELAY_PORT/p2p/$RELAY_ID"
	json_get "$ev" addrs | grep -qF "$RELAY_ADDR" || fail "$name RELAY lacks $RELAY_ADDR: $ev"
	json_get "$ev" addrs | grep -q "/ip4/0.0.0.0/" && fail "$name RELAY has a wildcard: $ev"
	return 0
}

# start_services: a web page and the bidirectional checker on the host's
# loopback; sets WEB_PORT and SVC_PORT.
start_services() {
	XFER=0
	mkdir -p "$T/www" "$T/bidir"
	echo "hello from behind NAT1 $$" >"$T/www/index.html"
	bg host web python3 "$HELPER" serve-http "$T/web.port" "$T/www"
	bg host bidir python3 "$HELPER" serve-bidir "$T/bidir.port" "$SIZE" "$T/bidir"
	WEB_PORT=$(wait_port_file "$T/web.port")
	SVC_PORT=$(wait_port_file "$T/bidir.port")
}

# start_host NAME PORT RELAY...: a host on LAN1 reserving on each relay;
# sets TOKEN (from its first TOKEN event, which waits for the relays).
start_host() {
	local name=$1 port=$2 r args=() ev
	shift 2
	for r in "$@"; do args+=(-relay "$r"); done
	bg host "$name" "$TUNNEL" -port "$port" -key "$T/$name.key" -listen /ip4/0.0.0.0/tcp/0 "${args[@]}"
	ev=$(wait_event "$T/$name.out" TOKEN 30) || fail "$name printed no TOKEN"
	TOKEN=$(json_get "$ev" token)
	json_get "$ev" addrs | grep -q "/p2p-circuit/p2p/" || fail "$name TOKEN has no relay address: $ev"
	# The relays' addresses as they announce them: no wildcard, no loopback.
	json_get "$ev" addrs | grep -Eq "/ip4/(0\.0\.0\.0|127\.[0-9.]+)/tcp/$RELAY_PORT/p2p/" &&
		fail "$name TOKEN has a relay address no one can dial: $ev"
	return 0
}

# start_client NAME: a client on LAN2 with only the token; sets PORT (from
# its LISTENING event: the host is not reached yet).
start_client() {
	local name=$1
	bg client "$name" "$TUNNEL" -token "$TOKEN" -port 0
	local ev
	ev=$(wait_event "$T/$name.out" LISTENING 40) || fail "$name printed no LISTENING"
	PORT=$(json_get "$ev" port)
}

# connected NAME [NTH]: sets CLIENT_EV to NAME's NTH CONNECTED event, which
# follows the host's OK to the first tunnel (since a DISCONNECT for NTH 2).
connected() {
	CLIENT_EV=$(wait_event "$T/$1.out" CONNECTED 20 "${2:-1}") || fail "$1 printed no CONNECTED"
	[ "$(json_get "$CLIENT_EV" port)" = "$PORT" ] || fail "$1: CONNECTED has another port: $CLIENT_EV"
}

# transfer PORT: SIZE bytes each way through the tunnel at PORT, checked by
# SHA-256 at both ends (the service writes recv.N for its Nth connection).
XFER=0
transfer() {
	local sent got i f="$T/bidir/recv.$XFER"
	XFER=$((XFER + 1))
	sent=$(lab_exec client timeout 300 python3 "$HELPER" client-bidir "$1" "$SIZE") ||
		fail "the transfer through the relay failed"
	for i in $(seq 100); do [ -f "$f" ] && break; sleep 0.1; done
	got=$(cat "$f" 2>/dev/null || true)
	[ "$got" = "$sent" ] || fail "the service got '$got', the client sent '$sent'"
}

web_page() {
	local page
	page=$(lab_exec client curl -sS -m 20 "http://127.0.0.1:$1/index.html") ||
		fail "curl through the relayed tunnel failed"
	[ "$page" = "hello from behind NAT1 $$" ] || fail "wrong page: $page"
}

# --- a relayed tunnel for each pair of NAT types ---
relayed_case() {
	lab_up "$1" "$2" || fail "lab_up $1 $2"
	T=$LAB_TMP
	# The NATs really are in the way: the client cannot reach the host.
	lab_echo_server host tcp 7000
	if lab_probe client tcp-connect "$LAB_HOST" 7000 1 >/dev/null 2>&1; then
		fail "$1/$2: the client reached the host directly"
	fi
	start_relay relay "$LAB_RELAY" relay
	start_services
	start_host webhost "$WEB_PORT" "$RELAY_ADDR"
	start_client webclient
	web_page "$PORT"
	connected webclient
	[ "$(json_get "$CLIENT_EV" path)" = relayed ] || fail "$1/$2: CONNECTED is not relayed: $CLIENT_EV"
	json_get "$CLIENT_EV" addr | grep -q "/p2p/$RELAY_ID/p2p-circuit" ||
		fail "$1/$2: CONNECTED addr is not the relay's: $CLIENT_EV"
	start_host bidirhost "$SVC_PORT" "$RELAY_ADDR"
	start_client bidirclient
	transfer "$PORT"
	echo "ok: $1/$2: web page and $((SIZE >> 20)) MiB each way through the relay"
	lab_down
	T=""
}

relayed_case eim eim
relayed_case symmetric symmetric
relayed_case eim symmetric

# --- the relay dies while a second one is up ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay1
R1_ADDR=$RELAY_ADDR R1_ID=$RELAY_ID R1_PID=$LAST_PID
start_relay pub2 "$LAB_PUB2" relay2
R2_ADDR=$RELAY_ADDR R2_ID=$RELAY_ID R2_PID=$LAST_PID
start_services
start_host bidirhost "$SVC_PORT" "$R1_ADDR" "$R2_ADDR"
ev=$(wait_event "$T/bidirhost.out" TOKEN 1) || fail "no TOKEN"
for id in "$R1_ID" "$R2_ID"; do
	json_get "$ev" addrs | grep -q "/p2p/$id/p2p-circuit" || fail "TOKEN lacks relay $id: $ev"
done
start_client bidirclient
transfer "$PORT"
connected bidirclient
# Kill the relay the client goes through; the other one stays up.
if json_get "$CLIENT_EV" addr | grep -q "/p2p/$R1_ID/p2p-circuit"; then
	DEAD_ID=$R1_ID DEAD_PID=$R1_PID LIVE_ID=$R2_ID
elif json_get "$CLIENT_EV" addr | grep -q "/p2p/$R2_ID/p2p-circuit"; then
	DEAD_ID=$R2_ID DEAD_PID=$R2_PID LIVE_ID=$R1_ID
else
	fail "the client did not go through a relay: $CLIENT_EV"
fi
kill -9 "$DEAD_PID"
# The host re-announces without the dead relay...
ev=$(wait_event "$T/bidirhost.out" TOKEN 30 2) || fail "no new TOKEN after the relay died"
json_get "$ev" addrs | grep -q "/p2p/$DEAD_ID/" && fail "the new TOKEN still has the dead relay: $ev"
json_get "$ev" addrs | grep -q "/p2p/$LIVE_ID/p2p-circuit" || fail "the new TOKEN lacks the live relay: $ev"
# ...and the client, with the old token, comes back through the other one.
wait_event "$T/bidirclient.out" DISCONNECT 20 >/dev/null || fail "the client did not notice the dead relay"
# It reconnects by itself (with backoff), then the first tunnel over the
# new connection says CONNECTED again, with its way.
for i in $(seq 600); do grep -q "reconnected to host" "$T/bidirclient.err" && break; sleep 0.1; done
grep -q "reconnected to host" "$T/bidirclient.err" || fail "the client did not reconnect"
transfer "$PORT"
connected bidirclient 2
json_get "$CLIENT_EV" addr | grep -q "/p2p/$LIVE_ID/p2p-circuit" || fail "reconnected, but not through the live relay: $CLIENT_EV"
echo "ok: relay failover: new TOKEN, the client reconnected through the other relay, new transfer checked"
lab_down
T=""

# --- a relay with go-libp2p's public limits cannot carry a tunnel ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay -circuit-duration 120 -circuit-data 131072
start_services
start_host webhost "$WEB_PORT" "$RELAY_ADDR"
grep -q '"action":"ERROR".*limits each circuit' "$T/webhost.out" ||
	fail "the host did not say that the relay limits its circuits"
start_client webclient
if page=$(lab_exec client curl -sS -m 10 "http://127.0.0.1:$PORT/index.html" 2>/dev/null); then
	fail "a page came through a limited relay: $page"
fi
[ -z "${page:-}" ] || fail "partial data through a limited relay: $page"
wait_event "$T/webclient.out" ERROR 10 >/dev/null || fail "the client printed no ERROR"
grep -q '"action":"ERROR".*unlimited relay' "$T/webclient.out" ||
	fail "the client's ERROR does not say an unlimited relay is needed"
grep -q '"action":"CONNECTED"' "$T/webclient.out" && fail "CONNECTED over a limited relay"
echo "ok: a limited relay gives a clear ERROR and no data"
lab_down
T=""
