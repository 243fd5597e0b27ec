/*
 * rollout_request.c
 *		The fields of the clients' JSON requests, validated in one place.
 *
 * check_update (C) and download_started / install_result (SQL, through
 * rollout.request_text and rollout.request_version) read request fields
 * with these functions, so each field has one rule: its longest length,
 * its syntax, what it is cut to.  Errors are 22023 (22P02 for a version)
 * with the field in the error's COLUMN and a message key (required, type,
 * too_long, invalid) in its CONSTRAINT, which rollout-http localizes.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "rollout.h"
#include "semver.h"

PG_FUNCTION_INFO_V1(rollout_request_text_sql);
PG_FUNCTION_INFO_V1(rollout_request_version_sql);

typedef bool (*TextCheck) (const char *s, int len);

/* ^[a-z0-9][a-z0-9-]{0,62}$ */
static bool
check_slug(const char *s, int len)
{
	if (len < 1 || len > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (int i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* ^[\x21-\x7e]+$ */
static bool
check_printable(const char *s, int len)
{
	if (len < 1)
		return false;
	for (int i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* An ASCII letter or digit, then letters, digits or characters of extra; max in all. */
static bool
check_name(const char *s, int len, int max, const char *extra)
{
	if (len < 1 || len > max || !rollout_is_alnum(s[0]))
		return false;
	for (int i = 1; i < len; i++)
		if (!rollout_is_alnum(s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
			return false;
	return true;
}

/* ^[A-Za-z0-9][A-Za-z0-9-]{0,31}$ */
static bool
check_region(const char *s, int len)
{
	return check_name(s, len, 32, "-");
}

/* ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ */
static bool
check_channel(const char *s, int len)
{
	return check_name(s, len, 32, "-_");
}

/* ^[A-Za-z0-9_]{1,32}$ */
static bool
check_word(const char *s, int len)
{
	if (len < 1 || len > 32)
		return false;
	for (int i = 0; i < len; i++)
		if (!rollout_is_alnum(s[i]) && s[i] != '_')
			return false;
	return true;
}

/* ^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,2}$ */
static bool
check_locale(const char *s, int len)
{
	int			i = 0,
				parts = 0;

	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
		i++;
	if (i < 2 || i > 3)
		return false;
	while (i < len)
	{
		int			start;

		if ((s[i] != '-' && s[i] != '_') || ++parts > 2)
			return false;
		start = ++i;
		while (i < len && rollout_is_alnum(s[i]))
			i++;
		if (i - start < 2 || i - start > 8)
			return false;
	}
	return true;
}

/* ^[0-9A-Fa-f:.]{2,45}$ */
static bool
check_ip(const char *s, int len)
{
	if (len < 2 || len > 45)
		return false;
	for (int i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
			  (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.'))
			return false;
	return true;
}

static const char *
jsonb_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "object" : "array";
		default:
			return "array";
	}
}

/* The rule of each request field. */
typedef struct FieldRule
{
	const char *name;
	TextCheck	check;			/* NULL: any text */
	int			max_len;		/* longer: too_long */
	int			keep;			/* longer: cut to this many characters (0: never) */
} FieldRule;

static const FieldRule field_rules[] = {
	{"project", check_slug, 63, 0},		/* ^[a-z0-9][a-z0-9-]{0,62}$ */
	{"client_id", check_printable, 128, 0},
	{"current_version", NULL, 1024, 0},
	{"version", NULL, 1024, 0},
	{"min_upgrade_version", NULL, 1024, 0},
	{"channel", check_channel, 32, 0},
	{"region", check_region, 32, 0},
	{"os", check_word, 32, 0},
	{"arch", check_word, 32, 0},
	{"locale", check_locale, 35, 0},
	{"ip", check_ip, 45, 0},
	{"user_agent", NULL, 100000, 512},
	{"error_message", NULL, 100000, 2000},
};

static const FieldRule *
rule_of(const char *field)
{
	for (int i = 0; i < (int) lengthof(field_rules); i++)
		if (strcmp(field_rules[i].name, field) == 0)
			return &field_rules[i];
	elog(ERROR, "rollout: no rule for request field \"%s\"", field);
	return NULL;				/* keep the compiler quiet */
}

/* 22023 unless the request is a JSON object. */
void
rollout_request_check(Jsonb *req)
{
	if (req == NULL || !JB_ROOT_IS_OBJECT(req))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the request must be a JSON object"),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "type")));
}

/*
 * A text field of the request, validated by its rule (palloc'd), or NULL
 * when absent or JSON null.
 */
char *
rollout_request_text(Jsonb *req, const char *field, bool required)
{
	const FieldRule *rule = rule_of(field);
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&req->root, field, strlen(field), &buf);
	const char *s;
	int			len;

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is required", field),
					 err_generic_string(PG_DIAG_COLUMN_NAME, field),
					 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "required")));
		return NULL;
	}
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a string, not %s", field, jsonb_type_name(v)),
				 err_generic_string(PG_DIAG_COLUMN_NAME, field),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "type")));
	s = v->val.string.val;
	len = v->val.string.len;
	if (pg_mbstrlen_with_len(s, len) > rule->max_len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most %d characters", field, rule->max_len),
				 err_generic_string(PG_DIAG_COLUMN_NAME, field),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "too_long")));
	if (rule->check != NULL && !rule->check(s, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: \"%s\"", field, pnstrdup(s, pg_mbcharcliplen(s, len, 100))),
				 err_generic_string(PG_DIAG_COLUMN_NAME, field),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "invalid")));
	if (rule->keep > 0)
		len = pg_mbcharcliplen(s, len, rule->keep);
	return pnstrdup(s, len);
}

/* A version field of the request (22P02 naming the field if it is not SemVer), or NULL. */
struct varlena *
rollout_request_version(Jsonb *req, const char *field, bool required)
{
	char	   *t = rollout_request_text(req, field, required);
	SvVersion	v;
	const char *detail;

	if (t == NULL)
		return NULL;
	if (sv_parse(t, strlen(t), &v, &detail) != SV_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid %s: \"%s\" is not a semantic version",
						field, pnstrdup(t, pg_mbcharcliplen(t, strlen(t), 100))),
				 errhint("Use MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.2.3 or v1.2.3-rc.1."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, field),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "invalid")));
	return semver_from_parsed(&v);
}

/* rollout.request_text(request jsonb, field text, required boolean DEFAULT false) returns text */
Datum
rollout_request_text_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *req = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	char	   *t;

	rollout_request_check(req);
	t = rollout_request_text(req, text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_BOOL(2));
	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(t));
}

/* rollout.request_version(request jsonb, field text, required boolean) returns semver */
Datum
rollout_request_version_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *req = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	struct varlena *v;

	rollout_request_check(req);
	v = rollout_request_version(req, text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_BOOL(2));
	if (v == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(v);
}

/* ASCII lowercase in place (the fields' rules allow ASCII only). */
char *
rollout_ascii_lower(char *s)
{
	for (char *c = s; c != NULL && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	return s;
}
