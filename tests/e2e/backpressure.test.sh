#!/usr/bin/env bash
# Backpressure end to end: a service that reads nothing for a while stalls
# the sender on the client's side after a bounded amount (socket buffers
# and the stream windows), instead of the tunnel buffering everything;
# once the service reads, every byte arrives, in order.
source "$(dirname "$0")/lib.sh"

TOTAL=$((256 * 1024 * 1024))
BOUND=$((64 * 1024 * 1024)) # what the buffers on the way may hold, with room (about 9 MiB seen)
start_bg sink python3 "$HELPER" slow-sink "$TMP/sink.port" 6 "$TMP/sink.result"
for i in $(seq 100); do [ -f "$TMP/sink.port" ] && break; sleep 0.1; done

start_host host -port "$(cat "$TMP/sink.port")"
start_client client "$TOKEN"
timeout 120 python3 "$HELPER" push "$PORT" "$TOTAL" 4 >"$TMP/push.out" &
PUSH=$!
PIDS+=("$PUSH")
for i in $(seq 100); do [ -s "$TMP/push.out" ] && break; sleep 0.1; done
stalled=$(head -n 1 "$TMP/push.out")
[ -n "$stalled" ] || fail "the sender reported nothing"
[ "$stalled" -lt "$BOUND" ] || fail "$stalled bytes went in while the service read nothing"
echo "ok: the sender stalled after $((stalled >> 20)) MiB"

wait "$PUSH" || fail "the sender failed"
for i in $(seq 300); do [ -f "$TMP/sink.result" ] && break; sleep 0.1; done
want=$(tail -n 1 "$TMP/push.out")
[ "$(cat "$TMP/sink.result")" = "$want" ] || fail "the service got $(cat "$TMP/sink.result"), sent $want"
echo "ok: all $((TOTAL >> 20)) MiB arrived"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo PASS
