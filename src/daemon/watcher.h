/* SPDX-License-Identifier: MIT */
/*
 * watcher: one fanotify group per filesystem with one FAN_MARK_FILESYSTEM
 * mark, events reported as (directory handle, name) plus the object's own
 * handle (FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_REPORT_TARGET_FID).
 *
 * watcher_read() drains the group's queue and hands every event on as
 * notes to a sink (the recorder): (dir handle, name, kinds) for a name
 * that changed, (object handle, kinds) for an inode whose other names may
 * have changed too (hard links, link count). Events of the daemon's own
 * pid are counted and dropped. A queue overflow is reported to the caller,
 * which opens a gap; the watcher itself calls nothing but the sink.
 *
 * watcher_decode() is the pure part: a buffer as read(2) returned it, in,
 * notes out. Unit tests feed it hand-made events.
 */
#ifndef FST_WATCHER_H
#define FST_WATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/fhandle.h"

/*
 * The group's flags and the filesystem mark's events (bench/fanotify-floor
 * measures the kernel's floor with the very same). The fanotify macros
 * come from <sys/fanotify.h>, included by who uses these.
 */
#define WATCHER_INIT_FLAGS                                                                         \
	(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID |    \
	 FAN_REPORT_TARGET_FID)
#define WATCHER_MASK                                                                               \
	(FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY |       \
	 FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR)
/* An ignore mark of a file whose writes are on record. */
#define WATCHER_IGNORE_FLAGS                                                                       \
	(FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY | FAN_MARK_EVICTABLE)
#define WATCHER_IGNORE_MASK (FAN_MODIFY | FAN_CLOSE_WRITE)

struct watcher_sink {
	/* a name in a directory changed; name "." is the directory itself */
	int (*note)(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		    unsigned kinds);
	/*
	 * An inode changed (kinds) that may have names elsewhere, or an
	 * inode the sink may want to know of (kinds 0); flags NOTE_*.
	 */
	int (*note_object)(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags);
	void *data;
	/* optional: a directory child was just created in parent */
	void (*dir_created)(void *data, const struct fhandle *parent, const struct fhandle *child);
	/*
	 * optional: called at the end of every buffer decoded. A sink may
	 * hold notes until then (note and note_object returning 0 for them);
	 * flush decides them, and a negative errno says one was lost.
	 */
	int (*flush)(void *data);
};

/* What an object note says beside its kinds. */
enum {
	/*
	 * The event was a change of its link count (link, unlink, rename
	 * over it): whatever its link count is when the note is taken, it
	 * had another name when the event happened.
	 */
	NOTE_LINK_COUNT = 1 << 0,
	/* The event created a name for it (one name, unless a link made it). */
	NOTE_CREATED = 1 << 1,
	/*
	 * The same event's (dir, name) note, the note just before, was taken:
	 * the name is on record. A sink that holds notes (see flush) takes
	 * the flag back if deciding that note fails.
	 */
	NOTE_NAME_RECORDED = 1 << 2,
};

struct watcher_stats {
	uint64_t reads;	      /* read(2) calls that returned events */
	uint64_t events_seen; /* events read, overflow markers excluded */
	uint64_t events_own;  /* of those, the daemon's own (dropped) */
	uint64_t overflows;   /* FAN_Q_OVERFLOW markers */
	uint64_t note_errors; /* notes the sink refused */
	uint64_t malformed;   /* events that could not be taken apart */
	int last_note_error;
	/* ignore marks: "already recorded in this epoch", told to the kernel */
	uint64_t marks_added;
	uint64_t marks_failed;
	uint64_t marks_held; /* added since the last flush */
	uint64_t flushes;
};

struct watcher_options {
	pid_t own_pid;		    /* events of this pid are dropped */
	bool unlimited_queue;	    /* FAN_UNLIMITED_QUEUE */
	unsigned long queue_events; /* a bounded queue of N events (0: the kernel's) */
};

struct watcher;

/* Create the group and mark the filesystem of path; errbuf says why not. */
int watcher_open(const char *path, const struct watcher_options *o, struct watcher **ret,
		 char *errbuf, size_t errlen);
struct watcher *watcher_free(struct watcher *w);
int watcher_fd(const struct watcher *w);
const struct watcher_stats *watcher_stats(const struct watcher *w);

/*
 * Read every queued event. *ret_overflow is set when events may be lost:
 * the kernel dropped some (FAN_Q_OVERFLOW), an event could not be taken
 * apart, or the sink refused a note; the caller opens a gap since the
 * last complete drain. Returns the number of events read or a negative
 * errno (after which events may be lost too).
 */
int watcher_read(struct watcher *w, const struct watcher_sink *sink, bool *ret_overflow);

/*
 * The kernel-side "already recorded" filter (the seed's cheap "is change
 * recorded" test): an evictable inode ignore mark that drops FAN_MODIFY
 * and FAN_CLOSE_WRITE of one file before an event is even made. fd refers
 * to the file (O_PATH is fine). An evicted mark only means more events.
 * watcher_flush_ignores() removes every inode mark of the group: before a
 * token is handed out, so every write after it makes an event again.
 */
int watcher_ignore(struct watcher *w, int fd);
int watcher_flush_ignores(struct watcher *w);

/*
 * Decode one read(2) buffer; updates stats; sets *ret_overflow as
 * watcher_read() says (never clears it). Returns the events taken apart
 * (overflow markers and the daemon's own included). -EPROTO on an unknown
 * metadata version.
 */
int watcher_decode(const void *buf, size_t len, pid_t own_pid, const struct watcher_sink *sink,
		   struct watcher_stats *stats, bool *ret_overflow);

#endif
