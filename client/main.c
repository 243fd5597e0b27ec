/*
 * main.c
 *		rollout-client: asks a rollout server whether an update is offered,
 *		and installs it only when the answer is provably the server's, fresh,
 *		not older than one already accepted, and the file is the one the
 *		answer names.
 *
 *	rollout-client [options] check | update | keys
 *
 * Settings come from flags, then ROLLOUT_* environment variables, then a
 * key=value config file, then defaults (the first that sets a value wins).
 * A small state file remembers, per project, the highest metadata_version
 * accepted, keys seen retired, the installed version and a generated
 * client id; it is replaced atomically. Exit codes are in client.h and
 * --help. Messages follow LANG (zh-CN or English); --help is English.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "client.h"
#include "net.h"

/* The settings, in the order --help lists them. */
enum
{
	S_CONFIG, S_URL, S_PROJECT, S_CLIENT_ID, S_CURRENT_VERSION, S_CHANNEL, S_REGION, S_OS, S_ARCH,
	S_LOCALE, S_PUBLIC_KEY, S_CHECK_KEYS, S_STATE_FILE, S_DOWNLOAD_DIR, S_INSTALL_HOOK, S_TIMEOUT,
	S_CA_FILE, S_COUNT
};

typedef struct Setting
{
	const char *name;			/* config key; the flag is --name with '-' for '_' */
	const char *env;
	const char *arg;			/* for --help */
	const char *help;
	char	   *value;			/* resolved (public_key: values joined by '\n') */
} Setting;

static Setting settings[S_COUNT] = {
	{"config", "ROLLOUT_CONFIG", "FILE", "config file (default /etc/rollout-client.conf when it exists)", NULL},
	{"url", "ROLLOUT_URL", "URL", "the rollout server, e.g. https://updates.example.com (required)", NULL},
	{"project", "ROLLOUT_PROJECT", "SLUG", "project slug (default: default)", NULL},
	{"client_id", "ROLLOUT_CLIENT_ID", "ID", "stable id of this installation (default: generated once, kept in the state file)", NULL},
	{"current_version", "ROLLOUT_CURRENT_VERSION", "VERSION", "the version running now (default: the last one this client installed)", NULL},
	{"channel", "ROLLOUT_CHANNEL", "NAME", "release channel (default: the project's)", NULL},
	{"region", "ROLLOUT_REGION", "NAME", "region, for mirrors and rules (default: global)", NULL},
	{"os", "ROLLOUT_OS", "NAME", "operating system (default: from uname, e.g. linux)", NULL},
	{"arch", "ROLLOUT_ARCH", "NAME", "architecture (default: from uname, e.g. amd64, arm64)", NULL},
	{"locale", "ROLLOUT_LOCALE", "LOCALE", "locale of titles and release notes, e.g. zh-CN", NULL},
	{"public_key", "ROLLOUT_PUBLIC_KEY", "KEY", "pinned Ed25519 key: PEM file or base64 of the raw 32 bytes; repeat (or comma-separate) to pin several (required)", NULL},
	{"check_keys", "ROLLOUT_CHECK_KEYS", "yes|no", "trust a pinned key only while the server still lists it (default: yes)", NULL},
	{"state_file", "ROLLOUT_STATE_FILE", "FILE", "state file (default: $XDG_STATE_HOME/rollout-client/state, /var/lib/rollout-client/state for root)", NULL},
	{"download_dir", "ROLLOUT_DOWNLOAD_DIR", "DIR", "where update puts the file (default: .)", NULL},
	{"install_hook", "ROLLOUT_INSTALL_HOOK", "COMMAND", "shell command run with the verified file as $1 (see ENVIRONMENT OF THE HOOK)", NULL},
	{"timeout", "ROLLOUT_TIMEOUT", "SECONDS", "a request's time limit; a download stalled this long fails (default: 30)", NULL},
	{"ca_file", "ROLLOUT_CA_FILE", "FILE", "CA certificates for https (default: the system's)", NULL},
};

static int	opt_json;
static int	opt_progress = 1;
static const char *command;
static json_t *result;			/* the --json document */
static KV	state;
static char *state_path;
static char project[80];
static PinnedKey keys[MAX_KEYS];
static int	nkeys;
static int	key_listed[MAX_KEYS];	/* by the server's key list (or check_keys=no) */

/* Print --help (always English). */
static void
usage(FILE *f)
{
	fprintf(f,
			"rollout-client " CLIENT_VERSION ": a verifying update client for a rollout server.\n\n"
			"Usage: rollout-client [OPTION]... COMMAND\n\n"
			"Commands:\n"
			"  check     ask the server; print the decision (verified: signature, expiry, rollback)\n"
			"  update    check, then download (resuming <file>.part with Range), verify size and\n"
			"            sha256 against the signed answer, report download-started and\n"
			"            install-result, and run the install hook\n"
			"  keys      list the keys the server publishes for the project (to pin one)\n\n"
			"Options (flag, then environment, then config file key=value, then default):\n");
	for (int i = 0; i < S_COUNT; i++)
	{
		char		flag[64];

		snprintf(flag, sizeof(flag), "--%s=%s", settings[i].name, settings[i].arg);
		for (char *p = flag; *p && *p != '='; p++)
			if (*p == '_')
				*p = '-';
		fprintf(f, "  %-28s %s\n  %-28s [%s; config: %s]\n", flag, settings[i].help, "",
				settings[i].env, i == S_CONFIG ? "-" : settings[i].name);
	}
	fprintf(f,
			"  --json                       print one JSON object (status, exit_code, message, ...)\n"
			"  --no-progress                no progress bar (there is none unless stderr is a terminal)\n"
			"  --help, --version\n\n"
			"Exit codes:\n"
			"   0  up to date                    20  refused: signature (none, unknown key, retired key, bad)\n"
			"   2  usage or configuration error  21  refused: the answer has expired\n"
			"  10  check: an update is offered   22  refused: metadata_version older than one accepted\n"
			"  11  update: updated               23  refused: file size or sha256 differs from the answer\n"
			"  30  network error                 24  refused: signed answer malformed or incomplete\n"
			"  31  server error (HTTP status)    40  install hook failed\n"
			"                                    41  local error (files, state, another run)\n\n"
			"Environment of the hook (run as: sh -c COMMAND rollout-install-hook FILE):\n"
			"  ROLLOUT_FILE, ROLLOUT_VERSION, ROLLOUT_PREVIOUS_VERSION, ROLLOUT_PROJECT, ROLLOUT_CHANNEL,\n"
			"  ROLLOUT_FILE_SIZE, ROLLOUT_FILE_SHA256, ROLLOUT_IS_FORCED (true|false), ROLLOUT_METADATA_VERSION\n"
			"The hook's exit status 0 is reported as a successful install, anything else as a failure.\n\n"
			"Messages follow LANG (zh_CN.UTF-8: Chinese; otherwise English).\n");
}

/*
 * End the command: in --json mode print the result document with status,
 * exit_code and message; otherwise print the message (stdout for 0/10/11,
 * stderr with the program name for the rest). Returns code.
 */
static int
finish(int code, const char *status, const char *message)
{
	if (opt_json)
	{
		json_object_set_new(result, "status", json_string(status));
		json_object_set_new(result, "exit_code", json_integer(code));
		if (message)
			json_object_set_new(result, "message", json_string(message));
		json_dumpf(result, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	}
	else if (message)
	{
		if (code == EXIT_UP_TO_DATE || code == EXIT_UPDATE_AVAILABLE || code == EXIT_UPDATED)
			printf("%s\n", message);
		else
			fprintf(stderr, "rollout-client: %s\n", message);
	}
	fflush(stdout);
	return code;
}

/* Print an informational line (not in --json mode). */
static void
info(const char *message)
{
	if (!opt_json)
	{
		printf("%s\n", message);
		fflush(stdout);
	}
}

/* Warn on stderr (also in --json mode: stdout stays one document). */
static void
warn(const char *message)
{
	fprintf(stderr, "rollout-client: %s\n", message);
}

/* Set setting i to v (public_key: add v to the list). */
static void
append_value(int i, const char *v)
{
	if (i == S_PUBLIC_KEY && settings[i].value)
	{
		size_t		n = strlen(settings[i].value) + strlen(v) + 2;
		char	   *joined = malloc(n);

		snprintf(joined, n, "%s\n%s", settings[i].value, v);
		free(settings[i].value);
		settings[i].value = joined;
	}
	else
	{
		free(settings[i].value);
		settings[i].value = strdup(v);
	}
}

/* The index of the setting called name, or -1. */
static int
find_setting(const char *name)
{
	for (int i = 0; i < S_COUNT; i++)
		if (strcmp(settings[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Resolve settings: flags (already in settings[].value, with from_flag[]
 * set), then the environment, then the config file. Returns 0 or an exit
 * code (a message already given).
 */
static int
resolve_settings(const int *from_flag)
{
	const char *config;
	int			explicit_config;
	KV			kv = {0};
	int			bad_line,
				rc;

	for (int i = 0; i < S_COUNT; i++)
	{
		const char *e = getenv(settings[i].env);

		if (from_flag[i] || e == NULL || *e == '\0')
			continue;
		if (i == S_PUBLIC_KEY)
		{
			char	   *copy = strdup(e),
					   *save = NULL;

			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				append_value(i, t);
			free(copy);
		}
		else
			append_value(i, e);
	}
	config = settings[S_CONFIG].value;
	explicit_config = config != NULL;
	if (!explicit_config)
		config = "/etc/rollout-client.conf";
	rc = kv_read_file(config, &kv, &bad_line);
	if (rc == 1 && !explicit_config)
		return 0;
	if (rc != 0)
	{
		char		line[16];

		snprintf(line, sizeof(line), "%d", bad_line);
		if (rc == 1 || bad_line == 0)
			return finish(EXIT_USAGE, "usage_error", msg("client.config_unreadable", "file", config, NULL));
		return finish(EXIT_USAGE, "usage_error", msg("client.config_bad_line", "file", config, "line", line, NULL));
	}
	for (int k = 0; k < kv.n; k++)
	{
		int			i = find_setting(kv.keys[k]);

		if (i < 0 || i == S_CONFIG)
		{
			kv_free(&kv);
			return finish(EXIT_USAGE, "usage_error",
						  msg("client.config_unknown", "file", config, "setting", kv.keys[k], NULL));
		}
		if (from_flag[i] || (getenv(settings[i].env) && *getenv(settings[i].env)))
			continue;
		/* the file's public_key lines add up; another key's last line wins */
		if (i != S_PUBLIC_KEY)
		{
			free(settings[i].value);
			settings[i].value = NULL;
		}
		append_value(i, kv.values[k]);
	}
	kv_free(&kv);
	return 0;
}

/* Setting i's value, or NULL when unset or empty. */
static const char *
get(int i)
{
	return settings[i].value && *settings[i].value ? settings[i].value : NULL;
}

/* The default state file: XDG state dir, or /var/lib for root. */
static char *
default_state_path(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char		path[PATH_MAX];

	if (geteuid() == 0)
		return strdup("/var/lib/rollout-client/state");
	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/rollout-client/state", xdg);
	else
		snprintf(path, sizeof(path), "%s/.local/state/rollout-client/state", home ? home : ".");
	return strdup(path);
}

/* mkdir -p of the directory part of path; 0 or -1. */
static int
make_parent_dirs(const char *path)
{
	char		dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int) sizeof(dir))
		return -1;
	for (char *p = dir + 1; *p; p++)
	{
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* The state file's key for name in the current project (static buffer). */
static const char *
state_key(const char *name)
{
	static char key[128];

	snprintf(key, sizeof(key), "%s.%s", project, name);
	return key;
}

/* Write the state file; 0 or an exit code. */
static int
save_state(void)
{
	if (make_parent_dirs(state_path) != 0 ||
		kv_write_atomic(state_path, &state, "# rollout-client state: written by rollout-client, replaced atomically") != 0)
		return finish(EXIT_LOCAL, "local_error",
					  msg("client.state_write", "file", state_path, "error", strerror(errno), NULL));
	return 0;
}

/* Is s a safe value for a request field (printable ASCII, bounded)? */
static int
printable(const char *s, size_t max)
{
	size_t		n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Settings every command needs: server, project, keys, state. */
static int
prepare(int need_keys)
{
	const char *url = get(S_URL);
	const char *p = get(S_PROJECT) ? get(S_PROJECT) : "default";
	int			bad_line,
				rc;
	char		err[128];

	if (url == NULL)
		return finish(EXIT_USAGE, "usage_error",
					  msg("client.missing_setting", "setting", "url", "flag", "--url", "env", "ROLLOUT_URL", NULL));
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return finish(EXIT_USAGE, "usage_error", msg("client.bad_value", "setting", "url", "value", url, NULL));
	if (strlen(p) > 63 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(p) || *p == '-')
		return finish(EXIT_USAGE, "usage_error", msg("client.bad_value", "setting", "project", "value", p, NULL));
	snprintf(project, sizeof(project), "%s", p);
	json_object_set_new(result, "project", json_string(project));

	if (get(S_CHECK_KEYS) && strcmp(get(S_CHECK_KEYS), "yes") != 0 && strcmp(get(S_CHECK_KEYS), "no") != 0)
		return finish(EXIT_USAGE, "usage_error",
					  msg("client.bad_value", "setting", "check_keys", "value", get(S_CHECK_KEYS), NULL));
	if (get(S_TIMEOUT) && (atoi(get(S_TIMEOUT)) < 1 || atoi(get(S_TIMEOUT)) > 86400 ||
						   strspn(get(S_TIMEOUT), "0123456789") != strlen(get(S_TIMEOUT))))
		return finish(EXIT_USAGE, "usage_error",
					  msg("client.bad_value", "setting", "timeout", "value", get(S_TIMEOUT), NULL));
	for (int i = S_CLIENT_ID; i <= S_LOCALE; i++)
		if (get(i) && !printable(get(i), 128))
			return finish(EXIT_USAGE, "usage_error",
						  msg("client.bad_value", "setting", settings[i].name, "value", "?", NULL));

	if (need_keys)
	{
		char	   *list = get(S_PUBLIC_KEY) ? strdup(get(S_PUBLIC_KEY)) : NULL,
				   *save = NULL;

		if (list == NULL)
			return finish(EXIT_USAGE, "usage_error",
						  msg("client.missing_setting", "setting", "public_key", "flag", "--public-key",
							  "env", "ROLLOUT_PUBLIC_KEY", NULL));
		for (char *t = strtok_r(list, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
		{
			if (nkeys == MAX_KEYS)
			{
				free(list);
				return finish(EXIT_USAGE, "usage_error",
							  msg("client.bad_value", "setting", "public_key", "value", t, NULL));
			}
			if (load_public_key(t, &keys[nkeys], err, sizeof(err)) != 0)
			{
				rc = finish(EXIT_USAGE, "usage_error", msg("client.bad_key", "key", t, "error", err, NULL));
				free(list);
				return rc;
			}
			nkeys++;
		}
		free(list);
	}

	state_path = get(S_STATE_FILE) ? strdup(get(S_STATE_FILE)) : default_state_path();
	if (need_keys)
	{
		/*
		 * One run at a time per state file: two would append to the same
		 * part file, and the last to save would win. The lock is held
		 * until the process exits.
		 */
		char		lock_path[PATH_MAX];
		int			fd;

		snprintf(lock_path, sizeof(lock_path), "%s.lock", state_path);
		if (make_parent_dirs(lock_path) != 0 || (fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
			return finish(EXIT_LOCAL, "local_error",
						  msg("client.state_write", "file", lock_path, "error", strerror(errno), NULL));
		if (flock(fd, LOCK_EX | LOCK_NB) != 0)
			return finish(EXIT_LOCAL, "local_error", msg("client.busy", "file", lock_path, NULL));
	}
	rc = kv_read_file(state_path, &state, &bad_line);
	if (rc < 0)
	{
		char		line[16];

		snprintf(line, sizeof(line), "%d", bad_line);
		return finish(EXIT_LOCAL, "local_error", msg("client.state_bad", "file", state_path, "line", line, NULL));
	}
	return 0;
}

/* url + path, without a doubled slash. */
static char *
join_url(const char *path)
{
	const char *url = get(S_URL);
	size_t		n = strlen(url);
	char	   *out;

	while (n > 0 && url[n - 1] == '/')
		n--;
	out = malloc(n + strlen(path) + 1);
	memcpy(out, url, n);
	strcpy(out + n, path);
	return out;
}

/* The message of an error envelope, else a placeholder. */
static const char *
envelope_message(const Buf *body)
{
	static char m[512];
	json_t	   *doc = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
	json_t	   *message = doc ? json_object_get(doc, "message") : NULL;

	snprintf(m, sizeof(m), "%s", json_is_string(message) ? json_string_value(message) : "-");
	json_decref(doc);
	return m;
}

/* An HTTP status that is not 2xx: the server's error. */
static int
server_error(const HttpAnswer *a)
{
	char		status[16];

	snprintf(status, sizeof(status), "%ld", a->status);
	json_object_set_new(result, "http_status", json_integer(a->status));
	return finish(EXIT_SERVER, "server_error",
				  msg("client.server_error", "status", status, "message", envelope_message(&a->body), NULL));
}

/* A network failure reaching url: exit 30. */
static int
network_error(const char *url, const char *error)
{
	return finish(EXIT_NETWORK, "network_error", msg("client.network_error", "error", error, "url", url, NULL));
}

/* Is keyid in the comma-separated list? */
static int
in_list(const char *list, const char *keyid)
{
	size_t		n = strlen(keyid);

	for (const char *p = list; p && *p;)
	{
		const char *c = strchr(p, ',');
		size_t		len = c ? (size_t) (c - p) : strlen(p);

		if (len == n && strncmp(p, keyid, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

/*
 * The server's key list: a pinned key stays trusted only while the server
 * lists it. A pinned key missing from the list is remembered as retired in
 * the state file, so an old list replayed later cannot bring it back.
 * (The list only ever narrows what is pinned; it never adds a key.)
 */
static int
refresh_keys(void)
{
	const char *retired = kv_get(&state, state_key("retired_keys"));
	char		path[160];
	char	   *url = NULL;
	HttpAnswer	a;
	json_t	   *doc,
			   *list;
	int			changed = 0;

	for (int i = 0; i < nkeys; i++)
		key_listed[i] = !in_list(retired, keys[i].keyid);
	if (get(S_CHECK_KEYS) && strcmp(get(S_CHECK_KEYS), "no") == 0)
		return 0;
	snprintf(path, sizeof(path), "/api/v1/projects/%s/keys", project);
	url = join_url(path);
	if (http_request(url, NULL, &a) != 0)
	{
		int			rc = network_error(url, a.error);

		free(url);
		return rc;
	}
	free(url);
	if (a.too_big)
		return finish(EXIT_REFUSED_ANSWER, "refused_answer",
					  msg("client.refused_answer", "detail", msg("client.answer_too_big", NULL), NULL));
	if (a.status < 200 || a.status > 299)
	{
		int			rc = server_error(&a);

		buf_free(&a.body);
		return rc;
	}
	doc = json_loadb(a.body.data, a.body.len, JSON_REJECT_DUPLICATES, NULL);
	list = json_object_get(json_object_get(doc, "data"), "keys");
	if (!json_is_array(list))
	{
		json_decref(doc);
		buf_free(&a.body);
		return finish(EXIT_SERVER, "server_error",
					  msg("client.server_error", "status", "200", "message", "no key list", NULL));
	}
	for (int i = 0; i < nkeys; i++)
	{
		size_t		j;
		json_t	   *k;
		int			found = 0;

		json_array_foreach(list, j, k)
		{
			json_t	   *id = json_object_get(k, "keyid");

			if (json_is_string(id) && strcmp(json_string_value(id), keys[i].keyid) == 0)
				found = 1;
		}
		if (!found && key_listed[i])
		{
			/* retired (or never this project's): remember it */
			char		buf[MAX_KEYS * (KEYID_HEX + 1) + 1024];

			snprintf(buf, sizeof(buf), "%s%s%s", retired ? retired : "", retired && *retired ? "," : "",
					 keys[i].keyid);
			if (strlen(buf) < 1000)
			{
				kv_set(&state, state_key("retired_keys"), buf);
				retired = kv_get(&state, state_key("retired_keys"));
				changed = 1;
			}
		}
		key_listed[i] = key_listed[i] && found;
	}
	json_decref(doc);
	buf_free(&a.body);
	return changed ? save_state() : 0;
}

/* The machine's os and arch names as rollout spells them. */
static void
platform(const char **os, const char **arch)
{
	static struct utsname u;

	*os = get(S_OS);
	*arch = get(S_ARCH);
	if (*os && *arch)
		return;
	uname(&u);
	if (*os == NULL)
	{
		for (char *p = u.sysname; *p; p++)
			*p = (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p;
		*os = u.sysname;
	}
	if (*arch == NULL)
	{
		if (strcmp(u.machine, "x86_64") == 0)
			*arch = "amd64";
		else if (strcmp(u.machine, "aarch64") == 0)
			*arch = "arm64";
		else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
			*arch = "386";
		else
			*arch = u.machine;
	}
}

/* The client id: configured, else kept in the state file, else made now. */
static const char *
client_id(int *rc)
{
	const char *id = get(S_CLIENT_ID);
	unsigned char raw[16];
	char		made[40];

	*rc = 0;
	if (id)
		return id;
	id = kv_get(&state, "client_id");
	if (id && printable(id, 128))
		return id;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
	{
		*rc = finish(EXIT_LOCAL, "local_error", msg("client.local_error", "error", "RAND_bytes", NULL));
		return NULL;
	}
	strcpy(made, "rc-");
	hex_encode(raw, sizeof(raw), made + 3);
	kv_set(&state, "client_id", made);
	*rc = save_state();
	return kv_get(&state, "client_id");
}

/* What the check found, once the answer is accepted. */
typedef struct Answer
{
	json_t	   *doc;			/* the whole envelope */
	json_t	   *data;
	const char *client_id;
	const char *current_version;
	long long	metadata_version;
} Answer;

/* A string member of an object, or NULL. */
static const char *
str_field(json_t *data, const char *name)
{
	json_t	   *v = json_object_get(data, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A signed answer that cannot be used: exit 24. */
static int
refused_answer(const char *detail)
{
	return finish(EXIT_REFUSED_ANSWER, "refused_answer", msg("client.refused_answer", "detail", detail, NULL));
}

/*
 * Ask for an update and accept the answer only if it is signed by a pinned,
 * still-listed key, unexpired, for this project, and its metadata_version
 * is not below the last accepted one (which it then becomes). Returns -1
 * when accepted (ans filled), else an exit code (message given).
 */
static int
check_update(Answer *ans)
{
	const char *os,
			   *arch,
			   *issued,
			   *expires,
			   *answer_project;
	char		keyid[KEYID_HEX + 1];
	unsigned char sig[SIG_BYTES];
	char	   *url,
			   *body;
	json_t	   *req,
			   *mv;
	HttpAnswer	a;
	int			rc,
				k;
	time_t		t_expires,
				t_issued;
	long long	last;
	char		lastbuf[32],
				gotbuf[32];

	memset(ans, 0, sizeof(*ans));
	if ((rc = refresh_keys()) != 0)
		return rc;
	ans->client_id = client_id(&rc);
	if (ans->client_id == NULL || rc != 0)
		return rc;
	ans->current_version = get(S_CURRENT_VERSION) ? get(S_CURRENT_VERSION)
		: kv_get(&state, state_key("installed_version"));
	if (ans->current_version == NULL)
		return finish(EXIT_USAGE, "usage_error",
					  msg("client.missing_setting", "setting", "current_version", "flag", "--current-version",
						  "env", "ROLLOUT_CURRENT_VERSION", NULL));
	platform(&os, &arch);
	req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "current_version", ans->current_version,
					"client_id", ans->client_id, "project", project, "os", os, "arch", arch);
	if (get(S_CHANNEL))
		json_object_set_new(req, "channel", json_string(get(S_CHANNEL)));
	if (get(S_REGION))
		json_object_set_new(req, "region", json_string(get(S_REGION)));
	if (get(S_LOCALE))
		json_object_set_new(req, "locale", json_string(get(S_LOCALE)));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	json_object_set_new(result, "client_id", json_string(ans->client_id));
	json_object_set_new(result, "current_version", json_string(ans->current_version));

	url = join_url("/api/v1/check-update");
	rc = http_request(url, body, &a);
	free(body);
	if (rc != 0)
	{
		rc = network_error(url, a.error);
		free(url);
		return rc;
	}
	free(url);
	if (a.too_big)
		return refused_answer(msg("client.answer_too_big", NULL));
	if (a.status < 200 || a.status > 299)
	{
		rc = server_error(&a);
		buf_free(&a.body);
		return rc;
	}

	/* the signature, over the exact bytes received */
	if (a.sig_count != 1 || a.sig_len == (size_t) -1 ||
		parse_signature_header(a.sig_header, a.sig_len, keyid, sig) != 0)
	{
		buf_free(&a.body);
		return finish(EXIT_REFUSED_SIGNATURE, "refused_signature", msg("client.refused_no_signature", NULL));
	}
	json_object_set_new(result, "keyid", json_string(keyid));
	for (k = 0; k < nkeys; k++)
		if (strcmp(keys[k].keyid, keyid) == 0)
			break;
	if (k == nkeys)
	{
		buf_free(&a.body);
		return finish(EXIT_REFUSED_SIGNATURE, "refused_signature",
					  msg("client.refused_unknown_key", "keyid", keyid, NULL));
	}
	if (!key_listed[k])
	{
		buf_free(&a.body);
		return finish(EXIT_REFUSED_SIGNATURE, "refused_signature",
					  msg("client.refused_retired_key", "keyid", keyid, NULL));
	}
	if (!verify_ed25519(&keys[k], a.body.data, a.body.len, sig))
	{
		buf_free(&a.body);
		return finish(EXIT_REFUSED_SIGNATURE, "refused_signature",
					  msg("client.refused_bad_signature", "keyid", keyid, NULL));
	}

	/* signed by the server: now its content */
	ans->doc = json_loadb(a.body.data, a.body.len, JSON_REJECT_DUPLICATES, NULL);
	buf_free(&a.body);
	ans->data = json_object_get(ans->doc, "data");
	if (!json_is_object(ans->data))
		return refused_answer(msg("client.answer_not_json", NULL));
	issued = str_field(ans->data, "issued_at");
	expires = str_field(ans->data, "expires_at");
	answer_project = str_field(ans->data, "project");
	mv = json_object_get(ans->data, "metadata_version");
	if (parse_rfc3339_utc(issued, &t_issued) != 0)
		return refused_answer(msg("client.answer_field", "field", "issued_at", NULL));
	if (parse_rfc3339_utc(expires, &t_expires) != 0)
		return refused_answer(msg("client.answer_field", "field", "expires_at", NULL));
	if (!json_is_integer(mv) || json_integer_value(mv) < 1)
		return refused_answer(msg("client.answer_field", "field", "metadata_version", NULL));
	if (answer_project == NULL || strcmp(answer_project, project) != 0)
		return refused_answer(msg("client.answer_project", "got", answer_project ? answer_project : "-",
								  "expected", project, NULL));
	if (!json_is_boolean(json_object_get(ans->data, "has_update")))
		return refused_answer(msg("client.answer_field", "field", "has_update", NULL));
	ans->metadata_version = json_integer_value(mv);
	json_object_set_new(result, "metadata_version", json_integer(ans->metadata_version));
	json_object_set_new(result, "issued_at", json_string(issued));
	json_object_set_new(result, "expires_at", json_string(expires));

	if (t_expires < time(NULL))
		return finish(EXIT_REFUSED_EXPIRED, "refused_expired",
					  msg("client.refused_expired", "expires_at", expires, "issued_at", issued, NULL));
	last = kv_get(&state, state_key("metadata_version")) ? atoll(kv_get(&state, state_key("metadata_version"))) : 0;
	snprintf(lastbuf, sizeof(lastbuf), "%lld", last);
	snprintf(gotbuf, sizeof(gotbuf), "%lld", ans->metadata_version);
	if (ans->metadata_version < last)
	{
		json_object_set_new(result, "last_metadata_version", json_integer(last));
		return finish(EXIT_REFUSED_ROLLBACK, "refused_rollback",
					  msg("client.refused_rollback", "got", gotbuf, "last", lastbuf, NULL));
	}
	if (ans->metadata_version > last)
	{
		kv_set(&state, state_key("metadata_version"), gotbuf);
		if ((rc = save_state()) != 0)
			return rc;
	}
	json_object_set(result, "answer", ans->data);
	return -1;
}

/* "1.2 MiB" etc. */
static const char *
size_text(json_t *v)
{
	static char out[32];
	long long	n = json_is_integer(v) ? json_integer_value(v) : -1;

	if (n < 0)
		snprintf(out, sizeof(out), "?");
	else if (n >= 1024 * 1024)
		snprintf(out, sizeof(out), "%.1f MiB", n / (1024.0 * 1024));
	else if (n >= 1024)
		snprintf(out, sizeof(out), "%.1f KiB", n / 1024.0);
	else
		snprintf(out, sizeof(out), "%lld B", n);
	return out;
}

/* The message saying what is offered. */
static const char *
offer_message(const Answer *ans)
{
	const char *version = str_field(ans->data, "latest_version");

	return msg(json_is_true(json_object_get(ans->data, "is_forced")) ? "client.update_available_forced"
			   : "client.update_available",
			   "version", version ? version : "?", "current", ans->current_version,
			   "size", size_text(json_object_get(ans->data, "file_size")), NULL);
}

/* rollout-client check */
static int
cmd_check(void)
{
	Answer		ans;
	int			rc = check_update(&ans);

	if (rc < 0)
	{
		if (json_is_true(json_object_get(ans.data, "has_update")))
		{
			json_object_set_new(result, "latest_version", json_string(str_field(ans.data, "latest_version")));
			rc = finish(EXIT_UPDATE_AVAILABLE, "update_available", offer_message(&ans));
		}
		else
			rc = finish(EXIT_UP_TO_DATE, "up_to_date",
						msg("client.up_to_date", "version", ans.current_version, NULL));
	}
	json_decref(ans.doc);
	return rc;
}

/* POST a report; a failure is a warning (the update itself goes on). */
static void
report(const char *route, json_t *body)
{
	char	   *url = join_url(route);
	char	   *text = json_dumps(body, JSON_COMPACT);
	HttpAnswer	a;

	if (http_request(url, text, &a) != 0)
		warn(msg("client.report_failed", "route", route, "error", a.error, NULL));
	else if (a.status < 200 || a.status > 299)
		warn(msg("client.report_failed", "route", route, "error", envelope_message(&a.body), NULL));
	buf_free(&a.body);
	free(url);
	free(text);
	json_decref(body);
}

/* Report install-result for version (error_message when it failed). */
static void
report_install(const Answer *ans, const char *version, int success, const char *error)
{
	json_t	   *b = json_pack("{s:s, s:s, s:s, s:b}", "version", version, "client_id", ans->client_id,
							  "project", project, "success", success);

	if (error)
		json_object_set_new(b, "error_message", json_string(error));
	report("/api/v1/install-result", b);
	json_object_set_new(result, "install_result_reported", json_string(success ? "success" : "failure"));
}

/* The download URL: absolute, or a path on the server. */
static char *
download_url(const char *u)
{
	const char *base = get(S_URL);
	const char *host;
	const char *slash;

	if (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0)
		return strdup(u);
	if (u[0] != '/' || u[1] == '/')
		return NULL;
	host = strstr(base, "://") + 3;
	slash = strchr(host, '/');
	if (slash == NULL)
		slash = base + strlen(base);
	{
		size_t		n = (size_t) (slash - base);
		char	   *out = malloc(n + strlen(u) + 1);

		memcpy(out, base, n);
		strcpy(out + n, u);
		return out;
	}
}

/* The file name at the end of a URL's path, if it is a safe one. */
static const char *
file_name(const char *url, char *out, size_t outlen)
{
	const char *end = url + strcspn(url, "?#");
	const char *start = end;
	size_t		n;

	while (start > url && start[-1] != '/')
		start--;
	n = (size_t) (end - start);
	if (n == 0 || n >= outlen || n > 128 || *start == '.' || *start == '-')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", start[i]))
			return NULL;
	memcpy(out, start, n);
	out[n] = '\0';
	return out;
}

/*
 * Run the install hook: sh -c HOOK rollout-install-hook FILE, with the
 * release described in ROLLOUT_* variables. Returns its exit status (a
 * signal counts as 128 + its number), or -1 when it could not start.
 */
static int
run_hook(const char *hook, const char *file, const Answer *ans, const char *version, const char *sha)
{
	pid_t		pid;
	int			status;
	char		num[32];

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		const char *channel = str_field(json_object_get(ans->data, "reason"), "channel");

		setenv("ROLLOUT_FILE", file, 1);
		setenv("ROLLOUT_VERSION", version, 1);
		setenv("ROLLOUT_PREVIOUS_VERSION", ans->current_version, 1);
		setenv("ROLLOUT_PROJECT", project, 1);
		setenv("ROLLOUT_CHANNEL", channel ? channel : (get(S_CHANNEL) ? get(S_CHANNEL) : ""), 1);
		snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(json_object_get(ans->data, "file_size")));
		setenv("ROLLOUT_FILE_SIZE", num, 1);
		setenv("ROLLOUT_FILE_SHA256", sha, 1);
		setenv("ROLLOUT_IS_FORCED", json_is_true(json_object_get(ans->data, "is_forced")) ? "true" : "false", 1);
		snprintf(num, sizeof(num), "%lld", ans->metadata_version);
		setenv("ROLLOUT_METADATA_VERSION", num, 1);
		/* the hook's output must not mix into a --json document */
		if (opt_json)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", hook, "rollout-install-hook", file, (char *) NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Verify a file against the signed size and sha256: 0, 1 size, 2 sha256, -1 unreadable. */
static int
verify_file(const char *path, long long size, const unsigned char want[32], char got_hex[65], long long *got_size)
{
	unsigned char got[32];

	if (sha256_file(path, got, got_size) != 0)
		return -1;
	hex_encode(got, 32, got_hex);
	if (*got_size != size)
		return 1;
	return memcmp(got, want, 32) == 0 ? 0 : 2;
}

/* rollout-client update */
static int
cmd_update(void)
{
	Answer		ans;
	int			rc = check_update(&ans);
	const char *version,
			   *checksum,
			   *url_field,
			   *dir = get(S_DOWNLOAD_DIR) ? get(S_DOWNLOAD_DIR) : ".";
	json_t	   *size_v;
	long long	size,
				got_size;
	unsigned char want[32];
	char		name[160],
				dest[PATH_MAX],
				part[PATH_MAX + 8],
				got_hex[65],
				num1[32],
				num2[32];
	char	   *url = NULL;
	DownloadResult dr;
	int			v,
				attempt;

	if (rc >= 0)
		return rc;
	if (!json_is_true(json_object_get(ans.data, "has_update")))
	{
		rc = finish(EXIT_UP_TO_DATE, "up_to_date", msg("client.up_to_date", "version", ans.current_version, NULL));
		json_decref(ans.doc);
		return rc;
	}
	version = str_field(ans.data, "latest_version");
	checksum = str_field(ans.data, "file_checksum");
	url_field = str_field(ans.data, "download_url");
	size_v = json_object_get(ans.data, "file_size");
	if (version == NULL || !printable(version, 128))
		rc = refused_answer(msg("client.answer_field", "field", "latest_version", NULL));
	else if (url_field == NULL || !json_is_integer(size_v) || json_integer_value(size_v) < 0 ||
			 checksum == NULL || parse_hex_sha256(checksum, want) != 0)
		rc = refused_answer(msg("client.answer_no_file", NULL));
	else if ((url = download_url(url_field)) == NULL ||
			 file_name(url, name, sizeof(name)) == NULL)
		rc = refused_answer(msg("client.answer_field", "field", "download_url", NULL));
	if (rc >= 0)
	{
		json_decref(ans.doc);
		return rc;
	}
	size = json_integer_value(size_v);
	json_object_set_new(result, "latest_version", json_string(version));
	json_object_set_new(result, "download_url", json_string(url));
	snprintf(dest, sizeof(dest), "%s/%s", dir, name);
	snprintf(part, sizeof(part), "%s.part", dest);
	json_object_set_new(result, "file", json_string(dest));
	info(offer_message(&ans));

	report("/api/v1/download-started",
		   json_pack("{s:s, s:s, s:s}", "version", version, "client_id", ans.client_id, "project", project));

	for (attempt = 0;; attempt++)
	{
		int			dl;

		dl = http_download(url, part, size, opt_progress && !opt_json && isatty(STDERR_FILENO), version, &dr);
		if (dr.resumed_from > 0)
		{
			snprintf(num1, sizeof(num1), "%lld", dr.resumed_from);
			snprintf(num2, sizeof(num2), "%lld", size);
			info(msg("client.download_resumed", "offset", num1, "size", num2, NULL));
			json_object_set_new(result, "resumed_from", json_integer(dr.resumed_from));
		}
		if (dl == DL_NETWORK)
		{
			snprintf(num1, sizeof(num1), "%lld", dr.bytes);
			snprintf(num2, sizeof(num2), "%lld", size);
			json_object_set_new(result, "partial_bytes", json_integer(dr.bytes));
			rc = finish(EXIT_NETWORK, "network_error",
						msg("client.download_interrupted", "bytes", num1, "size", num2, "error", dr.error,
							"part", part, NULL));
			break;
		}
		if (dl == DL_SERVER)
		{
			snprintf(num1, sizeof(num1), "%d", dr.status);
			rc = finish(EXIT_SERVER, "server_error", msg("client.server_error", "status", num1, "message", dr.error, NULL));
			break;
		}
		if (dl == DL_LOCAL)
		{
			rc = finish(EXIT_LOCAL, "local_error", msg("client.local_error", "error", dr.error, NULL));
			break;
		}
		v = dl == DL_TOO_LONG ? 1 : verify_file(part, size, want, got_hex, &got_size);
		if (v == 0)
			break;
		unlink(part);
		if (v > 0 && dr.resumed_from > 0 && attempt == 0)
			continue;			/* the kept part may have been another file's: once more, whole */
		snprintf(num2, sizeof(num2), "%lld", size);
		if (v < 0)
			rc = finish(EXIT_LOCAL, "local_error", msg("client.local_error", "error", part, NULL));
		else
		{
			const char *m;

			if (dl == DL_TOO_LONG)
				m = msg("client.refused_too_long", "expected", num2, NULL);
			else if (v == 1)
			{
				snprintf(num1, sizeof(num1), "%lld", got_size);
				m = msg("client.refused_size", "got", num1, "expected", num2, NULL);
			}
			else
				m = msg("client.refused_checksum", "got", got_hex, "expected", checksum + 7, NULL);
			report_install(&ans, version, 0, v == 2 ? "sha256 mismatch" : "size mismatch");
			rc = finish(EXIT_REFUSED_CHECKSUM, "refused_checksum", m);
		}
		break;
	}
	if (rc >= 0)
	{
		free(url);
		json_decref(ans.doc);
		return rc;
	}
	if (rename(part, dest) != 0)
	{
		rc = finish(EXIT_LOCAL, "local_error", msg("client.local_error", "error", strerror(errno), NULL));
		free(url);
		json_decref(ans.doc);
		return rc;
	}
	if (get(S_INSTALL_HOOK) == NULL)
		rc = finish(EXIT_UPDATED, "downloaded", msg("client.downloaded", "version", version, "file", dest, NULL));
	else
	{
		int			status = run_hook(get(S_INSTALL_HOOK), dest, &ans, version, got_hex);

		json_object_set_new(result, "hook_status", json_integer(status));
		if (status == 0)
		{
			report_install(&ans, version, 1, NULL);
			kv_set(&state, state_key("installed_version"), version);
			if ((rc = save_state()) == 0)
				rc = finish(EXIT_UPDATED, "updated", msg("client.updated", "version", version, "file", dest, NULL));
		}
		else
		{
			char		error[64];

			snprintf(num1, sizeof(num1), "%d", status);
			snprintf(error, sizeof(error), "install hook exited with status %d", status);
			report_install(&ans, version, 0, error);
			rc = finish(EXIT_HOOK_FAILED, "hook_failed", msg("client.hook_failed", "status", num1, NULL));
		}
	}
	free(url);
	json_decref(ans.doc);
	return rc;
}

/* rollout-client keys: the server's published keys (to pin one). */
static int
cmd_keys(void)
{
	char		path[160];
	char	   *url = NULL;
	HttpAnswer	a;
	json_t	   *doc,
			   *list,
			   *k;
	size_t		i;

	snprintf(path, sizeof(path), "/api/v1/projects/%s/keys", project);
	url = join_url(path);
	if (http_request(url, NULL, &a) != 0)
	{
		int			rc = network_error(url, a.error);

		free(url);
		return rc;
	}
	free(url);
	if (a.too_big)
		return refused_answer(msg("client.answer_too_big", NULL));
	if (a.status < 200 || a.status > 299)
		return server_error(&a);
	doc = json_loadb(a.body.data, a.body.len, JSON_REJECT_DUPLICATES, NULL);
	buf_free(&a.body);
	list = json_object_get(json_object_get(doc, "data"), "keys");
	if (!json_is_array(list))
	{
		json_decref(doc);
		return finish(EXIT_SERVER, "server_error", msg("client.server_error", "status", "200", "message", "no key list", NULL));
	}
	json_object_set(result, "keys", list);
	if (!opt_json)
		json_array_foreach(list, i, k)
			printf("%s  %-7s  %s\n", str_field(k, "keyid") ? str_field(k, "keyid") : "?",
				   str_field(k, "status") ? str_field(k, "status") : "?",
				   str_field(k, "public_key") ? str_field(k, "public_key") : "?");
	json_decref(doc);
	return finish(EXIT_UP_TO_DATE, "ok", NULL);
}

int
main(int argc, char **argv)
{
	struct option longopts[S_COUNT + 5];
	int			from_flag[S_COUNT] = {0};
	char		names[S_COUNT][32];
	int			c,
				rc;
	NetOptions	net;

	messages_init();
	result = json_object();
	for (int i = 0; i < S_COUNT; i++)
	{
		snprintf(names[i], sizeof(names[i]), "%s", settings[i].name);
		for (char *p = names[i]; *p; p++)
			if (*p == '_')
				*p = '-';
		longopts[i] = (struct option)
		{
			names[i], required_argument, NULL, 1000 + i
		};
	}
	longopts[S_COUNT] = (struct option) {"json", no_argument, NULL, 'j'};
	longopts[S_COUNT + 1] = (struct option) {"no-progress", no_argument, NULL, 'P'};
	longopts[S_COUNT + 2] = (struct option) {"help", no_argument, NULL, 'h'};
	longopts[S_COUNT + 3] = (struct option) {"version", no_argument, NULL, 'V'};
	longopts[S_COUNT + 4] = (struct option) {NULL, 0, NULL, 0};

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
	{
		if (c >= 1000 && c < 1000 + S_COUNT)
		{
			int			i = c - 1000;

			if (!from_flag[i])
			{
				free(settings[i].value);
				settings[i].value = NULL;
			}
			from_flag[i] = 1;
			append_value(i, optarg);
		}
		else if (c == 'j')
			opt_json = 1;
		else if (c == 'P')
			opt_progress = 0;
		else if (c == 'h')
		{
			usage(stdout);
			return EXIT_UP_TO_DATE;
		}
		else if (c == 'V')
		{
			printf("rollout-client " CLIENT_VERSION "\n");
			return EXIT_UP_TO_DATE;
		}
		else
		{
			const char *bad = argv[optind - 1];

			return finish(EXIT_USAGE, "usage_error", msg("client.bad_flag", "flag", bad, NULL));
		}
	}
	if (optind != argc - 1)
		return finish(EXIT_USAGE, "usage_error", msg("client.bad_command", "command", optind < argc ? argv[argc - 1] : "", NULL));
	command = argv[optind];
	json_object_set_new(result, "command", json_string(command));
	if (strcmp(command, "check") != 0 && strcmp(command, "update") != 0 && strcmp(command, "keys") != 0)
		return finish(EXIT_USAGE, "usage_error", msg("client.bad_command", "command", command, NULL));
	if ((rc = resolve_settings(from_flag)) != 0)
		return rc;
	if ((rc = prepare(strcmp(command, "keys") != 0)) != 0)
		return rc;

	net.timeout = get(S_TIMEOUT) ? atoi(get(S_TIMEOUT)) : 30;
	net.ca_file = get(S_CA_FILE);
	net.accept_language = get(S_LOCALE) ? get(S_LOCALE) : (strcmp(msg_lang(), "zh-CN") == 0 ? "zh-CN" : "en");
	net_init(&net);

	if (strcmp(command, "check") == 0)
		rc = cmd_check();
	else if (strcmp(command, "update") == 0)
		rc = cmd_update();
	else
		rc = cmd_keys();
	json_decref(result);
	kv_free(&state);
	return rc;
}
