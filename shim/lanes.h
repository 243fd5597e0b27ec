/*
 * lanes.h
 *		The clients' routes' database connections ("lanes") and their one
 *		scheduler: calls queue on a lane, whose thread runs them in batches.
 */
#ifndef ROLLOUT_LANES_H
#define ROLLOUT_LANES_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "result.h"

/* What a batch may carry: its requests' bytes stay well inside socket buffers. */
#define LANE_BATCH_CALLS 64
#define LANE_BATCH_BYTES 65536

typedef struct LaneCall LaneCall;

/* One client request to run on a lane: one statement with one parameter. */
struct LaneCall
{
	const char *sql;
	const char *arg;
	bool		shared;			/* may share a transaction with the calls beside it */
	bool		primary;		/* a report on a standby: run on the primary's lanes */
	DbResult   *res;			/* status 0 on entry; filled if the call failed */
	PGresult   *out;			/* its result */
	/* called on the lane's thread once out or res is in; the call is then the caller's again */
	void		(*done) (LaneCall *call);
	LaneCall   *next;
};

extern void lanes_start(int n);
extern void lanes_stop(void);
extern void lanes_submit(int lane, LaneCall *calls);
extern PGresult *lanes_call(const char *sql, const char *arg, bool shared, bool primary, DbResult *res);

#endif							/* ROLLOUT_LANES_H */
