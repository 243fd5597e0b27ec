/*
 * net.h
 *		rollout-client's HTTP layer (net.c), over libcurl.
 */
#ifndef ROLLOUT_CLIENT_NET_H
#define ROLLOUT_CLIENT_NET_H

#include "client.h"

#define CLIENT_VERSION "0.4.0"

typedef struct NetOptions
{
	int			timeout;		/* seconds: a whole small request; a stalled download */
	const char *ca_file;
	const char *accept_language;
} NetOptions;

typedef struct HttpAnswer
{
	long		status;
	Buf			body;
	int			too_big;		/* body over MAX_ANSWER_BYTES */
	int			sig_count;		/* X-Rollout-Signature headers seen */
	char		sig_header[MAX_HEADER_BYTES];
	size_t		sig_len;		/* (size_t) -1 when too long */
	char		error[256];
} HttpAnswer;

/* http_download's results */
#define DL_OK		0
#define DL_NETWORK	1			/* interrupted: the part file is kept */
#define DL_SERVER	2			/* an error status */
#define DL_TOO_LONG	3			/* more bytes than announced */
#define DL_LOCAL	4			/* cannot write the part file */

typedef struct DownloadResult
{
	long long	resumed_from;	/* bytes the part file held before */
	long long	bytes;			/* bytes it holds now */
	int			status;
	int			restarted;		/* the server ignored Range */
	char		error[256];
} DownloadResult;

void		net_init(const NetOptions *o);
int			http_request(const char *url, const char *body, HttpAnswer *a);
int			http_download(const char *url, const char *part, long long expected, int progress,
						  const char *label, DownloadResult *r);

#endif
