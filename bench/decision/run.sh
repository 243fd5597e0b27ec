#!/usr/bin/env bash
# bench/decision/run.sh: check_update throughput against SELECT 1 under
# pgbench (same cluster, same run), then each statistics view against a
# naive query over 10,000,000 raw events. BENCH_SECONDS (default 30) per
# pgbench run, BENCH_CLIENTS (default 2, the machine's cores), BENCH_ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56532 2GB
secs=${BENCH_SECONDS:-30}
clients=${BENCH_CLIENTS:-2}
out=bench/out/decision.txt
: > "$out"
echo "==> setup: 10 projects x 200 versions, 5 rules each, 1,000,000 clients" | tee -a "$out"
psql -q -f bench/decision/setup.sql >/dev/null
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }
echo "==> pgbench, $clients clients, ${secs}s each" | tee -a "$out"
select1=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f bench/decision/select1.pgb 2>&1 | tee -a "$out" | tps)
check=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f bench/decision/check.pgb 2>&1 | tee -a "$out" | tps)
ratio=$(echo "scale=3; $check / $select1" | bc)
printf 'SELECT 1: %s tps\ncheck_update: %s tps\nratio: %s (target >= 0.4)\n' "$select1" "$check" "$ratio" | tee -a "$out"
echo "==> 10,000,000 events" | tee -a "$out"
psql -q -f bench/decision/events.sql | tee -a "$out"
psql -q -v rounds="${BENCH_ROUNDS:-7}" -f bench/decision/views.sql | tee -a "$out"
