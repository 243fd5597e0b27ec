#!/usr/bin/env bash
# test/soak/soak.sh: the soak and fault test (soak.js) for SOAK_SECONDS
# (default 600; `make soak`; test/run-soak.sh runs a short one in make test).
# Starts its own PostgreSQL cluster (restarted by the test), on a free port,
# and the ASan/UBSan build of rollout-http; the upload directory is a 4 MB
# tmpfs (a loop-mounted 4 MB ext4 file if tmpfs cannot be mounted; without
# root, neither: then a directory, and the disk-full case is reported as not
# run). Removes all it made, even when the test fails.
#   SOAK_CLIENTS   simulated clients (default 12)
#   SOAK_REPORT    file for the figures as JSON (default test/out-soak.json)
#   SOAK_BIN       the server (default shim/rollout-http-asan; shim/rollout-http
#                  for the RSS bound, which is a TODO on the ASan build unless
#                  SOAK_STRICT=1: its allocator caches per thread)
#   SOAK_SMAPS     PATH: keep /proc/PID/smaps of the last server after warm-up
#                  (PATH.warm) and at the end (PATH.end)
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
. scripts/lib.sh
export SOAK_SECONDS=${SOAK_SECONDS:-600}
export SOAK_REPORT=${SOAK_REPORT:-$top/test/out-soak.json}

make -s shim/rollout-http-asan >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -d test/node_modules/semver ]; then
	(cd test && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

work=$(mktemp -d /tmp/rollout-soak.XXXXXX)
chmod 755 "$work"
uploads=$work/uploads
mkdir -p "$uploads"
mounted=
cleanup() {
	pg_stop "$work/data"
	[ -n "$mounted" ] && umount "$uploads" 2>/dev/null
	[ -n "${loopdev:-}" ] && losetup -d "$loopdev" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4m,mode=0755 tmpfs "$uploads" 2>/dev/null; then
	mounted=tmpfs
elif [ "$(id -u)" = 0 ] && dd if=/dev/zero of="$work/disk.img" bs=1M count=4 status=none &&
	mkfs.ext4 -q "$work/disk.img" && loopdev=$(losetup --find --show "$work/disk.img" 2>/dev/null) &&
	mount "$loopdev" "$uploads" 2>/dev/null; then
	mounted=loop
else
	echo "# the upload directory is not a small disk of its own (no root, or mounting refused): the disk-full case cannot fill it"
fi
[ -n "$mounted" ] && export SOAK_SMALL_DISK=1
echo "# upload directory: ${mounted:-a plain directory} ($(df -h --output=size "$uploads" | tail -n 1 | tr -d ' '))"

export PGPORT=$(free_port 56432) PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=postgres
ROLLOUT_DATABASE=postgres pg_start "$work/data" "$PGPORT" || { echo "0 passed, 1 failed"; exit 1; }
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', 'soak-password-1', 'admin');
SQL
# the background recorder connects within a few seconds once the extension exists
for _ in $(seq 1 100); do
	[ "$(psql -XAtc "SELECT rollout.check_queue() ->> 'enabled'")" = true ] && break
	sleep 0.2
done

ctl="$PG_BINDIR/pg_ctl -D $work/data -w -t 60"
[ "$(id -u)" = 0 ] && ctl="runuser -u $SERVER_USER -- $ctl"
export SOAK_PG_CTL="$ctl -o '-p $PGPORT' -l $work/data/server.log"
export SOAK_BIN=${SOAK_BIN:-$top/shim/rollout-http-asan} SOAK_PORT=$(free_port 18480) SOAK_UPLOAD_DIR=$uploads
export SOAK_DB_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
# ASan keeps freed memory in quarantine, 256 MB by default plus 1 MB per
# thread (rollout-http has 512): capped so that it fills early, else it
# would look like growth (docs/reliability.md); SOAK_ASAN_OPTIONS replaces
export ASAN_OPTIONS=${SOAK_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:quarantine_size_mb=16:thread_local_quarantine_size_kb=64}
export UBSAN_OPTIONS=print_stacktrace=1
# in a process group of its own, so that whatever it started goes with it
setsid node test/soak/soak.js &
node_pid=$!
trap 'kill -- -$node_pid 2>/dev/null; cleanup' EXIT
wait $node_pid
