#!/usr/bin/env bash
# Port mapping in the NAT lab: r1 runs Debian's miniupnpd (lab_upnp_router).
#  1. UPnP IGD and NAT-PMP on: the host behind r1 has its port mapped
#     (UPnP first), AutoNAT (the relay is the server) reaches it at the
#     router's public address, a new TOKEN carries that address first; the
#     relay then goes away and a client on the public segment, with only
#     the token, connects directly and carries TUNNEL_LAB_MIB (default 16)
#     MiB each way, checked by SHA-256. On SIGTERM the host removes the
#     mapping before it exits.
#  2. NAT-PMP only: the host falls back to it, and removes the mapping on
#     exit; a host with -no-portmap asks the router nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
lab_need_root
set -E
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

: "${TUNNEL_LAB_MIB:=16}"
# shellcheck source-path=SCRIPTDIR source=tunnel_lib.sh
source "$(dirname "$0")/tunnel_lib.sh"

# wait_mapped_token FILE: prints the first TOKEN event whose first address
# is the router's public one (each address change brings a new TOKEN).
wait_mapped_token() {
	local nth ev end=$((SECONDS + 60))
	for nth in $(seq 8); do
		[ "$SECONDS" -lt "$end" ] || break
		ev=$(wait_event "$1" TOKEN $((end - SECONDS)) "$nth") || break
		if json_get "$ev" addrs | grep -q "^\[\"/ip4/$LAB_R1_PUBLIC/tcp/"; then
			echo "$ev"
			return 0
		fi
	done
	fail "no TOKEN with the mapped address $LAB_R1_PUBLIC"
}

# wait_log FILE PATTERN: until grep finds PATTERN in FILE (10 s).
wait_log() {
	lab_wait_log "$1" "$2" 10 || fail "no \"$2\" in $1"
}

# stop_host PID NAME: SIGTERM, and the host must exit 0 with no port
# forward left on the router.
stop_host() {
	kill -TERM "$1"
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" = 0 ] || fail "$2 exited $rc on SIGTERM"
	[ -z "$(lab_forwards)" ] || fail "$2 exited, the router still forwards: $(lab_forwards)"
}

# --- 1. UPnP IGD: mapped, confirmed, in the token, reached directly ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
lab_upnp_router yes yes || fail "miniupnpd"
start_relay relay "$LAB_RELAY" relay
RELAY_PID=$LAST_PID
start_services
start_host pmhost "$SVC_PORT" "$RELAY_ADDR"
HOST_PID=$LAST_PID
wait_log "$T/pmhost.err" "port mapping (UPnP IGD): the router forwards $LAB_R1_PUBLIC:"
lab_forwards | grep -q "$LAB_HOST" || fail "no port forward to the host on the router: $(lab_forwards)"
ev=$(wait_mapped_token "$T/pmhost.out")
TOKEN=$(json_get "$ev" token)
grep -q "AutoNAT reached us at the mapped address" "$T/pmhost.err" ||
	fail "the mapped address is in the token without AutoNAT's word"
echo "ok: UPnP IGD: the port is mapped, AutoNAT confirmed it, the TOKEN has $LAB_R1_PUBLIC first"
# No relay from here on: only the mapped address can bring the client in.
kill "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
bg pub2 pmclient "$TUNNEL" -token "$TOKEN" -port 0
ev=$(wait_event "$T/pmclient.out" LISTENING 20) || fail "pmclient printed no LISTENING"
PORT=$(json_get "$ev" port)
transfer "$PORT" pub2
connected pmclient
[ "$(json_get "$CLIENT_EV" path)" = direct ] || fail "the client is not direct: $CLIENT_EV"
json_get "$CLIENT_EV" addr | grep -q "^/ip4/$LAB_R1_PUBLIC/tcp/" ||
	fail "the client did not come in at the mapped address: $CLIENT_EV"
echo "ok: a client on the public segment, relay gone, reached the host at the mapped address; $((SIZE >> 20)) MiB each way checked"
stop_host "$HOST_PID" pmhost
grep -q "UPnP permission rule .* accepted\|AddPortMapping" "$T/miniupnpd.log" ||
	fail "miniupnpd saw no UPnP request"
echo "ok: on SIGTERM the host removed the mapping and exited 0"
lab_down
T=""

# --- 2. NAT-PMP only; -no-portmap ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
lab_upnp_router no yes || fail "miniupnpd"
bg host quiet "$TUNNEL" -no-portmap -port 9 -key "$T/quiet.key" -listen /ip4/0.0.0.0/tcp/0
QUIET_PID=$LAST_PID
wait_event "$T/quiet.out" TOKEN 20 >/dev/null || fail "quiet printed no TOKEN"
bg host natpmp "$TUNNEL" -port 9 -key "$T/natpmp.key" -listen /ip4/0.0.0.0/tcp/0
NATPMP_PID=$LAST_PID
wait_log "$T/natpmp.err" "port mapping (NAT-PMP): the router forwards $LAB_R1_PUBLIC:"
[ "$(lab_forwards | wc -l)" = 1 ] || fail "not exactly one forward: $(lab_forwards)"
grep -q "port mapping" "$T/quiet.err" && fail "-no-portmap, and still a port mapping: $(cat "$T/quiet.err")"
grep -c "NAT-PMP port mapping request" "$T/miniupnpd.log" | grep -qx 1 ||
	fail "miniupnpd did not see exactly one mapping request (the -no-portmap host asked?)"
echo "ok: NAT-PMP: the host fell back to it and got its port mapped; -no-portmap asked nothing"
stop_host "$NATPMP_PID" natpmp
kill "$QUIET_PID"
echo "ok: NAT-PMP: the mapping went with the host"
lab_down
T=""
echo "PASS"
