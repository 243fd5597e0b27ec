/*
 * rollout_module.c
 *		The library's entry point.
 */
#include "postgres.h"

#include "fmgr.h"

#include "rollout.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	rollout_cache_init();
	rollout_crypto_init();
	rollout_queue_init();
}
