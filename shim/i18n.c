/*
 * i18n.c
 *		Messages of rollout-http in English and Chinese, from i18n/en.json and zh-CN.json (the
 *		same catalogs as the admin UI), chosen by Accept-Language.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "i18n.h"

static json_t *catalog_en;
static json_t *catalog_zh;

/* Load en.json and zh-CN.json from dir; -1 if either is missing. */
int
i18n_load(const char *dir)
{
	char		path[4096];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/en.json", dir);
	catalog_en = json_load_file(path, 0, &err);
	snprintf(path, sizeof(path), "%s/zh-CN.json", dir);
	catalog_zh = json_load_file(path, 0, &err);
	if (!catalog_en || !catalog_zh)
	{
		fprintf(stderr, "rollout-http: cannot read the message catalogs in %s: %s\n", dir, err.text);
		return -1;
	}
	return 0;
}

/*
 * "zh-CN" when the first language the client prefers is Chinese, else "en".
 * Accept-Language lists tags by preference; a q of 0 means "not this one".
 */
const char *
i18n_lang(const char *h)
{
	double		best_q = -1;
	const char *best = "en";

	while (h && *h)
	{
		char		tag[32] = "";
		double		q = 1.0;
		const char *end = strchr(h, ',');
		const char *semi;
		size_t		len;

		if (!end)
			end = h + strlen(h);
		while (*h == ' ')
			h++;
		semi = memchr(h, ';', end - h);
		len = (size_t) ((semi ? semi : end) - h);
		if (len >= sizeof(tag))
			len = sizeof(tag) - 1;
		memcpy(tag, h, len);
		tag[len] = '\0';
		if (semi && sscanf(semi, ";q=%lf", &q) != 1)
			q = 1.0;
		if (q > best_q && q > 0 && (strncasecmp(tag, "zh", 2) == 0 || strncasecmp(tag, "en", 2) == 0))
		{
			best_q = q;
			best = strncasecmp(tag, "zh", 2) == 0 ? "zh-CN" : "en";
		}
		h = *end ? end + 1 : end;
	}
	return best;
}

/* The message for key in lang with {field} filled in; malloc'd. */
char *
i18n_message(const char *lang, const char *key, const char *field)
{
	json_t	   *cat = strcmp(lang, "zh-CN") == 0 ? catalog_zh : catalog_en;
	const char *tmpl = json_string_value(json_object_get(cat, key));
	const char *at;
	char	   *out;

	if (!tmpl)
		tmpl = json_string_value(json_object_get(catalog_en, key));
	if (!tmpl)
		return NULL;
	at = strstr(tmpl, "{field}");
	if (!at)
		return strdup(tmpl);
	if (!field)
		field = "";
	out = malloc(strlen(tmpl) + strlen(field) + 1);
	memcpy(out, tmpl, at - tmpl);
	strcpy(out + (at - tmpl), field);
	strcat(out, at + strlen("{field}"));
	return out;
}

/* Does the English catalog declare key? */
bool
i18n_has(const char *key)
{
	return json_is_string(json_object_get(catalog_en, key));
}
