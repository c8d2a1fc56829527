/* SPDX-License-Identifier: MIT */
/* Kinds of change: the names the protocol uses for the bits of enum fst_kind. */
#include "fstrack.h"

#include <errno.h>
#include <string.h>

static const char *const kind_names[FST_KIND_COUNT] = {
    "created",	    "deleted",	  "modified", "attrib",
    "renamed_from", "renamed_to", "entries",  "recursive",
};

const char *fst_kind_name(unsigned bit_index)
{
	if (bit_index >= FST_KIND_COUNT)
		return NULL;
	return kind_names[bit_index];
}

unsigned fst_kind_from_name(const char *name)
{
	if (!name)
		return 0;
	for (unsigned i = 0; i < FST_KIND_COUNT; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return 1u << i;
	return 0;
}

int fst_kinds_format(unsigned kinds, char sep, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return -ENOSPC;
	buf[0] = '\0';
	for (unsigned i = 0; i < FST_KIND_COUNT; i++) {
		size_t n;

		if (!(kinds & (1u << i)))
			continue;
		n = strlen(kind_names[i]);
		if (len + (len ? 1 : 0) + n + 1 > size)
			return -ENOSPC;
		if (len)
			buf[len++] = sep;
		memcpy(buf + len, kind_names[i], n + 1);
		len += n;
	}
	return (int)len;
}
