#!/usr/bin/env bash
# The JSON control channel and signals: LIST, DISCONNECT, malformed
# commands (ERROR, the host goes on), EOF on stdin (the host goes on),
# SHUTDOWN and SIGTERM (exit 0); --help and --version; a dead service
# (the client's connection closes at once, ERROR on the host, which keeps
# running).
source "$(dirname "$0")/lib.sh"

"$TUNNEL" --help | grep -q -- "-token" || fail "--help"
"$TUNNEL" -version | grep -q "^tunnel " || fail "-version"
rc=0
"$TUNNEL" -bogus >"$TMP/usage.out" 2>/dev/null </dev/null || rc=$?
[ $rc -eq 2 ] || fail "unknown flag: exit $rc, expected 2"
wait_event "$TMP/usage.out" ERROR 1 >/dev/null || fail "unknown flag: no ERROR event"
rc=0
"$TUNNEL" -port 1 -key "$TMP/k.key" -listen /ip4/nonsense >"$TMP/listen.out" 2>/dev/null </dev/null || rc=$?
[ $rc -eq 2 ] || fail "bad -listen: exit $rc, expected 2"
wait_event "$TMP/listen.out" ERROR 1 >/dev/null || fail "bad -listen: no ERROR event"

mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" 1000 "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")

start_host host --port="$SVC_PORT" -v
start_client client "$TOKEN"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 1000 >/dev/null || fail "transfer failed"
ev=$(wait_event "$TMP/host.out" CONNECTED 10)
CLIENT_ID=$(json_get "$ev" session_id)

# LIST names the client.
send host '{"action":"LIST"}'
ev=$(wait_event "$TMP/host.out" LIST 10) || fail "no LIST event"
json_get "$ev" sessions | grep -q "$CLIENT_ID" || fail "LIST without the client: $ev"

# Malformed and unknown commands: ERROR events, and the host goes on.
send host '{"action":'
wait_event "$TMP/host.out" ERROR 10 1 >/dev/null || fail "malformed JSON: no ERROR"
send host '{"action":"FLY"}'
wait_event "$TMP/host.out" ERROR 10 2 >/dev/null || fail "unknown action: no ERROR"
send host '{"action":"DISCONNECT","session_id":"12D3KooWFKjKdXbk2cHGEDQ13iqnfmPC2gXWwfvPYnxTaN77jPop"}'
wait_event "$TMP/host.out" ERROR 10 3 >/dev/null || fail "unknown session: no ERROR"

# DISCONNECT ends the client's session...
send host "{\"action\":\"DISCONNECT\",\"session_id\":\"$CLIENT_ID\"}"
ev=$(wait_event "$TMP/host.out" DISCONNECT 10) || fail "no DISCONNECT event"
[ "$(json_get "$ev" session_id)" = "$CLIENT_ID" ] || fail "DISCONNECT of the wrong session: $ev"
send host '{"action":"LIST"}'
ev=$(wait_event "$TMP/host.out" LIST 10 2) || fail "no second LIST event"
json_get "$ev" sessions | grep -q "$CLIENT_ID" && fail "LIST still has the client: $ev"
# ...and the client comes back on its next connection.
timeout 20 python3 "$HELPER" client-bidir "$PORT" 1000 >/dev/null || fail "transfer after DISCONNECT failed"
wait_event "$TMP/host.out" CONNECTED 10 2 >/dev/null || fail "no CONNECTED after DISCONNECT"
echo "ok: LIST, DISCONNECT, malformed commands"

# EOF on stdin does not stop the host.
exec {HOLD_FD}>&-
sleep 0.5
kill -0 "$HOST_PID" 2>/dev/null || fail "the host stopped at EOF on stdin"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 1000 >/dev/null || fail "transfer after EOF failed"
echo "ok: EOF on stdin"

# SIGTERM with a tunnel open: both exit 0.
python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $PORT))
time.sleep(30)" &
HOLDER=$!
PIDS+=("$HOLDER")
sleep 0.5
stop_pid "$HOST_PID" 0
ev=$(wait_event "$TMP/host.out" DISCONNECT 5 2) || fail "no DISCONNECT for the session at SIGTERM"
[ "$(json_get "$ev" session_id)" = "$CLIENT_ID" ] || fail "DISCONNECT at SIGTERM: $ev"
stop_pid "$CLIENT_PID" 0
echo "ok: SIGTERM"

# SHUTDOWN on stdin: exit 0.
start_host host2 -port "$SVC_PORT"
send host2 '{"action":"SHUTDOWN"}'
rc=0
for i in $(seq 100); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
wait "$HOST_PID" || rc=$?
[ $rc -eq 0 ] || fail "SHUTDOWN: exit $rc"
echo "ok: SHUTDOWN"

# A dead service: the client's connection closes at once, the host raises
# an ERROR and keeps running.
start_bg dead python3 "$HELPER" hold-port "$TMP/dead.port"
DEAD_PORT=$(wait_port_file "$TMP/dead.port")
start_host host3 -port "$DEAD_PORT"
start_client client3 "$TOKEN"
t0=$(date +%s%N)
timeout 10 python3 "$HELPER" expect-closed "$PORT" 5 || fail "dead service: the connection was not closed"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "dead service: closing took $(((t1 - t0) / 1000000)) ms"
wait_event "$TMP/host3.out" ERROR 10 >/dev/null || fail "dead service: no ERROR on the host"
kill -0 "$HOST_PID" 2>/dev/null || fail "the host died with its service"
kill -0 "$CLIENT_PID" 2>/dev/null || fail "the client died with the service"
timeout 10 python3 "$HELPER" expect-closed "$PORT" 5 || fail "dead service, twice"
echo "ok: dead service"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
