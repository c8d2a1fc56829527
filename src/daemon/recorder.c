/* SPDX-License-Identifier: MIT */
#include "daemon/recorder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/hashmap.h"
#include "basic/util.h"
#include "daemon/journal.h"
#include "daemon/mounts.h"
#include "daemon/place.h"
#include "daemon/watcher.h"

struct recorder {
	struct journal *journal;
	struct mount_ref *mount;
	struct hashmap *recorded; /* place key -> kinds recorded this epoch */
	size_t max_entries;
	bool suspended;
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
	ret = lookup(r, key, klen, kinds, &fresh, &seen);
	if (ret < 0 || !fresh)
		return ret;
	ret = append(r, dir, name, namelen, fresh);
	if (ret < 0)
		return ret;
	*seen |= fresh;
	return 0;
}

/* Has the object other names now? Unknown (cannot open it) counts as yes. */
static bool has_other_names(struct recorder *r, const struct fhandle *obj)
{
	struct stat st;
	int mfd, fd;
	bool yes;

	if (!r->mount)
		return true;
	mfd = mount_ref_fd(r->mount);
	if (mfd < 0)
		return true;
	fd = fhandle_open(mfd, obj, O_PATH);
	if (fd < 0)
		return !fhandle_err_is_gone(fd); /* gone: its names' deletions are recorded */
	yes = fstat(fd, &st) < 0 || (!S_ISDIR(st.st_mode) && st.st_nlink >= 2);
	safe_close(fd);
	return yes;
}

/* In an object's slot, beside its kinds: its record was written this epoch. */
#define OBJECT_APPENDED 0x100u

int recorder_note_object(struct recorder *r, const struct fhandle *obj, unsigned kinds,
			 bool link_count)
{
	uint8_t key[PLACE_KEY_MAX];
	uintptr_t *seen;
	unsigned fresh;
	size_t klen = place_key_of(key, obj, NULL, 0);
	bool appended;
	int ret;

	if (!klen)
		return -EINVAL;
	ret = lookup(r, key, klen, kinds, &fresh, &seen);
	if (ret < 0 || r->suspended)
		return ret;
	appended = *seen & OBJECT_APPENDED;
	if (link_count && !appended)
		fresh = kinds; /* decided "one name" before: a link-count change overrules */
	if (!fresh)
		return 0;
	/*
	 * Whether it has other names is decided once per epoch: a file with
	 * one name needs nothing more than its (dir, name) records. A
	 * link-count change always records it.
	 */
	if (!appended && !link_count && !has_other_names(r, obj)) {
		*seen |= fresh;
		return 0;
	}
	ret = append(r, obj, NULL, 0, fresh);
	if (ret < 0)
		return ret;
	*seen |= fresh | OBJECT_APPENDED;
	return 0;
}

void recorder_new_epoch(struct recorder *r)
{
	hashmap_clear(r->recorded);
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

static int sink_note_object(void *data, const struct fhandle *obj, unsigned kinds, bool link_count)
{
	return recorder_note_object(data, obj, kinds, link_count);
}

void recorder_sink(struct recorder *r, struct watcher_sink *ret)
{
	ret->note = sink_note;
	ret->note_object = sink_note_object;
	ret->data = r;
}
