/*
 * rollout_queue.c
 *		Recording checks (SPEC §7.8): client_state and the rollups.
 *
 * rollout.record_check(rollout.check_record) does the writing.  Without the
 * background worker check_update calls it in the checking transaction.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "rollout.h"

/* rollout.record_check and its argument type, looked up once per cache generation */
static uint64 lookup_generation = PG_UINT64_MAX;
static FmgrInfo record_check_fn;
static TupleDesc check_record_desc = NULL;

static void
lookup_record_check(void)
{
	MemoryContext old;
	Oid			fn;
	Oid			type;
	TupleDesc	desc;

	if (lookup_generation == rollout_cache_generation())
		return;
	fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
											  CStringGetDatum("rollout.record_check(rollout.check_record)")));
	type = DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum("rollout.check_record")));
	fmgr_info_cxt(fn, &record_check_fn, TopMemoryContext);
	desc = lookup_rowtype_tupdesc(type, -1);
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (check_record_desc != NULL)
		FreeTupleDesc(check_record_desc);
	check_record_desc = CreateTupleDescCopy(desc);
	BlessTupleDesc(check_record_desc);
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
	lookup_generation = rollout_cache_generation();
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

/* The check as a rollout.check_record datum. */
static Datum
check_record_datum(const RolloutCheck *c)
{
	Datum		values[12];
	bool		nulls[12];

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(c->project_id);
	values[1] = text_or_null(c->client_id, &nulls[1]);
	values[2] = PointerGetDatum(c->current_version);
	values[3] = text_or_null(c->channel, &nulls[3]);
	values[4] = text_or_null(c->region, &nulls[4]);
	values[5] = text_or_null(c->os, &nulls[5]);
	values[6] = text_or_null(c->arch, &nulls[6]);
	values[7] = PointerGetDatum(c->target);
	nulls[7] = (c->target == NULL);
	values[8] = c->ip;
	nulls[8] = (c->ip == (Datum) 0);
	values[9] = text_or_null(c->user_agent, &nulls[9]);
	values[10] = BoolGetDatum(c->record_event);
	values[11] = TimestampTzGetDatum(c->at);
	return HeapTupleGetDatum(heap_form_tuple(check_record_desc, values, nulls));
}

/* Record a check in the current transaction. */
static void
record_now(const RolloutCheck *c)
{
	LOCAL_FCINFO(fcinfo, 1);

	lookup_record_check();
	InitFunctionCallInfoData(*fcinfo, &record_check_fn, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = check_record_datum(c);
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

void
rollout_record_check(const RolloutCheck *c)
{
	record_now(c);
}
