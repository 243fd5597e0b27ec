-- downgrade_property.sql: a property of the update decision over random
-- release histories, loaded by security.test.js.  For a seed, build a
-- project with random versions (channels, drafts, publishes, pauses, yanks,
-- rollout percentages, minimum upgrade versions), then ask check_update
-- for random clients: an offer of a version not above the client's is
-- allowed only as a rollback (is_rollback) from a yanked version, to a lower
-- version that is published and not yanked.  Returns 'ok OFFERS ROLLBACKS'
-- (how many offers, and rollbacks among them, were checked), or the first
-- violation (with everything needed to replay it from the seed).
CREATE OR REPLACE FUNCTION public.downgrade_property(seed integer, nversions integer DEFAULT 12, nclients integer DEFAULT 40)
	RETURNS text LANGUAGE plpgsql SET search_path = public, rollout, pg_catalog AS $$
DECLARE
	proj text := 'prop-' || seed;
	vs text[] := '{}';
	v text;
	vid bigint;
	chans text[] := ARRAY['stable', 'beta', 'alpha'];
	r jsonb;
	cur text;
	offered rollout.semver;
	cur_status text;
	off_status text;
	history text;
	offers integer := 0;
	rollbacks integer := 0;
BEGIN
	PERFORM setseed((seed % 1000000) / 1000000.0);
	PERFORM set_config('rollout.actor', '', true);
	IF EXISTS (SELECT 1 FROM rollout.projects WHERE slug = proj) THEN
		DELETE FROM rollout.projects WHERE slug = proj;
	END IF;
	PERFORM rollout.create_project(proj, 'property ' || seed);
	WHILE cardinality(vs) < nversions LOOP
		v := format('%s.%s.%s%s', floor(random() * 3)::int, floor(random() * 4)::int, floor(random() * 4)::int,
					CASE WHEN random() < 0.2 THEN '-rc.' || floor(random() * 3)::int ELSE '' END);
		CONTINUE WHEN v = ANY (vs);
		vs := vs || v;
		PERFORM rollout.create_version(project => proj, version => v, channel => chans[1 + floor(random() * 3)::int],
									  title => 'v' || v, file_url => 'https://example.com/app-' || v || '.tgz',
									  rollout_percentage => CASE WHEN random() < 0.3 THEN round((random() * 100)::numeric, 2) END,
									  min_upgrade_version => CASE WHEN random() < 0.15 THEN format('%s.0.0', floor(random() * 3)::int) END);
		SELECT x.id INTO vid FROM rollout.versions x JOIN rollout.projects p ON p.id = x.project_id
		WHERE p.slug = proj AND x.version = v::rollout.semver;
		IF random() < 0.85 THEN
			PERFORM rollout.publish_version(vid);
			IF random() < 0.2 THEN
				PERFORM rollout.yank_version(vid);
			ELSIF random() < 0.15 THEN
				PERFORM rollout.pause_version(vid);
			END IF;
		END IF;
	END LOOP;
	SELECT string_agg(format('%s:%s:%s%s%s', x.version, c.name, x.status, ':' || x.rollout_percentage, ':min=' || x.min_upgrade_version::text),
					  ' ' ORDER BY x.version) INTO history
	FROM rollout.versions x JOIN rollout.channels c ON c.id = x.channel_id
	WHERE x.project_id = (SELECT id FROM rollout.projects WHERE slug = proj);
	FOR i IN 1 .. nclients LOOP
		cur := CASE WHEN random() < 0.6 THEN vs[1 + floor(random() * cardinality(vs))::int]
					ELSE format('%s.%s.%s', floor(random() * 3)::int, floor(random() * 4)::int, floor(random() * 4)::int) END;
		r := rollout.check_update(jsonb_build_object('project', proj, 'current_version', cur, 'client_id', 'client-' || seed || '-' || i,
													 'channel', chans[1 + floor(random() * 3)::int], 'os', 'linux', 'arch', 'amd64'));
		CONTINUE WHEN NOT (r ->> 'has_update')::boolean;
		offers := offers + 1;
		rollbacks := rollbacks + (r ->> 'is_rollback')::boolean::int;
		offered := (r ->> 'latest_version')::rollout.semver;
		SELECT status INTO cur_status FROM rollout.versions
		WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = proj) AND version = cur::rollout.semver;
		SELECT status INTO off_status FROM rollout.versions
		WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = proj) AND version = offered;
		IF off_status IS DISTINCT FROM 'published' THEN
			RETURN format('seed %s: client on %s offered %s, which is %s; history: %s', seed, cur, offered, coalesce(off_status, 'unknown'), history);
		END IF;
		IF offered <= cur::rollout.semver AND NOT (r ->> 'is_rollback')::boolean THEN
			RETURN format('seed %s: client on %s offered %s (not above) without is_rollback; history: %s', seed, cur, offered, history);
		END IF;
		IF (r ->> 'is_rollback')::boolean AND (cur_status IS DISTINCT FROM 'yanked' OR offered >= cur::rollout.semver) THEN
			RETURN format('seed %s: client on %s (%s) offered %s as a rollback; history: %s', seed, cur, coalesce(cur_status, 'unknown'), offered, history);
		END IF;
	END LOOP;
	RETURN format('ok %s %s', offers, rollbacks);
END
$$;
