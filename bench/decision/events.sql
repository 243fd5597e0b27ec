-- bench/decision/events.sql: 10,000,000 events over 30 days, skewed to the
-- newest versions, with the rollups the write path would have kept.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path = public, rollout;
SET work_mem = '1GB';
SET maintenance_work_mem = '1GB';
SELECT ensure_event_partitions(utc_today() - 30, utc_today());
INSERT INTO update_events (project_id, version, client_id, client_version, region, action, created_at)
SELECT p, ver, 'client-' || (p - (SELECT min(id) FROM projects WHERE slug LIKE 'p_')) || '-' || c, ver, r, a, t
FROM (
	SELECT (SELECT min(id) FROM projects WHERE slug LIKE 'p_') + (i % 10) AS p,
	       ((1 + vi / 50) || '.' || (vi % 50) || '.0')::semver AS ver,
	       1 + (i / 10) % 100000 AS c,
	       (ARRAY['cn', 'us', 'eu', 'jp'])[1 + i % 4] AS r,
	       (ARRAY['check', 'check', 'check', 'check', 'download', 'success', 'success', 'failed'])[1 + (i / 7) % 8] AS a,
	       now() - make_interval(secs => (i::bigint * 2654435761) % 2592000) AS t
	FROM (SELECT i, 199 - floor(200 * power(((i::bigint * 40503) % 65536) / 65536.0, 4))::int AS vi
	      FROM generate_series(1, 10000000) i) g
) e;
-- what the write path keeps: daily events and distinct clients, the funnel
INSERT INTO rollup_daily (day, project_id, action, version, shard, events, clients)
SELECT (created_at AT TIME ZONE 'UTC')::date, project_id, action, version, (hashtext(client_id) & 7)::smallint,
       count(*), count(DISTINCT client_id)
FROM update_events GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ON CONSTRAINT rollup_daily_pkey DO UPDATE
SET events = rollup_daily.events + EXCLUDED.events, clients = rollup_daily.clients + EXCLUDED.clients;
INSERT INTO rollup_funnel AS f (project_id, version, offered, downloaded, succeeded, failed)
SELECT project_id, version, count(DISTINCT client_id) FILTER (WHERE action = 'check'),
       count(DISTINCT client_id) FILTER (WHERE action = 'download'),
       count(DISTINCT client_id) FILTER (WHERE action = 'success'),
       count(DISTINCT client_id) FILTER (WHERE action = 'failed')
FROM update_events GROUP BY 1, 2
ON CONFLICT (project_id, version, shard) DO UPDATE SET offered = EXCLUDED.offered, downloaded = EXCLUDED.downloaded,
	succeeded = EXCLUDED.succeeded, failed = EXCLUDED.failed;
VACUUM ANALYZE;
SELECT count(*) AS events FROM update_events;
SELECT count(*) AS rollup_daily_rows FROM rollup_daily;
