/*
 * live.c
 *		GET /admin/api/v1/live: a websocket that relays NOTIFY rollout_events
 *		(publishes, pauses, automatic pauses, every audited change) to
 *		logged-in browsers.
 *
 * A listener thread holds its own database connection with LISTEN and
 * forwards each payload to the open sockets allowed to see it: an account
 * scoped to one project (maintainers, scoped viewers) only gets that
 * project's events, others get all.  Browsers cannot set headers on a
 * websocket, and a bearer token in a URL ends up in logs and histories, so
 * the socket is opened with ?ticket=: a random ticket from
 * POST /admin/api/v1/live/ticket (rollout.live_ticket), used up by
 * rollout.redeem_live_ticket before the connection is accepted, and good
 * for 30 seconds.  ?token= is not accepted.
 *
 * The same listener hears NOTIFY rollout_schema, which the extension sends
 * when it is created or updated (an event trigger): the function
 * signatures of the route table are then read again, so that an
 * ALTER EXTENSION rollout UPDATE needs no restart of rollout-http.  They
 * are read again after each reconnection too: the database may have been
 * updated while it was away.
 *
 * Events are the payloads as they come: audited changes ({"type":
 * "versions.update", ...}), automatic pauses, and {"type": "stats",
 * "project_id": N} when checks (once per batch of the background recorder),
 * downloads or install results were recorded.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <civetweb.h>
#include <jansson.h>

#include "config.h"
#include "db.h"
#include "live.h"

#define MAX_LIVE 256

static struct mg_connection *live[MAX_LIVE];
static int	nlive;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t listener;
static volatile int listener_stop;

/*
 * Accept the socket only with a valid ticket, which this uses up: 0
 * accepts, 1 refuses.  The account's project id (0: all projects) becomes
 * the connection's data.
 */
static int
live_connect(const struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	PGconn	  **pc;
	char		ticket[128] = "";
	long long  *scope = NULL;

	(void) cbdata;
	if (ri->query_string)
		mg_get_var(ri->query_string, strlen(ri->query_string), "ticket", ticket, sizeof(ticket));
	if (ticket[0] == '\0')
		return 1;
	if ((pc = db_acquire()) != NULL)
	{
		const char *p[1] = {ticket};
		PGresult   *r = PQexecParams(*pc, "SELECT rollout.redeem_live_ticket($1) ->> 'project_id'",
									 1, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		{
			scope = malloc(sizeof(*scope));
			*scope = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
		}
		PQclear(r);
	}
	db_release(pc);
	if (scope == NULL)
		return 1;
	mg_set_user_connection_data(conn, scope);
	return 0;
}

static void
live_ready(struct mg_connection *conn, void *cbdata)
{
	static const char hello[] = "{\"type\":\"hello\"}";

	(void) cbdata;
	pthread_mutex_lock(&live_lock);
	if (nlive < MAX_LIVE)
		live[nlive++] = conn;
	pthread_mutex_unlock(&live_lock);
	mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, hello, sizeof(hello) - 1);
}

/* Browsers have nothing to say on this socket; keep it open. */
static int
live_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	(void) conn;
	(void) data;
	(void) len;
	(void) cbdata;
	return (bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE;
}

static void
live_close(const struct mg_connection *conn, void *cbdata)
{
	(void) cbdata;
	pthread_mutex_lock(&live_lock);
	for (int i = 0; i < nlive; i++)
		if (live[i] == conn)
		{
			live[i] = live[--nlive];
			break;
		}
	pthread_mutex_unlock(&live_lock);
	free(mg_get_user_connection_data(conn));
	mg_set_user_connection_data(conn, NULL);
}

/* Send a payload to the open sockets whose account may see its project. */
static void
broadcast(const char *payload)
{
	json_t	   *event = json_loads(payload, 0, NULL);
	json_t	   *project = event ? json_object_get(event, "project_id") : NULL;
	long long	pid = json_is_integer(project) ? json_integer_value(project) : 0;

	pthread_mutex_lock(&live_lock);
	for (int i = 0; i < nlive; i++)
	{
		const long long *scope = mg_get_user_connection_data(live[i]);

		if (scope != NULL && (*scope == 0 || *scope == pid))
			mg_websocket_write(live[i], MG_WEBSOCKET_OPCODE_TEXT, payload, strlen(payload));
	}
	pthread_mutex_unlock(&live_lock);
	json_decref(event);
}

/* LISTEN and relay, reconnecting whenever the database goes away. */
static void *
listen_loop(void *arg)
{
	PGconn	   *conn = NULL;
	bool		first = true;

	(void) arg;
	while (!listener_stop)
	{
		fd_set		fds;
		struct timeval tv = {1, 0};
		PGnotify   *n;
		int			sock;

		if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		{
			if (conn)
				PQfinish(conn);
			/* a hot standby delivers no notifications: listen on its primary */
			conn = *config.primary_url ? db_connect_to(config.primary_url) : db_connect();
			if (conn)
			{
				PQclear(PQexec(conn, "LISTEN rollout_events"));
				PQclear(PQexec(conn, "LISTEN rollout_schema"));
				if (!first)
					db_reload_signatures(conn);
				first = false;
			}
			else
			{
				sleep(1);
				continue;
			}
		}
		sock = PQsocket(conn);
		FD_ZERO(&fds);
		FD_SET(sock, &fds);
		if (select(sock + 1, &fds, NULL, NULL, &tv) < 0)
			continue;
		if (!PQconsumeInput(conn))
			continue;
		while ((n = PQnotifies(conn)) != NULL)
		{
			if (strcmp(n->relname, "rollout_schema") == 0)
				db_reload_signatures(conn);
			else
				broadcast(n->extra);
			PQfreemem(n);
		}
	}
	if (conn)
		PQfinish(conn);
	return NULL;
}

/* Register the websocket route and start the listener. */
void
live_start(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, "/admin/api/v1/live$", live_connect, live_ready, live_data, live_close, NULL);
	pthread_create(&listener, NULL, listen_loop, NULL);
}

/* Stop the listener (before the server stops). */
void
live_stop(void)
{
	listener_stop = 1;
	pthread_join(listener, NULL);
}
