#!/usr/bin/env bash
# test/run-fuzz.sh: libFuzzer + AddressSanitizer (leak detection on) over the
# version and range parsers, for ROLLOUT_FUZZ_SECONDS (default 60) in all.
# A crash, leak, property failure or input slower than 5 s fails the suite.
set -uo pipefail
cd "$(dirname "$0")/fuzz"
secs=${ROLLOUT_FUZZ_SECONDS:-60}
bin=./fuzz_semver
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I../../extension -o "$bin" fuzz_semver.c ../../extension/semver_core.c; then
	echo "not ok - fuzz target did not build"
	echo "0 passed, 1 failed"
	exit 1
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp seeds/* "$corpus/"
if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
	-max_len=8192 -print_final_stats=1 "$corpus" >../out-fuzz.log 2>&1; then
	grep -E 'stat::number_of_executed_units|Done' ../out-fuzz.log | tail -n 2
	echo "ok - fuzz_semver: no crash, leak, hang or property failure in ${secs}s"
	echo "1 passed, 0 failed"
else
	tail -n 40 ../out-fuzz.log
	echo "not ok - fuzz_semver found a problem (reproducer saved as crash-*/leak-*/timeout-* in test/fuzz)"
	echo "0 passed, 1 failed"
	exit 1
fi
