#!/usr/bin/env bash
# test/run-fuzz.sh: libFuzzer + AddressSanitizer (leak detection on) over the
# version and range parsers (two thirds of ROLLOUT_FUZZ_SECONDS, default 60)
# and the HTTP shim's request-head reader (the rest). A crash, leak, property
# failure or input slower than 5 s fails the suite.
set -uo pipefail
cd "$(dirname "$0")/fuzz"
secs=${ROLLOUT_FUZZ_SECONDS:-60}
passed=0 failed=0
: >../out-fuzz.log

# fuzz NAME SECONDS SEEDS SOURCES...: build and run one target
fuzz() {
	local name=$1 t=$2 seeds=$3 corpus
	shift 3
	if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I../../extension -I../../shim -o "./$name" "$@"; then
		echo "not ok - fuzz target $name did not build"
		failed=$((failed + 1))
		return
	fi
	corpus=$(mktemp -d)
	cp "$seeds"/* "$corpus/"
	if ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$t" -timeout=5 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 "$corpus" >"../out-$name.log" 2>&1; then
		grep -E 'stat::number_of_executed_units|Done' "../out-$name.log" | tail -n 2
		echo "ok - $name: no crash, leak, hang or property failure in ${t}s"
		passed=$((passed + 1))
	else
		tail -n 40 "../out-$name.log"
		echo "not ok - $name found a problem (reproducer saved as crash-*/leak-*/timeout-* in test/fuzz)"
		failed=$((failed + 1))
	fi
	cat "../out-$name.log" >>../out-fuzz.log
	rm -rf "$corpus" "../out-$name.log"
}

fuzz fuzz_semver $((secs * 2 / 3)) seeds fuzz_semver.c ../../extension/semver_core.c
fuzz fuzz_http_head $((secs - secs * 2 / 3)) seeds-http fuzz_http_head.c ../../shim/http_head.c
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
