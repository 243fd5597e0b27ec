-- bench/semver/index.sql: a range query on an indexed column (data.sql's
-- 1,000,000 versions, a B-tree index on each table): rollout's "v <@ range"
-- and satisfies(), which the planner support function turns into index
-- conditions on the range's bounds, against the hand-written bounds on the
-- same index, the same query as 0.3.0 planned it (a sequential scan), and
-- pg-semver's bounds on its own index and its semverrange. Estimated against
-- actual rows, with 0.3.0's estimator (contsel) and with ours.
\set ON_ERROR_STOP on
\ir settings.sql

CREATE INDEX IF NOT EXISTS t_rollout_v ON t_rollout (v);
CREATE INDEX IF NOT EXISTS t_pgsemver_v ON t_pgsemver (v);
VACUUM ANALYZE t_rollout;
VACUUM ANALYZE t_pgsemver;

\ir ../common.sql

-- The first scan node of a query's plan (below its aggregate), as json.
CREATE FUNCTION pg_temp.scan(q text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE p json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
  p := p -> 0 -> 'Plan';
  WHILE p ->> 'Node Type' = 'Aggregate' LOOP
    p := p -> 'Plans' -> 0;
  END LOOP;
  RETURN p;
END $$;

-- narrow: 1.2 - 1.9 (>=1.2.0 <1.10.0-0, about 3 % of the rows); wide: ^1.2
-- (>=1.2.0 <2.0.0-0, about 16 %). The hand-written bounds count the
-- pre-releases between them too; <@ leaves them out (node-semver's rule), as
-- the bounds do with "AND NOT is_prerelease(v)" (the same rows by hand).
CREATE TEMP TABLE queries (task text, variant text, q text, ord int);
INSERT INTO queries
SELECT task, variant, format(q, rng, lo, hi), ord
FROM (VALUES ('narrow range', '1.2 - 1.9', '1.2.0', '1.10.0', 6),
             ('wide range ^1.2', '^1.2', '1.2.0', '2.0.0', 7)) r(task, rng, lo, hi, ord),
     (VALUES
  ('rollout <@ (index)', 'SELECT count(*) FROM t_rollout WHERE v <@ %1$L::rollout.semver_range'),
  ('rollout satisfies() (index)', 'SELECT count(*) FROM t_rollout WHERE rollout.satisfies(v, %1$L)'),
  ('rollout >= AND < (index)', 'SELECT count(*) FROM t_rollout WHERE v >= %2$L::rollout.semver AND v < %3$L::rollout.semver'),
  ('rollout >= AND < AND NOT is_prerelease (index)', 'SELECT count(*) FROM t_rollout WHERE v >= %2$L::rollout.semver AND v < %3$L::rollout.semver AND NOT rollout.is_prerelease(v)'),
  ('pg-semver >= AND < (index)', 'SELECT count(*) FROM t_pgsemver WHERE v >= %2$L::public.semver AND v < %3$L::public.semver'),
  ('pg-semver <@ semverrange', 'SELECT count(*) FROM t_pgsemver WHERE v <@ public.semverrange(%2$L, %3$L)')) v(variant, q);
-- 0.3.0's plan of <@: no index path, so a sequential scan
INSERT INTO queries
SELECT task, 'rollout <@ as 0.3.0 (scan)',
       'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; '
       || q || '; RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan', ord
FROM queries WHERE variant = 'rollout <@ (index)';
CREATE TEMP TABLE cases AS SELECT * FROM queries;

-- rows, plans and estimates (0.3.0's estimator, contsel, restored for a
-- transaction that is rolled back)
CREATE TEMP TABLE plans AS
SELECT task, variant, 0::bigint AS actual,
       NULL::text AS node, NULL::float8 AS est, NULL::float8 AS est_030
FROM queries;
DO $$
DECLARE c record;
        n bigint;
        p json;
BEGIN
  FOR c IN SELECT * FROM queries WHERE variant NOT LIKE '%0.3.0%' LOOP
    EXECUTE c.q INTO n;
    p := pg_temp.scan(c.q);
    UPDATE plans SET actual = n, node = (p ->> 'Node Type') || coalesce(' ' || (p -> 'Plans' -> 0 ->> 'Node Type'), ''),
           est = (p ->> 'Plan Rows')::float8
    WHERE task = c.task AND variant = c.variant;
  END LOOP;
END $$;
BEGIN;
ALTER OPERATOR rollout.<@ (rollout.semver, rollout.semver_range) SET (RESTRICT = contsel);
SET LOCAL enable_indexscan = off;
SET LOCAL enable_indexonlyscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT json_object_agg(task, pg_temp.scan(q)) AS plans_030 FROM queries
WHERE variant = 'rollout <@ (index)' \gset
ROLLBACK;
UPDATE plans p SET est = (:'plans_030'::json -> task ->> 'Plan Rows')::float8,
       node = :'plans_030'::json -> task ->> 'Node Type',
       actual = (SELECT actual FROM plans WHERE task = p.task AND variant = 'rollout <@ (index)')
WHERE variant = 'rollout <@ as 0.3.0 (scan)';

\pset footer off
SELECT task, variant, actual, round(est) AS estimated, round((est / greatest(actual, 1))::numeric, 2) AS est_vs_actual, node
FROM plans p ORDER BY (SELECT ord FROM queries q WHERE q.task = p.task LIMIT 1), variant;

-- warm up once, then :rounds interleaved rounds
SELECT pg_temp.timed_rounds(:'rounds') AS rounds;

-- medians, and the best of the rounds (on a shared machine the best is
-- the figure least disturbed by other work), each with its ratios to the
-- hand-written bounds on the same index and to pg-semver's bounds on its own
SELECT task, variant, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS median_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) /
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings b
          WHERE b.task = t.task AND b.variant = 'rollout >= AND < (index)'))::numeric, 2) AS vs_bounds,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) /
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings b
          WHERE b.task = t.task AND b.variant = 'pg-semver >= AND < (index)'))::numeric, 2) AS vs_pgsemver,
       round(min(ms)::numeric, 2) AS best_ms,
       round((min(ms) / (SELECT min(ms) FROM timings b
          WHERE b.task = t.task AND b.variant = 'rollout >= AND < (index)'))::numeric, 2) AS best_vs_bounds,
       round((min(ms) / (SELECT min(ms) FROM timings b
          WHERE b.task = t.task AND b.variant = 'pg-semver >= AND < (index)'))::numeric, 2) AS best_vs_pgsemver
FROM timings t GROUP BY task, variant
ORDER BY min((SELECT ord FROM cases c WHERE c.task = t.task LIMIT 1)), median_ms;
