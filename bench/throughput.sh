#!/usr/bin/env bash
# Throughput of the C libp2p stack (TCP + Noise + Yamux, one stream) compared
# with single-core ChaCha20-Poly1305 as measured by `openssl speed`. Run by
# hand, not in CI; see bench/README.md. Traffic stays on 127.0.0.1.
#
# Environment:
#   ROUNDS=5             rounds of (openssl speed, C->C); medians are reported
#   C_BYTES=1073741824   perf upload size for C->C (default 1 GiB)
#   JS_BYTES=268435456   perf size each way for C<->js (default 256 MiB)
#   OPENSSL_SECONDS=2    duration of each `openssl speed`
#   SKIP_BUILD=1         use the existing build/release/p2p-ping
#   BENCH_BUILD_DIR=DIR  build/use p2p-ping in DIR instead of build/release
#   SKIP_JS=1            skip the C<->js runs (no Node set-up needed)
#   GOAL_PERCENT=50      C->C must reach this share of openssl's rate
#   PIN=1                C->C: listener on CPU 0, dialer on CPU 1 (PIN=0: let
#                        the scheduler place them)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SRC_DIR=$ROOT
export BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
C_BYTES=${C_BYTES:-1073741824}
JS_BYTES=${JS_BYTES:-268435456}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-2}
ROUNDS=${ROUNDS:-5}
GOAL_PERCENT=${GOAL_PERCENT:-50}
PIN=${PIN:-1}
# Two endpoints on one machine share its cores; pinned, each has one to
# itself, as on two machines, and the scheduler does not move them around
# mid-transfer (which costs 5-10% on the 2-core VM). Only the C programs:
# Node runs several threads.
pin_listener=() pin_dialer=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_listener=(taskset -c 0)
	pin_dialer=(taskset -c 1)
fi

# Start/wait/stop helpers shared with the interop tests.
source "$ROOT/tests/interop/lib.sh"
DIALER_TIMEOUT_SEC=600

if [ -z "${SKIP_BUILD:-}" ]; then
	echo "== building Release p2p-ping in build/release" >&2
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DP2P_SANITIZE=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target p2p-ping >/dev/null
fi
P2P_PING=$(p2p_ping)
# The ceiling: the same encryption and framing with nothing around it.
CEILING=$BUILD_DIR/bench-ceiling
cc -O2 -o "$CEILING" "$ROOT/bench/ceiling.c" -lcrypto
ceiling_cpus=()
[ ${#pin_dialer[@]} -eq 0 ] || ceiling_cpus=(1 0)

# json_field FILE KEY: KEY from the first JSON line of FILE that has it.
json_field() {
	python3 - "$1" "$2" <<-'EOF'
		import json, sys
		for line in open(sys.argv[1]):
		    try:
		        obj = json.loads(line)
		    except ValueError:
		        continue
		    if isinstance(obj, dict) and sys.argv[2] in obj:
		        print(obj[sys.argv[2]])
		        sys.exit(0)
		sys.exit("no " + sys.argv[2] + " in " + sys.argv[1])
	EOF
}

# perf LISTENER_KIND DIALER_KIND UP DOWN: one listener/dialer pair; leaves the
# dialer's JSON in $WORK/dialer.out.
perf() {
	local lkind=$1 dkind=$2 up=$3 down=$4
	if [ "$lkind" = c ]; then
		start_listener "${pin_listener[@]}" "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 >&2
	else
		start_listener "$NODE" "$PEER_JS" --listen /ip4/127.0.0.1/tcp/0 >&2
	fi
	if [ "$dkind" = c ]; then
		run_dialer "${pin_dialer[@]}" "$P2P_PING" "$LISTEN_ADDR" --count 1 --perf-upload "$up" \
			--perf-download "$down" >&2
	else
		run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 1 --timeout "$DIALER_TIMEOUT_SEC" \
			--perf-upload "$up" --perf-download "$down" >&2
	fi
	stop_listener >&2
}

rows=()
row() { rows+=("$1|$2"); }

# openssl_speed: single-core ChaCha20-Poly1305 on 16 KiB buffers, in MB/s.
openssl_speed() {
	openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds "$OPENSSL_SECONDS" \
		>"$WORK/openssl.out" 2>&1
	# Last line: "ChaCha20-Poly1305  3751985.15k", in 1000s of bytes per second.
	local kbs
	kbs=$(awk 'tolower($1) ~ /chacha20-poly1305/ { v = $NF } END { sub(/k$/, "", v); print v }' \
		"$WORK/openssl.out")
	[ -n "$kbs" ] || fail "could not parse openssl speed output"
	python3 -c "print(round($kbs / 1000, 1))"
}

# The machine's speed drifts by 10-20% from minute to minute, so the
# reference and our transfer are measured back to back, ROUNDS times, and
# the goal is judged on the median of the per-round ratios.
ossl_all=() cc_all=() ratio_all=() ceil_all=()
for r in $(seq "$ROUNDS"); do
	echo "== round $r/$ROUNDS: openssl speed (${OPENSSL_SECONDS} s), then C -> C perf upload $C_BYTES bytes" >&2
	o=$(openssl_speed)
	perf c c "$C_BYTES" 0
	c=$(json_field "$WORK/dialer.out" upload_mb_per_s)
	"$CEILING" "$C_BYTES" "${ceiling_cpus[@]}" >"$WORK/ceiling.out" || fail "bench/ceiling.c failed"
	ceil_all+=("$(json_field "$WORK/ceiling.out" mb_per_s)")
	ossl_all+=("$o")
	cc_all+=("$c")
	ratio_all+=("$(python3 -c "print(f'{100 * $c / $o:.1f}')")")
	echo "   openssl $o MB/s, C -> C $c MB/s: ${ratio_all[-1]}%; ceiling ${ceil_all[-1]} MB/s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
openssl_mbs=$(median "${ossl_all[@]}")
cc_mbs=$(median "${cc_all[@]}")
ratio_median=$(median "${ratio_all[@]}")
row "C -> C   upload $((C_BYTES >> 20)) MiB (median of $ROUNDS)" "$cc_mbs"
row "ceiling: bench/ceiling.c (no libp2p)" "$(median "${ceil_all[@]}")"

if [ -z "${SKIP_JS:-}" ]; then
	need_js
	echo "== C dials js: perf $JS_BYTES bytes each way" >&2
	perf js c "$JS_BYTES" "$JS_BYTES"
	row "C -> js  upload $((JS_BYTES >> 20)) MiB (C dials)" "$(json_field "$WORK/dialer.out" upload_mb_per_s)"
	row "js -> C  download $((JS_BYTES >> 20)) MiB (C dials)" "$(json_field "$WORK/dialer.out" download_mb_per_s)"
	echo "== js dials C: perf $JS_BYTES bytes each way" >&2
	perf c js "$JS_BYTES" "$JS_BYTES"
	row "js -> C  upload $((JS_BYTES >> 20)) MiB (js dials)" "$(json_field "$WORK/dialer.out" upload_mb_per_s)"
	row "C -> js  download $((JS_BYTES >> 20)) MiB (js dials)" "$(json_field "$WORK/dialer.out" download_mb_per_s)"
	echo "== reference, js dials js: perf upload $JS_BYTES bytes" >&2
	start_listener "$NODE" "$PEER_JS" --listen /ip4/127.0.0.1/tcp/0 >&2
	run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 1 --timeout "$DIALER_TIMEOUT_SEC" \
		--perf-upload "$JS_BYTES" --perf-download 0 >&2
	stop_listener >&2
	row "js -> js upload $((JS_BYTES >> 20)) MiB (reference)" "$(json_field "$WORK/dialer.out" upload_mb_per_s)"
fi

echo
printf '%-40s %10s %10s\n' "transfer (one yamux stream, loopback)" "MB/s" "/ openssl"
printf '%-40s %10s %10s\n' "openssl chacha20-poly1305, 16 KiB, 1 core" "$openssl_mbs" "100%"
echo "(median of $ROUNDS rounds; rows as a share of it)"
for r in "${rows[@]}"; do
	name=${r%%|*}
	mbs=${r#*|}
	pct=$(python3 -c "import sys; v = sys.argv[1]; print(f'{100 * float(v) / $openssl_mbs:.1f}%' if v.replace('.', '', 1).isdigit() else '-')" "$mbs")
	printf '%-40s %10s %10s\n' "$name" "$mbs" "$pct"
done
echo
echo "C -> C / openssl, round by round: ${ratio_all[*]} (%); median ${ratio_median}%"
if python3 -c "import sys; sys.exit(0 if $ratio_median >= $GOAL_PERCENT else 1)"; then
	echo "goal met: C -> C is at least ${GOAL_PERCENT}% of single-core ChaCha20-Poly1305 (median round)"
else
	echo "goal NOT met: C -> C is below ${GOAL_PERCENT}% of single-core ChaCha20-Poly1305 (median round)"
fi
