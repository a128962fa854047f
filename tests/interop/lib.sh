# Shared by the interop tests (tests/interop/*.test.sh); source it, do not run.
# ctest sets BUILD_DIR and SRC_DIR. A test starts one listener in the
# background, runs one dialer against it, checks the dialer's JSON lines with
# check_output.py, then stops the listener with SIGTERM and requires exit 0
# (under ASan that also catches leaks). Everything goes to 127.0.0.1 only.
set -euo pipefail

SRC_DIR=${SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
INTEROP_DIR=$SRC_DIR/tests/interop
NODE=""  # the pinned Node 22, set by need_js
PEER_JS=$INTEROP_DIR/peer.mjs
LISTEN_WAIT_SEC=20
DIALER_TIMEOUT_SEC=120
STOP_WAIT_SEC=20
# 16 MiB: large enough to cross many yamux windows and noise frames, small
# enough for sanitizer builds on a 2-core CI machine.
TRANSFER_BYTES=16777216

WORK=$(mktemp -d)
LISTENER_PID=""

cleanup() {
	if [ -n "$LISTENER_PID" ] && kill -0 "$LISTENER_PID" 2>/dev/null; then
		kill -KILL "$LISTENER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

dump() {
	local f
	for f in "$WORK"/*.out "$WORK"/*.err; do
		[ -s "$f" ] || continue
		echo "---- ${f##*/}"
		tail -c 20000 "$f"
	done
}

fail() {
	echo "FAIL: $*"
	dump
	exit 1
}

# Installs the js side if needed (quick when already done).
need_js() {
	bash "$INTEROP_DIR/setup.sh" >"$WORK/setup.err" 2>&1 || fail "tests/interop/setup.sh failed"
	local b
	for b in "$INTEROP_DIR"/runtime/node_modules/node-linux-*/bin/node; do
		[ -x "$b" ] && NODE=$b
	done
	[ -n "$NODE" ] || fail "no node under tests/interop/runtime after setup"
}

# Path of the C tool; fails the test when it is not built.
p2p_ping() {
	local bin
	for bin in "$BUILD_DIR/p2p-ping" "$BUILD_DIR/tools/p2p-ping"; do
		if [ -x "$bin" ]; then
			echo "$bin"
			return 0
		fi
	done
	fail "p2p-ping not found in BUILD_DIR=${BUILD_DIR:-unset}"
}

# start_listener CMD...: starts CMD in the background and waits for its JSON
# line; sets LISTEN_ADDR (first address, with /p2p/) and LISTEN_PEER_ID.
start_listener() {
	# Created here: the background job opens them only when it gets to run.
	: >"$WORK/listener.out"
	: >"$WORK/listener.err"
	"$@" >"$WORK/listener.out" 2>"$WORK/listener.err" </dev/null &
	LISTENER_PID=$!
	local waited=0 line
	while :; do
		line=$(head -n 1 "$WORK/listener.out" || true)
		if [ -n "$line" ] && [ "${line: -1}" = "}" ]; then
			break
		fi
		kill -0 "$LISTENER_PID" 2>/dev/null || fail "listener exited before printing its address: $*"
		[ "$waited" -lt $((LISTEN_WAIT_SEC * 10)) ] || fail "listener printed no address within ${LISTEN_WAIT_SEC}s: $*"
		sleep 0.1
		waited=$((waited + 1))
	done
	read -r LISTEN_ADDR LISTEN_PEER_ID < <(python3 "$INTEROP_DIR/check_output.py" --listen-line "$line") ||
		fail "bad listen line: $line"
	echo "listener up: $LISTEN_ADDR"
}

# run_dialer CMD...: runs CMD with a timeout; its stdout goes to dialer.out.
run_dialer() {
	echo "dialing: $*"
	local rc=0
	timeout --kill-after=5 "$DIALER_TIMEOUT_SEC" "$@" >"$WORK/dialer.out" 2>"$WORK/dialer.err" </dev/null || rc=$?
	[ "$rc" -ne 124 ] || fail "dialer timed out after ${DIALER_TIMEOUT_SEC}s"
	[ "$rc" -eq 0 ] || fail "dialer exited with $rc"
	cat "$WORK/dialer.out"
}

# check_dialer ARGS...: asserts on dialer.out; see check_output.py --help.
check_dialer() {
	python3 "$INTEROP_DIR/check_output.py" "$@" "$WORK/dialer.out" >"$WORK/check.err" 2>&1 ||
		fail "dialer output check failed"
	cat "$WORK/check.err"
}

# Sends SIGTERM to the listener and requires a clean exit 0.
stop_listener() {
	kill -TERM "$LISTENER_PID" 2>/dev/null || fail "listener died before SIGTERM"
	local waited=0
	while kill -0 "$LISTENER_PID" 2>/dev/null; do
		[ "$waited" -lt $((STOP_WAIT_SEC * 10)) ] || fail "listener still running ${STOP_WAIT_SEC}s after SIGTERM"
		sleep 0.1
		waited=$((waited + 1))
	done
	local rc=0
	wait "$LISTENER_PID" || rc=$?
	LISTENER_PID=""
	[ "$rc" -eq 0 ] || fail "listener exited with $rc after SIGTERM"
	echo "listener stopped cleanly"
}
