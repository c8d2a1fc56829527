/* SPDX-License-Identifier: MIT */
/*
 * The daemon's shared types. One struct daemon owns everything: the
 * tracked filesystems (struct fsys: one fanotify group, one mark, one
 * journal each), the scopes (watched directories), and the clients.
 * Everything runs in the main thread's epoll loop except catch-up scans,
 * which hand their findings over through fsys->scan_lock.
 */
#ifndef FST_DAEMON_H
#define FST_DAEMON_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/hashmap.h"
#include "daemon/journal.h"
#include "daemon/scan.h"

#define HANDLE_MAX 128

struct json_object;

struct fhandle {
	int32_t type;
	uint16_t len;
	uint8_t bytes[HANDLE_MAX];
};

struct daemon_config {
	const char *state_dir;
	const char *socket_path;
	bool foreground;
	unsigned commit_ms;	 /* group commit interval */
	uint64_t max_journal_bytes;
	uint64_t segment_bytes;
	unsigned margin_ms;	 /* catch-up scan looks back this far past the watermark */
	bool unlimited_queue;	 /* FAN_UNLIMITED_QUEUE */
	unsigned long queue_events; /* our groups' queue size (0: the kernel's default) */
	unsigned scan_threads;
	unsigned query_wait_ms;	 /* default wait for a running catch-up scan */
	size_t recorder_max;	 /* entries in the "already recorded" set before it is reset */
	size_t stream_buffer_max; /* bytes a subscriber may lag before it gets "gap" */
};

/* epoll user data: what woke us */
enum ev_kind { EV_LISTEN = 1, EV_CLIENT, EV_FANOTIFY, EV_SCAN, EV_TIMER, EV_SIGNAL, EV_MOUNTS };
struct ev_tag {
	enum ev_kind kind;
	void *ptr;
};

/* One place the scan found, waiting to be appended by the main thread. */
struct scan_find {
	struct fhandle dir;
	uint8_t kinds;
	char name[256];
};

struct fsys {
	struct daemon *d;
	struct fsys *next;
	char id[96];		 /* journal directory name: uuid-... or fsid-... */
	dev_t dev;		 /* st_dev of its files (btrfs: of the subvolume) */
	dev_t sb_dev;		 /* the superblock's device, as mountinfo shows it */
	dev_t extra_devs[64];	 /* st_devs of btrfs subvolumes seen below */
	size_t n_extra_devs;
	char fstype[32];
	char mount_path[PATH_MAX]; /* where the filesystem's root is mounted */
	int mount_fd;		 /* fsys_mount_fd(): open_by_handle_at base, -1 between rounds */
	int fan_fd;
	struct journal *journal;
	struct hashmap *recorded; /* (handle, name) -> kinds recorded this epoch */

	/* counters for status */
	uint64_t events_seen, events_own, records_written, overflows, commit_errors;
	int last_commit_error;

	/*
	 * The watermark: every change whose ctime is before it has its record
	 * appended. last_drain_ns advances each time the queue is read empty;
	 * a gap (start, overflow) pins the watermark until its scan is done.
	 */
	uint64_t last_drain_ns;
	bool gap_pending;	 /* a gap no scan has started for yet */
	uint64_t pending_gap_ns;
	bool scanning;		 /* a scan for scanning_gap_ns runs */
	uint64_t scanning_gap_ns;
	uint64_t fresh_before_seq; /* tokens below this answer fresh (failed scan) */
	uint64_t idle_commit_ns;  /* when the watermark alone was last committed */
	uint64_t last_scan_ns, last_scan_duration_ns, last_scan_inodes;

	struct ev_tag fan_tag, scan_tag;

	/* the running catch-up scan */
	struct scan *scan;
	int scan_efd;
	struct scope **scan_roots; /* scopes still to scan in this round */
	size_t n_scan_roots;
	pthread_mutex_t scan_lock;
	struct scan_find *finds;
	size_t n_finds, cap_finds;
	int scan_error;
	struct scan_progress scan_done_total;
};

enum scope_state { SCOPE_ACTIVE, SCOPE_MISSING };

struct scope {
	struct scope *next;
	char path[PATH_MAX];	/* as watched (canonical at the time) */
	char fs_id[96];
	struct fsys *fs;	/* NULL while missing */
	struct fhandle handle;	/* of the scope directory */
	char journal_uuid[33];
	uint64_t added_seq;	/* tokens before this do not cover the scope */
	enum scope_state state;
};

struct client;

struct daemon {
	struct daemon_config cfg;
	int epfd;
	int listen_fd;
	int timer_fd;
	int signal_fd;
	int mountinfo_fd;
	pid_t pid;
	uint64_t start_ns;
	bool quit;
	bool timer_fast, timer_armed;
	struct fsys *filesystems;
	struct scope *scopes;
	struct client *clients;
	struct client *dead_clients; /* closed this round, freed by server_reap() */
	char scopes_path[PATH_MAX];
};

/* fsys.c: filesystems and scopes */
int fhandle_of(int dirfd, const char *name, int flags, struct fhandle *ret);
bool fhandle_eq(const struct fhandle *a, const struct fhandle *b);
struct fsys *fsys_find(struct daemon *d, int dirfd);
int fsys_for_dir(struct daemon *d, int dirfd, const char *path, struct fsys **ret,
		 char *errbuf, size_t errlen);
struct fsys *fsys_free(struct fsys *fs);
int fsys_token(struct fsys *fs, char *buf /* TOKEN_MAX */);
int fsys_commit(struct fsys *fs);
void fsys_new_epoch(struct fsys *fs);
int fsys_drain(struct fsys *fs);
bool fsys_scan_busy(const struct fsys *fs);
void fsys_gap(struct fsys *fs, uint64_t since_ns, const char *why);
/* Start the scan of a pending gap unless one runs. */
void fsys_kick(struct fsys *fs);
void fsys_scan_finished(struct fsys *fs);
uint64_t fsys_watermark(const struct fsys *fs);
int fsys_mount_fd(struct fsys *fs);
void fsys_release_mount(struct fsys *fs);
int fsys_resolve(struct fsys *fs, const struct fhandle *h, char *buf, size_t len);
int scope_add(struct daemon *d, const char *path, char *errbuf, size_t errlen,
	      struct scope **ret);
int scope_remove(struct daemon *d, struct scope *s);
int scopes_save(struct daemon *d);
int scopes_load(struct daemon *d);
struct scope *scope_find_for(struct daemon *d, struct fsys *fs, const char *canon_path,
			     bool exact);
void daemon_recheck_mounts(struct daemon *d);
int daemon_timer(struct daemon *d, bool fast);
int daemon_epoll_add(struct daemon *d, int fd, uint32_t events, struct ev_tag *tag);
void daemon_epoll_del(struct daemon *d, int fd);

/* watcher.c: fanotify groups and event parsing */
int watcher_open(struct fsys *fs, const char *path, char *errbuf, size_t errlen);
/* Read every queued event; returns count read or -errno. */
int watcher_read(struct fsys *fs);

/* recorder.c: "already recorded this epoch?" then journal */
int recorder_note(struct fsys *fs, const struct fhandle *dir, const char *name, size_t namelen,
		  unsigned kinds);
int recorder_note_object(struct fsys *fs, const struct fhandle *obj, unsigned kinds);
void recorder_reset(struct fsys *fs);

/* query.c */
struct change_set;
struct query_opts {
	uid_t uid; /* caller; 0 sees everything */
	gid_t gid;
	pid_t pid;
};
/* Distinct changes recorded at seq >= from, under canon_dir, relative. */
int query_changes(struct fsys *fs, uint64_t from, const char *canon_dir,
		  const struct query_opts *o, struct change_set **ret);
struct change_set *change_set_free(struct change_set *cs);
size_t change_set_count(const struct change_set *cs);
void change_set_get(const struct change_set *cs, size_t i, const char **ret_path,
		    unsigned *ret_kinds);
uint64_t change_set_end_seq(const struct change_set *cs);
/* Canonical path of an open dir, as seen through fs's mount. */
int query_canonical_dir(struct fsys *fs, int dirfd, char *buf, size_t len);

/* perm.c: can the caller list this directory and reach it? */
struct perm_cache;
struct perm_cache *perm_cache_new(uid_t uid, gid_t gid, pid_t pid);
struct perm_cache *perm_cache_free(struct perm_cache *pc);
bool perm_can_list(struct perm_cache *pc, const char *dir);
bool perm_can_reach(struct perm_cache *pc, const char *path);

/* server.c */
int server_open(struct daemon *d);
void server_accept(struct daemon *d);
void server_client_event(struct daemon *d, struct client *c, uint32_t events);
void server_after_commit(struct daemon *d, struct fsys *fs);
void server_tick(struct daemon *d);
void server_fs_ready(struct daemon *d, struct fsys *fs);
void server_close_all(struct daemon *d);
void server_reap(struct daemon *d);
/* Does a client wait for something (a parked query, a stream)? */
bool server_busy(struct daemon *d);

#endif
