/*
 * standby.h
 *		Checks answered by a hot standby: their records, sent on to the
 *		primary in batches (ROLLOUT_PRIMARY_URL).
 */
#ifndef ROLLOUT_STANDBY_H
#define ROLLOUT_STANDBY_H

extern void standby_start(void);
extern void standby_stop(void);
extern void standby_take_record(char *answer);
extern void standby_add_record(const char *record, size_t len);

#endif							/* ROLLOUT_STANDBY_H */
