/*
 * semver_range.c
 *		rollout.semver_range: node-semver ranges as a SQL type.
 *
 * A range is stored already expanded into primitive comparators, so
 * matching never re-parses text.  Layout after the varlena header:
 *   uint8 format, uint8 reserved, uint16 nsets, uint16 set_len[nsets],
 *   then per comparator: uint8 op, uint8 reserved, uint16 pre_len,
 *   int64 major, minor, patch, pre-release bytes.
 * Fields are read with memcpy, so no alignment is assumed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"

#include "semver.h"

PG_FUNCTION_INFO_V1(semver_range_in);
PG_FUNCTION_INFO_V1(semver_range_out);
PG_FUNCTION_INFO_V1(semver_range_recv);
PG_FUNCTION_INFO_V1(semver_range_send);
PG_FUNCTION_INFO_V1(semver_range_from_text);
PG_FUNCTION_INFO_V1(semver_range_to_text);
PG_FUNCTION_INFO_V1(semver_range_contains);
PG_FUNCTION_INFO_V1(semver_range_contained);
PG_FUNCTION_INFO_V1(semver_satisfies);
PG_FUNCTION_INFO_V1(semver_range_eq);
PG_FUNCTION_INFO_V1(semver_range_ne);
PG_FUNCTION_INFO_V1(semver_range_hash);
PG_FUNCTION_INFO_V1(semver_range_hash_extended);

#define RANGE_FORMAT_V1		1
#define RANGE_COMP_FIXED	(4 + 3 * sizeof(int64))

/* Serialize a parsed range into a new varlena. */
static bytea *
range_serialize(const SvRange *r)
{
	Size		size = VARHDRSZ + 4 + 2 * r->nsets;
	bytea	   *res;
	char	   *p;

	for (int i = 0; i < r->ncomps; i++)
		size += RANGE_COMP_FIXED + r->comps[i].pre_len;
	res = (bytea *) palloc0(size);
	SET_VARSIZE(res, size);
	p = VARDATA(res);
	*p++ = RANGE_FORMAT_V1;
	*p++ = 0;
	memcpy(p, &(uint16){r->nsets}, 2);
	p += 2;
	for (int i = 0; i < r->nsets; i++)
	{
		memcpy(p, &(uint16){r->set_len[i]}, 2);
		p += 2;
	}
	for (int i = 0; i < r->ncomps; i++)
	{
		const SvComparator *c = &r->comps[i];
		int64		nums[3] = {(int64) c->major, (int64) c->minor, (int64) c->patch};

		*p++ = (char) c->op;
		*p++ = 0;
		memcpy(p, &(uint16){c->pre_len}, 2);
		p += 2;
		memcpy(p, nums, sizeof(nums));
		p += sizeof(nums);
		memcpy(p, c->pre, c->pre_len);
		p += c->pre_len;
	}
	return res;
}

/* Decode a stored range into r; pre-release pointers point into the datum. */
static void
range_deserialize(const bytea *d, SvRange *r)
{
	const char *p = VARDATA_ANY(d);
	const char *end = p + VARSIZE_ANY_EXHDR(d);
	uint16		n;

	if (end - p < 4 || p[0] != RANGE_FORMAT_V1)
		elog(ERROR, "corrupt semver_range value");
	memcpy(&n, p + 2, 2);
	p += 4;
	r->nsets = n;
	r->ncomps = 0;
	if (n > SV_RANGE_MAX_SETS || end - p < 2 * n)
		elog(ERROR, "corrupt semver_range value");
	for (int i = 0; i < r->nsets; i++)
	{
		memcpy(&n, p, 2);
		p += 2;
		r->set_len[i] = n;
		r->ncomps += n;
	}
	if (r->ncomps > SV_RANGE_MAX_COMPS)
		elog(ERROR, "corrupt semver_range value");
	for (int i = 0; i < r->ncomps; i++)
	{
		SvComparator *c = &r->comps[i];
		int64		nums[3];

		if (end - p < (ptrdiff_t) RANGE_COMP_FIXED)
			elog(ERROR, "corrupt semver_range value");
		c->op = (SvOp) p[0];
		memcpy(&n, p + 2, 2);
		c->pre_len = n;
		memcpy(nums, p + 4, sizeof(nums));
		p += RANGE_COMP_FIXED;
		c->major = (uint64) nums[0];
		c->minor = (uint64) nums[1];
		c->patch = (uint64) nums[2];
		if (end - p < (ptrdiff_t) c->pre_len)
			elog(ERROR, "corrupt semver_range value");
		c->pre = p;
		p += c->pre_len;
	}
}

/* Decode range datum d into r (semver.h); r's strings point into d's detoasted copy. */
void
semver_range_decode(Datum d, SvRange *r)
{
	range_deserialize((bytea *) PG_DETOAST_DATUM_PACKED(d), r);
}

/* Parse range text, raising 22P02/22003/54000 on bad input. */
static void
range_parse_or_error(const char *str, size_t len, SvRange *r)
{
	const char *detail;
	SvError		err = sv_range_parse(str, len, r, &detail);

	if (err != SV_OK)
		semver_report(err, detail, "semver_range", str, len);
}

/* Parse range text into a new stored range. */
static bytea *
range_from_text(const char *str, size_t len)
{
	SvRange    *r = palloc(sizeof(SvRange));
	bytea	   *res;

	range_parse_or_error(str, len, r);
	res = range_serialize(r);
	pfree(r);
	return res;
}

/* Canonical text of a stored range, palloc'd. */
static char *
range_to_cstring(const bytea *d)
{
	SvRange    *r = palloc(sizeof(SvRange));
	size_t		need;
	char	   *buf;

	range_deserialize(d, r);
	need = sv_range_format(r, NULL, 0);
	buf = palloc(need + 1);
	sv_range_format(r, buf, need + 1);
	pfree(r);
	return buf;
}

struct RangeCache
{
	bool		stable;			/* the argument is the same on every call */
	Size		len;
	char	   *bytes;			/* copy of the datum, backing r's strings */
	uint8	   *keys;			/* the comparators' keys, back to back */
	SvSetPlan  *plan;			/* r compiled for matching keys */
	bool		one;			/* one set where no pre-release can match */
	SvRange		r;
	const uint8 *ckey[SV_RANGE_MAX_COMPS];
	size_t		cklen[SV_RANGE_MAX_COMPS];
};

/* View comparator c as a version (for encoding its key). */
static void
comp_version(const SvComparator *c, SvVersion *v)
{
	memset(v, 0, sizeof(*v));
	v->major = c->major;
	v->minor = c->minor;
	v->patch = c->patch;
	v->pre = c->pre;
	v->pre_len = c->pre_len;
}

/*
 * The decoded form of range datum d in c (allocated in cxt when NULL),
 * unless c already holds that very range.
 */
RangeCache *
semver_range_cache(MemoryContext cxt, Datum d, RangeCache *c)
{
	bytea	   *b = (bytea *) PG_DETOAST_DATUM_PACKED(d);
	Size		len = VARSIZE_ANY(b);

	if (c == NULL)
		c = MemoryContextAllocZero(cxt, sizeof(RangeCache));
	if (c->bytes == NULL || c->len != len || memcmp(c->bytes, b, len) != 0)
	{
		uint8		tmp[SV_MAX_KEY];
		size_t		total = 0;
		SvVersion	v;

		if (c->bytes)
			pfree(c->bytes);
		if (c->keys)
			pfree(c->keys);
		if (c->plan)
			pfree(c->plan);
		c->keys = NULL;
		c->plan = NULL;
		c->bytes = MemoryContextAlloc(cxt, len);
		memcpy(c->bytes, b, len);
		c->len = len;
		range_deserialize((bytea *) c->bytes, &c->r);
		for (int i = 0; i < c->r.ncomps; i++)
		{
			comp_version(&c->r.comps[i], &v);
			c->cklen[i] = sv_key_encode(&v, tmp);
			total += c->cklen[i];
		}
		c->keys = MemoryContextAlloc(cxt, Max(total, 1));
		total = 0;
		for (int i = 0; i < c->r.ncomps; i++)
		{
			comp_version(&c->r.comps[i], &v);
			sv_key_encode(&v, c->keys + total);
			c->ckey[i] = c->keys + total;
			total += c->cklen[i];
		}
		c->plan = MemoryContextAlloc(cxt, sizeof(SvSetPlan) * Max(c->r.nsets, 1));
		sv_range_plan(&c->r, c->ckey, c->cklen, c->plan);
		c->one = c->r.nsets == 1 && !c->plan[0].empty && !c->plan[0].pre;
	}
	return c;
}

/*
 * Whether argument argno of the call is a constant in the expression, so it
 * is the same on every call through this FmgrInfo.  (Not a Param, which
 * get_fn_expr_arg_stable() also accepts: PL/pgSQL keeps the state of a
 * simple expression across evaluations while its variables, external
 * Params, change.)
 */
static bool
arg_is_const(FmgrInfo *flinfo, int argno)
{
	Node	   *expr = flinfo->fn_expr;
	List	   *args;

	if (expr == NULL)
		return false;
	if (IsA(expr, FuncExpr))
		args = ((FuncExpr *) expr)->args;
	else if (IsA(expr, OpExpr))
		args = ((OpExpr *) expr)->args;
	else
		return false;
	return argno < list_length(args) && IsA(list_nth(args, argno), Const);
}

/*
 * Range argument argno decoded, with each comparator's precedence key, cached
 * in fn_extra: queries such as "WHERE v <@ '^1.2'" call us once per row with
 * the same range, and each row then costs a few byte comparisons.  A
 * constant range is not even compared with the cached one.
 */
static pg_attribute_always_inline const RangeCache *
cached_range(FunctionCallInfo fcinfo, int argno)
{
	RangeCache *c = fcinfo->flinfo->fn_extra;

	if (likely(c != NULL && c->stable))
		return c;
	c = semver_range_cache(fcinfo->flinfo->fn_mcxt, PG_GETARG_DATUM(argno), c);
	c->stable = arg_is_const(fcinfo->flinfo, argno);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/*
 * Does the semver datum satisfy the decoded range?  Compares keys only.  The
 * common range, one comparator set that no pre-release can match ('^1.2',
 * '1.2 - 1.9', '~1.2.3', '>=1.0.0'), is tested here, inline: a look at the
 * key's last byte (a pre-release's is not 0x02) and at most two
 * comparisons, as a range query does once per row the index returns.
 */
static pg_attribute_always_inline bool
cache_match(const RangeCache *c, Datum d)
{
	SemVerView	v;
	const SvSetPlan *p = c->plan;
	int			cmp;

	semver_view(semver_detoast(d), &v);
	if (!c->one)
		return sv_range_match_plan(&c->r, p, c->ckey, c->cklen, v.key, v.keylen);
	if (v.keylen == 0 || v.key[v.keylen - 1] != 0x02)
		return false;
	if (p->lo >= 0)
	{
		cmp = sv_key_cmp(v.key, v.keylen, c->ckey[p->lo], c->cklen[p->lo]);
		if (cmp < 0 || (cmp == 0 && !p->lo_incl))
			return false;
	}
	if (p->hi >= 0)
	{
		cmp = sv_key_cmp(v.key, v.keylen, c->ckey[p->hi], c->cklen[p->hi]);
		if (cmp > 0 || (cmp == 0 && !p->hi_incl))
			return false;
	}
	return true;
}

/* Does the semver datum satisfy the decoded range? (semver.h) */
bool
semver_range_cache_match(const RangeCache *c, Datum d)
{
	return cache_match(c, d);
}

/* semver_range_in(cstring) returns semver_range */
Datum
semver_range_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_BYTEA_P(range_from_text(str, strlen(str)));
}

/* semver_range_out(semver_range) returns cstring: canonical comparators */
Datum
semver_range_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(range_to_cstring(PG_GETARG_BYTEA_PP(0)));
}

/* semver_range_send: format byte 1, then the canonical text */
Datum
semver_range_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	char	   *s = range_to_cstring(PG_GETARG_BYTEA_PP(0));

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, RANGE_FORMAT_V1);
	pq_sendtext(&buf, s, strlen(s));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* semver_range_recv: re-parses the text, so it validates fully */
Datum
semver_range_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			format = pq_getmsgbyte(buf);
	int			nbytes;
	char	   *s;

	if (format != RANGE_FORMAT_V1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary format version for type semver_range: %d", format)));
	s = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_BYTEA_P(range_from_text(s, nbytes));
}

/* semver_range(text) returns semver_range */
Datum
semver_range_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BYTEA_P(range_from_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* text(semver_range) returns text */
Datum
semver_range_to_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(range_to_cstring(PG_GETARG_BYTEA_PP(0))));
}

/* semver_range @> semver */
Datum
semver_range_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cache_match(cached_range(fcinfo, 0), PG_GETARG_DATUM(1)));
}

/* semver <@ semver_range */
Datum
semver_range_contained(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cache_match(cached_range(fcinfo, 1), PG_GETARG_DATUM(0)));
}

/* The range text satisfies() last parsed, and the range decoded. */
typedef struct SatisfiesCache
{
	bool		stable;			/* the text is the same on every call */
	Size		len;
	char	   *text;
	RangeCache *range;
} SatisfiesCache;

/*
 * satisfies(semver, text) returns boolean.  The text is parsed when it
 * differs from the previous call's (kept in fn_extra), so a query such as
 * "WHERE satisfies(v, '^1.2')" parses it once, not once per row.
 */
Datum
semver_satisfies(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(1);
	const char *str = VARDATA_ANY(t);
	Size		len = VARSIZE_ANY_EXHDR(t);
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	SatisfiesCache *c = fcinfo->flinfo->fn_extra;

	if (c == NULL)
		fcinfo->flinfo->fn_extra = c = MemoryContextAllocZero(cxt, sizeof(SatisfiesCache));
	if (c->text == NULL ||
		(!c->stable && (c->len != len || memcmp(c->text, str, len) != 0)))
	{
		bytea	   *r = range_from_text(str, len);

		c->range = semver_range_cache(cxt, PointerGetDatum(r), c->range);
		if (c->text)
			pfree(c->text);
		c->text = MemoryContextAlloc(cxt, Max(len, 1));
		memcpy(c->text, str, len);
		c->len = len;
		c->stable = arg_is_const(fcinfo->flinfo, 1);
		pfree(r);
	}
	PG_RETURN_BOOL(cache_match(c->range, PG_GETARG_DATUM(0)));
}

/*
 * Equality of ranges is equality of their canonical forms: '^1.2.3' and
 * '>=1.2.3 <2.0.0-0' are the same range.  (Two ranges written differently
 * that match the same versions without the same canonical form, such as two
 * ranges that match nothing, are not equal.)  Ranges have no order.
 */
static bool
range_equal(FunctionCallInfo fcinfo)
{
	char	   *a = range_to_cstring(PG_GETARG_BYTEA_PP(0));
	char	   *b = range_to_cstring(PG_GETARG_BYTEA_PP(1));
	bool		eq = strcmp(a, b) == 0;

	pfree(a);
	pfree(b);
	return eq;
}

/* semver_range = semver_range */
Datum
semver_range_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(range_equal(fcinfo));
}

/* semver_range <> semver_range */
Datum
semver_range_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!range_equal(fcinfo));
}

/* semver_range_hash(semver_range) returns int4: a hash of the canonical text */
Datum
semver_range_hash(PG_FUNCTION_ARGS)
{
	char	   *t = range_to_cstring(PG_GETARG_BYTEA_PP(0));
	Datum		h = hash_any((const unsigned char *) t, strlen(t));

	pfree(t);
	return h;
}

/* semver_range_hash_extended(semver_range, int8) returns int8: seeded hash */
Datum
semver_range_hash_extended(PG_FUNCTION_ARGS)
{
	char	   *t = range_to_cstring(PG_GETARG_BYTEA_PP(0));
	Datum		h = hash_any_extended((const unsigned char *) t, strlen(t), PG_GETARG_INT64(1));

	pfree(t);
	return h;
}
