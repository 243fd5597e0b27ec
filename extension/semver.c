/*
 * semver.c
 *		rollout.semver: text and binary input/output, accessors, conversions.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "semver.h"

PG_FUNCTION_INFO_V1(semver_in);
PG_FUNCTION_INFO_V1(semver_out);
PG_FUNCTION_INFO_V1(semver_recv);
PG_FUNCTION_INFO_V1(semver_send);
PG_FUNCTION_INFO_V1(semver_major);
PG_FUNCTION_INFO_V1(semver_minor);
PG_FUNCTION_INFO_V1(semver_patch);
PG_FUNCTION_INFO_V1(semver_prerelease);
PG_FUNCTION_INFO_V1(semver_build);
PG_FUNCTION_INFO_V1(semver_is_prerelease);
PG_FUNCTION_INFO_V1(semver_to_semver_lax);
PG_FUNCTION_INFO_V1(semver_is_semver);
PG_FUNCTION_INFO_V1(semver_from_text);
PG_FUNCTION_INFO_V1(semver_to_text);

/* Raise the SQL error for a parse failure: 22P02, 22003 or 54000. */
void
semver_report(SvError err, const char *detail, const char *type_name,
			  const char *str, size_t len)
{
	char	   *shown = pnstrdup(str, Min(len, 200));
	int			code;

	switch (err)
	{
		case SV_ERR_RANGE:
			code = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
			break;
		case SV_ERR_TOOLONG:
			code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		default:
			code = ERRCODE_INVALID_TEXT_REPRESENTATION;
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 err == SV_ERR_RANGE ?
			 errmsg("value out of range for type %s: \"%s\"", type_name, shown) :
			 err == SV_ERR_TOOLONG ?
			 errmsg("input is too long for type %s: \"%s%s\"", type_name,
					shown, len > 200 ? "..." : "") :
			 errmsg("invalid input syntax for type %s: \"%s%s\"", type_name,
					shown, len > 200 ? "..." : ""),
			 detail ? errdetail("%s", detail) : 0));
	pg_unreachable();
}

/* Build a palloc'd datum from a parsed version: prefix, key, build. */
struct varlena *
semver_from_parsed(const SvVersion *v)
{
	uint8		key[SV_MAX_KEY];
	size_t		keylen = sv_key_encode(v, key);
	Size		size = VARHDRSZ + SEMVER_PREFIX + keylen + v->build_len;
	struct varlena *sv = (struct varlena *) palloc(size);
	uint8	   *p = (uint8 *) VARDATA(sv);

	SET_VARSIZE(sv, size);
	p[0] = SEMVER_FORMAT_V1;
	p[1] = (uint8) (keylen >> 8);
	p[2] = (uint8) keylen;
	memcpy(p + SEMVER_PREFIX, key, keylen);
	if (v->build_len > 0)
		memcpy(p + SEMVER_PREFIX + keylen, v->build, v->build_len);
	return sv;
}

/* Decode a datum into v; the pre-release text goes to prebuf. */
void
semver_decode(const struct varlena *sv, SvVersion *v, char *prebuf)
{
	SemVerView	view;

	semver_view(sv, &view);
	if (((const uint8 *) VARDATA_ANY(sv))[0] != SEMVER_FORMAT_V1 ||
		view.build_len < 0 ||
		!sv_key_decode(view.key, view.keylen, v, prebuf))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt semver value")));
	v->build = view.build;
	v->build_len = view.build_len;
}

/* Parse text strictly (or laxly) into a new datum, raising on bad input. */
struct varlena *
semver_parse_text(const char *str, size_t len, bool lax)
{
	SvVersion	v;
	const char *detail;
	SvError		err;

	err = lax ? sv_parse_lax(str, len, &v, &detail) :
		sv_parse(str, len, &v, &detail);
	if (err != SV_OK)
		semver_report(err, detail, "semver", str, len);
	return semver_from_parsed(&v);
}

/* Canonical text of a datum, palloc'd. */
char *
semver_out_text(const struct varlena *sv)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];
	size_t		need;
	char	   *buf;

	semver_decode(sv, &v, prebuf);
	need = sv_format(&v, true, NULL, 0);
	buf = palloc(need + 1);
	sv_format(&v, true, buf, need + 1);
	return buf;
}

/* semver_in(cstring) returns semver */
Datum
semver_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SvVersion	v;
	const char *detail;
	SvError		err;

	err = sv_parse(str, strlen(str), &v, &detail);
	if (err != SV_OK)
	{
		/* soft errors (PG 16+: pg_input_is_valid) must not throw */
#if PG_VERSION_NUM >= 160000
		if (fcinfo->context && IsA(fcinfo->context, ErrorSaveContext))
			ereturn(fcinfo->context, (Datum) 0,
					(errcode(err == SV_ERR_RANGE ? ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE :
							 err == SV_ERR_TOOLONG ? ERRCODE_PROGRAM_LIMIT_EXCEEDED :
							 ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"", "semver", str)));
#endif
		semver_report(err, detail, "semver", str, strlen(str));
	}
	PG_RETURN_SEMVER_P(semver_from_parsed(&v));
}

/* semver_out(semver) returns cstring: canonical M.m.p[-pre][+build] */
Datum
semver_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(semver_out_text(PG_GETARG_SEMVER_P(0)));
}

/*
 * semver_send(semver) returns bytea.  Wire format: format byte (1), major,
 * minor, patch as int64, then pre-release and build each as int16 length
 * and bytes.
 */
Datum
semver_send(PG_FUNCTION_ARGS)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];
	StringInfoData buf;

	semver_decode(PG_GETARG_SEMVER_P(0), &v, prebuf);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SEMVER_FORMAT_V1);
	pq_sendint64(&buf, (int64) v.major);
	pq_sendint64(&buf, (int64) v.minor);
	pq_sendint64(&buf, (int64) v.patch);
	pq_sendint16(&buf, (uint16) v.pre_len);
	pq_sendbytes(&buf, v.pre, v.pre_len);
	pq_sendint16(&buf, (uint16) v.build_len);
	pq_sendbytes(&buf, v.build, v.build_len);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* semver_recv(internal) returns semver; validates every field */
Datum
semver_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	SvVersion	v;
	int			format = pq_getmsgbyte(buf);
	int64		nums[3];

	if (format != SEMVER_FORMAT_V1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary format version for type semver: %d", format)));
	for (int i = 0; i < 3; i++)
	{
		nums[i] = pq_getmsgint64(buf);
		if (nums[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("negative number in binary semver value")));
	}
	v.major = (uint64) nums[0];
	v.minor = (uint64) nums[1];
	v.patch = (uint64) nums[2];
	v.pre_len = (uint16) pq_getmsgint(buf, 2);
	v.pre = pq_getmsgbytes(buf, v.pre_len);
	v.build_len = (uint16) pq_getmsgint(buf, 2);
	v.build = pq_getmsgbytes(buf, v.build_len);
	if ((v.pre_len > 0 && !sv_valid_prerelease(v.pre, v.pre_len)) ||
		(v.build_len > 0 && !sv_valid_build(v.build, v.build_len)) ||
		v.pre_len + v.build_len > SV_MAX_TEXT ||
		sv_format(&v, true, NULL, 0) > SV_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid pre-release or build metadata in binary semver value")));
	PG_RETURN_SEMVER_P(semver_from_parsed(&v));
}

/* Decode argument 0: numbers, pre-release in prebuf, build in the datum. */
static void
decode_arg(FunctionCallInfo fcinfo, SvVersion *v, char *prebuf)
{
	semver_decode(PG_GETARG_SEMVER_P(0), v, prebuf);
}

/* major(semver) returns bigint */
Datum
semver_major(PG_FUNCTION_ARGS)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];

	decode_arg(fcinfo, &v, prebuf);
	PG_RETURN_INT64((int64) v.major);
}

/* minor(semver) returns bigint */
Datum
semver_minor(PG_FUNCTION_ARGS)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];

	decode_arg(fcinfo, &v, prebuf);
	PG_RETURN_INT64((int64) v.minor);
}

/* patch(semver) returns bigint */
Datum
semver_patch(PG_FUNCTION_ARGS)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];

	decode_arg(fcinfo, &v, prebuf);
	PG_RETURN_INT64((int64) v.patch);
}

/* prerelease(semver) returns text, NULL for a release */
Datum
semver_prerelease(PG_FUNCTION_ARGS)
{
	SvVersion	v;
	char		prebuf[SV_MAX_TEXT];

	decode_arg(fcinfo, &v, prebuf);
	if (v.pre_len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(v.pre, v.pre_len));
}

/* build(semver) returns text, NULL without build metadata */
Datum
semver_build(PG_FUNCTION_ARGS)
{
	SemVerView	view;

	semver_view(PG_GETARG_SEMVER_P(0), &view);
	if (view.build_len <= 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(view.build, view.build_len));
}

/* is_prerelease(semver) returns boolean: the key's tail is not "release" */
Datum
semver_is_prerelease(PG_FUNCTION_ARGS)
{
	SemVerView	view;

	semver_view(PG_GETARG_SEMVER_P(0), &view);
	PG_RETURN_BOOL(view.keylen > 0 && view.key[view.keylen - 1] != 0x02);
}

/* to_semver(text) returns semver: lax conversion, 1.2 -> 1.2.0 */
Datum
semver_to_semver_lax(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_SEMVER_P(semver_parse_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true));
}

/* is_semver(text) returns boolean; never raises */
Datum
semver_is_semver(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	SvVersion	v;
	const char *detail;

	PG_RETURN_BOOL(sv_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v, &detail) == SV_OK);
}

/* semver(text) returns semver: the text cast */
Datum
semver_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_SEMVER_P(semver_parse_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false));
}

/* text(semver) returns text: the canonical form */
Datum
semver_to_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(semver_out_text(PG_GETARG_SEMVER_P(0))));
}
