-- bench/semver/bench.sql: rollout.semver against bigint and pg-semver on the
-- same 1,000,000 versions (data.sql): parsing, sorting, index build, range
-- filters by scan. Run by bench/semver/run.sh on a throwaway cluster.
\set ON_ERROR_STOP on
\ir settings.sql

\ir ../common.sql

CREATE TEMP TABLE cases (task text, variant text, q text, ord int);
INSERT INTO cases VALUES
 ('parse text (1M)',     'bigint',    'SELECT count(num::bigint) FROM src', 1),
 ('parse text (1M)',     'rollout',   'SELECT count(txt::rollout.semver) FROM src', 1),
 ('parse text (1M)',     'pg-semver', 'SELECT count(txt::public.semver) FROM src', 1),
 ('ORDER BY v, rows',    'bigint',    'SELECT id, v FROM t_bigint ORDER BY v OFFSET 999999', 2),
 ('ORDER BY v, rows',    'rollout',   'SELECT id, v FROM t_rollout ORDER BY v OFFSET 999999', 2),
 ('ORDER BY v, rows',    'pg-semver', 'SELECT id, v FROM t_pgsemver ORDER BY v OFFSET 999999', 2),
 ('ORDER BY v, v alone', 'bigint',    'SELECT v FROM t_bigint ORDER BY v OFFSET 999999', 3),
 ('ORDER BY v, v alone', 'rollout',   'SELECT v FROM t_rollout ORDER BY v OFFSET 999999', 3),
 ('ORDER BY v, v alone', 'pg-semver', 'SELECT v FROM t_pgsemver ORDER BY v OFFSET 999999', 3),
 ('CREATE INDEX',        'bigint',    'CREATE INDEX bench_idx ON t_bigint (v); DROP INDEX bench_idx', 4),
 ('CREATE INDEX',        'rollout',   'CREATE INDEX bench_idx ON t_rollout (v); DROP INDEX bench_idx', 4),
 ('CREATE INDEX',        'pg-semver', 'CREATE INDEX bench_idx ON t_pgsemver (v); DROP INDEX bench_idx', 4),
 ('range filter (scan)', 'bigint',    'SELECT count(*) FROM t_bigint WHERE v >= 1000000000000 AND v < 2000000000000', 5),
 ('range filter (scan)', 'rollout',   'SELECT count(*) FROM t_rollout WHERE v >= ''1.0.0''::rollout.semver AND v < ''2.0.0''::rollout.semver', 5),
 ('range filter (scan)', 'pg-semver', 'SELECT count(*) FROM t_pgsemver WHERE v >= ''1.0.0''::public.semver AND v < ''2.0.0''::public.semver', 5),
 ('range filter (scan)', 'rollout <@ ^1.0.0', 'SELECT count(*) FROM t_rollout WHERE v <@ ''^1.0.0''::rollout.semver_range', 5);

-- warm up once, then :rounds interleaved rounds
SELECT pg_temp.timed_rounds(:'rounds') AS rounds;

-- sanity: the encodings agree on the counts and on the order
SELECT count(*) = 0 AS same_order FROM (
  SELECT r.id AS a, p.id AS b FROM
    (SELECT id, row_number() OVER (ORDER BY v, id) n FROM t_rollout) r JOIN
    (SELECT id, row_number() OVER (ORDER BY v, id) n FROM t_pgsemver) p USING (n)) s
WHERE a <> b;
SELECT (SELECT count(*) FROM t_rollout WHERE v >= '1.0.0'::rollout.semver AND v < '2.0.0'::rollout.semver)
     = (SELECT count(*) FROM t_pgsemver WHERE v >= '1.0.0'::public.semver AND v < '2.0.0'::public.semver) AS counts_agree;

\pset footer off
SELECT task, variant, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) /
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings b WHERE b.task = t.task AND b.variant = 'bigint'))::numeric, 2) AS vs_bigint,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) /
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings b WHERE b.task = t.task AND b.variant = 'pg-semver'))::numeric, 2) AS vs_pgsemver
FROM timings t GROUP BY task, variant
ORDER BY min((SELECT ord FROM cases c WHERE c.task = t.task LIMIT 1)), variant;

SELECT count(DISTINCT v) AS distinct_versions, count(*) FILTER (WHERE is_prerelease(v)) * 100.0 / count(*) AS prerelease_pct FROM t_rollout;
SELECT pg_size_pretty(pg_relation_size('t_bigint')) AS bigint_table,
       pg_size_pretty(pg_relation_size('t_rollout')) AS rollout_table,
       pg_size_pretty(pg_relation_size('t_pgsemver')) AS pgsemver_table;
