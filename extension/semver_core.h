/*
 * semver_core.h
 *		SemVer 2.0.0 and node-semver range parsing, free of PostgreSQL.
 *
 * Everything here works on plain C strings with explicit lengths and never
 * allocates, so the same code runs inside the server and under libFuzzer
 * (test/fuzz/).  Errors are returned as codes plus a static description that
 * the SQL layer turns into ereport() calls.
 */
#ifndef SEMVER_CORE_H
#define SEMVER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted text of a version or a range, after trimming blanks. */
#define SV_MAX_TEXT			1024
#define SV_RANGE_MAX_TEXT	4096
/* Most comparators a range may expand to (each token yields at most two). */
#define SV_RANGE_MAX_COMPS	512
#define SV_RANGE_MAX_SETS	256

/* Largest major, minor or patch number: int64 maximum. */
#define SV_MAX_NUMBER		((uint64_t) INT64_MAX)

typedef enum SvError
{
	SV_OK = 0,
	SV_ERR_SYNTAX,				/* malformed text */
	SV_ERR_RANGE,				/* a number above SV_MAX_NUMBER */
	SV_ERR_TOOLONG				/* text or expansion above a limit */
} SvError;

/* A parsed version.  pre and build point into the parsed text. */
typedef struct SvVersion
{
	uint64_t	major;
	uint64_t	minor;
	uint64_t	patch;
	const char *pre;			/* pre-release identifiers, without '-' */
	size_t		pre_len;		/* 0: a release */
	const char *build;			/* build metadata, without '+' */
	size_t		build_len;
} SvVersion;

typedef enum SvOp
{
	SV_OP_EQ = 0,
	SV_OP_LT,
	SV_OP_LE,
	SV_OP_GT,
	SV_OP_GE
} SvOp;

/* One comparator of a range; pre points into the range's pool or a constant. */
typedef struct SvComparator
{
	SvOp		op;
	uint64_t	major;
	uint64_t	minor;
	uint64_t	patch;
	const char *pre;
	size_t		pre_len;
} SvComparator;

/*
 * A range: nsets alternatives ('||'), set i holding set_len[i] comparators
 * stored consecutively in comps.  A set with no comparator matches every
 * release (it is '*').
 */
typedef struct SvRange
{
	int			nsets;
	int			ncomps;
	int			set_len[SV_RANGE_MAX_SETS];
	SvComparator comps[SV_RANGE_MAX_COMPS];
	size_t		pool_used;
	char		pool[SV_RANGE_MAX_TEXT];	/* pre-release text of comps */
} SvRange;

/* Strict SemVer 2.0.0 (plus leading v/V and blanks). */
extern SvError sv_parse(const char *text, size_t len, SvVersion *out,
						const char **detail);

/* Lax: 1, 1.2, v1.2 and leading zeros in major/minor/patch are accepted. */
extern SvError sv_parse_lax(const char *text, size_t len, SvVersion *out,
							const char **detail);

/* True if [s, s+len) is a valid dot-separated identifier list. */
extern bool sv_valid_prerelease(const char *s, size_t len);
extern bool sv_valid_build(const char *s, size_t len);

/* SemVer precedence of two pre-release strings; "" (a release) is highest. */
extern int	sv_prerelease_cmp(const char *a, size_t alen,
							  const char *b, size_t blen);

/* SemVer precedence of two versions (build ignored): -1, 0 or 1. */
extern int	sv_version_cmp(const SvVersion *a, const SvVersion *b);

/*
 * Precedence keys: a version encoded so that memcmp() order is SemVer
 * precedence order and byte equality is precedence equality (build metadata
 * is not part of the key).  Layout:
 *
 *   key   := num(major) num(minor) num(patch) tail
 *   tail  := 0x02                      a release
 *          | 0x01 ident... 0x00        a pre-release (sorts below a release)
 *   ident := 0x01 num(value)           numeric identifier below 2^64
 *          | 0x01 0xC0 u16be(ndigits) digits   larger numeric identifier
 *          | 0x02 chars 0x00           alphanumeric identifier
 *   num(v) := v                        if v < 0x80 (one byte)
 *          | (0x80 + n) v as n big-endian bytes (n = 1..8)
 *
 * Shorter numbers sort first, numeric identifiers before alphanumeric ones,
 * fewer identifiers before more, exactly as SemVer 2.0.0 requires.
 */
#define SV_MAX_KEY	(2 * SV_MAX_TEXT + 64)

/* Encode v's key into buf (at least SV_MAX_KEY bytes); returns its length. */
extern size_t sv_key_encode(const SvVersion *v, uint8_t *buf);

/*
 * Decode a key.  The pre-release text is written to prebuf (at least
 * SV_MAX_TEXT bytes) and v->pre points to it; v->build is left empty.
 * Returns false if the bytes are not a well-formed key.
 */
extern bool sv_key_decode(const uint8_t *key, size_t len, SvVersion *v,
						  char *prebuf);

/* Parse a node-semver range into out. */
extern SvError sv_range_parse(const char *text, size_t len, SvRange *out,
							  const char **detail);

/* Whether v satisfies the range, with node-semver's pre-release rule. */
extern bool sv_range_match(const SvRange *r, const SvVersion *v);

/*
 * memcmp order of two precedence keys: -1, 0 or 1.  A byte loop: keys are a
 * few bytes and usually differ in the first ones (the major or the minor),
 * where a call to memcmp costs more than the comparison.  Inline, as the
 * server compares keys once per index tuple and once per row of a range
 * query.
 */
static inline int
sv_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return (alen > blen) - (alen < blen);
}

/*
 * A comparator set compiled for matching precedence keys (sv_range_plan).
 * The comparators of a set are half-lines of the precedence order, so they
 * hold together exactly on one interval, whose bounds are two of them; and
 * node-semver's pre-release rule lets a pre-release through only when a
 * comparator of the set names a pre-release of its major.minor.patch, which
 * often cannot happen inside the interval at all ('1.2 - 1.9' is
 * '>=1.2.0 <1.10.0-0': no pre-release of 1.10.0 is below 1.10.0-0).  So a
 * row costs a look at its key's last byte and two key comparisons.
 */
typedef struct SvSetPlan
{
	int			first;			/* the set's first comparator in comps */
	int			n;				/* and how many it has */
	int			lo;				/* comparator giving the lower bound, -1: none */
	int			hi;				/* comparator giving the upper bound, -1: none */
	bool		lo_incl;
	bool		hi_incl;
	bool		empty;			/* the bounds contradict: nothing matches */
	bool		pre;			/* a pre-release may match */
} SvSetPlan;

/*
 * Compile r (whose comparator i has the key ckey[i] of cklen[i] bytes) into
 * plan, r->nsets entries.
 */
extern void sv_range_plan(const SvRange *r, const uint8_t *const *ckey,
						  const size_t *cklen, SvSetPlan *plan);

/*
 * Whether the version whose key is vkey/vlen satisfies r, compiled into plan
 * with the same keys: sv_range_match() on keys, as the server stores
 * versions.
 */
extern bool sv_range_match_plan(const SvRange *r, const SvSetPlan *plan,
								const uint8_t *const *ckey,
								const size_t *cklen, const uint8_t *vkey,
								size_t vlen);

/*
 * Write the canonical text of a version or a range into buf (size bytes,
 * NUL-terminated, truncated if too small).  Returns the length the full text
 * needs, excluding the NUL, like snprintf.
 */
extern size_t sv_format(const SvVersion *v, bool with_build, char *buf,
						size_t size);
extern size_t sv_range_format(const SvRange *r, char *buf, size_t size);

#endif							/* SEMVER_CORE_H */
