/* SPDX-License-Identifier: MIT */
#include "daemon/recorder.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/hashmap.h"
#include "basic/util.h"
#include "daemon/journal.h"
#include "daemon/mounts.h"
#include "daemon/place.h"
#include "daemon/scopefilter.h"
#include "daemon/watcher.h"
#include "fstrack.h"

struct recorder {
	struct journal *journal;
	struct mount_ref *mount;
	struct hashmap *recorded; /* place key -> kinds recorded this epoch */
	size_t max_entries;
	bool suspended;
	struct sfilter *filter;
	struct recorder_marks marks;
	size_t marks_held; /* asked for this epoch */
	struct recorder_stats stats;
};

int recorder_new(struct journal *j, struct mount_ref *mount, size_t max_entries,
		 struct recorder **ret)
{
	struct recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->recorded = hashmap_new();
	if (!r->recorded) {
		free(r);
		return -ENOMEM;
	}
	r->journal = j;
	r->mount = mount;
	r->max_entries = max_entries ? max_entries : 1u << 18;
	*ret = r;
	return 0;
}

struct recorder *recorder_free(struct recorder *r)
{
	if (r) {
		hashmap_free(r->recorded);
		free(r);
	}
	return NULL;
}

static int append(struct recorder *r, const struct fhandle *h, const char *name, size_t namelen,
		  unsigned kinds)
{
	struct jrec rec = {
	    .type = JREC_EVENT,
	    .kinds = (uint8_t)kinds,
	    .time_ns = now_realtime_ns(),
	    .handle_type = h->type,
	    .handle_len = h->len,
	    .handle = h->bytes,
	    .name_len = (uint16_t)namelen,
	    .name = name,
	};
	int ret = journal_append(r->journal, &rec);

	if (ret == 0)
		r->stats.records_written++;
	return ret;
}

/*
 * Look the key up in this epoch's set; *ret_new gets the kinds not yet
 * recorded and *ret_slot where to add them once they are.
 */
static int lookup(struct recorder *r, const uint8_t *key, size_t klen, unsigned kinds,
		  unsigned *ret_new, uintptr_t **ret_slot)
{
	int added;

	if (r->suspended) {
		r->stats.dropped++;
		*ret_new = 0;
		return 0;
	}
	if (hashmap_size(r->recorded) >= r->max_entries)
		hashmap_clear(r->recorded); /* only an optimization: start over */
	added = hashmap_upsert(r->recorded, key, klen, ret_slot);
	if (added < 0)
		return added;
	r->stats.notes++;
	*ret_new = kinds & ~(unsigned)**ret_slot;
	if (!*ret_new)
		r->stats.dedups++;
	return 0;
}

int recorder_note(struct recorder *r, const struct fhandle *dir, const char *name, size_t namelen,
		  unsigned kinds)
{
	uint8_t key[PLACE_KEY_MAX];
	uintptr_t *seen;
	unsigned fresh;
	size_t klen;
	int ret;

	if (namelen == 0) { /* never an object's key: the directory itself */
		name = ".";
		namelen = 1;
	}
	klen = place_key_of(key, dir, name, namelen);
	if (!klen)
		return -EINVAL;
	if (r->filter && !r->suspended && sfilter_check(r->filter, dir) == SF_OUTSIDE) {
		r->stats.outside++; /* under no scope: no scope can ask about it */
		ret = 0;
		goto moved;
	}
	ret = lookup(r, key, klen, kinds, &fresh, &seen);
	if (ret < 0 || !fresh)
		goto moved;
	ret = append(r, dir, name, namelen, fresh);
	if (ret < 0)
		return ret;
	*seen |= fresh;
moved:
	/* a directory moved: its subtree may have moved into or out of a scope */
	if (r->filter && (kinds & FST_RECURSIVE) && (kinds & (FST_RENAMED_FROM | FST_RENAMED_TO)))
		sfilter_clear(r->filter);
	return ret;
}

void recorder_set_filter(struct recorder *r, struct sfilter *f)
{
	r->filter = f;
}

/*
 * An object's slot holds, beside the kinds decided this epoch, what is
 * known of it this epoch.
 */
#define OBJECT_APPENDED 0x100u /* its record was written */
#define OBJECT_SINGLE 0x200u   /* created this epoch: one name, until a link-count change */
#define OBJECT_MARKED 0x400u   /* an ignore mark was asked for */

/* Open an object (O_PATH) by handle: an fd, or a negative errno. */
static int open_object(struct recorder *r, const struct fhandle *obj)
{
	int mfd;

	if (!r->mount)
		return -ENODEV;
	mfd = mount_ref_fd(r->mount);
	return mfd < 0 ? mfd : fhandle_open(mfd, obj, O_PATH);
}

/*
 * Has the object other names now? Unknown (cannot open it) counts as
 * yes; gone counts as no: its names' deletions are on record.
 */
static bool has_other_names(int fd)
{
	struct stat st;

	if (fd < 0)
		return !fhandle_err_is_gone(fd);
	return fstat(fd, &st) < 0 || (!S_ISDIR(st.st_mode) && st.st_nlink >= 2);
}

/* Is the object gone (deleted, or only still open somewhere)? Unknown counts as no. */
static bool has_no_names(int fd)
{
	struct stat st;

	if (fd < 0)
		return fhandle_err_is_gone(fd);
	return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

/*
 * Has the object (open as fd) exactly one name, in a directory the scope
 * filter knows to be under no scope? Anything unknown counts as no.
 */
static bool only_name_outside(struct recorder *r, int fd)
{
	char path[PATH_MAX], *slash;
	struct fhandle dir;
	struct stat st, at;

	if (!r->filter || fd < 0 || fstat(fd, &st) < 0 || st.st_nlink != 1 ||
	    fd_get_path(fd, path, sizeof(path)) < 0 || path[0] != '/')
		return false;
	/* the kernel's name must lead back to it (a disconnected file shows as "/") */
	if (stat(path, &at) < 0 || at.st_dev != st.st_dev || at.st_ino != st.st_ino)
		return false;
	slash = strrchr(path, '/');
	if (slash == path)
		slash[1] = '\0'; /* in "/" */
	else
		*slash = '\0';
	/* and its directory be on the same filesystem (handles are per filesystem) */
	if (stat(path, &at) < 0 || at.st_dev != st.st_dev)
		return false;
	return fhandle_of(AT_FDCWD, path, 0, &dir) == 0 &&
	       sfilter_check(r->filter, &dir) == SF_OUTSIDE;
}

/*
 * Ask the kernel to drop further writes of this file until the next
 * epoch: its change is on record under its name (and as an object when it
 * has other names), so more events say nothing new.
 */
static void mark_recorded(struct recorder *r, const struct fhandle *obj, int *fd)
{
	if (r->marks.max && r->marks_held >= r->marks.max)
		return;
	if (*fd == -1)
		*fd = open_object(r, obj);
	if (*fd >= 0 && r->marks.add(r->marks.data, *fd) == 0)
		r->marks_held++;
}

int recorder_note_object(struct recorder *r, const struct fhandle *obj, unsigned kinds,
			 unsigned flags)
{
	uint8_t key[PLACE_KEY_MAX];
	uintptr_t *seen;
	unsigned fresh, state;
	size_t klen = place_key_of(key, obj, NULL, 0);
	bool link_count = flags & NOTE_LINK_COUNT;
	int fd = -1, ret = 0;

	if (!klen)
		return -EINVAL;
	ret = lookup(r, key, klen, kinds, &fresh, &seen);
	if (ret < 0 || r->suspended)
		return ret;
	state = (unsigned)*seen;
	if ((flags & NOTE_CREATED) && !(state & OBJECT_APPENDED))
		*seen |= OBJECT_SINGLE;
	if (link_count) {
		*seen &= ~(uintptr_t)OBJECT_SINGLE;
		if (!(state & OBJECT_APPENDED))
			fresh =
			    kinds; /* decided "one name" before: a link-count change overrules */
	}
	if (fresh) {
		/*
		 * Whether it has other names is decided once per epoch: a file
		 * with one name needs nothing more than its (dir, name)
		 * records. A link-count change always records it.
		 */
		bool record = state & OBJECT_APPENDED;

		if (!record && link_count) {
			/*
			 * It had another name when the event happened, whatever
			 * its link count is now; unless it has no name left at
			 * all (the last unlink): then there is nothing to name,
			 * and each name's removal is on record by itself; or its
			 * one name left lies under no scope: no scope has it now,
			 * and a name it had in one is on record as removed.
			 */
			fd = open_object(r, obj);
			record = !has_no_names(fd) && !only_name_outside(r, fd);
		} else if (!record && !(*seen & OBJECT_SINGLE)) {
			fd = open_object(r, obj);
			record = has_other_names(fd);
		}
		if (record) {
			ret = append(r, obj, NULL, 0, fresh);
			if (ret == 0)
				*seen |= OBJECT_APPENDED;
		}
		if (ret == 0)
			*seen |= fresh;
	}
	/*
	 * Its writes are on record under the event's name this epoch: the
	 * kernel may drop the rest. Asked at the second write event, not the
	 * first: a file written once (a new file, whose create, writes and
	 * close the kernel merges into one event) would pay for a mark that
	 * drops nothing.
	 */
	if (ret == 0 && r->marks.add && (kinds & FST_MODIFIED) && (state & FST_MODIFIED) &&
	    (flags & NOTE_NAME_RECORDED) && !(*seen & OBJECT_MARKED)) {
		*seen |= OBJECT_MARKED;
		mark_recorded(r, obj, &fd);
	}
	if (fd >= 0)
		safe_close(fd);
	return ret;
}

int recorder_new_epoch(struct recorder *r)
{
	int ret;

	hashmap_clear(r->recorded);
	/* the kernel must report every write again: they are not on record in this epoch */
	if (!r->marks_held)
		return 0;
	ret = r->marks.flush(r->marks.data);
	if (ret == 0)
		r->marks_held = 0;
	return ret;
}

void recorder_set_marks(struct recorder *r, const struct recorder_marks *m)
{
	r->marks = *m;
}

size_t recorder_marks_held(const struct recorder *r)
{
	return r->marks_held;
}

void recorder_suspend(struct recorder *r, bool on)
{
	r->suspended = on;
}

size_t recorder_entries(const struct recorder *r)
{
	return hashmap_size(r->recorded);
}

size_t recorder_memory(const struct recorder *r)
{
	return hashmap_memory(r->recorded);
}

const struct recorder_stats *recorder_stats(const struct recorder *r)
{
	return &r->stats;
}

static int sink_note(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		     unsigned kinds)
{
	return recorder_note(data, dir, name, namelen, kinds);
}

static int sink_note_object(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	return recorder_note_object(data, obj, kinds, flags);
}

static void sink_dir_created(void *data, const struct fhandle *parent, const struct fhandle *child)
{
	struct recorder *r = data;

	if (r->filter)
		sfilter_inherit(r->filter, parent, child);
}

void recorder_sink(struct recorder *r, struct watcher_sink *ret)
{
	ret->dir_created = sink_dir_created;
	ret->note = sink_note;
	ret->note_object = sink_note_object;
	ret->data = r;
}
