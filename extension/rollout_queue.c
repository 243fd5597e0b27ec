/*
 * rollout_queue.c
 *		Recording checks (SPEC §7.8): client_state and the rollups.
 *
 * rollout.record_check(rollout.check_record) does the writing for one check.
 * Without help check_update calls it in the checking transaction, which then
 * writes a client_state row and three rollup rows per check.
 *
 * When the library is in shared_preload_libraries, a background worker
 * connected to the database named by rollout.database takes that work off
 * the request path: check_update serializes the check, the transaction
 * puts its checks into a ring buffer in shared memory when it commits (a
 * check of a transaction or subtransaction that aborts is never recorded),
 * and the worker records the queued checks every
 * rollout.check_flush_interval (or sooner when the ring fills up), one
 * transaction per batch (rollout_record.c, rollout.record_checks).  The ring
 * is bounded: when it is full, a check is recorded by its own transaction as
 * before, so nothing is dropped.  What this relaxes is what SPEC §7.8 allows
 * for check bookkeeping: checks still in the ring when the server crashes
 * are lost (a clean shutdown records them first), and statistics trail the
 * checks by the flush interval (rollout.flush_checks() waits for them).
 * Install results never take this path.
 *
 * The worker is restarted whenever it stops and the server is not shutting
 * down (pg_terminate_backend, DROP DATABASE ... WITH (FORCE) of its
 * database, an error, a crash): without it every check is recorded in the
 * checking transaction again, which costs about two thirds of the
 * throughput, so its absence must be short and visible.  rollout.check_queue()
 * reports its state for /healthz and /metrics.
 */
#include "postgres.h"

#include <sched.h>
#include <sys/resource.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "rollout.h"

PG_FUNCTION_INFO_V1(rollout_flush_checks);
PG_FUNCTION_INFO_V1(rollout_check_queue);

/* Settings */
static char *queue_database = NULL;
static int	queue_size_kb = 16384;
static int	flush_interval_ms = 1000;
static bool async_checks = true;
static int	recorder_nice = 10;

/*
 * Records per transaction of the worker.  A batch adds one rollup row per
 * group (project, day and version, say) whatever its size, so the bigger the
 * batch, the fewer rollup updates per check (bench/decision: a quarter less
 * work per check at 1 s than at 100 ms).
 */
#define BATCH_MAX 50000

/*
 * Seconds before the postmaster starts the worker again after it stopped.
 * Short: until it is back, each check is recorded by the transaction that
 * makes it, at a third of the throughput.  A worker that cannot connect does
 * not spin at this pace: its next start waits for the database instead
 * (wait_for_database).
 */
#define RECORDER_RESTART_SECONDS 1

typedef struct CheckQueue
{
	LWLock	   *lock;
	Oid			dboid;			/* the worker's database, once connected */
	bool		look_first;		/* a start failed to connect: the next looks for the database first */
	pid_t		worker_pid;		/* 0: no worker */
	Latch	   *worker_latch;
	uint64		head;			/* bytes ever written (producers) */
	uint64		tail;			/* bytes ever recorded (the worker) */
	uint64		enqueued;		/* checks queued */
	uint64		recorded;		/* queued checks recorded */
	uint64		recorded_in_place;	/* of which by rollout_record.c */
	uint64		skipped;		/* queued checks that failed to record */
	uint64		direct;			/* checks recorded directly: ring full */
	bool		started;		/* a worker has attached since the server started */
	uint64		restarts;		/* attachments after the first (a crash counts one) */
	TimestampTz started_at;		/* of the current or last worker; 0: never */
	TimestampTz last_batch_at;	/* when a batch was last recorded; 0: never */
	uint64		size;			/* of data */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} CheckQueue;

static CheckQueue *queue = NULL;

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
static Oid	check_record_type;
static TupleDesc check_record_desc = NULL;

static bool lookup_valid = false;

/* Any change of a function or type (the extension dropped and created again, say). */
static void
lookup_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	lookup_valid = false;
}

static void
lookup_record_check(void)
{
	MemoryContext old;
	Oid			fn;
	TupleDesc	desc;

	if (lookup_valid)
		return;
	lookup_valid = true;		/* before the lookups: an invalidation during them wins */
	fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
											  CStringGetDatum("rollout.record_check(rollout.check_record)")));
	check_record_type = DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum("rollout.check_record")));
	fmgr_info_cxt(fn, &record_check_fn, TopMemoryContext);
	desc = lookup_rowtype_tupdesc(check_record_type, -1);
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
	Size		off = pos % queue->size;
	Size		first = Min(len, queue->size - off);

	memcpy(queue->data + off, src, first);
	if (first < len)
		memcpy(queue->data, (const char *) src + first, len - first);
}

static void
ring_read(uint64 pos, void *dst, Size len)
{
	Size		off = pos % queue->size;
	Size		first = Min(len, queue->size - off);

	memcpy(dst, queue->data + off, first);
	if (first < len)
		memcpy((char *) dst + first, queue->data, len - first);
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
static void
deserialize_check(char *buf, RolloutCheck *c)
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
	return queue != NULL && async_checks && queue->dboid == MyDatabaseId && queue->worker_pid != 0;
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
		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		for (int i = 0; i < n; i++)
		{
			uint32		len;

			memcpy(&len, checks[i].buf, sizeof(uint32));
			if (queue->worker_pid != 0 && queue->size - (queue->head - queue->tail) >= len)
			{
				ring_write(queue->head, checks[i].buf, len);
				queue->head += len;
				queue->enqueued++;
			}
			else
			{
				left[i] = true;
				nleft++;
				queue->direct++;
			}
		}
		/* a quarter full: do not wait for the timer */
		wake = (queue->head - queue->tail) > queue->size / 4;
		LWLockRelease(queue->lock);
		if (wake && queue->worker_latch != NULL)
			SetLatch(queue->worker_latch);
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

				deserialize_check(checks[i].buf, &c);
				record_now(&c);
			}
		PopActiveSnapshot();
	}
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
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending_forget();	/* the arrays went with TopTransactionContext */
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
 * The worker
 * ---------------------------------------------------------------------
 */

static volatile sig_atomic_t got_sigterm = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->worker_pid = 0;
	queue->worker_latch = NULL;
	LWLockRelease(queue->lock);
}

/*
 * Is the server shutting down?  A SIGTERM does not say who sent it: the
 * postmaster at shutdown, pg_terminate_backend, DROP DATABASE ... WITH
 * (FORCE).  The postmaster writes "stopping" into postmaster.pid before it
 * signals any child (pg_ctl reads the same line), so that is the one place
 * a child can tell.  If the file cannot be read we say no: a needless
 * restart request is harmless, as the postmaster starts no worker once it
 * is shutting down.
 */
static bool
server_stopping(void)
{
	char		path[MAXPGPATH];
	char		line[2 * MAXPGPATH];
	FILE	   *f;
	int			lineno = 0;
	bool		stopping = false;

	snprintf(path, sizeof(path), "%s/postmaster.pid", DataDir);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (++lineno == LOCK_FILE_LINE_PM_STATUS)
		{
			stopping = strncmp(line, PM_STATUS_STOPPING, strlen(PM_STATUS_STOPPING)) == 0;
			break;
		}
	FreeFile(f);
	return stopping;
}

/*
 * The worker was asked to stop (SIGTERM) and has recorded what was queued:
 * exit so that the postmaster starts it again, unless the server is shutting
 * down.  A background worker that exits with 0 is unregistered for good,
 * with 1 it is restarted after bgw_restart_time.
 */
static void
worker_exit_on_sigterm(void)
{
	if (server_stopping())
		proc_exit(0);
	ereport(LOG,
			(errmsg("rollout: the check recorder was terminated; it restarts in %d s",
					RECORDER_RESTART_SECONDS),
			 errdetail("Until then each check is recorded by the transaction that makes it.")));
	proc_exit(1);
}

/*
 * Announce on rollout_events, when the transaction commits, that the
 * statistics of the projects of checks[0..n) changed: {"type": "stats",
 * "project_id": N} once per project and batch, so live pages refresh about
 * once a flush interval, never once a check.  (Checks recorded in the
 * checking transaction, without the worker, announce nothing: that path is
 * the clients' and is kept lean.)
 */
static void
notify_stats(const RolloutCheck *checks, int n)
{
	int64		seen[16];
	int			nseen = 0;

	for (int i = 0; i < n; i++)
	{
		bool		known = false;
		char		payload[64];

		for (int j = 0; j < nseen && !known; j++)
			known = seen[j] == checks[i].project_id;
		if (known)
			continue;
		if (nseen < (int) lengthof(seen))
			seen[nseen++] = checks[i].project_id;
		/* beyond 16 projects a batch, NOTIFY's own de-duplication takes over */
		snprintf(payload, sizeof(payload), "{\"type\":\"stats\",\"project_id\":" INT64_FORMAT "}",
				 checks[i].project_id);
		Async_Notify("rollout_events", payload);
	}
}

/*
 * Record checks[0..n) in one transaction of its own: in place where that is
 * all it takes (rollout_record.c, unless in_place is false), the rest with
 * rollout.record_checks.  Returns false if that failed (the transaction is
 * then rolled back); *n_in_place says how many were recorded in place.
 */
static bool
record_together(MemoryContext cxt, RolloutCheck *checks, int n, bool in_place, int *n_in_place)
{
	volatile bool ok = true;

	*n_in_place = 0;
	PG_TRY();
	{
		Datum	   *elems;
		Datum		batch;
		Oid			arraytype;
		bool	   *leave = palloc(sizeof(bool) * n);
		int			n_left = 0;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "rollout: SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "SELECT rollout.record_checks($1)");
		lookup_record_check();
		if (in_place)
			*n_in_place = rollout_record_in_place(checks, n, leave);
		else
			memset(leave, true, sizeof(bool) * n);
		elems = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
			if (leave[i])
				elems[n_left++] = check_record_datum(&checks[i]);
		if (n_left > 0)
		{
			arraytype = get_array_type(check_record_type);
			batch = PointerGetDatum(construct_array(elems, n_left, check_record_type, -1, false, TYPALIGN_DOUBLE));
			if (SPI_execute_with_args("SELECT rollout.record_checks($1)", 1, &arraytype, &batch, NULL, false, 0)
				!= SPI_OK_SELECT)
				elog(ERROR, "rollout: rollout.record_checks failed");
		}
		SPI_finish();
		PopActiveSnapshot();
		notify_stats(checks, n);
		CommitTransactionCommand();
		/*
		 * A background worker reports its table statistics itself: without
		 * this, autovacuum never learns of the rows it updates and inserts.
		 * Rate-limited by pgstat to about once a second; the main loop forces
		 * it once the queue is drained.
		 */
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		*n_in_place = 0;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}

/*
 * Record queued checks from tail up to at most BATCH_MAX records; returns
 * false when the ring is empty.  A batch that fails is recorded check by
 * check, and a check that fails alone is logged and skipped, so one bad
 * record (its project deleted meanwhile, say) cannot stop the queue.
 */
static bool
record_batch(MemoryContext cxt)
{
	uint64		tail;
	uint64		head;
	uint64		pos;
	int			n = 0;
	RolloutCheck *checks;
	int			skipped = 0;
	int			in_place = 0;

	LWLockAcquire(queue->lock, LW_SHARED);
	tail = queue->tail;
	head = queue->head;
	LWLockRelease(queue->lock);
	if (tail == head)
		return false;

	MemoryContextReset(cxt);
	MemoryContextSwitchTo(cxt);
	checks = palloc(sizeof(RolloutCheck) * BATCH_MAX);
	for (pos = tail; pos < head && n < BATCH_MAX; n++)
	{
		uint32		len;
		char	   *buf;

		ring_read(pos, &len, sizeof(uint32));
		buf = palloc(len);
		ring_read(pos, buf, len);
		deserialize_check(buf, &checks[n]);
		pos += len;
	}

	/* a batch that fails is retried check by check, with the SQL alone */
	if (!record_together(cxt, checks, n, true, &in_place))
	{
		for (int i = 0; i < n; i++)
			if (!record_together(cxt, &checks[i], 1, false, &in_place))
				skipped++;
		if (skipped > 0)
			ereport(LOG,
					(errmsg("rollout: %d of %d queued checks could not be recorded and were skipped",
							skipped, n)));
	}

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->tail = pos;
	queue->last_batch_at = GetCurrentTimestamp();
	queue->recorded += n - skipped;
	queue->recorded_in_place += in_place;
	queue->skipped += skipped;
	LWLockRelease(queue->lock);
	return true;
}

/*
 * The worker yields the CPU to the sessions whose checks it records: it is
 * bookkeeping, and a backend waiting for the CPU is a request waiting.  On a
 * busy machine with few cores this is worth a quarter more checks per second
 * (bench/decision); the queue absorbs the worker's lag, and a full queue
 * records in the checking transaction.  SCHED_BATCH: no preemption on the
 * worker's own wake-ups, it is not interactive.
 */
static void
set_worker_priority(void)
{
#ifdef SCHED_BATCH
	struct sched_param param;

	memset(&param, 0, sizeof(param));
	if (sched_setscheduler(0, SCHED_BATCH, &param) != 0)
		ereport(DEBUG1, (errmsg_internal("rollout: SCHED_BATCH not set: %m")));
#endif
	if (setpriority(PRIO_PROCESS, 0, recorder_nice) != 0)
		ereport(LOG, (errmsg("rollout: could not set the check recorder's nice value to %d: %m", recorder_nice)));
}

/*
 * Is there a database of this name?  For a process connected to no database:
 * pg_database is read with a plain scan (its index's relcache entry would need
 * pg_class, which belongs to a database), as the autovacuum launcher does.
 */
static bool
database_exists(const char *name)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!found && HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
		found = strcmp(NameStr(((Form_pg_database) GETSTRUCT(tup))->datname), name) == 0;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return found;
}

/*
 * rollout.database does not exist (the last start of the worker could not
 * connect to it): connected to no database, look for it in pg_database every
 * second, saying so once, rather than fail and be restarted every
 * RECORDER_RESTART_SECONDS with an error each time.  Once it exists, exit to
 * be restarted, connected to it.  Meanwhile checks are recorded by their
 * transactions.
 */
static void
wait_for_database(void)
{
	bool		said = false;

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("rollout check recorder");
	while (!got_sigterm)
	{
		bool		exists;

		exists = database_exists(queue_database);
		if (exists)
		{
			LWLockAcquire(queue->lock, LW_EXCLUSIVE);
			queue->look_first = false;
			LWLockRelease(queue->lock);
			ereport(LOG, (errmsg("rollout: database \"%s\" exists now: the check recorder restarts to record its checks",
								 queue_database)));
			proc_exit(1);		/* restarted after bgw_restart_time */
		}
		if (!said)
			ereport(LOG, (errmsg("rollout: database \"%s\" (rollout.database) does not exist; the check recorder waits for it",
								 queue_database),
						  errhint("Until then each check is recorded by the transaction that makes it. "
								  "Set rollout.database to the database where the extension is installed.")));
		said = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	worker_exit_on_sigterm();
}

void
rollout_queue_worker_main(Datum arg)
{
	MemoryContext cxt;
	bool		look;
	uint64		restarts;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* if connecting fails (no such database), the next start looks before it connects */
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	look = queue->look_first;
	queue->look_first = true;
	LWLockRelease(queue->lock);
	if (look)
		wait_for_database();
	BackgroundWorkerInitializeConnection(queue_database, NULL, 0);
	pgstat_report_appname("rollout check recorder");
	set_worker_priority();

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->look_first = false;
	queue->dboid = MyDatabaseId;
	queue->worker_pid = MyProcPid;
	queue->worker_latch = MyLatch;
	if (queue->started)
		queue->restarts++;
	queue->started = true;
	queue->started_at = GetCurrentTimestamp();
	restarts = queue->restarts;
	LWLockRelease(queue->lock);
	before_shmem_exit(worker_detach, (Datum) 0);
	if (restarts == 0)
		ereport(LOG, (errmsg("rollout: recording checks of database \"%s\" in the background", queue_database)));
	else
		ereport(LOG,
				(errmsg("rollout: the check recorder is back, recording checks of database \"%s\" in the background",
						queue_database),
				 errdetail_plural("It has been restarted %lu time.", "It has been restarted %lu times.",
								  (unsigned long) restarts, (unsigned long) restarts)));

	cxt = AllocSetContextCreate(TopMemoryContext, "rollout check batch", ALLOCSET_DEFAULT_SIZES);
	while (!got_sigterm)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 flush_interval_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			set_worker_priority();
		}
		if (record_batch(cxt))
		{
			while (!got_sigterm && record_batch(cxt))
				CHECK_FOR_INTERRUPTS();
			/* the queue is drained: report the batches' table statistics now */
			pgstat_report_stat(true);
		}
	}
	/* shutting down: stop taking checks, record what is queued */
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->worker_pid = 0;
	LWLockRelease(queue->lock);
	while (record_batch(cxt))
		;
	pgstat_report_stat(true);
	worker_exit_on_sigterm();
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

	if (queue == NULL)
		PG_RETURN_INT64(0);
	LWLockAcquire(queue->lock, LW_SHARED);
	target = queue->head;
	waiting = queue->enqueued - queue->recorded - queue->skipped;
	LWLockRelease(queue->lock);
	for (;;)
	{
		uint64		tail;
		Latch	   *latch;

		LWLockAcquire(queue->lock, LW_SHARED);
		tail = queue->tail;
		latch = queue->worker_latch;
		LWLockRelease(queue->lock);
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
	if (queue == NULL)
		appendStringInfoString(&buf, "{\"enabled\": false, \"expected\": false, \"running\": false, "
							   "\"reason\": \"rollout is not in shared_preload_libraries\"}");
	else
	{
		CheckQueue	q;
		TimestampTz oldest = 0;
		TimestampTz now = GetCurrentTimestamp();
		char	   *dbname = get_database_name(MyDatabaseId);
		bool		expected = async_checks && dbname != NULL && strcmp(dbname, queue_database) == 0;
		double		lag = 0;

		LWLockAcquire(queue->lock, LW_SHARED);
		memcpy(&q, queue, offsetof(CheckQueue, data));
		/* the record at the tail stays put until the worker moves the tail, under the lock */
		if (q.head != q.tail)
			ring_read(q.tail + sizeof(uint32) + sizeof(int64), &oldest, sizeof(TimestampTz));
		LWLockRelease(queue->lock);
		if (oldest != 0 && now > oldest)
			lag = (double) (now - oldest) / USECS_PER_SEC;

		appendStringInfo(&buf, "{\"enabled\": %s, \"expected\": %s, \"running\": %s, \"database\": ",
						 q.worker_pid != 0 && async_checks && q.dboid == MyDatabaseId ? "true" : "false",
						 expected ? "true" : "false", q.worker_pid != 0 ? "true" : "false");
		escape_json(&buf, queue_database);
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
	queue = ShmemInitStruct("rollout check queue", queue_shmem_size(), &found);
	if (!found)
	{
		memset(queue, 0, offsetof(CheckQueue, data));
		queue->lock = &(GetNamedLWLockTranche("rollout check queue"))->lock;
		queue->size = (uint64) queue_size_kb * 1024;
		queue->started = queue_set_up_before;
		queue_set_up_before = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
rollout_queue_init(void)
{
	BackgroundWorker worker;

	CacheRegisterSyscacheCallback(PROCOID, lookup_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, lookup_invalidate, (Datum) 0);
	RegisterXactCallback(queue_xact_callback, NULL);
	RegisterSubXactCallback(queue_subxact_callback, NULL);

	DefineCustomBoolVariable("rollout.async_checks",
							 "Records checks through the background worker when it runs.",
							 "Off: each check is recorded in the transaction that calls check_update.",
							 &async_checks, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.check_flush_interval",
							"How often the background worker records queued checks.",
							"Statistics trail the checks by up to this long; longer intervals record in bigger "
							"batches, with fewer rollup updates per check.",
							&flush_interval_ms, 1000, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rollout.recorder_nice",
							"The nice value of the background worker that records checks.",
							"Above 0 the worker yields the CPU to the sessions that serve requests.",
							&recorder_nice, 10, 0, 19, PGC_SIGHUP, 0, NULL, NULL, NULL);

	/* the rest only exists when preloaded (PGC_POSTMASTER settings, shared memory) */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("rollout.database",
							   "The database whose checks the background worker records.",
							   NULL, &queue_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.check_queue_size",
							"Shared memory for checks waiting to be recorded.",
							NULL, &queue_size_kb, 16384, 64, 1024 * 1024, PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = queue_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = queue_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = RECORDER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "rollout", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "rollout_queue_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "rollout check recorder", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "rollout check recorder", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
