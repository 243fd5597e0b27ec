/*
 * rollout.h
 *		Functions the C files of the extension share (besides semver.h).
 */
#ifndef ROLLOUT_H
#define ROLLOUT_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* rollout_hash.c: the rollout bucket in [0, 10000) of a client under a salt */
extern int32 rollout_bucket_bytes(const char *client_id, size_t client_len,
								  const char *salt, size_t salt_len);

/* An ASCII letter or digit. */
static inline bool
rollout_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* rollout_request.c: the fields of the clients' JSON requests */
extern void rollout_request_check(Jsonb *req);
extern char *rollout_request_text(Jsonb *req, const char *field, bool required);
extern struct varlena *rollout_request_version(Jsonb *req, const char *field, bool required);
extern char *rollout_ascii_lower(char *s);

/* rollout_crypto.c: the login throttle's settings */
extern void rollout_crypto_init(void);

/* rollout_cache.c: the decision cache's invalidation hook */
extern void rollout_cache_init(void);

/* What one check records (SPEC §7.8): the fields of rollout.check_record. */
typedef struct RolloutCheck
{
	int64		project_id;
	const char *client_id;
	struct varlena *current_version;
	const char *channel;
	const char *region;
	const char *os;				/* NULL: not given */
	const char *arch;
	struct varlena *target;		/* NULL: no update offered */
	Datum		ip;				/* inet, (Datum) 0: not given */
	const char *user_agent;
	bool		record_event;	/* the project stores raw check events */
	TimestampTz at;
} RolloutCheck;

/* rollout_queue.c: record a check, now or through the background worker */
extern void rollout_record_check(const RolloutCheck *c);
extern void rollout_queue_init(void);

/* rollout_worker.c: the background worker that records queued checks */
extern PGDLLEXPORT void rollout_queue_worker_main(Datum arg);

/* rollout_record.c: the worker's fast path, checks of known clients recorded in place */
extern int	rollout_record_in_place(RolloutCheck *checks, int n, bool *leave);

#endif							/* ROLLOUT_H */
