/*
 * main.c
 *		rollout-http: the HTTP face of the rollout extension.
 *
 * The route table below is the whole API: each route names one SQL function
 * of schema rollout.  JSON bodies, path parameters and query parameters are
 * bound to the function's named arguments (db.c); the result is returned in
 * the original service's envelope {"code", "message", "data"}.  No decision
 * is made here.
 */
#define _GNU_SOURCE				/* asprintf */
#include <ctype.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "shim.h"

const Route routes[] = {
	/* clients: no login, validated by the database */
	{"POST", "/api/v1/check-update", "check_update", NULL, AUTH_NONE, ROUTE_BODY | ROUTE_SHARE_TX},
	{"POST", "/api/v1/download-started", "download_started", NULL, AUTH_NONE, ROUTE_BODY},
	{"POST", "/api/v1/install-result", "install_result", NULL, AUTH_NONE, ROUTE_BODY},
	/* accounts */
	{"POST", "/admin/api/v1/auth/login", "login", NULL, AUTH_NONE, 0},
	{"POST", "/admin/api/v1/auth/logout", "revoke_token", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/auth/password", "change_password", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/me", "whoami", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/admins", "list_admins", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/admins", "create_admin", "get_admin", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/admins/{admin_id}", "update_admin", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/admins/{admin_id}/password", "reset_password", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/tokens", "list_api_tokens", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/tokens", "create_api_token", NULL, AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/tokens/{token_id}", "revoke_api_token", NULL, AUTH_TOKEN, 0},
	/* projects */
	{"GET", "/admin/api/v1/projects", "list_projects", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/projects", "create_project", "get_project_by_id", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/projects/{project}", "get_project", NULL, AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/projects/{project}", "update_project", NULL, AUTH_TOKEN, 0},
	/* versions */
	{"GET", "/admin/api/v1/versions", "list_versions", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions", "create_version", "get_version", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/versions/{version_id}", "get_version", NULL, AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/versions/{version_id}", "update_version", NULL, AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/versions/{version_id}", "delete_version", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/publish", "publish", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/pause", "pause_version", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/resume", "resume_version", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/yank", "yank_version", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/artifacts", "add_artifact", "get_artifact", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/versions/{version_id}/cohort", "cohort_count", NULL, AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/artifacts/{artifact_id}", "delete_artifact", NULL, AUTH_TOKEN, 0},
	/* approvals of publishes */
	{"GET", "/admin/api/v1/approvals", "list_approvals", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/approvals/{approval_id}/approve", "approve_publish", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/approvals/{approval_id}/reject", "reject_publish", NULL, AUTH_TOKEN, 0},
	/* channels, mirrors, rules */
	{"GET", "/admin/api/v1/channels", "list_channels", NULL, AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/channels/{channel}", "set_channel", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/mirrors", "list_mirrors", NULL, AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/mirrors/{region}", "set_mirror", "get_mirror", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/mirrors/{region}", "delete_mirror", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/rules", "list_rules", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/rules", "create_rule", "get_rule", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/rules/{rule_id}", "get_rule", NULL, AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/rules/{rule_id}", "update_rule", NULL, AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/rules/{rule_id}", "delete_rule", NULL, AUTH_TOKEN, 0},
	/* statistics and audit */
	{"GET", "/admin/api/v1/stats", "stats", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/distribution", "stats_distribution", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/regions", "stats_regions", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/funnel", "stats_funnel", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/trend", "stats_trend", NULL, AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/audit", "list_audit", NULL, AUTH_TOKEN, 0},
	/* the admin UI */
	{"GET", "/admin/api/v1/dashboard", "dashboard", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/simulate", "simulate_check", NULL, AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/live/ticket", "live_ticket", NULL, AUTH_TOKEN, 0},
};
const int	nroutes = sizeof(routes) / sizeof(routes[0]);

/* Configuration, from flags and the environment. */
static const char *conninfo;
static const char *listen_addr = "127.0.0.1:8080";
static const char *web_root = "web/dist";
static const char *i18n_dir = "i18n";
static const char *trusted_proxies = "";
static const char *upload_dir = "uploads";
static long long max_upload = 1024LL * 1024 * 1024;
static long max_body = 1024 * 1024;
static int	threads = 16;
static int	db_lanes;			/* 0: one per two processors */
static int	client_timeout_ms = 10000;
static int	keep_alive_ms = 2000;
static int	shutdown_ms = 30000;	/* longest wait for requests in flight */
static double rate_limit = 20;
static volatile sig_atomic_t stopping;
static volatile sig_atomic_t draining;	/* stopping: new requests get 503 */
static int	in_flight;			/* requests being handled (atomic) */

/* Does path match pattern?  Captures {name} segments into params. */
static int
match_path(const char *pattern, const char *path, json_t *params)
{
	while (*pattern && *path)
	{
		if (*pattern == '{')
		{
			const char *close = strchr(pattern, '}');
			const char *end = strchr(path, '/');
			char		name[64];
			size_t		n = close - pattern - 1;
			size_t		vlen;
			json_t	   *value;

			if (!end)
				end = path + strlen(path);
			vlen = end - path;
			if (vlen == 0 || n >= sizeof(name))
				return 0;
			memcpy(name, pattern + 1, n);
			name[n] = '\0';
			/* a parameter is text: a segment that is not UTF-8 matches nothing */
			if (!(value = json_stringn(path, vlen)))
				return 0;
			if (params)
				json_object_set_new(params, name, value);
			else
				json_decref(value);
			pattern = close + 1;
			path = end;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

/*
 * Decode a URL-encoded query string into params (later keys win).  False if
 * a key or value decodes to a NUL byte or to text that is not UTF-8: such a
 * query is refused rather than bound cut short.
 */
static bool
parse_query(const char *qs, json_t *params)
{
	char	   *copy,
			   *key,
			   *val;
	char	   *save = NULL;
	bool		ok = true;
	size_t		n;

	if (!qs || !*qs)
		return true;
	/* a decoded text is never longer than its source: nothing is truncated */
	n = strlen(qs);
	copy = strdup(qs);
	key = malloc(n + 1);
	val = malloc(n + 1);
	for (char *pair = strtok_r(copy, "&", &save); pair && ok; pair = strtok_r(NULL, "&", &save))
	{
		char	   *eq = strchr(pair, '=');
		int			klen,
					vlen;
		json_t	   *v;

		if (eq)
			*eq = '\0';
		klen = mg_url_decode(pair, (int) strlen(pair), key, (int) n + 1, 1);
		if (klen <= 0)
			continue;
		vlen = mg_url_decode(eq ? eq + 1 : "", eq ? (int) strlen(eq + 1) : 0, val, (int) n + 1, 1);
		v = vlen < 0 || memchr(val, '\0', vlen) ? NULL : json_stringn(val, vlen);
		ok = v != NULL && strlen(key) == (size_t) klen && json_object_set_new(params, key, v) == 0;
		if (!ok && v && strlen(key) != (size_t) klen)
			json_decref(v);
	}
	free(copy);
	free(key);
	free(val);
	return ok;
}

/*
 * The client's address: the peer's, or the right-most of X-Forwarded-For
 * when the peer is a trusted proxy.
 */
static void
client_ip_from(const char *peer, const char *xff, char *out, size_t size)
{
	snprintf(out, size, "%s", peer);
	if (xff && *trusted_proxies)
	{
		char		list[1024];
		char	   *save = NULL;
		int			trusted = 0;

		snprintf(list, sizeof(list), "%s", trusted_proxies);
		for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
			trusted |= strcmp(t, peer) == 0;
		if (trusted)
		{
			/* the right-most address is the one our proxy saw */
			const char *last = strrchr(xff, ',');

			last = last ? last + 1 : xff;
			while (*last == ' ')
				last++;
			if (strlen(last) < size && strspn(last, "0123456789abcdefABCDEF:.") == strlen(last))
				snprintf(out, size, "%s", last);
		}
	}
}

/* The address of a civetweb request's client, which the front door passed on (front.c). */
static void
client_ip(const struct mg_connection *conn, char *out, size_t size)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	char		peer[64];

	if (!front_peer(ri->remote_port, peer, sizeof(peer)))
		snprintf(peer, sizeof(peer), "%s", ri->remote_addr);
	client_ip_from(peer, mg_get_header(conn, "X-Forwarded-For"), out, size);
}

double
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

/*
 * The Connection header of a response.  Successful answers keep HTTP/1.1
 * connections open (for keep_alive_ms) and say for how long, so clients stop
 * reusing an idle connection before we close it; errors, HTTP/1.0 and
 * clients that ask for it close.  keep: the client lets it stay open.
 */
static bool
response_closes(bool keep, int status)
{
	return status >= 400 || keep_alive_ms == 0 || !keep;
}

static const char *
connection_header_for(bool keep, int status, char *buf, size_t size)
{
	if (response_closes(keep, status))
		return "Connection: close\r\n";
	snprintf(buf, size, "Connection: keep-alive\r\nKeep-Alive: timeout=%d\r\n", keep_alive_ms < 1000 ? 1 : keep_alive_ms / 1000);
	return buf;
}

/* Does the client of a civetweb request let the connection stay open? */
static bool
client_keeps(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *c = mg_get_header(conn, "Connection");

	return strcmp(ri->http_version, "1.1") == 0 && (c == NULL || mg_strcasecmp(c, "close") != 0);
}

static const char *
connection_header(struct mg_connection *conn, int status, char *buf, size_t size)
{
	return connection_header_for(client_keeps(conn), status, buf, size);
}

/* s is well-formed UTF-8 (the request path may hold any bytes once decoded). */
static int
utf8_valid(const unsigned char *s)
{
	while (*s)
	{
		int			n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return 0;
		s++;
		for (int i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/*
 * Append s to buf as a JSON string (quotes included); returns the new end.
 * Bytes of a string that is not UTF-8 are escaped one by one.
 */
static char *
log_string(char *p, const char *end, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int			raw_ok = s == NULL || utf8_valid((const unsigned char *) s);

	if (p < end)
		*p++ = '"';
	for (; s && *s && p + 7 < end; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			*p++ = '\\';
			*p++ = (char) c;
		}
		else if (c < 0x20 || (c >= 0x80 && !raw_ok))
		{
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 15];
			p += 6;
		}
		else
			*p++ = (char) c;
	}
	if (p < end)
		*p++ = '"';
	return p;
}

/*
 * One access-log line on stdout: {"method","path","ip","status","ms","ts"}.
 * stdout is block-buffered (main flushes it every second and at exit), so a
 * request costs no write of its own; stdio's lock keeps lines whole.
 */
static void
access_log(const char *method, const char *path, const char *ip, int status, double ms)
{
	char		line[2048];
	char	   *p = line;
	char	   *end = line + sizeof(line) - 80;
	char		ts[32];
	time_t		t = time(NULL);
	struct tm	tm;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	p += sprintf(p, "{\"method\":");
	p = log_string(p, end, method);
	p += sprintf(p, ",\"path\":");
	p = log_string(p, end, path ? path : "");
	p += sprintf(p, ",\"ip\":");
	p = log_string(p, end, ip);
	p += snprintf(p, line + sizeof(line) - p, ",\"status\":%d,\"ms\":%.3f,\"ts\":\"%s\"}\n", status, ms, ts);
	fwrite(line, 1, p - line, stdout);
}

/*
 * A JSON response, header and body in one buffer (malloc'd, *len bytes):
 * its body is the concatenation of parts (NULL ends them, at most 7).  They
 * go out in one write: a header segment alone would wait for the client's
 * delayed ACK.
 */
static char *
http_response(int status, const char *const *parts, bool keep, size_t *len)
{
	size_t		blen = 0;
	size_t		plen[8];
	char		hdr[512];
	char		conn_hdr[96];
	int			n;
	int			i;
	char	   *out;

	for (i = 0; parts[i]; i++)
		blen += plen[i] = strlen(parts[i]);
	n = snprintf(hdr, sizeof(hdr),
				 "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
				 "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
				 status, mg_get_response_code_text(NULL, status), blen,
				 connection_header_for(keep, status, conn_hdr, sizeof(conn_hdr)),
				 status == 503 ? "Retry-After: 5\r\n" : status == 429 ? "Retry-After: 1\r\n" : "");
	if (n <= 0 || (size_t) n >= sizeof(hdr) || (out = malloc(n + blen)) == NULL)
		return NULL;
	memcpy(out, hdr, n);
	*len = n;
	for (i = 0; parts[i]; i++)
	{
		memcpy(out + *len, parts[i], plen[i]);
		*len += plen[i];
	}
	return out;
}

/* A request was answered: count it and write its access-log line. */
static void
request_done(int route, int status, double started, const char *method, const char *path, const char *ip)
{
	double		ms = now_ms() - started;

	metrics_record(route, status, ms / 1000.0);
	access_log(method, path, ip, status, ms);
}

/* Write a JSON response (see http_response), count it, log it. */
static void
respond_parts(struct mg_connection *conn, int route, int status, const char *const *parts, double started,
			  const char *ip)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t		len;
	char	   *out = http_response(status, parts, client_keeps(conn), &len);
	char		peer[64];

	if (out)
	{
		mg_write(conn, out, len);
		free(out);
	}
	if (ip == NULL)
	{
		client_ip(conn, peer, sizeof(peer));
		ip = peer;
	}
	request_done(route, status, started, ri->request_method, ri->local_uri, ip);
}

static void
respond_text(struct mg_connection *conn, int route, int status, const char *text, double started, const char *ip)
{
	const char *parts[2] = {text, NULL};

	respond_parts(conn, route, status, parts, started, ip);
}

/* The start of a successful envelope up to "data": in en and zh-CN (set up by main). */
static char *ok_envelope[2];

/* The statement of each client route (ROUTE_BODY), by route (set up by main). */
static char *client_sql[sizeof(routes) / sizeof(routes[0])];

const char *
client_statement(int route)
{
	return client_sql[route];
}

static char *
make_ok_envelope(const char *lang)
{
	char	   *msg = i18n_message(lang, "ok", NULL);
	json_t	   *m = json_string(msg ? msg : "ok");
	char	   *mtext = json_dumps(m, JSON_ENCODE_ANY);
	char	   *out = NULL;

	if (asprintf(&out, "{\"code\":200,\"message\":%s,\"data\":", mtext) < 0)
		out = NULL;
	free(mtext);
	json_decref(m);
	free(msg);
	return out;
}

/* Write a JSON response (see respond_text). */
static void
respond(struct mg_connection *conn, int route, int status, json_t *body, double started, const char *ip)
{
	char	   *text = json_dumps(body, JSON_COMPACT);

	respond_text(conn, route, status, text, started, ip);
	free(text);
}

/* The error envelope, its message in the request's language. */
static json_t *
error_body(int status, const char *lang, const DbResult *res)
{
	char		skey[16];
	char	   *msg = NULL;

	if (res && res->key)
	{
		char		k[96];

		snprintf(k, sizeof(k), "error.%s", res->key);
		msg = i18n_message(lang, k, res->field);
	}
	if (!msg)
	{
		snprintf(skey, sizeof(skey), "status.%d", status);
		msg = i18n_message(lang, skey, NULL);
	}
	{
		char	   *shim_detail = NULL;
		json_t	   *err;

		if (res && !res->sqlstate[0] && res->key)
		{
			/* decided here: the English message is the detail */
			char		k[96];

			snprintf(k, sizeof(k), "error.%s", res->key);
			shim_detail = i18n_message("en", k, res->field);
		}
		err = json_pack("{s:s?, s:s?, s:s?}",
						"sqlstate", res && res->sqlstate[0] ? res->sqlstate : NULL,
						"detail", shim_detail ? shim_detail : (res ? (res->detail ? res->detail : res->message) : NULL),
						"hint", res ? res->hint : NULL);
		free(shim_detail);
		json_t	   *body;

		if (res && res->field)
			json_object_set_new(err, "field", json_string(res->field));
		body = json_pack("{s:i, s:s, s:o}", "code", status, "message", msg ? msg : "error", "error", err);
		free(msg);
		return body;
	}
}

/* A request error decided here (no SQL ran). */
static void
respond_error(struct mg_connection *conn, int route, int status, const char *lang, const char *key,
			  const char *field, double started, const char *ip)
{
	DbResult	res;
	json_t	   *body;

	memset(&res, 0, sizeof(res));
	snprintf(res.sqlstate, sizeof(res.sqlstate), "%s", "");
	res.key = (char *) key;
	res.field = (char *) field;
	body = error_body(status, lang, &res);
	respond(conn, route, status, body, started, ip);
	json_decref(body);
}

/*
 * The response to a request whose call ended in res (status 200 with its
 * data, or an error): the envelope, in the request's language.  Its status
 * into *status.
 */
static char *
answer_response(const char *lang, const DbResult *res, bool keep, size_t *len, int *status)
{
	json_t	   *body;
	char	   *text,
			   *out;

	*status = res->status;
	if (res->status == 200 && res->raw)
	{
		/* the database's JSON text goes into the envelope as it is */
		const char *parts[4] = {ok_envelope[strcmp(lang, "zh-CN") == 0], res->raw, "}", NULL};

		return http_response(200, parts, keep, len);
	}
	if (res->status == 200)
	{
		char	   *msg = i18n_message(lang, "ok", NULL);

		body = json_pack("{s:i, s:s, s:O}", "code", 200, "message", msg ? msg : "ok", "data",
						 res->data ? res->data : json_null());
		free(msg);
	}
	else
		body = error_body(res->status, lang, res);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	{
		const char *parts[2] = {text ? text : "", NULL};

		out = http_response(*status, parts, keep, len);
	}
	free(text);
	return out;
}

/* A request error decided here, without SQL, into res. */
static void
set_request_error(DbResult *res, int status, const char *key)
{
	memset(res, 0, sizeof(*res));
	res->status = status;
	res->key = strdup(key);
}

/*
 * A client route's body (ROUTE_BODY) as the JSON text of its call's one
 * argument: the body's object with the request's metadata, which comes from
 * the connection, never from the client.  NULL with res set if the body is
 * not a JSON object.
 */
static char *
client_arg(const char *body, size_t len, const char *ip, const char *user_agent, DbResult *res)
{
	json_error_t err;
	json_t	   *json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	char	   *arg;

	if (!json)
	{
		set_request_error(res, 400, "bad_json");
		return NULL;
	}
	if (!json_is_object(json))
	{
		json_decref(json);
		set_request_error(res, 400, "not_object");
		return NULL;
	}
	json_object_set_new(json, "ip", json_string(ip));
	/* the header's user agent (if it is text), never the body's own */
	if (!user_agent || json_object_set_new(json, "user_agent", json_string(user_agent)) != 0)
		json_object_del(json, "user_agent");
	arg = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	return arg;
}

/* The client route (ROUTE_BODY) for method and path, or -1. */
int
client_route(const char *method, const char *path)
{
	for (int i = 0; i < nroutes; i++)
		if ((routes[i].flags & ROUTE_BODY) && strcmp(routes[i].method, method) == 0 &&
			match_path(routes[i].pattern, path, NULL))
			return i;
	return -1;
}

/*
 * A client's request read by the front door (front.c), q's input filled in.
 * Either the response is decided here (returned, *len bytes, the request
 * done), or NULL is returned with q->arg set: then run routes[q->route]'s
 * statement with it and pass the result to client_end.
 */
char *
client_begin(ClientRequest *q, const char *peer, const char *xff, const char *user_agent,
			 const char *body, size_t blen, size_t *len)
{
	char	   *out;
	int			status;

	memset(&q->res, 0, sizeof(q->res));
	q->arg = NULL;
	client_ip_from(peer, xff, q->ip, sizeof(q->ip));
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	if (draining)
		set_request_error(&q->res, 503, "shutting_down");
	else if (!limits_allow(q->ip))
		set_request_error(&q->res, 429, "rate_limited");
	else if ((q->arg = client_arg(body, blen, q->ip, user_agent, &q->res)) != NULL)
		return NULL;
	out = answer_response(q->lang, &q->res, q->keep, len, &status);
	q->close = response_closes(q->keep, status);
	request_done(draining ? -1 : q->route, status, q->started, q->method, q->path, q->ip);
	db_result_free(&q->res);
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return out;
}

/* The response to a client's request whose call (see client_begin) returned r, or failed into q->res. */
char *
client_end(ClientRequest *q, PGresult *r, size_t *len)
{
	char	   *out;
	int			status;

	db_client_result(r, &q->res);
	out = answer_response(q->lang, &q->res, q->keep, len, &status);
	q->close = response_closes(q->keep, status);
	request_done(q->route, status, q->started, q->method, q->path, q->ip);
	db_result_free(&q->res);
	free(q->arg);
	q->arg = NULL;
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return out;
}

/*
 * Read the body with a size cap: NULL and *too_large if above max_body.  A
 * body that fits goes into stack (of size BODY_STACK + 1), else into memory
 * from malloc: free the result if it is not stack.
 */
#define BODY_STACK 8192
static char *
read_body(struct mg_connection *conn, char *stack, size_t *len, int *too_large)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t		cap = BODY_STACK,
				n = 0;
	char	   *buf = stack;

	*too_large = 0;
	if (ri->content_length > max_body)
	{
		*too_large = 1;
		return NULL;
	}
	for (;;)
	{
		int			got;

		if (n == cap)
		{
			if ((long) cap >= max_body)
			{
				/* more than announced, or chunked: still capped */
				char		sink[512];

				if (mg_read(conn, sink, sizeof(sink)) > 0)
				{
					if (buf != stack)
						free(buf);
					*too_large = 1;
					return NULL;
				}
				break;
			}
			cap = cap * 2 > (size_t) max_body ? (size_t) max_body : cap * 2;
			if (buf == stack)
			{
				buf = malloc(cap + 1);
				memcpy(buf, stack, n);
			}
			else
				buf = realloc(buf, cap + 1);
		}
		got = mg_read(conn, buf + n, cap - n);
		if (got <= 0)
			break;
		n += got;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The per-thread database connection (init_thread / mg_get_thread_pointer). */
static void *
init_thread(const struct mg_context *ctx, int thread_type)
{
	(void) ctx;
	if (thread_type != 1)
		return NULL;
	return calloc(1, sizeof(PGconn *));
}

static void
exit_thread(const struct mg_context *ctx, int thread_type, void *ptr)
{
	(void) ctx;
	(void) thread_type;
	if (ptr)
	{
		PGconn	  **c = ptr;

		if (*c)
		{
			PQfinish(*c);
			metrics_connection(-1);
		}
		free(c);
	}
	db_thread_end();
}

/*
 * The recorder's health from rollout.check_queue(): "ok" (it records this
 * database's checks), "unavailable" (it should and does not: each check is
 * recorded by its own transaction, at a third of the throughput), "off"
 * (not configured for this database), "unknown" (state not readable).
 */
static const char *
recorder_health(const json_t *state)
{
	if (state == NULL)
		return "unknown";
	if (json_is_true(json_object_get(state, "enabled")))
		return "ok";
	if (json_is_true(json_object_get(state, "expected")))
		return "unavailable";
	return "off";
}

/*
 * /healthz: the process answers, the database does too, and the check
 * recorder runs.  A missing recorder is "degraded" with 200: requests are
 * still served correctly, only slower, so a load balancer must not take the
 * server out; 503 is for the database alone.
 */
static int
healthz(struct mg_connection *conn, void *cbdata)
{
	double		started = now_ms();
	bool		ok;
	json_t	   *state;
	const char *recorder;
	const char *message;
	json_t	   *body;

	(void) cbdata;
	state = db_check_queue(mg_get_thread_pointer(conn), conninfo, &ok);
	recorder = recorder_health(state);
	message = !ok ? "unavailable" : strcmp(recorder, "unavailable") == 0 ? "degraded" : "ok";
	body = json_pack("{s:i, s:s, s:{s:s, s:s, s:s}}", "code", ok ? 200 : 503, "message", message,
					 "data", "process", "ok", "database", ok ? "ok" : "unavailable", "recorder", recorder);
	respond(conn, -1, ok ? 200 : 503, body, started, NULL);
	json_decref(body);
	json_decref(state);
	return 1;
}

/* /metrics: Prometheus text format, the recorder's state read at scrape time. */
static int
metrics(struct mg_connection *conn, void *cbdata)
{
	bool		db_ok;
	json_t	   *state = db_check_queue(mg_get_thread_pointer(conn), conninfo, &db_ok);
	char	   *text = metrics_text(state);
	char		hdr[96];

	(void) cbdata;
	json_decref(state);
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			  "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n", strlen(text),
			  connection_header(conn, 200, hdr, sizeof(hdr)));
	mg_write(conn, text, strlen(text));
	free(text);
	return 1;
}

/* Every /api and /admin/api request. */
static int
api_handler(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *lang = i18n_lang(mg_get_header(conn, "Accept-Language"));
	double		started = now_ms();
	char		ip[64];
	const Route *route = NULL;
	int			ri_index = -1;
	int			path_known = 0;
	json_t	   *args = json_object();
	const char *authz;
	const char *token = NULL;
	DbResult	res = {0};

	(void) cbdata;
	client_ip(conn, ip, sizeof(ip));
	for (int i = 0; i < nroutes; i++)
	{
		if (!match_path(routes[i].pattern, ri->local_uri, NULL))
			continue;
		path_known = 1;
		if (strcmp(routes[i].method, ri->request_method) == 0)
		{
			route = &routes[i];
			ri_index = i;
			break;
		}
	}
	if (!route)
	{
		respond_error(conn, -1, path_known ? 405 : 404, lang,
					  path_known ? "method_not_allowed" : "route_not_found", NULL, started, ip);
		json_decref(args);
		return 1;
	}

	/* clients are limited per address, before their body is even read */
	if ((route->flags & ROUTE_BODY) && !limits_allow(ip))
	{
		respond_error(conn, ri_index, 429, lang, "rate_limited", NULL, started, ip);
		json_decref(args);
		return 1;
	}

	authz = mg_get_header(conn, "Authorization");
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
		token = authz + 7;
	if (route->auth == AUTH_TOKEN && token == NULL)
	{
		respond_error(conn, ri_index, 401, lang, "invalid_token", NULL, started, ip);
		json_decref(args);
		return 1;
	}

	/* arguments: query string, then the JSON body, then path parameters */
	if (!parse_query(ri->query_string, args))
	{
		respond_error(conn, ri_index, 400, lang, "invalid", "query", started, ip);
		json_decref(args);
		return 1;
	}
	if (strcmp(route->function, "add_artifact") == 0 && mg_get_header(conn, "Content-Type") &&
		strncasecmp(mg_get_header(conn, "Content-Type"), "application/json", 16) != 0)
	{
		/* a file upload: streamed to disk, then registered */
		match_path(route->pattern, ri->local_uri, args);
		files_upload(conn, (PGconn **) mg_get_thread_pointer(conn), conninfo, args, token, &res);
		goto answer;
	}
	if (strcmp(ri->request_method, "POST") == 0 || strcmp(ri->request_method, "PUT") == 0)
	{
		size_t		len = 0;
		int			too_large;
		char		stack[BODY_STACK + 1];
		char	   *text = read_body(conn, stack, &len, &too_large);

		if (too_large)
		{
			respond_error(conn, ri_index, 413, lang, "body_too_large", NULL, started, ip);
			json_decref(args);
			return 1;
		}
		if (route->flags & ROUTE_BODY)
		{
			const char *ua = mg_get_header(conn, "User-Agent");
			char	   *arg = client_arg(text, len, ip, ua, &res);

			if (text != stack)
				free(text);
			if (arg)
				db_client_call(client_sql[ri_index], arg, (route->flags & ROUTE_SHARE_TX) != 0, &res);
			free(arg);
			goto answer;
		}
		if (len > 0)
		{
			json_error_t err;
			json_t	   *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

			if (text != stack)
				free(text);
			if (!json)
			{
				respond_error(conn, ri_index, 400, lang, "bad_json", NULL, started, ip);
				json_decref(args);
				return 1;
			}
			if (!json_is_object(json))
			{
				json_decref(json);
				respond_error(conn, ri_index, 400, lang, "not_object", NULL, started, ip);
				json_decref(args);
				return 1;
			}
			json_object_update(args, json);
			json_decref(json);
		}
		else if (text != stack)
			free(text);
	}
	match_path(route->pattern, ri->local_uri, args);

	if (token && strcmp(route->function, "revoke_token") == 0)
		json_object_set_new(args, "token", json_string(token));

	db_call((PGconn **) mg_get_thread_pointer(conn), conninfo, route, args, token, &res);
answer:
	{
		size_t		len;
		int			status;
		char	   *out = answer_response(lang, &res, client_keeps(conn), &len, &status);

		if (out)
			mg_write(conn, out, len);
		free(out);
		request_done(ri_index, status, started, ri->request_method, ri->local_uri, ip);
	}
	db_result_free(&res);
	json_decref(args);
	return 1;
}

/*
 * civetweb's first look at a request: only the front door's tunnels may
 * reach it, so that every request has its client's address (front.c).
 */
static int
from_front(struct mg_connection *conn)
{
	char		peer[64];

	if (front_peer(mg_get_request_info(conn)->remote_port, peer, sizeof(peer)))
		return 0;
	mg_printf(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	return 1;
}

/* civetweb's authorization step, for routes that authenticate in the database */
static int
authorized(struct mg_connection *conn, void *cbdata)
{
	(void) conn;
	(void) cbdata;
	return 1;
}

/*
 * Every handler runs through this: counts requests in flight, so that a
 * shutdown can wait for them, and turns new requests away once it began.
 */
typedef struct Counted
{
	int			(*handler) (struct mg_connection *conn, void *cbdata);
	void	   *cbdata;
} Counted;

static int
counted(struct mg_connection *conn, void *cbdata)
{
	const Counted *c = cbdata;
	int			rc;

	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	if (draining)
	{
		respond_error(conn, -1, 503, i18n_lang(mg_get_header(conn, "Accept-Language")), "shutting_down",
					  NULL, now_ms(), NULL);
		rc = 1;
	}
	else
		rc = c->handler(conn, c->cbdata);
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static void
on_signal(int sig)
{
	(void) sig;
	stopping = 1;
}

static void
usage(void)
{
	printf("rollout-http: the HTTP API of the rollout extension\n\n"
		   "Usage: rollout-http [options]\n\n"
		   "  --database-url URL   PostgreSQL connection string     (DATABASE_URL)\n"
		   "  --listen HOST:PORT   address to listen on             (ROLLOUT_LISTEN, default 127.0.0.1:8080)\n"
		   "  --web-root DIR       the admin UI served at /         (ROLLOUT_WEB_ROOT, default ./web/dist)\n"
		   "  --i18n DIR           message catalogs                 (ROLLOUT_I18N_DIR, default ./i18n)\n"
		   "  --max-body BYTES     largest request body accepted    (ROLLOUT_MAX_BODY, default 1048576)\n"
		   "  --threads N          worker threads for everything but the clients' routes; an\n"
		   "                       open connection holds one; each opens a database connection\n"
		   "                       for admin routes (ROLLOUT_THREADS, default 16)\n"
		   "  --db-lanes N         event loops answering the clients' routes, each with its own\n"
		   "                       database connection to which it sends requests in batches\n"
		   "                       (ROLLOUT_DB_LANES, default: one per two processors)\n"
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
		   "  --help               this text\n\n"
		   "Stops gracefully on SIGTERM or SIGINT: requests in flight finish first.\n");
}

static const char *
env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int
main(int argc, char **argv)
{
	char		ports[128];
	char		threads_text[16];
	char		keep_alive_text[16];
	const char *options[32];
	int			o = 0;
	struct mg_callbacks callbacks;
	struct mg_context *ctx;
	struct mg_server_port internal;
	struct rlimit files;

	/* each open connection is a descriptor, two when relayed to civetweb: take what is allowed */
	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max)
	{
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	/* access-log lines: written in blocks, flushed every second (see access_log) */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	conninfo = env_or("DATABASE_URL", NULL);
	listen_addr = env_or("ROLLOUT_LISTEN", listen_addr);
	web_root = env_or("ROLLOUT_WEB_ROOT", web_root);
	i18n_dir = env_or("ROLLOUT_I18N_DIR", i18n_dir);
	trusted_proxies = env_or("ROLLOUT_TRUSTED_PROXIES", trusted_proxies);
	max_body = atol(env_or("ROLLOUT_MAX_BODY", "1048576"));
	threads = atoi(env_or("ROLLOUT_THREADS", "16"));
	db_lanes = atoi(env_or("ROLLOUT_DB_LANES", "0"));
	client_timeout_ms = atoi(env_or("ROLLOUT_CLIENT_TIMEOUT_MS", "10000"));
	keep_alive_ms = atoi(env_or("ROLLOUT_KEEP_ALIVE_MS", "2000"));
	rate_limit = atof(env_or("ROLLOUT_RATE_LIMIT", "20"));
	upload_dir = env_or("ROLLOUT_UPLOAD_DIR", upload_dir);
	max_upload = atoll(env_or("ROLLOUT_MAX_UPLOAD", "1073741824"));
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage();
			return 0;
		}
		if (v == NULL)
		{
			fprintf(stderr, "rollout-http: %s needs a value (see --help)\n", a);
			return 2;
		}
		if (strcmp(a, "--database-url") == 0)
			conninfo = v;
		else if (strcmp(a, "--listen") == 0)
			listen_addr = v;
		else if (strcmp(a, "--web-root") == 0)
			web_root = v;
		else if (strcmp(a, "--i18n") == 0)
			i18n_dir = v;
		else if (strcmp(a, "--max-body") == 0)
			max_body = atol(v);
		else if (strcmp(a, "--threads") == 0)
			threads = atoi(v);
		else if (strcmp(a, "--db-lanes") == 0)
			db_lanes = atoi(v);
		else if (strcmp(a, "--client-timeout-ms") == 0)
			client_timeout_ms = atoi(v);
		else if (strcmp(a, "--keep-alive-ms") == 0)
			keep_alive_ms = atoi(v);
		else if (strcmp(a, "--trusted-proxies") == 0)
			trusted_proxies = v;
		else if (strcmp(a, "--rate-limit") == 0)
			rate_limit = atof(v);
		else if (strcmp(a, "--upload-dir") == 0)
			upload_dir = v;
		else if (strcmp(a, "--max-upload") == 0)
			max_upload = atoll(v);
		else
		{
			fprintf(stderr, "rollout-http: unknown option %s (see --help)\n", a);
			return 2;
		}
		i++;
	}
	if (!conninfo)
	{
		fprintf(stderr, "rollout-http: set DATABASE_URL or --database-url\n");
		return 2;
	}
	if (db_lanes == 0)
	{
		/* measured on 2 processors: one lane did as well as two (bench/README.md) */
		long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

		db_lanes = cpus < 2 ? 1 : cpus > 32 ? 16 : (int) (cpus / 2);
	}
	if (max_body < 1024 || threads < 1 || threads > 256 || db_lanes < 1 || db_lanes > 64 ||
		keep_alive_ms < 0 || keep_alive_ms > 600000 || client_timeout_ms < 0 || client_timeout_ms > 3600000)
	{
		fprintf(stderr, "rollout-http: --max-body must be at least 1024, --threads 1 to 256,"
				" --db-lanes 1 to 64, --keep-alive-ms 0 to 600000 and --client-timeout-ms 0 to 3600000\n");
		return 2;
	}
	if (i18n_load(i18n_dir) != 0 || db_load_signatures(conninfo) != 0)
		return 1;
	for (int i = 0; i < nroutes; i++)
		if (routes[i].flags & ROUTE_BODY)
			client_sql[i] = db_client_sql(&routes[i]);
	ok_envelope[0] = make_ok_envelope("en");
	ok_envelope[1] = make_ok_envelope("zh-CN");
	if (ok_envelope[0] == NULL || ok_envelope[1] == NULL)
		return 1;
	limits_set_rate(rate_limit);
	if (strlen(upload_dir) > 2048)
	{
		fprintf(stderr, "rollout-http: the upload directory path is too long\n");
		return 2;
	}
	if (mkdir(upload_dir, 0755) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "rollout-http: cannot create the upload directory %s: %s\n", upload_dir, strerror(errno));
		return 1;
	}
	files_configure(upload_dir, max_upload);
	metrics_init(threads, db_lanes);
	lanes_start(db_lanes, conninfo, client_timeout_ms);

	/* civetweb listens privately: the front door owns listen_addr (front.c) */
	snprintf(ports, sizeof(ports), "127.0.0.1:0");
	snprintf(threads_text, sizeof(threads_text), "%d", threads);
	options[o++] = "listening_ports";
	options[o++] = ports;
	options[o++] = "num_threads";
	options[o++] = threads_text;
	/* no document_root: the UI's files are sent by files_web, with their own headers */
	files_configure_web(web_root);
	options[o++] = "enable_directory_listing";
	options[o++] = "no";
	/*
	 * civetweb ties a worker thread to a connection while it is open, so an
	 * idle persistent connection holds a thread for at most keep_alive_ms;
	 * responses announce that timeout (Keep-Alive: timeout=N) so that clients
	 * stop reusing a connection before the server closes it.
	 */
	snprintf(keep_alive_text, sizeof(keep_alive_text), "%d", keep_alive_ms);
	options[o++] = "enable_keep_alive";
	options[o++] = keep_alive_ms > 0 ? "yes" : "no";
	options[o++] = "keep_alive_timeout_ms";
	options[o++] = keep_alive_text;
	options[o++] = "tcp_nodelay";
	options[o++] = "1";
	options[o++] = "request_timeout_ms";
	options[o++] = "30000";
	options[o] = NULL;

	mg_init_library(0);
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.init_thread = init_thread;
	callbacks.exit_thread = exit_thread;
	callbacks.begin_request = from_front;
	ctx = mg_start(&callbacks, NULL, options);
	if (ctx == NULL || mg_get_server_ports(ctx, 1, &internal) != 1 ||
		front_start(listen_addr, internal.port, db_lanes, max_body, keep_alive_ms) != 0)
	{
		fprintf(stderr, "rollout-http: cannot listen on %s\n", listen_addr);
		if (ctx)
			mg_stop(ctx);
		mg_exit_library();
		lanes_stop();
		return 1;
	}
	{
		static Counted api = {api_handler, NULL}, health = {healthz, NULL}, prom = {metrics, NULL},
					download = {files_download, NULL}, web = {files_web, NULL};

		mg_set_request_handler(ctx, "/api/", counted, &api);
		mg_set_request_handler(ctx, "/admin/api/", counted, &api);
		mg_set_request_handler(ctx, "/healthz$", counted, &health);
		mg_set_request_handler(ctx, "/metrics$", counted, &prom);
		mg_set_request_handler(ctx, "/download/", counted, &download);
		/* last: every other path is the admin UI's (handlers registered earlier match first) */
		mg_set_request_handler(ctx, "/", counted, &web);
		/*
		 * These routes authenticate in the database (bearer tokens), never
		 * with civetweb's password files: without this, civetweb looks for a
		 * .htpasswd file, one failing stat per request.
		 */
		mg_set_auth_handler(ctx, "/api/", authorized, NULL);
		mg_set_auth_handler(ctx, "/admin/api/", authorized, NULL);
		mg_set_auth_handler(ctx, "/healthz$", authorized, NULL);
		mg_set_auth_handler(ctx, "/metrics$", authorized, NULL);
	}
	live_start(ctx, conninfo);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "rollout-http: listening on http://%s (civetweb on 127.0.0.1:%d, for the front door only)\n",
			listen_addr, internal.port);
	while (!stopping)
	{
		sleep(1);
		fflush(stdout);
	}
	fprintf(stderr, "rollout-http: stopping (finishing requests in flight)\n");
	draining = 1;
	live_stop();
	/*
	 * civetweb drops unwritten responses once stopped: wait for them first
	 * (the front door goes on relaying them), and for the front door's own
	 */
	for (int waited = 0; __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST) > 0 && waited < shutdown_ms; waited += 10)
		usleep(10000);
	mg_stop(ctx);
	front_stop();
	mg_exit_library();
	lanes_stop();
	fflush(stdout);
	free(ok_envelope[0]);
	free(ok_envelope[1]);
	return 0;
}
