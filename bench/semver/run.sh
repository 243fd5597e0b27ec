#!/usr/bin/env bash
# bench/semver/run.sh: rollout.semver vs bigint vs pg-semver on 1M versions:
# parsing, in-memory ORDER BY, CREATE INDEX, range filter. Prints medians of
# BENCH_ROUNDS (default 7) interleaved rounds and their ratios. Ratios < 1
# mean rollout is faster than the baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56432 1GB
psql -q -v rounds="${BENCH_ROUNDS:-7}" \
	-f bench/semver/bench.sql | tee bench/out/semver.txt
