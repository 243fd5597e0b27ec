\echo Use "ALTER EXTENSION rollout UPDATE TO '0.2.0'" to load this file. \quit

/*
 * rollout 0.2.0: the data model, the update decision, events, statistics,
 * automatic safety, the admin SQL API, authentication, roles and audit.
 */

-- ---------------------------------------------------------------------
-- Roles (cluster-wide; created once, kept if the extension is dropped)
-- ---------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_reader') THEN
		CREATE ROLE rollout_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_client') THEN
		CREATE ROLE rollout_client NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_maintainer') THEN
		CREATE ROLE rollout_maintainer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_admin') THEN
		CREATE ROLE rollout_admin NOLOGIN;
	END IF;
END
$$;
GRANT rollout_reader TO rollout_maintainer;
GRANT rollout_maintainer TO rollout_admin;

-- ---------------------------------------------------------------------
-- semver_range equality: the same canonical form ('^1.2.3' = '>=1.2.3 <2.0.0-0'),
-- so ranges can be compared, grouped, made DISTINCT and hashed
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.semver_range_eq(rollout.semver_range, rollout.semver_range) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_eq(rollout.semver_range, rollout.semver_range) IS
	'implementation of = for ranges: the same canonical form';
CREATE FUNCTION rollout.semver_range_ne(rollout.semver_range, rollout.semver_range) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_ne(rollout.semver_range, rollout.semver_range) IS
	'implementation of <> for ranges';
CREATE FUNCTION rollout.semver_range_hash(rollout.semver_range) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_hash(rollout.semver_range) IS 'hash of a range''s canonical form';
CREATE FUNCTION rollout.semver_range_hash_extended(rollout.semver_range, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_hash_extended(rollout.semver_range, bigint) IS
	'seeded 64-bit hash of a range''s canonical form';
CREATE OPERATOR rollout.= (
	LEFTARG = rollout.semver_range, RIGHTARG = rollout.semver_range,
	FUNCTION = rollout.semver_range_eq,
	COMMUTATOR = OPERATOR(rollout.=), NEGATOR = OPERATOR(rollout.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR rollout.<> (
	LEFTARG = rollout.semver_range, RIGHTARG = rollout.semver_range,
	FUNCTION = rollout.semver_range_ne,
	COMMUTATOR = OPERATOR(rollout.<>), NEGATOR = OPERATOR(rollout.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR CLASS rollout.semver_range_hash_ops
	DEFAULT FOR TYPE rollout.semver_range USING hash AS
		OPERATOR 1 rollout.= (rollout.semver_range, rollout.semver_range),
		FUNCTION 1 rollout.semver_range_hash(rollout.semver_range),
		FUNCTION 2 rollout.semver_range_hash_extended(rollout.semver_range, bigint);

-- ---------------------------------------------------------------------
-- C helpers: passwords and tokens
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.hash_password(password text) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_hash_password' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.hash_password(text) IS
	'salted PBKDF2-HMAC-SHA256 hash (100,000 iterations) of a password, for storage';
CREATE FUNCTION rollout.verify_password(password text, stored text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rollout_verify_password' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.verify_password(text, text) IS
	'whether the password matches a stored hash (constant-time comparison)';
CREATE FUNCTION rollout.random_token() RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_random_token' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.random_token() IS '32 random bytes from a strong source, hex-encoded';

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
-- Request validation
-- ---------------------------------------------------------------------

/*
 * Fields of a JSON request, validated by the one rule each field has
 * (rollout_request.c, which check_update uses too).  Errors are 22023
 * (22P02 for a version) with the field name in the error's COLUMN and a
 * message key in its CONSTRAINT (required, type, too_long, invalid) so the
 * HTTP server can localize them; a request that is not a JSON object is
 * 22023 too.
 */
CREATE FUNCTION rollout.request_text(request jsonb, field text, required boolean DEFAULT false)
	RETURNS text AS 'MODULE_PATHNAME', 'rollout_request_text_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.request_text(jsonb, text, boolean) IS
	'a validated text field of a JSON request (22023 naming the field otherwise)';
CREATE FUNCTION rollout.request_version(request jsonb, field text, required boolean DEFAULT false)
	RETURNS rollout.semver AS 'MODULE_PATHNAME', 'rollout_request_version_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.request_version(jsonb, text, boolean) IS
	'a version field of a JSON request (22P02 naming the field if it is not SemVer)';

-- The project named by a slug (default: "default"), or P0002.
CREATE FUNCTION rollout.project_by_slug(slug text) RETURNS rollout.projects
	LANGUAGE plpgsql STABLE
AS $$
DECLARE
	p rollout.projects;
BEGIN
	SELECT * INTO p FROM rollout.projects WHERE projects.slug = coalesce(project_by_slug.slug, 'default');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'project not found: "%"', coalesce(slug, 'default')
			USING ERRCODE = 'P0002', COLUMN = 'project', CONSTRAINT = 'not_found';
	END IF;
	RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.project_by_slug(text) IS 'the project with this slug (NULL: default), or error P0002';

-- The project a client request names (default "default"), or P0002.
CREATE FUNCTION rollout.request_project(request jsonb) RETURNS rollout.projects
	LANGUAGE sql STABLE
	AS $$ SELECT rollout.project_by_slug(rollout.request_text(request, 'project')) $$;
COMMENT ON FUNCTION rollout.request_project(jsonb) IS
	'the project a client request names (default "default"); 22023 if the request is not a JSON object';

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
	first_today boolean;
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
		first_today := (o_seen AT TIME ZONE 'UTC')::date < (rc.at AT TIME ZONE 'UTC')::date OR o_version <> rc.cur;
		IF o_version <> rc.cur OR o_channel <> rc.channel OR o_region <> rc.region THEN
			PERFORM count_client(rc.project_id, o_channel, o_version, o_region, -1);
			PERFORM count_client(rc.project_id, rc.channel, rc.cur, rc.region, 1);
		END IF;
		IF rc.target IS NOT NULL AND o_offered IS DISTINCT FROM rc.target THEN
			PERFORM count_funnel(rc.project_id, rc.target, 1, 0, 0, 0);
		END IF;
		PERFORM count_daily(rc.project_id, 'check', rc.cur, first_today, (rc.at AT TIME ZONE 'UTC')::date);
	ELSE
		INSERT INTO client_state (project_id, client_id, current_version, channel, region, os, arch, last_offered,
								  first_seen, last_seen)
		VALUES (rc.project_id, rc.client_id, rc.cur, rc.channel, rc.region, rc.os, rc.arch, rc.target, rc.at, rc.at)
		ON CONFLICT (project_id, client_id) DO NOTHING;
		new_client := FOUND;
		IF new_client THEN
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
			-- a client is new today on its first check of the day or after changing version;
			-- a concurrent first check of the same client that won counts as a repeat
			SELECT c.project_id, (c.at AT TIME ZONE 'UTC')::date AS day, c.cur,
				   CASE WHEN u.client_id IS NOT NULL
						THEN (u.o_seen AT TIME ZONE 'UTC')::date < (u.at AT TIME ZONE 'UTC')::date OR u.o_version <> u.cur
						ELSE i.client_id IS NOT NULL END AS first_today
			FROM cur c
			LEFT JOIN upd u ON u.project_id = c.project_id AND u.client_id = c.client_id
			LEFT JOIN ins i ON i.project_id = c.project_id AND i.client_id = c.client_id),
		events AS (
			INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent,
									   action, created_at)
			SELECT c.project_id, c.target, c.client_id, c.cur, c.region, c.ip, c.user_agent, 'check', c.at
			FROM cur c WHERE c.record_event)
		-- the rollups: one definition, shared with the worker's in-place path
		SELECT count_checks(ck.p, ck.d, ck.v, ck.e, ck.c, mv.p, mv.c, mv.v, mv.r, mv.d, ofr.p, ofr.v, ofr.n)
		INTO STRICT nothing
		FROM (SELECT array_agg(project_id) p, array_agg(day) d, array_agg(cur) v, array_agg(1) e,
					 array_agg(first_today::integer) c FROM checks) ck,
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
 * group: per project, UTC day and version, the checks and the clients new
 * that day; the clients moving between (channel, version, region) groups;
 * the clients newly offered each version.  Entries of the same group are
 * added together.
 */
CREATE FUNCTION rollout.count_checks(d_project bigint[], d_day date[], d_version rollout.semver[],
									 d_events integer[], d_clients integer[],
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
COMMENT ON FUNCTION rollout.count_checks(bigint[], date[], rollout.semver[], integer[], integer[], bigint[], text[],
										 rollout.semver[], text[], integer[], bigint[], rollout.semver[], integer[]) IS
	'adds checks'' deltas to the rollups (used by record_checks and by the worker''s in-place path)';

-- Not SECURITY DEFINER: it reads the configuration as its owner only when
-- it loads its cache, and records through record_check.
CREATE FUNCTION rollout.check_update(request jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'rollout_check_update'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update(jsonb) IS
	'the update decision (SPEC §7): request {project, current_version, channel, client_id, region, os, arch, locale, ip, user_agent}, result {has_update, latest_version, download_url, ..., reason}';

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

-- ---------------------------------------------------------------------
-- Events from clients
-- ---------------------------------------------------------------------

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
	-- statistics pages refresh (identical notifications of a transaction are sent once)
	PERFORM pg_notify('rollout_events', json_build_object('type', 'stats', 'project_id', p.id)::text);
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

	-- a successful install moves the client to the new version at once
	IF ok AND cs.client_id IS NOT NULL AND cs.current_version <> v.version THEN
		PERFORM count_client(p.id, cs.channel, cs.current_version, cs.region, -1);
		PERFORM count_client(p.id, cs.channel, v.version, cs.region, 1);
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
	PERFORM pg_notify('rollout_events', json_build_object('type', 'stats', 'project_id', p.id)::text);
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
	   coalesce(d.active_today, 0)::bigint AS active_clients_today,
	   coalesce(d.checks_today, 0)::bigint AS checks_today,
	   coalesce(d.downloads_today, 0)::bigint AS downloads_today,
	   coalesce(d.successes_today, 0)::bigint AS successes_today,
	   coalesce(d.failures_today, 0)::bigint AS failures_today,
	   round(100.0 * coalesce(w.succ, 0) / nullif(coalesce(w.succ, 0) + coalesce(w.fail, 0), 0), 2) AS success_rate_7d,
	   (SELECT count(*) FROM rollout.versions v WHERE v.project_id = p.id AND v.status = 'published') AS published_versions
FROM rollout.projects p
LEFT JOIN LATERAL (
	SELECT sum(clients) FILTER (WHERE action = 'check') AS active_today,
		   sum(events) FILTER (WHERE action = 'check') AS checks_today,
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
	p projects := project_by_slug(project);
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
	p projects := project_by_slug(project);
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
	FROM stats_version_distribution d WHERE d.project = (project_by_slug(stats_distribution.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_distribution(text) IS 'clients per current version (GET /stats/distribution)';

CREATE FUNCTION rollout.stats_regions(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('region', d.region, 'clients', d.clients, 'share', d.share)
							  ORDER BY d.clients DESC, d.region), '[]')
	FROM stats_region_distribution d WHERE d.project = (project_by_slug(stats_regions.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_regions(text) IS 'clients per region (GET /stats/regions)';

CREATE FUNCTION rollout.stats_funnel(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('version', f.tag, 'status', f.status, 'offered', f.offered,
												 'downloaded', f.downloaded, 'succeeded', f.succeeded,
												 'failed', f.failed, 'success_rate', f.success_rate)
							  ORDER BY f.version DESC), '[]')
	FROM stats_version_funnel f WHERE f.project = (project_by_slug(stats_funnel.project)).slug
$$;
COMMENT ON FUNCTION rollout.stats_funnel(text) IS 'offered, downloaded, succeeded, failed per version (GET /stats/funnel)';

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
	RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
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
	RETURN id;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'project already exists: "%"', slug USING ERRCODE = '23505', COLUMN = 'slug', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_project(text, text, text) IS 'creates a project with stable, beta and alpha channels; returns its id';

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
	RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
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
	RETURN vid;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'version % already exists in project %', v, p.slug
		USING ERRCODE = '23505', COLUMN = 'version', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text) IS
	'creates a version as a draft (published at once if its channel auto-publishes); returns its id';

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
	RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
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
	RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.add_artifact(bigint, text, text, text, bigint, text) IS
	'adds (or replaces) the file of a version for one os/arch; a relative file_url resolves against the client region''s mirror';

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
	RETURNS bigint
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
	RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.set_mirror(text, text, text) IS 'sets the download base URL of a region (upsert); returns its id';

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
	RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
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
	RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean) IS
	'creates an update rule; returns its id';

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
-- Admins, login and tokens
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.create_admin(username text, password text, role text DEFAULT 'admin', project text DEFAULT NULL)
	RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
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
	RETURN id;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'username already exists: "%"', username USING ERRCODE = '23505', COLUMN = 'username', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_admin(text, text, text, text) IS
	'creates an admin account (role admin, maintainer of one project, or viewer); returns its id';

CREATE FUNCTION rollout.admin_json(a rollout.admins) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(a) - 'password_hash' || jsonb_build_object('project', (SELECT slug FROM projects WHERE id = a.project_id)) $$;
COMMENT ON FUNCTION rollout.admin_json(rollout.admins) IS 'an account as returned by the API: no password hash, its project''s slug';

CREATE FUNCTION rollout.list_admins() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM require_role('admin', NULL);
	RETURN (SELECT coalesce(jsonb_agg(admin_json(a) ORDER BY a.id), '[]') FROM admins a);
END
$$;
COMMENT ON FUNCTION rollout.list_admins() IS 'admin accounts (without password hashes)';

CREATE FUNCTION rollout.login(username text, password text, ttl interval DEFAULT '12 hours') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	tok text;
	exp timestamptz;
BEGIN
	IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '90 days' THEN
		PERFORM invalid_argument('ttl', 'ttl must be between 1 minute and 90 days');
	END IF;
	SELECT * INTO a FROM admins x WHERE x.username = login.username AND x.is_active;
	-- the same work whether or not the account exists
	IF NOT verify_password(coalesce(password, ''),
						   coalesce(a.password_hash, 'pbkdf2-sha256$100000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000'))
	   OR a.id IS NULL THEN
		RAISE EXCEPTION 'invalid username or password' USING ERRCODE = '28P01', CONSTRAINT = 'login_failed';
	END IF;
	tok := random_token();
	exp := now() + ttl;
	INSERT INTO api_tokens (admin_id, token_hash, name, expires_at)
	VALUES (a.id, sha256(convert_to(tok, 'UTF8')), 'login', exp);
	INSERT INTO audit_log (actor, action, object_type, object_id) VALUES (a.username, 'login', 'admins', a.id);
	RETURN jsonb_build_object('token', tok, 'expires_at', exp, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id));
END
$$;
COMMENT ON FUNCTION rollout.login(text, text, interval) IS
	'checks a password and returns a new bearer token {token, expires_at, username, role, project}; 28P01 on failure';

CREATE FUNCTION rollout.authenticate(token text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	t api_tokens;
	a admins;
BEGIN
	IF token IS NULL OR token !~ '^[0-9a-f]{64}$' THEN
		RAISE EXCEPTION 'invalid token' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	SELECT * INTO t FROM api_tokens WHERE token_hash = sha256(convert_to(token, 'UTF8'));
	IF NOT FOUND OR t.revoked_at IS NOT NULL OR t.expires_at <= now() THEN
		RAISE EXCEPTION '%', CASE WHEN t.id IS NULL THEN 'invalid token'
								  WHEN t.revoked_at IS NOT NULL THEN 'token revoked' ELSE 'token expired' END
			USING ERRCODE = '28000',
				  CONSTRAINT = CASE WHEN t.id IS NULL THEN 'invalid_token'
									WHEN t.revoked_at IS NOT NULL THEN 'token_revoked' ELSE 'token_expired' END;
	END IF;
	SELECT * INTO a FROM admins WHERE id = t.admin_id AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account disabled' USING ERRCODE = '28000', CONSTRAINT = 'account_disabled';
	END IF;
	UPDATE api_tokens SET last_used_at = now() WHERE id = t.id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'db_role', 'rollout_' || CASE a.role WHEN 'viewer' THEN 'reader' ELSE a.role END,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id),
							  'expires_at', t.expires_at);
END
$$;
COMMENT ON FUNCTION rollout.authenticate(text) IS
	'the account behind a bearer token {admin_id, username, role, db_role, project}; 28000 if invalid, expired or revoked';

CREATE FUNCTION rollout.revoke_token(token text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE api_tokens SET revoked_at = now()
	WHERE token_hash = sha256(convert_to(coalesce(token, ''), 'UTF8')) AND revoked_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION rollout.revoke_token(text) IS 'revokes a bearer token (logout); false if it was not active';

-- The account acting now (from rollout.actor), or 22023 for a caller without one.
CREATE FUNCTION rollout.acting_account() RETURNS rollout.admins
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
BEGIN
	SELECT * INTO a FROM admins WHERE username = nullif(current_setting('rollout.actor', true), '') AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this needs an account: log in, or set rollout.actor to a username'
			USING ERRCODE = '22023', CONSTRAINT = 'invalid', COLUMN = 'actor';
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION rollout.acting_account() IS 'the admin account named by rollout.actor, or 22023';

CREATE FUNCTION rollout.create_api_token(name text, ttl interval DEFAULT '90 days') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	tok text := random_token();
	t api_tokens;
BEGIN
	IF name IS NULL OR length(name) NOT BETWEEN 1 AND 100 THEN
		PERFORM invalid_argument('name', 'name must be 1 to 100 characters');
	END IF;
	IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '366 days' THEN
		PERFORM invalid_argument('ttl', 'ttl must be between 1 minute and 366 days');
	END IF;
	INSERT INTO api_tokens (admin_id, token_hash, name, expires_at)
	VALUES (a.id, sha256(convert_to(tok, 'UTF8')), create_api_token.name, now() + ttl)
	RETURNING * INTO t;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
	VALUES (a.username, 'insert', 'api_tokens', t.id, a.project_id, jsonb_build_object('name', t.name, 'expires_at', t.expires_at));
	RETURN jsonb_build_object('id', t.id, 'token', tok, 'name', t.name, 'expires_at', t.expires_at);
END
$$;
COMMENT ON FUNCTION rollout.create_api_token(text, interval) IS
	'a long-lived bearer token of the acting account (for automation); only shown once, stored as SHA-256';

CREATE FUNCTION rollout.list_api_tokens() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'username', x.username, 'name', t.name,
					'created_at', t.created_at, 'expires_at', t.expires_at, 'revoked_at', t.revoked_at,
					'last_used_at', t.last_used_at) ORDER BY t.id), '[]')
			FROM api_tokens t JOIN admins x ON x.id = t.admin_id
			WHERE a.role = 'admin' OR t.admin_id = a.id);
END
$$;
COMMENT ON FUNCTION rollout.list_api_tokens() IS 'the acting account''s tokens (an admin sees all), without their hashes';

CREATE FUNCTION rollout.revoke_api_token(token_id bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	owner bigint;
BEGIN
	SELECT admin_id INTO owner FROM api_tokens WHERE id = token_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'token not found: %', token_id USING ERRCODE = 'P0002', COLUMN = 'token_id', CONSTRAINT = 'not_found';
	END IF;
	IF owner <> a.id AND a.role <> 'admin' THEN
		RAISE EXCEPTION 'permission denied: only its owner or an admin may revoke a token'
			USING ERRCODE = '42501', CONSTRAINT = 'forbidden';
	END IF;
	UPDATE api_tokens SET revoked_at = now() WHERE id = token_id AND revoked_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION rollout.revoke_api_token(bigint) IS 'revokes a token by id (its owner, or an admin)';

-- ---------------------------------------------------------------------
-- Accounts: who am I, changes, passwords
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.whoami() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id));
END
$$;
COMMENT ON FUNCTION rollout.whoami() IS 'the acting account {admin_id, username, role, project} (GET /me)';

/*
 * Change an account's role, project or activity (admin).  The last active
 * admin can neither be demoted nor disabled: 22023 naming the field, with
 * key last_admin.  Audited by the admins table's trigger.
 */
CREATE FUNCTION rollout.update_admin(admin_id bigint, role text DEFAULT NULL, project text DEFAULT NULL,
									 is_active boolean DEFAULT NULL, clear text[] DEFAULT '{}')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	new_role text;
	new_pid bigint;
	new_active boolean;
BEGIN
	PERFORM require_role('admin', NULL);
	IF NOT clear <@ ARRAY['project'] THEN
		PERFORM invalid_argument('clear', 'clear may name project');
	END IF;
	-- the active admins, locked: two demotions at once cannot both pass the check below
	PERFORM 1 FROM admins x WHERE x.role = 'admin' AND x.is_active FOR UPDATE;
	SELECT * INTO a FROM admins x WHERE x.id = update_admin.admin_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account not found: %', admin_id USING ERRCODE = 'P0002', COLUMN = 'admin_id', CONSTRAINT = 'not_found';
	END IF;
	IF role IS NOT NULL AND role NOT IN ('admin', 'maintainer', 'viewer') THEN
		PERFORM invalid_argument('role', 'role must be admin, maintainer or viewer');
	END IF;
	new_role := coalesce(role, a.role);
	new_active := coalesce(is_active, a.is_active);
	new_pid := CASE WHEN 'project' = ANY (clear) THEN NULL
					WHEN project IS NOT NULL THEN (project_by_slug(project)).id ELSE a.project_id END;
	IF new_role = 'maintainer' AND new_pid IS NULL THEN
		PERFORM invalid_argument('project', 'a maintainer needs a project');
	END IF;
	IF a.role = 'admin' AND a.is_active AND (new_role <> 'admin' OR NOT new_active)
	   AND NOT EXISTS (SELECT 1 FROM admins x WHERE x.role = 'admin' AND x.is_active AND x.id <> a.id) THEN
		RAISE EXCEPTION 'the last active admin cannot be %', CASE WHEN new_active THEN 'demoted' ELSE 'disabled' END
			USING ERRCODE = '22023', COLUMN = CASE WHEN new_active THEN 'role' ELSE 'is_active' END, CONSTRAINT = 'last_admin';
	END IF;
	UPDATE admins x SET role = new_role, project_id = new_pid, is_active = new_active
	WHERE x.id = a.id RETURNING * INTO a;
	RETURN admin_json(a);
END
$$;
COMMENT ON FUNCTION rollout.update_admin(bigint, text, text, boolean, text[]) IS
	'changes an account''s role, project (clear => {project} removes it) or is_active; never demotes or disables the last active admin';

CREATE FUNCTION rollout.reset_password(admin_id bigint, password text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	revoked integer;
BEGIN
	PERFORM require_role('admin', NULL);
	SELECT * INTO a FROM admins x WHERE x.id = reset_password.admin_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account not found: %', admin_id USING ERRCODE = 'P0002', COLUMN = 'admin_id', CONSTRAINT = 'not_found';
	END IF;
	IF password IS NULL OR length(password) < 8 THEN
		PERFORM invalid_argument('password', 'password must be at least 8 characters');
	END IF;
	UPDATE admins SET password_hash = hash_password(password) WHERE id = a.id;
	-- the sessions of the old password end; API tokens for automation stay
	UPDATE api_tokens SET revoked_at = now() WHERE api_tokens.admin_id = a.id AND name = 'login' AND revoked_at IS NULL;
	GET DIAGNOSTICS revoked = ROW_COUNT;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
	VALUES (current_actor(), 'reset_password', 'admins', a.id, a.project_id, jsonb_build_object('revoked_tokens', revoked));
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'revoked_tokens', revoked);
END
$$;
COMMENT ON FUNCTION rollout.reset_password(bigint, text) IS
	'sets an account''s password (admin) and revokes its login tokens: {admin_id, username, revoked_tokens}';

CREATE FUNCTION rollout.change_password(current_password text, new_password text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	IF NOT verify_password(coalesce(current_password, ''), a.password_hash) THEN
		RAISE EXCEPTION 'the current password is wrong' USING ERRCODE = '28P01', CONSTRAINT = 'login_failed';
	END IF;
	IF new_password IS NULL OR length(new_password) < 8 THEN
		PERFORM invalid_argument('new_password', 'new_password must be at least 8 characters');
	END IF;
	UPDATE admins SET password_hash = hash_password(new_password) WHERE id = a.id;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id)
	VALUES (a.username, 'change_password', 'admins', a.id, a.project_id);
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'changed', true);
END
$$;
COMMENT ON FUNCTION rollout.change_password(text, text) IS
	'changes the acting account''s own password, given the current one (28P01 if it is wrong)';

-- ---------------------------------------------------------------------
-- Live websocket tickets: the socket's URL carries a ticket, never a token
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.live_ticket() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	t text := random_token();
	exp timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
	DELETE FROM live_tickets WHERE expires_at < clock_timestamp();
	INSERT INTO live_tickets (ticket_hash, admin_id, expires_at) VALUES (sha256(convert_to(t, 'UTF8')), a.id, exp);
	RETURN jsonb_build_object('ticket', t, 'expires_at', exp);
END
$$;
COMMENT ON FUNCTION rollout.live_ticket() IS
	'a ticket for GET /admin/api/v1/live?ticket=: random, single use, valid 30 seconds {ticket, expires_at}';

CREATE FUNCTION rollout.redeem_live_ticket(ticket text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	t live_tickets;
	a admins;
BEGIN
	IF ticket IS NULL OR ticket !~ '^[0-9a-f]{64}$' THEN
		RAISE EXCEPTION 'invalid ticket' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	-- used once: gone whether or not it was still valid
	DELETE FROM live_tickets x WHERE x.ticket_hash = sha256(convert_to(ticket, 'UTF8')) RETURNING * INTO t;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid ticket' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	IF t.expires_at < clock_timestamp() THEN
		RAISE EXCEPTION 'ticket expired' USING ERRCODE = '28000', CONSTRAINT = 'token_expired';
	END IF;
	SELECT * INTO a FROM admins WHERE id = t.admin_id AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account disabled' USING ERRCODE = '28000', CONSTRAINT = 'account_disabled';
	END IF;
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id), 'project_id', a.project_id);
END
$$;
COMMENT ON FUNCTION rollout.redeem_live_ticket(text) IS
	'uses up a live ticket: the account it was issued to {admin_id, username, role, project, project_id}; 28000 if unknown, used or expired';

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

CREATE FUNCTION rollout.get_admin(admin_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT admin_json(a) FROM admins a WHERE a.id = admin_id $$;
COMMENT ON FUNCTION rollout.get_admin(bigint) IS 'one admin account by id, without its password hash';

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

-- ---------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------
GRANT USAGE ON SCHEMA rollout TO PUBLIC;	-- the semver types are for everyone

-- nothing new is callable by PUBLIC; roles get what they need
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_depend d ON d.objid = p.oid AND d.classid = 'pg_catalog.pg_proc'::regclass
		JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'rollout'
		WHERE p.pronamespace = 'rollout'::regnamespace
		  AND p.proname NOT LIKE 'semver%' AND p.proname NOT IN
			('major', 'minor', 'patch', 'prerelease', 'build', 'is_prerelease', 'to_semver', 'is_semver',
			 'satisfies', 'rollout_bucket', 'in_rollout', 'rollout_threshold', 'min', 'max')
	LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;

GRANT SELECT ON rollout.stats_overview, rollout.stats_version_distribution, rollout.stats_region_distribution,
	rollout.stats_daily, rollout.stats_version_funnel, rollout.stats_channel_status TO rollout_reader;
GRANT EXECUTE ON FUNCTION
	rollout.stats(text, text, text, date, date), rollout.stats_trend(text, text, text, date, date),
	rollout.stats_distribution(text), rollout.stats_regions(text), rollout.stats_funnel(text),
	rollout.list_projects(), rollout.get_project(text), rollout.list_versions(text, text, text, integer, integer, text),
	rollout.get_version(bigint), rollout.list_channels(text), rollout.list_rules(text), rollout.get_rule(bigint),
	rollout.list_mirrors(text), rollout.list_audit(text, integer, integer, text, text, text, timestamptz, timestamptz), rollout.utc_today(),
	rollout.get_project_by_id(bigint), rollout.get_artifact(bigint), rollout.get_mirror(bigint),
	rollout.revoke_token(text), rollout.create_api_token(text, interval), rollout.list_api_tokens(),
	rollout.revoke_api_token(bigint), rollout.flush_checks(integer), rollout.check_queue(),
	rollout.whoami(), rollout.dashboard(text), rollout.simulate_check(text, text, text, text, text, text, text, text),
	rollout.cohort_count(bigint, numeric), rollout.change_password(text, text), rollout.list_approvals(text, text),
	rollout.live_ticket()
	TO rollout_reader;

GRANT EXECUTE ON FUNCTION rollout.check_update(jsonb), rollout.download_started(jsonb), rollout.install_result(jsonb),
	rollout.login(text, text, interval), rollout.authenticate(text), rollout.revoke_token(text),
	rollout.count_download(text), rollout.redeem_live_ticket(text)
	TO rollout_client;

GRANT EXECUTE ON FUNCTION
	rollout.create_version(text, text, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text),
	rollout.update_version(bigint, text, text, text, bigint, text, text, text, text, text, boolean, numeric, jsonb, jsonb, text, text[]),
	rollout.publish_version(bigint, timestamptz), rollout.pause_version(bigint), rollout.resume_version(bigint),
	rollout.yank_version(bigint), rollout.delete_version(bigint),
	rollout.add_artifact(bigint, text, text, text, bigint, text), rollout.delete_artifact(bigint),
	rollout.set_channel(text, text, numeric, boolean, boolean, jsonb, jsonb),
	rollout.create_rule(text, text, integer, text, text, text, text, jsonb, boolean),
	rollout.update_rule(bigint, text, integer, text, text, text, text, jsonb, boolean, text[]),
	rollout.delete_rule(bigint), rollout.revoke_token(text), rollout.can_upload(bigint),
	rollout.publish(bigint, timestamptz)
	TO rollout_maintainer;

GRANT EXECUTE ON FUNCTION
	rollout.create_project(text, text, text),
	rollout.update_project(text, text, text, numeric, integer, integer, boolean, boolean),
	rollout.set_mirror(text, text, text), rollout.delete_mirror(text, text),
	rollout.create_admin(text, text, text, text), rollout.list_admins(), rollout.maintain(),
	rollout.get_admin(bigint), rollout.update_admin(bigint, text, text, boolean, text[]),
	rollout.reset_password(bigint, text), rollout.approve_publish(bigint, text), rollout.reject_publish(bigint, text)
	TO rollout_admin;
