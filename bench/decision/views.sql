-- bench/decision/views.sql: each statistics view as a reporting tool queries
-- it, against the naive GROUP BY over raw events (or client_state) that
-- answers the same question. Medians of :rounds runs, interleaved.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path = public, rollout;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET work_mem = '256MB';
\ir ../common.sql
CREATE TEMP TABLE cases (task text, variant text, q text, ord int DEFAULT 0);
INSERT INTO cases (task, variant, q) VALUES
 ('stats_overview', 'view', 'SELECT * FROM rollout.stats_overview'),
 ('stats_overview', 'naive', $$SELECT project_id, count(DISTINCT client_id) FILTER (WHERE action = 'check' AND created_at >= date_trunc('day', now())),
     count(*) FILTER (WHERE action = 'check' AND created_at >= date_trunc('day', now())),
     count(*) FILTER (WHERE action = 'success' AND created_at >= now() - interval '7 days') FROM rollout.update_events GROUP BY project_id$$),
 ('stats_version_distribution', 'view', $$SELECT * FROM rollout.stats_version_distribution WHERE project = 'p3'$$),
 ('stats_version_distribution', 'naive', $$SELECT current_version, count(*) FROM rollout.client_state WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = 'p3') GROUP BY 1$$),
 ('stats_region_distribution', 'view', $$SELECT * FROM rollout.stats_region_distribution WHERE project = 'p3'$$),
 ('stats_region_distribution', 'naive', $$SELECT region, count(*) FROM rollout.client_state WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = 'p3') GROUP BY 1$$),
 ('stats_daily (7 days)', 'view', $$SELECT * FROM rollout.stats_daily WHERE project = 'p3' AND day > rollout.utc_today() - 7$$),
 ('stats_daily (7 days)', 'naive', $$SELECT created_at::date, action, version, count(*), count(DISTINCT client_id) FROM rollout.update_events
     WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = 'p3') AND created_at > now() - interval '7 days' GROUP BY 1, 2, 3$$),
 ('stats_version_funnel', 'view', $$SELECT * FROM rollout.stats_version_funnel WHERE project = 'p3'$$),
 ('stats_version_funnel', 'naive', $$SELECT version, count(DISTINCT client_id) FILTER (WHERE action = 'check'), count(DISTINCT client_id) FILTER (WHERE action = 'download'),
     count(DISTINCT client_id) FILTER (WHERE action = 'success'), count(DISTINCT client_id) FILTER (WHERE action = 'failed')
     FROM rollout.update_events WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = 'p3') GROUP BY 1$$),
 ('stats_channel_status', 'view', $$SELECT * FROM rollout.stats_channel_status WHERE project = 'p3'$$),
 ('stats_channel_status', 'naive', $$SELECT channel, current_version, count(*) FROM rollout.client_state WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = 'p3') GROUP BY 1, 2$$);
SELECT pg_temp.timed_rounds(:'rounds') AS rounds;
\pset footer off
SELECT task AS view,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'view')::numeric, 2) AS view_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'naive')::numeric, 1) AS naive_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'naive') /
              percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'view'))::numeric, 1) AS times_faster
FROM timings GROUP BY task ORDER BY task;
