/*
 * crypto.c
 *		rollout-client's cryptography, all through OpenSSL EVP: pinned
 *		Ed25519 public keys (a PEM file or the base64 of the raw 32 bytes),
 *		their key ids, signature verification, and SHA-256 of a file.
 *
 * No home-made cryptography: the only code here is plumbing. A key id is the
 * lowercase hex of the first 8 bytes of SHA-256 over the raw public key, as
 * the server computes it (SIGNING.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "client.h"

#define MAX_KEY_FILE	16384

/* Key id of a raw Ed25519 public key into out. */
void
keyid_of(const unsigned char raw[32], char out[KEYID_HEX + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(raw, 32, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, KEYID_HEX / 2, out);
}

/* Fill key from 32 raw bytes; returns 0, or -1 if len is wrong. */
int
public_key_from_raw(const unsigned char *raw, size_t len, PinnedKey *key)
{
	if (len != 32)
		return -1;
	memcpy(key->raw, raw, 32);
	keyid_of(key->raw, key->keyid);
	return 0;
}

/* Is s (trimmed, n bytes) the base64 of a 32-byte key? Fills key if so. */
static int
key_from_base64(const char *s, size_t n, PinnedKey *key)
{
	unsigned char raw[33];
	size_t		rawlen;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	while (n > 0 && (*s == ' ' || *s == '\n'))
		s++, n--;
	if (base64_decode(s, n, raw, sizeof(raw), &rawlen) != 0)
		return -1;
	return public_key_from_raw(raw, rawlen, key);
}

/*
 * Load a pinned key from spec: the base64 of the raw 32-byte key, or the
 * path of a file holding a PEM public key (SubjectPublicKeyInfo) or that
 * base64. Only Ed25519 is accepted. Returns 0, or -1 with a reason in err.
 */
int
load_public_key(const char *spec, PinnedKey *key, char *err, size_t errlen)
{
	FILE	   *f;
	char	   *text;
	size_t		n;
	BIO		   *bio;
	EVP_PKEY   *pkey;
	unsigned char raw[32];
	size_t		rawlen = sizeof(raw);
	int			rc = -1;

	if (key_from_base64(spec, strlen(spec), key) == 0)
		return 0;
	f = fopen(spec, "rb");
	if (f == NULL)
	{
		snprintf(err, errlen, "not the base64 of a 32-byte key, nor a readable file");
		return -1;
	}
	text = malloc(MAX_KEY_FILE + 1);
	if (text == NULL)
	{
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(text, 1, MAX_KEY_FILE + 1, f);
	fclose(f);
	if (n > MAX_KEY_FILE)
	{
		snprintf(err, errlen, "file too big for a key");
		free(text);
		return -1;
	}
	text[n] = '\0';
	if (key_from_base64(text, n, key) == 0)
	{
		free(text);
		return 0;
	}
	bio = BIO_new_mem_buf(text, (int) n);
	pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	if (pkey == NULL)
		snprintf(err, errlen, "no PEM public key in the file");
	else if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		snprintf(err, errlen, "not an Ed25519 key");
	else if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 ||
			 public_key_from_raw(raw, rawlen, key) != 0)
		snprintf(err, errlen, "unreadable Ed25519 key");
	else
		rc = 0;
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(text);
	return rc;
}

/* Does sig verify msg under key (Ed25519, RFC 8032 pure)? 1 yes, 0 no. */
int
verify_ed25519(const PinnedKey *key, const void *msg, size_t len,
			   const unsigned char sig[SIG_BYTES])
{
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx;
	int			ok = 0;

	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->raw, 32);
	ctx = EVP_MD_CTX_new();
	if (pkey && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, SIG_BYTES, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

/* SHA-256 and size of a file; returns 0, or -1 if it cannot be read. */
int
sha256_file(const char *path, unsigned char out[32], long long *size)
{
	FILE	   *f = fopen(path, "rb");
	EVP_MD_CTX *ctx;
	unsigned char buf[65536];
	size_t		n;
	unsigned int mdlen = 0;
	int			ok;

	if (f == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	*size = 0;
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
	{
		ok = EVP_DigestUpdate(ctx, buf, n) == 1;
		*size += (long long) n;
	}
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, out, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	fclose(f);
	return ok ? 0 : -1;
}
