#!/usr/bin/env bash
# The UDP tunnel: 10,000 datagrams of sizes 1..65507 from three source addresses
# echoed through it, boundaries and content checked, replies back to the
# right source; idle flows expire (-udp-timeout 1); the client refuses a
# -network that does not match the token.
source "$(dirname "$0")/lib.sh"

start_bg echo python3 "$HELPER" udp-echo "$TMP/echo.port"
for i in $(seq 100); do [ -f "$TMP/echo.port" ] && break; sleep 0.1; done
ECHO_PORT=$(cat "$TMP/echo.port")

start_host host -network udp -port "$ECHO_PORT" -udp-timeout 1
start_client client "$TOKEN" -network udp -udp-timeout 1
timeout 120 python3 "$HELPER" udp-check "$PORT" "${UDP_COUNT:-10000}" 3 || fail "UDP echo through the tunnel"
echo "ok: UDP echo"

# Three source addresses made three streams; idle, they expire.
send host '{"action":"LIST","detail":true}'
ev=$(wait_event "$TMP/host.out" LIST 10) || fail "no LIST event"
sleep 3
send host '{"action":"LIST","detail":true}'
ev=$(wait_event "$TMP/host.out" LIST 10 2) || fail "no second LIST event"
python3 -c '
import json, sys
ev = json.loads(sys.argv[1])
assert len(ev["sessions"]) == 1, ev
s = ev["details"]
assert len(s) == 1 and s[0]["session_id"] == ev["sessions"][0], ev
assert s[0]["streams"] == 0, ev
assert s[0]["bytes_in"] > 0 and s[0]["bytes_out"] > 0, ev' "$ev" || fail "flows did not expire: $ev"
# After expiry a new datagram opens a new flow.
timeout 30 python3 "$HELPER" udp-check "$PORT" 20 1 || fail "UDP after expiry"
echo "ok: idle flows expire"

rc=0
"$TUNNEL" -token "$TOKEN" -network tcp -port 0 >"$TMP/mismatch.out" 2>/dev/null </dev/null || rc=$?
[ $rc -eq 2 ] || fail "network mismatch: exit $rc"
wait_event "$TMP/mismatch.out" ERROR 1 >/dev/null || fail "network mismatch: no ERROR"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
