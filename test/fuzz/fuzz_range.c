/*
 * fuzz_range.c
 *		libFuzzer target generating range/version pairs for the node-semver
 *		oracle (range_oracle.js).
 *
 * An input is "RANGE<TAB>VERSION" (or just a range).  Here: no crash, leak
 * or hang; a parsed range's canonical text parses again and gives the same
 * answer for the version, strict or lax.  What node-semver says is checked
 * afterwards, in one batch, over the corpus this target grew: libFuzzer keeps
 * an input when it reaches new code of the parser, so the corpus is a set of
 * ranges exercising every branch, which range_oracle.js pairs with its own
 * version and a fixed list of versions and compares with node-semver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver_core.h"

static SvRange r1,
			r2;
static char buf[65536];

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	const char *tab = memchr(s, '\t', size);
	size_t		rlen = tab ? (size_t) (tab - s) : size;
	const char *detail;
	SvVersion	v;
	bool		have_v = false;

	if (tab)
	{
		have_v = sv_parse(tab + 1, size - rlen - 1, &v, &detail) == SV_OK;
		if (!have_v && sv_parse_lax(tab + 1, size - rlen - 1, &v, &detail) == SV_OK)
			have_v = true;
	}
	if (sv_range_parse(s, rlen, &r1, &detail) != SV_OK)
	{
		if (detail == NULL)
			abort();
		return 0;
	}
	{
		size_t		n = sv_range_format(&r1, buf, sizeof(buf));

		if (n >= sizeof(buf) || sv_range_parse(buf, n, &r2, &detail) != SV_OK)
			abort();
		if (have_v && sv_range_match(&r1, &v) != sv_range_match(&r2, &v))
			abort();
	}
	return 0;
}
