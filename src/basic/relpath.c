/* SPDX-License-Identifier: MIT */
/* relpath: relative paths, their queue and ancestor test (see relpath.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/hashmap.h"
#include "basic/relpath.h"
#include "basic/util.h"

bool relpath_is_clean(const char *p)
{
	if (strcmp(p, ".") == 0)
		return true;
	if (!*p || *p == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!*e)
			break;
		s = e + 1;
		if (!*s)
			return false; /* trailing slash */
	}
	return true;
}

char *relpath_child(const char *dir, const char *name)
{
	char *p;

	if (strcmp(dir, ".") == 0)
		return strdup(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

bool relpath_under_any(const struct hashmap *set, const char *path)
{
	if (strcmp(path, ".") == 0)
		return false;
	if (hashmap_get(set, ".", 1))
		return true;
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (hashmap_get(set, path, (size_t)(s - path)))
			return true;
	return false;
}

int pathq_push(struct pathq *q, char *p)
{
	if (!p)
		return -ENOMEM;
	if (GROW(q->v, q->cap, q->n + 1) < 0) {
		free(p);
		return -ENOMEM;
	}
	q->v[q->n++] = p;
	return 0;
}

void pathq_release(struct pathq *q)
{
	for (size_t i = q->head; i < q->n; i++)
		free(q->v[i]);
	free(q->v);
}
