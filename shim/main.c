/*
 * main.c
 *		rollout-http: the HTTP face of the rollout extension.  This file only
 *		wires the parts together and runs until a signal:
 *
 *		routes.c       the API map: one table, a function of schema rollout per route
 *		config.c       flags and environment
 *		request.c      the request paths (civetweb's handlers; a client's request)
 *		client_port.c  the client address's event loops (--client-listen)
 *		lanes.c        the clients' database connections and their one scheduler
 *		standby.c      on a hot standby: checks' records sent on to the primary
 *		db.c           the admin API's connections: signatures, one round trip a request
 *		respond.c      envelope, errors, HTTP bytes, access log
 *		result.c       a call's outcome, SQLSTATE to HTTP status, message keys
 *		files.c        uploads, downloads, the admin UI's files
 *		live.c         the live websocket; signature reloads after an extension update
 *		ratelimit.c    per-address limits of the clients' routes
 *		metrics.c      /metrics
 *		i18n.c         messages in English and Chinese
 *
 * No decision is made here: the extension makes them all.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "client_port.h"
#include "config.h"
#include "db.h"
#include "files.h"
#include "i18n.h"
#include "lanes.h"
#include "live.h"
#include "metrics.h"
#include "ratelimit.h"
#include "request.h"
#include "respond.h"
#include "standby.h"

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void) sig;
	stopping = 1;
}

/* civetweb's options for the main address. */
static struct mg_context *
start_civetweb(void)
{
	static char threads_text[16],
				keep_alive_text[16];
	const char *options[] = {
		"listening_ports", config.listen,
		"num_threads", threads_text,
		/* no document_root: the UI's files are sent by files_web, with their own headers */
		"enable_directory_listing", "no",
		/*
		 * civetweb ties a worker thread to a connection while it is open, so
		 * an idle persistent connection holds a thread for at most
		 * keep_alive_ms; responses announce that timeout (Keep-Alive:
		 * timeout=N) so that clients stop reusing a connection before the
		 * server closes it.
		 */
		"enable_keep_alive", config.keep_alive_ms > 0 ? "yes" : "no",
		"keep_alive_timeout_ms", keep_alive_text,
		"tcp_nodelay", "1",
		"request_timeout_ms", "30000",
		NULL
	};
	struct mg_callbacks callbacks;

	snprintf(threads_text, sizeof(threads_text), "%d", config.threads);
	snprintf(keep_alive_text, sizeof(keep_alive_text), "%d", config.keep_alive_ms);
	memset(&callbacks, 0, sizeof(callbacks));
	request_callbacks(&callbacks);
	return mg_start(&callbacks, NULL, options);
}

int
main(int argc, char **argv)
{
	struct mg_context *ctx;
	struct rlimit files;
	int			rc = config_load(argc, argv);

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	/* each open connection is a descriptor: take what is allowed */
	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max)
	{
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	/* access-log lines: written in blocks, flushed every second (respond_done) */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (i18n_load(config.i18n_dir) != 0 || respond_init() != 0 || db_load_signatures() != 0 ||
		request_init() != 0)
		return 1;
	limits_set_rate(config.rate_limit);
	if (mkdir(config.upload_dir, 0755) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "rollout-http: cannot create the upload directory %s: %s\n", config.upload_dir,
				strerror(errno));
		return 1;
	}
	files_configure(config.upload_dir, config.max_upload);
	files_configure_web(config.web_root);
	metrics_init(config.threads, config.db_lanes);
	lanes_start(config.db_lanes);
	standby_start();

	mg_init_library(0);
	ctx = start_civetweb();
	if (ctx == NULL)
	{
		fprintf(stderr, "rollout-http: cannot listen on %s\n", config.listen);
		mg_exit_library();
		lanes_stop();
		return 1;
	}
	request_handlers(ctx);
	if (*config.client_listen && client_port_start(config.client_listen, config.db_lanes) != 0)
	{
		fprintf(stderr, "rollout-http: cannot listen on %s\n", config.client_listen);
		mg_stop(ctx);
		mg_exit_library();
		lanes_stop();
		return 1;
	}
	live_start(ctx);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (*config.client_listen)
		fprintf(stderr, "rollout-http: listening on http://%s, clients' routes also on http://%s\n",
				config.listen, config.client_listen);
	else
		fprintf(stderr, "rollout-http: listening on http://%s\n", config.listen);
	while (!stopping)
	{
		sleep(1);
		fflush(stdout);
	}
	fprintf(stderr, "rollout-http: stopping (finishing requests in flight)\n");
	request_drain();
	live_stop();
	/* civetweb drops unwritten responses once stopped: wait for them first */
	for (int waited = 0; request_in_flight() > 0 && waited < config.shutdown_ms; waited += 10)
		usleep(10000);
	if (*config.client_listen)
		client_port_stop();
	mg_stop(ctx);
	mg_exit_library();
	lanes_stop();
	standby_stop();
	request_cleanup();
	respond_cleanup();
	db_cleanup();
	fflush(stdout);
	return 0;
}
