/*
 * http_head.c
 *		The client address's reading of a request head.
 *
 * Only what the client address answers is read here: a POST with a
 * Content-Length and nothing that asks for more of HTTP (chunked bodies,
 * an Expect other than 100-continue, Upgrade, folded or malformed lines, a
 * target with a query or escapes).  Everything else is HEAD_OTHER, refused
 * there with a pointer to the main address, where civetweb knows the rest
 * of HTTP.  No allocation, no side effect:
 * test/fuzz/fuzz_http_head.c feeds it arbitrary bytes.
 */
#define _GNU_SOURCE				/* memmem */
#include <string.h>
#include <strings.h>

#include "http_head.h"

/* Is header line [p, e) the header name?  Its value, trimmed, into [*v, *ve). */
static bool
header_is(char *p, char *e, const char *name, char **v, char **ve)
{
	size_t		n = strlen(name);

	if ((size_t) (e - p) <= n || p[n] != ':' || strncasecmp(p, name, n) != 0)
		return false;
	p += n + 1;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*v = p;
	*ve = e;
	return true;
}

/* Does the comma-separated value [v, ve) hold token (case-insensitive)? */
static bool
value_has_token(const char *v, const char *ve, const char *token)
{
	size_t		n = strlen(token);

	for (const char *p = v; p + n <= ve; p++)
		if (strncasecmp(p, token, n) == 0 && (p == v || p[-1] == ',' || p[-1] == ' ') &&
			(p + n == ve || p[n] == ',' || p[n] == ' '))
			return true;
	return false;
}

HeadKind
http_head_parse(char *buf, size_t len, size_t head_max, HttpHead *h)
{
	char	   *end = memmem(buf, len < head_max ? len : head_max, "\r\n\r\n", 4);
	char	   *line_end,
			   *sp1,
			   *sp2,
			   *p,
			   *v,
			   *ve;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	if (end == NULL)
		return len >= head_max ? HEAD_OTHER : HEAD_INCOMPLETE;
	h->head_len = end - buf + 4;

	/* request line: POST /path HTTP/1.x */
	line_end = memmem(buf, h->head_len, "\r\n", 2);
	sp1 = memchr(buf, ' ', line_end - buf);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', line_end - sp1 - 1) : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 - buf != 4 || memcmp(buf, "POST", 4) != 0 ||
		line_end - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
		return HEAD_OTHER;
	h->keep_alive = sp2[8] == '1';
	h->path = sp1 + 1;
	h->path_len = sp2 - h->path;
	if (h->path_len == 0 || h->path[0] != '/')
		return HEAD_OTHER;
	for (p = h->path; p < sp2; p++)
		if (*p == '?' || *p == '%' || *p == '#' || (unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
			return HEAD_OTHER;

	/* header lines, each ending in CRLF; the last one's CRLF starts the blank line */
	for (p = line_end + 2; p < end + 2; p = line_end + 2)
	{
		line_end = memmem(p, end + 2 - p, "\r\n", 2);
		if (*p == ' ' || *p == '\t' || memchr(p, ':', line_end - p) == NULL || memchr(p, '\0', line_end - p))
			return HEAD_OTHER;	/* folded or malformed */
		if (header_is(p, line_end, "Content-Length", &v, &ve))
		{
			long		n = 0;

			if (h->content_length >= 0 || ve == v || ve - v > 18)
				return HEAD_OTHER;
			for (; v < ve; v++)
			{
				if (*v < '0' || *v > '9')
					return HEAD_OTHER;
				n = n * 10 + (*v - '0');
			}
			h->content_length = n;
		}
		else if (header_is(p, line_end, "Expect", &v, &ve))
		{
			if (ve - v != 12 || strncasecmp(v, "100-continue", 12) != 0)
				return HEAD_OTHER;
			h->expect_continue = true;
		}
		else if (header_is(p, line_end, "Transfer-Encoding", &v, &ve) ||
				 header_is(p, line_end, "Upgrade", &v, &ve))
			return HEAD_OTHER;
		else if (header_is(p, line_end, "Connection", &v, &ve))
			h->keep_alive = h->keep_alive && !value_has_token(v, ve, "close");
		else if (header_is(p, line_end, "Accept-Language", &v, &ve))
			h->lang = v, h->lang_len = ve - v;
		else if (header_is(p, line_end, "User-Agent", &v, &ve))
			h->user_agent = v, h->user_agent_len = ve - v;
		else if (header_is(p, line_end, "X-Forwarded-For", &v, &ve))
			h->forwarded_for = v, h->forwarded_for_len = ve - v;
	}
	return h->content_length < 0 ? HEAD_OTHER : HEAD_CLIENT;
}

/*
 * The value of header name in a head that http_head_parse did not read
 * (HEAD_OTHER), into out (truncated to size - 1); false if it is not there.
 */
bool
http_head_value(const char *buf, size_t len, size_t head_max, const char *name, char *out, size_t size)
{
	const char *end = memmem(buf, len < head_max ? len : head_max, "\r\n\r\n", 4);
	const char *p = end ? memmem(buf, end - buf, "\r\n", 2) : NULL;
	size_t		n = strlen(name);

	while (p && p < end)
	{
		const char *line = p + 2;
		const char *line_end = memmem(line, end + 2 - line, "\r\n", 2);

		if (line_end == NULL)
			break;
		if ((size_t) (line_end - line) > n && line[n] == ':' && strncasecmp(line, name, n) == 0)
		{
			const char *v = line + n + 1;
			size_t		vlen;

			while (v < line_end && (*v == ' ' || *v == '\t'))
				v++;
			vlen = line_end - v;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = line_end;
	}
	return false;
}
