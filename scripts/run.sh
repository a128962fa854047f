#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is missing, builds
# (Release), and runs a working tunnel on loopback with an embedded default:
# a small web server, a tunnel host exposing it, a tunnel client started
# from the host's token, and a page fetched through the tunnel.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target tunnel >/dev/null
TUNNEL=$PWD/build/release/tunnel

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Waits for a JSON event with the given action in a file; prints the line.
wait_event() {
	for _ in $(seq 200); do
		line=$(grep -m1 "\"action\":\"$2\"" "$1" 2>/dev/null || true)
		[ -n "$line" ] && { echo "$line"; return 0; }
		sleep 0.05
	done
	echo "timed out waiting for $2 in $1" >&2
	return 1
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# 1. the service: a web page on 127.0.0.1
mkdir "$work/www"
echo "<h1>Hello from behind the tunnel</h1>" >"$work/www/index.html"
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)

# 2. the host exposes it (libp2p on loopback only, for the demo)
mkfifo "$work/host.in"
"$TUNNEL" -port "$web_port" -listen /ip4/127.0.0.1/tcp/0 -key "$work/host.key" \
	<"$work/host.in" >"$work/host.out" 2>"$work/host.err" &
pids+=($!)
exec 3>"$work/host.in" # keeps the host's stdin open
token_event=$(wait_event "$work/host.out" TOKEN)
token=$(field "$token_event" token)
echo "host:   peer $(field "$token_event" peer_id)"
echo "token:  $token"

# 3. the client, from the token, on a port the OS picks
"$TUNNEL" -token "$token" -port 0 </dev/null >"$work/client.out" 2>"$work/client.err" &
pids+=($!)
port_event=$(wait_event "$work/client.out" LISTENING)
port=$(field "$port_event" port)
echo "client: listening on 127.0.0.1:$port"

# 4. a page through the tunnel
page=$(curl -sS -m 10 "http://127.0.0.1:$port/index.html")
echo "fetched through the tunnel: $page"
echo '{"action":"LIST"}' >&3
echo "host LIST: $(wait_event "$work/host.out" LIST)"
[ "$page" = "<h1>Hello from behind the tunnel</h1>" ]
echo "ok"
