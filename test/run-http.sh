#!/usr/bin/env bash
# test/run-http.sh: rollout-http end to end (test/http/http.test.js) on a
# fresh database of the test cluster (PGHOST/PGPORT/PGUSER from scripts/test.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# the suite runs the server built with AddressSanitizer (leak checks at exit) and UBSan
make -s shim/rollout-http-asan >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
db=rollout_http
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || { echo "0 passed, 1 failed"; exit 1; }
psql -qd "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', 'admin-password-1', 'admin');
SELECT rollout.create_admin('maint', 'maint-password-1', 'maintainer', 'default');
SELECT rollout.create_admin('viewer', 'viewer-password-1', 'viewer');
SQL
# the background recorder connects within a few seconds once its database exists
for _ in $(seq 1 100); do
	[ "$(psql -d "$db" -Atc "SELECT rollout.check_queue() ->> 'enabled'")" = true ] && break
	sleep 0.2
done
if [ ! -d test/node_modules/ws ]; then
	(cd test && npm install --no-audit --no-fund --loglevel=error >/dev/null) || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }
fi
port=$(free_port 18180)
# the suite restarts the test cluster once, to check reconnecting
if [ -n "${ROLLOUT_TEST_PGDATA:-}" ]; then
	ctl="$PG_BINDIR/pg_ctl -D $ROLLOUT_TEST_PGDATA -w -t 60"
	[ "$(id -u)" = 0 ] && ctl="runuser -u $SERVER_USER -- $ctl"
	export PG_STOP_CMD="$ctl -m fast stop"
	export PG_START_CMD="$ctl -o '-p $PGPORT' -l $ROLLOUT_TEST_PGDATA/server.log start"
fi
# in a process group of its own, so that whatever the suite started goes with it even if node
# itself is killed
setsid node test/http/http.test.js shim/rollout-http-asan "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" "$port" &
node_pid=$!
trap 'kill -- -$node_pid 2>/dev/null' EXIT
wait $node_pid
