#!/usr/bin/env bash
# Throughput of the C libp2p stack (TCP + Noise + Yamux, one stream) compared
# with single-core ChaCha20-Poly1305 as measured by `openssl speed`. Run by
# hand, not in CI; see bench/README.md. Traffic stays on 127.0.0.1.
#
# Environment:
#   C_BYTES=1073741824   perf upload size for C->C (default 1 GiB)
#   JS_BYTES=268435456   perf size each way for C<->js (default 256 MiB)
#   OPENSSL_SECONDS=3    duration of `openssl speed`
#   SKIP_BUILD=1         use the existing build/release/p2p-ping
#   BENCH_BUILD_DIR=DIR  build/use p2p-ping in DIR instead of build/release
#   SKIP_JS=1            skip the C<->js runs (no Node set-up needed)
#   GOAL_PERCENT=50      C->C must reach this share of openssl's rate
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SRC_DIR=$ROOT
export BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
C_BYTES=${C_BYTES:-1073741824}
JS_BYTES=${JS_BYTES:-268435456}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}
GOAL_PERCENT=${GOAL_PERCENT:-50}

# Start/wait/stop helpers shared with the interop tests.
source "$ROOT/tests/interop/lib.sh"
DIALER_TIMEOUT_SEC=600

if [ -z "${SKIP_BUILD:-}" ]; then
	echo "== building Release p2p-ping in build/release" >&2
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DP2P_SANITIZE=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target p2p-ping >/dev/null
fi
P2P_PING=$(p2p_ping)

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
		start_listener "$P2P_PING" --listen /ip4/127.0.0.1/tcp/0 >&2
	else
		start_listener "$NODE" "$PEER_JS" --listen /ip4/127.0.0.1/tcp/0 >&2
	fi
	if [ "$dkind" = c ]; then
		run_dialer "$P2P_PING" "$LISTEN_ADDR" --count 1 --perf-upload "$up" --perf-download "$down" >&2
	else
		run_dialer "$NODE" "$PEER_JS" "$LISTEN_ADDR" --count 1 --timeout "$DIALER_TIMEOUT_SEC" \
			--perf-upload "$up" --perf-download "$down" >&2
	fi
	stop_listener >&2
}

rows=()
row() { rows+=("$1|$2"); }

echo "== openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds $OPENSSL_SECONDS" >&2
openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds "$OPENSSL_SECONDS" >"$WORK/openssl.out" 2>&1
# Last line: "ChaCha20-Poly1305  3751985.15k", in 1000s of bytes per second.
openssl_kbs=$(awk 'tolower($1) ~ /chacha20-poly1305/ { v = $NF } END { sub(/k$/, "", v); print v }' "$WORK/openssl.out")
[ -n "$openssl_kbs" ] || fail "could not parse openssl speed output"
openssl_mbs=$(python3 -c "print(round($openssl_kbs / 1000, 1))")

echo "== C -> C: perf upload $C_BYTES bytes" >&2
perf c c "$C_BYTES" 0
cc_mbs=$(json_field "$WORK/dialer.out" upload_mb_per_s)
row "C -> C   upload $((C_BYTES >> 20)) MiB" "$cc_mbs"

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
for r in "${rows[@]}"; do
	name=${r%%|*}
	mbs=${r#*|}
	pct=$(python3 -c "import sys; v = sys.argv[1]; print(f'{100 * float(v) / $openssl_mbs:.1f}%' if v.replace('.', '', 1).isdigit() else '-')" "$mbs")
	printf '%-40s %10s %10s\n' "$name" "$mbs" "$pct"
done
echo
if python3 -c "import sys; sys.exit(0 if 100 * $cc_mbs >= $GOAL_PERCENT * $openssl_mbs else 1)"; then
	echo "goal met: C -> C is at least ${GOAL_PERCENT}% of single-core ChaCha20-Poly1305"
else
	echo "goal NOT met: C -> C is below ${GOAL_PERCENT}% of single-core ChaCha20-Poly1305"
fi
