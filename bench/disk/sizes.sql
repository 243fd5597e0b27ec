-- bench/disk/sizes.sql: pg_total_relation_size (heap + indexes + TOAST) of
-- rollout's tables with rows, partitions added up into their parent.
\set ON_ERROR_STOP on
SELECT coalesce(parent.relname, c.relname) AS "table",
       sum(c.reltuples)::bigint AS "rows",
       pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS total,
       pg_size_pretty(sum(pg_indexes_size(c.oid))) AS "of which indexes",
       CASE WHEN sum(c.reltuples) > 0 THEN round(sum(pg_total_relation_size(c.oid)) / sum(c.reltuples)) END AS "bytes per row"
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class parent ON parent.oid = i.inhparent
WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind = 'r' AND c.reltuples > 0
GROUP BY 1
ORDER BY sum(pg_total_relation_size(c.oid)) DESC;
SELECT pg_size_pretty(pg_database_size(current_database())) AS "database in all";
