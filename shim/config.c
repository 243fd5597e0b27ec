/*
 * config.c
 *		rollout-http's configuration, from flags and the environment (a flag
 *		wins), checked once at start-up.  Every other file reads `config`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "routes.h"

Config		config = {
	.listen = "127.0.0.1:8080",
	.client_listen = "",
	.web_root = "web/dist",
	.i18n_dir = "i18n",
	.trusted_proxies = "",
	.upload_dir = "uploads",
	.max_upload = 1024LL * 1024 * 1024,
	.max_body = 1024 * 1024,
	.threads = 512,
	.db_connections = 16,
	.db_lanes = 0,
	.client_timeout_ms = 10000,
	.keep_alive_ms = 2000,
	.shutdown_ms = 30000,
	.rate_limit = 20,
	.primary_url = "",
	.standby_buffer = 100000,
};

static void
usage(void)
{
	printf("rollout-http: the HTTP API of the rollout extension\n\n"
		   "Usage: rollout-http [options]\n\n"
		   "  --database-url URL   PostgreSQL connection string     (DATABASE_URL)\n"
		   "  --primary-url URL    the primary, when DATABASE_URL is a hot standby of it: checks\n"
		   "                       are answered by the standby and recorded on the primary in\n"
		   "                       batches; reports go to the primary (ROLLOUT_PRIMARY_URL)\n"
		   "  --standby-buffer N   check records held while the primary is unreachable; beyond,\n"
		   "                       dropped and counted (ROLLOUT_STANDBY_BUFFER, default 100000)\n"
		   "  --listen HOST:PORT   address to listen on: the whole API, the admin UI, downloads\n"
		   "                       (ROLLOUT_LISTEN, default 127.0.0.1:8080)\n"
		   "  --client-listen HOST:PORT  an address of its own for the clients' routes only\n"
		   "                       (check-update, download-started, install-result), answered\n"
		   "                       by event loops: the fast path for a large fleet\n"
		   "                       (ROLLOUT_CLIENT_LISTEN, default none)\n"
		   "  --web-root DIR       the admin UI served at /         (ROLLOUT_WEB_ROOT, default ./web/dist)\n"
		   "  --i18n DIR           message catalogs                 (ROLLOUT_I18N_DIR, default ./i18n)\n"
		   "  --max-body BYTES     largest request body accepted    (ROLLOUT_MAX_BODY, default 1048576)\n"
		   "  --threads N          civetweb's worker threads (the main address): an open\n"
		   "                       connection holds one, idle or not, so this many can be\n"
		   "                       open at once (ROLLOUT_THREADS, default 512)\n"
		   "  --db-connections N   database connections for everything but the clients'\n"
		   "                       routes (admin API, /healthz, uploads), shared by the\n"
		   "                       threads (ROLLOUT_DB_CONNECTIONS, default 16)\n"
		   "  --db-lanes N         database connections for the clients' routes, to which\n"
		   "                       requests are sent in batches; as many event loops on the\n"
		   "                       client address (ROLLOUT_DB_LANES, default: one per two processors)\n"
		   "  --client-timeout-ms MS  longest a client request may run in the database; beyond,\n"
		   "                       503 with Retry-After; 0: no limit (ROLLOUT_CLIENT_TIMEOUT_MS,\n"
		   "                       default 10000)\n"
		   "  --keep-alive-ms MS   how long an idle connection stays open; 0: close after\n"
		   "                       each response (ROLLOUT_KEEP_ALIVE_MS, default 2000)\n"
		   "  --trusted-proxies IPS  comma-separated peers whose X-Forwarded-For is believed\n"
		   "                       (ROLLOUT_TRUSTED_PROXIES, default none)\n"
		   "  --rate-limit N       client requests per second per address, bursts of 2N; 0: off\n"
		   "                       (ROLLOUT_RATE_LIMIT, default 20)\n"
		   "  --upload-dir DIR     where uploaded artifacts are stored, served at /download/\n"
		   "                       (ROLLOUT_UPLOAD_DIR, default ./uploads)\n"
		   "  --max-upload BYTES   largest artifact accepted (ROLLOUT_MAX_UPLOAD, default 1 GiB)\n"
		   "  --routes             print the route table as JSON and exit\n"
		   "  --help               this text\n\n"
		   "Stops gracefully on SIGTERM or SIGINT: requests in flight finish first.\n");
}

/* A whole decimal number in [lo, hi] from text, or false. */
static bool
number(const char *text, long long lo, long long hi, long long *out)
{
	char	   *end;
	long long	v;

	if (text == NULL || *text == '\0')
		return false;
	v = strtoll(text, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* One setting: its flag, its variable, where it goes, its bounds (numbers). */
typedef struct Setting
{
	const char *flag;
	const char *env;
	const char **text;			/* a string setting, or */
	void	   *num;			/* a number: int, long, long long or double by kind */
	char		kind;			/* 's', 'i', 'l', 'L', 'd' */
	long long	lo,
				hi;
} Setting;

static Setting settings[] = {
	{"--database-url", "DATABASE_URL", &config.conninfo, NULL, 's', 0, 0},
	{"--primary-url", "ROLLOUT_PRIMARY_URL", &config.primary_url, NULL, 's', 0, 0},
	{"--standby-buffer", "ROLLOUT_STANDBY_BUFFER", NULL, &config.standby_buffer, 'i', 1, 100000000},
	{"--listen", "ROLLOUT_LISTEN", &config.listen, NULL, 's', 0, 0},
	{"--client-listen", "ROLLOUT_CLIENT_LISTEN", &config.client_listen, NULL, 's', 0, 0},
	{"--web-root", "ROLLOUT_WEB_ROOT", &config.web_root, NULL, 's', 0, 0},
	{"--i18n", "ROLLOUT_I18N_DIR", &config.i18n_dir, NULL, 's', 0, 0},
	{"--trusted-proxies", "ROLLOUT_TRUSTED_PROXIES", &config.trusted_proxies, NULL, 's', 0, 0},
	{"--upload-dir", "ROLLOUT_UPLOAD_DIR", &config.upload_dir, NULL, 's', 0, 0},
	{"--max-upload", "ROLLOUT_MAX_UPLOAD", NULL, &config.max_upload, 'L', 1, 1LL << 50},
	{"--max-body", "ROLLOUT_MAX_BODY", NULL, &config.max_body, 'l', 1024, 1L << 30},
	{"--threads", "ROLLOUT_THREADS", NULL, &config.threads, 'i', 1, 8192},
	{"--db-connections", "ROLLOUT_DB_CONNECTIONS", NULL, &config.db_connections, 'i', 1, 1024},
	{"--db-lanes", "ROLLOUT_DB_LANES", NULL, &config.db_lanes, 'i', 0, 64},
	{"--client-timeout-ms", "ROLLOUT_CLIENT_TIMEOUT_MS", NULL, &config.client_timeout_ms, 'i', 0, 3600000},
	{"--keep-alive-ms", "ROLLOUT_KEEP_ALIVE_MS", NULL, &config.keep_alive_ms, 'i', 0, 600000},
	{"--rate-limit", "ROLLOUT_RATE_LIMIT", NULL, &config.rate_limit, 'd', 0, 1000000},
};
#define NSETTINGS ((int) (sizeof(settings) / sizeof(settings[0])))

static bool
apply(const Setting *s, const char *value, const char *from)
{
	long long	v;

	if (s->kind == 's')
	{
		*s->text = value;
		return true;
	}
	if (s->kind == 'd')
	{
		char	   *end;
		double		d = strtod(value, &end);

		if (*value && *end == '\0' && d >= s->lo && d <= s->hi)
		{
			*(double *) s->num = d;
			return true;
		}
	}
	else if (number(value, s->lo, s->hi, &v))
	{
		if (s->kind == 'i')
			*(int *) s->num = (int) v;
		else if (s->kind == 'l')
			*(long *) s->num = (long) v;
		else
			*(long long *) s->num = v;
		return true;
	}
	fprintf(stderr, "rollout-http: %s must be a number from %lld to %lld, not \"%s\"\n", from, s->lo, s->hi, value);
	return false;
}

int
config_load(int argc, char **argv)
{
	for (int k = 0; k < NSETTINGS; k++)
	{
		const char *v = getenv(settings[k].env);

		if (v && *v && !apply(&settings[k], v, settings[k].env))
			return 2;
	}
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		int			k;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage();
			return 1;
		}
		if (strcmp(a, "--routes") == 0)
		{
			routes_print(stdout);
			return 1;
		}
		for (k = 0; k < NSETTINGS && strcmp(settings[k].flag, a) != 0; k++)
			;
		if (k == NSETTINGS)
		{
			fprintf(stderr, "rollout-http: unknown option %s (see --help)\n", a);
			return 2;
		}
		if (i + 1 >= argc)
		{
			fprintf(stderr, "rollout-http: %s needs a value (see --help)\n", a);
			return 2;
		}
		if (!apply(&settings[k], argv[++i], a))
			return 2;
	}
	if (config.conninfo == NULL || *config.conninfo == '\0')
	{
		fprintf(stderr, "rollout-http: set DATABASE_URL or --database-url\n");
		return 2;
	}
	if (strlen(config.upload_dir) > 2048)
	{
		fprintf(stderr, "rollout-http: the upload directory path is too long\n");
		return 2;
	}
	if (config.db_lanes == 0)
	{
		/* measured on 2 processors: one lane did as well as two (bench/README.md) */
		long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

		config.db_lanes = cpus < 2 ? 1 : cpus > 32 ? 16 : (int) (cpus / 2);
	}
	return 0;
}
