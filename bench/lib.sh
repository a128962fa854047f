# shellcheck shell=bash
# What the benchmarks share (tunnel.sh, relay.sh, attacks.sh): a scratch
# directory, background processes killed on exit (with their logs shown
# when the run failed), failures noted for the end, and readings from
# /proc. Sourced after the script sets ROOT, HELPER and START_WAIT_S;
# BENCH_NAME names the scratch directory. A script that has more to end
# first (an sshd's sessions) defines bench_before_cleanup.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/${BENCH_NAME:-bench}.XXXXXX")
PIDS=()
FAILED=()

cleanup() {
	local rc=$? p alive
	if declare -F bench_before_cleanup >/dev/null; then
		bench_before_cleanup
	fi
	for p in "${PIDS[@]}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		alive=0
		for p in "${PIDS[@]}"; do
			[ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do
		[ -n "$p" ] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ $rc -ne 0 ]; then
		echo "--- bench failed (rc $rc); logs:" >&2
		for f in "$TMP"/*.out "$TMP"/*.err "$TMP"/*.log; do
			[ -s "$f" ] || continue
			echo "--- ${f##*/}" >&2
			tail -n 15 "$f" >&2
		done
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

die() {
	echo "FAIL: $*" >&2
	exit 1
}
# A failed measurement: noted, reported at the end, makes the exit status 1.
failed() {
	echo "FAIL: $*" >&2
	FAILED+=("$*")
}
helper() { python3 "$HELPER" "$@"; }

# start NAME CMD...: CMD in the background, output to $TMP/NAME.out/.err;
# sets LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}
# forget PID: no longer ours to kill (it ended, or was waited for).
forget() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}
# stop PID: SIGTERM and wait (the trap catches anything left).
stop() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget "$1"
}
wait_file() {
	for _ in $(seq $((START_WAIT_S * 20))); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# cpu_ticks PID: user + system CPU time so far, in clock ticks (CLK_TCK a second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
# ratio A B: A / B with 2 decimals ("-" if either is missing).
ratio() {
	python3 -c 'import sys
try: print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")
except (ValueError, ZeroDivisionError): print("-")' "$1" "$2"
}
# verdict CONDITION: "met" / "NOT met" / "not measured" for a python condition.
verdict() {
	python3 -c 'import sys
try: print("met" if eval(sys.argv[1]) else "NOT met")
except Exception: print("not measured")' "$1"
}
