/* SPDX-License-Identifier: MIT */
/*
 * cli-util: what every part of the fstrack command shares: exit codes,
 * messages, the connection, the token file, and the set of recursive
 * changes of an answer. Calls only the client library and basic/
 * (hashmap, util); never a command file. (Relative paths and the path
 * queue are basic/relpath.h, shared with the daemon.)
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

struct hashmap;
/*
 * The paths of ch that have the kind recursive (NULL: out of memory), for
 * relpath_under_any(): whatever rescans such a path covers everything below.
 */
struct hashmap *cli_recursive_set(const struct fst_changes *ch);

#endif
