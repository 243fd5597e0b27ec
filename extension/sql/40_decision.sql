/*
 * The update decision (SPEC §7): the rollout hash, check_update and the
 * recording of checks (in the checking transaction, or in batches by the
 * background worker), the decision simulator, the invalidation of the
 * decision's per-backend cache.
 */

-- ---------------------------------------------------------------------
-- Rollout hash
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.rollout_bucket(client_id text, salt text) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.rollout_bucket(text, text) IS
	'bucket in [0, 10000): first 8 bytes of SHA-256(salt || 0x00 || client_id), big-endian, mod 10000';
CREATE FUNCTION rollout.in_rollout(client_id text, salt text, percentage numeric) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rollout_in_rollout' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.in_rollout(text, text, numeric) IS
	'whether the client is inside a rollout of the given percentage (0-100, 0.01 steps): bucket < round(percentage * 100)';

-- ---------------------------------------------------------------------
-- The update decision
-- ---------------------------------------------------------------------

/*
 * The rollout threshold of a percentage: a client is inside when its bucket
 * (rollout_bucket, 0-9999) is below it.  The decision's cache reads every
 * threshold through this function, and cohort_count counts with it, so both
 * use the same conversion.  Inlined by the planner (plain SQL, no SET).
 */
CREATE FUNCTION rollout.rollout_threshold(percentage numeric) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.round($1 * 100)::integer $$;
COMMENT ON FUNCTION rollout.rollout_threshold(numeric) IS
	'buckets below this are inside a rollout of the percentage: round(percentage * 100)';

CREATE TYPE rollout.check_record AS (
	project_id bigint,
	client_id text,
	cur rollout.semver,
	channel text,
	region text,
	os text,
	arch text,
	target rollout.semver,
	ip inet,
	user_agent text,
	record_event boolean,
	at timestamptz
);
COMMENT ON TYPE rollout.check_record IS 'what one check records (the argument of record_check)';

/*
 * What one check records (SPEC §7.8): the client's state and the rollups.
 * check_update calls it in the checking transaction, or, when the library
 * is preloaded, rollout's background worker calls it for queued checks in
 * batches (rollout_queue.c).  One statement reads the old state and writes
 * the new; "at" is the time of the check.
 */
CREATE FUNCTION rollout.record_check(rc rollout.check_record) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	o_version semver;
	o_channel text;
	o_region text;
	o_seen timestamptz;
	o_offered semver;
	new_day boolean;
	new_client boolean;
BEGIN
	-- check bookkeeping need not wait for the disk (SPEC §7.8)
	PERFORM set_config('synchronous_commit', 'off', true);
	UPDATE client_state cs
	SET current_version = rc.cur, channel = rc.channel, region = rc.region, os = rc.os, arch = rc.arch,
		last_offered = coalesce(rc.target, cs.last_offered), last_seen = rc.at
	FROM (SELECT o.current_version, o.channel, o.region, o.last_seen, o.last_offered FROM client_state o
		  WHERE o.project_id = rc.project_id AND o.client_id = rc.client_id FOR UPDATE) old
	WHERE cs.project_id = rc.project_id AND cs.client_id = rc.client_id
	  -- a queued check never undoes what a later install result recorded
	  AND old.last_seen <= rc.at
	RETURNING old.current_version, old.channel, old.region, old.last_seen, old.last_offered
	INTO o_version, o_channel, o_region, o_seen, o_offered;
	IF FOUND THEN
		new_day := (o_seen AT TIME ZONE 'UTC')::date < (rc.at AT TIME ZONE 'UTC')::date;
		IF new_day THEN
			PERFORM count_active(rc.project_id, (rc.at AT TIME ZONE 'UTC')::date);
		END IF;
		IF o_version <> rc.cur OR o_channel <> rc.channel OR o_region <> rc.region THEN
			PERFORM count_client(rc.project_id, o_channel, o_version, o_region, -1);
			PERFORM count_client(rc.project_id, rc.channel, rc.cur, rc.region, 1);
		END IF;
		IF rc.target IS NOT NULL AND o_offered IS DISTINCT FROM rc.target THEN
			PERFORM count_funnel(rc.project_id, rc.target, 1, 0, 0, 0);
		END IF;
		PERFORM count_daily(rc.project_id, 'check', rc.cur, new_day OR o_version <> rc.cur, (rc.at AT TIME ZONE 'UTC')::date);
	ELSE
		INSERT INTO client_state (project_id, client_id, current_version, channel, region, os, arch, last_offered,
								  first_seen, last_seen)
		VALUES (rc.project_id, rc.client_id, rc.cur, rc.channel, rc.region, rc.os, rc.arch, rc.target, rc.at, rc.at)
		ON CONFLICT (project_id, client_id) DO NOTHING;
		new_client := FOUND;
		IF new_client THEN
			PERFORM count_active(rc.project_id, (rc.at AT TIME ZONE 'UTC')::date);
			PERFORM count_client(rc.project_id, rc.channel, rc.cur, rc.region, 1);
			IF rc.target IS NOT NULL THEN
				PERFORM count_funnel(rc.project_id, rc.target, 1, 0, 0, 0);
			END IF;
		END IF;
		-- a concurrent first check of the same client that won counts as a repeat
		PERFORM count_daily(rc.project_id, 'check', rc.cur, new_client, (rc.at AT TIME ZONE 'UTC')::date);
	END IF;
	IF rc.record_event THEN
		INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent,
								   action, created_at)
		VALUES (rc.project_id, rc.target, rc.client_id, rc.cur, rc.region, rc.ip, rc.user_agent, 'check', rc.at);
	END IF;
END
$$;
COMMENT ON FUNCTION rollout.record_check(rollout.check_record) IS
	'records one check: client_state, rollup_clients, rollup_funnel, rollup_daily and, if the project asks, a raw event';

/*
 * Queued checks in one transaction (rollout's background worker, see
 * rollout_queue.c), with the same effect as record_check on each in order
 * (TAP test 004 holds them to that) but set-based.  Both exist because each
 * is fastest at its size: this one, planned afresh for each batch, costs
 * about twice record_check for a single check.  Set-based: round k records the k-th check of every client in the
 * batch, so one client's checks apply in order and each round updates or
 * inserts every client once; rollups are added up per round.
 */
CREATE FUNCTION rollout.record_checks(batch rollout.check_record[]) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = rollout, pg_catalog, pg_temp
	-- a generic plan cannot know the batch's size and would scan client_state
	SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	rounds integer;
	nothing text;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	SELECT max(n) INTO rounds FROM (
		SELECT count(*) AS n FROM unnest(batch) b GROUP BY b.project_id, b.client_id) c;
	FOR round IN 1 .. coalesce(rounds, 0) LOOP
		WITH cur AS (
			SELECT * FROM (
				SELECT b.*, row_number() OVER (PARTITION BY b.project_id, b.client_id ORDER BY b.o) AS k
				FROM unnest(batch) WITH ORDINALITY AS b(project_id, client_id, cur, channel, region, os, arch, target,
													   ip, user_agent, record_event, at, o)) x
			WHERE x.k = round),
		upd AS (
			UPDATE client_state cs
			SET current_version = x.cur, channel = x.channel, region = x.region, os = x.os, arch = x.arch,
				last_offered = coalesce(x.target, cs.last_offered), last_seen = x.at
			FROM (SELECT c.*, o.ctid AS o_ctid, o.current_version AS o_version, o.channel AS o_channel, o.region AS o_region,
						 o.last_seen AS o_seen, o.last_offered AS o_offered
				  FROM cur c JOIN client_state o ON o.project_id = c.project_id AND o.client_id = c.client_id) x
			-- the row version just read, by ctid: no second index probe, and no lock needed, since
			-- a row changed meanwhile has moved on from that ctid and is left alone (the old
			-- values used for the rollups are then exactly those replaced)
			WHERE cs.ctid = x.o_ctid
			  AND x.o_seen <= x.at		-- never undo what a later install result recorded
			RETURNING x.*),
		ins AS (
			INSERT INTO client_state AS cs (project_id, client_id, current_version, channel, region, os, arch,
											last_offered, first_seen, last_seen)
			SELECT c.project_id, c.client_id, c.cur, c.channel, c.region, c.os, c.arch, c.target, c.at, c.at
			FROM cur c
			WHERE NOT EXISTS (SELECT 1 FROM upd u WHERE u.project_id = c.project_id AND u.client_id = c.client_id)
			ON CONFLICT (project_id, client_id) DO NOTHING
			RETURNING cs.project_id, cs.client_id),
		moved AS (
			SELECT u.project_id, u.o_channel AS channel, u.o_version AS version, u.o_region AS region, -1 AS d
			FROM upd u WHERE u.o_version <> u.cur OR u.o_channel <> u.channel OR u.o_region <> u.region
			UNION ALL
			SELECT u.project_id, u.channel, u.cur, u.region, 1
			FROM upd u WHERE u.o_version <> u.cur OR u.o_channel <> u.channel OR u.o_region <> u.region
			UNION ALL
			SELECT c.project_id, c.channel, c.cur, c.region, 1 FROM cur c JOIN ins USING (project_id, client_id)),
		offered AS (
			SELECT u.project_id, u.target FROM upd u WHERE u.target IS NOT NULL AND u.o_offered IS DISTINCT FROM u.target
			UNION ALL
			SELECT c.project_id, c.target FROM cur c JOIN ins USING (project_id, client_id) WHERE c.target IS NOT NULL),
		checks AS (
			-- a client is new today at a version on its first check of the day or after changing
			-- version, and active today on its first check of the day; a concurrent first check
			-- of the same client that won counts as a repeat
			SELECT c.project_id, (c.at AT TIME ZONE 'UTC')::date AS day, c.cur,
				   coalesce(n.new_day OR u.o_version <> u.cur, i.client_id IS NOT NULL) AS first_today,
				   coalesce(n.new_day, i.client_id IS NOT NULL) AS active_today
			FROM cur c
			LEFT JOIN upd u ON u.project_id = c.project_id AND u.client_id = c.client_id
			LEFT JOIN ins i ON i.project_id = c.project_id AND i.client_id = c.client_id
			-- NULL without an updated row: then a new client is new and active today
			CROSS JOIN LATERAL (SELECT (u.o_seen AT TIME ZONE 'UTC')::date < (u.at AT TIME ZONE 'UTC')::date AS new_day) n),
		events AS (
			INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent,
									   action, created_at)
			SELECT c.project_id, c.target, c.client_id, c.cur, c.region, c.ip, c.user_agent, 'check', c.at
			FROM cur c WHERE c.record_event)
		-- the rollups: one definition, shared with the worker's in-place path
		SELECT count_checks(ck.p, ck.d, ck.v, ck.e, ck.c, ck.a, mv.p, mv.c, mv.v, mv.r, mv.d, ofr.p, ofr.v, ofr.n)
		INTO STRICT nothing
		FROM (SELECT array_agg(project_id) p, array_agg(day) d, array_agg(cur) v, array_agg(1) e,
					 array_agg(first_today::integer) c, array_agg(active_today::integer) a FROM checks) ck,
			 (SELECT array_agg(project_id) p, array_agg(channel) c, array_agg(version) v, array_agg(region) r,
					 array_agg(d) d FROM moved) mv,
			 (SELECT array_agg(project_id) p, array_agg(target) v, array_agg(1) n FROM offered) ofr;
	END LOOP;
	RETURN coalesce(cardinality(batch), 0);
END
$$;
COMMENT ON FUNCTION rollout.record_checks(rollout.check_record[]) IS
	'records a batch of checks as record_check would one by one (used by the background worker)';

/*
 * The rollup deltas of recorded checks, as record_checks counts them and the
 * background worker's in-place path (rollout_record.c) adds them up per
 * group: per project, UTC day and version, the checks, the clients new at
 * that version that day and the clients active that day (their first check
 * of the day); the clients moving between (channel, version, region) groups;
 * the clients newly offered each version.  Entries of the same group are
 * added together.
 */
CREATE FUNCTION rollout.count_checks(d_project bigint[], d_day date[], d_version rollout.semver[],
									 d_events integer[], d_clients integer[], d_active integer[],
									 m_project bigint[], m_channel text[], m_version rollout.semver[],
									 m_region text[], m_delta integer[],
									 o_project bigint[], o_version rollout.semver[], o_count integer[]) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	my_shard smallint := pg_backend_pid() % 16;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	INSERT INTO rollup_daily AS r (day, project_id, action, version, shard, events, clients)
	SELECT d.day, d.p, 'check', d.v, my_shard, sum(d.e), sum(d.c)
	FROM unnest(d_day, d_project, d_version, d_events, d_clients) AS d(day, p, v, e, c)
	GROUP BY d.day, d.p, d.v
	ON CONFLICT ON CONSTRAINT rollup_daily_pkey
	DO UPDATE SET events = r.events + EXCLUDED.events, clients = r.clients + EXCLUDED.clients;
	INSERT INTO rollup_active AS r (day, project_id, shard, clients)
	SELECT d.day, d.p, my_shard, sum(d.a)
	FROM unnest(d_day, d_project, d_active) AS d(day, p, a)
	GROUP BY d.day, d.p
	HAVING sum(d.a) > 0
	ON CONFLICT ON CONSTRAINT rollup_active_pkey DO UPDATE SET clients = r.clients + EXCLUDED.clients;
	IF cardinality(m_project) > 0 THEN
		INSERT INTO rollup_clients AS r (project_id, channel, version, region, shard, clients)
		SELECT m.p, m.c, m.v, m.r, my_shard, sum(m.d)
		FROM unnest(m_project, m_channel, m_version, m_region, m_delta) AS m(p, c, v, r, d)
		GROUP BY m.p, m.c, m.v, m.r
		ON CONFLICT ON CONSTRAINT rollup_clients_pkey DO UPDATE SET clients = r.clients + EXCLUDED.clients;
	END IF;
	IF cardinality(o_project) > 0 THEN
		INSERT INTO rollup_funnel AS f (project_id, version, shard, offered)
		SELECT o.p, o.v, my_shard, sum(o.n) FROM unnest(o_project, o_version, o_count) AS o(p, v, n) GROUP BY o.p, o.v
		ON CONFLICT ON CONSTRAINT rollup_funnel_pkey DO UPDATE SET offered = f.offered + EXCLUDED.offered;
	END IF;
END
$$;
COMMENT ON FUNCTION rollout.count_checks(bigint[], date[], rollout.semver[], integer[], integer[], integer[], bigint[], text[],
										 rollout.semver[], text[], integer[], bigint[], rollout.semver[], integer[]) IS
	'adds checks'' deltas to the rollups (used by record_checks and by the worker''s in-place path)';

-- Not SECURITY DEFINER: it reads the configuration as its owner only when
-- it loads its cache, and records through record_check.
CREATE FUNCTION rollout.check_update(request jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'rollout_check_update'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update(jsonb) IS
	'the update decision (SPEC §7): request {project, current_version, channel, client_id, region, os, arch, locale, ip, user_agent}, result {has_update, latest_version, download_url, ..., reason}';

CREATE FUNCTION rollout.queue_checks(batch rollout.check_record[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'rollout_queue_checks' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rollout.queue_checks(rollout.check_record[]) IS
	'records checks as check_update records its own (queued for the background worker, or at once without one), in order; for record_forwarded, not callable by the roles';
REVOKE ALL ON FUNCTION rollout.queue_checks(rollout.check_record[]) FROM PUBLIC;

/*
 * Checks answered by a hot standby (SPEC §8): a standby cannot write, so
 * check_update hands what each check records back as its answer's "record"
 * (check_update_signed in its column "record", outside the signed body) and
 * rollout-http sends those here, to the primary, in batches.  Recorded
 * as the primary's own checks are (queue_checks: queued for the background
 * worker at commit, or at once without one), in the given order;
 * the primary's project settings decide the raw events, a record of an
 * unknown project is left out, and a time ahead of the primary's clock
 * counts as now.  Returns how many were recorded.
 */
CREATE FUNCTION rollout.record_forwarded(records jsonb) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	batch check_record[];
BEGIN
	IF jsonb_typeof(records) IS DISTINCT FROM 'array' THEN
		PERFORM invalid_argument('records', 'records must be a JSON array of check records');
	END IF;
	SELECT array_agg(ROW((x ->> 'project_id')::bigint, x ->> 'client_id', (x ->> 'cur')::semver, x ->> 'channel',
						 x ->> 'region', x ->> 'os', x ->> 'arch', (x ->> 'target')::semver, (x ->> 'ip')::inet,
						 x ->> 'user_agent', p.record_check_events,
						 least((x ->> 'at')::timestamptz, now()))::check_record ORDER BY e.o)
	INTO batch
	FROM jsonb_array_elements(records) WITH ORDINALITY AS e(x, o)
	JOIN projects p ON p.id = (e.x ->> 'project_id')::bigint;
	IF batch IS NULL THEN
		RETURN 0;
	END IF;
	RETURN queue_checks(batch);
END
$$;
COMMENT ON FUNCTION rollout.record_forwarded(jsonb) IS
	'records checks answered by a hot standby (the "record" of their answers, as a JSON array), as check_update records the primary''s own: through the background worker when it runs';

/*
 * The decision simulator: check_update's own C function run with a trace
 * (rollout_decide.c), recording nothing.  simulate_check checks the role
 * and builds the request; this one is not callable by the roles.
 */
CREATE FUNCTION rollout.simulate_decision(request jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'rollout_simulate_decision'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION rollout.simulate_decision(jsonb) IS
	'check_update''s answer for a request plus "steps" (the decision step by step), recording nothing';

-- With rollout in shared_preload_libraries, checks are recorded by a
-- background worker (rollout_queue.c); these show and await it.
CREATE FUNCTION rollout.flush_checks(timeout_ms integer DEFAULT 60000) RETURNS bigint
	AS 'MODULE_PATHNAME', 'rollout_flush_checks' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rollout.flush_checks(integer) IS
	'waits until every check queued so far is recorded in client_state and the rollups; returns how many were queued';
CREATE FUNCTION rollout.check_queue() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'rollout_check_queue' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rollout.check_queue() IS
	'the background recording of checks: enabled (this session''s checks are queued), expected (they would be if the worker ran: degraded when expected and not enabled), running, database, worker_pid, queued_bytes, queued, recorded (recorded_in_place of them by the fast path), skipped, recorded_directly (in the checking transaction: the queue was full), depth (queued, not yet recorded), lag_seconds (age of the oldest queued check), restarts (of the worker since the server started), started_at, last_batch_at';

-- The decision caches each project's configuration in every backend; these
-- triggers drop the caches when a configuration table changes (at commit).
CREATE FUNCTION rollout.config_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'rollout_config_changed' LANGUAGE C;
COMMENT ON FUNCTION rollout.config_changed() IS
	'statement trigger: invalidates the decision caches of all sessions when the transaction commits';
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['projects', 'channels', 'versions', 'artifacts', 'mirrors', 'update_rules'] LOOP
		EXECUTE format('CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION rollout.config_changed()', t);
	END LOOP;
END
$$;
