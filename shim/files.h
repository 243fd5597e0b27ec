/*
 * files.h
 *		Artifact uploads and downloads, and the admin UI's static files.
 */
#ifndef ROLLOUT_FILES_H
#define ROLLOUT_FILES_H

#include <jansson.h>
#include <libpq-fe.h>

#include "result.h"

struct mg_connection;

extern void files_configure(const char *dir, long long max_bytes);
extern int	files_upload(struct mg_connection *conn, json_t *args, const char *token, DbResult *res);
extern int	files_download(struct mg_connection *conn, void *cbdata);
extern void files_configure_web(const char *dir);
extern int	files_web(struct mg_connection *conn, void *cbdata);

#endif							/* ROLLOUT_FILES_H */
