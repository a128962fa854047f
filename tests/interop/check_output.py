#!/usr/bin/env python3
"""Asserts on the JSON lines printed by a dialer (p2p-ping or peer.mjs).

  check_output.py --listen-line LINE
      Prints "ADDR PEER_ID" from a listener's {"peer_id":…,"addrs":[…]} line.
  check_output.py [--agent-prefix P] [--protocols P,P…] [--pings N] [--echo BYTES]
                  [--perf] FILE
      Checks FILE: every line is a JSON object, none is {"error":…}; the first
      is identify, listing the required protocols (--protocols: these
      instead of identify, ping, perf and echo), with an agent_version
      starting with P; then exactly N {"rtt_ms":…} lines; with --echo an
      {"echo_bytes":BYTES,"ok":true} line; with --perf positive upload and
      download rates. Prints a one-line summary; exits 1 with the reason.
"""
import argparse
import json
import numbers
import sys

REQUIRED_PROTOCOLS = ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/perf/1.0.0", "/echo/1.0.0"]


def die(msg):
    print("check: " + msg, file=sys.stderr)
    sys.exit(1)


def is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def listen_line(line):
    try:
        obj = json.loads(line)
    except ValueError as e:
        die(f"listen line is not JSON ({e}): {line!r}")
    peer_id = obj.get("peer_id")
    addrs = obj.get("addrs")
    if not isinstance(peer_id, str) or not peer_id:
        die(f"listen line has no peer_id: {line!r}")
    if not isinstance(addrs, list) or not addrs:
        die(f"listen line has no addrs: {line!r}")
    addr = addrs[0]
    if not isinstance(addr, str) or not addr.startswith("/ip4/127.0.0.1/tcp/"):
        die(f"first address is not /ip4/127.0.0.1/tcp/…: {addr!r}")
    if not addr.endswith("/p2p/" + peer_id):
        die(f"first address does not end in /p2p/{peer_id}: {addr!r}")
    print(addr, peer_id)


def check(args):
    with open(args.file, encoding="utf-8") as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    objs = []
    for l in lines:
        try:
            obj = json.loads(l)
        except ValueError:
            die(f"not a JSON line: {l!r}")
        if not isinstance(obj, dict):
            die(f"not a JSON object: {l!r}")
        if "error" in obj:
            die(f"dialer reported an error: {obj['error']!r}")
        objs.append(obj)
    if not objs:
        die("no output")

    ident = objs[0]
    protocols = ident.get("protocols")
    if not isinstance(protocols, list):
        die(f"first line is not identify (no protocols list): {ident}")
    required = args.protocols.split(",") if args.protocols else REQUIRED_PROTOCOLS
    missing = [p for p in required if p not in protocols]
    if missing:
        die(f"identify lacks {missing}: {protocols}")
    agent = ident.get("agent_version")
    if not isinstance(agent, str) or not agent.startswith(args.agent_prefix):
        die(f"agent_version {agent!r} does not start with {args.agent_prefix!r}")

    rtts = [o["rtt_ms"] for o in objs if "rtt_ms" in o]
    if len(rtts) != args.pings:
        die(f"expected {args.pings} rtt_ms lines, got {len(rtts)}")
    if not all(is_number(r) and r >= 0 for r in rtts):
        die(f"bad rtt values: {rtts}")

    summary = [f"agent={agent!r}", f"pings={rtts}"]
    if args.echo is not None:
        echo = [o for o in objs if "echo_bytes" in o]
        if len(echo) != 1:
            die(f"expected one echo line, got {echo}")
        e = echo[0]
        if e.get("echo_bytes") != args.echo or e.get("ok") is not True:
            die(f"echo failed: {e} (wanted {args.echo} bytes back identical)")
        summary.append(f"echo={e.get('mb_per_s')}MB/s")
    if args.perf:
        perf = [o for o in objs if "upload_mb_per_s" in o or "download_mb_per_s" in o]
        if len(perf) != 1:
            die(f"expected one perf line, got {perf}")
        p = perf[0]
        for k in ("upload_mb_per_s", "download_mb_per_s"):
            if not is_number(p.get(k)) or p[k] <= 0:
                die(f"perf {k} missing or not positive: {p}")
        summary.append(f"perf up={p['upload_mb_per_s']}MB/s down={p['download_mb_per_s']}MB/s")
    print("check ok: " + " ".join(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen-line")
    ap.add_argument("--agent-prefix", default="")
    ap.add_argument("--protocols")
    ap.add_argument("--pings", type=int, default=3)
    ap.add_argument("--echo", type=int)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("file", nargs="?")
    args = ap.parse_args()
    if args.listen_line is not None:
        listen_line(args.listen_line)
    elif args.file:
        check(args)
    else:
        ap.error("need --listen-line or FILE")


if __name__ == "__main__":
    main()
