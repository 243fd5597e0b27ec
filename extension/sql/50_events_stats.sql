/*
 * Events and statistics (SPEC §8): the rollup counters, event partitions and
 * retention, download and install reports from clients, the statistics views
 * (rollups only) and the statistics API.
 */

-- ---------------------------------------------------------------------
-- Rollup counters
-- ---------------------------------------------------------------------

-- The current UTC day, the unit of the daily rollups.
CREATE FUNCTION rollout.utc_today() RETURNS date
	LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT (now() AT TIME ZONE 'UTC')::date $$;
COMMENT ON FUNCTION rollout.utc_today() IS 'today in UTC (rollups count by UTC day)';

-- Count events (and optionally a new distinct client) in today's rollup.
CREATE FUNCTION rollout.count_daily(project_id bigint, action text, version rollout.semver, new_client boolean,
									day date DEFAULT rollout.utc_today())
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO rollout.rollup_daily AS r (day, project_id, action, version, shard, events, clients)
	VALUES ($5, $1, $2, $3, pg_backend_pid() % 16, 1, $4::int)
	ON CONFLICT ON CONSTRAINT rollup_daily_pkey
	DO UPDATE SET events = r.events + 1, clients = r.clients + EXCLUDED.clients;
END
$$;
COMMENT ON FUNCTION rollout.count_daily(bigint, text, rollout.semver, boolean, date) IS
	'adds one event (and a distinct client when new_client) to a day''s rollup (default today)';

-- Count a client active on a day (its first check of that UTC day).
CREATE FUNCTION rollout.count_active(project_id bigint, day date)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO rollout.rollup_active AS r (day, project_id, shard, clients)
	VALUES ($2, $1, pg_backend_pid() % 16, 1)
	ON CONFLICT ON CONSTRAINT rollup_active_pkey
	DO UPDATE SET clients = r.clients + 1;
END
$$;
COMMENT ON FUNCTION rollout.count_active(bigint, date) IS
	'adds a client to the day''s active clients (called on its first check of that UTC day)';

-- Move one client between (channel, version, region) cells of rollup_clients.
CREATE FUNCTION rollout.count_client(project_id bigint, channel text, version rollout.semver, region text, delta integer)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO rollout.rollup_clients AS r (project_id, channel, version, region, shard, clients)
	VALUES ($1, $2, $3, $4, pg_backend_pid() % 16, $5)
	ON CONFLICT ON CONSTRAINT rollup_clients_pkey
	DO UPDATE SET clients = r.clients + EXCLUDED.clients;
END
$$;
COMMENT ON FUNCTION rollout.count_client(bigint, text, rollout.semver, text, integer) IS
	'adds delta clients to a (channel, version, region) cell of rollup_clients';

-- Add to the funnel of a version, in this backend's shard (no hot row).
CREATE FUNCTION rollout.count_funnel(project_id bigint, version rollout.semver, offered integer,
									 downloaded integer, succeeded integer, failed integer)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO rollout.rollup_funnel AS f (project_id, version, shard, offered, downloaded, succeeded, failed)
	VALUES ($1, $2, pg_backend_pid() % 16, $3, $4, $5, $6)
	ON CONFLICT ON CONSTRAINT rollup_funnel_pkey DO UPDATE
	SET offered = f.offered + EXCLUDED.offered, downloaded = f.downloaded + EXCLUDED.downloaded,
		succeeded = f.succeeded + EXCLUDED.succeeded, failed = f.failed + EXCLUDED.failed;
END
$$;
COMMENT ON FUNCTION rollout.count_funnel(bigint, rollout.semver, integer, integer, integer, integer) IS
	'adds to the funnel counters of a version (in this backend''s shard)';

-- ---------------------------------------------------------------------
-- Event partitions and retention
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.ensure_event_partitions(from_day date, to_day date) RETURNS integer
	LANGUAGE plpgsql SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	d date;
	n integer := 0;
	part text;
	moved update_events[];
BEGIN
	FOR d IN SELECT generate_series(from_day, to_day, '1 day')::date LOOP
		part := 'update_events_' || to_char(d, 'YYYYMMDD');
		IF to_regclass('rollout.' || part) IS NULL THEN
			-- rows already in the default partition for that day move in
			WITH gone AS (
				DELETE FROM update_events_default
				WHERE created_at >= (d::timestamp AT TIME ZONE 'UTC')
				  AND created_at < ((d + 1)::timestamp AT TIME ZONE 'UTC')
				RETURNING *)
			SELECT array_agg(gone) INTO moved FROM gone;
			EXECUTE format('CREATE TABLE rollout.%I PARTITION OF rollout.update_events FOR VALUES FROM (%L) TO (%L)',
						   part, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
			INSERT INTO update_events OVERRIDING SYSTEM VALUE
			SELECT * FROM unnest(moved);
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.ensure_event_partitions(date, date) IS
	'creates the daily update_events partitions for the days given (UTC); returns how many were created';

CREATE FUNCTION rollout.maintain() RETURNS jsonb
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp SET timezone = 'UTC'
AS $$
DECLARE
	created integer;
	dropped integer := 0;
	keep integer;
	r record;
BEGIN
	created := ensure_event_partitions(current_date - 1, current_date + 7);
	SELECT max(retention_days) INTO keep FROM projects;
	FOR r IN
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'rollout.update_events'::regclass
		  AND c.relname ~ '^update_events_[0-9]{8}$'
		  AND to_date(substr(c.relname, 15), 'YYYYMMDD') < current_date - coalesce(keep, 90)
	LOOP
		EXECUTE format('DROP TABLE rollout.%I', r.relname);
		dropped := dropped + 1;
	END LOOP;
	-- per-project retention inside the partitions that remain
	DELETE FROM update_events e USING projects p
	WHERE e.project_id = p.id AND e.created_at < now() - make_interval(days => p.retention_days);
	RETURN jsonb_build_object('partitions_created', created, 'partitions_dropped', dropped);
END
$$;
COMMENT ON FUNCTION rollout.maintain() IS
	'creates event partitions for the coming week and applies retention; run it daily (cron, pg_cron or the HTTP server)';

-- Partitions are created by maintain(), never by this script: tables made here
-- would belong to the extension, and pg_dump would leave their rows out.

-- ---------------------------------------------------------------------
-- Events from clients
-- ---------------------------------------------------------------------

-- Live statistics pages refresh: {"type": "stats", "project_id": N} on rollout_events, sent by the
-- check recorder at most once a flush interval (a report's own NOTIFY would serialize commits).
CREATE FUNCTION rollout.announce_stats(project_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'rollout_announce_stats' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rollout.announce_stats(bigint) IS
	'announces on rollout_events that a project''s statistics changed, through the check recorder when it runs';

-- The published (or paused/yanked) version a client reports about, or P0002.
CREATE FUNCTION rollout.reported_version(project_id bigint, version rollout.semver) RETURNS rollout.versions
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions;
BEGIN
	SELECT * INTO v FROM versions x WHERE x.project_id = $1 AND x.version = $2 AND x.status <> 'draft';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version not found: "%"', $2
			USING ERRCODE = 'P0002', COLUMN = 'version', CONSTRAINT = 'not_found';
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION rollout.reported_version(bigint, rollout.semver) IS 'the released version a client reports on, or P0002';

CREATE FUNCTION rollout.download_started(request jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects;
	v versions;
	cid text;
	prev client_results;
	cs client_state;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	p := request_project(request);
	v := reported_version(p.id, request_version(request, 'version', true));
	cid := request_text(request, 'client_id', true);
	SELECT * INTO cs FROM client_state WHERE project_id = p.id AND client_id = cid;

	SELECT * INTO prev FROM client_results
	WHERE project_id = p.id AND version = v.version AND client_id = cid FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO client_results (project_id, client_id, version, downloaded_at)
		VALUES (p.id, cid, v.version, now()) ON CONFLICT DO NOTHING;
		PERFORM count_funnel(p.id, v.version, 0, 1, 0, 0);
		PERFORM count_daily(p.id, 'download', v.version, true);
	ELSE
		IF prev.downloaded_at IS NULL THEN
			PERFORM count_funnel(p.id, v.version, 0, 1, 0, 0);
		END IF;
		PERFORM count_daily(p.id, 'download', v.version,
							prev.downloaded_at IS NULL OR (prev.downloaded_at AT TIME ZONE 'UTC')::date < utc_today());
		UPDATE client_results SET downloaded_at = now()
		WHERE project_id = p.id AND version = v.version AND client_id = cid;
	END IF;
	INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent, action)
	VALUES (p.id, v.version, cid, cs.current_version, cs.region,
			request_text(request, 'ip')::inet, request_text(request, 'user_agent'), 'download');
	-- statistics pages refresh (announced by the check recorder, so this commit waits for no other)
	PERFORM announce_stats(p.id);
	RETURN jsonb_build_object('recorded', true, 'version', v.tag);
END
$$;
COMMENT ON FUNCTION rollout.download_started(jsonb) IS
	'records that a client started downloading a version: {version, client_id, project?}';

CREATE FUNCTION rollout.install_result(request jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects;
	v versions;
	cid text;
	ok boolean;
	err text;
	res text;
	prev client_results;
	cs client_state;
	f_succeeded bigint;
	f_failed bigint;
	paused boolean := false;
	saved_actor text;
BEGIN
	-- results must survive a crash even if the session relaxed durability
	PERFORM set_config('synchronous_commit', 'on', true);
	p := request_project(request);
	v := reported_version(p.id, request_version(request, 'version', true));
	cid := request_text(request, 'client_id', true);
	IF jsonb_typeof(request -> 'success') IS DISTINCT FROM 'boolean' THEN
		RAISE EXCEPTION 'success must be true or false'
			USING ERRCODE = '22023', COLUMN = 'success', CONSTRAINT = CASE WHEN request ? 'success' THEN 'type' ELSE 'required' END;
	END IF;
	ok := (request ->> 'success')::boolean;
	err := request_text(request, 'error_message');
	res := CASE WHEN ok THEN 'success' ELSE 'failed' END;

	-- a client unknown so far may have its first check still queued for the
	-- background worker: wait for it (before taking any lock the worker may need)
	IF ok AND NOT EXISTS (SELECT 1 FROM client_state WHERE project_id = p.id AND client_id = cid) THEN
		BEGIN
			PERFORM flush_checks(5000);
		EXCEPTION WHEN object_not_in_prerequisite_state THEN
			NULL;	-- the worker is slow: record the result anyway
		END;
	END IF;

	-- the latest result of a client for a version counts, once
	SELECT * INTO prev FROM client_results
	WHERE project_id = p.id AND version = v.version AND client_id = cid FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO client_results (project_id, client_id, version, result, result_at)
		VALUES (p.id, cid, v.version, res, now());
	ELSE
		UPDATE client_results SET result = res, result_at = now()
		WHERE project_id = p.id AND version = v.version AND client_id = cid;
	END IF;
	IF prev.result IS DISTINCT FROM res THEN
		PERFORM count_funnel(p.id, v.version, 0, 0,
							 ok::int - (prev.result IS NOT DISTINCT FROM 'success')::int,
							 (NOT ok)::int - (prev.result IS NOT DISTINCT FROM 'failed')::int);
	END IF;
	SELECT coalesce(sum(x.succeeded), 0), coalesce(sum(x.failed), 0) INTO f_succeeded, f_failed
	FROM rollup_funnel x WHERE x.project_id = p.id AND x.version = v.version;
	PERFORM count_daily(p.id, res, v.version,
						prev.result IS DISTINCT FROM res OR (prev.result_at AT TIME ZONE 'UTC')::date < utc_today());

	SELECT * INTO cs FROM client_state WHERE project_id = p.id AND client_id = cid FOR UPDATE;
	INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent, action, error_message)
	VALUES (p.id, v.version, cid, cs.current_version, cs.region,
			request_text(request, 'ip')::inet, request_text(request, 'user_agent'), res, err);

	-- a successful install moves the client to the new version at once (and counts it among
	-- today's active clients if it is the first the server hears of it today: its checks
	-- later today are not first checks of the day)
	IF ok AND cs.client_id IS NOT NULL AND cs.current_version <> v.version THEN
		PERFORM count_client(p.id, cs.channel, cs.current_version, cs.region, -1);
		PERFORM count_client(p.id, cs.channel, v.version, cs.region, 1);
		IF (cs.last_seen AT TIME ZONE 'UTC')::date < utc_today() THEN
			PERFORM count_active(p.id, utc_today());
		END IF;
		UPDATE client_state SET current_version = v.version, last_seen = now()
		WHERE project_id = p.id AND client_id = cid;
	END IF;

	-- 5. automatic safety: pause a version whose failure rate passes the threshold
	IF NOT ok AND v.status = 'published' AND f_succeeded + f_failed >= p.failure_min_samples
	   AND f_failed * 100.0 / (f_succeeded + f_failed) > p.failure_threshold THEN
		saved_actor := current_setting('rollout.actor', true);
		PERFORM set_config('rollout.actor', 'system:auto-pause', true);
		UPDATE versions
		SET status = 'paused',
			paused_reason = format('automatic: %s of %s installs failed (%s%%), above the %s%% threshold',
								   f_failed, f_succeeded + f_failed,
								   round(f_failed * 100.0 / (f_succeeded + f_failed), 1), p.failure_threshold)
		WHERE id = v.id;
		PERFORM set_config('rollout.actor', coalesce(saved_actor, ''), true);
		PERFORM pg_notify('rollout_events', json_build_object(
			'type', 'version.auto_paused', 'id', v.id, 'project_id', p.id, 'version', v.tag,
			'failed', f_failed, 'results', f_succeeded + f_failed)::text);
		paused := true;
	END IF;
	PERFORM announce_stats(p.id);
	RETURN jsonb_build_object('recorded', true, 'version', v.tag, 'result', res, 'version_paused', paused);
END
$$;
COMMENT ON FUNCTION rollout.install_result(jsonb) IS
	'records an install result {version, client_id, success, error_message, project?}, durably; may pause the version automatically';

-- ---------------------------------------------------------------------
-- Statistics views (read rollups only)
-- ---------------------------------------------------------------------
CREATE VIEW rollout.stats_overview AS
SELECT p.slug AS project,
	   coalesce((SELECT sum(clients) FROM rollout.rollup_clients c WHERE c.project_id = p.id), 0)::bigint AS total_clients,
	   coalesce((SELECT sum(clients) FROM rollout.rollup_active a
				 WHERE a.project_id = p.id AND a.day = rollout.utc_today()), 0)::bigint AS active_clients_today,
	   coalesce(d.checks_today, 0)::bigint AS checks_today,
	   coalesce(d.downloads_today, 0)::bigint AS downloads_today,
	   coalesce(d.successes_today, 0)::bigint AS successes_today,
	   coalesce(d.failures_today, 0)::bigint AS failures_today,
	   round(100.0 * coalesce(w.succ, 0) / nullif(coalesce(w.succ, 0) + coalesce(w.fail, 0), 0), 2) AS success_rate_7d,
	   (SELECT count(*) FROM rollout.versions v WHERE v.project_id = p.id AND v.status = 'published') AS published_versions
FROM rollout.projects p
LEFT JOIN LATERAL (
	SELECT sum(events) FILTER (WHERE action = 'check') AS checks_today,
		   sum(events) FILTER (WHERE action = 'download') AS downloads_today,
		   sum(events) FILTER (WHERE action = 'success') AS successes_today,
		   sum(events) FILTER (WHERE action = 'failed') AS failures_today
	FROM rollout.rollup_daily r
	WHERE r.project_id = p.id AND r.action IN ('check', 'download', 'success', 'failed')
	  AND r.day = rollout.utc_today()) d ON true
LEFT JOIN LATERAL (
	SELECT sum(clients) FILTER (WHERE action = 'success') AS succ,
		   sum(clients) FILTER (WHERE action = 'failed') AS fail
	FROM rollout.rollup_daily r
	WHERE r.project_id = p.id AND r.action IN ('success', 'failed') AND r.day > rollout.utc_today() - 7) w ON true;
COMMENT ON VIEW rollout.stats_overview IS
	'per project: clients, clients and events today (UTC), 7-day install success rate (percent)';

CREATE VIEW rollout.stats_version_distribution AS
SELECT p.slug AS project, c.version, sum(c.clients)::bigint AS clients,
	   round(100.0 * sum(c.clients) / nullif(sum(sum(c.clients)) OVER (PARTITION BY p.slug), 0), 2) AS share
FROM rollout.rollup_clients c JOIN rollout.projects p ON p.id = c.project_id
GROUP BY p.slug, c.version
HAVING sum(c.clients) > 0;
COMMENT ON VIEW rollout.stats_version_distribution IS 'clients per current version and their share (percent) of the project';

CREATE VIEW rollout.stats_region_distribution AS
SELECT p.slug AS project, c.region, sum(c.clients)::bigint AS clients,
	   round(100.0 * sum(c.clients) / nullif(sum(sum(c.clients)) OVER (PARTITION BY p.slug), 0), 2) AS share
FROM rollout.rollup_clients c JOIN rollout.projects p ON p.id = c.project_id
GROUP BY p.slug, c.region
HAVING sum(c.clients) > 0;
COMMENT ON VIEW rollout.stats_region_distribution IS 'clients per region and their share (percent) of the project';

CREATE VIEW rollout.stats_daily AS
SELECT r.day, p.slug AS project, r.action, r.version, sum(r.events)::bigint AS events, sum(r.clients)::bigint AS clients
FROM rollout.rollup_daily r JOIN rollout.projects p ON p.id = r.project_id
GROUP BY r.day, p.slug, r.action, r.version;
COMMENT ON VIEW rollout.stats_daily IS
	'per UTC day, action (check, download, success, failed) and version: events and distinct clients';

CREATE VIEW rollout.stats_version_funnel AS
SELECT p.slug AS project, v.version, v.tag, v.status, coalesce(f.offered, 0) AS offered,
	   coalesce(f.downloaded, 0) AS downloaded, coalesce(f.succeeded, 0) AS succeeded,
	   coalesce(f.failed, 0) AS failed,
	   round(100.0 * f.succeeded / nullif(f.succeeded + f.failed, 0), 2) AS success_rate
FROM rollout.versions v
JOIN rollout.projects p ON p.id = v.project_id
LEFT JOIN (SELECT project_id, version, sum(offered) AS offered, sum(downloaded) AS downloaded,
				  sum(succeeded) AS succeeded, sum(failed) AS failed
		   FROM rollout.rollup_funnel GROUP BY project_id, version) f
	   ON f.project_id = v.project_id AND f.version = v.version
WHERE v.status <> 'draft';
COMMENT ON VIEW rollout.stats_version_funnel IS
	'per released version: distinct clients offered it, downloading, succeeding, failing; success rate (percent)';

CREATE VIEW rollout.stats_channel_status AS
SELECT p.slug AS project, c.name AS channel, c.display_name, c.rollout_percentage, c.is_active,
	   l.tag AS latest_version, l.publish_time,
	   coalesce(on_latest.clients, 0)::bigint AS clients_on_latest,
	   coalesce(total.clients, 0)::bigint AS channel_clients,
	   round(100.0 * on_latest.clients / nullif(total.clients, 0), 2) AS adoption_rate
FROM rollout.channels c
JOIN rollout.projects p ON p.id = c.project_id
LEFT JOIN LATERAL (
	SELECT v.tag, v.version, v.publish_time FROM rollout.versions v
	WHERE v.channel_id = c.id AND v.status = 'published' AND v.publish_time <= now()
	ORDER BY v.version DESC LIMIT 1) l ON true
LEFT JOIN LATERAL (
	SELECT sum(r.clients) AS clients FROM rollout.rollup_clients r
	WHERE r.project_id = c.project_id AND r.channel = c.name AND r.version = l.version) on_latest ON true
LEFT JOIN LATERAL (
	SELECT sum(r.clients) AS clients FROM rollout.rollup_clients r
	WHERE r.project_id = c.project_id AND r.channel = c.name) total ON true;
COMMENT ON VIEW rollout.stats_channel_status IS
	'per channel: latest published version, its publish time, and the share of the channel''s clients on it (percent)';

CREATE VIEW rollout.stats_release_health AS
SELECT p.slug AS project, v.version, v.tag, v.status, v.publish_time,
	   coalesce(f.succeeded, 0)::bigint AS succeeded, coalesce(f.failed, 0)::bigint AS failed,
	   coalesce(f.succeeded + f.failed, 0)::bigint AS results,
	   round(100.0 * f.failed / nullif(f.succeeded + f.failed, 0), 2) AS failure_rate,
	   p.failure_threshold, p.failure_min_samples,
	   (v.status = 'paused' AND v.paused_reason LIKE 'automatic:%') AS auto_paused
FROM rollout.versions v
JOIN rollout.projects p ON p.id = v.project_id
LEFT JOIN (SELECT project_id, version, sum(succeeded) AS succeeded, sum(failed) AS failed
		   FROM rollout.rollup_funnel GROUP BY project_id, version) f
	   ON f.project_id = v.project_id AND f.version = v.version
WHERE v.status <> 'draft';
COMMENT ON VIEW rollout.stats_release_health IS
	'per released version: install results (distinct clients), failure rate (percent) and the project''s auto-pause threshold and minimum results';

-- ---------------------------------------------------------------------
-- Statistics with period and action filters (for the API)
-- ---------------------------------------------------------------------

-- The UTC days of a period: 24h (today), 7d, 30d, or from/to dates.
CREATE FUNCTION rollout.period_days(period text, from_day date DEFAULT NULL, to_day date DEFAULT NULL)
	RETURNS daterange LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF from_day IS NOT NULL OR to_day IS NOT NULL THEN
		IF from_day IS NULL OR to_day IS NULL OR from_day > to_day OR to_day - from_day > 3660 THEN
			RAISE EXCEPTION 'a custom period needs from <= to, at most ten years apart'
				USING ERRCODE = '22023', COLUMN = 'period', CONSTRAINT = 'invalid';
		END IF;
		RETURN daterange(from_day, to_day, '[]');
	END IF;
	RETURN CASE coalesce(period, '7d')
		WHEN '24h' THEN daterange(utc_today(), utc_today(), '[]')
		WHEN '7d' THEN daterange(utc_today() - 6, utc_today(), '[]')
		WHEN '30d' THEN daterange(utc_today() - 29, utc_today(), '[]')
		WHEN '90d' THEN daterange(utc_today() - 89, utc_today(), '[]')
	END;
END
$$;
COMMENT ON FUNCTION rollout.period_days(text, date, date) IS 'UTC days of a period: 24h (today), 7d, 30d, 90d or from/to';

CREATE FUNCTION rollout.check_period(period text, from_day date, to_day date) RETURNS daterange
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	r daterange := period_days(period, from_day, to_day);
BEGIN
	IF r IS NULL THEN
		RAISE EXCEPTION 'invalid period: "%" (use 24h, 7d, 30d, 90d or from/to)', period
			USING ERRCODE = '22023', COLUMN = 'period', CONSTRAINT = 'invalid';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.check_period(text, date, date) IS 'period_days, raising 22023 for an unknown period';

CREATE FUNCTION rollout.check_action(action text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF coalesce(action, 'all') NOT IN ('all', 'check', 'download', 'success', 'failed') THEN
		RAISE EXCEPTION 'invalid action: "%" (use all, check, download, success or failed)', action
			USING ERRCODE = '22023', COLUMN = 'action', CONSTRAINT = 'invalid';
	END IF;
	RETURN coalesce(action, 'all');
END
$$;
COMMENT ON FUNCTION rollout.check_action(text) IS 'validates an action filter';

CREATE FUNCTION rollout.stats(project text DEFAULT 'default', period text DEFAULT '7d', action text DEFAULT 'all',
							  from_day date DEFAULT NULL, to_day date DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := readable_project(project);
	days daterange := check_period(period, from_day, to_day);
	act text := check_action(action);
	o stats_overview;
	totals jsonb;
BEGIN
	SELECT * INTO o FROM stats_overview WHERE stats_overview.project = p.slug;
	SELECT coalesce(jsonb_object_agg(a, jsonb_build_object('events', e, 'clients', c)), '{}') INTO totals
	FROM (SELECT r.action AS a, sum(r.events) AS e, sum(r.clients) AS c
		  FROM rollup_daily r
		  WHERE r.project_id = p.id AND r.day <@ days AND (act = 'all' OR r.action = act)
		  GROUP BY r.action) s;
	RETURN jsonb_build_object(
		'project', p.slug, 'period', coalesce(period, '7d'), 'from', lower(days), 'to', upper(days) - 1,
		'total_clients', o.total_clients, 'active_clients_today', o.active_clients_today,
		'checks_today', o.checks_today, 'success_rate_7d', o.success_rate_7d,
		'published_versions', o.published_versions, 'totals', totals);
END
$$;
COMMENT ON FUNCTION rollout.stats(text, text, text, date, date) IS 'overview and per-action totals of a period (GET /stats)';

CREATE FUNCTION rollout.stats_trend(project text DEFAULT 'default', period text DEFAULT '7d', action text DEFAULT 'all',
									from_day date DEFAULT NULL, to_day date DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := readable_project(project);
	days daterange := check_period(period, from_day, to_day);
	act text := check_action(action);
BEGIN
	RETURN coalesce((
		SELECT jsonb_agg(jsonb_build_object('day', d.day, 'action', d.action, 'events', coalesce(s.e, 0), 'clients', coalesce(s.c, 0))
						 ORDER BY d.day, d.action)
		FROM (SELECT g::date AS day, a AS action
			  FROM generate_series(lower(days), upper(days) - 1, '1 day') g,
				   unnest(ARRAY['check', 'download', 'success', 'failed']) a
			  WHERE act = 'all' OR a = act) d
		LEFT JOIN (SELECT r.day, r.action, sum(r.events) e, sum(r.clients) c FROM rollup_daily r
				   WHERE r.project_id = p.id AND r.day <@ days GROUP BY r.day, r.action) s
		  ON s.day = d.day AND s.action = d.action), '[]');
END
$$;
COMMENT ON FUNCTION rollout.stats_trend(text, text, text, date, date) IS 'events and clients per day and action over a period (GET /stats/trend)';

CREATE FUNCTION rollout.stats_distribution(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('version', d.version::text, 'clients', d.clients, 'share', d.share)
							  ORDER BY d.version DESC), '[]')
	FROM stats_version_distribution d WHERE d.project = (readable_project(stats_distribution.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_distribution(text) IS 'clients per current version (GET /stats/distribution)';

CREATE FUNCTION rollout.stats_regions(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('region', d.region, 'clients', d.clients, 'share', d.share)
							  ORDER BY d.clients DESC, d.region), '[]')
	FROM stats_region_distribution d WHERE d.project = (readable_project(stats_regions.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_regions(text) IS 'clients per region (GET /stats/regions)';

CREATE FUNCTION rollout.stats_funnel(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('version', f.tag, 'status', f.status, 'offered', f.offered,
												 'downloaded', f.downloaded, 'succeeded', f.succeeded,
												 'failed', f.failed, 'success_rate', f.success_rate)
							  ORDER BY f.version DESC), '[]')
	FROM stats_version_funnel f WHERE f.project = (readable_project(stats_funnel.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_funnel(text) IS 'offered, downloaded, succeeded, failed per version (GET /stats/funnel)';
