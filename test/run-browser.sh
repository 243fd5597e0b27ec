#!/usr/bin/env bash
# test/run-browser.sh: the admin web UI end to end in headless Chromium
# (test/browser/ui.test.js): a database of its own in the test cluster
# (PGHOST/PGPORT/PGUSER from scripts/test.sh), rollout-http on a free loopback
# port serving web/dist, real clients seeded through the client API by the
# test itself. Screenshots of every page go to test/screenshots/.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
. scripts/lib.sh

makelog=
fail() {
	[ -n "$makelog" ] && rm -f "$makelog"
makelog=
	echo "not ok - $*"
	echo "0 passed, 1 failed"
	exit 1
}

if [ ! -f web/package.json ]; then
	# the UI is not part of the tree yet: nothing to test
	echo "# web/package.json does not exist: no UI to test"
	echo "0 passed, 0 failed"
	exit 0
fi
makelog=$(mktemp /tmp/rollout-browser-make.XXXXXX)
# make builds web/dist when it is older than its sources (and the extension)
make -s >"$makelog" 2>&1 ||
	{ tail -n 40 "$makelog"; fail "make (with the UI build) failed"; }
[ -f web/dist/index.html ] || fail "make did not build web/dist/index.html"
make -s shim >"$makelog" 2>&1 ||
	{ tail -n 40 "$makelog"; fail "rollout-http did not build"; }
rm -f "$makelog"
makelog=
command -v /usr/bin/chromium >/dev/null || fail "/usr/bin/chromium is missing (scripts/deps.sh installs it)"
if [ ! -d test/node_modules/playwright-core ] || [ ! -d test/node_modules/axe-core ]; then
	(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in test/ failed"
fi

db=rollout_browser
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" ||
	fail "could not create database $db"
psql -qd "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || fail "could not set up database"
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', 'admin-password-1', 'admin');
SELECT rollout.create_admin('viewer', 'viewer-password-1', 'viewer');
SELECT rollout.create_admin('maint', 'maint-password-1', 'maintainer', 'default');
SQL

work=$(mktemp -d /tmp/rollout-browser.XXXXXX)
port=$(free_port 18280)
server_pid=
node_pid=
cleanup() {
	[ -n "$node_pid" ] && kill -- -"$node_pid" 2>/dev/null
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/uploads"
# a copy of the build, so that a `make` running meanwhile cannot change it under the suite
cp -r web/dist "$work/dist" || fail "could not copy web/dist"
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" ROLLOUT_LISTEN="127.0.0.1:$port" \
	ROLLOUT_WEB_ROOT="$work/dist" ROLLOUT_UPLOAD_DIR="$work/uploads" ROLLOUT_RATE_LIMIT=100000 \
	shim/rollout-http >"$work/server.log" 2>&1 &
server_pid=$!
up=
for _ in $(seq 1 100); do
	if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$up" ] || { tail -n 30 "$work/server.log"; fail "rollout-http did not start"; }

rm -rf test/screenshots
mkdir -p test/screenshots
# in a process group of its own, so that Chromium goes with it even if node dies
ROLLOUT_URL="http://127.0.0.1:$port" ROLLOUT_DB="$db" ROLLOUT_SERVER_LOG="$work/server.log" \
	ROLLOUT_SERVER_PID="$server_pid" ROLLOUT_SCREENSHOTS="$top/test/screenshots" setsid node test/browser/ui.test.js &
node_pid=$!
wait "$node_pid"
rc=$?
node_pid=
exit "$rc"
