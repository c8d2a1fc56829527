/* SPDX-License-Identifier: MIT */
/*
 * query: "what changed under DIR since seq S?"
 *
 * 1. fold: read the journal from S and fold its records into distinct
 *    places (dir handle, name) with the union of their kinds, plus the
 *    objects (a file's own handle) recorded for hard links;
 * 2. resolve: each distinct directory once, through a resolver (the
 *    filesystem's mount in the daemon, a table in unit tests); keep the
 *    places under DIR that the caller may see, relative to DIR;
 * 3. objects: name every recorded object under DIR: by the kernel's name
 *    for it, and by one walk of DIR for the names of files with other
 *    links (or none the kernel can give).
 *
 * Paths are resolved now, not when the change happened: a directory moved
 * since shows at its new place, and its old place is covered by the
 * rename's own records (kind recursive on both sides).
 *
 * Unknown is never gone: a handle that cannot be resolved for any reason
 * but its object's deletion (EMFILE, ENOMEM, EIO, ...) widens the answer
 * to DIR itself as "recursive"; a directory the link walk cannot open is
 * reported "recursive" itself. Nothing here recurses with the tree's depth.
 */
#ifndef FST_QUERY_H
#define FST_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/fhandle.h"

struct journal;
struct perm_cache;

/* How handles become paths and objects. Both return what fhandle_resolve / fhandle_open do. */
struct resolver {
	int (*path)(void *data, const struct fhandle *h, char *buf, size_t len);
	int (*open)(void *data, const struct fhandle *h, int flags);
	void *data;
};

struct query_stats {
	uint64_t records;	 /* event records read */
	uint64_t places;	 /* distinct places */
	uint64_t dirs_resolved;	 /* distinct directories looked up */
	uint64_t objects;	 /* distinct objects */
	uint64_t unknown;	 /* handles that could not be resolved (not gone) */
	uint64_t link_walk_dirs; /* directories read by the link walk */
};

struct change_set;

/*
 * Distinct changes recorded at seq >= from, under canon_dir (a canonical
 * absolute path), relative to it. pc: the caller's permissions (NULL: root
 * sees everything). stats may be NULL.
 */
int query_changes(struct journal *j, const struct resolver *res, uint64_t from,
		  const char *canon_dir, struct perm_cache *pc, struct change_set **ret,
		  struct query_stats *stats);

struct change_set *change_set_free(struct change_set *cs);
size_t change_set_count(const struct change_set *cs);
void change_set_get(const struct change_set *cs, size_t i, const char **ret_path,
		    unsigned *ret_kinds);
/* Cover the whole queried directory too: "." gets FST_RECURSIVE. 0 or -ENOMEM. */
int change_set_widen(struct change_set *cs);
/* The journal position the set reaches (its next_seq when read). */
uint64_t change_set_end_seq(const struct change_set *cs);

#endif
