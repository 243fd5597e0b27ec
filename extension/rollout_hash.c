/*
 * rollout_hash.c
 *		The rollout bucket: which 0.01 % slice of the population a client is in.
 *
 *   bucket = uint64_be(SHA-256(salt || 0x00 || client_id)[0..8]) mod 10000
 *
 * with salt and client_id as their UTF-8 bytes.  SHA-256 is available in
 * every language, so a client can compute its own bucket; the NUL byte
 * cannot occur in PostgreSQL text, so (salt, client_id) pairs never collide
 * by concatenation.  A client is in a rollout of p percent when
 * bucket < round(p * 100): raising p only ever adds buckets (monotone), and
 * a new salt draws a fresh, independent cohort.  The modulo bias of 2^64 mod
 * 10000 is below 10^-15.
 */
#include "postgres.h"

#include <math.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "rollout.h"

PG_FUNCTION_INFO_V1(rollout_bucket);
PG_FUNCTION_INFO_V1(rollout_in_rollout);

#define ROLLOUT_BUCKETS 10000

/* Bucket in [0, 10000) of the client id bytes under the salt bytes. */
int32
rollout_bucket_bytes(const char *client_id, size_t client_len,
					 const char *salt, size_t salt_len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint8		sep = 0;
	uint64		v = 0;

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) salt, salt_len) < 0 ||
		pg_cryptohash_update(ctx, &sep, 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) client_id, client_len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-256 for rollout_bucket");
	}
	pg_cryptohash_free(ctx);

	for (int i = 0; i < 8; i++)
		v = (v << 8) | digest[i];
	return (int32) (v % ROLLOUT_BUCKETS);
}

/* Bucket of client_id under salt, both text. */
static int32
bucket_of(const text *client_id, const text *salt)
{
	return rollout_bucket_bytes(VARDATA_ANY(client_id), VARSIZE_ANY_EXHDR(client_id),
								VARDATA_ANY(salt), VARSIZE_ANY_EXHDR(salt));
}

/* rollout_bucket(client_id text, salt text) returns int in [0, 10000) */
Datum
rollout_bucket(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(bucket_of(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)));
}

/*
 * in_rollout(client_id text, salt text, percentage numeric) returns boolean:
 * bucket < round(percentage * 100).  Percentages outside [0, 100] raise 22023.
 */
Datum
rollout_in_rollout(PG_FUNCTION_ARGS)
{
	Numeric		pct = PG_GETARG_NUMERIC(2);
	float8		p;
	int32		threshold;

	if (numeric_is_nan(pct))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rollout percentage must be between 0 and 100, not NaN")));
	p = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(pct)));
	if (!(p >= 0.0 && p <= 100.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rollout percentage must be between 0 and 100, not %s",
						DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(pct))))));
	threshold = (int32) rint(p * 100.0);
	PG_RETURN_BOOL(bucket_of(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)) < threshold);
}
