/* SPDX-License-Identifier: MIT */
/*
 * scan: the catch-up scan. Walks one scope's tree in parallel
 * (getdents64 + statx, no content reads, never crossing into another
 * mount) and reports every place whose ctime is at or after a cutoff:
 *
 *  - a non-directory with ctime >= cutoff: (its parent dir's handle, its
 *    name, FST_MODIFIED);
 *  - a directory D with ctime >= cutoff: (D's own handle, ".",
 *    FST_ENTRIES), plus FST_RECURSIVE when D's parent has mtime >= cutoff
 *    (D may have been created, or moved or renamed into its parent while
 *    nobody watched, so its whole subtree has new paths) or when D's own
 *    mtime >= cutoff (a subdirectory of D may have been removed or moved
 *    away, and the old paths below it are covered by nothing else);
 *  - the scope root itself is treated as a directory whose parent is
 *    unknown: ctime >= cutoff gives (root handle, ".", FST_ENTRIES), with
 *    FST_RECURSIVE when its own mtime >= cutoff.
 *
 * The scan runs in its own threads; emit() is called from them (so it must
 * be thread-safe) and the scan writes to done_eventfd (a counter of 1) when
 * it has finished, successfully or not (not when scan_start() fails).
 *
 * Nothing is skipped silently: a directory that cannot be read (EACCES,
 * EIO, ...) is reported as (its handle, ".", FST_ENTRIES | FST_RECURSIVE)
 * and counted in errors; an entry that vanishes while the scan runs is not
 * an error (the live watcher sees its removal). Mount points below the root
 * are neither reported nor entered. A negative return of emit() stops the
 * scan with that result.
 *
 * File descriptors: the scan holds at most max_open_dirs + 2 * threads + 2
 * of them; directories queued beyond that are queued by file handle and
 * reopened with open_by_handle_at() (which needs CAP_DAC_READ_SEARCH).
 */
#ifndef FST_SCAN_H
#define FST_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct file_handle;

typedef int (*scan_emit_fn)(void *userdata, const struct file_handle *dir_handle, const char *name,
			    unsigned kinds);

struct scan_params {
	int root_fd;	    /* O_DIRECTORY fd of the scope root; the scan dups it */
	int64_t cutoff_sec; /* report ctime >= cutoff */
	uint32_t cutoff_nsec;
	unsigned threads;  /* 0: a default from the number of CPUs */
	dev_t exclude_dev; /* skip this one inode (the daemon's state dir) */
	ino_t exclude_ino; /* 0: nothing to skip */
	int done_eventfd;  /* written when finished; -1: nobody to tell */
	scan_emit_fn emit;
	void *userdata;
	unsigned max_open_dirs; /* queued directory fds; 0: from RLIMIT_NOFILE */
	bool prune_recursive;	/* don't walk below a dir reported FST_RECURSIVE */
	unsigned pause_ms;	/* for tests: wait this long before reading (0: none) */
};

struct scan_progress {
	uint64_t dirs;	  /* directories read */
	uint64_t inodes;  /* entries statx'ed */
	uint64_t emitted; /* places reported */
	uint64_t errors;  /* entries or dirs that could not be read (EACCES, EIO) */
	bool done;
	int result; /* 0 or -errno once done */
};

struct scan;

/* Start a scan in the background. */
int scan_start(const struct scan_params *p, struct scan **ret);
void scan_get_progress(const struct scan *s, struct scan_progress *ret);
/* Ask the scan to stop early (it then reports -ECANCELED). */
void scan_cancel(struct scan *s);
/* Wait for the threads and free. Returns the scan's result. NULL is fine. */
int scan_join_free(struct scan *s);

/* The same walk, in the calling thread's process, waiting for the end. */
int scan_run(const struct scan_params *p, struct scan_progress *ret);

#endif
