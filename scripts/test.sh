#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine:
# installs what is missing, builds under ASan+UBSan, runs unit tests, seed
# replays, interop tests against js-libp2p and end-to-end tests, then runs
# every libFuzzer target for a short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

bash scripts/deps.sh
if [ -f tests/interop/setup.sh ]; then
	bash tests/interop/setup.sh
fi

echo "== build (ASan+UBSan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DP2P_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$(nproc)"

echo "== tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/asan && ctest --output-on-failure -j"$(nproc)")

echo "== fuzz (${FUZZ_SECONDS}s per target)"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DP2P_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$(nproc)" >/dev/null
pass=0
fail=0
for bin in build/fuzz/tests/fuzz_*; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	corpus=tests/fuzz/corpus/$short
	work=$(mktemp -d)
	if "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$work/" "$work" "$corpus" >"$work/log" 2>&1; then
		pass=$((pass + 1))
		echo "fuzz $short: ok ($(grep -o 'DONE.*' "$work/log" | head -1))"
	else
		fail=$((fail + 1))
		echo "fuzz $short: FAILED"
		tail -40 "$work/log"
	fi
	rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
