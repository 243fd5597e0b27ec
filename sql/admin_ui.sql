--
-- admin_ui: what the admin UI needs from the database — whoami, dashboard,
-- the decision simulator (check_update's own code path with a trace,
-- recording nothing, agreeing with check_update), exact rollout cohorts
-- (against a brute-force count with rollout_bucket), publish approvals,
-- account changes (last-admin protection, passwords), live websocket
-- tickets, audit filters, version search, default project, roles.
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
-- what a check would record, summed: it must not move while simulating
CREATE FUNCTION pg_temp.recorded() RETURNS text LANGUAGE sql AS $$
	SELECT format('clients=%s daily=%s funnel=%s cells=%s events=%s results=%s',
		(SELECT count(*) FROM rollout.client_state), (SELECT coalesce(sum(events), 0) FROM rollout.rollup_daily),
		(SELECT coalesce(sum(offered), 0) FROM rollout.rollup_funnel), (SELECT coalesce(sum(clients), 0) FROM rollout.rollup_clients),
		(SELECT count(*) FROM rollout.update_events), (SELECT count(*) FROM rollout.client_results)) $$;

-- accounts used below
SELECT (create_admin('root', 'root-password', 'admin') ->> 'id')::bigint > 0 AS root, (create_admin('ann', 'ann-password', 'admin') ->> 'id')::bigint > 0 AS ann,
       (create_admin('max', 'max-password', 'maintainer', 'default') ->> 'id')::bigint > 0 AS max,
       (create_admin('val', 'val-password', 'viewer') ->> 'id')::bigint > 0 AS val;
SELECT (create_project('other', 'Other') ->> 'id')::bigint AS other \gset
SELECT (create_admin('olga', 'olga-password', 'viewer', 'other') ->> 'id')::bigint > 0 AS olga;

-- 1. the threshold of a percentage: the one conversion the decision's cache and cohort_count use
SELECT p, rollout_threshold(p) FROM unnest(ARRAY[0, 0.01, 12.345, 33.33, 50, 99.99, 100]::numeric[]) p;

-- 2. whoami: the acting account
SET rollout.actor = 'max';
SELECT whoami() - 'admin_id' AS me;
RESET rollout.actor;
SELECT pg_temp.err('SELECT rollout.whoami()');

-- 3. default project: functions that take a project work without one
SELECT (create_version(version => '1.0.0', title => 'One', file_url => 'pkg/one.tgz') ->> 'id')::bigint AS v100 \gset
SELECT pg_temp.err($$SELECT rollout.create_version(title => 'no version')$$);
SELECT set_channel(channel => 'beta', rollout_percentage => 80) ->> 'project' AS channel_project;
SELECT pg_temp.err($$SELECT rollout.set_channel(rollout_percentage => 80)$$);
SELECT (set_mirror(region => 'cn', base_url => 'https://cn.example.com/dl') ->> 'id')::bigint > 0 AS mirror_set;
SELECT delete_mirror(region => 'cn') AS mirror_deleted, delete_mirror(region => 'cn') AS again;
SELECT pg_temp.err($$SELECT rollout.delete_mirror()$$);
SELECT (create_rule(name => 'later') ->> 'id')::bigint > 0 AS rule_made, update_project(name => 'Default!') ->> 'name' AS project_renamed;

-- 4. a project to decide in: channels, percentages, rules, min_upgrade, per-platform files, schedules
SELECT publish_version(:v100) ->> 'status' AS published;
SELECT (create_version(version => '1.1.0', rollout_percentage => 30, file_url => 'pkg/110.tgz') ->> 'id')::bigint AS v110 \gset
SELECT (add_artifact(:v110, 'linux', 'amd64', 'pkg/110-linux.tgz') ->> 'id')::bigint > 0 AS art1, (add_artifact(:v110, 'windows', 'amd64', 'pkg/110-win.zip') ->> 'id')::bigint > 0 AS art2;
SELECT (create_version(version => '1.2.0', min_upgrade_version => '1.1.0', is_forced => true) ->> 'id')::bigint AS v120 \gset
SELECT (create_version(version => '2.0.0-beta.1', channel => 'beta') ->> 'id')::bigint AS vbeta \gset
SELECT (create_version(version => '1.3.0') ->> 'id')::bigint AS v130 \gset
SELECT (create_version(version => '1.2.5') ->> 'id')::bigint AS v125 \gset
SELECT count(publish_version(id)) AS published FROM versions WHERE id IN (:v110, :v120, :vbeta, :v125);
SELECT publish_version(:v130, now() + interval '1 day') ->> 'status' AS scheduled, pause_version(:v125) ->> 'status' AS paused;
SELECT (set_mirror(region => 'global', base_url => 'https://dl.example.com') ->> 'id')::bigint > 0 AS mirror;
SELECT (create_rule(name => 'eu pinned', priority => 5, target_region => 'eu', rollout_config => '{"pin": "1.1.0"}') ->> 'id')::bigint > 0,
       (create_rule(name => 'mars blocked', priority => 4, target_region => 'mars', rollout_config => '{"block": true}') ->> 'id')::bigint > 0,
       (create_rule(name => 'cn half', priority => 3, target_region => 'cn', rollout_config => '{"percentage": 50}') ->> 'id')::bigint > 0,
       (create_rule(name => 'us beta', priority => 2, target_region => 'us', rollout_config => '{"channel": "beta"}') ->> 'id')::bigint > 0;
-- a yanked release: its clients go back to the newest good one
SELECT (create_project('yank', 'Yank') ->> 'id')::bigint > 0 AS yank_project;
SELECT publish_version((create_version('yank', '1.0.0') ->> 'id')::bigint) ->> 'status', yank_version((publish_version((create_version('yank', '1.1.0') ->> 'id')::bigint) ->> 'id')::bigint) ->> 'status';

-- 5. the simulator: check_update's answer plus steps, recording nothing
SELECT pg_temp.recorded() AS before_simulating \gset
SELECT s ->> 'latest_version' AS offered, s -> 'reason' ->> 'why_not' AS why_not, st ->> 'version' AS version,
       st ->> 'outcome' AS outcome, (st -> 'detail') - 'publish_time' AS detail
FROM simulate_check(current_version => '1.0.0', client_id => 'sim-1', os => 'linux', arch => 'amd64') s,
     jsonb_array_elements(s -> 'steps') st WHERE st ->> 'step' = 'candidate';
SELECT jsonb_path_query_array(s, '$.steps[*].step') AS steps, s -> 'steps' -> -1 AS last
FROM simulate_check(current_version => '1.0.0', client_id => 'sim-1', os => 'linux', arch => 'amd64') s;
SELECT st ->> 'step' AS step, st ->> 'version' AS version, st ->> 'outcome' AS outcome,
       (st -> 'detail') - 'salt' - 'publish_time' - 'project_id' AS detail
FROM simulate_check(current_version => '1.1.0', client_id => 'sim-2', region => 'eu', os => 'windows', arch => 'amd64') s,
     jsonb_array_elements(s -> 'steps') st;
SELECT jsonb_path_query_array(s, '$.steps[*].outcome') AS outcomes
FROM simulate_check(current_version => '1.0.0', client_id => 'sim-3', region => 'mars') s;
SELECT s ->> 'latest_version' AS offered, s ->> 'is_rollback' AS rollback, jsonb_path_query_array(s, '$.steps[*].outcome') AS outcomes
FROM simulate_check('yank', current_version => '1.1.0', client_id => 'sim-4') s;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.simulate_check(client_id => 'x')$$,
  $$SELECT rollout.simulate_check(current_version => '1.0', client_id => 'x')$$,
  $$SELECT rollout.simulate_check(current_version => '1.0.0')$$,
  $$SELECT rollout.simulate_check('nope', current_version => '1.0.0', client_id => 'x')$$,
  $$SELECT rollout.simulate_check(current_version => '1.0.0', client_id => 'x', channel => 'nightly')$$,
  $$SELECT rollout.simulate_check(current_version => '1.0.0', client_id => 'bad id')$$]) q;
-- even where the project records raw check events
SELECT update_project(record_check_events => true) ->> 'record_check_events' AS records_events;
SELECT count(simulate_check(current_version => '1.0.0', client_id => 'sim-' || i)) AS simulated FROM generate_series(1, 50) i;
SELECT pg_temp.recorded() = :'before_simulating' AS simulating_recorded_nothing, pg_temp.recorded() AS now;

-- the simulator agrees with check_update, for many clients and every kind of case
CREATE TEMP TABLE asked AS
SELECT i, jsonb_strip_nulls(jsonb_build_object(
		'current_version', (ARRAY['0.9.0', '1.0.0', '1.1.0', '1.2.0', '1.0.0-rc.1'])[1 + i % 5],
		'client_id', 'agree-' || i,
		'region', (ARRAY['eu', 'cn', 'us', 'mars', NULL, 'global'])[1 + i % 6],
		'channel', (ARRAY['stable', 'beta', NULL])[1 + i % 3],
		'os', (ARRAY['linux', 'windows', 'macos', NULL])[1 + i % 4],
		'arch', 'amd64', 'locale', 'zh-CN')) AS req
FROM generate_series(1, 600) i;
CREATE TEMP TABLE answers AS
SELECT i, req, (simulate_check(req ->> 'project', req ->> 'current_version', req ->> 'channel', req ->> 'client_id',
							   req ->> 'region', req ->> 'os', req ->> 'arch', req ->> 'locale')) AS sim
FROM asked;
ALTER TABLE answers ADD COLUMN chk jsonb;
UPDATE answers SET chk = check_update(req);
SELECT count(*) AS asked, count(*) FILTER (WHERE sim - 'steps' = chk) AS agree,
       count(DISTINCT chk ->> 'latest_version') AS offers, count(DISTINCT coalesce(chk -> 'reason' ->> 'why_not', chk -> 'reason' ->> 'why_not_newer')) AS reasons,
       count(*) FILTER (WHERE chk -> 'reason' -> 'rule' IS NOT NULL AND chk -> 'reason' -> 'rule' <> 'null') AS with_rule,
       count(*) FILTER (WHERE (chk -> 'reason' ->> 'stepping_stone')::boolean) AS stepping_stones
FROM answers;
SELECT coalesce(chk -> 'reason' ->> 'why_not', chk -> 'reason' ->> 'why_not_newer', 'newest') AS why, count(*) > 0 AS seen
FROM answers GROUP BY 1 ORDER BY 1;
-- the trace's verdict is the answer: its chosen candidate is what is offered
SELECT count(*) FILTER (WHERE (SELECT st ->> 'version' FROM jsonb_array_elements(sim -> 'steps') st
							  WHERE st ->> 'outcome' = 'chosen') IS NOT DISTINCT FROM chk ->> 'latest_version') AS trace_matches
FROM answers;
SELECT simulate_check('yank', current_version => '1.1.0', client_id => 'y1') - 'steps' = check_update('{"project": "yank", "current_version": "1.1.0", "client_id": "y1"}') AS rollback_agrees;

-- 6. cohorts: exact counts with the decision's own bucket and threshold
SELECT count(check_update(jsonb_build_object('current_version', (ARRAY['1.0.0', '0.9.0', '1.1.0', '2.0.0'])[1 + i % 4],
       'client_id', 'pop-' || i, 'channel', (ARRAY['stable', 'beta', 'alpha'])[1 + i % 3],
       'os', (ARRAY['linux', 'windows', 'macos'])[1 + i % 3], 'arch', 'amd64'))) AS population
FROM generate_series(1, 3000) i;
SELECT c - 'version_id' AS cohort FROM cohort_count(:v110, 12.5) c;
-- brute force: the audience written out, the bucket under "project@version", the threshold of the percentage
SELECT p, (cohort_count(:v110, p) ->> 'inside')::bigint AS inside,
       (SELECT count(*) FROM client_state cs JOIN channels c ON c.project_id = cs.project_id AND c.name = cs.channel
        WHERE cs.project_id = 1 AND c.rank >= 0 AND cs.current_version < '1.1.0' AND cs.os IN ('linux', 'windows') AND cs.arch = 'amd64'
          AND rollout_bucket(cs.client_id, 'default@1.1.0') < round(p * 100)) AS brute_force,
       (SELECT count(*) FROM client_state cs
        WHERE cs.project_id = 1 AND cs.current_version < '1.1.0' AND cs.os IN ('linux', 'windows')
          AND in_rollout(cs.client_id, 'default@1.1.0', p)) AS in_rollout
FROM unnest(ARRAY[0, 0.01, 12.5, 30, 50, 99.99, 100]::numeric[]) p;
-- and the decision agrees: exactly inside_now of the audience are offered 1.1.0 (alone in its own project)
SELECT (create_project('solo', 'Solo') ->> 'id')::bigint > 0 AS solo;
SELECT (create_version('solo', '1.0.0', rollout_percentage => 37.5) ->> 'id')::bigint AS solo1 \gset
SELECT publish_version(:solo1) ->> 'status' AS published;
SELECT count(check_update(jsonb_build_object('project', 'solo', 'current_version', '0.5.0', 'client_id', 'solo-' || i))) AS checked
FROM generate_series(1, 2000) i;
SELECT (cohort_count(:solo1) ->> 'inside_now')::bigint AS inside_now, (cohort_count(:solo1) ->> 'audience')::bigint AS audience,
       (SELECT count(*) FROM generate_series(1, 2000) i
        WHERE (check_update(jsonb_build_object('project', 'solo', 'current_version', '0.5.0', 'client_id', 'solo-' || i))
               ->> 'has_update')::boolean) AS offered;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.cohort_count(1, 100.01)$$,
  $$SELECT rollout.cohort_count(1, -1)$$,
  $$SELECT rollout.cohort_count(1, 'NaN')$$,
  $$SELECT rollout.cohort_count(999999, 10)$$]) q;

-- 7. dashboard
SELECT d ->> 'active_24h' AS active_before, d ->> 'total_clients' AS total_before FROM dashboard() d \gset
SELECT d - 'channels' - 'trend' AS dashboard, jsonb_array_length(d -> 'trend') AS days,
       (d -> 'channels' -> 0) - 'version_id' - 'publish_time' AS stable, d -> 'trend' -> 6 ->> 'checks' AS checks_today
FROM dashboard() d;
SELECT pg_temp.err($$SELECT rollout.dashboard('nope')$$);
-- a client that upgrades during the day is still one active client (the daily rollup has a row per version)
BEGIN;
SELECT check_update('{"current_version": "0.1.0", "client_id": "upgrader", "os": "linux", "arch": "amd64"}') IS NOT NULL AS checked;
SELECT check_update('{"current_version": "0.2.0", "client_id": "upgrader", "os": "linux", "arch": "amd64"}') IS NOT NULL AS checked;
SELECT (d ->> 'active_24h')::int - :'active_before'::int AS new_active, (d ->> 'total_clients')::int - :'total_before'::int AS new_total
FROM dashboard() d;
ROLLBACK;

-- 8. approvals: a maintainer's publish becomes a request; an admin approves or rejects; each step audited
SELECT update_project(require_approval => true) ->> 'require_approval' AS require_approval;
SELECT (create_version(version => '3.0.0') ->> 'id')::bigint AS v300 \gset
SELECT (create_version(version => '3.1.0') ->> 'id')::bigint AS v310 \gset
SET rollout.actor = 'max';
SELECT pg_temp.err(format('SELECT rollout.publish_version(%s)', :v300));
SELECT r -> 'version' ->> 'status' AS status, (r -> 'approval') - 'id' - 'version_id' - 'requested_at' AS approval
FROM publish(:v300) r;
SELECT (publish(:v300, '2030-01-01 00:00+00') -> 'approval' ->> 'publish_at') AS rescheduled;
SELECT count(*) AS one_request FROM approvals WHERE version_id = :v300;
SELECT publish(:v310) -> 'approval' ->> 'status' AS second;
SELECT pg_temp.err(format('SELECT rollout.approve_publish(%s)', (SELECT id FROM approvals WHERE version_id = :v300)));
SELECT jsonb_array_length(list_approvals(status => 'pending')) AS pending;
SET rollout.actor = 'olga';
SELECT pg_temp.err($$SELECT rollout.list_approvals()$$);
SET rollout.actor = 'root';
SELECT (dashboard() ->> 'pending_approvals')::int AS pending_on_dashboard;
SELECT r -> 'approval' ->> 'status' AS status, r -> 'approval' ->> 'decided_by' AS decided_by, r -> 'approval' ->> 'comment' AS comment,
       r -> 'version' ->> 'status' AS version_status, r -> 'version' ->> 'publish_time' AS publish_time
FROM approve_publish((SELECT id FROM approvals WHERE version_id = :v300), 'ship it') r;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  format('SELECT rollout.approve_publish(%s)', (SELECT id FROM approvals WHERE version_id = :v300)),
  format('SELECT rollout.reject_publish(%s)', (SELECT id FROM approvals WHERE version_id = :v310)),
  format('SELECT rollout.reject_publish(%s, %L)', (SELECT id FROM approvals WHERE version_id = :v310), '  '),
  'SELECT rollout.approve_publish(999999)',
  $$SELECT rollout.list_approvals(status => 'open')$$]) q;
SELECT r -> 'approval' ->> 'status' AS status, r -> 'approval' ->> 'comment' AS comment, r -> 'version' ->> 'status' AS version_status
FROM reject_publish((SELECT id FROM approvals WHERE version_id = :v310), 'notes missing') r;
-- an admin publishes directly; so does a DBA without an account
SELECT publish(:v310) -> 'approval' AS admin_needs_none;
RESET rollout.actor;
SELECT publish_version((create_version(version => '3.2.0') ->> 'id')::bigint) ->> 'status' AS dba_publishes;
-- a maintainer's version in an auto-publishing channel waits for approval too
SELECT set_channel(channel => 'alpha', auto_publish => true) ->> 'auto_publish' AS alpha_auto;
SET rollout.actor = 'max';
SELECT (create_version(version => '4.0.0-alpha.1', channel => 'alpha') ->> 'id')::bigint AS alpha1 \gset
SET rollout.actor = 'root';
SELECT (create_version(version => '4.0.0-alpha.2', channel => 'alpha') ->> 'id')::bigint AS alpha2 \gset
RESET rollout.actor;
SELECT tag, status FROM versions WHERE id IN (:alpha1, :alpha2) ORDER BY tag;
SELECT a ->> 'version' AS version, a ->> 'status' AS status, a ->> 'requested_by' AS requested_by, a ->> 'decided_by' AS decided_by
FROM jsonb_array_elements(list_approvals()) a ORDER BY a ->> 'version';
SELECT actor, action, after ->> 'status' AS status FROM audit_log WHERE object_type = 'approvals' ORDER BY id;

-- 9. accounts: changes, last-admin protection, passwords
SET rollout.actor = 'root';
SELECT u - 'id' - 'created_at' - 'updated_at' AS val FROM update_admin((SELECT id FROM admins WHERE username = 'val'), project => 'other') u;
SELECT update_admin((SELECT id FROM admins WHERE username = 'val'), clear => '{project}') ->> 'project' AS unscoped;
SELECT update_admin((SELECT id FROM admins WHERE username = 'ann'), is_active => false) ->> 'is_active' AS ann_active;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  format('SELECT rollout.update_admin(%s, role => %L)', (SELECT id FROM admins WHERE username = 'root'), 'viewer'),
  format('SELECT rollout.update_admin(%s, is_active => false)', (SELECT id FROM admins WHERE username = 'root')),
  format('SELECT rollout.update_admin(%s, role => %L)', (SELECT id FROM admins WHERE username = 'val'), 'maintainer'),
  format('SELECT rollout.update_admin(%s, role => %L)', (SELECT id FROM admins WHERE username = 'val'), 'owner'),
  format('SELECT rollout.update_admin(%s, project => %L)', (SELECT id FROM admins WHERE username = 'val'), 'nope'),
  format('SELECT rollout.update_admin(%s, clear => %L)', (SELECT id FROM admins WHERE username = 'val'), '{role}'),
  'SELECT rollout.update_admin(999999, role => ''viewer'')']) q;
-- with a second active admin, the first may step down
SELECT update_admin((SELECT id FROM admins WHERE username = 'ann'), is_active => true) ->> 'is_active' AS ann_back;
SELECT update_admin((SELECT id FROM admins WHERE username = 'root'), role => 'viewer') ->> 'role' AS root_steps_down;
SET rollout.actor = 'ann';
SELECT update_admin((SELECT id FROM admins WHERE username = 'root'), role => 'admin') ->> 'role' AS root_again;
SET rollout.actor = 'max';
SELECT pg_temp.err(format('SELECT rollout.update_admin(%s, role => %L)', (SELECT id FROM admins WHERE username = 'max'), 'admin'));
SELECT pg_temp.err(format('SELECT rollout.reset_password(%s, %L)', (SELECT id FROM admins WHERE username = 'val'), 'new-password-1'));
RESET rollout.actor;
-- reset: the account's login tokens end, its API tokens stay
SELECT login('val', 'val-password') ->> 'token' AS val_login \gset
SET rollout.actor = 'val';
SELECT create_api_token('ci') ->> 'token' AS val_api \gset
SET rollout.actor = 'root';
SELECT r - 'admin_id' AS reset FROM reset_password((SELECT id FROM admins WHERE username = 'val'), 'new-password-1') r;
SELECT pg_temp.err(format('SELECT rollout.authenticate(%L)', :'val_login')) AS login_token,
       authenticate(:'val_api') ->> 'username' AS api_token;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  format('SELECT rollout.reset_password(%s, %L)', (SELECT id FROM admins WHERE username = 'val'), 'short'),
  'SELECT rollout.reset_password(999999, ''long-enough'')',
  $$SELECT rollout.login('val', 'val-password')$$]) q;
SELECT login('val', 'new-password-1') ->> 'username' AS logs_in_with_new;
-- change: one's own, given the current password
SET rollout.actor = 'val';
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.change_password('wrong-password', 'newer-password-2')$$,
  $$SELECT rollout.change_password('new-password-1', 'short')$$]) q;
SELECT c - 'admin_id' AS changed FROM change_password('new-password-1', 'newer-password-2') c;
RESET rollout.actor;
SELECT login('val', 'newer-password-2') ->> 'username' AS logs_in_with_newer;
SELECT pg_temp.err($$SELECT rollout.change_password('a', 'b')$$);
SELECT actor, action, object_type, after - 'updated_at' - 'created_at' - 'id' AS after
FROM audit_log WHERE object_type = 'admins' AND action NOT IN ('login', 'insert') ORDER BY id;

-- 10. live tickets: single use, 30 seconds, for an active account
SET rollout.actor = 'olga';
SELECT live_ticket() AS t \gset
SELECT (:'t'::jsonb ->> 'ticket') ~ '^[0-9a-f]{64}$' AS random,
       (:'t'::jsonb ->> 'expires_at')::timestamptz - now() BETWEEN interval '25 seconds' AND interval '35 seconds' AS thirty_seconds;
RESET rollout.actor;
SELECT r - 'admin_id' AS redeemed FROM redeem_live_ticket(:'t'::jsonb ->> 'ticket') r;
SELECT pg_temp.err(format('SELECT rollout.redeem_live_ticket(%L)', :'t'::jsonb ->> 'ticket')) AS second_use;
SET rollout.actor = 'olga';
SELECT live_ticket() ->> 'ticket' AS t2 \gset
SELECT live_ticket() ->> 'ticket' AS t3 \gset
RESET rollout.actor;
UPDATE live_tickets SET expires_at = clock_timestamp() - interval '1 second' WHERE ticket_hash = sha256(convert_to(:'t2', 'UTF8'));
SET rollout.actor = 'root';
SELECT update_admin((SELECT id FROM admins WHERE username = 'olga'), is_active => false) ->> 'is_active' AS olga_active;
RESET rollout.actor;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  format('SELECT rollout.redeem_live_ticket(%L)', :'t2'),
  format('SELECT rollout.redeem_live_ticket(%L)', :'t3'),
  'SELECT rollout.redeem_live_ticket(''not-a-ticket'')',
  format('SELECT rollout.redeem_live_ticket(%L)', repeat('0', 64))]) q;
SELECT count(*) AS tickets_stored_as_hashes FROM live_tickets WHERE encode(ticket_hash, 'hex') IN (:'t2', :'t3');

-- 11. audit filters and version search
SELECT (list_audit('default', actor => 'max') ->> 'total')::int > 0 AS by_actor,
       (SELECT bool_and(i ->> 'actor' = 'max') FROM jsonb_array_elements(list_audit('default', actor => 'max') -> 'items') i) AS only_max,
       (list_audit(action => 'reset_password') ->> 'total')::int AS resets,
       (list_audit('default', object_type => 'approvals', action => 'insert') ->> 'total')::int AS requests,
       (list_audit("from" => now() + interval '1 hour') ->> 'total')::int AS future,
       (list_audit("to" => now() - interval '1 hour') ->> 'total')::int AS past,
       (list_audit("from" => now() - interval '1 hour', "to" => now() + interval '1 hour') ->> 'total')::int
         = (list_audit() ->> 'total')::int AS window_has_all;
SELECT pg_temp.err($$SELECT rollout.list_audit("from" => now(), "to" => now() - interval '1 day')$$);
SELECT q, list_versions(q => q) ->> 'total' AS total, jsonb_path_query_array(list_versions(q => q) -> 'items', '$[*].tag') AS tags
FROM unnest(ARRAY['1.1', 'BETA', 'one', '%', '', 'zzz']) q;
SELECT pg_temp.err(format('SELECT rollout.list_versions(q => %L)', repeat('x', 201)));

-- 12. database roles: each new function for its role only
SET ROLE rollout_client;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  'SELECT rollout.whoami()', 'SELECT rollout.dashboard()', 'SELECT rollout.live_ticket()',
  $$SELECT rollout.simulate_check(current_version => '1.0.0', client_id => 'x')$$,
  $$SELECT rollout.simulate_decision('{"current_version": "1.0.0", "client_id": "x"}')$$]) q;
RESET ROLE;
SET ROLE rollout_reader;
SELECT (dashboard() ->> 'total_clients')::int > 0 AS reader_dashboard, cohort_count(:v110) ->> 'audience' IS NOT NULL AS reader_cohort,
       simulate_check(current_version => '1.0.0', client_id => 'r') ? 'steps' AS reader_simulates;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  $$SELECT rollout.simulate_decision('{"current_version": "1.0.0", "client_id": "x"}')$$,
  'SELECT rollout.publish(1)', 'SELECT rollout.approve_publish(1)', 'SELECT rollout.reset_password(1, ''long-enough'')',
  'SELECT rollout.update_admin(1)', 'SELECT rollout.redeem_live_ticket(''x'')']) q;
RESET ROLE;
SET ROLE rollout_maintainer;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
  'SELECT rollout.approve_publish(1)', 'SELECT rollout.reject_publish(1, ''no'')',
  'SELECT rollout.update_admin(1)', 'SELECT rollout.reset_password(1, ''long-enough'')']) q;
RESET ROLE;
