/*
 * rollout_decide.c
 *		rollout.check_update: the update decision of SPEC §7, in C, over a
 *		per-backend cache of each project's configuration.
 *
 * A check reads a project's channels, published versions (with their
 * per-platform artifacts), mirrors and enabled rules.  These change rarely
 * and are read on every check, so each backend keeps them in memory, loaded
 * with SPI the first time a project is asked for.  Statement triggers on the
 * six configuration tables call rollout.config_changed(), which queues a
 * relcache invalidation of the changed table: it reaches every backend when
 * the change commits (and this backend at once), and our relcache callback
 * then drops the whole cache.  A project is loaded with the latest snapshot
 * after pending invalidations are accepted, so a cached project never misses
 * a committed change; a load that an invalidation interrupts is retried.
 *
 * With the configuration in memory a check costs a JSON parse, a few key
 * comparisons and one SHA-256 per considered version; what a check records
 * (SPEC §7.8) is handed to rollout_queue.c.
 *
 * rollout.simulate_decision (behind rollout.simulate_check, the admin UI's
 * decision simulator) runs the very same function with a trace: each step
 * of the decision is written down as it is taken, and nothing is recorded.
 * Without a trace (check_update) the trace costs one NULL test per step.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "rollout.h"
#include "semver.h"

PG_FUNCTION_INFO_V1(rollout_check_update);
PG_FUNCTION_INFO_V1(rollout_simulate_decision);
PG_FUNCTION_INFO_V1(rollout_config_changed);

typedef enum VersionStatus
{
	VS_PUBLISHED,
	VS_PAUSED,
	VS_YANKED
} VersionStatus;

typedef struct CachedChannel
{
	int64		id;
	char	   *name;
	int32		rank;
	bool		is_active;
	Numeric		pct;
	int32		threshold;		/* rollout.rollout_threshold(pct): buckets below are in */
} CachedChannel;

typedef struct CachedFile
{
	char	   *os;				/* NULL: the version's own file */
	char	   *arch;
	char	   *url;
	bool		has_size;
	int64		size;
	char	   *checksum;
} CachedFile;

typedef struct CachedVersion
{
	int64		id;
	struct varlena *version;
	SemVerView	key;
	char	   *salt;			/* "project@version", the rollout bucket's salt */
	char	   *tag;
	VersionStatus status;
	CachedChannel *channel;
	Numeric		pct;			/* NULL: the rule's or the channel's */
	int32		threshold;
	struct varlena *min_upgrade;	/* NULL: none */
	SemVerView	min_key;
	char	   *min_text;
	bool		is_forced;
	TimestampTz publish_time;
	bool		has_texts;		/* the five below: read when first offered */
	char	   *title;
	Jsonb	   *title_i18n;
	char	   *notes;
	Jsonb	   *notes_i18n;
	char	   *breaking;
	CachedFile	file;			/* the version's own file fields */
	int			nartifacts;
	CachedFile *artifacts;
} CachedVersion;

typedef struct CachedRule
{
	int64		id;
	char	   *name;
	int32		priority;
	char	   *region;			/* NULL: any */
	char	   *os;
	char	   *arch;
	RangeCache *range;			/* NULL: any version */
	bool		block;
	struct varlena *pin;		/* NULL: no pin */
	SemVerView	pin_key;
	Numeric		pct;			/* NULL: no percentage */
	int32		threshold;
	bool		has_channel;
	char	   *channel;		/* NULL with has_channel: JSON null */
} CachedRule;

typedef struct CachedMirror
{
	char	   *region;
	char	   *base_url;
} CachedMirror;

typedef struct CachedProject
{
	MemoryContext cxt;			/* everything below lives here */
	int64		id;
	char	   *slug;
	char	   *default_channel;
	bool		record_check_events;
	int			nchannels;
	CachedChannel *channels;
	int			nversions;
	CachedVersion *versions;	/* not drafts, newest first */
	int			nrules;
	CachedRule *rules;			/* enabled, by priority desc, id */
	int			nmirrors;
	CachedMirror *mirrors;
} CachedProject;

/* The cache: projects by slug, dropped whenever a configuration table changes. */
static MemoryContext cache_cxt = NULL;
static CachedProject **projects = NULL;
static int	nprojects = 0;
static int	projects_size = 0;
static bool cache_valid = false;
static uint64 cache_generation = 0;

#define NCONFIG_RELS 6
static const char *const config_rel_names[NCONFIG_RELS] = {
	"projects", "channels", "versions", "artifacts", "mirrors", "update_rules"
};
static Oid	config_rels[NCONFIG_RELS];

static void
decide_relcache_callback(Datum arg, Oid relid)
{
	bool		ours = !OidIsValid(relid);

	for (int i = 0; i < NCONFIG_RELS && !ours; i++)
		ours = (config_rels[i] == relid);
	if (ours)
	{
		cache_valid = false;
		cache_generation++;
	}
}

void
rollout_decide_init(void)
{
	CacheRegisterRelcacheCallback(decide_relcache_callback, (Datum) 0);
}


/*
 * rollout.config_changed(): statement trigger on the configuration tables.
 * The invalidation is sent when the transaction commits and dropped when it
 * aborts, so other backends never cache uncommitted configuration.
 */
Datum
rollout_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollout.config_changed() must be called as a trigger")));
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Loading a project
 * ---------------------------------------------------------------------
 */

/* Column n (1-based) of the current SPI row, NULL-aware helpers. */
static Datum
col(HeapTuple row, int n, bool *isnull)
{
	return SPI_getbinval(row, SPI_tuptable->tupdesc, n, isnull);
}

static char *
col_text(HeapTuple row, int n)
{
	bool		isnull;
	Datum		d = col(row, n, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
col_int8(HeapTuple row, int n)
{
	bool		isnull;
	Datum		d = col(row, n, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static int32
col_int4(HeapTuple row, int n)
{
	bool		isnull;
	Datum		d = col(row, n, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static bool
col_bool(HeapTuple row, int n)
{
	bool		isnull;
	Datum		d = col(row, n, &isnull);

	return !isnull && DatumGetBool(d);
}

static bool
col_isnull(HeapTuple row, int n)
{
	bool		isnull;

	(void) col(row, n, &isnull);
	return isnull;
}

/* A copy of a varlena column (detoasted, unpacked) in the current context. */
static struct varlena *
col_varlena(HeapTuple row, int n)
{
	bool		isnull;
	Datum		d = col(row, n, &isnull);

	return isnull ? NULL : PG_DETOAST_DATUM_COPY(d);
}

/*
 * Run a query of the loader with $1 = project id (or slug) and the latest
 * snapshot, then switch to cxt (SPI leaves its own context current).
 */
static void
load_query(MemoryContext cxt, const char *sql, Oid argtype, Datum arg)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 1, &argtype);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "rollout: SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, &arg, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "rollout: SPI_execute_snapshot failed for \"%s\": %s", sql, SPI_result_code_string(rc));
	MemoryContextSwitchTo(cxt);
}

static Oid
function_owner(Oid fn_oid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "rollout: cache lookup failed for function %u", fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

static int
version_by_id_cmp(const void *a, const void *b)
{
	int64		x = (*(CachedVersion *const *) a)->id;
	int64		y = (*(CachedVersion *const *) b)->id;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static CachedVersion *
find_version_by_id(CachedVersion **by_id, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (by_id[mid]->id == id)
			return by_id[mid];
		if (by_id[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static CachedChannel *
find_channel(CachedProject *p, const char *name)
{
	for (int i = 0; name != NULL && i < p->nchannels; i++)
		if (strcmp(p->channels[i].name, name) == 0)
			return &p->channels[i];
	return NULL;
}

/*
 * The loader runs as the owner of check_update (fn_oid), who may read the
 * configuration tables whoever calls, with search_path = pg_catalog, so the
 * queries mean what they say, inside SPI.
 */
typedef struct Loader
{
	Oid			save_user;
	int			save_sec;
	int			nestlevel;
} Loader;

static void
loader_begin(Loader *l, Oid fn_oid)
{
	GetUserIdAndSecContext(&l->save_user, &l->save_sec);
	SetUserIdAndSecContext(function_owner(fn_oid), l->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "rollout: SPI_connect failed");
	l->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static void
loader_end(Loader *l)
{
	AtEOXact_GUC(true, l->nestlevel);
	SPI_finish();
	SetUserIdAndSecContext(l->save_user, l->save_sec);
}

/*
 * Read one project into a new context under cache_cxt; NULL if no project
 * has this slug.  Runs as the owner of check_update (fn_oid), who may read
 * the configuration tables whoever calls, with search_path = pg_catalog,
 * so the queries mean what they say.
 */
static CachedProject *
load_project(const char *slug, Oid fn_oid)
{
	CachedProject *p;
	MemoryContext cxt;
	MemoryContext old;
	CachedVersion **by_id;
	uint64		n;
	Loader		l;

	loader_begin(&l, fn_oid);

	load_query(CurrentMemoryContext, "SELECT id, slug, default_channel, record_check_events FROM rollout.projects WHERE slug = $1",
			   TEXTOID, CStringGetTextDatum(slug));
	if (SPI_processed == 0)
	{
		loader_end(&l);
		return NULL;
	}
	cxt = AllocSetContextCreate(cache_cxt, "rollout project cache", ALLOCSET_DEFAULT_SIZES);
	old = CurrentMemoryContext;
	MemoryContextSwitchTo(cxt);
	p = palloc0(sizeof(CachedProject));
	p->cxt = cxt;
	p->id = col_int8(SPI_tuptable->vals[0], 1);
	p->slug = col_text(SPI_tuptable->vals[0], 2);
	p->default_channel = col_text(SPI_tuptable->vals[0], 3);
	p->record_check_events = col_bool(SPI_tuptable->vals[0], 4);

	load_query(cxt, "SELECT id, name, rank, is_active, rollout_percentage, rollout.rollout_threshold(rollout_percentage)"
			   " FROM rollout.channels WHERE project_id = $1 ORDER BY id",
			   INT8OID, Int64GetDatum(p->id));
	p->nchannels = SPI_processed;
	p->channels = palloc0(sizeof(CachedChannel) * Max(p->nchannels, 1));
	for (int i = 0; i < p->nchannels; i++)
	{
		HeapTuple	r = SPI_tuptable->vals[i];
		CachedChannel *c = &p->channels[i];

		c->id = col_int8(r, 1);
		c->name = col_text(r, 2);
		c->rank = col_int4(r, 3);
		c->is_active = col_bool(r, 4);
		c->pct = (Numeric) col_varlena(r, 5);
		c->threshold = col_int4(r, 6);
	}

	load_query(cxt, "SELECT v.id, v.version, v.version::text, v.tag, v.status, v.channel_id, v.rollout_percentage,"
			   " rollout.rollout_threshold(v.rollout_percentage), v.min_upgrade_version, v.min_upgrade_version::text,"
			   " v.is_forced, v.publish_time, v.file_url, v.file_size, v.file_checksum"
			   " FROM rollout.versions v WHERE v.project_id = $1 AND v.status <> 'draft'"
			   " ORDER BY v.version DESC, v.id",
			   INT8OID, Int64GetDatum(p->id));
	p->nversions = SPI_processed;
	p->versions = palloc0(sizeof(CachedVersion) * Max(p->nversions, 1));
	by_id = palloc(sizeof(CachedVersion *) * Max(p->nversions, 1));
	for (int i = 0; i < p->nversions; i++)
	{
		HeapTuple	r = SPI_tuptable->vals[i];
		CachedVersion *v = &p->versions[i];
		char	   *status = col_text(r, 5);
		int64		channel_id = col_int8(r, 6);
		bool		isnull;

		v->id = col_int8(r, 1);
		v->version = col_varlena(r, 2);
		semver_view(v->version, &v->key);
		v->salt = psprintf("%s@%s", p->slug, col_text(r, 3));
		v->tag = col_text(r, 4);
		v->status = strcmp(status, "published") == 0 ? VS_PUBLISHED :
			strcmp(status, "yanked") == 0 ? VS_YANKED : VS_PAUSED;
		for (int c = 0; c < p->nchannels; c++)
			if (p->channels[c].id == channel_id)
				v->channel = &p->channels[c];
		if (v->channel == NULL)
			elog(ERROR, "rollout: version %lld has no channel in its project", (long long) v->id);
		v->pct = (Numeric) col_varlena(r, 7);
		v->threshold = col_int4(r, 8);
		v->min_upgrade = col_varlena(r, 9);
		if (v->min_upgrade)
			semver_view(v->min_upgrade, &v->min_key);
		v->min_text = col_text(r, 10);
		v->is_forced = col_bool(r, 11);
		v->publish_time = col_isnull(r, 12) ? DT_NOEND : DatumGetTimestampTz(col(r, 12, &isnull));
		v->file.url = col_text(r, 13);
		v->file.has_size = !col_isnull(r, 14);
		v->file.size = col_int8(r, 14);
		v->file.checksum = col_text(r, 15);
		by_id[i] = v;
	}
	qsort(by_id, p->nversions, sizeof(CachedVersion *), version_by_id_cmp);

	load_query(cxt, "SELECT a.version_id, a.os, a.arch, a.file_url, a.file_size, a.file_checksum"
			   " FROM rollout.artifacts a JOIN rollout.versions v ON v.id = a.version_id"
			   " WHERE v.project_id = $1 AND v.status <> 'draft' ORDER BY a.version_id, a.id",
			   INT8OID, Int64GetDatum(p->id));
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	r = SPI_tuptable->vals[i];
		CachedVersion *v = find_version_by_id(by_id, p->nversions, col_int8(r, 1));
		CachedFile *f;

		if (v == NULL)
			continue;
		if (v->artifacts == NULL)
			v->artifacts = palloc0(sizeof(CachedFile) * n);
		f = &v->artifacts[v->nartifacts++];
		f->os = col_text(r, 2);
		f->arch = col_text(r, 3);
		f->url = col_text(r, 4);
		f->has_size = !col_isnull(r, 5);
		f->size = col_int8(r, 5);
		f->checksum = col_text(r, 6);
	}

	load_query(cxt, "SELECT region, base_url FROM rollout.mirrors WHERE project_id = $1 ORDER BY region",
			   INT8OID, Int64GetDatum(p->id));
	p->nmirrors = SPI_processed;
	p->mirrors = palloc0(sizeof(CachedMirror) * Max(p->nmirrors, 1));
	for (int i = 0; i < p->nmirrors; i++)
	{
		p->mirrors[i].region = col_text(SPI_tuptable->vals[i], 1);
		p->mirrors[i].base_url = col_text(SPI_tuptable->vals[i], 2);
	}

	load_query(cxt, "SELECT id, name, priority, target_region, target_version_range, target_os, target_arch,"
			   " coalesce((rollout_config ->> 'block')::boolean, false),"
			   " (rollout_config ->> 'pin')::rollout.semver,"
			   " (rollout_config ->> 'percentage')::numeric,"
			   " rollout.rollout_threshold((rollout_config ->> 'percentage')::numeric),"
			   " rollout_config ? 'channel', rollout_config ->> 'channel'"
			   " FROM rollout.update_rules WHERE project_id = $1 AND enabled ORDER BY priority DESC, id",
			   INT8OID, Int64GetDatum(p->id));
	p->nrules = SPI_processed;
	p->rules = palloc0(sizeof(CachedRule) * Max(p->nrules, 1));
	for (int i = 0; i < p->nrules; i++)
	{
		HeapTuple	r = SPI_tuptable->vals[i];
		CachedRule *u = &p->rules[i];
		bool		isnull;
		Datum		range = col(r, 5, &isnull);

		u->id = col_int8(r, 1);
		u->name = col_text(r, 2);
		u->priority = col_int4(r, 3);
		u->region = col_text(r, 4);
		u->range = isnull ? NULL : semver_range_cache(cxt, range, NULL);
		u->os = col_text(r, 6);
		u->arch = col_text(r, 7);
		u->block = col_bool(r, 8);
		u->pin = col_varlena(r, 9);
		if (u->pin)
			semver_view(u->pin, &u->pin_key);
		u->pct = (Numeric) col_varlena(r, 10);
		u->threshold = col_int4(r, 11);
		u->has_channel = col_bool(r, 12);
		u->channel = col_text(r, 13);
	}

	pfree(by_id);
	MemoryContextSwitchTo(old);
	loader_end(&l);
	return p;
}

/*
 * Titles and notes (up to 200 kB a version) are read when a version is first
 * offered, so a backend's cache grows with the versions it offers, not with
 * every release ever made.
 */
static void
load_texts(CachedProject *p, CachedVersion *v, Oid fn_oid)
{
	Loader		l;

	loader_begin(&l, fn_oid);
	load_query(p->cxt, "SELECT title, title_i18n, release_notes, release_notes_i18n, breaking_changes"
			   " FROM rollout.versions WHERE id = $1", INT8OID, Int64GetDatum(v->id));
	if (SPI_processed > 0)
	{
		HeapTuple	r = SPI_tuptable->vals[0];

		v->title = col_text(r, 1);
		v->title_i18n = (Jsonb *) col_varlena(r, 2);
		v->notes = col_text(r, 3);
		v->notes_i18n = (Jsonb *) col_varlena(r, 4);
		v->breaking = col_text(r, 5);
	}
	/* else deleted meanwhile: the invalidation drops the cache on the next check */
	v->has_texts = true;
	MemoryContextSwitchTo(p->cxt);
	loader_end(&l);
}

/* The cached project with this slug, loading it if needed; NULL if none. */
static CachedProject *
project_by_slug(const char *slug, Oid fn_oid)
{
	CachedProject *p;

	/* Accept committed configuration changes before trusting the cache. */
	AcceptInvalidationMessages();
	for (;;)
	{
		uint64		generation;

		if (!cache_valid)
		{
			if (cache_cxt == NULL)
				cache_cxt = AllocSetContextCreate(CacheMemoryContext, "rollout decision cache",
												  ALLOCSET_DEFAULT_SIZES);
			else
				MemoryContextReset(cache_cxt);
			projects = NULL;
			nprojects = projects_size = 0;
			{
				Oid			nsp = get_namespace_oid("rollout", false);

				for (int i = 0; i < NCONFIG_RELS; i++)
					config_rels[i] = get_relname_relid(config_rel_names[i], nsp);
			}
			cache_valid = true;
		}
		for (int i = 0; i < nprojects; i++)
			if (strcmp(projects[i]->slug, slug) == 0)
				return projects[i];

		generation = cache_generation;
		p = load_project(slug, fn_oid);
		if (generation != cache_generation || !cache_valid)
			continue;			/* the configuration changed while we read it */
		if (p == NULL)
			return NULL;
		if (nprojects == projects_size)
		{
			projects_size = Max(8, projects_size * 2);
			projects = projects == NULL
				? MemoryContextAlloc(cache_cxt, sizeof(CachedProject *) * projects_size)
				: repalloc(projects, sizeof(CachedProject *) * projects_size);
		}
		projects[nprojects++] = p;
		return p;
	}
}

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

static int32
bucket(const char *client_id, const CachedVersion *v)
{
	return rollout_bucket_bytes(client_id, strlen(client_id), v->salt, strlen(v->salt));
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
trace_rollout(Trace *t, const CachedVersion *v, const CachedRule *rule, int32 bkt, int32 threshold, Numeric pct)
{
	put_int(&t->st, "bucket", bkt);
	put_int(&t->st, "threshold", threshold);
	put_numeric(&t->st, "percentage", pct);
	put_str(&t->st, "percentage_from", v->pct != NULL ? "version" :
			(rule != NULL && rule->pct != NULL) ? "rule" : "channel");
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

/*
 * The update decision of SPEC §7 for a JSON request, as a jsonb Datum.  With
 * simulate, the answer also has "steps" (the trace) and nothing is recorded;
 * otherwise the check is recorded (§7.8).  One function for both, so that the
 * simulator can never disagree with check_update.
 */
static Datum
decide(FunctionCallInfo fcinfo, bool simulate)
{
	Jsonb	   *req = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	CachedProject *p;
	char	   *s;
	struct varlena *cur;
	SemVerView	cur_key;
	char	   *cid;
	char	   *region;
	char	   *os;
	char	   *arch;
	char	   *locale;
	char	   *ua;
	char	   *ip_text;
	Datum		ip = (Datum) 0;
	char	   *channel_name;
	CachedChannel *ch;
	const CachedChannel *eff;
	const CachedRule *rule = NULL;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	const CachedVersion *newest = NULL;
	Numeric		newest_pct = NULL;
	int32		newest_bkt = 0;
	const CachedVersion *target = NULL;
	const CachedFile *target_file = NULL;
	const char *unreachable = NULL;
	const char *why = NULL;
	Numeric		pct = NULL;
	int32		bkt = 0;
	bool		forced = false;
	bool		rollback = false;
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

	/* 1. validate, in the order of the fields' documentation (rollout_request.c) */
	rollout_request_check(req);
	s = rollout_request_text(req, "project", false);
	p = project_by_slug(s ? s : "default", fcinfo->flinfo->fn_oid);
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("project not found: \"%s\"", s ? s : "default"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "project"),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "not_found")));
	cur = rollout_request_version(req, "current_version", true);
	semver_view(cur, &cur_key);
	cid = rollout_request_text(req, "client_id", true);
	region = rollout_ascii_lower(rollout_request_text(req, "region", false));
	if (region == NULL)
		region = "global";
	os = rollout_ascii_lower(rollout_request_text(req, "os", false));
	arch = rollout_ascii_lower(rollout_request_text(req, "arch", false));
	locale = rollout_request_text(req, "locale", false);
	if (locale == NULL)
		locale = "en";
	for (char *c = locale; *c; c++)
		if (*c == '_')
			*c = '-';
	ua = rollout_request_text(req, "user_agent", false);
	ip_text = rollout_request_text(req, "ip", false);
	if (ip_text != NULL)
		ip = DirectFunctionCall1(inet_in, CStringGetDatum(ip_text));
	channel_name = rollout_request_text(req, "channel", false);
	if (channel_name == NULL)
		channel_name = p->default_channel;
	ch = find_channel(p, channel_name);
	if (ch == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("channel not found: \"%s\"", channel_name),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "channel"),
				 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "not_found")));
	if (trace)
	{
		trace_step(trace, "request", NULL, "valid");
		put_str(&trace->st, "project", p->slug);
		put_int(&trace->st, "project_id", p->id);
		put_str(&trace->st, "current_version", semver_out_text(cur));
		put_str(&trace->st, "client_id", cid);
		put_str(&trace->st, "region", region);
		put_str(&trace->st, "os", os);
		put_str(&trace->st, "arch", arch);
		put_str(&trace->st, "locale", locale);
		trace_end(trace);
		trace_step(trace, "channel", NULL, "resolved");
		put_str(&trace->st, "channel", ch->name);
		put_bool(&trace->st, "project_default", rollout_request_text(req, "channel", false) == NULL);
		put_int(&trace->st, "rank", ch->rank);
		trace_end(trace);
	}

	/* 3. the best matching enabled rule */
	for (int i = 0; i < p->nrules && rule == NULL; i++)
	{
		const CachedRule *r = &p->rules[i];

		if ((r->region == NULL || strcmp(r->region, region) == 0) &&
			(r->os == NULL || (os != NULL && strcmp(r->os, os) == 0)) &&
			(r->arch == NULL || (arch != NULL && strcmp(r->arch, arch) == 0)) &&
			(r->range == NULL || semver_range_cache_match(r->range, PointerGetDatum(cur))))
			rule = r;
	}
	eff = ch;
	if (rule != NULL && rule->has_channel)
	{
		const CachedChannel *c = find_channel(p, rule->channel);

		if (c != NULL)
			eff = c;
	}
	if (trace)
	{
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
			put_str(&trace->st, "channel", eff != ch ? eff->name : NULL);
		}
		trace_end(trace);
	}

	/* 2, 4, 5. candidates, newest first: rollout, then reachability */
	if (rule != NULL && rule->block)
	{
		why = "blocked_by_rule";
		if (trace)
		{
			trace_step(trace, "candidates", NULL, "blocked_by_rule");
			trace_end(trace);
		}
	}
	else
	{
		for (int i = 0; i < p->nversions; i++)
		{
			const CachedVersion *v = &p->versions[i];
			const CachedFile *f;
			Skip		skip;
			Numeric		vpct;
			int32		threshold;

			if (semver_key_cmp(&v->key, &cur_key) <= 0)
				break;
			if ((skip = offerable(v, now, eff, rule, os, arch, &f)) != SKIP_NONE)
			{
				if (trace)
					trace_skip(trace, v, skip, eff, rule);
				continue;
			}
			if (v->pct != NULL)
				vpct = v->pct, threshold = v->threshold;
			else if (rule != NULL && rule->pct != NULL)
				vpct = rule->pct, threshold = rule->threshold;
			else
				vpct = v->channel->pct, threshold = v->channel->threshold;
			pct = vpct;
			bkt = bucket(cid, v);
			if (newest == NULL)
			{
				newest = v;
				newest_pct = vpct;
				newest_bkt = bkt;
			}
			if (bkt >= threshold)
			{
				why = why ? why : "outside_rollout";
				if (trace)
				{
					trace_step(trace, "candidate", v, "outside_rollout");
					trace_rollout(trace, v, rule, bkt, threshold, vpct);
					trace_end(trace);
				}
				continue;
			}
			if (v->min_upgrade != NULL && semver_key_cmp(&cur_key, &v->min_key) < 0)
			{
				/* not reachable directly: remember it, look for a stepping stone */
				unreachable = unreachable ? unreachable : v->tag;
				why = why ? why : "min_upgrade_version";
				if (trace)
				{
					trace_step(trace, "candidate", v, "min_upgrade_version");
					put_str(&trace->st, "min_upgrade_version", v->min_text);
					trace_rollout(trace, v, rule, bkt, threshold, vpct);
					trace_end(trace);
				}
				continue;
			}
			target = v;
			target_file = f;
			if (trace)
			{
				trace_step(trace, "candidate", v, "chosen");
				trace_rollout(trace, v, rule, bkt, threshold, vpct);
				put_bool(&trace->st, "stepping_stone", unreachable != NULL);
				trace_end(trace);
			}
			break;
		}
		/* leaving a yanked version: the newest good lower one, whatever the rollout */
		if (target == NULL)
		{
			bool		yanked = false;

			for (int i = 0; i < p->nversions && !yanked; i++)
				yanked = p->versions[i].status == VS_YANKED &&
					semver_key_cmp(&p->versions[i].key, &cur_key) == 0;
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

				if (semver_key_cmp(&v->key, &cur_key) >= 0)
					continue;
				if ((skip = offerable(v, now, eff, rule, os, arch, &f)) != SKIP_NONE)
				{
					if (trace)
						trace_skip(trace, v, skip, eff, rule);
					continue;
				}
				target = v;
				target_file = f;
				rollback = true;
				if (v->pct != NULL)
					pct = v->pct;
				else if (rule != NULL && rule->pct != NULL)
					pct = rule->pct;
				else
					pct = v->channel->pct;
				bkt = bucket(cid, v);
				if (newest == NULL)
					newest = v;
				if (trace)
				{
					trace_step(trace, "candidate", v, "chosen");
					put_bool(&trace->st, "rollback", true);
					put_int(&trace->st, "bucket", bkt);
					put_numeric(&trace->st, "percentage", pct);
					trace_end(trace);
				}
				break;
			}
		}
		if (newest == NULL)
			why = "up_to_date";
	}

	(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (target != NULL)
	{
		const char *url;
		int			forced_by = -1;

		/* 6. forced if any eligible release in (current, target] is forced */
		forced = rollback;
		for (int i = 0; i < p->nversions && !forced; i++)
		{
			const CachedVersion *v = &p->versions[i];

			forced = v->is_forced && v->status == VS_PUBLISHED && v->publish_time <= now &&
				v->channel->rank <= eff->rank &&
				semver_key_cmp(&v->key, &cur_key) > 0 && semver_key_cmp(&v->key, &target->key) <= 0;
			if (forced)
				forced_by = i;
		}
		/* 7. the download */
		if (!target->has_texts)
			load_texts(p, (CachedVersion *) target, fcinfo->flinfo->fn_oid);
		url = resolve_url(p, region, target_file->url);
		if (trace)
		{
			trace_step(trace, "forced", forced_by >= 0 ? &p->versions[forced_by] : NULL,
					   forced ? "forced" : "not_forced");
			put_bool(&trace->st, "rollback", rollback);
			trace_end(trace);
			trace_step(trace, "download", target, url != NULL ? "resolved" : "no_file");
			put_str(&trace->st, "os", target_file->os);
			put_str(&trace->st, "arch", target_file->arch);
			put_str(&trace->st, "file_url", target_file->url);
			put_str(&trace->st, "download_url", url);
			put_str(&trace->st, "region", region);
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
		put_bool(&st, "is_forced", forced);
		put_bool(&st, "is_rollback", rollback);
		put_str(&st, "title", localized(target->title_i18n, locale, target->title));
		put_str(&st, "release_notes", localized(target->notes_i18n, locale, target->notes));
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
	put_str(&st, "candidate", newest ? newest->tag : NULL);
	put_str(&st, "channel", eff->name);
	if (rule != NULL)
	{
		put_key(&st, "rule");
		(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		put_int(&st, "id", rule->id);
		put_str(&st, "name", rule->name);
		put_int(&st, "priority", rule->priority);
		(void) pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	else
		put_null(&st, "rule");
	if (target != NULL)
	{
		put_int(&st, "bucket", bkt);
		put_numeric(&st, "percentage", pct);
		put_bool(&st, "stepping_stone", unreachable != NULL);
		put_str(&st, "final_target", unreachable);
		put_bool(&st, "rollback", rollback);
		put_str(&st, "why_not_newer", newest != target ? why : NULL);
	}
	else
	{
		if (newest != NULL)
			put_int(&st, "bucket", newest_bkt);
		else
			put_null(&st, "bucket");
		put_numeric(&st, "percentage", newest_pct);
		put_bool(&st, "stepping_stone", false);
		put_bool(&st, "rollback", false);
		put_str(&st, "why_not", why ? why : "up_to_date");
	}
	(void) pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	if (trace)
	{
		/* the steps, then the answer's "steps"; a simulation records nothing */
		Jsonb	   *steps;
		JsonbValue	bin;

		trace_step(trace, "result", target, target != NULL ? "update" : "no_update");
		put_str(&trace->st, "why_not", target == NULL ? (why ? why : "up_to_date") : NULL);
		put_str(&trace->st, "why_not_newer", target != NULL && newest != target ? why : NULL);
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
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	/* 8. record */
	{
		RolloutCheck c;

		c.project_id = p->id;
		c.record_event = p->record_check_events;
		c.client_id = cid;
		c.current_version = cur;
		c.channel = ch->name;
		c.region = region;
		c.os = os;
		c.arch = arch;
		c.target = target ? target->version : NULL;
		c.ip = ip_text ? ip : (Datum) 0;
		c.user_agent = ua;
		c.at = now;
		rollout_record_check(&c);
	}

	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}

/* rollout.check_update(request jsonb) returns jsonb: the decision, recorded */
Datum
rollout_check_update(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, false);
}

/*
 * rollout.simulate_decision(request jsonb) returns jsonb: check_update's
 * answer for the request plus its "steps", recording nothing.
 */
Datum
rollout_simulate_decision(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, true);
}
