#!/usr/bin/env bash
# test/run-tap.sh: the TAP tests in test/t (PostgreSQL::Test::Cluster, which
# ships with postgresql-server-dev-15 and needs libipc-run-perl). They start
# their own clusters, so they run as the unprivileged server user when we
# are root, from a copy in a directory that user owns.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
perl_lib="$PG_PKGLIBDIR/pgxs/src/test/perl"
work=$(mktemp -d /tmp/rollout-tap.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r test/t "$work/t"
cp -r i18n "$work/i18n"	# the catalogs, for tests that compare messages with them
# 012_standby runs rollout-http (a copy the server user can run)
make -s shim/rollout-http >/dev/null && cp shim/rollout-http "$work/rollout-http"
chmod -R a+rX "$work"
[ "$(id -u)" = 0 ] && chown -R "$SERVER_USER" "$work"
as_server env PATH="$PG_BINDIR:$PATH" TESTDIR="$work" PG_REGRESS="$PG_REGRESS" \
	ROLLOUT_HTTP="$work/rollout-http" ROLLOUT_I18N_DIR="$work/i18n" \
	bash -c "cd '$work' && prove -I '$perl_lib' ${ROLLOUT_TAP_ONLY:-t/*.pl}" >"$work/prove.log" 2>&1
rc=$?
cat "$work/prove.log"
tests=$(sed -n 's/.*Tests=\([0-9]*\),.*/\1/p' "$work/prove.log" | tail -n 1)
failed=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$work/prove.log" | awk '{split($2, a, "/"); s += a[1]} END {print s + 0}')
if [ -z "$tests" ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
[ $rc -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$((tests - failed)) passed, $failed failed"
[ $rc -eq 0 ]
