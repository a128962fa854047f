#!/usr/bin/env bash
# A TCP host under wrong-secret streams (issue 10): one connection opens
# 3000 /mtunnel/2.0.0 streams with a wrong secret, at most 32 waiting for
# their answer at a time, and never closes or resets one itself, as an
# attacker would not. Each is answered BAD_SECRET and then reset by the
# host, as the UDP host does (udp_flood.test.sh): none is left behind.
# Before, the host only half-closed a refused TCP stream after its answer,
# so each stayed, a stream on the host's budget and a forwarder in its
# memory, until the peer closed its side or the header timeout's sweep
# (10 s) reset it: all 3000 were still open when the attacker settled.
# The refusals are counted in LIST, the host's file descriptors stay
# where they were, and a legitimate client's tunnels work throughout.
source "$(dirname "$0")/lib.sh"

STREAMS=3000

mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" 100000 "$TMP/bidir"
SVC_PORT=$(wait_port_file "$TMP/bidir.port")
start_host host -port "$SVC_PORT"
start_client client "$TOKEN"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 100000 >/dev/null || fail "a tunnel before the attack"
idle_fds=$(fd_count "$HOST_PID")

start_attack bad "$TOKEN" -mode bad-secret -streams $STREAMS -window 32
BAD_PID=$ATTACK_PID
# Every one answered BAD_SECRET (3), then reset: none is left open, and
# none was reset before its answer came.
check_json "$ATTACK_EV" "ev['opened'] == $STREAMS and ev['answered'] == $STREAMS"
check_json "$ATTACK_EV" 'ev["status"] == 3 and ev["distinct_answers"] == 1'
check_json "$ATTACK_EV" 'ev["live"] == 0 and ev["reset_unanswered"] == 0'
ev=$(wait_event "$TMP/bad.out" ALL_CLOSED 5 1 "$BAD_PID") || fail "refused streams are still open"
bad_fds=$(fd_count "$HOST_PID")
[ "$bad_fds" -le $((idle_fds + 2)) ] || fail "the host went from $idle_fds to $bad_fds fds"
timeout 20 python3 "$HELPER" client-bidir "$PORT" 100000 2 >/dev/null ||
	fail "no tunnel after $STREAMS wrong-secret streams"

# The host counted them, holds no tunnel for the attacker (its only
# session is the legitimate client, with no stream open now), and swept
# nothing: there was nothing stuck to sweep.
send host '{"action":"LIST","detail":true}'
ev=$(wait_event "$TMP/host.out" LIST 10) || fail "no LIST"
check_json "$ev" "ev['refused']['bad-secret'] == $STREAMS"
check_json "$ev" 'len(ev["sessions"]) == 1 and ev["details"][0]["streams"] == 0'
grep -q "tunnel(s) stuck before forwarding" "$TMP/host.err" &&
	fail "the host had refused streams left to sweep"
echo "ok: $STREAMS wrong-secret streams answered and reset at once; host fds $idle_fds idle, $bad_fds after"

stop_pid "$BAD_PID"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
