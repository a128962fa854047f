#!/usr/bin/env bash
# A supervisor that stops reading the tunnel's stdout or stderr must not
# stall it (output.h). Three runs of a host whose stdout and stderr are
# pipes that a reader holds open without reading:
#   1. 10000 LIST and 10000 malformed commands while neither is read: the
#      tunnel keeps carrying data; once the readers resume every event
#      arrives (counted), and the log lines that did not fit are counted
#      in a "log lines dropped" note (lines seen + dropped = lines made);
#   2. more than TUNNEL_OUTPUT_EVENT_QUEUE_MAX (16 MiB) of events never
#      read: the host says so on stderr and exits 1;
#   3. thousands of refused tunnels (a -compat client not on -allow) while
#      stderr is not read: a legitimate client still gets through, the
#      refusals are logged a few lines a window, and the first line after
#      the window counts the rest (lines + counts = refusals).
source "$(dirname "$0")/lib.sh"

OUT_HELPER="$TMP/output_helper.py"
cat >"$OUT_HELPER" <<'PY'
import json, os, socket, sys, threading, time

def gate_reader(fifo, out, gate, until):
    """Copies fifo to out until `until` has gone by (nothing: at once),
    then reads nothing until the file `gate` exists, then copies the rest
    until EOF. The fifo stays open all along: a writer sees a full pipe,
    not a gone reader."""
    f = open(fifo, "rb", buffering=0)
    o = open(out, "ab", buffering=0)
    seen = b""
    while until:
        b = f.read(65536)
        if not b:
            return 0
        o.write(b)
        seen = (seen + b)[-4096:]
        if until.encode() in seen:
            break
    while not os.path.exists(gate):
        time.sleep(0.05)
    while True:
        b = f.read(65536)
        if not b:
            return 0
        o.write(b)

def flood(path, n_list, n_bad, detail):
    """Writes n_list LIST commands and n_bad malformed ones, interleaved."""
    lst = b'{"action":"LIST","detail":true}\n' if detail == "1" else b'{"action":"LIST"}\n'
    with open(path, "wb") as f:
        for i in range(max(n_list, n_bad)):
            if i < n_list:
                f.write(lst)
            if i < n_bad:
                f.write(b'{"action":\n')
    return 0

def count(path, action):
    """How many JSON events with this action path holds."""
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("action") == action:
                n += 1
    print(n)
    return 0

def connect_many(port, n):
    """n TCP connections (8 at a time), each until the far end closes."""
    left = [n]
    lock = threading.Lock()
    def run():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"x")
                while s.recv(4096):
                    pass
            except OSError:
                pass
            finally:
                s.close()
    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return 0

def refusals(path):
    """Lines logging a refused tunnel, and the lines they stand for (each
    one itself plus the N of its "(N more like this ...)")."""
    import re
    lines = total = 0
    with open(path, errors="replace") as f:
        for line in f:
            if "refused a tunnel from" not in line:
                continue
            lines += 1
            m = re.search(r"\((\d+) more like this in the last \d+ s\)", line)
            total += 1 + (int(m.group(1)) if m else 0)
    print(lines, total)
    return 0

def event_port(path):
    """Waits for a JSON event with a "port" and prints it."""
    while True:
        try:
            with open(path) as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and "port" in ev:
                        print(ev["port"])
                        return 0
        except FileNotFoundError:
            pass
        time.sleep(0.05)

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "gate-reader":
    sys.exit(gate_reader(a[0], a[1], a[2], a[3]))
if cmd == "flood":
    sys.exit(flood(a[0], int(a[1]), int(a[2]), a[3]))
if cmd == "count":
    sys.exit(count(a[0], a[1]))
if cmd == "connect-many":
    sys.exit(connect_many(int(a[0]), int(a[1])))
if cmd == "event-port":
    sys.exit(event_port(a[0]))
if cmd == "refusals":
    sys.exit(refusals(a[0]))
sys.exit(2)
PY

# unread_host NAME ARGS...: a tunnel host whose stdout and stderr are fifos
# held by gate readers: stdout is read up to the TOKEN, stderr not at all,
# until `resume NAME`; what they read lands in $TMP/NAME.out and .err.
# Sets HOST_PID and TOKEN.
unread_host() {
	local name=$1
	shift
	mkfifo "$TMP/$name.in" "$TMP/$name.outfifo" "$TMP/$name.errfifo"
	python3 "$OUT_HELPER" gate-reader "$TMP/$name.outfifo" "$TMP/$name.out" \
		"$TMP/$name.go" '"action":"TOKEN"' &
	PIDS+=($!)
	python3 "$OUT_HELPER" gate-reader "$TMP/$name.errfifo" "$TMP/$name.err" \
		"$TMP/$name.go" "" &
	PIDS+=($!)
	"$TUNNEL" -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/$name.key" "$@" \
		<"$TMP/$name.in" >"$TMP/$name.outfifo" 2>"$TMP/$name.errfifo" &
	HOST_PID=$!
	PIDS+=("$HOST_PID")
	exec {HOLD_FD}>"$TMP/$name.in"
	local ev
	ev=$(wait_event "$TMP/$name.out" TOKEN 30 1 "$HOST_PID") || fail "$name printed no TOKEN"
	TOKEN=$(json_get "$ev" token)
}

resume() {
	touch "$TMP/$1.go"
}

count() {
	python3 "$OUT_HELPER" count "$1" "$2"
}

# wait_count FILE ACTION N [TIMEOUT_S]: until FILE holds N ACTION events.
wait_count() {
	local i n=0
	for i in $(seq $((${4:-30} * 10))); do
		n=$(count "$1" "$2")
		[ "$n" -ge "$3" ] && break
		sleep 0.1
	done
	[ "$n" -eq "$3" ] || fail "$1: $n $2 events, expected $3"
}

SIZE=$((1024 * 1024))
mkdir "$TMP/bidir"
start_bg bidir python3 "$HELPER" serve-bidir "$TMP/bidir.port" "$SIZE" "$TMP/bidir"
SVC_PORT=$(wait_port_file "$TMP/bidir.port")

# --- 1. neither stdout nor stderr read ---
unread_host h1 -port "$SVC_PORT"
start_client c1 "$TOKEN"
timeout 30 python3 "$HELPER" client-bidir "$PORT" "$SIZE" >/dev/null || fail "first transfer"
# About 1 MiB of events and 300 KiB of log lines, far past what the pipes
# hold: a host writing them with blocking stdio would hang here (the
# flood itself would not finish: it fills stdin once the host stops).
N=10000
timeout 60 python3 "$OUT_HELPER" flood "$TMP/h1.in" $N $N 0 || fail "the host stopped reading its commands"
timeout 30 python3 "$HELPER" client-bidir "$PORT" "$SIZE" 2 >/dev/null ||
	fail "no transfer while stdout and stderr were not read"
kill -0 "$HOST_PID" 2>/dev/null || fail "the host died"
echo "ok: commands answered and data carried while stdout and stderr were not read"
resume h1
wait_count "$TMP/h1.out" LIST $N
wait_count "$TMP/h1.out" ERROR $N
wait_count "$TMP/h1.out" CONNECTED 1 5
for i in $(seq 100); do grep -q "log lines dropped" "$TMP/h1.err" && break; sleep 0.1; done
note=$(grep "log lines dropped (stderr not read)" "$TMP/h1.err") || fail "no note of the dropped log lines"
dropped=$(echo "$note" | sed -E 's/^tunnel: ([0-9]+) log lines dropped.*/\1/')
seen=$(grep -c "^tunnel: error: " "$TMP/h1.err" || true)
[ "$dropped" -gt 0 ] || fail "no log line dropped: $note"
[ $((seen + dropped)) -eq $N ] || fail "$seen error lines seen + $dropped dropped != $N"
echo "ok: all $N LIST and $N ERROR events arrived; $seen log lines + $dropped dropped (noted)"
stop_pid "$CLIENT_PID"
stop_pid "$HOST_PID"

# --- 2. events never read: exit 1, said on stderr ---
mkfifo "$TMP/h2.in" "$TMP/h2.outfifo"
python3 "$OUT_HELPER" gate-reader "$TMP/h2.outfifo" "$TMP/h2.out" "$TMP/h2.go" '"action":"TOKEN"' &
PIDS+=($!)
"$TUNNEL" -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/h2.key" -port "$SVC_PORT" \
	<"$TMP/h2.in" >"$TMP/h2.outfifo" 2>"$TMP/h2.err" &
HOST_PID=$!
PIDS+=("$HOST_PID")
exec {HOLD_FD}>"$TMP/h2.in"
ev=$(wait_event "$TMP/h2.out" TOKEN 30 1 "$HOST_PID") || fail "h2 printed no TOKEN"
start_client c2 "$(json_get "$ev" token)"
timeout 30 python3 "$HELPER" client-bidir "$PORT" "$SIZE" >/dev/null || fail "h2: transfer"
# LIST with details is about 300 bytes: 80000 of them pass 16 MiB. The
# flood may end early: the host stops reading once it stops.
timeout 120 python3 "$OUT_HELPER" flood "$TMP/h2.in" 80000 0 1 2>/dev/null || true
rc=0
for i in $(seq 300); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$HOST_PID" 2>/dev/null && fail "h2 still runs with 16 MiB of events unread"
wait "$HOST_PID" || rc=$?
[ $rc -eq 1 ] || fail "h2 exited with $rc, expected 1"
grep -q "nobody reads the events on stdout" "$TMP/h2.err" || fail "h2 did not say why it stopped"
grep -q "bytes of events were lost: nobody read stdout" "$TMP/h2.err" ||
	fail "h2 did not say that events were lost"
resume h2
echo "ok: 16 MiB of unread events: exit 1 ($(grep -o 'nobody reads.*' "$TMP/h2.err"))"
stop_pid "$CLIENT_PID"

# --- 3. refusals while stderr is not read ---
# The legitimate client's peer ID, for -allow: what a first host saw.
start_host probe -port "$SVC_PORT"
start_bg legit0 "$TUNNEL" -token "$TOKEN" -port 0 -key "$TMP/legit.key"
PORT=$(timeout 30 python3 "$OUT_HELPER" event-port "$TMP/legit0.out") || fail "legit0 has no port"
timeout 30 python3 "$HELPER" client-bidir "$PORT" "$SIZE" >/dev/null || fail "probe: transfer"
ev=$(wait_event "$TMP/probe.out" CONNECTED 30) || fail "probe: no CONNECTED"
LEGIT_ID=$(json_get "$ev" session_id)
stop_pid "$LAST_PID"
stop_pid "$HOST_PID"

unread_host h3 -port "$SVC_PORT" -compat -allow "$LEGIT_ID"
H3_PID=$HOST_PID
H3_ID=$(json_get "$(wait_event "$TMP/h3.out" TOKEN)" peer_id)
H3_PORT=$(json_get "$(wait_event "$TMP/h3.out" TOKEN)" addrs | grep -o '/tcp/[0-9]*' | head -n 1 | cut -d/ -f3)
start_client legit "$TOKEN" -key "$TMP/legit.key"
LEGIT_PID=$CLIENT_PID
LEGIT_PORT=$PORT
# An original (gob) token for h3, as in compat.test.sh: its client speaks
# /mtunnel/1.0.0, which h3 serves (-compat) to -allow'ed peers only.
GOB_TOKEN=$(python3 - "$H3_ID" <<'PY'
import base64, sys
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def b58(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(s) - len(s.lstrip("1"))) + raw
vec = base64.b64decode("K/+BAwEBCUNvbm5Ub2tlbgH/ggABAgEHTmV0d29yawEMAAECSUQB/4QAAAAO/4MGAQECSUQB/4QAAAAw/4IBA3RjcAEmACQIARIgL/o1qZ06PPuxe7fB3FVhsYqNzKTfONxhPqhZw36xM2sA")
old = b58("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
new = b58(sys.argv[1])
assert len(old) == len(new) == 38 and vec.count(old) == 1
print(base64.b64encode(vec.replace(old, new)).decode())
PY
)
# It gets no CONNECTED from a host that refuses it: its port is on the
# first event that has one.
start_bg stranger "$TUNNEL" -token "$GOB_TOKEN" -connect "/ip4/127.0.0.1/tcp/$H3_PORT" -port 0
STRANGER_PID=$LAST_PID
PORT=$(timeout 30 python3 "$OUT_HELPER" event-port "$TMP/stranger.out") || fail "the stranger's client has no port"
REFUSED=3000
timeout 120 python3 "$OUT_HELPER" connect-many "$PORT" $REFUSED || fail "the refused connections"
timeout 30 python3 "$HELPER" client-bidir "$LEGIT_PORT" "$SIZE" 2 >/dev/null ||
	fail "the allowed client got nothing through during the refusals"
kill -0 "$H3_PID" 2>/dev/null || fail "h3 died"
resume h3
sleep 1
read -r lines total <<<"$(python3 "$OUT_HELPER" refusals "$TMP/h3.err")"
[ "$lines" -gt 0 ] || fail "no refusal logged"
[ "$lines" -le 40 ] || fail "$lines refusal lines for $REFUSED refusals: not rate-limited"
# The window reopens (TUNNEL_OUTPUT_LOG_WINDOW_MS, 10 s): one more refusal
# is logged with the count of those held back.
sleep 10
timeout 30 python3 "$OUT_HELPER" connect-many "$PORT" 1
for i in $(seq 50); do
	grep -q "more like this in the last" "$TMP/h3.err" && break
	sleep 0.1
done
grep "more like this in the last" "$TMP/h3.err" | tail -n 1 | grep -q . || fail "no count of the refusals held back"
read -r lines total <<<"$(python3 "$OUT_HELPER" refusals "$TMP/h3.err")"
[ "$total" -eq $((REFUSED + 1)) ] || fail "$lines refusal lines stand for $total refusals, made $((REFUSED + 1))"
echo "ok: $((REFUSED + 1)) refusals in $lines log lines ($(grep -o '([0-9]* more like this[^)]*)' "$TMP/h3.err" | tail -n 1))"
stop_pid "$STRANGER_PID"
stop_pid "$LEGIT_PID"
stop_pid "$H3_PID"
echo PASS
