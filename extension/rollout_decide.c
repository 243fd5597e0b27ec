/*
 * rollout_decide.c
 *		rollout.check_update: the update decision of SPEC §7, in C, over the
 *		per-backend cache of each project's configuration (rollout_cache.c).
 *
 * The decision proper (decide_core: the rule, the candidates, the rollout,
 * reachability, the rollback, forced) works on the cached structs of
 * rollout_cache.h and the parsed request alone: no catalog access, no
 * recording.  Around it stays the PostgreSQL glue: parsing the JSON request,
 * the release texts read when a version is first offered, the jsonb answer,
 * and what a check records (SPEC §7.8), handed to rollout_queue.c (on a hot
 * standby, handed back to the caller: as the answer's "record", or beside a
 * signed answer).  With the
 * configuration in memory a check costs a JSON parse, a few key comparisons
 * and one SHA-256 per considered version.
 *
 * rollout.simulate_decision (behind rollout.simulate_check, the admin UI's
 * decision simulator) runs the very same functions with a trace: each step
 * of the decision is written down as it is taken, and nothing is recorded.
 * Without a trace (check_update) the trace costs one NULL test per step.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "rollout.h"
#include "rollout_cache.h"
#include "semver.h"

PG_FUNCTION_INFO_V1(rollout_check_update);
PG_FUNCTION_INFO_V1(rollout_simulate_decision);

/* ---------------------------------------------------------------------
 * Building the result
 * ---------------------------------------------------------------------
 */

static void
put_key(JsonbParseState **st, const char *k)
{
	JsonbValue	key;

	key.type = jbvString;
	key.val.string.val = (char *) k;
	key.val.string.len = strlen(k);
	(void) pushJsonbValue(st, WJB_KEY, &key);
}

/* Push "k": v into the object being built; v NULL: JSON null. */
static void
put_value(JsonbParseState **st, const char *k, JsonbValue *v)
{
	JsonbValue	null;

	put_key(st, k);
	if (v == NULL)
	{
		null.type = jbvNull;
		v = &null;
	}
	(void) pushJsonbValue(st, WJB_VALUE, v);
}

static void
put_null(JsonbParseState **st, const char *k)
{
	put_value(st, k, NULL);
}

static void
put_str(JsonbParseState **st, const char *k, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = s ? strlen(s) : 0;
	put_value(st, k, s ? &v : NULL);
}

static void
put_bool(JsonbParseState **st, const char *k, bool b)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	put_value(st, k, &v);
}

static void
put_numeric(JsonbParseState **st, const char *k, Numeric n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	put_value(st, k, n ? &v : NULL);
}

static void
put_int(JsonbParseState **st, const char *k, int64 i)
{
	put_numeric(st, k, int64_to_numeric(i));
}

/* variants ->> key: a string as is, other scalars as their JSON text. */
static char *
jsonb_get_text(Jsonb *variants, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v;

	if (variants == NULL || key == NULL)
		return NULL;
	v = getKeyJsonValueFromContainer(&variants->root, key, strlen(key), &buf);
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

/* locale's text, else its language's, else the default, else English's. */
static const char *
localized(Jsonb *variants, const char *locale, const char *fallback)
{
	char	   *t = jsonb_get_text(variants, locale);
	char		lang[8];
	const char *dash = strchr(locale, '-');

	if (t)
		return t;
	if (dash == NULL)
		dash = locale + strlen(locale);
	strlcpy(lang, locale, Min((size_t) (dash - locale) + 1, sizeof(lang)));
	if ((t = jsonb_get_text(variants, lang)) != NULL)
		return t;
	if (fallback != NULL && fallback[0] != '\0')
		return fallback;
	if ((t = jsonb_get_text(variants, "en")) != NULL)
		return t;
	return fallback;
}

/* A relative file URL resolved against the region's mirror, else "global". */
static const char *
resolve_url(CachedProject *p, const char *region, const char *url)
{
	const char *s = url;
	const char *base = NULL;

	if (url == NULL)
		return NULL;
	/* ^[a-z][a-z0-9+.-]*:// case-insensitively: absolute */
	if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
	{
		s++;
		while (rollout_is_alnum(*s) || *s == '+' || *s == '.' || *s == '-')
			s++;
		if (strncmp(s, "://", 3) == 0)
			return url;
	}
	for (int i = 0; i < p->nmirrors; i++)
	{
		if (strcmp(p->mirrors[i].region, region) == 0)
		{
			base = p->mirrors[i].base_url;
			break;
		}
		if (strcmp(p->mirrors[i].region, "global") == 0)
			base = p->mirrors[i].base_url;
	}
	if (base == NULL)
		return url;
	{
		int			blen = strlen(base);

		while (blen > 0 && base[blen - 1] == '/')
			blen--;
		while (*url == '/')
			url++;
		return psprintf("%.*s/%s", blen, base, url);
	}
}

/* ---------------------------------------------------------------------
 * The decision
 * ---------------------------------------------------------------------
 */

/* The channel of this name; NULL if none. */
static CachedChannel *
find_channel(CachedProject *p, const char *name)
{
	for (int i = 0; name != NULL && i < p->nchannels; i++)
		if (strcmp(p->channels[i].name, name) == 0)
			return &p->channels[i];
	return NULL;
}
/* The file a version offers to (os, arch); NULL if it has none for them. */
static const CachedFile *
file_for(const CachedVersion *v, const char *os, const char *arch)
{
	if (v->nartifacts == 0)
		return &v->file;
	if (os == NULL || arch == NULL)
		return NULL;
	for (int i = 0; i < v->nartifacts; i++)
		if (strcmp(v->artifacts[i].os, os) == 0 && strcmp(v->artifacts[i].arch, arch) == 0)
			return &v->artifacts[i];
	return NULL;
}

/* Why a candidate is not offered (SKIP_NONE: it is); the trace names them. */
typedef enum Skip
{
	SKIP_NONE,
	SKIP_PAUSED,
	SKIP_YANKED,
	SKIP_SCHEDULED,
	SKIP_CHANNEL_INACTIVE,
	SKIP_LESS_STABLE,
	SKIP_PINNED,
	SKIP_NO_ARTIFACT
} Skip;

static const char *const skip_names[] = {
	"offerable", "paused", "yanked", "scheduled", "channel_inactive",
	"less_stable_channel", "pinned_by_rule", "no_artifact"
};

/*
 * Offerable (SKIP_NONE): published, due, in an eligible channel, under the
 * pin, with a file for (os, arch), which goes to *file.  Else why not.
 */
static Skip
offerable(const CachedVersion *v, TimestampTz now, const CachedChannel *eff,
		  const CachedRule *rule, const char *os, const char *arch, const CachedFile **file)
{
	if (v->status != VS_PUBLISHED)
		return v->status == VS_YANKED ? SKIP_YANKED : SKIP_PAUSED;
	if (v->publish_time > now)
		return SKIP_SCHEDULED;
	if (!v->channel->is_active)
		return SKIP_CHANNEL_INACTIVE;
	if (v->channel->rank > eff->rank)
		return SKIP_LESS_STABLE;
	if (rule != NULL && rule->pin != NULL && semver_key_cmp(&v->key, &rule->pin_key) > 0)
		return SKIP_PINNED;
	*file = file_for(v, os, arch);
	return *file != NULL ? SKIP_NONE : SKIP_NO_ARTIFACT;
}

/* The client's rollout bucket for a version, in [0, 10000). */
static int32
bucket(const char *client_id, const CachedVersion *v)
{
	return rollout_bucket_bytes(client_id, strlen(client_id), v->salt, strlen(v->salt));
}

/* Where a version's rollout percentage comes from; the trace names them. */
typedef enum PercentageFrom
{
	PCT_VERSION,
	PCT_RULE,
	PCT_CHANNEL
} PercentageFrom;

static const char *const percentage_from_names[] = {"version", "rule", "channel"};

/*
 * The percentage a version rolls out to (*pct) and its bucket threshold
 * (*threshold): the version's own, else the matched rule's, else its
 * channel's.  Returns which one it is.
 */
static PercentageFrom
rollout_percentage(const CachedVersion *v, const CachedRule *rule, Numeric *pct, int32 *threshold)
{
	if (v->pct != NULL)
	{
		*pct = v->pct;
		*threshold = v->threshold;
		return PCT_VERSION;
	}
	if (rule != NULL && rule->pct != NULL)
	{
		*pct = rule->pct;
		*threshold = rule->threshold;
		return PCT_RULE;
	}
	*pct = v->channel->pct;
	*threshold = v->channel->threshold;
	return PCT_CHANNEL;
}

/* ---------------------------------------------------------------------
 * The trace of a simulated decision
 * ---------------------------------------------------------------------
 */

/*
 * The steps of a decision, as a JSON array being built: each step is
 * {"step", "version"?, "outcome", "detail": {...}}.  Only a simulation has
 * one; check_update passes NULL and every trace call sits behind "if (trace)".
 */
typedef struct Trace
{
	JsonbParseState *st;
} Trace;

/* Open a step; the caller adds the detail's fields (put_* on t->st), then trace_end. */
static void
trace_step(Trace *t, const char *step, const CachedVersion *v, const char *outcome)
{
	(void) pushJsonbValue(&t->st, WJB_BEGIN_OBJECT, NULL);
	put_str(&t->st, "step", step);
	if (v != NULL)
		put_str(&t->st, "version", v->tag);
	put_str(&t->st, "outcome", outcome);
	put_key(&t->st, "detail");
	(void) pushJsonbValue(&t->st, WJB_BEGIN_OBJECT, NULL);
}

/* Close the step trace_step opened. */
static void
trace_end(Trace *t)
{
	(void) pushJsonbValue(&t->st, WJB_END_OBJECT, NULL);
	(void) pushJsonbValue(&t->st, WJB_END_OBJECT, NULL);
}

/* The percentage a version's rollout uses and where it comes from, into a step. */
static void
trace_rollout(Trace *t, const CachedVersion *v, const CachedRule *rule, int32 bkt)
{
	Numeric		pct;
	int32		threshold;
	PercentageFrom from = rollout_percentage(v, rule, &pct, &threshold);

	put_int(&t->st, "bucket", bkt);
	put_int(&t->st, "threshold", threshold);
	put_numeric(&t->st, "percentage", pct);
	put_str(&t->st, "percentage_from", percentage_from_names[from]);
	put_str(&t->st, "salt", v->salt);
}

/* A candidate skipped for a reason of offerable(), into the trace. */
static void
trace_skip(Trace *t, const CachedVersion *v, Skip why, const CachedChannel *eff, const CachedRule *rule)
{
	trace_step(t, "candidate", v, skip_names[why]);
	switch (why)
	{
		case SKIP_SCHEDULED:
			put_str(&t->st, "publish_time", JsonEncodeDateTime(NULL, TimestampTzGetDatum(v->publish_time),
															   TIMESTAMPTZOID, NULL));
			break;
		case SKIP_CHANNEL_INACTIVE:
		case SKIP_LESS_STABLE:
			put_str(&t->st, "channel", v->channel->name);
			put_str(&t->st, "client_channel", eff->name);
			break;
		case SKIP_PINNED:
			put_str(&t->st, "pin", semver_out_text(rule->pin));
			break;
		default:
			break;
	}
	trace_end(t);
}

/* ---------------------------------------------------------------------
 * The decision
 * ---------------------------------------------------------------------
 */

/* A check's request, validated, with its project's channel resolved. */
typedef struct Request
{
	struct varlena *cur;
	SemVerView	cur_key;
	char	   *cid;
	char	   *region;			/* "global" when not given */
	char	   *os;				/* NULL: not given */
	char	   *arch;
	char	   *locale;			/* "en" when not given, '_' as '-' */
	char	   *ua;
	char	   *ip_text;
	Datum		ip;
	const CachedChannel *ch;	/* the channel asked for, else the project's default */
	TimestampTz now;
} Request;

/* What decide_core decided, for the answer, the trace and the record. */
typedef struct Decision
{
	const CachedRule *rule;		/* the matched rule; NULL: none */
	const CachedChannel *eff;	/* the channel in effect (the rule may switch it) */
	const CachedVersion *newest;	/* the newest offerable candidate */
	Numeric		newest_pct;
	int32		newest_bkt;
	const CachedVersion *target;	/* NULL: no update */
	const CachedFile *target_file;
	const char *unreachable;	/* tag of a newer version out of reach: target is a stepping stone */
	const char *why;			/* why not newer (or why not at all) */
	Numeric		pct;
	int32		bkt;
	bool		forced;
	int			forced_by;		/* index in p->versions of the forced release; -1: none */
	bool		rollback;
} Decision;

/* The best matching enabled rule (3); NULL if none matches. */
static const CachedRule *
match_rule(const CachedProject *p, const Request *r)
{
	for (int i = 0; i < p->nrules; i++)
	{
		const CachedRule *u = &p->rules[i];

		if ((u->region == NULL || strcmp(u->region, r->region) == 0) &&
			(u->os == NULL || (r->os != NULL && strcmp(u->os, r->os) == 0)) &&
			(u->arch == NULL || (r->arch != NULL && strcmp(u->arch, r->arch) == 0)) &&
			(u->range == NULL || semver_range_cache_match(u->range, PointerGetDatum(r->cur))))
			return u;
	}
	return NULL;
}

/* Candidates newer than the client's version, newest first: rollout, then reachability (2, 4, 5). */
static void
choose_upgrade(const CachedProject *p, const Request *r, Decision *d, Trace *trace)
{
	for (int i = 0; i < p->nversions; i++)
	{
		const CachedVersion *v = &p->versions[i];
		const CachedFile *f;
		Skip		skip;
		Numeric		vpct;
		int32		threshold;
		int32		bkt;

		if (semver_key_cmp(&v->key, &r->cur_key) <= 0)
			break;
		if ((skip = offerable(v, r->now, d->eff, d->rule, r->os, r->arch, &f)) != SKIP_NONE)
		{
			if (trace)
				trace_skip(trace, v, skip, d->eff, d->rule);
			continue;
		}
		(void) rollout_percentage(v, d->rule, &vpct, &threshold);
		d->pct = vpct;
		d->bkt = bkt = bucket(r->cid, v);
		if (d->newest == NULL)
		{
			d->newest = v;
			d->newest_pct = vpct;
			d->newest_bkt = bkt;
		}
		if (bkt >= threshold)
		{
			d->why = d->why ? d->why : "outside_rollout";
			if (trace)
			{
				trace_step(trace, "candidate", v, "outside_rollout");
				trace_rollout(trace, v, d->rule, bkt);
				trace_end(trace);
			}
			continue;
		}
		if (v->min_upgrade != NULL && semver_key_cmp(&r->cur_key, &v->min_key) < 0)
		{
			/* not reachable directly: remember it, look for a stepping stone */
			d->unreachable = d->unreachable ? d->unreachable : v->tag;
			d->why = d->why ? d->why : "min_upgrade_version";
			if (trace)
			{
				trace_step(trace, "candidate", v, "min_upgrade_version");
				put_str(&trace->st, "min_upgrade_version", v->min_text);
				trace_rollout(trace, v, d->rule, bkt);
				trace_end(trace);
			}
			continue;
		}
		d->target = v;
		d->target_file = f;
		if (trace)
		{
			trace_step(trace, "candidate", v, "chosen");
			trace_rollout(trace, v, d->rule, bkt);
			put_bool(&trace->st, "stepping_stone", d->unreachable != NULL);
			trace_end(trace);
		}
		break;
	}
}

/* Leaving a yanked version: the newest good lower one, whatever the rollout. */
static void
choose_rollback(const CachedProject *p, const Request *r, Decision *d, Trace *trace)
{
	bool		yanked = false;

	for (int i = 0; i < p->nversions && !yanked; i++)
		yanked = p->versions[i].status == VS_YANKED &&
			semver_key_cmp(&p->versions[i].key, &r->cur_key) == 0;
	if (trace && yanked)
	{
		trace_step(trace, "rollback", NULL, "current_version_yanked");
		trace_end(trace);
	}
	for (int i = 0; yanked && i < p->nversions; i++)
	{
		const CachedVersion *v = &p->versions[i];
		const CachedFile *f;
		Skip		skip;
		int32		threshold;

		if (semver_key_cmp(&v->key, &r->cur_key) >= 0)
			continue;
		if ((skip = offerable(v, r->now, d->eff, d->rule, r->os, r->arch, &f)) != SKIP_NONE)
		{
			if (trace)
				trace_skip(trace, v, skip, d->eff, d->rule);
			continue;
		}
		d->target = v;
		d->target_file = f;
		d->rollback = true;
		(void) rollout_percentage(v, d->rule, &d->pct, &threshold);
		d->bkt = bucket(r->cid, v);
		if (d->newest == NULL)
			d->newest = v;
		if (trace)
		{
			trace_step(trace, "candidate", v, "chosen");
			put_bool(&trace->st, "rollback", true);
			put_int(&trace->st, "bucket", d->bkt);
			put_numeric(&trace->st, "percentage", d->pct);
			trace_end(trace);
		}
		break;
	}
}

/* Forced if any eligible release in (current, target] is forced (6), or a rollback. */
static void
decide_forced(const CachedProject *p, const Request *r, Decision *d)
{
	d->forced = d->rollback;
	d->forced_by = -1;
	for (int i = 0; i < p->nversions && !d->forced; i++)
	{
		const CachedVersion *v = &p->versions[i];

		d->forced = v->is_forced && v->status == VS_PUBLISHED && v->publish_time <= r->now &&
			v->channel->rank <= d->eff->rank &&
			semver_key_cmp(&v->key, &r->cur_key) > 0 && semver_key_cmp(&v->key, &d->target->key) <= 0;
		if (d->forced)
			d->forced_by = i;
	}
}

/*
 * The decision of SPEC §7 steps 2 to 6 for a validated request, on the cached
 * project alone: no catalog access, nothing recorded.  With a trace, each step
 * is written down as it is taken.
 */
static void
decide_core(const CachedProject *p, const Request *r, Decision *d, Trace *trace)
{
	memset(d, 0, sizeof(*d));
	d->forced_by = -1;

	d->rule = match_rule(p, r);
	d->eff = r->ch;
	if (d->rule != NULL && d->rule->has_channel)
	{
		const CachedChannel *c = find_channel((CachedProject *) p, d->rule->channel);

		if (c != NULL)
			d->eff = c;
	}
	if (trace)
	{
		const CachedRule *rule = d->rule;

		trace_step(trace, "rule", NULL, rule != NULL ? "matched" : "none");
		put_int(&trace->st, "enabled_rules", p->nrules);
		if (rule != NULL)
		{
			put_int(&trace->st, "id", rule->id);
			put_str(&trace->st, "name", rule->name);
			put_int(&trace->st, "priority", rule->priority);
			put_bool(&trace->st, "block", rule->block);
			put_str(&trace->st, "pin", rule->pin ? semver_out_text(rule->pin) : NULL);
			put_numeric(&trace->st, "percentage", rule->pct);
			put_str(&trace->st, "channel", d->eff != r->ch ? d->eff->name : NULL);
		}
		trace_end(trace);
	}

	if (d->rule != NULL && d->rule->block)
	{
		d->why = "blocked_by_rule";
		if (trace)
		{
			trace_step(trace, "candidates", NULL, "blocked_by_rule");
			trace_end(trace);
		}
		return;
	}
	choose_upgrade(p, r, d, trace);
	if (d->target == NULL)
		choose_rollback(p, r, d, trace);
	if (d->newest == NULL)
		d->why = "up_to_date";
	if (d->target != NULL)
		decide_forced(p, r, d);
}

/*
 * Validate the JSON request (1), in the order of the fields' documentation
 * (rollout_request.c), into r; returns its project, loaded if needed.
 */
static CachedProject *
parse_request(Jsonb *req, Oid fn_oid, Request *r)
{
	CachedProject *p;
	char	   *s;
	char	   *channel_name;

	rollout_request_check(req);
	s = rollout_request_text(req, "project", false);
	p = rollout_project_by_slug(s ? s : "default", fn_oid);
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("project not found: \"%s\"", s ? s : "default"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "project"),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "not_found")));
	r->cur = rollout_request_version(req, "current_version", true);
	semver_view(r->cur, &r->cur_key);
	r->cid = rollout_request_text(req, "client_id", true);
	r->region = rollout_ascii_lower(rollout_request_text(req, "region", false));
	if (r->region == NULL)
		r->region = "global";
	r->os = rollout_ascii_lower(rollout_request_text(req, "os", false));
	r->arch = rollout_ascii_lower(rollout_request_text(req, "arch", false));
	r->locale = rollout_request_text(req, "locale", false);
	if (r->locale == NULL)
		r->locale = "en";
	for (char *c = r->locale; *c; c++)
		if (*c == '_')
			*c = '-';
	r->ua = rollout_request_text(req, "user_agent", false);
	r->ip_text = rollout_request_text(req, "ip", false);
	r->ip = (Datum) 0;
	if (r->ip_text != NULL)
		r->ip = DirectFunctionCall1(inet_in, CStringGetDatum(r->ip_text));
	channel_name = rollout_request_text(req, "channel", false);
	if (channel_name == NULL)
		channel_name = p->default_channel;
	r->ch = find_channel(p, channel_name);
	if (r->ch == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("channel not found: \"%s\"", channel_name),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "channel"),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "not_found")));
	r->now = GetCurrentTransactionStartTimestamp();
	return p;
}

/*
 * The update decision of SPEC §7 for a JSON request, as a jsonb Datum.  With
 * simulate, the answer also has "steps" (the trace) and nothing is recorded;
 * otherwise the check is recorded (§7.8).  One function for both, so that the
 * simulator can never disagree with check_update.
 */
static Datum
decide(FunctionCallInfo fcinfo, bool simulate, CachedProject **signed_for, Jsonb **record)
{
	Jsonb	   *req = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	CachedProject *p;
	Request		r;
	Decision	d;
	const CachedVersion *target;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	Trace		trace_buf;
	Trace	   *trace = NULL;

	if (simulate)
	{
		trace = &trace_buf;
		trace->st = NULL;
		(void) pushJsonbValue(&trace->st, WJB_BEGIN_ARRAY, NULL);
	}

	p = parse_request(req, fcinfo->flinfo->fn_oid, &r);
	if (trace)
	{
		trace_step(trace, "request", NULL, "valid");
		put_str(&trace->st, "project", p->slug);
		put_int(&trace->st, "project_id", p->id);
		put_str(&trace->st, "current_version", semver_out_text(r.cur));
		put_str(&trace->st, "client_id", r.cid);
		put_str(&trace->st, "region", r.region);
		put_str(&trace->st, "os", r.os);
		put_str(&trace->st, "arch", r.arch);
		put_str(&trace->st, "locale", r.locale);
		trace_end(trace);
		trace_step(trace, "channel", NULL, "resolved");
		put_str(&trace->st, "channel", r.ch->name);
		put_bool(&trace->st, "project_default", rollout_request_text(req, "channel", false) == NULL);
		put_int(&trace->st, "rank", r.ch->rank);
		trace_end(trace);
	}

	decide_core(p, &r, &d, trace);
	target = d.target;

	(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (target != NULL)
	{
		const CachedFile *target_file = d.target_file;
		const char *url;

		/* 7. the download */
		if (!target->has_texts)
			rollout_load_texts(p, (CachedVersion *) target, fcinfo->flinfo->fn_oid);
		url = resolve_url(p, r.region, target_file->url);
		if (trace)
		{
			trace_step(trace, "forced", d.forced_by >= 0 ? &p->versions[d.forced_by] : NULL,
					   d.forced ? "forced" : "not_forced");
			put_bool(&trace->st, "rollback", d.rollback);
			trace_end(trace);
			trace_step(trace, "download", target, url != NULL ? "resolved" : "no_file");
			put_str(&trace->st, "os", target_file->os);
			put_str(&trace->st, "arch", target_file->arch);
			put_str(&trace->st, "file_url", target_file->url);
			put_str(&trace->st, "download_url", url);
			put_str(&trace->st, "region", r.region);
			trace_end(trace);
		}
		put_bool(&st, "has_update", true);
		put_str(&st, "latest_version", target->tag);
		put_str(&st, "download_url", url);
		if (target_file->has_size)
			put_int(&st, "file_size", target_file->size);
		else
			put_null(&st, "file_size");
		put_str(&st, "file_checksum", target_file->checksum);
		put_bool(&st, "is_forced", d.forced);
		put_bool(&st, "is_rollback", d.rollback);
		put_str(&st, "title", localized(target->title_i18n, r.locale, target->title));
		put_str(&st, "release_notes", localized(target->notes_i18n, r.locale, target->notes));
		put_str(&st, "breaking_changes", target->breaking);
		put_str(&st, "min_upgrade_version", target->min_text);
		put_str(&st, "publish_time", JsonEncodeDateTime(NULL, TimestampTzGetDatum(target->publish_time),
														 TIMESTAMPTZOID, NULL));
	}
	else
	{
		static const char *const nulls[] = {
			"latest_version", "download_url", "file_size", "file_checksum", "title",
			"release_notes", "breaking_changes", "min_upgrade_version", "publish_time"
		};

		put_bool(&st, "has_update", false);
		for (int i = 0; i < (int) lengthof(nulls); i++)
			put_null(&st, nulls[i]);
		put_bool(&st, "is_forced", false);
		put_bool(&st, "is_rollback", false);
	}
	put_key(&st, "reason");
	(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_str(&st, "candidate", d.newest ? d.newest->tag : NULL);
	put_str(&st, "channel", d.eff->name);
	if (d.rule != NULL)
	{
		put_key(&st, "rule");
		(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		put_int(&st, "id", d.rule->id);
		put_str(&st, "name", d.rule->name);
		put_int(&st, "priority", d.rule->priority);
		(void) pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	else
		put_null(&st, "rule");
	/*
	 * The client's own bucket is left out of a signed answer: without it,
	 * clients in the same situation get the same bytes, and one signature
	 * serves them all (a client can compute its bucket: SPEC §7).
	 */
	if (target != NULL)
	{
		if (signed_for == NULL)
			put_int(&st, "bucket", d.bkt);
		put_numeric(&st, "percentage", d.pct);
		put_bool(&st, "stepping_stone", d.unreachable != NULL);
		put_str(&st, "final_target", d.unreachable);
		put_bool(&st, "rollback", d.rollback);
		put_str(&st, "why_not_newer", d.newest != target ? d.why : NULL);
	}
	else
	{
		if (signed_for != NULL)
			;
		else if (d.newest != NULL)
			put_int(&st, "bucket", d.newest_bkt);
		else
			put_null(&st, "bucket");
		put_numeric(&st, "percentage", d.newest_pct);
		put_bool(&st, "stepping_stone", false);
		put_bool(&st, "rollback", false);
		put_str(&st, "why_not", d.why ? d.why : "up_to_date");
	}
	(void) pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	if (signed_for != NULL)
	{
		/* a signed answer says when it was issued, until when it holds, and of what */
		char		issued[32];
		char		expires[32];
		int64		mv;

		if (!p->has_signing)
			rollout_load_signing(p, fcinfo->flinfo->fn_oid);
		rollout_signed_fields(p, r.now, issued, expires, &mv);
		put_str(&st, "issued_at", issued);
		put_str(&st, "expires_at", expires);
		put_int(&st, "metadata_version", mv);
		put_str(&st, "project", p->slug);
		*signed_for = p;
	}

	if (trace)
	{
		/* the steps, then the answer's "steps"; a simulation records nothing */
		Jsonb	   *steps;
		JsonbValue	bin;

		trace_step(trace, "result", target, target != NULL ? "update" : "no_update");
		put_str(&trace->st, "why_not", target == NULL ? (d.why ? d.why : "up_to_date") : NULL);
		put_str(&trace->st, "why_not_newer", target != NULL && d.newest != target ? d.why : NULL);
		put_bool(&trace->st, "recorded", false);
		trace_end(trace);
		steps = JsonbValueToJsonb(pushJsonbValue(&trace->st, WJB_END_ARRAY, NULL));
		bin.type = jbvBinary;
		bin.val.binary.data = &steps->root;
		bin.val.binary.len = VARSIZE(steps) - VARHDRSZ;
		put_key(&st, "steps");
		(void) pushJsonbValue(&st, WJB_VALUE, &bin);
		res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
	}
	if (RecoveryInProgress())
	{
		/*
		 * 8. on a hot standby nothing can be written: what the check records
		 * is handed back, into *record (a signed answer's, whose body must
		 * not hold it), else as the answer's "record" (rollout-http takes it
		 * and sends it on to the primary's rollout.record_forwarded).  The
		 * primary decides whether it becomes a raw event.
		 */
		JsonbParseState *rst = NULL;
		Jsonb	   *rec;

		(void) pushJsonbValue(&rst, WJB_BEGIN_OBJECT, NULL);
		put_int(&rst, "project_id", p->id);
		put_str(&rst, "client_id", r.cid);
		put_str(&rst, "cur", semver_out_text(r.cur));
		put_str(&rst, "channel", r.ch->name);
		put_str(&rst, "region", r.region);
		put_str(&rst, "os", r.os);
		put_str(&rst, "arch", r.arch);
		put_str(&rst, "target", target ? semver_out_text(target->version) : NULL);
		put_str(&rst, "ip", r.ip_text);
		put_str(&rst, "user_agent", r.ua);
		put_str(&rst, "at", JsonEncodeDateTime(NULL, TimestampTzGetDatum(r.now), TIMESTAMPTZOID, NULL));
		rec = JsonbValueToJsonb(pushJsonbValue(&rst, WJB_END_OBJECT, NULL));
		if (record != NULL)
			*record = rec;
		else
		{
			JsonbValue	bin;

			bin.type = jbvBinary;
			bin.val.binary.data = &rec->root;
			bin.val.binary.len = VARSIZE(rec) - VARHDRSZ;
			put_key(&st, "record");
			(void) pushJsonbValue(&st, WJB_VALUE, &bin);
		}
		res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	/* 8. record */
	{
		RolloutCheck c;

		c.project_id = p->id;
		c.record_event = p->record_check_events;
		c.client_id = r.cid;
		c.current_version = r.cur;
		c.channel = r.ch->name;
		c.region = r.region;
		c.os = r.os;
		c.arch = r.arch;
		c.target = target ? target->version : NULL;
		c.ip = r.ip_text ? r.ip : (Datum) 0;
		c.user_agent = r.ua;
		c.at = r.now;
		rollout_record_check(&c);
	}

	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}

/* rollout.check_update(request jsonb) returns jsonb: the decision, recorded */
Datum
rollout_check_update(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, false, NULL, NULL);
}

/*
 * check_update's answer (recorded) for the request in argument 0, with the
 * fields of a signed answer (issued_at, expires_at, metadata_version,
 * project); its project, with the signing key loaded, into *project; on a
 * hot standby what the check records into *record (else NULL), not into the
 * answer.  For rollout.check_update_signed (rollout_sign.c).
 */
Jsonb *
rollout_decide_signed(FunctionCallInfo fcinfo, CachedProject **project, Jsonb **record)
{
	*record = NULL;
	return DatumGetJsonbP(decide(fcinfo, false, project, record));
}

/*
 * rollout.simulate_decision(request jsonb) returns jsonb: check_update's
 * answer for the request plus its "steps", recording nothing.
 */
Datum
rollout_simulate_decision(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, true, NULL, NULL);
}
