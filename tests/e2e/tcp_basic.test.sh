#!/usr/bin/env bash
# The TCP tunnel end to end: a web page through it, 256 MiB (TUNNEL_E2E_MIB) each way with
# matching SHA-256 and half-close, a garbled token (exit 2 + ERROR), a
# token with a wrong secret (refused, nothing forwarded, exit 2), and a
# host restart with the same key (the old token works again).
source "$(dirname "$0")/lib.sh"

# --- a web page through the tunnel ---
mkdir "$TMP/www"
echo "hello through the tunnel $$" >"$TMP/www/index.html"
start_bg web python3 "$HELPER" serve-http "$TMP/web.port" "$TMP/www"
WEB_PORT=$(wait_port_file "$TMP/web.port")

start_host host -port "$WEB_PORT"
P2P_PORT=$HOST_PORT
ev=$(wait_event "$TMP/host.out" TOKEN)
[ "$(json_get "$ev" peer_id)" != "" ] || fail "TOKEN without peer_id"
json_get "$ev" addrs | grep -q "/ip4/127.0.0.1/tcp/$P2P_PORT/p2p/" || fail "TOKEN addrs: $ev"
OLD_TOKEN=$TOKEN

start_client client "$TOKEN"
page=$(curl -sS -m 10 "http://127.0.0.1:$PORT/index.html") || fail "curl through the tunnel failed"
[ "$page" = "hello through the tunnel $$" ] || fail "wrong page: $page"
ev=$(wait_event "$TMP/host.out" CONNECTED 10) || fail "no CONNECTED on the host"
json_get "$ev" addr | grep -q '^/ip4/127.0.0.1/tcp/' || fail "host CONNECTED addr: $ev"
echo "ok: web page"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"

# --- 256 MiB each way (TUNNEL_E2E_MIB), both directions at once, checked ---
SIZE=$((${TUNNEL_E2E_MIB:-256} * 1024 * 1024))
mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" "$SIZE" "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")
start_host host2 -port "$SVC_PORT"
start_client client2 "$TOKEN"
sent=$(timeout 120 python3 "$HELPER" client-bidir "$PORT" "$SIZE") || fail "bidirectional transfer failed"
for i in $(seq 100); do [ -f "$TMP/bidir/recv.0" ] && break; sleep 0.1; done
[ "$(cat "$TMP/bidir/recv.0")" = "$sent" ] || fail "the service got $(cat "$TMP/bidir/recv.0"), sent $sent"
echo "ok: $((SIZE >> 20)) MiB each way"

# --- a garbled token: exit 2 with an ERROR event ---
rc=0
"$TUNNEL" -token "not-a-token!!" -port 0 >"$TMP/bad.out" 2>"$TMP/bad.err" </dev/null || rc=$?
[ $rc -eq 2 ] || fail "garbled token: exit $rc, expected 2"
wait_event "$TMP/bad.out" ERROR 1 >/dev/null || fail "garbled token: no ERROR event"
rc=0
"$TUNNEL" -token "$TOKEN" -network udp -port 0 >"$TMP/bad2.out" 2>"$TMP/bad2.err" </dev/null || rc=$?
[ $rc -eq 2 ] || fail "network mismatch: exit $rc, expected 2"
wait_event "$TMP/bad2.out" ERROR 1 >/dev/null || fail "network mismatch: no ERROR event"
echo "ok: garbled token"

# --- a wrong secret: refused, nothing forwarded, client exits 2 ---
BAD_TOKEN=$(python3 -c '
import base64, sys
raw = bytearray(base64.b64decode(sys.argv[1]))
raw[-1] ^= 0x55  # the secret is the last field, 32 bytes
print(base64.b64encode(bytes(raw)).decode())' "$TOKEN")
start_client client3 "$BAD_TOKEN"
timeout 20 python3 "$HELPER" expect-closed "$PORT" 10 || fail "a wrong secret got through"
wait_event "$TMP/client3.out" ERROR 10 >/dev/null || fail "wrong secret: no ERROR on the client"
rc=0
for i in $(seq 100); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$CLIENT_PID" || rc=$?
[ $rc -eq 2 ] || fail "wrong secret: client exit $rc, expected 2"
grep -q "refused" "$TMP/host2.err" || fail "the host did not log the refusal"
[ ! -f "$TMP/bidir/recv.1" ] || fail "the service saw a connection from a wrong secret"
# Counted and visible: LIST's "refused".
send host2 '{"action":"LIST"}'
ev=$(wait_event "$TMP/host2.out" LIST 10) || fail "no LIST after the refusal"
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["refused"]["bad-secret"])' "$ev")" -ge 1 ] ||
	fail "LIST does not count the refused secret: $ev"
echo "ok: wrong secret refused (and counted in LIST)"
stop_pid "$HOST_PID"

# --- restart with the same key: the old token works again ---
restart_host host "$P2P_PORT" -port "$WEB_PORT"
[ "$TOKEN" = "$OLD_TOKEN" ] || fail "the token changed across a restart"
start_client client4 "$OLD_TOKEN"
page=$(curl -sS -m 10 "http://127.0.0.1:$PORT/index.html") || fail "curl after restart failed"
[ "$page" = "hello through the tunnel $$" ] || fail "wrong page after restart: $page"
echo "ok: restart with the same key"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
