#!/usr/bin/env bash
# bench/semver/run.sh: rollout.semver vs bigint vs pg-semver on 1M versions
# (data.sql). Parts (BENCH_PARTS, default "types index"): types (bench.sql:
# parsing, in-memory ORDER BY, CREATE INDEX, range filter by scan) and index
# (index.sql: a range query on an indexed column, estimates against actual
# rows). Prints medians of interleaved rounds (BENCH_ROUNDS, default 7 for
# types; BENCH_INDEX_ROUNDS, default 21 for index, whose rounds take about a
# second) and their ratios. Ratios < 1 mean rollout is faster than the
# baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56432 1GB
psql -q -f bench/semver/data.sql >/dev/null
: >bench/out/semver.txt
for part in ${BENCH_PARTS:-types index}; do
	case $part in
	types) file=bench/semver/bench.sql rounds=${BENCH_ROUNDS:-7} ;;
	index) file=bench/semver/index.sql rounds=${BENCH_INDEX_ROUNDS:-21} ;;
	*) echo "unknown part: $part (types, index)" >&2; exit 2 ;;
	esac
	echo "==> $part" | tee -a bench/out/semver.txt
	psql -q -v rounds="$rounds" -f "$file" | tee -a bench/out/semver.txt
done
