/*
 * shim.h
 *		rollout-http: shared declarations of the HTTP shim.
 */
#ifndef ROLLOUT_SHIM_H
#define ROLLOUT_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

/* Who may call a route; the database role then decides what it may do. */
typedef enum Auth
{
	AUTH_NONE,					/* anyone, as rollout_client */
	AUTH_TOKEN					/* a valid bearer token, as its account's role */
} Auth;

/* One line of the route table: the whole map of the API. */
typedef struct Route
{
	const char *method;
	const char *pattern;		/* {name} segments bind to the argument "name" */
	const char *function;		/* SQL function in schema rollout */
	const char *wrap;			/* optional function applied to the result */
	Auth		auth;
	int			flags;			/* ROUTE_* */
} Route;

/* Route flags */
#define ROUTE_BODY		1		/* the JSON body is the single jsonb argument */
#define ROUTE_SHARE_TX	2		/* a client route whose calls may share a transaction on a lane:
								 * they write nothing (a check is queued when its transaction
								 * commits), so one undone by another's error is run again */
#define ROUTE_CLIENT_IP	4		/* the client's address is the argument "ip" (never the body's) */
#define ROUTE_ERROR_RESULT 8	/* the function answers a refusal as {"error": {sqlstate,
								 * constraint, message, detail}} instead of raising it, so
								 * that what it recorded commits (try_login's throttle) */

/* A function's signature, read from pg_catalog at start-up. */
typedef struct Signature
{
	char	   *name;
	int			nargs;
	int			nrequired;
	char	  **argnames;
	char	  **argtypes;
} Signature;

extern const Route routes[];
extern const int nroutes;

/* i18n.c */
extern int	i18n_load(const char *dir);
extern const char *i18n_lang(const char *accept_language);
extern char *i18n_message(const char *lang, const char *key, const char *field);

/* db.c */
typedef struct DbResult
{
	int			status;			/* HTTP status */
	json_t	   *data;			/* result on success */
	char	   *raw;			/* or its JSON text, as the database wrote it */
	char		sqlstate[6];
	char	   *message;		/* database message (English) */
	char	   *detail;
	char	   *hint;
	char	   *field;			/* the error's COLUMN */
	char	   *key;			/* the error's CONSTRAINT: a message key */
} DbResult;

extern int	db_load_signatures(const char *conninfo);
extern PGconn *db_connect(const char *conninfo);
extern bool db_alive(PGconn *conn);
extern int	db_ensure(PGconn **pc, const char *conninfo);
extern void db_thread_end(void);
extern json_t *db_check_queue(PGconn **pc, const char *conninfo, bool *db_ok);
extern void db_call(PGconn **conn, const char *conninfo, const Route *route,
					json_t *args, const char *token, DbResult *res);
extern void db_result_free(DbResult *res);
extern char *db_client_sql(const Route *route);
extern void db_client_call(const char *sql, const char *arg, bool shared, DbResult *res);
extern void db_client_result(PGresult *r, DbResult *res);
extern int	db_status_for_sqlstate(const char *sqlstate);
extern void db_error_result(DbResult *res);
extern json_t *db_login_metrics(PGconn **pc, const char *conninfo);
extern void db_set_error(DbResult *res, const PGresult *r, PGconn *conn);
extern void db_set_unavailable(DbResult *res, const char *why);

/* main.c: a client's request read by the front door (front.c) */
typedef struct ClientRequest
{
	int			route;			/* index in routes, of a ROUTE_BODY route */
	const char *method;
	const char *path;
	const char *lang;			/* of messages */
	bool		keep;			/* the client lets the connection stay open */
	double		started;		/* ms */
	char		ip[64];			/* set by client_begin */
	bool		close;			/* the response closes the connection (set with it) */
	char	   *arg;			/* the call's argument, set by client_begin */
	DbResult	res;
} ClientRequest;

extern int	client_route(const char *method, const char *path);
extern const char *client_statement(int route);
extern char *client_begin(ClientRequest *q, const char *peer, const char *xff, const char *user_agent,
						  const char *body, size_t blen, size_t *len);
extern char *client_end(ClientRequest *q, PGresult *r, size_t *len);
extern double now_ms(void);

/* front.c */
extern int	front_start(const char *listen_addr, int internal_port, int nloops, long max_body,
						int keep_alive_ms);
extern void front_stop(void);
extern bool front_peer(int port, char *out, size_t size);

/* lanes.c */
#include <semaphore.h>

/* What a batch may carry: its requests' bytes stay well inside socket buffers. */
#define LANE_BATCH_CALLS 64
#define LANE_BATCH_BYTES 65536

/* One client request to run on a lane: one statement with one parameter. */
typedef struct LaneCall
{
	const char *sql;
	const char *arg;
	DbResult   *res;			/* status 0 on entry; filled if the call failed */
	PGresult   *out;			/* its result */
	bool		shared;			/* may share a transaction with the calls beside it */
	bool		done;			/* lanes_call: its result is in (atomic) */
	sem_t		wake;			/* lanes_call: posted once, done or to lead */
	struct LaneCall *next;
} LaneCall;

typedef struct Lane Lane;

extern void lanes_start(int n, const char *conninfo, int timeout_ms);
extern void lanes_stop(void);
extern PGresult *lanes_call(const char *sql, const char *arg, bool shared, DbResult *res);
extern Lane *lanes_new(void);
extern void lanes_free(Lane *lane);
extern void lanes_run(Lane *lane, LaneCall *batch);
extern LaneCall *lanes_cut_batch(LaneCall *head);

/* limits.c */
extern void limits_set_rate(double per_second);
extern int	limits_allow(const char *ip);
extern void metrics_init(int nthreads, int nlanes);
extern void metrics_record(int route, int status, double seconds);
extern void metrics_connection(int delta);
extern char *metrics_text(const json_t *recorder, const json_t *login);

/* files.c */
struct mg_connection;
extern void files_configure(const char *dir, long long max_bytes);
extern int	files_upload(struct mg_connection *conn, PGconn **pc, const char *conninfo, json_t *args,
						 const char *token, DbResult *res);
extern int	files_download(struct mg_connection *conn, void *cbdata);
extern void files_configure_web(const char *dir);
extern int	files_web(struct mg_connection *conn, void *cbdata);

/* live.c */
struct mg_context;
extern void live_start(struct mg_context *ctx, const char *conninfo);
extern void live_stop(void);

#endif							/* ROLLOUT_SHIM_H */
