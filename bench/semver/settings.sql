-- bench/semver/settings.sql: the session every part of bench/semver runs in.
SET client_min_messages = warning;
SET search_path = public, rollout;
SET work_mem = '2GB';
SET maintenance_work_mem = '2GB';
SET max_parallel_workers_per_gather = 0;
SET max_parallel_maintenance_workers = 0;
SET jit = off;
