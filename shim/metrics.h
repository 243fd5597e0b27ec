/*
 * metrics.h
 *		The shim's counters and the /metrics exposition.
 */
#ifndef ROLLOUT_METRICS_H
#define ROLLOUT_METRICS_H

#include <jansson.h>

extern void metrics_init(int nthreads, int nlanes);
extern void metrics_record(int route, int status, double seconds);
extern void metrics_connection(int delta);
extern char *metrics_text(const json_t *recorder);

#endif							/* ROLLOUT_METRICS_H */
