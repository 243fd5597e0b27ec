/*
 * routes.h
 *		The whole API map: one table, one SQL function of schema rollout per
 *		route, and how a request's path and query bind to its arguments.
 */
#ifndef ROLLOUT_ROUTES_H
#define ROLLOUT_ROUTES_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

/* Who may call a route; the database role then decides what it may do. */
typedef enum Auth
{
	AUTH_NONE,					/* anyone */
	AUTH_TOKEN					/* a valid bearer token, as its account's role */
} Auth;

/* Route flags */
#define ROUTE_CLIENT	1		/* a client's route: the JSON body, with the request's
								 * metadata, is the single jsonb argument; runs on the
								 * lanes as rollout_client, on either port */
#define ROUTE_SHARE_TX	2		/* a client route whose calls may share a transaction on a
								 * lane: they write nothing (a check is queued when its
								 * transaction commits), so one undone by another's error is
								 * run again */
#define ROUTE_UPLOAD	4		/* a body that is not JSON is a file, streamed to disk */
#define ROUTE_TOKEN_ARG	8		/* the bearer token itself is the argument "token" */

/* One line of the route table. */
typedef struct Route
{
	const char *method;
	const char *pattern;		/* {name} segments bind to the argument "name" */
	const char *function;		/* SQL function in schema rollout */
	Auth		auth;
	int			flags;			/* ROUTE_* */
} Route;

extern const Route routes[];
extern const int nroutes;

extern int	routes_find(const char *method, const char *path, bool *path_known);
extern int	routes_client(const char *method, const char *path);
extern bool routes_bind_path(const Route *route, const char *path, json_t *args);
extern bool routes_bind_query(const char *query, json_t *args);
extern void routes_print(FILE *out);

#endif							/* ROLLOUT_ROUTES_H */
