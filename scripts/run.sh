#!/usr/bin/env bash
# scripts/run.sh: `make run`. Installs what is missing, builds and installs the
# extension, starts (or reuses) a PostgreSQL cluster in ./.data on
# 127.0.0.1:$ROLLOUT_PGPORT (default 54329), creates the database "rollout"
# with the extension, prints how to connect, and stays in the foreground until
# Ctrl-C, which stops the cluster. `scripts/run.sh --stop` stops a cluster
# left running. With DATABASE_URL set, it installs the extension into that
# database instead and starts no cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
port=${ROLLOUT_PGPORT:-54329}
dbname=rollout

if [ "${1:-}" != "--stop" ]; then
	scripts/deps.sh
fi
. scripts/lib.sh

# The cluster lives in ./.data. When the server user cannot reach this
# directory (a checkout under /root, say), the data goes to
# /var/lib/rollout/<path hash> and ./.data links to it.
data_dir() {
	if [ -L .data ] || [ -d .data ]; then
		readlink -f .data
		return
	fi
	if [ "$(id -u)" = 0 ] && ! runuser -u "$SERVER_USER" -- test -x "$top"; then
		local d="/var/lib/rollout/$(echo "$top" | sha256sum | cut -c1-12)"
		mkdir -p /var/lib/rollout
		server_dir "$d"
		ln -s "$d" .data
		echo "$d"
	else
		server_dir .data
		readlink -f .data
	fi
}

if [ "${1:-}" = "--stop" ]; then
	[ -e .data ] && pg_stop "$(readlink -f .data)/pg"
	exit 0
fi

echo "==> building and installing the extension"
make -s >/dev/null
as_root make -s install >/dev/null

if [ -n "${DATABASE_URL:-}" ]; then
	psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "CREATE EXTENSION IF NOT EXISTS rollout" \
		-c "ALTER EXTENSION rollout UPDATE"
	echo
	echo "rollout is installed in $DATABASE_URL"
	echo "Connect with:  psql \"\$DATABASE_URL\"   then   SET search_path = rollout, public;"
	exit 0
fi

data=$(data_dir)
secret="$data/credentials"
if [ ! -f "$data/pg/PG_VERSION" ]; then
	echo "==> creating a PostgreSQL cluster in $data/pg"
	umask 077
	head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > "$secret"
	umask 022
	[ "$(id -u)" = 0 ] && chown "$SERVER_USER" "$secret"
fi
password=$(cat "$secret")
url="postgresql://postgres:$password@127.0.0.1:$port/$dbname"

if [ -f "$data/pg/postmaster.pid" ] && as_server "$PG_BINDIR/pg_ctl" -D "$data/pg" status >/dev/null 2>&1; then
	echo "==> reusing the running cluster in $data/pg"
else
	echo "==> starting PostgreSQL on 127.0.0.1:$port"
	pg_start "$data/pg" "$port" "$secret"
fi

export PGPASSWORD=$password
admin="postgresql://postgres@127.0.0.1:$port"
if ! psql "$admin/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$dbname'" | grep -q 1; then
	psql "$admin/postgres" -qc "CREATE DATABASE $dbname"
fi
psql "$admin/$dbname" -v ON_ERROR_STOP=1 -qc "SET client_min_messages = warning" \
	-c "CREATE EXTENSION IF NOT EXISTS rollout" \
	-c "ALTER EXTENSION rollout UPDATE" \
	-c "ALTER DATABASE $dbname SET search_path = \"\$user\", public, rollout" \
	-c "SELECT rollout.maintain()" >/dev/null
version=$(psql "$admin/$dbname" -Atqc "SELECT extversion FROM pg_extension WHERE extname = 'rollout'")

cat <<EOF

rollout $version is running.

  PostgreSQL  127.0.0.1:$port, database "$dbname" (data in $data/pg)
  Connect:    psql "$url"
  Try:        SELECT '1.2.3-rc.1'::semver < '1.2.3'::semver;

Press Ctrl-C to stop (or run 'make stop' from another terminal).
EOF

stop() {
	echo
	echo "==> stopping PostgreSQL"
	pg_stop "$data/pg"
	exit 0
}
trap stop INT TERM
while true; do
	sleep 3600 &
	wait $! || true
done
