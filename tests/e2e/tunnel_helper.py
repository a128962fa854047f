#!/usr/bin/env python3
"""Helpers for the tunnel's end-to-end tests: waiting for JSON events, and
TCP test servers and clients with checked data. Loopback only."""
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time


def stream_bytes(seed, n):
    """n reproducible pseudo-random bytes for a seed (made in pieces:
    randbytes takes at most 2**28 bytes at once)."""
    rng = random.Random(seed)
    piece = 16 << 20
    return b"".join(rng.randbytes(min(piece, n - i)) for i in range(0, n, piece))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def wait_event(path, action, timeout, nth, pid=None):
    """Prints the nth event `action` of the JSON lines in path. With a pid,
    gives up (status 3) as soon as that process has exited and the event
    is not there (read once more after the exit: it may have printed the
    event and then died)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        gone = pid is not None and not alive(pid)
        seen = 0
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and ev.get("action") == action:
                        seen += 1
                        if seen == nth:
                            print(json.dumps(ev))
                            return 0
        except FileNotFoundError:
            pass
        if gone:
            print(f"no {action} event #{nth} in {path}: process {pid} exited", file=sys.stderr)
            return 3
        time.sleep(0.05)
    print(f"no {action} event #{nth} in {path} after {timeout}s", file=sys.stderr)
    return 1


def json_get(text, key):
    v = json.loads(text)[key]
    print(v if isinstance(v, str) else json.dumps(v))
    return 0


def write_port(portfile, port):
    """Writes the port to portfile at once (rename), for the test to read."""
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(portfile + ".tmp", portfile)


def serve_http(portfile, directory):
    """Serves directory over HTTP on a port of its choice (in portfile)."""
    import functools
    import http.server
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    write_port(portfile, srv.server_address[1])
    srv.serve_forever()


def hold_port(portfile):
    """A port where nothing listens, and nothing can while this runs: a TCP
    socket bound to it, never listening (connections to it are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    write_port(portfile, s.getsockname()[1])
    while True:
        time.sleep(3600)


def recv_all(sock):
    h = hashlib.sha256()
    n = 0
    while True:
        b = sock.recv(1 << 16)
        if not b:
            return h.hexdigest(), n
        h.update(b)
        n += len(b)


def send_all_then_shut(sock, data):
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def serve_bidir(portfile, size, outdir):
    """Per connection: sends `size` bytes of stream 'down', reads until EOF
    and writes the sha256 and length of what came to outdir/recv.N."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    write_port(portfile, srv.getsockname()[1])
    down = stream_bytes("down", size)
    count = 0

    def handle(conn, i):
        t = threading.Thread(target=send_all_then_shut, args=(conn, down))
        t.start()
        digest, n = recv_all(conn)
        t.join()
        conn.close()
        with open(os.path.join(outdir, f"recv.{i}.tmp"), "w") as f:
            f.write(f"{digest} {n}\n")
        os.rename(os.path.join(outdir, f"recv.{i}.tmp"), os.path.join(outdir, f"recv.{i}"))

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, count), daemon=True).start()
        count += 1


def client_bidir(port, size, conns):
    """Opens `conns` connections at once; on each sends `size` bytes of
    stream 'up' (then EOF) while reading; checks what came back is stream
    'down'. Prints the sha256 and length sent on each connection."""
    up = stream_bytes("up", size)
    want = hashlib.sha256(stream_bytes("down", size)).hexdigest()
    errors = []

    def one(k):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            t = threading.Thread(target=send_all_then_shut, args=(s, up))
            t.start()
            digest, n = recv_all(s)
            t.join()
            s.close()
            if digest != want or n != size:
                errors.append(f"connection {k}: got {n} bytes, sha256 {digest}, want {size} bytes {want}")
        except OSError as e:
            errors.append(f"connection {k}: {e}")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors[:10]:
        print(e, file=sys.stderr)
    print(f"{hashlib.sha256(up).hexdigest()} {size}")
    return 1 if errors else 0


def expect_closed(port, timeout):
    """Connects, sends a line, and expects the connection to be closed (EOF
    or reset) within timeout without any byte coming back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        b = s.recv(1024)
    except (ConnectionResetError, BrokenPipeError):
        return 0
    except socket.timeout:
        print("the connection stayed open", file=sys.stderr)
        return 1
    if b:
        print(f"got bytes through a refused tunnel: {b[:40]!r}", file=sys.stderr)
        return 1
    return 0


def count_accepts(portfile, countfile):
    """Accepts TCP connections and closes them, writing how many came so
    far to countfile (0 at start): a service that tells whether anything
    reached it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    n = 0
    write_port(countfile, n)
    write_port(portfile, srv.getsockname()[1])
    while True:
        conn, _ = srv.accept()
        conn.close()
        n += 1
        write_port(countfile, n)


def udp_echo(portfile):
    """Echoes every datagram back to its sender."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    write_port(portfile, s.getsockname()[1])
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)


def udp_check(port, count, nsocks):
    """Sends `count` datagrams of sizes 1..65507 (both ends included) from
    `nsocks` sockets in turn, one at a time, and expects each back whole,
    unchanged, on the socket that sent it (and nothing on the others)."""
    rng = random.Random(7)
    socks = []
    for _ in range(nsocks):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        socks.append(s)
    sizes = [1, 65507, 2, 65506, 1400, 1500, 9000]
    while len(sizes) < count:
        sizes.append(rng.randint(1, 1500) if rng.random() < 0.7 else rng.randint(1, 65507))
    sizes = sizes[:count]
    total = 0
    for i, size in enumerate(sizes):
        k = i % nsocks
        tag = f"{k}:{i}:".encode()
        payload = (tag + rng.randbytes(size))[:size] if size > len(tag) else rng.randbytes(size)
        socks[k].sendto(payload, ("127.0.0.1", port))
        try:
            got, _ = socks[k].recvfrom(65535)
        except socket.timeout:
            print(f"datagram {i} ({size} bytes, socket {k}): no reply", file=sys.stderr)
            return 1
        if got != payload:
            print(f"datagram {i}: sent {size} bytes, got {len(got)} different bytes", file=sys.stderr)
            return 1
        total += size
    for k, s in enumerate(socks):
        s.setblocking(False)
        try:
            d = s.recv(65535)
            print(f"socket {k} got a stray datagram of {len(d)} bytes", file=sys.stderr)
            return 1
        except BlockingIOError:
            pass
    print(f"{count} datagrams, {total} bytes each way, checked")
    return 0


def slow_sink(portfile, hold_s, outfile):
    """Accepts one connection, reads nothing for hold_s seconds, then reads
    it all and writes its sha256 and length to outfile."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    write_port(portfile, srv.getsockname()[1])
    conn, _ = srv.accept()
    time.sleep(hold_s)
    digest, n = recv_all(conn)
    with open(outfile + ".tmp", "w") as f:
        f.write(f"{digest} {n}\n")
    os.rename(outfile + ".tmp", outfile)
    return 0


def push(port, total, report_after_s):
    """Sends `total` bytes of stream 'up' (1 MiB at a time), prints how many
    had been accepted after report_after_s seconds, then finishes and prints
    the sha256 and length of all."""
    data = stream_bytes("up", total)
    s = socket.create_connection(("127.0.0.1", port))
    sent = [0]

    def run():
        view = memoryview(data)
        while sent[0] < total:
            k = s.send(view[sent[0]:sent[0] + (1 << 20)])
            sent[0] += k
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(report_after_s)
    print(sent[0], flush=True)
    t.join()
    recv_all(s)
    print(f"{hashlib.sha256(data).hexdigest()} {total}", flush=True)
    return 0


# --- tunnel tokens (proto/tunnel.proto: base64 of 0x02 + a Token message) ---

TOKEN_VERSION = 2
TOKEN_ADDRS_FIELD = 3
TOKEN_SECRET_FIELD = 4
MA_P2P_CIRCUIT = 0x0122  # multiaddr code of /p2p-circuit (varint a2 02)
# Multiaddr value sizes in bytes (multiformats/multiaddr protocols.csv);
# -1: a varint length then the value. Codes not listed have no value.
MA_SIZES = {4: 4, 6: 2, 33: 2, 41: 16, 42: -1, 43: 1, 53: -1, 54: -1, 55: -1,
            56: -1, 132: 2, 273: 2, 400: -1, 421: -1, 449: -1, 466: -1,
            481: -1, 777: 8}
MA_NO_VALUE = {275, 276, 280, 281, 290, 301, 302, 443, 448, 454, 460, 461,
               465, 477, 478, 480}


def read_varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def write_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def pb_fields(msg):
    """The fields of a protobuf message as (number, wire type, raw bytes of the
    whole field, value), in order; value is an int or the payload bytes."""
    i = 0
    while i < len(msg):
        start = i
        key, i = read_varint(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = read_varint(msg, i)
        elif wt == 2:
            n, i = read_varint(msg, i)
            if i + n > len(msg):
                raise ValueError("truncated field")
            val, i = msg[i:i + n], i + n
        elif wt == 1:
            val, i = msg[i:i + 8], i + 8
        elif wt == 5:
            val, i = msg[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, msg[start:i], val


def ma_codes(addr):
    """The protocol codes of a binary multiaddr."""
    i, codes = 0, []
    while i < len(addr):
        code, i = read_varint(addr, i)
        codes.append(code)
        size = MA_SIZES.get(code)
        if size is None:
            if code not in MA_NO_VALUE:
                raise ValueError(f"unknown multiaddr code {code}")
            size = 0
        elif size < 0:
            size, i = read_varint(addr, i)
        i += size
    return codes


def is_circuit(addr):
    try:
        return MA_P2P_CIRCUIT in ma_codes(addr)
    except ValueError:  # a code we do not know: look for the bytes a2 02
        return write_varint(MA_P2P_CIRCUIT) in addr


def relayed_token(token):
    import base64
    urlsafe = "-" in token or "_" in token
    padded = token + "=" * (-len(token) % 4)
    raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(padded)
    if not raw or raw[0] != TOKEN_VERSION:
        print("relayed-token: not a version 2 token", file=sys.stderr)
        return 1
    out, kept = bytearray([TOKEN_VERSION]), 0
    for num, wt, field, val in pb_fields(raw[1:]):
        if num == TOKEN_ADDRS_FIELD and wt == 2:
            if not is_circuit(val):
                continue
            kept += 1
        out += field  # every other field exactly as it was
    if kept == 0:
        print("relayed-token: the token has no /p2p-circuit address", file=sys.stderr)
        return 1
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(bytes(out)).decode()
    if not token.endswith("="):
        enc = enc.rstrip("=")
    print(enc)
    return 0


def wrong_secret_token(token):
    """The same token with its secret wrong in one byte: a client with it
    reaches the host (the peer ID and addresses are right) and is refused."""
    import base64
    urlsafe = "-" in token or "_" in token
    padded = token + "=" * (-len(token) % 4)
    raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(padded)
    if not raw or raw[0] != TOKEN_VERSION:
        print("wrong-secret-token: not a version 2 token", file=sys.stderr)
        return 1
    out, found = bytearray([TOKEN_VERSION]), False
    for num, wt, field, val in pb_fields(raw[1:]):
        if num == TOKEN_SECRET_FIELD and wt == 2 and val:
            field = field[:-1] + bytes([field[-1] ^ 0x5A])
            found = True
        out += field
    if not found:
        print("wrong-secret-token: the token has no secret", file=sys.stderr)
        return 1
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(bytes(out)).decode()
    if not token.endswith("="):
        enc = enc.rstrip("=")
    print(enc)
    return 0


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "wait-event":
        return wait_event(a[0], a[1], float(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else None)
    if cmd == "json-get":
        return json_get(a[0], a[1])
    if cmd == "relayed-token":
        return relayed_token(a[0])
    if cmd == "wrong-secret-token":
        return wrong_secret_token(a[0])
    if cmd == "serve-http":
        return serve_http(a[0], a[1])
    if cmd == "hold-port":
        return hold_port(a[0])
    if cmd == "serve-bidir":
        return serve_bidir(a[0], int(a[1]), a[2])
    if cmd == "client-bidir":
        return client_bidir(int(a[0]), int(a[1]), int(a[2]) if len(a) > 2 else 1)
    if cmd == "count-accepts":
        return count_accepts(a[0], a[1])
    if cmd == "udp-echo":
        return udp_echo(a[0])
    if cmd == "udp-check":
        return udp_check(int(a[0]), int(a[1]), int(a[2]))
    if cmd == "slow-sink":
        return slow_sink(a[0], float(a[1]), a[2])
    if cmd == "push":
        return push(int(a[0]), int(a[1]), float(a[2]))
    if cmd == "expect-closed":
        return expect_closed(int(a[0]), float(a[1]))
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
