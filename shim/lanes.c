/*
 * lanes.c
 *		The clients' routes share a few database connections, "lanes", and
 *		one scheduler: every client request, from civetweb's threads (the
 *		main address) or from the client address's event loops
 *		(client_port.c), is a call queued on a lane, and the lane's thread
 *		runs what is queued in batches.
 *
 * A batch is sent in pipeline mode and its results read in order, so a
 * busy server answers many requests per wake-up of a few backends rather
 * than one request per wake-up of many.  Requests that write
 * (download-started, install-result) get a Sync each: each is its own
 * transaction, and one failure touches no other.  Checks (ROUTE_SHARE_TX)
 * write nothing themselves (the extension queues a check for its recorder
 * when the transaction commits), so neighbouring checks share one
 * transaction and one Sync, and the server answers them with one write
 * instead of one per request.  When one of them fails, the others of its
 * transaction were undone with it and are run again, each on its own.
 *
 * A lane's connection has the clients' context for its whole session
 * (role rollout_client, an empty rollout.actor, the clients' statement
 * timeout): nothing else ever runs on it.  When DATABASE_URL is a hot
 * standby (ROLLOUT_PRIMARY_URL set), as many lanes again connect to the
 * primary and run the reports (download-started, install-result); checks
 * stay on the standby's lanes (standby.c sends their records on).  Only the lane's thread touches
 * it; the queue is the only shared state, under the lane's lock.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "lanes.h"
#include "metrics.h"

#define LANE_PREPARED 16

typedef struct Lane
{
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* signalled: calls queued, or quit */
	LaneCall   *head,			/* queued calls, in order */
			   *tail;
	bool		quit;
	const char *conninfo;		/* DATABASE_URL, or the primary's (ROLLOUT_PRIMARY_URL) */
	PGconn	   *conn;			/* the lane thread's own */
	int			nprepared;		/* statements "c0", "c1", ... of conn */
	char	   *prepared[LANE_PREPARED];
} Lane;

static Lane *lanes;
static int	nlanes;			/* on DATABASE_URL; as many on the primary after them, if set */
static int	nprimary;
static unsigned int next_lane;

static void
lane_forget(Lane *lane)
{
	for (int i = 0; i < lane->nprepared; i++)
		free(lane->prepared[i]);
	lane->nprepared = 0;
}

static void
lane_disconnect(Lane *lane)
{
	if (lane->conn)
	{
		PQfinish(lane->conn);
		metrics_connection(-1);
	}
	lane->conn = NULL;
	lane_forget(lane);
}

/* Connect the lane if it is not, with the clients' session context. */
static bool
lane_connect(Lane *lane)
{
	PGresult   *r;
	char		timeout[16];
	const char *params[1] = {timeout};

	if (db_alive(lane->conn))
		return true;
	lane_disconnect(lane);
	lane->conn = db_connect_to(lane->conninfo);
	if (lane->conn == NULL)
		return false;
	metrics_connection(1);
	snprintf(timeout, sizeof(timeout), "%d", config.client_timeout_ms);
	r = PQexecParams(lane->conn,
					 "SELECT set_config('rollout.actor', '', false), set_config('role', 'rollout_client', false),"
					 " set_config('statement_timeout', $1, false)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQsetnonblocking(lane->conn, 1) != 0)
	{
		fprintf(stderr, "rollout-http: cannot set up a client connection: %s", PQerrorMessage(lane->conn));
		PQclear(r);
		lane_disconnect(lane);
		return false;
	}
	PQclear(r);
	return true;
}

/*
 * The name of sql prepared on the lane's connection into name, preparing it
 * on first use; "" if the lane holds as many statements as it keeps (the call
 * is then sent unprepared).  False with res filled if the server refused it.
 */
static bool
lane_prepare(Lane *lane, const char *sql, char *name, size_t size, DbResult *res)
{
	PGresult   *r;
	int			i;

	for (i = 0; i < lane->nprepared; i++)
		if (strcmp(lane->prepared[i], sql) == 0)
			break;
	name[0] = '\0';
	if (i == LANE_PREPARED)
		return true;
	snprintf(name, size, "c%d", i);
	if (i == lane->nprepared)
	{
		r = PQprepare(lane->conn, name, sql, 1, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			result_set_error(res, r, lane->conn);
			PQclear(r);
			return false;
		}
		PQclear(r);
		lane->prepared[lane->nprepared++] = strdup(sql);
	}
	return true;
}

/*
 * One pass over calls[idx[0..n)]: every call sent, then every result read.
 * With share, consecutive calls that may share a transaction share one Sync:
 * the server then answers them in one go, but an error in one aborts the
 * others of its transaction, so those are put in retry[] (their effects were
 * rolled back) and run again without sharing.  A call that failed has its
 * res filled.  Returns false if the connection was lost: every call of the
 * pass without its answer then fails with 503.
 */
static bool
lane_pass(Lane *lane, LaneCall **calls, const int *idx, int n, bool share, int *retry, int *nretry)
{
	PGconn	   *conn = lane->conn;
	char		names[LANE_BATCH_CALLS][16];
	bool		sent[LANE_BATCH_CALLS] = {false};
	bool		sync_after[LANE_BATCH_CALLS] = {false};
	bool		answered[LANE_BATCH_CALLS] = {false};
	bool		ok;
	int			k;
	int			group;			/* the first call of the transaction being read */
	bool		group_failed = false;

	/* statements are prepared outside the pipeline, once per connection */
	for (k = 0; k < n && PQstatus(conn) == CONNECTION_OK; k++)
		sent[k] = lane_prepare(lane, calls[idx[k]]->sql, names[k], sizeof(names[k]), calls[idx[k]]->res);
	for (k = 0; k < n; k++)
		answered[k] = !sent[k];
	ok = PQstatus(conn) == CONNECTION_OK && PQenterPipelineMode(conn);
	for (k = 0; ok && k < n; k++)
	{
		LaneCall   *c = calls[idx[k]];
		const char *params[1] = {c->arg};
		int			next = k + 1;

		if (!sent[k])
			continue;
		while (next < n && !sent[next])
			next++;
		sync_after[k] = !(share && c->shared && next < n && calls[idx[next]]->shared);
		ok = (names[k][0] ? PQsendQueryPrepared(conn, names[k], 1, params, NULL, NULL, 0) :
			  PQsendQueryParams(conn, c->sql, 1, NULL, params, NULL, NULL, 0)) &&
			(!sync_after[k] || PQpipelineSync(conn));
	}
	/* each call's results; after the last call of a transaction, its Sync */
	for (k = 0, group = 0; ok && k < n; k++)
	{
		LaneCall   *c = calls[idx[k]];
		PGresult   *r;

		if (!sent[k])
			continue;
		while ((r = PQgetResult(conn)) != NULL)
		{
			ExecStatusType st = PQresultStatus(r);

			if (st == PGRES_TUPLES_OK && c->out == NULL && c->res->status == 0)
			{
				c->out = r;
				continue;
			}
			if (st == PGRES_FATAL_ERROR && c->res->status == 0)
			{
				result_set_error(c->res, r, conn);
				if (strcmp(c->res->sqlstate, "57014") == 0 && c->res->key == NULL)
					c->res->key = strdup("busy");	/* the client timeout */
				group_failed = true;
			}
			/* PGRES_PIPELINE_ABORTED: skipped after another's error, run again below */
			PQclear(r);
		}
		if (PQstatus(conn) != CONNECTION_OK)
		{
			ok = false;
			break;
		}
		if (!sync_after[k])
			continue;
		while (ok)
		{
			r = PQgetResult(conn);
			if (r == NULL)
				ok = PQstatus(conn) == CONNECTION_OK;
			else if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
			{
				PQclear(r);
				break;
			}
			else
				PQclear(r);
		}
		/* the transaction is over: every call of it has its answer, or is run again */
		for (int j = group; ok && j <= k; j++)
		{
			LaneCall   *g = calls[idx[j]];

			if (!sent[j])
				continue;
			if (group_failed && g->res->status == 0)
			{
				if (g->out)
					PQclear(g->out);
				g->out = NULL;
				retry[(*nretry)++] = idx[j];
			}
			answered[j] = true;
		}
		group = k + 1;
		group_failed = false;
	}
	if (ok)
		ok = PQexitPipelineMode(conn);
	if (!ok || PQstatus(conn) != CONNECTION_OK)
	{
		/* whatever did not come back is lost; the next batch reconnects */
		for (k = 0; k < n; k++)
			if (!answered[k])
			{
				LaneCall   *c = calls[idx[k]];

				if (c->out)
					PQclear(c->out);
				c->out = NULL;
				result_set_unavailable(c->res, "the database connection was lost");
			}
		for (k = 0; k < *nretry; k++)
			result_set_unavailable(calls[retry[k]]->res, "the database connection was lost");
		*nretry = 0;
		lane_disconnect(lane);
		return false;
	}
	return true;
}

/*
 * Run a batch (at most LANE_BATCH_CALLS calls, linked by next) on the lane's
 * connection: calls that may share a transaction share it, and those an
 * error of another call undid are run again, each in its own transaction.
 * Every call ends with its result in out, or res filled.
 */
static void
lane_run(Lane *lane, LaneCall *batch)
{
	LaneCall   *calls[LANE_BATCH_CALLS];
	int			todo[LANE_BATCH_CALLS];
	int			retry[LANE_BATCH_CALLS];
	int			n = 0,
				total;
	bool		share = true;

	for (LaneCall *c = batch; c && n < LANE_BATCH_CALLS; c = c->next)
	{
		todo[n] = n;
		calls[n++] = c;
	}
	total = n;
	if (!lane_connect(lane))
	{
		for (int i = 0; i < n; i++)
			result_set_unavailable(calls[i]->res, "cannot connect to the database");
		return;
	}
	while (n > 0)
	{
		int			nretry = 0;

		if (!lane_pass(lane, calls, todo, n, share, retry, &nretry))
			break;
		memcpy(todo, retry, sizeof(int) * nretry);
		n = nretry;
		share = false;
	}
	for (int i = 0; i < total; i++)
		if (calls[i]->out == NULL && calls[i]->res->status == 0)
			result_set_unavailable(calls[i]->res, "the database connection was lost");
}

/*
 * End the batch that starts at head (linked by next) where it reaches
 * LANE_BATCH_CALLS calls or LANE_BATCH_BYTES bytes of arguments; returns the
 * calls after it.
 */
static LaneCall *
cut_batch(LaneCall *head)
{
	LaneCall   *last = head,
			   *rest;
	size_t		bytes = strlen(head->arg);

	for (int n = 1; last->next && n < LANE_BATCH_CALLS &&
		 bytes + strlen(last->next->arg) <= LANE_BATCH_BYTES; n++)
	{
		last = last->next;
		bytes += strlen(last->arg);
	}
	rest = last->next;
	last->next = NULL;
	return rest;
}

/*
 * A lane's thread: take what is queued (a batch at most), run it, hand each
 * call back; sleep when there is nothing.  Asked to quit, it first runs
 * what is queued.
 */
static void *
lane_main(void *arg)
{
	Lane	   *lane = arg;

	for (;;)
	{
		LaneCall   *batch,
				   *next;

		pthread_mutex_lock(&lane->lock);
		while (lane->head == NULL && !lane->quit)
			pthread_cond_wait(&lane->work, &lane->lock);
		if (lane->head == NULL)
		{
			pthread_mutex_unlock(&lane->lock);
			break;
		}
		batch = lane->head;
		lane->head = cut_batch(batch);
		if (lane->head == NULL)
			lane->tail = NULL;
		pthread_mutex_unlock(&lane->lock);
		lane_run(lane, batch);
		for (LaneCall *c = batch; c; c = next)
		{
			next = c->next;
			c->next = NULL;
			c->done(c);
		}
	}
	lane_disconnect(lane);
	return NULL;
}

/* n lanes, each with its thread; connections are opened on first use. */
void
lanes_start(int n)
{
	nlanes = n;
	nprimary = *config.primary_url ? n : 0;
	lanes = calloc(n + nprimary, sizeof(Lane));
	for (int i = 0; i < n + nprimary; i++)
	{
		lanes[i].conninfo = i < n ? config.conninfo : config.primary_url;
		pthread_mutex_init(&lanes[i].lock, NULL);
		pthread_cond_init(&lanes[i].work, NULL);
		pthread_create(&lanes[i].thread, NULL, lane_main, &lanes[i]);
	}
}

/* Run what is queued, then stop every lane (after the callers stopped submitting). */
void
lanes_stop(void)
{
	for (int i = 0; i < nlanes + nprimary; i++)
	{
		pthread_mutex_lock(&lanes[i].lock);
		lanes[i].quit = true;
		pthread_cond_signal(&lanes[i].work);
		pthread_mutex_unlock(&lanes[i].lock);
	}
	for (int i = 0; i < nlanes + nprimary; i++)
	{
		pthread_join(lanes[i].thread, NULL);
		pthread_mutex_destroy(&lanes[i].lock);
		pthread_cond_destroy(&lanes[i].work);
	}
	free(lanes);
	lanes = NULL;
	nlanes = 0;
	nprimary = 0;
}

/*
 * Queue calls (linked by next, in order) on a lane (an index; -1: the next
 * in turn).  Each call's done runs on the lane's thread when it is answered.
 */
void
lanes_submit(int lane, LaneCall *calls)
{
	Lane	   *l;
	LaneCall   *last = calls;

	if (calls == NULL)
		return;
	if (lane < 0)
		lane = (int) (__atomic_fetch_add(&next_lane, 1, __ATOMIC_RELAXED) % nlanes);
	/* a report made through a hot standby goes to the primary's lanes */
	l = calls->primary && nprimary > 0 ? &lanes[nlanes + lane % nprimary] : &lanes[lane % nlanes];
	while (last->next)
		last = last->next;
	pthread_mutex_lock(&l->lock);
	if (l->tail)
		l->tail->next = calls;
	else
	{
		l->head = calls;
		pthread_cond_signal(&l->work);
	}
	l->tail = last;
	pthread_mutex_unlock(&l->lock);
}

/* A call whose caller sleeps until it is answered (lanes_call). */
typedef struct SyncCall
{
	LaneCall	call;			/* first: done gets its address */
	sem_t		answered;
} SyncCall;

static void
sync_done(LaneCall *call)
{
	sem_post(&((SyncCall *) call)->answered);
}

/*
 * Run sql with the one parameter arg as a client request on a lane, and
 * wait for it (civetweb's threads).  Returns its result, or NULL with res
 * filled (res->status is 0 on entry).
 */
PGresult *
lanes_call(const char *sql, const char *arg, bool shared, bool primary, DbResult *res)
{
	SyncCall	s = {.call = {.sql = sql, .arg = arg, .shared = shared, .primary = primary, .res = res,
						  .done = sync_done}};

	sem_init(&s.answered, 0, 0);
	lanes_submit(-1, &s.call);
	while (sem_wait(&s.answered) != 0 && errno == EINTR)
		;
	sem_destroy(&s.answered);
	return s.call.out;
}
