-- test/grafana/data.sql: a database that looks lived in, made through the
-- extension's own functions: two projects, releases on two channels, clients
-- in five regions that check, download and report installs (one release fails
-- often enough to be paused automatically), and two weeks of earlier days in
-- the daily rollup, as the write path would have left them.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path = public, rollout;
SELECT create_project('desktop', 'Desktop app');

-- releases: published, then clients ask (drafts are looked up by version:
-- what create_version returns is not relied on)
SELECT count(create_version('default', v, title => 'Release ' || v, file_url => 'https://dl.example.com/app-' || v || '.tgz'))
FROM unnest(ARRAY['v1.0.0', 'v1.1.0']) v;
SELECT count(create_version('default', 'v2.0.0-beta.1', channel => 'beta', file_url => 'https://dl.example.com/app-2.0.0-beta.1.tgz'));
SELECT count(create_version('desktop', v, file_url => 'https://dl.example.com/desktop-' || v || '.msi'))
FROM unnest(ARRAY['3.0.0', '3.1.0']) v;
SELECT count(publish_version(id)) FROM versions WHERE status = 'draft';

-- 600 clients of default in five regions (one in six on beta), 200 of desktop
SELECT count(check_update(jsonb_build_object(
	'current_version', CASE WHEN i % 3 = 0 THEN '1.0.0' ELSE '0.9.0' END, 'client_id', 'host-' || i,
	'region', (ARRAY['cn', 'us', 'eu', 'jp', 'global'])[1 + i % 5], 'os', 'linux', 'arch', 'amd64',
	'channel', CASE WHEN i % 6 = 0 THEN 'beta' ELSE 'stable' END)))
FROM generate_series(1, 600) i;
SELECT count(check_update(jsonb_build_object('project', 'desktop', 'current_version', '3.0.0', 'client_id', 'pc-' || i,
	'region', (ARRAY['cn', 'eu'])[1 + i % 2], 'os', 'windows', 'arch', 'amd64')))
FROM generate_series(1, 200) i;
SELECT flush_checks() >= 0;

-- downloads and installs of 1.1.0 (3 % fail) and of desktop 3.1.0
SELECT count(download_started(jsonb_build_object('version', '1.1.0', 'client_id', 'host-' || i))) FROM generate_series(1, 400) i;
SELECT count(install_result(jsonb_build_object('version', '1.1.0', 'client_id', 'host-' || i, 'success', i % 33 <> 0,
	'error_message', CASE WHEN i % 33 = 0 THEN 'disk full' END)))
FROM generate_series(1, 380) i;
SELECT count(download_started(jsonb_build_object('project', 'desktop', 'version', '3.1.0', 'client_id', 'pc-' || i)))
FROM generate_series(1, 150) i;
SELECT count(install_result(jsonb_build_object('project', 'desktop', 'version', '3.1.0', 'client_id', 'pc-' || i,
	'success', i % 10 <> 0)))
FROM generate_series(1, 140) i;

-- 1.2.0 goes out and breaks: 15 of the first 60 installs fail, above 20 % of at least 50 results
SELECT count(create_version('default', 'v1.2.0', file_url => 'https://dl.example.com/app-1.2.0.tgz'));
SELECT count(publish_version(id)) FROM versions WHERE status = 'draft';
SELECT count(check_update(jsonb_build_object('current_version', '1.1.0', 'client_id', 'host-' || i, 'region', 'us')))
FROM generate_series(1, 80) i;
SELECT count(download_started(jsonb_build_object('version', '1.2.0', 'client_id', 'host-' || i))) FROM generate_series(1, 70) i;
SELECT count(install_result(jsonb_build_object('version', '1.2.0', 'client_id', 'host-' || i, 'success', i % 4 <> 0,
	'error_message', CASE WHEN i % 4 = 0 THEN 'signature mismatch' END)))
FROM generate_series(1, 60) i;
DO $$
BEGIN
	IF (SELECT status FROM rollout.versions WHERE tag = 'v1.2.0') <> 'paused' THEN
		RAISE EXCEPTION 'test data: 1.2.0 should have been paused automatically';
	END IF;
END
$$;

-- two weeks of earlier days, spread over the releases of each project
INSERT INTO rollup_daily (day, project_id, action, version, shard, events, clients)
SELECT utc_today() - d, v.project_id, a.action, v.version, 0,
	   a.scale * (20 + d * 3 + v.id % 7), a.scale * (10 + d * 2 + v.id % 5)
FROM generate_series(1, 14) d
CROSS JOIN versions v
CROSS JOIN (VALUES ('check', 30), ('download', 10), ('success', 9), ('failed', 1)) a(action, scale)
WHERE v.status <> 'draft'
ON CONFLICT DO NOTHING;
