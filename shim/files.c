/*
 * files.c
 *		Artifact uploads (streamed to disk, SHA-256 and size computed here)
 *		and downloads (/download/..., with Range) of rollout-http, and the
 *		admin UI's static files (web/dist, at /).
 *
 * Where a file goes is decided from the database (project slug and version,
 * both constrained there) and whitelisted os, arch and file names, never
 * from a request path: UPLOAD_DIR/<project>/<version>/<os>-<arch>/<name>.
 * Downloads accept only paths made of such segments.
 */
#define _GNU_SOURCE				/* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include <openssl/evp.h>

#include "db.h"
#include "files.h"
#include "result.h"

static const char *upload_dir;
static long long max_upload;

void
files_configure(const char *dir, long long max_bytes)
{
	upload_dir = dir;
	max_upload = max_bytes;
}

/* An os or arch name: [a-z0-9_]{1,32}. */
static int
safe_platform(const char *s)
{
	size_t		n = s ? strlen(s) : 0;

	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * A safe path segment: 1 to 128 of [A-Za-z0-9._+-], not starting with a dot
 * or a dash (so never "." or ".."), hence no slash, no NUL, no escape.
 */
static int
safe_segment(const char *s)
{
	size_t		n = s ? strlen(s) : 0;

	if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * A relative path made of safe segments (above) separated by single slashes:
 * how many, or 0 if it is empty, too long or has an unsafe or empty segment.
 * Downloads and the UI's files accept only such paths.
 */
static int
safe_segments(const char *rel)
{
	char		copy[1024];
	char	   *seg = copy;
	int			n = 0;

	if (snprintf(copy, sizeof(copy), "%s", rel) >= (int) sizeof(copy))
		return 0;
	for (;;)
	{
		char	   *slash = strchr(seg, '/');

		if (slash)
			*slash = '\0';
		if (!safe_segment(seg))
			return 0;
		n++;
		if (!slash)
			return n;
		seg = slash + 1;
	}
}

/* mkdir -p for a path under the upload directory. */
static int
make_dirs(const char *path)
{
	char		tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
	{
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

/*
 * A file for an upload in progress, in dir: unnamed (O_TMPFILE), so that
 * nothing of it is left if the upload fails or the process is killed; it
 * gets its name, tmpname, only once complete (link_unnamed).  Where the file
 * system cannot make unnamed files, a named one (mkstemp into tmpname,
 * *named set) that a failure removes.
 */
static int
open_unnamed(const char *dir, char *tmpname, bool *named)
{
	int			fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	*named = false;
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	*named = true;
	return mkstemp(tmpname);
}

/* Give an unnamed file (open_unnamed) the name tmpname, a fresh one from its template. */
static int
link_unnamed(int fd, char *tmpname)
{
	char		proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int tries = 0; tries < 100; tries++)
	{
		char	   *x = tmpname + strlen(tmpname) - 6;

		for (int i = 0; i < 6; i++)
			x[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[random() % 36];
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmpname, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* A failure to store a file: 507 when the disk is full, else 500. */
static void
storage_error(DbResult *res, int err)
{
	bool		full = err == ENOSPC || err == EDQUOT;

	res->status = full ? 507 : 500;
	res->key = strdup(full ? "storage_full" : "storage");
}

/*
 * POST /admin/api/v1/versions/{version_id}/artifacts with a non-JSON body:
 * ?os=&arch=&filename= name the file.  Returns the HTTP status and fills
 * res (like db_call); the caller writes the response.
 */
int
files_upload(struct mg_connection *conn, json_t *args, const char *token, DbResult *res)
{
	static const Route check = {"POST", "", "can_upload", AUTH_TOKEN, 0};
	static const Route add = {"POST", "", "add_artifact", AUTH_TOKEN, 0};
	const char *os = json_string_value(json_object_get(args, "os"));
	const char *arch = json_string_value(json_object_get(args, "arch"));
	const char *name = json_string_value(json_object_get(args, "filename"));
	const char *vid = json_string_value(json_object_get(args, "version_id"));
	json_t	   *cargs;
	char		rel[1024],
				dir[4096],
				final[8192],
				tmpname[8192],
				hex[65];
	const char *project,
			   *version;
	int			fd;
	EVP_MD_CTX *sha;
	unsigned char digest[32];
	unsigned int dlen = 0;
	long long	size = 0;
	long long	expected;
	char	   *buf;
	int			n = 0;
	int			werr = 0;
	bool		named = false;

	memset(res, 0, sizeof(*res));
	if (!upload_dir)
	{
		res->status = 500;
		res->key = strdup("upload_disabled");
		return res->status;
	}
	if (!safe_platform(os) || !safe_platform(arch) || !safe_segment(name))
	{
		res->status = 400;
		res->key = strdup("invalid");
		res->field = strdup(!safe_platform(os) ? "os" : !safe_platform(arch) ? "arch" : "filename");
		return res->status;
	}

	/* may this account add files to this version?  (before reading a byte) */
	cargs = json_pack("{s:s}", "version_id", vid ? vid : "");
	db_call(&check, cargs, token, res);
	json_decref(cargs);
	if (res->status != 200)
		return res->status;
	project = json_string_value(json_object_get(res->data, "project"));
	version = json_string_value(json_object_get(res->data, "version"));
	if (!safe_segment(project) || !safe_segment(version))
	{
		result_free(res);
		res->status = 500;
		res->key = strdup("invalid");
		return res->status;
	}
	snprintf(rel, sizeof(rel), "%s/%s/%s-%s/%s", project, version, os, arch, name);
	snprintf(dir, sizeof(dir), "%s/%s/%s/%s-%s", upload_dir, project, version, os, arch);
	snprintf(final, sizeof(final), "%s/%s", dir, name);
	snprintf(tmpname, sizeof(tmpname), "%s/.upload-XXXXXX", dir);
	result_free(res);
	if (make_dirs(dir) != 0 || (fd = open_unnamed(dir, tmpname, &named)) < 0)
	{
		storage_error(res, errno);
		return res->status;
	}

	/*
	 * stream to disk, hashing and counting (the buffer is on the heap: small
	 * thread stacks); a body that ends before its Content-Length, or a read
	 * error, is a failed upload like a full disk: nothing of it is kept
	 */
	sha = EVP_MD_CTX_new();
	buf = malloc(65536);
	if (sha == NULL || buf == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
	{
		EVP_MD_CTX_free(sha);
		free(buf);
		close(fd);
		if (named)
			unlink(tmpname);
		storage_error(res, ENOMEM);
		return res->status;
	}
	expected = mg_get_request_info(conn)->content_length;
	while ((n = mg_read(conn, buf, 65536)) > 0)
	{
		ssize_t		w = 0;

		size += n;
		if (size > max_upload)
			break;
		while (w < n)
		{
			ssize_t		k = write(fd, buf + w, n - w);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
			{
				werr = k < 0 ? errno : ENOSPC;
				break;
			}
			w += k;
		}
		if (werr)
			break;
		EVP_DigestUpdate(sha, buf, n);
	}
	free(buf);
	EVP_DigestFinal_ex(sha, digest, &dlen);
	EVP_MD_CTX_free(sha);
	if (size > max_upload || werr || n < 0 || (expected >= 0 && size != expected))
	{
		close(fd);
		if (named)
			unlink(tmpname);
		if (size > max_upload)
		{
			res->status = 413;
			res->key = strdup("body_too_large");
		}
		else if (werr)
			storage_error(res, werr);
		else
		{
			res->status = 400;
			res->key = strdup("upload_incomplete");
		}
		return res->status;
	}
	for (unsigned int i = 0; i < dlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	hex[64] = '\0';
	if (fsync(fd) != 0 || fchmod(fd, 0644) != 0)
	{
		int			e = errno;

		close(fd);
		if (named)
			unlink(tmpname);
		storage_error(res, e);
		return res->status;
	}

	/*
	 * Register it (the database checks the project scope once more), and
	 * only then give the file its name: a refused registration leaves the
	 * file an artifact already had (a re-upload under the same name)
	 * untouched, and the new one unnamed, so gone with its descriptor.
	 */
	{
		char		url[1100],
					checksum[80];
		json_t	   *aargs;

		snprintf(url, sizeof(url), "/download/%s", rel);
		snprintf(checksum, sizeof(checksum), "sha256:%s", hex);
		aargs = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "version_id", vid, "os", os, "arch", arch,
						  "file_url", url, "file_size", (json_int_t) size, "file_checksum", checksum);
		db_call(&add, aargs, token, res);
		json_decref(aargs);
	}
	if (res->status != 200)
	{
		close(fd);
		if (named)
			unlink(tmpname);
		return res->status;
	}
	if ((!named && link_unnamed(fd, tmpname) != 0) || rename(tmpname, final) != 0 || close(fd) != 0)
	{
		/* registered, but the file could not take its name: say so, loudly */
		int			e = errno;

		fprintf(stderr, "rollout-http: error: artifact %s registered but its file could not be named: %s\n",
				rel, strerror(e));
		close(fd);
		unlink(tmpname);
		result_free(res);
		storage_error(res, e);
	}
	return res->status;
}

static int	web_error(struct mg_connection *conn, int status, const char *text);

/* GET /download/...: a stored file, with Range and Content-Length; counted. */
int
files_download(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *rel = ri->local_uri + strlen("/download/");
	char		path[4096],
				url[1100];
	int			segments;
	struct stat st;

	(void) cbdata;
	if (!upload_dir || strlen(rel) >= 1024 ||
		(strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0))
	{
		return web_error(conn, upload_dir ? 404 : 503, "Not found");
	}
	segments = safe_segments(rel);
	snprintf(path, sizeof(path), "%s/%s", upload_dir, rel);
	if (segments != 4 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
	{
		return web_error(conn, 404, "Not found");
	}
	if (strcmp(ri->request_method, "GET") == 0)
	{
		PGconn	  **pc = db_acquire();
		const char *p[1] = {url};

		snprintf(url, sizeof(url), "/download/%s", rel);
		if (pc != NULL)
			PQclear(PQexecParams(*pc, "SELECT rollout.count_download($1)", 1, NULL, p, NULL, NULL, 0));
		db_release(pc);
	}
	mg_send_mime_file2(conn, path, "application/octet-stream", "X-Content-Type-Options: nosniff\r\n");
	return 200;
}

/* ---------------------------------------------------------------------
 * The admin UI's files (web/dist, built by Vite), served at /
 *
 * The UI is a single page with hash routing (/#/versions), so there is no
 * fallback: a path is a file under the web root or a 404.  Vite names every
 * file under assets/ after a hash of its content, so those are cached for a
 * year and never revalidated; index.html (and /) must be revalidated on each
 * load, so that a new build is picked up at once.  Every response carries
 * the strict Content-Security-Policy of SPEC §12, nosniff and no referrer.
 *
 * civetweb's own static handler (document_root) cannot give paths different
 * Cache-Control headers, so the files are sent here, with civetweb's MIME
 * table and its file sender.  Pre-compressed files: when the client accepts
 * gzip and "x.gz" exists beside "x", "x.gz" is sent with Content-Encoding:
 * gzip (civetweb 1.15's document_root handler does the same for files of
 * 1 KB or more, but not for a request handler unless built with zlib, which
 * Debian's is not).  Paths are made of safe segments only: nothing outside
 * the web root is reachable (safe_segments, as for downloads).
 */
static const char *web_root;

/* Headers of every UI response (SPEC §12). */
#define WEB_CSP \
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
	"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; " \
	"base-uri 'self'; frame-ancestors 'none'; form-action 'self'"

#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"

/* Set the directory served at / (it may not exist yet: then every path is a 404). */
void
files_configure_web(const char *dir)
{
	web_root = dir;
}

/*
 * Does the client accept a gzip-encoded response?  Accept-Encoding names
 * "gzip" (or "x-gzip") with a quality above zero.
 */
static bool
accepts_gzip(struct mg_connection *conn)
{
	const char *ae = mg_get_header(conn, "Accept-Encoding");
	char		list[512];
	char	   *save = NULL;

	if (ae == NULL)
		return false;
	snprintf(list, sizeof(list), "%s", ae);
	for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save))
	{
		char	   *params = strchr(item, ';');
		char	   *q;
		size_t		n;

		while (*item == ' ' || *item == '\t')
			item++;
		n = params ? (size_t) (params - item) : strlen(item);
		while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		if (!((n == 4 && strncasecmp(item, "gzip", 4) == 0) || (n == 6 && strncasecmp(item, "x-gzip", 6) == 0)))
			continue;
		q = params ? strstr(params, "q=") : NULL;
		if (params && q == NULL)
			q = strstr(params, "Q=");
		return q == NULL || atof(q + 2) > 0;
	}
	return false;
}

/* Start a response with the UI's headers and a Cache-Control. */
static void
web_headers(struct mg_connection *conn, int status, const char *cache_control)
{
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Cache-Control", cache_control, -1);
	mg_response_header_add(conn, "Content-Security-Policy", WEB_CSP, -1);
	mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
	mg_response_header_add(conn, "Referrer-Policy", "no-referrer", -1);
}

/* A short response of our own (404, 405), with the UI's headers. */
static int
web_error(struct mg_connection *conn, int status, const char *text)
{
	char		len[24];

	snprintf(len, sizeof(len), "%zu", strlen(text));
	web_headers(conn, status, "no-store");
	mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
	mg_response_header_add(conn, "Content-Length", len, -1);
	mg_response_header_send(conn);
	mg_write(conn, text, strlen(text));
	return status;
}

/* GET or HEAD of a UI file: the handler of "/" (every path no other handler takes). */
int
files_web(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *uri = ri->local_uri;
	const char *rel;
	char		path[2048];
	char		gz[2100];
	char		etag[64];
	char		lm[64];
	char		len[32];
	struct stat st;
	struct stat gst;
	bool		head = strcmp(ri->request_method, "HEAD") == 0;
	bool		gzipped = false;
	const char *cache;
	const char *inm;
	struct tm	tm;

	(void) cbdata;
	if (!head && strcmp(ri->request_method, "GET") != 0)
		return web_error(conn, 405, "Method Not Allowed\n");
	rel = (uri == NULL || strcmp(uri, "/") == 0) ? "index.html" : uri + 1;
	if (web_root == NULL || safe_segments(rel) == 0 ||
		snprintf(path, sizeof(path), "%s/%s", web_root, rel) >= (int) sizeof(path) ||
		stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return web_error(conn, 404, "Not Found\n");
	cache = strncmp(rel, "assets/", 7) == 0 ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
	snprintf(gz, sizeof(gz), "%s.gz", path);
	if (accepts_gzip(conn))
		gzipped = stat(gz, &gst) == 0 && S_ISREG(gst.st_mode);

	/* revalidation: the ETag names the bytes sent (time and size; "-gz": the compressed file) */
	snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long) st.st_mtime,
			 (unsigned long long) (gzipped ? gst.st_size : st.st_size), gzipped ? "-gz" : "");
	inm = mg_get_header(conn, "If-None-Match");
	if (inm != NULL && strstr(inm, etag) != NULL)
	{
		web_headers(conn, 304, cache);
		mg_response_header_add(conn, "ETag", etag, -1);
		mg_response_header_add(conn, "Vary", "Accept-Encoding", -1);
		mg_response_header_send(conn);
		return 304;
	}
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&st.st_mtime, &tm));
	snprintf(len, sizeof(len), "%lld", (long long) (gzipped ? gst.st_size : st.st_size));
	web_headers(conn, 200, cache);
	mg_response_header_add(conn, "Content-Type", mg_get_builtin_mime_type(path), -1);
	mg_response_header_add(conn, "Content-Length", len, -1);
	if (gzipped)
		mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
	mg_response_header_add(conn, "Vary", "Accept-Encoding", -1);
	mg_response_header_add(conn, "ETag", etag, -1);
	mg_response_header_add(conn, "Last-Modified", lm, -1);
	mg_response_header_send(conn);
	if (!head)
		mg_send_file_body(conn, gzipped ? gz : path);
	return 200;
}
