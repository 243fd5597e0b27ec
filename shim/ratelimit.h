/*
 * ratelimit.h
 *		Per-address rate limiting of the clients' routes.
 */
#ifndef ROLLOUT_RATELIMIT_H
#define ROLLOUT_RATELIMIT_H

extern void limits_set_rate(double per_second);
extern int	limits_allow(const char *ip);

#endif							/* ROLLOUT_RATELIMIT_H */
