/* SPDX-License-Identifier: MIT */
#include "daemon/recorder.h"

#include <assert.h>
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
	/* the watcher's notes not decided yet, oldest first (see "pipeline") */
	struct pending *pipe;
	unsigned pipe_head, pipe_count;
	bool tail_is_place;	  /* the newest pending note is a place's, just queued */
	unsigned objects_pending; /* object notes among them */
	/*
	 * Objects recorded this epoch (their slots in 'recorded' say so too):
	 * small, and consulted for every new file (see "new files").
	 * appended_unknown: an insertion failed, it cannot be trusted.
	 */
	struct hashmap *appended;
	bool appended_unknown;
	/*
	 * The time of the records of the watcher's notes of one read, taken
	 * at its first note: after the read returned, so at or after every
	 * event in it, and before any token that follows them (tokens are
	 * issued between reads). 0 outside a read: a record takes the time
	 * it is made. One clock read per read(2), not one per record.
	 */
	uint64_t read_ns;
};

/*
 * The pipeline. A burst of new files probes this epoch's set (many MiB)
 * at random: one cache miss per note, the largest cost of a new file. The
 * watcher's notes therefore wait in a short queue: each one's key is built
 * and hashed, and its slot prefetched, when it comes; it is decided (looked
 * up, appended) PIPELINE notes later, so that the misses overlap. Notes
 * are decided in the order they came, and all of them at the end of each
 * read (the sink's flush): outside a read none is pending.
 *
 * What a note decides at once stays as it was: the scope filter (it sees
 * directories in the order events made them) and the suspended state.
 */
#define PIPELINE 16

enum { PENDING_PLACE, PENDING_OBJECT };
/* an object's note queued just after its event's place note (beside NOTE_*) */
#define PENDING_AFTER_PLACE (1u << 16)
static_assert(((NOTE_LINK_COUNT | NOTE_CREATED | NOTE_NAME_RECORDED) & PENDING_AFTER_PLACE) == 0 &&
		  (NOTE_LINK_COUNT | NOTE_CREATED | NOTE_NAME_RECORDED) < PENDING_AFTER_PLACE,
	      "the watcher's NOTE_* flags stay below the pipeline's own");

struct pending {
	uint64_t hash;
	uint16_t klen;
	uint8_t what;
	unsigned kinds, flags;
	uint8_t key[PLACE_KEY_MAX];
};

int recorder_new(struct journal *j, struct mount_ref *mount, size_t max_entries,
		 struct recorder **ret)
{
	struct recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->recorded = hashmap_new();
	r->appended = hashmap_new();
	r->pipe = calloc(PIPELINE, sizeof(*r->pipe));
	if (!r->recorded || !r->appended || !r->pipe) {
		hashmap_free(r->recorded);
		hashmap_free(r->appended);
		free(r->pipe);
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
		hashmap_free(r->appended);
		free(r->pipe);
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
	    .time_ns = r->read_ns ? r->read_ns : now_realtime_ns(),
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

/* Forget what this epoch recorded (a new epoch, or the set's bound). */
static void forget_epoch(struct recorder *r)
{
	hashmap_clear(r->recorded);
	hashmap_clear(r->appended);
	r->appended_unknown = false;
}

/*
 * Look the key up in this epoch's set; *ret_new gets the kinds not yet
 * recorded and *ret_slot where to add them once they are.
 */
static int lookup(struct recorder *r, const uint8_t *key, size_t klen, uint64_t hash,
		  unsigned kinds, unsigned *ret_new, uintptr_t **ret_slot)
{
	int added;

	if (hashmap_size(r->recorded) >= r->max_entries)
		forget_epoch(r); /* only an optimization: start over */
	added = hashmap_upsert_hashed(r->recorded, key, klen, hash, ret_slot);
	if (added < 0)
		return added;
	r->stats.notes++;
	*ret_new = kinds & ~(unsigned)**ret_slot;
	if (!*ret_new)
		r->stats.dedups++;
	return 0;
}

/* Decide a place's note (key made by place_key): append what is new. */
static int decide_place(struct recorder *r, const uint8_t *key, size_t klen, uint64_t hash,
			unsigned kinds)
{
	struct place pl;
	uintptr_t *seen;
	unsigned fresh;
	int ret = lookup(r, key, klen, hash, kinds, &fresh, &seen);

	if (ret < 0 || !fresh)
		return ret;
	if (place_decode(key, klen, &pl) < 0)
		return -EINVAL;
	ret = append(r, &pl.handle, pl.name, pl.namelen, fresh);
	if (ret == 0)
		*seen |= fresh;
	return ret;
}

/*
 * What a place's note settles before it is decided: is it dropped (under
 * no scope, or suspended), and does it reset the scope filter? Returns
 * true when it still has to be decided.
 */
static bool place_admit(struct recorder *r, const struct fhandle *dir, unsigned kinds)
{
	bool admit = true;

	if (r->filter && !r->suspended && sfilter_check(r->filter, dir) == SF_OUTSIDE) {
		r->stats.outside++; /* under no scope: no scope can ask about it */
		admit = false;
	} else if (r->suspended) {
		r->stats.dropped++;
		admit = false;
	}
	/* a directory moved: its subtree may have moved into or out of a scope */
	if (r->filter && (kinds & FST_RECURSIVE) && (kinds & (FST_RENAMED_FROM | FST_RENAMED_TO)))
		sfilter_clear(r->filter);
	return admit;
}

static int pipeline_flush(struct recorder *r);

int recorder_note(struct recorder *r, const struct fhandle *dir, const char *name, size_t namelen,
		  unsigned kinds)
{
	uint8_t key[PLACE_KEY_MAX];
	size_t klen;
	int ret = pipeline_flush(r), d; /* in order after the watcher's notes */

	if (namelen == 0) { /* never an object's key: the directory itself */
		name = ".";
		namelen = 1;
	}
	klen = place_key_of(key, dir, name, namelen);
	if (!klen)
		return -EINVAL;
	if (!place_admit(r, dir, kinds))
		return ret;
	d = decide_place(r, key, klen, hash_bytes(key, klen), kinds);
	return d < 0 ? d : ret;
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
/*
 * Created this epoch: one name, until a link-count change (only when a new
 * file's note was taken).
 */
#define OBJECT_SINGLE 0x200u
#define OBJECT_MARKED 0x400u /* an ignore mark was asked for */

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

/*
 * Decide an object's note. obj may be NULL: the handle is then taken from
 * the key, only when the note is fresh or a mark is due.
 */
static int decide_object(struct recorder *r, const uint8_t *key, size_t klen, uint64_t hash,
			 const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	struct place pl;
	uintptr_t *seen;
	unsigned fresh, state;
	bool link_count = flags & NOTE_LINK_COUNT;
	bool mark;
	int fd = -1, ret;

	ret = lookup(r, key, klen, hash, kinds, &fresh, &seen);
	if (ret < 0)
		return ret;
	state = (unsigned)*seen;
	/*
	 * Its writes are on record under the event's name this epoch: the
	 * kernel may drop the rest. Asked at the second write event, not the
	 * first: a file written once (a new file, whose create, writes and
	 * close the kernel merges into one event) would pay for a mark that
	 * drops nothing.
	 */
	mark = r->marks.add && (kinds & FST_MODIFIED) && (state & FST_MODIFIED) &&
	       (flags & NOTE_NAME_RECORDED) && !(state & OBJECT_MARKED);
	if ((flags & NOTE_CREATED) && !(state & OBJECT_APPENDED))
		*seen |= OBJECT_SINGLE;
	if (link_count) {
		*seen &= ~(uintptr_t)OBJECT_SINGLE;
		if (!(state & OBJECT_APPENDED))
			fresh =
			    kinds; /* decided "one name" before: a link-count change overrules */
	}
	if (!obj && (fresh || mark)) {
		if (place_decode(key, klen, &pl) < 0)
			return -EINVAL;
		obj = &pl.handle;
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
			if (ret == 0) {
				uintptr_t *unused;
				*seen |= OBJECT_APPENDED;
				if (!(state & OBJECT_APPENDED) &&
				    hashmap_upsert(r->appended, key, klen, &unused) < 0)
					r->appended_unknown = true;
			}
		}
		if (ret == 0)
			*seen |= fresh;
	}
	if (ret == 0 && mark) {
		*seen |= OBJECT_MARKED;
		mark_recorded(r, obj, &fd);
	}
	if (fd >= 0)
		safe_close(fd);
	return ret;
}

/*
 * New files. A note of a name made for an object (NOTE_CREATED, no change
 * of its link count) records nothing unless the object is on record
 * already this epoch (then the name came from a link): a new file has one
 * name, and its name's note covers it. Such a note is not even looked up:
 * a burst of new files then costs one probe of the set per file, not two,
 * and the set is half the size. What the note would have kept is only a
 * shortcut: a later write of the file this epoch looks at its link count
 * once (open_by_handle_at + fstat), and its ignore mark comes one write
 * event later. It must be known that the object is not on record: no
 * object note is pending (deciding one may record it), and 'appended',
 * the objects recorded this epoch, does not have it. key may be NULL
 * while 'appended' is empty.
 */
static bool new_object_unrecorded(const struct recorder *r, const uint8_t *key, size_t klen,
				  unsigned flags)
{
	if (!(flags & NOTE_CREATED) || (flags & NOTE_LINK_COUNT) || r->objects_pending ||
	    r->appended_unknown)
		return false;
	if (hashmap_size(r->appended) == 0)
		return true;
	return key && !hashmap_get(r->appended, key, klen);
}

int recorder_note_object(struct recorder *r, const struct fhandle *obj, unsigned kinds,
			 unsigned flags)
{
	uint8_t key[PLACE_KEY_MAX];
	size_t klen = place_key_of(key, obj, NULL, 0);
	int ret = pipeline_flush(r), d;

	if (!klen)
		return -EINVAL;
	if (r->suspended) {
		r->stats.dropped++;
		return ret;
	}
	if (new_object_unrecorded(r, key, klen, flags)) {
		r->stats.new_objects++;
		return ret;
	}
	d = decide_object(r, key, klen, hash_bytes(key, klen), obj, kinds, flags);
	return d < 0 ? d : ret;
}

/* ---- the pipeline --------------------------------------------------------- */

/* Decide the oldest pending note. */
static int pipeline_decide_one(struct recorder *r)
{
	struct pending *p = &r->pipe[r->pipe_head];
	int ret;

	if (p->what == PENDING_PLACE) {
		ret = decide_place(r, p->key, p->klen, p->hash, p->kinds);
		/* the same event's object note follows: its name is not on record */
		if (ret < 0 && r->pipe_count > 1) {
			struct pending *next = &r->pipe[(r->pipe_head + 1) % PIPELINE];
			if (next->flags & PENDING_AFTER_PLACE)
				next->flags &= ~(unsigned)NOTE_NAME_RECORDED;
		}
	} else {
		ret = decide_object(r, p->key, p->klen, p->hash, NULL, p->kinds, p->flags);
		r->objects_pending--;
	}
	r->pipe_head = (r->pipe_head + 1) % PIPELINE;
	r->pipe_count--;
	if (!r->pipe_count)
		r->tail_is_place = false;
	return ret;
}

/* Decide every pending note; the first error, or 0. */
static int pipeline_flush(struct recorder *r)
{
	int ret = 0;

	while (r->pipe_count) {
		int d = pipeline_decide_one(r);
		if (d < 0 && ret == 0)
			ret = d;
	}
	return ret;
}

/*
 * A free entry at the pipeline's tail: when it is full, the oldest note
 * is decided first (*ret_err: its error, or 0).
 */
static struct pending *pipeline_push(struct recorder *r, int *ret_err)
{
	if (!r->read_ns)
		r->read_ns = now_realtime_ns();
	*ret_err = r->pipe_count == PIPELINE ? pipeline_decide_one(r) : 0;
	return &r->pipe[(r->pipe_head + r->pipe_count) % PIPELINE];
}

static void pipeline_commit(struct recorder *r, struct pending *p, unsigned what)
{
	p->what = (uint8_t)what;
	p->hash = hash_bytes(p->key, p->klen);
	hashmap_prefetch(r->recorded, p->hash);
	r->pipe_count++;
	if (what == PENDING_OBJECT)
		r->objects_pending++;
	r->tail_is_place = what == PENDING_PLACE;
}

int recorder_new_epoch(struct recorder *r)
{
	int ret;

	if (r->pipe_count) /* cannot be: every read ends with a flush */
		return -EBUSY;
	forget_epoch(r);
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
	return hashmap_memory(r->recorded) + hashmap_memory(r->appended) +
	       PIPELINE * sizeof(struct pending);
}

const struct recorder_stats *recorder_stats(const struct recorder *r)
{
	return &r->stats;
}

static int sink_note(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		     unsigned kinds)
{
	struct recorder *r = data;
	struct pending *p;
	int ret;

	r->tail_is_place = false;
	if (namelen == 0) { /* never an object's key: the directory itself */
		name = ".";
		namelen = 1;
	}
	if (!place_admit(r, dir, kinds))
		return 0;
	p = pipeline_push(r, &ret);
	p->klen = (uint16_t)place_key_of(p->key, dir, name, namelen);
	if (!p->klen)
		return -EINVAL; /* too long: the entry stays free */
	p->kinds = kinds;
	p->flags = 0;
	pipeline_commit(r, p, PENDING_PLACE);
	return ret;
}

static int sink_note_object(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	struct recorder *r = data;
	/*
	 * NOTE_NAME_RECORDED says the watcher's note of the same event's
	 * name, the note just before this one, was taken. When that note is
	 * still pending, deciding it may yet fail, and then takes the flag
	 * back (pipeline_decide_one).
	 */
	bool after_place = r->tail_is_place && (flags & NOTE_NAME_RECORDED);
	struct pending *p;
	int ret;

	r->tail_is_place = false;
	if (r->suspended) {
		r->stats.dropped++;
		return 0;
	}
	if (new_object_unrecorded(r, NULL, 0, flags)) {
		r->stats.new_objects++;
		return 0;
	}
	p = pipeline_push(r, &ret);
	p->klen = (uint16_t)place_key_of(p->key, obj, NULL, 0);
	if (!p->klen)
		return -EINVAL; /* too long: the entry stays free */
	/* rare: objects are on record this epoch; is this one? (the entry stays free if not) */
	if ((flags & NOTE_CREATED) && new_object_unrecorded(r, p->key, p->klen, flags)) {
		r->stats.new_objects++;
		return ret;
	}
	p->kinds = kinds;
	p->flags = flags | (after_place ? PENDING_AFTER_PLACE : 0);
	pipeline_commit(r, p, PENDING_OBJECT);
	return ret;
}

static int sink_flush(void *data)
{
	struct recorder *r = data;
	int ret = pipeline_flush(r);

	r->read_ns = 0; /* the read is over */
	return ret;
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
	ret->flush = sink_flush;
	ret->data = r;
}
