/* SPDX-License-Identifier: MIT */
/*
 * query: Watchman file queries ("query", "since", "find", "subscribe")
 * compiled from their json-c form and run over fstrack's answers and the
 * directory tree.
 *
 * Use:
 *   wq_compile(spec, &q, err)              parse; err is Watchman's message
 *   wq_since(q)                            what the query's "since" asks for
 *   ... the caller maps a clock to an fstrack token, asks fstrack for the
 *       changes under the root since it, and fills a wq_since_answer ...
 *   wq_run(q, root_fd, &answer, &hooks, &result, err)
 *   ... result.files and result.is_fresh_instance go into the response ...
 *
 * Generators, as in Watchman (their results are concatenated, duplicates
 * removed only with dedup_results, which glob and suffix imply):
 *   since (a clock)   the changes of the answer (see wq_since_answer);
 *   since (a time)    a walk reporting entries whose ctime is at or after it;
 *   path              a file, or a directory's entries to a depth;
 *   glob / suffix     a walk matching names;
 *   none of these     a walk of everything under the root.
 * A fresh instance (no "since", or a since that fstrack answered fresh)
 * skips the since generator, reports only existing files, and all as new.
 * Walks use walk.h: no symlinks followed, no other filesystems entered.
 *
 * Names are relative to the watched root or to relative_root, '/'
 * separated; the root (or relative_root) itself is never reported.
 *
 * Functions return 0 or a negative errno; on failure err gets one line
 * (the parse errors are Watchman's texts, "failed to parse query: ...").
 * No logging, no global state.
 */
#ifndef FST_WATCHMAN_QUERY_H
#define FST_WATCHMAN_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json_object.h>

#include "watchman/clock.h"

struct wq;

/*
 * Compile a query object (the third element of ["query", root, {...}]).
 * The spec is not kept: it may be freed afterwards.
 */
int wq_compile(json_object *spec, struct wq **ret, char *err, size_t errlen);
struct wq *wq_free(struct wq *q);

/* The names of the expression terms and fields, i from 0 (NULL past the last). */
const char *wq_term_name(size_t i);
const char *wq_field_name(size_t i);

/*
 * The query object for the legacy pattern arguments of "find" and "since"
 * (args[start..]: patterns, "-X", "-I", "!", "-p", "-P", "--"), with
 * since (NULL for "find") and Watchman's legacy field list. Compile it with
 * wq_compile. -EINVAL when an argument is not a string.
 */
int wq_legacy_spec(json_object *args, size_t start, const char *since, json_object **ret, char *err,
		   size_t errlen);

/*
 * The query's "since": false without one. With one, *ret is its parsed form
 * (strings owned by q): a clock or named cursor needs an answer from
 * fstrack for wq_run; a timestamp is handled by wq_run itself.
 */
bool wq_since(const struct wq *q, struct wclockspec *ret);
/* relative_root, canonical ("a/b"), or NULL. */
const char *wq_relative_root(const struct wq *q);
/* sync_timeout in ms (default 60000; 0: no sync wanted). */
int64_t wq_sync_timeout_ms(const struct wq *q);
/* empty_on_fresh_instance */
bool wq_empty_on_fresh_instance(const struct wq *q);

/* statx-like attributes of a file. */
struct wq_stat {
	uint32_t mode, uid, gid;
	uint64_t size, ino, dev, nlink;
	struct timespec atime, mtime, ctime, btime;
	bool has_btime;
};

/* One candidate file, as wq_eval and wq_render see it. */
struct wq_file {
	const char *name; /* wholename: from the root or relative_root */
	bool exists;	  /* exists now */
	bool is_new;	  /* the "new" field */
	bool changed;	  /* reported changed since the query's clock */
	/*
	 * Attributes: given (have_stat), or loaded when first needed by an
	 * lstat of dirent in dirfd (dirfd >= 0). With neither, all zero.
	 */
	bool have_stat;
	struct wq_stat st;
	int dirfd;
	const char *dirent;
	const char *symlink_target; /* given, or read from dirfd/dirent */
	/*
	 * Not a file fstrack can name but one that may have gone from below
	 * name (its child; with any_depth, anything below it): terms on its
	 * own name are unknown, dirname is decided from name where it can be.
	 */
	bool name_unknown;
	bool any_depth;
};

/* Fill a wq_stat from struct stat. */
void wq_stat_from_stat(struct wq_stat *w, const void *struct_stat);

struct wq_hooks {
	void *ud;
	/*
	 * content.sha1hex: hex digest of f (f->dirfd/f->dirent, or f->name
	 * from the root). -ENOENT, -EISDIR, -EINVAL (not a regular file)
	 * render as null, other errors as {"error": "..."}. NULL: the field
	 * renders {"error": ...}, never reads a file. wq_sha1_at is one.
	 */
	int (*sha1)(void *ud, const struct wq_file *f, char hex[41]);
	/*
	 * A "since" term whose clock is not the query's own: did f change
	 * since clock (field "oclock"/"cclock")? NULL: such terms fail.
	 */
	int (*since_clock)(void *ud, const char *clock, const char *field, const struct wq_file *f,
			   bool *ret);
	/*
	 * Before a walk lists a directory (path from the watched root): 1 list
	 * it, 0 leave it out (it is still reported as an entry), < 0 fail.
	 * The daemon checks the client's permissions here. NULL: list all.
	 */
	int (*may_list)(void *ud, int dirfd, const char *path);
	/* The clock rendered for the oclock and cclock fields (NULL: null). */
	const char *clock;
	/* At most this many results (0: no bound); past it the query fails with -E2BIG. */
	size_t max_results;
};

/* A sha1 hook hashing f->dirent in f->dirfd with sha1_file_at(). */
int wq_sha1_at(void *ud, const struct wq_file *f, char hex[41]);

/*
 * Does f match the query's expression? 1 yes, 0 no, < 0 error. fresh: the
 * query is answered as a fresh instance.
 */
int wq_eval(const struct wq *q, const struct wq_hooks *hooks, bool fresh, struct wq_file *f,
	    char *err, size_t errlen);
/* f's result: the fields' object, or the bare value for a single field. */
int wq_render(const struct wq *q, const struct wq_hooks *hooks, struct wq_file *f,
	      json_object **ret, char *err, size_t errlen);

/* A change of fstrack's answer: path from the watched root ("." itself), kinds. */
struct wq_change {
	const char *path;
	unsigned kinds; /* enum fst_kind bits */
};

/*
 * fstrack's answer for the query's clock. Kinds map to Watchman's view:
 * every named path is a candidate, "exists" is an lstat now, and "new" is
 * created or renamed_to. A directory with "entries" adds its current
 * entries, with "recursive" its whole current subtree, all as new (after a
 * gap fstrack cannot tell which of them are new: it says they may be). A
 * "recursive" on the root, or above relative_root, walks everything.
 */
struct wq_since_answer {
	bool fresh;
	size_t n;
	const struct wq_change *changes;
};

struct wq_result {
	json_object *files; /* the "files" array (tagged as a BSER template with >1 field) */
	bool is_fresh_instance;
	uint64_t walked;  /* entries listed by walks */
	uint64_t deduped; /* duplicates left out (dedup_results) */
};

/*
 * Run q over the tree at root_fd (the watched root). since: the answer for
 * a clock or named cursor (required then, ignored otherwise). On success
 * ret->files is a new reference.
 */
int wq_run(const struct wq *q, int root_fd, const struct wq_since_answer *since,
	   const struct wq_hooks *hooks, struct wq_result *ret, char *err, size_t errlen);

#endif
