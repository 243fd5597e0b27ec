/*
 * i18n.h
 *		rollout-http's messages in English and Chinese (i18n/en.json, i18n/zh-CN.json).
 */
#ifndef ROLLOUT_I18N_H
#define ROLLOUT_I18N_H

#include <stdbool.h>
#include <jansson.h>

extern int	i18n_load(const char *dir);
extern const char *i18n_lang(const char *accept_language);
extern char *i18n_message(const char *lang, const char *key, const char *field);
extern bool i18n_has(const char *key);

#endif							/* ROLLOUT_I18N_H */
