/* SPDX-License-Identifier: MIT */
/*
 * token: "fst1:<32 hex uuid>:<decimal seq>", naming a position in one
 * journal instance.
 */
#ifndef FST_TOKEN_H
#define FST_TOKEN_H

#include <stdint.h>

#define TOKEN_PREFIX "fst1:"
#define TOKEN_MAX 64 /* enough for prefix + 32 + ':' + 20 digits + NUL */

struct token {
	uint8_t uuid[16];
	uint64_t seq;
};

/* 0, or -EINVAL when s is not exactly a token. */
int token_parse(const char *s, struct token *ret);
/* Writes the token text into buf (TOKEN_MAX bytes). */
void token_format(const struct token *t, char buf[static TOKEN_MAX]);

#endif
