/*
 * rollout_queue.c
 *		Recording checks (SPEC §7.8): the ring of queued checks in shared
 *		memory, filled when the checking transactions commit.
 *
 * rollout.record_check(rollout.check_record) does the writing for one check.
 * Without help check_update calls it in the checking transaction, which then
 * writes a client_state row and three rollup rows per check.
 *
 * When the library is in shared_preload_libraries, a background worker
 * (rollout_worker.c) connected to the database named by rollout.database
 * takes that work off the request path: check_update serializes the check,
 * the transaction puts its checks into a ring buffer in shared memory when it
 * commits (a check of a transaction or subtransaction that aborts is never
 * recorded; transaction callbacks here), and the worker records the queued
 * checks every rollout.check_flush_interval (or sooner when the ring fills
 * up), one transaction per batch.  The ring is bounded: when it is full, a
 * check is recorded by its own transaction as before, so nothing is dropped.
 * What this relaxes is what SPEC §7.8 allows for check bookkeeping: checks
 * still in the ring when the server crashes are lost (a clean shutdown
 * records them first), and statistics trail the checks by the flush interval
 * (rollout.flush_checks() waits for them).  Install results never take this
 * path.  rollout.check_queue() reports the ring's and the worker's state for
 * /healthz and /metrics.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/array.h"

#include "rollout.h"
#include "rollout_queue.h"

PG_FUNCTION_INFO_V1(rollout_flush_checks);
PG_FUNCTION_INFO_V1(rollout_check_queue);
PG_FUNCTION_INFO_V1(rollout_announce_stats);
PG_FUNCTION_INFO_V1(rollout_queue_checks);

/* Settings */
char	   *rollout_queue_database = NULL;
static int	queue_size_kb = 16384;
static bool async_checks = true;

CheckQueue *rollout_queue = NULL;

/*
 * In the postmaster: shared memory was set up before, so this is a crash
 * restart, whose new worker counts as a restart (the counters start over
 * with the new shared memory).
 */
static bool queue_set_up_before = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* ---------------------------------------------------------------------
 * Recording one check in the current transaction
 * ---------------------------------------------------------------------
 */

/* rollout.record_check and its argument type, looked up again after any function or type change */
static FmgrInfo record_check_fn;
Oid		rollout_check_record_type;
static TupleDesc check_record_desc = NULL;

static bool lookup_valid = false;

/* Any change of a function or type (the extension dropped and created again, say). */
static void
lookup_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	lookup_valid = false;
}

void
rollout_lookup_record_check(void)
{
	MemoryContext old;
	Oid			fn;
	TupleDesc	desc;

	if (lookup_valid)
		return;
	lookup_valid = true;		/* before the lookups: an invalidation during them wins */
	fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
											  CStringGetDatum("rollout.record_check(rollout.check_record)")));
	rollout_check_record_type = DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum("rollout.check_record")));
	fmgr_info_cxt(fn, &record_check_fn, TopMemoryContext);
	desc = lookup_rowtype_tupdesc(rollout_check_record_type, -1);
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (check_record_desc != NULL)
		FreeTupleDesc(check_record_desc);
	check_record_desc = CreateTupleDescCopy(desc);
	BlessTupleDesc(check_record_desc);
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

/* The check as a rollout.check_record datum. */
Datum
rollout_check_record_datum(const RolloutCheck *c)
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

	rollout_lookup_record_check();
	InitFunctionCallInfoData(*fcinfo, &record_check_fn, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = rollout_check_record_datum(c);
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

/* ---------------------------------------------------------------------
 * The ring
 *
 * A record is its uint32 length, the project id, the time, the
 * record_event flag, then nine fields as an int32 length (-1: NULL) and
 * the bytes: client_id, current_version (the whole varlena), channel,
 * region, os, arch, target (varlena), ip (varlena), user_agent.
 * ---------------------------------------------------------------------
 */

#define RECORD_FIXED (sizeof(uint32) + sizeof(int64) + sizeof(TimestampTz) + 1)
#define NFIELDS 9

static void
ring_write(uint64 pos, const void *src, Size len)
{
	Size		off = pos % rollout_queue->size;
	Size		first = Min(len, rollout_queue->size - off);

	memcpy(rollout_queue->data + off, src, first);
	if (first < len)
		memcpy(rollout_queue->data, (const char *) src + first, len - first);
}

void
rollout_ring_read(uint64 pos, void *dst, Size len)
{
	Size		off = pos % rollout_queue->size;
	Size		first = Min(len, rollout_queue->size - off);

	memcpy(dst, rollout_queue->data + off, first);
	if (first < len)
		memcpy((char *) dst + first, rollout_queue->data, len - first);
}

/* Serialize c into a palloc'd buffer; its length goes to *len. */
static char *
serialize_check(const RolloutCheck *c, uint32 *len)
{
	const void *ptr[NFIELDS];
	int32		flen[NFIELDS];
	uint32		total = RECORD_FIXED;
	char	   *buf;
	char	   *p;

#define FIELD_STR(i, s) (ptr[i] = (s), flen[i] = (s) ? (int32) strlen(s) : -1)
#define FIELD_VAR(i, v) (ptr[i] = (v), flen[i] = (v) ? (int32) VARSIZE_ANY(v) : -1)
	FIELD_STR(0, c->client_id);
	FIELD_VAR(1, c->current_version);
	FIELD_STR(2, c->channel);
	FIELD_STR(3, c->region);
	FIELD_STR(4, c->os);
	FIELD_STR(5, c->arch);
	FIELD_VAR(6, c->target);
	FIELD_VAR(7, c->ip ? DatumGetPointer(c->ip) : NULL);
	FIELD_STR(8, c->user_agent);
	for (int i = 0; i < NFIELDS; i++)
		total += sizeof(int32) + Max(flen[i], 0);

	p = buf = palloc(total);
	memcpy(p, &total, sizeof(uint32));
	p += sizeof(uint32);
	memcpy(p, &c->project_id, sizeof(int64));
	p += sizeof(int64);
	memcpy(p, &c->at, sizeof(TimestampTz));
	p += sizeof(TimestampTz);
	*p++ = c->record_event ? 1 : 0;
	for (int i = 0; i < NFIELDS; i++)
	{
		memcpy(p, &flen[i], sizeof(int32));
		p += sizeof(int32);
		if (flen[i] > 0)
		{
			memcpy(p, ptr[i], flen[i]);
			p += flen[i];
		}
	}
	*len = total;
	return buf;
}

/* The record in buf (from serialize_check) as a check; fields point into buf. */
void
rollout_deserialize_check(char *buf, RolloutCheck *c)
{
	char	   *p = buf + sizeof(uint32);
	char	   *field[NFIELDS];

	memcpy(&c->project_id, p, sizeof(int64));
	p += sizeof(int64);
	memcpy(&c->at, p, sizeof(TimestampTz));
	p += sizeof(TimestampTz);
	c->record_event = (*p++ != 0);
	for (int i = 0; i < NFIELDS; i++)
	{
		int32		len;

		memcpy(&len, p, sizeof(int32));
		p += sizeof(int32);
		if (len < 0)
			field[i] = NULL;
		else
		{
			/* strings get a terminator; varlenas are copied to be aligned */
			field[i] = palloc(len + 1);
			memcpy(field[i], p, len);
			field[i][len] = '\0';
			p += len;
		}
	}
	c->client_id = field[0];
	c->current_version = (struct varlena *) field[1];
	c->channel = field[2];
	c->region = field[3];
	c->os = field[4];
	c->arch = field[5];
	c->target = (struct varlena *) field[6];
	c->ip = PointerGetDatum(field[7]);
	c->user_agent = field[8];
}

/* Whether checks of this session go through the worker's queue. */
static bool
queue_usable(void)
{
	return rollout_queue != NULL && async_checks && rollout_queue->dboid == MyDatabaseId && rollout_queue->worker_pid != 0;
}

/*
 * The checks of the current transaction, serialized, each with the
 * subtransaction nesting level that made it: queued when the transaction
 * commits, forgotten when it (or the subtransaction) aborts.  The arrays are
 * in TopTransactionContext.  Levels never decrease along the list: the
 * checks of the innermost subtransaction are its tail.
 */
typedef struct PendingCheck
{
	char	   *buf;			/* serialize_check's record, length first */
	int			level;
} PendingCheck;

static struct
{
	int			n;
	int			size;
	PendingCheck *checks;
}			pending;

static void
pending_forget(void)
{
	memset(&pending, 0, sizeof(pending));
}

/*
 * Queue the transaction's checks for the worker (one lock for all of them),
 * or, for those the ring has no room for (or when prepare is true), record
 * them in the transaction itself.
 */
static void
pending_flush(bool prepare)
{
	int			n = pending.n;
	PendingCheck *checks = pending.checks;
	bool	   *left = palloc0(sizeof(bool) * n);
	int			nleft = 0;
	bool		wake = false;

	pending_forget();			/* whatever happens next, once */
	if (!prepare)
	{
		LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
		for (int i = 0; i < n; i++)
		{
			uint32		len;

			memcpy(&len, checks[i].buf, sizeof(uint32));
			if (rollout_queue->worker_pid != 0 && rollout_queue->size - (rollout_queue->head - rollout_queue->tail) >= len)
			{
				ring_write(rollout_queue->head, checks[i].buf, len);
				rollout_queue->head += len;
				rollout_queue->enqueued++;
			}
			else
			{
				left[i] = true;
				nleft++;
				rollout_queue->direct++;
			}
		}
		/* a quarter full: do not wait for the timer */
		wake = (rollout_queue->head - rollout_queue->tail) > rollout_queue->size / 4;
		LWLockRelease(rollout_queue->lock);
		if (wake && rollout_queue->worker_latch != NULL)
			SetLatch(rollout_queue->worker_latch);
	}
	else
	{
		/* a prepared transaction may still roll back: record with it */
		memset(left, true, sizeof(bool) * n);
		nleft = n;
	}
	if (nleft > 0)
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		for (int i = 0; i < n; i++)
			if (left[i])
			{
				RolloutCheck c;

				rollout_deserialize_check(checks[i].buf, &c);
				record_now(&c);
			}
		PopActiveSnapshot();
	}
}

/*
 * Announcements that a project's statistics changed ({"type": "stats"} on
 * rollout_events, for live pages), made by download and install reports.
 * A NOTIFY makes its transaction's commit wait for every other notifying
 * transaction's (PostgreSQL serializes them, WAL flush included), so a
 * report does not notify: when the worker records this database's checks,
 * the projects go to it when the transaction commits, and it announces
 * them together at most once a flush interval, as it does for checks.
 * Without the worker (or with rollout.async_checks off), the report
 * notifies itself.
 */
static int64 stats_pending[8];
static int	nstats_pending;

static void
notify_stats_now(int64 project_id)
{
	char		payload[64];

	snprintf(payload, sizeof(payload), "{\"type\":\"stats\",\"project_id\":" INT64_FORMAT "}", project_id);
	Async_Notify("rollout_events", payload);
}

Datum
rollout_announce_stats(PG_FUNCTION_ARGS)
{
	int64		project_id = PG_GETARG_INT64(0);

	for (int i = 0; i < nstats_pending; i++)
		if (stats_pending[i] == project_id)
			PG_RETURN_VOID();
	if (queue_usable() && nstats_pending < (int) lengthof(stats_pending))
		stats_pending[nstats_pending++] = project_id;
	else
		notify_stats_now(project_id);
	PG_RETURN_VOID();
}

/* The transaction committed: hand its announcements to the worker. */
static void
stats_hand_over(void)
{
	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	for (int i = 0; i < nstats_pending; i++)
	{
		bool		known = false;

		for (int j = 0; j < rollout_queue->nstats && !known; j++)
			known = rollout_queue->stats[j] == stats_pending[i];
		/* full: the projects already there refresh; this one's page waits for its next event */
		if (!known && rollout_queue->nstats < ROLLOUT_STATS_SLOTS)
			rollout_queue->stats[rollout_queue->nstats++] = stats_pending[i];
	}
	LWLockRelease(rollout_queue->lock);
}

int
rollout_take_stats(int64 *ids)
{
	int			n;

	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	n = rollout_queue->nstats;
	memcpy(ids, rollout_queue->stats, sizeof(int64) * n);
	rollout_queue->nstats = 0;
	LWLockRelease(rollout_queue->lock);
	return n;
}

static void
queue_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pending.n > 0)
				pending_flush(event == XACT_EVENT_PRE_PREPARE);
			break;
		case XACT_EVENT_COMMIT:
			if (nstats_pending > 0 && rollout_queue != NULL)
				stats_hand_over();
			/* fall through */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending_forget();	/* the arrays went with TopTransactionContext */
			nstats_pending = 0;
			break;
		default:
			break;
	}
}

static void
queue_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (pending.n > 0 && pending.checks[pending.n - 1].level >= level)
			pending.n--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = pending.n - 1; i >= 0 && pending.checks[i].level >= level; i--)
			pending.checks[i].level = level - 1;
	}
}

/*
 * Record a check: queued for the worker when the transaction commits, or, if
 * no worker records this database, in the transaction at once.
 */
void
rollout_record_check(const RolloutCheck *c)
{
	MemoryContext old;
	uint32		len;

	if (!queue_usable())
	{
		record_now(c);
		return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (pending.size == 0)
	{
		pending.size = 16;
		pending.checks = palloc(sizeof(PendingCheck) * pending.size);
	}
	else if (pending.n == pending.size)
	{
		pending.size *= 2;
		pending.checks = repalloc(pending.checks, sizeof(PendingCheck) * pending.size);
	}
	pending.checks[pending.n].buf = serialize_check(c, &len);
	pending.checks[pending.n].level = GetCurrentTransactionNestLevel();
	pending.n++;
	MemoryContextSwitchTo(old);
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/*
 * rollout.flush_checks(timeout_ms integer DEFAULT 60000) returns bigint:
 * waits until every check queued before the call is recorded; returns how
 * many were waited for.  Without a worker nothing is ever queued.
 */
Datum
rollout_flush_checks(PG_FUNCTION_ARGS)
{
	int32		timeout_ms = PG_GETARG_INT32(0);
	TimestampTz deadline = GetCurrentTimestamp() + (int64) timeout_ms * 1000;
	uint64		target;
	uint64		waiting;

	if (rollout_queue == NULL)
		PG_RETURN_INT64(0);
	LWLockAcquire(rollout_queue->lock, LW_SHARED);
	target = rollout_queue->head;
	waiting = rollout_queue->enqueued - rollout_queue->recorded - rollout_queue->skipped;
	LWLockRelease(rollout_queue->lock);
	for (;;)
	{
		uint64		tail;
		Latch	   *latch;

		LWLockAcquire(rollout_queue->lock, LW_SHARED);
		tail = rollout_queue->tail;
		latch = rollout_queue->worker_latch;
		LWLockRelease(rollout_queue->lock);
		if (tail >= target)
			break;
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("queued checks were not recorded within %d ms", timeout_ms),
					 errhint("Is the rollout background worker running? See the server log.")));
		if (latch != NULL)
			SetLatch(latch);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_INT64((int64) waiting);
}

/* Append "key": the timestamp as JSON, or null for 0 (never). */
static void
append_json_time(StringInfo buf, const char *key, TimestampTz t)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	if (t == 0)
		appendStringInfoString(buf, "null");
	else
	{
		char		iso[MAXDATELEN + 1];

		JsonEncodeDateTime(iso, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
		escape_json(buf, iso);
	}
}

/*
 * rollout.check_queue() returns jsonb: the state of the background recording,
 * for operators and the shim's /healthz and /metrics.  "enabled": this
 * session's checks go through the queue; "expected": they would if the worker
 * ran (preloaded, rollout.database is this database, rollout.async_checks
 * on), so expected and not enabled means degraded; "running": a worker is
 * attached (to rollout.database); "depth": checks queued and not yet
 * recorded; "lag_seconds": the age of the oldest of them; "restarts": worker
 * starts after the first since the server started.
 */
Datum
rollout_check_queue(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (rollout_queue == NULL)
		appendStringInfoString(&buf, "{\"enabled\": false, \"expected\": false, \"running\": false, "
							   "\"reason\": \"rollout is not in shared_preload_libraries\"}");
	else
	{
		CheckQueue	q;
		TimestampTz oldest = 0;
		TimestampTz now = GetCurrentTimestamp();
		char	   *dbname = get_database_name(MyDatabaseId);
		bool		expected = async_checks && dbname != NULL && strcmp(dbname, rollout_queue_database) == 0;
		double		lag = 0;

		LWLockAcquire(rollout_queue->lock, LW_SHARED);
		memcpy(&q, rollout_queue, offsetof(CheckQueue, data));
		/* the record at the tail stays put until the worker moves the tail, under the lock */
		if (q.head != q.tail)
			rollout_ring_read(q.tail + sizeof(uint32) + sizeof(int64), &oldest, sizeof(TimestampTz));
		LWLockRelease(rollout_queue->lock);
		if (oldest != 0 && now > oldest)
			lag = (double) (now - oldest) / USECS_PER_SEC;

		appendStringInfo(&buf, "{\"enabled\": %s, \"expected\": %s, \"running\": %s, \"database\": ",
						 q.worker_pid != 0 && async_checks && q.dboid == MyDatabaseId ? "true" : "false",
						 expected ? "true" : "false", q.worker_pid != 0 ? "true" : "false");
		escape_json(&buf, rollout_queue_database);
		appendStringInfo(&buf,
						 ", \"worker_pid\": %d, \"queued_bytes\": " UINT64_FORMAT ", \"size_bytes\": " UINT64_FORMAT ","
						 " \"queued\": " UINT64_FORMAT ", \"recorded\": " UINT64_FORMAT ","
						 " \"recorded_in_place\": " UINT64_FORMAT ","
						 " \"skipped\": " UINT64_FORMAT ", \"recorded_directly\": " UINT64_FORMAT ","
						 " \"depth\": " UINT64_FORMAT ", \"lag_seconds\": %.3f, \"restarts\": " UINT64_FORMAT,
						 (int) q.worker_pid, q.head - q.tail, q.size,
						 q.enqueued, q.recorded, q.recorded_in_place, q.skipped, q.direct,
						 q.enqueued - q.recorded - q.skipped, lag, q.restarts);
		append_json_time(&buf, "started_at", q.started_at);
		append_json_time(&buf, "last_batch_at", q.last_batch_at);
		appendStringInfoChar(&buf, '}');
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ---------------------------------------------------------------------
 * Set-up
 * ---------------------------------------------------------------------
 */

static Size
queue_shmem_size(void)
{
	return add_size(offsetof(CheckQueue, data), (Size) queue_size_kb * 1024);
}

static void
queue_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(queue_shmem_size());
	RequestNamedLWLockTranche("rollout check queue", 1);
}

static void
queue_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rollout_queue = ShmemInitStruct("rollout check queue", queue_shmem_size(), &found);
	if (!found)
	{
		memset(rollout_queue, 0, offsetof(CheckQueue, data));
		rollout_queue->lock = &(GetNamedLWLockTranche("rollout check queue"))->lock;
		rollout_queue->size = (uint64) queue_size_kb * 1024;
		rollout_queue->started = queue_set_up_before;
		queue_set_up_before = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
rollout_queue_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, lookup_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, lookup_invalidate, (Datum) 0);
	RegisterXactCallback(queue_xact_callback, NULL);
	RegisterSubXactCallback(queue_subxact_callback, NULL);

	DefineCustomBoolVariable("rollout.async_checks",
							 "Records checks through the background worker when it runs.",
							 "Off: each check is recorded in the transaction that calls check_update.",
							 &async_checks, true, PGC_USERSET, 0, NULL, NULL, NULL);
	rollout_worker_define_settings();

	/* the rest only exists when preloaded (PGC_POSTMASTER settings, shared memory) */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("rollout.database",
							   "The database whose checks the background worker records.",
							   NULL, &rollout_queue_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.check_queue_size",
							"Shared memory for checks waiting to be recorded.",
							NULL, &queue_size_kb, 16384, 64, 1024 * 1024, PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = queue_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = queue_shmem_startup;

	rollout_worker_register();
}

/* A text attribute of a check_record as a C string, NULL for NULL. */
static const char *
record_text(HeapTupleHeader rec, int attno)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(rec, attno, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A varlena attribute (semver, inet) of a check_record, detoasted; NULL for NULL. */
static struct varlena *
record_varlena(HeapTupleHeader rec, int attno)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(rec, attno, &isnull);

	return isnull ? NULL : PG_DETOAST_DATUM(d);
}

/*
 * rollout.queue_checks(batch rollout.check_record[]) returns integer: the
 * checks recorded as check_update records its own, one by one in the given
 * order: queued for the background worker at commit, or recorded in the
 * transaction when no worker records this database.  For
 * record_forwarded (checks answered by a hot standby); not callable by the
 * roles.  Returns how many.
 */
Datum
rollout_queue_checks(PG_FUNCTION_ARGS)
{
	ArrayType  *batch = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			done = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(ARR_ELEMTYPE(batch), &typlen, &typbyval, &typalign);
	deconstruct_array(batch, ARR_ELEMTYPE(batch), typlen, typbyval, typalign, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader rec;
		RolloutCheck c;
		bool		isnull;
		Datum		d;
		struct varlena *ip;

		if (nulls[i])
			continue;
		rec = DatumGetHeapTupleHeader(elems[i]);
		d = GetAttributeByNum(rec, 1, &isnull);
		c.project_id = isnull ? 0 : DatumGetInt64(d);
		c.client_id = record_text(rec, 2);
		c.current_version = record_varlena(rec, 3);
		c.channel = record_text(rec, 4);
		c.region = record_text(rec, 5);
		c.os = record_text(rec, 6);
		c.arch = record_text(rec, 7);
		c.target = record_varlena(rec, 8);
		ip = record_varlena(rec, 9);
		c.ip = ip ? PointerGetDatum(ip) : (Datum) 0;
		c.user_agent = record_text(rec, 10);
		d = GetAttributeByNum(rec, 11, &isnull);
		c.record_event = !isnull && DatumGetBool(d);
		d = GetAttributeByNum(rec, 12, &isnull);
		c.at = isnull ? GetCurrentTransactionStartTimestamp() : DatumGetTimestampTz(d);
		if (c.project_id == 0 || c.client_id == NULL || c.current_version == NULL || c.channel == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("check record %d of %d lacks a required field", i + 1, n),
					 errdetail("project_id, client_id, cur and channel are required.")));
		rollout_record_check(&c);
		done++;
	}
	PG_RETURN_INT32(done);
}
