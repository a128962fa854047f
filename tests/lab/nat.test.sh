#!/usr/bin/env bash
# Proves the NAT lab behaves like the NATs it stands for: LAN hosts reach
# public hosts over TCP and UDP behind the router's WAN address; unsolicited
# packets are dropped (time out, not refused); eim keeps one external port
# for all destinations, symmetric (--random-fully) does not; LAN1 cannot
# reach LAN2; and nothing of the lab remains afterwards.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
lab_need_root

PORT=7000      # echo servers on every public and LAN host
PORT2=7001     # a second UDP port on the public hosts (more destinations)
NOMAP=999      # below 1024: MASQUERADE never maps a high source port here
T=1            # seconds a probe waits before calling it dropped

fail() {
	echo "FAIL: $*" >&2
	lab_dump >&2 || true
	exit 1
}

# expect RC DESC cmd...: the command exits with RC; its output is kept in OUT.
OUT=""
expect() {
	local want=$1 desc=$2 rc=0
	shift 2
	OUT=$("$@") || rc=$?
	[ "$rc" -eq "$want" ] || fail "$desc: exit $rc, want $want; output: $OUT"
	echo "ok: $desc"
}

start_servers() {
	local n
	for n in relay pub2; do
		lab_echo_server "$n" tcp "$PORT"
		lab_echo_server "$n" udp "$PORT"
		lab_echo_server "$n" udp "$PORT2"
	done
	# Listeners behind the NATs, so "dropped" is not just "nobody there".
	for n in host client; do
		lab_echo_server "$n" tcp "$PORT"
		lab_echo_server "$n" udp "$PORT"
	done
}

# check_outbound LANNODE WAN: echo over TCP and UDP to both public hosts,
# which see the router's WAN address, not the 10.x one.
check_outbound() {
	local lan=$1 wan=$2 dst
	for dst in "$LAB_RELAY" "$LAB_PUB2"; do
		expect 0 "$lan -> $dst tcp echo" lab_probe "$lan" tcp-connect "$dst" "$PORT" 3
		[[ $OUT == "SEEN $wan:"* ]] || fail "$lan -> $dst tcp: server saw '$OUT', want $wan"
		expect 0 "$lan -> $dst udp echo" lab_probe "$lan" udp-probe "$dst" "$PORT"
		[[ $(sed -n 2p <<<"$OUT") == *" $wan:"* ]] || fail "$lan -> $dst udp: server saw '$OUT', want $wan"
	done
}

# check_unsolicited LANADDR WAN: from pub2, which routes the LAN prefix via
# the router as an attacker on the segment could, nothing gets in.
check_unsolicited() {
	local addr=$1 wan=$2
	expect 2 "unsolicited tcp to $addr dropped" lab_probe pub2 tcp-connect "$addr" "$PORT" "$T"
	expect 2 "unsolicited udp to $addr dropped" lab_probe pub2 udp-probe --timeout "$T" "$addr" "$PORT"
	expect 2 "unsolicited tcp to $wan:$NOMAP dropped" lab_probe pub2 tcp-connect "$wan" "$NOMAP" "$T"
	expect 2 "unsolicited udp to $wan:$NOMAP dropped" lab_probe pub2 udp-probe --timeout "$T" "$wan" "$NOMAP"
}

# external_ports LANNODE: from one socket to four destinations (two hosts,
# two ports each); prints the external port each one saw.
external_ports() {
	lab_probe "$1" udp-probe "$LAB_RELAY" "$PORT" "$LAB_RELAY" "$PORT2" \
		"$LAB_PUB2" "$PORT" "$LAB_PUB2" "$PORT2" | awk 'NR > 1 { sub(/.*:/, "", $2); print $2 }'
}

# check_mapping LANNODE eim|symmetric: eim gives one port everywhere;
# --random-fully draws a port per destination, so four equal draws
# (chance about 2^-48) would mean it is not in force.
check_mapping() {
	local lan=$1 nat=$2 ports distinct
	ports=$(external_ports "$lan") || fail "$lan: mapping probe failed: $ports"
	[ "$(wc -l <<<"$ports")" -eq 4 ] || fail "$lan: want 4 external ports, got: $ports"
	distinct=$(sort -u <<<"$ports" | wc -l)
	ports=${ports//$'\n'/ }
	if [ "$nat" = eim ]; then
		[ "$distinct" -eq 1 ] || fail "$lan behind eim: external ports differ: $ports"
	else
		[ "$distinct" -gt 1 ] || fail "$lan behind symmetric: same external port everywhere: $ports"
	fi
	echo "ok: $lan behind $nat: external ports $ports"
}

# check_isolated: no path between the LANs (the routers have no routes to
# each other's LAN), in either direction, over either protocol.
check_isolated() {
	local rc=0
	lab_probe host tcp-connect "$LAB_CLIENT" "$PORT" "$T" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "host reached client over TCP"
	rc=0
	lab_probe client udp-probe --timeout "$T" "$LAB_HOST" "$PORT" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "client reached host over UDP"
	echo "ok: LAN1 and LAN2 cannot reach each other"
}

# check_gone: no namespace of this run, and no lab link, address or route in
# the root namespace.
check_gone() {
	if ip netns list | grep -q "^$LAB_PREFIX"; then
		fail "namespaces left: $(ip netns list | grep "^$LAB_PREFIX")"
	fi
	if ip -o link | grep -Eq ': (p-relay|p-pub2|p-r1|p-r2|wan|lan|br0)[@:]'; then
		fail "lab link in the root namespace: $(ip -o link)"
	fi
	if ip -o addr | grep -Eq ' (198\.18\.0|10\.1\.0|10\.2\.0)\.'; then
		fail "lab address in the root namespace"
	fi
	if ip route | grep -Eq '^(198\.18\.0|10\.1\.0|10\.2\.0)\.0/24'; then
		fail "lab route in the root namespace"
	fi
	echo "ok: lab removed"
}

lab_up eim symmetric
start_servers
check_outbound host "$LAB_R1_WAN"
check_outbound client "$LAB_R2_WAN"
lab_exec pub2 ip route add "$LAB_LAN1_NET" via "$LAB_R1_WAN"
lab_exec pub2 ip route add "$LAB_LAN2_NET" via "$LAB_R2_WAN"
check_unsolicited "$LAB_HOST" "$LAB_R1_WAN"
check_unsolicited "$LAB_CLIENT" "$LAB_R2_WAN"
check_mapping host eim
check_mapping client symmetric
check_isolated
lab_down
check_gone

# The NAT type follows the argument, not the router.
lab_up symmetric eim
start_servers
check_mapping host symmetric
check_mapping client eim
lab_down
check_gone

echo PASS
