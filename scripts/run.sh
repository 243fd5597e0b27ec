#!/usr/bin/env bash
# scripts/run.sh: `make run`. Installs what is missing, builds and installs the
# extension and rollout-http, starts (or reuses) a PostgreSQL cluster in
# ./.data on 127.0.0.1:$ROLLOUT_PGPORT (default 54329), creates the database
# "rollout" with the extension, a login role for the HTTP server and a first
# admin account (its password is printed once and kept in .data/), starts
# rollout-http on $ROLLOUT_LISTEN (default 127.0.0.1:8080), and stays in the
# foreground until Ctrl-C, which stops both. `scripts/run.sh --stop` stops a
# cluster left running. With DATABASE_URL set, it installs the extension into
# that database and serves it instead of starting a cluster.
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
	# the running `make run` stops rollout-http and PostgreSQL itself
	if [ -e .data/run.pid ] && kill -TERM "$(cat .data/run.pid)" 2>/dev/null; then
		for _ in $(seq 1 100); do
			kill -0 "$(cat .data/run.pid 2>/dev/null)" 2>/dev/null || break
			sleep 0.1
		done
	fi
	[ -e .data ] && pg_stop "$(readlink -f .data)/pg"
	rm -f .data/run.pid
	exit 0
fi

echo "==> building and installing the extension, the web UI and rollout-http"
# `make` also builds the admin web UI into web/dist (npm ci first when needed)
make -s >/dev/null
as_root make -s install >/dev/null
make -s shim >/dev/null
listen=${ROLLOUT_LISTEN:-127.0.0.1:8080}

if [ -n "${DATABASE_URL:-}" ]; then
	psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "SET client_min_messages = warning" \
		-c "CREATE EXTENSION IF NOT EXISTS rollout" -c "ALTER EXTENSION rollout UPDATE"
	echo
	echo "rollout is installed in $DATABASE_URL; starting rollout-http on http://$listen (Ctrl-C stops it)"
	exec env ROLLOUT_LISTEN="$listen" shim/rollout-http
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
	ROLLOUT_DATABASE=$dbname pg_start "$data/pg" "$port" "$secret"
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

# the HTTP server's own login role: it switches to the caller's role per request
http_secret="$data/http-password"
if [ ! -f "$http_secret" ]; then
	umask 077
	head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > "$http_secret"
	umask 022
fi
http_password=$(cat "$http_secret")
PGOPTIONS='-c client_min_messages=warning' psql "$admin/$dbname" -v ON_ERROR_STOP=1 -q -v pw="$http_password" >/dev/null <<'SQL'
SELECT format('CREATE ROLE rollout_http LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rollout_http') \gexec
SELECT format('ALTER ROLE rollout_http PASSWORD %L', :'pw') \gexec
GRANT rollout_admin, rollout_maintainer, rollout_reader, rollout_client TO rollout_http;
-- so that rollout-http can keep passwords and tokens out of the server log (statement parameters)
GRANT SET ON PARAMETER log_parameter_max_length TO rollout_http;
SQL

# the first admin account, once
admin_note="(its password was shown when it was created and is kept in $data/admin-password)"
if [ "$(psql "$admin/$dbname" -Atqc "SELECT count(*) FROM rollout.admins")" = 0 ]; then
	umask 077
	head -c 12 /dev/urandom | base64 | tr '+/' 'xy' > "$data/admin-password"
	umask 022
	psql "$admin/$dbname" -v ON_ERROR_STOP=1 -q -v pw="$(cat "$data/admin-password")" >/dev/null \
		<<< "SELECT rollout.create_admin('admin', :'pw', 'admin')"
	admin_note="password: $(cat "$data/admin-password")   (shown once; also kept in $data/admin-password)"
fi

echo "==> starting rollout-http on http://$listen"
DATABASE_URL="postgresql://rollout_http:$http_password@127.0.0.1:$port/$dbname" ROLLOUT_LISTEN="$listen" \
	ROLLOUT_UPLOAD_DIR="${ROLLOUT_UPLOAD_DIR:-$data/uploads}" \
	shim/rollout-http >"$data/http.log" 2>&1 &
http_pid=$!
for _ in $(seq 1 50); do
	curl -fs "http://$listen/healthz" >/dev/null 2>&1 && break
	kill -0 "$http_pid" 2>/dev/null || { cat "$data/http.log" >&2; pg_stop "$data/pg"; exit 1; }
	sleep 0.1
done

cat <<EOF

rollout $version is running.

  Admin UI    http://$listen/   (中文 / English)
  HTTP API    http://$listen/api/v1/ and /admin/api/v1/   (access log: $data/http.log)
  Admin       user: admin   $admin_note
  PostgreSQL  127.0.0.1:$port, database "$dbname" (data in $data/pg)
  Connect:    psql "$url"

Press Ctrl-C to stop (or run 'make stop' from another terminal).
EOF

stop() {
	echo
	echo "==> stopping rollout-http and PostgreSQL"
	kill -TERM "$http_pid" 2>/dev/null && wait "$http_pid" 2>/dev/null
	pg_stop "$data/pg"
	rm -f "$data/run.pid"
	exit 0
}
echo $$ > "$data/run.pid"
trap stop INT TERM
while true; do
	sleep 3600 &
	wait $! || true
done
