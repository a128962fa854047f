#!/usr/bin/env bash
# tunnel -relay-service end to end, on loopback: the RELAY event, the same
# peer ID after a restart with the same key, a peer (p2p-ping --relay)
# reserving on it and another dialing that peer through it (RESERVED,
# CIRCUIT open and closed, LIST with the reservation, DISCONNECT ending
# it), -allow refusing a reservation with an ERROR event naming the peer,
# bad limits and -allow values (exit 2 with an ERROR line), and SHUTDOWN
# and SIGTERM (exit 0).
source "$(dirname "$0")/lib.sh"

P2P_PING="$BUILD_DIR/p2p-ping"
[ -x "$P2P_PING" ] || fail "no p2p-ping at $P2P_PING"

# start_relay NAME ARGS...: a relay with its key in $TMP/relay.key and its
# stdin the fifo $TMP/NAME.in (see send); sets RELAY_PID, RELAY_ID and
# RELAY_ADDR (its first address, with /p2p/).
start_relay() {
	local name=$1 ev
	shift
	rm -f "$TMP/$name.in"
	mkfifo "$TMP/$name.in"
	"$TUNNEL" -relay-service -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/relay.key" "$@" \
		<"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	RELAY_PID=$!
	PIDS+=("$RELAY_PID")
	# Held open for writing so that its stdin stays open (never read).
	# shellcheck disable=SC2034
	exec {HOLD_FD}>"$TMP/$name.in"
	ev=$(wait_event "$TMP/$name.out" RELAY 30 1 "$RELAY_PID") || fail "$name printed no RELAY"
	RELAY_ID=$(json_get "$ev" peer_id)
	RELAY_ADDR=$(json_get "$ev" addrs | python3 -c 'import json, sys; print(json.load(sys.stdin)[0])')
}

# wait_exit PID WANT: waits (at most 15 s) for PID to exit with WANT.
wait_exit() {
	local pid=$1 want=$2 rc=0
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "process $pid did not exit"
	wait "$pid" || rc=$?
	[ "$rc" = "$want" ] || fail "process $pid exited with $rc, expected $want"
}

# start_peer NAME RELAY_ADDR: p2p-ping reserving on the relay, with the key
# $TMP/peer.key; sets PEER_PID and CIRCUIT (its first address: through
# the relay) once it has its reservation.
start_peer() {
	local line=""
	start_bg "$1" "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 --key "$TMP/peer.key" --relay "$2"
	PEER_PID=$LAST_PID
	for _ in $(seq 300); do
		line=$(head -n 1 "$TMP/$1.out" 2>/dev/null || true)
		[ -n "$line" ] && [ "${line: -1}" = "}" ] && break
		kill -0 "$PEER_PID" 2>/dev/null || break
		sleep 0.1
	done
	CIRCUIT=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["addrs"][0])' "$line") ||
		fail "$1: no address line: $line"
}

# --- up, down with SHUTDOWN, up again with the same peer ID ---
start_relay relay
ID1=$RELAY_ID
case $RELAY_ADDR in
/ip4/127.0.0.1/tcp/*/p2p/"$ID1") ;;
*) fail "RELAY address: $RELAY_ADDR" ;;
esac
send relay '{"action":"SHUTDOWN"}'
wait_exit "$RELAY_PID" 0
start_relay relay2
[ "$RELAY_ID" = "$ID1" ] || fail "the peer ID changed across a restart: $ID1, then $RELAY_ID"
echo "ok: RELAY, SHUTDOWN, same peer ID after a restart"

# --- a reservation, a circuit through it, LIST, DISCONNECT ---
start_peer peer "$RELAY_ADDR"
case $CIRCUIT in
*/p2p/"$RELAY_ID"/p2p-circuit/p2p/*) ;;
*) fail "the peer's first address is no circuit through the relay: $CIRCUIT" ;;
esac
PEER_ID=${CIRCUIT##*/}
ev=$(wait_event "$TMP/relay2.out" RESERVED 10) || fail "no RESERVED event"
[ "$(json_get "$ev" peer_id)" = "$PEER_ID" ] || fail "RESERVED for the wrong peer: $ev"
json_get "$ev" addr | grep -q '^/ip4/127.0.0.1/tcp/' || fail "RESERVED addr: $ev"

timeout 60 "$P2P_PING" "$CIRCUIT" --count 2 --echo 100000 >"$TMP/dial.out" 2>"$TMP/dial.err" ||
	fail "dialing through the relay failed: $(cat "$TMP/dial.out")"
[ "$(grep -c rtt_ms "$TMP/dial.out")" = 2 ] || fail "no two pings through the relay"
grep -q '"ok":true' "$TMP/dial.out" || fail "the echo through the relay failed"
ev=$(wait_event "$TMP/relay2.out" CIRCUIT 10 1) || fail "no CIRCUIT event"
[ "$(json_get "$ev" state)" = open ] || fail "first CIRCUIT is not open: $ev"
[ "$(json_get "$ev" dst)" = "$PEER_ID" ] || fail "CIRCUIT to the wrong peer: $ev"
ev=$(wait_event "$TMP/relay2.out" CIRCUIT 10 2) || fail "no CIRCUIT closed event"
[ "$(json_get "$ev" state)" = closed ] || fail "second CIRCUIT is not closed: $ev"
[ "$(json_get "$ev" bytes_to_dst)" -gt 100000 ] || fail "CIRCUIT bytes: $ev"
[ "$(json_get "$ev" bytes_to_src)" -gt 100000 ] || fail "CIRCUIT bytes: $ev"

send relay2 '{"action":"LIST"}'
ev=$(wait_event "$TMP/relay2.out" LIST 10) || fail "no LIST event"
python3 - "$ev" "$PEER_ID" <<'PY' || fail "LIST: $ev"
import json, sys
ev, peer = json.loads(sys.argv[1]), sys.argv[2]
r = ev["reservations"]
assert len(r) == 1 and r[0]["peer_id"] == peer, r
assert r[0]["addr"].startswith("/ip4/127.0.0.1/tcp/") and r[0]["expire"] > 0, r
assert ev["circuits"] == [], ev["circuits"]
st = ev["stats"]
assert st["reservations"] == 1 and st["circuits"] == 1 and st["refused"] == 0, st
assert st["bytes"] > 200000, st
PY

send relay2 '{"action":"DISCONNECT","session_id":"12D3KooWFKjKdXbk2cHGEDQ13iqnfmPC2gXWwfvPYnxTaN77jPop"}'
wait_event "$TMP/relay2.out" ERROR 10 1 >/dev/null || fail "DISCONNECT of a stranger: no ERROR"
send relay2 "{\"action\":\"DISCONNECT\",\"session_id\":\"$PEER_ID\"}"
ev=$(wait_event "$TMP/relay2.out" UNRESERVED 10) || fail "no UNRESERVED after DISCONNECT"
[ "$(json_get "$ev" peer_id)" = "$PEER_ID" ] || fail "UNRESERVED of the wrong peer: $ev"
[ "$(json_get "$ev" reason)" = disconnected ] || fail "UNRESERVED reason: $ev"
echo "ok: RESERVED, CIRCUIT, LIST, DISCONNECT"
stop_pid "$PEER_PID"
stop_pid "$RELAY_PID"

# --- -allow: only the peers named may reserve ---
start_relay relay3 -allow "$ID1"
start_bg refused "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 --key "$TMP/peer.key" --relay "$RELAY_ADDR"
wait_exit "$LAST_PID" 1
grep -q '"error"' "$TMP/refused.out" || fail "p2p-ping did not report the refusal"
ev=$(wait_event "$TMP/relay3.out" ERROR 10) || fail "no ERROR event for the refusal"
python3 - "$ev" "$PEER_ID" <<'PY' || fail "refusal event: $ev"
import json, sys
ev, peer = json.loads(sys.argv[1]), sys.argv[2]
assert ev["peer_id"] == peer and ev["request"] == "RESERVE", ev
assert ev["status"] == 202 and "allow" in ev["error"], ev
PY
wait_event "$TMP/relay3.out" RESERVED 1 >/dev/null 2>&1 && fail "a refused peer got a reservation"
send relay3 '{"action":"SHUTDOWN"}'
wait_exit "$RELAY_PID" 0
start_relay relay4 -allow "$ID1" -allow "$PEER_ID"
start_peer peer4 "$RELAY_ADDR"
wait_event "$TMP/relay4.out" RESERVED 10 >/dev/null || fail "an allowed peer got no reservation"
stop_pid "$PEER_PID"
stop_pid "$RELAY_PID"
echo "ok: -allow"

# --- bad values: exit 2 with an ERROR line ---
for args in "-max-circuits 0" "-max-circuits lots" "-circuit-data -1" "-allow not-a-peer-id"; do
	rc=0
	# shellcheck disable=SC2086 # the flag and its value are two words
	"$TUNNEL" -relay-service -key "$TMP/relay.key" -listen /ip4/127.0.0.1/tcp/0 $args \
		>"$TMP/bad.out" 2>"$TMP/bad.err" </dev/null || rc=$?
	[ $rc -eq 2 ] || fail "$args: exit $rc, expected 2"
	wait_event "$TMP/bad.out" ERROR 1 >/dev/null || fail "$args: no ERROR event"
done
echo "ok: bad values"
echo PASS
