\echo Use "ALTER EXTENSION rollout UPDATE TO '0.4.0'" to load this file. \quit

/*
 * rollout 0.4.0: what 0.4.0 adds to 0.3.0's catalog.  Each change is made in
 * the section files of extension/sql/ (which build rollout--0.4.0.sql) and
 * repeated here as a delta; test/t/009_install_equals_upgrade.pl checks that
 * both give the same catalog.
 */

-- Ranges use indexes (issue 16): planner support for <@, @> and satisfies
-- (extension/semver_support.c): B-tree index conditions from a range's
-- bounds, row estimates from the version column's statistics.
CREATE FUNCTION rollout.semver_range_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_support(internal) IS
	'planner support for <@, @> and satisfies: B-tree index conditions from the range''s bounds, row estimates';
CREATE FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) IS
	'restriction selectivity of <@ and @> from the version column''s statistics';
ALTER FUNCTION rollout.semver_range_contains(rollout.semver_range, rollout.semver)
	SUPPORT rollout.semver_range_support;
ALTER FUNCTION rollout.semver_range_contained(rollout.semver, rollout.semver_range)
	SUPPORT rollout.semver_range_support;
ALTER FUNCTION rollout.satisfies(rollout.semver, text)
	SUPPORT rollout.semver_range_support;
ALTER OPERATOR rollout.@> (rollout.semver_range, rollout.semver)
	SET (RESTRICT = rollout.semver_range_sel);
ALTER OPERATOR rollout.<@ (rollout.semver, rollout.semver_range)
	SET (RESTRICT = rollout.semver_range_sel);

-- Ranges use indexes, per row (issue 16): is_prerelease() estimates its rows
-- from the column's statistics (the share of pre-releases), for
-- "AND NOT is_prerelease(v)" written by hand (extension/semver_support.c).
CREATE FUNCTION rollout.semver_prerelease_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_prerelease_support(internal) IS
	'planner support for is_prerelease: row estimates from the version column''s statistics';
ALTER FUNCTION rollout.is_prerelease(rollout.semver) SUPPORT rollout.semver_prerelease_support;

-- ---------------------------------------------------------------------
-- rollout-http in one round trip (issue 13): the create functions return
-- the created object, begin_request is the pre-request function, and an
-- event trigger tells HTTP servers to reload signatures after an update.
-- ---------------------------------------------------------------------
DROP FUNCTION rollout.create_admin(text, text, text, text);
DROP FUNCTION rollout.create_project(text, text, text);
DROP FUNCTION rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text);
DROP FUNCTION rollout.add_artifact(bigint, text, text, text, bigint, text);
DROP FUNCTION rollout.set_mirror(text, text, text);
DROP FUNCTION rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean);

CREATE FUNCTION rollout.create_admin(username text, password text, role text DEFAULT 'admin', project text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pid bigint;
	id bigint;
BEGIN
	PERFORM require_role('admin', NULL);
	IF username IS NULL OR username !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' THEN
		PERFORM invalid_argument('username', format('invalid username: "%s"', left(username, 100)));
	END IF;
	IF password IS NULL OR length(password) < 8 THEN
		PERFORM invalid_argument('password', 'password must be at least 8 characters');
	END IF;
	IF role IS NULL OR role NOT IN ('admin', 'maintainer', 'viewer') THEN
		PERFORM invalid_argument('role', 'role must be admin, maintainer or viewer');
	END IF;
	IF project IS NOT NULL THEN
		pid := (project_by_slug(project)).id;
	ELSIF role = 'maintainer' THEN
		PERFORM invalid_argument('project', 'a maintainer needs a project');
	END IF;
	INSERT INTO admins (username, password_hash, role, project_id)
	VALUES (username, hash_password(password), role, pid)
	RETURNING admins.id INTO id;
	RETURN get_admin(id);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'username already exists: "%"', username USING ERRCODE = '23505', COLUMN = 'username', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_admin(text, text, text, text) IS
	'creates an admin account (role admin, maintainer of one project, or viewer); returns it without its password hash';

REVOKE ALL ON FUNCTION rollout.create_admin(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.create_admin(text, text, text, text) TO rollout_admin;

CREATE FUNCTION rollout.create_project(slug text, name text, default_channel text DEFAULT 'stable')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	id bigint;
BEGIN
	PERFORM require_role('admin', NULL);
	IF slug IS NULL OR slug !~ '^[a-z0-9][a-z0-9-]{0,62}$' THEN
		PERFORM invalid_argument('slug', format('invalid slug: "%s" (lowercase letters, digits and -, at most 63)', slug));
	END IF;
	IF name IS NULL OR length(name) NOT BETWEEN 1 AND 200 THEN
		PERFORM invalid_argument('name', 'name must be 1 to 200 characters');
	END IF;
	IF default_channel NOT IN ('stable', 'beta', 'alpha') THEN
		PERFORM invalid_argument('default_channel', 'default_channel must be stable, beta or alpha');
	END IF;
	INSERT INTO projects (slug, name, default_channel) VALUES ($1, $2, $3) RETURNING projects.id INTO id;
	PERFORM seed_channels(id);
	RETURN get_project_by_id(id);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'project already exists: "%"', slug USING ERRCODE = '23505', COLUMN = 'slug', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_project(text, text, text) IS 'creates a project with stable, beta and alpha channels; returns it';

REVOKE ALL ON FUNCTION rollout.create_project(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.create_project(text, text, text) TO rollout_admin;

CREATE FUNCTION rollout.create_version(
	project text DEFAULT 'default', version text DEFAULT NULL, channel text DEFAULT 'stable', title text DEFAULT '',
	file_url text DEFAULT NULL, file_size bigint DEFAULT NULL, file_checksum text DEFAULT NULL,
	description text DEFAULT '', release_notes text DEFAULT '', breaking_changes text DEFAULT '',
	min_upgrade_version text DEFAULT NULL, is_forced boolean DEFAULT false, rollout_percentage numeric DEFAULT NULL,
	title_i18n jsonb DEFAULT '{}', release_notes_i18n jsonb DEFAULT '{}', tag text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	c channels;
	v semver;
	vid bigint;
BEGIN
	PERFORM require_role('maintainer', p.id);
	v := arg_version('version', version);
	IF v IS NULL THEN
		RAISE EXCEPTION 'version is required' USING ERRCODE = '22023', COLUMN = 'version', CONSTRAINT = 'required';
	END IF;
	c := channel_by_name(p.id, coalesce(channel, 'stable'));
	PERFORM check_version_fields(file_url, file_size, file_checksum, rollout_percentage);
	INSERT INTO versions (project_id, version, tag, channel_id, title, title_i18n, description, release_notes,
						  release_notes_i18n, breaking_changes, min_upgrade_version, file_url, file_size,
						  file_checksum, is_forced, rollout_percentage)
	VALUES (p.id, v, coalesce(nullif(trim(tag), ''), trim(version)), c.id, coalesce(title, ''), coalesce(title_i18n, '{}'),
			coalesce(description, ''), coalesce(release_notes, ''), coalesce(release_notes_i18n, '{}'),
			coalesce(breaking_changes, ''), arg_version('min_upgrade_version', min_upgrade_version),
			file_url, file_size, file_checksum, coalesce(is_forced, false), rollout_percentage)
	RETURNING versions.id INTO vid;
	IF c.auto_publish AND needs_approval(p.id) THEN
		-- an auto-publishing channel of a project that requires approval: ask for it
		PERFORM request_approval(x, NULL) FROM versions x WHERE x.id = vid;
	ELSIF c.auto_publish THEN
		UPDATE versions SET status = 'published', publish_time = now() WHERE versions.id = vid;
	END IF;
	RETURN get_version(vid);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'version % already exists in project %', v, p.slug
		USING ERRCODE = '23505', COLUMN = 'version', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text) IS
	'creates a version as a draft (published at once if its channel auto-publishes); returns it as get_version does';

REVOKE ALL ON FUNCTION rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text) TO rollout_maintainer;

CREATE FUNCTION rollout.add_artifact(version_id bigint, os text, arch text, file_url text,
									 file_size bigint DEFAULT NULL, file_checksum text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
	id bigint;
BEGIN
	IF os IS NULL OR lower(os) !~ '^[a-z0-9_]{1,32}$' THEN
		PERFORM invalid_argument('os', format('invalid os: "%s"', os));
	END IF;
	IF arch IS NULL OR lower(arch) !~ '^[a-z0-9_]{1,32}$' THEN
		PERFORM invalid_argument('arch', format('invalid arch: "%s"', arch));
	END IF;
	IF file_url IS NULL OR file_url = '' THEN
		PERFORM invalid_argument('file_url', 'file_url is required');
	END IF;
	PERFORM check_version_fields(file_url, file_size, file_checksum, NULL);
	INSERT INTO artifacts AS a (version_id, os, arch, file_url, file_size, file_checksum)
	VALUES (v.id, lower(os), lower(arch), file_url, file_size, file_checksum)
	ON CONFLICT (version_id, os, arch) DO UPDATE
	SET file_url = EXCLUDED.file_url, file_size = EXCLUDED.file_size, file_checksum = EXCLUDED.file_checksum
	RETURNING a.id INTO id;
	RETURN get_artifact(id);
END
$$;
COMMENT ON FUNCTION rollout.add_artifact(bigint, text, text, text, bigint, text) IS
	'adds (or replaces) the file of a version for one os/arch and returns it; a relative file_url resolves against the client region''s mirror';

REVOKE ALL ON FUNCTION rollout.add_artifact(bigint, text, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.add_artifact(bigint, text, text, text, bigint, text) TO rollout_maintainer;

CREATE FUNCTION rollout.set_mirror(project text DEFAULT 'default', region text DEFAULT NULL, base_url text DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	p projects := project_by_slug(project);
	id bigint;
BEGIN
	PERFORM require_role('admin', p.id);
	IF region IS NULL OR lower(region) !~ '^[a-z0-9][a-z0-9-]{0,31}$' THEN
		PERFORM invalid_argument('region', format('invalid region: "%s"', region));
	END IF;
	IF base_url IS NULL OR base_url !~ '^https?://[^\s]+$' OR length(base_url) > 2000 THEN
		PERFORM invalid_argument('base_url', 'base_url must be an http:// or https:// URL');
	END IF;
	INSERT INTO mirrors AS m (project_id, region, base_url) VALUES (p.id, lower(region), base_url)
	ON CONFLICT (project_id, region) DO UPDATE SET base_url = EXCLUDED.base_url
	RETURNING m.id INTO id;
	RETURN get_mirror(id);
END
$$;
COMMENT ON FUNCTION rollout.set_mirror(text, text, text) IS 'sets the download base URL of a region (upsert); returns the mirror';

REVOKE ALL ON FUNCTION rollout.set_mirror(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.set_mirror(text, text, text) TO rollout_admin;

CREATE FUNCTION rollout.create_rule(project text DEFAULT 'default', name text DEFAULT NULL, priority integer DEFAULT 0, target_region text DEFAULT NULL,
									target_version_range text DEFAULT NULL, target_os text DEFAULT NULL,
									target_arch text DEFAULT NULL, rollout_config jsonb DEFAULT '{}', enabled boolean DEFAULT true)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	id bigint;
BEGIN
	PERFORM require_role('maintainer', p.id);
	IF name IS NULL OR length(name) NOT BETWEEN 1 AND 200 THEN
		PERFORM invalid_argument('name', 'name must be 1 to 200 characters');
	END IF;
	INSERT INTO update_rules (project_id, name, priority, target_region, target_version_range, target_os, target_arch,
							  rollout_config, enabled)
	VALUES (p.id, name, coalesce(priority, 0), target_region,
			check_rule_targets(target_region, target_version_range, target_os, target_arch),
			target_os, target_arch, check_rule_config(p.id, rollout_config), coalesce(enabled, true))
	RETURNING update_rules.id INTO id;
	RETURN get_rule(id);
END
$$;
COMMENT ON FUNCTION rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean) IS
	'creates an update rule; returns it as get_rule does';

REVOKE ALL ON FUNCTION rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean) TO rollout_maintainer;

CREATE FUNCTION rollout.begin_request(token text) RETURNS void
	LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	a jsonb;
	db_role text := 'rollout_client';
	actor text := '';
BEGIN
	IF token IS NOT NULL THEN
		a := rollout.authenticate(token);
		actor := a ->> 'username';
		-- only our own roles, whatever the account says
		db_role := CASE WHEN a ->> 'db_role' IN ('rollout_admin', 'rollout_maintainer', 'rollout_reader')
						THEN a ->> 'db_role' ELSE 'rollout_reader' END;
	END IF;
	PERFORM pg_catalog.set_config('rollout.actor', actor, true), pg_catalog.set_config('role', db_role, true);
END
$$;
COMMENT ON FUNCTION rollout.begin_request(text) IS
	'starts an HTTP request: authenticates the bearer token (NULL: no login) and sets rollout.actor and the role for the transaction';

REVOKE ALL ON FUNCTION rollout.begin_request(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.begin_request(text) TO rollout_client;

/*
 * After CREATE or ALTER EXTENSION: NOTIFY rollout_schema, so that running
 * HTTP servers read the functions' signatures again (no restart needed).
 */
CREATE FUNCTION rollout.notify_schema_changed() RETURNS event_trigger
	LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('rollout_schema',
								 (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'rollout'));
END
$$;
COMMENT ON FUNCTION rollout.notify_schema_changed() IS
	'event trigger: NOTIFY rollout_schema after an extension is altered, so HTTP servers reload signatures';
REVOKE ALL ON FUNCTION rollout.notify_schema_changed() FROM PUBLIC;

CREATE EVENT TRIGGER rollout_schema_changed ON ddl_command_end
	WHEN TAG IN ('ALTER EXTENSION')
	EXECUTE FUNCTION rollout.notify_schema_changed();

-- this very update: the event trigger above is new, so say it here too (sent at commit)
SELECT pg_catalog.pg_notify('rollout_schema', '0.4.0');

-- ---------------------------------------------------------------------
-- Reports no longer NOTIFY: the check recorder announces their projects'
-- statistics changes (a NOTIFY serializes the commits of its transactions).
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.announce_stats(project_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'rollout_announce_stats' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rollout.announce_stats(bigint) IS
	'announces on rollout_events that a project''s statistics changed, through the check recorder when it runs';
REVOKE ALL ON FUNCTION rollout.announce_stats(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rollout.download_started(request jsonb) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION rollout.install_result(request jsonb) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION rollout.count_download(file_url text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pid bigint;
	ver semver;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	SELECT v.project_id, v.version INTO pid, ver
	FROM artifacts a JOIN versions v ON v.id = a.version_id WHERE a.file_url = count_download.file_url
	LIMIT 1;
	IF NOT FOUND THEN
		SELECT v.project_id, v.version INTO pid, ver FROM versions v WHERE v.file_url = count_download.file_url LIMIT 1;
	END IF;
	IF pid IS NULL THEN
		RETURN false;
	END IF;
	PERFORM count_daily(pid, 'download', ver, false);
	PERFORM announce_stats(pid);
	RETURN true;
END
$$;
COMMENT ON FUNCTION rollout.count_download(text) IS 'counts one download of a stored file (events only: no client id)';

-- Reporting (issue 16, item 4): failure rate per release next to the project's
-- auto-pause threshold, for reporting tools as rollout_reader

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
GRANT SELECT ON rollout.stats_release_health TO rollout_reader;

-- ---------------------------------------------------------------------
-- Active clients per day (rollup_active): each client once a day, on its
-- first check of the UTC day, whatever versions it checked from.
-- stats_overview.active_clients_today summed rollup_daily's per-version
-- counts, in which a client that changed version that day is twice.
-- ---------------------------------------------------------------------
CREATE TABLE rollout.rollup_active (
	day date NOT NULL,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	shard smallint NOT NULL,
	clients bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, day, shard)
) WITH (fillfactor = 90);
COMMENT ON TABLE rollout.rollup_active IS
	'distinct clients that checked per UTC day, counted on each client''s first check of the day whatever its version, in shards to avoid hot rows';
SELECT pg_catalog.pg_extension_config_dump('rollout.rollup_active', '');
-- the days before this update as they were counted; today exactly, from the clients' last checks
INSERT INTO rollout.rollup_active (day, project_id, shard, clients)
SELECT r.day, r.project_id, 0, sum(r.clients) FROM rollout.rollup_daily r
WHERE r.action = 'check' AND r.day < rollout.utc_today()
GROUP BY r.day, r.project_id HAVING sum(r.clients) > 0
UNION ALL
SELECT rollout.utc_today(), c.project_id, 0, count(*) FROM rollout.client_state c
WHERE c.last_seen >= rollout.utc_today()::timestamp AT TIME ZONE 'UTC'
GROUP BY c.project_id;

-- =====================================================================
-- Signed answers (issue 14): signing keys, metadata versions, check_update_signed;
-- the same as extension/sql/85_signing.sql.
-- =====================================================================
-- ---------------------------------------------------------------------
-- Ed25519 through OpenSSL
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.ed25519_generate(OUT private_key bytea, OUT public_key bytea)
	AS 'MODULE_PATHNAME', 'rollout_ed25519_generate' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.ed25519_generate() IS 'a new Ed25519 key pair (raw 32 bytes each), from OpenSSL';
CREATE FUNCTION rollout.ed25519_sign(private_key bytea, message bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'rollout_ed25519_sign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_sign(bytea, bytea) IS 'the Ed25519 signature (64 bytes) of message under a raw private key';
CREATE FUNCTION rollout.ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rollout_ed25519_verify' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_verify(bytea, bytea, bytea) IS
	'whether signature is a valid Ed25519 signature of message under the raw 32-byte public key';
CREATE FUNCTION rollout.ed25519_public_pem(public_key bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_ed25519_public_pem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_public_pem(bytea) IS 'a raw Ed25519 public key as PEM (SubjectPublicKeyInfo)';
-- the key id of the protocol: hex of the first 8 bytes of SHA-256 over the raw public key
CREATE FUNCTION rollout.signing_key_id(public_key bytea) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256($1), 1, 8), 'hex') $$;
COMMENT ON FUNCTION rollout.signing_key_id(bytea) IS 'lowercase hex of the first 8 bytes of SHA-256 over the raw public key';

-- ---------------------------------------------------------------------
-- Keys and metadata versions
-- ---------------------------------------------------------------------
CREATE TABLE rollout.project_signing (
	project_id bigint PRIMARY KEY REFERENCES rollout.projects ON DELETE CASCADE,
	answer_lifetime interval NOT NULL DEFAULT '7 days'
		CHECK (answer_lifetime BETWEEN interval '1 minute' AND interval '366 days'),
	metadata_version bigint NOT NULL DEFAULT 1 CHECK (metadata_version >= 1),
	scheduled timestamptz[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE rollout.project_signing IS 'per project: how long a signed answer holds and its metadata version';
COMMENT ON COLUMN rollout.project_signing.metadata_version IS
	'grows with every change that can alter an answer; an answer says this plus the scheduled publishes that have come';
COMMENT ON COLUMN rollout.project_signing.scheduled IS 'publish times that were still ahead when metadata_version was stored';

CREATE TABLE rollout.signing_keys (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	keyid text NOT NULL UNIQUE CHECK (keyid ~ '^[0-9a-f]{16}$'),
	algorithm text NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
	public_key bytea NOT NULL CHECK (length(public_key) = 32),
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'trusted', 'retired')),
	created_at timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz
);
COMMENT ON TABLE rollout.signing_keys IS
	'public halves of the projects'' Ed25519 keys: one active (signs), trusted ones (listed, no longer sign), retired ones';
CREATE UNIQUE INDEX signing_keys_active ON rollout.signing_keys (project_id) WHERE status = 'active';

CREATE TABLE rollout.signing_secrets (
	key_id bigint PRIMARY KEY REFERENCES rollout.signing_keys ON DELETE CASCADE,
	private_key bytea NOT NULL CHECK (length(private_key) = 32)
);
COMMENT ON TABLE rollout.signing_secrets IS
	'private halves of the active and trusted keys (raw 32 bytes); readable by the extension''s owner only';
REVOKE ALL ON rollout.project_signing, rollout.signing_keys, rollout.signing_secrets FROM PUBLIC,
	rollout_reader, rollout_client, rollout_maintainer, rollout_admin;

SELECT pg_catalog.pg_extension_config_dump('rollout.project_signing', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_keys', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_keys_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_secrets', '');

-- A new key for a project (active, or trusted), its private half kept in signing_secrets.
CREATE FUNCTION rollout.new_signing_key(project_id bigint, status text DEFAULT 'active') RETURNS rollout.signing_keys
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pair record := ed25519_generate();
	k signing_keys;
BEGIN
	INSERT INTO signing_keys (project_id, keyid, public_key, status)
	VALUES ($1, signing_key_id(pair.public_key), pair.public_key, $2) RETURNING * INTO k;
	INSERT INTO signing_secrets (key_id, private_key) VALUES (k.id, pair.private_key);
	RETURN k;
END
$$;
COMMENT ON FUNCTION rollout.new_signing_key(bigint, text) IS 'makes a project''s new signing key (internal: not callable by the roles)';

-- Every new project gets its signing settings and a key (not a restored one: its keys come with the dump).
CREATE FUNCTION rollout.project_signing_trigger() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('check_function_bodies') = 'off' THEN
		RETURN NULL;
	END IF;
	INSERT INTO project_signing (project_id) VALUES (NEW.id);
	PERFORM new_signing_key(NEW.id);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.project_signing_trigger() IS 'gives a new project its signing settings and an active key';
CREATE TRIGGER signing AFTER INSERT ON rollout.projects
	FOR EACH ROW EXECUTE FUNCTION rollout.project_signing_trigger();

/*
 * The metadata version grows with every change that can alter an answer.
 * A publish at a later time alters answers when the time comes, without a
 * write: the publish times still ahead are stored with the version, and an
 * answer adds those that have come (rollout_sign.c).  A bump adds one plus
 * every stored time, whether it has come or not, so no later answer can
 * carry a lower version than an earlier one.
 */
CREATE FUNCTION rollout.bump_metadata_version(project_id bigint) RETURNS void
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	UPDATE project_signing s
	SET metadata_version = s.metadata_version + cardinality(s.scheduled) + 1,
		scheduled = ARRAY(SELECT v.publish_time FROM versions v
						  WHERE v.project_id = $1 AND v.status = 'published' AND v.publish_time > now()
						  ORDER BY v.publish_time)
	WHERE s.project_id = $1
$$;
COMMENT ON FUNCTION rollout.bump_metadata_version(bigint) IS 'raises a project''s metadata version (internal)';

CREATE FUNCTION rollout.metadata_trigger() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	row_ record;
	proj bigint;
BEGIN
	-- a restore brings the stored versions along
	IF current_setting('check_function_bodies') = 'off' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		row_ := OLD;
	ELSE
		row_ := NEW;
	END IF;
	IF TG_TABLE_NAME = 'artifacts' THEN
		SELECT v.project_id INTO proj FROM versions v WHERE v.id = row_.version_id;
	ELSIF TG_TABLE_NAME = 'projects' THEN
		proj := row_.id;
	ELSE
		proj := row_.project_id;
	END IF;
	PERFORM bump_metadata_version(proj);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.metadata_trigger() IS 'raises the metadata version of the changed row''s project';
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.channels
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.versions
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.artifacts
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.mirrors
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.update_rules
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
-- of a project's own settings, the default channel alters answers
CREATE TRIGGER metadata AFTER UPDATE ON rollout.projects
	FOR EACH ROW WHEN (OLD.default_channel IS DISTINCT FROM NEW.default_channel)
	EXECUTE FUNCTION rollout.metadata_trigger();

-- the decision cache holds keys and metadata versions too
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['project_signing', 'signing_keys', 'signing_secrets'] LOOP
		EXECUTE format('CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION rollout.config_changed()', t);
	END LOOP;
END
$$;

-- the projects that exist (the seeded default one, or all of an updated installation) get theirs
INSERT INTO rollout.project_signing (project_id) SELECT id FROM rollout.projects ORDER BY id;
SELECT rollout.new_signing_key(id) FROM rollout.projects ORDER BY id;

-- ---------------------------------------------------------------------
-- Signed answers
-- ---------------------------------------------------------------------

-- Not SECURITY DEFINER, as check_update: the key is read as its owner by the decision cache.
CREATE FUNCTION rollout.check_update_signed(request jsonb, lang text DEFAULT NULL,
											OUT body text, OUT signature text, OUT record jsonb)
	AS 'MODULE_PATHNAME', 'rollout_check_update_signed'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update_signed(jsonb, text) IS
	'check_update, recorded, as the exact body of the HTTP answer ({"code":200,"message":...,"data":{... issued_at, expires_at, metadata_version, project}}; message in lang, else the request''s locale) and the X-Rollout-Signature value "keyid=<keyid>,sig=<base64 Ed25519 signature of the body>"; on a hot standby, record is what the check would record (for rollout.record_forwarded on the primary; never in the body), NULL on a primary';

-- rollout-http's form of check_update_signed: one value is cheaper to return than a row.
CREATE FUNCTION rollout.check_update_wire(request jsonb, lang text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_check_update_wire'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update_wire(jsonb, text) IS
	'check_update_signed''s answer as one text value, for rollout-http: the X-Rollout-Signature value, a line feed, the record as JSON on one line (empty on a primary), a line feed, then the body byte for byte';

-- A key as the API shows it (never its private half).
CREATE FUNCTION rollout.signing_key_json(k rollout.signing_keys) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('keyid', k.keyid, 'algorithm', k.algorithm,
							  'public_key', encode(k.public_key, 'base64'),
							  'public_key_pem', ed25519_public_pem(k.public_key),
							  'status', k.status, 'created_at', k.created_at)
$$;
COMMENT ON FUNCTION rollout.signing_key_json(rollout.signing_keys) IS 'a signing key''s public half as the API returns it';

CREATE FUNCTION rollout.public_keys(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('project', p.slug, 'keys', coalesce(
		(SELECT jsonb_agg(signing_key_json(k) ORDER BY k.status = 'active' DESC, k.created_at DESC, k.id DESC)
		 FROM signing_keys k WHERE k.project_id = p.id AND k.status <> 'retired'), '[]'))
	FROM project_by_slug(project) p
$$;
COMMENT ON FUNCTION rollout.public_keys(text) IS
	'a project''s keys that clients may trust: the active one first, then the trusted ones (retired ones are not listed)';

CREATE FUNCTION rollout.public_key_pem(project text DEFAULT 'default') RETURNS text
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	pem text;
BEGIN
	SELECT ed25519_public_pem(k.public_key) INTO pem FROM signing_keys k WHERE k.project_id = p.id AND k.status = 'active';
	IF pem IS NULL THEN
		RAISE EXCEPTION 'project "%" has no active signing key', p.slug
			USING ERRCODE = 'P0002', COLUMN = 'keyid', CONSTRAINT = 'not_found';
	END IF;
	RETURN pem;
END
$$;
COMMENT ON FUNCTION rollout.public_key_pem(text) IS 'the active key of a project as PEM (SubjectPublicKeyInfo)';

/*
 * Whether body is signed as signature ("keyid=...,sig=...") says by a key of
 * the project that is still listed (active or trusted): what a client
 * checks, for SQL callers and tests.
 */
CREATE FUNCTION rollout.verify_answer(body text, signature text, project text DEFAULT 'default') RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(bool_or(ed25519_verify(k.public_key, convert_to(body, 'UTF8'),
										   decode(substring(signature FROM ',sig=([A-Za-z0-9+/=]+)$'), 'base64'))), false)
	FROM signing_keys k
	WHERE k.project_id = (project_by_slug(project)).id AND k.status <> 'retired'
	  AND k.keyid = substring(signature FROM '^keyid=([0-9a-f]{16}),')
$$;
COMMENT ON FUNCTION rollout.verify_answer(text, text, text) IS
	'whether a signed answer''s body verifies under the X-Rollout-Signature value with a listed key of the project';

-- ---------------------------------------------------------------------
-- Admin API: rotation, retirement, the answer lifetime
-- ---------------------------------------------------------------------

-- A project's signing settings and every key, retired ones included.
CREATE FUNCTION rollout.get_signing(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('viewer', p.id);
	RETURN (SELECT jsonb_build_object('project', p.slug, 'answer_lifetime', s.answer_lifetime::text,
									  'metadata_version', s.metadata_version,
									  'keys', coalesce((SELECT jsonb_agg(signing_key_json(k) || jsonb_build_object('retired_at', k.retired_at)
																		 ORDER BY k.id DESC)
													   FROM signing_keys k WHERE k.project_id = p.id), '[]'))
			FROM project_signing s WHERE s.project_id = p.id);
END
$$;
COMMENT ON FUNCTION rollout.get_signing(text) IS 'a project''s answer lifetime, metadata version and keys (public halves, retired ones too)';

-- Write an audit entry and the event for a key's change (the keys table itself is not audited row by row).
CREATE FUNCTION rollout.audit_key(action text, k rollout.signing_keys, before jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, before, after)
	VALUES (current_actor(), action, 'signing_keys', k.id, k.project_id, before, signing_key_json(k) - 'public_key_pem');
	PERFORM pg_notify('rollout_events', json_build_object('type', 'signing_keys.' || action, 'id', k.id,
														  'project_id', k.project_id, 'status', k.status,
														  'actor', current_actor())::text);
END
$$;
COMMENT ON FUNCTION rollout.audit_key(text, rollout.signing_keys, jsonb) IS 'audits a signing key''s rotation or retirement';

CREATE FUNCTION rollout.rotate_signing_key(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	prev signing_keys;
	k signing_keys;
BEGIN
	PERFORM require_role('admin', p.id);
	-- (a project made while check_function_bodies was off, as a restore does, has no settings yet)
	INSERT INTO project_signing (project_id) VALUES (p.id) ON CONFLICT DO NOTHING;
	UPDATE signing_keys x SET status = 'trusted' WHERE x.project_id = p.id AND x.status = 'active' RETURNING * INTO prev;
	k := new_signing_key(p.id);
	PERFORM audit_key('rotate_key', k, CASE WHEN prev.id IS NOT NULL THEN signing_key_json(prev) - 'public_key_pem' END);
	RETURN public_keys(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.rotate_signing_key(text) IS
	'a new active key signs the project''s answers; the previous one stays listed as trusted until retired; audited';

CREATE FUNCTION rollout.retire_signing_key(project text DEFAULT 'default', keyid text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	k signing_keys;
BEGIN
	PERFORM require_role('admin', p.id);
	SELECT * INTO k FROM signing_keys x WHERE x.project_id = p.id AND x.keyid = retire_signing_key.keyid FOR UPDATE;
	IF NOT FOUND OR k.status = 'retired' THEN
		RAISE EXCEPTION 'signing key not found: "%"', keyid USING ERRCODE = 'P0002', COLUMN = 'keyid', CONSTRAINT = 'not_found';
	END IF;
	IF k.status = 'active' THEN
		RAISE EXCEPTION 'the active signing key cannot be retired: rotate first'
			USING ERRCODE = '22023', COLUMN = 'keyid', CONSTRAINT = 'active_key';
	END IF;
	UPDATE signing_keys x SET status = 'retired', retired_at = now() WHERE x.id = k.id RETURNING * INTO k;
	-- a retired key signs nothing ever again: its private half goes
	DELETE FROM signing_secrets WHERE key_id = k.id;
	PERFORM audit_key('retire_key', k, jsonb_build_object('keyid', k.keyid, 'status', 'trusted'));
	RETURN public_keys(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.retire_signing_key(text, text) IS
	'a trusted key is no longer listed and its private half is destroyed; audited';

CREATE FUNCTION rollout.set_answer_lifetime(project text DEFAULT 'default', answer_lifetime interval DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	prev_lifetime interval;
BEGIN
	PERFORM require_role('admin', p.id);
	IF answer_lifetime IS NULL OR answer_lifetime NOT BETWEEN interval '1 minute' AND interval '366 days' THEN
		PERFORM invalid_argument('answer_lifetime', 'answer_lifetime must be between 1 minute and 366 days');
	END IF;
	SELECT s.answer_lifetime INTO prev_lifetime FROM project_signing s WHERE s.project_id = p.id FOR UPDATE;
	UPDATE project_signing s SET answer_lifetime = set_answer_lifetime.answer_lifetime WHERE s.project_id = p.id;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, before, after)
	VALUES (current_actor(), 'update', 'project_signing', p.id, p.id,
			jsonb_build_object('answer_lifetime', prev_lifetime::text),
			jsonb_build_object('answer_lifetime', set_answer_lifetime.answer_lifetime::text));
	RETURN get_signing(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.set_answer_lifetime(text, interval) IS
	'how long a signed answer of the project holds (expires_at - issued_at; default 7 days); audited';

-- ---------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION rollout.ed25519_generate(), rollout.ed25519_sign(bytea, bytea),
	rollout.new_signing_key(bigint, text), rollout.project_signing_trigger(), rollout.bump_metadata_version(bigint),
	rollout.metadata_trigger(), rollout.check_update_signed(jsonb, text), rollout.check_update_wire(jsonb, text),
	rollout.signing_key_json(rollout.signing_keys),
	rollout.public_keys(text), rollout.public_key_pem(text), rollout.get_signing(text),
	rollout.audit_key(text, rollout.signing_keys, jsonb), rollout.rotate_signing_key(text),
	rollout.retire_signing_key(text, text), rollout.set_answer_lifetime(text, interval)
	FROM PUBLIC;
-- verifying is for everyone, like the semver functions
GRANT EXECUTE ON FUNCTION rollout.ed25519_verify(bytea, bytea, bytea), rollout.ed25519_public_pem(bytea),
	rollout.signing_key_id(bytea), rollout.verify_answer(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.check_update_signed(jsonb, text), rollout.check_update_wire(jsonb, text),
	rollout.public_keys(text), rollout.public_key_pem(text)
	TO rollout_client, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.get_signing(text) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.rotate_signing_key(text), rollout.retire_signing_key(text, text),
	rollout.set_answer_lifetime(text, interval) TO rollout_admin;
-- ===================================================================== end of signed answers

-- Login throttle (issue 15, item 2): failed logins recorded, counted and
-- audited; a username or an address locked after too many (rollout.login_*
-- settings); try_login for the HTTP route, login() raising for SQL callers
-- ---------------------------------------------------------------------
-- Login throttle: recent failed logins, and counters for /metrics
CREATE TABLE rollout.login_failures (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	username text NOT NULL,
	ip inet,
	refused boolean NOT NULL DEFAULT false,
	cleared boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE rollout.login_failures IS
	'failed logins of the last day (by username as typed, and client address): what locks a username or an address (rollout.login_*)';
COMMENT ON COLUMN rollout.login_failures.refused IS 'refused by a lockout, the password unchecked: counted for metrics, never toward a lock';
COMMENT ON COLUMN rollout.login_failures.cleared IS 'followed by a successful login of the username: no longer counts toward its lock (still toward its address''s)';
CREATE INDEX ON rollout.login_failures (username, at);
CREATE INDEX ON rollout.login_failures (ip, at);
CREATE INDEX ON rollout.login_failures (at);
-- counters as sequences: they never roll back and never make two logins wait for each other
CREATE SEQUENCE rollout.login_failed_total;
COMMENT ON SEQUENCE rollout.login_failed_total IS 'failed logins (wrong password or unknown username) since the extension was created';
CREATE SEQUENCE rollout.login_refused_total;
COMMENT ON SEQUENCE rollout.login_refused_total IS 'logins refused by a lockout since the extension was created';
CREATE SEQUENCE rollout.login_lockouts_total;
COMMENT ON SEQUENCE rollout.login_lockouts_total IS 'lockouts begun (of a username or an address) since the extension was created';

CREATE FUNCTION rollout.login_settings(OUT max_failures integer, OUT address_max_failures integer, OUT "window" integer)
	AS 'MODULE_PATHNAME', 'rollout_login_settings' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.login_settings() IS
	'the login throttle''s settings: rollout.login_max_failures, rollout.login_address_max_failures, rollout.login_window (seconds)';

/*
 * When a login by username from ip is locked, and why: NULL if it is not.
 * A username (as typed, whether or not an account has it) is locked while
 * it has max_failures failures within the window since its last successful
 * login, an address while it has address_max_failures; the lock ends when
 * the oldest of those leaves the window.
 */
CREATE FUNCTION rollout.login_lock(username text, ip inet, OUT until timestamptz, OUT scope text)
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	s record := login_settings();
	win interval := make_interval(secs => s."window");
	addr_until timestamptz;
BEGIN
	SELECT f.at + win INTO until FROM login_failures f
	WHERE f.username = login_lock.username AND NOT f.refused AND NOT f.cleared AND f.at > now() - win
	ORDER BY f.at DESC OFFSET s.max_failures - 1 LIMIT 1;
	scope := CASE WHEN until IS NOT NULL THEN 'account' END;
	IF ip IS NOT NULL THEN
		SELECT f.at + win INTO addr_until FROM login_failures f
		WHERE f.ip = login_lock.ip AND NOT f.refused AND f.at > now() - win
		ORDER BY f.at DESC OFFSET s.address_max_failures - 1 LIMIT 1;
		IF addr_until > until OR (until IS NULL AND addr_until IS NOT NULL) THEN
			until := addr_until;
			scope := 'address';
		END IF;
	END IF;
END
$$;
COMMENT ON FUNCTION rollout.login_lock(text, inet) IS
	'until when a login of a username from an address is locked, and whether by the account''s or the address''s failures (NULLs: not locked)';

/*
 * A failed login (reason password: wrong password or unknown username, one
 * and the same; locked: refused by a lockout, its password unchecked):
 * recorded, counted and audited, and the lockout it begins audited too.
 * Returns the refusal as try_login answers it.
 */
CREATE FUNCTION rollout.login_refusal(username text, ip inet, account rollout.admins, reason text,
									  locked_until timestamptz, scope text)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	s record := login_settings();
	win interval := make_interval(secs => s."window");
	held record;
BEGIN
	DELETE FROM login_failures f WHERE f.at < now() - greatest(win, interval '1 day');
	INSERT INTO login_failures (username, ip, refused) VALUES (username, ip, reason = 'locked');
	PERFORM nextval(CASE reason WHEN 'locked' THEN 'login_refused_total' ELSE 'login_failed_total' END::regclass);
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
	VALUES (username, 'login_failed', 'admins', account.id, account.project_id,
			jsonb_strip_nulls(jsonb_build_object('username', username, 'ip', ip, 'reason', reason,
												 'locked_until', locked_until, 'lock', scope)));
	IF reason = 'password' THEN
		-- did this failure begin a lockout?  (at most one failure at a time per username and address: try_login)
		held := login_lock(username, NULL);
		IF held.until IS NOT NULL AND
		   (SELECT count(*) FROM login_failures f WHERE f.username = login_refusal.username AND NOT f.refused
			AND NOT f.cleared AND f.at > now() - win) = s.max_failures THEN
			PERFORM nextval('login_lockouts_total');
			INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
			VALUES (username, 'login_locked', 'admins', account.id, account.project_id,
					jsonb_build_object('lock', 'account', 'username', username, 'until', held.until));
		END IF;
		IF ip IS NOT NULL AND
		   (SELECT count(*) FROM login_failures f WHERE f.ip = login_refusal.ip AND NOT f.refused
			AND f.at > now() - win) = s.address_max_failures THEN
			PERFORM nextval('login_lockouts_total');
			INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
			VALUES (username, 'login_locked', 'admins', NULL, NULL,
					jsonb_build_object('lock', 'address', 'ip', ip, 'until', (login_lock(NULL, ip)).until));
		END IF;
	END IF;
	IF reason = 'locked' THEN
		RETURN jsonb_build_object('error', jsonb_build_object(
			'sqlstate', '28P01', 'constraint', 'login_locked',
			'message', 'too many failed logins: try again later',
			'detail', format('locked until %s', to_char(locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))));
	END IF;
	RETURN jsonb_build_object('error', jsonb_build_object(
		'sqlstate', '28P01', 'constraint', 'login_failed', 'message', 'invalid username or password'));
END
$$;
COMMENT ON FUNCTION rollout.login_refusal(text, inet, rollout.admins, text, timestamptz, text) IS
	'records, counts and audits a failed login (and the lockout it begins); returns try_login''s {error}';

/*
 * A login that never raises for a wrong password or a lockout, so that what
 * it records about the failure commits: {token, expires_at, username, role,
 * project} or {error: {sqlstate, constraint, message, detail}}.  The route
 * POST /auth/login runs it (the shim answers an {error} as that error);
 * login() raises it for SQL callers.
 */
CREATE FUNCTION rollout.try_login(username text, password text, ttl interval DEFAULT '12 hours', ip inet DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	who text := left(coalesce(username, ''), 100);
	a admins;
	held record;
	tok text;
	exp timestamptz;
BEGIN
	IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '90 days' THEN
		PERFORM invalid_argument('ttl', 'ttl must be between 1 minute and 90 days');
	END IF;
	-- one attempt at a time per username and per address: none slips past a lock being reached
	PERFORM pg_advisory_xact_lock(hashtext('rollout.login.user'), hashtext(who));
	IF ip IS NOT NULL THEN
		PERFORM pg_advisory_xact_lock(hashtext('rollout.login.ip'), hashtext(host(ip)));
	END IF;
	SELECT * INTO a FROM admins x WHERE x.username = who AND x.is_active;
	-- a locked login is refused before, and without, its password being looked at
	held := login_lock(who, ip);
	IF held.until IS NOT NULL THEN
		RETURN login_refusal(who, ip, a, 'locked', held.until, held.scope);
	END IF;
	-- the same work whether or not the account exists, and the same answer
	IF NOT verify_password(coalesce(password, ''),
						   coalesce(a.password_hash, 'pbkdf2-sha256$100000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000'))
	   OR a.id IS NULL THEN
		RETURN login_refusal(who, ip, a, 'password', NULL, NULL);
	END IF;
	UPDATE login_failures f SET cleared = true WHERE f.username = who AND NOT f.cleared;
	tok := random_token();
	exp := now() + ttl;
	INSERT INTO api_tokens (admin_id, token_hash, name, expires_at)
	VALUES (a.id, sha256(convert_to(tok, 'UTF8')), 'login', exp);
	INSERT INTO audit_log (actor, action, object_type, object_id, after)
	VALUES (a.username, 'login', 'admins', a.id, CASE WHEN ip IS NOT NULL THEN jsonb_build_object('ip', ip) END);
	RETURN jsonb_build_object('token', tok, 'expires_at', exp, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id));
END
$$;
COMMENT ON FUNCTION rollout.try_login(text, text, interval, inet) IS
	'checks a password, throttled per username and address: a new bearer token {token, expires_at, username, role, project}, or {error} (28P01 login_failed or login_locked), the failure recorded and audited';

CREATE OR REPLACE FUNCTION rollout.login(username text, password text, ttl interval DEFAULT '12 hours') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb := try_login(username, password, ttl, NULL);
BEGIN
	IF r ? 'error' AND r -> 'error' ? 'detail' THEN
		RAISE EXCEPTION '%', r #>> '{error,message}' USING ERRCODE = r #>> '{error,sqlstate}',
			CONSTRAINT = r #>> '{error,constraint}', DETAIL = r #>> '{error,detail}';
	ELSIF r ? 'error' THEN
		RAISE EXCEPTION '%', r #>> '{error,message}' USING ERRCODE = r #>> '{error,sqlstate}',
			CONSTRAINT = r #>> '{error,constraint}';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.login(text, text, interval) IS
	'try_login for SQL callers: a new bearer token {token, expires_at, username, role, project}; 28P01 on failure (which then rolls back with the caller''s transaction)';

CREATE FUNCTION rollout.login_metrics() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	s record := login_settings();
	win interval := make_interval(secs => s."window");
BEGIN
	RETURN jsonb_build_object(
		'failed_total', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM login_failed_total),
		'refused_total', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM login_refused_total),
		'lockouts_total', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM login_lockouts_total),
		'locked_usernames', (SELECT count(*) FROM (SELECT 1 FROM login_failures f
							 WHERE NOT f.refused AND NOT f.cleared AND f.at > now() - win
							 GROUP BY f.username HAVING count(*) >= s.max_failures) x),
		'locked_addresses', (SELECT count(*) FROM (SELECT 1 FROM login_failures f
							 WHERE NOT f.refused AND f.ip IS NOT NULL AND f.at > now() - win
							 GROUP BY f.ip HAVING count(*) >= s.address_max_failures) x));
END
$$;
COMMENT ON FUNCTION rollout.login_metrics() IS
	'the login throttle for /metrics: {failed_total, refused_total, lockouts_total} counters, {locked_usernames, locked_addresses} now';

REVOKE ALL ON FUNCTION rollout.login_settings(), rollout.login_lock(text, inet),
	rollout.login_refusal(text, inet, rollout.admins, text, timestamptz, text),
	rollout.try_login(text, text, interval, inet), rollout.login_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.try_login(text, text, interval, inet) TO rollout_client;
-- login() raises, undoing what it recorded: the clients' role logs in through try_login only
REVOKE EXECUTE ON FUNCTION rollout.login(text, text, interval) FROM rollout_client;
GRANT EXECUTE ON FUNCTION rollout.login_metrics() TO rollout_reader;

-- ---------------------------------------------------------------------
-- Reads of the admin API scoped like its writes (issue 15, item 4: the auth
-- matrix found that a maintainer of one project could read another's
-- project, channels, mirrors, rules and statistics): readable_project()
-- ---------------------------------------------------------------------
-- The project of a read of the admin API: as project_by_slug, and 42501
-- unless the acting account may see it (an account scoped to a project sees
-- only that one; see require_role).
CREATE FUNCTION rollout.readable_project(slug text) RETURNS rollout.projects
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(slug);
BEGIN
	PERFORM require_role('viewer', p.id);
	RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.readable_project(text) IS 'the project with this slug if the acting account may read it; P0002 or 42501';
REVOKE ALL ON FUNCTION rollout.readable_project(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rollout.get_project(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(readable_project(project)) $$;

CREATE OR REPLACE FUNCTION rollout.list_mirrors(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.region), '[]') FROM mirrors m WHERE m.project_id = (readable_project(project)).id $$;

CREATE OR REPLACE FUNCTION rollout.list_channels(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.rank), '[]') FROM channels c WHERE c.project_id = (readable_project(project)).id $$;

CREATE OR REPLACE FUNCTION rollout.list_rules(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(rule_json(r) ORDER BY r.priority DESC, r.id), '[]') FROM update_rules r WHERE r.project_id = (readable_project(project)).id $$;

CREATE OR REPLACE FUNCTION rollout.stats(project text DEFAULT 'default', period text DEFAULT '7d', action text DEFAULT 'all',
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

CREATE OR REPLACE FUNCTION rollout.stats_trend(project text DEFAULT 'default', period text DEFAULT '7d', action text DEFAULT 'all',
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

CREATE OR REPLACE FUNCTION rollout.stats_distribution(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('version', d.version::text, 'clients', d.clients, 'share', d.share)
							  ORDER BY d.version DESC), '[]')
	FROM stats_version_distribution d WHERE d.project = (readable_project(stats_distribution.project)).slug
$$;

CREATE OR REPLACE FUNCTION rollout.stats_regions(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('region', d.region, 'clients', d.clients, 'share', d.share)
							  ORDER BY d.clients DESC, d.region), '[]')
	FROM stats_region_distribution d WHERE d.project = (readable_project(stats_regions.project)).slug
$$;

CREATE OR REPLACE FUNCTION rollout.stats_funnel(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('version', f.tag, 'status', f.status, 'offered', f.offered,
												 'downloaded', f.downloaded, 'succeeded', f.succeeded,
												 'failed', f.failed, 'success_rate', f.success_rate)
							  ORDER BY f.version DESC), '[]')
	FROM stats_version_funnel f WHERE f.project = (readable_project(stats_funnel.project)).slug
$$;

-- ---------------------------------------------------------------------
-- check-update served from hot standbys (issue 16, item 1): the records of
-- checks answered by a standby, recorded on the primary.  (A standby's
-- signed answer hands its record back in check_update_signed's third column,
-- "record": made in the signed answers block above, 0.4.0 being unreleased.)
-- ---------------------------------------------------------------------
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

REVOKE ALL ON FUNCTION rollout.record_forwarded(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.record_forwarded(jsonb) TO rollout_client;

-- Active clients per day: the rest of the block (its table is above, before the signing keys)
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

DROP FUNCTION rollout.count_checks(bigint[], date[], rollout.semver[], integer[], integer[], bigint[], text[],
								   rollout.semver[], text[], integer[], bigint[], rollout.semver[], integer[]);
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

CREATE OR REPLACE FUNCTION rollout.record_check(rc rollout.check_record) RETURNS void
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
CREATE OR REPLACE FUNCTION rollout.record_checks(batch rollout.check_record[]) RETURNS integer
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
CREATE OR REPLACE VIEW rollout.stats_overview AS
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

REVOKE ALL ON FUNCTION rollout.count_active(bigint, date),
	rollout.count_checks(bigint[], date[], rollout.semver[], integer[], integer[], integer[], bigint[], text[],
						 rollout.semver[], text[], integer[], bigint[], rollout.semver[], integer[]) FROM PUBLIC;
