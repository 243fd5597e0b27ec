/*
 * respond.c
 *		What goes back to the client: the original service's envelope
 *		{"code", "message", "data"} (errors {"code", "message", "error"}),
 *		its message in the request's language; the HTTP bytes of the
 *		clients' routes, written in one piece; civetweb's response API for
 *		everything else; and one JSON access-log line per request.
 */
#define _GNU_SOURCE				/* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <civetweb.h>

#include "config.h"
#include "i18n.h"
#include "metrics.h"
#include "respond.h"

/* The start of a successful envelope up to "data": in en and zh-CN. */
static char *ok_envelope[2];

double
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static char *
make_ok_envelope(const char *lang)
{
	char	   *msg = i18n_message(lang, "ok", NULL);
	json_t	   *m = json_string(msg ? msg : "ok");
	char	   *mtext = json_dumps(m, JSON_ENCODE_ANY);
	char	   *out = NULL;

	if (mtext == NULL || asprintf(&out, "{\"code\":200,\"message\":%s,\"data\":", mtext) < 0)
		out = NULL;
	free(mtext);
	json_decref(m);
	free(msg);
	return out;
}

/* Once the catalogs are loaded; -1 if out of memory. */
int
respond_init(void)
{
	ok_envelope[0] = make_ok_envelope("en");
	ok_envelope[1] = make_ok_envelope("zh-CN");
	return ok_envelope[0] && ok_envelope[1] ? 0 : -1;
}

void
respond_cleanup(void)
{
	free(ok_envelope[0]);
	free(ok_envelope[1]);
}

/* The error envelope, its message in the request's language. */
static json_t *
error_body(const char *lang, const DbResult *res)
{
	char		key[128];
	char	   *msg = NULL;
	char	   *shim_detail = NULL;
	json_t	   *err;
	json_t	   *body;

	if (res->key)
	{
		snprintf(key, sizeof(key), "error.%s", res->key);
		msg = i18n_message(lang, key, res->field);
		/* decided here (no SQL ran): the English message is the detail */
		if (!res->sqlstate[0])
			shim_detail = i18n_message("en", key, res->field);
	}
	if (!msg)
	{
		snprintf(key, sizeof(key), "status.%d", res->status);
		msg = i18n_message(lang, key, NULL);
	}
	err = json_pack("{s:s?, s:s?, s:s?}",
					"sqlstate", res->sqlstate[0] ? res->sqlstate : NULL,
					"detail", shim_detail ? shim_detail : (res->detail ? res->detail : res->message),
					"hint", res->hint);
	if (res->field)
		json_object_set_new(err, "field", json_string(res->field));
	body = json_pack("{s:i, s:s, s:o}", "code", res->status, "message", msg ? msg : "error", "error", err);
	free(shim_detail);
	free(msg);
	return body;
}

/*
 * The body answering a call's result res (status 200 with its data, or an
 * error), in the request's language; malloc'd, *len bytes.  A result the
 * database wrote as JSON text goes into the envelope as it is.
 */
char *
respond_body(const char *lang, const DbResult *res, size_t *len)
{
	json_t	   *body;
	char	   *text;

	if (res->status == 200 && res->raw)
	{
		const char *env = ok_envelope[strcmp(lang, "zh-CN") == 0];
		size_t		elen = strlen(env),
					rlen = strlen(res->raw);

		text = malloc(elen + rlen + 2);
		if (text == NULL)
			return NULL;
		memcpy(text, env, elen);
		memcpy(text + elen, res->raw, rlen);
		text[elen + rlen] = '}';
		text[elen + rlen + 1] = '\0';
		*len = elen + rlen + 1;
		return text;
	}
	if (res->status == 200)
	{
		char	   *msg = i18n_message(lang, "ok", NULL);

		body = json_pack("{s:i, s:s, s:O}", "code", 200, "message", msg ? msg : "ok", "data",
						 res->data ? res->data : json_null());
		free(msg);
	}
	else
		body = error_body(lang, res);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	*len = text ? strlen(text) : 0;
	return text;
}

/*
 * The clients' routes: a JSON response, head and body in one buffer
 * (malloc'd, *len bytes), written in one piece, since a head segment alone
 * would wait for the client's delayed ACK.  Successful answers keep
 * HTTP/1.1 connections open for keep_alive_ms and say for how long;
 * errors, HTTP/1.0 and clients that ask for it close (*closes).
 */
char *
respond_bytes(int status, const char *body, size_t blen, bool keep, size_t *len, bool *closes)
{
	char		hdr[512];
	char		conn_hdr[96];
	int			n;
	char	   *out;

	*closes = status >= 400 || config.keep_alive_ms == 0 || !keep;
	if (*closes)
		snprintf(conn_hdr, sizeof(conn_hdr), "Connection: close\r\n");
	else
		snprintf(conn_hdr, sizeof(conn_hdr), "Connection: keep-alive\r\nKeep-Alive: timeout=%d\r\n",
				 config.keep_alive_ms < 1000 ? 1 : config.keep_alive_ms / 1000);
	n = snprintf(hdr, sizeof(hdr),
				 "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
				 "Content-Length: %zu\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
				 status, mg_get_response_code_text(NULL, status), blen, conn_hdr,
				 status == 503 ? "Retry-After: 5\r\n" : status == 429 ? "Retry-After: 1\r\n" : "");
	if (n <= 0 || (size_t) n >= sizeof(hdr) || (out = malloc(n + blen)) == NULL)
		return NULL;
	memcpy(out, hdr, n);
	memcpy(out + n, body, blen);
	*len = n + blen;
	return out;
}

/*
 * Everything else: civetweb's response API (it adds Date and Connection).
 * An error closes the connection: its request body may not have been read.
 */
void
respond_civet(struct mg_connection *conn, int status, const char *content_type, const char *body, size_t blen)
{
	char		length[32];
	char		keep[32];

	snprintf(length, sizeof(length), "%zu", blen);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", content_type, -1);
	mg_response_header_add(conn, "Content-Length", length, -1);
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
	if (status == 503 || status == 429)
		mg_response_header_add(conn, "Retry-After", status == 503 ? "5" : "1", -1);
	if (status >= 400 || config.keep_alive_ms == 0)
		mg_response_header_add(conn, "Connection", "close", -1);
	else
	{
		snprintf(keep, sizeof(keep), "timeout=%d", config.keep_alive_ms < 1000 ? 1 : config.keep_alive_ms / 1000);
		mg_response_header_add(conn, "Keep-Alive", keep, -1);
	}
	mg_response_header_send(conn);
	mg_write(conn, body, blen);
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
 * A request was answered: count it (route index, -1 for none) and write
 * its access-log line on stdout: {"method","path","ip","status","ms","ts"}.
 * The path is logged without its query string, so nothing a client put
 * there (a token, say) reaches the log.  stdout is block-buffered (main
 * flushes it every second and at exit), so a request costs no write of its
 * own; stdio's lock keeps lines whole.
 */
void
respond_done(int route, int status, double started, const char *method, const char *path, const char *ip)
{
	double		ms = now_ms() - started;
	char		line[2048];
	char	   *p = line;
	char	   *end = line + sizeof(line) - 80;
	char		ts[32];
	time_t		t = time(NULL);
	struct tm	tm;

	metrics_record(route, status, ms / 1000.0);
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
