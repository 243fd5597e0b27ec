/*
 * client.h
 *		rollout-client: the reference update client of rollout. Shared
 *		declarations of its parts: plain parsing (util.c), signatures and
 *		checksums (crypto.c), HTTP (net.c), messages (messages.c), and the
 *		commands (main.c).
 *
 * Everything a server or a network sends is untrusted: every parser here
 * takes a length, caps what it accepts and reports failure instead of
 * guessing.
 */
#ifndef ROLLOUT_CLIENT_H
#define ROLLOUT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit codes (documented in --help and the README; scripts rely on them). */
#define EXIT_UP_TO_DATE			0	/* nothing newer is offered */
#define EXIT_USAGE				2	/* bad flag, config or pinned key */
#define EXIT_UPDATE_AVAILABLE	10	/* check: an update is offered */
#define EXIT_UPDATED			11	/* update: downloaded, verified (and installed) */
#define EXIT_REFUSED_SIGNATURE	20	/* answer unsigned, unknown or retired key, bad signature */
#define EXIT_REFUSED_EXPIRED	21	/* answer past its expires_at */
#define EXIT_REFUSED_ROLLBACK	22	/* metadata_version lower than the last accepted */
#define EXIT_REFUSED_CHECKSUM	23	/* downloaded file's size or sha256 differs */
#define EXIT_REFUSED_ANSWER		24	/* signed answer malformed or incomplete */
#define EXIT_NETWORK			30	/* connection, timeout, cut transfer */
#define EXIT_SERVER				31	/* the server answered an error status */
#define EXIT_HOOK_FAILED		40	/* the install hook failed */
#define EXIT_LOCAL				41	/* local file or state error */

/* Caps on what the client accepts from the network. */
#define MAX_ANSWER_BYTES		(1024 * 1024)
#define MAX_HEADER_BYTES		8192
#define SIG_BYTES				64
#define KEYID_HEX				16
#define MAX_KEYS				16

/* A byte buffer that refuses to grow past its cap. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;			/* allocated */
	size_t		limit;			/* never more than this many bytes */
	int			overflow;		/* set when something was refused */
} Buf;

int			buf_append(Buf *b, const void *p, size_t n);
void		buf_free(Buf *b);

/* util.c: plain parsing, no allocation unless said */
int			base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen);
int			parse_signature_header(const char *value, size_t len, char keyid[KEYID_HEX + 1],
								   unsigned char sig[SIG_BYTES]);
int			parse_rfc3339_utc(const char *s, time_t *out);
int			parse_hex_sha256(const char *s, unsigned char out[32]);
void		hex_encode(const unsigned char *in, size_t n, char *out);

/* key=value files (config and state) */
typedef struct KV
{
	int			n;
	char	  **keys;
	char	  **values;
} KV;

int			kv_parse(const char *text, size_t len, KV *kv, int *bad_line);
int			kv_read_file(const char *path, KV *kv, int *bad_line);
const char *kv_get(const KV *kv, const char *key);
int			kv_set(KV *kv, const char *key, const char *value);
int			kv_write_atomic(const char *path, const KV *kv, const char *header);
void		kv_free(KV *kv);

/* crypto.c */
typedef struct PinnedKey
{
	char		keyid[KEYID_HEX + 1];
	unsigned char raw[32];
} PinnedKey;

int			load_public_key(const char *spec, PinnedKey *key, char *err, size_t errlen);
int			public_key_from_raw(const unsigned char *raw, size_t len, PinnedKey *key);
int			verify_ed25519(const PinnedKey *key, const void *msg, size_t len,
						   const unsigned char sig[SIG_BYTES]);
int			sha256_file(const char *path, unsigned char out[32], long long *size);
void		keyid_of(const unsigned char raw[32], char out[KEYID_HEX + 1]);

/* messages.c: the catalogs' client.* keys, in the language of LANG */
void		messages_init(void);
const char *msg_lang(void);
/* msg(key, name1, value1, ..., NULL): the text with {name} replaced; static buffer */
const char *msg(const char *key,...);

#endif
