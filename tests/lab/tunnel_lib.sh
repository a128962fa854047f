# shellcheck shell=bash
# What the NAT lab's tunnel tests share (relay_tunnel, holepunch): the
# tunnel processes in lab nodes, the services behind NAT1, and transfers
# checked by SHA-256. Sourced after lib.sh; the test may set TUNNEL_FLAGS
# (an array) for every host and client it starts.

: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
: "${SRC_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
TUNNEL="$BUILD_DIR/tunnel"
[ -n "${TUNNEL_FLAGS+set}" ] || TUNNEL_FLAGS=()
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
	bg host "$name" "$TUNNEL" "${TUNNEL_FLAGS[@]}" -port "$port" -key "$T/$name.key" -listen /ip4/0.0.0.0/tcp/0 "${args[@]}"
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
	bg client "$name" "$TUNNEL" "${TUNNEL_FLAGS[@]}" -token "$TOKEN" -port 0
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

# wait_direct FILE WHO [TIMEOUT_S]: prints the event that says FILE's session went
# direct: a PATH direct, or a CONNECTED that was direct already (the punch
# may beat the first tunnel), within TIMEOUT_S (default 40).
wait_direct() {
	python3 -c '
import json, sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:
    for line in open(sys.argv[1]):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("action") in ("PATH", "CONNECTED") and ev.get("path") == "direct":
            print(line.strip())
            sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
' "$1" "${3:-40}" || fail "$2: the session did not go direct"
}

# transfer PORT [NODE]: SIZE bytes each way through the tunnel at PORT of
# NODE (default client), checked by SHA-256 at both ends (the service
# writes recv.N for its Nth connection).
XFER=0
transfer() {
	local sent got i f="$T/bidir/recv.$XFER"
	XFER=$((XFER + 1))
	sent=$(lab_exec "${2:-client}" timeout 300 python3 "$HELPER" client-bidir "$1" "$SIZE") ||
		fail "the transfer through the tunnel failed"
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

