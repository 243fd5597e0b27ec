/*
 * live.h
 *		The live websocket, and the listener that also reloads the route
 *		table's signatures after an extension update.
 */
#ifndef ROLLOUT_LIVE_H
#define ROLLOUT_LIVE_H

struct mg_context;

extern void live_start(struct mg_context *ctx);
extern void live_stop(void);

#endif							/* ROLLOUT_LIVE_H */
