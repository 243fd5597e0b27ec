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
 * A semver datum.  Storage is plain with double alignment, so the numbers
 * can be read in place.  The pre-release bytes follow the fixed part and
 * the build bytes follow them, both without terminators; the build length is
 * whatever VARSIZE leaves.  major..patch and the pre-release are contiguous,
 * which is exactly the part that equality and hashing look at.
 */
typedef struct SemVer
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		format;			/* SEMVER_FORMAT_V1 */
	uint8		reserved;
	uint16		pre_len;
	int64		major;
	int64		minor;
	int64		patch;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} SemVer;

#define SEMVER_HEADER_SIZE	offsetof(SemVer, data)
#define SEMVER_PRE(sv)		((sv)->data)
#define SEMVER_BUILD(sv)	((sv)->data + (sv)->pre_len)
#define SEMVER_BUILD_LEN(sv) (VARSIZE(sv) - SEMVER_HEADER_SIZE - (sv)->pre_len)

#define DatumGetSemVerP(X)		((SemVer *) PG_DETOAST_DATUM(X))
#define PG_GETARG_SEMVER_P(n)	DatumGetSemVerP(PG_GETARG_DATUM(n))
#define PG_RETURN_SEMVER_P(x)	PG_RETURN_POINTER(x)

/* Build a datum from a parsed version. */
extern SemVer *semver_from_parsed(const SvVersion *v);

/* View a datum as a parsed version (pointers into the datum). */
extern void semver_to_parsed(const SemVer *sv, SvVersion *v);

/* Parse text or raise the matching SQL error. */
extern SemVer *semver_parse_text(const char *str, size_t len, bool lax);

/* Raise the SQL error for a core parse failure of the given type name. */
extern void semver_report(SvError err, const char *detail,
						  const char *type_name, const char *str,
						  size_t len) pg_attribute_noreturn();

/* SemVer precedence of two datums. */
extern int	semver_cmp_internal(const SemVer *a, const SemVer *b);

#endif							/* ROLLOUT_SEMVER_H */
