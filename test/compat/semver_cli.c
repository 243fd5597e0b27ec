/*
 * semver_cli.c
 *		Read "range<TAB>version" lines and print, per line, the canonical
 *		range, whether the version satisfies it, or the parse error; used by
 *		compat.js to compare the extension's parser with node-semver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver_core.h"

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
			printf("%s\t%s\n", out, sv_range_match(&r, &v) ? "true" : "false");
	}
	return 0;
}
