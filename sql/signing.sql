--
-- signing: signed check-update answers.  Ed25519 through OpenSSL (an RFC 8032
-- test vector), each project's keys (made at install and with every new
-- project), the private halves readable by no role a request runs as and
-- returned by no function, check_update_signed (the exact envelope, its
-- signature verifying, issued_at / expires_at / metadata_version / project),
-- metadata_version raised by every change that can alter an answer and by a
-- scheduled publish when its time comes, the answer lifetime, rotation and
-- retirement (audited).
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

-- RFC 8032 section 7.1, test 2: the signature of the one byte 0x72
SELECT encode(ed25519_sign('\x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', '\x72'), 'hex') AS signature;
SELECT ed25519_verify('\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '\x72',
		ed25519_sign('\x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', '\x72')) AS verifies,
	ed25519_verify('\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '\x73',
		ed25519_sign('\x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', '\x72')) AS other_message,
	ed25519_verify('\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '\x72', '\x00') AS short_signature;
SELECT ed25519_public_pem('\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
SELECT signing_key_id('\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c') AS keyid;
SELECT pg_temp.err($$SELECT rollout.ed25519_verify('\x00', '\x72', '\x00')$$);
SELECT pg_temp.err($$SELECT rollout.ed25519_sign('\x00', '\x72')$$);

-- the default project has one active key from the start; its key id is the protocol's
SELECT p.slug, k.status, k.algorithm, length(k.public_key) AS public_bytes, k.keyid = signing_key_id(k.public_key) AS keyid_ok,
       length(s.private_key) AS private_bytes, s.private_key <> k.public_key AS distinct_halves
FROM signing_keys k JOIN projects p ON p.id = k.project_id JOIN signing_secrets s ON s.key_id = k.id;
-- the private half makes the public half (OpenSSL derives it from the private key)
SELECT ed25519_verify(k.public_key, '\x6d657373616765', ed25519_sign(s.private_key, '\x6d657373616765')) AS pair_matches
FROM signing_keys k JOIN signing_secrets s ON s.key_id = k.id;
SELECT answer_lifetime, metadata_version, scheduled FROM project_signing;

-- a new project gets its own key
SELECT create_project('panel', 'Control panel') IS NOT NULL AS created;
SELECT p.slug, count(k.*) AS keys, count(k.*) FILTER (WHERE k.status = 'active') AS active, min(s.metadata_version) AS metadata_version
FROM projects p JOIN signing_keys k ON k.project_id = p.id JOIN project_signing s ON s.project_id = p.id
GROUP BY p.slug ORDER BY p.slug;
SELECT count(DISTINCT public_key) AS distinct_keys FROM signing_keys;

-- no role a request runs as may read a private key, nor make or use one
SELECT r.rolname, has_table_privilege(r.rolname, 'rollout.signing_secrets', 'SELECT') AS read_secrets,
       has_any_column_privilege(r.rolname, 'rollout.signing_secrets', 'SELECT') AS read_a_column,
       has_table_privilege(r.rolname, 'rollout.signing_keys', 'SELECT, INSERT, UPDATE, DELETE') AS touch_keys,
       has_function_privilege(r.rolname, 'rollout.ed25519_sign(bytea, bytea)', 'EXECUTE') AS sign,
       has_function_privilege(r.rolname, 'rollout.new_signing_key(bigint, text)', 'EXECUTE') AS make_key,
       has_function_privilege(r.rolname, 'rollout.check_update_signed(jsonb, text)', 'EXECUTE') AS signed_check,
       has_function_privilege(r.rolname, 'rollout.check_update_wire(jsonb, text)', 'EXECUTE') AS wire_check,
       has_function_privilege(r.rolname, 'rollout.rotate_signing_key(text)', 'EXECUTE') AS rotate
FROM pg_roles r WHERE r.rolname IN ('rollout_client', 'rollout_reader', 'rollout_maintainer', 'rollout_admin')
ORDER BY 1;
CREATE ROLE signing_nobody;
SELECT has_table_privilege('signing_nobody', 'rollout.signing_secrets', 'SELECT') AS public_reads_secrets;
DROP ROLE signing_nobody;
SET ROLE rollout_client;
SELECT private_key FROM rollout.signing_secrets;
SELECT public_key FROM rollout.signing_keys;
RESET ROLE;
SET ROLE rollout_admin;
SELECT private_key FROM rollout.signing_secrets;
SELECT count(*) FROM rollout.signing_secrets s JOIN rollout.signing_keys k ON k.id = s.key_id;
RESET ROLE;
-- no function the roles may run returns a private half, in any encoding
SELECT f, bool_or(strpos(out, encode(s.private_key, 'hex')) > 0 OR strpos(out, encode(s.private_key, 'base64')) > 0
				  OR strpos(out, encode(s.private_key, 'escape')) > 0) AS leaks
FROM (VALUES ('public_keys', public_keys('default')::text), ('get_signing', get_signing('default')::text),
			 ('public_key_pem', public_key_pem('default')), ('list_projects', list_projects()::text),
			 ('list_audit', list_audit()::text),
			 ('check_update_signed', (SELECT body || signature FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}'))),
			 ('check_update_wire', check_update_wire('{"current_version": "1.0.0", "client_id": "c-1"}')))
	 AS o(f, out), signing_secrets s
GROUP BY f ORDER BY f;

-- a signed answer: the exact envelope, its signature over those bytes
CREATE TEMP TABLE answer AS
SELECT body, signature, body::jsonb AS j FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}');
SELECT left(body, 35) AS starts, j -> 'code' AS code, j -> 'message' AS message,
       j -> 'data' ->> 'project' AS project, j -> 'data' -> 'metadata_version' AS metadata_version,
       j -> 'data' ->> 'issued_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS issued_format,
       ((j -> 'data' ->> 'expires_at')::timestamptz - (j -> 'data' ->> 'issued_at')::timestamptz) AS lifetime,
       abs(extract(epoch FROM (j -> 'data' ->> 'issued_at')::timestamptz - now())) < 60 AS issued_now,
       (j -> 'data') - '{issued_at,expires_at,metadata_version,project}'::text[]
         = check_update('{"current_version": "1.0.0", "client_id": "c-1"}') #- '{reason,bucket}' AS same_decision
FROM answer;
SELECT signature ~ '^keyid=[0-9a-f]{16},sig=[A-Za-z0-9+/]{86}==$' AS header_format,
       substring(signature FROM 'keyid=([0-9a-f]+)') = (SELECT keyid FROM signing_keys k JOIN projects p ON p.id = k.project_id
														 WHERE p.slug = 'default' AND k.status = 'active') AS active_key,
       verify_answer(body, signature) AS verifies,
       verify_answer(replace(body, '"code":200', '"code":201'), signature) AS tampered,
       verify_answer(body, signature, 'panel') AS other_project,
       ed25519_verify((SELECT public_key FROM signing_keys WHERE keyid = substring(signature FROM 'keyid=([0-9a-f]+)')),
					  convert_to(body, 'UTF8'), decode(substring(signature FROM 'sig=(.*)$'), 'base64')) AS raw_verify
FROM answer;
-- the message in the request's language, like the HTTP server's envelope
SELECT (body::jsonb) ->> 'message' AS zh, verify_answer(body, signature) AS verifies
FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}', 'zh-CN');
SELECT (body::jsonb) ->> 'message' AS from_locale FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "locale": "zh-CN"}');
SELECT (body::jsonb) ->> 'message' AS en FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "locale": "zh-CN"}', 'en');
-- bad requests fail as check_update's do
SELECT pg_temp.err($$SELECT * FROM rollout.check_update_signed('{"client_id": "c-1"}')$$);
SELECT pg_temp.err($$SELECT rollout.check_update_wire('{"client_id": "c-1"}')$$) AS wire_refuses_alike;
SELECT pg_temp.err($$SELECT * FROM rollout.check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "project": "nope"}')$$);

-- metadata_version grows with every change that can alter an answer
CREATE FUNCTION pg_temp.mv(project text DEFAULT 'default') RETURNS bigint LANGUAGE sql AS $$
	SELECT ((body::jsonb) -> 'data' ->> 'metadata_version')::bigint
	FROM rollout.check_update_signed(jsonb_build_object('current_version', '1.0.0', 'client_id', 'c-1', 'project', project)) $$;
CREATE TEMP TABLE mv_log (step text, mv bigint);
INSERT INTO mv_log VALUES ('start', pg_temp.mv());
SELECT create_version('default', '1.1.0', file_url => 'https://example.com/a-1.1.0.tgz') IS NOT NULL AS draft;
SELECT id AS v1 FROM versions WHERE version = '1.1.0' \gset
INSERT INTO mv_log VALUES ('create draft', pg_temp.mv());
SELECT publish_version(:v1) ->> 'status' AS published;
INSERT INTO mv_log VALUES ('publish', pg_temp.mv());
SELECT (body::jsonb) -> 'data' ->> 'latest_version' AS offered FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}');
SELECT pause_version(:v1) ->> 'status' AS paused;
INSERT INTO mv_log VALUES ('pause', pg_temp.mv());
SELECT resume_version(:v1) ->> 'status' AS resumed;
INSERT INTO mv_log VALUES ('resume', pg_temp.mv());
SELECT set_channel('default', 'stable', rollout_percentage => 50) ->> 'rollout_percentage' AS percentage;
INSERT INTO mv_log VALUES ('percentage', pg_temp.mv());
SELECT create_rule('default', 'hold', priority => 5, target_region => 'cn', rollout_config => '{"block": true}') IS NOT NULL AS rule;
SELECT id AS r1 FROM update_rules WHERE name = 'hold' \gset
INSERT INTO mv_log VALUES ('rule', pg_temp.mv());
SELECT set_mirror('default', 'cn', 'https://cn.example.com/') IS NOT NULL AS mirror;
INSERT INTO mv_log VALUES ('mirror', pg_temp.mv());
SELECT add_artifact(:v1, 'linux', 'amd64', 'https://example.com/a-1.1.0-linux.tgz') IS NOT NULL AS artifact;
INSERT INTO mv_log VALUES ('artifact', pg_temp.mv());
SELECT update_project('default', default_channel => 'beta') ->> 'default_channel' AS default_channel;
INSERT INTO mv_log VALUES ('default channel', pg_temp.mv());
SELECT update_project('default', retention_days => 30) ->> 'retention_days' AS retention;
INSERT INTO mv_log VALUES ('retention (no change of answers)', pg_temp.mv());
SELECT yank_version(:v1) ->> 'status' AS yanked;
INSERT INTO mv_log VALUES ('yank', pg_temp.mv());
SELECT delete_rule(:r1) AS rule_deleted;
INSERT INTO mv_log VALUES ('delete rule', pg_temp.mv());
SELECT step, mv, mv > lag(mv) OVER (ORDER BY ctid) AS grew FROM mv_log ORDER BY ctid;
-- another project's changes leave this one's alone
SELECT pg_temp.mv('panel') AS panel_before;
SELECT set_channel('panel', 'beta', rollout_percentage => 10) IS NOT NULL AS panel_changed;
SELECT pg_temp.mv('panel') AS panel_after, pg_temp.mv() = (SELECT max(mv) FROM mv_log) AS default_unchanged;
-- a publish at a later time changes answers when its time comes, with no write: the version grows then
SELECT create_version('default', '1.2.0', file_url => 'https://example.com/a-1.2.0.tgz') IS NOT NULL AS draft;
SELECT id AS v2 FROM versions WHERE version = '1.2.0' \gset
SELECT publish_version(:v2, at => clock_timestamp() + interval '4 seconds') ->> 'status' AS scheduled;
SELECT pg_temp.mv() AS mv_scheduled \gset
SELECT cardinality(scheduled) AS ahead FROM project_signing WHERE project_id = 1;
SELECT pg_sleep(4.2);
SELECT pg_temp.mv() - :mv_scheduled AS grew_by,
       (SELECT (body::jsonb) -> 'data' ->> 'latest_version' FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "channel": "stable"}')) AS offered;
-- and the next change never goes below what was answered
SELECT set_channel('default', 'stable', rollout_percentage => 100) IS NOT NULL AS changed;
SELECT pg_temp.mv() > :mv_scheduled + 1 AS still_above;

-- the answer lifetime, per project
SELECT set_answer_lifetime('default', '1 day') ->> 'answer_lifetime' AS lifetime;
SELECT ((body::jsonb) -> 'data' ->> 'expires_at')::timestamptz - ((body::jsonb) -> 'data' ->> 'issued_at')::timestamptz AS lifetime
FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}');
SELECT pg_temp.err($$SELECT rollout.set_answer_lifetime('default', '10 seconds')$$);
SELECT pg_temp.err($$SELECT rollout.set_answer_lifetime('default', NULL)$$);

-- rotation: a new key signs, the old one stays listed as trusted
SELECT keyid AS old_keyid FROM signing_keys WHERE project_id = 1 AND status = 'active' \gset
CREATE TEMP TABLE old_answer AS SELECT body, signature FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}');
SET rollout.actor = 'system:test';
SELECT jsonb_path_query_array(rotate_signing_key('default'), '$.keys[*].status') AS statuses;
RESET rollout.actor;
SELECT keyid = :'old_keyid' AS is_old, status FROM signing_keys WHERE project_id = 1 ORDER BY id;
SELECT substring(signature FROM 'keyid=([0-9a-f]+)') <> :'old_keyid' AS new_key_signs, verify_answer(body, signature) AS verifies
FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1"}');
SELECT verify_answer(body, signature) AS old_answer_verifies FROM old_answer;
-- retirement: the old key is no longer listed, its private half is gone, its answers no longer verify
SELECT pg_temp.err(format($$SELECT rollout.retire_signing_key('default', %L)$$,
	(SELECT keyid FROM rollout.signing_keys WHERE project_id = 1 AND status = 'active')));
SELECT pg_temp.err($$SELECT rollout.retire_signing_key('default', '0000000000000000')$$);
SELECT jsonb_array_length(retire_signing_key('default', :'old_keyid') -> 'keys') AS listed;
SELECT status, retired_at IS NOT NULL AS retired_at, EXISTS (SELECT 1 FROM signing_secrets s WHERE s.key_id = k.id) AS has_secret
FROM signing_keys k WHERE keyid = :'old_keyid';
SELECT verify_answer(body, signature) AS old_answer_verifies FROM old_answer;
SELECT replace(pg_temp.err(format($$SELECT rollout.retire_signing_key('default', %L)$$, :'old_keyid')), :'old_keyid', '<old>') AS twice;
SELECT jsonb_array_length(get_signing('default') -> 'keys') AS all_keys, jsonb_array_length(public_keys('default') -> 'keys') AS listed;
-- both steps audited, with public halves only
SELECT actor, action, object_type, before ->> 'keyid' = :'old_keyid' AS before_old, after ->> 'status' AS after_status,
       after ? 'public_key' AS public_key_shown
FROM audit_log WHERE object_type IN ('signing_keys', 'project_signing') ORDER BY id;
-- a maintainer may not rotate (the role's grant, and the account's role)
SET ROLE rollout_maintainer;
SELECT pg_temp.err($$SELECT rollout.rotate_signing_key('default')$$);
RESET ROLE;

-- a project made as a restore makes it (check_function_bodies off) has no key until one is made
SET check_function_bodies = off;
SELECT create_project('bare', 'Bare') IS NOT NULL AS created;
RESET check_function_bodies;
SELECT pg_temp.err($$SELECT * FROM rollout.check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "project": "bare"}')$$);
SELECT jsonb_array_length(rotate_signing_key('bare') -> 'keys') AS keys;
SELECT verify_answer(body, signature, 'bare') AS verifies
FROM check_update_signed('{"current_version": "1.0.0", "client_id": "c-1", "project": "bare"}');
