/*
 * util.c
 *		rollout-client's plain parsing: base64, the X-Rollout-Signature
 *		header, RFC 3339 times, hex, capped buffers, and key=value files
 *		(the config file and the state file, the latter written atomically).
 *
 * These functions see bytes from the network or from files a user may have
 * edited: each takes an explicit length, checks every byte, and fails
 * instead of guessing. test/client/unit_tests.c feeds them bad input.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"

#define MAX_KV_FILE		(64 * 1024)
#define MAX_KV_ENTRIES	256

/* Append n bytes to b; returns 0, or -1 (and sets overflow) past b->limit. */
int
buf_append(Buf *b, const void *p, size_t n)
{
	if (b->overflow || n > b->limit - b->len)
	{
		b->overflow = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 4096;
		char	   *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
		{
			b->overflow = 1;
			return -1;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Release a buffer's memory. */
void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* The 6-bit value of a base64 character, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode standard base64 with padding (RFC 4648 section 4), strictly: the
 * length is a multiple of 4, padding only at the end, no other byte, unused
 * bits zero. Returns 0 and sets *outlen, or -1 (bad input or outcap too small).
 */
int
base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen)
{
	size_t		o = 0;

	if (inlen % 4 != 0)
		return -1;
	for (size_t i = 0; i < inlen; i += 4)
	{
		int			v[4];
		int			pad = 0;
		int			last = (i + 4 == inlen);

		for (int j = 0; j < 4; j++)
		{
			unsigned char c = (unsigned char) in[i + j];

			if (c == '=' && last && j >= 2)
			{
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad)			/* a data byte after '=' */
				return -1;
			v[j] = b64_value(c);
			if (v[j] < 0)
				return -1;
		}
		if (pad == 2 && (v[1] & 0x0f))
			return -1;
		if (pad == 1 && (v[2] & 0x03))
			return -1;
		if (o + 3 - pad > outcap)
			return -1;
		out[o++] = (unsigned char) ((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char) (((v[1] & 0x0f) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char) (((v[2] & 0x03) << 6) | v[3]);
	}
	*outlen = o;
	return 0;
}

/*
 * Parse "keyid=<16 lowercase hex>,sig=<base64 of 64 bytes>" (parameters in
 * any order, optional spaces around them, unknown parameters ignored, each of
 * keyid and sig exactly once). Returns 0, or -1 on anything else.
 */
int
parse_signature_header(const char *value, size_t len, char keyid[KEYID_HEX + 1],
					   unsigned char sig[SIG_BYTES])
{
	size_t		i = 0;
	int			have_keyid = 0,
				have_sig = 0;

	if (value == NULL || len > MAX_HEADER_BYTES)
		return -1;
	while (i < len)
	{
		size_t		name_start,
					name_end,
					val_start,
					val_end;

		while (i < len && (value[i] == ' ' || value[i] == '\t'))
			i++;
		name_start = i;
		while (i < len && value[i] != '=' && value[i] != ',')
			i++;
		if (i >= len || value[i] != '=')
			return -1;
		name_end = i++;
		val_start = i;
		while (i < len && value[i] != ',')
			i++;
		val_end = i;
		while (val_end > val_start && (value[val_end - 1] == ' ' || value[val_end - 1] == '\t'))
			val_end--;
		if (i < len && ++i == len)
			return -1;			/* a comma with nothing after it */

		if (name_end - name_start == 5 && memcmp(value + name_start, "keyid", 5) == 0)
		{
			if (have_keyid++ || val_end - val_start != KEYID_HEX)
				return -1;
			for (size_t k = 0; k < KEYID_HEX; k++)
			{
				char		c = value[val_start + k];

				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
					return -1;
				keyid[k] = c;
			}
			keyid[KEYID_HEX] = '\0';
		}
		else if (name_end - name_start == 3 && memcmp(value + name_start, "sig", 3) == 0)
		{
			size_t		n;

			if (have_sig++ ||
				base64_decode(value + val_start, val_end - val_start, sig, SIG_BYTES, &n) != 0 ||
				n != SIG_BYTES)
				return -1;
		}
		else if (name_end == name_start)
			return -1;
	}
	return (have_keyid == 1 && have_sig == 1) ? 0 : -1;
}

/* Parse exactly "YYYY-MM-DDTHH:MM:SSZ" (UTC); returns 0, or -1. */
int
parse_rfc3339_utc(const char *s, time_t *out)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm	tm;
	int			year,
				mon,
				day,
				hour,
				min,
				sec;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (s == NULL || strlen(s) != sizeof(pattern) - 1)
		return -1;
	for (size_t i = 0; i < sizeof(pattern) - 1; i++)
	{
		if (pattern[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != pattern[i])
			return -1;
	}
	year = atoi(s);
	mon = atoi(s + 5);
	day = atoi(s + 8);
	hour = atoi(s + 11);
	min = atoi(s + 14);
	sec = atoi(s + 17);
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

/* Parse "sha256:<64 lowercase hex>"; returns 0, or -1. */
int
parse_hex_sha256(const char *s, unsigned char out[32])
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return -1;
	s += 7;
	for (int i = 0; i < 32; i++)
	{
		int			v = 0;

		for (int j = 0; j < 2; j++)
		{
			char		c = s[2 * i + j];

			if (c >= '0' && c <= '9')
				v = v * 16 + (c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char) v;
	}
	return 0;
}

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* Append a copy of a key and a value (each given with its length); 0 or -1. */
static int
kv_add(KV *kv, const char *k, size_t klen, const char *v, size_t vlen)
{
	char	  **keys,
			  **values;

	if (kv->n >= MAX_KV_ENTRIES)
		return -1;
	keys = realloc(kv->keys, sizeof(char *) * (kv->n + 1));
	if (keys == NULL)
		return -1;
	kv->keys = keys;
	values = realloc(kv->values, sizeof(char *) * (kv->n + 1));
	if (values == NULL)
		return -1;
	kv->values = values;
	kv->keys[kv->n] = strndup(k, klen);
	kv->values[kv->n] = strndup(v, vlen);
	if (kv->keys[kv->n] == NULL || kv->values[kv->n] == NULL)
		return -1;
	kv->n++;
	return 0;
}

/*
 * Parse key=value lines: blank lines and lines starting with '#' are
 * skipped, spaces around key and value are trimmed, a key is [a-z0-9_.-]+.
 * A key may repeat (kv_get returns the last). Returns 0, or -1 with the
 * 1-based number of the offending line in *bad_line (0 when over a cap).
 */
int
kv_parse(const char *text, size_t len, KV *kv, int *bad_line)
{
	size_t		i = 0;
	int			line = 0;

	*bad_line = 0;
	if (len > MAX_KV_FILE)
		return -1;
	while (i < len)
	{
		size_t		start = i,
					end,
					eq,
					ks,
					ke,
					vs,
					ve;

		line++;
		while (i < len && text[i] != '\n')
			i++;
		end = i;
		if (i < len)
			i++;
		if (end > start && text[end - 1] == '\r')
			end--;
		ks = start;
		while (ks < end && (text[ks] == ' ' || text[ks] == '\t'))
			ks++;
		if (ks == end || text[ks] == '#')
			continue;
		for (eq = ks; eq < end && text[eq] != '='; eq++)
			;
		if (eq == end)
			goto bad;
		ke = eq;
		while (ke > ks && (text[ke - 1] == ' ' || text[ke - 1] == '\t'))
			ke--;
		if (ke == ks)
			goto bad;
		for (size_t k = ks; k < ke; k++)
		{
			char		c = text[k];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
				goto bad;
		}
		vs = eq + 1;
		ve = end;
		while (vs < ve && (text[vs] == ' ' || text[vs] == '\t'))
			vs++;
		while (ve > vs && (text[ve - 1] == ' ' || text[ve - 1] == '\t'))
			ve--;
		for (size_t k = vs; k < ve; k++)
			if (text[k] == '\0')
				goto bad;
		if (kv_add(kv, text + ks, ke - ks, text + vs, ve - vs) != 0)
		{
			*bad_line = 0;
			return -1;
		}
		continue;
bad:
		*bad_line = line;
		return -1;
	}
	return 0;
}

/*
 * Read and parse a key=value file. Returns 0, 1 when the file does not
 * exist (kv left empty), or -1 (unreadable, too big, or a bad line).
 */
int
kv_read_file(const char *path, KV *kv, int *bad_line)
{
	FILE	   *f;
	char	   *text;
	size_t		n;
	int			rc;

	*bad_line = 0;
	f = fopen(path, "rb");
	if (f == NULL)
		return errno == ENOENT ? 1 : -1;
	text = malloc(MAX_KV_FILE + 1);
	if (text == NULL)
	{
		fclose(f);
		return -1;
	}
	n = fread(text, 1, MAX_KV_FILE + 1, f);
	rc = ferror(f) ? -1 : kv_parse(text, n, kv, bad_line);
	fclose(f);
	free(text);
	return rc;
}

/* The last value of key, or NULL. */
const char *
kv_get(const KV *kv, const char *key)
{
	for (int i = kv->n - 1; i >= 0; i--)
		if (strcmp(kv->keys[i], key) == 0)
			return kv->values[i];
	return NULL;
}

/* Set key to value (replacing its last value, else adding it); 0 or -1. */
int
kv_set(KV *kv, const char *key, const char *value)
{
	for (int i = kv->n - 1; i >= 0; i--)
	{
		if (strcmp(kv->keys[i], key) == 0)
		{
			char	   *v = strdup(value);

			if (v == NULL)
				return -1;
			free(kv->values[i]);
			kv->values[i] = v;
			return 0;
		}
	}
	return kv_add(kv, key, strlen(key), value, strlen(value));
}

/*
 * Write kv to path atomically: a temporary file in the same directory,
 * flushed to disk, renamed over path, then the directory flushed. A crash
 * leaves the old file or the new one, never a mix. Returns 0, or -1.
 */
int
kv_write_atomic(const char *path, const KV *kv, const char *header)
{
	size_t		plen = strlen(path);
	char	   *tmp = malloc(plen + 16);
	char	   *dircopy = strdup(path);
	FILE	   *f = NULL;
	int			fd,
				ok = 0;

	if (tmp == NULL || dircopy == NULL)
		goto out;
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	f = fdopen(fd, "w");
	if (f == NULL)
	{
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (header)
		fprintf(f, "%s\n", header);
	for (int i = 0; i < kv->n; i++)
	{
		/* a value with a line break would not read back: refuse it */
		if (strpbrk(kv->values[i], "\r\n") != NULL)
			goto fail;
		fprintf(f, "%s=%s\n", kv->keys[i], kv->values[i]);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0)
	{
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	fd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
	{
		(void) fsync(fd);
		close(fd);
	}
	ok = 1;
	goto out;
fail:
	if (f)
		fclose(f);
	unlink(tmp);
out:
	free(tmp);
	free(dircopy);
	return ok ? 0 : -1;
}

/* Release a KV's memory. */
void
kv_free(KV *kv)
{
	for (int i = 0; i < kv->n; i++)
	{
		free(kv->keys[i]);
		free(kv->values[i]);
	}
	free(kv->keys);
	free(kv->values);
	kv->keys = kv->values = NULL;
	kv->n = 0;
}
