/*
 * config.h
 *		rollout-http's configuration: flags, then the environment, then defaults.
 */
#ifndef ROLLOUT_CONFIG_H
#define ROLLOUT_CONFIG_H

typedef struct Config
{
	const char *conninfo;		/* DATABASE_URL */
	const char *primary_url;	/* ROLLOUT_PRIMARY_URL: DATABASE_URL is a hot standby of it */
	const char *listen;			/* everything, through civetweb */
	const char *client_listen;	/* optional: the clients' routes only, on an event loop */
	const char *web_root;
	const char *i18n_dir;
	const char *trusted_proxies;
	const char *upload_dir;
	long long	max_upload;
	long		max_body;
	int			threads;
	int			db_connections;
	int			db_lanes;
	int			client_timeout_ms;
	int			keep_alive_ms;
	int			shutdown_ms;
	double		rate_limit;
	int			standby_buffer;	/* check records held while the primary is away */
} Config;

extern Config config;

/* 0: run; 1: done (--help, --routes), exit 0; 2: bad configuration, exit 2 */
extern int	config_load(int argc, char **argv);

#endif							/* ROLLOUT_CONFIG_H */
