#!/usr/bin/env bash
# A UDP host under hostile streams (issue 10, finding 3). One connection
# opens 1100 /mtunnel/2.0.0 streams that never send a header, then
# another 1030 that send a wrong secret. A stream gets its socket only
# once its header passed, header-pending streams have limits of their own
# (64 a peer: the rest are reset at once), a refused stream is reset right
# after its answer, and a headerless one after the header timeout. So a
# legitimate client keeps getting its datagrams echoed (over new flows,
# each a new stream) throughout, and the host's file descriptors stay
# where they were: before the fix the first attack took 1025 of them and
# locked every new flow out for as long as it stayed connected.
source "$(dirname "$0")/lib.sh"

MAX_FDS=200 # the host holds under 20 idle; each flow that passed takes one

start_bg echo python3 "$HELPER" udp-echo "$TMP/echo.port"
ECHO_PORT=$(wait_port_file "$TMP/echo.port")
start_host host -network udp -port "$ECHO_PORT"
start_client client "$TOKEN" -network udp
timeout 30 python3 "$HELPER" udp-check "$PORT" 20 2 >/dev/null || fail "UDP echo before the attack"
idle_fds=$(fd_count "$HOST_PID")

# --- 1100 streams that never send a header ---
start_attack silent "$TOKEN" -mode silent -streams 1100
SILENT_PID=$ATTACK_PID
check_json "$ATTACK_EV" 'ev["opened"] == 1100 and ev["answered"] == 0'
# The peer's first 64 wait for their header; the rest were reset at once.
check_json "$ATTACK_EV" 'ev["live"] == 64 and ev["reset_unanswered"] == 1100 - 64'
timeout 30 python3 "$HELPER" udp-check "$PORT" 50 3 >/dev/null ||
	fail "UDP echo while 1100 headerless streams are held"
silent_fds=$(fd_count "$HOST_PID")
[ "$silent_fds" -lt "$MAX_FDS" ] || fail "the host holds $silent_fds fds under headerless streams"
echo "ok: 1100 headerless streams: host fds $idle_fds idle, $silent_fds under attack; echo goes on"

# --- 1030 streams with a wrong secret, while the others are still held ---
# 32 at a time: each gets its hearing only once an earlier one has been
# answered, so refused streams must give their slots back (before, each
# stayed counted against the host's 1024 flows until the peer closed it).
start_attack bad "$TOKEN" -mode bad-secret -streams 1030 -window 32
BAD_PID=$ATTACK_PID
# Every one answered BAD_SECRET (3) and then reset: none is left to hold.
check_json "$ATTACK_EV" 'ev["opened"] == 1030 and ev["answered"] == 1030'
check_json "$ATTACK_EV" 'ev["status"] == 3 and ev["distinct_answers"] == 1 and ev["live"] == 0'
timeout 30 python3 "$HELPER" udp-check "$PORT" 50 3 >/dev/null ||
	fail "UDP echo after 1030 wrong-secret streams"
bad_fds=$(fd_count "$HOST_PID")
[ "$bad_fds" -lt "$MAX_FDS" ] || fail "the host holds $bad_fds fds after wrong-secret streams"
echo "ok: 1030 wrong-secret streams refused and gone at once: host fds $bad_fds; echo goes on"

# --- the header timeout ends the headerless streams still held ---
ev=$(wait_event "$TMP/silent.out" ALL_CLOSED 15 1 "$SILENT_PID") ||
	fail "headerless streams outlived the header timeout"
check_json "$ev" 'ev["reset_unanswered"] == 1100 and ev["live"] == 0'
grep -q "tunnel(s) stuck before forwarding" "$TMP/host.err" ||
	fail "the host did not say it dropped the stuck streams"
timeout 30 python3 "$HELPER" udp-check "$PORT" 20 2 >/dev/null || fail "UDP echo after the attack"
echo "ok: headerless streams reset after the header timeout"

stop_pid "$SILENT_PID"
stop_pid "$BAD_PID"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
