#!/usr/bin/env bash
# scripts/test.sh: `make test`. Installs what is missing, builds, installs the
# extension, starts a throwaway cluster on a free port, runs every suite and
# ends with one line "N passed, N failed". Cleans up even when a suite fails.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/deps.sh || exit 1
. scripts/lib.sh

echo "==> building and installing the extension"
make -s >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
as_root make -s install >/dev/null || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/rollout-test.XXXXXX)
chmod 755 "$work"
out="$top/test/out"
rm -rf "$out"
mkdir -p "$out"
export PGPORT=$(free_port 55432)
export PGHOST=127.0.0.1 PGUSER=postgres
export ROLLOUT_TEST_PGDATA="$work/data"
cleanup() {
	pg_stop "$work/data"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting a PostgreSQL cluster on 127.0.0.1:$PGPORT"
# the HTTP suite's database has its checks recorded by the background worker,
# like make run; pg_regress and the README run in others (checks recorded in
# the checking transaction); TAP test 004 compares the two
ROLLOUT_DATABASE=rollout_http pg_start "$work/data" "$PGPORT" || { echo "0 passed, 1 failed"; exit 1; }

total_pass=0
total_fail=0
# record SUITE PASSED FAILED
record() {
	echo "--- $1: $2 passed, $3 failed"
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
}

# Suite 1: pg_regress, one file per feature in sql/ with expected/, the PGXS
# way (make installcheck, against the cluster of PGHOST/PGPORT/PGUSER).
run_regress() {
	echo "==> pg_regress (make installcheck)"
	make -s installcheck EXTRA_REGRESS_OPTS="--outputdir=$out/regress" >"$out/regress.log" 2>&1
	cat "$out/regress.log"
	local pass fail
	# PG15 prints "test NAME ... ok|FAILED"; newer ones print TAP "ok N - NAME"
	pass=$(grep -cE '^(test .*\.\.\. ok|ok [0-9]+ )' "$out/regress.log" || true)
	fail=$(grep -cE '^(test .*\.\.\. FAILED|not ok [0-9]+ )' "$out/regress.log" || true)
	if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
	if [ -f "$out/regress/regression.diffs" ]; then
		head -n 200 "$out/regress/regression.diffs"
	fi
	record regress "$pass" "$fail"
}

# Other suites print their own "N passed, N failed" as the last line.
run_suite() {
	local name=$1; shift
	echo "==> $name"
	"$@" 2>&1 | tee "$out/$name.log"
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$name.log" | tail -n 1)
	if [ -z "$line" ]; then
		record "$name" 0 1
	else
		record "$name" "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"
	fi
}

# ROLLOUT_TEST_SUITES="http tap" runs only those (default: every suite)
wanted() { [ -z "${ROLLOUT_TEST_SUITES:-}" ] || [[ " $ROLLOUT_TEST_SUITES " == *" $1 "* ]]; }
wanted regress && run_regress
for t in test/run-*.sh; do
	[ -x "$t" ] || continue
	name=$(basename "$t" .sh)
	wanted "${name#run-}" && run_suite "${name#run-}" "$t"
done

echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
