/* SPDX-License-Identifier: MIT */
/*
 * The tracker's own structs, shared by tracker.c, scope.c and fsys.c and
 * by nothing else: everyone else goes through tracker.h, scope.h, fsys.h.
 *
 * Who calls whom: tracker.c -> scope.c -> fsys.c -> catchup, watcher,
 * recorder, journal, mounts. Never the other way round: news goes up
 * through the loop (deferred callbacks).
 */
#ifndef FST_FSYS_INTERNAL_H
#define FST_FSYS_INTERNAL_H

#include <limits.h>
#include <sys/types.h>

#include "daemon/fhandle.h"
#include "daemon/fsys.h"
#include "daemon/loop.h"
#include "daemon/mounts.h"
#include "daemon/scope.h"
#include "daemon/tracker.h"

#define FSYS_ID_MAX 96

struct tracker {
	struct tracker_config cfg;
	char *state_dir;
	struct loop *loop;
	struct tracker_observer obs[TRACKER_OBSERVERS_MAX];
	size_t n_obs;
	pid_t pid;
	struct fsys *filesystems; /* attached */
	struct fsys *notify;	  /* with news for the observer (notify_next) */
	struct loop_defer notify_node;
	struct scope *scopes;
	char scopes_path[PATH_MAX];
	struct loop_source *commit_timer;
	struct loop_source *mounts_src;
	int mountinfo_fd;
	bool mounts_retry;	  /* the mount table could not be read: look again */
	struct scope *sweep_next; /* where the sweep for vanished scopes goes on */
	uint64_t last_sweep_ns;
	bool timer_fast;
};

/* News for the observer, delivered at the end of the round. */
enum {
	FSYS_NOTE_COMMITTED = 1 << 0,
	FSYS_NOTE_READY = 1 << 1,
};

struct fsys {
	struct tracker *t;
	struct fsys *next;
	struct fsys *notify_next;
	unsigned notes;
	bool queued;	      /* on t->notify */
	bool detached;	      /* no longer tracked; freed after its news is delivered */
	char id[FSYS_ID_MAX]; /* journal directory name: uuid-... or fsid-... */
	dev_t dev;	      /* st_dev of the mount root (btrfs: of its subvolume) */
	dev_t sb_dev;	      /* the superblock's device, as mountinfo shows it */
	dev_t extra_devs[64]; /* st_devs of btrfs subvolumes seen below */
	size_t n_extra_devs;
	char fstype[32];
	struct mount_ref mount;
	struct loop_defer release_node, free_node;
	struct watcher *watcher;
	struct loop_source *fan_src;
	struct loop_source *read_timer; /* batches reads of the queue */
	struct recorder *recorder;
	struct sfilter *filter; /* is a directory under some scope? */
	struct journal *journal;
	struct catchup *catchup;
	uint64_t idle_commit_ns;     /* when the watermark alone was last committed */
	size_t n_scopes;	     /* active scopes on it */
	struct hashmap *scope_index; /* scope directory's handle -> struct scope * (0: none) */
};

struct scope {
	struct scope *next;
	char path[PATH_MAX]; /* as watched (canonical at the time) */
	char fs_id[FSYS_ID_MAX];
	struct fsys *fs; /* NULL while missing */
	struct fhandle handle;
	char journal_uuid[33];
	uint64_t added_seq;   /* tokens before this do not cover the scope */
	uint64_t added_ns;    /* realtime when added_seq was set (0: unknown, an older list) */
	uid_t owner;	      /* who asked for it first */
	uint64_t vanished_ns; /* monotonic: when its directory was first seen gone (0: not) */
};

/* fsys.c, for scope.c and tracker.c */
struct fsys *fsys_find(struct tracker *t, int dirfd);
/* The tracked filesystem of dirfd, attached now if it is not yet. */
int fsys_attach(struct tracker *t, int dirfd, const char *path, struct fsys **ret, char *err,
		size_t errlen);
/* Stop tracking fs; its news (and its end) reach the observer after the round. */
void fsys_detach(struct fsys *fs, const char *why);
/* 1 mounted, 0 not, < 0 unknown (the mount table could not be read). */
int fsys_check_mounted(struct fsys *fs);
/* The path of h through fs's root mount (fhandle_resolve). */
int fsys_resolve(struct fsys *fs, const struct fhandle *h, char *buf, size_t len);
/* Drain the queue, then commit: a durable position now. */
int fsys_sync(struct fsys *fs);
/* The commit timer's tick; true while fs wants fast ticks. */
bool fsys_tick(struct fsys *fs, uint64_t now_ns);
/* Clean stop of one filesystem (tracker_shutdown). */
void fsys_close_clean(struct fsys *fs);
void fsys_free(struct fsys *fs);

/* scope.c, for tracker.c */
int scopes_load(struct tracker *t);
int scopes_save(struct tracker *t);
/* fs is going: its scopes wait as missing. */
void scopes_fs_gone(struct tracker *t, struct fsys *fs);
/* Attach the missing scopes whose directory is back. */
void scopes_reattach(struct tracker *t);
void scopes_free(struct tracker *t);
/*
 * Look at up to budget active scopes (round robin): one whose directory is
 * gone is noted as vanished; one vanished for longer than grace_ns is
 * dropped. Returns how many were dropped.
 */
size_t scopes_sweep(struct tracker *t, size_t budget, uint64_t grace_ns, uint64_t now_ns);

#endif
