#!/usr/bin/env bash
# The `tunnel` program against ssh -L and socat on 127.0.0.1: throughput of
# one TCP connection, host memory with many idle tunneled connections, and
# the latency a tunnel adds to a 1-byte echo. Run by hand, as root (for the
# sshd), not in CI; see bench/README.md. Traffic stays on 127.0.0.1.
#
# Environment:
#   BYTES=1073741824     bytes per throughput run (default 1 GiB)
#   ROUNDS=3             throughput rounds (each relay once per round, in
#                        turn); the best of each relay is reported
#   IDLE_CONNS=1000      concurrent idle tunneled connections for the RSS row
#   RTT_COUNT=2000       1-byte round trips for the latency rows
#   SKIP_BUILD=1         use the existing tunnel in the build directory
#   BENCH_BUILD_DIR=DIR  build/use tunnel in DIR instead of build/release
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build/release}
BYTES=${BYTES:-1073741824}
IDLE_CONNS=${IDLE_CONNS:-1000}
RTT_COUNT=${RTT_COUNT:-2000}
ROUNDS=${ROUNDS:-3}
HELPER=$ROOT/bench/tunnel_helper.py
# The issue's goals (issue 4): ratios in percent, memory in MiB, latency in us.
GOAL_VS_SSH_PCT=130
GOAL_VS_SOCAT_PCT=65
GOAL_RSS_MIB=64
GOAL_ADDED_US=100
START_WAIT_S=30

SSHD_PID=""
BENCH_NAME=tunnel-bench
# The sshd forks a process per session: end those (its children) first.
bench_before_cleanup() {
	if [ -n "$SSHD_PID" ]; then
		pkill -TERM -P "$SSHD_PID" 2>/dev/null || true
	fi
}
# shellcheck source=lib.sh
source "$ROOT/bench/lib.sh"

# --- dependencies and build ---------------------------------------------
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v socat >/dev/null || missing+=(socat)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
if [ -z "${SKIP_BUILD:-}" ]; then
	echo "== building Release tunnel in $BUILD_DIR" >&2
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DP2P_SANITIZE=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target tunnel >/dev/null
fi
TUNNEL=$BUILD_DIR/tunnel
[ -x "$TUNNEL" ] || die "no tunnel binary at $TUNNEL"
# 1000 connections cost ~2 descriptors each in every process on the path.
ulimit -n 4096 || die "cannot raise the descriptor limit to 4096"

# --- services -------------------------------------------------------------
start sink python3 "$HELPER" sink "$TMP/sink.port"
wait_file "$TMP/sink.port" || die "the sink did not start"
SINK_PORT=$(cat "$TMP/sink.port")
start echo python3 "$HELPER" echo "$TMP/echo.port"
wait_file "$TMP/echo.port" || die "the echo service did not start"
ECHO_PORT=$(cat "$TMP/echo.port")

# start_tunnel NAME SERVICE_PORT: a host for SERVICE_PORT and a client from
# its token; sets HOST_PID, CLIENT_PID, PORT (the client's local port).
start_tunnel() {
	local name=$1 svc=$2 token
	start "$name-host" "$TUNNEL" -port "$svc" -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/$name.key"
	HOST_PID=$LAST_PID
	token=$(helper event "$TMP/$name-host.out" TOKEN token "$START_WAIT_S") ||
		die "the $name host printed no TOKEN"
	start "$name-client" "$TUNNEL" -token "$token" -port 0
	CLIENT_PID=$LAST_PID
	PORT=$(helper event "$TMP/$name-client.out" LISTENING port "$START_WAIT_S") ||
		die "the $name client printed no port"
	helper wait-listen "$PORT" "$START_WAIT_S" || die "the $name client does not listen"
}

# transfer NAME PORT: BYTES through PORT to the sink; sets MBS ("-" on failure).
transfer() {
	local name=$1 port=$2 log="$TMP/send-${1// /_}.log"
	echo "== $name: $((BYTES >> 20)) MiB" >&2
	MBS="-"
	if timeout 300 python3 "$HELPER" send "$port" "$BYTES" >>"$log" 2>&1; then
		MBS=$(tail -n 1 "$log" | python3 -c 'import json, sys; print(json.load(sys.stdin)["mb_per_s"])')
	else
		failed "$name: the transfer did not complete ($(tail -n 1 "$log"))"
	fi
}
# best A B: the larger of two MB/s figures ("-" counts as nothing).
best() {
	python3 -c 'import sys
v = [float(x) for x in sys.argv[1:] if x != "-"]
print(max(v) if v else "-")' "$1" "$2"
}

# --- 1. throughput: every relay up, then ROUNDS rounds of one transfer each --
start_tunnel bulk "$SINK_PORT"
BULK_HOST_PID=$HOST_PID BULK_CLIENT_PID=$CLIENT_PID TUNNEL_PORT=$PORT

SSH_PORT=""
if [ "$(id -u)" -ne 0 ]; then
	failed "ssh -L: not measured (the sshd needs root)"
else
	mkdir -p /run/sshd
	mkdir "$TMP/ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$TMP/ssh/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$TMP/ssh/client_key"
	cp "$TMP/ssh/client_key.pub" "$TMP/ssh/authorized_keys"
	SSHD_PORT=$(helper free-port)
	cat >"$TMP/ssh/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $SSHD_PORT
		HostKey $TMP/ssh/host_key
		PidFile $TMP/ssh/sshd.pid
		AuthorizedKeysFile $TMP/ssh/authorized_keys
		UsePAM no
		PermitRootLogin yes
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		StrictModes no
		AllowTcpForwarding yes
		Ciphers chacha20-poly1305@openssh.com
	EOF
	start sshd /usr/sbin/sshd -D -f "$TMP/ssh/sshd_config" -e
	SSHD_PID=$LAST_PID
	helper wait-listen "$SSHD_PORT" "$START_WAIT_S" || die "the sshd did not start"
	SSH_PORT=$(helper free-port)
	start ssh ssh -N -p "$SSHD_PORT" -i "$TMP/ssh/client_key" \
		-c chacha20-poly1305@openssh.com \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes -o ExitOnForwardFailure=yes -o Compression=no \
		-L "127.0.0.1:$SSH_PORT:127.0.0.1:$SINK_PORT" root@127.0.0.1
	SSH_PID=$LAST_PID
	helper wait-listen "$SSH_PORT" "$START_WAIT_S" || die "ssh -L did not start"
fi

SOCAT_PORT=$(helper free-port)
start socat socat "TCP-LISTEN:$SOCAT_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$SINK_PORT"
SOCAT_PID=$LAST_PID
helper wait-listen "$SOCAT_PORT" "$START_WAIT_S" || die "socat did not start"

DIRECT_MBS="-" TUNNEL_MBS="-" SSH_MBS="-" SOCAT_MBS="-"
HOST_CPU0=$(cpu_ticks "$BULK_HOST_PID") CLIENT_CPU0=$(cpu_ticks "$BULK_CLIENT_PID")
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS" >&2
	transfer direct "$SINK_PORT"
	DIRECT_MBS=$(best "$DIRECT_MBS" "$MBS")
	transfer tunnel "$TUNNEL_PORT"
	TUNNEL_MBS=$(best "$TUNNEL_MBS" "$MBS")
	if [ -n "$SSH_PORT" ]; then
		transfer "ssh -L" "$SSH_PORT"
		SSH_MBS=$(best "$SSH_MBS" "$MBS")
	fi
	transfer socat "$SOCAT_PORT"
	SOCAT_MBS=$(best "$SOCAT_MBS" "$MBS")
done
# CPU seconds per GiB: steadier than MB/s when the machine is shared.
per_gib() {
	python3 -c "print(f'{($1) / $(getconf CLK_TCK) / ($ROUNDS * $BYTES / 2**30):.2f}')"
}
HOST_CPU=$(per_gib "$(cpu_ticks "$BULK_HOST_PID") - $HOST_CPU0")
CLIENT_CPU=$(per_gib "$(cpu_ticks "$BULK_CLIENT_PID") - $CLIENT_CPU0")

stop "$SOCAT_PID"
if [ -n "$SSH_PORT" ]; then
	stop "$SSH_PID"
	pkill -TERM -P "$SSHD_PID" 2>/dev/null || true
	stop "$SSHD_PID"
	SSHD_PID=""
fi
stop "$BULK_CLIENT_PID"
stop "$BULK_HOST_PID"

# --- 3. latency (first, on a fresh tunnel) ----------------------------------
start_tunnel echo "$ECHO_PORT"
echo "== 1-byte echo, $RTT_COUNT round trips each, direct and through the tunnel" >&2
DIRECT_MED="-" DIRECT_P90="-" TUNNEL_MED="-" TUNNEL_P90="-"
if timeout 120 python3 "$HELPER" rtt "$ECHO_PORT" "$PORT" "$RTT_COUNT" >"$TMP/rtt.log" 2>&1; then
	read -r DIRECT_MED DIRECT_P90 TUNNEL_MED TUNNEL_P90 < <(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["direct"]["median_us"], r["direct"]["p90_us"], r["tunnel"]["median_us"], r["tunnel"]["p90_us"])' \
		"$TMP/rtt.log")
else
	failed "1-byte echo: $(tail -n 1 "$TMP/rtt.log")"
fi
ADDED_US=$(python3 -c 'import sys
try: print(f"{float(sys.argv[1]) - float(sys.argv[2]):.1f}")
except ValueError: print("-")' "$TUNNEL_MED" "$DIRECT_MED")

# --- 2. memory with many idle tunneled connections ------------------------
HOST_RSS_BEFORE=$(rss_mib "$HOST_PID")
CLIENT_RSS_BEFORE=$(rss_mib "$CLIENT_PID")
echo "== $IDLE_CONNS idle connections through the tunnel" >&2
start hold python3 "$HELPER" hold "$PORT" "$IDLE_CONNS" "$TMP/hold.ready" "$TMP/hold.release"
HOLD_PID=$LAST_PID
HELD=0
if wait_file "$TMP/hold.ready"; then
	HELD=$(cat "$TMP/hold.ready")
	sleep 0.5 # let both ends settle (buffers freed after the echo)
fi
HOST_RSS=$(rss_mib "$HOST_PID")
CLIENT_RSS=$(rss_mib "$CLIENT_PID")
touch "$TMP/hold.release"
wait "$HOLD_PID" 2>/dev/null || true
[ "$HELD" = "$IDLE_CONNS" ] ||
	failed "idle connections: only $HELD of $IDLE_CONNS echoed their byte ($(tail -n 1 "$TMP/hold.err"))"
stop "$CLIENT_PID"
stop "$HOST_PID"

# --- report -----------------------------------------------------------------
echo
printf '%-52s %10s\n' "one TCP connection, $((BYTES >> 20)) MiB, best of $ROUNDS" "MB/s"
printf '%-52s %10s\n' "direct, no relay (what the sender/sink can do)" "$DIRECT_MBS"
printf '%-52s %10s\n' "tunnel (client -> Noise+Yamux -> host)" "$TUNNEL_MBS"
printf '%-52s %10s\n' "ssh -L (chacha20-poly1305@openssh.com)" "$SSH_MBS"
printf '%-52s %10s\n' "socat relay (no crypto)" "$SOCAT_MBS"
echo "tunnel CPU time per GiB: host ${HOST_CPU} s, client ${CLIENT_CPU} s"
echo
r_ssh=$(ratio "$TUNNEL_MBS" "$SSH_MBS")
r_socat=$(ratio "$TUNNEL_MBS" "$SOCAT_MBS")
printf '%-30s %6s   goal >= %s   %s\n' "tunnel / ssh -L" "$r_ssh" \
	"$(python3 -c "print($GOAL_VS_SSH_PCT / 100)")" \
	"$(verdict "100 * $r_ssh >= $GOAL_VS_SSH_PCT")"
printf '%-30s %6s   goal >= %s   %s\n' "tunnel / socat" "$r_socat" \
	"$(python3 -c "print($GOAL_VS_SOCAT_PCT / 100)")" \
	"$(verdict "100 * $r_socat >= $GOAL_VS_SOCAT_PCT")"
echo
echo "$HELD of $IDLE_CONNS idle connections tunneled (1 byte echoed on each)"
if [ "$HELD" = "$IDLE_CONNS" ]; then
	rss_verdict=$(verdict "$HOST_RSS < $GOAL_RSS_MIB")
else
	rss_verdict="not measured (only $HELD connections)"
fi
printf '%-30s %6s MiB (%s MiB before)   goal < %s MiB   %s\n' "host RSS" "$HOST_RSS" \
	"$HOST_RSS_BEFORE" "$GOAL_RSS_MIB" "$rss_verdict"
printf '%-30s %6s MiB (%s MiB before)\n' "client RSS" "$CLIENT_RSS" "$CLIENT_RSS_BEFORE"
echo
echo "1-byte echo, $RTT_COUNT round trips each, alternating (us)    median     p90"
printf '%-52s %7s %7s\n' "direct to the echo service" "$DIRECT_MED" "$DIRECT_P90"
printf '%-52s %7s %7s\n' "through the tunnel" "$TUNNEL_MED" "$TUNNEL_P90"
printf '%-52s %7s   goal < %s us   %s\n' "added by the tunnel" "$ADDED_US" "$GOAL_ADDED_US" \
	"$(verdict "$ADDED_US < $GOAL_ADDED_US")"

if [ ${#FAILED[@]} -gt 0 ]; then
	echo
	for f in "${FAILED[@]}"; do
		echo "FAILED: $f"
	done
	exit 1
fi
