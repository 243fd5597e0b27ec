--
-- check_update: every step of SPEC §7 — validation, channel inclusion by
-- rank, scheduled publishing, os/arch artifacts, rules by priority (block,
-- pin, percentage, channel), rollout by bucket with fall-back, stepping
-- stones, forced propagation, mirrors, localisation, pause, yank/rollback,
-- rollout proportions and monotonicity over 10,000 clients.
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
-- a check for client cid at version cur, with extra request fields
CREATE FUNCTION pg_temp.chk(cur text, cid text DEFAULT 'c1', extra jsonb DEFAULT '{}') RETURNS jsonb
	LANGUAGE sql AS $$ SELECT rollout.check_update(jsonb_build_object('current_version', cur, 'client_id', cid) || extra) $$;
-- the offered tag, or '-'
CREATE FUNCTION pg_temp.offer(cur text, cid text DEFAULT 'c1', extra jsonb DEFAULT '{}') RETURNS text
	LANGUAGE sql AS $$ SELECT coalesce(pg_temp.chk(cur, cid, extra) ->> 'latest_version', '-') $$;
CREATE FUNCTION pg_temp.v(tag text) RETURNS bigint
	LANGUAGE sql AS $$ SELECT id FROM rollout.versions WHERE tag = $1 $$;

-- 1. validation: each bad request names its field
SELECT q, pg_temp.err(format('SELECT rollout.check_update(%L)', q)) FROM unnest(ARRAY[
  '{"client_id": "c1"}',
  '{"current_version": "1.0.0"}',
  '{"current_version": "1.0", "client_id": "c1"}',
  '{"current_version": 100, "client_id": "c1"}',
  '{"current_version": "1.0.0", "client_id": ""}',
  '{"current_version": "1.0.0", "client_id": "has space"}',
  '{"current_version": "1.0.0", "client_id": "c1", "project": "nope"}',
  '{"current_version": "1.0.0", "client_id": "c1", "project": "Bad Slug"}',
  '{"current_version": "1.0.0", "client_id": "c1", "channel": "nightly"}',
  '{"current_version": "1.0.0", "client_id": "c1", "region": "cn;drop"}',
  '{"current_version": "1.0.0", "client_id": "c1", "os": ["linux"]}',
  '{"current_version": "1.0.0", "client_id": "c1", "locale": "english please"}',
  '{"current_version": "1.0.0", "client_id": "c1", "ip": "not an ip"}',
  '[1, 2]'
]) q;
SELECT pg_temp.err($$SELECT rollout.check_update(jsonb_build_object('current_version', '1.0.0', 'client_id', repeat('x', 129)))$$);
SELECT pg_temp.err('SELECT rollout.check_update(NULL)');

-- a project with releases on every channel
SELECT (create_version('default', 'v1.0.0', title => 'One') ->> 'id')::bigint AS v100 \gset
SELECT (create_version('default', 'v1.1.0', title => 'One one', is_forced => true) ->> 'id')::bigint AS v110 \gset
SELECT (create_version('default', 'v1.2.0', title => 'One two', file_url => 'pkg/app-1.2.0.tgz',
                      file_size => 1200, file_checksum => 'sha256:' || repeat('1', 64)) ->> 'id')::bigint AS v120 \gset
SELECT (create_version('default', '2.0.0-beta.1', channel => 'beta', title => 'Two beta') ->> 'id')::bigint AS v2b \gset
SELECT (create_version('default', '2.1.0-alpha.1', channel => 'alpha') ->> 'id')::bigint AS v2a \gset
SELECT count(*) FILTER (WHERE publish_version(id) IS NOT NULL) AS published FROM versions;

-- 2. candidates: newer, published, by channel rank
SELECT pg_temp.offer('1.0.0') AS stable, pg_temp.offer('1.0.0', 'c1', '{"channel": "beta"}') AS beta,
       pg_temp.offer('1.0.0', 'c1', '{"channel": "alpha"}') AS alpha, pg_temp.offer('1.2.0') AS latest,
       pg_temp.offer('9.0.0') AS newer_than_all, pg_temp.offer('v1.2.0+local.build') AS build_ignored;
SELECT pg_temp.chk('1.0.0') - 'reason' - 'publish_time' AS response;
SELECT pg_temp.chk('1.2.0') -> 'reason' AS up_to_date;
-- an inactive channel offers nothing of its own
SELECT set_channel('default', 'beta', is_active => false) ->> 'is_active' AS beta_active;
SELECT pg_temp.offer('1.0.0', 'c1', '{"channel": "beta"}') AS beta_off, pg_temp.offer('1.0.0', 'c1', '{"channel": "alpha"}') AS alpha_still;
SELECT set_channel('default', 'beta', is_active => true) ->> 'is_active' AS beta_active;

-- scheduled publishing: not before its time
SELECT (create_version('default', 'v1.3.0') ->> 'id')::bigint AS v130 \gset
SELECT publish_version(:v130, now() + interval '1 day') ->> 'status' AS status;
SELECT pg_temp.offer('1.0.0') AS scheduled_not_offered;
UPDATE versions SET publish_time = now() - interval '1 minute' WHERE id = :v130;
SELECT pg_temp.offer('1.0.0') AS now_offered;
-- drafts and paused versions are not offered
SELECT pause_version(:v130) ->> 'status' AS status, pg_temp.offer('1.0.0') AS paused_skipped;
SELECT resume_version(:v130) ->> 'status' AS status, pg_temp.offer('1.0.0') AS resumed;

-- os/arch artifacts: a version with artifacts needs one for the client
SELECT (add_artifact(:v130, 'linux', 'amd64', 'pkg/app-1.3.0-linux-amd64.tgz', 1300, 'sha256:' || repeat('3', 64)) ->> 'id')::bigint > 0 AS added;
SELECT pg_temp.offer('1.0.0', 'c1', '{"os": "linux", "arch": "amd64"}') AS linux_amd64,
       pg_temp.offer('1.0.0', 'c1', '{"os": "Linux", "arch": "AMD64"}') AS case_folded,
       pg_temp.offer('1.0.0', 'c1', '{"os": "linux", "arch": "arm64"}') AS linux_arm64,
       pg_temp.offer('1.0.0', 'c1', '{"os": "windows", "arch": "amd64"}') AS windows,
       pg_temp.offer('1.0.0') AS no_platform;

-- 7. download URLs: artifact first, relative paths through the region's mirror
SELECT (set_mirror('default', 'cn', 'https://cn.example.com/dl/') ->> 'id')::bigint > 0, (set_mirror('default', 'global', 'https://dl.example.com') ->> 'id')::bigint > 0;
SELECT r ->> 'download_url' AS url, r ->> 'file_size' AS size, left(r ->> 'file_checksum', 12) AS checksum
FROM unnest(ARRAY[pg_temp.chk('1.0.0', 'c1', '{"os": "linux", "arch": "amd64", "region": "cn"}'),
                  pg_temp.chk('1.0.0', 'c1', '{"os": "linux", "arch": "amd64", "region": "us"}'),
                  pg_temp.chk('1.0.0', 'c1', '{"os": "windows", "arch": "amd64", "region": "cn"}')]) r;
SELECT (add_artifact(:v130, 'darwin', 'arm64', 'https://cdn.example.org/app-1.3.0.dmg') ->> 'id')::bigint > 0 AS absolute;
SELECT pg_temp.chk('1.0.0', 'c1', '{"os": "darwin", "arch": "arm64", "region": "cn"}') ->> 'download_url' AS absolute_url_kept;
DELETE FROM artifacts;

-- 6. forced: any eligible release in (current, target] is forced
SELECT pg_temp.chk('1.0.0') ->> 'is_forced' AS from_100, pg_temp.chk('1.1.0') ->> 'is_forced' AS from_110;

-- 5. stepping stones: 2.0.0 needs 1.3.0 first
SELECT (create_version('default', 'v2.0.0', min_upgrade_version => '1.3.0') ->> 'id')::bigint AS v200 \gset
SELECT publish_version(:v200) ->> 'status' AS status;
SELECT r ->> 'latest_version' AS offered, r -> 'reason' ->> 'stepping_stone' AS stone, r -> 'reason' ->> 'final_target' AS final
FROM unnest(ARRAY[pg_temp.chk('1.0.0'), pg_temp.chk('1.2.9'), pg_temp.chk('1.3.0')]) r;

-- localisation: locale, then language, then the default
UPDATE versions SET title_i18n = '{"zh-CN": "二点零", "zh": "二", "de": "Zwei"}',
                    release_notes = 'Notes', release_notes_i18n = '{"zh-CN": "说明"}' WHERE id = :v200;
SELECT l AS locale, r ->> 'title' AS title, r ->> 'release_notes' AS notes
FROM unnest(ARRAY['zh-CN', 'zh-TW', 'zh_CN', 'de-AT', 'fr', 'en']) l, LATERAL pg_temp.chk('1.3.0', 'c1', jsonb_build_object('locale', l)) r;

-- 3. rules: the enabled matching rule with the highest priority wins
SELECT (create_rule('default', 'block old clients', priority => 10, target_version_range => '<1.1.0',
                   rollout_config => '{"block": true}') ->> 'id')::bigint AS r_block \gset
SELECT (create_rule('default', 'pin windows', priority => 5, target_os => 'windows',
                   rollout_config => '{"pin": "1.2.0"}') ->> 'id')::bigint AS r_pin \gset
SELECT (create_rule('default', 'cn slow', priority => 1, target_region => 'cn',
                   rollout_config => '{"percentage": 0}') ->> 'id')::bigint AS r_cn \gset
SELECT (create_rule('default', 'testers get beta', priority => 20, target_region => 'lab',
                   rollout_config => '{"channel": "beta"}') ->> 'id')::bigint AS r_lab \gset
SELECT pg_temp.offer('1.0.0') AS blocked, pg_temp.chk('1.0.0') -> 'reason' ->> 'why_not' AS why,
       pg_temp.chk('1.0.0') -> 'reason' -> 'rule' ->> 'name' AS rule;
SELECT pg_temp.offer('1.1.0', 'c1', '{"os": "windows", "arch": "amd64"}') AS pinned,
       pg_temp.offer('1.1.0', 'c1', '{"os": "linux", "arch": "amd64"}') AS unpinned;
SELECT pg_temp.offer('1.3.0', 'c1', '{"region": "cn"}') AS cn_zero_percent, pg_temp.offer('1.3.0', 'c1', '{"region": "lab"}') AS lab_beta;
-- a version's own percentage beats the rule's
UPDATE versions SET rollout_percentage = 100 WHERE id = :v200;
SELECT pg_temp.offer('1.3.0', 'c1', '{"region": "cn"}') AS version_override;
UPDATE versions SET rollout_percentage = NULL WHERE id = :v200;
-- disabled rules do not match; a higher priority rule wins
SELECT update_rule(:r_block, enabled => false) ->> 'enabled' AS enabled, pg_temp.offer('1.0.0') AS unblocked;
SELECT (create_rule('default', 'cn full', priority => 2, target_region => 'cn', rollout_config => '{"percentage": 100}') ->> 'id')::bigint > 0;
SELECT pg_temp.offer('1.3.0', 'c1', '{"region": "cn"}') AS higher_priority_wins;
DELETE FROM update_rules;

-- 4. rollout by bucket: proportions, monotonicity, fall-back to an older release
SELECT set_channel('default', 'stable', rollout_percentage => 30) ->> 'rollout_percentage' AS pct;
CREATE TEMP TABLE at30 AS
SELECT i, pg_temp.offer('1.3.0', 'client-' || i) AS got FROM generate_series(1, 10000) i;
SELECT count(*) FILTER (WHERE got = 'v2.0.0') AS offered, abs(count(*) FILTER (WHERE got = 'v2.0.0') / 100.0 - 30) <= 1.5 AS within_1_5_points
FROM at30;
SELECT count(*) AS disagree_with_bucket FROM at30
WHERE (got = 'v2.0.0') <> in_rollout('client-' || i, 'default@2.0.0', 30);
SELECT set_channel('default', 'stable', rollout_percentage => 55.5) ->> 'rollout_percentage' AS pct;
CREATE TEMP TABLE at55 AS
SELECT i, pg_temp.offer('1.3.0', 'client-' || i) AS got FROM generate_series(1, 10000) i;
SELECT abs(count(*) FILTER (WHERE b.got = 'v2.0.0') / 100.0 - 55.5) <= 1.5 AS within_1_5_points,
       count(*) FILTER (WHERE a.got = 'v2.0.0' AND b.got <> 'v2.0.0') AS lost_when_raised
FROM at30 a JOIN at55 b USING (i);
-- clients outside the newest release get the newest one they are inside of
SELECT got, count(*) > 0 AS some FROM (SELECT pg_temp.offer('1.2.0', 'client-' || i) AS got FROM generate_series(1, 2000) i) s
GROUP BY got ORDER BY got;
SELECT count(*) AS nothing_offered FROM generate_series(1, 2000) i
WHERE pg_temp.offer('1.2.0', 'client-' || i) = '-' AND in_rollout('client-' || i, 'default@1.3.0', 55.5);
SELECT pg_temp.chk('1.2.0', 'client-7') -> 'reason' AS reason_for_a_client;
SELECT set_channel('default', 'stable', rollout_percentage => 100) ->> 'rollout_percentage' AS pct;

-- yank: never offered, and clients running it roll back to the newest good release
SELECT yank_version(:v200) ->> 'status' AS status;
SELECT pg_temp.offer('1.3.0') AS yanked_not_offered;
SELECT r ->> 'latest_version' AS offered, r ->> 'is_rollback' AS rollback, r ->> 'is_forced' AS forced
FROM pg_temp.chk('2.0.0') r;
SELECT pg_temp.err(format('SELECT rollout.pause_version(%s)', :v200));
SELECT pg_temp.err(format('SELECT rollout.delete_version(%s)', :v130));
SELECT delete_version(:v200) AS deleted;
