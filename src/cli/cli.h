/* SPDX-License-Identifier: MIT */
/* cli: what the fstrack command's parts share (fstrack.c, git-fsmonitor.c, backup.c). */
#ifndef FST_CLI_H
#define FST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fstrack.h"

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1, /* one line on stderr says what and what to do */
	EXIT_USAGE = 2,
	EXIT_GAP = 3, /* stream: the daemon dropped the subscriber; resume with changes */
};

/* Options given before the command. */
struct cli {
	const char *socket; /* NULL: $FSTRACK_SOCKET, else the default */
};

/* "fstrack: <message>" on stderr; returns EXIT_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fstrack: warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fstrack CMD: <message>; see 'fstrack help CMD'" on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connect, or say why not; returns 0 or EXIT_ERROR. */
int cli_connect(const struct cli *cli, fst_client **ret);
/* Report a failed library call r (< 0) on c; returns EXIT_ERROR. */
int cli_client_error(fst_client *c, int r);

/* Write token + '\n' to path atomically (tmp, fsync, rename, fsync dir). */
int cli_write_token_file(const char *path, const char *token);

/* Is p a relative path without "..", "." or empty components (or exactly ".")? */
bool cli_path_is_clean(const char *p);

/* A queue of malloc'ed paths (directories still to read); entries before
 * head have been taken (and belong to the taker). */
struct cli_pathq {
	char **v;
	size_t head, n, cap;
};
/* Append p (taken over; freed on failure). -ENOMEM, also when p is NULL. */
int cli_pathq_push(struct cli_pathq *q, char *p);
/* Free what was not taken, and the array. */
void cli_pathq_release(struct cli_pathq *q);

struct hashmap;
/* The paths of ch that have the kind recursive (NULL: out of memory). */
struct hashmap *cli_recursive_set(const struct fst_changes *ch);
/*
 * Does a proper ancestor of path have the kind recursive? Then whatever
 * rescans that ancestor covers path too. ("." is everyone's ancestor.)
 */
bool cli_under_recursive(const struct hashmap *set, const char *path);

/*
 * Hard links. fstrackd reports a changed inode under at least one of its
 * names, not all: a file written through one name changed under its other
 * names too. Note such files (regular, st_nlink > 1) in inos, then let
 * cli_walk_links() find every name below top_fd whose inode is noted (by
 * d_ino, reading directories only; not into other filesystems, nor into
 * ".git" directories when skip_git).
 */
struct stat;
int cli_note_link(struct hashmap *inos, const struct stat *st);
/* "dir/name", or "name" when dir is "." (the top); NULL when out of memory. */
char *cli_child_path(const char *dir, const char *name);
int cli_walk_links(int top_fd, const struct hashmap *inos, bool skip_git,
		   int (*found)(void *data, const char *path), void *data);

/*
 * The NUL-separated lists for rsync --files-from --from0 that bring a copy
 * of src up to date with changes ch (see backup.c for the recipe): names
 * whose content may have changed, for rsync --ignore-times (its quick check
 * would skip a file rewritten with its size and mtime kept), and the rest
 * (directories to list again, names to delete), for rsync's quick check.
 * exact and dirs may be the same FILE. 0 or -errno.
 */
struct rsync_lists {
	FILE *exact;
	FILE *dirs;
	size_t n_exact, n_dirs; /* how many names were written to each */
};
int rsync_list_write(struct rsync_lists *out, const char *src, const struct fst_changes *ch);
/* The rsync options one list of both needs, for messages and documentation. */
#define RSYNC_LIST_OPTIONS "-a -I --delete --delete-missing-args --files-from=- --from0"

int cmd_git_fsmonitor(const struct cli *cli, int argc, char **argv);
extern const char git_fsmonitor_synopsis[];
extern const char git_fsmonitor_help[];

int cmd_backup(const struct cli *cli, int argc, char **argv);
extern const char backup_synopsis[];
extern const char backup_help[];

#endif
