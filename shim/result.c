/*
 * result.c
 *		A call's outcome (DbResult): errors from the database mapped to HTTP
 *		statuses as PostgREST maps them, and to message keys.
 *
 * Message keys are declared, not guessed: a function of the extension names
 * its error with CONSTRAINT = '<key>' (RAISE ... USING CONSTRAINT), and the
 * key is used only if the catalogs declare "error.<key>".  Any other
 * constraint (a table's own CHECK, a unique index) gets the message of its
 * class: "invalid" for a CHECK violation, else the HTTP status's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "result.h"

/* PostgREST's mapping of SQLSTATE to HTTP status, plus our own classes (a cancelled statement: 503). */
int
result_status_for_sqlstate(const char *s)
{
	if (strncmp(s, "08", 2) == 0 || strcmp(s, "57014") == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
		strcmp(s, "57P03") == 0 || strcmp(s, "53300") == 0 || strcmp(s, "25006") == 0)
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
result_set_error(DbResult *res, const PGresult *r, PGconn *conn)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;

	snprintf(res->sqlstate, sizeof(res->sqlstate), "%s",
			 state ? state : (PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006"));
	res->status = result_status_for_sqlstate(res->sqlstate);
	res->message = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	res->detail = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL);
	res->hint = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL);
	res->field = dup_or_null(r ? PQresultErrorField(r, PG_DIAG_COLUMN_NAME) : NULL);
	if (constraint)
	{
		char		key[128];

		snprintf(key, sizeof(key), "error.%s", constraint);
		if (strlen(constraint) < 100 && i18n_has(key))
			res->key = strdup(constraint);
		else if (strcmp(res->sqlstate, "23514") == 0)
			res->key = strdup("invalid");
	}
}

/* Unless res holds an error already: the database cannot be reached (503). */
void
result_set_unavailable(DbResult *res, const char *why)
{
	if (res->status != 0)
		return;
	snprintf(res->sqlstate, sizeof(res->sqlstate), "08006");
	res->status = 503;
	res->key = strdup("unavailable");
	res->message = strdup(why);
}

/* An error decided by the shim itself, before or without SQL. */
void
result_set_request_error(DbResult *res, int status, const char *key, const char *field)
{
	result_free(res);
	res->status = status;
	res->key = strdup(key);
	res->field = dup_or_null(field);
}

void
result_free(DbResult *res)
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
