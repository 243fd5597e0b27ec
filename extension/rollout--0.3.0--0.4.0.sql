\echo Use "ALTER EXTENSION rollout UPDATE TO '0.4.0'" to load this file. \quit

/*
 * rollout 0.4.0: what 0.4.0 adds to 0.3.0's catalog.  Each change is made in
 * the section files of extension/sql/ (which build rollout--0.4.0.sql) and
 * repeated here as a delta; test/t/009_install_equals_upgrade.pl checks that
 * both give the same catalog.
 */

-- Ranges use indexes (issue 16): planner support for <@, @> and satisfies
-- (extension/semver_support.c): B-tree index conditions from a range's
-- bounds, row estimates from the version column's statistics.
CREATE FUNCTION rollout.semver_range_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_support(internal) IS
	'planner support for <@, @> and satisfies: B-tree index conditions from the range''s bounds, row estimates';
CREATE FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) IS
	'restriction selectivity of <@ and @> from the version column''s statistics';
ALTER FUNCTION rollout.semver_range_contains(rollout.semver_range, rollout.semver)
	SUPPORT rollout.semver_range_support;
ALTER FUNCTION rollout.semver_range_contained(rollout.semver, rollout.semver_range)
	SUPPORT rollout.semver_range_support;
ALTER FUNCTION rollout.satisfies(rollout.semver, text)
	SUPPORT rollout.semver_range_support;
ALTER OPERATOR rollout.@> (rollout.semver_range, rollout.semver)
	SET (RESTRICT = rollout.semver_range_sel);
ALTER OPERATOR rollout.<@ (rollout.semver, rollout.semver_range)
	SET (RESTRICT = rollout.semver_range_sel);
