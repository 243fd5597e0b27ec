-- bench/semver/bench.sql: rollout.semver against bigint and pg-semver on the
-- same 1,000,000 versions. Run by bench/semver/run.sh on a throwaway cluster.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
CREATE EXTENSION IF NOT EXISTS semver;   -- pg-semver (Debian postgresql-15-semver), baseline only
SET search_path = public, rollout;
SET work_mem = '2GB';
SET maintenance_work_mem = '2GB';
SET max_parallel_workers_per_gather = 0;
SET max_parallel_maintenance_workers = 0;
SET jit = off;

-- A realistic mix: most versions are low majors with a long tail, ~15 %
-- pre-releases (alpha.N / beta.N / rc.N), some build metadata. The bigint
-- column holds the same major.minor.patch packed into one number.
DROP TABLE IF EXISTS src;
CREATE TABLE src AS
SELECT maj, mnr, pat, pre,
       format('%s.%s.%s', maj, mnr, pat) || coalesce('-' || pre, '') ||
         CASE WHEN h % 50 = 0 THEN '+build.' || (h % 997) ELSE '' END AS txt,
       (maj::bigint * 1000000000000 + mnr::bigint * 1000000 + pat)::text AS num
FROM (
  SELECT h,
         (CASE WHEN h % 10 < 6 THEN h % 4 WHEN h % 10 < 9 THEN h % 15 ELSE h % 120 END) AS maj,
         (h / 7) % 40 AS mnr,
         (h / 280) % 250 AS pat,
         CASE WHEN (h / 3) % 100 < 15
              THEN (ARRAY['alpha', 'beta', 'rc'])[1 + (h / 11) % 3] || '.' || ((h / 13) % 12)
         END AS pre
  FROM (SELECT abs(hashint4(i)) AS h FROM generate_series(1, 1000000) i) g
) s;

ALTER TABLE src ADD COLUMN id serial;
CREATE TABLE t_bigint AS SELECT id, num::bigint AS v FROM src;
CREATE TABLE t_rollout AS SELECT id, txt::rollout.semver AS v FROM src;
CREATE TABLE t_pgsemver AS SELECT id, txt::public.semver AS v FROM src;
VACUUM ANALYZE src;
VACUUM ANALYZE t_bigint;
VACUUM ANALYZE t_rollout;
VACUUM ANALYZE t_pgsemver;

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
