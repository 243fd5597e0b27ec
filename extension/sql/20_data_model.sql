/*
 * The data model (SPEC §5): configuration tables, client state, the
 * partitioned event table and the rollups, registered for pg_dump; the audit
 * and updated_at triggers; the seeded default project and its channels.
 */

-- ---------------------------------------------------------------------
-- Configuration tables
-- ---------------------------------------------------------------------
CREATE TABLE rollout.projects (
	id bigserial PRIMARY KEY,
	slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	default_channel text NOT NULL DEFAULT 'stable',
	failure_threshold numeric(5,2) NOT NULL DEFAULT 20 CHECK (failure_threshold BETWEEN 0 AND 100),
	failure_min_samples integer NOT NULL DEFAULT 50 CHECK (failure_min_samples >= 1),
	retention_days integer NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
	record_check_events boolean NOT NULL DEFAULT false,
	require_approval boolean NOT NULL DEFAULT false,
	seeded boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz
);
COMMENT ON TABLE rollout.projects IS 'software projects; every other table is scoped by project';
COMMENT ON COLUMN rollout.projects.failure_threshold IS 'install failure rate (percent) above which a version is paused automatically';
COMMENT ON COLUMN rollout.projects.failure_min_samples IS 'install results needed before the failure threshold applies';
COMMENT ON COLUMN rollout.projects.retention_days IS 'days of raw update_events kept by rollout.maintain()';
COMMENT ON COLUMN rollout.projects.record_check_events IS 'also store every check as a raw update_events row (rollups count checks regardless)';
COMMENT ON COLUMN rollout.projects.require_approval IS 'a publish by a non-admin account becomes a request that an admin approves (rollout.approvals)';
COMMENT ON COLUMN rollout.projects.seeded IS 'created by the extension script (the default project)';

CREATE TABLE rollout.channels (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
	display_name jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(display_name) = 'object'),
	description jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(description) = 'object'),
	is_active boolean NOT NULL DEFAULT true,
	auto_publish boolean NOT NULL DEFAULT false,
	rollout_percentage numeric(5,2) NOT NULL DEFAULT 100 CHECK (rollout_percentage BETWEEN 0 AND 100),
	rank integer NOT NULL CHECK (rank >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz,
	UNIQUE (project_id, name)
);
COMMENT ON TABLE rollout.channels IS 'release channels; a client on a channel also receives releases of channels with a lower rank (more stable)';
COMMENT ON COLUMN rollout.channels.display_name IS 'localized names, e.g. {"en": "Stable", "zh-CN": "稳定版"}';
COMMENT ON COLUMN rollout.channels.rank IS '0 is the most stable; alpha (2) includes beta (1) includes stable (0)';

CREATE TABLE rollout.versions (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	version rollout.semver NOT NULL,
	tag text NOT NULL CHECK (length(tag) BETWEEN 1 AND 200),
	channel_id bigint NOT NULL REFERENCES rollout.channels,
	title text NOT NULL DEFAULT '' CHECK (length(title) <= 500),
	title_i18n jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(title_i18n) = 'object'),
	description text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
	release_notes text NOT NULL DEFAULT '' CHECK (length(release_notes) <= 200000),
	release_notes_i18n jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(release_notes_i18n) = 'object'),
	breaking_changes text NOT NULL DEFAULT '' CHECK (length(breaking_changes) <= 100000),
	min_upgrade_version rollout.semver,
	file_url text CHECK (length(file_url) <= 2000),
	file_size bigint CHECK (file_size >= 0),
	file_checksum text CHECK (file_checksum ~ '^sha256:[0-9a-f]{64}$'),
	is_forced boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'paused', 'yanked')),
	is_published boolean GENERATED ALWAYS AS (status = 'published') STORED,
	publish_time timestamptz,
	rollout_percentage numeric(5,2) CHECK (rollout_percentage BETWEEN 0 AND 100),
	paused_reason text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz,
	UNIQUE (project_id, version),
	CHECK (status = 'draft' OR publish_time IS NOT NULL)
);
COMMENT ON TABLE rollout.versions IS 'releases; only published ones whose publish_time has come are offered';
COMMENT ON COLUMN rollout.versions.tag IS 'the version as published, e.g. v1.2.3; returned to clients as latest_version';
COMMENT ON COLUMN rollout.versions.min_upgrade_version IS 'clients below it must first take a stepping stone';
COMMENT ON COLUMN rollout.versions.rollout_percentage IS 'overrides the rule and channel percentage for this version';
CREATE INDEX ON rollout.versions (project_id, status, version);
-- a channel's newest release (stats_channel_status), and channels deleted with their versions
CREATE INDEX ON rollout.versions (channel_id, version);

CREATE TABLE rollout.artifacts (
	id bigserial PRIMARY KEY,
	version_id bigint NOT NULL REFERENCES rollout.versions ON DELETE CASCADE,
	os text NOT NULL CHECK (os ~ '^[a-z0-9_]{1,32}$'),
	arch text NOT NULL CHECK (arch ~ '^[a-z0-9_]{1,32}$'),
	file_url text NOT NULL CHECK (length(file_url) BETWEEN 1 AND 2000),
	file_size bigint CHECK (file_size >= 0),
	file_checksum text CHECK (file_checksum ~ '^sha256:[0-9a-f]{64}$'),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (version_id, os, arch)
);
COMMENT ON TABLE rollout.artifacts IS 'per-platform files; a version with none serves its own file fields to every platform';

CREATE TABLE rollout.mirrors (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	region text NOT NULL CHECK (region ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
	base_url text NOT NULL CHECK (base_url ~ '^https?://[^\s]+$' AND length(base_url) <= 2000),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (project_id, region)
);
COMMENT ON TABLE rollout.mirrors IS 'download base URL per region; relative file URLs resolve against the client region''s mirror, else "global"';

CREATE TABLE rollout.update_rules (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	target_region text CHECK (target_region ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
	target_version_range rollout.semver_range,
	target_os text CHECK (target_os ~ '^[a-z0-9_]{1,32}$'),
	target_arch text CHECK (target_arch ~ '^[a-z0-9_]{1,32}$'),
	enabled boolean NOT NULL DEFAULT true,
	priority integer NOT NULL DEFAULT 0,
	rollout_config jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rollout_config) = 'object'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz
);
COMMENT ON TABLE rollout.update_rules IS 'targeted overrides; the enabled matching rule with the highest priority wins';
COMMENT ON COLUMN rollout.update_rules.rollout_config IS '{"percentage": 0-100, "block": true, "pin": "max version", "channel": "name"}';
CREATE INDEX ON rollout.update_rules (project_id, priority DESC) WHERE enabled;

CREATE TABLE rollout.admins (
	id bigserial PRIMARY KEY,
	username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
	password_hash text NOT NULL,
	role text NOT NULL CHECK (role IN ('admin', 'maintainer', 'viewer')),
	project_id bigint REFERENCES rollout.projects ON DELETE CASCADE,
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz,
	CHECK (role = 'admin' OR project_id IS NOT NULL OR role = 'viewer')
);
COMMENT ON TABLE rollout.admins IS 'people who use the admin API; maintainers are scoped to one project';

CREATE TABLE rollout.api_tokens (
	id bigserial PRIMARY KEY,
	admin_id bigint NOT NULL REFERENCES rollout.admins ON DELETE CASCADE,
	token_hash bytea NOT NULL UNIQUE,
	name text NOT NULL DEFAULT 'login',
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	last_used_at timestamptz
);
COMMENT ON TABLE rollout.api_tokens IS 'bearer tokens; only the SHA-256 of a token is stored';

CREATE TABLE rollout.audit_log (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL,
	object_type text NOT NULL,
	object_id bigint,
	project_id bigint,
	before jsonb,
	after jsonb
);
COMMENT ON TABLE rollout.audit_log IS 'who changed what and when, with before/after values (secrets removed)';

CREATE TABLE rollout.approvals (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	version_id bigint NOT NULL REFERENCES rollout.versions ON DELETE CASCADE,
	requested_by text NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT now(),
	publish_at timestamptz,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
	decided_by text,
	decided_at timestamptz,
	comment text CHECK (length(comment) <= 2000)
);
COMMENT ON TABLE rollout.approvals IS 'publish requests of projects that require approval; an admin approves (publishes) or rejects each';
COMMENT ON COLUMN rollout.approvals.publish_at IS 'when the version is to be published once approved (NULL: at once)';
-- one open request per version
CREATE UNIQUE INDEX approvals_pending ON rollout.approvals (version_id) WHERE status = 'pending';
CREATE INDEX ON rollout.approvals (project_id, status, id DESC);

CREATE TABLE rollout.live_tickets (
	ticket_hash bytea PRIMARY KEY,
	admin_id bigint NOT NULL REFERENCES rollout.admins ON DELETE CASCADE,
	expires_at timestamptz NOT NULL
);
COMMENT ON TABLE rollout.live_tickets IS
	'single-use tickets (30 s) that open the live websocket, so no bearer token appears in a URL; only their SHA-256 is stored';
CREATE INDEX ON rollout.audit_log (project_id, at DESC);

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

-- ---------------------------------------------------------------------
-- Client state, events and rollups
-- ---------------------------------------------------------------------
CREATE TABLE rollout.client_state (
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	client_id text NOT NULL,
	current_version rollout.semver NOT NULL,
	channel text NOT NULL,
	region text NOT NULL,
	os text,
	arch text,
	last_offered rollout.semver,
	first_seen timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_id, client_id)
) WITH (fillfactor = 70);	-- room on each page, so a check's update is HOT (no index entry)
COMMENT ON TABLE rollout.client_state IS 'one row per client, upserted on every check';

CREATE TABLE rollout.update_events (
	id bigint GENERATED ALWAYS AS IDENTITY,
	project_id bigint NOT NULL,
	version rollout.semver,
	client_id text NOT NULL,
	client_version rollout.semver,
	region text,
	ip_address inet,
	user_agent text,
	action text NOT NULL CHECK (action IN ('check', 'download', 'install', 'success', 'failed')),
	error_message text,
	created_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE rollout.update_events IS 'raw events, one partition per UTC day (rows land in the default partition until rollout.maintain() has created the day''s partition)';
CREATE TABLE rollout.update_events_default PARTITION OF rollout.update_events DEFAULT;

-- per (client, version): the latest reported result, so repeats never double count
CREATE TABLE rollout.client_results (
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	client_id text NOT NULL,
	version rollout.semver NOT NULL,
	downloaded_at timestamptz,
	result text CHECK (result IN ('success', 'failed')),
	result_at timestamptz,
	PRIMARY KEY (project_id, version, client_id)
);

-- rollups, maintained at write time; statistics never scan raw events
CREATE TABLE rollout.rollup_daily (
	day date NOT NULL,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	action text NOT NULL,
	version rollout.semver NOT NULL,
	shard smallint NOT NULL,
	events bigint NOT NULL DEFAULT 0,
	clients bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, day, action, version, shard)
) WITH (fillfactor = 90);	-- room for HOT updates of today's counters; past days are only read
COMMENT ON TABLE rollout.rollup_daily IS 'events and distinct clients per UTC day, action and version, in shards to avoid hot rows';
-- install outcomes over a period without reading the (far more numerous) checks; no INCLUDE of
-- the counters, which would make every update of a counter add index entries (no HOT update)
CREATE INDEX rollup_daily_action ON rollout.rollup_daily (project_id, action, day);

-- clients that checked per UTC day, each once: the project's active clients, which per-version
-- counts cannot give (a client that changed version that day is in two of them)
CREATE TABLE rollout.rollup_active (
	day date NOT NULL,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	shard smallint NOT NULL,
	clients bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, day, shard)
) WITH (fillfactor = 90);
COMMENT ON TABLE rollout.rollup_active IS
	'distinct clients that checked per UTC day, counted on each client''s first check of the day whatever its version, in shards to avoid hot rows';

CREATE TABLE rollout.rollup_clients (
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	channel text NOT NULL,
	version rollout.semver NOT NULL,
	region text NOT NULL,
	shard smallint NOT NULL DEFAULT 0,
	clients bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, channel, version, region, shard)
) WITH (fillfactor = 50);
COMMENT ON TABLE rollout.rollup_clients IS
	'clients per channel, current version and region (from client_state), in shards: sum over shards';

CREATE TABLE rollout.rollup_funnel (
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	version rollout.semver NOT NULL,
	shard smallint NOT NULL DEFAULT 0,
	offered bigint NOT NULL DEFAULT 0,
	downloaded bigint NOT NULL DEFAULT 0,
	succeeded bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, version, shard)
) WITH (fillfactor = 50);
COMMENT ON TABLE rollout.rollup_funnel IS
	'distinct clients offered, downloading, succeeding and failing, per version, in shards: sum over shards';

-- ---------------------------------------------------------------------
-- pg_dump keeps configuration and data
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('rollout.projects', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.projects_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.channels', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.channels_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.versions', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.versions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.artifacts', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.artifacts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.mirrors', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.mirrors_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.update_rules', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.update_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.admins', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.admins_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.api_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.api_tokens_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.approvals', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.approvals_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.client_state', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.client_results', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.update_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollup_daily', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollup_clients', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollup_funnel', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rollup_active', '');

-- ---------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------

-- who is acting: the rollout.actor setting (the HTTP server sets it), else the database user
CREATE FUNCTION rollout.current_actor() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT coalesce(nullif(pg_catalog.current_setting('rollout.actor', true), ''), session_user::text) $$;
COMMENT ON FUNCTION rollout.current_actor() IS 'the actor recorded in audit_log: setting rollout.actor, else the database user';

-- Audit every change of a configuration table and announce it on rollout_events.
CREATE FUNCTION rollout.audit_trigger() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	old_row jsonb;
	new_row jsonb;
	obj_id bigint;
	proj bigint;
BEGIN
	-- loading a dump (pg_dump scripts set check_function_bodies = off) replays
	-- rows, and their history comes with them: write nothing
	IF current_setting('check_function_bodies') = 'off' THEN
		RETURN NULL;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		old_row := to_jsonb(OLD) - 'password_hash';
	END IF;
	IF TG_OP <> 'DELETE' THEN
		new_row := to_jsonb(NEW) - 'password_hash';
	END IF;
	obj_id := (coalesce(new_row, old_row)->>'id')::bigint;
	proj := CASE WHEN TG_TABLE_NAME = 'projects' THEN obj_id
			ELSE (coalesce(new_row, old_row)->>'project_id')::bigint END;
	IF TG_TABLE_NAME = 'artifacts' THEN
		SELECT project_id INTO proj FROM versions
		WHERE id = (coalesce(new_row, old_row)->>'version_id')::bigint;
	END IF;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, before, after)
	VALUES (current_actor(), lower(TG_OP), TG_TABLE_NAME, obj_id, proj, old_row, new_row);
	PERFORM pg_notify('rollout_events', json_build_object(
		'type', TG_TABLE_NAME || '.' || lower(TG_OP),
		'id', obj_id, 'project_id', proj,
		'status', coalesce(new_row, old_row)->>'status',
		'actor', current_actor())::text);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.audit_trigger() IS 'writes audit_log and NOTIFY rollout_events for every row change';

CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.projects
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.channels
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.versions
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.artifacts
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.mirrors
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.update_rules
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.admins
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.approvals
	FOR EACH ROW EXECUTE FUNCTION rollout.audit_trigger();

-- keep updated_at current
CREATE FUNCTION rollout.touch_trigger() RETURNS trigger
	LANGUAGE plpgsql SET search_path = rollout, pg_catalog, pg_temp
AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
COMMENT ON FUNCTION rollout.touch_trigger() IS 'sets updated_at on update';
CREATE TRIGGER touch BEFORE UPDATE ON rollout.projects FOR EACH ROW EXECUTE FUNCTION rollout.touch_trigger();
CREATE TRIGGER touch BEFORE UPDATE ON rollout.channels FOR EACH ROW EXECUTE FUNCTION rollout.touch_trigger();
CREATE TRIGGER touch BEFORE UPDATE ON rollout.versions FOR EACH ROW EXECUTE FUNCTION rollout.touch_trigger();
CREATE TRIGGER touch BEFORE UPDATE ON rollout.update_rules FOR EACH ROW EXECUTE FUNCTION rollout.touch_trigger();
CREATE TRIGGER touch BEFORE UPDATE ON rollout.admins FOR EACH ROW EXECUTE FUNCTION rollout.touch_trigger();

/*
 * A restored project replaces a seeded one that was never used: pg_dump
 * restores the default project's row after CREATE EXTENSION has seeded it.
 */
CREATE FUNCTION rollout.replace_seed_trigger() RETURNS trigger
	LANGUAGE plpgsql SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM projects p
	WHERE p.slug = NEW.slug AND p.seeded AND p.updated_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.project_id = p.id)
		AND NOT EXISTS (SELECT 1 FROM client_state c WHERE c.project_id = p.id)
		AND NOT EXISTS (SELECT 1 FROM channels c WHERE c.project_id = p.id AND c.updated_at IS NOT NULL);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.replace_seed_trigger() IS 'lets a restored project replace the untouched seeded one';
CREATE TRIGGER replace_seed BEFORE INSERT ON rollout.projects
	FOR EACH ROW EXECUTE FUNCTION rollout.replace_seed_trigger();

-- Seed the standard channels of a project.
CREATE FUNCTION rollout.seed_channels(project_id bigint) RETURNS void
	LANGUAGE sql SET search_path = rollout, pg_catalog, pg_temp
AS $$
	INSERT INTO channels (project_id, name, display_name, description, rank)
	VALUES
	 ($1, 'stable', '{"en": "Stable", "zh-CN": "稳定版"}',
	  '{"en": "Tested releases for everyone", "zh-CN": "面向所有用户的正式版本"}', 0),
	 ($1, 'beta', '{"en": "Beta", "zh-CN": "测试版"}',
	  '{"en": "Upcoming releases for early adopters", "zh-CN": "供尝鲜用户使用的预发布版本"}', 1),
	 ($1, 'alpha', '{"en": "Alpha", "zh-CN": "预览版"}',
	  '{"en": "Previews that may be unstable", "zh-CN": "可能不稳定的预览版本"}', 2);
$$;
COMMENT ON FUNCTION rollout.seed_channels(bigint) IS 'creates the stable, beta and alpha channels of a project';

INSERT INTO rollout.projects (slug, name, seeded) VALUES ('default', 'Default project', true);
SELECT rollout.seed_channels(id) FROM rollout.projects WHERE slug = 'default';
-- the seed is configuration, not history
DELETE FROM rollout.audit_log;
