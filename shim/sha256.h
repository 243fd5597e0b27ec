/*
 * sha256.h
 *		Streaming SHA-256.
 */
#ifndef ROLLOUT_SHA256_H
#define ROLLOUT_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Sha256
{
	uint32_t	h[8];
	uint64_t	len;
	uint8_t		buf[64];
	size_t		used;
} Sha256;

extern void sha256_init(Sha256 *s);
extern void sha256_update(Sha256 *s, const void *data, size_t n);
extern void sha256_hex(Sha256 *s, char out[65]);

#endif							/* ROLLOUT_SHA256_H */
