/* SPDX-License-Identifier: MIT */
/*
 * fsys: the life of one tracked filesystem, from attach to detach.
 *
 * A filesystem is found by the st_dev of a directory on it. It gets an
 * identity (the filesystem UUID when the kernel gives one, else its fsid)
 * that names its journal directory under the state dir, and the handle of
 * its mount root recorded there: a different instance of "the same"
 * filesystem (a tmpfs made anew) has another root handle, and its stale
 * journal is discarded, so old tokens answer fresh instead of trusting
 * handles blindly.
 *
 * The loop calls fsys when its fanotify group has events; the catch-up
 * machinery (catchup.c) is told of drains and overflows. News for the
 * server (commits, scans done, the end of a filesystem) is queued and
 * delivered by the loop at the end of the round (deliver()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/fs.h>

#include "basic/hashmap.h"
#include "basic/log.h"
#include "basic/util.h"
#include "daemon/fsys-internal.h"
#include "daemon/perm.h"
#include "daemon/scopefilter.h"

#ifndef FS_IOC_GETFSUUID
struct fsuuid2 {
	__u8 len;
	__u8 uuid[16];
};
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fsuuid2)
#endif

#define IDLE_WATERMARK_NS (30ull * 1000000000ull)
/* events in one drain past which the queue is read again without delay */
#define READ_BUSY_EVENTS 4096
/* directories the scope filter resolves after each read of the queue, at most */
#define FILTER_BATCH 512

/* ---- news for the observer ---------------------------------------------- */

static void free_deferred(void *data)
{
	fsys_free(data);
}

static void deliver(void *data)
{
	struct tracker *t = data;
	struct fsys *list = t->notify;

	t->notify = NULL; /* news queued while delivering waits for the next pass */
	while (list) {
		struct fsys *fs = list;
		unsigned notes = fs->notes;

		list = fs->notify_next;
		fs->notes = 0;
		fs->queued = false;
		for (size_t i = 0; i < t->n_obs; i++) {
			const struct tracker_observer *o = &t->obs[i];
			if (fs->detached) {
				if (o->detached)
					o->detached(o->data, fs);
				continue;
			}
			if ((notes & FSYS_NOTE_COMMITTED) && o->committed)
				o->committed(o->data, fs);
			if ((notes & FSYS_NOTE_READY) && o->ready)
				o->ready(o->data, fs);
		}
		if (fs->detached)
			loop_defer_free(t->loop, &fs->free_node, free_deferred, fs);
	}
}

static void notify(struct fsys *fs, unsigned note)
{
	struct tracker *t = fs->t;

	fs->notes |= note;
	if (!fs->queued) {
		fs->queued = true;
		fs->notify_next = t->notify;
		t->notify = fs;
	}
	loop_defer(t->loop, &t->notify_node, deliver, t);
}

static void on_ready(void *data)
{
	notify(data, FSYS_NOTE_READY);
}

/* ---- the mount fd ------------------------------------------------------ */

static void release_mount(void *data)
{
	struct fsys *fs = data;

	mount_ref_release(&fs->mount);
}

/* Hold no mount busy between rounds: whoever may open it queues this. */
static void release_after_round(struct fsys *fs)
{
	loop_defer(fs->t->loop, &fs->release_node, release_mount, fs);
}

int fsys_resolve(struct fsys *fs, const struct fhandle *h, char *buf, size_t len)
{
	int mfd = fs->detached ? -ENODEV : mount_ref_fd(&fs->mount);

	release_after_round(fs);
	return mfd < 0 ? mfd : fhandle_resolve(mfd, h, buf, len);
}

static int resolver_path(void *data, const struct fhandle *h, char *buf, size_t len)
{
	return fsys_resolve(data, h, buf, len);
}

static int resolver_open(void *data, const struct fhandle *h, int flags)
{
	struct fsys *fs = data;
	int mfd = fs->detached ? -ENODEV : mount_ref_fd(&fs->mount);

	release_after_round(fs);
	return mfd < 0 ? mfd : fhandle_open(mfd, h, flags);
}

/* ---- events ------------------------------------------------------------- */

static int drain(struct fsys *fs)
{
	struct watcher_sink sink;
	uint64_t start = now_realtime_ns();
	bool overflow = false;
	int r;

	recorder_sink(fs->recorder, &sink);
	r = watcher_read(fs->watcher, &sink, &overflow);
	/* directories seen for the first time: inside a scope or not, in a batch */
	sfilter_resolve(fs->filter, FILTER_BATCH);
	release_after_round(fs); /* the recorder and the filter may have opened it */
	if (overflow || r < 0) {
		catchup_overflow(fs->catchup); /* events may be lost: a gap */
		/* a lost event may be a directory's rename into a scope */
		sfilter_clear(fs->filter);
	}
	if (r < 0) {
		log_ratelimited(LOG_LEVEL_ERR, "cannot read fanotify events of %s: %s",
				fs->mount.path, strerror(-r));
		return r;
	}
	/* Everything queued before 'start' has now been read. */
	catchup_drained(fs->catchup, start);
	return r;
}

static void set_fast_ticks(struct tracker *t)
{
	if (!t->timer_fast) {
		t->timer_fast = true;
		loop_timer_set(t->commit_timer, t->cfg.commit_ms);
	}
}

/*
 * The queue is read in batches: after a read the fd is left alone for
 * read_delay_ms, so a burst costs one wake-up per batch instead of one
 * per few events (and the kernel merges repeats of an unread event).
 * Answers drain the queue themselves, so this delays nothing they say.
 *
 * The fd is polled one-shot. epoll always keeps EPOLLERR|EPOLLHUP in an
 * fd's mask, and fanotify wakes its readers with no poll mask, so an fd
 * merely modified to "no EPOLLIN" still woke epoll_wait once per queued
 * event (a context switch per write, found by counting them). Only the
 * state one-shot leaves after it fires is not woken at all.
 */
#define FAN_POLL (EPOLLIN | EPOLLONESHOT)

static void arm_events(struct fsys *fs)
{
	unsigned ms = fs->t->cfg.read_delay_ms;

	if (loop_mod_fd(fs->fan_src, FAN_POLL) == 0)
		return;
	/* cannot happen on a live fd; if it does, read on the timer, never stall */
	drain(fs);
	loop_timer_set(fs->read_timer, ms ? ms : 1);
}

static void on_events(void *data, uint32_t events)
{
	struct fsys *fs = data;
	int n = drain(fs);

	if (journal_dirty(fs->journal))
		set_fast_ticks(fs->t); /* commit within commit_ms */
	/* a queue that filled this much may overflow while left alone: read on */
	if (n >= READ_BUSY_EVENTS || !fs->t->cfg.read_delay_ms)
		arm_events(fs);
	else
		loop_timer_set(fs->read_timer, fs->t->cfg.read_delay_ms);
}

static void on_read_timer(void *data)
{
	struct fsys *fs = data;

	loop_timer_set(fs->read_timer, 0);
	arm_events(fs);
}

static int mark_add(void *data, int fd)
{
	return watcher_ignore(data, fd);
}

static int mark_flush(void *data)
{
	return watcher_flush_ignores(data);
}

/* ---- tokens and answers ------------------------------------------------ */

int fsys_sync(struct fsys *fs)
{
	int r = drain(fs);

	if (r < 0)
		return r;
	r = 0;
	/* commits fail and the next try is not due: say so at once, try nothing */
	if (catchup_commit_error(fs->catchup) &&
	    !catchup_commit_due(fs->catchup, now_monotonic_ns()))
		return catchup_commit_error(fs->catchup);
	/* The position must be durable; skip the fdatasync when it is. */
	if (journal_dirty(fs->journal) ||
	    journal_durable_seq(fs->journal) != journal_next_seq(fs->journal)) {
		r = catchup_commit(fs->catchup);
		if (r == 0)
			notify(fs, FSYS_NOTE_COMMITTED);
	}
	return r;
}

/*
 * Never past what is durable: after a crash the seqs beyond it are given to
 * other records, and a token among them would answer exact without those.
 * (A change set may end past it, with records still in the buffer: its
 * token then gives them again, which repeats and never misses.)
 */
void fsys_format_token(const struct fsys *fs, uint64_t seq, char buf[static TOKEN_MAX])
{
	uint64_t durable = journal_durable_seq(fs->journal);
	struct token tk = {.seq = seq < durable ? seq : durable};

	memcpy(tk.uuid, journal_uuid(fs->journal), 16);
	token_format(&tk, buf);
}

int fsys_token(struct fsys *fs, char buf[static TOKEN_MAX])
{
	int r = fsys_sync(fs);

	if (r < 0)
		return r;
	/* the kernel's "already recorded" marks go first: else the token is not given */
	r = recorder_new_epoch(fs->recorder);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot remove the ignore marks of %s",
				 fs->mount.path);
	fsys_format_token(fs, journal_next_seq(fs->journal), buf);
	return 0;
}

bool fsys_busy(const struct fsys *fs)
{
	return catchup_busy(fs->catchup);
}

int fsys_query(struct fsys *fs, uint64_t from, const char *canon_dir, struct perm_cache *pc,
	       struct change_set **ret)
{
	struct resolver res = {resolver_path, resolver_open, fs};

	return query_changes(fs->journal, &res, from, canon_dir, pc, ret, NULL);
}

uint64_t fsys_durable_seq(const struct fsys *fs)
{
	return journal_durable_seq(fs->journal);
}

int fsys_new_epoch(struct fsys *fs)
{
	return recorder_new_epoch(fs->recorder);
}

const char *fsys_mount_path(const struct fsys *fs)
{
	return fs->mount.path;
}

static bool cs_failing(const struct fsys *fs)
{
	struct catchup_status cs;

	catchup_get_status(fs->catchup, &cs);
	return cs.last_commit_error != 0;
}

bool fsys_tick(struct fsys *fs, uint64_t now_ns)
{
	bool idle_due = now_ns - fs->idle_commit_ns >= IDLE_WATERMARK_NS;
	struct catchup_status cs;
	bool dirty = journal_dirty(fs->journal);

	catchup_kick(fs->catchup);
	if ((dirty || idle_due || cs_failing(fs)) && catchup_commit_due(fs->catchup, now_ns)) {
		fs->idle_commit_ns = now_ns;
		if (catchup_commit(fs->catchup) == 0 && dirty)
			notify(fs, FSYS_NOTE_COMMITTED);
	}
	catchup_get_status(fs->catchup, &cs);
	return dirty || cs.scanning || cs.gap_pending || cs.last_commit_error;
}

void fsys_get_status(const struct fsys *fs, struct fsys_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = fs->id;
	ret->mount = fs->mount.path;
	ret->fstype = fs->fstype;
	journal_uuid_hex(fs->journal, ret->journal_uuid);
	journal_get_stats(fs->journal, &ret->journal);
	ret->watcher = *watcher_stats(fs->watcher);
	ret->recorder = *recorder_stats(fs->recorder);
	ret->recorder_entries = recorder_entries(fs->recorder);
	sfilter_get_stats(fs->filter, &ret->filter);
	catchup_get_status(fs->catchup, &ret->catchup);
	ret->scopes = fs->n_scopes;
	ret->scope_index_entries = hashmap_size(fs->scope_index);
}

void fsys_bytes_by_age(const struct fsys *fs, uint64_t now_ns, uint64_t ret[FSYS_AGE_BUCKETS])
{
	static const uint64_t limits_s[FSYS_AGE_BUCKETS - 1] = {3600, 86400, 7 * 86400, 30 * 86400};
	struct journal_segment_info si;
	struct journal_summary_info sum;

	memset(ret, 0, FSYS_AGE_BUCKETS * sizeof(*ret));
	for (size_t i = 0; journal_get_segment(fs->journal, i, &si) == 0; i++) {
		uint64_t age_s = si.last_time_ns && si.last_time_ns < now_ns
				     ? (now_ns - si.last_time_ns) / 1000000000ull
				     : 0;
		size_t b = 0;

		while (b < FSYS_AGE_BUCKETS - 1 && age_s >= limits_s[b])
			b++;
		ret[b] += si.bytes;
	}
	journal_get_summary(fs->journal, &sum);
	if (sum.valid)
		ret[FSYS_AGE_BUCKETS - 1] += sum.bytes; /* the oldest history, folded */
}

/*
 * The time of a position: the scope's own start when it is that (no token
 * of the scope is older), else the journal's bound (as fine as a segment or
 * a summary checkpoint: the time of a record at or after it).
 */
static uint64_t horizon_time(const struct fsys *fs, uint64_t seq, uint64_t added_seq,
			     uint64_t added_ns)
{
	uint64_t t;

	if (seq == added_seq && added_ns)
		return added_ns;
	return journal_seq_time(fs->journal, seq, &t) < 0 ? 0 : t;
}

void fsys_horizon(const struct fsys *fs, uint64_t added_seq, uint64_t added_ns,
		  struct fsys_horizon *ret)
{
	struct journal_stats js;
	uint64_t floor = catchup_fresh_before(fs->catchup);

	journal_get_stats(fs->journal, &js);
	if (floor < added_seq)
		floor = added_seq;
	ret->exact_seq = js.summary_to_seq > floor ? js.summary_to_seq : floor;
	ret->widened_seq = js.summary_from_seq > floor ? js.summary_from_seq : floor;
	ret->exact_time_ns = horizon_time(fs, ret->exact_seq, added_seq, added_ns);
	ret->widened_time_ns = horizon_time(fs, ret->widened_seq, added_seq, added_ns);
}

/* ---- identity and journal ------------------------------------------------ */

static void fs_identity(int fd, char *ret, size_t len)
{
	struct fsuuid2 u = {.len = 16};
	struct statfs sf;
	bool nonzero = false;

	if (ioctl(fd, FS_IOC_GETFSUUID, &u) == 0 && u.len == 16) {
		for (int i = 0; i < 16; i++)
			nonzero |= u.uuid[i] != 0;
	}
	if (nonzero) {
		char hex[33];
		hex_encode(u.uuid, 16, hex);
		snprintf(ret, len, "uuid-%s", hex);
	} else if (fstatfs(fd, &sf) == 0) {
		uint32_t v[2];
		memcpy(v, &sf.f_fsid, sizeof(v));
		snprintf(ret, len, "fsid-%08x%08x", v[0], v[1]);
	} else {
		snprintf(ret, len, "unknown");
	}
}

static int remove_dir_contents(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (unlinkat(dirfd(dp), de->d_name, 0) < 0 && r == 0)
			r = -errno;
	}
	closedir(dp);
	return r;
}

/*
 * Compaction drops a place whose handle is stale: the query would skip it
 * anyway (its deletion is on record). Unknown counts as not gone.
 */
static bool journal_handle_gone(void *data, int32_t type, const uint8_t *handle, uint16_t len)
{
	struct fhandle h;
	int fd;

	if (fhandle_from_raw(type, handle, len, &h) < 0)
		return false;
	fd = resolver_open(data, &h, O_PATH);
	if (fd >= 0) {
		safe_close(fd);
		return false;
	}
	return fhandle_err_is_gone(fd);
}

/*
 * Open the journal of fs; first check that the journal belongs to this very
 * filesystem instance (same root handle), else start it anew.
 */
static int open_journal(struct fsys *fs, const struct fhandle *root)
{
	struct tracker *t = fs->t;
	struct journal_options jo = {.segment_bytes = t->cfg.segment_bytes,
				     .max_bytes = t->cfg.max_journal_bytes,
				     .summary_places = t->cfg.summary_places,
				     .no_summary = t->cfg.no_compaction,
				     .handle_gone = journal_handle_gone,
				     .handle_gone_data = fs};
	char dir[PATH_MAX], idpath[PATH_MAX], want[FHANDLE_TEXT_MAX + 1];
	char *have = NULL;
	int r;

	snprintf(dir, sizeof(dir), "%s/journals/%s", t->state_dir, fs->id);
	snprintf(idpath, sizeof(idpath), "%s/identity", dir);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot create %s", dir);
	fhandle_format(root, want);
	strcat(want, "\n");
	if (read_file(idpath, &have, NULL) == 0 && strcmp(have, want) != 0) {
		log_warn("%s: the filesystem at %s is another instance than the one journaled in "
			 "%s; starting a new journal (old tokens answer fresh)",
			 fs->id, fs->mount.path, dir);
		r = remove_dir_contents(dir);
		if (r < 0)
			log_errno(LOG_LEVEL_WARN, r, "cannot clear %s", dir);
		free(have);
		have = NULL;
	}
	if (!have) {
		r = write_file_atomic(idpath, want, strlen(want), 0600);
		if (r < 0)
			return log_errno(LOG_LEVEL_ERR, r, "cannot write %s", idpath);
	}
	free(have);
	r = journal_open(dir, &jo, &fs->journal);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot open the journal in %s", dir);
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

void fsys_free(struct fsys *fs)
{
	if (!fs)
		return;
	loop_cancel(fs->t->loop, &fs->release_node);
	fs->fan_src = loop_del(fs->fan_src);
	fs->read_timer = loop_del(fs->read_timer);
	fs->catchup = catchup_free(fs->catchup);
	fs->watcher = watcher_free(fs->watcher);
	mount_ref_release(&fs->mount);
	fs->recorder = recorder_free(fs->recorder);
	fs->filter = sfilter_free(fs->filter);
	fs->journal = journal_free(fs->journal);
	hashmap_free(fs->scope_index);
	free(fs);
}

/*
 * The tracked filesystem a directory is on: by st_dev, or (btrfs
 * subvolumes have st_devs of their own) by the superblock device of its
 * mount, which is then remembered as another st_dev of that filesystem.
 */
struct fsys *fsys_find(struct tracker *t, int dirfd)
{
	struct mount_info mi;
	struct statx stx;
	struct stat st;

	if (fstat(dirfd, &st) < 0)
		return NULL;
	for (struct fsys *fs = t->filesystems; fs; fs = fs->next) {
		if (fs->dev == st.st_dev)
			return fs;
		for (size_t i = 0; i < fs->n_extra_devs; i++)
			if (fs->extra_devs[i] == st.st_dev)
				return fs;
	}
	if (!t->filesystems || statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    mounts_find(0, stx.stx_mnt_id, &mi) < 0)
		return NULL;
	for (struct fsys *fs = t->filesystems; fs; fs = fs->next) {
		if (fs->sb_dev != mi.sb_dev || fs->n_extra_devs == ARRAY_SIZE(fs->extra_devs))
			continue;
		fs->extra_devs[fs->n_extra_devs++] = st.st_dev;
		return fs;
	}
	return NULL;
}

int fsys_attach(struct tracker *t, int dirfd, const char *path, struct fsys **ret, char *err,
		size_t errlen)
{
	struct watcher_options wo = {.own_pid = t->pid,
				     .unlimited_queue = t->cfg.unlimited_queue,
				     .queue_events = t->cfg.queue_events};
	struct catchup_config cc = {.margin_ms = t->cfg.margin_ms,
				    .scan_threads = t->cfg.scan_threads,
				    .scan_pause_ms = t->cfg.scan_pause_ms,
				    .exclude_path = t->state_dir};
	struct journal_stats js;
	struct mount_info mi;
	struct statx stx;
	struct fhandle root;
	struct stat st;
	struct fsys *fs;
	int r, mfd;

	fs = fsys_find(t, dirfd);
	if (fs) {
		*ret = fs;
		return 0;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->scope_index = hashmap_new())) {
		free(fs);
		return -ENOMEM;
	}
	fs->t = t;
	fs->mount.fd = -1;
	r = statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ? -errno : 0;
	if (r == 0)
		r = mounts_find(0, stx.stx_mnt_id, &mi);
	if (r == 0 && stat(mi.path, &st) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "cannot find the mount of %s in /proc/self/mountinfo: %s",
			 path, strerror(-r));
		goto fail;
	}
	fs->sb_dev = mi.sb_dev;
	snprintf(fs->fstype, sizeof(fs->fstype), "%s", mi.fstype);
	fs->dev = st.st_dev; /* of the mount root: a btrfs subvolume below has another */
	mount_ref_init(&fs->mount, mi.path, st.st_dev);
	mfd = mount_ref_fd(&fs->mount);
	if (mfd < 0) {
		r = mfd;
		snprintf(err, errlen, "cannot open mount point %s: %s", mi.path, strerror(-r));
		goto fail;
	}
	r = fhandle_of(mfd, "", AT_EMPTY_PATH, &root);
	mount_ref_release(&fs->mount);
	if (r < 0) {
		snprintf(err, errlen,
			 "the filesystem of %s (%s) cannot give file handles (%s); fstrack cannot "
			 "track it",
			 path, fs->fstype, strerror(-r));
		r = -EOPNOTSUPP;
		goto fail;
	}
	fs_identity(dirfd, fs->id, sizeof(fs->id));
	r = watcher_open(mi.path, &wo, &fs->watcher, err, errlen);
	if (r < 0)
		goto fail;
	if (err[0])
		log_warn("%s", err); /* the queue size could not be set: said, not fatal */
	r = open_journal(fs, &root);
	if (r < 0) {
		snprintf(err, errlen, "cannot open the journal for %s under %s: %s", path,
			 t->state_dir, strerror(-r));
		goto fail;
	}
	r = recorder_new(fs->journal, &fs->mount, t->cfg.recorder_max, &fs->recorder);
	if (r < 0)
		goto fail;
	r = sfilter_new(fs->scope_index, &fs->mount, 0, &fs->filter);
	if (r < 0)
		goto fail;
	if (!t->cfg.no_scope_filter)
		recorder_set_filter(fs->recorder, fs->filter);
	if (t->cfg.max_ignore_marks) {
		struct recorder_marks rm = {mark_add, mark_flush, fs->watcher,
					    t->cfg.max_ignore_marks};
		recorder_set_marks(fs->recorder, &rm);
	}
	journal_get_stats(fs->journal, &js);
	/*
	 * A journal with history has a gap from its durable watermark to
	 * now: whatever changed while nobody watched is found by a scan.
	 */
	cc.history = js.next_seq > js.first_seq || js.watermark_ns;
	cc.history_gap_ns = js.watermark_ns;
	cc.name = fs->mount.path;
	if (cc.history)
		log_info("%s: gap since the watermark %" PRIu64 " (%s) will be scanned",
			 fs->mount.path, js.watermark_ns,
			 js.recovered_clean ? "clean stop" : "crash or power loss");
	r = catchup_new(&cc, t->loop, fs->journal, fs->recorder, &fs->mount, on_ready, fs,
			&fs->catchup);
	if (r < 0)
		goto fail;
	r = loop_add_fd(t->loop, watcher_fd(fs->watcher), FAN_POLL, on_events, fs, &fs->fan_src);
	if (r == 0)
		r = loop_add_timer(t->loop, 0, on_read_timer, fs, &fs->read_timer);
	if (r < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-r));
		goto fail;
	}
	{
		/* a marker for people reading the journal: nothing depends on it */
		struct jrec start = {.type = JREC_START, .time_ns = now_realtime_ns()};
		int k = journal_append(fs->journal, &start);
		if (k < 0)
			log_errno(LOG_LEVEL_WARN, k, "%s: no start record in the journal",
				  fs->mount.path);
	}
	log_ratelimited(LOG_LEVEL_INFO,
			"tracking %s (%s, %s) records %" PRIu64 "..%" PRIu64 ", watermark %" PRIu64
			"%s",
			fs->mount.path, fs->fstype, fs->id, js.first_seq, js.next_seq,
			js.watermark_ns, js.truncated_bytes ? ", torn tail truncated" : "");
	fs->idle_commit_ns = now_monotonic_ns();
	fs->next = t->filesystems;
	t->filesystems = fs;
	*ret = fs;
	return 0;
fail:
	fsys_free(fs);
	return r;
}

void fsys_detach(struct fsys *fs, const char *why)
{
	struct tracker *t = fs->t;
	struct fsys **pp;

	if (fs->detached)
		return;
	log_ratelimited(LOG_LEVEL_INFO, "no longer tracking %s (%s): %s", fs->mount.path, fs->id,
			why);
	catchup_commit(fs->catchup);
	for (pp = &t->filesystems; *pp; pp = &(*pp)->next)
		if (*pp == fs) {
			*pp = fs->next;
			break;
		}
	fs->fan_src = loop_del(fs->fan_src);
	fs->read_timer = loop_del(fs->read_timer);
	fs->catchup = catchup_free(fs->catchup); /* stops a running scan */
	fs->watcher = watcher_free(fs->watcher);
	fs->detached = true;
	/*
	 * Now, not after the round: whoever asked for the detach (an unwatch)
	 * is answered in this round and may unmount the filesystem at once.
	 */
	mount_ref_release(&fs->mount);
	notify(fs, 0); /* the observer hears of it, then it is freed */
}

int fsys_check_mounted(struct fsys *fs)
{
	struct mount_info mi;
	struct stat st;
	int r;

	if (stat(fs->mount.path, &st) < 0) {
		r = -errno;
		return r == -ENOENT || r == -ENOTDIR ? 0 : r;
	}
	if (st.st_dev != fs->dev)
		return 0;
	r = mounts_find(fs->sb_dev, 0, &mi);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

void fsys_close_clean(struct fsys *fs)
{
	bool busy;
	int r;

	drain(fs);
	busy = catchup_busy(fs->catchup);
	r = catchup_commit(fs->catchup);
	/* An unfinished scan: the gap stays open for the next start. */
	fs->catchup = catchup_free(fs->catchup);
	if (r == 0 && !busy)
		r = journal_close_clean(fs->journal, now_realtime_ns());
	if (r < 0)
		log_errno(LOG_LEVEL_WARN, r, "journal of %s not closed cleanly", fs->mount.path);
}
