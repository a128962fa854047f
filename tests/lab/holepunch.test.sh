#!/usr/bin/env bash
# Hole punching between two NATs (DCUtR over our relay, then a TCP
# simultaneous open), in the NAT lab:
#  1. EIM/EIM: with only the token the session starts relayed and turns
#     direct: both ends report the direct path, TUNNEL_LAB_MIB (default 64)
#     MiB each way over it arrive with matching SHA-256, and the relay's
#     circuit counters show that the bulk did not go through it.
#  2. A symmetric NAT on the host's side: the punch fails, the host says
#     so in one line, and the session stays relayed and carries the data.
#  3. A relay with go-libp2p's public limits (2 min, 128 KiB): a tunnel
#     (TCP, and a UDP flow) waits for the punch, which comes, and then
#     runs direct.
#  4. AutoNAT, with the relay as the server: the host behind NAT1 (case 1)
#     finds itself private; a host on the public segment finds itself
#     public, at its own address.
#  5. The punched connection dies (killed in the host's namespace, after
#     the relayed one was retired): the client reconnects through the
#     relay, the host punches again, and a new transfer arrives intact.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
lab_need_root
set -E
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

# shellcheck source-path=SCRIPTDIR source=tunnel_lib.sh
source "$(dirname "$0")/tunnel_lib.sh"

# relay_bytes: the bytes the relay's closed circuits carried.
relay_bytes() {
	python3 -c '
import json, sys
total = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("action") == "CIRCUIT" and ev.get("state") == "closed":
        total += int(ev.get("bytes", 0))
print(total)
' "$T/relay.out"
}

# --- 1. EIM/EIM: relayed, then direct ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay
start_services
start_host bidirhost "$SVC_PORT" "$RELAY_ADDR"
start_client bidirclient
# The session starts relayed: the relay carries a circuit to the host.
wait_event "$T/relay.out" CIRCUIT 30 >/dev/null || fail "no circuit through the relay"
transfer "$PORT"
ev=$(wait_direct "$T/bidirclient.out" client)
json_get "$ev" addr | grep -q "/ip4/$LAB_R1_WAN/tcp/" || fail "the direct path is not to NAT1's address: $ev"
ev=$(wait_direct "$T/bidirhost.out" host)
json_get "$ev" addr | grep -q "/ip4/$LAB_R2_WAN/tcp/" || fail "the host's direct path is not to NAT2's address: $ev"
grep -q "direct connection to .* through the NATs" "$T/bidirhost.err" || fail "the host did not log the punch"
# The relayed connection is retired once idle: its circuit's bytes are
# counted then, and they are the handshakes, not the bulk.
wait_event "$T/relay.out" CIRCUIT 40 2 >/dev/null || fail "the relayed circuit was not closed"
bytes=$(relay_bytes)
[ "$bytes" -lt $((SIZE / 8)) ] || fail "the relay carried $bytes bytes of a $SIZE-byte transfer"
echo "ok: eim/eim: relayed, then direct; $((SIZE >> 20)) MiB each way over the direct path ($bytes bytes through the relay)"
# AutoNAT: 15 s after start the host asks the relay, whose dial-back
# NAT1 drops (15 s more).
ev=$(wait_event "$T/bidirhost.out" REACHABILITY 60) || fail "the host printed no REACHABILITY"
[ "$(json_get "$ev" reachability)" = private ] || fail "the host behind NAT1 is not private: $ev"
echo "ok: AutoNAT: the host behind NAT1 is private"
# --- 5. the direct connection dies ---
lab_exec host ss -K dst "$LAB_R2_WAN" >/dev/null 2>&1
wait_event "$T/bidirclient.out" DISCONNECT 20 >/dev/null || fail "the client did not notice the direct connection die"
for _ in $(seq 600); do
	[ "$(grep -c "direct connection to .* through the NATs" "$T/bidirhost.err")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c "direct connection to .* through the NATs" "$T/bidirhost.err")" -ge 2 ] ||
	fail "the host did not punch again after the direct connection died"
wait_event "$T/relay.out" CIRCUIT 30 3 >/dev/null || fail "the client did not come back through the relay"
transfer "$PORT"
ev=$(wait_event "$T/bidirclient.out" CONNECTED 20 2) || fail "no CONNECTED after the reconnection"
[ "$(json_get "$ev" path)" = direct ] || fail "after the reconnection the tunnel is not direct: $ev"
echo "ok: the punched connection died: back through the relay, punched again, new transfer checked"
lab_down
T=""

# --- 2. symmetric on the host's side: stays relayed ---
lab_up symmetric eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay
start_services
start_host bidirhost "$SVC_PORT" "$RELAY_ADDR"
start_client bidirclient
transfer "$PORT"
for _ in $(seq 400); do
	grep -q "no direct path" "$T/bidirhost.err" && break
	sleep 0.1
done
grep -q "no direct path" "$T/bidirhost.err" || fail "the host did not say that no direct path was found"
[ "$(grep -c "no direct path" "$T/bidirhost.err")" = 1 ] || fail "more than one line about it"
if grep -q '"path":"direct"' "$T/bidirclient.out"; then
	fail "a direct path through a symmetric NAT"
fi
if grep -q '"action":"ERROR"' "$T/bidirclient.out" "$T/bidirhost.out"; then
	fail "an ERROR for a failed punch"
fi
transfer "$PORT"
echo "ok: symmetric/eim: no direct path, one line saying so, the tunnel stays relayed and works"
lab_down
T=""

# --- 3. a limited relay: the tunnel waits for the punch ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay -circuit-duration 120 -circuit-data 131072
start_services
start_host bidirhost "$SVC_PORT" "$RELAY_ADDR"
start_client bidirclient
transfer "$PORT"
wait_direct "$T/bidirclient.out" client >/dev/null
if grep -q '"action":"ERROR"' "$T/bidirclient.out"; then
	fail "the client gave an ERROR though the punch came"
fi
echo "ok: a limited relay: the tunnel waited for the punch and ran direct"
# A UDP flow waits too: its datagrams are dropped (and counted) until the
# direct path is up, never refused with an ERROR; then they all come back.
bg host uecho python3 "$HELPER" udp-echo "$T/uecho.port"
UECHO_PORT=$(wait_port_file "$T/uecho.port")
TUNNEL_FLAGS=(-network udp)
start_host udphost "$UECHO_PORT" "$RELAY_ADDR"
start_client udpclient
TUNNEL_FLAGS=()
lab_exec client timeout 40 python3 - "$PORT" <<'PY' || fail "no datagram came back over the limited relay's punch"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for _ in range(60):
    s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))
    try:
        if s.recv(16) == b"x":
            sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
PY
lab_exec client timeout 60 python3 "$HELPER" udp-check "$PORT" 20 2 >/dev/null ||
	fail "UDP datagrams through the punched path"
wait_direct "$T/udpclient.out" udpclient >/dev/null
if grep -q '"action":"ERROR"' "$T/udpclient.out"; then
	fail "the UDP client gave an ERROR though the punch came"
fi
echo "ok: a limited relay: UDP flows waited for the punch and ran direct"
# --- 4. a host on the public segment is public ---
bg pub2 pubhost "$TUNNEL" -port 9 -key "$T/pubhost.key" -listen /ip4/0.0.0.0/tcp/0 -relay "$RELAY_ADDR"
ev=$(wait_event "$T/pubhost.out" REACHABILITY 60) || fail "the public host printed no REACHABILITY"
[ "$(json_get "$ev" reachability)" = public ] || fail "the host on the public segment is not public: $ev"
json_get "$ev" addr | grep -q "^/ip4/$LAB_PUB2/tcp/" || fail "public, but not at its address: $ev"
echo "ok: AutoNAT: a host on the public segment is public at its own address"
lab_down
T=""
echo "PASS"
