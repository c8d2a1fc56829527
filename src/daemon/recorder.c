/* SPDX-License-Identifier: MIT */
/*
 * recorder: "is this (dir handle, name) already recorded, with these kinds,
 * since the last token?" Only new (place, kind) pairs reach the journal, so
 * a file written a million times costs one record per epoch. Issuing a
 * token starts a new epoch (recorder_reset): changes after a token must be
 * on record after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/daemon.h"

#define KEY_MAX (6 + HANDLE_MAX + 256)

static size_t make_key(uint8_t *key, const struct fhandle *dir, const char *name, size_t namelen)
{
	/* type, length, handle, name: unambiguous (the length says where the
	 * handle ends); an empty name keys the handle of a file itself */
	memcpy(key, &dir->type, 4);
	memcpy(key + 4, &dir->len, 2);
	memcpy(key + 6, dir->bytes, dir->len);
	if (namelen)
		memcpy(key + 6 + dir->len, name, namelen);
	return 6 + dir->len + namelen;
}

static int append_event(struct fsys *fs, const struct fhandle *h, const char *name,
			size_t namelen, unsigned kinds)
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
	int r = journal_append(fs->journal, &rec);

	if (r == 0)
		fs->records_written++;
	return r;
}

int recorder_note(struct fsys *fs, const struct fhandle *dir, const char *name, size_t namelen,
		  unsigned kinds)
{
	uint8_t key[KEY_MAX];
	uintptr_t *seen;
	unsigned fresh;
	int added, ret;

	if (namelen > 255 || dir->len > HANDLE_MAX)
		return -EINVAL;
	if (hashmap_size(fs->recorded) >= fs->d->cfg.recorder_max)
		hashmap_clear(fs->recorded); /* only an optimization: start over */
	added = hashmap_upsert(fs->recorded, key, make_key(key, dir, name, namelen), &seen);
	if (added < 0)
		return added;
	fresh = kinds & ~(unsigned)*seen;
	if (!fresh)
		return 0;
	ret = append_event(fs, dir, name, namelen, fresh);
	if (ret < 0)
		return ret;
	*seen |= fresh;
	return 0;
}

/*
 * A file with other names (hard links) changed: keep its own handle too
 * (a record with an empty name), so a query can find its names inside the
 * queried directory when the change was made through a name outside it.
 * Files with a single name need nothing more than their (dir, name).
 */
int recorder_note_object(struct fsys *fs, const struct fhandle *obj, unsigned kinds)
{
	uint8_t key[KEY_MAX];
	uintptr_t *seen;
	unsigned fresh;
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} u;
	struct stat st;
	int fd, mfd, ret;

	ret = hashmap_upsert(fs->recorded, key, make_key(key, obj, "", 0), &seen);
	if (ret < 0)
		return ret;
	fresh = kinds & ~(unsigned)*seen;
	if (!fresh)
		return 0;
	*seen |= fresh;
	mfd = fsys_mount_fd(fs);
	if (mfd < 0)
		return 0;
	u.fh.handle_bytes = obj->len;
	u.fh.handle_type = obj->type;
	memcpy(u.fh.f_handle, obj->bytes, obj->len);
	fd = open_by_handle_at(mfd, &u.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone: its names' deletions are recorded */
	ret = fstat(fd, &st);
	close(fd);
	if (ret < 0 || S_ISDIR(st.st_mode) || st.st_nlink < 2)
		return 0;
	return append_event(fs, obj, NULL, 0, fresh);
}

void recorder_reset(struct fsys *fs)
{
	hashmap_clear(fs->recorded);
}
