/*
 * semver.h
 *		On-disk layout of rollout.semver and helpers shared by the C files.
 */
#ifndef ROLLOUT_SEMVER_H
#define ROLLOUT_SEMVER_H

#include "fmgr.h"
#include "semver_core.h"

#define SEMVER_FORMAT_V1	1

/*
 * After the varlena header (short or long, never aligned): a format byte,
 * the key length as a big-endian uint16, the precedence key (semver_core.h:
 * memcmp order is SemVer order), then the build metadata text.  Comparison
 * and hashing look at the key only; "1.2.3" takes 8 bytes on disk.
 */
#define SEMVER_PREFIX		3

typedef struct SemVerView
{
	const uint8 *key;
	int			keylen;
	const char *build;
	int			build_len;
} SemVerView;

/*
 * Detoast a datum.  Only a compressed or external value needs it, never one
 * read from an index or a heap page of short versions, so that is tested
 * here, inline: the comparison operators and the range matcher run once per
 * index tuple or row.
 */
static inline struct varlena *
semver_detoast(Datum d)
{
	struct varlena *p = (struct varlena *) DatumGetPointer(d);

	if (unlikely(VARATT_IS_COMPRESSED(p) || VARATT_IS_EXTERNAL(p)))
		return pg_detoast_datum_packed(p);
	return p;
}

static inline void
semver_view(const struct varlena *sv, SemVerView *v)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(sv);
	int			total = VARSIZE_ANY_EXHDR(sv);

	v->keylen = (p[1] << 8) | p[2];
	v->key = p + SEMVER_PREFIX;
	v->build = (const char *) p + SEMVER_PREFIX + v->keylen;
	v->build_len = total - SEMVER_PREFIX - v->keylen;
}

/* Order of two keys: SemVer precedence, -1, 0 or 1. */
static inline int
semver_key_cmp(const SemVerView *a, const SemVerView *b)
{
	return sv_key_cmp(a->key, a->keylen, b->key, b->keylen);
}

#define PG_GETARG_SEMVER_P(n)	semver_detoast(PG_GETARG_DATUM(n))
#define PG_RETURN_SEMVER_P(x)	PG_RETURN_POINTER(x)

/* Build a datum from a parsed version. */
extern struct varlena *semver_from_parsed(const SvVersion *v);

/*
 * Decode a datum into v (numbers, pre-release text in prebuf of at least
 * SV_MAX_TEXT bytes, build pointing into the datum); raises on corruption.
 */
extern void semver_decode(const struct varlena *sv, SvVersion *v, char *prebuf);

/* Canonical text of a datum (M.m.p[-pre][+build]), palloc'd. */
extern char *semver_out_text(const struct varlena *sv);

/* Parse text or raise the matching SQL error. */
extern struct varlena *semver_parse_text(const char *str, size_t len, bool lax);

/* Raise the SQL error for a core parse failure of the given type name. */
extern void semver_report(SvError err, const char *detail,
						  const char *type_name, const char *str,
						  size_t len) pg_attribute_noreturn();

/*
 * A semver_range decoded once for matching many versions (semver_range.c):
 * semver_range_cache decodes datum d into c (allocated in cxt when NULL)
 * unless c already holds it.
 */
typedef struct RangeCache RangeCache;
extern RangeCache *semver_range_cache(MemoryContext cxt, Datum d, RangeCache *c);
extern bool semver_range_cache_match(const RangeCache *c, Datum version);

/* Decode a semver_range datum (semver_range.c); strings point into the datum. */
extern void semver_range_decode(Datum d, SvRange *r);

#endif							/* ROLLOUT_SEMVER_H */
