/*
 * semver_cli.c
 *		Read "range<TAB>version" lines and print, per line, the canonical
 *		range, whether the version satisfies it, or the parse error; used by
 *		compat.js to compare the extension's parser with node-semver.  The
 *		match is answered by both matchers, on parsed versions and on keys
 *		(sv_range_plan, the server's); they must agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver_core.h"

/* Whether v satisfies r, by the server's matcher on precedence keys. */
static bool
key_match(const SvRange *r, const SvVersion *v)
{
	static uint8_t keys[SV_RANGE_MAX_COMPS][SV_MAX_KEY];
	static const uint8_t *ckey[SV_RANGE_MAX_COMPS];
	static size_t cklen[SV_RANGE_MAX_COMPS];
	static SvSetPlan plan[SV_RANGE_MAX_SETS];
	static uint8_t vkey[SV_MAX_KEY];

	for (int i = 0; i < r->ncomps; i++)
	{
		SvVersion	c = {r->comps[i].major, r->comps[i].minor, r->comps[i].patch,
		r->comps[i].pre, r->comps[i].pre_len, NULL, 0};

		cklen[i] = sv_key_encode(&c, keys[i]);
		ckey[i] = keys[i];
	}
	sv_range_plan(r, ckey, cklen, plan);
	return sv_range_match_plan(r, plan, ckey, cklen, vkey, sv_key_encode(v, vkey));
}

static const char *
err_name(SvError e)
{
	return e == SV_ERR_SYNTAX ? "syntax" : e == SV_ERR_RANGE ? "range" : "toolong";
}

int
main(void)
{
	static char line[16384];
	static SvRange r;
	static char out[65536];

	while (fgets(line, sizeof(line), stdin))
	{
		char	   *tab = strchr(line, '\t');
		size_t		len = strlen(line);
		const char *detail;
		SvVersion	v;
		SvError		e;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (tab == NULL)
		{
			puts("badline");
			continue;
		}
		*tab = '\0';
		e = sv_range_parse(line, strlen(line), &r, &detail);
		if (e != SV_OK)
		{
			printf("range-error:%s\n", err_name(e));
			continue;
		}
		sv_range_format(&r, out, sizeof(out));
		e = sv_parse(tab + 1, strlen(tab + 1), &v, &detail);
		if (e != SV_OK)
			printf("%s\tversion-error:%s\n", out, err_name(e));
		else
		{
			bool		m = sv_range_match(&r, &v);

			if (key_match(&r, &v) != m)
			{
				fprintf(stderr, "the matchers disagree: %s\t%s\n", line, tab + 1);
				abort();
			}
			printf("%s\t%s\n", out, m ? "true" : "false");
		}
	}
	return 0;
}
