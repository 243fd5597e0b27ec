/*
 * db.c
 *		rollout-http's database side: function signatures from pg_catalog,
 *		binding JSON to named arguments, one transaction per request.
 *
 * Nothing from a request is ever spliced into SQL: argument names come from
 * pg_catalog (and are quoted), values travel as one $1::jsonb parameter and
 * are typed by jsonb_to_record, roles come from a fixed list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <poll.h>

#include "shim.h"

static Signature *sigs;
static int	nsigs;

static void forget_conn(const PGconn *conn);

/* The signature of a rollout function, or NULL. */
static const Signature *
find_signature(const char *name)
{
	for (int i = 0; i < nsigs; i++)
		if (strcmp(sigs[i].name, name) == 0)
			return &sigs[i];
	return NULL;
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

/* Read every function of schema rollout that a route uses. */
int
db_load_signatures(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo);
	PGresult   *r;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "rollout-http: cannot connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
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
		PQfinish(conn);
		return -1;
	}
	nsigs = PQntuples(r);
	sigs = calloc(nsigs, sizeof(Signature));
	for (int i = 0; i < nsigs; i++)
	{
		Signature  *s = &sigs[i];

		s->name = strdup(PQgetvalue(r, i, 0));
		split_array(PQgetvalue(r, i, 1), &s->argnames);
		split_array(PQgetvalue(r, i, 2), &s->argtypes);
		s->nargs = atoi(PQgetvalue(r, i, 3));
		s->nrequired = s->nargs - atoi(PQgetvalue(r, i, 4));
	}
	PQclear(r);
	PQfinish(conn);
	for (int i = 0; i < nroutes; i++)
	{
		if (!find_signature(routes[i].function) ||
			(routes[i].wrap && !find_signature(routes[i].wrap)))
		{
			fprintf(stderr, "rollout-http: the database lacks rollout.%s (update the extension)\n",
					find_signature(routes[i].function) ? routes[i].wrap : routes[i].function);
			return -1;
		}
	}
	return 0;
}

/* A new connection, or NULL. */
PGconn *
db_connect(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		PQfinish(conn);
		return NULL;
	}
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
 * Make sure *pc is a live connection: reconnect if it is missing or broken,
 * keeping the connection gauge of /metrics right.  Returns 0 if it is.
 */
int
db_ensure(PGconn **pc, const char *conninfo)
{
	if (db_alive(*pc))
		return 0;
	if (*pc)
	{
		forget_conn(*pc);
		PQfinish(*pc);
		metrics_connection(-1);
	}
	*pc = db_connect(conninfo);
	if (*pc == NULL)
		return -1;
	metrics_connection(1);
	return 0;
}

/*
 * The check recorder's state, rollout.check_queue(), read on the calling
 * thread's own connection *pc: /healthz and /metrics never wait behind
 * client requests on a lane.  Returns the object (the caller frees it), or
 * NULL if it could not be read; *db_ok says whether the database answered
 * at all (a missing privilege or extension is the recorder's "unknown", not
 * the database's outage).
 */
json_t *
db_check_queue(PGconn **pc, const char *conninfo, bool *db_ok)
{
	PGresult   *r;
	json_t	   *state = NULL;

	*db_ok = db_ensure(pc, conninfo) == 0;
	if (!*db_ok)
		return NULL;
	r = PQexec(*pc, "SELECT rollout.check_queue()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		state = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	else if (PQstatus(*pc) != CONNECTION_OK)
		*db_ok = false;
	PQclear(r);
	if (state != NULL && !json_is_object(state))
	{
		json_decref(state);
		state = NULL;
	}
	return state;
}

/* PostgREST's mapping of SQLSTATE to HTTP status, plus our own classes (a cancelled statement: 503). */
int
db_status_for_sqlstate(const char *s)
{
	if (strncmp(s, "08", 2) == 0 || strcmp(s, "57014") == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
		strcmp(s, "57P03") == 0 || strcmp(s, "53300") == 0)
		return 503;
	if (strcmp(s, "28P01") == 0 || strcmp(s, "28000") == 0)
		return 401;
	if (strcmp(s, "42501") == 0)
		return 403;
	if (strcmp(s, "P0002") == 0 || strcmp(s, "42883") == 0)
		return 404;
	if (strcmp(s, "23505") == 0 || strcmp(s, "23503") == 0 || strcmp(s, "40001") == 0)
		return 409;
	if (strcmp(s, "54000") == 0)
		return 413;
	if (strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0 || strcmp(s, "42P02") == 0)
		return 400;
	return 500;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Fill res from a failed result (r NULL: from the connection's state). */
void
db_set_error(DbResult *res, const PGresult *r, PGconn *conn)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	snprintf(res->sqlstate, sizeof(res->sqlstate), "%s",
			 state ? state : (PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006"));
	res->status = db_status_for_sqlstate(res->sqlstate);
	res->message = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	res->detail = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL);
	res->hint = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL);
	res->field = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_COLUMN_NAME) : NULL);
	res->key = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL);
	if (res->key && strchr(res->key, '_') && strstr(res->key, "_check"))
	{
		/* a table constraint, not one of our message keys */
		free(res->key);
		res->key = strdup("invalid");
	}
}

/* Unless res holds an error already: the database cannot be reached (503). */
void
db_set_unavailable(DbResult *res, const char *why)
{
	if (res->status != 0)
		return;
	snprintf(res->sqlstate, sizeof(res->sqlstate), "08006");
	res->status = 503;
	res->key = strdup("unavailable");
	res->message = strdup(why);
}

/* Set a request error decided by the shim itself (no SQL ran). */
static void
set_shim_error(DbResult *res, int status, const char *key, const char *field)
{
	res->sqlstate[0] = '\0';
	res->status = status;
	res->key = strdup(key);
	res->field = dup_or_null(field);
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
 * required arguments are request errors.
 */
static char *
build_call(const Route *route, json_t *args, DbResult *res)
{
	const Signature *s = find_signature(route->function);
	Buf			call = {0},
				cols = {0};
	const char *key;
	json_t	   *value;
	int			n = 0;

	if (route->flags & ROUTE_BODY)
	{
		Buf			b = {0};

		/* the clients' functions return jsonb already */
		buf_add(&b, "SELECT rollout.");
		buf_ident(&b, route->function);
		buf_add(&b, "($1::jsonb)");
		return b.data;
	}
	json_object_foreach(args, key, value)
	{
		int			found = 0;

		for (int i = 0; i < s->nargs && !found; i++)
			found = strcmp(s->argnames[i], key) == 0;
		if (!found)
		{
			set_shim_error(res, 400, "unknown_field", key);
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
				set_shim_error(res, 400, "required", s->argnames[i]);
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
	{
		Buf			b = {0};

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
}

/*
 * Server-side prepared statements, per connection: the SQL texts this
 * thread's connection has prepared, as statements "r0", "r1", ...  A new
 * connection starts over.  Prepared statements are re-planned by the server
 * when what they use changes, so they never go stale.
 */
#define MAX_PREPARED 64
static __thread const PGconn *prepared_conn;
static __thread int nprepared;
static __thread char *prepared_sql[MAX_PREPARED];

static void
forget_prepared(void)
{
	for (int i = 0; i < nprepared; i++)
		free(prepared_sql[i]);
	nprepared = 0;
}

/*
 * conn is about to be closed: forget what it prepared.  (The next connection
 * may well get the same address from malloc, and would then be taken for
 * this one: "prepared statement r0 does not exist" after every reconnection.)
 */
static void
forget_conn(const PGconn *conn)
{
	if (prepared_conn == conn)
	{
		forget_prepared();
		prepared_conn = NULL;
	}
}

/* A worker thread ends: forget what its connection prepared. */
void
db_thread_end(void)
{
	forget_prepared();
	prepared_conn = NULL;
}

/* The index of sql among this connection's prepared statements, or -1. */
static int
prepared_index(const PGconn *conn, const char *sql)
{
	if (prepared_conn != conn)
	{
		forget_prepared();
		prepared_conn = conn;
	}
	for (int i = 0; i < nprepared; i++)
		if (strcmp(prepared_sql[i], sql) == 0)
			return i;
	return -1;
}

/* Run one statement, prepared on first use; on failure fill res and return NULL. */
static PGresult *
run(PGconn *conn, const char *sql, int nparams, const char *const *params, DbResult *res)
{
	PGresult   *r;
	int			i = prepared_index(conn, sql);
	char		name[16];

	if (i < 0 && nprepared < MAX_PREPARED)
	{
		/* prepared only once the server accepted it */
		snprintf(name, sizeof(name), "r%d", nprepared);
		r = PQprepare(conn, name, sql, nparams, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			db_set_error(res, r, conn);
			PQclear(r);
			return NULL;
		}
		PQclear(r);
		prepared_sql[nprepared] = strdup(sql);
		i = nprepared++;
	}
	if (i >= 0)
	{
		snprintf(name, sizeof(name), "r%d", i);
		r = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
	}
	else
		r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	db_set_error(res, r, conn);
	PQclear(r);
	return NULL;
}

/* The statement of a client route (ROUTE_BODY): its one argument is the body. */
char *
db_client_sql(const Route *route)
{
	return build_call(route, NULL, NULL);
}

/* A client call's result r (NULL if it failed: res is filled) into res; frees r. */
void
db_client_result(PGresult *r, DbResult *res)
{
	if (r == NULL)
		return;
	/* jsonb text is JSON: passed on without parsing it again */
	res->raw = strdup(PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "null");
	PQclear(r);
	res->status = 200;
}

/* Run a client's statement on a shared lane (lanes.c); its result, or error, into res. */
void
db_client_call(const char *sql, const char *arg, bool shared, DbResult *res)
{
	db_client_result(lanes_call(sql, arg, shared, res), res);
}

/*
 * Run a route in one transaction: authenticate the token (if the route
 * needs one), set the actor and the database role, call the function.
 * Reconnects once if the connection was lost; 503 if that fails too.
 */
void
db_call(PGconn **connp, const char *conninfo, const Route *route, json_t *args,
		const char *token, DbResult *res)
{
	PGconn	   *conn;
	PGresult   *r;
	char	   *sql = NULL;
	char	   *argtext = NULL;
	const char *actor = "";
	const char *role = "rollout_client";
	char		actor_buf[128] = "";
	char		role_buf[64] = "";

	memset(res, 0, sizeof(*res));
	if (route->auth == AUTH_NONE && !route->wrap)
	{
		/* a client's request: one statement, on a shared lane (lanes.c) */
		sql = build_call(route, args, res);
		if (sql == NULL)
			return;
		argtext = json_dumps(args, JSON_COMPACT);
		db_client_call(sql, argtext, (route->flags & ROUTE_SHARE_TX) != 0, res);
		free(sql);
		free(argtext);
		return;
	}

	if (db_ensure(connp, conninfo) != 0)
	{
		db_set_unavailable(res, "cannot connect to the database");
		return;
	}
	conn = *connp;

	if (!(r = run(conn, "BEGIN", 0, NULL, res)))
		goto lost;
	PQclear(r);

	if (route->auth == AUTH_TOKEN)
	{
		const char *p[1] = {token ? token : ""};

		if (!(r = run(conn, "SELECT a ->> 'username', a ->> 'db_role' FROM rollout.authenticate($1) a", 1, p, res)))
			goto fail;
		snprintf(actor_buf, sizeof(actor_buf), "%s", PQgetvalue(r, 0, 0));
		snprintf(role_buf, sizeof(role_buf), "%s", PQgetvalue(r, 0, 1));
		PQclear(r);
		actor = actor_buf;
		/* only our own roles, whatever the database said */
		if (strcmp(role_buf, "rollout_admin") != 0 && strcmp(role_buf, "rollout_maintainer") != 0 &&
			strcmp(role_buf, "rollout_reader") != 0)
			snprintf(role_buf, sizeof(role_buf), "rollout_reader");
		role = role_buf;
	}
	{
		const char *p[2] = {actor, role};

		if (!(r = run(conn, "SELECT set_config('rollout.actor', $1, true), set_config('role', $2, true)", 2, p, res)))
			goto fail;
		PQclear(r);
	}

	sql = build_call(route, args, res);
	if (sql == NULL)
		goto fail;
	argtext = json_dumps(args, JSON_COMPACT);
	{
		const char *p[1] = {argtext};

		if (!(r = run(conn, sql, 1, p, res)))
			goto fail;
	}
	if (route->wrap && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
	{
		/* answer with the created object: a second statement sees the new row */
		Buf			w = {0};
		char	   *id = strdup(PQgetvalue(r, 0, 0));
		const char *p[1] = {id};

		PQclear(r);
		buf_add(&w, "SELECT to_jsonb(rollout.");
		buf_ident(&w, route->wrap);
		buf_add(&w, "($1::bigint))");
		r = run(conn, w.data, 1, p, res);
		free(w.data);
		free(id);
		if (!r)
			goto fail;
	}
	res->data = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ?
		json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, NULL) : json_null();
	PQclear(r);
	if (!(r = run(conn, "COMMIT", 0, NULL, res)))
	{
		json_decref(res->data);
		res->data = NULL;
		goto lost;
	}
	PQclear(r);
	res->status = 200;
	free(sql);
	free(argtext);
	return;

fail:
	PQclear(PQexec(conn, "ROLLBACK"));
lost:
	free(sql);
	free(argtext);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		/* the database went away: 503, and a fresh connection next time */
		forget_conn(conn);
		PQfinish(conn);
		metrics_connection(-1);
		*connp = NULL;
		res->status = 503;
		if (!res->key)
			res->key = strdup("unavailable");
	}
}

void
db_result_free(DbResult *res)
{
	if (res->data)
		json_decref(res->data);
	free(res->raw);
	free(res->message);
	free(res->detail);
	free(res->hint);
	free(res->field);
	free(res->key);
	memset(res, 0, sizeof(*res));
}
