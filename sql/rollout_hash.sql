--
-- rollout_hash: rollout_bucket test vectors (computed independently with
-- SHA-256 as the README documents), range, determinism, uniformity
-- (chi-square), monotone percentages, independence between salts, and
-- in_rollout's percentage checks.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
RESET client_min_messages;
SET search_path = rollout, public;

-- test vectors: bucket = uint64_be(sha256(salt || 0x00 || client_id)[0:8]) % 10000
SELECT client_id, salt, rollout_bucket(client_id, salt) AS bucket
FROM (VALUES ('client-1', 'default@1.2.3'), ('client-2', 'default@1.2.3'),
             ('client-1', 'default@1.2.4'), ('', ''), ('用户-42', 'panel@2.0.0-rc.1'),
             ('00000000-0000-0000-0000-000000000000', 'default@1.0.0')) t(client_id, salt);
-- the same computation in SQL with pgcrypto-free built-ins
SELECT count(*) AS disagreements FROM generate_series(1, 2000) i
WHERE rollout_bucket('c' || i, 'salt') <>
      (('x' || encode(substr(sha256(convert_to('salt', 'UTF8') || '\x00'::bytea || convert_to('c' || i, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint::numeric
       + CASE WHEN get_byte(sha256(convert_to('salt', 'UTF8') || '\x00'::bytea || convert_to('c' || i, 'UTF8')), 0) >= 128
              THEN 18446744073709551616 ELSE 0 END) % 10000;

-- range and determinism
SELECT min(b) >= 0 AS lower_ok, max(b) < 10000 AS upper_ok
FROM (SELECT rollout_bucket('id-' || i, 's') b FROM generate_series(1, 100000) i) s;
SELECT rollout_bucket('abc', 'x') = rollout_bucket('abc', 'x') AS deterministic;

-- uniformity: chi-square over 100 bins of 100,000 sequential ids; the 1 %
-- critical value for 99 degrees of freedom is 134.64
WITH b AS (SELECT rollout_bucket('client-' || i, 'default@1.2.3') / 100 AS bin
           FROM generate_series(1, 100000) i),
     c AS (SELECT bin, count(*) AS n FROM b GROUP BY bin)
SELECT count(*) AS bins, round(sum((n - 1000.0) ^ 2 / 1000.0)::numeric, 2) AS chi2,
       sum((n - 1000.0) ^ 2 / 1000.0) < 134.64 AS uniform_p_above_0_01 FROM c;

-- in_rollout: proportions match the percentage (±1.5 points over 10,000 ids)
SELECT pct, abs(100.0 * count(*) FILTER (WHERE in_rollout('c' || i, 'default@2.0.0', pct)) / 10000 - pct) <= 1.5 AS within
FROM generate_series(1, 10000) i, unnest('{0,0.01,5,12.5,33.33,50,99.99,100}'::numeric[]) pct
GROUP BY pct ORDER BY pct;
SELECT count(*) FILTER (WHERE in_rollout('c' || i, 's', 0)) AS at_0,
       count(*) FILTER (WHERE in_rollout('c' || i, 's', 100)) AS at_100
FROM generate_series(1, 10000) i;

-- monotone: every client inside at p is inside at every q > p
SELECT count(*) AS violations
FROM generate_series(1, 5000) i, unnest('{1,10,25,50,75}'::numeric[]) p, unnest('{1.01,10.5,30,50,99}'::numeric[]) q
WHERE q > p AND in_rollout('c' || i, 's', p) AND NOT in_rollout('c' || i, 's', q);

-- independence between salts: cohorts of two releases overlap as chance says
-- (10 % x 10 % of 100,000 = 1,000 expected; 4 sigma is about 120)
SELECT abs(count(*) - 1000) < 120 AS independent
FROM generate_series(1, 100000) i
WHERE in_rollout('c' || i, 'default@1.0.0', 10) AND in_rollout('c' || i, 'default@1.0.1', 10);
SELECT corr(rollout_bucket('c' || i, 'a'), rollout_bucket('c' || i, 'b')) BETWEEN -0.02 AND 0.02 AS uncorrelated
FROM generate_series(1, 100000) i;

-- percentages outside [0, 100]: 22023
SELECT in_rollout('c', 's', 100.01);
SELECT in_rollout('c', 's', -1);
SELECT in_rollout('c', 's', 'NaN');
\set VERBOSITY sqlstate
SELECT in_rollout('c', 's', 101);
