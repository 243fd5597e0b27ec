#!/usr/bin/env bash
# bench/disk/run.sh: disk per million clients. Loads 1,000,000 clients of one
# project (UUID client ids), the download and install reports of a release by
# every one of them (2,000,000 raw events, 1,000,000 client_results rows), 90
# days of rollups for 20 releases, and reports pg_total_relation_size (heap,
# indexes, TOAST) of each table: once as loaded, once after every client
# checked again (its row updated, as the check recorder does, with VACUUM as
# autovacuum would run it). Then, on that data, how many download and install
# reports a second the server records (pgbench, BENCH_SECONDS each, default
# 10, BENCH_CLIENTS, default 8), as a ratio to SELECT 1 in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56632 1GB
out=bench/out/disk.txt
: > "$out"
echo "==> load: 1 project, 20 releases, 1,000,000 clients, 2,000,000 events" | tee -a "$out"
psql -q -f bench/disk/load.sql >/dev/null
psql -q -f bench/disk/sizes.sql | tee -a "$out"
echo "==> every client checks once more (client_state rows updated in 10 batches, VACUUM after each)" | tee -a "$out"
for b in $(seq 0 9); do
	psql -qc "UPDATE rollout.client_state SET last_seen = now(), last_offered = '1.19.0' WHERE abs(hashtext(client_id) % 10) = $b" >/dev/null
	psql -qc "VACUUM rollout.client_state" >/dev/null
done
psql -q -f bench/disk/sizes.sql | tee -a "$out"
echo "==> reports on this data: pgbench, ${BENCH_CLIENTS:-8} clients, ${BENCH_SECONDS:-10}s each" | tee -a "$out"
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }
run() { pgbench -n -M prepared -c "${BENCH_CLIENTS:-8}" -j 2 -T "${BENCH_SECONDS:-10}" -f "$1" 2>&1 | tee -a "$out" | tps; }
select1=$(run bench/decision/select1.pgb)
download=$(run bench/disk/download.pgb)
install=$(run bench/disk/install.pgb)
printf 'SELECT 1: %s tps\ndownload_started: %s/s (ratio %s)\ninstall_result (durable commit): %s/s (ratio %s)\n' \
	"$select1" "$download" "$(echo "scale=3; $download / $select1" | bc)" "$install" "$(echo "scale=3; $install / $select1" | bc)" | tee -a "$out"
psql -q -f bench/disk/sizes.sql | tee -a "$out"
