#!/usr/bin/env bash
# Installs the Debian packages that building and testing need, if missing.
# Runs apt-get update once, and only when something is missing.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev openssl libuv1-dev libprotobuf-c-dev protobuf-c-compiler
      libcjson-dev libc-ares-dev libcmocka-dev libminiupnpc-dev libnatpmp-dev
      iproute2 iptables conntrack socat curl python3)
# Node.js for the interop tests is installed by tests/interop/setup.sh only
# when no npm is present: a machine may have its own Node and npm, which
# Debian's npm package would conflict with.

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
