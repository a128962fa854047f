#!/usr/bin/env bash
# A tunnel host under hostile peers (issue 10), on loopback: the host's RSS,
# descriptor count and CPU time, and a legitimate client's 1-byte echo
# latency through the tunnel, idle and during each attack, as ratios to the
# idle figures. Run by hand, not in CI; see bench/README.md.
#
# Attacks (each runs ATTACK_S seconds, then stops; the next starts on the
# same host once the host has let go of the last one's state). Against a
# TCP host (tunnel -port N, a TCP echo service):
#   silent-tcp   RAW_CONNS raw TCP connections from 127.0.0.2 to the host's
#                libp2p port that send nothing (reopened when closed)
#   silent-str   tunnel-attack -mode silent: SILENT_STREAMS header-less
#                /mtunnel/2.0.0 streams on one connection
#   bad-secret   tunnel-attack -mode bad-secret: BAD_STREAMS streams with a
#                wrong secret, at most BAD_WINDOW awaiting an answer at once
#   ping-flood   tunnel-attack -mode ping-flood: PING_CONNS connections (a
#                fresh identity each) from 127.0.0.2, .3 and .4 in turn,
#                flooding yamux PING|SYN and never reading the answers
# Against a UDP host (tunnel -port N -network udp, a UDP echo service; the
# echo is a 1-byte datagram through a UDP tunnel client):
#   silent-str   SILENT_STREAMS header-less streams: UDP flows that never
#                send their header
#   bad-secret   BAD_STREAMS wrong-secret UDP flows, window BAD_WINDOW
#
# Environment:
#   ATTACK_S=5  RAW_CONNS=64  SILENT_STREAMS=1100  BAD_STREAMS=3000
#   BAD_WINDOW=32  PING_CONNS=24  RTT_COUNT=200  SETTLE_S=12 (pause between
#   attacks; the host's header timeout frees silent streams)
#   SKIP_BUILD=1  BENCH_BUILD_DIR=DIR (default build/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
ATTACK_S=${ATTACK_S:-5}
RAW_CONNS=${RAW_CONNS:-64}
SILENT_STREAMS=${SILENT_STREAMS:-1100}
BAD_STREAMS=${BAD_STREAMS:-3000}
BAD_WINDOW=${BAD_WINDOW:-32}
PING_CONNS=${PING_CONNS:-24}
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
CLIENT_PID=$LAST_PID
PORT=$(helper event "$TMP/client.out" LISTENING port "$START_WAIT_S") || die "the client printed no port"
helper wait-listen "$PORT" "$START_WAIT_S" || die "the client does not listen"
# One echo round through the tunnel, so that the idle figures include a
# host that has served a stream.
timeout 60 python3 "$HELPER" rtt "$ECHO_PORT" "$PORT" 20 >/dev/null 2>&1 ||
	die "the tunnel does not echo"
sleep 1

# The UDP side's helpers: an echo service and round trips of 1-byte
# datagrams, the same JSON as tunnel_helper.py rtt.
UDP_HELPER=$TMP/udp_helper.py
cat >"$UDP_HELPER" <<'PY'
import json, socket, statistics, sys, time

def echo(portfile):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)

def rtt(direct_port, tunnel_port, count):
    """Alternates round trips straight to the echo and through the tunnel;
    a datagram lost (UDP may drop) is sent again after 1 s, and the round
    counts from the first send."""
    socks = []
    for port in (direct_port, tunnel_port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", port))
        s.settimeout(1)
        socks.append(s)
    samples = ([], [])
    for i in range(100 + count):
        for k, s in enumerate(socks):
            t0 = time.perf_counter_ns()
            for attempt in range(10):
                s.send(b"x")
                try:
                    if s.recv(16) == b"x":
                        break
                except socket.timeout:
                    continue
            else:
                print("rtt: no echo after 10 tries", file=sys.stderr)
                return 1
            if i >= 100:
                samples[k].append(time.perf_counter_ns() - t0)
    out = {"count": count}
    for name, v in zip(("direct", "tunnel"), samples):
        v.sort()
        out[name] = {"median_us": round(statistics.median(v) / 1000, 1),
                     "p90_us": round(v[int(0.9 * len(v))] / 1000, 1),
                     "min_us": round(v[0] / 1000, 1)}
    print(json.dumps(out))
    return 0

if sys.argv[1] == "echo":
    sys.exit(echo(sys.argv[2]))
sys.exit(rtt(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
PY

# What measure samples and how it measures the echo: the TCP host first,
# then the UDP one (M_HOST_PID, M_RTT: the helper with its rtt command,
# M_ECHO_PORT, M_PORT).
M_HOST_PID=$HOST_PID M_RTT="$HELPER" M_ECHO_PORT=$ECHO_PORT M_PORT=$PORT

# measure NAME: ATTACK_S seconds of sampling the host every 0.2 s (the peak
# RSS and fd count), with RTT_COUNT echo round trips through the tunnel
# starting after 1 s; sets RSS (MiB), FDS, ECHO (us, median), CPU (host
# CPU seconds in the window). An attack, if any, must already be running.
measure() {
	local name=$1 c0 c1 t_end rss=0 fds=0 r f rtt_pid
	c0=$(cpu_ticks "$M_HOST_PID")
	t_end=$(($(date +%s%N) + ATTACK_S * 1000000000))
	sleep 1
	timeout 60 python3 "$M_RTT" rtt "$M_ECHO_PORT" "$M_PORT" "$RTT_COUNT" >"$TMP/rtt-$name.log" 2>&1 &
	rtt_pid=$!
	while [ "$(date +%s%N)" -lt "$t_end" ] || kill -0 "$rtt_pid" 2>/dev/null; do
		r=$(rss_kib "$M_HOST_PID") f=$(fd_count "$M_HOST_PID")
		[ "$r" -gt "$rss" ] && rss=$r
		[ "$f" -gt "$fds" ] && fds=$f
		sleep 0.2
	done
	c1=$(cpu_ticks "$M_HOST_PID")
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
	kill -0 "$M_HOST_PID" 2>/dev/null || die "the host died"
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

# attack NAME ARGS...: tunnel-attack with ARGS (against $TOKEN) during one
# measure; sets NOTE from its SETTLED event (streams) or its last FLOODING
# event (ping-flood, which prints one as it exits).
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
	[ -n "$ev" ] || ev=$(grep -h '"FLOODING"' "$TMP/$name.out" | tail -n 1 || true)
	NOTE=$(python3 -c 'import json, sys
if not sys.argv[1]: print("not settled in time"); sys.exit()
e = json.loads(sys.argv[1])
if e["action"] == "FLOODING":
    print("%s handshakes, %s closed by the host, %s of %s flooding at the end, %s failed; %.1f M pings, %d MiB sent" % (
          e["handshakes"], e["closed"], e["flooding"], e["conns"], e["failed"], e["pings"] / 1e6,
          e["bytes"] >> 20))
    sys.exit()
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
settle

# --- 4. a yamux ping flood that reads nothing --------------------------------
attack ping-flood -mode ping-flood -conns "$PING_CONNS" -from 127.0.0.2 -from 127.0.0.3 -from 127.0.0.4
row ping-flood "$PING_CONNS conns from 127.0.0.2-4: $NOTE"

kill -0 "$HOST_PID" 2>/dev/null || failed "the host died"
TCP_ROWS=("${ROWS[@]}")
ROWS=()
# The TCP side ends: only the UDP host runs (and is sampled) from here on.
stop "$CLIENT_PID"
stop "$HOST_PID"

# --- the UDP host ---------------------------------------------------------------
start uecho python3 "$UDP_HELPER" echo "$TMP/uecho.port"
wait_file "$TMP/uecho.port" || die "the UDP echo service did not start"
UECHO_PORT=$(cat "$TMP/uecho.port")
UHOST_PORT=$(helper free-port)
start uhost "$TUNNEL" -port "$UECHO_PORT" -network udp -listen "/ip4/127.0.0.1/tcp/$UHOST_PORT" \
	-key "$TMP/uhost.key"
UHOST_PID=$LAST_PID
TOKEN=$(helper event "$TMP/uhost.out" TOKEN token "$START_WAIT_S") || die "the UDP host printed no TOKEN"
start uclient "$TUNNEL" -token "$TOKEN" -port 0
UPORT=$(helper event "$TMP/uclient.out" LISTENING port "$START_WAIT_S") || die "the UDP client printed no port"
timeout 60 python3 "$UDP_HELPER" rtt "$UECHO_PORT" "$UPORT" 20 >/dev/null 2>&1 ||
	die "the UDP tunnel does not echo"
M_HOST_PID=$UHOST_PID M_RTT=$UDP_HELPER M_ECHO_PORT=$UECHO_PORT M_PORT=$UPORT
sleep 1

echo "== UDP idle" >&2
measure udp-idle
IDLE_RSS=$RSS IDLE_FDS=$FDS IDLE_ECHO=$ECHO
row idle "no attacker"

attack udp-silent -mode silent -streams "$SILENT_STREAMS"
row silent-str "$SILENT_STREAMS silent UDP flows: $NOTE"
settle

attack udp-bad -mode bad-secret -streams "$BAD_STREAMS" -window "$BAD_WINDOW"
row bad-secret "$BAD_STREAMS bad-secret UDP flows, window $BAD_WINDOW: $NOTE"
kill -0 "$UHOST_PID" 2>/dev/null || failed "the UDP host died"

# --- report -------------------------------------------------------------------
# table TITLE ROWS...
table() {
	echo
	echo "$1: peak over ${ATTACK_S}s (x = ratio to idle);"
	echo "echo = median of $RTT_COUNT 1-byte round trips through the tunnel; CPU = host s in the window"
	printf '%-11s %7s (%5s) %5s (%5s) %8s (%5s) %6s   %s\n' attack "RSS MiB" x fds x "echo us" x "CPU s" note
	shift
	local r
	for r in "$@"; do
		echo "$r"
	done
}
table "tunnel host (TCP, loopback)" "${TCP_ROWS[@]}"
table "tunnel host (UDP, loopback)" "${ROWS[@]}"

if [ ${#FAILED[@]} -gt 0 ]; then
	echo
	for f in "${FAILED[@]}"; do
		echo "FAILED: $f"
	done
	exit 1
fi
