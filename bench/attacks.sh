#!/usr/bin/env bash
# A tunnel host under hostile peers (issue 10), on loopback: the host's RSS,
# descriptor count and CPU time, and a legitimate client's 1-byte echo
# latency through the tunnel, idle and during each attack, as ratios to the
# idle figures. Run by hand, not in CI; see bench/README.md.
#
# Attacks (each runs ATTACK_S seconds, then stops; the next starts on the
# same host once the host has let go of the last one's state):
#   silent-tcp   RAW_CONNS raw TCP connections from 127.0.0.2 to the host's
#                libp2p port that send nothing (reopened when closed)
#   silent-str   tunnel-attack -mode silent: SILENT_STREAMS header-less
#                /mtunnel/2.0.0 streams on one connection
#   bad-secret   tunnel-attack -mode bad-secret: BAD_STREAMS streams with a
#                wrong secret, at most BAD_WINDOW awaiting an answer at once
# (A yamux ping flood is not measured: tunnel-attack cannot send one.)
#
# Environment:
#   ATTACK_S=5  RAW_CONNS=64  SILENT_STREAMS=1100  BAD_STREAMS=3000
#   BAD_WINDOW=32  RTT_COUNT=200  SETTLE_S=12 (pause between attacks; the
#   host's header timeout frees silent streams)
#   SKIP_BUILD=1  BENCH_BUILD_DIR=DIR (default build/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
ATTACK_S=${ATTACK_S:-5}
RAW_CONNS=${RAW_CONNS:-64}
SILENT_STREAMS=${SILENT_STREAMS:-1100}
BAD_STREAMS=${BAD_STREAMS:-3000}
BAD_WINDOW=${BAD_WINDOW:-32}
RTT_COUNT=${RTT_COUNT:-200}
SETTLE_S=${SETTLE_S:-12}
HELPER=$ROOT/bench/tunnel_helper.py
START_WAIT_S=30

BENCH_NAME=tunnel-attacks
# shellcheck source=lib.sh
source "$ROOT/bench/lib.sh"

# --- build -------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed"
if [ -z "${SKIP_BUILD:-}" ]; then
	echo "== building Release tunnel and tunnel-attack in $BUILD_DIR" >&2
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DP2P_SANITIZE=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target tunnel tunnel-attack >/dev/null
fi
TUNNEL=$BUILD_DIR/tunnel
ATTACK=$BUILD_DIR/tunnel-attack
[ -x "$TUNNEL" ] || die "no tunnel binary at $TUNNEL"
[ -x "$ATTACK" ] || die "no tunnel-attack binary at $ATTACK"
ulimit -n 8192 2>/dev/null || ulimit -n 4096 || die "cannot raise the descriptor limit"

# --- the echo service, the host and a legitimate client ----------------------
start echo python3 "$HELPER" echo "$TMP/echo.port"
wait_file "$TMP/echo.port" || die "the echo service did not start"
ECHO_PORT=$(cat "$TMP/echo.port")
HOST_PORT=$(helper free-port)
start host "$TUNNEL" -port "$ECHO_PORT" -listen "/ip4/127.0.0.1/tcp/$HOST_PORT" -key "$TMP/host.key"
HOST_PID=$LAST_PID
TOKEN=$(helper event "$TMP/host.out" TOKEN token "$START_WAIT_S") || die "the host printed no TOKEN"
start client "$TUNNEL" -token "$TOKEN" -port 0
PORT=$(helper event "$TMP/client.out" CONNECTED port "$START_WAIT_S") || die "the client printed no port"
helper wait-listen "$PORT" "$START_WAIT_S" || die "the client does not listen"
# One echo round through the tunnel, so that the idle figures include a
# host that has served a stream.
timeout 60 python3 "$HELPER" rtt "$ECHO_PORT" "$PORT" 20 >/dev/null 2>&1 ||
	die "the tunnel does not echo"
sleep 1

# measure NAME: ATTACK_S seconds of sampling the host every 0.2 s (the peak
# RSS and fd count), with RTT_COUNT echo round trips through the tunnel
# starting after 1 s; sets RSS (MiB), FDS, ECHO (us, median), CPU (host
# CPU seconds in the window). An attack, if any, must already be running.
measure() {
	local name=$1 c0 c1 t_end rss=0 fds=0 r f rtt_pid
	c0=$(cpu_ticks "$HOST_PID")
	t_end=$(($(date +%s%N) + ATTACK_S * 1000000000))
	sleep 1
	timeout 60 python3 "$HELPER" rtt "$ECHO_PORT" "$PORT" "$RTT_COUNT" >"$TMP/rtt-$name.log" 2>&1 &
	rtt_pid=$!
	while [ "$(date +%s%N)" -lt "$t_end" ] || kill -0 "$rtt_pid" 2>/dev/null; do
		r=$(rss_kib "$HOST_PID") f=$(fd_count "$HOST_PID")
		[ "$r" -gt "$rss" ] && rss=$r
		[ "$f" -gt "$fds" ] && fds=$f
		sleep 0.2
	done
	c1=$(cpu_ticks "$HOST_PID")
	RSS=$(python3 -c "print(f'{$rss / 1024:.1f}')")
	FDS=$fds
	CPU=$(python3 -c "print(f'{($c1 - $c0) / $(getconf CLK_TCK):.2f}')")
	ECHO="-"
	if wait "$rtt_pid"; then
		ECHO=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tunnel"]["median_us"])' \
			"$TMP/rtt-$name.log")
	else
		failed "$name: the legitimate echo failed ($(tail -n 1 "$TMP/rtt-$name.log"))"
	fi
}

ROWS=()
# row NAME NOTE: one line of the table from the last measure.
row() {
	ROWS+=("$(printf '%-11s %7s (%5s) %5s (%5s) %8s (%5s) %6s   %s' "$1" \
		"$RSS" "$(ratio "$RSS" "$IDLE_RSS")" "$FDS" "$(ratio "$FDS" "$IDLE_FDS")" \
		"$ECHO" "$(ratio "$ECHO" "$IDLE_ECHO")" "$CPU" "$2")")
}
settle() {
	echo "== waiting ${SETTLE_S}s for the host to let go" >&2
	sleep "$SETTLE_S"
	kill -0 "$HOST_PID" 2>/dev/null || die "the host died"
}

# --- idle --------------------------------------------------------------------
echo "== idle" >&2
measure idle
IDLE_RSS=$RSS IDLE_FDS=$FDS IDLE_ECHO=$ECHO
row idle "no attacker"

# --- 1. silent raw TCP connections from 127.0.0.2 ----------------------------
echo "== silent-tcp: $RAW_CONNS raw TCP connections from 127.0.0.2" >&2
start silent python3 "$HELPER" silent 127.0.0.2 "$HOST_PORT" "$RAW_CONNS" \
	"$TMP/silent.ready" "$TMP/silent.release"
SILENT_PID=$LAST_PID
wait_file "$TMP/silent.ready" || die "the raw connections did not open"
measure silent-tcp
touch "$TMP/silent.release"
wait "$SILENT_PID" 2>/dev/null || failed "silent-tcp: only $(cat "$TMP/silent.ready") of $RAW_CONNS connected"
forget "$SILENT_PID"
note=$(python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("%s opened, %s reopened after the host closed them" % (r["opened"], r["reopened"]))' \
	"$TMP/silent.out" 2>/dev/null || echo "?")
row silent-tcp "$RAW_CONNS raw TCP from 127.0.0.2: $note"
settle

# attack NAME ARGS...: tunnel-attack with ARGS during one measure; sets NOTE
# from its SETTLED event.
attack() {
	local name=$1 ev apid
	shift
	echo "== $name: tunnel-attack $*" >&2
	start "$name" "$ATTACK" -token "$TOKEN" "$@"
	apid=$LAST_PID
	helper event "$TMP/$name.out" CONNECTED peer_id "$START_WAIT_S" >/dev/null ||
		die "$name: tunnel-attack did not connect"
	measure "$name"
	kill -0 "$apid" 2>/dev/null || failed "$name: tunnel-attack exited early"
	ev=$(grep -h '"SETTLED"' "$TMP/$name.out" | tail -n 1 || true)
	stop "$apid"
	NOTE=$(python3 -c 'import json, sys
if not sys.argv[1]: print("not settled in time"); sys.exit()
e = json.loads(sys.argv[1])
print("opened %s, answered %s (status %s%s), reset %s, live %s" % (e["opened"],
      e["answered"], e["status"], " " + e["reason"] if e["reason"] else "",
      e["reset_unanswered"], e["live"]))' "$ev" 2>/dev/null || echo "?")
}

# --- 2. header-less streams ---------------------------------------------------
attack silent-str -mode silent -streams "$SILENT_STREAMS"
row silent-str "$SILENT_STREAMS silent streams: $NOTE"
settle

# --- 3. wrong secrets ---------------------------------------------------------
attack bad-secret -mode bad-secret -streams "$BAD_STREAMS" -window "$BAD_WINDOW"
row bad-secret "$BAD_STREAMS bad-secret streams, window $BAD_WINDOW: $NOTE"

kill -0 "$HOST_PID" 2>/dev/null || failed "the host died"

# --- report -------------------------------------------------------------------
echo
echo "tunnel host (TCP, loopback): peak over ${ATTACK_S}s (x = ratio to idle);"
echo "echo = median of $RTT_COUNT 1-byte round trips through the tunnel; CPU = host s in the window"
printf '%-11s %7s (%5s) %5s (%5s) %8s (%5s) %6s   %s\n' attack "RSS MiB" x fds x "echo us" x "CPU s" note
for r in "${ROWS[@]}"; do
	echo "$r"
done

if [ ${#FAILED[@]} -gt 0 ]; then
	echo
	for f in "${FAILED[@]}"; do
		echo "FAILED: $f"
	done
	exit 1
fi
