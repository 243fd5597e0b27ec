/*
 * metrics.h
 *		The shim's counters and the /metrics exposition.
 */
#ifndef ROLLOUT_METRICS_H
#define ROLLOUT_METRICS_H

#include <stdbool.h>
#include <jansson.h>

extern void metrics_init(int nthreads, int nlanes);
extern void metrics_record(int route, int status, double seconds);
extern void metrics_connection(int delta);
extern char *metrics_text(const json_t *recorder, const json_t *login);
extern void metrics_standby(long long buffered, long long forwarded, long long dropped, long long batches,
							bool primary_up);

#endif							/* ROLLOUT_METRICS_H */
