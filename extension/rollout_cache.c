/*
 * rollout_cache.c
 *		The per-backend cache of each project's configuration, read by every
 *		check (rollout_decide.c).
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
 * Everything the decision needs is loaded here, except the release texts
 * (loaded when a version is first offered), so the decision itself works on
 * the structs of rollout_cache.h without touching the catalog.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "rollout.h"
#include "rollout_cache.h"

PG_FUNCTION_INFO_V1(rollout_config_changed);

/* The cache: projects by slug, dropped whenever a configuration table changes. */
static MemoryContext cache_cxt = NULL;
static CachedProject **projects = NULL;
static int	nprojects = 0;
static int	projects_size = 0;
static bool cache_valid = false;
static uint64 cache_generation = 0;

#define NCONFIG_RELS 9
static const char *const config_rel_names[NCONFIG_RELS] = {
	"projects", "channels", "versions", "artifacts", "mirrors", "update_rules",
	"project_signing", "signing_keys", "signing_secrets"
};
static Oid	config_rels[NCONFIG_RELS];

static void
cache_relcache_callback(Datum arg, Oid relid)
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

/* Register the invalidation callback that drops the cache (_PG_init). */
void
rollout_cache_init(void)
{
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
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
void
rollout_load_texts(CachedProject *p, CachedVersion *v, Oid fn_oid)
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

/* Free a project's Ed25519 signer with its memory context. */
static void
free_signer(void *arg)
{
	rollout_signer_free(arg);
}

/*
 * What signed answers need (rollout_sign.c): the metadata version, the
 * publish times still ahead when it was stored, the answer lifetime and the
 * active key, whose private bytes become an EVP_PKEY here and are not kept.
 * Read by the first signed check of a project, as the owner of fn_oid (only
 * the owner may read rollout.signing_secrets).
 */
void
rollout_load_signing(CachedProject *p, Oid fn_oid)
{
	Loader		l;

	loader_begin(&l, fn_oid);
	load_query(p->cxt, "SELECT s.metadata_version, s.scheduled, s.answer_lifetime, k.keyid, x.private_key"
			   " FROM rollout.project_signing s"
			   " LEFT JOIN rollout.signing_keys k ON k.project_id = s.project_id AND k.status = 'active'"
			   " LEFT JOIN rollout.signing_secrets x ON x.key_id = k.id"
			   " WHERE s.project_id = $1", INT8OID, Int64GetDatum(p->id));
	if (SPI_processed > 0)
	{
		HeapTuple	r = SPI_tuptable->vals[0];
		bool		isnull;
		Datum		d;

		p->metadata_version = col_int8(r, 1);
		d = col(r, 2, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(d);
			Datum	   *elems;
			int			n;

			deconstruct_array(a, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, NULL, &n);
			p->scheduled = palloc(sizeof(TimestampTz) * Max(n, 1));
			for (int i = 0; i < n; i++)
				p->scheduled[i] = DatumGetTimestampTz(elems[i]);
			p->nscheduled = n;
		}
		p->answer_lifetime = *DatumGetIntervalP(col(r, 3, &isnull));
		d = col(r, 5, &isnull);
		if (!isnull)
		{
			bytea	   *priv = DatumGetByteaPP(d);

			if (VARSIZE_ANY_EXHDR(priv) == 32)
			{
				MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

				strlcpy(p->keyid, col_text(r, 4), sizeof(p->keyid));
				p->signer = rollout_signer_new((const uint8 *) VARDATA_ANY(priv));
				cb->func = free_signer;
				cb->arg = p->signer;
				MemoryContextRegisterResetCallback(p->cxt, cb);
			}
		}
	}
	/* else no row: no key, and check_update_signed says so */
	p->has_signing = true;
	MemoryContextSwitchTo(p->cxt);
	loader_end(&l);
}

/* The cached project with this slug, loading it if needed; NULL if none. */
CachedProject *
rollout_project_by_slug(const char *slug, Oid fn_oid)
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
