/*
 * respond.h
 *		Responses: the envelope, errors in the request's language, the HTTP
 *		bytes of the fast path, civetweb's response API for the rest, and the
 *		access log.
 */
#ifndef ROLLOUT_RESPOND_H
#define ROLLOUT_RESPOND_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

struct mg_connection;

extern int	respond_init(void);
extern void respond_cleanup(void);
extern double now_ms(void);
extern char *respond_body(const char *lang, const DbResult *res, size_t *len);
extern char *respond_bytes(int status, const char *body, size_t blen, bool keep, size_t *len, bool *closes);
extern void respond_civet(struct mg_connection *conn, int status, const char *content_type,
						  const char *body, size_t blen);
extern void respond_done(int route, int status, double started, const char *method, const char *path,
						 const char *ip);

#endif							/* ROLLOUT_RESPOND_H */
