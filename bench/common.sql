-- bench/common.sql: the timing helper every benchmark uses.
-- pg_temp.ms(query) runs the query once and returns how long it took, in ms.
CREATE OR REPLACE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
