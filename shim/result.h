/*
 * result.h
 *		The outcome of a request's call: its data, or an error with its HTTP
 *		status and message key.  Filled by db.c and lanes.c, read by respond.c.
 */
#ifndef ROLLOUT_RESULT_H
#define ROLLOUT_RESULT_H

#include <jansson.h>
#include <libpq-fe.h>

typedef struct DbResult
{
	int			status;			/* HTTP status; 0 while unknown */
	json_t	   *data;			/* result on success */
	char	   *raw;			/* or its JSON text, as the database wrote it */
	char		sqlstate[6];	/* "" for an error decided by the shim */
	char	   *message;		/* database message (English) */
	char	   *detail;
	char	   *hint;
	char	   *field;			/* the error's COLUMN */
	char	   *key;			/* a message key of the catalogs (error.<key>), or NULL */
} DbResult;

extern int	result_status_for_sqlstate(const char *sqlstate);
extern void result_set_error(DbResult *res, const PGresult *r, PGconn *conn);
extern void result_set_unavailable(DbResult *res, const char *why);
extern void result_set_request_error(DbResult *res, int status, const char *key, const char *field);
extern void result_free(DbResult *res);

#endif							/* ROLLOUT_RESULT_H */
