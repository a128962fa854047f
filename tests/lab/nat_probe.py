#!/usr/bin/env python3
"""Small network probes for the NAT lab (stdlib only).

Servers reply with the source address they saw ("SEEN ip:port"), so a test
run on the other side of a NAT can read the mapping the router made.
Every loop is bounded in count and time; servers exit by themselves.

  udp-echo-server PORT [LIFETIME_S]   echo datagrams, prefixed "SEEN ip:port\\n"
  tcp-echo-server PORT [LIFETIME_S]   send "SEEN ip:port\\n", then echo
  udp-probe [--timeout T] [--bind PORT] HOST PORT [HOST PORT ...]
      from ONE socket, one datagram (plus retries) to each target in turn;
      prints "local IP:PORT" then "HOST:PORT SEEN_IP:SEEN_PORT" per target
  tcp-connect HOST PORT TIMEOUT       connect, send, read the echo; prints SEEN

Exit status of the probes: 0 answered, 1 refused (RST / ICMP port
unreachable), 2 timed out (dropped), 3 other error (e.g. no route).
"""
import os
import socket
import sys
import time

MAX_DATAGRAMS = 10000
MAX_CONNS = 1000
CONN_TIMEOUT = 2.0
MAX_ECHO = 65536


def ready(proto, port):
    # Tests wait for this line before probing, so it must reach the log now.
    print(f"ready {proto} {port}", flush=True)


def udp_echo_server(port, lifetime):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    ready("udp", port)
    deadline = time.monotonic() + lifetime
    for _ in range(MAX_DATAGRAMS):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(MAX_ECHO)
        except socket.timeout:
            break
        s.sendto(f"SEEN {peer[0]}:{peer[1]}\n".encode() + data, peer)
    return 0


def tcp_serve_one(conn, peer):
    conn.settimeout(CONN_TIMEOUT)
    try:
        conn.sendall(f"SEEN {peer[0]}:{peer[1]}\n".encode())
        total = 0
        while total < MAX_ECHO:
            data = conn.recv(4096)
            if not data:
                break
            conn.sendall(data)
            total += len(data)
    except OSError:
        pass  # a probe that gives up early is not the server's failure
    finally:
        conn.close()


def tcp_echo_server(port, lifetime):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    ready("tcp", port)
    deadline = time.monotonic() + lifetime
    for _ in range(MAX_CONNS):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            conn, peer = s.accept()
        except socket.timeout:
            break
        tcp_serve_one(conn, peer)  # one at a time: probes are short
    return 0


def parse_seen(reply, nonce):
    head, _, body = reply.partition(b"\n")
    if not head.startswith(b"SEEN ") or body != nonce:
        return None
    return head[5:].decode()


def udp_one(s, host, port, timeout):
    """One target: returns (status, seen). Re-connecting the same socket
    keeps its local port but lets ICMP errors show up as ECONNREFUSED."""
    s.connect((host, port))
    nonce = os.urandom(8).hex().encode()
    deadline = time.monotonic() + timeout
    for _ in range(3):  # a few sends in case one is lost; bounded
        try:
            s.send(nonce)
        except ConnectionRefusedError:
            return 1, None
        except OSError:
            return 3, None
        slot = min(timeout / 3, deadline - time.monotonic())
        end = time.monotonic() + max(slot, 0.01)
        while time.monotonic() < end:
            s.settimeout(max(end - time.monotonic(), 0.001))
            try:
                seen = parse_seen(s.recv(MAX_ECHO), nonce)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                return 1, None
            except OSError:
                return 3, None
            if seen:
                return 0, seen
    return 2, None


def udp_probe(args):
    timeout, bind_port = 2.0, 0
    while args and args[0].startswith("--"):
        opt, val, args = args[0], args[1], args[2:]
        if opt == "--timeout":
            timeout = float(val)
        elif opt == "--bind":
            bind_port = int(val)
        else:
            raise SystemExit(f"unknown option {opt}")
    if not args or len(args) % 2:
        raise SystemExit("udp-probe: need HOST PORT pairs")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", bind_port))
    worst = 0
    for i in range(0, len(args), 2):
        host, port = args[i], int(args[i + 1])
        status, seen = udp_one(s, host, port, timeout)
        if i == 0:
            local = s.getsockname()
            print(f"local {local[0]}:{local[1]}")
        print(f"{host}:{port} {seen or ['ok', 'refused', 'timeout', 'error'][status]}")
        worst = max(worst, status)
    return worst


def tcp_connect(host, port, timeout):
    nonce = os.urandom(8).hex().encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(nonce)
        reply = b""
        for _ in range(64):  # bounded: the echo is a few dozen bytes
            data = s.recv(4096)
            if not data:
                break
            reply += data
            seen = parse_seen(reply, nonce)
            if seen:
                print(f"SEEN {seen}")
                return 0
        print("bad echo", file=sys.stderr)
        return 3
    except ConnectionRefusedError:
        print("refused")
        return 1
    except socket.timeout:
        print("timeout")
        return 2
    except OSError as e:
        print(f"error {e}")
        return 3
    finally:
        s.close()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    cmd, args = argv[1], argv[2:]
    if cmd == "udp-echo-server":
        return udp_echo_server(int(args[0]), float(args[1]) if len(args) > 1 else 30)
    if cmd == "tcp-echo-server":
        return tcp_echo_server(int(args[0]), float(args[1]) if len(args) > 1 else 30)
    if cmd == "udp-probe":
        return udp_probe(args)
    if cmd == "tcp-connect":
        return tcp_connect(args[0], int(args[1]), float(args[2]))
    print(f"unknown command {cmd}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
