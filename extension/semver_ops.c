/*
 * semver_ops.c
 *		Comparison operators, btree/hash support and sort support for semver.
 *
 * A semver datum carries a precedence key whose memcmp order is SemVer order
 * (semver_core.h), so every comparison is a memcmp and hashing hashes the
 * key.  Sorting uses abbreviated keys, the key's first 8 bytes, so most
 * comparisons during a sort are a single unsigned integer comparison, as
 * they are for bigint; when two abbreviations tie, memcmp decides.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/sortsupport.h"

#include "semver.h"

PG_FUNCTION_INFO_V1(semver_cmp);
PG_FUNCTION_INFO_V1(semver_eq);
PG_FUNCTION_INFO_V1(semver_ne);
PG_FUNCTION_INFO_V1(semver_lt);
PG_FUNCTION_INFO_V1(semver_le);
PG_FUNCTION_INFO_V1(semver_gt);
PG_FUNCTION_INFO_V1(semver_ge);
PG_FUNCTION_INFO_V1(semver_hash);
PG_FUNCTION_INFO_V1(semver_hash_extended);
PG_FUNCTION_INFO_V1(semver_sortsupport);
PG_FUNCTION_INFO_V1(semver_smaller);
PG_FUNCTION_INFO_V1(semver_larger);

/* Compare argument 0 with argument 1 by their keys. */
static inline int
cmp_args(FunctionCallInfo fcinfo)
{
	SemVerView	a,
				b;

	semver_view(PG_GETARG_SEMVER_P(0), &a);
	semver_view(PG_GETARG_SEMVER_P(1), &b);
	return semver_key_cmp(&a, &b);
}

/* semver_cmp(semver, semver) returns int4: btree support function 1 */
Datum
semver_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cmp_args(fcinfo));
}

/* semver_eq: precedence equality, build metadata ignored */
Datum
semver_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) == 0);
}

/* semver_ne */
Datum
semver_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) != 0);
}

/* semver_lt */
Datum
semver_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) < 0);
}

/* semver_le */
Datum
semver_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) <= 0);
}

/* semver_gt */
Datum
semver_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) > 0);
}

/* semver_ge */
Datum
semver_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cmp_args(fcinfo) >= 0);
}

/*
 * semver_hash(semver) returns int4: a hash of the precedence key, so build
 * metadata is left out and equal versions hash alike.
 */
Datum
semver_hash(PG_FUNCTION_ARGS)
{
	SemVerView	v;

	semver_view(PG_GETARG_SEMVER_P(0), &v);
	return hash_any(v.key, v.keylen);
}

/* semver_hash_extended(semver, int8) returns int8: seeded hash */
Datum
semver_hash_extended(PG_FUNCTION_ARGS)
{
	SemVerView	v;

	semver_view(PG_GETARG_SEMVER_P(0), &v);
	return hash_any_extended(v.key, v.keylen, PG_GETARG_INT64(1));
}

/* semver_smaller: min() transition function */
Datum
semver_smaller(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(cmp_args(fcinfo) <= 0 ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1));
}

/* semver_larger: max() transition function */
Datum
semver_larger(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(cmp_args(fcinfo) >= 0 ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1));
}

/* ---------------------------------------------------------------------
 * Sort support
 * ---------------------------------------------------------------------
 */

/* Full comparison of two datums for the sort. */
static int
semver_fastcmp(Datum x, Datum y, SortSupport ssup pg_attribute_unused())
{
	struct varlena *a = semver_detoast(x);
	struct varlena *b = semver_detoast(y);
	SemVerView	va,
				vb;
	int			c;

	semver_view(a, &va);
	semver_view(b, &vb);
	c = semver_key_cmp(&va, &vb);
	if ((Pointer) a != DatumGetPointer(x))
		pfree(a);
	if ((Pointer) b != DatumGetPointer(y))
		pfree(b);
	return c;
}

#if SIZEOF_DATUM == 8

/*
 * The abbreviated key is the first 8 bytes of the precedence key, big-endian
 * and zero-padded, so unsigned comparison of abbreviations agrees with memcmp
 * of keys.  With one byte per number below 128, "12.3.45" and most
 * "1.2.3-rc" fit whole.
 */
static Datum
semver_abbrev_convert(Datum original, SortSupport ssup pg_attribute_unused())
{
	struct varlena *sv = semver_detoast(original);
	SemVerView	v;
	uint64		bits = 0;

	semver_view(sv, &v);
	for (int i = 0; i < 8; i++)
		bits = (bits << 8) | (i < v.keylen ? v.key[i] : 0);
	if ((Pointer) sv != DatumGetPointer(original))
		pfree(sv);
	return (Datum) bits;
}

/* The key is a prefix copy, cheap and never misleading: never abort. */
static bool
semver_abbrev_abort(int memtupcount pg_attribute_unused(), SortSupport ssup pg_attribute_unused())
{
	return false;
}

#if PG_VERSION_NUM < 150000
static int
ssup_datum_unsigned_cmp(Datum x, Datum y, SortSupport ssup)
{
	return x < y ? -1 : (x > y ? 1 : 0);
}
#endif

#endif							/* SIZEOF_DATUM == 8 */

/* semver_sortsupport(internal): btree support function 2 */
Datum
semver_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = semver_fastcmp;
#if SIZEOF_DATUM == 8
	if (ssup->abbreviate)
	{
		ssup->abbrev_converter = semver_abbrev_convert;
		ssup->abbrev_abort = semver_abbrev_abort;
		ssup->abbrev_full_comparator = semver_fastcmp;
		ssup->comparator = ssup_datum_unsigned_cmp;
	}
#endif
	PG_RETURN_VOID();
}
