#!/usr/bin/env bash
# The tunnel through our circuit relay v2 service against the direct tunnel:
# throughput of one TCP connection, the relay's memory with many idle
# circuits, and the time from starting a client to the first byte of an
# HTTP answer. Run by hand, not in CI; see bench/README.md. Traffic stays
# on 127.0.0.1.
#
# Environment:
#   BYTES=1073741824     bytes per throughput run (default 1 GiB)
#   ROUNDS=3             throughput rounds (direct and relayed once each, in
#                        alternating order); the best of each is reported
#   IDLE_CIRCUITS=1000   idle circuits (each from its own peer) for the RSS rows
#   WINDOW=25            circuits being set up at once (the relay takes 32
#                        inbound handshakes at a time)
#   RUNS=5               time-to-first-byte runs of each kind (medians)
#   SKIP_BUILD=1         use the existing tunnel and bench-relay-circuits
#   BENCH_BUILD_DIR=DIR  build/use them in DIR instead of build/release
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
BYTES=${BYTES:-1073741824}
ROUNDS=${ROUNDS:-3}
IDLE_CIRCUITS=${IDLE_CIRCUITS:-1000}
WINDOW=${WINDOW:-25}
RUNS=${RUNS:-5}
HELPER=$ROOT/bench/tunnel_helper.py
# The goals: relayed throughput as a share of direct, relay memory in MiB.
GOAL_RELAYED_PCT=40
GOAL_RSS_MIB=64
START_WAIT_S=30
# Relay limits high enough for every circuit this benchmark opens.
RELAY_LIMITS=(-max-circuits 2000 -max-circuits-per-peer 2000)

BENCH_NAME=relay-bench
# shellcheck source=lib.sh
source "$ROOT/bench/lib.sh"

# py EXPR: a python expression's value ("-" when it cannot be computed,
# e.g. a figure is missing).
py() {
	python3 -c 'import sys, statistics
try: print(eval(sys.argv[1]))
except Exception: print("-")' "$1"
}

# --- dependencies and build ---------------------------------------------
command -v python3 >/dev/null || die "python3 is needed"
UV_FLAGS=$(pkg-config --libs libuv libcares libprotobuf-c libcrypto) ||
	die "pkg-config finds no libuv, libcares, libprotobuf-c or libcrypto"
if [ -z "${SKIP_BUILD:-}" ]; then
	echo "== building Release tunnel in $BUILD_DIR" >&2
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DP2P_SANITIZE=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target tunnel >/dev/null
	# Many peers in one process, on the static libraries the tunnel was
	# just linked with (as throughput.sh builds bench/ceiling.c).
	libs=()
	for l in protocols host transport mux negotiate secure crypto core proto; do
		libs+=("$BUILD_DIR/libp2p_$l.a")
	done
	# shellcheck disable=SC2086
	cc -O2 -Wall -o "$BUILD_DIR/bench-relay-circuits" "$ROOT/bench/relay_circuits.c" \
		-I"$ROOT/include" -Wl,--start-group "${libs[@]}" -Wl,--end-group $UV_FLAGS
fi
TUNNEL=$BUILD_DIR/tunnel
CIRCUITS=$BUILD_DIR/bench-relay-circuits
[ -x "$TUNNEL" ] || die "no tunnel binary at $TUNNEL"
[ -x "$CIRCUITS" ] || die "no bench-relay-circuits at $CIRCUITS"
# The relay and the sources process hold a descriptor per circuit.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((IDLE_CIRCUITS + 200)) ] ||
	die "the descriptor limit ($(ulimit -n)) is too low for $IDLE_CIRCUITS circuits"

# start_relay NAME CMD...: a relay; sets RELAY_PID and RELAY_ADDR (its first
# address, /ip4/127.0.0.1/tcp/P/p2p/ID).
start_relay() {
	local name=$1
	shift
	start "$name" "$@"
	RELAY_PID=$LAST_PID
	RELAY_ADDR=$(helper event "$TMP/$name.out" RELAY addrs "$START_WAIT_S" | head -n 1) ||
		die "the relay $name printed no address"
	[ -n "$RELAY_ADDR" ] || die "the relay $name printed no address"
}
# start_host NAME SERVICE_PORT: a tunnel host reserving on RELAY_ADDR; sets
# HOST_PID, TOKEN (every address) and RTOKEN (the circuit address only).
start_host() {
	local name=$1 svc=$2
	start "$name" "$TUNNEL" -no-holepunch -port "$svc" -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/$name.key" \
		-relay "$RELAY_ADDR"
	HOST_PID=$LAST_PID
	TOKEN=$(helper event "$TMP/$name.out" TOKEN token "$START_WAIT_S") ||
		die "the host $name printed no TOKEN"
	RTOKEN=$(python3 "$ROOT/tests/e2e/tunnel_helper.py" relayed-token "$TOKEN") ||
		die "the host $name's token has no relay address (no reservation?)"
}
# start_client NAME TOKEN WANT_PATH: a client; sets CLIENT_PID and PORT.
start_client() {
	local name=$1 token=$2 want=$3 path
	start "$name" "$TUNNEL" -no-holepunch -token "$token" -port 0
	CLIENT_PID=$LAST_PID
	PORT=$(helper event "$TMP/$name.out" LISTENING port "$START_WAIT_S") ||
		die "the client $name printed no port"
	helper wait-listen "$PORT" "$START_WAIT_S" || die "the client $name does not listen"
	# CONNECTED, with the way the tunnel went, follows the host's OK to a
	# first tunnel: an empty transfer.
	timeout 60 python3 "$HELPER" send "$PORT" 0 >/dev/null 2>&1 ||
		die "the client $name got no tunnel through"
	path=$(helper event "$TMP/$name.out" CONNECTED path "$START_WAIT_S") ||
		die "the client $name did not connect to the host"
	[ "$path" = "$want" ] || die "the client $name went $path, not $want"
}

# --- 1. throughput, direct and relayed --------------------------------------
start sink python3 "$HELPER" sink "$TMP/sink.port"
wait_file "$TMP/sink.port" || die "the sink did not start"
SINK_PORT=$(cat "$TMP/sink.port")
start_relay relay "$TUNNEL" -relay-service -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/relay.key" \
	"${RELAY_LIMITS[@]}"
BULK_RELAY_PID=$RELAY_PID
start_host bulk-host "$SINK_PORT"
BULK_HOST_PID=$HOST_PID
start_client direct-client "$TOKEN" direct
DIRECT_PID=$CLIENT_PID DIRECT_PORT=$PORT
start_client relayed-client "$RTOKEN" relayed
RELAYED_PID=$CLIENT_PID RELAYED_PORT=$PORT

# transfer KIND PORT PIDS...: BYTES through PORT to the sink; sets MBS ("-"
# on failure) and adds each PID's CPU ticks to CPU_<KIND>_<PID>.
declare -A CPU
transfer() {
	local kind=$1 port=$2 log="$TMP/send-$1.log" p
	shift 2
	local before=()
	for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
	echo "== $kind: $((BYTES >> 20)) MiB" >&2
	MBS="-"
	if timeout 300 python3 "$HELPER" send "$port" "$BYTES" >>"$log" 2>&1; then
		MBS=$(tail -n 1 "$log" | python3 -c 'import json, sys; print(json.load(sys.stdin)["mb_per_s"])')
	else
		failed "$kind: the transfer did not complete ($(tail -n 1 "$log"))"
	fi
	local i=0
	for p in "$@"; do
		CPU[$kind.$p]=$((${CPU[$kind.$p]:-0} + $(cpu_ticks "$p") - ${before[$i]}))
		i=$((i + 1))
	done
}
best() { py "max([float(x) for x in '$1 $2'.split() if x != '-'] or ['-'])"; }

DIRECT_MBS="-" RELAYED_MBS="-"
ALL_DIRECT=() ALL_RELAYED=()
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS" >&2
	for kind in $( ((round % 2)) && echo direct relayed || echo relayed direct); do
		if [ "$kind" = direct ]; then
			transfer direct "$DIRECT_PORT" "$BULK_HOST_PID" "$DIRECT_PID"
			DIRECT_MBS=$(best "$DIRECT_MBS" "$MBS")
			ALL_DIRECT+=("$MBS")
		else
			transfer relayed "$RELAYED_PORT" "$BULK_RELAY_PID" "$BULK_HOST_PID" "$RELAYED_PID"
			RELAYED_MBS=$(best "$RELAYED_MBS" "$MBS")
			ALL_RELAYED+=("$MBS")
		fi
	done
done
# CPU seconds per GiB moved, over every round.
per_gib() { py "f'{${1:-0} / $(getconf CLK_TCK) / ($ROUNDS * $BYTES / 2**30):.2f}'"; }
CPU_D_HOST=$(per_gib "${CPU[direct.$BULK_HOST_PID]:-}")
CPU_D_CLIENT=$(per_gib "${CPU[direct.$DIRECT_PID]:-}")
CPU_R_RELAY=$(per_gib "${CPU[relayed.$BULK_RELAY_PID]:-}")
CPU_R_HOST=$(per_gib "${CPU[relayed.$BULK_HOST_PID]:-}")
CPU_R_CLIENT=$(per_gib "${CPU[relayed.$RELAYED_PID]:-}")
stop "$RELAYED_PID"
stop "$DIRECT_PID"
stop "$BULK_HOST_PID"

# --- 3. time to first byte (on the same relay) -------------------------------
start http python3 "$HELPER" http "$TMP/http.port"
wait_file "$TMP/http.port" || die "the HTTP responder did not start"
start_host web-host "$(cat "$TMP/http.port")"
WEB_HOST_PID=$HOST_PID
TTFB_DIRECT=() TTFB_RELAYED=() LISTEN_MS=()
# ttfb KIND TOKEN: one client start to first byte; appends the ms to
# TTFB_<KIND>.
ttfb() {
	local kind=$1 token=$2 port out ms path listen_ms
	port=$(helper free-port)
	if ! out=$(timeout 60 python3 "$HELPER" ttfb "$port" "$TMP/ttfb-$kind.out" \
		"$TMP/ttfb-$kind.err" "$TUNNEL" -no-holepunch -token "$token" -port "$port" 2>>"$TMP/ttfb.log"); then
		failed "time to first byte, $kind: $(tail -n 1 "$TMP/ttfb.log")"
		return
	fi
	read -r ms path listen_ms < <(python3 -c 'import json, sys
r = json.loads(sys.argv[1]); print(r["ms"], r["path"], r["connect_ms"])' "$out") || true
	echo "   $kind: $ms ms ($path; the port accepted after $listen_ms ms)" >&2
	LISTEN_MS+=("$listen_ms")
	if [ "$path" != "$kind" ]; then
		failed "time to first byte, $kind: the client went $path"
		return
	fi
	if [ "$kind" = direct ]; then TTFB_DIRECT+=("$ms"); else TTFB_RELAYED+=("$ms"); fi
}
echo "== time to first byte, $RUNS runs each" >&2
for run in $(seq "$RUNS"); do
	if ((run % 2)); then
		ttfb direct "$TOKEN"
		ttfb relayed "$RTOKEN"
	else
		ttfb relayed "$RTOKEN"
		ttfb direct "$TOKEN"
	fi
done
median() { py "statistics.median([$(IFS=,; echo "$*")])"; }
TTFB_D=$(median "${TTFB_DIRECT[@]}")
TTFB_R=$(median "${TTFB_RELAYED[@]}")
TTFB_LISTEN=$(median "${LISTEN_MS[@]}")
stop "$WEB_HOST_PID"
stop "$BULK_RELAY_PID"

# --- 2. relay memory with many idle circuits ---------------------------------
# idle NAME RELAY_CMD...: a fresh relay, one target holding a reservation on
# it, then IDLE_CIRCUITS source peers each connecting to the target through
# it. Sets R_BEFORE/R_AFTER (relay VmRSS, KiB), R_OK (circuits made), R_OPEN
# (still open at the measurement), R_SECS, R_ERRORS.
idle() {
	local name=$1 circuit
	shift
	R_BEFORE="-" R_AFTER="-" R_OK=0 R_OPEN="-" R_SECS="-" R_ERRORS=""
	start_relay "$name-relay" "$@"
	local relay=$RELAY_PID
	start "$name-target" "$CIRCUITS" target "$RELAY_ADDR"
	local target=$LAST_PID
	if ! circuit=$(helper event "$TMP/$name-target.out" READY circuit "$START_WAIT_S"); then
		failed "$name: the target got no reservation ($(tail -n 1 "$TMP/$name-target.err"))"
		stop "$target"
		stop "$relay"
		return
	fi
	sleep 0.5
	R_BEFORE=$(rss_kib "$relay")
	echo "== $name: $IDLE_CIRCUITS circuits, $WINDOW at a time" >&2
	start "$name-sources" "$CIRCUITS" sources "$circuit" "$IDLE_CIRCUITS" "$WINDOW"
	local sources=$LAST_PID made
	if made=$(helper event "$TMP/$name-sources.out" DONE connected 120); then
		R_OK=$made
		read -r R_SECS R_ERRORS < <(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("action") == "DONE":
        errs = ", ".join(f"{n} {k}" for k, n in e["errors"].items())
        print(e["seconds"], errs)' "$TMP/$name-sources.out") || true
		sleep 1 # let the relay settle (handshake buffers freed)
		R_AFTER=$(rss_kib "$relay")
		# Circuits the target still holds, as it counted them (every second).
		sleep 1
		R_OPEN=$(python3 -c 'import json, sys
n = "-"
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("action") == "COUNT": n = e["conns"]
print(n)' "$TMP/$name-target.out")
	else
		failed "$name: the sources did not finish ($(tail -n 1 "$TMP/$name-sources.err"))"
	fi
	if [ "$R_OK" != "$IDLE_CIRCUITS" ]; then
		failed "$name: only $R_OK of $IDLE_CIRCUITS circuits connected (${R_ERRORS:-no error reported})"
	fi
	stop "$sources"
	stop "$target"
	stop "$relay"
}
idle tunnel "$TUNNEL" -relay-service -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/relay2.key" -q \
	"${RELAY_LIMITS[@]}"
T_BEFORE=$R_BEFORE T_AFTER=$R_AFTER T_OK=$R_OK T_OPEN=$R_OPEN T_SECS=$R_SECS
# The library's relay service with the host's connection limits raised: what
# the relay itself costs when nothing caps the connections.
idle library "$CIRCUITS" relay /ip4/127.0.0.1/tcp/0 2000
L_BEFORE=$R_BEFORE L_AFTER=$R_AFTER L_OK=$R_OK L_OPEN=$R_OPEN L_SECS=$R_SECS

# --- report -----------------------------------------------------------------
echo
printf '%-56s %10s\n' "one TCP connection, $((BYTES >> 20)) MiB, best of $ROUNDS" "MB/s"
printf '%-56s %10s\n' "direct tunnel (client -> host)" "$DIRECT_MBS"
printf '%-56s %10s\n' "relayed tunnel (client -> relay -> host)" "$RELAYED_MBS"
echo "  every round: direct ${ALL_DIRECT[*]}; relayed ${ALL_RELAYED[*]}"
echo "  CPU s per GiB, direct:  host $CPU_D_HOST, client $CPU_D_CLIENT"
echo "  CPU s per GiB, relayed: relay $CPU_R_RELAY, host $CPU_R_HOST, client $CPU_R_CLIENT"
r_tp=$(py "f'{float(\"$RELAYED_MBS\") / float(\"$DIRECT_MBS\"):.2f}'")
printf '%-30s %6s   goal >= %s   %s\n' "relayed / direct" "$r_tp" \
	"$(py "$GOAL_RELAYED_PCT / 100")" "$(verdict "100 * $r_tp >= $GOAL_RELAYED_PCT")"
echo
mib() { py "f'{$1 / 1024:.1f}'"; }
per_circuit() { py "f'{($2 - $1) / $3:.1f}'"; }
echo "$IDLE_CIRCUITS idle circuits, each from its own peer to one target (relay VmRSS)"
printf '%-34s %9s %9s %8s %9s %9s\n' "relay" "circuits" "open" "set-up s" "before" "after"
printf '%-34s %9s %9s %8s %9s %9s\n' "tunnel -relay-service" "$T_OK" "$T_OPEN" "$T_SECS" \
	"$(mib "$T_BEFORE") MiB" "$(mib "$T_AFTER") MiB"
printf '%-34s %9s %9s %8s %9s %9s\n' "library relay, max_conns 4096" "$L_OK" "$L_OPEN" "$L_SECS" \
	"$(mib "$L_BEFORE") MiB" "$(mib "$L_AFTER") MiB"
echo "  per circuit: tunnel $(per_circuit "$T_BEFORE" "$T_AFTER" "$T_OK") KiB," \
	"library $(per_circuit "$L_BEFORE" "$L_AFTER" "$L_OK") KiB"
for row in "tunnel -relay-service|$T_OK|$T_AFTER" "library relay|$L_OK|$L_AFTER"; do
	IFS='|' read -r name ok after <<<"$row"
	if [ "$ok" = "$IDLE_CIRCUITS" ]; then
		v=$(verdict "$after / 1024 < $GOAL_RSS_MIB")
	else
		v="not measured (only $ok circuits)"
	fi
	printf '%-30s %6s MiB   goal < %s MiB   %s\n' "$name RSS" "$(mib "$after")" "$GOAL_RSS_MIB" "$v"
done
echo
echo "time to first byte: client start -> first byte of an HTTP answer, $RUNS runs each (ms)"
printf '%-56s %10s\n' "direct, median" "$TTFB_D"
printf '%-56s %10s\n' "relayed, median" "$TTFB_R"
echo "  every run: direct ${TTFB_DIRECT[*]}; relayed ${TTFB_RELAYED[*]}"
printf '%-30s %6s\n' "relayed / direct" "$(py "f'{$TTFB_R / $TTFB_D:.2f}'")"
echo "  (of which the client process starting until its port accepts: median $TTFB_LISTEN ms, both kinds)"

if [ ${#FAILED[@]} -gt 0 ]; then
	echo
	for f in "${FAILED[@]}"; do
		echo "FAILED: $f"
	done
	exit 1
fi
