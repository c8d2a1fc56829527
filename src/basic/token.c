/* SPDX-License-Identifier: MIT */
#include "basic/token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int token_parse(const char *s, struct token *ret)
{
	size_t plen = strlen(TOKEN_PREFIX);
	uint64_t seq = 0;
	const char *p;

	if (!s || strncmp(s, TOKEN_PREFIX, plen) != 0)
		return -EINVAL;
	p = s + plen;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		ret->uuid[i] = (uint8_t)(hi << 4 | lo);
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
