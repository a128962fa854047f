#!/usr/bin/env bash
# Installs what the js-libp2p interop peer needs, under tests/interop/:
#   runtime/node_modules/  a pinned Node.js 22 binary from the npm registry
#                          (js-libp2p 3 needs Node >= 22; Debian has 18)
#   node_modules/          js-libp2p and friends, exactly as package-lock.json
# Both come from committed lock files through `npm ci`. Idempotent: a step is
# skipped while its lock file is unchanged since it last succeeded, so a
# second run takes well under a second. Safe to run concurrently (flock).
# Works as root with no stdin (CI=true); only needs the npm registry and,
# when npm itself is missing, Debian's packages.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUNTIME=$HERE/runtime
STAMP_NAME=.mtunnel-setup-stamp

# Serialise: ctest may start several interop tests that all call this.
exec 9<"$HERE/setup.sh"
flock 9

log() { echo "interop-setup: $*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
	log "npm missing: installing Debian's nodejs and npm"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq </dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		nodejs npm </dev/null >/dev/null
fi

lock_hash() { sha256sum "$1/package-lock.json" | cut -d' ' -f1; }

# npm ci in $1 unless its node_modules already matches its lock file.
# $2 is a command that must succeed for the install to count as done.
install_locked() {
	local dir=$1 check=$2 stamp=$1/node_modules/$STAMP_NAME want
	want=$(lock_hash "$dir")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && (cd "$dir" && eval "$check") >/dev/null 2>&1; then
		return 0
	fi
	log "npm ci in $dir"
	(cd "$dir" && CI=true npm ci --no-audit --no-fund --loglevel=error </dev/null)
	if ! (cd "$dir" && eval "$check") >/dev/null 2>&1; then
		log "npm ci in $dir succeeded but the result does not work: $check"
		log "(npm skips optional packages that fail to download without an error:"
		log " try 'npm ci --loglevel=verbose' there)"
		exit 1
	fi
	echo "$want" >"$stamp"
}

# The binary's own path, not node_modules/.bin/node: with both CPU variants in
# the lock, npm 9 (Debian's) deletes that shared link when it skips the
# variant for the other CPU.
NODE_CHECK='test -n "$(node_path)" && "$(node_path)" -e "process.exit(process.versions.node.split(\".\")[0] >= 22 ? 0 : 1)"'
node_path() {
	local b
	for b in "$RUNTIME"/node_modules/node-linux-*/bin/node; do
		[ -x "$b" ] && echo "$b" && return 0
	done
	return 0
}
install_locked "$RUNTIME" "$NODE_CHECK"

# From here on the pinned Node runs npm and everything it starts. Debian's
# node trusts the system CA store; the registry's prebuilt Node only trusts
# its built-in list unless told, which breaks behind a TLS-inspecting proxy.
NODE=$(node_path)
export PATH=$(dirname "$NODE"):$PATH
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
install_locked "$HERE" 'node --input-type=module -e "await import(\"libp2p\"); await import(\"@libp2p/tcp\")"'
log "ready: node $(node --version) at $NODE"
