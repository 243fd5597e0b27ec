/*
 * rollout_worker.c
 *		The check recorder: the background worker that records the checks
 *		queued in the ring (rollout_queue.c), a batch per transaction.
 *
 * Every rollout.check_flush_interval (or sooner when the ring is a quarter
 * full) the worker takes up to BATCH_MAX queued checks and records them in
 * one transaction: in place where that is all it takes (rollout_record.c),
 * the rest with rollout.record_checks.  A batch that fails is recorded check
 * by check, and a check that fails alone is skipped, so one bad record cannot
 * stop the queue.
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
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "rollout.h"
#include "rollout_queue.h"

/* Settings */
static int	flush_interval_ms = 1000;
static int	recorder_nice = 10;

/*
 * Records per transaction of the worker.  A batch adds one rollup row per
 * group (project, day and version, say) whatever its size, so the bigger the
 * batch, the fewer rollup updates per check (bench/decision: a quarter less
 * work per check at 1 s than at 100 ms).
 */
#define BATCH_MAX 50000

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
	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	rollout_queue->worker_pid = 0;
	rollout_queue->worker_latch = NULL;
	LWLockRelease(rollout_queue->lock);
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
		rollout_lookup_record_check();
		if (in_place)
			*n_in_place = rollout_record_in_place(checks, n, leave);
		else
			memset(leave, true, sizeof(bool) * n);
		elems = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
			if (leave[i])
				elems[n_left++] = rollout_check_record_datum(&checks[i]);
		if (n_left > 0)
		{
			arraytype = get_array_type(rollout_check_record_type);
			batch = PointerGetDatum(construct_array(elems, n_left, rollout_check_record_type, -1, false, TYPALIGN_DOUBLE));
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

	LWLockAcquire(rollout_queue->lock, LW_SHARED);
	tail = rollout_queue->tail;
	head = rollout_queue->head;
	LWLockRelease(rollout_queue->lock);
	if (tail == head)
		return false;

	MemoryContextReset(cxt);
	MemoryContextSwitchTo(cxt);
	checks = palloc(sizeof(RolloutCheck) * BATCH_MAX);
	for (pos = tail; pos < head && n < BATCH_MAX; n++)
	{
		uint32		len;
		char	   *buf;

		rollout_ring_read(pos, &len, sizeof(uint32));
		buf = palloc(len);
		rollout_ring_read(pos, buf, len);
		rollout_deserialize_check(buf, &checks[n]);
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

	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	rollout_queue->tail = pos;
	rollout_queue->last_batch_at = GetCurrentTimestamp();
	rollout_queue->recorded += n - skipped;
	rollout_queue->recorded_in_place += in_place;
	rollout_queue->skipped += skipped;
	LWLockRelease(rollout_queue->lock);
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

		exists = database_exists(rollout_queue_database);
		if (exists)
		{
			LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
			rollout_queue->look_first = false;
			LWLockRelease(rollout_queue->lock);
			ereport(LOG, (errmsg("rollout: database \"%s\" exists now: the check recorder restarts to record its checks",
								 rollout_queue_database)));
			proc_exit(1);		/* restarted after bgw_restart_time */
		}
		if (!said)
			ereport(LOG, (errmsg("rollout: database \"%s\" (rollout.database) does not exist; the check recorder waits for it",
								 rollout_queue_database),
						  errhint("Until then each check is recorded by the transaction that makes it. "
								  "Set rollout.database to the database where the extension is installed.")));
		said = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	worker_exit_on_sigterm();
}

/* Announce the projects whose statistics reports changed (rollout.announce_stats), in one transaction. */
static void
announce_stats(void)
{
	int64		ids[ROLLOUT_STATS_SLOTS];
	int			n = rollout_take_stats(ids);

	if (n == 0)
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	for (int i = 0; i < n; i++)
	{
		char		payload[64];

		snprintf(payload, sizeof(payload), "{\"type\":\"stats\",\"project_id\":" INT64_FORMAT "}", ids[i]);
		Async_Notify("rollout_events", payload);
	}
	CommitTransactionCommand();
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
	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	look = rollout_queue->look_first;
	rollout_queue->look_first = true;
	LWLockRelease(rollout_queue->lock);
	if (look)
		wait_for_database();
	BackgroundWorkerInitializeConnection(rollout_queue_database, NULL, 0);
	pgstat_report_appname("rollout check recorder");
	set_worker_priority();

	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	rollout_queue->look_first = false;
	rollout_queue->dboid = MyDatabaseId;
	rollout_queue->worker_pid = MyProcPid;
	rollout_queue->worker_latch = MyLatch;
	if (rollout_queue->started)
		rollout_queue->restarts++;
	rollout_queue->started = true;
	rollout_queue->started_at = GetCurrentTimestamp();
	restarts = rollout_queue->restarts;
	LWLockRelease(rollout_queue->lock);
	before_shmem_exit(worker_detach, (Datum) 0);
	if (restarts == 0)
		ereport(LOG, (errmsg("rollout: recording checks of database \"%s\" in the background", rollout_queue_database)));
	else
		ereport(LOG,
				(errmsg("rollout: the check recorder is back, recording checks of database \"%s\" in the background",
						rollout_queue_database),
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
		announce_stats();
	}
	/* shutting down: stop taking checks, record what is queued */
	LWLockAcquire(rollout_queue->lock, LW_EXCLUSIVE);
	rollout_queue->worker_pid = 0;
	LWLockRelease(rollout_queue->lock);
	while (record_batch(cxt))
		;
	announce_stats();
	pgstat_report_stat(true);
	worker_exit_on_sigterm();
}

/* ---------------------------------------------------------------------
 * Set-up
 * ---------------------------------------------------------------------
 */

/* The worker's settings, reloaded on SIGHUP (defined in every process). */
void
rollout_worker_define_settings(void)
{
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
}

/* Register the worker with the postmaster (shared_preload_libraries only). */
void
rollout_worker_register(void)
{
	BackgroundWorker worker;

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
