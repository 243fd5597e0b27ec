#!/usr/bin/env bash
# bench/http/run.sh: wrk against POST /api/v1/check-update of rollout-http
# (random clients, the decision benchmark's data; signed answers) and, in the
# same run, against a second rollout-http serving unsigned answers
# (ROLLOUT_BENCH_UNSIGNED=1, for this comparison only) and nginx serving a
# static JSON file of the same size. Prints req/s, p50/p99 latency, the
# ratios (signed / nginx, signed / unsigned) and the server's peak RSS.
# BENCH_SECONDS (default 20) per run, BENCH_ROUNDS (default 3) rounds of one
# run each, BENCH_CONNECTIONS (default 32), BENCH_THREADS (the server's
# workers, default 32), BENCH_LANES (its client connections).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56632 1GB
make -s shim >/dev/null
secs=${BENCH_SECONDS:-20}
conns=${BENCH_CONNECTIONS:-32}
out=bench/out/http.txt
: > "$out"
bench_decision_data "$out"

http_port=$(free_port 18480)
unsigned_port=$(free_port $((http_port + 5)))
nginx_port=$(free_port $((http_port + 10)))
DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres" ROLLOUT_LISTEN="127.0.0.1:$http_port" \
	ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 shim/rollout-http >"$BENCH_WORK/http.log" 2>&1 &
http_pid=$!
DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres" ROLLOUT_LISTEN="127.0.0.1:$unsigned_port" \
	ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 ROLLOUT_BENCH_UNSIGNED=1 \
	shim/rollout-http >"$BENCH_WORK/http-unsigned.log" 2>&1 &
unsigned_pid=$!
trap 'kill $http_pid $unsigned_pid 2>/dev/null; [ -f "$BENCH_WORK/nginx.pid" ] && kill $(cat "$BENCH_WORK/nginx.pid") 2>/dev/null; pg_stop "$BENCH_WORK/data"; rm -rf "$BENCH_WORK"' EXIT
for port in $http_port $unsigned_port; do
	for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
# the signed server signs, the other does not
curl -sfi -X POST "http://127.0.0.1:$http_port/api/v1/check-update" -d '{"project":"p1","current_version":"1.5.0","client_id":"client-1-5"}' |
	grep -qi '^X-Rollout-Signature: keyid=' || { echo "rollout-http does not sign its answers" >&2; exit 1; }
curl -sfi -X POST "http://127.0.0.1:$unsigned_port/api/v1/check-update" -d '{"project":"p1","current_version":"1.5.0","client_id":"client-1-5"}' |
	grep -qi '^X-Rollout-Signature' && { echo "the unsigned server signs" >&2; exit 1; }

# the static file: a real response of the same size
mkdir -p "$BENCH_WORK/www"
curl -s -X POST "http://127.0.0.1:$http_port/api/v1/check-update" \
	-d '{"project":"p1","current_version":"1.5.0","client_id":"client-1-5","region":"cn","os":"linux","arch":"amd64"}' \
	> "$BENCH_WORK/www/check.json"
size=$(wc -c < "$BENCH_WORK/www/check.json")
cat > "$BENCH_WORK/nginx.conf" <<CONF
worker_processes 2;
pid $BENCH_WORK/nginx.pid;
error_log $BENCH_WORK/nginx-error.log;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$nginx_port;
		root $BENCH_WORK/www;
		location / { default_type application/json; }
	}
}
CONF
chmod -R a+rX "$BENCH_WORK/www"
nginx -c "$BENCH_WORK/nginx.conf" -p "$BENCH_WORK"
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$nginx_port/check.json" >/dev/null && break; sleep 0.1; done

summary() { # name, wrk output
	local rps p50 p99 errors
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' <<<"$2")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
	errors=$(grep -E 'Non-2xx|Socket errors' <<<"$2" | tr '\n' ' ')
	printf '%-24s %10s req/s   p50 %8s   p99 %8s   %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-no errors}" | tee -a "$out"  >&2
	echo "$rps"
}
rounds=${BENCH_ROUNDS:-3}
echo "==> wrk, 2 threads, $conns connections, $rounds rounds of ${secs}s each (the order alternating) after a 3s warm-up; response size $size bytes" | tee -a "$out"
# warm-up: the server opens its database sessions, which load their caches
wrk -t2 -c"$conns" -d3s "http://127.0.0.1:$nginx_port/check.json" >/dev/null
wrk -t2 -c"$conns" -d3s -s bench/http/check.lua "http://127.0.0.1:$http_port" >/dev/null
wrk -t2 -c"$conns" -d3s -s bench/http/check.lua "http://127.0.0.1:$unsigned_port" >/dev/null
psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
run_nginx() {
	summary "nginx static file" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$nginx_port/check.json")" | tail -n 1
}
run_http() { # [port name]
	local rps
	rps=$(summary "${2:-rollout-http check}" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/http/check.lua "http://127.0.0.1:${1:-$http_port}")" | tail -n 1)
	# the checks are recorded by the background worker: how long until all are
	local start=$(date +%s.%N)
	psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
	echo "  every check recorded $(echo "$(date +%s.%N) - $start" | bc | cut -c1-4)s after the run" | tee -a "$out" >&2
	echo "$rps"
}
nginx_all=() http_all=() unsigned_all=() ratios=() signed_ratios=()
for round in $(seq 1 "$rounds"); do
	echo "round $round" | tee -a "$out"
	# rotate the order, so that a drift of the machine favours none
	case $((round % 3)) in
	1) nginx_rps=$(run_nginx); http_rps=$(run_http); unsigned_rps=$(run_http "$unsigned_port" "rollout-http unsigned") ;;
	2) unsigned_rps=$(run_http "$unsigned_port" "rollout-http unsigned"); nginx_rps=$(run_nginx); http_rps=$(run_http) ;;
	0) http_rps=$(run_http); unsigned_rps=$(run_http "$unsigned_port" "rollout-http unsigned"); nginx_rps=$(run_nginx) ;;
	esac
	nginx_all+=("$nginx_rps") http_all+=("$http_rps") unsigned_all+=("$unsigned_rps")
	ratios+=("$(echo "scale=3; $http_rps / $nginx_rps" | bc)")
	signed_ratios+=("$(echo "scale=3; $http_rps / $unsigned_rps" | bc)")
	echo "  ratio ${ratios[-1]} (signed / nginx), ${signed_ratios[-1]} (signed / unsigned)" | tee -a "$out"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "$(psql -Atc "SELECT rollout.check_queue()::text")" | tee -a "$out"
rss=$(awk '/VmHWM/ {print $2 " " $3}' /proc/$http_pid/status)
echo "median req/s: nginx $(median "${nginx_all[@]}"), rollout-http $(median "${http_all[@]}") signed, $(median "${unsigned_all[@]}") unsigned" | tee -a "$out"
echo "ratio rollout-http / nginx, per round: ${ratios[*]}; median $(median "${ratios[@]}")   (target >= 0.35)" | tee -a "$out"
echo "ratio signed / unsigned, per round: ${signed_ratios[*]}; median $(median "${signed_ratios[@]}")   (target >= 0.90)" | tee -a "$out"
echo "rollout-http peak RSS: $rss" | tee -a "$out"
