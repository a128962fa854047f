#!/usr/bin/env bash
# A tunnel between two NATs, through our relay: the host behind NAT1 and the
# client behind NAT2 cannot reach each other directly (each router drops
# what it did not ask for), so with only the token the client goes through
# `tunnel -relay-service` on the public segment. For EIM/EIM,
# symmetric/symmetric and EIM/symmetric: a web page and TUNNEL_LAB_MIB
# (default 64) MiB each way arrive with matching SHA-256, and the client
# reports path "relayed". Then: the relay in use dies while a second relay
# is up, the host announces a new TOKEN without it, the client reconnects
# through the other one and a new transfer succeeds. Last, a relay that
# limits its circuits (go-libp2p's public defaults) gives a clear ERROR on
# both ends and no data, rather than a tunnel cut off mid-transfer.
# Hole punching is off here (-no-holepunch): this is the relay's test;
# tests/lab/holepunch.test.sh is the direct path's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
lab_need_root
# Say where errexit struck, in functions too: a silent exit is no help.
set -E
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

TUNNEL_FLAGS=(-no-holepunch)
# shellcheck source-path=SCRIPTDIR source=tunnel_lib.sh
source "$(dirname "$0")/tunnel_lib.sh"

# --- a relayed tunnel for each pair of NAT types ---
relayed_case() {
	lab_up "$1" "$2" || fail "lab_up $1 $2"
	T=$LAB_TMP
	# The NATs really are in the way: the client cannot reach the host.
	lab_echo_server host tcp 7000
	if lab_probe client tcp-connect "$LAB_HOST" 7000 1 >/dev/null 2>&1; then
		fail "$1/$2: the client reached the host directly"
	fi
	start_relay relay "$LAB_RELAY" relay
	start_services
	start_host webhost "$WEB_PORT" "$RELAY_ADDR"
	start_client webclient
	web_page "$PORT"
	connected webclient
	[ "$(json_get "$CLIENT_EV" path)" = relayed ] || fail "$1/$2: CONNECTED is not relayed: $CLIENT_EV"
	json_get "$CLIENT_EV" addr | grep -q "/p2p/$RELAY_ID/p2p-circuit" ||
		fail "$1/$2: CONNECTED addr is not the relay's: $CLIENT_EV"
	start_host bidirhost "$SVC_PORT" "$RELAY_ADDR"
	start_client bidirclient
	transfer "$PORT"
	echo "ok: $1/$2: web page and $((SIZE >> 20)) MiB each way through the relay"
	lab_down
	T=""
}

relayed_case eim eim
relayed_case symmetric symmetric
relayed_case eim symmetric

# --- the relay dies while a second one is up ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay1
R1_ADDR=$RELAY_ADDR R1_ID=$RELAY_ID R1_PID=$LAST_PID
start_relay pub2 "$LAB_PUB2" relay2
R2_ADDR=$RELAY_ADDR R2_ID=$RELAY_ID R2_PID=$LAST_PID
start_services
start_host bidirhost "$SVC_PORT" "$R1_ADDR" "$R2_ADDR"
ev=$(wait_event "$T/bidirhost.out" TOKEN 1) || fail "no TOKEN"
for id in "$R1_ID" "$R2_ID"; do
	json_get "$ev" addrs | grep -q "/p2p/$id/p2p-circuit" || fail "TOKEN lacks relay $id: $ev"
done
start_client bidirclient
transfer "$PORT"
connected bidirclient
# Kill the relay the client goes through; the other one stays up.
if json_get "$CLIENT_EV" addr | grep -q "/p2p/$R1_ID/p2p-circuit"; then
	DEAD_ID=$R1_ID DEAD_PID=$R1_PID LIVE_ID=$R2_ID
elif json_get "$CLIENT_EV" addr | grep -q "/p2p/$R2_ID/p2p-circuit"; then
	DEAD_ID=$R2_ID DEAD_PID=$R2_PID LIVE_ID=$R1_ID
else
	fail "the client did not go through a relay: $CLIENT_EV"
fi
kill -9 "$DEAD_PID"
# The host re-announces without the dead relay...
ev=$(wait_event "$T/bidirhost.out" TOKEN 30 2) || fail "no new TOKEN after the relay died"
json_get "$ev" addrs | grep -q "/p2p/$DEAD_ID/" && fail "the new TOKEN still has the dead relay: $ev"
json_get "$ev" addrs | grep -q "/p2p/$LIVE_ID/p2p-circuit" || fail "the new TOKEN lacks the live relay: $ev"
# ...and the client, with the old token, comes back through the other one.
wait_event "$T/bidirclient.out" DISCONNECT 20 >/dev/null || fail "the client did not notice the dead relay"
# It reconnects by itself (with backoff), then the first tunnel over the
# new connection says CONNECTED again, with its way.
for i in $(seq 600); do grep -q "reconnected to host" "$T/bidirclient.err" && break; sleep 0.1; done
grep -q "reconnected to host" "$T/bidirclient.err" || fail "the client did not reconnect"
transfer "$PORT"
connected bidirclient 2
json_get "$CLIENT_EV" addr | grep -q "/p2p/$LIVE_ID/p2p-circuit" || fail "reconnected, but not through the live relay: $CLIENT_EV"
echo "ok: relay failover: new TOKEN, the client reconnected through the other relay, new transfer checked"
lab_down
T=""

# --- a relay with go-libp2p's public limits cannot carry a tunnel ---
lab_up eim eim || fail "lab_up"
T=$LAB_TMP
start_relay relay "$LAB_RELAY" relay -circuit-duration 120 -circuit-data 131072
start_services
start_host webhost "$WEB_PORT" "$RELAY_ADDR"
grep -q '"action":"ERROR".*limits each circuit' "$T/webhost.out" ||
	fail "the host did not say that the relay limits its circuits"
start_client webclient
if page=$(lab_exec client curl -sS -m 10 "http://127.0.0.1:$PORT/index.html" 2>/dev/null); then
	fail "a page came through a limited relay: $page"
fi
[ -z "${page:-}" ] || fail "partial data through a limited relay: $page"
wait_event "$T/webclient.out" ERROR 10 >/dev/null || fail "the client printed no ERROR"
grep -q '"action":"ERROR".*unlimited relay' "$T/webclient.out" ||
	fail "the client's ERROR does not say an unlimited relay is needed"
grep -q '"action":"CONNECTED"' "$T/webclient.out" && fail "CONNECTED over a limited relay"
echo "ok: a limited relay gives a clear ERROR and no data"
lab_down
T=""
