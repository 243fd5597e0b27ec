--
-- semver_index: btree and hash opclasses, index scans, hash aggregation and
-- joins, sort support (abbreviated keys) against the full comparator, binary
-- COPY round trip, binary input validation.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
RESET client_min_messages;
SET search_path = rollout, public;

-- the opclasses validate
SELECT opcname, amvalidate(opc.oid)
FROM pg_opclass opc JOIN pg_namespace n ON n.oid = opcnamespace
WHERE nspname = 'rollout' ORDER BY opcname;

-- a deterministic mix of versions: releases, pre-releases, huge numbers, builds
CREATE TABLE vers AS
SELECT i,
       (format('%s.%s.%s', (j * 7) % 13, (j * 11) % 1500, (j * 13) % 70000)
        || CASE j % 9
             WHEN 0 THEN '-alpha.' || (j % 5)
             WHEN 1 THEN '-rc.' || (j % 3)
             WHEN 2 THEN '-' || (j % 4) || '.beta'
             WHEN 3 THEN '-beta.' || repeat('9', 1 + j % 30)
             WHEN 4 THEN '-x-y-z.' || (j % 2)
             ELSE '' END
        || CASE WHEN i % 17 = 0 THEN '+build.' || i ELSE '' END)::semver AS v
FROM generate_series(1, 20000) i, LATERAL (SELECT i % 7000 AS j) jj;
INSERT INTO vers VALUES (20001, '9223372036854775807.9223372036854775807.9223372036854775807'),
  (20002, '0.0.0-0'), (20003, '1.0.0-18446744073709551615'), (20004, '1.0.0-18446744073709551616'),
  (20005, '1.0.0-99999999999999999999'), (20006, '1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
  (20007, '1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.1'), (20008, '1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab');
ANALYZE vers;

-- a sort (abbreviated keys) never puts a version after a greater one,
-- as judged by the full comparator
SELECT count(*) AS misordered FROM (
  SELECT v, lead(v) OVER (ORDER BY v) AS nxt FROM vers) s
WHERE nxt < v;
-- and agrees with a sort by the accessor tuple for releases
SELECT count(*) AS mismatches FROM (
  SELECT v, row_number() OVER (ORDER BY v, i) AS a,
         row_number() OVER (ORDER BY major(v), minor(v), patch(v), i) AS b
  FROM vers WHERE NOT is_prerelease(v)) s
WHERE a <> b;

-- btree index scans
CREATE INDEX vers_v_idx ON vers (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT i FROM vers WHERE v = '3.1000.20000';
SELECT count(*) FROM vers WHERE v >= '12.0.0' AND v < '12.100.0';
SELECT count(*) FROM vers WHERE v = '9223372036854775807.9223372036854775807.9223372036854775807';
EXPLAIN (COSTS OFF) SELECT max(v) FROM vers;
SELECT max(v), min(v) FROM vers;
EXPLAIN (COSTS OFF) SELECT v FROM vers ORDER BY v LIMIT 3;
SELECT v FROM vers ORDER BY v LIMIT 3;
SELECT v FROM vers WHERE v > '1.0.0-18446744073709551615' AND v < '1.0.0-a' ORDER BY v;
-- the index and a sort agree
SELECT (SELECT array_agg(i ORDER BY v, i) FROM vers) =
       (SELECT array_agg(i) FROM (SELECT i FROM vers ORDER BY v, i) s) AS same_order;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- unique index: build metadata does not make versions different
CREATE TABLE uniq (v semver UNIQUE);
INSERT INTO uniq VALUES ('1.0.0+a');
INSERT INTO uniq VALUES ('1.0.0+b');

-- each version appears about three times, some with build metadata: count
-- the distinct ones independently, from the text without build metadata
SELECT count(DISTINCT regexp_replace(v::text, '\+.*$', '')) AS distinct_by_text FROM vers;

-- hash index, hash aggregation and hash join
CREATE INDEX vers_v_hash ON vers USING hash (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT i FROM vers WHERE v = '3.1000.20000';
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT DISTINCT v FROM vers;
SELECT count(*) FROM (SELECT DISTINCT v FROM vers) s;
RESET enable_sort;
SELECT count(*) FROM (SELECT DISTINCT v FROM vers) s;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM vers a JOIN vers b ON a.v = b.v;
SELECT count(*) FROM vers a JOIN vers b ON a.v = b.v;
RESET enable_mergejoin;
RESET enable_nestloop;
SET enable_hashjoin = off;
SET enable_nestloop = off;
SELECT count(*) FROM vers a JOIN vers b ON a.v = b.v;
RESET enable_hashjoin;
RESET enable_nestloop;

-- binary COPY round trip keeps every value, build metadata included
CREATE TEMP TABLE copy_src AS SELECT i, v, v::text AS t FROM vers;
COPY copy_src TO '/tmp/rollout_semver_copy.bin' WITH (FORMAT binary);
CREATE TEMP TABLE copy_dst (i int, v semver, t text);
COPY copy_dst FROM '/tmp/rollout_semver_copy.bin' WITH (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE d.v::text <> s.t) AS changed
FROM copy_src s JOIN copy_dst d USING (i);

-- binary input is validated like text input: a bytea written with binary
-- COPY is read back as a semver field, so crafted bytes reach semver_recv
CREATE TEMP TABLE recv_dst (v semver);
CREATE FUNCTION pg_temp.recv(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY (SELECT %L::bytea) TO %L WITH (FORMAT binary)', b, '/tmp/rollout_semver_recv.bin');
  TRUNCATE recv_dst;
  COPY recv_dst FROM '/tmp/rollout_semver_recv.bin' WITH (FORMAT binary);
  RETURN (SELECT v::text FROM recv_dst);
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;
-- valid: format 1, 1.2.3, pre "rc.1", build "b"
SELECT pg_temp.recv('\x01000000000000000100000000000000020000000000000003000472632e31000162');
SELECT pg_temp.recv(semver_send('4.5.6-x.7+meta.1'));
-- bad format byte, negative number, leading zero, empty build identifiers, truncated
SELECT pg_temp.recv('\x0200000000000000010000000000000002000000000000000300000000');
SELECT pg_temp.recv('\x01ffffffffffffffff0000000000000002000000000000000300000000');
SELECT pg_temp.recv('\x01000000000000000100000000000000020000000000000003000230310000');
SELECT pg_temp.recv('\x01000000000000000100000000000000020000000000000003000000022e2e');
SELECT pg_temp.recv('\x0100000000000000010000000000');

--
-- Ranges use the B-tree index: <@, @> and satisfies() become index conditions
-- on the range's bounds (extension/semver_support.c), the clause stays as a
-- recheck, and the row estimate comes from the column's statistics.
--
-- 30,000 versions (ANALYZE samples every row, so the statistics do not
-- depend on chance): majors skewed to 0-3, minors 0-19, patches 0-29, 15 %
-- pre-releases alpha.N, beta.N, rc.N.
CREATE TABLE rv AS
SELECT i, (format('%s.%s.%s', maj, mnr, pat) || coalesce('-' || pre, ''))::semver AS v
FROM (SELECT i,
             CASE WHEN h % 10 < 7 THEN h % 4 ELSE h % 10 END AS maj,
             (h / 10) % 20 AS mnr, (h / 200) % 30 AS pat,
             CASE WHEN (h / 6000) % 100 < 15
                  THEN (ARRAY['alpha', 'beta', 'rc'])[1 + (h / 7) % 3] || '.' || (h / 11) % 4 END AS pre
      FROM (SELECT i, (i::bigint * 2654435761) % 4294967296 AS h
            FROM generate_series(1, 30000) i) g) s;
CREATE INDEX rv_v_idx ON rv (v);
ANALYZE rv;

-- the plans: index conditions from the bounds, the clause as a filter
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '^1.2';
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE '^1.2' @> v;
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE satisfies(v, '^1.2');
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '~1.2.3 || 1.5.x';
-- a range whose versions share one major.minor.patch is exactly its index
-- conditions: no recheck
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '=2.3.4';
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '>2.1.3-beta.1 <=2.1.3';
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE satisfies(v, '1.2.3-rc.1');
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '<1.0.0-rc.1';
-- '*' has no bound: no index condition
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '*';
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT i FROM rv WHERE v <@ '^1.2';
RESET enable_indexscan;
RESET enable_seqscan;
-- a range satisfies() cannot parse is still an error, index or not
SELECT count(*) FROM rv WHERE satisfies(v, '^1.2 ||| 3');

-- every range gives the same rows through the index, a bitmap and a
-- sequential scan, with <@, @> and satisfies(); only ranges unbounded both
-- ways ('*', and '<1.0.0 || >=9.0.0' whose hull is every version) get no
-- index condition
CREATE FUNCTION pg_temp.run(q text, scan text) RETURNS TABLE (ids int[], index_cond boolean)
LANGUAGE plpgsql AS $$
DECLARE plan text := '';
        line text;
BEGIN
  PERFORM set_config('enable_seqscan', (scan = 'seq')::text, true);
  PERFORM set_config('enable_indexscan', (scan = 'index')::text, true);
  PERFORM set_config('enable_indexonlyscan', (scan = 'index')::text, true);
  PERFORM set_config('enable_bitmapscan', (scan = 'bitmap')::text, true);
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    plan := plan || line || E'\n';
  END LOOP;
  EXECUTE 'SELECT coalesce(array_agg(i ORDER BY i), ''{}'') FROM (' || q || ') s' INTO ids;
  index_cond := plan LIKE '%Index Cond%';
  RETURN NEXT;
END $$;
CREATE TEMP TABLE ranges (r text);
INSERT INTO ranges VALUES
  ('^1.2'), ('~1.2.3'), ('1.x'), ('1.2.x'), ('*'), ('1.2.3 - 2.3.4'), ('1.2 - 2'),
  ('^1.2 || ^3.1'), ('<1.0.0 || >=9.0.0'), ('0.x || 3.x'), ('>=1.2.3-beta.2 <1.3.0'),
  ('^1.2.3-alpha.1'), ('=2.3.4'), ('>9.0.0'), ('<0.1.0'), ('<2'), ('>=2.0.0 <1.0.0'),
  ('1.2.3-rc.1'), ('~0.0.1'), ('^0.0.3'), ('>2.1.3-beta.1 <=2.1.3'), ('>=1.0.0-0 <1.0.0');
SELECT r, cardinality(seq.ids) AS rows,
       idx.index_cond AS index_cond, idx.ids = seq.ids AS index_same,
       bmp.index_cond AS bitmap_cond, bmp.ids = seq.ids AS bitmap_same,
       (pg_temp.run(format('SELECT i FROM rv WHERE %L @> v', r), 'index')).ids = seq.ids AS contains_same,
       (pg_temp.run(format('SELECT i FROM rv WHERE satisfies(v, %L)', r), 'index')).ids = seq.ids AS satisfies_same
FROM ranges,
     LATERAL pg_temp.run(format('SELECT i FROM rv WHERE v <@ %L', r), 'seq') seq,
     LATERAL pg_temp.run(format('SELECT i FROM rv WHERE v <@ %L', r), 'index') idx,
     LATERAL pg_temp.run(format('SELECT i FROM rv WHERE v <@ %L', r), 'bitmap') bmp
ORDER BY r;

-- the row estimates, from the statistics, are within a factor of 2 of the
-- rows (or both small); the former constant estimate was 30 rows for all
CREATE FUNCTION pg_temp.est(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE p json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
  RETURN (p -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;
SELECT r, rows,
       est_op BETWEEN rows / 2.0 AND rows * 2.0 OR (rows < 50 AND est_op < 50) AS op_ok,
       est_contains = est_op AS contains_same,
       est_sat = est_op AS satisfies_same
FROM (SELECT r, (SELECT count(*) FROM rv WHERE v <@ r::semver_range) AS rows,
             pg_temp.est(format('SELECT i FROM rv WHERE v <@ %L', r)) AS est_op,
             pg_temp.est(format('SELECT i FROM rv WHERE %L @> v', r)) AS est_contains,
             pg_temp.est(format('SELECT i FROM rv WHERE satisfies(v, %L)', r)) AS est_sat
      FROM ranges) s
ORDER BY r;
-- closer for a narrow range: ^1.2 holds 3,445 rows, 11 % of the table
SELECT pg_temp.est($$SELECT i FROM rv WHERE v <@ '^1.2'$$) BETWEEN 3445 / 1.25 AND 3445 * 1.25 AS narrow_ok;

-- a range of one comparator set is matched inline (semver_range.c: a look
-- at the key's last byte and two comparisons); the same range with a second
-- set that matches nothing goes through the general matcher
-- (sv_range_match_plan): both give the same rows, on rv and on vers (long
-- and odd pre-releases, huge numbers, build metadata)
SELECT r, sum(n) AS rows, bool_and(same) AS same
FROM (SELECT r, (SELECT count(*) FROM rv WHERE v <@ r::semver_range) AS n,
             (SELECT count(*) FROM rv WHERE (v <@ r::semver_range) IS DISTINCT FROM
                     (v <@ (r || ' || >2.0.0 <1.0.0')::semver_range)) = 0 AS same
      FROM ranges
      UNION ALL
      SELECT r, (SELECT count(*) FROM vers WHERE v <@ r::semver_range),
             (SELECT count(*) FROM vers WHERE (v <@ r::semver_range) IS DISTINCT FROM
                     (v <@ (r || ' || >2.0.0 <1.0.0')::semver_range)) = 0
      FROM (SELECT r FROM ranges UNION ALL
            VALUES ('>=1.0.0-18446744073709551615 <1.0.0-a'), ('<1.0.0-0'), ('>=0.0.0-0'),
                   ('>1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), ('>=9223372036854775807.0.0')) rr) s
GROUP BY r ORDER BY r;

-- is_prerelease() estimates its rows from the statistics (25,496 releases
-- and 4,504 pre-releases in rv; PostgreSQL's default for a function is a
-- third of the rows)
SELECT pg_temp.est('SELECT i FROM rv WHERE is_prerelease(v)') BETWEEN 4504 / 1.1 AND 4504 * 1.1 AS prerelease_ok,
       pg_temp.est('SELECT i FROM rv WHERE NOT is_prerelease(v)') BETWEEN 25496 / 1.1 AND 25496 * 1.1 AS release_ok;

-- a range that changes between calls through one expression (PL/pgSQL keeps
-- a simple expression's state while its variables change) is not answered
-- from the previous range's cache
CREATE FUNCTION pg_temp.changing() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
        rr semver_range;
        got text := '';
BEGIN
  FOREACH r IN ARRAY ARRAY['^1.0', '^2.0', '^1.0', '2.x', '1.5.0'] LOOP
    rr := r;
    got := got || satisfies('1.5.0', r)::text || ('1.5.0'::semver <@ rr)::text
               || (rr @> '1.5.0'::semver)::text || ' ';
  END LOOP;
  RETURN got;
END $$;
SELECT pg_temp.changing();
