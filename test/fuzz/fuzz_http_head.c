/*
 * fuzz_http_head.c
 *		libFuzzer target for the front door's request-head reader
 *		(shim/http_head.c), which reads bytes straight off client sockets.
 *
 * Besides "no crash, no out-of-bounds read", it checks properties: a head
 * read as a client request ends in the blank line, within the buffer and
 * the size limit, and every field it names lies inside the head; no prefix
 * of it shorter than the head is anything but incomplete (bytes arriving a
 * few at a time are read the same as all at once); a head is incomplete
 * only when the blank line is missing; reading is deterministic.
 */
#define _GNU_SOURCE				/* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "property failed: %s\n", #cond); abort(); } } while (0)

static void
inside(const HttpHead *h, const char *buf, const char *p, size_t n)
{
	if (p == NULL)
		return;
	CHECK(p >= buf && p + n <= buf + h->head_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the size limit, so that limit edges are reached */
	size_t		head_max = size > 0 ? 16 + data[0] * 32 : 8192;
	char	   *buf = malloc(size ? size : 1);
	char	   *again = malloc(size ? size : 1);
	HttpHead	h,
				h2;
	HeadKind	k,
				k2;

	memcpy(buf, data, size);
	memcpy(again, data, size);
	k = http_head_parse(buf, size, head_max, &h);
	CHECK(memcmp(buf, data, size) == 0);	/* reading writes nothing */
	k2 = http_head_parse(again, size, head_max, &h2);
	CHECK(k == k2 && h.head_len == h2.head_len && h.content_length == h2.content_length);
	if (k == HEAD_INCOMPLETE)
		CHECK(size < head_max && memmem(buf, size, "\r\n\r\n", 4) == NULL);
	if (k == HEAD_CLIENT)
	{
		CHECK(h.head_len >= 4 && h.head_len <= size && h.head_len <= head_max);
		CHECK(memcmp(buf + h.head_len - 4, "\r\n\r\n", 4) == 0);
		CHECK(memmem(buf, h.head_len - 2, "\r\n\r\n", 4) == NULL);
		CHECK(memcmp(buf, "POST /", 6) == 0);
		CHECK(h.content_length >= 0 && h.content_length < 1000000000000000000L);
		inside(&h, buf, h.path, h.path_len);
		CHECK(h.path_len > 0 && h.path[h.path_len] == ' ');
		CHECK(memchr(h.path, '?', h.path_len) == NULL && memchr(h.path, '%', h.path_len) == NULL);
		inside(&h, buf, h.lang, h.lang_len);
		inside(&h, buf, h.user_agent, h.user_agent_len);
		inside(&h, buf, h.forwarded_for, h.forwarded_for_len);
		/* any shorter prefix of the head is still incomplete */
		for (size_t cut = 0; cut < h.head_len; cut += 1 + cut / 3)
		{
			HttpHead	hp;
			char	   *prefix = malloc(cut ? cut : 1);

			memcpy(prefix, data, cut);
			CHECK(http_head_parse(prefix, cut, head_max, &hp) == HEAD_INCOMPLETE);
			free(prefix);
		}
	}
	free(buf);
	free(again);
	return 0;
}
