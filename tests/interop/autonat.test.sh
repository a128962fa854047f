#!/usr/bin/env bash
# AutoNAT v1 (/libp2p/autonat/1.0.0) against js-libp2p, on loopback.
#
# 1. js-libp2p's AutoNAT service (@libp2p/autonat) as the server, our
#    client (p2p-autonat) asks it. js's server never dials a private or
#    loopback address (isPrivate in @libp2p/utils; no option turns that
#    off), so on loopback it can only refuse: the test checks that js
#    read our DIAL (its log names our peer), answered E_DIAL_REFUSED "no
#    dialable addresses", that we parsed that answer, and that a refusal
#    is no verdict (we stay unknown). An OK from js cannot be had here.
# 2. Our server (p2p-autonat --allow-private), asked by a js-libp2p node
#    speaking js's own AutoNAT codec (autonat.mjs --ask; js's AutoNAT
#    client itself never asks about a loopback address): its own address
#    gets OK, that address, and a real dial-back (a new inbound connection
#    from us on js's listener); another peer's ID gets E_BAD_REQUEST,
#    another IP E_DIAL_REFUSED, a closed port E_DIAL_ERROR no sooner than
#    the dial timeout.
source "$(dirname "$0")/lib.sh"

need_js
AUTONAT_JS=$INTEROP_DIR/autonat.mjs
DIAL_TIMEOUT_MS=1000
EVENT_WAIT_SEC=20

P2P_AUTONAT=$(find_p2p_autonat) || exit 1

# --- 1: js serves, we ask ---
start_peer jsserver "$NODE" "$AUTONAT_JS" --serve --listen /ip4/127.0.0.1/tcp/0
JS_ID=$PEER_ID
start_peer cclient "$P2P_AUTONAT" --listen /ip4/127.0.0.1/tcp/0 --allow-private --no-server \
	--boot-delay 300 --retry 200 --connect "$PEER_ADDR"
C_ID=$PEER_ID
probe=$(wait_line "$WORK/cclient.out" '"event":"probe"') || fail "our client sent no probe to js"
python3 - "$probe" "$JS_ID" <<'EOF' || fail "unexpected probe result: $probe"
import json, sys
p = json.loads(sys.argv[1])
assert p["server"] == sys.argv[2], "asked someone else"
assert p["status"] == 101, "not E_DIAL_REFUSED"
assert p["text"] == "no dialable addresses", "not js's refusal text"
EOF
wait_line "$WORK/jsserver.out" "\"event\":\"request\",\"peer\":\"$C_ID\"" >/dev/null ||
	fail "js's AutoNAT server logged no request from us"
wait_line "$WORK/jsserver.out" "\"event\":\"refused\",\"peer\":\"$C_ID\"" >/dev/null ||
	fail "js's AutoNAT server did not log its refusal"
sleep 1
if grep -q '"event":"reachability"' "$WORK/cclient.out"; then
	fail "a refusal changed our reachability"
fi
echo "ok: js-libp2p's AutoNAT server read our DIAL and refused it (loopback); we stay unknown"
stop_peer cclient
grep -q '"event":"stats".*"probes_sent":1,"probes_answered":1,"probes_failed":0' "$WORK/cclient.out" ||
	fail "our client's counters are off"
stop_peer jsserver

# --- 2: we serve, js asks ---
start_peer cserver "$P2P_AUTONAT" --listen /ip4/127.0.0.1/tcp/0 --allow-private --no-client \
	--dial-timeout "$DIAL_TIMEOUT_MS"
run_dialer "$NODE" "$AUTONAT_JS" --ask "$PEER_ADDR"
python3 - "$WORK/dialer.out" "$DIAL_TIMEOUT_MS" <<'EOF' || fail "js's requests got the wrong answers"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = {l["case"]: l for l in lines}
assert sorted(got) == ["closed-port", "other-ip", "other-peer", "self"], got
s = got["self"]
assert s["status"] == "OK" and s["addr"] == s["asked"] and s["dialed_back"], s
for case, status in (("other-peer", "E_BAD_REQUEST"), ("other-ip", "E_DIAL_REFUSED"),
                     ("closed-port", "E_DIAL_ERROR")):
    assert got[case]["status"] == status and not got[case]["dialed_back"], got[case]
# The answer waits out the dial timeout (a timer's few ms of slack).
assert got["closed-port"]["elapsed_ms"] >= int(sys.argv[2]) - 20, got["closed-port"]
EOF
echo "ok: our AutoNAT server answered js-libp2p: OK with a real dial-back, and each refusal"
stop_peer cserver
grep -q '"event":"stats","served":4,"refused":2,"dialbacks_ok":1,"dialbacks_failed":1' "$WORK/cserver.out" ||
	fail "our server's counters are off"
echo "PASS"
