/*
 * semver_core.c
 *		SemVer 2.0.0 parsing and precedence, and node-semver ranges, in plain C.
 *
 * No PostgreSQL headers and no allocation: the server (semver.c,
 * semver_range.c) and the fuzz target (test/fuzz/) share this file.  Range
 * semantics follow node-semver 7: tokens are expanded into primitive
 * comparators exactly as its replaceCaret/replaceTilde/replaceXRange/hyphen
 * rules do, so results agree with node-semver's satisfies().
 */
#include "semver_core.h"

#include <stdio.h>
#include <string.h>

static const char ZERO_PRE[] = "0";

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		c == '-';
}

/* Strip leading and trailing blanks from [*s, *s + *len). */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank(**s))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1]))
		(*len)--;
}

/*
 * Check a dot-separated identifier list: identifiers non-empty, made of
 * [0-9A-Za-z-], and, if no_leading_zero, numeric ones without leading zeros.
 */
static bool
valid_identifiers(const char *s, size_t len, bool no_leading_zero)
{
	size_t		i = 0;

	if (len == 0)
		return false;
	for (;;)
	{
		size_t		start = i;
		bool		numeric = true;

		while (i < len && s[i] != '.')
		{
			if (!is_ident_char(s[i]))
				return false;
			if (!is_digit(s[i]))
				numeric = false;
			i++;
		}
		if (i == start)
			return false;
		if (no_leading_zero && numeric && i - start > 1 && s[start] == '0')
			return false;
		if (i == len)
			return true;
		i++;					/* skip the dot; an empty tail fails above */
	}
}

/* Pre-release identifiers: numeric ones may not have leading zeros. */
bool
sv_valid_prerelease(const char *s, size_t len)
{
	return valid_identifiers(s, len, true);
}

/* Build identifiers: leading zeros are allowed. */
bool
sv_valid_build(const char *s, size_t len)
{
	return valid_identifiers(s, len, false);
}

/*
 * Read a run of digits at s[*pos] into *value.  Returns the number of digits
 * read; sets *overflow if the value exceeds SV_MAX_NUMBER.
 */
static size_t
scan_number(const char *s, size_t len, size_t *pos, uint64_t *value,
			bool *overflow)
{
	size_t		start = *pos;
	uint64_t	v = 0;

	while (*pos < len && is_digit(s[*pos]))
	{
		unsigned	d = (unsigned) (s[*pos] - '0');

		if (v > (SV_MAX_NUMBER - d) / 10)
			*overflow = true;
		else
			v = v * 10 + d;
		(*pos)++;
	}
	*value = v;
	return *pos - start;
}

/*
 * Parse the pre-release and build parts that follow major.minor.patch at
 * s[*pos]; on success *pos is len.
 */
static SvError
parse_tail(const char *s, size_t len, size_t pos, SvVersion *out,
		   const char **detail)
{
	if (pos < len && s[pos] == '-')
	{
		size_t		start = ++pos;

		while (pos < len && s[pos] != '+')
			pos++;
		if (!sv_valid_prerelease(s + start, pos - start))
		{
			*detail = "Pre-release identifiers must be non-empty, use only [0-9A-Za-z-], and numeric ones may not have leading zeros.";
			return SV_ERR_SYNTAX;
		}
		out->pre = s + start;
		out->pre_len = pos - start;
	}
	if (pos < len && s[pos] == '+')
	{
		size_t		start = ++pos;

		if (!sv_valid_build(s + start, len - start))
		{
			*detail = "Build metadata identifiers must be non-empty and use only [0-9A-Za-z-].";
			return SV_ERR_SYNTAX;
		}
		out->build = s + start;
		out->build_len = len - start;
		pos = len;
	}
	if (pos != len)
	{
		*detail = "Unexpected text after the version.";
		return SV_ERR_SYNTAX;
	}
	return SV_OK;
}

/* Shared body of sv_parse and sv_parse_lax. */
static SvError
parse_version(const char *s, size_t len, SvVersion *out, const char **detail,
			  bool lax)
{
	uint64_t   *parts[3];
	size_t		pos = 0;
	bool		overflow = false;
	SvError		err;

	parts[0] = &out->major;
	parts[1] = &out->minor;
	parts[2] = &out->patch;
	memset(out, 0, sizeof(*out));
	*detail = NULL;

	trim(&s, &len);
	if (len == 0)
	{
		*detail = "The text is empty.";
		return SV_ERR_SYNTAX;
	}
	if (len > SV_MAX_TEXT)
	{
		*detail = "A version may be at most 1024 characters long.";
		return SV_ERR_TOOLONG;
	}
	if (s[0] == 'v' || s[0] == 'V')
		pos++;

	for (int k = 0; k < 3; k++)
	{
		size_t		start;

		if (k > 0)
		{
			if (pos < len && s[pos] == '.')
				pos++;
			else if (lax)
				break;
			else
			{
				*detail = "A version needs three numbers: major.minor.patch.";
				return SV_ERR_SYNTAX;
			}
		}
		start = pos;
		if (scan_number(s, len, &pos, parts[k], &overflow) == 0)
		{
			*detail = "Major, minor and patch must be non-negative integers.";
			return SV_ERR_SYNTAX;
		}
		if (!lax && pos - start > 1 && s[start] == '0')
		{
			*detail = "Major, minor and patch may not have leading zeros.";
			return SV_ERR_SYNTAX;
		}
	}

	err = parse_tail(s, len, pos, out, detail);
	if (err != SV_OK)
		return err;
	if (overflow)
	{
		*detail = "Major, minor and patch may be at most 9223372036854775807.";
		return SV_ERR_RANGE;
	}
	/* lax input grows when printed (1 -> 1.0.0): the stored text must fit */
	if (lax && sv_format(out, true, NULL, 0) > SV_MAX_TEXT)
	{
		*detail = "A version may be at most 1024 characters long.";
		return SV_ERR_TOOLONG;
	}
	return SV_OK;
}

/* Parse strict SemVer 2.0.0, allowing a leading v/V and surrounding blanks. */
SvError
sv_parse(const char *text, size_t len, SvVersion *out, const char **detail)
{
	return parse_version(text, len, out, detail, false);
}

/* Parse leniently: missing minor/patch default to 0, leading zeros allowed. */
SvError
sv_parse_lax(const char *text, size_t len, SvVersion *out, const char **detail)
{
	return parse_version(text, len, out, detail, true);
}

static inline int
sign(int c)
{
	return (c > 0) - (c < 0);
}

/* Compare two pre-release strings by SemVer precedence; "" is a release. */
int
sv_prerelease_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		i = 0,
				j = 0;

	if (alen == 0)
		return blen == 0 ? 0 : 1;
	if (blen == 0)
		return -1;

	for (;;)
	{
		size_t		ie = i,
					je = j;
		bool		anum = true,
					bnum = true;
		size_t		la,
					lb;
		int			c;

		while (ie < alen && a[ie] != '.')
			anum &= is_digit(a[ie++]);
		while (je < blen && b[je] != '.')
			bnum &= is_digit(b[je++]);
		la = ie - i;
		lb = je - j;

		if (anum && bnum)
		{
			/* no leading zeros, so a longer number is a larger one */
			c = la != lb ? (la < lb ? -1 : 1) : sign(memcmp(a + i, b + j, la));
		}
		else if (anum)
			c = -1;
		else if (bnum)
			c = 1;
		else
		{
			c = sign(memcmp(a + i, b + j, la < lb ? la : lb));
			if (c == 0 && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c != 0)
			return c;

		if (ie >= alen || je >= blen)
			return (ie >= alen) == (je >= blen) ? 0 : (ie >= alen ? -1 : 1);
		i = ie + 1;
		j = je + 1;
	}
}

static inline int
cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* Compare two versions by SemVer precedence, ignoring build metadata. */
int
sv_version_cmp(const SvVersion *a, const SvVersion *b)
{
	int			c;

	if ((c = cmp_u64(a->major, b->major)) != 0 ||
		(c = cmp_u64(a->minor, b->minor)) != 0 ||
		(c = cmp_u64(a->patch, b->patch)) != 0)
		return c;
	return sv_prerelease_cmp(a->pre, a->pre_len, b->pre, b->pre_len);
}

/* ---------------------------------------------------------------------
 * Precedence keys (see semver_core.h for the layout)
 * ---------------------------------------------------------------------
 */

/* Append num(v) at p; returns the new end. */
static uint8_t *
key_put_num(uint8_t *p, uint64_t v)
{
	int			n = 0;

	if (v < 0x80)
	{
		*p++ = (uint8_t) v;
		return p;
	}
	for (uint64_t t = v; t > 0; t >>= 8)
		n++;
	*p++ = (uint8_t) (0x80 + n);
	for (int i = n - 1; i >= 0; i--)
		*p++ = (uint8_t) (v >> (8 * i));
	return p;
}

/* Read num() at *p (before end) into *v; false if malformed. */
static bool
key_get_num(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint8_t		b;
	int			n;

	if (*p >= end)
		return false;
	b = *(*p)++;
	if (b < 0x80)
	{
		*v = b;
		return true;
	}
	n = b - 0x80;
	if (n < 1 || n > 8 || end - *p < n)
		return false;
	*v = 0;
	for (int i = 0; i < n; i++)
		*v = (*v << 8) | *(*p)++;
	/* canonical: no leading zero byte, and values below 0x80 use one byte */
	return (*v >> (8 * (n - 1))) != 0 && *v >= 0x80;
}

size_t
sv_key_encode(const SvVersion *v, uint8_t *buf)
{
	uint8_t    *p = buf;
	size_t		i = 0;

	p = key_put_num(p, v->major);
	p = key_put_num(p, v->minor);
	p = key_put_num(p, v->patch);
	if (v->pre_len == 0)
	{
		*p++ = 0x02;
		return (size_t) (p - buf);
	}
	*p++ = 0x01;
	while (i < v->pre_len)
	{
		size_t		start = i;
		bool		numeric = true;
		uint64_t	value = 0;
		bool		big = false;

		for (; i < v->pre_len && v->pre[i] != '.'; i++)
		{
			if (!is_digit(v->pre[i]))
				numeric = false;
			else if (!big)
			{
				unsigned	d = (unsigned) (v->pre[i] - '0');

				if (value > (UINT64_MAX - d) / 10)
					big = true;
				else
					value = value * 10 + d;
			}
		}
		if (numeric && !big)
		{
			*p++ = 0x01;
			p = key_put_num(p, value);
		}
		else if (numeric)
		{
			size_t		nd = i - start;

			*p++ = 0x01;
			*p++ = 0xC0;
			*p++ = (uint8_t) (nd >> 8);
			*p++ = (uint8_t) nd;
			memcpy(p, v->pre + start, nd);
			p += nd;
		}
		else
		{
			*p++ = 0x02;
			memcpy(p, v->pre + start, i - start);
			p += i - start;
			*p++ = 0x00;
		}
		i++;					/* skip the dot */
	}
	*p++ = 0x00;
	return (size_t) (p - buf);
}

bool
sv_key_decode(const uint8_t *key, size_t len, SvVersion *v, char *prebuf)
{
	const uint8_t *p = key;
	const uint8_t *end = key + len;
	size_t		n = 0;

	memset(v, 0, sizeof(*v));
	if (!key_get_num(&p, end, &v->major) || !key_get_num(&p, end, &v->minor) ||
		!key_get_num(&p, end, &v->patch) || p >= end ||
		v->major > SV_MAX_NUMBER || v->minor > SV_MAX_NUMBER ||
		v->patch > SV_MAX_NUMBER)
		return false;
	if (*p == 0x02)
		return p + 1 == end;
	if (*p++ != 0x01 || p >= end || *p == 0x00)
		return false;
	while (p < end && *p != 0x00)
	{
		uint8_t		tag = *p++;

		if (n > 0)
		{
			if (n >= SV_MAX_TEXT)
				return false;
			prebuf[n++] = '.';
		}
		if (tag == 0x01 && p < end && *p == 0xC0)
		{
			size_t		nd;

			if (end - p < 3)
				return false;
			nd = ((size_t) p[1] << 8) | p[2];
			p += 3;
			if (nd < 20 || (size_t) (end - p) < nd || nd > SV_MAX_TEXT - n ||
				p[0] == '0')
				return false;
			for (size_t k = 0; k < nd; k++)
				if (!is_digit((char) p[k]))
					return false;
			/* canonical: only numbers above UINT64_MAX are kept as digits */
			if (nd == 20 && memcmp(p, "18446744073709551615", 20) <= 0)
				return false;
			memcpy(prebuf + n, p, nd);
			n += nd;
			p += nd;
		}
		else if (tag == 0x01)
		{
			uint64_t	value;
			char		digits[24];
			int			nd;

			if (!key_get_num(&p, end, &value))
				return false;
			nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long) value);
			if ((size_t) nd > SV_MAX_TEXT - n)
				return false;
			memcpy(prebuf + n, digits, nd);
			n += nd;
		}
		else if (tag == 0x02)
		{
			size_t		start = n;
			bool		numeric = true;

			while (p < end && *p != 0x00)
			{
				if (!is_ident_char((char) *p) || n >= SV_MAX_TEXT)
					return false;
				numeric &= is_digit((char) *p);
				prebuf[n++] = (char) *p++;
			}
			/* an alphanumeric identifier has a non-digit and is non-empty */
			if (p >= end || n == start || numeric)
				return false;
			p++;
		}
		else
			return false;
	}
	if (p + 1 != end)
		return false;
	v->pre = prebuf;
	v->pre_len = n;
	return true;
}

/* ---------------------------------------------------------------------
 * Ranges
 * ---------------------------------------------------------------------
 */

/* A possibly partial version of a range token: 1, 1.x, 1.2.*, 1.2.3-rc.1 */
typedef struct Partial
{
	uint64_t	num[3];
	bool		is_x[3];		/* missing, x, X or * */
	const char *pre;
	size_t		pre_len;
	size_t		prefix_len;		/* leading v, V and = characters */
	bool		prefix_plain;	/* that prefix is empty or a single v/V */
} Partial;

/* Parse a partial version (node-semver XRANGEPLAIN) spanning all of s. */
static SvError
parse_partial(const char *s, size_t len, Partial *p, const char **detail)
{
	size_t		pos = 0;
	bool		overflow = false;
	int			k;
	SvVersion	tail;
	SvError		err;

	memset(p, 0, sizeof(*p));
	p->is_x[0] = p->is_x[1] = p->is_x[2] = true;
	if (len > SV_MAX_TEXT)
	{
		*detail = "A version may be at most 1024 characters long.";
		return SV_ERR_TOOLONG;
	}

	while (pos < len && (s[pos] == 'v' || s[pos] == 'V' || s[pos] == '='))
		pos++;
	p->prefix_len = pos;
	p->prefix_plain = pos == 0 || (pos == 1 && s[0] != '=');
	for (k = 0; k < 3; k++)
	{
		if (k > 0)
		{
			if (pos < len && s[pos] == '.')
				pos++;
			else
				break;
		}
		if (pos < len && (s[pos] == 'x' || s[pos] == 'X' || s[pos] == '*'))
		{
			pos++;
			continue;
		}
		else
		{
			size_t		start = pos;

			if (scan_number(s, len, &pos, &p->num[k], &overflow) == 0)
			{
				*detail = "Expected a number, x, X or * in a range version.";
				return SV_ERR_SYNTAX;
			}
			if (pos - start > 1 && s[start] == '0')
			{
				*detail = "Major, minor and patch may not have leading zeros.";
				return SV_ERR_SYNTAX;
			}
			p->is_x[k] = false;
		}
	}
	/* pre-release and build only after all three parts */
	if (k < 3 && pos < len)
	{
		*detail = "Unexpected text in a range version.";
		return SV_ERR_SYNTAX;
	}
	memset(&tail, 0, sizeof(tail));
	err = parse_tail(s, len, pos, &tail, detail);
	if (err != SV_OK)
		return err;
	if (overflow)
	{
		*detail = "Major, minor and patch may be at most 9223372036854775807.";
		return SV_ERR_RANGE;
	}
	p->pre = tail.pre;
	p->pre_len = tail.pre_len;
	return SV_OK;
}

/*
 * Append one comparator to the set being built, copying its pre-release text
 * into the range's pool.  Like node-semver's replaceGTE0, >=0.0.0 is dropped:
 * it is '*'.  (node keeps it when written ">=v0.0.0"; we do not, so that the
 * canonical text always reads back as the same range.)
 */
static SvError
add_comp(SvRange *r, SvOp op, uint64_t M, uint64_t m, uint64_t p,
		 const char *pre, size_t pre_len, const char **detail)
{
	SvComparator *c;

	if (op == SV_OP_GE && M == 0 && m == 0 && p == 0 && pre_len == 0)
		return SV_OK;
	if (r->ncomps >= SV_RANGE_MAX_COMPS)
	{
		*detail = "A range may expand to at most 512 comparators.";
		return SV_ERR_TOOLONG;
	}
	c = &r->comps[r->ncomps];
	if (pre_len > 0 && pre != ZERO_PRE)
	{
		if (pre_len > sizeof(r->pool) - r->pool_used)
		{
			*detail = "A range may be at most 4096 characters long.";
			return SV_ERR_TOOLONG;
		}
		memcpy(r->pool + r->pool_used, pre, pre_len);
		pre = r->pool + r->pool_used;
		r->pool_used += pre_len;
	}
	r->ncomps++;
	c->op = op;
	c->major = M;
	c->minor = m;
	c->patch = p;
	c->pre = pre;
	c->pre_len = pre_len;
	r->set_len[r->nsets - 1]++;
	return SV_OK;
}

/* n + 1, failing when the result would exceed SV_MAX_NUMBER. */
static SvError
incr(uint64_t n, uint64_t *out, const char **detail)
{
	if (n >= SV_MAX_NUMBER)
	{
		*detail = "Major, minor and patch may be at most 9223372036854775807.";
		return SV_ERR_RANGE;
	}
	*out = n + 1;
	return SV_OK;
}

#define TRY(expr) do { SvError e_ = (expr); if (e_ != SV_OK) return e_; } while (0)

/* The lower bound ">=M.m.p" and upper bound "<U.u.q-0" pair. */
static SvError
add_between(SvRange *r, const Partial *lo, uint64_t uM, uint64_t um,
			uint64_t up, const char **detail)
{
	TRY(add_comp(r, SV_OP_GE, lo->num[0], lo->num[1], lo->num[2],
				 lo->pre, lo->pre_len, detail));
	return add_comp(r, SV_OP_LT, uM, um, up, ZERO_PRE, 1, detail);
}

/* ^M.m.p: changes that do not modify the left-most non-zero part. */
static SvError
expand_caret(SvRange *r, Partial *v, const char **detail)
{
	uint64_t	n;

	if (v->is_x[0])
		return SV_OK;
	if (v->is_x[1] || v->is_x[2])
	{
		if (v->is_x[1])
			v->num[1] = 0;
		v->num[2] = 0;
		v->pre_len = 0;
	}
	if (v->num[0] != 0 || v->is_x[1])
	{
		TRY(incr(v->num[0], &n, detail));
		return add_between(r, v, n, 0, 0, detail);
	}
	if (v->num[1] != 0 || v->is_x[2])
	{
		TRY(incr(v->num[1], &n, detail));
		return add_between(r, v, 0, n, 0, detail);
	}
	TRY(incr(v->num[2], &n, detail));
	return add_between(r, v, 0, 0, n, detail);
}

/* ~M.m.p: patch-level changes if minor is given, else minor-level. */
static SvError
expand_tilde(SvRange *r, Partial *v, const char **detail)
{
	uint64_t	n;

	if (v->is_x[0])
		return SV_OK;
	if (v->is_x[1])
	{
		v->num[1] = v->num[2] = 0;
		v->pre_len = 0;
		TRY(incr(v->num[0], &n, detail));
		return add_between(r, v, n, 0, 0, detail);
	}
	if (v->is_x[2])
	{
		v->num[2] = 0;
		v->pre_len = 0;
	}
	TRY(incr(v->num[1], &n, detail));
	return add_between(r, v, v->num[0], n, 0, detail);
}

/* [op]M.m.p where some part may be missing or x (node's replaceXRange). */
static SvError
expand_xrange(SvRange *r, SvOp op, bool has_op, Partial *v,
			  const char **detail)
{
	bool		xM = v->is_x[0];
	bool		xm = xM || v->is_x[1];
	bool		xp = xm || v->is_x[2];
	uint64_t	M = v->num[0],
				m = v->num[1];

	if (!xp)
	{
		/* a full version takes at most one v after its operator */
		if (!v->prefix_plain)
		{
			*detail = "Only a single v may stand between an operator and a version.";
			return SV_ERR_SYNTAX;
		}
		return add_comp(r, op, v->num[0], v->num[1], v->num[2],
						v->pre, v->pre_len, detail);
	}
	if (op == SV_OP_EQ)
		has_op = false;
	if (xM)
	{
		/* >* and <* match nothing; any other form matches everything */
		if (has_op && (op == SV_OP_GT || op == SV_OP_LT))
			return add_comp(r, SV_OP_LT, 0, 0, 0, ZERO_PRE, 1, detail);
		return SV_OK;
	}
	if (has_op)
	{
		if (xm)
			m = 0;
		if (op == SV_OP_GT)
		{
			/* >1 is >=2.0.0, >1.2 is >=1.3.0 */
			if (xm)
				TRY(incr(M, &M, detail));
			else
				TRY(incr(m, &m, detail));
			return add_comp(r, SV_OP_GE, M, m, 0, NULL, 0, detail);
		}
		if (op == SV_OP_LE || op == SV_OP_LT)
		{
			/* <=1.2 is <1.3.0-0; <1.2 is <1.2.0-0 */
			if (op == SV_OP_LE)
			{
				if (xm)
					TRY(incr(M, &M, detail));
				else
					TRY(incr(m, &m, detail));
			}
			return add_comp(r, SV_OP_LT, M, m, 0, ZERO_PRE, 1, detail);
		}
		return add_comp(r, SV_OP_GE, M, m, 0, NULL, 0, detail);
	}
	v->pre_len = 0;
	if (xm)
	{
		v->num[1] = v->num[2] = 0;
		TRY(incr(M, &M, detail));
		return add_between(r, v, M, 0, 0, detail);
	}
	v->num[2] = 0;
	TRY(incr(m, &m, detail));
	return add_between(r, v, M, m, 0, detail);
}

/*
 * A - B (hyphen range): >=A <=B with partial versions widened.  node-semver
 * pastes a full A (and a full B without pre-release) into the comparator
 * text, so only a plain or single-v prefix is valid there.
 */
static SvError
expand_hyphen(SvRange *r, Partial *a, Partial *b, const char **detail)
{
	uint64_t	n;
	bool		a_full = !a->is_x[0] && !a->is_x[1] && !a->is_x[2];
	bool		b_full = !b->is_x[0] && !b->is_x[1] && !b->is_x[2];

	if ((a_full && !a->prefix_plain) || (b_full && b->pre_len == 0 && !b->prefix_plain))
	{
		*detail = "Only a single v may stand before a version in a hyphen range.";
		return SV_ERR_SYNTAX;
	}
	if (!a->is_x[0])
	{
		if (!a_full)
		{
			if (a->is_x[1])
				a->num[1] = 0;
			a->num[2] = 0;
			a->pre_len = 0;
		}
		TRY(add_comp(r, SV_OP_GE, a->num[0], a->num[1], a->num[2],
					 a->pre, a->pre_len, detail));
	}
	if (b->is_x[0])
		return SV_OK;
	if (b->is_x[1])
	{
		TRY(incr(b->num[0], &n, detail));
		return add_comp(r, SV_OP_LT, n, 0, 0, ZERO_PRE, 1, detail);
	}
	if (b->is_x[2])
	{
		TRY(incr(b->num[1], &n, detail));
		return add_comp(r, SV_OP_LT, b->num[0], n, 0, ZERO_PRE, 1, detail);
	}
	return add_comp(r, SV_OP_LE, b->num[0], b->num[1], b->num[2],
					b->pre, b->pre_len, detail);
}

/* Length of an operator (<, <=, >, >=, =, ~, ~>, ^) at the start of s. */
static size_t
operator_len(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	if (s[0] == '<' || s[0] == '>' || s[0] == '~')
		return (len > 1 && s[1] == (s[0] == '~' ? '>' : '=')) ? 2 : 1;
	if (s[0] == '=' || s[0] == '^')
		return 1;
	return 0;
}

/* Expand one comparator token (operator and version, blanks removed). */
static SvError
expand_token(SvRange *r, const char *s, size_t len, const char **detail)
{
	size_t		oplen = operator_len(s, len);
	Partial		v;
	SvOp		op = SV_OP_EQ;

	if (oplen == len)
	{
		*detail = len == 0 ? "Empty comparator." : "An operator must be followed by a version.";
		return SV_ERR_SYNTAX;
	}
	TRY(parse_partial(s + oplen, len - oplen, &v, detail));
	if (s[0] == '^')
		return expand_caret(r, &v, detail);
	if (s[0] == '~')
		return expand_tilde(r, &v, detail);
	if (oplen > 0)
	{
		if (s[0] == '<')
			op = oplen == 2 ? SV_OP_LE : SV_OP_LT;
		else if (s[0] == '>')
			op = oplen == 2 ? SV_OP_GE : SV_OP_GT;
	}
	/* node-semver 7.8: a number after an x (x.1, 1.x.2, *.1.2) is no x-range */
	if ((v.is_x[0] && !v.is_x[1]) || (v.is_x[1] && !v.is_x[2]))
	{
		*detail = "In an x-range, no number may follow an x, X or * (write 1.x or 1.2.x, not x.1 or 1.x.2).";
		return SV_ERR_SYNTAX;
	}
	return expand_xrange(r, op, oplen > 0, &v, detail);
}

#define MAX_TOKENS 512

/* Does the token consist only of v, V and = (a prefix node lets float)? */
static bool
is_prefix_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != 'v' && s[i] != 'V' && s[i] != '=')
			return false;
	return len > 0;
}

/* Does the token start like a version: [v=]* then a number, x, X or *? */
static bool
starts_like_version(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len && (s[i] == 'v' || s[i] == 'V' || s[i] == '='))
		i++;
	return i < len && (is_digit(s[i]) || s[i] == 'x' || s[i] == 'X' || s[i] == '*');
}

/*
 * Whether a token ending in an operator absorbs the next one, as node-semver's
 * trimming does on the raw text: "~ 1.2" and "^ 1.2" always, "<= 1.2" when the
 * next token looks like a version and the token is that operator alone: in
 * "== 1.2" or "v= 1.2" node's pattern takes the blank into the version's
 * [v=\s]* prefix, so nothing is joined (and "==" alone is no comparator).
 */
static bool
joins_next(const char *t, size_t n, const char *next, size_t next_len)
{
	char		last = t[n - 1];

	if (last == '~' || last == '^' || (n >= 2 && last == '>' && t[n - 2] == '~'))
		return true;
	return ((n == 1 && (last == '<' || last == '>' || last == '=')) ||
			(n == 2 && last == '=' && (t[0] == '<' || t[0] == '>'))) &&
		starts_like_version(next, next_len);
}

/*
 * Copy a comparator token into buf without its first "+build" part, as
 * node-semver's parseComparator does with replace(BUILD, '').  (Since
 * node-semver 7.8 every "+build" of a set is gone before (strip_all_builds),
 * so this only matters to callers of a single token.)
 */
static size_t
strip_build(const char *t, size_t n, char *buf)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
		if (t[i] == '+' && i + 1 < n && is_ident_char(t[i + 1]))
			break;
	memmove(buf, t, i);
	if (i == n)
		return n;
	j = i + 1;
	for (;;)
	{
		while (j < n && is_ident_char(t[j]))
			j++;
		if (j + 1 < n && t[j] == '.' && is_ident_char(t[j + 1]))
			j++;
		else
			break;
	}
	memmove(buf + i, t + j, n - j);
	return i + (n - j);
}

/*
 * Join tokens [from, to) into buf (they were split on blanks that node's
 * [v=\s]* prefix allows); returns the length.
 */
static size_t
join_tokens(const char *const *tok, const size_t *tlen, int from, int to,
			char *buf)
{
	size_t		n = 0;

	for (int i = from; i < to; i++)
	{
		memcpy(buf + n, tok[i], tlen[i]);
		n += tlen[i];
	}
	return n;
}

/* A B (hyphen range) given as the tokens around a lone "-". */
static SvError
parse_hyphen(SvRange *r, const char *const *tok, const size_t *tlen, int ntok,
			 int h, const char **detail)
{
	char		abuf[SV_RANGE_MAX_TEXT],
				bbuf[SV_RANGE_MAX_TEXT];
	Partial		a,
				b;
	int			i;

	/* each side: tokens of only v/= and then one version */
	for (i = 0; i < h - 1; i++)
		if (!is_prefix_only(tok[i], tlen[i]))
			break;
	if (h == 0 || i != h - 1)
	{
		*detail = "A hyphen range is \"A - B\" with one version on each side.";
		return SV_ERR_SYNTAX;
	}
	for (i = h + 1; i < ntok - 1; i++)
		if (!is_prefix_only(tok[i], tlen[i]))
			break;
	if (h + 1 >= ntok || i != ntok - 1)
	{
		*detail = "A hyphen range is \"A - B\" with one version on each side.";
		return SV_ERR_SYNTAX;
	}
	TRY(parse_partial(abuf, join_tokens(tok, tlen, 0, h, abuf), &a, detail));
	TRY(parse_partial(bbuf, join_tokens(tok, tlen, h + 1, ntok, bbuf), &b, detail));
	return expand_hyphen(r, &a, &b, detail);
}

/*
 * Copy a comparator set into buf without any "+build" part, wherever it
 * stands: node-semver 7.8 removes them all (replace(BUILD, 'g')) before it
 * reads the set, so build metadata can never bleed into a version.
 */
static size_t
strip_all_builds(const char *s, size_t len, char *buf)
{
	size_t		i = 0,
				n = 0;

	while (i < len)
	{
		if (s[i] == '+' && i + 1 < len && is_ident_char(s[i + 1]))
		{
			i++;
			for (;;)
			{
				while (i < len && is_ident_char(s[i]))
					i++;
				if (i + 1 < len && s[i] == '.' && is_ident_char(s[i + 1]))
					i++;
				else
					break;
			}
			continue;
		}
		buf[n++] = s[i++];
	}
	return n;
}

/* Parse one comparator set (the text between '||'). */
static SvError
parse_set(SvRange *r, const char *text, size_t text_len, const char **detail)
{
	const char *tok[MAX_TOKENS];
	size_t		tlen[MAX_TOKENS];
	int			ntok = 0;
	size_t		pos = 0;
	int			hyphen = -1;
	char		stripped[SV_RANGE_MAX_TEXT];
	const char *s = stripped;
	size_t		len;

	if (r->nsets >= SV_RANGE_MAX_SETS)
	{
		*detail = "A range may have at most 256 alternatives.";
		return SV_ERR_TOOLONG;
	}
	r->set_len[r->nsets++] = 0;
	if (text_len > sizeof(stripped))
	{
		*detail = "A range may be at most 4096 characters long.";
		return SV_ERR_TOOLONG;
	}
	len = strip_all_builds(text, text_len, stripped);

	/* split on blanks */
	for (;;)
	{
		size_t		start;

		while (pos < len && is_blank(s[pos]))
			pos++;
		if (pos >= len)
			break;
		start = pos;
		while (pos < len && !is_blank(s[pos]))
			pos++;
		if (ntok >= MAX_TOKENS)
		{
			*detail = "A range may have at most 512 tokens.";
			return SV_ERR_TOOLONG;
		}
		if (pos - start == 1 && s[start] == '-')
		{
			if (hyphen >= 0)
			{
				*detail = "A hyphen range is \"A - B\" with one version on each side.";
				return SV_ERR_SYNTAX;
			}
			hyphen = ntok;
		}
		tok[ntok] = s + start;
		tlen[ntok++] = pos - start;
	}

	if (hyphen >= 0)
		return parse_hyphen(r, tok, tlen, ntok, hyphen, detail);

	for (int i = 0; i < ntok; i++)
	{
		char		buf[SV_RANGE_MAX_TEXT];
		size_t		n = tlen[i];

		memcpy(buf, tok[i], n);
		while (i + 1 < ntok && joins_next(buf, n, tok[i + 1], tlen[i + 1]))
		{
			i++;
			memcpy(buf + n, tok[i], tlen[i]);
			n += tlen[i];
		}
		n = strip_build(buf, n, buf);
		if (n == 0)
			continue;			/* it was all build metadata: '*' */
		TRY(expand_token(r, buf, n, detail));
	}
	return SV_OK;
}

static bool
comp_equal(const SvComparator *a, const SvComparator *b)
{
	return a->op == b->op && a->major == b->major && a->minor == b->minor &&
		a->patch == b->patch && a->pre_len == b->pre_len &&
		(a->pre_len == 0 || memcmp(a->pre, b->pre, a->pre_len) == 0);
}

/* <0.0.0-0: the comparator that nothing satisfies */
static bool
comp_is_null(const SvComparator *c)
{
	return c->op == SV_OP_LT && c->major == 0 && c->minor == 0 &&
		c->patch == 0 && c->pre_len == 1 && c->pre[0] == '0';
}

/*
 * node-semver's clean-up of a parsed range: within a set, a null comparator
 * replaces the whole set and duplicates go; across sets, null sets go
 * (unless all are) and a '*' set absorbs the whole range.  The last rule
 * changes matching (a '*' alternative matches no pre-release), so it is
 * semantics, not cosmetics.
 */
static void
normalize_range(SvRange *r)
{
	int			src = 0,
				dst = 0,
				nsets = 0,
				any_set = -1,
				first_null = -1;

	for (int s = 0; s < r->nsets; s++)
	{
		int			n = r->set_len[s];
		int			start = dst;
		int			null_at = -1;

		for (int i = 0; i < n && null_at < 0; i++)
			if (comp_is_null(&r->comps[src + i]))
				null_at = src + i;
		if (null_at >= 0)
			r->comps[dst++] = r->comps[null_at];
		else
		{
			for (int i = 0; i < n; i++)
			{
				SvComparator c = r->comps[src + i];
				bool		dup = false;

				for (int k = start; k < dst && !dup; k++)
					dup = comp_equal(&r->comps[k], &c);
				if (!dup)
					r->comps[dst++] = c;
			}
		}
		src += n;
		r->set_len[s] = dst - start;
	}
	r->ncomps = dst;
	if (r->nsets <= 1)
		return;

	/* drop null sets, keeping the first if all are null */
	src = dst = 0;
	for (int s = 0; s < r->nsets; s++)
	{
		int			n = r->set_len[s];
		bool		is_null = n == 1 && comp_is_null(&r->comps[src]);

		if (is_null && first_null < 0)
			first_null = s;
		if (!is_null)
		{
			memmove(&r->comps[dst], &r->comps[src], n * sizeof(SvComparator));
			r->set_len[nsets++] = n;
			if (n == 0 && any_set < 0)
				any_set = nsets - 1;
			dst += n;
		}
		src += n;
	}
	if (nsets == 0)
	{
		r->comps[0] = r->comps[0];	/* the first set was null: keep it */
		r->nsets = 1;
		r->set_len[0] = 1;
		r->ncomps = 1;
		return;
	}
	r->nsets = nsets;
	r->ncomps = dst;
	if (nsets > 1 && any_set >= 0)
	{
		r->nsets = 1;
		r->set_len[0] = 0;
		r->ncomps = 0;
	}
}

/* Parse a node-semver range: comparator sets separated by '||'. */
SvError
sv_range_parse(const char *text, size_t len, SvRange *out, const char **detail)
{
	const char *s = text;
	size_t		pos = 0;

	out->nsets = 0;
	out->ncomps = 0;
	out->pool_used = 0;
	*detail = NULL;
	trim(&s, &len);
	if (len > SV_RANGE_MAX_TEXT)
	{
		*detail = "A range may be at most 4096 characters long.";
		return SV_ERR_TOOLONG;
	}
	for (;;)
	{
		size_t		start = pos;

		while (pos < len && !(s[pos] == '|' && pos + 1 < len && s[pos + 1] == '|'))
			pos++;
		TRY(parse_set(out, s + start, pos - start, detail));
		if (pos >= len)
			break;
		pos += 2;
	}
	normalize_range(out);
	/* canonical text must read back in (pg_dump): it may be longer than the input */
	if (sv_range_format(out, NULL, 0) > SV_RANGE_MAX_TEXT)
	{
		*detail = "A range may expand to at most 4096 characters of comparators.";
		return SV_ERR_TOOLONG;
	}
	return SV_OK;
}

/* Whether a comparison result cmp (version against operand) satisfies op. */
static bool
op_holds(SvOp op, int cmp)
{
	switch (op)
	{
		case SV_OP_EQ:
			return cmp == 0;
		case SV_OP_LT:
			return cmp < 0;
		case SV_OP_LE:
			return cmp <= 0;
		case SV_OP_GT:
			return cmp > 0;
		case SV_OP_GE:
			return cmp >= 0;
	}
	return false;
}

/* Does v satisfy comparator c? */
static bool
comp_match(const SvComparator *c, const SvVersion *v)
{
	SvVersion	cv;

	memset(&cv, 0, sizeof(cv));
	cv.major = c->major;
	cv.minor = c->minor;
	cv.patch = c->patch;
	cv.pre = c->pre;
	cv.pre_len = c->pre_len;
	return op_holds(c->op, sv_version_cmp(v, &cv));
}

/* Test v against the range with node-semver's pre-release rule. */
bool
sv_range_match(const SvRange *r, const SvVersion *v)
{
	int			idx = 0;

	for (int s = 0; s < r->nsets; s++)
	{
		const SvComparator *set = &r->comps[idx];
		int			n = r->set_len[s];
		bool		ok = true;

		idx += n;
		for (int i = 0; i < n && ok; i++)
			ok = comp_match(&set[i], v);
		if (!ok)
			continue;
		if (v->pre_len > 0)
		{
			/* a pre-release needs a comparator naming a pre-release of its M.m.p */
			bool		allowed = false;

			for (int i = 0; i < n && !allowed; i++)
				allowed = set[i].pre_len > 0 && set[i].major == v->major &&
					set[i].minor == v->minor && set[i].patch == v->patch;
			if (!allowed)
				continue;
		}
		return true;
	}
	return false;
}

/*
 * Whether a key is inside a lower (upper) bound, cmp being its comparison
 * with the bound's key.
 */
static inline bool
above_lower(int cmp, bool incl)
{
	return cmp > 0 || (cmp == 0 && incl);
}

static inline bool
below_upper(int cmp, bool incl)
{
	return cmp < 0 || (cmp == 0 && incl);
}

/* The key of major.minor.patch of comparator c, as a release or as -0. */
static size_t
tuple_key(const SvComparator *c, bool lowest_pre, uint8_t *buf)
{
	SvVersion	v;

	memset(&v, 0, sizeof(v));
	v.major = c->major;
	v.minor = c->minor;
	v.patch = c->patch;
	if (lowest_pre)
	{
		/* "0" is the lowest pre-release: fewest identifiers, numeric, 0 */
		v.pre = "0";
		v.pre_len = 1;
	}
	return sv_key_encode(&v, buf);
}

void
sv_range_plan(const SvRange *r, const uint8_t *const *ckey,
			  const size_t *cklen, SvSetPlan *plan)
{
	uint8_t		kmin[SV_MAX_KEY],
				krel[SV_MAX_KEY];
	int			first = 0;

	for (int s = 0; s < r->nsets; s++)
	{
		SvSetPlan  *p = &plan[s];

		memset(p, 0, sizeof(*p));
		p->first = first;
		p->n = r->set_len[s];
		p->lo = p->hi = -1;
		first += p->n;

		/* the highest lower bound and the lowest upper one; at equal keys the exclusive one */
		for (int i = p->first; i < p->first + p->n; i++)
		{
			SvOp		op = r->comps[i].op;
			int			c;

			if (op == SV_OP_GT || op == SV_OP_GE || op == SV_OP_EQ)
			{
				c = p->lo < 0 ? 1 : sv_key_cmp(ckey[i], cklen[i], ckey[p->lo], cklen[p->lo]);
				if (c > 0 || (c == 0 && op == SV_OP_GT))
				{
					p->lo = i;
					p->lo_incl = op != SV_OP_GT;
				}
			}
			if (op == SV_OP_LT || op == SV_OP_LE || op == SV_OP_EQ)
			{
				c = p->hi < 0 ? -1 : sv_key_cmp(ckey[i], cklen[i], ckey[p->hi], cklen[p->hi]);
				if (c < 0 || (c == 0 && op == SV_OP_LT))
				{
					p->hi = i;
					p->hi_incl = op != SV_OP_LT;
				}
			}
		}
		if (p->lo >= 0 && p->hi >= 0)
		{
			int			c = sv_key_cmp(ckey[p->lo], cklen[p->lo], ckey[p->hi], cklen[p->hi]);

			p->empty = c > 0 || (c == 0 && !(p->lo_incl && p->hi_incl));
		}

		/*
		 * A pre-release may match when a comparator names a pre-release of
		 * some M.m.p and the interval meets that M.m.p's pre-releases, which
		 * lie from M.m.p-0 up to (not including) M.m.p.  (Conservative: an
		 * interval between two adjacent pre-releases counts as meeting.)
		 */
		for (int i = p->first; i < p->first + p->n && !p->empty && !p->pre; i++)
		{
			size_t		nmin,
						nrel;

			if (r->comps[i].pre_len == 0)
				continue;
			nmin = tuple_key(&r->comps[i], true, kmin);
			nrel = tuple_key(&r->comps[i], false, krel);
			p->pre = (p->lo < 0 || sv_key_cmp(ckey[p->lo], cklen[p->lo], krel, nrel) < 0) &&
				(p->hi < 0 || above_lower(sv_key_cmp(ckey[p->hi], cklen[p->hi], kmin, nmin), p->hi_incl));
		}
	}
}

/*
 * Whether one of comparators first .. first + n - 1 of r names a pre-release
 * of the key's M.m.p.
 */
static bool
names_prerelease_of(const SvRange *r, int first, int n, const uint8_t *vkey,
					size_t vlen)
{
	const uint8_t *k = vkey;
	uint64_t	num[3];

	if (!key_get_num(&k, vkey + vlen, &num[0]) ||
		!key_get_num(&k, vkey + vlen, &num[1]) ||
		!key_get_num(&k, vkey + vlen, &num[2]))
		return false;
	for (int i = first; i < first + n; i++)
		if (r->comps[i].pre_len > 0 && r->comps[i].major == num[0] &&
			r->comps[i].minor == num[1] && r->comps[i].patch == num[2])
			return true;
	return false;
}

bool
sv_range_match_plan(const SvRange *r, const SvSetPlan *plan,
					const uint8_t *const *ckey, const size_t *cklen,
					const uint8_t *vkey, size_t vlen)
{
	/* a release's key ends with 0x02, a pre-release's with 0x00 */
	bool		vpre = vlen > 0 && vkey[vlen - 1] != 0x02;

	for (int s = 0; s < r->nsets; s++)
	{
		const SvSetPlan *p = &plan[s];

		if (p->empty || (vpre && !p->pre))
			continue;
		if (p->lo >= 0 &&
			!above_lower(sv_key_cmp(vkey, vlen, ckey[p->lo], cklen[p->lo]), p->lo_incl))
			continue;
		if (p->hi >= 0 &&
			!below_upper(sv_key_cmp(vkey, vlen, ckey[p->hi], cklen[p->hi]), p->hi_incl))
			continue;
		if (vpre && !names_prerelease_of(r, p->first, p->n, vkey, vlen))
			continue;
		return true;
	}
	return false;
}

/* A bounded string writer that keeps counting past the end, like snprintf. */
typedef struct Out
{
	char	   *buf;
	size_t		size;
	size_t		len;
} Out;

static void
out_mem(Out *o, const char *s, size_t n)
{
	if (o->len < o->size)
	{
		size_t		room = o->size - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void
out_str(Out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void
out_version(Out *o, uint64_t M, uint64_t m, uint64_t p, const char *pre,
			size_t pre_len)
{
	char		num[80];

	snprintf(num, sizeof(num), "%llu.%llu.%llu", (unsigned long long) M,
			 (unsigned long long) m, (unsigned long long) p);
	out_str(o, num);
	if (pre_len > 0)
	{
		out_mem(o, "-", 1);
		out_mem(o, pre, pre_len);
	}
}

static size_t
out_finish(Out *o)
{
	if (o->size > 0)
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	return o->len;
}

/* Canonical text of a version: M.m.p[-pre][+build]. */
size_t
sv_format(const SvVersion *v, bool with_build, char *buf, size_t size)
{
	Out			o = {buf, size, 0};

	out_version(&o, v->major, v->minor, v->patch, v->pre, v->pre_len);
	if (with_build && v->build_len > 0)
	{
		out_mem(&o, "+", 1);
		out_mem(&o, v->build, v->build_len);
	}
	return out_finish(&o);
}

/* Canonical text of a range: primitive comparators, sets joined by " || ". */
size_t
sv_range_format(const SvRange *r, char *buf, size_t size)
{
	static const char *const opname[] = {"", "<", "<=", ">", ">="};
	Out			o = {buf, size, 0};
	int			idx = 0;

	for (int s = 0; s < r->nsets; s++)
	{
		if (s > 0)
			out_str(&o, " || ");
		if (r->set_len[s] == 0)
			out_str(&o, "*");
		for (int i = 0; i < r->set_len[s]; i++)
		{
			const SvComparator *c = &r->comps[idx + i];

			if (i > 0)
				out_str(&o, " ");
			out_str(&o, opname[c->op]);
			out_version(&o, c->major, c->minor, c->patch, c->pre, c->pre_len);
		}
		idx += r->set_len[s];
	}
	return out_finish(&o);
}
