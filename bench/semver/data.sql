-- bench/semver/data.sql: the 1,000,000 versions every part of bench/semver
-- measures, loaded as rollout.semver, pg-semver's semver and bigint.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
CREATE EXTENSION IF NOT EXISTS semver;   -- pg-semver (Debian postgresql-15-semver), baseline only
\ir settings.sql

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
