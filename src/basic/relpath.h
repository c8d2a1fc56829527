/* SPDX-License-Identifier: MIT */
/*
 * relpath: paths relative to a directory, as fstrackd's answers give them:
 * the clean-path check, "dir/name", a queue of directories still to read,
 * and "is a proper ancestor in this set". No policy; calls only hashmap.
 */
#ifndef FST_RELPATH_H
#define FST_RELPATH_H

#include <stdbool.h>
#include <stddef.h>

struct hashmap;

/* Is p a relative path without "..", "." or empty components (or exactly ".")? */
bool relpath_is_clean(const char *p);
/* "dir/name", or "name" when dir is "." (the top); NULL when out of memory. */
char *relpath_child(const char *dir, const char *name);
/*
 * Does a proper ancestor of path have a key in set (its bytes, no NUL)?
 * "." is everyone's ancestor, and nobody's descendant.
 */
bool relpath_under_any(const struct hashmap *set, const char *path);

/* A queue of malloc'ed paths (directories still to read); entries before
 * head have been taken (and belong to the taker). */
struct pathq {
	char **v;
	size_t head, n, cap;
};
/* Append p (taken over; freed on failure). -ENOMEM, also when p is NULL. */
int pathq_push(struct pathq *q, char *p);
/* Free what was not taken, and the array. */
void pathq_release(struct pathq *q);

#endif
