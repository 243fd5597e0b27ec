/*
 * standby.h
 *		Checks answered by a hot standby: their records, sent on to the
 *		primary in batches (ROLLOUT_PRIMARY_URL).
 */
#ifndef ROLLOUT_STANDBY_H
#define ROLLOUT_STANDBY_H

#include <stdbool.h>

typedef struct StandbyCounts
{
	long long	buffered;		/* held, not yet recorded on the primary */
	long long	forwarded;		/* recorded on the primary */
	long long	dropped;		/* beyond the bound, refused by the primary, or no primary set */
	long long	batches;		/* batches sent */
	bool		primary_up;		/* the last attempt reached the primary */
} StandbyCounts;

extern void standby_start(void);
extern void standby_stop(void);
extern void standby_take_record(char *answer);
extern StandbyCounts standby_counts(void);

#endif							/* ROLLOUT_STANDBY_H */
