/* SPDX-License-Identifier: MIT */
/*
 * Tokens as clients see them: opaque text. The one thing a client may ask
 * is whether a string has the form of a token at all; the form itself is
 * defined once, in basic/token.c, which the daemon uses too.
 */
#include "fstrack.h"

#include "basic/token.h"

bool fst_token_is_valid(const char *s)
{
	struct token t;

	return s && token_parse(s, &t) == 0;
}
