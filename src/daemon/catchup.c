/* SPDX-License-Identifier: MIT */
#include "daemon/catchup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/journal.h"
#include "daemon/mounts.h"
#include "daemon/recorder.h"

struct root {
	const void *owner;
	struct fhandle handle;
	char *path;	    /* as watched, for logs */
	uint64_t since_seq; /* the oldest position its tokens may name */
	bool new_scope;	    /* watched in this attachment: no history gap */
};

/* One place the scan found, recorded by the loop's thread at the end. */
struct find {
	struct fhandle dir;
	uint8_t kinds;
	char name[256];
};

/* A root of the running round, with its path now. */
struct round_root {
	struct fhandle handle;
	char *path;
	bool no_path; /* alive, no path to it now (a mount over it): path is the watched one */
};

struct catchup {
	struct catchup_config cfg;
	char *name;
	char *exclude_path;
	struct loop *loop;
	struct journal *journal;
	struct recorder *recorder;
	struct mount_ref *mount;
	struct loop_defer ready_node, kick_node;
	loop_fn on_ready;
	void *ready_data;

	struct root *roots;
	size_t n_roots, cap_roots;

	uint64_t last_drain_ns; /* the queue was read empty, having begun then */
	bool gap_pending;	/* a gap no scan has started for yet */
	uint64_t pending_gap_ns;
	bool scanning; /* a round runs for scanning_gap_ns */
	uint64_t scanning_gap_ns;
	uint64_t fresh_before; /* tokens below this seq answer fresh */
	uint64_t attach_seq;   /* next_seq when this filesystem was attached */
	bool history_scanned;  /* the attachment's gap had a round begun */
	/*
	 * Only the attachment's gap is pending (or scanned): only roots whose
	 * tokens are older than the attachment need it. A new scope's do not:
	 * watching / again after an unwatch must not walk all of it.
	 */
	bool pending_history_only, scanning_history_only;

	/* the running round */
	struct round_root *queue;
	size_t n_queue, cap_queue;
	struct scan *scan;
	int scan_efd;
	struct loop_source *scan_src;
	int scan_error;
	pthread_mutex_t lock; /* finds, filled by the scan's threads */
	struct find *finds;
	size_t n_finds, cap_finds;

	/* status */
	struct scan_progress round_total;
	uint64_t round_start_ns, last_duration_ns, scans;
	int last_commit_error;
	uint64_t commit_errors;
	uint64_t retry_ns;	   /* while commits fail: when to try again (monotonic) */
	uint64_t backoff_ns;	   /* and how long after that */
	uint64_t failing_since_ns; /* realtime of the first failure */
};

#define RETRY_FIRST_NS (1000000000ull)
/* free bytes a full state filesystem needs before a commit is tried again (or 1/16 of it) */
#define ROOM_NEEDED (8ull << 20)
#define RETRY_MAX_NS (30000000000ull)

static void scan_done(void *data, uint32_t events);
static void kick_deferred(void *data);
static void gap_open(struct catchup *c, uint64_t since_ns, const char *why, bool history_only);

int catchup_new(const struct catchup_config *cfg, struct loop *loop, struct journal *j,
		struct recorder *rec, struct mount_ref *mount, loop_fn on_ready, void *data,
		struct catchup **ret)
{
	struct catchup *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->scan_efd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->name = strdup(cfg->name ? cfg->name : "?");
	c->exclude_path = cfg->exclude_path ? strdup(cfg->exclude_path) : NULL;
	if (!c->name || (cfg->exclude_path && !c->exclude_path)) {
		catchup_free(c);
		return -ENOMEM;
	}
	c->cfg.name = c->name;
	c->cfg.exclude_path = c->exclude_path;
	c->loop = loop;
	c->journal = j;
	c->recorder = rec;
	c->mount = mount;
	c->on_ready = on_ready;
	c->ready_data = data;
	c->last_drain_ns = now_realtime_ns(); /* the caller's mark is in place from here on */
	c->attach_seq = journal_next_seq(j);
	c->scan_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->scan_efd < 0) {
		r = -errno;
		catchup_free(c);
		return r;
	}
	r = loop_add_fd(loop, c->scan_efd, EPOLLIN, scan_done, c, &c->scan_src);
	if (r < 0) {
		catchup_free(c);
		return r;
	}
	/* whatever changed while nobody watched is found by a scan */
	if (cfg->history)
		gap_open(c, cfg->history_gap_ns, "attached with history", true);
	*ret = c;
	return 0;
}

static void clear_queue(struct catchup *c)
{
	for (size_t i = 0; i < c->n_queue; i++)
		free(c->queue[i].path);
	c->n_queue = 0;
}

struct catchup *catchup_free(struct catchup *c)
{
	if (!c)
		return NULL;
	if (c->scan) {
		scan_cancel(c->scan);
		scan_join_free(c->scan);
	}
	if (c->loop) {
		loop_cancel(c->loop, &c->kick_node);
		loop_cancel(c->loop, &c->ready_node);
	}
	c->scan_src = loop_del(c->scan_src);
	safe_close(c->scan_efd);
	for (size_t i = 0; i < c->n_roots; i++)
		free(c->roots[i].path);
	free(c->roots);
	clear_queue(c);
	free(c->queue);
	free(c->finds);
	pthread_mutex_destroy(&c->lock);
	free(c->name);
	free(c->exclude_path);
	free(c);
	return NULL;
}

/* ---- roots ---------------------------------------------------------- */

int catchup_add_root(struct catchup *c, const void *owner, const struct fhandle *h,
		     const char *path, uint64_t since_seq, bool new_scope)
{
	char *p = strdup(path);

	if (!p || GROW(c->roots, c->cap_roots, c->n_roots + 1) < 0) {
		free(p);
		return -ENOMEM;
	}
	c->roots[c->n_roots++] = (struct root){owner, *h, p, since_seq, new_scope};
	/*
	 * Its tokens name positions from before this attachment: the gap of
	 * the attachment applies to it too. A round that has not begun yet
	 * takes it along; one already begun (or done) must be done again.
	 */
	if (c->cfg.history && c->history_scanned && !new_scope)
		gap_open(c, c->cfg.history_gap_ns, "a scope attached again", true);
	return 0;
}

void catchup_remove_root(struct catchup *c, const void *owner)
{
	for (size_t i = 0; i < c->n_roots; i++) {
		if (c->roots[i].owner != owner)
			continue;
		free(c->roots[i].path);
		c->roots[i] = c->roots[--c->n_roots];
		return;
	}
}

/* ---- the watermark ---------------------------------------------------- */

static uint64_t watermark(const struct catchup *c)
{
	uint64_t w = c->last_drain_ns;

	if (c->scanning && c->scanning_gap_ns < w)
		w = c->scanning_gap_ns;
	if (c->gap_pending && c->pending_gap_ns < w)
		w = c->pending_gap_ns;
	return w;
}

void catchup_drained(struct catchup *c, uint64_t start_ns)
{
	c->last_drain_ns = start_ns;
}

void catchup_overflow(struct catchup *c)
{
	/* Events after the last complete drain may be lost. */
	catchup_gap(c, c->last_drain_ns, "events lost (queue overflow or an unreadable event)");
}

static void gap_open(struct catchup *c, uint64_t since_ns, const char *why, bool history_only)
{
	if (!c->gap_pending || since_ns < c->pending_gap_ns) {
		log_ratelimited(LOG_LEVEL_INFO,
				"%s on %s: changes since the watermark %" PRIu64
				" will be found by a scan",
				why, c->name, since_ns);
		c->pending_gap_ns = since_ns;
	}
	c->pending_history_only =
	    c->gap_pending ? c->pending_history_only && history_only : history_only;
	c->gap_pending = true;
	loop_defer(c->loop, &c->kick_node, kick_deferred, c);
}

void catchup_gap(struct catchup *c, uint64_t since_ns, const char *why)
{
	gap_open(c, since_ns, why, false);
}

bool catchup_busy(const struct catchup *c)
{
	return c->scanning || c->gap_pending;
}

uint64_t catchup_fresh_before(const struct catchup *c)
{
	return c->fresh_before;
}

/* ---- scans -------------------------------------------------------------- */

static int scan_emit(void *userdata, const struct file_handle *dir, const char *name,
		     unsigned kinds)
{
	struct catchup *c = userdata;
	struct find *f;
	int r = 0;

	if (dir->handle_bytes > HANDLE_MAX || strlen(name) > 255)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (GROW(c->finds, c->cap_finds, c->n_finds + 1) < 0) {
		r = -ENOMEM;
	} else {
		f = &c->finds[c->n_finds++];
		fhandle_from_kernel(dir, &f->dir);
		f->kinds = (uint8_t)kinds;
		snprintf(f->name, sizeof(f->name), "%s", name);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int cmp_round_root(const void *a, const void *b)
{
	return strcmp(((const struct round_root *)a)->path, ((const struct round_root *)b)->path);
}

/*
 * The roots of a round: each resolved to its path now; a root inside
 * another is covered by the other's walk. A vanished root is left out
 * (its scope says so); one alive with no path to it (a mount over it) is
 * walked by its handle all the same; one that cannot be resolved for
 * another reason makes the round incomplete.
 */
static int plan_round(struct catchup *c)
{
	int mfd = mount_ref_fd(c->mount);
	size_t n = 0;

	clear_queue(c);
	if (mfd < 0)
		return mfd;
	if (GROW(c->queue, c->cap_queue, c->n_roots + 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_roots; i++) {
		char path[PATH_MAX];
		int r;

		if (c->scanning_history_only && c->roots[i].new_scope)
			continue; /* its tokens are younger than the gap */
		r = fhandle_resolve(mfd, &c->roots[i].handle, path, sizeof(path));
		if (fhandle_err_is_gone(r)) {
			log_ratelimited(LOG_LEVEL_WARN,
					"scope %s vanished (%s); its tokens answer fresh",
					c->roots[i].path, strerror(-r));
			continue;
		}
		if (r < 0 && r != -EXDEV)
			return r;
		c->queue[n].handle = c->roots[i].handle;
		c->queue[n].no_path = r == -EXDEV;
		c->queue[n].path = strdup(r == -EXDEV ? c->roots[i].path : path);
		if (!c->queue[n].path) {
			c->n_queue = n;
			return -ENOMEM;
		}
		n++;
	}
	qsort(c->queue, n, sizeof(*c->queue), cmp_round_root);
	c->n_queue = 0;
	for (size_t i = 0; i < n; i++) {
		/* sorted: a root inside another comes right after an outer one kept */
		if (c->n_queue && !c->queue[i].no_path && !c->queue[c->n_queue - 1].no_path &&
		    path_under(c->queue[i].path, c->queue[c->n_queue - 1].path, NULL)) {
			free(c->queue[i].path);
			continue;
		}
		c->queue[c->n_queue++] = c->queue[i];
	}
	return 0;
}

/* Start the scan of the next queued root: 1 started, 0 none left. */
static int start_next_root(struct catchup *c)
{
	uint64_t margin = (uint64_t)c->cfg.margin_ms * 1000000ull;
	uint64_t cutoff = c->scanning_gap_ns > margin ? c->scanning_gap_ns - margin : 0;
	struct stat st;

	while (c->n_queue > 0) {
		struct round_root rr = c->queue[--c->n_queue];
		struct scan_params p = {0};
		int fd, mfd, r;

		mfd = mount_ref_fd(c->mount);
		fd = mfd < 0 ? mfd : fhandle_open(mfd, &rr.handle, O_RDONLY | O_DIRECTORY);
		if (fd < 0) {
			if (fhandle_err_is_gone(fd)) {
				log_ratelimited(LOG_LEVEL_WARN,
						"scope %s vanished (%s); its tokens answer fresh",
						rr.path, strerror(-fd));
			} else {
				log_warn("cannot open scope %s for a catch-up scan: %s", rr.path,
					 strerror(-fd));
				c->scan_error = fd;
			}
			free(rr.path);
			continue;
		}
		p.root_fd = fd;
		p.cutoff_sec = (int64_t)(cutoff / 1000000000ull);
		p.cutoff_nsec = (uint32_t)(cutoff % 1000000000ull);
		p.threads = c->cfg.scan_threads;
		p.pause_ms = c->cfg.scan_pause_ms;
		if (c->cfg.exclude_path && stat(c->cfg.exclude_path, &st) == 0) {
			p.exclude_dev = st.st_dev;
			p.exclude_ino = st.st_ino;
		}
		p.prune_recursive = true; /* all below a recursive directory is covered */
		p.done_eventfd = c->scan_efd;
		p.emit = scan_emit;
		p.userdata = c;
		r = scan_start(&p, &c->scan);
		safe_close(fd);
		if (r < 0) {
			log_errno(LOG_LEVEL_ERR, r, "cannot start a catch-up scan of %s", rr.path);
			c->scan_error = r;
			free(rr.path);
			continue;
		}
		log_ratelimited(LOG_LEVEL_INFO,
				"catch-up scan of %s for changes since %" PRIu64 ".%09" PRIu64,
				rr.path, (uint64_t)(cutoff / 1000000000ull),
				(uint64_t)(cutoff % 1000000000ull));
		free(rr.path);
		return 1;
	}
	return 0;
}

static void finish_round(struct catchup *c);

static void start_round(struct catchup *c)
{
	int r;

	c->scanning = true;
	c->scanning_gap_ns = c->pending_gap_ns;
	c->scanning_history_only = c->pending_history_only;
	c->gap_pending = false;
	c->history_scanned = true;
	c->scan_error = 0;
	memset(&c->round_total, 0, sizeof(c->round_total));
	c->round_start_ns = now_monotonic_ns();
	r = plan_round(c);
	if (r < 0) {
		log_errno(LOG_LEVEL_ERR, r, "cannot plan the catch-up scan of %s", c->name);
		c->scan_error = r;
		clear_queue(c);
	}
	if (start_next_root(c) == 0)
		finish_round(c);
}

void catchup_kick(struct catchup *c)
{
	/*
	 * Not while commits fail: what a scan finds could not be kept; it
	 * waits for a commit that works instead of scanning in a loop.
	 */
	if (c->gap_pending && !c->scanning && !c->last_commit_error)
		start_round(c);
}

static void kick_deferred(void *data)
{
	catchup_kick(data);
}

/* The eventfd says a root's scan ended. */
static void scan_done(void *data, uint32_t events)
{
	struct catchup *c = data;
	struct scan_progress pr;
	uint64_t v;
	int r;

	if (read(c->scan_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_errno(LOG_LEVEL_WARN, -errno, "scan eventfd");
	if (!c->scan)
		return;
	scan_get_progress(c->scan, &pr);
	if (!pr.done)
		return; /* spurious wake-up */
	r = scan_join_free(c->scan);
	c->scan = NULL;
	c->round_total.dirs += pr.dirs;
	c->round_total.inodes += pr.inodes;
	c->round_total.emitted += pr.emitted;
	c->round_total.errors += pr.errors;
	if (r < 0) {
		log_errno(LOG_LEVEL_ERR, r, "catch-up scan of %s failed", c->name);
		c->scan_error = r;
	}
	if (start_next_root(c) == 0)
		finish_round(c);
}

/* Every root is done: record what was found and make it durable. */
static void finish_round(struct catchup *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_finds;
	for (size_t i = 0; i < n; i++) {
		struct find *f = &c->finds[i];
		int r = recorder_note(c->recorder, &f->dir, f->name, strlen(f->name), f->kinds);
		if (r < 0 && !c->scan_error)
			c->scan_error = r;
	}
	c->n_finds = 0;
	pthread_mutex_unlock(&c->lock);

	if (c->scan_error) {
		/* We cannot say what changed in the gap: be honest about it. */
		c->fresh_before = journal_next_seq(c->journal);
		log_error("catch-up scan of %s incomplete (%s): tokens issued before now answer "
			  "fresh",
			  c->name, strerror(-c->scan_error));
	}
	c->scanning = false;
	c->scans++;
	c->last_duration_ns = now_monotonic_ns() - c->round_start_ns;
	log_ratelimited(LOG_LEVEL_INFO,
			"catch-up scan of %s done: %" PRIu64 " inodes, %zu places recorded, %.3f s",
			c->name, c->round_total.inodes, n, (double)c->last_duration_ns / 1e9);
	catchup_commit(c);
	if (c->gap_pending)
		loop_defer(c->loop, &c->kick_node, kick_deferred, c);
	else
		loop_defer(c->loop, &c->ready_node, c->on_ready, c->ready_data);
}

/* ---- commits ------------------------------------------------------------ */

int catchup_commit(struct catchup *c)
{
	int r = journal_commit(c->journal, watermark(c));

	if (r < 0) {
		struct journal_stats js;

		c->commit_errors++;
		if (!c->last_commit_error) {
			c->failing_since_ns = now_realtime_ns();
			c->backoff_ns = RETRY_FIRST_NS;
		} else if (c->backoff_ns < RETRY_MAX_NS) {
			c->backoff_ns *= 2;
		}
		c->retry_ns = now_monotonic_ns() + c->backoff_ns;
		if (c->last_commit_error != r)
			log_errno(
			    LOG_LEVEL_ERR, r,
			    "cannot commit the journal of %s; recording stops until it works "
			    "again (tried again every %llu s at most), then a scan finds every "
			    "change made meanwhile",
			    c->name, RETRY_MAX_NS / 1000000000ull);
		c->last_commit_error = r;
		/*
		 * What was recorded this epoch is gone, and nothing more is
		 * recorded while commits fail: the gap from the durable
		 * watermark covers all of it, and the scan finds it once a
		 * commit works again.
		 */
		(void)recorder_new_epoch(c->recorder); /* a mark left is covered by the gap too */
		recorder_suspend(c->recorder, true);
		journal_get_stats(c->journal, &js);
		catchup_gap(c, js.watermark_ns, "failed journal commit");
		return r;
	}
	if (c->last_commit_error) {
		log_info("the journal of %s commits again", c->name);
		c->last_commit_error = 0;
		recorder_suspend(c->recorder, false);
		loop_defer(c->loop, &c->kick_node, kick_deferred, c);
	}
	return 0;
}

bool catchup_commit_due(const struct catchup *c, uint64_t now_mono_ns)
{
	uint64_t free_bytes, total;

	if (!c->last_commit_error)
		return true;
	if (now_mono_ns < c->retry_ns)
		return false;
	/*
	 * Full: try again only once there is room for more than one small
	 * commit, else recording resumes, the scan's records fill the last
	 * blocks, and it fails again.
	 */
	if ((c->last_commit_error == -ENOSPC || c->last_commit_error == -EDQUOT) &&
	    journal_space(c->journal, &free_bytes, &total) == 0 &&
	    free_bytes < (total / 16 < ROOM_NEEDED ? total / 16 : ROOM_NEEDED))
		return false;
	return true;
}

int catchup_commit_error(const struct catchup *c)
{
	return c->last_commit_error;
}

void catchup_get_status(const struct catchup *c, struct catchup_status *ret)
{
	struct scan_progress now;

	memset(ret, 0, sizeof(*ret));
	ret->scanning = c->scanning;
	ret->gap_pending = c->gap_pending;
	ret->watermark_ns = watermark(c);
	ret->fresh_before = c->fresh_before;
	ret->progress = c->round_total;
	if (c->scan) {
		scan_get_progress(c->scan, &now);
		ret->progress.dirs += now.dirs;
		ret->progress.inodes += now.inodes;
		ret->progress.emitted += now.emitted;
		ret->progress.errors += now.errors;
	}
	ret->last_duration_ns = c->last_duration_ns;
	ret->scans = c->scans;
	ret->last_commit_error = c->last_commit_error;
	ret->failing_since_ns = c->last_commit_error ? c->failing_since_ns : 0;
	ret->commit_errors = c->commit_errors;
}
