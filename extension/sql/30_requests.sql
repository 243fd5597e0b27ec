/*
 * Requests: the fields of a JSON request, each validated by its one rule
 * (rollout_request.c), and the project a request names.
 */

-- ---------------------------------------------------------------------
-- Request validation
-- ---------------------------------------------------------------------

/*
 * Fields of a JSON request, validated by the one rule each field has
 * (rollout_request.c, which check_update uses too).  Errors are 22023
 * (22P02 for a version) with the field name in the error's COLUMN and a
 * message key in its CONSTRAINT (required, type, too_long, invalid) so the
 * HTTP server can localize them; a request that is not a JSON object is
 * 22023 too.
 */
CREATE FUNCTION rollout.request_text(request jsonb, field text, required boolean DEFAULT false)
	RETURNS text AS 'MODULE_PATHNAME', 'rollout_request_text_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.request_text(jsonb, text, boolean) IS
	'a validated text field of a JSON request (22023 naming the field otherwise)';
CREATE FUNCTION rollout.request_version(request jsonb, field text, required boolean DEFAULT false)
	RETURNS rollout.semver AS 'MODULE_PATHNAME', 'rollout_request_version_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.request_version(jsonb, text, boolean) IS
	'a version field of a JSON request (22P02 naming the field if it is not SemVer)';

-- The project named by a slug (default: "default"), or P0002.
CREATE FUNCTION rollout.project_by_slug(slug text) RETURNS rollout.projects
	LANGUAGE plpgsql STABLE
AS $$
DECLARE
	p rollout.projects;
BEGIN
	SELECT * INTO p FROM rollout.projects WHERE projects.slug = coalesce(project_by_slug.slug, 'default');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'project not found: "%"', coalesce(slug, 'default')
			USING ERRCODE = 'P0002', COLUMN = 'project', CONSTRAINT = 'not_found';
	END IF;
	RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.project_by_slug(text) IS 'the project with this slug (NULL: default), or error P0002';

-- The project of a read of the admin API: as project_by_slug, and 42501
-- unless the acting account may see it (an account scoped to a project sees
-- only that one; see require_role).
CREATE FUNCTION rollout.readable_project(slug text) RETURNS rollout.projects
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(slug);
BEGIN
	PERFORM require_role('viewer', p.id);
	RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.readable_project(text) IS 'the project with this slug if the acting account may read it; P0002 or 42501';

-- The project a client request names (default "default"), or P0002.
CREATE FUNCTION rollout.request_project(request jsonb) RETURNS rollout.projects
	LANGUAGE sql STABLE
	AS $$ SELECT rollout.project_by_slug(rollout.request_text(request, 'project')) $$;
COMMENT ON FUNCTION rollout.request_project(jsonb) IS
	'the project a client request names (default "default"); 22023 if the request is not a JSON object';
