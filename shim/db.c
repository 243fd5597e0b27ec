/*
 * db.c
 *		rollout-http's database side for everything but the clients' routes:
 *		function signatures from pg_catalog (reloaded when the extension is
 *		updated), binding JSON to named arguments, one round trip per request.
 *
 * An admin request is one pipeline ending in one Sync, so one round trip
 * and one implicit transaction: SELECT rollout.begin_request($token), which
 * authenticates and sets the actor and the database role for the rest of
 * the transaction (as PostgREST's pre-request function does), then the
 * route's function.  An error in either undoes both.
 *
 * Nothing from a request is ever spliced into SQL: argument names come from
 * pg_catalog (and are quoted), values travel as one $1::jsonb parameter and
 * are typed by jsonb_to_record.
 *
 * The connections are a pool of config.db_connections, apart from civetweb's
 * threads: a thread takes one for a round trip (db_acquire) and gives it
 * back (db_release), so that the threads can be many (an open HTTP
 * connection holds one) while the database sees a few.
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "metrics.h"

/* A function's signature, read from pg_catalog. */
typedef struct Signature
{
	char	   *name;
	int			nargs;
	int			nrequired;
	char	  **argnames;
	char	  **argtypes;
	int			nnames,			/* the arrays' lengths */
				ntypes;
} Signature;

/* The signatures, replaced whole by a reload; readers hold the lock. */
typedef struct Signatures
{
	int			n;
	Signature  *sigs;
} Signatures;

static Signatures *current;
static pthread_rwlock_t sig_lock = PTHREAD_RWLOCK_INITIALIZER;

static void pool_close(void);

/* The signature of a rollout function, or NULL (the caller holds sig_lock). */
static const Signature *
find_signature(const char *name)
{
	for (int i = 0; current && i < current->n; i++)
		if (strcmp(current->sigs[i].name, name) == 0)
			return &current->sigs[i];
	return NULL;
}

/*
 * Per route, whether the database has rollout.<function>_wire, the signed
 * form of a ROUTE_SIGNED route's function (an older extension may lack it):
 * set at each reload of the signatures, read without the lock on every check.
 */
static bool *route_wire;

bool
db_route_signed(int route)
{
	return route_wire != NULL && __atomic_load_n(&route_wire[route], __ATOMIC_RELAXED);
}

/* Split a PostgreSQL text array literal {a,b,"c d"} of identifiers. */
static int
split_array(const char *lit, char ***out)
{
	int			n = 0,
				cap = 8;
	char	  **items = malloc(cap * sizeof(char *));
	const char *p = lit;

	if (*p == '{')
		p++;
	while (*p && *p != '}')
	{
		char		buf[256];
		size_t		len = 0;
		int			quoted = (*p == '"');

		if (quoted)
			p++;
		while (*p && (quoted ? *p != '"' : (*p != ',' && *p != '}')))
		{
			if (quoted && *p == '\\' && p[1])
				p++;
			if (len < sizeof(buf) - 1)
				buf[len++] = *p;
			p++;
		}
		if (quoted && *p == '"')
			p++;
		buf[len] = '\0';
		if (n == cap)
			items = realloc(items, (cap *= 2) * sizeof(char *));
		items[n++] = strdup(buf);
		if (*p == ',')
			p++;
	}
	*out = items;
	return n;
}

static void
free_signatures(Signatures *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
	{
		Signature  *g = &s->sigs[i];

		for (int k = 0; k < g->nnames; k++)
			free(g->argnames[k]);
		for (int k = 0; k < g->ntypes; k++)
			free(g->argtypes[k]);
		free(g->argnames);
		free(g->argtypes);
		free(g->name);
	}
	free(s->sigs);
	free(s);
}

/*
 * (Re)read the signature of every function of schema rollout on conn, and
 * say which routes' functions the database lacks (an extension older than
 * this server: those routes answer 503 until it is updated).  -1 if the
 * catalog could not be read.
 */
int
db_reload_signatures(PGconn *conn)
{
	PGresult   *r;
	Signatures *s;
	Signatures *old;
	int			missing = 0;

	r = PQexec(conn,
			   "SELECT p.proname, coalesce(p.proargnames, '{}'), "
			   "       array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY i), "
			   "       p.pronargs, p.pronargdefaults "
			   "FROM pg_proc p WHERE p.pronamespace = 'rollout'::regnamespace");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "rollout-http: cannot read function signatures (is the rollout extension installed?): %s",
				PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	s = calloc(1, sizeof(Signatures));
	s->n = PQntuples(r);
	s->sigs = calloc(s->n, sizeof(Signature));
	for (int i = 0; i < s->n; i++)
	{
		Signature  *g = &s->sigs[i];
		g->name = strdup(PQgetvalue(r, i, 0));
		g->nnames = split_array(PQgetvalue(r, i, 1), &g->argnames);
		g->ntypes = split_array(PQgetvalue(r, i, 2), &g->argtypes);
		g->nargs = atoi(PQgetvalue(r, i, 3));
		g->nrequired = g->nargs - atoi(PQgetvalue(r, i, 4));
		if (g->nnames != g->nargs || g->ntypes != g->nargs)
			g->nargs = g->nnames < g->ntypes ? g->nnames : g->ntypes;	/* unnamed arguments: never bound */
	}
	PQclear(r);
	pthread_rwlock_wrlock(&sig_lock);
	old = current;
	current = s;
	if (route_wire == NULL)
		route_wire = calloc(nroutes, sizeof(bool));
	for (int i = 0; i < nroutes; i++)
	{
		char		name[128];
		bool		wire;

		snprintf(name, sizeof(name), "%s_wire", routes[i].function);
		wire = (routes[i].flags & ROUTE_SIGNED) && find_signature(name) != NULL;
		if (route_wire != NULL)
			__atomic_store_n(&route_wire[i], wire, __ATOMIC_RELAXED);
		if (!find_signature(routes[i].function))
		{
			fprintf(stderr, "rollout-http: the database lacks rollout.%s: %s %s answers 503 until "
					"ALTER EXTENSION rollout UPDATE\n", routes[i].function, routes[i].method, routes[i].pattern);
			missing++;
		}
		else if ((routes[i].flags & ROUTE_SIGNED) && !wire)
			fprintf(stderr, "rollout-http: the database lacks rollout.%s: %s %s answers are unsigned until "
					"ALTER EXTENSION rollout UPDATE\n", name, routes[i].method, routes[i].pattern);
	}
	if (!find_signature("begin_request"))
	{
		fprintf(stderr, "rollout-http: the database lacks rollout.begin_request: the admin API answers 503 until "
				"ALTER EXTENSION rollout UPDATE\n");
		missing++;
	}
	pthread_rwlock_unlock(&sig_lock);
	free_signatures(old);
	if (missing == 0 && old != NULL)
		fprintf(stderr, "rollout-http: function signatures reloaded\n");
	return 0;
}

/* At exit. */
void
db_cleanup(void)
{
	pool_close();
	pthread_rwlock_wrlock(&sig_lock);
	free_signatures(current);
	current = NULL;
	pthread_rwlock_unlock(&sig_lock);
}

/* At start-up: the signatures, on a connection of its own. */
int
db_load_signatures(void)
{
	PGconn	   *conn = PQconnectdb(config.conninfo);
	int			rc;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "rollout-http: cannot connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	rc = db_reload_signatures(conn);
	PQfinish(conn);
	return rc;
}

/*
 * A new connection, or NULL.  Its statements' parameters (passwords, tokens)
 * stay out of the server log even with log_statement = all: the parameters'
 * logging is turned off for the session.  That needs a superuser or
 * GRANT SET ON PARAMETER log_parameter_max_length; without, a warning, once.
 */
PGconn *
db_connect(void)
{
	return db_connect_to(config.conninfo);
}

/* A connection to conninfo (the standby's primary), as db_connect's, or NULL. */
PGconn *
db_connect_to(const char *conninfo)
{
	static int	warned;
	PGconn	   *conn = PQconnectdb(conninfo);
	PGresult   *r;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		PQfinish(conn);
		return NULL;
	}
	r = PQexec(conn, "SET log_parameter_max_length = 0");
	if (PQresultStatus(r) != PGRES_COMMAND_OK && !__atomic_exchange_n(&warned, 1, __ATOMIC_SEQ_CST))
		fprintf(stderr, "rollout-http: warning: cannot keep statement parameters (passwords, tokens) out of the"
				" server log: %s", PQresultErrorMessage(r));
	PQclear(r);
	return conn;
}

/*
 * Is conn an open connection?  An idle connection has nothing to read: if its
 * socket is readable, the server said goodbye (a restart, a terminated
 * backend) or closed it, and the connection is not used again.
 */
bool
db_alive(PGconn *conn)
{
	struct pollfd p;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return false;
	p.fd = PQsocket(conn);
	p.events = POLLIN;
	p.revents = 0;
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/*
 * A pooled connection and what it prepared, as statements "r0", "r1", ...
 * A PGconn ** handed out is &slot->conn, the first member: db.c finds the
 * slot again from it.
 */
#define MAX_PREPARED 64
typedef struct DbSlot
{
	PGconn	   *conn;			/* first: (DbSlot *) pc */
	int			nprepared;
	char	   *prepared_sql[MAX_PREPARED];
} DbSlot;

static DbSlot *slots;
static DbSlot **idle;			/* a stack: the last given back is taken first */
static int	nidle = -1;			/* -1: not made yet */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_free = PTHREAD_COND_INITIALIZER;

static void
forget_prepared(DbSlot *slot)
{
	for (int i = 0; i < slot->nprepared; i++)
		free(slot->prepared_sql[i]);
	slot->nprepared = 0;
}

/*
 * A slot of the pool, waiting while all are in use (db_acquire connects it;
 * db_release gives it back).  Connected by db_ensure, not here: the one most
 * recently given back is taken first, so connections are opened only as
 * concurrency needs them.
 */
static PGconn **
pool_take(void)
{
	DbSlot	   *slot;

	pthread_mutex_lock(&pool_lock);
	if (nidle < 0)
	{
		slots = calloc(config.db_connections, sizeof(*slots));
		idle = calloc(config.db_connections, sizeof(*idle));
		for (nidle = 0; nidle < config.db_connections; nidle++)
			idle[nidle] = &slots[config.db_connections - 1 - nidle];
	}
	while (nidle == 0)
		pthread_cond_wait(&pool_free, &pool_lock);
	slot = idle[--nidle];
	pthread_mutex_unlock(&pool_lock);
	return &slot->conn;
}

void
db_release(PGconn **pc)
{
	if (pc == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	idle[nidle++] = (DbSlot *) pc;
	pthread_cond_signal(&pool_free);
	pthread_mutex_unlock(&pool_lock);
}

/* Close the pool's connections (at exit, no request in flight). */
static void
pool_close(void)
{
	for (int i = 0; slots && i < config.db_connections; i++)
	{
		forget_prepared(&slots[i]);
		if (slots[i].conn)
		{
			PQfinish(slots[i].conn);
			metrics_connection(-1);
		}
	}
	free(slots);
	free(idle);
	slots = NULL;
	idle = NULL;
	nidle = -1;
}

/* Drop the pooled connection *pc (lost, or in no state to go on). */
static void
pool_drop(PGconn **pc)
{
	/* what it prepared goes with it: the next connection starts over */
	forget_prepared((DbSlot *) pc);
	PQfinish(*pc);
	metrics_connection(-1);
	*pc = NULL;
}

/*
 * Make sure *pc, a connection of the pool, is live: reconnect if it is
 * missing or broken, keeping the connection gauge of /metrics right.
 * Returns 0 if it is.
 */
static int
db_ensure(PGconn **pc)
{
	if (db_alive(*pc))
		return 0;
	if (*pc)
		pool_drop(pc);
	*pc = db_connect();
	if (*pc == NULL)
		return -1;
	metrics_connection(1);
	return 0;
}

/*
 * A live connection of the pool (pool_take, then db_ensure), or NULL, the
 * slot given back, if the database cannot be reached.  db_release(NULL) does
 * nothing, so a caller releases whatever this returned.
 */
PGconn **
db_acquire(void)
{
	PGconn	  **pc = pool_take();

	if (db_ensure(pc) == 0)
		return pc;
	db_release(pc);
	return NULL;
}

/*
 * The check recorder's state, rollout.check_queue(), read on a connection of
 * the pool: /healthz and /metrics never wait behind client requests on a
 * lane.  Returns the object (the caller frees it), or
 * NULL if it could not be read; *db_ok says whether the database answered
 * at all (a missing privilege or extension is the recorder's "unknown", not
 * the database's outage).
 */
json_t *
db_check_queue(bool *db_ok)
{
	PGconn	  **pc = db_acquire();
	PGresult   *r;
	json_t	   *state = NULL;

	*db_ok = pc != NULL;
	if (pc == NULL)
		return NULL;
	r = PQexec(*pc, "SELECT rollout.check_queue()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		state = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	else if (PQstatus(*pc) != CONNECTION_OK)
		*db_ok = false;
	PQclear(r);
	db_release(pc);
	if (state != NULL && !json_is_object(state))
	{
		json_decref(state);
		state = NULL;
	}
	return state;
}

/* The login throttle's figures, rollout.login_metrics(), as db_check_queue; NULL if unreadable. */
json_t *
db_login_metrics(void)
{
	PGconn	  **pc = db_acquire();
	PGresult   *r;
	json_t	   *m = NULL;

	if (pc == NULL)
		return NULL;
	r = PQexec(*pc, "SELECT rollout.login_metrics()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		m = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	db_release(pc);
	return m;
}

/* Append s to a growing buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len,
				cap;
} Buf;

static void
buf_add(Buf *b, const char *s)
{
	size_t		n = strlen(s);

	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

/* A quoted identifier: the names come from pg_catalog and the route table. */
static void
buf_ident(Buf *b, const char *name)
{
	char	   *q = malloc(2 * strlen(name) + 3);
	char	   *p = q;

	*p++ = '"';
	for (; *name; name++)
	{
		if (*name == '"')
			*p++ = '"';
		*p++ = *name;
	}
	*p++ = '"';
	*p = '\0';
	buf_add(b, q);
	free(q);
}

/*
 * Build "SELECT to_jsonb(rollout.f(a => r.a, ...)) FROM jsonb_to_record($1)
 * AS r(a type, ...)" for the keys of args; unknown keys and missing
 * required arguments are request errors, a function the database lacks a
 * 503.  A client route's statement takes the body as its one jsonb.
 */
static char *
build_call(const Route *route, json_t *args, DbResult *res)
{
	const Signature *s;
	Buf			call = {0},
				cols = {0},
				b = {0};
	const char *key;
	json_t	   *value;
	int			n = 0;

	if (route->flags & ROUTE_CLIENT)
	{
		buf_add(&b, "SELECT rollout.");
		buf_ident(&b, route->function);
		buf_add(&b, "($1::jsonb)");
		return b.data;
	}
	pthread_rwlock_rdlock(&sig_lock);
	s = find_signature(route->function);
	if (s == NULL || !find_signature("begin_request"))
	{
		pthread_rwlock_unlock(&sig_lock);
		result_set_request_error(res, 503, "outdated_extension", s == NULL ? route->function : "begin_request");
		return NULL;
	}
	json_object_foreach(args, key, value)
	{
		int			found = 0;

		for (int i = 0; i < s->nargs && !found; i++)
			found = strcmp(s->argnames[i], key) == 0;
		if (!found)
		{
			pthread_rwlock_unlock(&sig_lock);
			result_set_request_error(res, 400, "unknown_field", key);
			free(call.data);
			free(cols.data);
			return NULL;
		}
	}
	for (int i = 0; i < s->nargs; i++)
	{
		if (!json_object_get(args, s->argnames[i]))
		{
			if (i < s->nrequired)
			{
				pthread_rwlock_unlock(&sig_lock);
				result_set_request_error(res, 400, "required", s->argnames[i]);
				free(call.data);
				free(cols.data);
				return NULL;
			}
			continue;
		}
		buf_add(&call, n ? ", " : "");
		buf_ident(&call, s->argnames[i]);
		buf_add(&call, " => r.");
		buf_ident(&call, s->argnames[i]);
		buf_add(&cols, n ? ", " : "");
		buf_ident(&cols, s->argnames[i]);
		buf_add(&cols, " ");
		buf_add(&cols, s->argtypes[i]);
		n++;
	}
	pthread_rwlock_unlock(&sig_lock);
	buf_add(&b, "SELECT to_jsonb(rollout.");
	buf_ident(&b, route->function);
	buf_add(&b, "(");
	buf_add(&b, call.data ? call.data : "");
	buf_add(&b, ")");
	if (n > 0)
	{
		buf_add(&b, ") FROM jsonb_to_record($1::jsonb) AS r(");
		buf_add(&b, cols.data);
		buf_add(&b, ")");
	}
	else
		buf_add(&b, ") WHERE $1::jsonb IS NOT NULL");
	free(call.data);
	free(cols.data);
	return b.data;
}

/* The statement of a client route (ROUTE_CLIENT): its one argument is the body. */
char *
db_client_sql(const Route *route, const char *lang, bool signed_answers)
{
	size_t		size;
	char	   *sql;

	if (!(route->flags & ROUTE_SIGNED) || !signed_answers)
		return build_call(route, NULL, NULL);
	/*
	 * <function>_wire(request, lang): <function>_signed's answer as one
	 * value, the signature, the check's record on a hot standby (standby.c)
	 * and the whole body (request.c takes it apart)
	 */
	size = strlen(route->function) + 64;
	if ((sql = malloc(size)) == NULL)
		return NULL;
	snprintf(sql, size, "SELECT rollout.%s_wire($1::jsonb, '%s')", route->function,
			 strcmp(lang, "zh-CN") == 0 ? "zh-CN" : "en");
	return sql;
}

/*
 * Server-side prepared statements, per pooled connection (DbSlot): a new
 * connection starts over.  Prepared statements are re-planned by the server
 * when what they use changes, so they never go stale.
 */

/* The index of sql among this connection's prepared statements, or -1. */
static int
prepared_index(const DbSlot *slot, const char *sql)
{
	for (int i = 0; i < slot->nprepared; i++)
		if (strcmp(slot->prepared_sql[i], sql) == 0)
			return i;
	return -1;
}

/*
 * The name of sql among this connection's prepared statements into name,
 * preparing it on first use (outside any pipeline); "" if the connection
 * holds as many as it keeps (the call is then sent unprepared).  False with
 * res filled if the server refused it.
 */
static bool
prepare(DbSlot *slot, const char *sql, int nparams, char *name, size_t size, DbResult *res)
{
	PGconn	   *conn = slot->conn;
	int			i = prepared_index(slot, sql);
	PGresult   *r;

	name[0] = '\0';
	if (i < 0 && slot->nprepared < MAX_PREPARED)
	{
		snprintf(name, size, "r%d", slot->nprepared);
		r = PQprepare(conn, name, sql, nparams, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			result_set_error(res, r, conn);
			PQclear(r);
			name[0] = '\0';
			return false;
		}
		PQclear(r);
		slot->prepared_sql[slot->nprepared] = strdup(sql);
		i = slot->nprepared++;
	}
	if (i >= 0)
		snprintf(name, size, "r%d", i);
	return true;
}

static bool
send_statement(PGconn *conn, const char *name, const char *sql, int nparams, const char *const *params)
{
	return name[0] ? PQsendQueryPrepared(conn, name, nparams, params, NULL, NULL, 0) :
		PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

/*
 * The token alone, for a request refused before it could run: when
 * begin_request refuses the token, that (401) is the answer instead of the
 * request error already in res.
 */
static void
authenticate_only(const char *begin_sql, const char *token, DbResult *res)
{
	const char *params[1] = {token};
	PGconn	  **pc = db_acquire();
	PGresult   *r;

	if (pc == NULL)
	{
		result_free(res);
		result_set_unavailable(res, "cannot connect to the database");
		return;
	}
	r = PQexecParams(*pc, begin_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_FATAL_ERROR)
	{
		result_free(res);
		result_set_error(res, r, *pc);
	}
	PQclear(r);
	db_release(pc);
}

/*
 * Run a route: one pipeline, one Sync, one round trip.  begin_request
 * authenticates the token (NULL for a route without login) and sets the
 * actor and the role; then the function runs.  The first error is the
 * answer, and undoes everything.  A lost connection is a 503, and the next
 * request reconnects.  On a connection of the pool, held for this round
 * trip only.
 */
void
db_call(const Route *route, json_t *args, const char *token, DbResult *res)
{
	static const char begin_sql[] = "SELECT rollout.begin_request($1)";
	PGconn	  **pc;
	PGconn	   *conn;
	char	   *sql = NULL;
	char	   *argtext = NULL;
	char		begin_name[16],
				call_name[16];
	const char *begin_params[1] = {route->auth == AUTH_TOKEN ? token : NULL};
	const char *call_params[1];
	PGresult   *r;
	PGresult   *answer = NULL;
	int			step = 0;
	bool		ok;

	memset(res, 0, sizeof(*res));
	sql = build_call(route, args, res);
	if (sql == NULL)
	{
		/* a bad body says nothing of the route's arguments to a bad token */
		if (res->status == 400 && route->auth == AUTH_TOKEN)
			authenticate_only(begin_sql, token, res);
		return;
	}
	if ((pc = db_acquire()) == NULL)
	{
		result_set_unavailable(res, "cannot connect to the database");
		free(sql);
		return;
	}
	conn = *pc;
	argtext = json_dumps(args, JSON_COMPACT);
	call_params[0] = argtext;
	ok = prepare((DbSlot *) pc, begin_sql, 1, begin_name, sizeof(begin_name), res) &&
		prepare((DbSlot *) pc, sql, 1, call_name, sizeof(call_name), res);
	if (!ok && PQstatus(conn) == CONNECTION_OK)
	{
		/* refused by the server (res says why): nothing ran */
		db_release(pc);
		free(sql);
		free(argtext);
		return;
	}
	if (ok)
		ok = PQenterPipelineMode(conn) &&
			send_statement(conn, begin_name, begin_sql, 1, begin_params) &&
			send_statement(conn, call_name, sql, 1, call_params) &&
			PQpipelineSync(conn);
	/* two statements' results (each ends with NULL), then the Sync's */
	while (ok && step < 3)
	{
		r = PQgetResult(conn);
		if (r == NULL)
		{
			if (step < 2)
				step++;
			else
				ok = false;
			if (PQstatus(conn) != CONNECTION_OK)
				ok = false;
			continue;
		}
		switch (PQresultStatus(r))
		{
			case PGRES_PIPELINE_SYNC:
				step = 3;
				PQclear(r);
				break;
			case PGRES_TUPLES_OK:
				if (step == 1 && answer == NULL)
					answer = r;
				else
					PQclear(r);
				break;
			case PGRES_FATAL_ERROR:
				if (res->status == 0)
					result_set_error(res, r, conn);
				PQclear(r);
				break;
			default:			/* PGRES_PIPELINE_ABORTED: skipped after an error */
				PQclear(r);
				break;
		}
	}
	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF && (!ok || !PQexitPipelineMode(conn)))
		ok = false;
	if (!ok || PQstatus(conn) != CONNECTION_OK)
	{
		/* the database went away, or the connection is in no state to go on */
		if (answer)
			PQclear(answer);
		answer = NULL;
		pool_drop(pc);
		result_free(res);
		result_set_unavailable(res, "the database connection was lost");
	}
	else if (res->status == 0)
	{
		res->data = answer && PQntuples(answer) > 0 && !PQgetisnull(answer, 0, 0) ?
			json_loads(PQgetvalue(answer, 0, 0), JSON_DECODE_ANY, NULL) : json_null();
		res->status = 200;
	}
	db_release(pc);
	if (answer)
		PQclear(answer);
	free(sql);
	free(argtext);
}
