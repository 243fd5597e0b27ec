#!/usr/bin/env bash
# test/run-readme-http.sh: the README's "Getting started over HTTP" works when
# pasted. Its ```sh blocks run verbatim, in order, in one bash session, in a
# directory laid out as `make run` leaves it (.data/admin-password), against
# rollout-http on a fresh database; only the address 127.0.0.1:8080 is
# replaced by the test server's. Uses PGHOST/PGPORT/PGUSER.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
make -s shim >/dev/null || { echo "not ok - rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }
top=$PWD
db=rollout_readme_http
work=$(mktemp -d /tmp/rollout-readme-http.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT


password="readme-$RANDOM$RANDOM"
mkdir -p "$work/.data"
printf '%s\n' "$password" >"$work/.data/admin-password"
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null &&
	psql -qd "$db" -v ON_ERROR_STOP=1 -v pw="$password" >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', :'pw', 'admin');
SQL

port=$(free_port 18380)
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" ROLLOUT_LISTEN="127.0.0.1:$port" \
	ROLLOUT_UPLOAD_DIR="$work/uploads" ROLLOUT_I18N_DIR="$top/i18n" ROLLOUT_WEB_ROOT="$top/web" \
	shim/rollout-http >"$work/http.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# the section's ```sh blocks, each announced by a marker line in the output
awk -v port="$port" '
	/^## / { inside = ($0 == "## Getting started over HTTP" || $0 == "## Signed answers") }
	inside && /^```sh$/ { n++; print "echo; echo @@" n; block = 1; next }
	block && /^```/ { block = 0; next }
	block { gsub(/127\.0\.0\.1:8080/, "127.0.0.1:" port); print }
' README.md >"$work/readme.sh"
blocks=$(grep -c '^echo; echo @@' "$work/readme.sh")
check "the sections have their four sh blocks (three, and one of Signed answers)" "$([ "$blocks" = 4 ]; echo $?)" "$blocks blocks"
out=$(cd "$work" && bash "$work/readme.sh" 2>&1)
block() { awk -v n="$1" '/^@@[0-9]+$/ { b = substr($0, 3) + 0; next } b == n' <<<"$out"; }

first=$(block 1)
answer=$(tail -n 1 <<<"$first")
check "log in, create and publish a version as shown" \
	"$(grep -q '"status": *"published"' <<<"$first"; echo $?)" "$first"
check "check-update then offers it, as the README says" \
	"$(grep -q '"has_update": true' <<<"$answer" && grep -q '"latest_version": "v1.0.0"' <<<"$answer" &&
		grep -q '"download_url": "https://downloads.example.com/app-1.0.0.tgz"' <<<"$answer"; echo $?)" "$answer"
second=$(block 2)
# (curl prints the upload's answer without a newline: "identical" ends its line)
check "an uploaded file downloads byte-identical" "$([[ "$(tail -n 1 <<<"$second")" == *'}}identical' ]]; echo $?)" "$second"
# the error example: the command's output is the comment under it
expected=$(awk '/^## /{ inside = ($0 == "## Getting started over HTTP") } inside' README.md |
	awk '/^```sh$/ { n++ } n == 3 && /^# \{/ { sub(/^# /, ""); print }')
check "the error example prints what the README shows" "$([ -n "$expected" ] && [ "$(block 3)" = "$expected" ]; echo $?)" \
	"expected: $expected
got:      $(block 3)"

# Signed answers: the openssl command line verifies the answer, as the comment under it says
check "openssl verifies a signed answer, as the README shows" \
	"$([ "$(tail -n 1 <<<"$(block 4)")" = "Signature Verified Successfully" ]; echo $?)" "$(block 4)"

echo "$check_pass passed, $check_fail failed"
[ "$check_fail" -eq 0 ]
