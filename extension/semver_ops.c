/*
 * semver_ops.c
 *		Comparison operators, btree/hash support and sort support for semver.
 *
 * Sorting uses abbreviated keys: each version is squeezed into 64 bits by an
 * order-preserving, prefix-free bit code, so most comparisons during a sort
 * are a single unsigned integer comparison, as they are for bigint.  When
 * two abbreviations tie, the full comparator decides.
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

/* SemVer precedence of two datums: -1, 0 or 1. */
int
semver_cmp_internal(const SemVer *a, const SemVer *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	if (a->pre_len == 0 && b->pre_len == 0)
		return 0;
	return sv_prerelease_cmp(SEMVER_PRE(a), a->pre_len,
							 SEMVER_PRE(b), b->pre_len);
}

/* Compare argument 0 with argument 1, freeing detoasted copies. */
static inline int
cmp_args(FunctionCallInfo fcinfo)
{
	SemVer	   *a = PG_GETARG_SEMVER_P(0);
	SemVer	   *b = PG_GETARG_SEMVER_P(1);
	int			c = semver_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return c;
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
 * semver_hash(semver) returns int4.  Hashes major, minor, patch and the
 * pre-release bytes, which are contiguous in the datum; build metadata is
 * left out so that equal versions hash alike.  Pre-release text is canonical
 * (no leading zeros), so equal precedence means equal bytes.
 */
Datum
semver_hash(PG_FUNCTION_ARGS)
{
	SemVer	   *sv = PG_GETARG_SEMVER_P(0);

	return hash_any((unsigned char *) &sv->major,
					3 * sizeof(int64) + sv->pre_len);
}

/* semver_hash_extended(semver, int8) returns int8: seeded hash */
Datum
semver_hash_extended(PG_FUNCTION_ARGS)
{
	SemVer	   *sv = PG_GETARG_SEMVER_P(0);

	return hash_any_extended((unsigned char *) &sv->major,
							 3 * sizeof(int64) + sv->pre_len,
							 PG_GETARG_INT64(1));
}

/* semver_smaller: min() transition function */
Datum
semver_smaller(PG_FUNCTION_ARGS)
{
	SemVer	   *a = PG_GETARG_SEMVER_P(0);
	SemVer	   *b = PG_GETARG_SEMVER_P(1);

	PG_RETURN_SEMVER_P(semver_cmp_internal(a, b) <= 0 ? a : b);
}

/* semver_larger: max() transition function */
Datum
semver_larger(PG_FUNCTION_ARGS)
{
	SemVer	   *a = PG_GETARG_SEMVER_P(0);
	SemVer	   *b = PG_GETARG_SEMVER_P(1);

	PG_RETURN_SEMVER_P(semver_cmp_internal(a, b) >= 0 ? a : b);
}

/* ---------------------------------------------------------------------
 * Sort support
 * ---------------------------------------------------------------------
 */

/* Full comparison of two datums for the sort. */
static int
semver_fastcmp(Datum x, Datum y, SortSupport ssup)
{
	SemVer	   *a = DatumGetSemVerP(x);
	SemVer	   *b = DatumGetSemVerP(y);
	int			c = semver_cmp_internal(a, b);

	if ((Pointer) a != DatumGetPointer(x))
		pfree(a);
	if ((Pointer) b != DatumGetPointer(y))
		pfree(b);
	return c;
}

#if SIZEOF_DATUM == 8

/*
 * A 64-bit big-endian bit string under construction.  Bits that do not fit
 * are dropped; 'done' stops all further output (after a saturated number).
 */
typedef struct AbbrevBits
{
	uint64		bits;
	int			used;
	bool		done;
} AbbrevBits;

/* Append the low n bits of v (n <= 64). */
static inline void
put_bits(AbbrevBits *b, uint64 v, int n)
{
	int			room = 64 - b->used;

	if (b->done || room <= 0)
		return;
	if (n < 64)
		v &= (UINT64CONST(1) << n) - 1;
	if (n <= room)
	{
		if (n > 0)
			b->bits |= v << (room - n);
		b->used += n;
	}
	else
	{
		b->bits |= v >> (n - room);
		b->used = 64;
	}
}

/*
 * Append an unsigned number in an order-preserving prefix code:
 *   0 + 3 bits          values 0..7
 *   10 + 10 bits        the next 1024
 *   110 + 20 bits       the next 2^20
 *   1110 + 32 bits      the next 2^32
 *   1111 + 64 bits      anything larger, as is
 * A value that does not fit (saturated) ends the key, so two saturated
 * values tie and the full comparator orders them.
 */
static void
put_number(AbbrevBits *b, uint64 v, bool saturated)
{
	const uint64 c1 = 8,
				c2 = c1 + 1024,
				c3 = c2 + (UINT64CONST(1) << 20),
				c4 = c3 + (UINT64CONST(1) << 32);

	if (saturated)
	{
		put_bits(b, 0xF, 4);
		put_bits(b, PG_UINT64_MAX, 64);
		b->done = true;
	}
	else if (v < c1)
	{
		put_bits(b, 0, 1);
		put_bits(b, v, 3);
	}
	else if (v < c2)
	{
		put_bits(b, 0x2, 2);
		put_bits(b, v - c1, 10);
	}
	else if (v < c3)
	{
		put_bits(b, 0x6, 3);
		put_bits(b, v - c2, 20);
	}
	else if (v < c4)
	{
		put_bits(b, 0xE, 4);
		put_bits(b, v - c3, 32);
	}
	else
	{
		put_bits(b, 0xF, 4);
		put_bits(b, v, 64);
	}
}

/* 6-bit code of an identifier character, in ASCII order; 0 ends a word. */
static inline uint64
char_code(char c)
{
	if (c == '-')
		return 1;
	if (c <= '9')
		return 2 + (c - '0');
	if (c <= 'Z')
		return 12 + (c - 'A');
	return 38 + (c - 'a');
}

/*
 * Encode a version as:
 *   major minor patch, then 1 for a release, or 0 followed by each
 *   identifier as 1 + (0 + number | 1 + characters + 000000), and a final 0
 *   (fewer identifiers sort first).
 */
static Datum
semver_abbrev_convert(Datum original, SortSupport ssup)
{
	SemVer	   *sv = DatumGetSemVerP(original);
	AbbrevBits	b = {0, 0, false};
	const char *pre = SEMVER_PRE(sv);
	int			len = sv->pre_len;
	Datum		res;

	put_number(&b, (uint64) sv->major, false);
	put_number(&b, (uint64) sv->minor, false);
	put_number(&b, (uint64) sv->patch, false);
	if (len == 0)
		put_bits(&b, 1, 1);
	else
	{
		int			i = 0;

		put_bits(&b, 0, 1);
		while (i < len && b.used < 64 && !b.done)
		{
			int			start = i;
			bool		numeric = true;

			for (; i < len && pre[i] != '.'; i++)
			{
				if (pre[i] < '0' || pre[i] > '9')
					numeric = false;
			}
			put_bits(&b, 1, 1);
			if (numeric)
			{
				uint64		v = 0;
				bool		sat = false;

				for (int k = start; k < i; k++)
				{
					uint64		d = pre[k] - '0';

					if (v > (PG_UINT64_MAX - 1 - d) / 10)
						sat = true;
					else
						v = v * 10 + d;
				}
				put_bits(&b, 0, 1);
				put_number(&b, v, sat);
			}
			else
			{
				put_bits(&b, 1, 1);
				for (int k = start; k < i && b.used < 64; k++)
					put_bits(&b, char_code(pre[k]), 6);
				put_bits(&b, 0, 6);
			}
			i++;				/* skip the dot */
		}
		put_bits(&b, 0, 1);
	}

	res = (Datum) b.bits;
	if ((Pointer) sv != DatumGetPointer(original))
		pfree(sv);
	return res;
}

/* The key is cheap to build and never loses order: never abort it. */
static bool
semver_abbrev_abort(int memtupcount, SortSupport ssup)
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
