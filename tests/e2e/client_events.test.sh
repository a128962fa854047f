#!/usr/bin/env bash
# The client's events (issue 10, finding 11). LISTENING (session_id: the
# host's peer ID, port) comes as soon as the local port is open, whether
# the host can be reached or not; CONNECTED (session_id, addr, port,
# path) only once the host has answered OK to a tunnel, the first one
# since start or since a DISCONNECT. Before, CONNECTED came as soon as the
# libp2p connection was up, so a client whose secret the host refuses
# said CONNECTED all the same. Now such a client says LISTENING, then only
# an ERROR when its first tunnel is refused, and exits 2. Over TCP and
# UDP, and for a host that is not up yet when the client starts.
source "$(dirname "$0")/lib.sh"

# count NAME ACTION: how many ACTION events NAME printed so far.
count() {
	grep -c "\"action\":\"$2\"" "$TMP/$1.out" || true
}

# wait_log NAME TEXT: waits (30 s at most: a reconnection backs off) for
# TEXT on NAME's stderr.
wait_log() {
	local i
	for i in $(seq 300); do
		grep -q "$2" "$TMP/$1.err" && return 0
		sleep 0.1
	done
	fail "$1 never logged '$2'"
}

# refused NAME PID: the client NAME, whose first tunnel the host refused
# for its secret, said so in an ERROR, never said CONNECTED, and exits 2.
refused() {
	local ev rc=0
	ev=$(wait_event "$TMP/$1.out" ERROR 10) || fail "$1: no ERROR for the refused tunnel"
	json_get "$ev" error | grep -q "refused the tunnel: the token.s secret is wrong" || fail "$1: wrong ERROR: $ev"
	for i in $(seq 100); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$2" 2>/dev/null && fail "$1 still runs with a refused secret"
	wait "$2" || rc=$?
	[ $rc -eq 2 ] || fail "$1 exited with $rc, expected 2"
	[ "$(count "$1" CONNECTED)" = 0 ] || fail "$1 said CONNECTED to a host that refused it"
}

# listening NAME: checks NAME's LISTENING event (the first event it
# printed, with the port start_client read) and that no CONNECTED
# follows while no tunnel has been accepted, the libp2p connection to the
# host being up (HOST_ID: the host's peer ID).
listening() {
	local ev
	ev=$(head -n 1 "$TMP/$1.out")
	check_json "$ev" "ev['action'] == 'LISTENING' and ev['port'] == $PORT and ev['session_id'] == '$HOST_ID'"
	check_json "$ev" "sorted(ev) == ['action', 'port', 'session_id']"
	wait_log "$1" "connected to host"
	sleep 0.5
	[ "$(count "$1" CONNECTED)" = 0 ] || fail "$1 said CONNECTED before any tunnel"
}

mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" 10000 "$TMP/bidir"
SVC_PORT=$(wait_port_file "$TMP/bidir.port")
start_host host -port "$SVC_PORT"
HOST_ID=$(json_get "$(wait_event "$TMP/host.out" TOKEN 1)" peer_id)
P2P_PORT=$HOST_PORT

# --- 1. TCP, a wrong secret: LISTENING, then only an ERROR ---
BAD=$(python3 "$HELPER" wrong-secret-token "$TOKEN") || fail "no wrong-secret token"
start_client bad "$BAD"
BAD_PID=$CLIENT_PID
listening bad
python3 "$HELPER" expect-closed "$PORT" 10 || fail "the refused local connection hung"
refused bad "$BAD_PID"
echo "ok: TCP, wrong secret: LISTENING at once, then an ERROR, no CONNECTED, exit 2"

# --- 2. TCP, the right secret: CONNECTED after the first tunnel ---
start_client good "$TOKEN"
GOOD_PID=$CLIENT_PID
listening good
timeout 20 python3 "$HELPER" client-bidir "$PORT" 10000 >/dev/null || fail "the first tunnel"
ev=$(wait_event "$TMP/good.out" CONNECTED 10) || fail "no CONNECTED after the first tunnel"
check_json "$ev" "ev['port'] == $PORT and ev['session_id'] == '$HOST_ID' and ev['path'] == 'direct'"
check_json "$ev" "ev['addr'] == '/ip4/127.0.0.1/tcp/$P2P_PORT'"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 10000 2 >/dev/null || fail "more tunnels"
sleep 0.3
[ "$(count good CONNECTED)" = 1 ] || fail "CONNECTED again for later tunnels"
echo "ok: TCP: CONNECTED once, after the host accepted the first tunnel: $ev"

# --- 3. a host that is not up yet ---
stop_pid "$GOOD_PID"
stop_pid "$HOST_PID"
t0=$(date +%s%N)
start_client early "$TOKEN"
EARLY_PID=$CLIENT_PID
t1=$(date +%s%N)
ev=$(wait_event "$TMP/early.out" ERROR 20) || fail "no ERROR while the host is down"
json_get "$ev" error | grep -q "cannot reach host .* yet" || fail "wrong ERROR while the host is down: $ev"
[ "$(count early CONNECTED)" = 0 ] || fail "CONNECTED while the host is down"
echo "ok: host down: LISTENING after $(((t1 - t0) / 1000000)) ms, then: $(json_get "$ev" error)"
restart_host host "$P2P_PORT" -port "$SVC_PORT"
wait_log early "connected to host"
[ "$(count early CONNECTED)" = 0 ] || fail "CONNECTED before any tunnel reached the restarted host"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 10000 >/dev/null || fail "a tunnel once the host is up"
ev=$(wait_event "$TMP/early.out" CONNECTED 10) || fail "no CONNECTED once the host is up"
check_json "$ev" "ev['port'] == $PORT and ev['path'] == 'direct'"
echo "ok: host up later: CONNECTED after its first tunnel"
stop_pid "$EARLY_PID"
stop_pid "$HOST_PID"

# --- 4. UDP: the same, the first flow the host accepts is CONNECTED ---
start_bg echo python3 "$HELPER" udp-echo "$TMP/echo.port"
ECHO_PORT=$(wait_port_file "$TMP/echo.port")
start_host uhost -network udp -port "$ECHO_PORT"
HOST_ID=$(json_get "$(wait_event "$TMP/uhost.out" TOKEN 1)" peer_id)
UBAD=$(python3 "$HELPER" wrong-secret-token "$TOKEN") || fail "no wrong-secret UDP token"
start_client ubad "$UBAD" -network udp
UBAD_PID=$CLIENT_PID
listening ubad
python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))' "$PORT"
refused ubad "$UBAD_PID"
start_client ugood "$TOKEN" -network udp
UGOOD_PID=$CLIENT_PID
listening ugood
timeout 30 python3 "$HELPER" udp-check "$PORT" 20 2 >/dev/null || fail "UDP echo"
ev=$(wait_event "$TMP/ugood.out" CONNECTED 10) || fail "no CONNECTED after the first UDP flow"
check_json "$ev" "ev['port'] == $PORT and ev['session_id'] == '$HOST_ID' and ev['path'] == 'direct'"
[ "$(count ugood CONNECTED)" = 1 ] || fail "CONNECTED for each UDP flow"
echo "ok: UDP: wrong secret refused without CONNECTED; the right one: $ev"
stop_pid "$UGOOD_PID"
stop_pid "$HOST_PID"
echo PASS
