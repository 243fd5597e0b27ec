# scripts/lib.sh: helpers shared by run.sh, test.sh and the benchmarks.
# Source it; it defines functions and a few variables, and changes nothing.

PG_BINDIR=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
PG_PKGLIBDIR=$(pg_config --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
PG_REGRESS="$PG_PKGLIBDIR/pgxs/src/test/regress/pg_regress"

# The user that owns server-side processes: initdb and postgres refuse root.
if [ "$(id -u)" = 0 ]; then
	SERVER_USER=${ROLLOUT_SERVER_USER:-postgres}
else
	SERVER_USER=$(id -un)
fi

# Run a command as the server user.
as_server() {
	if [ "$(id -un)" = "$SERVER_USER" ]; then
		"$@"
	else
		runuser -u "$SERVER_USER" -- "$@"
	fi
}

# Run a command as root (directly, or through sudo).
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Print a TCP port on 127.0.0.1 that nothing listens on, starting near $1.
# A port some connection uses as its local (ephemeral) port cannot be
# listened on either: those are skipped too (ss, when it is there).
free_port() {
	local p=${1:-55432}
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
		{ command -v ss >/dev/null && [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; }; do
		p=$((p + 1))
	done
	echo "$p"
}

# Make a directory the server user can write, even when we are root.
server_dir() {
	mkdir -p "$1"
	if [ "$(id -u)" = 0 ]; then chown "$SERVER_USER" "$1"; fi
}

# pg_start DATADIR PORT [PWFILE]: initdb if needed, start on 127.0.0.1:PORT
# (no Unix socket), wait until it accepts connections. With PWFILE the
# superuser "postgres" gets that password and connections need it (SCRAM);
# without, the throwaway test cluster trusts loopback connections. rollout is
# preloaded, so its background worker records the checks of the database
# ROLLOUT_DATABASE (default postgres); the extension must be installed first.
pg_start() {
	local data=$1 port=$2 pwfile=${3:-}
	local auth=(--auth=trust)
	[ -n "$pwfile" ] && auth=(--auth=scram-sha-256 "--pwfile=$pwfile")
	server_dir "$data"
	if [ ! -f "$data/PG_VERSION" ]; then
		as_server "$PG_BINDIR/initdb" -D "$data" -U postgres "${auth[@]}" \
			--encoding=UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 ||
			{ cat "$data.initdb.log" >&2; return 1; }
		rm -f "$data.initdb.log"
		cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = on
max_connections = 100
shared_buffers = 256MB
work_mem = 64MB
shared_preload_libraries = 'rollout'
rollout.database = '${ROLLOUT_DATABASE:-postgres}'
CONF
	fi
	as_server "$PG_BINDIR/pg_ctl" -D "$data" -o "-p $port" -l "$data/server.log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$data/server.log" >&2; return 1; }
}

# pg_stop DATADIR: fast shutdown if running.
pg_stop() {
	local data=$1
	if [ -f "$data/postmaster.pid" ]; then
		as_server "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
}

# bench_cluster PORT_HINT SHARED_BUFFERS: for a benchmark, install what it needs,
# build and install, start a throwaway cluster (removed on exit) and export
# PGHOST/PGPORT/PGUSER/PGDATABASE for it.
bench_cluster() {
	scripts/deps.sh --bench
	make -s >/dev/null
	as_root make -s install >/dev/null
	BENCH_WORK=$(mktemp -d /tmp/rollout-bench.XXXXXX)
	chmod 755 "$BENCH_WORK"
	trap 'pg_stop "$BENCH_WORK/data"; rm -rf "$BENCH_WORK"' EXIT
	local port
	port=$(free_port "$1")
	pg_start "$BENCH_WORK/data" "$port"
	printf 'shared_buffers = %s\nmax_wal_size = 8GB\ncheckpoint_timeout = 30min\n' "$2" >>"$BENCH_WORK/data/postgresql.conf"
	pg_stop "$BENCH_WORK/data"
	# (once seen: the restart found the port still bound for a moment)
	pg_start "$BENCH_WORK/data" "$port" 2>/dev/null || { sleep 3; pg_start "$BENCH_WORK/data" "$port"; }
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	mkdir -p bench/out
}

# bench_decision_data OUT: load the decision benchmark's data (10 projects x
# 200 versions, 5 rules each, 1,000,000 clients) into the benchmark cluster,
# saying so on stdout and in OUT. bench/decision and bench/http share it.
bench_decision_data() {
	echo "==> setup: 10 projects x 200 versions, 5 rules each, 1,000,000 clients" | tee -a "$1"
	psql -q -f bench/decision/setup.sql >/dev/null
}

# TAP-style checks for the shell suites: check NAME STATUS [DETAIL] prints
# "ok - NAME" when STATUS is 0, else "not ok - NAME" and the first 30 lines
# of DETAIL; check_pass and check_fail count them.
check_pass=0
check_fail=0
check() {
	if [ "$2" = 0 ]; then
		echo "ok - $1"
		check_pass=$((check_pass + 1))
	else
		echo "not ok - $1"
		[ -n "${3:-}" ] && sed 's/^/#   /' <<<"$3" | head -n 30
		check_fail=$((check_fail + 1))
	fi
}
