--
-- schema: the data model of SPEC §5 — the seeded default project and its
-- channels, constraints that make bad data impossible, configuration tables
-- registered for pg_dump, roles, the partitioned event table, the upgrade
-- paths from 0.1.0 and 0.2.0.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS rollout CASCADE;
CREATE EXTENSION rollout;
RESET client_min_messages;
SET search_path = public, rollout;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; c text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, c = CONSTRAINT_NAME;
	RETURN s || ' ' || coalesce(c, '-');
END $$;

SELECT extversion FROM pg_extension WHERE extname = 'rollout';
SELECT source, target, path FROM pg_extension_update_paths('rollout') WHERE path IS NOT NULL ORDER BY 1, 2;

-- the default project and its seeded channels (with Chinese names)
SELECT slug, name, default_channel, seeded FROM projects;
SELECT name, rank, rollout_percentage, is_active, display_name ->> 'en' AS en, display_name ->> 'zh-CN' AS zh
FROM channels ORDER BY rank;
SELECT count(*) AS audit_entries_after_install FROM audit_log;

-- constraints
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$INSERT INTO rollout.projects (slug, name) VALUES ('Upper', 'x')$$,
  $$INSERT INTO rollout.projects (slug, name) VALUES ('ok', '')$$,
  $$UPDATE rollout.channels SET rollout_percentage = 100.01$$,
  $$UPDATE rollout.channels SET rollout_percentage = -0.01$$,
  $$INSERT INTO rollout.channels (project_id, name, rank) VALUES (1, 'stable', 5)$$,
  $$INSERT INTO rollout.channels (project_id, name, rank) VALUES (1, 'Has Space', 5)$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id, status) VALUES (1, '1.0.0', 'v1', 1, 'live')$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id, status) VALUES (1, '1.0.0', 'v1', 1, 'published')$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id, file_checksum) VALUES (1, '1.0.0', 'v1', 1, 'sha256:ABC')$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id, rollout_percentage) VALUES (1, '1.0.0', 'v1', 1, 101)$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id) VALUES (1, '1.0', 'v1', 1)$$,
  $$INSERT INTO rollout.versions (project_id, version, tag, channel_id) VALUES (1, '1.0.0', 'v1', 999)$$,
  $$INSERT INTO rollout.mirrors (project_id, region, base_url) VALUES (1, 'cn', 'ftp://x')$$,
  $$INSERT INTO rollout.update_rules (project_id, name, rollout_config) VALUES (1, 'r', '[]')$$,
  $$INSERT INTO rollout.admins (username, password_hash, role) VALUES ('a', 'x', 'root')$$,
  $$INSERT INTO rollout.admins (username, password_hash, role) VALUES ('a', 'x', 'maintainer')$$,
  $$INSERT INTO rollout.update_events (project_id, client_id, action) VALUES (1, 'c', 'explode')$$]) q;
-- one version per precedence: build metadata does not make a new one
INSERT INTO versions (project_id, version, tag, channel_id) VALUES (1, '1.0.0+a', 'v1.0.0', 1);
SELECT pg_temp.err($$INSERT INTO rollout.versions (project_id, version, tag, channel_id) VALUES (1, '1.0.0+b', 'v1.0.0b', 1)$$);

-- every configuration and data table is kept by pg_dump
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'rollout' ORDER BY 1;
-- events are partitioned by time
SELECT c.relkind, p.partstrat FROM pg_class c JOIN pg_partitioned_table p ON p.partrelid = c.oid
WHERE c.oid = 'rollout.update_events'::regclass;

-- roles
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'rollout\_%' ORDER BY 1;
SELECT r.rolname AS member, g.rolname AS of FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname LIKE 'rollout\_%' AND r.rolname LIKE 'rollout\_%' ORDER BY 1, 2;
-- every function of the extension has a comment, and every view
SELECT p.oid::regprocedure AS undocumented FROM pg_proc p
WHERE p.pronamespace = 'rollout'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
  AND p.proname NOT LIKE '%\_trigger' ORDER BY 1;
SELECT c.relname AS undocumented_view FROM pg_class c
WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL;
-- SECURITY DEFINER functions all pin their search_path
SELECT p.oid::regprocedure AS unpinned FROM pg_proc p
WHERE p.pronamespace = 'rollout'::regnamespace AND p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- an existing 0.1.0 installation upgrades in place
CREATE SCHEMA keep;
SET client_min_messages = warning;
DROP EXTENSION rollout CASCADE;
CREATE EXTENSION rollout VERSION '0.1.0';
RESET client_min_messages;
CREATE TABLE keep.v (v rollout.semver);
INSERT INTO keep.v VALUES ('1.2.3-rc.1+b');
ALTER EXTENSION rollout UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'rollout';
SELECT v, v < '1.2.3' AS lt FROM keep.v;
SELECT count(*) AS projects FROM projects;
-- and on to the current version
ALTER EXTENSION rollout UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'rollout';
SELECT v, v < '1.2.3' AS lt FROM keep.v;
SELECT count(*) AS projects FROM projects;
SET client_min_messages = warning;
DROP SCHEMA keep CASCADE;
RESET client_min_messages;
