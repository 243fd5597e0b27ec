/*
 * client_port.h
 *		The client address: event loops for the clients' routes only.
 */
#ifndef ROLLOUT_CLIENT_PORT_H
#define ROLLOUT_CLIENT_PORT_H

extern int	client_port_start(const char *addr, int nloops);
extern void client_port_stop(void);

#endif							/* ROLLOUT_CLIENT_PORT_H */
