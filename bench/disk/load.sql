-- bench/disk/load.sql: one project with 20 published releases, 1,000,000
-- clients (UUID client ids, four regions, two platforms), every client's
-- download and install report of the newest release (raw events with an
-- address and a user agent, one client_results row each), 90 days of rollups.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS rollout;
SET search_path = public, rollout;
SELECT create_project('disk', 'Disk');
INSERT INTO versions (project_id, version, tag, channel_id, title, file_url, file_size, file_checksum, status, publish_time)
SELECT p.id, ('1.' || n || '.0')::semver, 'v1.' || n || '.0', c.id, 'Release 1.' || n, 'pkg/app-1.' || n || '.0.tgz',
       50000000 + n, 'sha256:' || md5(n::text) || md5(n::text || 'x'), 'published', now() - make_interval(days => 200 - 10 * n)
FROM projects p JOIN channels c ON c.project_id = p.id AND c.name = 'stable', generate_series(0, 19) n
WHERE p.slug = 'disk';
-- a UUID per client, as most updaters use
INSERT INTO client_state (project_id, client_id, current_version, channel, region, os, arch, last_offered, first_seen, last_seen)
SELECT p.id, md5('c' || i)::uuid::text, ('1.' || (i % 20) || '.0')::semver, 'stable',
       (ARRAY['cn', 'us', 'eu', 'jp'])[1 + i % 4], (ARRAY['linux', 'windows'])[1 + i % 2], 'amd64',
       '1.19.0', now() - interval '60 days', now() - make_interval(hours => i % 48)
FROM projects p, generate_series(1, 1000000) i WHERE p.slug = 'disk';
INSERT INTO rollup_clients (project_id, channel, version, region, clients)
SELECT project_id, channel, current_version, region, count(*) FROM client_state GROUP BY 1, 2, 3, 4;
-- the last seven days' event partitions, as maintain() keeps them
SELECT ensure_event_partitions(current_date - 6, current_date);
-- every client downloads and installs 1.19.0 over the week (2 % fail)
INSERT INTO update_events (project_id, version, client_id, client_version, region, ip_address, user_agent, action, error_message, created_at)
SELECT c.project_id, '1.19.0', c.client_id, c.current_version, c.region,
       ('10.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256)::inet,
       'app-updater/1.' || (i % 20) || '.0 (' || c.os || '; amd64)',
       a.action, CASE WHEN a.action = 'failed' THEN 'exit status 1: disk full' END,
       now() - make_interval(secs => (i % 604000) + a.k)
FROM (SELECT *, row_number() OVER () AS i FROM client_state) c,
     LATERAL (VALUES (1, 'download'), (0, CASE WHEN c.i % 50 = 0 THEN 'failed' ELSE 'success' END)) a(k, action);
INSERT INTO client_results (project_id, client_id, version, downloaded_at, result, result_at)
SELECT project_id, client_id, '1.19.0', now() - interval '1 day',
       CASE WHEN abs(hashtext(client_id)) % 50 = 0 THEN 'failed' ELSE 'success' END, now() - interval '1 day'
FROM client_state;
-- 90 days x 4 actions x 20 versions x 16 shards of daily rollups, the funnel in 16 shards
INSERT INTO rollup_daily (day, project_id, action, version, shard, events, clients)
SELECT current_date - d, p.id, a, ('1.' || n || '.0')::semver, s, 100 + d, 50 + d
FROM projects p, generate_series(0, 89) d, unnest(ARRAY['check', 'download', 'success', 'failed']) a,
     generate_series(0, 19) n, generate_series(0, 15) s
WHERE p.slug = 'disk';
INSERT INTO rollup_funnel (project_id, version, shard, offered, downloaded, succeeded, failed)
SELECT p.id, ('1.' || n || '.0')::semver, s, 1000, 900, 880, 20
FROM projects p, generate_series(0, 19) n, generate_series(0, 15) s WHERE p.slug = 'disk';
VACUUM ANALYZE;
