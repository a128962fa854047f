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

declare -A PEER_PIDS=()  # start_peer's background peers, by name

cleanup() {
	if [ -n "$LISTENER_PID" ] && kill -0 "$LISTENER_PID" 2>/dev/null; then
		kill -KILL "$LISTENER_PID" 2>/dev/null || true
	fi
	local p
	for p in "${PEER_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
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

# For tests with several background peers (relay tests): start_listener and
# stop_listener handle only one.
# start_peer NAME CMD...: like start_listener, with output in NAME.out and
# NAME.err; sets PEER_ADDR (first address) and PEER_ID.
start_peer() {
	local name=$1 pid waited=0 line
	shift
	: >"$WORK/$name.out"
	: >"$WORK/$name.err"
	"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
	pid=$!
	PEER_PIDS[$name]=$pid
	while :; do
		line=$(head -n 1 "$WORK/$name.out" || true)
		if [ -n "$line" ] && [ "${line: -1}" = "}" ]; then
			break
		fi
		kill -0 "$pid" 2>/dev/null || fail "$name exited before printing its address: $*"
		[ "$waited" -lt $((LISTEN_WAIT_SEC * 10)) ] || fail "$name printed no address within ${LISTEN_WAIT_SEC}s: $*"
		sleep 0.1
		waited=$((waited + 1))
	done
	read -r PEER_ADDR PEER_ID < <(python3 "$INTEROP_DIR/check_output.py" --listen-line "$line") ||
		fail "bad listen line from $name: $line"
	echo "$name up: $PEER_ADDR"
}

# stop_peer NAME: SIGTERM to start_peer's NAME, requiring a clean exit 0.
stop_peer() {
	local name=$1 pid=${PEER_PIDS[$1]:-} waited=0 rc=0
	[ -n "$pid" ] || fail "no peer named $name"
	kill -TERM "$pid" 2>/dev/null || fail "$name died before SIGTERM"
	while kill -0 "$pid" 2>/dev/null; do
		[ "$waited" -lt $((STOP_WAIT_SEC * 10)) ] || fail "$name still running ${STOP_WAIT_SEC}s after SIGTERM"
		sleep 0.1
		waited=$((waited + 1))
	done
	wait "$pid" || rc=$?
	unset "PEER_PIDS[$name]"
	[ "$rc" -eq 0 ] || fail "$name exited with $rc after SIGTERM"
	echo "$name stopped cleanly"
}

# run_dialer_fails CMD...: like run_dialer, but the dialer must fail: exit 1
# (not a timeout) with an {"error":…} line in dialer.out.
run_dialer_fails() {
	echo "dialing (must fail): $*"
	local rc=0
	timeout --kill-after=5 "$DIALER_TIMEOUT_SEC" "$@" >"$WORK/dialer.out" 2>"$WORK/dialer.err" </dev/null || rc=$?
	[ "$rc" -ne 124 ] || fail "dialer timed out after ${DIALER_TIMEOUT_SEC}s"
	[ "$rc" -eq 1 ] || fail "dialer exited with $rc, wanted 1 (failure)"
	grep -q '^{"error":' "$WORK/dialer.out" || fail "dialer failed without an {\"error\":…} line"
	cat "$WORK/dialer.out"
}

# Prints the p2p-autonat tool of BUILD_DIR (the AutoNAT tests); says why
# on stderr and fails if there is none.
find_p2p_autonat() {
	local bin
	for bin in "$BUILD_DIR/p2p-autonat" "$BUILD_DIR/tools/p2p-autonat"; do
		[ -x "$bin" ] && echo "$bin" && return 0
	done
	echo "FAIL: p2p-autonat not found in BUILD_DIR=${BUILD_DIR:-unset}" >&2
	return 1
}

# wait_line FILE REGEX: waits (EVENT_WAIT_SEC, default 20) for a line of
# FILE matching REGEX, prints it.
wait_line() {
	local _
	for _ in $(seq $((${EVENT_WAIT_SEC:-20} * 10))); do
		if grep -m 1 -E "$2" "$1"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
