/*
 * unit_tests.c
 *		rollout-client's parsers and crypto plumbing (client/util.c,
 *		client/crypto.c, client/messages.c) against good and bad input,
 *		built with AddressSanitizer and UBSan (make client/unit-tests), so a
 *		read past a buffer fails the run. Prints "ok N - name" lines and ends
 *		with "N passed, N failed". Usage: unit-tests WORKDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "client.h"

static int	n,
			passed,
			failed;

static void
check(const char *name, int ok)
{
	n++;
	if (ok)
		passed++;
	else
		failed++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", n, name);
}

static int
b64(const char *in, const char *want, size_t wantlen)
{
	unsigned char out[64];
	size_t		len;

	if (base64_decode(in, strlen(in), out, sizeof(out), &len) != 0)
		return want == NULL;
	return want != NULL && len == wantlen && memcmp(out, want, len) == 0;
}

static int
sighdr(const char *h)
{
	char		keyid[KEYID_HEX + 1];
	unsigned char sig[SIG_BYTES];

	return parse_signature_header(h, strlen(h), keyid, sig);
}

/* A valid header with the 64-byte signature 00 01 02 ... 3f. */
static void
make_header(char *out, size_t outlen, const char *keyid)
{
	unsigned char raw[SIG_BYTES];
	unsigned char b64out[100];

	for (int i = 0; i < SIG_BYTES; i++)
		raw[i] = (unsigned char) i;
	EVP_EncodeBlock(b64out, raw, SIG_BYTES);
	snprintf(out, outlen, "keyid=%s,sig=%s", keyid, b64out);
}

static unsigned long long rng = 88172645463325252ULL;

static unsigned int
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned int) rng;
}

static int
count_files(const char *dir, const char *prefix)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			c = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			c++;
	closedir(d);
	return c;
}

int
main(int argc, char **argv)
{
	const char *work = argc > 1 ? argv[1] : "/tmp";
	char		path[4096],
				header[256],
				keyid[KEYID_HEX + 1];
	unsigned char sig[SIG_BYTES],
				digest[32];
	time_t		t;
	KV			kv = {0};
	int			bad_line;

	/* base64 */
	check("base64: empty", b64("", "", 0));
	check("base64: one byte, two bytes, three bytes", b64("Zg==", "f", 1) && b64("Zm8=", "fo", 2) && b64("Zm9v", "foo", 3));
	check("base64: length not a multiple of 4 refused", b64("Zm9", NULL, 0) && b64("Zg=", NULL, 0));
	check("base64: a byte outside the alphabet refused", b64("Zm9*", NULL, 0) && b64("Zm 9", NULL, 0) && b64("Zm9\n", NULL, 0));
	check("base64: '=' before the end refused", b64("Zg==Zm9v", NULL, 0) && b64("Z===", NULL, 0) && b64("Zm=v", NULL, 0));
	check("base64: non-zero padding bits refused", b64("Zh==", NULL, 0) && b64("Zm9=", NULL, 0));
	{
		unsigned char small[2];
		size_t		len;

		check("base64: output larger than the buffer refused", base64_decode("Zm9v", 4, small, 2, &len) != 0);
	}

	/* the signature header */
	make_header(header, sizeof(header), "0123456789abcdef");
	check("signature header: the protocol's form parses", sighdr(header) == 0);
	{
		unsigned char want[SIG_BYTES];
		int			same;

		parse_signature_header(header, strlen(header), keyid, sig);
		for (int i = 0; i < SIG_BYTES; i++)
			want[i] = (unsigned char) i;
		same = memcmp(sig, want, SIG_BYTES) == 0 && strcmp(keyid, "0123456789abcdef") == 0;
		check("signature header: keyid and the 64 signature bytes extracted", same);
	}
	{
		char		reordered[600],
					spaced[600];
		const char *sigpart = strstr(header, "sig=");

		snprintf(reordered, sizeof(reordered), "%s,keyid=0123456789abcdef,alg=ed25519", sigpart);
		snprintf(spaced, sizeof(spaced), " keyid=0123456789abcdef , %s ", sigpart);
		check("signature header: any order, an unknown parameter, spaces", sighdr(reordered) == 0 && sighdr(spaced) == 0);
		snprintf(reordered, sizeof(reordered), "%s,%s", header, sigpart);
		check("signature header: a parameter twice refused", sighdr(reordered) != 0);
		snprintf(reordered, sizeof(reordered), "%s,", header);
		check("signature header: a trailing comma refused", sighdr(reordered) != 0);
		check("signature header: keyid alone or sig alone refused",
			  sighdr("keyid=0123456789abcdef") != 0 && sighdr(sigpart) != 0);
	}
	make_header(header, sizeof(header), "0123456789ABCDEF");
	check("signature header: uppercase keyid refused", sighdr(header) != 0);
	make_header(header, sizeof(header), "0123456789abcde");
	check("signature header: short keyid refused", sighdr(header) != 0);
	check("signature header: a 63-byte or 65-byte signature refused",
		  sighdr("keyid=0123456789abcdef,sig=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+") != 0 &&
		  sighdr("keyid=0123456789abcdef,sig=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=") != 0);
	check("signature header: empty, '=', ',' and garbage refused",
		  sighdr("") != 0 && sighdr("=") != 0 && sighdr(",") != 0 && sighdr("keyid") != 0 && sighdr("sig=,keyid=") != 0);
	{
		size_t		big = MAX_HEADER_BYTES + 10;
		char	   *huge = malloc(big + 1);

		memset(huge, 'A', big);
		memcpy(huge, "keyid=0123456789abcdef,sig=", 27);
		huge[big] = '\0';
		check("signature header: longer than the cap refused", parse_signature_header(huge, big, keyid, sig) != 0);
		free(huge);
	}
	{
		/* random bytes and mutations of a good header: no crash (ASan watches) */
		char		buf[300];
		int			accepted_garbage = 0;

		make_header(header, sizeof(header), "0123456789abcdef");
		for (int i = 0; i < 200000; i++)
		{
			size_t		len;

			if (i % 2)
			{
				len = next_random() % sizeof(buf);
				for (size_t j = 0; j < len; j++)
					buf[j] = (char) next_random();
			}
			else
			{
				len = strlen(header);
				memcpy(buf, header, len);
				buf[next_random() % len] = (char) next_random();
				len = next_random() % (len + 1);
			}
			if (parse_signature_header(buf, len, keyid, sig) == 0 && i % 2)
				accepted_garbage++;
		}
		check("signature header: 200,000 random and mutated inputs, no crash, no random bytes accepted", accepted_garbage == 0);
	}

	/* times */
	check("RFC 3339: 2026-11-30T11:40:00Z is 1796038800",
		  parse_rfc3339_utc("2026-11-30T11:40:00Z", &t) == 0 && t == 1796038800);
	check("RFC 3339: 1970-01-01T00:00:00Z is 0", parse_rfc3339_utc("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
	check("RFC 3339: other forms and impossible dates refused",
		  parse_rfc3339_utc("2026-11-30T11:40:00", &t) != 0 &&
		  parse_rfc3339_utc("2026-11-30T11:40:00.5Z", &t) != 0 &&
		  parse_rfc3339_utc("2026-11-30 11:40:00Z", &t) != 0 &&
		  parse_rfc3339_utc("2026-11-30T11:40:00+00:00", &t) != 0 &&
		  parse_rfc3339_utc("2026-13-01T00:00:00Z", &t) != 0 &&
		  parse_rfc3339_utc("2026-02-30T00:00:00Z", &t) != 0 &&
		  parse_rfc3339_utc("2026-11-30T24:00:00Z", &t) != 0 &&
		  parse_rfc3339_utc("-026-11-30T11:40:00Z", &t) != 0 &&
		  parse_rfc3339_utc("", &t) != 0 && parse_rfc3339_utc(NULL, &t) != 0);

	/* checksums */
	check("sha256: the server's form parses",
		  parse_hex_sha256("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", digest) == 0 &&
		  digest[0] == 0xe3 && digest[31] == 0x55);
	check("sha256: uppercase, short, long, other algorithms refused",
		  parse_hex_sha256("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", digest) != 0 &&
		  parse_hex_sha256("sha256:e3b0", digest) != 0 &&
		  parse_hex_sha256("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550", digest) != 0 &&
		  parse_hex_sha256("md5:e3b0c44298fc1c149afbf4c8996fb924", digest) != 0 &&
		  parse_hex_sha256(NULL, digest) != 0);

	/* capped buffers */
	{
		Buf			b = {.limit = 10};

		check("buffer: appends up to its limit, refuses past it, stays refused",
			  buf_append(&b, "12345", 5) == 0 && buf_append(&b, "12345", 5) == 0 &&
			  buf_append(&b, "1", 1) != 0 && b.overflow && b.len == 10 && buf_append(&b, "", 0) != 0);
		buf_free(&b);
	}

	/* key=value files */
	{
		const char *text = "# comment\n\n  url = http://x:1/  \nproject=default\r\npublic_key=a\npublic_key=b\nempty=\n";

		check("key=value: comments, blank lines, spaces, CRLF, repeats",
			  kv_parse(text, strlen(text), &kv, &bad_line) == 0 && kv.n == 5 &&
			  strcmp(kv_get(&kv, "url"), "http://x:1/") == 0 && strcmp(kv_get(&kv, "project"), "default") == 0 &&
			  strcmp(kv_get(&kv, "public_key"), "b") == 0 && strcmp(kv_get(&kv, "empty"), "") == 0 &&
			  kv_get(&kv, "nothing") == NULL);
		kv_free(&kv);
		text = "url=x\nthis line has no equals sign\n";
		check("key=value: a line without '=' refused, its number given",
			  kv_parse(text, strlen(text), &kv, &bad_line) != 0 && bad_line == 2);
		kv_free(&kv);
		text = "Url=x\n";
		check("key=value: a key outside [a-z0-9_.-] refused", kv_parse(text, strlen(text), &kv, &bad_line) != 0 && bad_line == 1);
		kv_free(&kv);
		check("key=value: a NUL in a value refused", kv_parse("a=b\0c\n", 6, &kv, &bad_line) != 0);
		kv_free(&kv);
		{
			size_t		big = 70 * 1024;
			char	   *huge = malloc(big);

			memset(huge, 'a', big);
			check("key=value: a file over 64 KiB refused", kv_parse(huge, big, &kv, &bad_line) != 0);
			kv_free(&kv);
			/* 100 KiB of random bytes: no crash */
			for (size_t j = 0; j < big; j++)
				huge[j] = (char) next_random();
			for (int r = 0; r < 200; r++)
			{
				kv_parse(huge + (next_random() % 1000), next_random() % 60000, &kv, &bad_line);
				kv_free(&kv);
			}
			check("key=value: random input, no crash", 1);
			free(huge);
		}
	}

	/* the state file: atomic write, read back */
	{
		KV			back = {0};
		int			before;

		snprintf(path, sizeof(path), "%s/state", work);
		kv_set(&kv, "default.metadata_version", "7");
		kv_set(&kv, "client_id", "rc-1");
		kv_set(&kv, "default.metadata_version", "8");
		check("state: written atomically and read back",
			  kv_write_atomic(path, &kv, "# header") == 0 && kv_read_file(path, &back, &bad_line) == 0 &&
			  back.n == 2 && strcmp(kv_get(&back, "default.metadata_version"), "8") == 0);
		kv_free(&back);
		before = count_files(work, "state");
		kv_set(&kv, "evil", "a\nb=c");
		check("state: a value with a line break refused, the old file kept, no temporary left",
			  kv_write_atomic(path, &kv, NULL) != 0 && kv_read_file(path, &back, &bad_line) == 0 &&
			  kv_get(&back, "evil") == NULL && count_files(work, "state") == before && before == 1);
		kv_free(&back);
		kv_free(&kv);
		snprintf(path, sizeof(path), "%s/no-such-dir/state", work);
		check("state: a missing file reads as empty (1), an unwritable place fails",
			  kv_read_file(path, &back, &bad_line) == 1 && back.n == 0 &&
			  kv_write_atomic(path, &back, NULL) != 0);
	}

	/* Ed25519 through EVP: verify, key ids, loading pinned keys */
	{
		EVP_PKEY   *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned char raw[32],
					s[64],
					md[32];
		size_t		rawlen = 32,
					slen = 64;
		const char *body = "{\"code\":200,\"message\":\"ok\",\"data\":{}}";
		PinnedKey	k,
					k2;
		char		err[128],
					b64raw[64],
					want_id[17];
		FILE	   *f;

		EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen);
		EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey);
		EVP_DigestSign(ctx, s, &slen, (const unsigned char *) body, strlen(body));
		EVP_MD_CTX_free(ctx);
		public_key_from_raw(raw, 32, &k);
		check("ed25519: a signature over the body verifies", verify_ed25519(&k, body, strlen(body), s) == 1);
		{
			char	   *copy = strdup(body);

			copy[10] ^= 1;
			check("ed25519: one changed bit in the body fails", verify_ed25519(&k, copy, strlen(copy), s) == 0);
			free(copy);
		}
		s[5] ^= 0x80;
		check("ed25519: one changed bit in the signature fails", verify_ed25519(&k, body, strlen(body), s) == 0);
		EVP_Digest(raw, 32, md, NULL, EVP_sha256(), NULL);
		hex_encode(md, 8, want_id);
		check("key id: hex of the first 8 bytes of SHA-256(raw key)", strcmp(k.keyid, want_id) == 0 && strlen(k.keyid) == 16);
		check("public key: raw key of a wrong length refused", public_key_from_raw(raw, 31, &k2) != 0);

		EVP_EncodeBlock((unsigned char *) b64raw, raw, 32);
		check("pinned key: base64 of the raw 32 bytes", load_public_key(b64raw, &k2, err, sizeof(err)) == 0 &&
			  memcmp(k2.raw, raw, 32) == 0);
		snprintf(path, sizeof(path), "%s/key.pem", work);
		f = fopen(path, "w");
		PEM_write_PUBKEY(f, pkey);
		fclose(f);
		check("pinned key: a PEM file", load_public_key(path, &k2, err, sizeof(err)) == 0 && memcmp(k2.raw, raw, 32) == 0);
		snprintf(path, sizeof(path), "%s/key.b64", work);
		f = fopen(path, "w");
		fprintf(f, "%s\n", b64raw);
		fclose(f);
		check("pinned key: a file holding the base64", load_public_key(path, &k2, err, sizeof(err)) == 0 &&
			  memcmp(k2.raw, raw, 32) == 0);
		{
			EVP_PKEY   *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);

			snprintf(path, sizeof(path), "%s/rsa.pem", work);
			f = fopen(path, "w");
			PEM_write_PUBKEY(f, rsa);
			fclose(f);
			check("pinned key: an RSA key refused", load_public_key(path, &k2, err, sizeof(err)) != 0 &&
				  strstr(err, "Ed25519") != NULL);
			EVP_PKEY_free(rsa);
		}
		snprintf(path, sizeof(path), "%s/garbage", work);
		f = fopen(path, "w");
		fprintf(f, "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n");
		fclose(f);
		check("pinned key: garbage, a missing file, base64 of 31 bytes refused",
			  load_public_key(path, &k2, err, sizeof(err)) != 0 &&
			  load_public_key("/nonexistent/key.pem", &k2, err, sizeof(err)) != 0 &&
			  load_public_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", &k2, err, sizeof(err)) != 0);
		EVP_PKEY_free(pkey);
	}

	/* sha256 of a file */
	{
		long long	size;

		snprintf(path, sizeof(path), "%s/empty", work);
		fclose(fopen(path, "w"));
		check("sha256 of a file: the empty file", sha256_file(path, digest, &size) == 0 && size == 0 &&
			  digest[0] == 0xe3 && digest[1] == 0xb0);
		check("sha256 of a file: a missing file fails", sha256_file("/nonexistent", digest, &size) != 0);
	}

	/* messages */
	{
		const char *a;

		setenv("LANG", "en_US.UTF-8", 1);
		unsetenv("LC_ALL");
		unsetenv("LC_MESSAGES");
		messages_init();
		a = msg("client.refused_unknown_key", "keyid", "abc", NULL);
		check("messages: English, {placeholder} replaced", strstr(a, "abc") && strstr(a, "not pinned") && !strchr(a, '{'));
		setenv("LANG", "zh_CN.UTF-8", 1);
		messages_init();
		a = msg("client.refused_unknown_key", "keyid", "abc", NULL);
		check("messages: LANG=zh_CN gives Chinese", strcmp(msg_lang(), "zh-CN") == 0 && strstr(a, "abc") &&
			  strstr(a, "\xe5\xaf\x86\xe9\x92\xa5"));
		setenv("LC_ALL", "C", 1);
		messages_init();
		check("messages: LC_ALL takes precedence over LANG", strcmp(msg_lang(), "en") == 0);
		check("messages: an unknown key is shown as it is", strcmp(msg("client.nope", NULL), "client.nope") == 0);
		{
			char		big[5000];

			memset(big, 'x', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			a = msg("client.local_error", "error", big, NULL);
			check("messages: a huge value is cut, not overflowed", strlen(a) < 2048);
		}
	}

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
