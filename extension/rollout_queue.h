/*
 * rollout_queue.h
 *		What the ring of queued checks (rollout_queue.c) and the background
 *		worker that records them (rollout_worker.c) share: the ring in shared
 *		memory, its records, and recording checks with rollout.record_check(s).
 */
#ifndef ROLLOUT_QUEUE_H
#define ROLLOUT_QUEUE_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "rollout.h"

/*
 * Seconds before the postmaster starts the worker again after it stopped.
 * Short: until it is back, each check is recorded by the transaction that
 * makes it, at a third of the throughput.  A worker that cannot connect does
 * not spin at this pace: its next start waits for the database instead
 * (wait_for_database).
 */
#define RECORDER_RESTART_SECONDS 1

/* Projects whose statistics changed that the worker announces at once (rollout.announce_stats). */
#define ROLLOUT_STATS_SLOTS 64

/* The ring of queued checks and the worker's state, in shared memory. */
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
	int			nstats;			/* projects whose statistics changed, for the worker to announce */
	int64		stats[ROLLOUT_STATS_SLOTS];
	uint64		size;			/* of data */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} CheckQueue;

/* rollout_queue.c: the ring (NULL unless preloaded) and rollout.database */
extern CheckQueue *rollout_queue;
extern char *rollout_queue_database;

/* rollout_queue.c: copy len bytes of the ring from byte position pos */
extern void rollout_ring_read(uint64 pos, void *dst, Size len);

/* rollout_queue.c: a ring record (length first) as a check; fields point into palloc'd copies */
extern void rollout_deserialize_check(char *buf, RolloutCheck *c);

/* rollout_queue.c: rollout.check_record's type and rollout.record_check, looked up once */
extern Oid	rollout_check_record_type;
extern void rollout_lookup_record_check(void);

/* rollout_queue.c: the check as a rollout.check_record datum */
extern Datum rollout_check_record_datum(const RolloutCheck *c);

/* rollout_queue.c: take the projects to announce (into ids, at least ROLLOUT_STATS_SLOTS); their number */
extern int	rollout_take_stats(int64 *ids);

/* rollout_worker.c: the worker's settings (any process) and its registration (postmaster) */
extern void rollout_worker_define_settings(void);
extern void rollout_worker_register(void);

#endif							/* ROLLOUT_QUEUE_H */
