#!/usr/bin/env bash
# bench/standby/run.sh: check-update answered by a hot standby next to the
# primary, in the same run. A primary with the decision benchmark's data
# (10 projects x 200 versions, 1,000,000 clients) and a streaming standby of
# it (pg_basebackup -R) on the same machine; rollout-http on each (the
# standby's with ROLLOUT_PRIMARY_URL, so its checks' records go to the
# primary in batches while it runs); wrk with bench/http/check.lua against
# each in turn, the order alternating. Prints req/s and the ratio
# standby / primary; after each standby run, how long until the primary
# recorded every forwarded check.
# BENCH_SECONDS (default 20) per run, BENCH_ROUNDS (default 3),
# BENCH_CONNECTIONS (default 32), BENCH_THREADS (default 32), BENCH_LANES.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
bench_cluster 56732 1GB
make -s shim >/dev/null
secs=${BENCH_SECONDS:-20}
conns=${BENCH_CONNECTIONS:-32}
out=bench/out/standby.txt
: > "$out"
bench_decision_data "$out"

# the standby: a base backup of the primary, streaming from it
standby_port=$(free_port $((PGPORT + 1)))
server_dir "$BENCH_WORK/standby"
as_server "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$BENCH_WORK/standby" -R -X stream -c fast
chmod 700 "$BENCH_WORK/standby"
as_server "$PG_BINDIR/pg_ctl" -D "$BENCH_WORK/standby" -o "-p $standby_port" -l "$BENCH_WORK/standby/server.log" -w start >/dev/null
[ "$(psql -p "$standby_port" -Atc 'SELECT pg_is_in_recovery()')" = t ] || { echo "the standby is not in recovery" >&2; exit 1; }

primary_url="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
standby_url="postgresql://postgres@127.0.0.1:$standby_port/postgres"
p_port=$(free_port 18580)
s_port=$(free_port $((p_port + 1)))
DATABASE_URL="$primary_url" ROLLOUT_LISTEN="127.0.0.1:$p_port" ROLLOUT_THREADS=${BENCH_THREADS:-32} \
	ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 shim/rollout-http >"$BENCH_WORK/primary-http.log" 2>&1 &
p_pid=$!
DATABASE_URL="$standby_url" ROLLOUT_PRIMARY_URL="$primary_url" ROLLOUT_LISTEN="127.0.0.1:$s_port" \
	ROLLOUT_THREADS=${BENCH_THREADS:-32} ROLLOUT_DB_LANES=${BENCH_LANES:-} ROLLOUT_RATE_LIMIT=0 \
	shim/rollout-http >"$BENCH_WORK/standby-http.log" 2>&1 &
s_pid=$!
# the standby's rollout-http log without its access lines is kept (what the primary refused, if anything)
trap 'kill $p_pid $s_pid 2>/dev/null; grep -v "^{\"method\"" "$BENCH_WORK/standby-http.log" >bench/out/standby-http.log || true;
	pg_stop "$BENCH_WORK/standby"; pg_stop "$BENCH_WORK/data"; rm -rf "$BENCH_WORK"' EXIT
for port in $p_port $s_port; do
	for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done

metric() { curl -s "http://127.0.0.1:$s_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
summary() { # name, wrk output
	local rps p50 p99 errors
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' <<<"$2")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
	errors=$(grep -E 'Non-2xx|Socket errors' <<<"$2" | tr '\n' ' ')
	printf '%-24s %10s req/s   p50 %8s   p99 %8s   %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-no errors}" | tee -a "$out" >&2
	echo "$rps"
}
run_primary() {
	local rps
	rps=$(summary "primary check" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/http/check.lua "http://127.0.0.1:$p_port")")
	psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
	echo "$rps"
}
run_standby() {
	local rps start stopped end before after backlog
	before=$(metric rollout_standby_records_forwarded_total)
	start=$(date +%s.%N)
	rps=$(summary "standby check" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/http/check.lua "http://127.0.0.1:$s_port")")
	stopped=$(date +%s.%N)
	backlog=$(metric rollout_standby_records_buffered)
	while [ "$(metric rollout_standby_records_buffered)" != 0 ]; do sleep 0.1; done
	end=$(date +%s.%N)
	after=$(metric rollout_standby_records_forwarded_total)
	# the primary records the forwarded checks from the run's start until the buffer is empty;
	# after the run, with the machine otherwise idle, the backlog left at its end
	echo "  every forwarded check recorded on the primary $(echo "$end - $stopped" | bc | cut -c1-4)s after the run:" \
		"$((after - before)) records, $(echo "($after - $before) / ($end - $start)" | bc)/s over the whole;" \
		"the backlog of $backlog at the run's end at $(echo "$backlog / ($end - $stopped)" | bc)/s" | tee -a "$out" >&2
	echo "$rps"
}

rounds=${BENCH_ROUNDS:-3}
echo "==> wrk, 2 threads, $conns connections, $rounds rounds of ${secs}s each (the order alternating) after a 3s warm-up" | tee -a "$out"
wrk -t2 -c"$conns" -d3s -s bench/http/check.lua "http://127.0.0.1:$p_port" >/dev/null
wrk -t2 -c"$conns" -d3s -s bench/http/check.lua "http://127.0.0.1:$s_port" >/dev/null
psql -Atqc "SELECT rollout.flush_checks(600000)" >/dev/null
p_all=() s_all=() ratios=()
for round in $(seq 1 "$rounds"); do
	echo "round $round" | tee -a "$out"
	if [ $((round % 2)) = 1 ]; then
		p_rps=$(run_primary); s_rps=$(run_standby)
	else
		s_rps=$(run_standby); p_rps=$(run_primary)
	fi
	p_all+=("$p_rps") s_all+=("$s_rps")
	ratios+=("$(echo "scale=3; $s_rps / $p_rps" | bc)")
	echo "  ratio ${ratios[-1]}" | tee -a "$out"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "standby records: forwarded $(metric rollout_standby_records_forwarded_total), dropped $(metric rollout_standby_records_dropped_total), batches $(metric rollout_standby_batches_total)" | tee -a "$out"
echo "median req/s: primary $(median "${p_all[@]}"), standby $(median "${s_all[@]}")" | tee -a "$out"
echo "ratio standby / primary, per round: ${ratios[*]}; median $(median "${ratios[@]}")" | tee -a "$out"
