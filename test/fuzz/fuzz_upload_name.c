/*
 * fuzz_upload_name.c
 *		libFuzzer target for the file-name checks of shim/files.c: the upload
 *		name and os/arch checks (safe_segment, safe_platform) and the path
 *		check of downloads and the UI's files (safe_segments).
 *
 * files.c is included, so its static checks are reachable; the rest of the
 * shim is linked as is.  Each check is compared with a reference written
 * differently (a plain reading of its rule), and what it accepts is checked
 * for what matters: joined under a directory, an accepted name or path never
 * leaves it (no "..", no absolute path, no empty segment, no NUL, no byte
 * outside ASCII).  The input is used whole (it may contain NUL bytes: what
 * the checks see is its C string, as from a decoded query) and split in two
 * at its first 0xff byte, for a name with a platform.
 */
#define _GNU_SOURCE
#include <stdint.h>

#include "../../shim/files.c"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
ref_char(unsigned char c)
{
	return strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", c) != NULL && c != '\0';
}

/* the rule of safe_segment, read plainly */
static int
ref_segment(const char *s, size_t n)
{
	if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!ref_char((unsigned char) s[i]))
			return 0;
	return 1;
}

/* an accepted name or path stays under its directory */
static void
check_contained(const char *p)
{
	size_t		n = strlen(p);

	if (n == 0 || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//") || strstr(p, "/.") ||
		p[0] == '.' || strstr(p, "..") == p)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) p[i] >= 0x80 || p[i] == '\\' || p[i] == '%')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	char	   *cut;
	size_t		len;
	int			segs;

	memcpy(s, data, size);
	s[size] = '\0';
	len = strlen(s);

	/* a file name: one segment */
	if (safe_segment(s) != ref_segment(s, len))
		abort();
	if (safe_segment(s))
	{
		check_contained(s);
		if (strchr(s, '/'))
			abort();
	}

	/* a path: segments between single slashes, at most 1023 bytes */
	segs = safe_segments(s);
	{
		int			ref = len > 0 && len < 1024;
		int			count = 0;
		const char *seg = s;

		while (ref)
		{
			const char *slash = strchr(seg, '/');
			size_t		n = slash ? (size_t) (slash - seg) : strlen(seg);

			ref = ref_segment(seg, n);
			count++;
			if (!slash)
				break;
			seg = slash + 1;
		}
		if (segs != (ref ? count : 0))
			abort();
	}
	if (segs > 0)
		check_contained(s);

	/* os/arch: [a-z0-9_]{1,32} */
	{
		int			ref = len >= 1 && len <= 32;

		for (size_t i = 0; i < len && ref; i++)
			ref = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
		if (safe_platform(s) != ref)
			abort();
	}

	/* the stored path of an upload: platform-name, under a directory */
	if ((cut = memchr(s, 0xff, len)) != NULL)
	{
		*cut = '\0';
		if (safe_platform(s) && safe_segment(cut + 1))
		{
			char		rel[1024];

			snprintf(rel, sizeof(rel), "%s-%s/%s", s, s, cut + 1);
			if (safe_segments(rel) != 2)
				abort();
		}
	}
	free(s);
	return 0;
}
