/*
 * db.h
 *		rollout-http's database connections for everything but the clients'
 *		routes: a pool (db_acquire, db_release), one transaction per request.
 */
#ifndef ROLLOUT_DB_H
#define ROLLOUT_DB_H

#include <stdbool.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "result.h"
#include "routes.h"

extern int	db_load_signatures(void);
extern int	db_reload_signatures(PGconn *conn);
extern void db_cleanup(void);
extern PGconn *db_connect(void);
extern PGconn *db_connect_to(const char *conninfo);
extern bool db_alive(PGconn *conn);
extern PGconn **db_acquire(void);
extern void db_release(PGconn **pc);
extern json_t *db_check_queue(bool *db_ok);
extern char *db_client_sql(const Route *route, const char *lang, bool signed_answers);
extern bool db_route_signed(int route);
extern json_t *db_login_metrics(void);
extern void db_call(const Route *route, json_t *args, const char *token, DbResult *res);

#endif							/* ROLLOUT_DB_H */
