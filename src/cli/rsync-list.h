/* SPDX-License-Identifier: MIT */
/*
 * rsync-list: the NUL-separated lists for rsync --files-from --from0 that
 * bring a copy of src up to date with changes ch (see rsync-list.c for the
 * recipe): names whose content may have changed, for rsync --ignore-times
 * (its quick check would skip a file rewritten with its size and mtime
 * kept), and the rest (directories to list again, names to delete), for
 * rsync's quick check. Calls only cli-util and basic/ (links, relpath, hashmap).
 */
#ifndef FST_CLI_RSYNC_LIST_H
#define FST_CLI_RSYNC_LIST_H

#include <stddef.h>
#include <stdio.h>

#include "fstrack.h"

/* exact and dirs may be the same FILE. */
struct rsync_lists {
	FILE *exact;
	FILE *dirs;
	size_t n_exact, n_dirs; /* how many names were written to each */
};
/* 0, -EBADMSG for a path of ch that is not clean, or -errno. */
int rsync_list_write(struct rsync_lists *out, const char *src, const struct fst_changes *ch);
/* The rsync options one list of both needs, for messages and documentation. */
#define RSYNC_LIST_OPTIONS "-a -I --delete --delete-missing-args --files-from=- --from0"

#endif
