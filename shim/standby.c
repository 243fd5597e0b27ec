/*
 * standby.c
 *		Checks answered by a hot standby.  A standby cannot write, so the
 *		extension hands what a check records back to rollout-http: a signed
 *		answer (check_update_wire) has it on a line of its own, before the
 *		body its signature covers; an unsigned one (check_update)
 *		as the answer's "record" member, cut out here (the client never sees
 *		it).  client_end (request.c) gives either here, where it is
 *		buffered, and one thread with its own connection to the primary
 *		(ROLLOUT_PRIMARY_URL) sends the buffer in batches to
 *		rollout.record_forwarded, which records them as the primary's own
 *		checks would be.
 *
 * While the primary is away checks keep being answered: their records wait,
 * up to ROLLOUT_STANDBY_BUFFER of them, and beyond that are dropped and
 * counted (SPEC §7 lets check bookkeeping be lost, never a report).  A batch
 * the primary refuses (an SQL error, not a lost connection) is dropped and
 * counted too, so that one bad record cannot stop the others; one that
 * merely lost a deadlock (with the primary's own check recorder, updating
 * the same clients' rows) or a serialization failure is sent again, up to
 * STANDBY_RETRIES times.  A record
 * without ROLLOUT_PRIMARY_URL (the shim was pointed at a standby alone) is
 * dropped at once.  The answers of a primary carry no record: an empty line,
 * or one substring search of an unsigned answer, is all this costs there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "metrics.h"
#include "standby.h"

#define STANDBY_BATCH 500		/* records per call of record_forwarded */
#define STANDBY_PAUSE_MS 200	/* longest a record waits when the primary is up */
#define STANDBY_RETRY_MS 1000	/* between attempts to reach the primary */
#define STANDBY_RETRIES 5		/* attempts of a batch that meets a deadlock or serialization failure */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static bool running,
			quit;

/* the buffer: a circular array of malloc'd record texts */
static char **ring;
static long long cap,
			head,				/* the oldest */
			count;
/* what /metrics shows */
typedef struct StandbyCounts
{
	long long	buffered;		/* held, not yet recorded on the primary */
	long long	forwarded;		/* recorded on the primary */
	long long	dropped;		/* beyond the bound, refused by the primary, or no primary set */
	long long	batches;		/* batches sent */
	bool		primary_up;		/* the last attempt reached the primary */
} StandbyCounts;

static StandbyCounts counts;

static void publish(void);
static void keep(char *rec);

/*
 * The end of the JSON value that starts at s (an object or array; strings
 * inside may hold braces and escaped quotes), or NULL if it does not end.
 */
static const char *
value_end(const char *s)
{
	int			depth = 0;
	bool		in_string = false;

	for (; *s; s++)
	{
		if (in_string)
		{
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '"')
				in_string = false;
		}
		else if (*s == '"')
			in_string = true;
		else if (*s == '{' || *s == '[')
			depth++;
		else if ((*s == '}' || *s == ']') && --depth == 0)
			return s + 1;
	}
	return NULL;
}

/*
 * Cut "record" out of a check's answer (jsonb text: ", " between members,
 * ": " after keys; inside a string a quote is escaped, so the key's text
 * cannot be met anywhere else) and buffer it.
 */
void
standby_take_record(char *answer)
{
	char	   *key = strstr(answer, "\"record\": {");
	const char *end;
	char	   *rec;
	char	   *cut_from,
			   *cut_to;

	if (key == NULL)
		return;					/* a primary's answer */
	end = value_end(key + strlen("\"record\": "));
	if (end == NULL)
		return;
	rec = strndup(key + strlen("\"record\": "), end - (key + strlen("\"record\": ")));
	/* the member and one separator beside it */
	cut_from = key;
	cut_to = (char *) end;
	if (strncmp(cut_to, ", ", 2) == 0)
		cut_to += 2;
	else if (cut_from - answer >= 2 && strncmp(cut_from - 2, ", ", 2) == 0)
		cut_from -= 2;
	memmove(cut_from, cut_to, strlen(cut_to) + 1);
	keep(rec);
}

/* Buffer a record handed back beside a signed answer (len bytes of text at record). */
void
standby_add_record(const char *record, size_t len)
{
	keep(strndup(record, len));
}

/* Buffer rec (malloc'd, taken over; NULL: out of memory), or drop and count it. */
static void
keep(char *rec)
{
	pthread_mutex_lock(&lock);
	if (rec == NULL || !running || count == cap)
	{
		counts.dropped++;
		free(rec);
	}
	else
	{
		ring[(head + count) % cap] = rec;
		count++;
		if (count >= STANDBY_BATCH)
			pthread_cond_signal(&wake);
	}
	publish();
	pthread_mutex_unlock(&lock);
}

/* The counts, to /metrics (lock held). */
static void
publish(void)
{
	metrics_standby(count, counts.forwarded, counts.dropped, counts.batches, counts.primary_up);
}

/* Wait on wake for ms at most (lock held). */
static void
wait_ms(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long) (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000)
	{
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&wake, &lock, &t);
}

/* The primary, connected with the clients' role; NULL if it cannot be reached. */
static PGconn *
connect_primary(void)
{
	PGconn	   *conn = db_connect_to(config.primary_url);
	PGresult   *r;

	if (conn == NULL)
		return NULL;
	r = PQexec(conn, "SELECT set_config('rollout.actor', '', false), set_config('role', 'rollout_client', false)");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "rollout-http: cannot set up the primary's connection: %s", PQerrorMessage(conn));
		PQclear(r);
		PQfinish(conn);
		return NULL;
	}
	PQclear(r);
	return conn;
}

/*
 * Send the oldest n records (lock not held; only this thread removes them).
 * 1: recorded; 0: refused by the primary (dropped); 2: to be sent again (a
 * deadlock or serialization failure, SQLSTATE class 40); -1: the primary is
 * away.
 */
static int
send_batch(PGconn **conn, long long n)
{
	size_t		len = 2;
	char	   *text,
			   *p;
	const char *params[1];
	PGresult   *r;
	int			rc;

	pthread_mutex_lock(&lock);
	for (long long i = 0; i < n; i++)
		len += strlen(ring[(head + i) % cap]) + 1;
	text = malloc(len + 1);
	p = text;
	*p++ = '[';
	for (long long i = 0; i < n; i++)
	{
		const char *rec = ring[(head + i) % cap];
		size_t		l = strlen(rec);

		if (i > 0)
			*p++ = ',';
		memcpy(p, rec, l);
		p += l;
	}
	*p++ = ']';
	*p = '\0';
	pthread_mutex_unlock(&lock);

	if (!db_alive(*conn))
	{
		if (*conn)
			PQfinish(*conn);
		*conn = connect_primary();
	}
	if (*conn == NULL)
	{
		free(text);
		return -1;
	}
	params[0] = text;
	r = PQexecParams(*conn, "SELECT rollout.record_forwarded($1::jsonb)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		rc = 1;
	else if (PQstatus(*conn) != CONNECTION_OK)
	{
		PQfinish(*conn);
		*conn = NULL;
		rc = -1;
	}
	else if (PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL &&
			 strncmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "40", 2) == 0)
		rc = 2;
	else
	{
		fprintf(stderr, "rollout-http: the primary refused %lld check records: %s", n, PQerrorMessage(*conn));
		rc = 0;
	}
	PQclear(r);
	free(text);
	return rc;
}

static void *
standby_main(void *arg)
{
	PGconn	   *conn = NULL;
	int			retries = 0;

	(void) arg;
	pthread_mutex_lock(&lock);
	for (;;)
	{
		long long	n;
		int			rc;

		if (count == 0 && quit)
			break;
		if (count < STANDBY_BATCH && !quit)
			wait_ms(STANDBY_PAUSE_MS);
		n = count < STANDBY_BATCH ? count : STANDBY_BATCH;
		if (n == 0)
			continue;
		pthread_mutex_unlock(&lock);
		rc = send_batch(&conn, n);
		pthread_mutex_lock(&lock);
		counts.primary_up = rc >= 0;
		publish();
		if (rc == 2 && ++retries <= STANDBY_RETRIES)
			continue;			/* the same records again (and any that came meanwhile) */
		if (rc == 2)
		{
			fprintf(stderr, "rollout-http: the primary refused %lld check records %d times (deadlock or"
					" serialization failure)\n", n, retries);
			rc = 0;
		}
		retries = 0;
		if (rc < 0)
		{
			if (quit)
				break;			/* what is left is lost with the process */
			wait_ms(STANDBY_RETRY_MS);
			continue;
		}
		counts.batches++;
		if (rc > 0)
			counts.forwarded += n;
		else
			counts.dropped += n;
		for (long long i = 0; i < n; i++)
			free(ring[(head + i) % cap]);
		head = (head + n) % cap;
		count -= n;
		publish();
	}
	counts.dropped += count;
	pthread_mutex_unlock(&lock);
	if (conn)
		PQfinish(conn);
	return NULL;
}

/* Start the sending thread, if a primary is set. */
void
standby_start(void)
{
	if (!*config.primary_url)
		return;
	cap = config.standby_buffer;
	ring = calloc(cap, sizeof(char *));
	running = true;
	publish();
	pthread_create(&thread, NULL, standby_main, NULL);
}

/* Send what is buffered (if the primary answers), then stop. */
void
standby_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	quit = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	for (long long i = 0; i < count; i++)
		free(ring[(head + i) % cap]);
	count = 0;
	free(ring);
	ring = NULL;
	pthread_mutex_unlock(&lock);
}
