/*
 * request.c
 *		The request paths.  A client's request (check-update,
 *		download-started, install-result) is read by civetweb (the main
 *		address) or by an event loop (the client address, client_port.c),
 *		and then takes one path: client_begin checks and binds it, a lane
 *		runs it (lanes.c), client_end answers it.  Every other request is
 *		civetweb's, on a worker thread that takes a database connection of
 *		db.c's pool for its round trips: the admin API (db.c), uploads and
 *		downloads (files.c), /healthz and /metrics.
 */
#define _GNU_SOURCE				/* pthread_getattr_np */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <civetweb.h>

#include "config.h"
#include "db.h"
#include "files.h"
#include "i18n.h"
#include "lanes.h"
#include "metrics.h"
#include "ratelimit.h"
#include "request.h"
#include "respond.h"
#include "routes.h"
#include "standby.h"

static volatile sig_atomic_t draining;	/* stopping: new requests get 503 */
static int	in_flight;			/* requests being handled (atomic) */

/*
 * The statements of each client route, by route index: unsigned, then signed
 * in English and in Chinese (set up by request_init).  A database whose
 * extension lacks <function>_wire (not updated yet) gets unsigned answers.
 */
static char **client_sql;
static bool signed_answers;

/* The statement of q's route, in q's language; sets q->wire. */
const char *
client_statement(ClientRequest *q)
{
	q->wire = signed_answers && db_route_signed(q->route);
	if (q->wire)
		return client_sql[3 * q->route + 1 + (strcmp(q->lang, "zh-CN") == 0)];
	return client_sql[3 * q->route];
}

/*
 * Whether a client route runs on the primary's lanes: with
 * ROLLOUT_PRIMARY_URL, the reports (client routes that write, not
 * ROUTE_SHARE_TX); checks are answered by the standby.
 */
bool
client_on_primary(int route)
{
	return *config.primary_url && (routes[route].flags & ROUTE_SHARE_TX) == 0;
}

/* After the signatures are loaded.  -1 if out of memory. */
int
request_init(void)
{
	/* unsigned check-update answers: for bench/http's comparison only */
	signed_answers = getenv("ROLLOUT_BENCH_UNSIGNED") == NULL;
	client_sql = calloc(3 * nroutes, sizeof(char *));
	if (client_sql == NULL)
		return -1;
	for (int i = 0; i < nroutes; i++)
		if ((routes[i].flags & ROUTE_CLIENT) &&
			((client_sql[3 * i] = db_client_sql(&routes[i], "en", false)) == NULL ||
			 (client_sql[3 * i + 1] = db_client_sql(&routes[i], "en", true)) == NULL ||
			 (client_sql[3 * i + 2] = db_client_sql(&routes[i], "zh-CN", true)) == NULL))
			return -1;
	return 0;
}

void
request_cleanup(void)
{
	for (int i = 0; client_sql && i < 3 * nroutes; i++)
		free(client_sql[i]);
	free(client_sql);
	client_sql = NULL;
}

/* Stopping: from now on, new requests get 503. */
void
request_drain(void)
{
	draining = 1;
}

int
request_in_flight(void)
{
	return __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST);
}

/*
 * The client's address: the peer's, or the right-most of X-Forwarded-For
 * when the peer is a trusted proxy.
 */
static void
client_ip_from(const char *peer, const char *xff, char *out, size_t size)
{
	snprintf(out, size, "%s", peer);
	if (xff && *config.trusted_proxies)
	{
		char		list[1024];
		char	   *save = NULL;
		int			trusted = 0;

		snprintf(list, sizeof(list), "%s", config.trusted_proxies);
		for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
			trusted |= strcmp(t, peer) == 0;
		if (trusted)
		{
			/* the right-most address is the one our proxy saw */
			const char *last = strrchr(xff, ',');

			last = last ? last + 1 : xff;
			while (*last == ' ')
				last++;
			if (strlen(last) < size && strspn(last, "0123456789abcdefABCDEF:.") == strlen(last))
				snprintf(out, size, "%s", last);
		}
	}
}

static void
client_ip(const struct mg_connection *conn, char *out, size_t size)
{
	client_ip_from(mg_get_request_info(conn)->remote_addr, mg_get_header(conn, "X-Forwarded-For"), out, size);
}

/* ---------------------------------------------------------------------
 * A client's request
 * ---------------------------------------------------------------------
 */

/*
 * A client route's body as the JSON text of its call's one argument: the
 * body's object with the request's metadata, which comes from the
 * connection, never from the client.  NULL with res set if the body is not
 * a JSON object.
 */
static char *
client_arg(const char *body, size_t len, const char *ip, const char *user_agent, DbResult *res)
{
	json_error_t err;
	json_t	   *json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	json_t	   *ua;
	char	   *arg;

	if (!json || !json_is_object(json))
	{
		result_set_request_error(res, 400, json ? "not_object" : "bad_json", NULL);
		json_decref(json);
		return NULL;
	}
	json_object_set_new(json, "ip", json_string(ip));
	if (user_agent && (ua = json_string(user_agent)) != NULL)
		json_object_set_new(json, "user_agent", ua);
	else
		json_object_del(json, "user_agent");
	arg = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	return arg;
}

/* The response to a client's request, whose result is in q->res; the request is done. */
static char *
client_answer(ClientRequest *q, size_t *len)
{
	size_t		blen = 0;
	char	   *body = respond_body(q->lang, &q->res, &blen);
	char	   *out = body ? respond_bytes(q->res.status, body, blen, q->keep, q->res.signature, len, &q->close) : NULL;

	respond_done(q->route, q->res.status, q->started, q->method, q->path, q->ip);
	free(body);
	result_free(&q->res);
	free(q->arg);
	q->arg = NULL;
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return out;
}

/*
 * A client's request, q's input filled in.  Either its response is decided
 * here (returned, *len bytes, the request done), or NULL is returned with
 * q->arg set: then run client_statement(q->route) with it on a lane and pass
 * the result to client_end.  NULL without q->arg: out of memory.
 */
char *
client_begin(ClientRequest *q, const char *peer, const char *xff, const char *user_agent,
			 const char *body, size_t blen, size_t *len)
{
	memset(&q->res, 0, sizeof(q->res));
	q->arg = NULL;
	client_ip_from(peer, xff, q->ip, sizeof(q->ip));
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	if (draining)
		result_set_request_error(&q->res, 503, "shutting_down", NULL);
	else if (!q->admitted && !limits_allow(q->ip))
		result_set_request_error(&q->res, 429, "rate_limited", NULL);
	else if ((q->arg = client_arg(body, blen, q->ip, user_agent, &q->res)) != NULL)
		return NULL;
	return client_answer(q, len);
}

/* The response to a client's request whose call returned r, or failed into q->res. */
char *
client_end(ClientRequest *q, PGresult *r, size_t *len)
{
	if (r != NULL)
	{
		const char *v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL;
		const char *record;
		const char *body;

		if (q->wire)
		{
			/*
			 * a signed answer: its signature, a line feed, on a hot standby
			 * the check's record (which goes to the primary, outside the
			 * body the signature covers), a line feed, the body; anything
			 * else is answered 500, never as an unsigned answer
			 */
			if (v != NULL && (record = strchr(v, '\n')) != NULL && (body = strchr(record + 1, '\n')) != NULL &&
				(q->res.signature = strndup(v, record - v)) != NULL && (q->res.raw = strdup(body + 1)) != NULL)
			{
				if (body > record + 1)
					standby_add_record(record + 1, body - record - 1);
				q->res.status = 200;
			}
			else
			{
				result_free(&q->res);
				q->res.status = 500;
				snprintf(q->res.sqlstate, sizeof(q->res.sqlstate), "XX000");
				q->res.message = strdup("the database's signed answer could not be read");
			}
			PQclear(r);
			return client_answer(q, len);
		}
		/* jsonb text is JSON: passed on without parsing it again */
		q->res.raw = strdup(v ? v : "null");
		/* a check answered by a hot standby: its record goes to the primary, not to the client */
		if (q->res.raw != NULL && (routes[q->route].flags & ROUTE_SHARE_TX))
			standby_take_record(q->res.raw);
		q->res.status = 200;
		PQclear(r);
	}
	return client_answer(q, len);
}

/* ---------------------------------------------------------------------
 * civetweb's requests
 * ---------------------------------------------------------------------
 */

/*
 * Read the body with a size cap: NULL and *too_large if above max_body.  A
 * body that fits goes into stack (of size BODY_STACK + 1), else into memory
 * from malloc: free the result if it is not stack.
 */
#define BODY_STACK 8192
static char *
read_body(struct mg_connection *conn, char *stack, size_t *len, int *too_large)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t		cap = BODY_STACK,
				n = 0;
	char	   *buf = stack;

	*too_large = 0;
	if (ri->content_length > config.max_body)
	{
		*too_large = 1;
		return NULL;
	}
	for (;;)
	{
		int			got;

		if (n == cap)
		{
			if ((long) cap >= config.max_body)
			{
				/* more than announced, or chunked: still capped */
				char		sink[512];

				if (mg_read(conn, sink, sizeof(sink)) > 0)
				{
					if (buf != stack)
						free(buf);
					*too_large = 1;
					return NULL;
				}
				break;
			}
			cap = cap * 2 > (size_t) config.max_body ? (size_t) config.max_body : cap * 2;
			if (buf == stack)
			{
				buf = malloc(cap + 1);
				memcpy(buf, stack, n);
			}
			else
				buf = realloc(buf, cap + 1);
		}
		got = mg_read(conn, buf + n, cap - n);
		if (got <= 0)
			break;
		n += got;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Answer a civetweb request with res, count it and log it. */
static void
send_result(struct mg_connection *conn, int route, const char *lang, const DbResult *res, double started,
			const char *ip)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t		blen = 0;
	char	   *body = respond_body(lang, res, &blen);

	respond_civet(conn, res->status, "application/json; charset=utf-8", body ? body : "", body ? blen : 0);
	respond_done(route, res->status, started, ri->request_method, ri->local_uri, ip);
	free(body);
}

/* A request error decided here (no SQL ran). */
static void
send_error(struct mg_connection *conn, int route, int status, const char *lang, const char *key,
		   double started, const char *ip)
{
	DbResult	res = {0};

	result_set_request_error(&res, status, key, NULL);
	send_result(conn, route, lang, &res, started, ip);
	result_free(&res);
}

/* Does the client of a civetweb request let the connection stay open? */
static bool
client_keeps(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *c = mg_get_header(conn, "Connection");

	return strcmp(ri->http_version, "1.1") == 0 && (c == NULL || mg_strcasecmp(c, "close") != 0);
}

/* A client's request that came to the main address: the same path as on the client address. */
static void
client_request(struct mg_connection *conn, int route, const char *lang, double started, const char *ip)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	ClientRequest q = {.route = route, .method = ri->request_method, .path = ri->local_uri, .lang = lang,
	.keep = client_keeps(conn), .admitted = true, .started = started};
	char		stack[BODY_STACK + 1];
	size_t		blen = 0,
				len = 0;
	int			too_large;
	char	   *body;
	char	   *out;

	/* clients are limited per address, before their body is even read */
	if (!limits_allow(ip))
	{
		send_error(conn, route, 429, lang, "rate_limited", started, ip);
		return;
	}
	body = read_body(conn, stack, &blen, &too_large);
	if (too_large)
	{
		send_error(conn, route, 413, lang, "body_too_large", started, ip);
		return;
	}
	out = client_begin(&q, ri->remote_addr, mg_get_header(conn, "X-Forwarded-For"),
					   mg_get_header(conn, "User-Agent"), body, blen, &len);
	if (body != stack)
		free(body);
	if (out == NULL && q.arg != NULL)
	{
		PGresult   *r = lanes_call(client_statement(&q), q.arg, (routes[route].flags & ROUTE_SHARE_TX) != 0,
								   client_on_primary(route), &q.res);

		out = client_end(&q, r, &len);
	}
	if (out)
		mg_write(conn, out, len);
	free(out);
}

/* Every /api and /admin/api request of the main address. */
static int
api_handler(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *lang = i18n_lang(mg_get_header(conn, "Accept-Language"));
	double		started = now_ms();
	char		ip[64];
	bool		path_known;
	int			index = routes_find(ri->request_method, ri->local_uri, &path_known);
	const Route *route;
	json_t	   *args;
	const char *authz = mg_get_header(conn, "Authorization");
	const char *token = NULL;
	const char *ctype = mg_get_header(conn, "Content-Type");
	DbResult	res = {0};

	(void) cbdata;
	client_ip(conn, ip, sizeof(ip));
	if (index < 0)
	{
		send_error(conn, -1, path_known ? 405 : 404, lang, path_known ? "method_not_allowed" : "route_not_found",
				   started, ip);
		return 1;
	}
	route = &routes[index];
	if (route->flags & ROUTE_CLIENT)
	{
		client_request(conn, index, lang, started, ip);
		return 1;
	}
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
		token = authz + 7;
	if (route->auth == AUTH_TOKEN && token == NULL)
	{
		send_error(conn, index, 401, lang, "invalid_token", started, ip);
		return 1;
	}

	/* arguments: query string, then the JSON body, then path parameters */
	args = json_object();
	if (!routes_bind_query(ri->query_string, args))
	{
		send_error(conn, index, 400, lang, "bad_query", started, ip);
		json_decref(args);
		return 1;
	}
	if ((route->flags & ROUTE_UPLOAD) && ctype && strncasecmp(ctype, "application/json", 16) != 0)
	{
		/* a file: streamed to disk, then registered */
		routes_bind_path(route, ri->local_uri, args);
		files_upload(conn, args, token, &res);
		goto answer;
	}
	if (strcmp(ri->request_method, "POST") == 0 || strcmp(ri->request_method, "PUT") == 0)
	{
		size_t		len = 0;
		int			too_large;
		char		stack[BODY_STACK + 1];
		char	   *text = read_body(conn, stack, &len, &too_large);
		json_t	   *json = NULL;
		json_error_t err;

		if (too_large)
		{
			send_error(conn, index, 413, lang, "body_too_large", started, ip);
			json_decref(args);
			return 1;
		}
		if (len > 0)
			json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
		if (text != stack)
			free(text);
		if (len > 0 && (json == NULL || !json_is_object(json)))
		{
			send_error(conn, index, 400, lang, json ? "not_object" : "bad_json", started, ip);
			json_decref(json);
			json_decref(args);
			return 1;
		}
		if (json)
			json_object_update(args, json);
		json_decref(json);
	}
	if (!routes_bind_path(route, ri->local_uri, args))
	{
		send_error(conn, index, 400, lang, "bad_query", started, ip);
		json_decref(args);
		return 1;
	}
	if ((route->flags & ROUTE_TOKEN_ARG) && token)
		json_object_set_new(args, "token", json_string(token));
	if (route->flags & ROUTE_CLIENT_IP)
		json_object_set_new(args, "ip", json_string(ip));
	db_call(route, args, token, &res);
	if (route->flags & ROUTE_ERROR_RESULT)
		result_from_error_object(&res);
answer:
	if ((routes[index].flags & ROUTE_PEM) && res.status == 200 && json_is_string(res.data))
	{
		/* the function's text as a PEM file */
		const struct mg_request_info *ri = mg_get_request_info(conn);
		const char *text = json_string_value(res.data);

		respond_civet(conn, 200, "application/x-pem-file", text, strlen(text));
		respond_done(index, 200, started, ri->request_method, ri->local_uri, ip);
	}
	else
		send_result(conn, index, lang, &res, started, ip);
	result_free(&res);
	json_decref(args);
	return 1;
}

/*
 * The recorder's health from rollout.check_queue(): "ok" (it records this
 * database's checks), "unavailable" (it should and does not: each check is
 * recorded by its own transaction, at a third of the throughput), "off"
 * (not configured for this database), "unknown" (state not readable).
 */
static const char *
recorder_health(const json_t *state)
{
	if (state == NULL)
		return "unknown";
	if (json_is_true(json_object_get(state, "enabled")))
		return "ok";
	if (json_is_true(json_object_get(state, "expected")))
		return "unavailable";
	return "off";
}

/*
 * /healthz: the process answers, the database does too, and the check
 * recorder runs.  A missing recorder is "degraded" with 200: requests are
 * still served correctly, only slower, so a load balancer must not take the
 * server out; 503 is for the database alone.
 */
static int
healthz(struct mg_connection *conn, void *cbdata)
{
	double		started = now_ms();
	bool		ok;
	json_t	   *state = db_check_queue(&ok);
	const char *recorder = recorder_health(state);
	const char *message = !ok ? "unavailable" : strcmp(recorder, "unavailable") == 0 ? "degraded" : "ok";
	json_t	   *body = json_pack("{s:i, s:s, s:{s:s, s:s, s:s}}", "code", ok ? 200 : 503, "message", message,
								 "data", "process", "ok", "database", ok ? "ok" : "unavailable",
								 "recorder", recorder);
	char	   *text = json_dumps(body, JSON_COMPACT);
	char		ip[64];

	(void) cbdata;
	client_ip(conn, ip, sizeof(ip));
	respond_civet(conn, ok ? 200 : 503, "application/json; charset=utf-8", text, strlen(text));
	respond_done(-1, ok ? 200 : 503, started, "GET", "/healthz", ip);
	free(text);
	json_decref(body);
	json_decref(state);
	return 1;
}

/* /metrics: Prometheus text format, the recorder's state read at scrape time. */
static int
metrics(struct mg_connection *conn, void *cbdata)
{
	bool		db_ok;
	json_t	   *state = db_check_queue(&db_ok);
	json_t	   *login = db_ok ? db_login_metrics() : NULL;
	char	   *text = metrics_text(state, login);

	(void) cbdata;
	json_decref(state);
	json_decref(login);
	respond_civet(conn, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
	return 1;
}

/*
 * Every handler runs through this: counts requests in flight, so that a
 * shutdown can wait for them, and turns new requests away once it began.
 */
typedef struct Counted
{
	int			(*handler) (struct mg_connection *conn, void *cbdata);
} Counted;

static int
counted(struct mg_connection *conn, void *cbdata)
{
	const Counted *c = cbdata;
	int			rc = 1;

	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	if (draining)
	{
		char		ip[64];

		client_ip(conn, ip, sizeof(ip));
		send_error(conn, -1, 503, i18n_lang(mg_get_header(conn, "Accept-Language")), "shutting_down", now_ms(), ip);
	}
	else
		rc = c->handler(conn, NULL);
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return rc;
}

/* civetweb's authorization step: these routes authenticate in the database (bearer tokens) */
static int
authorized(struct mg_connection *conn, void *cbdata)
{
	(void) conn;
	(void) cbdata;
	return 1;
}

/*
 * A connection ended on this worker thread: give back the pages of its stack
 * below the current frame.  An open connection holds a thread, so there are
 * many (ROLLOUT_THREADS), each with a stack of its own that the kernel keeps
 * once touched; without this, every thread's stack stays as deep as the
 * deepest request it ever served, and the resident memory grows for as long
 * as threads meet deeper paths (measured in docs/reliability.md).  The next
 * request touches what it needs again (zero pages, one fault per page).
 */
static void
release_stack(const struct mg_connection *conn)
{
	static long page;
	pthread_attr_t attr;
	void	   *low;
	size_t		size;
	char		here;
	uintptr_t	keep;

	(void) conn;
	if (page == 0)
		page = sysconf(_SC_PAGESIZE);
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	/* a page below this frame for the calls from here (madvise, the return) */
	keep = ((uintptr_t) &here - 4096) & ~(uintptr_t) (page - 1);
	if (pthread_attr_getstack(&attr, &low, &size) == 0 && keep > (uintptr_t) low)
		madvise(low, keep - (uintptr_t) low, MADV_DONTNEED);
	pthread_attr_destroy(&attr);

	/*
	 * and, at most every ten seconds, the free pages malloc keeps in its
	 * arenas: hundreds of threads leave free memory behind in many of them
	 */
	{
		static atomic_long last_trim;
		long		now = (long) time(NULL);
		long		was = atomic_load(&last_trim);

		if (now - was >= 10 && atomic_compare_exchange_strong(&last_trim, &was, now))
			malloc_trim(0);
	}
}

void
request_callbacks(struct mg_callbacks *callbacks)
{
	/* nothing per thread: the database connections are db.c's pool */
	callbacks->connection_closed = release_stack;
}

/* The main address's handlers; every other path is the admin UI's. */
void
request_handlers(struct mg_context *ctx)
{
	static Counted api = {api_handler}, health = {healthz}, prom = {metrics},
				download = {files_download}, web = {files_web};

	mg_set_request_handler(ctx, "/api/", counted, &api);
	mg_set_request_handler(ctx, "/admin/api/", counted, &api);
	mg_set_request_handler(ctx, "/healthz$", counted, &health);
	mg_set_request_handler(ctx, "/metrics$", counted, &prom);
	mg_set_request_handler(ctx, "/download/", counted, &download);
	/* last: handlers registered earlier match first */
	mg_set_request_handler(ctx, "/", counted, &web);

	/*
	 * Never civetweb's password files: without this, civetweb looks for a
	 * .htpasswd file, one failing stat per request.
	 */
	mg_set_auth_handler(ctx, "/api/", authorized, NULL);
	mg_set_auth_handler(ctx, "/admin/api/", authorized, NULL);
	mg_set_auth_handler(ctx, "/healthz$", authorized, NULL);
	mg_set_auth_handler(ctx, "/metrics$", authorized, NULL);
}
