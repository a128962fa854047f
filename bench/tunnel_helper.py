#!/usr/bin/env python3
"""Traffic generators for bench/tunnel.sh. Loopback (127.0.0.1) only.

  sink PORTFILE          serve: per connection read an 8-byte size N, then N
                         bytes; reply with the count and the clock (ns) when
                         the last byte arrived
  send PORT N            connect, send N bytes from a 1 MiB buffer, wait for
                         the sink's reply; print {"bytes","seconds","mb_per_s"}
  echo PORTFILE          serve: echo every byte back (one thread, epoll)
  rtt DIRECT_PORT TUNNEL_PORT COUNT
                         COUNT 1-byte round trips on each of two connections,
                         alternating; print {"count","direct":{"median_us",
                         "p90_us","min_us"},"tunnel":{...}}
  hold PORT N READYFILE RELEASEFILE
                         open N connections, push 1 byte through each and
                         read it back, write the number that worked to
                         READYFILE, keep them open until RELEASEFILE exists
  silent SRC PORT N READYFILE RELEASEFILE
                         (bench/attacks.sh) hold N raw TCP connections from
                         source address SRC to 127.0.0.1:PORT that send
                         nothing, reopening each one the peer closes; write
                         N to READYFILE once all are connected, stop when
                         RELEASEFILE exists; print {"opened","reopened",
                         "failed"}
  free-port              print a free TCP port on 127.0.0.1
  wait-listen PORT SECS  wait until something listens on 127.0.0.1:PORT
                         (read from /proc/net/tcp: no probe connection)
  event FILE ACTION KEY SECS
                         wait for a JSON line with that "action" in FILE;
                         print its KEY (a list: one element a line)
                         (bench/relay.sh: forces the client through the relay)
  http PORTFILE          serve: read a request up to its blank line, answer a
                         tiny HTTP/1.0 200 and close (one connection at a time)
  ttfb PORT OUTFILE ERRFILE CMD...
                         start CMD (a tunnel client listening on 127.0.0.1:PORT,
                         stdout to OUTFILE, stderr to ERRFILE), connect to PORT
                         every 5 ms until it accepts, send a GET, time the first
                         byte of the answer from the start of CMD; stop CMD;
                         print {"ms","connect_ms","attempts","path"}

Times come from CLOCK_MONOTONIC, shared by all processes on the machine, so
the sender's start and the sink's end can be subtracted.
"""
import json
import os
import selectors
import socket
import statistics
import struct
import sys
import time

CHUNK = 1 << 20  # 1 MiB: few syscalls per byte, so python is not the bottleneck
HOLD_BATCH = 100  # connections opened before their bytes are read back
IO_TIMEOUT_S = 60


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def listen(portfile):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    return srv


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
        buf += b
    return bytes(buf)


def sink(portfile):
    """One connection at a time (the benchmark runs transfers in turn)."""
    srv = listen(portfile)
    buf = memoryview(bytearray(CHUNK))
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                (want,) = struct.unpack(">Q", recv_exact(conn, 8))
                got = 0
                while got < want:
                    n = conn.recv_into(buf, min(CHUNK, want - got))
                    if n == 0:
                        break
                    got += n
                t_end = now_ns()
                conn.sendall(struct.pack(">QQ", got, t_end))
                print(f"sink: {got} of {want} bytes", file=sys.stderr, flush=True)
            except OSError as e:
                print(f"sink: {e}", file=sys.stderr, flush=True)


def send(port, total):
    data = memoryview(os.urandom(CHUNK))
    t0 = now_ns()
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    s.sendall(struct.pack(">Q", total))
    left = total
    while left > 0:
        n = min(CHUNK, left)
        s.sendall(data[:n])
        left -= n
    try:
        got, t_end = struct.unpack(">QQ", recv_exact(s, 16))
    except (OSError, ConnectionError) as e:
        print(f"send: no reply from the sink: {e}", file=sys.stderr)
        return 1
    s.close()
    secs = (t_end - t0) / 1e9
    print(json.dumps({"bytes": got, "seconds": round(secs, 4),
                      "mb_per_s": round(got / secs / 1e6, 1)}))
    if got != total:
        print(f"send: the sink got {got} bytes, {total} were sent", file=sys.stderr)
        return 1
    return 0


def echo(portfile):
    srv = listen(portfile)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "c")
                continue
            conn = key.fileobj
            try:
                b = conn.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if not b:
                sel.unregister(conn)
                conn.close()
                continue
            # Tiny echoes only in this benchmark: a blocking send is fine.
            conn.setblocking(True)
            conn.sendall(b)
            conn.setblocking(False)


def rtt(direct_port, tunnel_port, count):
    """Alternates round trips on the two connections so that both see the
    same load on a shared machine."""
    socks = []
    for port in (direct_port, tunnel_port):
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    samples = ([], [])
    for i in range(100 + count):  # 100 warm-up rounds: stream open, caches
        for k, s in enumerate(socks):
            t0 = time.perf_counter_ns()
            s.sendall(b"x")
            if s.recv(1) != b"x":
                print("rtt: wrong echo or EOF", file=sys.stderr)
                return 1
            if i >= 100:
                samples[k].append(time.perf_counter_ns() - t0)
    out = {"count": count}
    for name, v in zip(("direct", "tunnel"), samples):
        v.sort()
        out[name] = {"median_us": round(statistics.median(v) / 1000, 1),
                     "p90_us": round(v[int(0.9 * len(v))] / 1000, 1),
                     "min_us": round(v[0] / 1000, 1)}
    for s in socks:
        s.close()
    print(json.dumps(out))
    return 0


def hold(port, total, readyfile, releasefile):
    socks = []
    ok = 0
    errors = []
    for start in range(0, total, HOLD_BATCH):
        batch = []
        for i in range(start, min(total, start + HOLD_BATCH)):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(bytes([i & 0xFF]))
                batch.append((i, s))
            except OSError as e:
                errors.append(f"connection {i}: {e}")
        for i, s in batch:
            try:
                if s.recv(1) == bytes([i & 0xFF]):
                    ok += 1
                else:
                    errors.append(f"connection {i}: no echo (closed)")
            except OSError as e:
                errors.append(f"connection {i}: {e}")
            socks.append(s)
    for e in errors[:5]:
        print(f"hold: {e}", file=sys.stderr)
    if len(errors) > 5:
        print(f"hold: ... {len(errors)} failed connections in all", file=sys.stderr)
    with open(readyfile + ".tmp", "w") as f:
        f.write(str(ok))
    os.rename(readyfile + ".tmp", readyfile)
    deadline = time.time() + 120
    while not os.path.exists(releasefile) and time.time() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()
    return 0 if ok == total else 1


def silent(src, port, total, readyfile, releasefile):
    def connect():
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        return s
    sel = selectors.DefaultSelector()
    opened = reopened = failed = 0
    for _ in range(total):
        try:
            sel.register(connect(), selectors.EVENT_READ)
            opened += 1
        except OSError as e:
            failed += 1
            print(f"silent: {e}", file=sys.stderr)
    with open(readyfile + ".tmp", "w") as f:
        f.write(str(opened))
    os.rename(readyfile + ".tmp", readyfile)
    deadline = time.time() + 120
    while not os.path.exists(releasefile) and time.time() < deadline:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                continue  # the host spoke first (it should not): ignore
            sel.unregister(s)
            s.close()
            try:
                sel.register(connect(), selectors.EVENT_READ)
                reopened += 1
            except OSError:
                failed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(json.dumps({"opened": opened, "reopened": reopened, "failed": failed}))
    return 0 if opened == total else 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":  # 0A: TCP_LISTEN
                return True
    return False


def wait_listen(port, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        if listening(port):
            return 0
        time.sleep(0.05)
    print(f"nothing listens on 127.0.0.1:{port} after {secs}s", file=sys.stderr)
    return 1


def event(path, action, key, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and ev.get("action") == action and key in ev:
                        v = ev[key]
                        print("\n".join(map(str, v)) if isinstance(v, list) else v)
                        return 0
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    print(f"no {action} event with {key} in {path} after {secs}s", file=sys.stderr)
    return 1


# --- time to first byte -------------------------------------------------------

HTTP_ANSWER = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


def http(portfile):
    srv = listen(portfile)
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.settimeout(IO_TIMEOUT_S)
                req = b""
                while b"\r\n\r\n" not in req:
                    b = conn.recv(4096)
                    if not b:
                        break
                    req += b
                if b"\r\n\r\n" in req:
                    conn.sendall(HTTP_ANSWER)
            except OSError as e:
                print(f"http: {e}", file=sys.stderr, flush=True)


def ttfb(port, outfile, errfile, cmd, secs=30):
    import subprocess
    attempts = 0
    with open(outfile, "w") as out, open(errfile, "w") as err:
        t0 = now_ns()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            deadline = t0 + int(secs * 1e9)
            while True:
                if now_ns() > deadline:
                    print(f"ttfb: no answer on port {port} after {secs}s", file=sys.stderr)
                    return 1
                if proc.poll() is not None:
                    print(f"ttfb: the client exited ({proc.returncode})", file=sys.stderr)
                    return 1
                attempts += 1
                s = socket.socket()
                try:
                    s.connect(("127.0.0.1", port))
                except OSError:
                    s.close()
                    time.sleep(0.005)
                    continue
                t_conn = now_ns()
                try:
                    s.settimeout(max(0.1, (deadline - now_ns()) / 1e9))
                    s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    first = s.recv(1)
                except OSError as e:
                    print(f"ttfb: {e}", file=sys.stderr)
                    first = b""
                t1 = now_ns()
                s.close()
                if first:
                    break
                time.sleep(0.005)  # closed without an answer: try again
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    path = None
    try:
        with open(outfile) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("action") in ("CONNECTED", "PATH") \
                        and ev.get("path"):
                    path = ev["path"]
    except OSError:
        pass
    print(json.dumps({"ms": round((t1 - t0) / 1e6, 2),
                      "connect_ms": round((t_conn - t0) / 1e6, 2),
                      "attempts": attempts, "path": path}))
    return 0


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "sink":
        return sink(args[0])
    if cmd == "send":
        return send(int(args[0]), int(args[1]))
    if cmd == "echo":
        return echo(args[0])
    if cmd == "rtt":
        return rtt(int(args[0]), int(args[1]), int(args[2]))
    if cmd == "hold":
        return hold(int(args[0]), int(args[1]), args[2], args[3])
    if cmd == "silent":
        return silent(args[0], int(args[1]), int(args[2]), args[3], args[4])
    if cmd == "free-port":
        return free_port()
    if cmd == "wait-listen":
        return wait_listen(int(args[0]), float(args[1]))
    if cmd == "event":
        return event(args[0], args[1], args[2], float(args[3]))
    if cmd == "http":
        return http(args[0])
    if cmd == "ttfb":
        return ttfb(int(args[0]), args[1], args[2], args[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
