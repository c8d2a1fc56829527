/* SPDX-License-Identifier: MIT */
/*
 * walk: list a directory tree under a root fd, depth first, iteratively.
 *
 * One directory is open at a time (plus the root fd): a directory is
 * opened by its path from the root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), read whole, its entries visited
 * in byte order, closed, then the subdirectories the visitor asked for are
 * walked. So memory grows with the pending directories, never the C
 * stack; symlinks are never followed; other filesystems mounted inside are
 * listed as entries but not entered (fstrack tracks one filesystem per
 * scope: a walk that entered a mount would list files whose changes later
 * answers could not report). A directory that vanished or became
 * something else before it was entered is skipped, and so is one the
 * walking thread may not open (EACCES: the daemon walks with a client's
 * credentials), which is still visited as an entry. Paths from the root
 * are limited to PATH_MAX (-ENAMETOOLONG).
 */
#ifndef FST_WATCHMAN_WALK_H
#define FST_WATCHMAN_WALK_H

#include <stdbool.h>
#include <stddef.h>

struct walk_entry {
	int dirfd;	  /* the directory being listed, open during the visit */
	const char *name; /* the entry's name in dirfd */
	const char *path; /* its path from the root, e.g. "a/b/name" */
	size_t path_len;
	unsigned char dtype; /* DT_REG, DT_DIR, DT_LNK...; DT_UNKNOWN when lstat failed */
	void *dir_state;     /* the state of the directory being listed */
};

/*
 * Called for every entry. Return < 0 to stop the walk with that error. To
 * walk into a directory entry, set *ret_child to a non-NULL state (it is
 * handed to free_state when done with); leave it NULL to skip the
 * directory's contents.
 */
typedef int (*walk_visit_fn)(void *ud, const struct walk_entry *e, void **ret_child);
/* Before a directory is listed: 1 list it, 0 skip it, < 0 stop with that error. */
typedef int (*walk_may_list_fn)(void *ud, int dirfd, const char *path);

struct walk {
	int root_fd;
	walk_visit_fn visit;
	walk_may_list_fn may_list; /* NULL: list everything */
	void (*free_state)(void *state);
	void *ud;
};

/*
 * Walk the directory start ("" for the root itself) with start_state (freed
 * with free_state at the end). -ENOENT or -ENOTDIR when start is not a
 * directory; err gets a line for other failures.
 */
int walk_run(const struct walk *w, const char *start, void *start_state, char *err, size_t errlen);

/* openat2(dirfd, path, flags | O_CLOEXEC) beneath dirfd, no symlinks, no mounts. */
int walk_open_beneath(int dirfd, const char *path, int flags);

#endif
