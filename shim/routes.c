/*
 * routes.c
 *		The route table: the whole API of rollout-http, and the binding of a
 *		request's path and query string to the named arguments of its
 *		function (request.c adds the JSON body).
 *
 * What a route needs beyond its function is a flag, never a special case
 * by name elsewhere.  `rollout-http --routes` prints this table as JSON, so
 * that tests can cover every route (test/security walks it).
 */
#include <stdlib.h>
#include <string.h>

#include "routes.h"

const Route routes[] = {
	/* clients: no login, validated by the database */
	{"POST", "/api/v1/check-update", "check_update", AUTH_NONE, ROUTE_CLIENT | ROUTE_SHARE_TX},
	{"POST", "/api/v1/download-started", "download_started", AUTH_NONE, ROUTE_CLIENT},
	{"POST", "/api/v1/install-result", "install_result", AUTH_NONE, ROUTE_CLIENT},
	/* accounts */
	{"POST", "/admin/api/v1/auth/login", "login", AUTH_NONE, 0},
	{"POST", "/admin/api/v1/auth/logout", "revoke_token", AUTH_TOKEN, ROUTE_TOKEN_ARG},
	{"POST", "/admin/api/v1/auth/password", "change_password", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/me", "whoami", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/admins", "list_admins", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/admins", "create_admin", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/admins/{admin_id}", "update_admin", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/admins/{admin_id}/password", "reset_password", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/tokens", "list_api_tokens", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/tokens", "create_api_token", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/tokens/{token_id}", "revoke_api_token", AUTH_TOKEN, 0},
	/* projects */
	{"GET", "/admin/api/v1/projects", "list_projects", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/projects", "create_project", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/projects/{project}", "get_project", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/projects/{project}", "update_project", AUTH_TOKEN, 0},
	/* versions */
	{"GET", "/admin/api/v1/versions", "list_versions", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions", "create_version", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/versions/{version_id}", "get_version", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/versions/{version_id}", "update_version", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/versions/{version_id}", "delete_version", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/publish", "publish", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/pause", "pause_version", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/resume", "resume_version", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/yank", "yank_version", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/versions/{version_id}/artifacts", "add_artifact", AUTH_TOKEN, ROUTE_UPLOAD},
	{"GET", "/admin/api/v1/versions/{version_id}/cohort", "cohort_count", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/artifacts/{artifact_id}", "delete_artifact", AUTH_TOKEN, 0},
	/* approvals of publishes */
	{"GET", "/admin/api/v1/approvals", "list_approvals", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/approvals/{approval_id}/approve", "approve_publish", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/approvals/{approval_id}/reject", "reject_publish", AUTH_TOKEN, 0},
	/* channels, mirrors, rules */
	{"GET", "/admin/api/v1/channels", "list_channels", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/channels/{channel}", "set_channel", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/mirrors", "list_mirrors", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/mirrors/{region}", "set_mirror", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/mirrors/{region}", "delete_mirror", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/rules", "list_rules", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/rules", "create_rule", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/rules/{rule_id}", "get_rule", AUTH_TOKEN, 0},
	{"PUT", "/admin/api/v1/rules/{rule_id}", "update_rule", AUTH_TOKEN, 0},
	{"DELETE", "/admin/api/v1/rules/{rule_id}", "delete_rule", AUTH_TOKEN, 0},
	/* statistics and audit */
	{"GET", "/admin/api/v1/stats", "stats", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/distribution", "stats_distribution", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/regions", "stats_regions", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/funnel", "stats_funnel", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/stats/trend", "stats_trend", AUTH_TOKEN, 0},
	{"GET", "/admin/api/v1/audit", "list_audit", AUTH_TOKEN, 0},
	/* the admin UI */
	{"GET", "/admin/api/v1/dashboard", "dashboard", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/simulate", "simulate_check", AUTH_TOKEN, 0},
	{"POST", "/admin/api/v1/live/ticket", "live_ticket", AUTH_TOKEN, 0},
};
const int	nroutes = sizeof(routes) / sizeof(routes[0]);

/*
 * Does path match pattern?  Binds {name} segments into args (if not NULL):
 * a segment is never empty.  A trailing slash is allowed.
 */
static bool
match_path(const char *pattern, const char *path, json_t *args)
{
	while (*pattern && *path)
	{
		if (*pattern == '{')
		{
			const char *close = strchr(pattern, '}');
			const char *end = strchr(path, '/');
			char		name[64];
			size_t		n = close - pattern - 1;

			if (!end)
				end = path + strlen(path);
			if (end == path || n >= sizeof(name))
				return false;
			memcpy(name, pattern + 1, n);
			name[n] = '\0';
			if (args)
			{
				json_t	   *v = json_stringn(path, end - path);

				if (v == NULL)
					return false;	/* not UTF-8 */
				json_object_set_new(args, name, v);
			}
			pattern = close + 1;
			path = end;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

/*
 * The route for method and path, as an index in routes, or -1; *path_known
 * says whether another method would have matched (405 rather than 404).
 */
int
routes_find(const char *method, const char *path, bool *path_known)
{
	*path_known = false;
	for (int i = 0; i < nroutes; i++)
	{
		if (!match_path(routes[i].pattern, path, NULL))
			continue;
		*path_known = true;
		if (strcmp(routes[i].method, method) == 0)
			return i;
	}
	return -1;
}

/* The client route (ROUTE_CLIENT) for method and path, or -1. */
int
routes_client(const char *method, const char *path)
{
	for (int i = 0; i < nroutes; i++)
		if ((routes[i].flags & ROUTE_CLIENT) && strcmp(routes[i].method, method) == 0 &&
			match_path(routes[i].pattern, path, NULL))
			return i;
	return -1;
}

/* Bind the {name} segments of path into args; false if it does not match. */
bool
routes_bind_path(const Route *route, const char *path, json_t *args)
{
	return match_path(route->pattern, path, args);
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Form-decode [s, s + n) ('+' is a space, %XX a byte) into a new string; *len its length. */
static char *
form_decode(const char *s, size_t n, size_t *len)
{
	char	   *out = malloc(n + 1);
	size_t		o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
		{
			out[o++] = (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i] == '+' ? ' ' : s[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/*
 * Bind a URL-encoded query string into args (a later key wins).  False if
 * a key or value is not UTF-8 once decoded, or holds a NUL: such a request
 * is refused, never half-read.
 */
bool
routes_bind_query(const char *query, json_t *args)
{
	const char *p = query;

	if (query == NULL)
		return true;
	while (*p)
	{
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', end - p);
		size_t		klen,
					vlen;
		char	   *key,
				   *val;
		json_t	   *v;

		if (end > p)
		{
			key = form_decode(p, (eq ? eq : end) - p, &klen);
			vlen = 0;
			val = eq ? form_decode(eq + 1, end - eq - 1, &vlen) : strdup("");
			if (key == NULL || val == NULL || strlen(key) != klen || strlen(val) != vlen ||
				klen == 0 || (v = json_stringn(val, vlen)) == NULL || json_object_set_new(args, key, v) != 0)
			{
				free(key);
				free(val);
				return false;
			}
			free(key);
			free(val);
		}
		p = amp ? amp + 1 : end;
	}
	return true;
}

/* The route table as JSON, one array (rollout-http --routes). */
void
routes_print(FILE *out)
{
	json_t	   *all = json_array();
	char	   *text;

	for (int i = 0; i < nroutes; i++)
	{
		const Route *r = &routes[i];
		json_t	   *flags = json_array();

		if (r->flags & ROUTE_CLIENT)
			json_array_append_new(flags, json_string("client"));
		if (r->flags & ROUTE_SHARE_TX)
			json_array_append_new(flags, json_string("share_tx"));
		if (r->flags & ROUTE_UPLOAD)
			json_array_append_new(flags, json_string("upload"));
		if (r->flags & ROUTE_TOKEN_ARG)
			json_array_append_new(flags, json_string("token_arg"));
		json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:s, s:o}", "method", r->method,
											 "path", r->pattern, "function", r->function,
											 "auth", r->auth == AUTH_TOKEN ? "token" : "none", "flags", flags));
	}
	text = json_dumps(all, JSON_INDENT(1));
	fprintf(out, "%s\n", text);
	free(text);
	json_decref(all);
}
