#!/usr/bin/env bash
# test/run-http.sh: rollout-http end to end (test/http/http.test.js) on a
# fresh database of the test cluster (PGHOST/PGPORT/PGUSER from scripts/test.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
make -s shim >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
db=rollout_http
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || { echo "0 passed, 1 failed"; exit 1; }
psql -qd "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', 'admin-password-1', 'admin');
SELECT rollout.create_admin('maint', 'maint-password-1', 'maintainer', 'default');
SELECT rollout.create_admin('viewer', 'viewer-password-1', 'viewer');
SQL
port=$(free_port 18180)
node test/http/http.test.js shim/rollout-http "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" "$port"
