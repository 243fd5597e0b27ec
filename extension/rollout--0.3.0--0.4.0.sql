\echo Use "ALTER EXTENSION rollout UPDATE TO '0.4.0'" to load this file. \quit

/*
 * rollout 0.4.0: what 0.4.0 adds to 0.3.0's catalog.  Each change is made in
 * the section files of extension/sql/ (which build rollout--0.4.0.sql) and
 * repeated here as a delta; test/t/009_install_equals_upgrade.pl checks that
 * both give the same catalog.
 */

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
-- check-update served from hot standbys (issue 16, item 1): the records of
-- checks answered by a standby, recorded on the primary.
-- ---------------------------------------------------------------------
/*
 * Checks answered by a hot standby (SPEC §8): a standby cannot write, so
 * check_update hands what each check records back as its answer's "record"
 * and rollout-http sends those here, to the primary, in batches.  Recorded
 * as record_checks records checks made on the primary, in the given order;
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
	RETURN record_checks(batch);
END
$$;
COMMENT ON FUNCTION rollout.record_forwarded(jsonb) IS
	'records checks answered by a hot standby (the "record" of their answers, as a JSON array), as record_checks would have on the primary';

REVOKE ALL ON FUNCTION rollout.record_forwarded(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.record_forwarded(jsonb) TO rollout_client;
