#!/usr/bin/env bash
# Compatibility with the original Go mtunnel: a client given an original
# (gob) token speaks /mtunnel/1.0.0 (raw bytes, one stream per TCP
# connection) to a host started with -compat; such a token carries no
# address, so the client needs -connect. A host without -compat does not
# serve it.
source "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024))
mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" "$SIZE" "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")
start_host host -port "$SVC_PORT" -compat
HOST_ID=$(json_get "$(wait_event "$TMP/host.out" TOKEN)" peer_id)

# An original token for our host: a vector made by Go's encoding/gob (tcp,
# 12D3KooWD3eck...) with the peer ID bytes swapped for our host's (same
# length, so the gob lengths stay right).
GOB_TOKEN=$(python3 - "$HOST_ID" <<'PY'
import base64, sys
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def b58(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(s) - len(s.lstrip("1"))) + raw
vec = base64.b64decode("K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAw/4IBA3RjcAEmACQIARIgL/o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sA")
old = b58("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
new = b58(sys.argv[1])
assert len(old) == len(new) == 38 and vec.count(old) == 1
print(base64.b64encode(vec.replace(old, new)).decode())
PY
)

# Without -connect the client has nowhere to go.
rc=0
"$TUNNEL" -token "$GOB_TOKEN" -port 0 >"$TMP/noaddr.out" 2>/dev/null </dev/null || rc=$?
[ $rc -eq 2 ] || fail "original token without -connect: exit $rc, expected 2"
wait_event "$TMP/noaddr.out" ERROR 1 >/dev/null || fail "original token without -connect: no ERROR"

start_client client "$GOB_TOKEN" -connect "/ip4/127.0.0.1/tcp/$HOST_PORT"
sent=$(timeout 60 python3 "$HELPER" client-bidir "$PORT" "$SIZE") || fail "transfer with an original token"
for i in $(seq 100); do [ -f "$TMP/bidir/recv.0" ] && break; sleep 0.1; done
[ "$(cat "$TMP/bidir/recv.0")" = "$sent" ] || fail "the service got $(cat "$TMP/bidir/recv.0"), sent $sent"
wait_event "$TMP/host.out" CONNECTED 10 >/dev/null || fail "no CONNECTED on the host"
echo "ok: original token against -compat"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"

# The same host without -compat refuses the old protocol.
start_host host -port "$SVC_PORT"
start_client client2 "$GOB_TOKEN" -connect "/ip4/127.0.0.1/tcp/$HOST_PORT"
timeout 20 python3 "$HELPER" expect-closed "$PORT" 10 || fail "an original client got through without -compat"
wait_event "$TMP/client2.out" ERROR 10 >/dev/null || fail "no ERROR on the client"
[ ! -f "$TMP/bidir/recv.1" ] || fail "the service saw a connection"
echo "ok: no -compat, no original clients"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
