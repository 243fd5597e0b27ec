/*
 * ratelimit.c
 *		Per-IP rate limiting of the client routes.
 *
 * The rate limit is a token bucket per client address: ROLLOUT_RATE_LIMIT
 * requests per second with bursts of twice that.  Buckets live in a fixed
 * open-addressing table; when it is full the least recently used slot is
 * reused, so memory stays bounded whatever the traffic.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ratelimit.h"

#define BUCKETS			8192
#define PROBE			16

typedef struct Bucket
{
	char		ip[48];
	double		tokens;
	double		last;			/* seconds */
} Bucket;

static Bucket buckets[BUCKETS];
static pthread_mutex_t bucket_lock = PTHREAD_MUTEX_INITIALIZER;
static double rate = 20.0;

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static unsigned
hash_ip(const char *s)
{
	unsigned	h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char) *s++) * 16777619u;
	return h;
}

void
limits_set_rate(double per_second)
{
	rate = per_second;
}

/* May this address make a client request now?  0 means answer 429. */
int
limits_allow(const char *ip)
{
	unsigned	h = hash_ip(ip);
	double		t = now_s();
	Bucket	   *b = NULL,
			   *oldest = NULL;
	int			ok;

	if (rate <= 0)
		return 1;
	pthread_mutex_lock(&bucket_lock);
	for (int i = 0; i < PROBE; i++)
	{
		Bucket	   *c = &buckets[(h + i) % BUCKETS];

		if (strcmp(c->ip, ip) == 0)
		{
			b = c;
			break;
		}
		if (oldest == NULL || c->last < oldest->last)
			oldest = c;
	}
	if (b == NULL)
	{
		b = oldest;
		snprintf(b->ip, sizeof(b->ip), "%s", ip);
		b->tokens = 2 * rate;
		b->last = t;
	}
	b->tokens += (t - b->last) * rate;
	if (b->tokens > 2 * rate)
		b->tokens = 2 * rate;
	b->last = t;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&bucket_lock);
	return ok;
}
