--
-- semver: input/output, SemVer 2.0.0 precedence, accessors, conversions,
-- invalid input of every kind, aggregates.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
RESET client_min_messages;
SET search_path = rollout, public;

-- canonical output: v/V and blanks dropped, build kept
SELECT '1.2.3'::semver, 'v1.2.3'::semver, 'V1.2.3'::semver, '  1.2.3 '::semver,
       E'\t v1.0.0-rc.1+build.5 \n'::semver, '0.0.0'::semver;
SELECT '1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay'::semver;
SELECT '9223372036854775807.9223372036854775807.9223372036854775807'::semver;
SELECT '1.0.0-99999999999999999999999999999999999999.1'::semver;
SELECT '1.0.0+0001.02'::semver AS build_leading_zeros_ok, '1.0.0-0a.00a'::semver AS alnum_leading_zero_ok;

-- the semver.org precedence chain, each step strictly increasing
WITH chain(i, v) AS (VALUES
  (1, '1.0.0-alpha'), (2, '1.0.0-alpha.1'), (3, '1.0.0-alpha.beta'),
  (4, '1.0.0-beta'), (5, '1.0.0-beta.2'), (6, '1.0.0-beta.11'),
  (7, '1.0.0-rc.1'), (8, '1.0.0'), (9, '1.0.1'), (10, '1.1.0'), (11, '2.0.0'))
SELECT a.v AS lower, b.v AS higher,
       a.v::semver < b.v::semver AS lt, a.v::semver <= b.v::semver AS le,
       b.v::semver > a.v::semver AS gt, b.v::semver >= a.v::semver AS ge,
       a.v::semver <> b.v::semver AS ne, a.v::semver = b.v::semver AS eq,
       semver_cmp(a.v::semver, b.v::semver) AS cmp
FROM chain a JOIN chain b ON b.i = a.i + 1 ORDER BY a.i;

-- sorting agrees with the chain whatever the input order
SELECT array_agg(v ORDER BY v) FROM unnest('{1.0.0,1.0.0-rc.1,1.0.0-beta.11,1.0.0-beta.2,1.0.0-beta,1.0.0-alpha.beta,1.0.0-alpha.1,1.0.0-alpha}'::semver[]) v;

-- numeric identifiers compare by value, also beyond 64 bits
SELECT '1.0.0-2'::semver < '1.0.0-10'::semver AS small,
       '1.0.0-18446744073709551616'::semver > '1.0.0-18446744073709551615'::semver AS beyond_u64,
       '1.0.0-99999999999999999999999999999999999999'::semver < '1.0.0-100000000000000000000000000000000000000'::semver AS huge,
       '1.0.0-999'::semver < '1.0.0-a'::semver AS numeric_below_alnum,
       '1.0.0-a'::semver < '1.0.0-a.0'::semver AS shorter_first,
       '1.0.0-Z'::semver < '1.0.0-a'::semver AS ascii_order,
       '10.0.0'::semver > '9.0.0'::semver AS numeric_major,
       '9223372036854775807.0.0'::semver > '9223372036854775806.999.999'::semver AS max_major;

-- build metadata: kept, printed, ignored by equality, ordering and hashing
SELECT '1.0.0+a'::semver = '1.0.0+b'::semver AS eq,
       '1.0.0+a'::semver < '1.0.0+b'::semver AS lt,
       semver_cmp('1.0.0+zzz', '1.0.0') AS cmp,
       semver_hash('1.0.0+a') = semver_hash('1.0.0') AS hash_eq,
       semver_hash_extended('1.0.0-rc.1+a', 42) = semver_hash_extended('1.0.0-rc.1', 42) AS hashx_eq,
       semver_hash('1.0.0-rc.1') <> semver_hash('1.0.0-rc.2') AS hash_covers_pre;
SELECT count(DISTINCT v) FROM unnest('{1.0.0+a,1.0.0+b,1.0.0,1.0.0-x+a,1.0.0-x}'::semver[]) v;

-- accessors
SELECT major(v), minor(v), patch(v), prerelease(v), build(v), is_prerelease(v)
FROM unnest('{1.2.3,4.5.6-rc.1,7.8.9+b.1,0.0.1-x.7+meta}'::semver[]) v;

-- casts to and from text
SELECT 'v1.2.3-rc.1+b'::text::semver::text, semver('1.0.0'), semver_text('1.0.0+x');
CREATE TEMP TABLE assign (v semver);
INSERT INTO assign VALUES ('1.0.0'), ('v2.0.0'::text), ('3.0.0-rc.1'::varchar);
SELECT v FROM assign ORDER BY v;

-- lax conversion and validity checks
SELECT to_semver('1'), to_semver('1.2'), to_semver('v1'), to_semver(' V2.3 '),
       to_semver('01.02.03'), to_semver('1.2-beta.1'), to_semver('1.2.3+b');
SELECT left(t, 30) AS t, is_semver(t) FROM unnest(ARRAY['1.2.3', 'v1.2.3', '1.2', '01.2.3', '1.2.3-', 'x',
       '', '1.2.3-01', repeat('1', 2000), '99999999999999999999.0.0', NULL]) t;

-- aggregates
SELECT min(v), max(v) FROM unnest('{1.0.0-rc.1,1.0.0,0.9.9,1.0.0-beta.11,1.0.0-beta.2}'::semver[]) v;
SELECT min(v), max(v) FROM unnest('{}'::semver[]) v;

-- invalid input: 22P02 with the text in the message
\set VERBOSITY default
SELECT ''::semver;
SELECT '   '::semver;
SELECT '1'::semver;
SELECT '1.2'::semver;
SELECT '1.2.3.4'::semver;
SELECT '01.2.3'::semver;
SELECT '1.02.3'::semver;
SELECT '1.2.03'::semver;
SELECT '1.2.3-01'::semver;
SELECT '1.2.3-'::semver;
SELECT '1.2.3-alpha..1'::semver;
SELECT '1.2.3-alpha.'::semver;
SELECT '1.2.3+'::semver;
SELECT '1.2.3+build..1'::semver;
SELECT '1.2.3-be_ta'::semver;
SELECT '1.2.3-βeta'::semver;
SELECT '1.2.3 junk'::semver;
SELECT '1.2.3junk'::semver;
SELECT 'vv1.2.3'::semver;
SELECT '=1.2.3'::semver;
SELECT '-1.2.3'::semver;
SELECT '1.-2.3'::semver;
SELECT 'a.b.c'::semver;
SELECT '1.2.3-rc.1+b+c'::semver;
-- out of range: 22003
SELECT '9223372036854775808.0.0'::semver;
SELECT '1.99999999999999999999999.0'::semver;
-- too long: 54000
SELECT ('1.0.0-' || repeat('a', 2000))::semver;
-- lax conversion still rejects garbage
SELECT to_semver('1.2.x');
SELECT to_semver('');
-- the SQLSTATEs themselves
\set VERBOSITY sqlstate
SELECT '1.2'::semver;
SELECT '18446744073709551616.0.0'::semver;
SELECT repeat('9', 1100)::semver;
