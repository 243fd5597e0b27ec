\echo Use "ALTER EXTENSION rollout UPDATE TO '0.4.0'" to load this file. \quit

/*
 * rollout 0.4.0: what 0.4.0 adds to 0.3.0's catalog.  Each change is made in
 * the section files of extension/sql/ (which build rollout--0.4.0.sql) and
 * repeated here as a delta; test/t/009_install_equals_upgrade.pl checks that
 * both give the same catalog.
 */

-- Reporting (issue 16, item 4): failure rate per release next to the project's
-- auto-pause threshold, for reporting tools as rollout_reader

CREATE VIEW rollout.stats_release_health AS
SELECT p.slug AS project, v.version, v.tag, v.status, v.publish_time,
	   coalesce(f.succeeded, 0)::bigint AS succeeded, coalesce(f.failed, 0)::bigint AS failed,
	   coalesce(f.succeeded + f.failed, 0)::bigint AS results,
	   round(100.0 * f.failed / nullif(f.succeeded + f.failed, 0), 2) AS failure_rate,
	   p.failure_threshold, p.failure_min_samples,
	   (v.status = 'paused' AND v.paused_reason LIKE 'automatic:%') AS auto_paused
FROM rollout.versions v
JOIN rollout.projects p ON p.id = v.project_id
LEFT JOIN (SELECT project_id, version, sum(succeeded) AS succeeded, sum(failed) AS failed
		   FROM rollout.rollup_funnel GROUP BY project_id, version) f
	   ON f.project_id = v.project_id AND f.version = v.version
WHERE v.status <> 'draft';
COMMENT ON VIEW rollout.stats_release_health IS
	'per released version: install results (distinct clients), failure rate (percent) and the project''s auto-pause threshold and minimum results';
GRANT SELECT ON rollout.stats_release_health TO rollout_reader;
