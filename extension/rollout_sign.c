/*
 * rollout_sign.c
 *		Ed25519 signing keys and signed check-update answers (SPEC §12; the wire
 *		protocol is in the README's "Signed answers").
 *
 * Keys are made and used through OpenSSL's EVP interface (RFC 8032 pure
 * Ed25519): no cryptography of our own.  A private key is 32 raw bytes in
 * rollout.signing_secrets, a table no role but the extension's owner can
 * read; the SQL functions that make or use one are SECURITY DEFINER or run
 * their queries as the owner (the decision cache), and none returns it.
 *
 * rollout.check_update_signed builds the exact body of the HTTP answer (the
 * envelope {"code":200,"message":...,"data":...}, the data being
 * check_update's answer plus issued_at, expires_at, metadata_version and
 * project) and signs those bytes with the project's active key, whose
 * EVP_PKEY lives in the decision cache (rollout_cache.c), so a check signs
 * without touching the catalog.  Signing (about 28 µs) is the one real cost;
 * a per-backend cache keeps the signatures of recent bodies so that an
 * identical answer within the same ten seconds is signed once: a signed
 * answer leaves out the client's bucket and says when it was issued in steps
 * of ten seconds, so the answers of clients in the same situation are the
 * same bytes.
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "access/htup_details.h"
#include "common/base64.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ok_messages.gen.h"
#include "rollout.h"
#include "rollout_cache.h"

PG_FUNCTION_INFO_V1(rollout_ed25519_generate);
PG_FUNCTION_INFO_V1(rollout_ed25519_sign);
PG_FUNCTION_INFO_V1(rollout_ed25519_verify);
PG_FUNCTION_INFO_V1(rollout_ed25519_public_pem);
PG_FUNCTION_INFO_V1(rollout_check_update_signed);
PG_FUNCTION_INFO_V1(rollout_check_update_wire);

#define ED25519_KEY_LEN 32
#define ED25519_SIG_LEN 64

/* Raise the error OpenSSL left, as an internal error (it cannot happen with valid keys). */
static void
openssl_error(const char *what)
{
	elog(ERROR, "rollout: OpenSSL could not %s", what);
}

/* A bytea argument that must be exactly n bytes (22023 otherwise). */
static const uint8 *
fixed_bytes(bytea *b, int n, const char *what)
{
	if ((int) VARSIZE_ANY_EXHDR(b) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an Ed25519 %s is %d bytes, not %d", what, n, (int) VARSIZE_ANY_EXHDR(b))));
	return (const uint8 *) VARDATA_ANY(b);
}

static bytea *
make_bytea(const uint8 *data, size_t n)
{
	bytea	   *b = palloc(VARHDRSZ + n);

	SET_VARSIZE(b, VARHDRSZ + n);
	memcpy(VARDATA(b), data, n);
	return b;
}

/*
 * A signer: the EVP_PKEY of a raw 32-byte private key (OpenSSL derives the
 * public key, a scalar multiplication, so callers keep it) and a signing
 * context made for it once (Ed25519 signs in one shot, so a context serves
 * any number of signatures, as openssl speed uses it).
 */
typedef struct Signer
{
	EVP_PKEY   *key;
	EVP_MD_CTX *ctx;
} Signer;

void *
rollout_signer_new(const uint8 *private_key)
{
	Signer	   *s = malloc(sizeof(Signer));

	if (s == NULL)
		openssl_error("allocate a signer");
	s->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, private_key, ED25519_KEY_LEN);
	s->ctx = EVP_MD_CTX_new();
	if (s->key == NULL || s->ctx == NULL || EVP_DigestSignInit(s->ctx, NULL, NULL, NULL, s->key) != 1)
	{
		rollout_signer_free(s);
		openssl_error("load an Ed25519 private key");
	}
	return s;
}

void
rollout_signer_free(void *signer)
{
	Signer	   *s = signer;

	EVP_MD_CTX_free(s->ctx);
	EVP_PKEY_free(s->key);
	free(s);
}

/* Sign msg with a signer from rollout_signer_new into sig (64 bytes). */
static void
sign_bytes(void *signer, const uint8 *msg, size_t len, uint8 *sig)
{
	Signer	   *s = signer;
	size_t		siglen = ED25519_SIG_LEN;

	if (EVP_DigestSign(s->ctx, sig, &siglen, msg, len) == 1 && siglen == ED25519_SIG_LEN)
		return;
	/* a context that no longer signs is made again, once */
	siglen = ED25519_SIG_LEN;
	if (EVP_DigestSignInit(s->ctx, NULL, NULL, NULL, s->key) != 1 ||
		EVP_DigestSign(s->ctx, sig, &siglen, msg, len) != 1 || siglen != ED25519_SIG_LEN)
		openssl_error("sign with Ed25519");
}

/*
 * rollout.ed25519_generate() returns (private_key bytea, public_key bytea):
 * a new key pair, raw 32 bytes each, from OpenSSL's generator.
 */
Datum
rollout_ed25519_generate(PG_FUNCTION_ARGS)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY   *k = NULL;
	uint8		priv[ED25519_KEY_LEN];
	uint8		pub[ED25519_KEY_LEN];
	size_t		privlen = sizeof(priv),
				publen = sizeof(pub);
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		ok;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rollout: ed25519_generate must return a record");
	ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &k) == 1 &&
		EVP_PKEY_get_raw_private_key(k, priv, &privlen) == 1 &&
		EVP_PKEY_get_raw_public_key(k, pub, &publen) == 1 &&
		privlen == ED25519_KEY_LEN && publen == ED25519_KEY_LEN;
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		openssl_error("generate an Ed25519 key");
	values[0] = PointerGetDatum(make_bytea(priv, sizeof(priv)));
	values[1] = PointerGetDatum(make_bytea(pub, sizeof(pub)));
	explicit_bzero(priv, sizeof(priv));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* rollout.ed25519_sign(private_key bytea, message bytea) returns bytea: the 64-byte signature */
Datum
rollout_ed25519_sign(PG_FUNCTION_ARGS)
{
	bytea	   *priv = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	void	   *signer = rollout_signer_new(fixed_bytes(priv, ED25519_KEY_LEN, "private key"));
	uint8		sig[ED25519_SIG_LEN];

	sign_bytes(signer, (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), sig);
	rollout_signer_free(signer);
	PG_RETURN_BYTEA_P(make_bytea(sig, sizeof(sig)));
}

/*
 * rollout.ed25519_verify(public_key bytea, message bytea, signature bytea)
 * returns boolean: whether the signature is a valid one of message.
 */
Datum
rollout_ed25519_verify(PG_FUNCTION_ARGS)
{
	bytea	   *pubb = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);
	EVP_PKEY   *k;
	EVP_MD_CTX *ctx;
	int			rc;

	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
									fixed_bytes(pubb, ED25519_KEY_LEN, "public key"), ED25519_KEY_LEN);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an Ed25519 public key")));
	if (VARSIZE_ANY_EXHDR(sig) != ED25519_SIG_LEN)
	{
		EVP_PKEY_free(k);
		PG_RETURN_BOOL(false);
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) != 1)
	{
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(k);
		openssl_error("start an Ed25519 verification");
	}
	rc = EVP_DigestVerify(ctx, (const uint8 *) VARDATA_ANY(sig), ED25519_SIG_LEN,
						  (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	PG_RETURN_BOOL(rc == 1);
}

/* rollout.ed25519_public_pem(public_key bytea) returns text: the SubjectPublicKeyInfo PEM */
Datum
rollout_ed25519_public_pem(PG_FUNCTION_ARGS)
{
	bytea	   *pubb = PG_GETARG_BYTEA_PP(0);
	EVP_PKEY   *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
												fixed_bytes(pubb, ED25519_KEY_LEN, "public key"),
												ED25519_KEY_LEN);
	BIO		   *bio;
	char	   *data;
	long		len;
	text	   *out;

	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an Ed25519 public key")));
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PUBKEY(bio, k) != 1)
	{
		BIO_free(bio);
		EVP_PKEY_free(k);
		openssl_error("write a PEM public key");
	}
	len = BIO_get_mem_data(bio, &data);
	out = cstring_to_text_with_len(data, (int) len);
	BIO_free(bio);
	EVP_PKEY_free(k);
	PG_RETURN_TEXT_P(out);
}

/* ---------------------------------------------------------------------
 * Signed answers
 * ---------------------------------------------------------------------
 */

/* t as RFC 3339 UTC with seconds ("2026-11-30T11:40:00Z") into buf (at least 32 bytes). */
static void
rfc3339(TimestampTz t, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * issued_at's step: an answer says it was issued at the start of the ten
 * seconds it was made in, so that the answers of clients in the same
 * situation are the same bytes for ten seconds and one signature serves
 * them all (SIGN_CACHE below).
 */
#define ISSUED_STEP (10 * USECS_PER_SEC)

/*
 * The fields a signed answer adds to its data, for a check of project p at
 * now: issued_at (now, down to a multiple of ISSUED_STEP), expires_at (issued_at plus the
 * project's answer lifetime, in UTC) and metadata_version (the stored one
 * plus the scheduled publishes that have come since it was stored: a
 * publish at a time changes answers when the time comes, without a write).
 */
void
rollout_signed_fields(const CachedProject *p, TimestampTz now, char *issued, char *expires, int64 *metadata_version)
{
	TimestampTz at = now - now % ISSUED_STEP;
	Timestamp	until;
	int64		mv = p->metadata_version;

	if (now < 0 && now % ISSUED_STEP != 0)
		at -= ISSUED_STEP;
	/* a plain timestamp holds UTC here, so a day is 24 hours whatever the TimeZone */
	until = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval, TimestampGetDatum(at),
												  IntervalPGetDatum(&p->answer_lifetime)));
	rfc3339(at, issued);
	rfc3339(until, expires);
	for (int i = 0; i < p->nscheduled; i++)
		if (p->scheduled[i] <= now)
			mv++;
	*metadata_version = mv;
}

/*
 * Recently signed answers of this backend: the body made of an answer's data
 * and its signature, kept so that the same data in the same language under
 * the same key is neither written out nor signed again.  The key is the data's
 * exact jsonb bytes: the same bytes always make the same body (JsonbToCString
 * is a function of them), and Ed25519 is deterministic, so a kept signature is
 * the one signing again would make.  A signed answer carries nothing of the
 * client's own and its issued_at in steps of ten seconds, so within those
 * clients in the same situation share one entry.  Direct-mapped by a hash of
 * the data, at most SIGN_CACHE_SIZE entries per backend, each in a buffer of
 * its own (data and body, under 2 kB together, typically: 16 MB when full, 32
 * MB at most); an answer with more than SIGN_CACHE_MAX bytes of data, or
 * twice that with its body, is made and signed every time.
 */
#define SIGN_CACHE_SIZE 8192
#define SIGN_CACHE_MAX 2048		/* the most bytes of data kept, and twice that of data and body */

typedef struct SignCacheEntry
{
	uint32		hash;
	int			datalen;		/* 0: empty */
	int			bodylen;
	int			cap;			/* bytes allocated at buf */
	bool		zh;				/* the envelope's message in Chinese */
	char		keyid[17];
	uint8		sig[ED25519_SIG_LEN];
	char	   *buf;			/* the data's bytes, then the body's */
} SignCacheEntry;

static SignCacheEntry *sign_cache = NULL;

/*
 * Whether the envelope's "ok" message is the Chinese one for a language (the
 * catalogs' messages: i18n/en.json and zh-CN.json, built into
 * ok_messages.gen.h).
 */
static bool
ok_message_zh(const char *lang)
{
	return lang != NULL && (strcmp(lang, "zh-CN") == 0 || strncmp(lang, "zh", 2) == 0);
}

/* The body of an answer: the envelope {"code":200,"message":...,"data":...} around data, appended to buf. */
static void
write_body(StringInfo buf, Jsonb *data, bool zh)
{
	appendStringInfoString(buf, "{\"code\":200,\"message\":");
	escape_json(buf, zh ? OK_MESSAGE_zh_CN : OK_MESSAGE_en);
	appendStringInfoString(buf, ",\"data\":");
	(void) JsonbToCString(buf, &data->root, VARSIZE(data));
	appendStringInfoChar(buf, '}');
}

/*
 * The body of project p's answer data (appended to out) and its signature by
 * p's active key (into sig): made and signed, or taken from the cache.
 */
static void
signed_body(const CachedProject *p, Jsonb *data, bool zh, StringInfo out, uint8 *sig)
{
	const char *bytes = VARDATA(data);
	int			datalen = VARSIZE(data) - VARHDRSZ;
	int			start = out->len;
	uint32		h;
	SignCacheEntry *e;

	if (datalen > SIGN_CACHE_MAX)
	{
		write_body(out, data, zh);
		sign_bytes(p->signer, (const uint8 *) out->data + start, out->len - start, sig);
		return;
	}
	if (sign_cache == NULL)
		sign_cache = MemoryContextAllocZero(TopMemoryContext, sizeof(SignCacheEntry) * SIGN_CACHE_SIZE);
	h = hash_bytes((const unsigned char *) bytes, datalen) ^ (zh ? 0x9e3779b9 : 0);
	e = &sign_cache[h % SIGN_CACHE_SIZE];
	if (e->datalen == datalen && e->hash == h && e->zh == zh && strcmp(e->keyid, p->keyid) == 0 &&
		memcmp(e->buf, bytes, datalen) == 0)
	{
		appendBinaryStringInfo(out, e->buf + datalen, e->bodylen);
		memcpy(sig, e->sig, ED25519_SIG_LEN);
		return;
	}
	write_body(out, data, zh);
	sign_bytes(p->signer, (const uint8 *) out->data + start, out->len - start, sig);
	if (datalen + out->len - start > SIGN_CACHE_MAX * 2)
		return;
	if (e->cap < datalen + out->len - start)
	{
		/* grown in whole kilobytes, so that an entry's buffer is rarely replaced */
		int			cap = (datalen + out->len - start + 1023) & ~1023;

		if (e->buf != NULL)
			pfree(e->buf);
		/* empty until filled, should the allocation fail */
		e->datalen = 0;
		e->buf = NULL;
		e->cap = 0;
		e->buf = MemoryContextAlloc(TopMemoryContext, cap);
		e->cap = cap;
	}
	e->hash = h;
	e->datalen = datalen;
	e->bodylen = out->len - start;
	e->zh = zh;
	strlcpy(e->keyid, p->keyid, sizeof(e->keyid));
	memcpy(e->sig, sig, ED25519_SIG_LEN);
	memcpy(e->buf, bytes, datalen);
	memcpy(e->buf + datalen, out->data + start, e->bodylen);
}

/*
 * check_update's decision for the request in argument 0 (recorded as
 * check_update records it) as a signed answer: its body appended to body,
 * the X-Rollout-Signature value "keyid=<keyid>,sig=<base64>" into sigval (at
 * least SIGVAL_SIZE bytes); *record as rollout_decide_signed sets it.  lang
 * (argument 1) chooses the envelope's message (NULL: the request's locale).
 */
#define SIGVAL_SIZE 128
static void
signed_answer(FunctionCallInfo fcinfo, StringInfo body, char *sigval, Jsonb **record)
{
	CachedProject *p = NULL;
	Jsonb	   *data = rollout_decide_signed(fcinfo, &p, record);
	const char *lang;
	uint8		sig[ED25519_SIG_LEN];
	int			n;

	if (p->signer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no active signing key", p->slug),
				 errhint("Rotate its keys: rollout.rotate_signing_key('%s').", p->slug)));
	if (!PG_ARGISNULL(1))
		lang = text_to_cstring(PG_GETARG_TEXT_PP(1));
	else
		lang = rollout_request_text(PG_GETARG_JSONB_P(0), "locale", false);
	signed_body(p, data, ok_message_zh(lang), body, sig);
	memcpy(sigval, "keyid=", 6);
	memcpy(sigval + 6, p->keyid, 16);
	memcpy(sigval + 22, ",sig=", 5);
	n = pg_b64_encode((const char *) sig, ED25519_SIG_LEN, sigval + 27, SIGVAL_SIZE - 28);
	if (n < 0)
		elog(ERROR, "rollout: could not encode a signature");
	sigval[27 + n] = '\0';
}

/*
 * rollout.check_update_signed(request jsonb, lang text) returns (body text,
 * signature text, record jsonb): check_update's decision (recorded as
 * check_update records it) as the exact body of the HTTP answer, and the
 * X-Rollout-Signature value "keyid=<keyid>,sig=<base64>" over that body's
 * bytes.  lang chooses the envelope's message (NULL: the request's locale).
 * On a hot standby, which cannot record, record is what the check records
 * (for rollout.record_forwarded on the primary), kept out of the signed
 * body; NULL on a primary.
 */
Datum
rollout_check_update_signed(PG_FUNCTION_ARGS)
{
	TupleDesc	desc = fcinfo->flinfo->fn_extra;
	StringInfoData body;
	char		sigval[SIGVAL_SIZE];
	Jsonb	   *record;
	Datum		values[3];
	bool		nulls[3] = {false, false, true};

	if (desc == NULL)
	{
		/* the result's row type, looked up once per query */
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "rollout: check_update_signed must return a record");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	initStringInfo(&body);
	signed_answer(fcinfo, &body, sigval, &record);
	values[0] = PointerGetDatum(cstring_to_text_with_len(body.data, body.len));
	values[1] = CStringGetTextDatum(sigval);
	if (record != NULL)
	{
		values[2] = JsonbPGetDatum(record);
		nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * rollout.check_update_wire(request jsonb, lang text) returns text:
 * check_update_signed's answer as one value, for rollout-http (a scalar is
 * cheaper to return than a row): the X-Rollout-Signature value, a line
 * feed, the record as JSON on one line (empty on a primary), a line feed,
 * then the body, byte for byte.
 */
Datum
rollout_check_update_wire(PG_FUNCTION_ARGS)
{
	StringInfoData body;
	StringInfoData out;
	char		sigval[SIGVAL_SIZE];
	Jsonb	   *record;

	initStringInfo(&body);
	signed_answer(fcinfo, &body, sigval, &record);
	initStringInfo(&out);
	appendBinaryStringInfo(&out, "\0\0\0\0", VARHDRSZ);	/* the text's header, set below */
	appendStringInfoString(&out, sigval);
	appendStringInfoChar(&out, '\n');
	if (record != NULL)
		(void) JsonbToCString(&out, &record->root, VARSIZE(record));
	appendStringInfoChar(&out, '\n');
	appendBinaryStringInfo(&out, body.data, body.len);
	SET_VARSIZE(out.data, out.len);
	PG_RETURN_TEXT_P((text *) out.data);
}
