#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is missing, builds
# (Release), and shows the libp2p stack working on loopback: a p2p-ping node
# listens, a second one dials it, reads its identify, pings it three times
# and pushes 16 MiB through an echo stream, checking every byte.
# (The tunnel itself lands in a later slice; this is what runs today.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target p2p-ping >/dev/null
BIN=build/release/p2p-ping

out=$(mktemp)
"$BIN" --listen /ip4/127.0.0.1/tcp/0 >"$out" &
listener=$!
trap 'kill $listener 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do
	[ -s "$out" ] && break
	sleep 0.1
done
echo "listener: $(head -1 "$out")"
addr=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["addrs"][0])' <"$out")
echo "dialing:  $addr"
"$BIN" "$addr" --count 3 --echo 16777216
kill -TERM $listener
wait $listener
echo "listener stopped cleanly"
