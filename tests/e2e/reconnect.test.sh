#!/usr/bin/env bash
# The client's connection to the host drops (the host is killed): the
# client reports it (DISCONNECT), local connections meanwhile close rather
# than hang, and once the host is back (same key and port) the client
# reconnects with backoff by itself (said on stderr), tunnels work again
# and the first one accepted says CONNECTED again. A client killed in turn
# is reported by the host (DISCONNECT).
source "$(dirname "$0")/lib.sh"

mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" 100000 "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")
start_host host -port "$SVC_PORT"
P2P_PORT=$HOST_PORT
start_client client "$TOKEN"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 100000 >/dev/null || fail "first transfer"
wait_event "$TMP/client.out" CONNECTED 10 >/dev/null || fail "no CONNECTED after the first tunnel"

kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
ev=$(wait_event "$TMP/client.out" DISCONNECT 10) || fail "the client did not report the lost connection"
t0=$(date +%s%N)
timeout 20 python3 "$HELPER" expect-closed "$PORT" 10 || fail "a local connection hung while the host was down"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "closing took $(((t1 - t0) / 1000000)) ms"
kill -0 "$CLIENT_PID" || fail "the client died with the host"
echo "ok: drop reported, local connection closed"

restart_host host "$P2P_PORT" -port "$SVC_PORT"
# The connection comes back with no tunnel asking for it (backoff up to
# 30 s while the host was down).
for i in $(seq 400); do grep -q "reconnected to host" "$TMP/client.err" && break; sleep 0.1; done
grep -q "reconnected to host" "$TMP/client.err" || fail "the client did not reconnect"
[ "$(grep -c '"action":"CONNECTED"' "$TMP/client.out")" = 1 ] ||
	fail "CONNECTED again before the host accepted a tunnel"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 100000 >/dev/null || fail "transfer after reconnecting"
wait_event "$TMP/client.out" CONNECTED 10 2 >/dev/null || fail "no CONNECTED after the reconnection's first tunnel"
echo "ok: reconnected"

# The other way round: a client that dies is reported by the host.
ev=$(wait_event "$TMP/host.out" CONNECTED 10) || fail "no CONNECTED on the restarted host"
CLIENT_ID=$(json_get "$ev" session_id)
kill -KILL "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
ev=$(wait_event "$TMP/host.out" DISCONNECT 10) || fail "the host did not report the dead client"
[ "$(json_get "$ev" session_id)" = "$CLIENT_ID" ] || fail "DISCONNECT of the wrong session: $ev"
kill -0 "$HOST_PID" || fail "the host died with its client"
echo "ok: dead client reported"
stop_pid "$HOST_PID"
echo PASS
