--
-- semver_range: node-semver range syntax (comparators, hyphen ranges, x/X/*
-- wildcards and partial versions, ~, ^ with the 0.x rules, ||, blank), the
-- pre-release rule, canonical output, operators and satisfies(), bad input.
-- test/compat checks the same semantics against node-semver itself.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
RESET client_min_messages;
SET search_path = rollout, public;

-- canonical form of every syntax
SELECT r AS input, r::semver_range AS canonical FROM unnest(ARRAY[
  '1.2.3', '=1.2.3', 'v1.2.3', '=v1.2.3', '>1.2.3', '>=1.2.3', '<1.2.3', '<=1.2.3',
  '>= 1.2.3', '<  1.2.3-rc.1', '>=1.2.3 <2.0.0', '1.2.3 - 2.3.4', '1.2 - 2.3.4',
  '1.2.3 - 2.3', '1.2.3 - 2', '* - 2', '1.2.3-beta - 2.0.0-rc.1',
  '*', 'x', 'X', '', '   ', '1.x', '1.X', '1.*', '1', '1.2', '1.2.x', '1.x.x',
  '>1', '>1.2', '>=1', '>=1.2', '<1', '<1.2', '<=1', '<=1.2', '=1.2', '>*', '<*', '>=*',
  '~1.2.3', '~1.2', '~1', '~>1.2.3', '~ 1.2.3', '~1.2.3-beta.2', '~0.2.3', '~0',
  '^1.2.3', '^0.2.3', '^0.0.3', '^1.2', '^0.2', '^0.0', '^1', '^0', '^1.x', '^0.x', '^0.0.x',
  '^1.2.3-beta.2', '^0.0.3-beta', '^ 1.2.3', '^*',
  '1.2.7 || >=1.2.9 <2.0.0', '1.x || >=2.5.0 || 5.0.0 - 7.2.3', '|| 1.2.3', '1.2.3 ||',
  '>=1.2.3+build.5 <2', '9223372036854775806.x']) r;

-- matches and non-matches
CREATE TEMP TABLE cases (r text, v text, expect boolean);
INSERT INTO cases VALUES
  ('1.2.3', '1.2.3', true), ('1.2.3', '1.2.4', false), ('1.2.3', '1.2.3+build', true),
  ('>=1.2.3 <2.0.0', '1.9.9', true), ('>=1.2.3 <2.0.0', '2.0.0', false), ('>=1.2.3 <2.0.0', '1.2.2', false),
  ('1.2.3 - 2.3.4', '2.3.4', true), ('1.2.3 - 2.3.4', '2.3.5', false), ('1.2.3 - 2.3.4', '1.2.3', true),
  ('1.2 - 2.3', '2.3.99', true), ('1.2 - 2.3', '2.4.0', false), ('1.2 - 2.3', '1.2.0', true), ('1.2 - 2.3', '1.1.9', false),
  ('1.x', '1.0.0', true), ('1.x', '1.99.99', true), ('1.x', '2.0.0', false), ('1.x', '0.9.9', false),
  ('*', '0.0.0', true), ('*', '9223372036854775807.0.0', true), ('', '1.0.0', true),
  ('~1.2.3', '1.2.9', true), ('~1.2.3', '1.3.0', false), ('~1.2.3', '1.2.2', false),
  ('~1', '1.9.9', true), ('~1', '2.0.0', false),
  ('^1.2.3', '1.9.9', true), ('^1.2.3', '2.0.0', false), ('^1.2.3', '1.2.2', false),
  ('^0.2.3', '0.2.9', true), ('^0.2.3', '0.3.0', false),
  ('^0.0.3', '0.0.3', true), ('^0.0.3', '0.0.4', false),
  ('^0.x', '0.9.0', true), ('^0.x', '1.0.0', false),
  ('>1.2', '1.2.9', false), ('>1.2', '1.3.0', true), ('<=1.2', '1.2.9', true), ('<=1.2', '1.3.0', false),
  ('<1.2', '1.1.9', true), ('<1.2', '1.2.0', false), ('>*', '1.0.0', false), ('<*', '0.0.0', false),
  ('1.2.7 || >=1.2.9 <2.0.0', '1.2.7', true), ('1.2.7 || >=1.2.9 <2.0.0', '1.2.8', false),
  ('1.2.7 || >=1.2.9 <2.0.0', '1.4.6', true), ('1.2.7 || >=1.2.9 <2.0.0', '2.0.0', false),
  -- the pre-release rule
  ('>1.2.3-alpha.3', '1.2.3-alpha.7', true), ('>1.2.3-alpha.3', '3.4.5-alpha.9', false),
  ('>1.2.3-alpha.3', '3.4.5', true), ('>1.2.3-alpha.3', '1.2.3-alpha.2', false),
  ('^1.2.3-beta.2', '1.2.3-beta.4', true), ('^1.2.3-beta.2', '1.2.4-beta.2', false),
  ('~1.2.3-beta.2', '1.2.3-beta.10', true), ('~1.2.3-beta.2', '1.2.3-alpha', false),
  ('*', '1.0.0-rc.1', false), ('1.x', '1.5.0-beta', false), ('>=1.0.0', '2.0.0-rc.1', false),
  ('<2.0.0', '2.0.0-rc.1', false), ('1.x', '2.0.0-0', false), ('^1.2.3', '2.0.0-0', false),
  ('>=1.0.0-0 <2.0.0', '1.0.0-rc.1', true), ('>=1.0.0-0 <2.0.0', '1.5.0-rc.1', false),
  ('1.0.0-rc.1 - 2.0.0', '1.0.0-rc.2', true), ('1.0.0 - 2.0.0-rc.1', '2.0.0-beta', true),
  ('1.0.0 - 2.0.0-rc.1', '2.0.0', false), ('1.2.3-rc.1', '1.2.3-rc.1+b', true);

SELECT r, v, satisfies(v::semver, r) AS got, expect
FROM cases WHERE satisfies(v::semver, r) IS DISTINCT FROM expect;
SELECT count(*) AS cases, count(*) FILTER (WHERE satisfies(v::semver, r) = expect) AS agree FROM cases;

-- the operators agree with satisfies() and with each other
SELECT count(*) FILTER (WHERE (r::semver_range @> v::semver) = expect) AS contains_ok,
       count(*) FILTER (WHERE (v::semver <@ r::semver_range) = expect) AS contained_ok
FROM cases;

-- the canonical text means the same range as the input
SELECT count(*) AS canonical_changes_meaning
FROM cases WHERE satisfies(v::semver, r::semver_range::text) IS DISTINCT FROM expect;

-- ranges as column values: filtering, and a range per row
CREATE TEMP TABLE rule_ranges (id int, rng semver_range);
INSERT INTO rule_ranges VALUES (1, '^1.2'), (2, '>=2.0.0 <3.0.0-0'), (3, '1.0.0 - 1.4');
SELECT id, rng::text, array_agg(v ORDER BY v) FILTER (WHERE v <@ rng) AS members
FROM rule_ranges, unnest('{1.0.0,1.2.0,1.4.9,1.5.0,2.0.0-rc.1,2.5.0,3.0.0}'::semver[]) v
GROUP BY id, rng::text ORDER BY id;
SELECT count(*) FROM generate_series(0, 20) m, generate_series(0, 20) n
WHERE format('%s.%s.0', m, n)::semver <@ '^1.2 || ~3.4 || 7.x'::semver_range;

-- binary round trip of ranges
CREATE TEMP TABLE rcopy AS SELECT rng FROM rule_ranges;
COPY rcopy TO '/tmp/rollout_range_copy.bin' WITH (FORMAT binary);
CREATE TEMP TABLE rcopy2 (rng semver_range);
COPY rcopy2 FROM '/tmp/rollout_range_copy.bin' WITH (FORMAT binary);
SELECT rng FROM rcopy2;

-- equality: the same canonical form; ranges compare, group, DISTINCT and hash-join
SELECT '^1.2.3'::semver_range = '>=1.2.3 <2.0.0-0' AS same, '~1.2'::semver_range = '^1.2' AS tilde_is_caret,
       '1.x'::semver_range <> '>=1.0.0 <2.0.0-0' AS differ, '*'::semver_range = '' AS star_is_empty;
SELECT rng, count(*) FROM (VALUES ('^1.2'::semver_range), ('>=1.2.0 <2.0.0-0'), ('~1.2'), ('1.2.x'), ('1.2')) t(rng)
GROUP BY rng ORDER BY rng::text;
SELECT count(*) AS distinct_ranges FROM (SELECT DISTINCT rng FROM (VALUES ('^1.2'::semver_range), ('>=1.2.0 <2.0.0-0'), ('~1.2')) t(rng)) d;
-- ranges have no order: an aggregate's DISTINCT, which sorts, says so
SELECT count(DISTINCT rng) FROM rule_ranges;
SELECT id FROM rule_ranges WHERE rng = '>=1.2.0 <2.0.0-0';
SELECT rng::text FROM (SELECT rng FROM rule_ranges UNION SELECT '^1.2' UNION SELECT '^4') u ORDER BY 1;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT a.id FROM rule_ranges a JOIN rcopy2 b ON a.rng = b.rng;
SELECT a.id FROM rule_ranges a JOIN rcopy2 b ON a.rng = b.rng ORDER BY 1;
RESET enable_nestloop;
RESET enable_mergejoin;
SELECT semver_range_hash('^1.2') = semver_range_hash('>=1.2.0 <2.0.0-0') AS same_hash,
       semver_range_hash_extended('^1.2', 7) = semver_range_hash_extended('>=1.2.0 <2.0.0-0', 7) AS same_hash64;

-- invalid ranges: 22P02 with the text in the message
SELECT '1.2.3 |'::semver_range;
SELECT '>>1.2.3'::semver_range;
SELECT '>='::semver_range;
SELECT '1.2.3 -'::semver_range;
SELECT '- 1.2.3'::semver_range;
SELECT '1.2.3 - 2.0.0 - 3.0.0'::semver_range;
SELECT '01.2.3'::semver_range;
SELECT '1.2.3-01'::semver_range;
SELECT '1.2-beta'::semver_range;
SELECT 'a.b.c'::semver_range;
SELECT '^^1.2'::semver_range;
SELECT '~1.2.3 junk'::semver_range;
SELECT '1.2.3.4'::semver_range;
SELECT satisfies('1.0.0', '>= 1.0.0 < ');
-- out of range and too long
SELECT '^9223372036854775807'::semver_range;
SELECT '<=9223372036854775807.x'::semver_range;
SELECT '1.2.3 - 99999999999999999999'::semver_range;
SELECT repeat('1.2.3 ', 1000)::semver_range;
SELECT repeat('1.2.3||', 300)::semver_range;
\set VERBOSITY sqlstate
SELECT '>>1.2.3'::semver_range;
SELECT '^9223372036854775807'::semver_range;
SELECT repeat('^1 ', 300)::semver_range;
\set VERBOSITY default
-- node-semver 7.8: no number may follow an x in an x-range; build metadata goes wherever it stands
SELECT 'x.1.2'::semver_range;
SELECT '1.x.2'::semver_range;
SELECT '*.1'::semver_range;
SELECT '1.x'::semver_range, '1.2.x'::semver_range, '~x.1'::semver_range;
SELECT '1+a 2+b'::semver_range, '>=1.2.3+build.5 <2'::semver_range, '+build'::semver_range;
