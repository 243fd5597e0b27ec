#!/usr/bin/env bash
# bench/decision/run.sh: check_update throughput against SELECT 1 under
# pgbench (same cluster, same run), then each statistics view against a
# naive query over 10,000,000 raw events. BENCH_SECONDS (default 30) per
# pgbench run, BENCH_CLIENTS (default 2, the machine's cores), BENCH_ROUNDS;
# BENCH_VIEWS=0 stops after the decision.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56532 2GB
secs=${BENCH_SECONDS:-30}
clients=${BENCH_CLIENTS:-2}
out=bench/out/decision.txt
: > "$out"
bench_decision_data "$out"
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }
echo "==> pgbench, $clients clients, ${secs}s each; checks recorded by the background worker" | tee -a "$out"
psql -Atc "SELECT 'check recorder: ' || rollout.check_queue()::text" | tee -a "$out"
select1=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f bench/decision/select1.pgb 2>&1 | tee -a "$out" | tps)
# the same statement without check_update: what building the request costs
args=$(sed "s/SELECT rollout.check_update(\(.*\));$/SELECT \1;/" bench/decision/check.pgb > "$BENCH_WORK/args.pgb" &&
	pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f "$BENCH_WORK/args.pgb" 2>&1 | tee -a "$out" | tps)
run=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f bench/decision/check.pgb 2>&1 | tee -a "$out")
check=$(tps <<<"$run")
# sustained: until the worker has recorded every check of the run
n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$run")
start=$(date +%s.%N)
psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
drain=$(echo "$(date +%s.%N) - $start" | bc)
sustained=$(echo "scale=1; $n / ($secs + $drain)" | bc)
psql -Atc "SELECT 'check recorder: ' || rollout.check_queue()::text" | tee -a "$out"
ratio=$(echo "scale=3; $check / $select1" | bc)
sratio=$(echo "scale=3; $sustained / $select1" | bc)
printf 'SELECT 1: %s tps\nrequest building alone (no check_update): %s tps\ncheck_update: %s tps (ratio %s, target >= 0.4)\n' \
	"$select1" "$args" "$check" "$ratio" | tee -a "$out"
printf 'check_update sustained, until every check is recorded (%.1fs after the run): %s checks/s (ratio %s)\n' \
	"$drain" "$sustained" "$sratio" | tee -a "$out"
# BENCH_VIEWS=0: the decision only (the views need 10,000,000 events loaded first)
[ "${BENCH_VIEWS:-1}" = 0 ] && exit 0
echo "==> 10,000,000 events" | tee -a "$out"
psql -q -f bench/decision/events.sql | tee -a "$out"
psql -q -v rounds="${BENCH_ROUNDS:-7}" -f bench/decision/views.sql | tee -a "$out"
