#!/usr/bin/env bash
# 300 concurrent TCP connections through one tunnel (more than the issue's
# 200, and more than libp2p's default of 256 streams on a connection),
# each with its own checked data both ways; then -allow: a client whose peer ID is not on
# the host's list is refused (exit 2), one that is gets through.
source "$(dirname "$0")/lib.sh"

SIZE=$((128 * 1024))
CONNS=300
mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" "$SIZE" "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")

start_host host -port "$SVC_PORT"
start_client client "$TOKEN" -key "$TMP/client.key"
sent=$(timeout 120 python3 "$HELPER" client-bidir "$PORT" "$SIZE" "$CONNS") || fail "$CONNS concurrent connections"
for i in $(seq 100); do [ "$(ls "$TMP/bidir" | grep -c '^recv\.[0-9]*$')" -ge "$CONNS" ] && break; sleep 0.1; done
n=$(cat "$TMP"/bidir/recv.* | grep -c "^$sent\$" || true)
[ "$n" -eq "$CONNS" ] || fail "the service got $n good connections of $CONNS"
ev=$(wait_event "$TMP/host.out" CONNECTED 10)
CLIENT_ID=$(json_get "$ev" session_id)
echo "ok: $CONNS concurrent connections"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"

# -allow: another peer only -> refused.
OTHER=12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA
start_host host2 -port "$SVC_PORT" -allow "$OTHER"
start_client client2 "$TOKEN" -key "$TMP/client.key"
timeout 20 python3 "$HELPER" expect-closed "$PORT" 10 || fail "a peer not allowed got through"
rc=0
for i in $(seq 100); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$CLIENT_PID" || rc=$?
[ $rc -eq 2 ] || fail "not allowed: client exit $rc, expected 2"
grep -q "not allowed\|allow" "$TMP/client2.out" || fail "not allowed: no ERROR saying so"
stop_pid "$HOST_PID"

# -allow with the client's peer ID -> through.
start_host host3 -port "$SVC_PORT" -allow "$OTHER" -allow "$CLIENT_ID"
start_client client3 "$TOKEN" -key "$TMP/client.key"
timeout 30 python3 "$HELPER" client-bidir "$PORT" "$SIZE" >/dev/null || fail "an allowed peer was refused"
echo "ok: -allow"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
