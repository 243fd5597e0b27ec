-- bench/common.sql: the timing helpers every benchmark uses.
-- pg_temp.ms(query) runs the query once and returns how long it took, in ms.
CREATE OR REPLACE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- pg_temp.timed_rounds(rounds) runs every query of the temp table
-- cases(task, variant, q, ord) once to warm up, then `rounds` interleaved
-- rounds (each round runs every case once, in random order within ord),
-- into the temp table timings(task, variant, ms); returns the rounds run.
CREATE OR REPLACE FUNCTION pg_temp.timed_rounds(rounds int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_temp.ms(q) FROM cases;
  CREATE TEMP TABLE timings (task text, variant text, ms float8);
  FOR r IN 1..rounds LOOP
    INSERT INTO timings SELECT task, variant, pg_temp.ms(q) FROM cases ORDER BY ord, random();
  END LOOP;
  RETURN rounds;
END $$;
