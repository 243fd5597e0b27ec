/*
 * fuzz_semver.c
 *		libFuzzer target for the version and range parsers of semver_core.c.
 *
 * Besides "no crash, no leak, no hang", it checks properties: a parsed
 * version prints to text that parses back to an equal version; a parsed
 * range prints to canonical text that parses back to the same canonical
 * text and matches the same versions; comparison is antisymmetric.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver_core.h"

static SvRange r1,
			r2;
static char buf1[65536],
			buf2[65536];

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	const char *detail;
	SvVersion	v,
				w;

	/* strict and lax versions round-trip through their canonical text */
	for (int lax = 0; lax < 2; lax++)
	{
		SvError		e = lax ? sv_parse_lax(s, size, &v, &detail) : sv_parse(s, size, &v, &detail);

		if (e == SV_OK)
		{
			size_t		n = sv_format(&v, true, buf1, sizeof(buf1));

			if (n >= sizeof(buf1) || sv_parse(buf1, n, &w, &detail) != SV_OK ||
				sv_version_cmp(&v, &w) != 0 || w.build_len != v.build_len)
				abort();
		}
		else if (detail == NULL)
			abort();
	}

	/* ranges: canonical text is a fixed point and means the same */
	if (sv_range_parse(s, size, &r1, &detail) == SV_OK)
	{
		size_t		n1 = sv_range_format(&r1, buf1, sizeof(buf1));
		size_t		n2;

		if (n1 >= sizeof(buf1) || sv_range_parse(buf1, n1, &r2, &detail) != SV_OK)
			abort();
		n2 = sv_range_format(&r2, buf2, sizeof(buf2));
		if (n1 != n2 || memcmp(buf1, buf2, n1) != 0)
			abort();
		/* probe a few versions derived from the comparators */
		for (int i = 0; i < r1.ncomps && i < 8; i++)
		{
			SvVersion	p = {r1.comps[i].major, r1.comps[i].minor, r1.comps[i].patch,
			r1.comps[i].pre, r1.comps[i].pre_len, NULL, 0};

			if (sv_range_match(&r1, &p) != sv_range_match(&r2, &p))
				abort();
			if (sv_version_cmp(&p, &v) != -sv_version_cmp(&v, &p))
				abort();
		}
	}
	else if (detail == NULL)
		abort();
	return 0;
}
