/* SPDX-License-Identifier: MIT */
/*
 * catchup: the gap, watermark and scan state machine of one filesystem.
 *
 * The watermark: every change whose ctime is before it has its record in
 * the journal. It advances each time the watcher's queue is read empty
 * (catchup_drained) and is stored with every commit (catchup_commit). A
 * gap (the daemon was down, the queue overflowed, a commit failed) pins it
 * until a catch-up scan has walked every root (scope directory) of the
 * filesystem and recorded what changed since watermark - margin.
 *
 * This is the one place that decides when a scan starts: catchup_gap()
 * and catchup_kick() start one when a gap is pending, no scan runs, and
 * commits work (what a scan finds could not be kept otherwise). When the
 * last scan of a gap ends, catchup tells its owner through the loop
 * (on_ready runs at the end of the round), never by a direct call.
 *
 * The roots are pushed down by the owner (catchup_add_root / _remove_root)
 * as scopes come and go; a root added while the filesystem has history
 * from before it was attached is scanned from the attach watermark.
 */
#ifndef FST_CATCHUP_H
#define FST_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/fhandle.h"
#include "daemon/loop.h"
#include "daemon/scan.h"

struct journal;
struct recorder;
struct mount_ref;

struct catchup_config {
	unsigned margin_ms;	  /* scan look-back past the watermark */
	unsigned scan_threads;	  /* 0: by CPUs */
	unsigned scan_pause_ms;	  /* for tests: each scan waits this long first */
	const char *exclude_path; /* never scanned (the daemon's state dir) */
	const char *name;	  /* for logs: the mount point */
	/*
	 * The journal has history from before this attachment: everything
	 * since history_gap_ns (its durable watermark; 0: none was stored)
	 * must be scanned before answers from that history are exact.
	 */
	bool history;
	uint64_t history_gap_ns;
};

struct catchup_status {
	bool scanning;		       /* a scan runs */
	bool gap_pending;	       /* a gap waits for a scan */
	uint64_t watermark_ns;	       /* what the next commit stores */
	uint64_t fresh_before;	       /* tokens below this seq answer fresh */
	struct scan_progress progress; /* of the current or last round */
	uint64_t last_duration_ns;
	uint64_t scans;		   /* rounds finished */
	int last_commit_error;	   /* 0 once commits work again */
	uint64_t failing_since_ns; /* realtime of the first failed commit of this run */
	uint64_t commit_errors;
};

struct catchup;

/*
 * on_ready(data) is queued on the loop when a scan round ends with no gap
 * left (parked answers may go), and whenever waiting answers should look
 * again (a commit works again after failing).
 */
int catchup_new(const struct catchup_config *cfg, struct loop *loop, struct journal *j,
		struct recorder *rec, struct mount_ref *mount, loop_fn on_ready, void *data,
		struct catchup **ret);
/* Cancels and joins a running scan (its gap stays open in the journal). */
struct catchup *catchup_free(struct catchup *c);

/*
 * A root to scan; owner identifies it for catchup_remove_root. since_seq:
 * the oldest journal position its tokens may name. new_scope: it was
 * watched during this attachment, so none of its tokens is older than
 * the attachment (positions cannot tell: a token issued before a crash
 * may name the very position the journal resumes at). A root that is not
 * new, added after the first scan of the attachment's gap began, gets
 * that gap scanned again; a new one is left out of that gap's scans.
 */
int catchup_add_root(struct catchup *c, const void *owner, const struct fhandle *h,
		     const char *path, uint64_t since_seq, bool new_scope);
void catchup_remove_root(struct catchup *c, const void *owner);

/* The watcher read its queue empty; it began reading at start_ns. */
void catchup_drained(struct catchup *c, uint64_t start_ns);
/* Events since the last complete drain may be lost (overflow). */
void catchup_overflow(struct catchup *c);
/*
 * A gap since since_ns (start-up: the journal's durable watermark). Its
 * scan starts at the end of the round, when every root that arrives in
 * the same round (scopes attached one by one) is known.
 */
void catchup_gap(struct catchup *c, uint64_t since_ns, const char *why);
/* Start the scan of a pending gap now if allowed (the commit timer's tick). */
void catchup_kick(struct catchup *c);

/*
 * Group commit with the watermark. A failure (ENOSPC, EIO) opens a gap
 * from the durable watermark and stops recording (the recorder is
 * suspended: the gap's scan will find every change made meanwhile) until
 * a commit works again; the timer then tries again with a growing back-off.
 */
int catchup_commit(struct catchup *c);
/*
 * Is a commit due? Always, unless commits fail: then once the back-off is
 * over, and (when the state filesystem was full) there is room again.
 */
bool catchup_commit_due(const struct catchup *c, uint64_t now_mono_ns);
/* The error of the last commit while commits fail, else 0. */
int catchup_commit_error(const struct catchup *c);

/* Must answers wait (a gap pending or being scanned)? */
bool catchup_busy(const struct catchup *c);
/* Tokens below this seq cannot be answered exactly (a scan failed). */
uint64_t catchup_fresh_before(const struct catchup *c);
void catchup_get_status(const struct catchup *c, struct catchup_status *ret);

#endif
