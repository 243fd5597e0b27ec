/*
 * fuzz_request.c
 *		libFuzzer target for how rollout-http reads a request: the path
 *		against the route table (routes.c match_path, routes_client), the
 *		query string (routes_bind_query), the client's address behind a
 *		proxy and a client's JSON body (request.c client_ip_from, client_arg).
 *
 * routes.c and request.c are included, so their static functions are
 * reachable; the rest of the shim is linked as is.  The input is split at
 * its first two 0xff bytes into path, query and body.  Properties:
 *  - a path matches a route pattern exactly when the pattern with its
 *    captured parameters put back gives the path (an optional final slash
 *    aside); parameters are never empty and never hold a slash;
 *  - a query is refused when a key or value decodes to a NUL byte or to
 *    text that is not UTF-8, or a value has no name; else every pair is bound whole, as an
 *    independent decoder reads it (nothing truncated or cut at a NUL);
 *  - the address is the peer's, or one made of hex digits, colons and dots;
 *  - a client's body becomes an object whose "ip" is the connection's and
 *    whose "user_agent" is the header's (or absent), its other keys kept.
 */
#define _GNU_SOURCE
#include <stdint.h>

#include "../../shim/routes.c"
#include "../../shim/request.c"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
ref_hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* form decoding, written plainly: %XX (two hex digits) and '+' */
static size_t
ref_decode(const char *s, size_t n, char *out)
{
	size_t		j = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%' && i + 2 < n && ref_hexval(s[i + 1]) >= 0 && ref_hexval(s[i + 2]) >= 0)
		{
			out[j++] = (char) (ref_hexval(s[i + 1]) * 16 + ref_hexval(s[i + 2]));
			i += 2;
		}
		else if (s[i] == '+')
			out[j++] = ' ';
		else
			out[j++] = s[i];
	}
	return j;
}

static void
check_path(const char *path)
{
	for (int i = 0; i < nroutes; i++)
	{
		json_t	   *params = json_object();
		int			m = match_path(routes[i].pattern, path, params);
		char		rebuilt[8192];
		size_t		n = 0;
		const char *p = routes[i].pattern;

		/* put the parameters back into the pattern */
		while (*p && n < sizeof(rebuilt) - 1)
		{
			if (*p == '{')
			{
				const char *close = strchr(p, '}');
				char		name[64];
				const char *v;

				memcpy(name, p + 1, close - p - 1);
				name[close - p - 1] = '\0';
				v = json_string_value(json_object_get(params, name));
				if (m && (!v || !*v || strchr(v, '/')))
					abort();
				n += snprintf(rebuilt + n, sizeof(rebuilt) - n, "%s", v ? v : "{}");
				p = close + 1;
			}
			else
				rebuilt[n++] = *p++;
		}
		rebuilt[n < sizeof(rebuilt) ? n : sizeof(rebuilt) - 1] = '\0';
		if (m)
		{
			size_t		pl = strlen(path);

			if (!(strcmp(rebuilt, path) == 0 ||
				  (pl > 0 && path[pl - 1] == '/' && strlen(rebuilt) == pl - 1 && strncmp(rebuilt, path, pl - 1) == 0)))
				abort();
		}
		else if (strchr(routes[i].pattern, '{') == NULL && strcmp(routes[i].pattern, path) == 0)
			abort();
		json_decref(params);
		if ((routes[i].flags & ROUTE_CLIENT) && m && routes_client(routes[i].method, path) != i)
			abort();
	}
}

static void
check_query(const char *qs)
{
	json_t	   *params = json_object();
	json_t	   *ref = json_object();
	size_t		n = strlen(qs);
	char	   *copy = strdup(qs);
	char	   *save = NULL;
	char	   *kbuf = malloc(n + 1),
			   *vbuf = malloc(n + 1);
	bool		refusable = false;

	/* the reference: every pair decoded whole, later keys win */
	for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save))
	{
		char	   *eq = strchr(pair, '=');
		size_t		klen,
					vlen;
		json_t	   *v,
				   *k;

		if (eq)
			*eq = '\0';
		klen = ref_decode(pair, strlen(pair), kbuf);
		vlen = eq ? ref_decode(eq + 1, strlen(eq + 1), vbuf) : 0;
		if (klen == 0)
		{
			refusable = true;	/* "=value": a value without a name */
			continue;
		}
		v = json_stringn(vbuf, vlen);
		kbuf[klen] = '\0';
		k = json_string(kbuf);	/* NULL if the key is not UTF-8 */
		json_decref(k);
		if (!v || memchr(vbuf, '\0', vlen) || strlen(kbuf) != klen || !k)
		{
			refusable = true;
			json_decref(v);
			continue;
		}
		json_object_set_new(ref, kbuf, v);
	}
	if (!routes_bind_query(qs, params))
	{
		if (!refusable)
			abort();
	}
	else if (refusable || !json_equal(params, ref))
		abort();
	json_decref(params);
	json_decref(ref);
	free(copy);
	free(kbuf);
	free(vbuf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	char	   *query = NULL,
			   *body = NULL;
	char	   *cut;

	memcpy(s, data, size);
	s[size] = '\0';
	if ((cut = memchr(s, 0xff, size)) != NULL)
	{
		*cut = '\0';
		query = cut + 1;
		if ((cut = memchr(query, 0xff, size - (query - s))) != NULL)
		{
			*cut = '\0';
			body = cut + 1;
		}
	}
	check_path(s);
	if (query)
	{
		char		out[64];

		check_query(query);
		config.trusted_proxies = "127.0.0.1,::1";
		client_ip_from("127.0.0.1", query, out, sizeof(out));
		if (strcmp(out, "127.0.0.1") != 0 && strspn(out, "0123456789abcdefABCDEF:.") != strlen(out))
			abort();
		config.trusted_proxies = "";
	}
	if (body)
	{
		size_t		blen = size - (body - s);
		DbResult	res;
		char	   *arg;

		memset(&res, 0, sizeof(res));
		arg = client_arg(body, blen, "10.1.2.3", query, &res);
		if (arg)
		{
			json_t	   *j = json_loads(arg, 0, NULL);

			if (!j || !json_is_object(j) ||
				strcmp(json_string_value(json_object_get(j, "ip")), "10.1.2.3") != 0)
				abort();
			/* the header's user agent, or none: never the body's own */
			if (json_object_get(j, "user_agent") &&
				(!query || strcmp(json_string_value(json_object_get(j, "user_agent")), query) != 0))
				abort();
			json_decref(j);
			free(arg);
		}
		else if (res.status != 400)
			abort();
		result_free(&res);
	}
	free(s);
	return 0;
}
