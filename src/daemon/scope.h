/* SPDX-License-Identifier: MIT */
/*
 * scope: the watched directories, each on a tracked filesystem, and their
 * list on disk (scopes.json in the state dir). A scope remembers its
 * directory by file handle, the journal it was added to, and the first
 * journal position its tokens may name.
 *
 * A scope is active (its filesystem is tracked), missing (the filesystem
 * is not mounted; tracking resumes when it is back) or vanished (active,
 * but its directory was deleted or replaced).
 */
#ifndef FST_SCOPE_H
#define FST_SCOPE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/token.h"

struct tracker;
struct fsys;
struct scope;

/*
 * Start watching the open directory dirfd (path: as the caller named it,
 * for messages). Watching it twice gives the same scope. owner: the uid
 * that asked first (quotas count scopes by owner).
 */
int scope_watch(struct tracker *t, int dirfd, const char *path, uid_t owner, struct scope **ret,
		char *err, size_t errlen);
/* How many scopes owner watches. */
size_t scope_count_owned(struct tracker *t, uid_t owner);
/* Stop watching; the filesystem is detached when no scope is left on it. */
int scope_unwatch(struct tracker *t, struct scope *s);

/* The scope a directory is in. */
struct target {
	struct fsys *fs;
	struct scope *scope;
	char canon[PATH_MAX]; /* the directory's path through the filesystem's root mount */
};
/*
 * The scope that covers the open directory dirfd (the outermost one), and
 * its canonical path. -ENOENT when it is not watched; other errors when it
 * cannot be resolved (err says which).
 */
int scope_find(struct tracker *t, int dirfd, struct target *ret, char *err, size_t errlen);
/* The scope watching exactly canon (not one above it), or NULL. */
struct scope *scope_find_exact(struct tracker *t, struct fsys *fs, const char *canon);
/* A scope by the path it was watched as (also when missing or vanished). */
struct scope *scope_by_path(struct tracker *t, const char *path);

/* How to answer "since token T" for scope s. */
enum answer_kind { ANSWER_WAIT, ANSWER_FRESH, ANSWER_EXACT };
struct answer_plan {
	enum answer_kind kind;
	bool widened;	 /* EXACT, but a catch-up scan of the range still runs: widen to the dir */
	uint64_t from;	 /* EXACT: changes from this seq */
	const char *why; /* FRESH: why the token cannot be answered exactly */
	char token[TOKEN_MAX]; /* FRESH/EXACT: the new token */
};
/*
 * no_wait: when a catch-up scan still covers the range, do not say WAIT:
 * say EXACT with widened set (the answer must then cover the whole
 * directory, "recursive"), and hand out a new token: what the scan finds
 * later is recorded after it.
 */
int scope_plan_answer(struct scope *s, const struct token *since, bool no_wait,
		      struct answer_plan *ret);
/* Why tk cannot be answered exactly for s (now), or NULL when it can. */
const char *scope_token_fresh(struct scope *s, const struct token *tk);

enum scope_state { SCOPE_ACTIVE, SCOPE_MISSING, SCOPE_VANISHED };
struct scope_info {
	const char *path;
	const char *fs_id;
	enum scope_state state;
	uint64_t added_seq;
	uint64_t added_ns; /* realtime when it was added (0: unknown) */
	uid_t owner;	 /* who asked for it first */
	struct fsys *fs; /* NULL when missing */
};
const char *scope_state_name(enum scope_state st);
/* Iterate: first, next (NULL at the end). */
struct scope *scope_first(struct tracker *t);
struct scope *scope_next(const struct scope *s);
void scope_get_info(struct scope *s, struct scope_info *ret);

#endif
