/*
 * rollout_crypto.c
 *		Password hashing (PBKDF2-HMAC-SHA256) and random API tokens.
 *
 * Stored password format:  pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>
 * PBKDF2 with HMAC-SHA256 (RFC 8018) is built on PostgreSQL's own pg_hmac,
 * so the extension needs no pgcrypto.  Verification compares in constant
 * time.  Tokens are 32 bytes from pg_strong_random, hex-encoded; only their
 * SHA-256 is stored.
 *
 * The login throttle's settings live here too (rollout.login_*): they are
 * superuser-only, so a session cannot lift its own throttle, and
 * login_settings() reads them through this library, which is thus loaded
 * before they are read (a setting read before that would be a placeholder
 * any session may change).
 */
#include "postgres.h"

#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "port.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "rollout.h"

PG_FUNCTION_INFO_V1(rollout_hash_password);
PG_FUNCTION_INFO_V1(rollout_verify_password);
PG_FUNCTION_INFO_V1(rollout_random_token);
PG_FUNCTION_INFO_V1(rollout_login_settings);

static int	login_max_failures = 5;
static int	login_address_max_failures = 20;
static int	login_window = 900;

#define PBKDF2_ITERATIONS	100000
#define PBKDF2_SALT_LEN		16
#define PBKDF2_HASH_LEN		PG_SHA256_DIGEST_LENGTH
#define PASSWORD_MAX_LEN	1024

/* PBKDF2-HMAC-SHA256 with one output block (32 bytes). */
static void
pbkdf2_sha256(const char *pw, size_t pwlen, const uint8 *salt, size_t saltlen,
			  int iterations, uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		u[PBKDF2_HASH_LEN];
	uint8		block[4] = {0, 0, 0, 1};

	if (ctx == NULL)
		elog(ERROR, "out of memory in PBKDF2");
	if (pg_hmac_init(ctx, (const uint8 *) pw, pwlen) < 0 ||
		pg_hmac_update(ctx, salt, saltlen) < 0 ||
		pg_hmac_update(ctx, block, 4) < 0 ||
		pg_hmac_final(ctx, u, sizeof(u)) < 0)
		goto fail;
	memcpy(out, u, PBKDF2_HASH_LEN);
	for (int i = 1; i < iterations; i++)
	{
		if (pg_hmac_init(ctx, (const uint8 *) pw, pwlen) < 0 ||
			pg_hmac_update(ctx, u, sizeof(u)) < 0 ||
			pg_hmac_final(ctx, u, sizeof(u)) < 0)
			goto fail;
		for (int k = 0; k < PBKDF2_HASH_LEN; k++)
			out[k] ^= u[k];
	}
	pg_hmac_free(ctx);
	return;
fail:
	pg_hmac_free(ctx);
	elog(ERROR, "could not compute HMAC-SHA256");
}

static void
to_hex(const uint8 *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool
from_hex(const char *in, size_t n, uint8 *out)
{
	for (size_t i = 0; i < n; i++)
	{
		int			v = 0;

		for (int k = 0; k < 2; k++)
		{
			char		c = in[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return false;
		}
		out[i] = (uint8) v;
	}
	return true;
}

/* Reject empty and absurdly long passwords with 22023. */
static void
check_password_text(const text *t)
{
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must not be empty")));
	if (len > PASSWORD_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must be at most %d bytes", PASSWORD_MAX_LEN)));
}

/* hash_password(text) returns text: a salted PBKDF2 hash to store */
Datum
rollout_hash_password(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	uint8		salt[PBKDF2_SALT_LEN];
	uint8		hash[PBKDF2_HASH_LEN];
	char		salthex[2 * PBKDF2_SALT_LEN + 1];
	char		hashhex[2 * PBKDF2_HASH_LEN + 1];

	check_password_text(pw);
	if (!pg_strong_random(salt, sizeof(salt)))
		elog(ERROR, "could not generate random salt");
	pbkdf2_sha256(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw), salt, sizeof(salt),
				  PBKDF2_ITERATIONS, hash);
	to_hex(salt, sizeof(salt), salthex);
	to_hex(hash, sizeof(hash), hashhex);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("pbkdf2-sha256$%d$%s$%s",
											  PBKDF2_ITERATIONS, salthex, hashhex)));
}

/* verify_password(password text, stored text) returns boolean */
Datum
rollout_verify_password(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	char	   *stored = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			iterations;
	char		salthex[2 * PBKDF2_SALT_LEN + 1];
	char		hashhex[2 * PBKDF2_HASH_LEN + 1];
	uint8		salt[PBKDF2_SALT_LEN];
	uint8		want[PBKDF2_HASH_LEN];
	uint8		got[PBKDF2_HASH_LEN];
	uint8		diff = 0;

	if (VARSIZE_ANY_EXHDR(pw) == 0 || VARSIZE_ANY_EXHDR(pw) > PASSWORD_MAX_LEN)
		PG_RETURN_BOOL(false);
	if (sscanf(stored, "pbkdf2-sha256$%d$%32[0-9a-f]$%64[0-9a-f]", &iterations,
			   salthex, hashhex) != 3 ||
		iterations < 1 || iterations > 10000000 ||
		strlen(salthex) != 2 * PBKDF2_SALT_LEN || strlen(hashhex) != 2 * PBKDF2_HASH_LEN ||
		!from_hex(salthex, PBKDF2_SALT_LEN, salt) ||
		!from_hex(hashhex, PBKDF2_HASH_LEN, want))
		PG_RETURN_BOOL(false);
	pbkdf2_sha256(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw), salt, sizeof(salt),
				  iterations, got);
	for (int i = 0; i < PBKDF2_HASH_LEN; i++)
		diff |= got[i] ^ want[i];
	PG_RETURN_BOOL(diff == 0);
}

/* random_token() returns text: 64 hex characters from a strong source */
Datum
rollout_random_token(PG_FUNCTION_ARGS)
{
	uint8		bytes[32];
	char		hex[65];

	(void) fcinfo;
	if (!pg_strong_random(bytes, sizeof(bytes)))
		elog(ERROR, "could not generate random token");
	to_hex(bytes, sizeof(bytes), hex);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* Define the login throttle's settings (from _PG_init). */
void
rollout_crypto_init(void)
{
	DefineCustomIntVariable("rollout.login_max_failures",
							"Failed logins of one username within rollout.login_window that lock it.",
							"A locked username is refused without its password being checked until "
							"the oldest of those failures is older than the window.",
							&login_max_failures, 5, 1, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.login_address_max_failures",
							"Failed logins from one client address within rollout.login_window that lock it.",
							NULL, &login_address_max_failures, 20, 1, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rollout.login_window",
							"The period over which failed logins are counted, and so the longest lockout.",
							NULL, &login_window, 900, 1, 7 * 24 * 3600, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/* login_settings() returns (max_failures, address_max_failures, window): the login throttle's settings */
Datum
rollout_login_settings(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "login_settings must return a record");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(login_max_failures);
	values[1] = Int32GetDatum(login_address_max_failures);
	values[2] = Int32GetDatum(login_window);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
