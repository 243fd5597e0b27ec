/*
 * Roles and privileges: the cluster-wide roles rollout_reader,
 * rollout_client, rollout_maintainer and rollout_admin, and what each may
 * run; nothing but the semver functions is callable by PUBLIC.
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
	rollout.stats_daily, rollout.stats_version_funnel, rollout.stats_channel_status,
	rollout.stats_release_health TO rollout_reader;
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
	rollout.live_ticket(), rollout.login_metrics()
	TO rollout_reader;

GRANT EXECUTE ON FUNCTION rollout.check_update(jsonb), rollout.download_started(jsonb), rollout.install_result(jsonb),
	rollout.try_login(text, text, interval, inet), rollout.authenticate(text), rollout.revoke_token(text),
	rollout.count_download(text), rollout.redeem_live_ticket(text), rollout.begin_request(text),
	rollout.record_forwarded(jsonb)
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
