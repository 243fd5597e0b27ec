/*
 * messages.c
 *		rollout-client's messages in English and Chinese: the client.* keys
 *		of i18n/en.json and i18n/zh-CN.json, compiled in (messages.gen.h is
 *		made from them by gen-messages.pl), with {name} placeholders.
 *
 * The language is zh-CN when LC_ALL, else LC_MESSAGES, else LANG starts
 * with "zh"; English otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

typedef struct Message
{
	const char *key;
	const char *en;
	const char *zh;
} Message;

static const Message messages[] = {
#include "messages.gen.h"
};

static int	chinese;

/* Pick the language from the environment. */
void
messages_init(void)
{
	const char *vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

	for (int i = 0; i < 3; i++)
	{
		const char *v = getenv(vars[i]);

		if (v && *v)
		{
			chinese = strncmp(v, "zh", 2) == 0;
			return;
		}
	}
}

/* "zh-CN" or "en". */
const char *
msg_lang(void)
{
	return chinese ? "zh-CN" : "en";
}

/*
 * The message of key in the current language, with each {name} replaced by
 * the value following name in the arguments (name, value pairs, then
 * NULL). Four static buffers in turn, so a message may be an argument of
 * the next one. An unknown key is returned as it is.
 */
const char *
msg(const char *key,...)
{
	static char bufs[4][2048];
	static int	next;
	char	   *out = bufs[next];
	size_t		o = 0;
	const char *text = key;
	va_list		ap;

	next = (next + 1) % 4;
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (strcmp(messages[i].key, key) == 0)
			text = chinese ? messages[i].zh : messages[i].en;
	for (const char *p = text; *p && o < sizeof(bufs[0]) - 1;)
	{
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		const char *value = NULL;

		if (close)
		{
			va_start(ap, key);
			for (const char *name = va_arg(ap, const char *); name; name = va_arg(ap, const char *))
			{
				const char *v = va_arg(ap, const char *);

				if (strlen(name) == (size_t) (close - p - 1) && strncmp(name, p + 1, close - p - 1) == 0)
				{
					value = v ? v : "";
					break;
				}
			}
			va_end(ap);
		}
		if (value)
		{
			size_t		n = strlen(value);

			if (n > sizeof(bufs[0]) - 1 - o)
				n = sizeof(bufs[0]) - 1 - o;
			memcpy(out + o, value, n);
			o += n;
			p = close + 1;
		}
		else
			out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}
