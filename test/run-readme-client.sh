#!/usr/bin/env bash
# test/run-readme-client.sh: the README's "Integrating a client" works when
# pasted. After the ```sh blocks of "Getting started over HTTP" (which publish
# the release it builds on), its ```sh and ```python blocks run verbatim, in
# order, in one directory laid out as `make run` leaves it (.data/, and the
# built client/rollout-client), against rollout-http on a fresh database; only
# the address 127.0.0.1:8080 is replaced by the test server's. In each block,
# a line "# text" at the start of a line is output the block must print, as a
# whole line, in that order. The ```go block is compiled only where a Go
# toolchain exists. Uses PGHOST/PGPORT/PGUSER.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
make -s shim client/rollout-client >/dev/null ||
	{ echo "not ok - rollout-http or rollout-client did not build"; echo "0 passed, 1 failed"; exit 1; }
top=$PWD
db=rollout_readme_client
work=$(mktemp -d /tmp/rollout-readme-client.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT


password="readme-$RANDOM$RANDOM"
mkdir -p "$work/.data"
printf '%s\n' "$password" >"$work/.data/admin-password"
ln -s "$top/client" "$work/client"
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null &&
	psql -qd "$db" -v ON_ERROR_STOP=1 -v pw="$password" >/dev/null <<'SQL' || { echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', :'pw', 'admin');
SQL

port=$(free_port 18580)
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" ROLLOUT_LISTEN="127.0.0.1:$port" \
	ROLLOUT_UPLOAD_DIR="$work/uploads" ROLLOUT_I18N_DIR="$top/i18n" ROLLOUT_WEB_ROOT="$top/web" \
	shim/rollout-http >"$work/http.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# the release the section builds on
awk -v port="$port" '
	/^## / { inside = ($0 == "## Getting started over HTTP") }
	inside && /^```sh$/ { block = 1; next }
	block && /^```/ { block = 0; next }
	block { gsub(/127\.0\.0\.1:8080/, "127.0.0.1:" port); print }
' README.md >"$work/getting-started.sh"
(cd "$work" && bash "$work/getting-started.sh" >"$work/getting-started.out" 2>&1)

# the section's blocks, one file each: N.sh, N.python, N.go
awk -v port="$port" -v dir="$work" '
	/^## / { inside = ($0 == "## Integrating a client") }
	inside && /^```(sh|python|go)$/ { n++; f = sprintf("%s/block%02d.%s", dir, n, substr($0, 4)); block = 1; printf "" > f; next }
	block && /^```/ { block = 0; close(f); next }
	block { gsub(/127\.0\.0\.1:8080/, "127.0.0.1:" port); print >> f }
' README.md
blocks=$(ls "$work"/block* 2>/dev/null | wc -l)
check "the section has its sh, python and go blocks" \
	"$([ "$(ls "$work"/block*.sh | wc -l)" = 2 ] && [ "$(ls "$work"/block*.python | wc -l)" = 2 ] && [ "$(ls "$work"/block*.go | wc -l)" = 1 ]; echo $?)" \
	"$(ls "$work")"

python_ok=0
python3 -c 'import cryptography' 2>/dev/null && python_ok=1
for f in "$work"/block*; do
	name=$(basename "$f")
	case "$f" in
	*.sh) out=$(cd "$work" && bash "$f" 2>&1) ;;
	*.python)
		if [ $python_ok = 0 ] && grep -q '^from cryptography' "$f"; then
			echo "# $name skipped: python3 has no cryptography package"
			continue
		fi
		out=$(cd "$work" && python3 "$f" 2>&1) ;;
	*.go)
		if ! command -v go >/dev/null; then
			echo "# $name (Go) not compiled: no Go toolchain"
			continue
		fi
		mkdir -p "$work/gocheck"
		{ echo "package main"; cat "$f"; echo 'func main() { _ = LoadKey; _ = KeyID; _ = VerifyAnswer }'; } >"$work/gocheck/main.go"
		out=$(cd "$work/gocheck" && go mod init gocheck >/dev/null 2>&1; go vet . 2>&1 && go build -o /dev/null . 2>&1)
		check "$name: the Go code compiles" $? "$out"
		continue ;;
	esac
	# every "# line" of the block, in order, among the output's lines
	expected=$(grep '^# ' "$f" | sed 's/^# //')
	missing=$(awk 'NR == FNR { want[++n] = $0; next } i < n && $0 == want[i + 1] { i++ } END { for (j = i + 1; j <= n; j++) print want[j] }' \
		<(printf '%s\n' "$expected") <(printf '%s\n' "$out"))
	check "$name prints what the README shows ($(grep -c '^# ' "$f") lines)" \
		"$([ -n "$expected" ] && [ -z "$missing" ]; echo $?)" "missing: $missing
output:
$out"
done

echo "$check_pass passed, $check_fail failed"
[ "$check_fail" -eq 0 ]
