/*
 * fuzz_semver.c
 *		libFuzzer target for the version and range parsers of semver_core.c.
 *
 * Besides "no crash, no leak, no hang", it checks properties: a parsed
 * version prints to text that parses back to an equal version; its
 * precedence key decodes back to it, and memcmp of two keys orders like
 * sv_version_cmp; arbitrary bytes either fail to decode as a key or decode
 * to a version whose key is exactly those bytes; a parsed range prints to
 * canonical text that parses back to the same canonical text and matches the
 * same versions, also through the compiled matcher on keys the server uses
 * (sv_range_plan); comparison is antisymmetric.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver_core.h"

static SvRange r1,
			r2;
static char buf1[65536],
			buf2[65536];
static uint8_t key1[SV_MAX_KEY],
			key2[SV_MAX_KEY];
static char pre1[SV_MAX_TEXT];
static uint8_t ckeys[SV_RANGE_MAX_COMPS][SV_MAX_KEY];
static const uint8_t *ckey[SV_RANGE_MAX_COMPS];
static size_t cklen[SV_RANGE_MAX_COMPS];
static SvSetPlan plan[SV_RANGE_MAX_SETS];
static char prebuf[SV_MAX_TEXT + 8];

/* the compiled matcher on keys (the server's) agrees with sv_range_match for v */
static void
check_key_match(const SvRange *r, const SvVersion *v)
{
	size_t		vlen = sv_key_encode(v, key2);

	if (sv_range_match_plan(r, plan, ckey, cklen, key2, vlen) != sv_range_match(r, v))
		abort();
}

/*
 * The same for the versions at the edges of comparator c's M.m.p: its
 * lowest pre-release (-0), a pre-release just above c's own, the lowest
 * pre-release of the next patch.
 */
static void
check_edges(const SvRange *r, const SvComparator *c)
{
	SvVersion	p = {c->major, c->minor, c->patch, "0", 1, NULL, 0};

	check_key_match(r, &p);
	if (c->pre_len > 0 && c->pre_len + 2 <= SV_MAX_TEXT)
	{
		memcpy(prebuf, c->pre, c->pre_len);
		memcpy(prebuf + c->pre_len, ".0", 2);
		p.pre = prebuf;
		p.pre_len = c->pre_len + 2;
		check_key_match(r, &p);
	}
	if (c->patch < SV_MAX_NUMBER)
	{
		p.patch = c->patch + 1;
		p.pre = "0";
		p.pre_len = 1;
		check_key_match(r, &p);
	}
}

static int
sgn(int c)
{
	return (c > 0) - (c < 0);
}

/* memcmp order of the keys of a and b equals their precedence order */
static void
check_key_order(const SvVersion *a, const SvVersion *b)
{
	size_t		la = sv_key_encode(a, key1);
	size_t		lb = sv_key_encode(b, key2);
	int			c = memcmp(key1, key2, la < lb ? la : lb);

	if (c == 0)
		c = (la > lb) - (la < lb);
	if (sgn(c) != sv_version_cmp(a, b))
		abort();
}

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

			size_t		klen;
			SvVersion	d;

			if (n >= sizeof(buf1) || sv_parse(buf1, n, &w, &detail) != SV_OK ||
				sv_version_cmp(&v, &w) != 0 || w.build_len != v.build_len)
				abort();
			/* the key decodes back to the same numbers and pre-release text */
			klen = sv_key_encode(&v, key1);
			if (klen > SV_MAX_KEY || !sv_key_decode(key1, klen, &d, pre1) ||
				d.major != v.major || d.minor != v.minor || d.patch != v.patch ||
				d.pre_len != v.pre_len ||
				(v.pre_len > 0 && memcmp(d.pre, v.pre, v.pre_len) != 0))
				abort();
		}
		else if (detail == NULL)
			abort();
	}

	/* arbitrary bytes as a key: rejected, or canonical */
	if (size <= SV_MAX_KEY && sv_key_decode(data, size, &w, pre1))
	{
		size_t		klen = sv_key_encode(&w, key1);

		if (klen != size || memcmp(key1, data, size) != 0)
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
		for (int i = 0; i < r1.ncomps; i++)
		{
			SvVersion	c = {r1.comps[i].major, r1.comps[i].minor, r1.comps[i].patch,
			r1.comps[i].pre, r1.comps[i].pre_len, NULL, 0};

			cklen[i] = sv_key_encode(&c, ckeys[i]);
			ckey[i] = ckeys[i];
		}
		sv_range_plan(&r1, ckey, cklen, plan);
		/* probe a few versions derived from the comparators */
		for (int i = 0; i < r1.ncomps && i < 8; i++)
		{
			SvVersion	p = {r1.comps[i].major, r1.comps[i].minor, r1.comps[i].patch,
			r1.comps[i].pre, r1.comps[i].pre_len, NULL, 0};

			if (sv_range_match(&r1, &p) != sv_range_match(&r2, &p))
				abort();
			check_key_match(&r1, &p);
			check_edges(&r1, &r1.comps[i]);
			p.pre_len = 0;		/* and the release of the same M.m.p */
			check_key_match(&r1, &p);
			p.patch = p.patch > 0 ? p.patch - 1 : p.patch + 1;
			check_key_match(&r1, &p);
			p.pre = r1.comps[i].pre;
			p.pre_len = r1.comps[i].pre_len;
			check_key_match(&r1, &p);
			p.patch = r1.comps[i].patch;
			if (sv_version_cmp(&p, &v) != -sv_version_cmp(&v, &p))
				abort();
			if (i > 0)
			{
				SvVersion	q = {r1.comps[i - 1].major, r1.comps[i - 1].minor,
				r1.comps[i - 1].patch, r1.comps[i - 1].pre, r1.comps[i - 1].pre_len, NULL, 0};

				check_key_order(&p, &q);
			}
		}
	}
	else if (detail == NULL)
		abort();
	return 0;
}
