#!/usr/bin/env bash
# test/run-client.sh: rollout-client end to end. Unit tests of its parsers
# (client/unit-tests, under ASan/UBSan), then the client against a real
# rollout-http on a fresh database, through test/client/proxy.py, a man in
# the middle that records answers and can replay them, cut a download, or
# change one byte: a normal update, a download interrupted and resumed with
# Range, a tampered answer, a tampered file, a replayed older answer, an
# expired answer, a key rotation and retirement. Each refusal has its exit
# code and its message, and leaves nothing installed (the hook does not run,
# no file at the destination). Uses PGHOST/PGPORT/PGUSER.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
top=$PWD
# the client under AddressSanitizer and UBSan: a memory error fails the run
# (exit 99, distinct from every documented code); leaks at exit are not errors
client="$top/client/rollout-client-asan"
export ASAN_OPTIONS=detect_leaks=0:exitcode=99 UBSAN_OPTIONS=halt_on_error=1:exitcode=99
db=rollout_client_e2e
work=$(mktemp -d /tmp/rollout-client.XXXXXX)
pid=
proxy_pid=
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ok() { [ "$1" = "$2" ] && echo 0 || echo 1; }

make -s client/rollout-client-asan client/unit-tests shim >/dev/null ||
	{ echo "not ok - rollout-client, its unit tests or rollout-http did not build"; echo "0 passed, 1 failed"; exit 1; }

# 1. unit tests
mkdir -p "$work/unit"
unit=$(client/unit-tests "$work/unit" 2>&1)
echo "$unit" | grep -v -e '^ok ' -e ' passed, '
line=$(tail -n 1 <<<"$unit")
check "unit tests: $line" "$([[ "$line" =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; echo $?)" "$unit"

# 2. the command line alone
"$client" --help >"$work/help" 2>&1
check "--help is English and lists the commands, settings and exit codes" \
	"$(grep -q 'check ' "$work/help" && grep -q 'ROLLOUT_PUBLIC_KEY' "$work/help" && grep -q 'refused: signature' "$work/help" &&
		! grep -qP '[^\x00-\x7f]' "$work/help"; echo $?)" "$(cat "$work/help")"
out=$(LANG=zh_CN.UTF-8 "$client" check 2>&1); rc=$?
check "usage error (no url): exit 2, in Chinese under LANG=zh_CN.UTF-8" "$([ $rc = 2 ] && grep -q '未设置 url' <<<"$out"; echo $?)" "$rc $out"
out=$(LANG=C "$client" frobnicate 2>&1); rc=$?
check "an unknown command: exit 2, in English" "$([ $rc = 2 ] && grep -q 'check, update or keys' <<<"$out"; echo $?)" "$rc $out"
printf 'url = http://127.0.0.1:1\nthis is not a setting\n' >"$work/bad.conf"
out=$("$client" --config "$work/bad.conf" check 2>&1); rc=$?
check "a bad config line: exit 2, naming the line" "$([ $rc = 2 ] && grep -q 'line 2' <<<"$out"; echo $?)" "$rc $out"
out=$("$client" --json --url http://127.0.0.1:1 --public-key AAAA check 2>/dev/null); rc=$?
check "a bad pinned key: exit 2, --json gives status and exit code" \
	"$([ $rc = 2 ] && grep -q '"status":"usage_error"' <<<"$out" && grep -q '"exit_code":2' <<<"$out"; echo $?)" "$rc $out"

# 3. a server: a fresh database, rollout-http, and the proxy in front of it
password="client-$RANDOM$RANDOM"
PGOPTIONS='-c client_min_messages=warning' psql -qd postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null &&
	psql -qd "$db" -v ON_ERROR_STOP=1 -v pw="$password" >/dev/null <<'SQL' || { echo "$check_pass passed, $((check_fail + 1)) failed"; exit 1; }
CREATE EXTENSION rollout;
SELECT rollout.create_admin('admin', :'pw', 'admin');
SQL
port=$(free_port 18480)
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" ROLLOUT_LISTEN="127.0.0.1:$port" ROLLOUT_RATE_LIMIT=1000 \
	ROLLOUT_UPLOAD_DIR="$work/uploads" ROLLOUT_I18N_DIR="$top/i18n" ROLLOUT_WEB_ROOT="$top/web" \
	shim/rollout-http >"$work/http.log" 2>&1 &
pid=$!
server="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -fs "$server/healthz" >/dev/null && break; sleep 0.1; done
pport=$(free_port $((port + 1)))
mkdir -p "$work/answers"
echo '{}' >"$work/control.json"
python3 test/client/proxy.py "$pport" "$server" "$work/control.json" "$work/proxy.log" "$work/answers" 2>"$work/proxy.err" &
proxy_pid=$!
proxy="http://127.0.0.1:$pport"
for _ in $(seq 1 50); do curl -s "$proxy/healthz" >/dev/null && break; sleep 0.1; done

TOKEN=$(curl -s -X POST "$server/admin/api/v1/auth/login" -d "{\"username\": \"admin\", \"password\": \"$password\"}" |
	sed 's/.*"token": *"\([0-9a-f]*\)".*/\1/')
auth=(-H "Authorization: Bearer $TOKEN")
# release VERSION SIZE: create, upload a random file of SIZE bytes, publish; prints the file's path
release() {
	local id file="$work/app-$1.tgz"
	head -c "$2" /dev/urandom >"$file"
	id=$(curl -s -X POST "$server/admin/api/v1/versions" "${auth[@]}" \
		-d "{\"project\": \"default\", \"version\": \"$1\", \"title\": \"Release $1\"}" | sed 's/.*"data":{"id": *\([0-9]*\).*/\1/')
	curl -s -X POST "$server/admin/api/v1/versions/$id/artifacts?os=linux&arch=amd64&filename=app-$1.tgz" "${auth[@]}" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$file" >/dev/null
	curl -s -X POST "$server/admin/api/v1/versions/$id/publish" "${auth[@]}" >/dev/null
	echo "$file"
}
file1=$(release 1.1.0 300000)

# The server signs check-update: the answer carries X-Rollout-Signature.
curl -s -D "$work/h0" -o "$work/b0" -X POST "$server/api/v1/check-update" \
	-d '{"current_version": "1.0.0", "client_id": "probe", "os": "linux", "arch": "amd64"}'
check "the server signs check-update answers" "$(grep -qi '^x-rollout-signature: keyid=' "$work/h0"; echo $?)" "$(cat "$work/h0")"
# ctl FIELDS: set the proxy's control document (FIELDS: JSON members, may be empty)
ctl() {
	printf '{%s}\n' "${1:-}" >"$work/control.json.tmp" && mv "$work/control.json.tmp" "$work/control.json"
}
# the pinned key: the project's active key as PEM (k2.pem after the rotation)
curl -s "$server/api/v1/projects/default/public-key" >"$work/k1.pem"
check "the pinned key is an Ed25519 PEM public key" \
	"$(openssl pkey -pubin -in "$work/k1.pem" -noout -text 2>/dev/null | grep -q 'ED25519'; echo $?)" "$(cat "$work/k1.pem")"
# set_lifetime SECONDS: the project's answer lifetime (at least a minute)
set_lifetime() {
	curl -s -X PUT "$server/admin/api/v1/projects/default/signing" "${auth[@]}" \
		-d "{\"answer_lifetime\": \"$1 seconds\"}" >"$work/lifetime.json"
}

cat >"$work/client.conf" <<CONF
# rollout-client config of the tests
url = $proxy
public_key = $work/k1.pem
os = linux
arch = amd64
current_version = 9.9.9
CONF
# run DIR ARGS...: the client with its own state, downloads and hook output in DIR
run() {
	local d=$1; shift
	mkdir -p "$d/dl"
	HOOK_OUT="$d" "$client" --config "$work/client.conf" --state-file "$d/state" --download-dir "$d/dl" \
		--client-id "client-$(basename "$d")" --no-progress \
		--install-hook 'cp "$1" "$HOOK_OUT/installed.bin" && echo "$ROLLOUT_VERSION $ROLLOUT_PREVIOUS_VERSION $ROLLOUT_FILE_SHA256 $ROLLOUT_CHANNEL" >"$HOOK_OUT/hook.txt"' \
		"$@"
}
# nothing_installed DIR: the hook did not run, no file in the download directory
nothing_installed() { [ ! -e "$1/hook.txt" ] && [ ! -e "$1/installed.bin" ] && [ -z "$(ls -A "$1/dl")" ]; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
events() { psql -qAtd "$db" -c "SELECT action || ':' || coalesce(error_message, '') FROM rollout.update_events WHERE client_id = '$1' AND action <> 'check' ORDER BY id"; }

# An answer that will have expired by the end: recorded now with a short lifetime.
lifetime=60
set_lifetime "$lifetime"
run "$work/expiring" --current-version 1.0.0 check >/dev/null 2>&1
expiring=$(ls -t "$work/answers" | head -n 1)
set_lifetime 604800
check "an answer with a $lifetime s lifetime recorded for later" \
	"$(grep -q '"signature": "keyid=' "$work/answers/$expiring" && [ "$(grep -o 'expires_at[^,]*' "$work/answers/$expiring" | wc -l)" = 1 ]; echo $?)" \
	"$(cat "$work/answers/$expiring" 2>&1 | head -c 2000)"

# precedence: flag over environment over config file
out=$(run "$work/prec" --json check 2>&1); rc1=$?
out2=$(ROLLOUT_CURRENT_VERSION=1.0.0 run "$work/prec" --json check 2>&1); rc2=$?
out3=$(ROLLOUT_CURRENT_VERSION=1.0.0 run "$work/prec" --current-version 1.1.0 --json check 2>&1); rc3=$?
check "settings: the config file's current_version 9.9.9 is up to date (exit 0)" \
	"$([ $rc1 = 0 ] && grep -q '"status":"up_to_date"' <<<"$out"; echo $?)" "$rc1 $out"
check "settings: ROLLOUT_CURRENT_VERSION=1.0.0 overrides it: update available (exit 10)" \
	"$([ $rc2 = 10 ] && grep -q '"latest_version":"1.1.0"' <<<"$out2" && grep -q '"current_version":"1.0.0"' <<<"$out2"; echo $?)" "$rc2 $out2"
check "settings: --current-version 1.1.0 overrides the environment (exit 0)" \
	"$([ $rc3 = 0 ] && grep -q '"current_version":"1.1.0"' <<<"$out3"; echo $?)" "$rc3 $out3"

# the openssl CLI alone verifies a server answer (as the README shows)
curl -s -D "$work/h1" -o "$work/body.json" -X POST "$proxy/api/v1/check-update" \
	-d '{"current_version": "1.0.0", "client_id": "openssl-cli", "os": "linux", "arch": "amd64"}'
sed -n 's/^[Xx]-[Rr]ollout-[Ss]ignature: .*sig=\([A-Za-z0-9+/=]*\).*/\1/p' "$work/h1" | tr -d '\r' | base64 -d >"$work/sig.bin"
out=$(openssl pkeyutl -verify -pubin -inkey "$work/k1.pem" -rawin -in "$work/body.json" -sigfile "$work/sig.bin" 2>&1)
check "openssl pkeyutl -verify accepts an answer's signature" "$(grep -q 'Signature Verified Successfully' <<<"$out"; echo $?)" "$out"
printf ' ' >>"$work/body.json"
out=$(openssl pkeyutl -verify -pubin -inkey "$work/k1.pem" -rawin -in "$work/body.json" -sigfile "$work/sig.bin" 2>&1)
check "... and refuses it with one more byte" "$(grep -q 'Signature Verification Failure' <<<"$out"; echo $?)" "$out"

# 4. a normal update
d="$work/normal"
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
check "update: exit 11, says it updated" "$([ $rc = 11 ] && grep -q 'Updated to 1.1.0' <<<"$out"; echo $?)" "$rc $out"
check "update: the file at the destination is the released one" "$(cmp -s "$file1" "$d/dl/app-1.1.0.tgz"; echo $?)"
check "update: the hook ran with the file and ROLLOUT_VERSION, ROLLOUT_PREVIOUS_VERSION, ROLLOUT_FILE_SHA256, ROLLOUT_CHANNEL" \
	"$(cmp -s "$file1" "$d/installed.bin" && [ "$(cat "$d/hook.txt")" = "1.1.0 1.0.0 $(sha "$file1") stable" ]; echo $?)" "$(cat "$d/hook.txt" 2>&1)"
check "update: no part file left" "$([ ! -e "$d/dl/app-1.1.0.tgz.part" ]; echo $?)"
ev=$(events client-normal)
check "update: the server recorded download-started and a successful install-result" \
	"$([ "$ev" = "$(printf 'download:\nsuccess:')" ]; echo $?)" "$ev"
check "update: the state file keeps the metadata_version and the installed version" \
	"$(grep -q '^default.metadata_version=[0-9]' "$d/state" && grep -q '^default.installed_version=1.1.0$' "$d/state"; echo $?)" "$(cat "$d/state")"
out=$(run "$d" --config /dev/null --url "$proxy" --public-key "$work/k1.pem" --os linux --arch amd64 update 2>&1); rc=$?
check "update again, the installed version from the state file: up to date (exit 0)" \
	"$([ $rc = 0 ] && grep -q 'Up to date: 1.1.0' <<<"$out"; echo $?)" "$rc $out"
out=$(LANG=zh_CN.UTF-8 run "$work/zh" --current-version 1.0.0 check 2>&1); rc=$?
check "check under LANG=zh_CN.UTF-8: exit 10, in Chinese" "$([ $rc = 10 ] && grep -q '有可用更新：1.1.0' <<<"$out"; echo $?)" "$rc $out"

d="$work/tty"
mkdir -p "$d/dl"
script -qec "'$client' --config '$work/client.conf' --state-file '$d/state' --download-dir '$d/dl' --client-id client-tty --current-version 1.0.0 update" \
	/dev/null >"$work/tty.out" 2>&1
rc=$?
check "update on a terminal: exit 11, a progress bar up to 100 %" \
	"$([ $rc = 11 ] && grep -q '1.1.0 \[#\{40\}\] 100%  293.0 KiB / 293.0 KiB' "$work/tty.out"; echo $?)" "$rc $(tr '\r' '\n' <"$work/tty.out" | tail -n 5)"
d="$work/locked"
mkdir -p "$d"
out=$( (flock 9 && run "$d" --current-version 1.0.0 update) 9>"$d/state.lock" 2>&1); rc=$?
check "a second run on the same state file: exit 41, nothing installed" \
	"$([ $rc = 41 ] && grep -q 'Another rollout-client is running' <<<"$out" && nothing_installed "$d"; echo $?)" "$rc $out"

# 5. a download interrupted, then resumed with Range
d="$work/resume"
ctl '"cut_download_after": 120000'
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
check "interrupted download: exit 30, part kept, says to run again" \
	"$([ $rc = 30 ] && grep -q 'run the command again to resume' <<<"$out" &&
		[ "$(stat -c %s "$d/dl/app-1.1.0.tgz.part" 2>/dev/null)" = 120000 ]; echo $?)" "$rc $out"
check "interrupted download: nothing installed yet" \
	"$([ ! -e "$d/hook.txt" ] && [ ! -e "$d/dl/app-1.1.0.tgz" ]; echo $?)"
ctl ""
: >"$work/proxy.log"
out=$(run "$d" --current-version 1.0.0 --json update 2>&1); rc=$?
check "resumed download: exit 11, resumed from byte 120000" \
	"$([ $rc = 11 ] && grep -q '"resumed_from":120000' <<<"$out" && grep -q '"status":"updated"' <<<"$out"; echo $?)" "$rc $out"
check "resumed download: the server got 'Range: bytes=120000-' and answered 206" \
	"$(grep '"path": "/download/' "$work/proxy.log" | grep -q '"range": "bytes=120000-", "status": 206'; echo $?)" "$(cat "$work/proxy.log")"
check "resumed download: the file is whole and installed" \
	"$(cmp -s "$file1" "$d/dl/app-1.1.0.tgz" && cmp -s "$file1" "$d/installed.bin"; echo $?)"

# 6. a tampered answer (one byte)
d="$work/tampered-answer"
ctl '"tamper_answer": true'
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
ctl ""
check "tampered answer: exit 20, the signature does not match" \
	"$([ $rc = 20 ] && grep -q 'does not match the answer' <<<"$out"; echo $?)" "$rc $out"
check "tampered answer: nothing installed, nothing reported" \
	"$(nothing_installed "$d" && [ -z "$(events client-tampered-answer)" ]; echo $?)" "$(ls -la "$d" "$d/dl")"

# a missing, malformed or oversized answer
d="$work/bad-answers"
for h in "" "keyid=0123,sig=AAAA" "keyid=$(printf 'a%.0s' $(seq 16)),sig=$(head -c 64 /dev/zero | base64 -w0)" \
	"$(printf 'x%.0s' $(seq 6000))"; do
	if [ -z "$h" ]; then ctl '"signature_header": ""'; else ctl "\"signature_header\": \"$h\""; fi
	out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
	check "signature header '${h:0:30}...': refused, exit 20" "$([ $rc = 20 ] && nothing_installed "$d"; echo $?)" "$rc $out"
done
ctl '"pad_answer": 2000000'
out=$(run "$d" --current-version 1.0.0 --json update 2>&1); rc=$?
ctl ""
check "an answer over 1 MiB: refused, exit 24, nothing installed" \
	"$([ $rc = 24 ] && grep -q '"status":"refused_answer"' <<<"$out" && grep -q 'larger than 1 MiB' <<<"$out" && nothing_installed "$d"; echo $?)" "$rc $out"

# the key list, as the server publishes it
out=$("$client" --url "$proxy" keys 2>&1); rc=$?
k1_id=$(openssl pkey -pubin -in "$work/k1.pem" -outform DER | tail -c 32 | sha256sum | cut -c1-16)
check "keys: lists the project's active key with its id" "$([ $rc = 0 ] && grep -q "^$k1_id  active " <<<"$out"; echo $?)" "$rc $out"

# 7. a tampered file: one byte on the way, then the stored file itself
d="$work/tampered-file"
ctl '"tamper_download": true'
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
ctl ""
check "tampered download: exit 23, sha256 differs" "$([ $rc = 23 ] && grep -q "sha256 is .* where the signed answer says $(sha "$file1")" <<<"$out"; echo $?)" "$rc $out"
check "tampered download: nothing installed (no part file either)" "$(nothing_installed "$d"; echo $?)" "$(ls -la "$d/dl")"
ev=$(events client-tampered-file)
check "tampered download: the failure was reported (install-result, sha256 mismatch)" \
	"$([ "$ev" = "$(printf 'download:\nfailed:sha256 mismatch')" ]; echo $?)" "$ev"
stored=$(find "$work/uploads" -name app-1.1.0.tgz | head -n 1)
cp "$stored" "$work/stored.bak"
# one byte changed for sure: its bits flipped, not overwritten (a random file may hold the new byte already)
byte=$(od -An -tu1 -j1000 -N1 "$stored" | tr -d ' ')
printf "\\$(printf '%03o' $((255 - byte)))" | dd of="$stored" bs=1 seek=1000 conv=notrunc 2>/dev/null
d="$work/tampered-stored"
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
cp "$work/stored.bak" "$stored"
check "a changed file on the server: exit 23, nothing installed" \
	"$([ $rc = 23 ] && grep -q 'sha256' <<<"$out" && nothing_installed "$d"; echo $?)" "$rc $out"
head -c 1000 "$file1" >"$stored.short" && mv "$stored.short" "$stored"
d="$work/short-stored"
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
cp "$work/stored.bak" "$stored"
check "a shorter file on the server: exit 23 (size), nothing installed" \
	"$([ $rc = 23 ] && grep -q 'has 1000 bytes where the signed answer says 300000' <<<"$out" && nothing_installed "$d"; echo $?)" "$rc $out"

# 8. a replayed older answer, after a new release
d="$work/replay"
run "$d" --current-version 1.0.0 check >/dev/null 2>&1
old=$(ls -t "$work/answers" | head -n 1)
file2=$(release 1.2.0 200000)
out=$(run "$d" --current-version 1.0.0 --json check 2>&1); rc=$?
check "after a new release: the fresh answer offers 1.2.0 (exit 10)" \
	"$([ $rc = 10 ] && grep -q '"latest_version":"1.2.0"' <<<"$out"; echo $?)" "$rc $out"
ctl "\"replay\": \"$work/answers/$old\""
out=$(run "$d" --current-version 1.0.0 update 2>&1); rc=$?
ctl ""
check "replayed older answer: exit 22, metadata_version lower than accepted" \
	"$([ $rc = 22 ] && grep -q 'lower than .*already accepted' <<<"$out"; echo $?)" "$rc $out"
check "replayed older answer: nothing installed" "$(nothing_installed "$d"; echo $?)"

# 9. key rotation: old answers verify until the old key is retired
pre_rotation=$old
curl -s -X POST "$server/admin/api/v1/projects/default/keys/rotate" "${auth[@]}" >"$work/rotate.json"
curl -s "$server/api/v1/projects/default/public-key" >"$work/k2.pem"
check "rotation: a new key" "$(! cmp -s "$work/k1.pem" "$work/k2.pem" && grep -q 'BEGIN PUBLIC KEY' "$work/k2.pem"; echo $?)" \
	"$(cat "$work/rotate.json" "$work/k2.pem" 2>&1)"
d="$work/rotation"
out=$(run "$d" --current-version 1.0.0 check 2>&1); rc=$?
check "rotation: a client pinning only the old key refuses the new key's answers (exit 20)" \
	"$([ $rc = 20 ] && grep -q 'which is not pinned' <<<"$out"; echo $?)" "$rc $out"
both=(--public-key "$work/k1.pem" --public-key "$work/k2.pem")
out=$(run "$d" "${both[@]}" --current-version 1.0.0 check 2>&1); rc=$?
check "rotation: pinning both keys, the new key's answer verifies (exit 10)" "$([ $rc = 10 ]; echo $?)" "$rc $out"
d="$work/rotation-old"
ctl "\"replay\": \"$work/answers/$pre_rotation\""
out=$(run "$d" "${both[@]}" --current-version 1.0.0 check 2>&1); rc=$?
check "rotation: an answer signed by the old, still trusted key verifies (exit 10)" "$([ $rc = 10 ]; echo $?)" "$rc $out"
curl -s -X POST "$server/admin/api/v1/projects/default/keys/$k1_id/retire" "${auth[@]}" >"$work/retire.json"
check "retire: the server no longer lists the old key" \
	"$(! curl -s "$server/api/v1/projects/default/keys" | grep -q "$k1_id"; echo $?)" "$(cat "$work/retire.json")"
out=$(run "$d" "${both[@]}" --current-version 1.0.0 update 2>&1); rc=$?
check "retired: the old key's answer is refused (exit 20, key retired)" \
	"$([ $rc = 20 ] && grep -q 'which the server has retired' <<<"$out"; echo $?)" "$rc $out $(cat "$work/retire.json" 2>/dev/null)"
check "retired: nothing installed; the state file remembers the retired key" \
	"$(nothing_installed "$d" && grep -q '^default.retired_keys=[0-9a-f]\{16\}$' "$d/state"; echo $?)" "$(cat "$d/state")"
ctl ""
out=$(run "$d" "${both[@]}" --current-version 1.0.0 update 2>&1); rc=$?
check "retired: the new key's answers still verify; 1.2.0 installed (exit 11)" \
	"$([ $rc = 11 ] && cmp -s "$file2" "$d/installed.bin"; echo $?)" "$rc $out"

# 10. the answer recorded at the start has expired by now
exp=$(python3 -c 'import json, sys; print(json.loads(json.load(open(sys.argv[1]))["body"])["data"]["expires_at"])' \
	"$work/answers/$expiring" 2>/dev/null)
while [ -n "$exp" ] && [ "$(date -u +%s)" -le "$(date -ud "$exp" +%s)" ]; do sleep 1; done
d="$work/expired"
ctl "\"replay\": \"$work/answers/$expiring\""
out=$(run "$d" "${both[@]}" --check-keys no --current-version 1.0.0 update 2>&1); rc=$?
ctl ""
check "expired answer (expires_at $exp): exit 21" "$([ -n "$exp" ] && [ $rc = 21 ] && grep -q 'the answer expired at' <<<"$out"; echo $?)" "$rc $out"
check "expired answer: nothing installed" "$(nothing_installed "$d"; echo $?)"

# 11. a network error and a server error have their own codes
out=$(run "$work/down" --url "http://127.0.0.1:1" --current-version 1.0.0 check 2>&1); rc=$?
check "nothing listening: exit 30 (network error)" "$([ $rc = 30 ] && grep -q 'Network error' <<<"$out"; echo $?)" "$rc $out"
out=$(run "$work/bad" --current-version not-a-version check 2>&1); rc=$?
check "the server refuses the request: exit 31 with its message" "$([ $rc = 31 ] && grep -q 'HTTP 400' <<<"$out"; echo $?)" "$rc $out"

echo "$check_pass passed, $check_fail failed"
[ "$check_fail" -eq 0 ]
