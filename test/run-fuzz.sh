#!/usr/bin/env bash
# test/run-fuzz.sh: libFuzzer + AddressSanitizer (leak detection on) + UBSan
# over the version and range parsers, the HTTP shim's request-head reader, the
# ranges checked against node-semver, the upload name and path checks, the
# request path and query reading, and the JSON body -> SQL call binding. A
# crash, leak, property failure, input slower than 5 s or a range where
# node-semver disagrees fails the suite. Every file in a target's seeds
# directory (regression inputs included) is run first.
#
#   ROLLOUT_FUZZ_SECONDS  the whole run's budget, default 90: fuzz_semver gets
#                         a third, the other targets share the rest
#   ROLLOUT_FUZZ_EACH     seconds per target instead (the long runs: 600)
#   ROLLOUT_FUZZ_ONLY     "fuzz_range fuzz_bind": only these targets
#   ROLLOUT_FUZZ_KEEP=1   keep each grown corpus in test/fuzz/corpus-NAME
set -uo pipefail
cd "$(dirname "$0")/fuzz"
secs=${ROLLOUT_FUZZ_SECONDS:-90}
first=$((secs / 3))
rest=$(((secs - first) / 5))
passed=0 failed=0
: >../out-fuzz.log

pgi=$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
pgl=$(pg_config --libdir 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
shim=../../shim
# the shim targets include the files they test and link the rest of the shim
shim_rest() {
	local f
	for f in "$shim"/*.c; do
		[[ " $* " == *" $(basename "$f" .c) "* ]] || echo "$f"
	done
}
shim_libs=(-Dmain=rollout_http_main -I"$pgi" -I"$shim" -L"$pgl" -lpq -lcivetweb -ljansson -lcrypto -lpthread)

# fuzz NAME SECONDS SEEDS [libFuzzer flags --] SOURCES...: build and run one target
fuzz() {
	local name=$1 t=${ROLLOUT_FUZZ_EACH:-$2} seeds=$3 corpus flags=()
	shift 3
	if [ -n "${ROLLOUT_FUZZ_ONLY:-}" ] && [[ " $ROLLOUT_FUZZ_ONLY " != *" $name "* ]]; then
		return
	fi
	while [ $# -gt 0 ] && [ "$1" != -- ] && [[ "$1" == -* ]] && [[ "$1" != -D* ]] && [[ "$1" != -I* ]] && [[ "$1" != -L* ]] && [[ "$1" != -l* ]]; do
		flags+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I../../extension -I../../shim -o "./$name" "$@"; then
		echo "not ok - fuzz target $name did not build"
		failed=$((failed + 1))
		return
	fi
	if [ "${ROLLOUT_FUZZ_KEEP:-}" = 1 ]; then
		corpus=corpus-${name#fuzz_}
		mkdir -p "$corpus"
	else
		corpus=$(mktemp -d)
	fi
	cp "$seeds"/* "$corpus/"
	if ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$t" -timeout=5 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 "${flags[@]}" "$corpus" >"../out-$name.log" 2>&1; then
		# executions, and the coverage reached (edges, features) at the end
		grep -E 'stat::number_of_executed_units' "../out-$name.log" | tail -n 1
		grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov:' "../out-$name.log" | tail -n 1 | sed 's/^/# /'
		echo "ok - $name: no crash, leak, hang or property failure in ${t}s"
		passed=$((passed + 1))
		if [ "$name" = fuzz_range ]; then
			oracle "$corpus"
		fi
	else
		tail -n 40 "../out-$name.log"
		echo "not ok - $name found a problem (reproducer saved as crash-*/leak-*/timeout-* in test/fuzz)"
		failed=$((failed + 1))
	fi
	cat "../out-$name.log" >>../out-fuzz.log
	[ "${ROLLOUT_FUZZ_KEEP:-}" = 1 ] || rm -rf "$corpus"
	rm -f "../out-$name.log"
}

# the ranges fuzz_range grew, against node-semver (test/compat's semver_cli)
oracle() {
	if [ ! -d ../node_modules/semver ]; then
		(cd .. && npm install --no-audit --no-fund --loglevel=error >/dev/null)
	fi
	if cc -O2 -Wall -Wextra -Werror -I../../extension -o ../compat/semver_cli ../compat/semver_cli.c ../../extension/semver_core.c &&
		node range_oracle.js ../compat/semver_cli "$1" seeds-range >../out-oracle.log 2>&1; then
		grep -v 'passed, .* failed' ../out-oracle.log
		passed=$((passed + 1))
	else
		grep -v 'passed, .* failed' ../out-oracle.log
		echo "not ok - node-semver disagrees with the range parser"
		failed=$((failed + 1))
	fi
	rm -f ../out-oracle.log
}

# fuzz_bind binds to the real functions: their signatures from a scratch
# database of the test cluster when there is one, else the copy in git
sigs=signatures.tsv
if [ -n "${PGHOST:-}" ] && psql -qd postgres -c 'CREATE DATABASE rollout_fuzz' >/dev/null 2>&1; then
	if psql -qd rollout_fuzz -c 'CREATE EXTENSION rollout' >/dev/null 2>&1; then
		psql -d rollout_fuzz -At -F $'\t' -c "SELECT p.proname, coalesce(p.proargnames, '{}'),
			array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY i),
			p.pronargs, p.pronargdefaults FROM pg_proc p WHERE p.pronamespace = 'rollout'::regnamespace ORDER BY 1" \
			>../out-signatures.tsv && sigs=../out-signatures.tsv
	fi
	psql -qd postgres -c 'DROP DATABASE rollout_fuzz' >/dev/null 2>&1
fi
export FUZZ_SIGNATURES=$sigs

fuzz fuzz_semver "$first" seeds fuzz_semver.c ../../extension/semver_core.c
fuzz fuzz_http_head "$rest" seeds-http fuzz_http_head.c ../../shim/http_head.c
fuzz fuzz_range "$rest" seeds-range -dict=range.dict -max_len=512 -- fuzz_range.c ../../extension/semver_core.c
fuzz fuzz_upload_name "$rest" seeds-upload fuzz_upload_name.c $(shim_rest files) "${shim_libs[@]}"
fuzz fuzz_request "$rest" seeds-request fuzz_request.c $(shim_rest routes request) "${shim_libs[@]}"
fuzz fuzz_bind "$rest" seeds-bind fuzz_bind.c $(shim_rest db) "${shim_libs[@]}"
rm -f ../out-signatures.tsv
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
