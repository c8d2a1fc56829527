/* SPDX-License-Identifier: MIT */
#include "basic/token.h"
#include "basic/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int token_parse(const char *s, struct token *ret)
{
	size_t plen = strlen(TOKEN_PREFIX);
	uint64_t seq = 0;
	const char *p;

	if (!s || strncmp(s, TOKEN_PREFIX, plen) != 0)
		return -EINVAL;
	p = s + plen;
	if (strnlen(p, 33) < 33 || p[32] != ':')
		return -EINVAL;
	{
		char hex[33];
		memcpy(hex, p, 32);
		hex[32] = '\0';
		if (hex_decode(hex, ret->uuid, 16, NULL) < 0)
			return -EINVAL;
	}
	p += 32;
	if (*p++ != ':')
		return -EINVAL;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0' && p[1] != '\0')
		return -EINVAL; /* one spelling per token: no leading zeros */
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (seq > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		seq = seq * 10 + (uint64_t)(*p - '0');
	}
	ret->seq = seq;
	return 0;
}

void token_format(const struct token *t, char buf[static TOKEN_MAX])
{
	char *p = buf + strlen(TOKEN_PREFIX);

	memcpy(buf, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "%02x", t->uuid[i]);
	sprintf(p, ":%llu", (unsigned long long)t->seq);
}
