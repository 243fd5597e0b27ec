#!/usr/bin/env bash
# bench/http/run.sh: wrk against POST /api/v1/check-update of rollout-http
# (random clients, the decision benchmark's data) and, in the same run,
# against nginx serving a static JSON file of the same size. Prints req/s,
# p50/p99 latency, the ratio and the server's peak RSS.
# Two ways to the same server: its client address (--client-listen, the
# event loops) and its main address (civetweb's threads). BENCH_BEFORE=PATH
# adds a third server, another build of rollout-http (say, the previous
# commit's) on its own port, so that before and after are measured in the
# same run.
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
client_port=$(free_port $((http_port + 1)))
nginx_port=$(free_port $((client_port + 10)))
before_port=$(free_port $((nginx_port + 10)))
DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres" ROLLOUT_LISTEN="127.0.0.1:$http_port" \
	ROLLOUT_CLIENT_LISTEN="127.0.0.1:$client_port" \
	ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 shim/rollout-http >"$BENCH_WORK/http.log" 2>&1 &
http_pid=$!
# the same server answering unsigned (ROLLOUT_BENCH_UNSIGNED=1, for this comparison only)
unsigned_port=$(free_port $((before_port + 10)))
DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres" ROLLOUT_LISTEN="127.0.0.1:$(free_port $((unsigned_port + 1)))" \
	ROLLOUT_CLIENT_LISTEN="127.0.0.1:$unsigned_port" ROLLOUT_BENCH_UNSIGNED=1 \
	ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 shim/rollout-http >"$BENCH_WORK/unsigned.log" 2>&1 &
unsigned_pid=$!
before_pid=
if [ -n "${BENCH_BEFORE:-}" ]; then
	DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres" ROLLOUT_LISTEN="127.0.0.1:$before_port" \
		ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 "$BENCH_BEFORE" >"$BENCH_WORK/before.log" 2>&1 &
	before_pid=$!
fi
trap 'kill $http_pid $unsigned_pid $before_pid 2>/dev/null; [ -f "$BENCH_WORK/nginx.pid" ] && kill $(cat "$BENCH_WORK/nginx.pid") 2>/dev/null; pg_stop "$BENCH_WORK/data"; rm -rf "$BENCH_WORK"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 50); do
	curl -fs -X POST "http://127.0.0.1:$unsigned_port/api/v1/check-update" -d '{"project":"p1","current_version":"1.5.0","client_id":"client-1-5"}' >/dev/null && break
	sleep 0.1
done
if [ -n "$before_pid" ]; then
	for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$before_port/healthz" >/dev/null && break; sleep 0.1; done
fi

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
# the ways to answer a check: name and port
variants=("client address:$client_port" "main address:$http_port" "unsigned client address:$unsigned_port")
[ -n "$before_pid" ] && variants+=("before ($BENCH_BEFORE):$before_port")
echo "==> wrk, 2 threads, $conns connections, $rounds rounds of ${secs}s each (the order rotating) after a 3s warm-up; response size $size bytes" | tee -a "$out"
# warm-up: the servers open their database sessions, which load their caches
wrk -t2 -c"$conns" -d3s "http://127.0.0.1:$nginx_port/check.json" >/dev/null
for v in "${variants[@]}"; do
	wrk -t2 -c"$conns" -d3s -s bench/http/check.lua "http://127.0.0.1:${v##*:}" >/dev/null
done
psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
run_nginx() {
	summary "nginx static file" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$nginx_port/check.json")" | tail -n 1
}
run_http() { # variant
	local rps
	rps=$(summary "${1%:*}" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/http/check.lua "http://127.0.0.1:${1##*:}")" | tail -n 1)
	# the checks are recorded by the background worker: how long until all are
	local start=$(date +%s.%N)
	psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
	echo "  every check recorded $(echo "$(date +%s.%N) - $start" | bc | cut -c1-4)s after the run" | tee -a "$out" >&2
	echo "$rps"
}
declare -A ratios_of
nginx_all=()
for round in $(seq 1 "$rounds"); do
	echo "round $round" | tee -a "$out"
	# rotate the order, so that a drift of the machine favours nobody
	order=(nginx "${variants[@]}")
	k=$(( (round - 1) % ${#order[@]} ))
	order=("${order[@]:k}" "${order[@]:0:k}")
	declare -A rps_of=()
	for o in "${order[@]}"; do
		if [ "$o" = nginx ]; then rps_of[nginx]=$(run_nginx); else rps_of[$o]=$(run_http "$o"); fi
	done
	nginx_all+=("${rps_of[nginx]}")
	for v in "${variants[@]}"; do
		r=$(echo "scale=3; ${rps_of[$v]} / ${rps_of[nginx]}" | bc)
		ratios_of[$v]="${ratios_of[$v]:-} $r"
		echo "  ${v%:*} / nginx: $r" | tee -a "$out"
	done
	r=$(echo "scale=3; ${rps_of[client address:$client_port]} / ${rps_of[unsigned client address:$unsigned_port]}" | bc)
	signed_ratios="${signed_ratios:-} $r"
	echo "  signed / unsigned (client address): $r" | tee -a "$out"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "$(psql -Atc "SELECT rollout.check_queue()::text")" | tee -a "$out"
echo "median nginx req/s: $(median "${nginx_all[@]}")" | tee -a "$out"
for v in "${variants[@]}"; do
	# shellcheck disable=SC2086
	echo "ratio ${v%:*} / nginx, per round:${ratios_of[$v]}; median $(median ${ratios_of[$v]})   (target >= 0.35)" | tee -a "$out"
done
# shellcheck disable=SC2086
echo "ratio signed / unsigned (client address), per round:$signed_ratios; median $(median $signed_ratios)   (target >= 0.90)" | tee -a "$out"
echo "rollout-http peak RSS: $(awk '/VmHWM/ {print $2 " " $3}' /proc/$http_pid/status)" | tee -a "$out"
[ -n "$before_pid" ] && echo "before: peak RSS $(awk '/VmHWM/ {print $2 " " $3}' /proc/$before_pid/status)" | tee -a "$out"
exit 0
