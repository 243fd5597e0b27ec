#!/usr/bin/env bash
# test/run-security.sh: security tests (test/security/security.test.js)
# against rollout-http and a fresh database of the test cluster
# (PGHOST/PGPORT/PGUSER from scripts/test.sh): the auth matrix of every
# route of the route table and every kind of caller, the login throttle,
# secrets kept out of the access log and the PostgreSQL log (log_statement =
# all for this database), text stored verbatim, upload names refused,
# response headers, and the no-downgrade property of the decision.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
make -s shim/rollout-http-asan >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
db=rollout_security
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || { echo "0 passed, 1 failed"; exit 1; }
psql -qd "$db" -v ON_ERROR_STOP=1 >/dev/null <<SQL || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
-- a short lockout window, so that the owner's return is seen within seconds
ALTER DATABASE $db SET rollout.login_window = '10s';
ALTER DATABASE $db SET rollout.login_max_failures = 3;
ALTER DATABASE $db SET rollout.login_address_max_failures = 6;
-- every statement in the server log: the test looks for secrets there
ALTER DATABASE $db SET log_statement = 'all';
SQL
psql -qd "$db" -v ON_ERROR_STOP=1 -f test/security/downgrade_property.sql >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
if [ ! -d test/node_modules/semver ]; then
	(cd test && npm install --no-audit --no-fund --loglevel=error >/dev/null) || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }
fi
port=$(free_port 18380)
# the server log of the test cluster (scripts/test.sh), where log_statement writes
[ -n "${ROLLOUT_TEST_PGDATA:-}" ] && export ROLLOUT_TEST_PG_LOG="$ROLLOUT_TEST_PGDATA/server.log"
setsid node test/security/security.test.js shim/rollout-http-asan "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" "$port" &
node_pid=$!
trap 'kill -- -$node_pid 2>/dev/null' EXIT
wait $node_pid
