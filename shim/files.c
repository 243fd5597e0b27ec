/*
 * files.c
 *		Artifact uploads (streamed to disk, SHA-256 and size computed here)
 *		and downloads (/download/..., with Range) of rollout-http.
 *
 * Where a file goes is decided from the database (project slug and version,
 * both constrained there) and whitelisted os, arch and file names, never
 * from a request path: UPLOAD_DIR/<project>/<version>/<os>-<arch>/<name>.
 * Downloads accept only paths made of such segments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "sha256.h"
#include "shim.h"

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
 * POST /admin/api/v1/versions/{version_id}/artifacts with a non-JSON body:
 * ?os=&arch=&filename= name the file.  Returns the HTTP status and fills
 * res (like db_call); the caller writes the response.
 */
int
files_upload(struct mg_connection *conn, PGconn **pc, const char *conninfo, json_t *args,
			 const char *token, DbResult *res)
{
	static const Route check = {"POST", "", "can_upload", NULL, AUTH_TOKEN, 0};
	static const Route add = {"POST", "", "add_artifact", "get_artifact", AUTH_TOKEN, 0};
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
	Sha256		sha;
	long long	size = 0;
	char	   *buf;
	int			n;

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
	db_call(pc, conninfo, &check, cargs, token, res);
	json_decref(cargs);
	if (res->status != 200)
		return res->status;
	project = json_string_value(json_object_get(res->data, "project"));
	version = json_string_value(json_object_get(res->data, "version"));
	if (!safe_segment(project) || !safe_segment(version))
	{
		db_result_free(res);
		res->status = 500;
		res->key = strdup("invalid");
		return res->status;
	}
	snprintf(rel, sizeof(rel), "%s/%s/%s-%s/%s", project, version, os, arch, name);
	snprintf(dir, sizeof(dir), "%s/%s/%s/%s-%s", upload_dir, project, version, os, arch);
	snprintf(final, sizeof(final), "%s/%s", dir, name);
	snprintf(tmpname, sizeof(tmpname), "%s/.upload-XXXXXX", dir);
	db_result_free(res);
	if (make_dirs(dir) != 0 || (fd = mkstemp(tmpname)) < 0)
	{
		res->status = 500;
		res->key = strdup("storage");
		return res->status;
	}

	/* stream to disk, hashing and counting (the buffer is on the heap: small thread stacks) */
	sha256_init(&sha);
	buf = malloc(65536);
	while (buf && (n = mg_read(conn, buf, 65536)) > 0)
	{
		size += n;
		if (size > max_upload || write(fd, buf, n) != n)
		{
			free(buf);
			close(fd);
			unlink(tmpname);
			res->status = size > max_upload ? 413 : 500;
			res->key = strdup(size > max_upload ? "body_too_large" : "storage");
			return res->status;
		}
		sha256_update(&sha, buf, n);
	}
	free(buf);
	sha256_hex(&sha, hex);
	if (fsync(fd) != 0 || close(fd) != 0 || chmod(tmpname, 0644) != 0 || rename(tmpname, final) != 0)
	{
		unlink(tmpname);
		res->status = 500;
		res->key = strdup("storage");
		return res->status;
	}

	/* register it; the database checks the project scope once more */
	{
		char		url[1100],
					checksum[80];
		json_t	   *aargs;

		snprintf(url, sizeof(url), "/download/%s", rel);
		snprintf(checksum, sizeof(checksum), "sha256:%s", hex);
		aargs = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "version_id", vid, "os", os, "arch", arch,
						  "file_url", url, "file_size", (json_int_t) size, "file_checksum", checksum);
		db_call(pc, conninfo, &add, aargs, token, res);
		json_decref(aargs);
		if (res->status != 200)
			unlink(final);
	}
	return res->status;
}

/* GET /download/...: a stored file, with Range and Content-Length; counted. */
int
files_download(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	PGconn	  **pc = mg_get_thread_pointer(conn);
	const char *rel = ri->local_uri + strlen("/download/");
	char		copy[1024],
				path[4096],
				url[1100];
	char	   *save = NULL;
	int			segments = 0;
	struct stat st;

	(void) cbdata;
	if (!upload_dir || strlen(rel) >= sizeof(copy) ||
		(strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0))
	{
		mg_send_http_error(conn, upload_dir ? 404 : 503, "%s", "Not found");
		return 404;
	}
	snprintf(copy, sizeof(copy), "%s", rel);
	for (char *seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save))
	{
		if (!safe_segment(seg))
		{
			mg_send_http_error(conn, 404, "%s", "Not found");
			return 404;
		}
		segments++;
	}
	snprintf(path, sizeof(path), "%s/%s", upload_dir, rel);
	if (segments != 4 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
	{
		mg_send_http_error(conn, 404, "%s", "Not found");
		return 404;
	}
	if (pc && *pc && PQstatus(*pc) == CONNECTION_OK && strcmp(ri->request_method, "GET") == 0)
	{
		const char *p[1] = {url};

		snprintf(url, sizeof(url), "/download/%s", rel);
		PQclear(PQexecParams(*pc, "SELECT rollout.count_download($1)", 1, NULL, p, NULL, NULL, 0));
	}
	mg_send_mime_file(conn, path, "application/octet-stream");
	return 200;
}
