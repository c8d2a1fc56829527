/* SPDX-License-Identifier: MIT */
/*
 * cli-util: what every part of the fstrack command shares: exit codes,
 * messages, the connection, the token file, path checks, a path queue and
 * the "below a recursive change" test. Calls only the client library and
 * basic/ (hashmap, util); never a command file.
 */
#ifndef FST_CLI_UTIL_H
#define FST_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

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
/* A command's --help on stdout (usage line, summary, help text); returns EXIT_OK. */
int cli_print_help(const char *synopsis, const char *summary, const char *help);

/* Connect, or say why not; returns 0 or EXIT_ERROR. */
int cli_connect(const struct cli *cli, fst_client **ret);
/* Report a failed library call r (< 0) on c; returns EXIT_ERROR. */
int cli_client_error(fst_client *c, int r);

/* Write token + '\n' to path atomically (tmp, fsync, rename, fsync dir). */
int cli_write_token_file(const char *path, const char *token);

/* Is p a relative path without "..", "." or empty components (or exactly ".")? */
bool cli_path_is_clean(const char *p);
/* "dir/name", or "name" when dir is "." (the top); NULL when out of memory. */
char *cli_child_path(const char *dir, const char *name);

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

#endif
