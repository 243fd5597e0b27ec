#!/usr/bin/env bash
# bench/semver/run.sh: rollout.semver vs bigint vs pg-semver on 1M versions:
# parsing, in-memory ORDER BY, CREATE INDEX, range filter. Prints medians of
# BENCH_ROUNDS (default 7) interleaved rounds and their ratios. Ratios < 1
# mean rollout is faster than the baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh --bench
. scripts/lib.sh
make -s >/dev/null
as_root make -s install >/dev/null
work=$(mktemp -d /tmp/rollout-bench.XXXXXX)
chmod 755 "$work"
trap 'pg_stop "$work/data"; rm -rf "$work"' EXIT
port=$(free_port 56432)
pg_start "$work/data" "$port"
cat >>"$work/data/postgresql.conf" <<CONF
shared_buffers = 1GB
CONF
pg_stop "$work/data"
pg_start "$work/data" "$port"
mkdir -p bench/out
psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v rounds="${BENCH_ROUNDS:-7}" \
	-f bench/semver/bench.sql | tee bench/out/semver.txt
