#!/usr/bin/env bash
# Builds static, stripped Release binaries of `tunnel` and `p2p-ping` into
# build/static/ (or $STATIC_BUILD_DIR), checks that they have no dynamic
# section (no loader, no shared library: they run in an empty chroot) and
# prints their sizes.
#
# Every dependency links from Debian's .a files except cJSON, whose
# libcjson-dev ships no archive: its source, of the exact installed
# version with Debian's patches, is fetched once with `apt-get source`
# (using a private apt state under the build directory, so the system's
# apt configuration is not touched) and compiled into the build. Set
# P2P_CJSON_SOURCE_DIR to a directory holding cJSON.c to skip the download.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${STATIC_BUILD_DIR:-$PWD/build/static}
JOBS=${JOBS:-2}
mkdir -p "$BUILD"

# cjson_source DIR: unpacks the Debian source of the installed libcjson-dev
# into DIR (once; a stamp names the version).
cjson_source() {
	local dir=$1 version apt
	version=$(dpkg-query -W -f='${Version}' libcjson-dev)
	if [ -f "$dir/cJSON.c" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then
		return 0
	fi
	apt=$BUILD/_deps/apt
	rm -rf "$dir" "$apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
	# deb-src twins of the system's Debian archive entries.
	# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
	apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
		'Identifier: Packages' | sort -u | grep -E '/debian(-security)?/? ' |
		sed 's/^/deb-src /' >"$apt/sources.list"
	[ -s "$apt/sources.list" ] || {
		echo "static: no Debian archive in the apt sources to get cJSON's source from" >&2
		exit 1
	}
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/none"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=$(id -un)")
	echo "static: fetching the Debian source of cJSON $version (no libcjson.a is packaged)" >&2
	apt-get "${opts[@]}" -qq update >&2
	(cd "$apt/dl" && apt-get "${opts[@]}" -qq --download-only source "cjson=$version" >&2)
	dpkg-source --no-check -x "$apt/dl"/cjson_*.dsc "$dir" >/dev/null
	echo "$version" >"$dir/.version"
	rm -rf "$apt"
}

cjson_dir=${P2P_CJSON_SOURCE_DIR:-}
if [ -z "$cjson_dir" ] && [ ! -e "$(gcc -print-file-name=libcjson.a)" ]; then
	cjson_dir=$BUILD/_deps/cjson
	cjson_source "$cjson_dir"
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DP2P_STATIC=ON \
	-DP2P_SANITIZE=OFF -DP2P_FUZZ=OFF ${cjson_dir:+-DP2P_CJSON_SOURCE_DIR="$cjson_dir"} >/dev/null
# The linker warns that getaddrinfo, getpwuid_r and dlopen (pulled in by
# libcrypto and libuv) need glibc's shared NSS modules at run time: we only
# resolve numeric addresses, which glibc does without them.
cmake --build "$BUILD" -j"$JOBS" --target tunnel p2p-ping >"$BUILD/build.log" 2>&1 || {
	tail -n 40 "$BUILD/build.log" >&2
	exit 1
}

for bin in tunnel p2p-ping; do
	f=$BUILD/$bin
	if ! readelf -d "$f" | grep -q "no dynamic section"; then
		echo "static: $f is dynamically linked" >&2
		exit 1
	fi
	if readelf -S "$f" | grep -q '\.symtab'; then
		echo "static: $f is not stripped" >&2
		exit 1
	fi
	printf '%s: %d bytes (%s), static, stripped\n' "$f" "$(stat -c %s "$f")" \
		"$(numfmt --round=nearest --to=iec-i --suffix=B "$(stat -c %s "$f")")"
done
