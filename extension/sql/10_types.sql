/*
 * Types: rollout.semver (SemVer 2.0.0) with its operators, btree and hash
 * operator classes and min/max aggregates; rollout.semver_range (node-semver
 * ranges) with @> / <@ and equality of canonical forms.
 */

-- ---------------------------------------------------------------------
-- rollout.semver
-- ---------------------------------------------------------------------

CREATE TYPE rollout.semver;

CREATE FUNCTION rollout.semver_in(cstring) RETURNS rollout.semver
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_out(rollout.semver) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_recv(internal) RETURNS rollout.semver
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_send(rollout.semver) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE rollout.semver (
	INPUT = rollout.semver_in,
	OUTPUT = rollout.semver_out,
	RECEIVE = rollout.semver_recv,
	SEND = rollout.semver_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	ALIGNMENT = int4
);
COMMENT ON TYPE rollout.semver IS
	'Semantic version (SemVer 2.0.0); build metadata is kept but ignored by comparison';
COMMENT ON FUNCTION rollout.semver_in(cstring) IS 'semver text input';
COMMENT ON FUNCTION rollout.semver_out(rollout.semver) IS 'semver canonical text output';
COMMENT ON FUNCTION rollout.semver_recv(internal) IS 'semver binary input';
COMMENT ON FUNCTION rollout.semver_send(rollout.semver) IS 'semver binary output';

-- conversions
CREATE FUNCTION rollout.semver(text) RETURNS rollout.semver
	AS 'MODULE_PATHNAME', 'semver_from_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver(text) IS 'strict conversion of text to semver (raises 22P02 on bad input)';
CREATE FUNCTION rollout.semver_text(rollout.semver) RETURNS text
	AS 'MODULE_PATHNAME', 'semver_to_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_text(rollout.semver) IS 'canonical text of a semver';
CREATE FUNCTION rollout.to_semver(text) RETURNS rollout.semver
	AS 'MODULE_PATHNAME', 'semver_to_semver_lax' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.to_semver(text) IS 'lax conversion: 1.2 becomes 1.2.0, v1 becomes 1.0.0, leading zeros allowed';
CREATE FUNCTION rollout.is_semver(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'semver_is_semver' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.is_semver(text) IS 'whether the text is a valid semver; never raises';

CREATE CAST (text AS rollout.semver) WITH FUNCTION rollout.semver(text) AS ASSIGNMENT;
CREATE CAST (varchar AS rollout.semver) WITH FUNCTION rollout.semver(text) AS ASSIGNMENT;
CREATE CAST (rollout.semver AS text) WITH FUNCTION rollout.semver_text(rollout.semver) AS ASSIGNMENT;

-- accessors
CREATE FUNCTION rollout.major(rollout.semver) RETURNS bigint
	AS 'MODULE_PATHNAME', 'semver_major' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.major(rollout.semver) IS 'major number';
CREATE FUNCTION rollout.minor(rollout.semver) RETURNS bigint
	AS 'MODULE_PATHNAME', 'semver_minor' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.minor(rollout.semver) IS 'minor number';
CREATE FUNCTION rollout.patch(rollout.semver) RETURNS bigint
	AS 'MODULE_PATHNAME', 'semver_patch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.patch(rollout.semver) IS 'patch number';
CREATE FUNCTION rollout.prerelease(rollout.semver) RETURNS text
	AS 'MODULE_PATHNAME', 'semver_prerelease' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.prerelease(rollout.semver) IS 'pre-release identifiers (without -), NULL for a release';
CREATE FUNCTION rollout.build(rollout.semver) RETURNS text
	AS 'MODULE_PATHNAME', 'semver_build' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.build(rollout.semver) IS 'build metadata (without +), NULL if absent';
CREATE FUNCTION rollout.is_prerelease(rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME', 'semver_is_prerelease' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.is_prerelease(rollout.semver) IS 'whether the version has pre-release identifiers';

-- comparison
CREATE FUNCTION rollout.semver_cmp(rollout.semver, rollout.semver) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_cmp(rollout.semver, rollout.semver) IS 'SemVer precedence: -1, 0 or 1';
CREATE FUNCTION rollout.semver_eq(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_eq(rollout.semver, rollout.semver) IS 'implementation of = for semver';
CREATE FUNCTION rollout.semver_ne(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_ne(rollout.semver, rollout.semver) IS 'implementation of <> for semver';
CREATE FUNCTION rollout.semver_lt(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_lt(rollout.semver, rollout.semver) IS 'implementation of < for semver';
CREATE FUNCTION rollout.semver_le(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_le(rollout.semver, rollout.semver) IS 'implementation of <= for semver';
CREATE FUNCTION rollout.semver_gt(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_gt(rollout.semver, rollout.semver) IS 'implementation of > for semver';
CREATE FUNCTION rollout.semver_ge(rollout.semver, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_ge(rollout.semver, rollout.semver) IS 'implementation of >= for semver';
CREATE FUNCTION rollout.semver_hash(rollout.semver) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_hash(rollout.semver) IS 'hash of a semver, build metadata ignored';
CREATE FUNCTION rollout.semver_hash_extended(rollout.semver, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_hash_extended(rollout.semver, bigint) IS 'seeded 64-bit hash of a semver';
CREATE FUNCTION rollout.semver_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_sortsupport(internal) IS 'sort support with abbreviated keys';

CREATE OPERATOR rollout.= (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_eq,
	COMMUTATOR = OPERATOR(rollout.=), NEGATOR = OPERATOR(rollout.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR rollout.<> (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_ne,
	COMMUTATOR = OPERATOR(rollout.<>), NEGATOR = OPERATOR(rollout.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR rollout.< (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_lt,
	COMMUTATOR = OPERATOR(rollout.>), NEGATOR = OPERATOR(rollout.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR rollout.<= (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_le,
	COMMUTATOR = OPERATOR(rollout.>=), NEGATOR = OPERATOR(rollout.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR rollout.> (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_gt,
	COMMUTATOR = OPERATOR(rollout.<), NEGATOR = OPERATOR(rollout.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR rollout.>= (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_ge,
	COMMUTATOR = OPERATOR(rollout.<=), NEGATOR = OPERATOR(rollout.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS rollout.semver_ops
	DEFAULT FOR TYPE rollout.semver USING btree AS
		OPERATOR 1 rollout.<,
		OPERATOR 2 rollout.<=,
		OPERATOR 3 rollout.=,
		OPERATOR 4 rollout.>=,
		OPERATOR 5 rollout.>,
		FUNCTION 1 rollout.semver_cmp(rollout.semver, rollout.semver),
		FUNCTION 2 rollout.semver_sortsupport(internal);

CREATE OPERATOR CLASS rollout.semver_hash_ops
	DEFAULT FOR TYPE rollout.semver USING hash AS
		OPERATOR 1 rollout.=,
		FUNCTION 1 rollout.semver_hash(rollout.semver),
		FUNCTION 2 rollout.semver_hash_extended(rollout.semver, bigint);

-- aggregates
CREATE FUNCTION rollout.semver_smaller(rollout.semver, rollout.semver) RETURNS rollout.semver
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_smaller(rollout.semver, rollout.semver) IS 'the lower of two versions';
CREATE FUNCTION rollout.semver_larger(rollout.semver, rollout.semver) RETURNS rollout.semver
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_larger(rollout.semver, rollout.semver) IS 'the higher of two versions';

CREATE AGGREGATE rollout.min(rollout.semver) (
	SFUNC = rollout.semver_smaller,
	STYPE = rollout.semver,
	COMBINEFUNC = rollout.semver_smaller,
	SORTOP = OPERATOR(rollout.<),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE rollout.min(rollout.semver) IS 'lowest version by SemVer precedence';
CREATE AGGREGATE rollout.max(rollout.semver) (
	SFUNC = rollout.semver_larger,
	STYPE = rollout.semver,
	COMBINEFUNC = rollout.semver_larger,
	SORTOP = OPERATOR(rollout.>),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE rollout.max(rollout.semver) IS 'highest version by SemVer precedence';

-- ---------------------------------------------------------------------
-- rollout.semver_range
-- ---------------------------------------------------------------------

CREATE TYPE rollout.semver_range;

CREATE FUNCTION rollout.semver_range_in(cstring) RETURNS rollout.semver_range
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_range_out(rollout.semver_range) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_range_recv(internal) RETURNS rollout.semver_range
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_range_send(rollout.semver_range) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE rollout.semver_range (
	INPUT = rollout.semver_range_in,
	OUTPUT = rollout.semver_range_out,
	RECEIVE = rollout.semver_range_recv,
	SEND = rollout.semver_range_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	ALIGNMENT = int4
);
COMMENT ON TYPE rollout.semver_range IS
	'node-semver range (^1.2.3, ~1.2, 1.x, >=1.0.0 <2.0.0, a - b, ||), stored expanded to comparators';
COMMENT ON FUNCTION rollout.semver_range_in(cstring) IS 'semver_range text input';
COMMENT ON FUNCTION rollout.semver_range_out(rollout.semver_range) IS 'semver_range canonical text output';
COMMENT ON FUNCTION rollout.semver_range_recv(internal) IS 'semver_range binary input';
COMMENT ON FUNCTION rollout.semver_range_send(rollout.semver_range) IS 'semver_range binary output';

CREATE FUNCTION rollout.semver_range(text) RETURNS rollout.semver_range
	AS 'MODULE_PATHNAME', 'semver_range_from_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range(text) IS 'parse a node-semver range (raises 22P02 on bad input)';
CREATE FUNCTION rollout.semver_range_text(rollout.semver_range) RETURNS text
	AS 'MODULE_PATHNAME', 'semver_range_to_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_text(rollout.semver_range) IS 'canonical text of a range';
CREATE CAST (text AS rollout.semver_range) WITH FUNCTION rollout.semver_range(text) AS ASSIGNMENT;
CREATE CAST (varchar AS rollout.semver_range) WITH FUNCTION rollout.semver_range(text) AS ASSIGNMENT;
CREATE CAST (rollout.semver_range AS text) WITH FUNCTION rollout.semver_range_text(rollout.semver_range) AS ASSIGNMENT;

-- Planner support for <@, @> and satisfies (extension/semver_support.c): a
-- range on an indexed version becomes B-tree index conditions (its bounds,
-- the clause rechecked), and its row estimate comes from the column's
-- statistics.
CREATE FUNCTION rollout.semver_range_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_support(internal) IS
	'planner support for <@, @> and satisfies: B-tree index conditions from the range''s bounds, row estimates';
CREATE FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_sel(internal, oid, internal, integer) IS
	'restriction selectivity of <@ and @> from the version column''s statistics';

CREATE FUNCTION rollout.semver_range_contains(rollout.semver_range, rollout.semver) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	SUPPORT rollout.semver_range_support;
COMMENT ON FUNCTION rollout.semver_range_contains(rollout.semver_range, rollout.semver) IS 'implementation of @>: the range matches the version';
CREATE FUNCTION rollout.semver_range_contained(rollout.semver, rollout.semver_range) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	SUPPORT rollout.semver_range_support;
COMMENT ON FUNCTION rollout.semver_range_contained(rollout.semver, rollout.semver_range) IS 'implementation of <@: the version satisfies the range';

CREATE OPERATOR rollout.@> (
	LEFTARG = rollout.semver_range, RIGHTARG = rollout.semver,
	FUNCTION = rollout.semver_range_contains,
	COMMUTATOR = OPERATOR(rollout.<@),
	RESTRICT = rollout.semver_range_sel, JOIN = contjoinsel
);
CREATE OPERATOR rollout.<@ (
	LEFTARG = rollout.semver, RIGHTARG = rollout.semver_range,
	FUNCTION = rollout.semver_range_contained,
	COMMUTATOR = OPERATOR(rollout.@>),
	RESTRICT = rollout.semver_range_sel, JOIN = contjoinsel
);

CREATE FUNCTION rollout.satisfies(version rollout.semver, range text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'semver_satisfies' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	SUPPORT rollout.semver_range_support;
COMMENT ON FUNCTION rollout.satisfies(rollout.semver, text) IS
	'whether the version satisfies the node-semver range text (node-semver pre-release rule)';

-- is_prerelease() estimates its rows from the column's statistics (the
-- share of pre-releases), for "AND NOT is_prerelease(v)" written by hand
-- (extension/semver_support.c).
CREATE FUNCTION rollout.semver_prerelease_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_prerelease_support(internal) IS
	'planner support for is_prerelease: row estimates from the version column''s statistics';
ALTER FUNCTION rollout.is_prerelease(rollout.semver) SUPPORT rollout.semver_prerelease_support;

-- ---------------------------------------------------------------------
-- semver_range equality: the same canonical form ('^1.2.3' = '>=1.2.3 <2.0.0-0'),
-- so ranges can be compared, grouped, made DISTINCT and hashed
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.semver_range_eq(rollout.semver_range, rollout.semver_range) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_eq(rollout.semver_range, rollout.semver_range) IS
	'implementation of = for ranges: the same canonical form';
CREATE FUNCTION rollout.semver_range_ne(rollout.semver_range, rollout.semver_range) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_ne(rollout.semver_range, rollout.semver_range) IS
	'implementation of <> for ranges';
CREATE FUNCTION rollout.semver_range_hash(rollout.semver_range) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_hash(rollout.semver_range) IS 'hash of a range''s canonical form';
CREATE FUNCTION rollout.semver_range_hash_extended(rollout.semver_range, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_range_hash_extended(rollout.semver_range, bigint) IS
	'seeded 64-bit hash of a range''s canonical form';
CREATE OPERATOR rollout.= (
	LEFTARG = rollout.semver_range, RIGHTARG = rollout.semver_range,
	FUNCTION = rollout.semver_range_eq,
	COMMUTATOR = OPERATOR(rollout.=), NEGATOR = OPERATOR(rollout.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR rollout.<> (
	LEFTARG = rollout.semver_range, RIGHTARG = rollout.semver_range,
	FUNCTION = rollout.semver_range_ne,
	COMMUTATOR = OPERATOR(rollout.<>), NEGATOR = OPERATOR(rollout.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR CLASS rollout.semver_range_hash_ops
	DEFAULT FOR TYPE rollout.semver_range USING hash AS
		OPERATOR 1 rollout.= (rollout.semver_range, rollout.semver_range),
		FUNCTION 1 rollout.semver_range_hash(rollout.semver_range),
		FUNCTION 2 rollout.semver_range_hash_extended(rollout.semver_range, bigint);
