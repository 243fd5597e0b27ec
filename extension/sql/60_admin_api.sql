/*
 * The admin SQL API: access checks, approvals, projects, versions and
 * artifacts, mirrors and channels, rules, the audit log, the admin UI's
 * dashboard, simulator and cohorts, getters by id, stored artifacts.
 */

-- ---------------------------------------------------------------------
-- Access: who may change what
-- ---------------------------------------------------------------------

/*
 * Check that the actor may act on a project with at least the given role
 * (viewer < maintainer < admin).  Database roles already decided which
 * functions the caller may run (GRANTs below); this adds the per-project
 * scope of the admin account named by rollout.actor, which the HTTP server
 * sets from a verified token.  Without rollout.actor (a DBA in psql) the
 * database role alone decides.
 */
CREATE FUNCTION rollout.require_role(min_role text, project_id bigint) RETURNS void
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	actor text := nullif(current_setting('rollout.actor', true), '');
	a admins;
	rank_of constant jsonb := '{"viewer": 0, "maintainer": 1, "admin": 2}';
BEGIN
	IF actor IS NULL OR actor LIKE 'system:%' THEN
		RETURN;
	END IF;
	SELECT * INTO a FROM admins WHERE username = actor AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown or disabled account: "%"', actor USING ERRCODE = '42501', CONSTRAINT = 'forbidden';
	END IF;
	IF (rank_of ->> a.role)::int < (rank_of ->> min_role)::int
	   OR (a.role <> 'admin' AND a.project_id IS NOT NULL AND a.project_id IS DISTINCT FROM require_role.project_id) THEN
		RAISE EXCEPTION 'permission denied: % "%" may not do this', a.role, actor
			USING ERRCODE = '42501', CONSTRAINT = 'forbidden';
	END IF;
END
$$;
COMMENT ON FUNCTION rollout.require_role(text, bigint) IS
	'raises 42501 unless the actor (rollout.actor) has the role on the project';

-- rows as API objects
CREATE FUNCTION rollout.version_json(v rollout.versions) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT to_jsonb(v) - 'is_published' || jsonb_build_object(
		'version', v.version::text,
		'min_upgrade_version', v.min_upgrade_version::text,
		'is_published', v.is_published,
		'project', (SELECT slug FROM projects WHERE id = v.project_id),
		'channel', (SELECT name FROM channels WHERE id = v.channel_id),
		'artifacts', coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.os, a.arch) FROM artifacts a WHERE a.version_id = v.id), '[]'))
$$;
COMMENT ON FUNCTION rollout.version_json(rollout.versions) IS 'a version as returned by the API, with its artifacts';

-- ---------------------------------------------------------------------
-- Approvals: in a project with require_approval, a publish by an account
-- that is not an admin becomes a request that an admin approves or rejects
-- ---------------------------------------------------------------------

-- Whether a publish by the actor in this project needs an admin's approval.
CREATE FUNCTION rollout.needs_approval(project_id bigint) RETURNS boolean
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT p.require_approval AND coalesce(
		(SELECT a.role <> 'admin' FROM admins a
		 WHERE a.username = nullif(current_setting('rollout.actor', true), '') AND a.is_active), false)
	FROM projects p WHERE p.id = needs_approval.project_id
$$;
COMMENT ON FUNCTION rollout.needs_approval(bigint) IS
	'true when the project requires approval and the actor is an account other than an admin (a DBA without rollout.actor publishes directly)';

CREATE FUNCTION rollout.approval_json(a rollout.approvals) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('id', a.id, 'project', p.slug, 'version_id', a.version_id, 'version', v.tag,
							  'channel', c.name, 'requested_by', a.requested_by, 'requested_at', a.requested_at,
							  'publish_at', a.publish_at, 'status', a.status, 'decided_by', a.decided_by,
							  'decided_at', a.decided_at, 'comment', a.comment)
	FROM versions v JOIN projects p ON p.id = v.project_id JOIN channels c ON c.id = v.channel_id
	WHERE v.id = a.version_id
$$;
COMMENT ON FUNCTION rollout.approval_json(rollout.approvals) IS 'an approval request as returned by the API';

-- The open request to publish v (at a time, or NULL: once approved); a second request updates the first.
CREATE FUNCTION rollout.request_approval(v rollout.versions, at timestamptz) RETURNS rollout.approvals
	LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a approvals;
BEGIN
	IF v.status NOT IN ('draft', 'published', 'paused') THEN
		RAISE EXCEPTION 'version % is %; it cannot become published', v.tag, v.status
			USING ERRCODE = '22023', COLUMN = 'status', CONSTRAINT = 'invalid_transition';
	END IF;
	UPDATE approvals x SET publish_at = at, requested_by = current_actor(), requested_at = now()
	WHERE x.version_id = v.id AND x.status = 'pending' RETURNING * INTO a;
	IF NOT FOUND THEN
		INSERT INTO approvals (project_id, version_id, requested_by, publish_at)
		VALUES (v.project_id, v.id, current_actor(), at) RETURNING * INTO a;
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION rollout.request_approval(rollout.versions, timestamptz) IS
	'opens (or updates) the request to publish a version';

CREATE FUNCTION rollout.rule_json(r rollout.update_rules) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT to_jsonb(r) || jsonb_build_object(
		'target_version_range', r.target_version_range::text,
		'project', (SELECT slug FROM projects WHERE id = r.project_id))
$$;
COMMENT ON FUNCTION rollout.rule_json(rollout.update_rules) IS 'a rule as returned by the API';

-- The version with this id (within reach of the actor), or P0002.
CREATE FUNCTION rollout.version_by_id(version_id bigint, min_role text) RETURNS rollout.versions
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions;
BEGIN
	SELECT * INTO v FROM versions WHERE id = version_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'version not found: %', version_id USING ERRCODE = 'P0002', COLUMN = 'version_id', CONSTRAINT = 'not_found';
	END IF;
	PERFORM require_role(min_role, v.project_id);
	RETURN v;
END
$$;
COMMENT ON FUNCTION rollout.version_by_id(bigint, text) IS 'the version with this id, checked against the actor''s role, or P0002';

-- The channel of a project by name, or P0002.
CREATE FUNCTION rollout.channel_by_name(project_id bigint, channel text) RETURNS rollout.channels
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	c channels;
BEGIN
	SELECT * INTO c FROM channels x WHERE x.project_id = channel_by_name.project_id AND x.name = channel;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'channel not found: "%"', channel USING ERRCODE = 'P0002', COLUMN = 'channel', CONSTRAINT = 'not_found';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.channel_by_name(bigint, text) IS 'the channel of a project by name, or P0002';

-- 22023 with a field name, for argument checks.
CREATE FUNCTION rollout.invalid_argument(field text, message text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	RAISE EXCEPTION '%', message USING ERRCODE = '22023', COLUMN = field, CONSTRAINT = 'invalid';
END
$$;
COMMENT ON FUNCTION rollout.invalid_argument(text, text) IS 'raises 22023 naming the field';

-- A version given as text: 22P02 naming the field.
CREATE FUNCTION rollout.arg_version(field text, value text) RETURNS rollout.semver
	LANGUAGE sql IMMUTABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT request_version(jsonb_build_object(field, value), field) $$;
COMMENT ON FUNCTION rollout.arg_version(text, text) IS 'parses a version argument (22P02 naming the field)';

-- ---------------------------------------------------------------------
-- Admin API: projects
-- ---------------------------------------------------------------------
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

CREATE FUNCTION rollout.update_project(project text DEFAULT 'default', name text DEFAULT NULL, default_channel text DEFAULT NULL,
									   failure_threshold numeric DEFAULT NULL, failure_min_samples integer DEFAULT NULL,
									   retention_days integer DEFAULT NULL, record_check_events boolean DEFAULT NULL,
									   require_approval boolean DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('admin', p.id);
	IF default_channel IS NOT NULL THEN
		PERFORM channel_by_name(p.id, default_channel);
	END IF;
	IF name IS NOT NULL AND length(name) NOT BETWEEN 1 AND 200 THEN
		PERFORM invalid_argument('name', 'name must be 1 to 200 characters');
	END IF;
	IF failure_threshold NOT BETWEEN 0 AND 100 THEN
		PERFORM invalid_argument('failure_threshold', 'failure_threshold must be between 0 and 100');
	END IF;
	IF failure_min_samples < 1 THEN
		PERFORM invalid_argument('failure_min_samples', 'failure_min_samples must be at least 1');
	END IF;
	IF retention_days NOT BETWEEN 1 AND 3650 THEN
		PERFORM invalid_argument('retention_days', 'retention_days must be between 1 and 3650');
	END IF;
	UPDATE projects x SET
		name = coalesce(update_project.name, x.name),
		default_channel = coalesce(update_project.default_channel, x.default_channel),
		failure_threshold = coalesce(update_project.failure_threshold, x.failure_threshold),
		failure_min_samples = coalesce(update_project.failure_min_samples, x.failure_min_samples),
		retention_days = coalesce(update_project.retention_days, x.retention_days),
		record_check_events = coalesce(update_project.record_check_events, x.record_check_events),
		require_approval = coalesce(update_project.require_approval, x.require_approval)
	WHERE x.id = p.id RETURNING * INTO p;
	RETURN to_jsonb(p);
END
$$;
COMMENT ON FUNCTION rollout.update_project(text, text, text, numeric, integer, integer, boolean, boolean) IS
	'changes project settings (NULL leaves a setting unchanged)';

CREATE FUNCTION rollout.list_projects() RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.id), '[]') FROM projects p $$;
COMMENT ON FUNCTION rollout.list_projects() IS 'all projects';

CREATE FUNCTION rollout.get_project(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(project_by_slug(project)) $$;
COMMENT ON FUNCTION rollout.get_project(text) IS 'one project by slug, or P0002';

-- ---------------------------------------------------------------------
-- Admin API: versions and artifacts
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.check_version_fields(file_url text, file_size bigint, file_checksum text, rollout_percentage numeric)
	RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF file_checksum IS NOT NULL AND file_checksum !~ '^sha256:[0-9a-f]{64}$' THEN
		PERFORM invalid_argument('file_checksum', 'file_checksum must be "sha256:" and 64 lowercase hex digits');
	END IF;
	IF file_size IS NOT NULL AND file_size < 0 THEN
		PERFORM invalid_argument('file_size', 'file_size must not be negative');
	END IF;
	IF file_url IS NOT NULL AND (length(file_url) > 2000 OR file_url ~ '[\s]' OR file_url ~* '^(javascript|data):') THEN
		PERFORM invalid_argument('file_url', 'file_url must be an http(s) URL or a relative path without blanks');
	END IF;
	IF rollout_percentage IS NOT NULL AND rollout_percentage NOT BETWEEN 0 AND 100 THEN
		PERFORM invalid_argument('rollout_percentage', 'rollout_percentage must be between 0 and 100');
	END IF;
END
$$;
COMMENT ON FUNCTION rollout.check_version_fields(text, bigint, text, numeric) IS 'validates file and rollout fields (22023)';

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

CREATE FUNCTION rollout.update_version(
	version_id bigint, channel text DEFAULT NULL, title text DEFAULT NULL,
	file_url text DEFAULT NULL, file_size bigint DEFAULT NULL, file_checksum text DEFAULT NULL,
	description text DEFAULT NULL, release_notes text DEFAULT NULL, breaking_changes text DEFAULT NULL,
	min_upgrade_version text DEFAULT NULL, is_forced boolean DEFAULT NULL, rollout_percentage numeric DEFAULT NULL,
	title_i18n jsonb DEFAULT NULL, release_notes_i18n jsonb DEFAULT NULL, tag text DEFAULT NULL,
	clear text[] DEFAULT '{}')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
	c channels;
BEGIN
	IF NOT clear <@ ARRAY['file_url', 'file_size', 'file_checksum', 'min_upgrade_version', 'rollout_percentage'] THEN
		PERFORM invalid_argument('clear', 'clear may name file_url, file_size, file_checksum, min_upgrade_version, rollout_percentage');
	END IF;
	IF channel IS NOT NULL THEN
		c := channel_by_name(v.project_id, channel);
	END IF;
	PERFORM check_version_fields(file_url, file_size, file_checksum, rollout_percentage);
	UPDATE versions x SET
		channel_id = coalesce(c.id, x.channel_id),
		title = coalesce(update_version.title, x.title),
		title_i18n = coalesce(update_version.title_i18n, x.title_i18n),
		tag = coalesce(nullif(trim(update_version.tag), ''), x.tag),
		file_url = CASE WHEN 'file_url' = ANY (clear) THEN NULL ELSE coalesce(update_version.file_url, x.file_url) END,
		file_size = CASE WHEN 'file_size' = ANY (clear) THEN NULL ELSE coalesce(update_version.file_size, x.file_size) END,
		file_checksum = CASE WHEN 'file_checksum' = ANY (clear) THEN NULL ELSE coalesce(update_version.file_checksum, x.file_checksum) END,
		description = coalesce(update_version.description, x.description),
		release_notes = coalesce(update_version.release_notes, x.release_notes),
		release_notes_i18n = coalesce(update_version.release_notes_i18n, x.release_notes_i18n),
		breaking_changes = coalesce(update_version.breaking_changes, x.breaking_changes),
		min_upgrade_version = CASE WHEN 'min_upgrade_version' = ANY (clear) THEN NULL
			ELSE coalesce(arg_version('min_upgrade_version', update_version.min_upgrade_version), x.min_upgrade_version) END,
		is_forced = coalesce(update_version.is_forced, x.is_forced),
		rollout_percentage = CASE WHEN 'rollout_percentage' = ANY (clear) THEN NULL
			ELSE coalesce(update_version.rollout_percentage, x.rollout_percentage) END
	WHERE x.id = v.id RETURNING * INTO v;
	RETURN version_json(v);
END
$$;
COMMENT ON FUNCTION rollout.update_version(bigint, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text, text[]) IS
	'changes a version (NULL leaves a field unchanged; clear lists fields to empty)';

-- Move a version between statuses, or 22023 saying why not.
CREATE FUNCTION rollout.set_version_status(version_id bigint, to_status text, allowed_from text[], at timestamptz)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
BEGIN
	IF NOT v.status = ANY (allowed_from) THEN
		RAISE EXCEPTION 'version % is %; it cannot become %', v.tag, v.status, to_status
			USING ERRCODE = '22023', COLUMN = 'status', CONSTRAINT = 'invalid_transition';
	END IF;
	UPDATE versions SET status = to_status,
		publish_time = CASE WHEN to_status = 'published' AND (status = 'draft' OR at IS NOT NULL)
							THEN coalesce(at, now()) ELSE publish_time END,
		paused_reason = CASE WHEN to_status = 'paused' THEN coalesce(paused_reason, 'paused by ' || current_actor()) END
	WHERE id = v.id RETURNING * INTO v;
	RETURN version_json(v);
END
$$;
COMMENT ON FUNCTION rollout.set_version_status(bigint, text, text[], timestamptz) IS 'status transition with checks';

CREATE FUNCTION rollout.publish_version(version_id bigint, at timestamptz DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
BEGIN
	IF needs_approval(v.project_id) THEN
		RAISE EXCEPTION 'publishing in project % needs an admin''s approval', (SELECT slug FROM projects WHERE id = v.project_id)
			USING ERRCODE = '42501', CONSTRAINT = 'approval_required',
				  HINT = 'rollout.publish() asks for approval; an admin approves it with rollout.approve_publish()';
	END IF;
	RETURN set_version_status(version_id, 'published', ARRAY['draft', 'published', 'paused'], at);
END
$$;
COMMENT ON FUNCTION rollout.publish_version(bigint, timestamptz) IS
	'publishes a version now, or at a later time (scheduled); also re-schedules (42501 where an approval is needed: use publish)';

/*
 * POST /versions/{id}/publish: publishes as publish_version does, or, when
 * the project requires approval and the actor is not an admin, asks for
 * approval.  Either way {version, approval} (approval NULL when published).
 */
CREATE FUNCTION rollout.publish(version_id bigint, at timestamptz DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
BEGIN
	IF needs_approval(v.project_id) THEN
		RETURN jsonb_build_object('version', version_json(v), 'approval', approval_json(request_approval(v, at)));
	END IF;
	RETURN jsonb_build_object('version', set_version_status(version_id, 'published', ARRAY['draft', 'published', 'paused'], at),
							  'approval', NULL);
END
$$;
COMMENT ON FUNCTION rollout.publish(bigint, timestamptz) IS
	'publishes a version (now or at a time), or asks an admin for approval where the project requires it: {version, approval}';

CREATE FUNCTION rollout.list_approvals(project text DEFAULT 'default', status text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('viewer', p.id);
	IF status IS NOT NULL AND status NOT IN ('pending', 'approved', 'rejected') THEN
		PERFORM invalid_argument('status', 'status must be pending, approved or rejected');
	END IF;
	RETURN (SELECT coalesce(jsonb_agg(approval_json(a) ORDER BY a.id DESC), '[]') FROM approvals a
			WHERE a.project_id = p.id AND (list_approvals.status IS NULL OR a.status = list_approvals.status));
END
$$;
COMMENT ON FUNCTION rollout.list_approvals(text, text) IS 'publish requests of a project, newest first, optionally by status';

-- The pending request with this id, locked, for an admin of its project; or P0002 / 22023.
CREATE FUNCTION rollout.pending_approval(approval_id bigint) RETURNS rollout.approvals
	LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a approvals;
BEGIN
	SELECT * INTO a FROM approvals WHERE id = approval_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'approval request not found: %', approval_id
			USING ERRCODE = 'P0002', COLUMN = 'approval_id', CONSTRAINT = 'not_found';
	END IF;
	PERFORM require_role('admin', a.project_id);
	IF a.status <> 'pending' THEN
		RAISE EXCEPTION 'approval request % is already %', approval_id, a.status
			USING ERRCODE = '22023', COLUMN = 'status', CONSTRAINT = 'invalid_transition';
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION rollout.pending_approval(bigint) IS 'a pending approval request, locked, checked against the actor (admin)';

CREATE FUNCTION rollout.approve_publish(approval_id bigint, comment text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a approvals := pending_approval(approval_id);
	v jsonb;
BEGIN
	IF length(comment) > 2000 THEN
		PERFORM invalid_argument('comment', 'comment must be at most 2000 characters');
	END IF;
	-- published now, or at the requested time if it is still to come
	v := set_version_status(a.version_id, 'published', ARRAY['draft', 'published', 'paused'],
							CASE WHEN a.publish_at > now() THEN a.publish_at END);
	UPDATE approvals SET status = 'approved', decided_by = current_actor(), decided_at = now(),
		comment = approve_publish.comment
	WHERE id = a.id RETURNING * INTO a;
	RETURN jsonb_build_object('approval', approval_json(a), 'version', v);
END
$$;
COMMENT ON FUNCTION rollout.approve_publish(bigint, text) IS
	'approves a publish request (admin): the version is published, at publish_at if that is still to come; {approval, version}';

CREATE FUNCTION rollout.reject_publish(approval_id bigint, comment text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a approvals := pending_approval(approval_id);
BEGIN
	IF comment IS NULL OR btrim(comment) = '' THEN
		RAISE EXCEPTION 'comment is required' USING ERRCODE = '22023', COLUMN = 'comment', CONSTRAINT = 'required';
	END IF;
	IF length(comment) > 2000 THEN
		PERFORM invalid_argument('comment', 'comment must be at most 2000 characters');
	END IF;
	UPDATE approvals SET status = 'rejected', decided_by = current_actor(), decided_at = now(),
		comment = reject_publish.comment
	WHERE id = a.id RETURNING * INTO a;
	RETURN jsonb_build_object('approval', approval_json(a), 'version', get_version(a.version_id));
END
$$;
COMMENT ON FUNCTION rollout.reject_publish(bigint, text) IS
	'rejects a publish request (admin), with a comment saying why; the version stays as it is; {approval, version}';

CREATE FUNCTION rollout.pause_version(version_id bigint) RETURNS jsonb
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT set_version_status(version_id, 'paused', ARRAY['published'], NULL) $$;
COMMENT ON FUNCTION rollout.pause_version(bigint) IS 'stops offering a published version to new clients';

CREATE FUNCTION rollout.resume_version(version_id bigint) RETURNS jsonb
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT set_version_status(version_id, 'published', ARRAY['paused'], NULL) $$;
COMMENT ON FUNCTION rollout.resume_version(bigint) IS 'offers a paused version again (also after an automatic pause)';

CREATE FUNCTION rollout.yank_version(version_id bigint) RETURNS jsonb
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT set_version_status(version_id, 'yanked', ARRAY['published', 'paused'], NULL) $$;
COMMENT ON FUNCTION rollout.yank_version(bigint) IS
	'withdraws a version: never offered again, and clients running it are offered the newest good version';

CREATE FUNCTION rollout.delete_version(version_id bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'maintainer');
BEGIN
	IF v.status NOT IN ('draft', 'yanked') THEN
		RAISE EXCEPTION 'version % is %; yank it before deleting it', v.tag, v.status
			USING ERRCODE = '22023', COLUMN = 'status', CONSTRAINT = 'invalid_transition';
	END IF;
	DELETE FROM versions WHERE id = v.id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION rollout.delete_version(bigint) IS 'deletes a draft or yanked version';

CREATE FUNCTION rollout.get_version(version_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT version_json(version_by_id(version_id, 'viewer')) $$;
COMMENT ON FUNCTION rollout.get_version(bigint) IS 'one version with its artifacts';

CREATE FUNCTION rollout.list_versions(project text DEFAULT 'default', channel text DEFAULT NULL, status text DEFAULT NULL,
									  page integer DEFAULT 1, "limit" integer DEFAULT 20, q text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	c channels;
	items jsonb;
	total bigint;
BEGIN
	PERFORM require_role('viewer', p.id);
	IF page IS NULL OR page < 1 THEN
		PERFORM invalid_argument('page', 'page must be 1 or more');
	END IF;
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 200 THEN
		PERFORM invalid_argument('limit', 'limit must be between 1 and 200');
	END IF;
	IF status IS NOT NULL AND status NOT IN ('draft', 'published', 'paused', 'yanked') THEN
		PERFORM invalid_argument('status', 'status must be draft, published, paused or yanked');
	END IF;
	IF channel IS NOT NULL THEN
		c := channel_by_name(p.id, channel);
	END IF;
	IF length(q) > 200 THEN
		PERFORM invalid_argument('q', 'q must be at most 200 characters');
	END IF;
	-- q: a case-insensitive substring of the version, its tag or its title (no pattern characters)
	q := nullif(lower(btrim(q)), '');
	SELECT count(*) INTO total FROM versions v
	WHERE v.project_id = p.id AND (c.id IS NULL OR v.channel_id = c.id) AND (list_versions.status IS NULL OR v.status = list_versions.status)
	  AND (q IS NULL OR strpos(lower(v.version::text), q) > 0 OR strpos(lower(v.tag), q) > 0 OR strpos(lower(v.title), q) > 0);
	SELECT coalesce(jsonb_agg(version_json(v) ORDER BY v.version DESC), '[]') INTO items
	FROM (SELECT * FROM versions v
		  WHERE v.project_id = p.id AND (c.id IS NULL OR v.channel_id = c.id)
			AND (list_versions.status IS NULL OR v.status = list_versions.status)
			AND (q IS NULL OR strpos(lower(v.version::text), q) > 0 OR strpos(lower(v.tag), q) > 0 OR strpos(lower(v.title), q) > 0)
		  ORDER BY v.version DESC LIMIT "limit" OFFSET (page - 1) * "limit") v;
	RETURN jsonb_build_object('items', items, 'total', total, 'page', page, 'limit', "limit");
END
$$;
COMMENT ON FUNCTION rollout.list_versions(text, text, text, integer, integer, text) IS
	'versions of a project, newest first, paginated, filtered by channel, status and q (in version, tag or title): {items, total, page, limit}';

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

CREATE FUNCTION rollout.delete_artifact(artifact_id bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	vid bigint;
BEGIN
	SELECT version_id INTO vid FROM artifacts WHERE id = artifact_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'artifact not found: %', artifact_id USING ERRCODE = 'P0002', CONSTRAINT = 'not_found';
	END IF;
	PERFORM version_by_id(vid, 'maintainer');
	DELETE FROM artifacts WHERE id = artifact_id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION rollout.delete_artifact(bigint) IS 'removes a per-platform file';

-- ---------------------------------------------------------------------
-- Admin API: mirrors and channels
-- ---------------------------------------------------------------------
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

CREATE FUNCTION rollout.delete_mirror(project text DEFAULT 'default', region text DEFAULT NULL) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('admin', p.id);
	IF region IS NULL THEN
		RAISE EXCEPTION 'region is required' USING ERRCODE = '22023', COLUMN = 'region', CONSTRAINT = 'required';
	END IF;
	DELETE FROM mirrors m WHERE m.project_id = p.id AND m.region = lower(delete_mirror.region);
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION rollout.delete_mirror(text, text) IS 'removes the mirror of a region';

CREATE FUNCTION rollout.list_mirrors(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.region), '[]') FROM mirrors m WHERE m.project_id = (project_by_slug(project)).id $$;
COMMENT ON FUNCTION rollout.list_mirrors(text) IS 'mirrors of a project';

CREATE FUNCTION rollout.set_channel(project text DEFAULT 'default', channel text DEFAULT NULL, rollout_percentage numeric DEFAULT NULL,
									is_active boolean DEFAULT NULL, auto_publish boolean DEFAULT NULL,
									display_name jsonb DEFAULT NULL, description jsonb DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	c channels;
BEGIN
	IF channel IS NULL THEN
		RAISE EXCEPTION 'channel is required' USING ERRCODE = '22023', COLUMN = 'channel', CONSTRAINT = 'required';
	END IF;
	c := channel_by_name(p.id, channel);
	PERFORM require_role('maintainer', p.id);
	IF rollout_percentage IS NOT NULL AND rollout_percentage NOT BETWEEN 0 AND 100 THEN
		PERFORM invalid_argument('rollout_percentage', 'rollout_percentage must be between 0 and 100');
	END IF;
	IF display_name IS NOT NULL AND jsonb_typeof(display_name) <> 'object' THEN
		PERFORM invalid_argument('display_name', 'display_name must be an object of locale to text');
	END IF;
	UPDATE channels x SET
		rollout_percentage = coalesce(set_channel.rollout_percentage, x.rollout_percentage),
		is_active = coalesce(set_channel.is_active, x.is_active),
		auto_publish = coalesce(set_channel.auto_publish, x.auto_publish),
		display_name = coalesce(set_channel.display_name, x.display_name),
		description = coalesce(set_channel.description, x.description)
	WHERE x.id = c.id RETURNING * INTO c;
	RETURN to_jsonb(c) || jsonb_build_object('project', p.slug);
END
$$;
COMMENT ON FUNCTION rollout.set_channel(text, text, numeric, boolean, boolean, jsonb, jsonb) IS
	'changes a channel''s rollout percentage, activity, auto-publish or names (NULL leaves unchanged)';

CREATE FUNCTION rollout.list_channels(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.rank), '[]') FROM channels c WHERE c.project_id = (project_by_slug(project)).id $$;
COMMENT ON FUNCTION rollout.list_channels(text) IS 'channels of a project, most stable first';

-- ---------------------------------------------------------------------
-- Admin API: rules
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.check_rule_config(project_id bigint, config jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	k text;
BEGIN
	IF config IS NULL THEN
		RETURN '{}';
	END IF;
	IF jsonb_typeof(config) <> 'object' THEN
		PERFORM invalid_argument('rollout_config', 'rollout_config must be a JSON object');
	END IF;
	FOR k IN SELECT jsonb_object_keys(config) LOOP
		IF k NOT IN ('percentage', 'block', 'pin', 'channel') THEN
			PERFORM invalid_argument('rollout_config', format('unknown rollout_config key "%s" (use percentage, block, pin, channel)', k));
		END IF;
	END LOOP;
	IF config ? 'percentage' AND (jsonb_typeof(config -> 'percentage') <> 'number'
								  OR (config ->> 'percentage')::numeric NOT BETWEEN 0 AND 100) THEN
		PERFORM invalid_argument('rollout_config', 'rollout_config.percentage must be a number from 0 to 100');
	END IF;
	IF config ? 'block' AND jsonb_typeof(config -> 'block') <> 'boolean' THEN
		PERFORM invalid_argument('rollout_config', 'rollout_config.block must be true or false');
	END IF;
	IF config ? 'pin' AND (jsonb_typeof(config -> 'pin') <> 'string' OR NOT is_semver(config ->> 'pin')) THEN
		PERFORM invalid_argument('rollout_config', 'rollout_config.pin must be a version string');
	END IF;
	IF config ? 'channel' THEN
		PERFORM channel_by_name(project_id, config ->> 'channel');
	END IF;
	RETURN config;
END
$$;
COMMENT ON FUNCTION rollout.check_rule_config(bigint, jsonb) IS 'validates a rule''s rollout_config (22023, or P0002 for a channel)';

CREATE FUNCTION rollout.check_rule_targets(target_region text, target_version_range text, target_os text, target_arch text)
	RETURNS rollout.semver_range LANGUAGE plpgsql IMMUTABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF target_region IS NOT NULL AND target_region !~ '^[a-z0-9][a-z0-9-]{0,31}$' THEN
		PERFORM invalid_argument('target_region', format('invalid target_region: "%s"', target_region));
	END IF;
	IF target_os IS NOT NULL AND target_os !~ '^[a-z0-9_]{1,32}$' THEN
		PERFORM invalid_argument('target_os', format('invalid target_os: "%s"', target_os));
	END IF;
	IF target_arch IS NOT NULL AND target_arch !~ '^[a-z0-9_]{1,32}$' THEN
		PERFORM invalid_argument('target_arch', format('invalid target_arch: "%s"', target_arch));
	END IF;
	RETURN target_version_range::semver_range;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR program_limit_exceeded THEN
	RAISE EXCEPTION 'invalid target_version_range: "%"', left(target_version_range, 100)
		USING ERRCODE = '22P02', COLUMN = 'target_version_range', CONSTRAINT = 'invalid', DETAIL = SQLERRM;
END
$$;
COMMENT ON FUNCTION rollout.check_rule_targets(text, text, text, text) IS 'validates rule targets; returns the parsed range';

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

CREATE FUNCTION rollout.update_rule(rule_id bigint, name text DEFAULT NULL, priority integer DEFAULT NULL,
									target_region text DEFAULT NULL, target_version_range text DEFAULT NULL,
									target_os text DEFAULT NULL, target_arch text DEFAULT NULL,
									rollout_config jsonb DEFAULT NULL, enabled boolean DEFAULT NULL,
									clear text[] DEFAULT '{}')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	r update_rules;
BEGIN
	SELECT * INTO r FROM update_rules WHERE id = rule_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule not found: %', rule_id USING ERRCODE = 'P0002', COLUMN = 'rule_id', CONSTRAINT = 'not_found';
	END IF;
	PERFORM require_role('maintainer', r.project_id);
	IF NOT clear <@ ARRAY['target_region', 'target_version_range', 'target_os', 'target_arch'] THEN
		PERFORM invalid_argument('clear', 'clear may name target_region, target_version_range, target_os, target_arch');
	END IF;
	UPDATE update_rules x SET
		name = coalesce(update_rule.name, x.name),
		priority = coalesce(update_rule.priority, x.priority),
		target_region = CASE WHEN 'target_region' = ANY (clear) THEN NULL ELSE coalesce(update_rule.target_region, x.target_region) END,
		target_version_range = CASE WHEN 'target_version_range' = ANY (clear) THEN NULL
			ELSE coalesce(check_rule_targets(update_rule.target_region, update_rule.target_version_range,
											 update_rule.target_os, update_rule.target_arch), x.target_version_range) END,
		target_os = CASE WHEN 'target_os' = ANY (clear) THEN NULL ELSE coalesce(update_rule.target_os, x.target_os) END,
		target_arch = CASE WHEN 'target_arch' = ANY (clear) THEN NULL ELSE coalesce(update_rule.target_arch, x.target_arch) END,
		rollout_config = coalesce(check_rule_config(x.project_id, update_rule.rollout_config), x.rollout_config),
		enabled = coalesce(update_rule.enabled, x.enabled)
	WHERE x.id = rule_id RETURNING * INTO r;
	RETURN rule_json(r);
END
$$;
COMMENT ON FUNCTION rollout.update_rule(bigint, text, integer, text, text, text, text, jsonb, boolean, text[]) IS
	'changes a rule (NULL leaves a field unchanged; clear lists targets to remove)';

CREATE FUNCTION rollout.delete_rule(rule_id bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pid bigint;
BEGIN
	SELECT project_id INTO pid FROM update_rules WHERE id = rule_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule not found: %', rule_id USING ERRCODE = 'P0002', COLUMN = 'rule_id', CONSTRAINT = 'not_found';
	END IF;
	PERFORM require_role('maintainer', pid);
	DELETE FROM update_rules WHERE id = rule_id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION rollout.delete_rule(bigint) IS 'deletes a rule';

CREATE FUNCTION rollout.get_rule(rule_id bigint) RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	r update_rules;
BEGIN
	SELECT * INTO r FROM update_rules WHERE id = rule_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule not found: %', rule_id USING ERRCODE = 'P0002', COLUMN = 'rule_id', CONSTRAINT = 'not_found';
	END IF;
	PERFORM require_role('viewer', r.project_id);
	RETURN rule_json(r);
END
$$;
COMMENT ON FUNCTION rollout.get_rule(bigint) IS 'one rule';

CREATE FUNCTION rollout.list_rules(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_agg(rule_json(r) ORDER BY r.priority DESC, r.id), '[]') FROM update_rules r WHERE r.project_id = (project_by_slug(project)).id $$;
COMMENT ON FUNCTION rollout.list_rules(text) IS 'rules of a project, highest priority first';

-- ---------------------------------------------------------------------
-- Audit log
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.list_audit(project text DEFAULT NULL, page integer DEFAULT 1, "limit" integer DEFAULT 50,
								   actor text DEFAULT NULL, action text DEFAULT NULL, object_type text DEFAULT NULL,
								   "from" timestamptz DEFAULT NULL, "to" timestamptz DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pid bigint;
BEGIN
	IF project IS NOT NULL THEN
		pid := (project_by_slug(project)).id;
	END IF;
	PERFORM require_role(CASE WHEN pid IS NULL THEN 'admin' ELSE 'viewer' END, pid);
	IF page IS NULL OR page < 1 OR "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 500 THEN
		PERFORM invalid_argument('page', 'page must be 1 or more and limit between 1 and 500');
	END IF;
	IF "from" > "to" THEN
		PERFORM invalid_argument('from', 'from must not be after to');
	END IF;
	RETURN (
		WITH hits AS (
			SELECT * FROM audit_log a
			WHERE (pid IS NULL OR a.project_id = pid)
			  AND (list_audit.actor IS NULL OR a.actor = list_audit.actor)
			  AND (list_audit.action IS NULL OR a.action = list_audit.action)
			  AND (list_audit.object_type IS NULL OR a.object_type = list_audit.object_type)
			  AND (list_audit."from" IS NULL OR a.at >= list_audit."from")
			  AND (list_audit."to" IS NULL OR a.at < list_audit."to"))
		SELECT jsonb_build_object(
			'items', (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.id DESC), '[]')
					  FROM (SELECT * FROM hits ORDER BY id DESC LIMIT "limit" OFFSET (page - 1) * "limit") l),
			'total', (SELECT count(*) FROM hits),
			'page', page, 'limit', "limit"));
END
$$;
COMMENT ON FUNCTION rollout.list_audit(text, integer, integer, text, text, text, timestamptz, timestamptz) IS
	'audit entries, newest first, paginated, filtered by project, actor, action, object_type and time (from <= at < to)';

-- ---------------------------------------------------------------------
-- The admin UI: dashboard, decision simulator, rollout cohorts
-- ---------------------------------------------------------------------

/*
 * The dashboard of a project in one call, from the rollups (no scan of
 * events or clients).  active_24h counts the distinct clients that checked
 * today (UTC day), as the daily rollup knows them; install_success_rate is
 * the 7-day rate of stats_overview.
 */
CREATE FUNCTION rollout.dashboard(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	o stats_overview;
BEGIN
	PERFORM require_role('viewer', p.id);
	SELECT * INTO o FROM stats_overview WHERE stats_overview.project = p.slug;
	RETURN jsonb_build_object(
		'project', p.slug,
		'total_clients', o.total_clients,
		-- clients seen in the last 24 hours, each once: exact, from client_state (the daily
		-- rollup counts a client once per version it ran that day, so its sum can exceed
		-- the number of clients); a scan of the project's clients, fine for a person's page
		'active_24h', (SELECT count(*) FROM client_state cs WHERE cs.project_id = p.id AND cs.last_seen > now() - interval '24 hours'),
		'checks_today', o.checks_today,
		'install_success_rate', o.success_rate_7d,
		'channels', (
			SELECT coalesce(jsonb_agg(jsonb_build_object(
					'channel', c.name, 'display_name', c.display_name, 'latest_version', l.tag, 'version_id', l.id,
					'publish_time', l.publish_time,
					'adoption_rate', round(100.0 * coalesce(on_latest.clients, 0) / nullif(total.clients, 0), 2))
					ORDER BY c.rank), '[]')
			FROM channels c
			LEFT JOIN LATERAL (
				SELECT v.id, v.tag, v.version, v.publish_time FROM versions v
				WHERE v.channel_id = c.id AND v.status = 'published' AND v.publish_time <= now()
				ORDER BY v.version DESC LIMIT 1) l ON true
			LEFT JOIN LATERAL (
				SELECT sum(r.clients) AS clients FROM rollup_clients r
				WHERE r.project_id = c.project_id AND r.channel = c.name AND r.version = l.version) on_latest ON true
			LEFT JOIN LATERAL (
				SELECT sum(r.clients) AS clients FROM rollup_clients r
				WHERE r.project_id = c.project_id AND r.channel = c.name) total ON true
			WHERE c.project_id = p.id),
		'trend', (
			SELECT jsonb_agg(jsonb_build_object('day', d.day, 'checks', coalesce(t.checks, 0),
												'downloads', coalesce(t.downloads, 0),
												'successes', coalesce(t.successes, 0), 'failures', coalesce(t.failures, 0))
							 ORDER BY d.day)
			FROM (SELECT g::date AS day FROM generate_series(utc_today() - 6, utc_today(), interval '1 day') g) d
			LEFT JOIN (
				SELECT r.day, sum(r.events) FILTER (WHERE r.action = 'check') AS checks,
					   sum(r.events) FILTER (WHERE r.action = 'download') AS downloads,
					   sum(r.events) FILTER (WHERE r.action = 'success') AS successes,
					   sum(r.events) FILTER (WHERE r.action = 'failed') AS failures
				FROM rollup_daily r WHERE r.project_id = p.id AND r.day > utc_today() - 7
				GROUP BY r.day) t ON t.day = d.day),
		'pending_approvals', (SELECT count(*) FROM approvals a WHERE a.project_id = p.id AND a.status = 'pending'));
END
$$;
COMMENT ON FUNCTION rollout.dashboard(text) IS
	'a project''s dashboard: clients, checks today, install success rate, latest version per channel, 7-day trend, pending approvals';

/*
 * What check_update would answer a client, and why, step by step, without
 * recording anything (the admin UI's decision simulator).  The decision is
 * check_update's own (rollout.simulate_decision); this adds the role check.
 */
CREATE FUNCTION rollout.simulate_check(project text DEFAULT 'default', current_version text DEFAULT NULL,
									   channel text DEFAULT NULL, client_id text DEFAULT NULL, region text DEFAULT NULL,
									   os text DEFAULT NULL, arch text DEFAULT NULL, locale text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('viewer', p.id);
	RETURN simulate_decision(jsonb_strip_nulls(jsonb_build_object(
		'project', p.slug, 'current_version', current_version, 'channel', channel, 'client_id', client_id,
		'region', region, 'os', os, 'arch', arch, 'locale', locale)));
END
$$;
COMMENT ON FUNCTION rollout.simulate_check(text, text, text, text, text, text, text, text) IS
	'check_update''s answer for a client plus "steps" explaining it, recording nothing (POST /simulate)';

/*
 * How many known clients a rollout percentage of a version reaches, exactly:
 * the decision's own bucket (rollout_bucket under the version's salt,
 * "project@version") against its own threshold (rollout_threshold).  The
 * audience is the project's clients the version could reach: on its channel
 * or a less stable one, below it, and on a platform it has a file for when
 * it has per-platform artifacts.  Rules are not applied (they differ per
 * client): inside_now uses the version's percentage, else its channel's.
 */
CREATE FUNCTION rollout.cohort_count(version_id bigint, percentage numeric DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	v versions := version_by_id(version_id, 'viewer');
	c channels;
	salt text;
	pct numeric(5,2);
	now_pct numeric(5,2);
	per_platform boolean;
	n_audience bigint;
	n_inside bigint;
	n_inside_now bigint;
BEGIN
	IF percentage IS NOT NULL AND NOT (percentage BETWEEN 0 AND 100) THEN
		PERFORM invalid_argument('percentage', 'percentage must be between 0 and 100');
	END IF;
	SELECT * INTO c FROM channels x WHERE x.id = v.channel_id;
	salt := (SELECT slug FROM projects WHERE id = v.project_id) || '@' || v.version::text;
	now_pct := coalesce(v.rollout_percentage, c.rollout_percentage);
	pct := coalesce(percentage, now_pct);
	per_platform := EXISTS (SELECT 1 FROM artifacts a WHERE a.version_id = v.id);
	SELECT count(*), count(*) FILTER (WHERE b.bucket < rollout_threshold(pct)),
		   count(*) FILTER (WHERE b.bucket < rollout_threshold(now_pct))
	INTO n_audience, n_inside, n_inside_now
	FROM (SELECT rollout_bucket(cs.client_id, salt) AS bucket
		  FROM client_state cs JOIN channels cc ON cc.project_id = cs.project_id AND cc.name = cs.channel
		  WHERE cs.project_id = v.project_id AND cc.rank >= c.rank AND cs.current_version < v.version
			AND (NOT per_platform OR EXISTS (SELECT 1 FROM artifacts a
											 WHERE a.version_id = v.id AND a.os = cs.os AND a.arch = cs.arch))) b;
	RETURN jsonb_build_object('version_id', v.id, 'version', v.tag, 'percentage', pct, 'current_percentage', now_pct,
							  'percentage_from', CASE WHEN v.rollout_percentage IS NULL THEN 'channel' ELSE 'version' END,
							  'audience', n_audience, 'inside', n_inside, 'inside_now', n_inside_now);
END
$$;
COMMENT ON FUNCTION rollout.cohort_count(bigint, numeric) IS
	'the known clients a version could reach (audience) and how many a percentage puts inside its rollout, exactly';

-- ---------------------------------------------------------------------
-- Getters by id, so that creating something can answer with the object
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.get_project_by_id(project_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(p) FROM projects p WHERE p.id = project_id $$;
COMMENT ON FUNCTION rollout.get_project_by_id(bigint) IS 'one project by id (NULL if none)';

CREATE FUNCTION rollout.get_artifact(artifact_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(a) FROM artifacts a WHERE a.id = artifact_id $$;
COMMENT ON FUNCTION rollout.get_artifact(bigint) IS 'one artifact by id (NULL if none)';

CREATE FUNCTION rollout.get_mirror(mirror_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(m) FROM mirrors m WHERE m.id = mirror_id $$;
COMMENT ON FUNCTION rollout.get_mirror(bigint) IS 'one mirror by id (NULL if none)';

-- ---------------------------------------------------------------------
-- Stored artifacts (uploads through rollout-http)
-- ---------------------------------------------------------------------

-- Before an upload is streamed: may the actor add files to this version?
CREATE FUNCTION rollout.can_upload(version_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('project', p.slug, 'version', v.version::text)
	FROM version_by_id(version_id, 'maintainer') v JOIN projects p ON p.id = v.project_id
$$;
COMMENT ON FUNCTION rollout.can_upload(bigint) IS
	'the project and version of a version the actor may upload files for (else 42501 or P0002)';

-- Count a download of a stored file in the rollups.
CREATE FUNCTION rollout.count_download(file_url text) RETURNS boolean
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
	PERFORM pg_notify('rollout_events', json_build_object('type', 'stats', 'project_id', pid)::text);
	RETURN true;
END
$$;
COMMENT ON FUNCTION rollout.count_download(text) IS 'counts one download of a stored file (events only: no client id)';
