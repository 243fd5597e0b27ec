-- bench/decision/setup.sql: 10 projects x 200 versions, 5 rules each, and
-- 1,000,000 clients (100,000 per project), with rollups consistent with them.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
SET search_path = public, rollout;
SELECT count(create_project('p' || i, 'Project ' || i)) FROM generate_series(0, 9) i;
-- versions 1.0.0 .. 4.49.0, mostly stable, every 10th beta; published a while ago
INSERT INTO versions (project_id, version, tag, channel_id, title, file_url, file_size, file_checksum,
                      status, publish_time, min_upgrade_version, is_forced)
SELECT p.id, v.ver::semver, 'v' || v.ver,
       (SELECT id FROM channels c WHERE c.project_id = p.id AND c.name = CASE WHEN v.n % 10 = 9 THEN 'beta' ELSE 'stable' END),
       'Release ' || v.ver, 'pkg/app-' || v.ver || '.tgz', 1000000 + v.n, 'sha256:' || md5(v.ver) || md5(v.ver || 'x'),
       'published', now() - make_interval(days => 200 - v.n),
       CASE WHEN v.n % 50 = 0 AND v.n > 0 THEN ((1 + v.n / 50) || '.0.0')::semver END, v.n % 37 = 0
FROM projects p, (SELECT n, (1 + n / 50) || '.' || (n % 50) || '.0' AS ver FROM generate_series(0, 199) n) v
WHERE p.slug LIKE 'p_';
-- the newest ten of each project have per-platform artifacts
INSERT INTO artifacts (version_id, os, arch, file_url, file_size, file_checksum)
SELECT v.id, o, a, 'pkg/' || v.tag || '-' || o || '-' || a || '.tgz', 42, v.file_checksum
FROM versions v, unnest(ARRAY['linux', 'windows']) o, unnest(ARRAY['amd64', 'arm64']) a
WHERE v.version >= '4.40.0';
SELECT count(set_mirror(slug, r, 'https://' || r || '.example.com/' || slug)) FROM projects, unnest(ARRAY['cn', 'global']) r
WHERE slug LIKE 'p_';
SELECT count(create_rule(slug, 'rule ' || k, priority => k, target_region => (ARRAY['cn', 'us', 'eu', NULL, 'cn'])[k],
       target_version_range => (ARRAY['<2.0.0', NULL, '^3', '>=4.0.0', NULL])[k],
       target_os => (ARRAY[NULL, 'windows', NULL, NULL, 'linux'])[k],
       rollout_config => (ARRAY['{"percentage": 50}', '{"pin": "4.30.0"}', '{"percentage": 20}', '{"channel": "beta"}', '{"percentage": 80}'])[k]::jsonb))
FROM projects, generate_series(1, 5) k WHERE slug LIKE 'p_';
-- rollout percentages below 100 on the newest releases
UPDATE versions SET rollout_percentage = 25 WHERE version >= '4.48.0';
-- 1,000,000 clients
INSERT INTO client_state (project_id, client_id, current_version, channel, region, os, arch, first_seen, last_seen)
SELECT p.id, 'client-' || substr(p.slug, 2) || '-' || c,
       ((1 + (c % 200) / 50) || '.' || (c % 50) || '.0')::semver,
       'stable', (ARRAY['cn', 'us', 'eu', 'jp'])[1 + c % 4], 'linux', 'amd64',
       now() - interval '30 days', now() - interval '1 day'
FROM projects p, generate_series(1, 100000) c WHERE p.slug LIKE 'p_';
INSERT INTO rollup_clients (project_id, channel, version, region, clients)
SELECT project_id, channel, current_version, region, count(*) FROM client_state GROUP BY 1, 2, 3, 4;
VACUUM ANALYZE;
