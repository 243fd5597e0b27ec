#!/usr/bin/env bash
# bench/ui/run.sh: what the admin UI costs a first visit, next to a baseline.
# Starts a throwaway cluster with a little data (3 versions, 2,000 clients),
# rollout-http serving web/dist, and a second rollout-http serving the
# baseline (bench/ui/baseline: an empty Vite + Element Plus app with every
# component imported, at web/'s versions); then headless Chromium visits each,
# cold, BENCH_ROUNDS times (default 5): compressed bytes downloaded and time
# until the dashboard shows its data (the baseline: until it is mounted).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56732 256MB
make -s >/dev/null
make -s shim >/dev/null
(cd bench/ui/baseline && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run -s build >/dev/null)
out=bench/out/ui.txt
: > "$out"

psql -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION rollout;
SELECT rollout.create_admin('bench', 'bench-password-1', 'admin');
SELECT rollout.create_version('default', '1.0.0', 'stable', file_url => 'https://example.com/a-1.0.0.tgz');
SELECT rollout.create_version('default', '1.1.0', 'stable', file_url => 'https://example.com/a-1.1.0.tgz');
SELECT rollout.create_version('default', '1.2.0', 'beta', file_url => 'https://example.com/a-1.2.0.tgz');
SELECT rollout.publish_version(id) FROM rollout.versions;
SELECT rollout.check_update(jsonb_build_object('current_version', (ARRAY['1.0.0', '1.1.0', '0.9.0'])[1 + i % 3],
	'client_id', 'c' || i, 'region', (ARRAY['cn', 'us', 'eu'])[1 + i % 3], 'os', 'linux', 'arch', 'amd64'))
FROM generate_series(1, 2000) i;
SQL

ours_port=$(free_port 18580)
base_port=$(free_port $((ours_port + 10)))
url="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
DATABASE_URL=$url ROLLOUT_LISTEN=127.0.0.1:$ours_port ROLLOUT_WEB_ROOT=web/dist shim/rollout-http >"$BENCH_WORK/ours.log" 2>&1 &
ours_pid=$!
DATABASE_URL=$url ROLLOUT_LISTEN=127.0.0.1:$base_port ROLLOUT_WEB_ROOT=bench/ui/baseline/dist shim/rollout-http >"$BENCH_WORK/base.log" 2>&1 &
base_pid=$!
trap 'kill $ours_pid $base_pid 2>/dev/null; pg_stop "$BENCH_WORK/data"; rm -rf "$BENCH_WORK"' EXIT
for p in $ours_port $base_port; do
	for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
done
token=$(curl -fs -X POST "http://127.0.0.1:$ours_port/admin/api/v1/auth/login" \
	-d '{"username":"bench","password":"bench-password-1"}' | sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
node bench/ui/measure.js "http://127.0.0.1:$ours_port/" "http://127.0.0.1:$base_port/" "$token" "${BENCH_ROUNDS:-5}" | tee -a "$out"
