/* SPDX-License-Identifier: MIT */
#include "daemon/watcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "basic/util.h"
#include "fstrack.h"

#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif
#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

#define WATCH_MASK                                                                                 \
	(FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY |       \
	 FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR)

#define MAX_QUEUED_PATH "/proc/sys/fs/fanotify/max_queued_events"
/* One read takes up to this much: thousands of events per system call. */
#define READ_BUFFER (256 * 1024)

struct watcher {
	int fd;
	pid_t own_pid;
	struct watcher_stats stats;
	void *buf; /* READ_BUFFER bytes, aligned for the metadata struct */
};

/*
 * The kernel sizes a group's queue from max_queued_events when the group is
 * created. queue_events N gives our group a queue of N events by setting
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

static int create_group(const struct watcher_options *o, char *errbuf, size_t errlen)
{
	unsigned flags = WATCHER_INIT_FLAGS;
	unsigned long old_max = 0;
	bool resized = false;
	int fd, r;

	if (o->unlimited_queue)
		flags |= FAN_UNLIMITED_QUEUE;
	else if (o->queue_events) {
		r = set_max_queued(o->queue_events, &old_max);
		resized = r == 0;
		if (r < 0)
			snprintf(errbuf, errlen,
				 "cannot set %s (%s); using the kernel's queue size",
				 MAX_QUEUED_PATH, strerror(-r));
	}
	fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	r = fd < 0 ? -errno : fd;
	if (resized && set_max_queued(old_max, NULL) < 0)
		snprintf(errbuf, errlen, "cannot restore %s to %lu", MAX_QUEUED_PATH, old_max);
	if (r < 0)
		snprintf(errbuf, errlen,
			 "cannot create a fanotify group: %s (fstrackd needs root, CAP_SYS_ADMIN, "
			 "and Linux 5.17 or later)",
			 strerror(-r));
	return r;
}

static void mark_error(int r, const char *path, char *errbuf, size_t errlen)
{
	switch (r) {
	case -EXDEV:
		snprintf(errbuf, errlen,
			 "%s is on a btrfs subvolume that fanotify cannot mark with file handles "
			 "(EXDEV); watch a directory of the top subvolume (subvolid=5) mounted "
			 "somewhere instead",
			 path);
		break;
	case -EOPNOTSUPP:
	case -ENODEV:
		snprintf(
		    errbuf, errlen,
		    "the filesystem of %s cannot report file handles to fanotify (%s); fstrack "
		    "cannot track it (overlayfs needs nfs_export=on; FUSE is not supported)",
		    path, strerror(-r));
		break;
	default:
		snprintf(errbuf, errlen, "cannot mark the filesystem of %s: %s", path,
			 strerror(-r));
	}
}

int watcher_open(const char *path, const struct watcher_options *o, struct watcher **ret,
		 char *errbuf, size_t errlen)
{
	struct watcher *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->own_pid = o->own_pid;
	w->buf = aligned_alloc(_Alignof(struct fanotify_event_metadata), READ_BUFFER);
	if (!w->buf) {
		watcher_free(w);
		return -ENOMEM;
	}
	errbuf[0] = '\0';
	r = create_group(o, errbuf, errlen);
	if (r < 0) {
		watcher_free(w);
		return r;
	}
	w->fd = r;
	if (fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, WATCHER_MASK, AT_FDCWD, path) <
	    0) {
		r = -errno;
		mark_error(r, path, errbuf, errlen);
		watcher_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int watcher_ignore(struct watcher *w, int fd)
{
	char path[64];

	/*
	 * fanotify_mark() takes no O_PATH fd as its object; the fd's
	 * /proc/self/fd link names the same inode and is followed.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fanotify_mark(w->fd, WATCHER_IGNORE_FLAGS, WATCHER_IGNORE_MASK, AT_FDCWD, path) < 0) {
		w->stats.marks_failed++;
		return -errno;
	}
	w->stats.marks_added++;
	w->stats.marks_held++;
	return 0;
}

int watcher_flush_ignores(struct watcher *w)
{
	if (!w->stats.marks_held)
		return 0;
	/* FAN_MARK_FLUSH with no mount or filesystem flag: every inode mark */
	if (fanotify_mark(w->fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) < 0)
		return -errno;
	w->stats.marks_held = 0;
	w->stats.flushes++;
	return 0;
}

struct watcher *watcher_free(struct watcher *w)
{
	if (!w)
		return NULL;
	safe_close(w->fd);
	free(w->buf);
	free(w);
	return NULL;
}

int watcher_fd(const struct watcher *w)
{
	return w->fd;
}

const struct watcher_stats *watcher_stats(const struct watcher *w)
{
	return &w->stats;
}

/* What one event says, its info records taken apart. */
struct event_info {
	struct fhandle dir, olddir, newdir, obj;
	const char *name, *oldname, *newname;
	size_t namelen, oldnamelen, newnamelen;
	bool have_dir, have_old, have_new, have_obj;
};

/* The name after a handle, bounded by the info record's end. */
static const char *info_name(const struct file_handle *kh, size_t handle_bytes, const char *end,
			     size_t *ret_len)
{
	/* handle_bytes from the aligned copy: kh may sit at any offset */
	const char *nm = (const char *)kh->f_handle + handle_bytes;
	const char *nul = nm < end ? memchr(nm, '\0', (size_t)(end - nm)) : NULL;

	*ret_len = nul ? (size_t)(nul - nm) : 0;
	return nul ? nm : NULL;
}

/*
 * The handle of a fid record into h: its bytes straight from the event,
 * by memcpy (kh may sit at any offset; khead is its aligned header).
 */
static bool take_handle(const struct file_handle *khead, const struct file_handle *kh,
			struct fhandle *h)
{
	const uint8_t *bytes = (const uint8_t *)kh + offsetof(struct file_handle, f_handle);

	return fhandle_from_raw(khead->handle_type, bytes, khead->handle_bytes, h) == 0;
}

static void parse_info(const char *p, const char *end, struct event_info *ev)
{
	while (p + sizeof(struct fanotify_event_info_header) <= end) {
		struct fanotify_event_info_header hdr;
		const char *rec_end;
		const struct file_handle *kh;
		struct file_handle khead;
		size_t nlen = 0;
		const char *nm;

		memcpy(&hdr, p, sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > (size_t)(end - p))
			break;
		rec_end = p + hdr.len;
		/* fid records: header, fsid, then a struct file_handle (+ name) */
		if (hdr.len < sizeof(struct fanotify_event_info_fid) + sizeof(struct file_handle)) {
			p = rec_end;
			continue;
		}
		kh = (const void *)(p + sizeof(struct fanotify_event_info_fid));
		memcpy(&khead, kh, sizeof(khead));
		if (khead.handle_bytes > HANDLE_MAX ||
		    (const char *)kh->f_handle + khead.handle_bytes > rec_end) {
			p = rec_end;
			continue;
		}
		switch (hdr.info_type) {
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
			nm = info_name(kh, khead.handle_bytes, rec_end, &nlen);
			if (nm && take_handle(&khead, kh, &ev->dir)) {
				ev->have_dir = true;
				ev->name = nm;
				ev->namelen = nlen;
			}
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
			if (take_handle(&khead, kh, &ev->dir)) {
				ev->have_dir = true;
				ev->name = ".";
				ev->namelen = 1;
			}
			break;
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			nm = info_name(kh, khead.handle_bytes, rec_end, &nlen);
			if (nm && take_handle(&khead, kh, &ev->olddir)) {
				ev->have_old = true;
				ev->oldname = nm;
				ev->oldnamelen = nlen;
			}
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			nm = info_name(kh, khead.handle_bytes, rec_end, &nlen);
			if (nm && take_handle(&khead, kh, &ev->newdir)) {
				ev->have_new = true;
				ev->newname = nm;
				ev->newnamelen = nlen;
			}
			break;
		case FAN_EVENT_INFO_TYPE_FID:
			ev->have_obj = take_handle(&khead, kh, &ev->obj);
			break;
		default:
			break;
		}
		p = rec_end;
	}
}

struct notes {
	const struct watcher_sink *sink;
	struct watcher_stats *stats;
	bool lost; /* a note was refused: its change is not on record */
};

static int note(struct notes *n, const struct fhandle *dir, const char *name, size_t len,
		unsigned kinds)
{
	int r = n->sink->note(n->sink->data, dir, name, len, kinds);

	if (r < 0) {
		n->stats->note_errors++;
		n->stats->last_note_error = r;
		n->lost = true;
	}
	return r;
}

static void note_object(struct notes *n, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	int r = n->sink->note_object(n->sink->data, obj, kinds, flags);

	if (r < 0) {
		n->stats->note_errors++;
		n->stats->last_note_error = r;
		n->lost = true;
	}
}

/* One event into notes. */
static void handle_event(struct notes *n, uint64_t mask, const struct event_info *ev)
{
	bool ondir = mask & FAN_ONDIR;
	unsigned rec = ondir ? FST_RECURSIVE : 0;

	unsigned name_ok = 0, kinds;

	/* a rename changes the moved inode's ctime: its other names too */
	if (ev->have_obj && !ondir && (mask & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO)))
		note_object(n, &ev->obj, FST_ATTRIB, 0);
	if (mask & FAN_RENAME) {
		if (ev->have_old)
			note(n, &ev->olddir, ev->oldname, ev->oldnamelen, FST_RENAMED_FROM | rec);
		if (ev->have_new)
			note(n, &ev->newdir, ev->newname, ev->newnamelen, FST_RENAMED_TO | rec);
	}
	if (!ev->have_dir) {
		/*
		 * An inode-only event: a change of its link count (link,
		 * unlink, rename over it) or *_SELF. The name that changed has
		 * its own event; the inode's other names changed too (ctime,
		 * nlink), whatever its link count is by the time we read this.
		 * With FAN_DELETE_SELF merged in, it has no name left (a link
		 * count of 0 never rises again): each name's removal has its
		 * own event, and there is no other name to find it by, which
		 * is what the recorder would learn by opening it (the last
		 * unlink of every file: one open_by_handle_at saved).
		 */
		if (ev->have_obj && (mask & FAN_ATTRIB) && !(mask & FAN_DELETE_SELF) && !ondir)
			note_object(n, &ev->obj, FST_ATTRIB, NOTE_LINK_COUNT);
		return;
	}
	/* one note for the name, with every kind the (maybe merged) event has */
	kinds = 0;
	if (mask & FAN_MOVED_FROM)
		kinds |= FST_RENAMED_FROM | rec;
	if (mask & FAN_MOVED_TO)
		kinds |= FST_RENAMED_TO | rec;
	if (mask & FAN_CREATE)
		kinds |= FST_CREATED;
	if (mask & FAN_DELETE)
		kinds |= FST_DELETED | rec;
	if (mask & (FAN_MODIFY | FAN_CLOSE_WRITE))
		kinds |= FST_MODIFIED;
	if (mask & FAN_ATTRIB)
		kinds |= FST_ATTRIB;
	if (kinds)
		name_ok = note(n, &ev->dir, ev->name, ev->namelen, kinds) == 0;
	/* a new directory: lies where its parent lies */
	if ((mask & FAN_CREATE) && ev->have_obj && ondir && n->sink->dir_created)
		n->sink->dir_created(n->sink->data, &ev->dir, &ev->obj);
	/*
	 * The inode, once: a new file has one name (unless a link made it);
	 * a changed one may have names elsewhere (hard links).
	 */
	if (ev->have_obj && !ondir &&
	    (mask & (FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB)))
		note_object(n, &ev->obj,
			    (mask & FAN_ATTRIB ? FST_ATTRIB : 0) |
				(mask & (FAN_MODIFY | FAN_CLOSE_WRITE) ? FST_MODIFIED : 0),
			    (mask & FAN_CREATE ? NOTE_CREATED : 0) |
				(name_ok ? NOTE_NAME_RECORDED : 0));
	/* FAN_DELETE_SELF / FAN_MOVE_SELF of a directory come with its own
	 * handle and "."; the parent's DELETE / RENAME already names it. */
}

int watcher_decode(const void *buf, size_t len, pid_t own_pid, const struct watcher_sink *sink,
		   struct watcher_stats *stats, bool *ret_overflow)
{
	struct notes n = {sink, stats, false};
	const char *b = buf;
	int count = 0;

	/*
	 * Events are 4-byte aligned when they carry names, the metadata
	 * struct wants 8: look at each through an aligned copy.
	 */
	for (size_t off = 0; off < len;) {
		struct fanotify_event_metadata md;
		/* not zeroed whole (four handles): a field counts only once its have_* is set */
		struct event_info ev;

		/* what cannot be read is lost: the caller opens a gap */
		if (len - off < sizeof(md)) {
			*ret_overflow = true;
			break;
		}
		memcpy(&md, b + off, sizeof(md));
		if (md.event_len < sizeof(md) || md.event_len > len - off ||
		    md.metadata_len < sizeof(md) || md.metadata_len > md.event_len) {
			stats->malformed++;
			*ret_overflow = true;
			break;
		}
		if (md.vers != FANOTIFY_METADATA_VERSION) {
			*ret_overflow = true;
			count = -EPROTO;
			break;
		}
		count++;
		if (md.fd >= 0)
			close(md.fd);
		if (md.mask & FAN_Q_OVERFLOW) {
			stats->overflows++;
			*ret_overflow = true;
		} else {
			stats->events_seen++;
			if (md.pid == own_pid) {
				stats->events_own++;
			} else {
				ev.have_dir = ev.have_old = ev.have_new = ev.have_obj = false;
				parse_info(b + off + md.metadata_len, b + off + md.event_len, &ev);
				handle_event(&n, md.mask, &ev);
			}
		}
		off += md.event_len;
	}
	if (sink->flush) {
		int r = sink->flush(sink->data);
		if (r < 0) {
			stats->note_errors++;
			stats->last_note_error = r;
			n.lost = true;
		}
	}
	if (n.lost)
		*ret_overflow = true; /* a change the recorder could not keep */
	return count;
}

int watcher_read(struct watcher *w, const struct watcher_sink *sink, bool *ret_overflow)
{
	int total = 0;

	*ret_overflow = false;
	for (;;) {
		ssize_t n = read(w->fd, w->buf, READ_BUFFER);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		w->stats.reads++;
		r = watcher_decode(w->buf, (size_t)n, w->own_pid, sink, &w->stats, ret_overflow);
		if (r < 0)
			return r;
		total += r;
		if ((size_t)n < READ_BUFFER / 2)
			break; /* the queue was (nearly) empty: do not pay an EAGAIN read */
	}
	return total;
}
