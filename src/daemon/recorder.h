/* SPDX-License-Identifier: MIT */
/*
 * recorder: "is this change already recorded since the last token?"
 *
 * An in-memory set of (place, kinds) recorded in the current epoch. Only
 * new (place, kind) pairs reach the journal, so a file written a million
 * times costs one record per epoch. Issuing a token starts a new epoch
 * (recorder_new_epoch): a change after a token must be on record after
 * it. The set is only an optimization: when it grows past its bound it is
 * cleared, which only means more records.
 *
 * Objects (a file's own handle, for hard links) are recorded when the
 * file has other names: its link count is 2 or more when the note is
 * taken, or the event was itself a link-count change (the file had
 * another name then, even if it has none by now). The note of a new
 * file's object is not even looked up: it has one name, which its name's
 * note covers (unless the object is on record already this epoch: then
 * the name came from a link). The query finds the names at query time.
 *
 * The watcher's notes (recorder_sink) wait in a short pipeline so that
 * the set's cache misses overlap; they are all decided by the sink's
 * flush at the end of each read. recorder_note and recorder_note_object
 * decide at once (after any pending note).
 */
#ifndef FST_RECORDER_H
#define FST_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/fhandle.h"

struct journal;
struct mount_ref;

struct recorder_stats {
	uint64_t records_written;
	uint64_t notes;	      /* notes taken (place and object) */
	uint64_t dedups;      /* notes already on record this epoch */
	uint64_t dropped;     /* notes dropped while suspended */
	uint64_t outside;     /* notes dropped: under no scope */
	uint64_t new_objects; /* object notes of new files, not taken (nothing to record) */
};

struct recorder;

/* mount: to look at an object's link count (may be NULL: objects always recorded). */
int recorder_new(struct journal *j, struct mount_ref *mount, size_t max_entries,
		 struct recorder **ret);
struct recorder *recorder_free(struct recorder *r);

/*
 * A change at (dir, name); name "." is the directory itself. Taken at
 * once: a note of the watcher's still pending is decided first, and its
 * error returned too (outside a read there is none: the watcher flushes
 * at the end of every read).
 */
int recorder_note(struct recorder *r, const struct fhandle *dir, const char *name, size_t namelen,
		  unsigned kinds);
/* A change at an inode that may have other names; flags: NOTE_* of watcher.h. */
int recorder_note_object(struct recorder *r, const struct fhandle *obj, unsigned kinds,
			 unsigned flags);
/*
 * Start a new epoch: everything is recorded again from now on, and the
 * kernel's ignore marks are removed first. An error says they could not
 * be: the kernel may still drop writes, so no token may be handed out.
 */
int recorder_new_epoch(struct recorder *r);
/*
 * While suspended, notes are counted and dropped (nothing is appended):
 * the journal cannot keep them, and a gap covers them.
 */
void recorder_suspend(struct recorder *r, bool on);

size_t recorder_entries(const struct recorder *r);
size_t recorder_memory(const struct recorder *r);
const struct recorder_stats *recorder_stats(const struct recorder *r);

/*
 * The kernel-side filter: once a file's write is on record this epoch
 * (under the event's name), add(fd) asks the kernel to drop its further
 * writes; flush() ends all of that at every new epoch, before a token is
 * handed out. At most max marks an epoch (0: no bound).
 */
struct recorder_marks {
	int (*add)(void *data, int fd);
	int (*flush)(void *data);
	void *data;
	size_t max;
};
void recorder_set_marks(struct recorder *r, const struct recorder_marks *m);
size_t recorder_marks_held(const struct recorder *r);

/*
 * The scope filter (scopefilter.h): a change in a directory under no
 * scope is not recorded (counted as dropped); objects are always looked
 * at (a file's other name may be in a scope). NULL: record everything.
 */
struct sfilter;
void recorder_set_filter(struct recorder *r, struct sfilter *f);

/* The watcher's sink that feeds r. */
struct watcher_sink;
void recorder_sink(struct recorder *r, struct watcher_sink *ret);

#endif
