#!/usr/bin/env bash
# The static build (scripts/static.sh, into $SRC_DIR/build/static) runs in
# an empty chroot holding only the two binaries and /tmp: no loader, no
# libraries, no /etc, no /dev. Inside it: --version; a p2p-ping listener
# that the normal build's p2p-ping pings and echoes 1 MiB through; a tunnel
# host that the normal build's tunnel client reaches, with 4 MiB each way
# on 4 connections checked by SHA-256. Both exit 0 on SIGTERM.
# chroot needs root (CI runs as root); as another user the test is skipped.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "skipped: chroot needs root"
	exit 0
fi
PING="$BUILD_DIR/p2p-ping"
[ -x "$PING" ] || fail "no p2p-ping binary at $PING"

start=$(date +%s)
bash "$SRC_DIR/scripts/static.sh" >"$TMP/static.out" 2>"$TMP/static.err" ||
	fail "scripts/static.sh failed"
cat "$TMP/static.out"
echo "static build: $(($(date +%s) - start)) s"

# The chroot lives under $TMP, which lib.sh's trap removes.
ROOT=$(mktemp -d "$TMP/chroot.XXXXXX")
cp "$SRC_DIR/build/static/tunnel" "$SRC_DIR/build/static/p2p-ping" "$ROOT/"
mkdir "$ROOT/tmp"
[ "$(cd "$ROOT" && find . | sort | tr '\n' ' ')" = ". ./p2p-ping ./tmp ./tunnel " ] ||
	fail "the chroot holds more than the binaries and /tmp"

v=$(chroot "$ROOT" /tunnel --version) || fail "tunnel --version in the chroot"
[[ "$v" == "tunnel "* ]] || fail "tunnel --version printed: $v"
v=$(chroot "$ROOT" /p2p-ping --version) || fail "p2p-ping --version in the chroot"
[[ "$v" == "p2p-ping "* ]] || fail "p2p-ping --version printed: $v"
echo "ok: --version in an empty chroot"

# --- p2p-ping listening in the chroot, the ASan build dialing ---
start_bg listener chroot "$ROOT" /p2p-ping --listen /ip4/127.0.0.1/tcp/0
LISTENER_PID=$LAST_PID
for i in $(seq 100); do
	grep -q '"addrs"' "$TMP/listener.out" && break
	kill -0 "$LISTENER_PID" 2>/dev/null || fail "the listener exited"
	sleep 0.1
done
ADDR=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["addrs"][0])' \
	"$TMP/listener.out") || fail "the listener printed no address"
timeout 60 "$PING" "$ADDR" --count 1 --echo 1048576 >"$TMP/dialer.out" 2>"$TMP/dialer.err" ||
	fail "p2p-ping could not ping and echo through the static listener"
grep -q '"rtt_ms"' "$TMP/dialer.out" || fail "no ping result"
grep -q '"echo_bytes":1048576,"ok":true' "$TMP/dialer.out" || fail "the echo did not come back intact"
stop_pid "$LISTENER_PID"
echo "ok: p2p-ping in the chroot (ping, 1 MiB echo, exit 0 on SIGTERM)"

# --- a tunnel host in the chroot, the ASan client outside ---
# The host forwards to its default target, 127.0.0.1:PORT (a numeric
# address: glibc resolves it without the NSS modules a static binary lacks).
SIZE=$((4 * 1024 * 1024))
mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" "$SIZE" "$TMP/bidir"
for i in $(seq 100); do [ -f "$TMP/bidir.port" ] && break; sleep 0.1; done
SVC_PORT=$(cat "$TMP/bidir.port")
mkfifo "$TMP/host.in"
chroot "$ROOT" /tunnel -listen /ip4/127.0.0.1/tcp/0 -key /tmp/host.key -port "$SVC_PORT" \
	<"$TMP/host.in" >"$TMP/host.out" 2>"$TMP/host.err" &
HOST_PID=$!
PIDS+=("$HOST_PID")
# Held open for writing so that the host's stdin stays open.
# shellcheck disable=SC2034
exec {HOLD_FD}>"$TMP/host.in"
ev=$(wait_event "$TMP/host.out" TOKEN 30) || fail "the static host printed no TOKEN"
[ -f "$ROOT/tmp/host.key" ] || fail "the static host saved no key"
start_client client "$(json_get "$ev" token)"
timeout 60 python3 "$HELPER" client-bidir "$PORT" "$SIZE" 4 >"$TMP/up.sum" ||
	fail "the transfer through the static host failed"
for i in 0 1 2 3; do
	for _ in $(seq 100); do [ -f "$TMP/bidir/recv.$i" ] && break; sleep 0.1; done
	cmp -s "$TMP/up.sum" "$TMP/bidir/recv.$i" || fail "connection $i: the service got other bytes"
done
wait_event "$TMP/host.out" CONNECTED 10 >/dev/null || fail "no CONNECTED on the static host"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"
echo "ok: tunnel host in the chroot (4 x 4 MiB each way, exit 0 on SIGTERM)"
echo "PASS"
