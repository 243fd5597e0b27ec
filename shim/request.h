/*
 * request.h
 *		The request paths: a client's request (either address), and the
 *		civetweb handlers of the main address.
 */
#ifndef ROLLOUT_REQUEST_H
#define ROLLOUT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "result.h"

struct mg_context;
struct mg_callbacks;

/* A client's request (a ROUTE_CLIENT route), whichever address it came to. */
typedef struct ClientRequest
{
	int			route;			/* index in routes */
	const char *method;
	const char *path;
	const char *lang;			/* of messages */
	bool		keep;			/* the client lets the connection stay open */
	bool		admitted;		/* the rate limit was applied already */
	double		started;		/* ms */
	char		ip[64];			/* set by client_begin */
	bool		close;			/* the response closes the connection (set with it) */
	char	   *arg;			/* the call's argument, set by client_begin */
	bool		wire;			/* the call is <function>_wire (set by client_statement) */
	DbResult	res;
} ClientRequest;

extern const char *client_statement(ClientRequest *q);
extern bool client_on_primary(int route);
extern char *client_begin(ClientRequest *q, const char *peer, const char *xff, const char *user_agent,
						  const char *body, size_t blen, size_t *len);
extern char *client_end(ClientRequest *q, PGresult *r, size_t *len);

extern int	request_init(void);
extern void request_callbacks(struct mg_callbacks *callbacks);
extern void request_handlers(struct mg_context *ctx);
extern void request_drain(void);
extern int	request_in_flight(void);
extern void request_cleanup(void);

#endif							/* ROLLOUT_REQUEST_H */
