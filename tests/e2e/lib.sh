# Shared helpers for the tunnel's end-to-end tests (sourced by *.test.sh).
# Real processes on 127.0.0.1 only; everything started is killed on exit.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
: "${SRC_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
TUNNEL="$BUILD_DIR/tunnel"
E2E="$SRC_DIR/tests/e2e"
HELPER="$E2E/tunnel_helper.py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tunnel-e2e.XXXXXX")
PIDS=()
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ $rc -ne 0 ]; then
		echo "--- test failed (rc $rc); logs:" >&2
		for f in "$TMP"/*.out "$TMP"/*.err; do
			[ -f "$f" ] || continue
			echo "--- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

[ -x "$TUNNEL" ] || fail "no tunnel binary at $TUNNEL"

# wait_event, json_get, wait_port_file
# shellcheck source=events.sh
source "$E2E/events.sh"

# start_bg NAME CMD...: runs CMD in the background, stdout/stderr to
# $TMP/NAME.out / .err, stdin from /dev/null; sets LAST_PID.
start_bg() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# start_host NAME ARGS...: a tunnel host on loopback with its key in $TMP
# (listening on $HOST_LISTEN, default /ip4/127.0.0.1/tcp/0: the host picks
# its port); stdin is the fifo $TMP/NAME.in (write commands with `send NAME
# JSON`). Sets HOST_PID, TOKEN and HOST_PORT (the port it listens on).
start_host() {
	try_start_host "$@" || fail "$1 printed no TOKEN"
}

# restart_host NAME PORT ARGS...: start_host on a port a host had before
# (its tokens name it). The port was free from the old host's exit until
# now, so another program may have taken it meanwhile: try again a few
# times while the port is in use.
restart_host() {
	local name=$1 port=$2 i
	shift 2
	for i in $(seq 20); do
		HOST_LISTEN="/ip4/127.0.0.1/tcp/$port" try_start_host "$name" "$@" && return 0
		grep -q "in use" "$TMP/$name.err" || fail "$name printed no TOKEN"
		sleep 0.5
	done
	fail "port $port stayed in use: $name could not start"
}

# try_start_host NAME ARGS...: start_host, but returns 1 if the host exits
# before printing its TOKEN (e.g. its port is in use).
try_start_host() {
	local name=$1
	shift
	rm -f "$TMP/$name.in"
	mkfifo "$TMP/$name.in"
	"$TUNNEL" -listen "${HOST_LISTEN:-/ip4/127.0.0.1/tcp/0}" -key "$TMP/$name.key" "$@" \
		<"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	HOST_PID=$!
	PIDS+=("$HOST_PID")
	# Hold the fifo open for writing so the host's stdin stays open.
	exec {HOLD_FD}>"$TMP/$name.in"
	local ev
	ev=$(wait_event "$TMP/$name.out" TOKEN 30 1 "$HOST_PID") || return 1
	TOKEN=$(json_get "$ev" token)
	HOST_PORT=$(json_get "$ev" addrs | grep -o '/tcp/[0-9]*' | head -n 1 | cut -d/ -f3)
	[ -n "$HOST_PORT" ] || fail "$name: no TCP port in $ev"
}

# send NAME JSON: one command line to the host started as NAME.
send() {
	echo "$2" >"$TMP/$1.in"
}

# start_client NAME TOKEN ARGS...: a tunnel client; sets CLIENT_PID, PORT
# (from its LISTENING event: the port is open, the host not reached yet;
# CONNECTED follows the host's OK to the first tunnel).
start_client() {
	local name=$1 tok=$2
	shift 2
	start_bg "$name" "$TUNNEL" -token "$tok" -port 0 "$@"
	CLIENT_PID=$LAST_PID
	local ev
	ev=$(wait_event "$TMP/$name.out" LISTENING 30 1 "$CLIENT_PID") || fail "$name printed no LISTENING"
	PORT=$(json_get "$ev" port)
}

# stop_pid PID [EXPECTED_RC]: SIGTERM, wait (at most 15 s), check the status.
stop_pid() {
	local pid=$1 want=${2:-0} rc=0 i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "process $pid did not exit after SIGTERM"
	wait "$pid" || rc=$?
	[ "$rc" = "$want" ] || fail "process $pid exited with $rc, expected $want"
}

# --- hostile peers (tools/tunnel-attack) ---
ATTACK="$BUILD_DIR/tunnel-attack"

# fd_count PID: the file descriptors a process holds now.
fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# start_attack NAME TOKEN ARGS...: a hostile client holding many tunnel
# streams on one connection (see tools/tunnel-attack/main.c); waits until
# it settled and sets ATTACK_PID and ATTACK_EV (its SETTLED event).
start_attack() {
	local name=$1 tok=$2
	shift 2
	[ -x "$ATTACK" ] || fail "no tunnel-attack at $ATTACK"
	start_bg "$name" "$ATTACK" -token "$tok" "$@"
	ATTACK_PID=$LAST_PID
	ATTACK_EV=$(wait_event "$TMP/$name.out" SETTLED 30 1 "$ATTACK_PID") ||
		fail "$name did not settle"
}

# check_json JSON PYTHON_EXPR: fails unless the expression holds for the
# event (bound as ev).
check_json() {
	python3 -c 'import json, sys; ev = json.loads(sys.argv[1]); assert eval(sys.argv[2]), ev' \
		"$1" "$2" || fail "expected $2 in $1"
}
