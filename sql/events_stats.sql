--
-- events_stats: download and install reports (idempotent per client and
-- version), rollups kept at write time, the statistics views and the
-- period/action functions, automatic pausing on failure rate with its audit
-- entry, resuming, event partitions and retention, bad input.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS rollout CASCADE;
CREATE EXTENSION rollout;
RESET client_min_messages;
SET search_path = public, rollout;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; c text; k text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, c = COLUMN_NAME, k = CONSTRAINT_NAME;
	RETURN s || ' ' || coalesce(c, '-') || '/' || coalesce(k, '-') || ': ' || m;
END $$;
CREATE FUNCTION pg_temp.chk(cur text, cid text, region text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT rollout.check_update(jsonb_build_object('project', 'app', 'current_version', cur, 'client_id', cid, 'region', region)) $$;
CREATE FUNCTION pg_temp.dl(ver text, cid text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT rollout.download_started(jsonb_build_object('project', 'app', 'version', ver, 'client_id', cid)) $$;
CREATE FUNCTION pg_temp.res(ver text, cid text, ok boolean) RETURNS jsonb LANGUAGE sql AS $$
	SELECT rollout.install_result(jsonb_build_object('project', 'app', 'version', ver, 'client_id', cid, 'success', ok,
	                                                 'error_message', CASE WHEN NOT ok THEN 'disk full' END)) $$;

SELECT (create_project('app', 'The App') ->> 'id')::bigint AS app \gset
SELECT publish_version((create_version('app', '1.0.0') ->> 'id')::bigint) ->> 'status', publish_version((create_version('app', '1.1.0') ->> 'id')::bigint) ->> 'status';

-- 100 clients check in from 1.0.0: 60 in cn, 40 in us; some check twice
SELECT count(*) FILTER (WHERE pg_temp.chk('1.0.0', 'c' || i, CASE WHEN i <= 60 THEN 'cn' ELSE 'us' END) ->> 'latest_version' = '1.1.0') AS offered
FROM generate_series(1, 100) i;
SELECT count(*) FROM generate_series(1, 20) i WHERE pg_temp.chk('1.0.0', 'c' || i, 'cn') IS NOT NULL;
SELECT version, clients, share FROM stats_version_distribution WHERE project = 'app';
SELECT region, clients, share FROM stats_region_distribution WHERE project = 'app' ORDER BY region;
SELECT action, version, events, clients FROM stats_daily WHERE project = 'app' ORDER BY action, version;

-- downloads: 60 clients, 10 of them twice; installs: 50 succeed, 10 fail
SELECT count(*) FROM generate_series(1, 60) i WHERE (pg_temp.dl('1.1.0', 'c' || i) ->> 'recorded')::boolean;
SELECT count(*) FROM generate_series(1, 10) i WHERE (pg_temp.dl('1.1.0', 'c' || i) ->> 'recorded')::boolean;
SELECT count(*) FROM generate_series(1, 60) i WHERE pg_temp.res('1.1.0', 'c' || i, i <= 50) IS NOT NULL;
-- repeats do not count twice; a client that failed and then succeeded moves over
SELECT pg_temp.res('1.1.0', 'c1', true) ->> 'result', pg_temp.res('1.1.0', 'c51', true) ->> 'result';
SELECT tag, offered, downloaded, succeeded, failed, success_rate FROM stats_version_funnel WHERE project = 'app' ORDER BY version;
SELECT action, version, events, clients FROM stats_daily WHERE project = 'app' ORDER BY action, version;
-- a successful install moves the client to the new version right away
SELECT version, clients FROM stats_version_distribution WHERE project = 'app' ORDER BY version;
SELECT total_clients, active_clients_today, checks_today, downloads_today, successes_today, failures_today,
       success_rate_7d, published_versions FROM stats_overview WHERE project = 'app';
SELECT channel, latest_version, clients_on_latest, channel_clients, adoption_rate FROM stats_channel_status
WHERE project = 'app' ORDER BY channel;
-- the rollups agree with the raw events
SELECT action, count(*) AS raw_events FROM update_events WHERE project_id = :app GROUP BY action ORDER BY action;

-- functions with period and action filters
SELECT stats('app', '24h') - 'from' - 'to' AS today;
SELECT stats('app', '7d', 'failed') -> 'totals' AS failed_7d;
SELECT jsonb_array_length(stats_trend('app', '30d')) AS points_30d, jsonb_array_length(stats_trend('app', '7d', 'check')) AS check_points_7d;
-- (the day compared, not printed: the expected output must not depend on the date)
SELECT (e ->> 'day')::date = utc_today() AS today, e - 'day' AS custom_range
FROM jsonb_array_elements(stats_trend('app', NULL, 'success', utc_today(), utc_today())) e;
SELECT stats_distribution('app'), stats_regions('app');
SELECT jsonb_array_length(stats_funnel('app')) AS funnel_rows;
SELECT pg_temp.err($$SELECT rollout.stats('app', '1y')$$), pg_temp.err($$SELECT rollout.stats('app', '7d', 'explode')$$),
       pg_temp.err($$SELECT rollout.stats('nope')$$),
       pg_temp.err($$SELECT rollout.stats_trend('app', NULL, 'all', '2026-02-01', '2026-01-01')$$);

-- automatic safety: 20 % failures over at least 50 results pauses 1.2.0
SELECT update_project('app', failure_threshold => 20, failure_min_samples => 50) ->> 'failure_threshold' AS threshold;
SELECT publish_version((create_version('app', '1.2.0') ->> 'id')::bigint) ->> 'status' AS status;
SELECT count(*) FROM generate_series(1, 40) i WHERE pg_temp.res('1.2.0', 'd' || i, true) IS NOT NULL;
-- 10 failures of 50 results is exactly 20 %: not above the threshold
SELECT bool_or((pg_temp.res('1.2.0', 'f' || i, false) ->> 'version_paused')::boolean) AS paused
FROM generate_series(1, 10) i;
-- a repeated failure report of the same client changes nothing
SELECT pg_temp.res('1.2.0', 'f1', false) ->> 'version_paused' AS paused_by_repeat;
SELECT pg_temp.res('1.2.0', 'f11', false) ->> 'version_paused' AS paused_at_11_of_51;
SELECT tag, status, paused_reason FROM versions WHERE tag = '1.2.0';
-- the reporting view shows the rate next to the threshold, and that the pause was automatic
SELECT tag, status, succeeded, failed, results, failure_rate, failure_threshold, failure_min_samples, auto_paused
FROM stats_release_health WHERE project = 'app' AND tag = '1.2.0';
SELECT actor, action, object_type, before ->> 'status' AS was, after ->> 'status' AS now
FROM audit_log WHERE object_type = 'versions' AND after ->> 'tag' = '1.2.0' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.chk('1.1.0', 'e1', 'us') ->> 'latest_version' AS paused_not_offered;
SELECT resume_version(id) ->> 'status' AS resumed FROM versions WHERE tag = '1.2.0';
SELECT pg_temp.chk('1.1.0', 'e1', 'us') ->> 'latest_version' AS offered_again;

-- bad reports
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.install_result('{"project": "app", "version": "9.9.9", "client_id": "x", "success": true}')$$,
  $$SELECT rollout.install_result('{"project": "app", "version": "1.1.0", "client_id": "x"}')$$,
  $$SELECT rollout.install_result('{"project": "app", "version": "1.1.0", "client_id": "x", "success": "yes"}')$$,
  $$SELECT rollout.install_result('{"project": "app", "version": "one", "client_id": "x", "success": true}')$$,
  $$SELECT rollout.download_started('{"project": "app", "version": "1.1.0"}')$$,
  $$SELECT rollout.download_started('{"project": "ghost", "version": "1.1.0", "client_id": "x"}')$$,
  $$SELECT rollout.download_started('"1.1.0"')$$]) q;
-- a draft cannot be reported on
SELECT (create_version('app', '1.3.0') ->> 'id')::bigint > 0 AS draft;
SELECT pg_temp.err($$SELECT rollout.download_started('{"project": "app", "version": "1.3.0", "client_id": "x"}')$$);

-- partitions: maintain() creates the week's partitions and moves today's rows in
SELECT count(*) AS events_before FROM update_events;
SELECT maintain() ->> 'partitions_created' AS created;
SELECT count(*) AS events_after, count(*) FILTER (WHERE tableoid = 'rollout.update_events_default'::regclass) AS in_default
FROM update_events;
SELECT maintain() ->> 'partitions_created' AS created_again;

-- active clients today: each client once, whatever versions it checked from
-- (three clients, each from 1.0.0, then 1.1.0, then 1.0.0 again: nine checks)
SELECT (create_project('act', 'Active') ->> 'id')::bigint > 0 AS act;
SELECT count(rollout.check_update(jsonb_build_object('project', 'act', 'current_version', v, 'client_id', 'a' || i)))
FROM generate_series(1, 3) i, unnest(ARRAY['1.0.0', '1.1.0', '1.0.0']) v;
SELECT total_clients, active_clients_today, checks_today FROM stats_overview WHERE project = 'act';
-- a client the server first hears of today through a successful install is active today, once:
-- a9 checks (active: 4), then, as if that check had been yesterday, installs 1.1.0 today (4
-- again) and checks from it (still 4)
SELECT publish_version((create_version('act', '1.1.0') ->> 'id')::bigint) ->> 'status' AS published;
SELECT rollout.check_update('{"project": "act", "current_version": "1.0.0", "client_id": "a9"}') ->> 'has_update' AS offered;
UPDATE client_state SET last_seen = last_seen - interval '1 day'
WHERE client_id = 'a9' AND project_id = (SELECT id FROM projects WHERE slug = 'act');
UPDATE rollup_active SET clients = clients - 1
WHERE (project_id, day, shard) = (SELECT project_id, day, shard FROM rollup_active
								  WHERE project_id = (SELECT id FROM projects WHERE slug = 'act') AND day = utc_today() AND clients > 0 LIMIT 1);
SELECT active_clients_today AS as_if_yesterday FROM stats_overview WHERE project = 'act';
SELECT rollout.install_result('{"project": "act", "version": "1.1.0", "client_id": "a9", "success": true}') ->> 'result' AS installed;
SELECT active_clients_today AS after_install FROM stats_overview WHERE project = 'act';
SELECT rollout.check_update('{"project": "act", "current_version": "1.1.0", "client_id": "a9"}') ->> 'has_update' AS checked;
SELECT active_clients_today AS after_check FROM stats_overview WHERE project = 'act';
