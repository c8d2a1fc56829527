/* SPDX-License-Identifier: MIT */
/*
 * tracker: everything the daemon tracks — the filesystems (fsys.h) and the
 * watched directories on them (scope.h) — and what keeps it going: the
 * group-commit timer, the mount table, the scope list on disk.
 *
 * The protocol server sits above it and hears news from it only through
 * the observer, which the loop calls at the end of a round: never from
 * inside a call the server made.
 */
#ifndef FST_TRACKER_H
#define FST_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct fsys;
struct tracker;

struct tracker_config {
	const char *state_dir;
	unsigned commit_ms;	    /* group commit interval */
	uint64_t max_journal_bytes; /* per filesystem */
	uint64_t segment_bytes;
	unsigned margin_ms;	    /* catch-up scan look-back past the watermark */
	bool unlimited_queue;	    /* FAN_UNLIMITED_QUEUE */
	unsigned long queue_events; /* our groups' queue size (0: the kernel's default) */
	unsigned scan_threads;
	unsigned scan_pause_ms;	 /* for tests: see catchup_config */
	size_t recorder_max;	 /* entries in the "already recorded" set before it is reset */
	unsigned read_delay_ms;	 /* after reading the queue, leave it this long (0: read at once) */
	size_t max_ignore_marks; /* kernel ignore marks an epoch (0: none are used) */
	unsigned vanished_grace_s; /* a scope whose directory is gone this long is dropped */
	unsigned max_age_s;	   /* tokens older than this answer fresh (0: no limit) */
	uint64_t summary_places;   /* places the journal's summary keeps exactly (0: default) */
	bool no_compaction;	   /* past the cap, delete the oldest segments, as before */
	bool no_scope_filter;	   /* record changes under no scope too, as before */
};

struct tracker_observer {
	void *data;
	/* fs has new durable records (streams may send them) */
	void (*committed)(void *data, struct fsys *fs);
	/* a catch-up scan of fs ended: answers waiting for it may go */
	void (*ready)(void *data, struct fsys *fs);
	/* fs is no longer tracked (unmounted, last scope gone); freed after this round */
	void (*detached)(void *data, struct fsys *fs);
};

int tracker_new(const struct tracker_config *cfg, struct loop *loop, struct tracker **ret);
/*
 * Hear the tracker's news (each front end: the socket protocol, Watchman's,
 * git's). At most TRACKER_OBSERVERS_MAX; -ENOSPC past it.
 */
#define TRACKER_OBSERVERS_MAX 8
int tracker_add_observer(struct tracker *t, const struct tracker_observer *obs);
/* Read the scope list of the state dir and attach what is there. */
int tracker_load(struct tracker *t);
/* Look at the mount table again (it changed, or SIGHUP). */
void tracker_recheck_mounts(struct tracker *t);
/*
 * Clean stop: drain, commit and close every journal (a journal whose gap
 * is not scanned yet is not marked clean). Then tracker_free().
 */
void tracker_shutdown(struct tracker *t);
struct tracker *tracker_free(struct tracker *t);

const struct tracker_config *tracker_config(const struct tracker *t);
/* Iterate the attached filesystems: first, then next (NULL at the end). */
struct fsys *tracker_first_fsys(const struct tracker *t);
struct fsys *tracker_next_fsys(const struct fsys *fs);

#endif
