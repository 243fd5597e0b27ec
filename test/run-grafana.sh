#!/usr/bin/env bash
# test/run-grafana.sh: the Grafana dashboard (docs/grafana/rollout.json). On a
# fresh database with data made through the extension's functions
# (test/grafana/data.sql), every panel's SQL runs as Grafana would send it
# (variables and macros expanded) as a login role in rollout_reader, and must
# return rows. Uses PGHOST/PGPORT/PGUSER from scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
db=rollout_grafana
role=rollout_grafana_test
export PGOPTIONS='-c client_min_messages=warning'
cleanup() {
	psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
}
trap cleanup EXIT
cleanup
psql -qd postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" -c "CREATE ROLE $role LOGIN" >/dev/null ||
	{ echo "0 passed, 1 failed"; exit 1; }
# (rollout_reader exists once the extension has been created in the cluster)
psql -qd "$db" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION rollout' -c "GRANT rollout_reader TO $role" >/dev/null &&
	psql -qd "$db" -f test/grafana/data.sql >/dev/null || { echo "not ok - test data"; echo "0 passed, 1 failed"; exit 1; }
node test/grafana/panels.test.js "$db" "$role"
