/*
 * net.c
 *		rollout-client's HTTP, through libcurl: small requests whose answers
 *		are capped in size (check-update, reports, the key list), and the
 *		artifact download into <dest>.part, resumed with Range, never longer
 *		than the size the signed answer announced, with a progress bar on a
 *		terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "net.h"

static const NetOptions *opts;

/* Remember the options every request uses. */
void
net_init(const NetOptions *o)
{
	opts = o;
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl write callback: into a capped Buf (a short count aborts). */
static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	Buf		   *b = arg;

	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Headers: keep X-Rollout-Signature (once; twice marks it invalid). */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	HttpAnswer *a = arg;
	size_t		len = size * n;
	static const char name[] = "x-rollout-signature:";

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
	{
		/* a new response (after a redirect or 100): forget the last one's */
		a->sig_count = 0;
		a->sig_header[0] = '\0';
		a->sig_len = 0;
		return len;
	}
	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0)
	{
		size_t		s = sizeof(name) - 1,
					e = len;

		while (s < e && (p[s] == ' ' || p[s] == '\t'))
			s++;
		while (e > s && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		a->sig_count++;
		if (e - s < sizeof(a->sig_header))
		{
			memcpy(a->sig_header, p + s, e - s);
			a->sig_header[e - s] = '\0';
			a->sig_len = e - s;
		}
		else
			a->sig_len = (size_t) -1;	/* too long: invalid */
	}
	return len;
}

/* A curl handle with the options every request shares. */
static CURL *
new_handle(const char *url, char *errbuf)
{
	CURL	   *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long) opts->timeout);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rollout-client/" CLIENT_VERSION);
	if (opts->ca_file && *opts->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file);
	errbuf[0] = '\0';
	return c;
}

/* Put curl's reason for rc into a->error. */
static void
set_error(HttpAnswer *a, CURLcode rc, const char *errbuf)
{
	snprintf(a->error, sizeof(a->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/*
 * POST a JSON body (or GET when body is NULL) and collect the answer, its
 * status and its signature header. The answer is capped at
 * MAX_ANSWER_BYTES (a->too_big when over). Returns 0 when an HTTP answer
 * arrived (any status), -1 on a network error (a->error says why).
 */
int
http_request(const char *url, const char *body, HttpAnswer *a)
{
	char		errbuf[CURL_ERROR_SIZE];
	struct curl_slist *h = NULL;
	CURL	   *c;
	CURLcode	rc;
	char		lang[80];

	memset(a, 0, sizeof(*a));
	a->body.limit = MAX_ANSWER_BYTES;
	c = new_handle(url, errbuf);
	if (c == NULL)
	{
		snprintf(a->error, sizeof(a->error), "curl_easy_init failed");
		return -1;
	}
	snprintf(lang, sizeof(lang), "Accept-Language: %s", opts->accept_language);
	h = curl_slist_append(h, lang);
	if (body)
	{
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) opts->timeout);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MAX_ANSWER_BYTES);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (a->body.overflow || rc == CURLE_FILESIZE_EXCEEDED)
	{
		a->too_big = 1;
		return 0;
	}
	if (rc != CURLE_OK)
	{
		set_error(a, rc, errbuf);
		return -1;
	}
	if (a->body.data == NULL)
		buf_append(&a->body, "", 0);
	return 0;
}

/* The state of one download. */
typedef struct Download
{
	FILE	   *f;
	long long	start;			/* bytes already in the part file */
	long long	have;			/* bytes in the part file now */
	long long	expected;		/* the signed size */
	int			checked;		/* first body bytes seen: status checked */
	int			too_long;
	int			restarted;		/* the server ignored Range: started over */
	int			bad_range;
	int			write_failed;
	CURL	   *curl;
	const char *label;
	int			progress;
	int			last_percent;
	int			server_status;
} Download;

/*
 * libcurl write callback of a download: checks the status and Content-Range
 * on the first bytes, then appends to the part file up to the expected size.
 */
static size_t
download_cb(char *p, size_t size, size_t n, void *arg)
{
	Download   *d = arg;
	size_t		len = size * n;

	if (!d->checked)
	{
		long		status = 0;

		d->checked = 1;
		curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
		d->server_status = (int) status;
		if (d->start > 0 && status == 200)
		{
			/* no Range support on that side: the whole file again */
			if (ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET) != 0)
			{
				d->write_failed = 1;
				return 0;
			}
			d->have = 0;
			d->restarted = 1;
		}
		else if (d->start > 0 && status == 206)
		{
			curl_off_t	resume_from = -1;
			struct curl_header *hdr = NULL;

			/* Content-Range must start where the part file ends */
			if (curl_easy_header(d->curl, "Content-Range", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK &&
				hdr && hdr->value)
			{
				long long	first = -1;

				if (sscanf(hdr->value, "bytes %lld-", &first) == 1)
					resume_from = first;
			}
			if (resume_from != d->start)
			{
				d->bad_range = 1;
				return 0;
			}
		}
		else if (status != 200 && status != 206)
			return 0;
	}
	if ((long long) len > d->expected - d->have)
	{
		d->too_long = 1;
		return 0;
	}
	if (fwrite(p, 1, len, d->f) != len)
	{
		d->write_failed = 1;
		return 0;
	}
	d->have += (long long) len;
	return len;
}

/* n bytes as B, KiB, MiB or GiB. */
static void
human_size(long long n, char *out, size_t outlen)
{
	if (n >= 1024LL * 1024 * 1024)
		snprintf(out, outlen, "%.1f GiB", n / (1024.0 * 1024 * 1024));
	else if (n >= 1024 * 1024)
		snprintf(out, outlen, "%.1f MiB", n / (1024.0 * 1024));
	else if (n >= 1024)
		snprintf(out, outlen, "%.1f KiB", n / 1024.0);
	else
		snprintf(out, outlen, "%lld B", n);
}

/* A progress bar on stderr (a terminal only), redrawn per percent. */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	Download   *d = arg;
	long long	done = d->have;
	int			percent = d->expected > 0 ? (int) (done * 100 / d->expected) : 100;
	char		a[32],
				b[32],
				bar[41];

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	if (!d->progress || percent == d->last_percent)
		return 0;
	d->last_percent = percent;
	for (int i = 0; i < 40; i++)
		bar[i] = i < percent * 40 / 100 ? '#' : '-';
	bar[40] = '\0';
	human_size(done, a, sizeof(a));
	human_size(d->expected, b, sizeof(b));
	fprintf(stderr, "\r%s [%s] %3d%%  %s / %s", d->label, bar, percent, a, b);
	fflush(stderr);
	return 0;
}

/*
 * Download url into part, appending to what part already holds (asked for
 * with Range), never past expected bytes. Returns a DL_* code; r->error and
 * the counters say more.
 */
int
http_download(const char *url, const char *part, long long expected, int progress,
			  const char *label, DownloadResult *r)
{
	char		errbuf[CURL_ERROR_SIZE];
	char		range[64];
	struct stat st;
	Download	d;
	CURLcode	rc;
	CURL	   *c;
	int			result;

	memset(r, 0, sizeof(*r));
	memset(&d, 0, sizeof(d));
	d.expected = expected;
	d.label = label;
	d.progress = progress;
	d.last_percent = -1;
	if (stat(part, &st) == 0 && st.st_size > expected)
		unlink(part);			/* cannot be a prefix of the file: start over */
	d.f = fopen(part, "ab");
	if (d.f == NULL)
	{
		snprintf(r->error, sizeof(r->error), "%s: %s", part, strerror(errno));
		return DL_LOCAL;
	}
	d.start = d.have = (long long) ftell(d.f);
	r->resumed_from = d.start;
	if (d.start == expected)
	{
		fclose(d.f);
		r->bytes = expected;
		return DL_OK;
	}
	c = new_handle(url, errbuf);
	if (c == NULL)
	{
		fclose(d.f);
		snprintf(r->error, sizeof(r->error), "curl_easy_init failed");
		return DL_NETWORK;
	}
	d.curl = c;
	if (d.start > 0)
	{
		snprintf(range, sizeof(range), "%lld-", d.start);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
	rc = curl_easy_perform(c);
	if (!d.checked)
	{
		long		status = 0;

		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		d.server_status = (int) status;
	}
	if (progress && d.last_percent >= 0)
		fputc('\n', stderr);
	if (fflush(d.f) != 0 || fsync(fileno(d.f)) != 0)
		d.write_failed = 1;
	fclose(d.f);
	r->bytes = d.have;
	r->status = d.server_status;
	r->restarted = d.restarted;
	if (d.write_failed)
	{
		snprintf(r->error, sizeof(r->error), "%s: %s", part, strerror(errno));
		result = DL_LOCAL;
	}
	else if (d.too_long)
	{
		snprintf(r->error, sizeof(r->error), "more than %lld bytes", expected);
		result = DL_TOO_LONG;
	}
	else if (d.bad_range)
	{
		/* the part file cannot be trusted to line up: drop it */
		unlink(part);
		snprintf(r->error, sizeof(r->error), "the server answered another range than asked for");
		result = DL_SERVER;
	}
	else if (d.server_status >= 400 || (d.server_status != 0 && d.server_status != 200 && d.server_status != 206))
	{
		snprintf(r->error, sizeof(r->error), "HTTP %d", d.server_status);
		result = DL_SERVER;
	}
	else if (rc != CURLE_OK)
	{
		snprintf(r->error, sizeof(r->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		result = DL_NETWORK;
	}
	else
		result = DL_OK;
	curl_easy_cleanup(c);
	return result;
}
