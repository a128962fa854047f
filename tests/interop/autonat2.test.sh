#!/usr/bin/env bash
# AutoNAT v2 (/libp2p/autonat/2/dial-request, /libp2p/autonat/2/dial-back)
# against js-libp2p, on loopback.
#
# 1. js-libp2p's AutoNAT v2 service (@libp2p/autonat-v2) as the server,
#    our client (p2p-autonat --v2-check) asks it. js's server never dials a
#    private or loopback IP (isPrivateIp in @libp2p/utils; no option turns
#    that off) and, unlike the spec, does not answer E_DIAL_REFUSED for
#    one: it logs "Requested address had private IP", sends nothing for
#    that address and, the list done, closes the stream. It answers
#    E_DIAL_REFUSED only for an address none of its transports can dial.
#    So:
#    a. asked about our own 127.0.0.1 TCP address, js reads our request
#       (its hooked log names us and the address), answers nothing and
#       closes: we report no verdict (status -1, "failed");
#    b. asked about a QUIC address (js has TCP only) and then that TCP
#       address, js answers E_DIAL_REFUSED for the first (and still
#       nothing for the second): we parse that, and a refusal is no
#       verdict (reach "unknown").
#    An OK from js cannot be had on loopback.
# 2. Our server (p2p-autonat --allow-private), asked by a js-libp2p node
#    speaking @libp2p/autonat-v2's own codec (autonat2.mjs --ask, listening
#    on 127.0.0.1 and 127.0.0.2): its 127.0.0.1 address gets OK/OK with our
#    dial-back carrying its nonce and no dial data asked; its 127.0.0.2
#    address (another IP than the one we see it at) first costs 30000 to
#    99999 bytes of dial data, then OK/OK with the dial-back on its
#    127.0.0.2 listener; refusing to pay gets no dial-back; a closed port
#    OK/E_DIAL_ERROR; a QUIC address E_DIAL_REFUSED. Our counters must
#    agree.
source "$(dirname "$0")/lib.sh"

need_js
AUTONAT2_JS=$INTEROP_DIR/autonat2.mjs
DIAL_TIMEOUT_MS=1000
EVENT_WAIT_SEC=20

P2P_AUTONAT=$(find_p2p_autonat) || exit 1

# A free loopback TCP port, for a listen address we must know beforehand
# (the address our client asks about is its own).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# check_stats FILE PYTHON-EXPR...: the last stats line of FILE, as `s`,
# must satisfy each expression.
check_stats() {
	local file=$1
	shift
	python3 - "$file" "$@" <<'EOF'
import json, sys
stats = [json.loads(l) for l in open(sys.argv[1]) if '"event":"stats"' in l]
assert stats, "no stats line"
s = stats[-1]
for expr in sys.argv[2:]:
    assert eval(expr), f"{expr}: {s}"
EOF
}

# --- 1: js serves, we ask ---
start_peer jsserver "$NODE" "$AUTONAT2_JS" --serve --listen /ip4/127.0.0.1/tcp/0
JS_ID=$PEER_ID
JS_ADDR=$PEER_ADDR

# 1a: our own loopback TCP address: js answers nothing.
PORT=$(free_port)
OWN=/ip4/127.0.0.1/tcp/$PORT
start_peer cclient "$P2P_AUTONAT" --listen "$OWN" --no-server --connect "$JS_ADDR" --v2-check "$OWN"
C_ID=$PEER_ID
res=$(wait_line "$WORK/cclient.out" '"event":"v2_result"') || fail "our client reported no v2 result"
python3 - "$res" "$JS_ID" <<'EOF' || fail "unexpected v2 result from js: $res"
import json, sys
r = json.loads(sys.argv[1])
assert r["server"] == sys.argv[2], "asked someone else"
# js closed the stream without a DialResponse: no answer, no verdict.
assert r["status"] == -1 and r["reach"] == "failed" and r.get("error"), r
assert r["data_paid"] == 0, r
EOF
handled=$(wait_line "$WORK/jsserver.out" "\"event\":\"handled\",\"peer\":\"$C_ID\"") ||
	fail "js's AutoNAT v2 server logged no request from us"
python3 - "$handled" "$OWN" <<'EOF' || fail "js's server saw something else: $handled"
import json, sys
h = json.loads(sys.argv[1])
assert h["addrs"] == [sys.argv[2]], h
assert h["responses"] == [] and h["data_requested"] is None and h["dial_backs"] == 0, h
assert any("private IP" in e for e in h["errors"]), h
EOF
echo "ok: js-libp2p's AutoNAT v2 server read our DialRequest and, the address being loopback, answered nothing"
stop_peer cclient
check_stats "$WORK/cclient.out" 's.get("v2_served", 0) == 0' 's.get("v2_probes_sent", 1) == 1' \
	's.get("v2_probes_answered", 0) == 0' || fail "our client's counters are off"

# 1b: an address js cannot dial first: E_DIAL_REFUSED.
PORT=$(free_port)
OWN=/ip4/127.0.0.1/tcp/$PORT
QUIC=/ip4/127.0.0.1/udp/1/quic-v1
start_peer cclient2 "$P2P_AUTONAT" --listen "$OWN" --no-server --connect "$JS_ADDR" \
	--v2-check "$QUIC" --v2-check "$OWN"
C_ID=$PEER_ID
res=$(wait_line "$WORK/cclient2.out" '"event":"v2_result"') || fail "our client reported no v2 result"
python3 - "$res" "$JS_ID" <<'EOF' || fail "unexpected v2 result from js: $res"
import json, sys
r = json.loads(sys.argv[1])
assert r["server"] == sys.argv[2], "asked someone else"
assert r["status"] == 101, "not E_DIAL_REFUSED"
assert r["reach"] == "unknown" and "error" not in r, "a refusal is no verdict"
assert r["data_paid"] == 0, r
EOF
handled=$(wait_line "$WORK/jsserver.out" "\"event\":\"handled\",\"peer\":\"$C_ID\"") ||
	fail "js's AutoNAT v2 server logged no request from our second client"
python3 - "$handled" "$QUIC" "$OWN" <<'EOF' || fail "js's server saw something else: $handled"
import json, sys
h = json.loads(sys.argv[1])
assert h["addrs"] == sys.argv[2:], h
assert h["responses"][:1] == [{"status": "E_DIAL_REFUSED", "addr_idx": 0, "dial_status": "UNUSED"}], h
assert h["dial_backs"] == 0, h
EOF
echo "ok: js-libp2p's AutoNAT v2 server refused a QUIC address (E_DIAL_REFUSED); we stay unknown"
stop_peer cclient2
check_stats "$WORK/cclient2.out" 's.get("v2_probes_sent", 1) == 1' 's.get("v2_probes_answered", 1) == 1' ||
	fail "our second client's counters are off"
stop_peer jsserver

# --- 2: we serve, js asks ---
start_peer cserver "$P2P_AUTONAT" --listen /ip4/127.0.0.1/tcp/0 --allow-private --no-client \
	--dial-timeout "$DIAL_TIMEOUT_MS"
run_dialer "$NODE" "$AUTONAT2_JS" --ask "$PEER_ADDR"
python3 - "$WORK/dialer.out" <<'EOF' || fail "js's requests got the wrong answers"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = {l["case"]: l for l in lines}
assert sorted(got) == ["closed-port", "no-pay", "other-ip", "refused", "self"], got
for case in ("self", "other-ip", "closed-port", "refused"):
    assert got[case]["error"] is None, got[case]
s = got["self"]
assert s["status"] == "OK" and s["dial_status"] == "OK" and s["addr_idx"] == 0, s
assert s["data_requested"] is None and s["nonce_ok"] and s["dial_backs"] == 1, s
assert s["dial_back_local"] == s["asked"][0], s
o = got["other-ip"]
assert o["asked"][0].startswith("/ip4/127.0.0.2/tcp/"), o
assert o["data_requested"] is not None and 30000 <= o["data_requested"] < 100000, o
assert o["data_idx"] == 0 and o["data_paid"] >= o["data_requested"], o
assert o["status"] == "OK" and o["dial_status"] == "OK" and o["addr_idx"] == 0, o
assert o["nonce_ok"] and o["dial_backs"] == 1 and o["dial_back_local"] == o["asked"][0], o
n = got["no-pay"]
assert n["data_requested"] is not None and 30000 <= n["data_requested"] < 100000, n
assert n["status"] is None and not n["dialed_back"], n
c = got["closed-port"]
assert c["status"] == "OK" and c["dial_status"] == "E_DIAL_ERROR" and c["addr_idx"] == 0, c
assert c["data_requested"] is None and not c["dialed_back"], c
r = got["refused"]
assert r["status"] == "E_DIAL_REFUSED" and r["data_requested"] is None and not r["dialed_back"], r
EOF
echo "ok: our AutoNAT v2 server answered js-libp2p: dial-backs with the nonce, dial data for the other IP, and each refusal"
stop_peer cserver
# served: OK answers (self, other-ip, closed-port); refused: the QUIC
# address and the unpaid request.
check_stats "$WORK/cserver.out" 's["v2_served"] == 3' 's["v2_refused"] == 2' 's["v2_dialbacks_ok"] == 2' \
	's["v2_dialbacks_failed"] == 1' 's["v2_data_requests"] == 2' || fail "our server's counters are off"
echo "PASS"
