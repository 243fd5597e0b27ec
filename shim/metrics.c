/*
 * metrics.c
 *		GET /metrics (Prometheus text format): the shim's own counters, and
 *		the check recorder's state, which lives in the server and is read at
 *		scrape time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "routes.h"

static const int statuses[] = {200, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503};
#define NSTATUS ((int) (sizeof(statuses) / sizeof(statuses[0])))
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
#define NBOUNDS ((int) (sizeof(bounds) / sizeof(bounds[0])))

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long *counts;	/* [route + 1][status + 1]; route -1: unmatched */
static unsigned long long histogram[NBOUNDS + 1];
static double latency_sum;
static unsigned long long latency_count;
static int	threads_total;
static int	lanes_total;
static int	threads_connected;

void
metrics_init(int nthreads, int nlanes)
{
	counts = calloc((size_t) (nroutes + 1) * (NSTATUS + 1), sizeof(*counts));
	threads_total = nthreads;
	lanes_total = nlanes;
}

/* Count one request of route index r (-1: no route) with its status and time. */
void
metrics_record(int r, int status, double seconds)
{
	int			s = NSTATUS;

	for (int i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			s = i;
	pthread_mutex_lock(&metrics_lock);
	counts[(r + 1) * (NSTATUS + 1) + s]++;
	{
		int			b = NBOUNDS;

		for (int i = 0; i < NBOUNDS; i++)
			if (seconds <= bounds[i])
			{
				b = i;
				break;
			}
		histogram[b]++;
	}
	latency_sum += seconds;
	latency_count++;
	pthread_mutex_unlock(&metrics_lock);
}

/* A worker thread or a lane opened (+1) or lost (-1) its database connection. */
void
metrics_connection(int delta)
{
	pthread_mutex_lock(&metrics_lock);
	threads_connected += delta;
	pthread_mutex_unlock(&metrics_lock);
}

/* The check recorder's numbers: a field of rollout.check_queue() each. */
static const struct
{
	const char *field;
	const char *name;
	const char *type;
	const char *help;
}			recorder_metrics[] = {
	{"depth", "rollout_recorder_queue_depth", "gauge",
	"Checks queued for the check recorder and not recorded yet."},
	{"lag_seconds", "rollout_recorder_lag_seconds", "gauge",
	"Age of the oldest queued check (0: the queue is empty)."},
	{"recorded", "rollout_recorder_recorded_total", "counter",
	"Queued checks the recorder recorded."},
	{"recorded_directly", "rollout_recorder_recorded_directly_total", "counter",
	"Checks recorded by their own transaction because the queue was full."},
	{"skipped", "rollout_recorder_skipped_total", "counter",
	"Queued checks that could not be recorded."},
	{"restarts", "rollout_recorder_restarts_total", "counter",
	"Restarts of the check recorder (a crash restart of the server counts one)."},
};

/* The login throttle's series: fields of rollout.login_metrics(). */
static const struct
{
	const char *field;
	const char *name;
	const char *type;
	const char *help;
}			login_metrics[] = {
	{"failed_total", "rollout_login_failures_total", "counter",
	"Failed logins (wrong password or unknown username)."},
	{"refused_total", "rollout_login_refused_total", "counter",
	"Logins refused by a lockout, their password unchecked."},
	{"lockouts_total", "rollout_login_lockouts_total", "counter",
	"Lockouts begun, of a username or of a client address."},
	{"locked_usernames", "rollout_login_locked_usernames", "gauge",
	"Usernames locked now (too many failed logins within rollout.login_window)."},
	{"locked_addresses", "rollout_login_locked_addresses", "gauge",
	"Client addresses locked now (too many failed logins within rollout.login_window)."},
};

/*
 * The Prometheus text exposition, with the check recorder's state (the
 * object of rollout.check_queue(); NULL when the database did not answer,
 * and then no rollout_recorder_ series at all); malloc'd.  The recorder's
 * counters live in the server's shared memory: they start over when the
 * server restarts.
 */
/* The hot standby's check records (standby.c); shown once it reports, or when one was dropped. */
static struct
{
	bool		shown;
	bool		primary_up;
	long long	buffered,
				forwarded,
				dropped,
				batches;
}			standby;

void
metrics_standby(long long buffered, long long forwarded, long long dropped, long long batches, bool primary_up)
{
	pthread_mutex_lock(&metrics_lock);
	standby.shown = true;
	standby.buffered = buffered;
	standby.forwarded = forwarded;
	standby.dropped = dropped;
	standby.batches = batches;
	standby.primary_up = primary_up;
	pthread_mutex_unlock(&metrics_lock);
}

char *
metrics_text(const json_t *recorder, const json_t *login)
{
	size_t		cap = 65536,
				len = 0;
	char	   *out = malloc(cap);
	unsigned long long cumulative = 0;

#define EMIT(...) do { \
		int n_ = snprintf(out + len, cap - len, __VA_ARGS__); \
		if (n_ > 0 && (size_t) n_ >= cap - len) { cap = (cap + n_) * 2; out = realloc(out, cap); \
			n_ = snprintf(out + len, cap - len, __VA_ARGS__); } \
		len += n_ > 0 ? (size_t) n_ : 0; } while (0)

	pthread_mutex_lock(&metrics_lock);
	EMIT("# HELP rollout_http_requests_total Requests by route and HTTP status.\n"
		 "# TYPE rollout_http_requests_total counter\n");
	for (int r = -1; r < nroutes; r++)
		for (int s = 0; s <= NSTATUS; s++)
		{
			unsigned long long c = counts[(r + 1) * (NSTATUS + 1) + s];
			char		status[8];

			if (c == 0)
				continue;
			snprintf(status, sizeof(status), s < NSTATUS ? "%d" : "other", s < NSTATUS ? statuses[s] : 0);
			EMIT("rollout_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
				 r < 0 ? "" : routes[r].method, r < 0 ? "other" : routes[r].pattern, status, c);
		}
	EMIT("# HELP rollout_http_request_duration_seconds Time to answer a request.\n"
		 "# TYPE rollout_http_request_duration_seconds histogram\n");
	for (int i = 0; i < NBOUNDS; i++)
	{
		cumulative += histogram[i];
		EMIT("rollout_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[i], cumulative);
	}
	cumulative += histogram[NBOUNDS];
	EMIT("rollout_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cumulative);
	EMIT("rollout_http_request_duration_seconds_sum %.6f\n", latency_sum);
	EMIT("rollout_http_request_duration_seconds_count %llu\n", latency_count);
	EMIT("# HELP rollout_http_db_connections Open database connections (the pool's and lanes').\n"
		 "# TYPE rollout_http_db_connections gauge\n"
		 "rollout_http_db_connections %d\n", threads_connected);
	EMIT("# HELP rollout_http_worker_threads Worker threads of the main address (an open connection holds one).\n"
		 "# TYPE rollout_http_worker_threads gauge\n"
		 "rollout_http_worker_threads %d\n", threads_total);
	EMIT("# HELP rollout_http_db_lanes Database connections shared by the clients' routes.\n"
		 "# TYPE rollout_http_db_lanes gauge\n"
		 "rollout_http_db_lanes %d\n", lanes_total);
	if (standby.shown)
		EMIT("# HELP rollout_standby_records_buffered Check records of this hot standby waiting for the primary.\n"
			 "# TYPE rollout_standby_records_buffered gauge\n"
			 "rollout_standby_records_buffered %lld\n"
			 "# HELP rollout_standby_records_forwarded_total Check records recorded on the primary.\n"
			 "# TYPE rollout_standby_records_forwarded_total counter\n"
			 "rollout_standby_records_forwarded_total %lld\n"
			 "# HELP rollout_standby_records_dropped_total Check records lost: the buffer was full, the "
			 "primary refused them, or no primary is set.\n"
			 "# TYPE rollout_standby_records_dropped_total counter\n"
			 "rollout_standby_records_dropped_total %lld\n"
			 "# HELP rollout_standby_batches_total Batches of check records sent to the primary.\n"
			 "# TYPE rollout_standby_batches_total counter\n"
			 "rollout_standby_batches_total %lld\n"
			 "# HELP rollout_standby_primary_up 1 when the last attempt reached the primary (0 before any).\n"
			 "# TYPE rollout_standby_primary_up gauge\n"
			 "rollout_standby_primary_up %d\n",
			 standby.buffered, standby.forwarded, standby.dropped, standby.batches, standby.primary_up ? 1 : 0);
	pthread_mutex_unlock(&metrics_lock);
	if (recorder != NULL)
	{
		EMIT("# HELP rollout_recorder_up 1 when the background worker records this database's checks; "
			 "0 when each check is recorded by the transaction that makes it.\n"
			 "# TYPE rollout_recorder_up gauge\n"
			 "rollout_recorder_up %d\n", json_is_true(json_object_get(recorder, "enabled")) ? 1 : 0);
		EMIT("# HELP rollout_recorder_expected 1 when the recorder is configured for this database "
			 "(shared_preload_libraries, rollout.database, rollout.async_checks): up 0 then means degraded.\n"
			 "# TYPE rollout_recorder_expected gauge\n"
			 "rollout_recorder_expected %d\n", json_is_true(json_object_get(recorder, "expected")) ? 1 : 0);
		for (size_t i = 0; i < sizeof(recorder_metrics) / sizeof(recorder_metrics[0]); i++)
		{
			json_t	   *v = json_object_get(recorder, recorder_metrics[i].field);

			if (!json_is_number(v))
				continue;		/* not preloaded: no queue to count */
			EMIT("# HELP %s %s\n# TYPE %s %s\n", recorder_metrics[i].name, recorder_metrics[i].help,
				 recorder_metrics[i].name, recorder_metrics[i].type);
			if (json_is_integer(v))
				EMIT("%s %lld\n", recorder_metrics[i].name, (long long) json_integer_value(v));
			else
				EMIT("%s %.3f\n", recorder_metrics[i].name, json_real_value(v));
		}
	}
	/* the login throttle (rollout.login_metrics(); NULL when the database did not answer) */
	for (size_t i = 0; login != NULL && i < sizeof(login_metrics) / sizeof(login_metrics[0]); i++)
	{
		json_t	   *v = json_object_get(login, login_metrics[i].field);

		if (json_is_integer(v))
			EMIT("# HELP %s %s\n# TYPE %s %s\n%s %lld\n", login_metrics[i].name, login_metrics[i].help,
				 login_metrics[i].name, login_metrics[i].type, login_metrics[i].name,
				 (long long) json_integer_value(v));
	}
#undef EMIT
	return out;
}
