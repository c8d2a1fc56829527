/* SPDX-License-Identifier: MIT */
/*
 * scopefilter: is a directory inside some scope of its filesystem?
 *
 * The journal keeps only what some scope can ask about: a change in a
 * directory under no scope is not recorded, so other people's writes do
 * not push a scope's history out of the journal. The test must be cheap
 * and never lose a record a scope needs, so:
 *
 *  - a cache maps directory handles to INSIDE or OUTSIDE; a look-up is one
 *    hash probe (sfilter_check). A directory not in the cache is UNKNOWN:
 *    its changes are recorded, and it is queued;
 *  - sfilter_resolve(), called by the owner after each read of the event
 *    queue, resolves queued directories in a batch, off the per-event
 *    path: the directory's path through the filesystem's root mount, then
 *    the handle of each directory from the mount down to it, looked up in
 *    the index of scope handles (the same index scope.c keeps). A failure
 *    of any kind leaves it UNKNOWN (recorded), never OUTSIDE;
 *  - a new directory takes its parent's verdict (sfilter_inherit): a new
 *    directory cannot be a scope yet;
 *  - sfilter_clear() forgets everything when a directory moves (its whole
 *    subtree may have moved into or out of a scope), when events are lost
 *    (an overflow: the lost one may be such a move) and when scopes come
 *    or go.
 *
 * Why a stale verdict never loses a change: the cache is filled from the
 * namespace as it is when resolved, which is never older than the events
 * being read. A directory that was inside when an event happened and is
 * outside now was moved out (or an ancestor was) after the event: that
 * rename is on record under the scope (renamed_from + recursive), and it
 * covers every path below the old name.
 */
#ifndef FST_SCOPEFILTER_H
#define FST_SCOPEFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/fhandle.h"

struct hashmap;
struct mount_ref;

enum sfilter_verdict { SF_UNKNOWN = 0, SF_INSIDE = 1, SF_OUTSIDE = 2 };

struct sfilter_stats {
	uint64_t inside, outside, unknown; /* verdicts given */
	uint64_t resolved;		   /* directories resolved */
	uint64_t resolve_failed;	   /* ... that stayed unknown */
	uint64_t inherited;		   /* new directories that took their parent's verdict */
	uint64_t clears;
	size_t cached;
	size_t pending;
};

struct sfilter;

/*
 * scope_index: handle key (place.h, empty name) -> non-zero when a scope's
 * directory; owned by the caller and read, never written. max: cache
 * entries before it starts over.
 */
int sfilter_new(const struct hashmap *scope_index, struct mount_ref *mount, size_t max,
		struct sfilter **ret);
struct sfilter *sfilter_free(struct sfilter *f);
/* The index was rebuilt (scope.c): read this one from now on; forgets every verdict. */
void sfilter_set_index(struct sfilter *f, const struct hashmap *scope_index);

enum sfilter_verdict sfilter_check(struct sfilter *f, const struct fhandle *dir);
/* child, a directory just created in parent, takes parent's verdict when known. */
void sfilter_inherit(struct sfilter *f, const struct fhandle *parent, const struct fhandle *child);
/* Resolve at most budget queued directories. */
void sfilter_resolve(struct sfilter *f, size_t budget);
void sfilter_clear(struct sfilter *f);
void sfilter_get_stats(const struct sfilter *f, struct sfilter_stats *ret);

/*
 * The scope whose directory is path (a path through the filesystem's root
 * mount, mounted at mount_path), or with !exact the outermost one above
 * it, from an index of scope handles: O(depth) name_to_handle_at calls,
 * no scope resolved. 1: found (*ret_value: the index's value), 0: none,
 * < 0: cannot tell (the path changed meanwhile, or an error).
 */
int scope_index_find(const struct hashmap *index, const char *mount_path, const char *path,
		     bool exact, uintptr_t *ret_value);

#endif
