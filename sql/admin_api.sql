--
-- admin_api: the admin SQL API with named arguments, audit entries with the
-- actor and before/after values, passwords (PBKDF2 test vector), login,
-- tokens (expiry, revocation), the database roles' privileges, per-project
-- scope of maintainers, and bad arguments.
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

-- passwords: PBKDF2-HMAC-SHA256, checked against a vector computed with Python's hashlib
SELECT verify_password('secret', 'pbkdf2-sha256$1000$00112233445566778899aabbccddeeff$588372775fb38b5711b6f36b465e293dc7b793e008550ee8a10bb26a8e7f85b8') AS right_password,
       verify_password('Secret', 'pbkdf2-sha256$1000$00112233445566778899aabbccddeeff$588372775fb38b5711b6f36b465e293dc7b793e008550ee8a10bb26a8e7f85b8') AS wrong_password,
       verify_password('secret', 'md5$whatever') AS malformed_hash;
SELECT h ~ '^pbkdf2-sha256\$100000\$[0-9a-f]{32}\$[0-9a-f]{64}$' AS format, verify_password('pw-123456', h) AS verifies,
       h <> hash_password('pw-123456') AS salted
FROM (SELECT hash_password('pw-123456') AS h) s;
SELECT pg_temp.err($$SELECT rollout.hash_password('')$$);
SELECT length(random_token()) AS token_length, random_token() <> random_token() AS random;

-- projects
SELECT (create_project(slug => 'panel', name => 'RunPanel') ->> 'id')::bigint AS panel \gset
SELECT name FROM channels WHERE project_id = :panel ORDER BY rank;
SELECT get_project('panel') ->> 'name' AS name, jsonb_array_length(list_projects()) AS projects;
SELECT update_project('panel', name => 'RunPanel 2', failure_threshold => 15) ->> 'name' AS renamed;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_project('Panel', 'x')$$,
  $$SELECT rollout.create_project('panel', 'again')$$,
  $$SELECT rollout.create_project('p2', '')$$,
  $$SELECT rollout.create_project('p2', 'x', 'nightly')$$,
  $$SELECT rollout.update_project('panel', failure_threshold => 120)$$,
  $$SELECT rollout.get_project('nope')$$]) q;

-- versions with every field, by name
SELECT (create_version(project => 'panel', version => 'v2.0.0-rc.1', channel => 'beta', title => 'Two RC',
       file_url => 'https://dl.example.com/panel-2.0.0-rc.1.tgz', file_size => 4096,
       file_checksum => 'sha256:' || repeat('ab', 32), description => 'desc', release_notes => '# Notes',
       breaking_changes => 'config moved', min_upgrade_version => '1.5.0', is_forced => true,
       rollout_percentage => 12.5) ->> 'id')::bigint AS rc \gset
SELECT v - 'id' - 'project_id' - 'channel_id' - 'created_at' - 'updated_at' AS created FROM get_version(:rc) v;
SELECT update_version(:rc, title => 'Two RC1', rollout_percentage => 50, clear => '{min_upgrade_version}')
       - 'id' - 'project_id' - 'channel_id' - 'created_at' - 'updated_at' - 'artifacts' AS updated;
SELECT (add_artifact(:rc, 'linux', 'amd64', 'panel-linux-amd64.tgz', 10, 'sha256:' || repeat('cd', 32)) ->> 'id')::bigint AS art \gset
SELECT (add_artifact(:rc, 'linux', 'amd64', 'panel-linux-amd64-v2.tgz') ->> 'id')::bigint = :art AS replaced_same_row;
SELECT jsonb_array_length(get_version(:rc) -> 'artifacts') AS artifacts;
SELECT (list_versions('panel') ->> 'total')::int AS total, list_versions('panel', 'stable') -> 'items' AS stable_items;
SELECT count(create_version('panel', '1.' || i || '.0')) AS created FROM generate_series(1, 25) i;
SELECT v ->> 'total' AS total, jsonb_array_length(v -> 'items') AS on_page, v -> 'items' -> 0 ->> 'version' AS first
FROM list_versions('panel', page => 2, "limit" => 10) v;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_version('panel', '2.0.0-rc.1+other-build')$$,
  $$SELECT rollout.create_version('panel', '2.0')$$,
  $$SELECT rollout.create_version('panel', NULL)$$,
  $$SELECT rollout.create_version('panel', '3.0.0', channel => 'nightly')$$,
  $$SELECT rollout.create_version('panel', '3.0.0', file_checksum => 'md5:abc')$$,
  $$SELECT rollout.create_version('panel', '3.0.0', file_size => -1)$$,
  $$SELECT rollout.create_version('panel', '3.0.0', rollout_percentage => 100.5)$$,
  $$SELECT rollout.create_version('panel', '3.0.0', min_upgrade_version => 'latest')$$,
  $$SELECT rollout.create_version('panel', '3.0.0', file_url => 'javascript:alert(1)')$$,
  $$SELECT rollout.update_version(999999, title => 'x')$$,
  $$SELECT rollout.update_version(1, clear => '{title}')$$,
  $$SELECT rollout.list_versions('panel', page => 0)$$,
  $$SELECT rollout.list_versions('panel', "limit" => 1000)$$,
  $$SELECT rollout.list_versions('panel', status => 'live')$$,
  $$SELECT rollout.add_artifact(1, 'linux os', 'amd64', 'x')$$,
  $$SELECT rollout.publish_version(999999)$$,
  $$SELECT rollout.resume_version(1)$$]) q;
-- SQL-looking text is stored verbatim
SELECT (create_version('panel', '4.0.0', title => $$'); DROP TABLE rollout.versions; --$$) ->> 'id')::bigint AS sqlish \gset
SELECT title FROM versions WHERE id = :sqlish;

-- channels, mirrors, rules
SELECT set_channel('panel', 'beta', rollout_percentage => 25.5, is_active => true) ->> 'rollout_percentage' AS beta_pct;
SELECT name, rollout_percentage, display_name ->> 'zh-CN' AS zh FROM jsonb_to_recordset(list_channels('panel'))
  AS c(name text, rollout_percentage numeric, display_name jsonb);
SELECT (set_mirror('panel', 'CN', 'https://mirror.example.cn/panel') ->> 'id')::bigint = (set_mirror('panel', 'cn', 'https://m2.example.cn') ->> 'id')::bigint AS upserted;
SELECT list_mirrors('panel') -> 0 ->> 'base_url' AS cn_mirror;
SELECT (create_rule('panel', 'hold windows', priority => 3, target_os => 'windows', target_version_range => '^1.2',
                   rollout_config => '{"pin": "1.9.0", "percentage": 10}') ->> 'id')::bigint AS rule \gset
SELECT r - 'id' - 'project_id' - 'created_at' - 'updated_at' AS rule FROM get_rule(:rule) r;
SELECT update_rule(:rule, priority => 7, clear => '{target_os}') ->> 'target_os' AS os_cleared;
SELECT jsonb_array_length(list_rules('panel')) AS rules;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.set_channel('panel', 'beta', rollout_percentage => -1)$$,
  $$SELECT rollout.set_channel('panel', 'gamma')$$,
  $$SELECT rollout.set_mirror('panel', 'eu', 'ftp://files')$$,
  $$SELECT rollout.create_rule('panel', 'r', rollout_config => '{"percent": 5}')$$,
  $$SELECT rollout.create_rule('panel', 'r', rollout_config => '{"percentage": "5"}')$$,
  $$SELECT rollout.create_rule('panel', 'r', rollout_config => '{"pin": "soon"}')$$,
  $$SELECT rollout.create_rule('panel', 'r', rollout_config => '{"channel": "nightly"}')$$,
  $$SELECT rollout.create_rule('panel', 'r', rollout_config => '[1]')$$,
  $$SELECT rollout.create_rule('panel', 'r', target_version_range => '>>1')$$,
  $$SELECT rollout.create_rule('panel', 'r', target_region => 'Mars Base')$$,
  $$SELECT rollout.delete_rule(999999)$$]) q;
SELECT delete_rule(:rule) AS deleted;

-- admins, login and tokens
SELECT (create_admin('alice', 'correct horse', 'admin') ->> 'id')::bigint > 0 AS alice, (create_admin('mia', 'maintainer1', 'maintainer', 'panel') ->> 'id')::bigint > 0 AS mia,
       (create_admin('vic', 'viewer-pass', 'viewer') ->> 'id')::bigint > 0 AS vic;
SELECT jsonb_path_query_array(list_admins(), '$[*].username') AS admins, list_admins()::text LIKE '%password%' AS leaks_hash;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_admin('alice', 'another-pass')$$,
  $$SELECT rollout.create_admin('bob', 'short')$$,
  $$SELECT rollout.create_admin('bad name', 'long enough')$$,
  $$SELECT rollout.create_admin('bob', 'long enough', 'root')$$,
  $$SELECT rollout.create_admin('bob', 'long enough', 'maintainer')$$,
  $$SELECT rollout.login('alice', 'wrong')$$,
  $$SELECT rollout.login('nobody', 'correct horse')$$,
  $$SELECT rollout.login('alice', 'correct horse', '1 year')$$,
  $$SELECT rollout.authenticate('not-a-token')$$,
  $$SELECT rollout.authenticate(repeat('0', 64))$$]) q;
SELECT login('alice', 'correct horse') AS l \gset
SELECT (:'l'::jsonb ->> 'token') AS tok \gset
SELECT :'l'::jsonb - 'token' - 'expires_at' AS login;
SELECT authenticate(:'tok') - 'admin_id' - 'expires_at' AS who;
SELECT revoke_token(:'tok') AS revoked, revoke_token(:'tok') AS again;
SELECT pg_temp.err(format('SELECT rollout.authenticate(%L)', :'tok'));
SELECT (login('mia', 'maintainer1') ->> 'token') AS tok2 \gset
UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256(convert_to(:'tok2', 'UTF8'));
SELECT pg_temp.err(format('SELECT rollout.authenticate(%L)', :'tok2'));
SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to(:'tok', 'UTF8')) AND revoked_at IS NOT NULL;
SELECT count(*) AS plaintext_tokens FROM api_tokens WHERE encode(token_hash, 'hex') IN (:'tok', :'tok2');

-- audit: every change with its actor and before/after values
SET rollout.actor = 'alice';
SELECT set_channel('panel', 'stable', rollout_percentage => 40) IS NOT NULL;
RESET rollout.actor;
SELECT actor, action, object_type, before ->> 'rollout_percentage' AS before, after ->> 'rollout_percentage' AS after
FROM audit_log WHERE object_type = 'channels' ORDER BY id DESC LIMIT 1;
SELECT object_type, action, count(*) FROM audit_log WHERE project_id = :panel GROUP BY 1, 2 ORDER BY 1, 2;
SELECT (list_audit('panel', 1, 5) ->> 'total')::int > 10 AS has_entries, jsonb_array_length(list_audit('panel', 1, 5) -> 'items') AS page;
-- direct SQL by a DBA is audited too
UPDATE versions SET title = 'by hand' WHERE id = :sqlish;
SELECT actor = session_user AS dba_actor, after ->> 'title' AS title FROM audit_log ORDER BY id DESC LIMIT 1;

-- per-project scope of the acting account
SET rollout.actor = 'mia';
SELECT (create_version('panel', '5.0.0') ->> 'id')::bigint > 0 AS maintainer_in_own_project;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_version('default', '5.0.0')$$,
  $$SELECT rollout.create_project('mine', 'Mine')$$,
  $$SELECT rollout.set_mirror('panel', 'eu', 'https://eu.example.com')$$]) q;
SET rollout.actor = 'vic';
SELECT pg_temp.err($$SELECT rollout.create_version('panel', '5.0.1')$$);
SELECT (list_versions('panel') ->> 'total')::int > 0 AS viewer_reads;
SET rollout.actor = 'ghost';
SELECT pg_temp.err($$SELECT rollout.list_versions('panel')$$);
RESET rollout.actor;

-- database roles: each may run its functions and nothing else
SET ROLE rollout_client;
SELECT (check_update('{"project": "panel", "current_version": "1.0.0", "client_id": "r1"}') ->> 'has_update')::boolean IS NOT NULL AS client_checks;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_version('panel', '6.0.0')$$,
  $$SELECT count(*) FROM rollout.stats_overview$$,
  $$SELECT count(*) FROM rollout.client_state$$]) q;
RESET ROLE;
SET ROLE rollout_reader;
SELECT count(*) > 0 AS reader_views FROM stats_overview;
SELECT count(*) >= 0 AS reader_all_views FROM stats_daily, stats_version_distribution, stats_region_distribution,
       stats_version_funnel, stats_channel_status LIMIT 1;
SELECT '1.2.3'::semver < '1.10.0' AS types_for_everyone;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT count(*) FROM rollout.versions$$,
  $$SELECT count(*) FROM rollout.admins$$,
  $$UPDATE rollout.channels SET rollout_percentage = 1$$,
  $$SELECT rollout.check_update('{"current_version": "1.0.0", "client_id": "r1"}')$$,
  $$SELECT rollout.set_channel('panel', 'beta', 1)$$,
  $$SELECT rollout.create_admin('eve', 'password123')$$]) q;
RESET ROLE;
SET ROLE rollout_maintainer;
SELECT (create_version('panel', '6.0.0') ->> 'id')::bigint > 0 AS maintainer_creates, count(*) > 0 AS maintainer_reads_views FROM stats_overview;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.create_project('x', 'x')$$,
  $$SELECT rollout.create_admin('eve', 'password123')$$,
  $$DELETE FROM rollout.versions$$]) q;
RESET ROLE;
SET ROLE rollout_admin;
SELECT (create_project('ops', 'Ops') ->> 'id')::bigint > 0 AS admin_creates_projects, jsonb_array_length(list_admins()) AS admins;
SELECT pg_temp.err($$SELECT count(*) FROM rollout.api_tokens$$);
RESET ROLE;
