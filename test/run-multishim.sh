#!/usr/bin/env bash
# test/run-multishim.sh: two rollout-http processes on one database, as behind
# a load balancer (test/multishim/multishim.test.js): the live websocket of
# each carries every event, whichever process the change went through. Uses
# PGHOST/PGPORT/PGUSER from scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
make -s shim >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
db=rollout_multishim
export PGOPTIONS='-c client_min_messages=warning'
psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
trap 'psql -qd postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1' EXIT
psql -qd "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', 'admin-password-1', 'admin');
SQL
if [ ! -d test/node_modules/ws ]; then
	(cd test && npm install --no-audit --no-fund --loglevel=error >/dev/null) || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }
fi
port_a=$(free_port 18480)
port_b=$(free_port $((port_a + 1)))
node test/multishim/multishim.test.js shim/rollout-http "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" "$port_a" "$port_b"
