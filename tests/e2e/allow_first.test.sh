#!/usr/bin/env bash
# -allow is checked when a tunnel stream opens (issue 10, finding 10): a
# peer not on the list gets NOT_ALLOWED before its header is read, so it
# gets no forwarder and no socket (the TCP service sees no connection
# attempt; the UDP host's file descriptors do not grow) and the same
# answer with the right secret, a wrong one or none: it cannot tell them
# apart. Before, the secret came first: BAD_SECRET for a wrong one, and a
# UDP socket for every stream still waiting for its header. The peer on
# the list still gets through, over TCP and UDP.
source "$(dirname "$0")/lib.sh"

CLIENT_ID=$("$ATTACK" -key "$TMP/client.key" -id) || fail "no peer ID for the client's key"

# refusals NAME TOKEN: every kind of stream an outsider may open, each
# answered NOT_ALLOWED (5) alike and ended at once; the answers' reasons
# go to $TMP/NAME.answers, one line per kind.
refusals() {
	local name=$1 tok=$2 mode
	for mode in secret bad-secret silent; do
		start_attack "$name-$mode" "$tok" -mode "$mode" -streams 300
		check_json "$ATTACK_EV" 'ev["opened"] == 300 and ev["answered"] == 300'
		check_json "$ATTACK_EV" 'ev["status"] == 5 and ev["distinct_answers"] == 1 and ev["live"] == 0'
		json_get "$ATTACK_EV" reason >>"$TMP/$name.answers"
		stop_pid "$ATTACK_PID"
	done
}

# --- TCP: a service that counts the connections reaching it ---
start_bg svc python3 "$HELPER" count-accepts "$TMP/svc.port" "$TMP/svc.count"
SVC_PORT=$(wait_port_file "$TMP/svc.port")
start_host host -port "$SVC_PORT" -allow "$CLIENT_ID"
refusals tcp "$TOKEN"
[ "$(sort -u "$TMP/tcp.answers" | wc -l)" -eq 1 ] || fail "outsiders got different answers"
[ "$(cat "$TMP/svc.count")" = 0 ] || fail "an outsider's stream reached the TCP service"
grep -q "refused a tunnel from .*does not allow this peer" "$TMP/host.err" || fail "the host did not log the refusals"
# The client on the list gets through.
start_client client "$TOKEN" -key "$TMP/client.key"
python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()' "$PORT"
for i in $(seq 100); do [ "$(cat "$TMP/svc.count")" = 1 ] && break; sleep 0.1; done
[ "$(cat "$TMP/svc.count")" = 1 ] || fail "the allowed client did not reach the service"
echo "ok: TCP: outsiders refused alike before their header, no connection to the service"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"

# --- UDP: no socket for an outsider ---
start_bg echo python3 "$HELPER" udp-echo "$TMP/echo.port"
ECHO_PORT=$(wait_port_file "$TMP/echo.port")
start_host uhost -network udp -port "$ECHO_PORT" -allow "$CLIENT_ID"
before=$(fd_count "$HOST_PID")
# Held open (the attacker never closes): before the fix each of these
# would have had a socket of its own until its header came.
start_attack held "$TOKEN" -mode silent -streams 300
check_json "$ATTACK_EV" 'ev["answered"] == 300 and ev["status"] == 5 and ev["live"] == 0'
during=$(fd_count "$HOST_PID")
[ "$during" -le $((before + 2)) ] || fail "the UDP host went from $before to $during fds for an outsider"
refusals udp "$TOKEN"
cmp -s "$TMP/udp.answers" "$TMP/tcp.answers" || fail "UDP outsiders got other answers than TCP ones"
start_client uclient "$TOKEN" -network udp -key "$TMP/client.key"
timeout 30 python3 "$HELPER" udp-check "$PORT" 20 2 >/dev/null || fail "the allowed UDP client"
echo "ok: UDP: outsiders refused alike, host fds $before before, $during with 300 streams held"
stop_pid "$ATTACK_PID"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
