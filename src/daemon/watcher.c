/* SPDX-License-Identifier: MIT */
/*
 * watcher: one fanotify group per filesystem, one FAN_MARK_FILESYSTEM mark,
 * events reported as (directory handle, name). Each event becomes one or
 * two (dir, name, kinds) notes for the recorder. Our own events (pid ==
 * ours) are dropped; a queue overflow opens a gap for the catch-up scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/daemon.h"
#include "fstrack.h"

#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

#define WATCH_MASK                                                                               \
	(FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY |     \
	 FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR)

#define MAX_QUEUED_PATH "/proc/sys/fs/fanotify/max_queued_events"

/*
 * The kernel sizes a group's queue from max_queued_events when the group is
 * created. --queue-events N gives our groups a queue of N events by setting
 * the sysctl for the moment of fanotify_init() and restoring it after:
 * bounded, unlike FAN_UNLIMITED_QUEUE, and other programs keep the default.
 */
static int set_max_queued(unsigned long v, unsigned long *ret_old)
{
	char *text = NULL, buf[32];
	int fd, r;

	if (ret_old) {
		r = read_file(MAX_QUEUED_PATH, &text, NULL);
		if (r < 0)
			return r;
		*ret_old = strtoul(text, NULL, 10);
		free(text);
	}
	fd = open(MAX_QUEUED_PATH, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%lu\n", v);
	r = write_all(fd, buf, strlen(buf));
	safe_close(fd);
	return r;
}

int watcher_open(struct fsys *fs, const char *path, char *errbuf, size_t errlen)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME |
			 FAN_REPORT_FID | FAN_REPORT_TARGET_FID;
	int fd, r;

	if (fs->d->cfg.unlimited_queue)
		flags |= FAN_UNLIMITED_QUEUE;
	unsigned long old_max = 0;
	bool resized = false;

	if (fs->d->cfg.queue_events && !fs->d->cfg.unlimited_queue) {
		r = set_max_queued(fs->d->cfg.queue_events, &old_max);
		if (r < 0)
			log_errno(LOG_LEVEL_WARN, r, "cannot set %s; using the kernel's queue size",
				  MAX_QUEUED_PATH);
		resized = r == 0;
	}
	fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (resized && set_max_queued(old_max, NULL) < 0)
		log_warn("cannot restore %s to %lu", MAX_QUEUED_PATH, old_max);
	if (fd < 0) {
		snprintf(errbuf, errlen,
			 "cannot create a fanotify group: %s (fstrackd needs root, CAP_SYS_ADMIN, "
			 "and Linux 5.17 or later)",
			 strerror(-r));
		return r;
	}
	if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, WATCH_MASK, AT_FDCWD, path) < 0) {
		r = -errno;
		switch (r) {
		case -EXDEV:
			snprintf(errbuf, errlen,
				 "%s is on a btrfs subvolume that fanotify cannot mark with file "
				 "handles (EXDEV); watch a directory of the top subvolume (subvolid=5) "
				 "mounted somewhere instead",
				 path);
			break;
		case -EOPNOTSUPP:
		case -ENODEV:
			snprintf(errbuf, errlen,
				 "the filesystem of %s cannot report file handles to fanotify (%s); "
				 "fstrack cannot track it (overlayfs needs nfs_export=on; FUSE is "
				 "not supported)",
				 path, strerror(-r));
			break;
		default:
			snprintf(errbuf, errlen, "cannot mark the filesystem of %s: %s", path,
				 strerror(-r));
		}
		safe_close(fd);
		return r;
	}
	fs->fan_fd = fd;
	return 0;
}

struct info_name {
	const struct fhandle *h;
	const char *name;
};

/* Copy a kernel file_handle into our fixed-size one. */
static int copy_handle(const struct file_handle *kh, struct fhandle *ret)
{
	if (kh->handle_bytes > HANDLE_MAX)
		return -EINVAL;
	ret->type = kh->handle_type;
	ret->len = (uint16_t)kh->handle_bytes;
	memcpy(ret->bytes, kh->f_handle, kh->handle_bytes);
	return 0;
}

static void note(struct fsys *fs, const struct fhandle *h, const char *name, unsigned kinds)
{
	int r = recorder_note(fs, h, name, strlen(name), kinds);

	if (r < 0)
		log_errno(LOG_LEVEL_WARN, r, "cannot record a change on %s", fs->mount_path);
}

/*
 * Record an inode known only by its handle under the name the kernel has
 * for it now (the dentry was just used, so it is cached and connected).
 * A deleted inode has no name left to report: its deletion is recorded.
 */
static void note_object(struct fsys *fs, const struct fhandle *obj)
{
	char path[PATH_MAX];
	struct fhandle dir;
	char *slash;

	if (fsys_resolve(fs, obj, path, sizeof(path)) < 0)
		return;
	slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return;
	*slash = '\0';
	if (fhandle_of(AT_FDCWD, path[0] ? path : "/", 0, &dir) < 0)
		return;
	note(fs, &dir, slash + 1, FST_ATTRIB);
}

/* m is an aligned copy of the metadata; raw points at the event in the buffer. */
static void handle_event(struct fsys *fs, const struct fanotify_event_metadata *m,
			 const char *raw)
{
	struct fhandle dir, olddir, newdir, obj;
	bool have_obj = false;
	const char *name = NULL, *oldname = NULL, *newname = NULL;
	bool have_dir = false, have_old = false, have_new = false;
	bool ondir = m->mask & FAN_ONDIR;
	unsigned rec = ondir ? FST_RECURSIVE : 0;
	const char *p = raw + m->metadata_len, *end = raw + m->event_len;

	while (p + sizeof(struct fanotify_event_info_header) <= end) {
		const struct fanotify_event_info_header *hdr = (const void *)p;
		const struct fanotify_event_info_fid *fid = (const void *)p;
		const struct file_handle *kh;
		const char *nm;

		if (hdr->len < sizeof(*hdr) || p + hdr->len > end)
			break;
		if (hdr->len < sizeof(*fid) + sizeof(struct file_handle)) {
			p += hdr->len;
			continue;
		}
		kh = (const struct file_handle *)fid->handle;
		nm = (const char *)kh->f_handle + kh->handle_bytes;
		switch (hdr->info_type) {
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
			have_dir = copy_handle(kh, &dir) == 0;
			name = nm;
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
			have_dir = copy_handle(kh, &dir) == 0;
			name = ".";
			break;
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			have_old = copy_handle(kh, &olddir) == 0;
			oldname = nm;
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			have_new = copy_handle(kh, &newdir) == 0;
			newname = nm;
			break;
		case FAN_EVENT_INFO_TYPE_FID:
			have_obj = copy_handle(kh, &obj) == 0;
			break;
		default:
			break;
		}
		p += hdr->len;
	}

	/* a rename changes the moved inode's ctime: its other names too */
	if (have_obj && !ondir && (m->mask & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO)))
		recorder_note_object(fs, &obj, FST_ATTRIB);
	if (m->mask & FAN_RENAME) {
		if (have_old)
			note(fs, &olddir, oldname, FST_RENAMED_FROM | rec);
		if (have_new)
			note(fs, &newdir, newname, FST_RENAMED_TO | rec);
	}
	if (!have_dir) {
		/*
		 * An inode-only event: a link count change (link, unlink,
		 * rename over it) or *_SELF. The name that changed is reported
		 * by its own event, but the inode's other names changed too
		 * (ctime, nlink): name the inode by a path it still has.
		 */
		if (have_obj && (m->mask & FAN_ATTRIB) && !ondir) {
			note_object(fs, &obj);
			recorder_note_object(fs, &obj, FST_ATTRIB);
		}
		return;
	}
	if (m->mask & FAN_MOVED_FROM)
		note(fs, &dir, name, FST_RENAMED_FROM | rec);
	if (m->mask & FAN_MOVED_TO)
		note(fs, &dir, name, FST_RENAMED_TO | rec);
	if (m->mask & FAN_CREATE)
		note(fs, &dir, name, FST_CREATED);
	if (m->mask & FAN_DELETE)
		note(fs, &dir, name, FST_DELETED | rec);
	if (m->mask & (FAN_MODIFY | FAN_CLOSE_WRITE))
		note(fs, &dir, name, FST_MODIFIED);
	if (m->mask & FAN_ATTRIB)
		note(fs, &dir, name, FST_ATTRIB);
	/* the same inode may have names elsewhere: hard links */
	if (have_obj && !ondir && (m->mask & (FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB))) {
		int r = recorder_note_object(
			fs, &obj, (m->mask & FAN_ATTRIB ? FST_ATTRIB : 0) |
				      (m->mask & (FAN_MODIFY | FAN_CLOSE_WRITE) ? FST_MODIFIED : 0));
		if (r < 0)
			log_errno(LOG_LEVEL_WARN, r, "cannot record a change on %s", fs->mount_path);
	}
	/* FAN_DELETE_SELF / FAN_MOVE_SELF of a directory come with its own
	 * handle and "."; the parent's DELETE / RENAME already names it. */
}

int watcher_read(struct fsys *fs)
{
	/* Aligned for the metadata structs we cast to. */
	_Alignas(struct fanotify_event_metadata) char buf[64 * 1024];
	int total = 0;
	uint64_t start = now_realtime_ns();
	bool overflow = false;

	for (;;) {
		ssize_t n = read(fs->fan_fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return log_errno(LOG_LEVEL_ERR, -errno, "cannot read fanotify events of %s",
					 fs->mount_path);
		}
		if (n == 0)
			break;
		/*
		 * Events are 4-byte aligned when they carry names, the metadata
		 * struct wants 8: look at each through an aligned copy.
		 */
		for (size_t off = 0; off + sizeof(struct fanotify_event_metadata) <= (size_t)n;) {
			struct fanotify_event_metadata md;

			memcpy(&md, buf + off, sizeof(md));
			if (md.event_len < sizeof(md) || off + md.event_len > (size_t)n)
				break;
			if (md.vers != FANOTIFY_METADATA_VERSION) {
				log_error("unexpected fanotify metadata version %u", md.vers);
				return -EPROTO;
			}
			total++;
			if (md.fd >= 0)
				close(md.fd);
			if (md.mask & FAN_Q_OVERFLOW) {
				overflow = true;
			} else {
				fs->events_seen++;
				if (md.pid == fs->d->pid)
					fs->events_own++;
				else
					handle_event(fs, &md, buf + off);
			}
			off += md.event_len;
		}
	}
	if (overflow) {
		fs->overflows++;
		/* Events after the last complete drain may be lost. */
		fsys_gap(fs, fs->last_drain_ns, "event queue overflow");
	}
	/* Everything queued before 'start' has now been read. */
	fs->last_drain_ns = start;
	if (journal_dirty(fs->journal) && !fs->d->timer_fast)
		daemon_timer(fs->d, true); /* commit within commit_ms */
	return total;
}
