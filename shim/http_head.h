/*
 * http_head.h
 *		The client address's reading of a request head (http_head.c).
 */
#ifndef ROLLOUT_HTTP_HEAD_H
#define ROLLOUT_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

typedef enum HeadKind
{
	HEAD_INCOMPLETE,			/* the head has not fully arrived */
	HEAD_CLIENT,				/* a plain POST with a Content-Length: see HttpHead */
	HEAD_OTHER					/* anything else: not for the client address */
} HeadKind;

/* A plain request's head; every pointer points into the parsed buffer. */
typedef struct HttpHead
{
	size_t		head_len;		/* bytes up to and including the blank line */
	long		content_length;
	bool		keep_alive;		/* HTTP/1.1 without Connection: close */
	bool		expect_continue;	/* Expect: 100-continue */
	char	   *path;			/* the request target: '/' then no '?', '%', '#', space or control */
	size_t		path_len;
	char	   *lang;			/* Accept-Language, or NULL; so are the next */
	size_t		lang_len;
	char	   *user_agent;
	size_t		user_agent_len;
	char	   *forwarded_for;	/* X-Forwarded-For */
	size_t		forwarded_for_len;
} HttpHead;

extern HeadKind http_head_parse(char *buf, size_t len, size_t head_max, HttpHead *h);
extern bool http_head_value(const char *buf, size_t len, size_t head_max, const char *name, char *out,
							size_t size);

#endif							/* ROLLOUT_HTTP_HEAD_H */
