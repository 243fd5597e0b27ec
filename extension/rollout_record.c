/*
 * rollout_record.c
 *		The check recorder's fast path: client_state rows updated in place.
 *
 * The background worker (rollout_queue.c) records a batch of queued checks
 * in one transaction.  Most checks come from a client that already has a
 * client_state row and checks once in the batch; for those, the SQL executor
 * (rollout.record_checks) costs several times what the update itself costs.
 * Here such rows are updated as the executor's UPDATE would: the row found
 * through the primary key with the transaction's snapshot, replaced with
 * table_tuple_update (HOT when its page has room), index entries added when
 * the update was not HOT.  The rollup deltas the SQL would have counted go
 * to rollout.count_checks, set-based.
 *
 * Everything else is left to rollout.record_checks in the same transaction:
 * new clients, projects storing raw check events, rows changed or deleted
 * since the snapshot (and the later checks of those clients in the batch),
 * and every check while client_state has anything the executor's UPDATE
 * would honour and this file would not: CHECK constraints, generated
 * columns, row-level security, triggers, indexes besides the primary key
 * (client_state_not_plain; TAP test 010 shows each).  The SQL stays
 * the reference: TAP test 004 compares both paths with checks recorded in the
 * checking transaction.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "rollout.h"
#include "semver.h"

/* The client_state columns written, by name. */
enum
{
	COL_PROJECT,
	COL_CLIENT,
	COL_VERSION,
	COL_CHANNEL,
	COL_REGION,
	COL_OS,
	COL_ARCH,
	COL_OFFERED,
	COL_SEEN,
	NCOLS
};

static const char *const col_names[NCOLS] = {
	"project_id", "client_id", "current_version", "channel", "region", "os", "arch",
	"last_offered", "last_seen"
};

/*
 * The rollup deltas of a batch: one entry per check (daily), per client
 * moving between groups (moved) and per newly offered version (offered),
 * added up per group by aggregate_deltas before they go to
 * rollout.count_checks.  The *_events, *_clients, *_active and *_count arrays
 * are the counts of each entry (int4 Datums).
 */
typedef struct Deltas
{
	int			n_daily;
	Datum	   *d_project;
	Datum	   *d_day;
	Datum	   *d_version;
	Datum	   *d_events;
	Datum	   *d_clients;		/* new at this version that day */
	Datum	   *d_active;		/* active that day: its first check of the day */
	int			n_moved;
	Datum	   *m_project;
	Datum	   *m_channel;
	Datum	   *m_version;
	Datum	   *m_region;
	Datum	   *m_delta;
	int			n_offered;
	Datum	   *o_project;
	Datum	   *o_version;
	Datum	   *o_count;
} Deltas;

/* The UTC day of a timestamp, as a date. */
static DateADT
utc_day(TimestampTz t)
{
	int64		d = t / USECS_PER_DAY;

	if (t < 0 && t % USECS_PER_DAY != 0)
		d--;
	return (DateADT) d;
}


/* SemVer precedence, the equality of the rollups' keys */
static int
cmp_semver(Datum a, Datum b)
{
	SemVerView va;
	SemVerView vb;

	semver_view(semver_detoast(a), &va);
	semver_view(semver_detoast(b), &vb);
	return semver_key_cmp(&va, &vb);
}

static bool
text_equals(Datum t, const char *s)
{
	text	   *x = DatumGetTextPP(t);

	return VARSIZE_ANY_EXHDR(x) == strlen(s) && memcmp(VARDATA_ANY(x), s, VARSIZE_ANY_EXHDR(x)) == 0;
}

static Datum
nullable_text(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

/* qsort order of check indexes: by project, then client id. */
static RolloutCheck *sort_checks;

static int
cmp_client(const void *a, const void *b)
{
	const RolloutCheck *x = &sort_checks[*(const int *) a];
	const RolloutCheck *y = &sort_checks[*(const int *) b];

	if (x->project_id != y->project_id)
		return x->project_id < y->project_id ? -1 : 1;
	return strcmp(x->client_id, y->client_id);
}

/* qsort order of check indexes: by client, then in queue order. */
static int
cmp_client_then_queue(const void *a, const void *b)
{
	int			c = cmp_client(a, b);

	if (c != 0)
		return c;
	return *(const int *) a - *(const int *) b;
}

/*
 * Why the SQL must record into client_state rather than this file, or NULL if
 * nothing stops the fast path.  The fast path writes the row and the primary
 * key's entries and nothing else, so anything on the table that an UPDATE
 * through the executor would honour sends every check to the SQL:
 * rollout.record_checks runs as its owner (SECURITY DEFINER), so whatever
 * applies to that owner applies there.  Read from the relcache entry when the
 * table is opened, once per batch, never per check.
 */
static const char *
client_state_not_plain(Relation rel, Oid nsp, const AttrNumber *attno)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	Oid			semver = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("semver"),
										 ObjectIdGetDatum(nsp));
	List	   *indexes;
	int			nindexes;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		return "not a plain table";
	/* the types written (a domain's constraints are the executor's to check) */
	for (int i = 0; i < NCOLS; i++)
	{
		Oid			want = (i == COL_PROJECT) ? INT8OID :
			(i == COL_VERSION || i == COL_OFFERED) ? semver :
			(i == COL_SEEN) ? TIMESTAMPTZOID : TEXTOID;

		if (TupleDescAttr(desc, attno[i] - 1)->atttypid != want)
			return "a column of another type";
	}
	/* the fast path checks no CHECK constraint (the table comes with none) */
	if (constr != NULL && constr->num_check > 0)
		return "CHECK constraints";
	/* stored generated columns are computed by the executor */
	if (constr != NULL && constr->has_generated_stored)
		return "generated columns";
	/* os and arch may become NULL; the other columns written never do */
	if (TupleDescAttr(desc, attno[COL_OS] - 1)->attnotnull ||
		TupleDescAttr(desc, attno[COL_ARCH] - 1)->attnotnull)
		return "NOT NULL on os or arch";
	/* row security: the policies (FORCE ROW LEVEL SECURITY) may apply to the owner */
	if (rel->rd_rel->relrowsecurity)
		return "row-level security";
	/*
	 * Triggers: user triggers, and internal ones but for the foreign keys'
	 * checks on columns the fast path never changes (project_id's own
	 * REFERENCES rollout.projects).
	 */
	if (rel->trigdesc != NULL)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			const Trigger *t = &rel->trigdesc->triggers[i];
			bool		key_only = false;
			ListCell   *lc;

			if (!t->tgisinternal)
				return "triggers";
			if (t->tgfoid != F_RI_FKEY_CHECK_INS && t->tgfoid != F_RI_FKEY_CHECK_UPD)
				return "internal triggers";
			foreach(lc, RelationGetFKeyList(rel))
			{
				ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);

				if (fk->conoid != t->tgconstraint)
					continue;
				key_only = true;
				for (int k = 0; k < fk->nkeys; k++)
					key_only &= fk->conkey[k] == attno[COL_PROJECT] || fk->conkey[k] == attno[COL_CLIENT];
			}
			if (!key_only)
				return "foreign keys";
		}
	}
	/* indexes: the primary key alone (the fast path probes it and adds its entries) */
	indexes = RelationGetIndexList(rel);
	nindexes = list_length(indexes);
	list_free(indexes);
	if (nindexes != 1)
		return "indexes besides the primary key";
	return NULL;
}

/*
 * client_state with its primary key on (project_id, client_id), the column
 * numbers of what a check writes, and nothing an UPDATE through the executor
 * would honour that the fast path would not (client_state_not_plain); NULL
 * otherwise (the table was altered: leave it all to the SQL).
 */
static Relation
open_client_state(AttrNumber *attno, Relation *index)
{
	Oid			nsp = get_namespace_oid("rollout", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("client_state", nsp) : InvalidOid;
	Relation	rel;
	Oid			pk;
	Relation	idx;
	const char *why;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	for (int i = 0; i < NCOLS; i++)
	{
		attno[i] = get_attnum(relid, col_names[i]);
		if (attno[i] == InvalidAttrNumber)
		{
			table_close(rel, RowExclusiveLock);
			return NULL;
		}
	}
	if ((why = client_state_not_plain(rel, nsp, attno)) != NULL)
	{
		elog(DEBUG1, "rollout: rollout.client_state has %s: checks are recorded with rollout.record_checks", why);
		table_close(rel, RowExclusiveLock);
		return NULL;
	}
	pk = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pk))
	{
		table_close(rel, RowExclusiveLock);
		return NULL;
	}
	idx = index_open(pk, RowExclusiveLock);
	if (IndexRelationGetNumberOfKeyAttributes(idx) != 2 ||
		idx->rd_index->indkey.values[0] != attno[COL_PROJECT] ||
		idx->rd_index->indkey.values[1] != attno[COL_CLIENT])
	{
		index_close(idx, RowExclusiveLock);
		table_close(rel, RowExclusiveLock);
		return NULL;
	}
	*index = idx;
	return rel;
}

static void
add_moved(Deltas *d, int64 project, Datum channel, Datum version, Datum region, int delta)
{
	int			k = d->n_moved++;

	d->m_project[k] = Int64GetDatum(project);
	d->m_channel[k] = channel;
	d->m_version[k] = version;
	d->m_region[k] = region;
	d->m_delta[k] = Int32GetDatum(delta);
}

/*
 * Update the row of checks[i] if that is all it takes; returns false when the
 * check is left to the SQL.  The deltas go to d.
 */
static bool
record_in_place(const RolloutCheck *c, Relation rel, IndexScanDesc scan, Relation idx,
				const AttrNumber *attno, TupleTableSlot *old, TupleTableSlot *new,
				ResultRelInfo *rri, EState *estate, Deltas *d)
{
	ScanKeyData key[2];
	Datum		o_version;
	Datum		o_channel;
	Datum		o_region;
	Datum		o_offered;
	bool		o_offered_null;
	TimestampTz o_seen;
	bool		version_changed;
	TM_Result	res;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	int			natts = RelationGetDescr(rel)->natts;
	int			k;
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;
#else
	bool		update_indexes;
#endif

	ScanKeyEntryInitialize(&key[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[0], F_INT8EQ, Int64GetDatum(c->project_id));
	ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[1], F_TEXTEQ, CStringGetTextDatum(c->client_id));
	index_rescan(scan, key, 2, NULL, 0);
	if (!index_getnext_slot(scan, ForwardScanDirection, old))
		return false;			/* a new client */
	slot_getallattrs(old);
	if (old->tts_isnull[attno[COL_VERSION] - 1] || old->tts_isnull[attno[COL_CHANNEL] - 1] ||
		old->tts_isnull[attno[COL_REGION] - 1] || old->tts_isnull[attno[COL_SEEN] - 1])
		return false;
	o_version = old->tts_values[attno[COL_VERSION] - 1];
	o_channel = old->tts_values[attno[COL_CHANNEL] - 1];
	o_region = old->tts_values[attno[COL_REGION] - 1];
	o_offered = old->tts_values[attno[COL_OFFERED] - 1];
	o_offered_null = old->tts_isnull[attno[COL_OFFERED] - 1];
	o_seen = DatumGetTimestampTz(old->tts_values[attno[COL_SEEN] - 1]);

	k = d->n_daily++;
	d->d_project[k] = Int64GetDatum(c->project_id);
	d->d_day[k] = DateADTGetDatum(utc_day(c->at));
	d->d_version[k] = PointerGetDatum(c->current_version);
	d->d_events[k] = Int32GetDatum(1);
	d->d_clients[k] = Int32GetDatum(0);
	d->d_active[k] = Int32GetDatum(0);
	if (o_seen > c->at)
		return true;			/* a later install result was recorded: count the check only */

	/* the new row: the old one with what the check says */
	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, sizeof(Datum) * natts);
	memcpy(new->tts_isnull, old->tts_isnull, sizeof(bool) * natts);
	new->tts_values[attno[COL_VERSION] - 1] = PointerGetDatum(c->current_version);
	new->tts_values[attno[COL_CHANNEL] - 1] = CStringGetTextDatum(c->channel);
	new->tts_values[attno[COL_REGION] - 1] = CStringGetTextDatum(c->region);
	new->tts_values[attno[COL_OS] - 1] = nullable_text(c->os, &new->tts_isnull[attno[COL_OS] - 1]);
	new->tts_values[attno[COL_ARCH] - 1] = nullable_text(c->arch, &new->tts_isnull[attno[COL_ARCH] - 1]);
	if (c->target != NULL)
	{
		new->tts_values[attno[COL_OFFERED] - 1] = PointerGetDatum(c->target);
		new->tts_isnull[attno[COL_OFFERED] - 1] = false;
	}
	new->tts_values[attno[COL_SEEN] - 1] = TimestampTzGetDatum(c->at);
	ExecStoreVirtualTuple(new);

	res = table_tuple_update(rel, &old->tts_tid, new, GetCurrentCommandId(true), GetActiveSnapshot(),
							 InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	if (res != TM_Ok)
	{
		/* changed or deleted since the snapshot: the SQL takes a new one */
		d->n_daily--;
		return false;
	}
	/*
	 * Not HOT: new index entries.  "update" stays false: it only adds the
	 * hint that the key is unchanged, which needs the range table of a real
	 * UPDATE to compute.
	 */
#if PG_VERSION_NUM >= 160000
	if (update_indexes != TU_None)
		(void) ExecInsertIndexTuples(rri, new, estate, false, false, NULL, NIL,
									 update_indexes == TU_Summarizing);
#else
	if (update_indexes)
		(void) ExecInsertIndexTuples(rri, new, estate, false, false, NULL, NIL);
#endif

	/* the deltas, as rollout.record_checks counts them */
	version_changed = cmp_semver(o_version, PointerGetDatum(c->current_version)) != 0;
	d->d_clients[k] = Int32GetDatum(version_changed || utc_day(o_seen) < utc_day(c->at) ? 1 : 0);
	d->d_active[k] = Int32GetDatum(utc_day(o_seen) < utc_day(c->at) ? 1 : 0);
	if (version_changed || !text_equals(o_channel, c->channel) || !text_equals(o_region, c->region))
	{
		add_moved(d, c->project_id, datumCopy(o_channel, false, -1), datumCopy(o_version, false, -1),
				  datumCopy(o_region, false, -1), -1);
		add_moved(d, c->project_id, CStringGetTextDatum(c->channel), PointerGetDatum(c->current_version),
				  CStringGetTextDatum(c->region), 1);
	}
	if (c->target != NULL && (o_offered_null || cmp_semver(o_offered, PointerGetDatum(c->target)) != 0))
	{
		k = d->n_offered++;
		d->o_project[k] = Int64GetDatum(c->project_id);
		d->o_version[k] = PointerGetDatum(c->target);
		d->o_count[k] = Int32GetDatum(1);
	}
	return true;
}

static Datum
array_of(Datum *elems, int n, Oid type)
{
	int16		len;
	bool		byval;
	char		align;

	get_typlenbyvalalign(type, &len, &byval, &align);
	return PointerGetDatum(construct_array(elems, n, type, len, byval, align));
}

/* The kinds of a group key's columns. */
typedef enum KeyKind
{
	KEY_INT8,
	KEY_DATE,
	KEY_SEMVER,
	KEY_TEXT					/* byte order: equality is the columns' (deterministic collation) */
} KeyKind;

static int
cmp_key(KeyKind kind, Datum a, Datum b)
{
	switch (kind)
	{
		case KEY_INT8:
			return (DatumGetInt64(a) > DatumGetInt64(b)) - (DatumGetInt64(a) < DatumGetInt64(b));
		case KEY_DATE:
			return (DatumGetDateADT(a) > DatumGetDateADT(b)) - (DatumGetDateADT(a) < DatumGetDateADT(b));
		case KEY_SEMVER:
			return cmp_semver(a, b);
		case KEY_TEXT:
			{
				text	   *x = DatumGetTextPP(a);
				text	   *y = DatumGetTextPP(b);
				int			lx = VARSIZE_ANY_EXHDR(x);
				int			ly = VARSIZE_ANY_EXHDR(y);
				int			c = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(lx, ly));

				return c != 0 ? c : (lx > ly) - (lx < ly);
			}
	}
	return 0;
}

#define MAX_DELTA_COLS 6

/* What aggregate sorts by: the key columns and their kinds (for qsort). */
static Datum **const *agg_cols;
static const KeyKind *agg_kinds;
static int	agg_nkeys;

static int
cmp_group(const void *a, const void *b)
{
	int			i = *(const int *) a;
	int			j = *(const int *) b;

	for (int c = 0; c < agg_nkeys; c++)
	{
		int			r = cmp_key(agg_kinds[c], (*agg_cols[c])[i], (*agg_cols[c])[j]);

		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * Add up n entries of cols (the first nkeys are the group's key, of kinds
 * kinds, the rest int4 counts) per group; cols then point to one entry per
 * group.  Returns the number of groups.
 */
static int
aggregate(int n, Datum **const cols[], const KeyKind *kinds, int nkeys, int ncols)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	Datum	   *out[MAX_DELTA_COLS];
	int			groups = 0;

	Assert(ncols <= MAX_DELTA_COLS);
	for (int i = 0; i < n; i++)
		order[i] = i;
	agg_cols = cols;
	agg_kinds = kinds;
	agg_nkeys = nkeys;
	qsort(order, n, sizeof(int), cmp_group);
	for (int c = 0; c < ncols; c++)
		out[c] = palloc(sizeof(Datum) * Max(n, 1));
	for (int j = 0; j < n; j++)
	{
		int			i = order[j];

		if (j > 0 && cmp_group(&order[j - 1], &order[j]) == 0)
		{
			for (int c = nkeys; c < ncols; c++)
				out[c][groups - 1] = Int32GetDatum(DatumGetInt32(out[c][groups - 1]) + DatumGetInt32((*cols[c])[i]));
			continue;
		}
		for (int c = 0; c < ncols; c++)
			out[c][groups] = (*cols[c])[i];
		groups++;
	}
	for (int c = 0; c < ncols; c++)
		*cols[c] = out[c];
	return groups;
}

/*
 * Add the deltas to the rollups with rollout.count_checks, added up per group
 * first: a batch has far fewer groups (project, day and version, say) than
 * checks, and each group is one row the SQL inserts or updates.
 */
static void
count_deltas(Deltas *d)
{
	Oid			semver = DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum("rollout.semver")));
	Datum	  **const daily[] = {&d->d_project, &d->d_day, &d->d_version, &d->d_events, &d->d_clients, &d->d_active};
	Datum	  **const moved[] = {&d->m_project, &d->m_channel, &d->m_version, &d->m_region, &d->m_delta};
	Datum	  **const offered[] = {&d->o_project, &d->o_version, &d->o_count};
	const KeyKind daily_key[] = {KEY_INT8, KEY_DATE, KEY_SEMVER};
	const KeyKind moved_key[] = {KEY_INT8, KEY_TEXT, KEY_SEMVER, KEY_TEXT};
	const KeyKind offered_key[] = {KEY_INT8, KEY_SEMVER};
	Oid			types[14];
	Datum		args[14];

	d->n_daily = aggregate(d->n_daily, daily, daily_key, 3, 6);
	d->n_moved = aggregate(d->n_moved, moved, moved_key, 4, 5);
	d->n_offered = aggregate(d->n_offered, offered, offered_key, 2, 3);
	{
		const Oid	elem[14] = {INT8OID, DATEOID, semver, INT4OID, INT4OID, INT4OID,
			INT8OID, TEXTOID, semver, TEXTOID, INT4OID,
		INT8OID, semver, INT4OID};
		Datum	   *const arrays[14] = {d->d_project, d->d_day, d->d_version, d->d_events, d->d_clients, d->d_active,
			d->m_project, d->m_channel, d->m_version, d->m_region, d->m_delta,
		d->o_project, d->o_version, d->o_count};
		const int	counts[14] = {d->n_daily, d->n_daily, d->n_daily, d->n_daily, d->n_daily, d->n_daily,
			d->n_moved, d->n_moved, d->n_moved, d->n_moved, d->n_moved,
		d->n_offered, d->n_offered, d->n_offered};

		for (int i = 0; i < 14; i++)
		{
			types[i] = get_array_type(elem[i]);
			args[i] = array_of(arrays[i], counts[i], elem[i]);
		}
	}
	if (SPI_execute_with_args("SELECT rollout.count_checks($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
							  14, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "rollout: rollout.count_checks failed");
}

/*
 * Record what can be recorded in place of checks[0..n) in the current
 * transaction (SPI connected, a snapshot active); sets leave[i] for the checks
 * left to rollout.record_checks and returns how many were recorded here.
 */
int
rollout_record_in_place(RolloutCheck *checks, int n, bool *leave)
{
	AttrNumber	attno[NCOLS];
	Relation	rel;
	Relation	idx;
	int		   *order;
	int			done = 0;
	Deltas		d;
	IndexScanDesc scan;
	TupleTableSlot *old;
	TupleTableSlot *new;
	EState	   *estate;
	ResultRelInfo *rri;

	for (int i = 0; i < n; i++)
		leave[i] = true;
	rel = open_client_state(attno, &idx);
	if (rel == NULL)
		return 0;

	/* each client's checks together and in queue order; clients in key order */
	order = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_checks = checks;
	qsort(order, n, sizeof(int), cmp_client_then_queue);

	memset(&d, 0, sizeof(d));
	d.d_project = palloc(sizeof(Datum) * n);
	d.d_day = palloc(sizeof(Datum) * n);
	d.d_version = palloc(sizeof(Datum) * n);
	d.d_events = palloc(sizeof(Datum) * n);
	d.d_clients = palloc(sizeof(Datum) * n);
	d.d_active = palloc(sizeof(Datum) * n);
	d.m_project = palloc(sizeof(Datum) * 2 * n);
	d.m_channel = palloc(sizeof(Datum) * 2 * n);
	d.m_version = palloc(sizeof(Datum) * 2 * n);
	d.m_region = palloc(sizeof(Datum) * 2 * n);
	d.m_delta = palloc(sizeof(Datum) * 2 * n);
	d.o_project = palloc(sizeof(Datum) * n);
	d.o_version = palloc(sizeof(Datum) * n);
	d.o_count = palloc(sizeof(Datum) * n);

	estate = CreateExecutorState();
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	old = table_slot_create(rel, NULL);
	new = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 2, 0);

	for (int j = 0; j < n; j++)
	{
		const RolloutCheck *c = &checks[order[j]];
		bool		same_client = (j > 0 && cmp_client(&order[j - 1], &order[j]) == 0);

		/* once one check of a client is left to the SQL, so are its later ones */
		if (same_client && leave[order[j - 1]])
			continue;
		if (same_client)
		{
			/* the client's previous check updated its row: see that version */
			CommandCounterIncrement();
			UpdateActiveSnapshotCommandId();
		}
		if (c->record_event || c->client_id == NULL || c->channel == NULL || c->region == NULL ||
			c->current_version == NULL)
			continue;
		if (record_in_place(c, rel, scan, idx, attno, old, new, rri, estate, &d))
		{
			leave[order[j]] = false;
			done++;
		}
		ResetPerTupleExprContext(estate);
	}

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(old);
	ExecDropSingleTupleTableSlot(new);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	index_close(idx, NoLock);
	table_close(rel, NoLock);

	/* what follows (the rollups, the SQL for the rest) sees these updates */
	CommandCounterIncrement();
	if (done > 0)
		count_deltas(&d);
	return done;
}
