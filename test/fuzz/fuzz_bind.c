/*
 * fuzz_bind.c
 *		libFuzzer target for how rollout-http binds a JSON body to a SQL call
 *		(shim/db.c build_call), with the database's real signatures.
 *
 * db.c is included, so its static functions are reachable; the rest of the
 * shim is linked as is.  The signatures of schema rollout are read from
 * signatures.tsv (pg_proc as db_load_signatures reads it, through
 * split_array; run-fuzz.sh writes it from the test cluster when it can, else
 * the copy in git is used).  The input's first byte picks a route, the rest
 * is the request's arguments as JSON.  Properties:
 *  - a call is built only when every key is an argument of the function and
 *    every required argument is there; otherwise a 400 naming the field;
 *  - the SQL depends on the set of keys only: the same keys with other
 *    values give the same text (values travel as the $1 parameter, never in
 *    the SQL);
 *  - outside its quoted identifiers the SQL is made of the template's own
 *    characters, and every quoted identifier is the function's name or one
 *    of its arguments' names;
 *  - the $1 text (json_dumps) reads back as the same object.
 */
#include <stdint.h>

#include "../../shim/db.c"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int			LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *file = getenv("FUZZ_SIGNATURES") ? getenv("FUZZ_SIGNATURES") : "signatures.tsv";
	FILE	   *f = fopen(file, "r");
	char		line[8192];

	(void) argc;
	(void) argv;
	if (!f)
	{
		fprintf(stderr, "fuzz_bind: cannot read %s\n", file);
		exit(1);
	}
	current = calloc(1, sizeof(Signatures));
	current->sigs = calloc(1024, sizeof(Signature));
	while (current->n < 1024 && fgets(line, sizeof(line), f))
	{
		char	   *field[5];
		char	   *p = line;
		Signature  *s = &current->sigs[current->n];

		line[strcspn(line, "\n")] = '\0';
		for (int i = 0; i < 5; i++)
		{
			field[i] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
			else if (i < 4)
				goto skip;
		}
		s->name = strdup(field[0]);
		s->nnames = split_array(field[1], &s->argnames);
		s->ntypes = split_array(field[2], &s->argtypes);
		s->nargs = atoi(field[3]);
		s->nrequired = s->nargs - atoi(field[4]);
		current->n++;
skip:	;
	}
	fclose(f);
	for (int i = 0; i < nroutes; i++)
		if (!find_signature(routes[i].function) || !find_signature("begin_request"))
		{
			fprintf(stderr, "fuzz_bind: %s lacks rollout.%s\n", file, routes[i].function);
			exit(1);
		}
	return 0;
}

static bool
is_argname(const Signature *s, const char *name, size_t n)
{
	for (int i = 0; i < s->nargs; i++)
		if (strlen(s->argnames[i]) == n && memcmp(s->argnames[i], name, n) == 0)
			return true;
	return false;
}

/* the SQL's identifiers are the function's and its arguments', the rest is the template's */
static void
check_sql(const Route *route, const Signature *s, const char *sql)
{
	for (const char *p = sql; *p; p++)
	{
		if (*p == '"')
		{
			char		ident[256];
			size_t		n = 0;

			for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
			{
				if (*p == '"')
					p++;
				if (n < sizeof(ident) - 1)
					ident[n++] = *p;
			}
			if (*p != '"')
				abort();
			ident[n] = '\0';
			if (strcmp(ident, route->function) != 0 && !is_argname(s, ident, n))
				abort();
			continue;
		}
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ().,=>$:[]", *p))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const Route *route;
	const Signature *s;
	json_t	   *args;
	json_t	   *nulls;
	const char *key;
	json_t	   *value;
	DbResult	res;
	char	   *sql,
			   *sql2;
	bool		unknown = false,
				missing = false;

	if (size < 1)
		return 0;
	route = &routes[data[0] % nroutes];
	s = find_signature(route->function);
	args = json_loadb((const char *) data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(args))
	{
		json_decref(args);
		return 0;
	}
	memset(&res, 0, sizeof(res));
	sql = build_call(route, args, &res);
	json_object_foreach(args, key, value)
		unknown |= !is_argname(s, key, strlen(key));
	for (int i = 0; i < s->nrequired; i++)
		missing |= json_object_get(args, s->argnames[i]) == NULL;
	if (route->flags & ROUTE_CLIENT)
		unknown = missing = false;	/* the body is the one jsonb argument */
	if (sql == NULL)
	{
		if (!(unknown || missing) || res.status != 400 || res.field == NULL)
			abort();
		result_free(&res);
		json_decref(args);
		return 0;
	}
	if (unknown || missing)
		abort();
	check_sql(route, s, sql);

	/* the same keys with other values: the same SQL */
	nulls = json_object();
	json_object_foreach(args, key, value)
		json_object_set_new(nulls, key, json_null());
	sql2 = build_call(route, nulls, &res);
	if (sql2 == NULL || strcmp(sql, sql2) != 0)
		abort();

	/* the parameter reads back as the object */
	{
		char	   *text = json_dumps(args, JSON_COMPACT);
		json_t	   *back = text ? json_loads(text, 0, NULL) : NULL;

		if (!back || !json_equal(back, args))
			abort();
		json_decref(back);
		free(text);
	}
	free(sql);
	free(sql2);
	json_decref(nulls);
	json_decref(args);
	return 0;
}
