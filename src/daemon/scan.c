/* SPDX-License-Identifier: MIT */
/*
 * scan: the catch-up scan (what it reports: see scan.h).
 *
 * Work queue. Directories to read sit on one LIFO stack shared by the
 * workers (a mutex and a condition variable). LIFO makes the walk roughly
 * depth-first, which keeps the stack short and the dcache warm. "pending"
 * counts the directories queued or being read; the walk is over when it
 * drops to 0, or as soon as scan_fail() is called (cancel, emit error,
 * no memory).
 *
 * Bounded file descriptors. The worker that reads a directory P statx()es
 * every entry; for a subdirectory C it opens C (O_NOFOLLOW | O_DIRECTORY)
 * and queues the fd, as long as fewer than max_open_dirs queued fds exist.
 * Past that, C is queued by its file handle (name_to_handle_at relative to
 * P, no fd) and reopened with open_by_handle_at() when popped. A handle
 * follows renames and costs one small allocation, so neither a wide nor a
 * deep tree can run the process out of fds: at any time the scan holds
 * the queued fds (<= max_open_dirs), the directory each worker reads and
 * the child it is opening, the mount fd and the root.
 *
 * Decisions about a directory C (reported or not, FST_RECURSIVE or not,
 * another mount, the excluded inode) are taken by the worker that reads
 * its parent P, which knows P's mtime (statx of its own fd) and C's ctime
 * and mtime (statx of C in P).
 * C's handle, needed to report C, is taken once and travels with the
 * queued item, so C's reader reuses it for its own entries; other
 * directories' handles are taken lazily, on their first report.
 *
 * Changes made while the scan runs are the live watcher's job: an entry
 * that vanishes between getdents and statx/open is skipped, not counted.
 */
#include "daemon/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fstrack.h"

#define SCAN_BUF_SIZE (64 * 1024)
#define SCAN_MAX_THREADS 64
#define SCAN_DEFAULT_MIN_THREADS 8
#define SCAN_DEFAULT_MAX_THREADS 16
#define SCAN_MAX_OPEN_DIRS 4096
#define SCAN_MIN_OPEN_DIRS 4
#define SCAN_STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)
#define SCAN_STATX_MASK (STATX_TYPE | STATX_INO | STATX_CTIME | STATX_MTIME | STATX_MNT_ID)
#define SCAN_DIR_STATX_MASK (SCAN_STATX_MASK | STATX_MTIME)
#define FH_ALLOC_SIZE (sizeof(struct file_handle) + MAX_HANDLE_SZ)

/* The kernel's struct linux_dirent64. */
struct raw_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

struct scan_item {
	struct scan_item *next;
	int fd; /* -1: reopen from the handle */
	bool is_root;
	struct file_handle *fh; /* NULL, or points into the allocation */
};

struct scan {
	struct scan_params p;
	int mount_fd; /* our dup of p.root_fd; for open_by_handle_at */
	uint64_t root_mnt_id;
	bool have_mnt_id; /* else: compare st_dev */
	dev_t root_dev;
	unsigned max_open_dirs;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct scan_item *head; /* LIFO of directories to read */
	size_t pending;		/* queued + being read */
	unsigned waiting;	/* workers in pthread_cond_wait */
	bool finished;		/* result is final */

	atomic_bool stop;
	atomic_int result;
	atomic_bool done;
	atomic_uint live_workers;
	atomic_uint queued_fds;

	atomic_uint_fast64_t n_dirs;
	atomic_uint_fast64_t n_inodes;
	atomic_uint_fast64_t n_emitted;
	atomic_uint_fast64_t n_errors;

	unsigned nthreads;
	pthread_t *threads;
};

struct worker {
	struct scan *s;
	char *buf;
	struct file_handle *dir_fh; /* handle of the directory being read */
	bool dir_fh_valid;
	struct file_handle *child_fh; /* scratch */
	uint64_t inodes, emitted, errors;
};

static bool ts_at_or_after(const struct statx_timestamp *t, const struct scan *s)
{
	return t->tv_sec > s->p.cutoff_sec ||
	       (t->tv_sec == s->p.cutoff_sec && t->tv_nsec >= s->p.cutoff_nsec);
}

/* The first error wins (none once finished); everyone stops soon. */
static void scan_fail(struct scan *s, int r)
{
	pthread_mutex_lock(&s->lock);
	if (!s->finished && atomic_load(&s->result) == 0)
		atomic_store(&s->result, r);
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static bool scan_stopped(const struct scan *s)
{
	return atomic_load_explicit(&s->stop, memory_order_relaxed);
}

static void close_queued_fd(struct scan *s, int fd)
{
	close(fd);
	atomic_fetch_sub(&s->queued_fds, 1);
}

static struct scan_item *item_new(int fd, const struct file_handle *fh)
{
	size_t fh_size = fh ? sizeof(*fh) + fh->handle_bytes : 0;
	struct scan_item *it = malloc(sizeof(*it) + fh_size);

	if (!it)
		return NULL;
	it->next = NULL;
	it->fd = fd;
	it->is_root = false;
	it->fh = NULL;
	if (fh) {
		it->fh = (struct file_handle *)(it + 1);
		memcpy(it->fh, fh, fh_size);
	}
	return it;
}

static void item_free(struct scan *s, struct scan_item *it)
{
	if (it->fd >= 0)
		close_queued_fd(s, it->fd);
	free(it);
}

static void queue_push(struct scan *s, struct scan_item *it)
{
	pthread_mutex_lock(&s->lock);
	it->next = s->head;
	s->head = it;
	s->pending++;
	if (s->waiting > 0)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Mark the previous item (if any) finished and take the next one. NULL:
 * the walk is over (nothing pending) or stopped.
 */
static struct scan_item *queue_next(struct scan *s, bool finished_one)
{
	struct scan_item *it = NULL;

	pthread_mutex_lock(&s->lock);
	if (finished_one && --s->pending == 0)
		pthread_cond_broadcast(&s->cond);
	for (;;) {
		if (scan_stopped(s) || s->pending == 0)
			break;
		if (s->head) {
			it = s->head;
			s->head = it->next;
			break;
		}
		s->waiting++;
		pthread_cond_wait(&s->cond, &s->lock);
		s->waiting--;
	}
	pthread_mutex_unlock(&s->lock);
	return it;
}

static int get_handle(int dfd, const char *name, int flags, struct file_handle *fh, int *ret_mnt)
{
	int mnt;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dfd, name, fh, &mnt, flags) < 0)
		return -errno;
	if (ret_mnt)
		*ret_mnt = mnt;
	return 0;
}

static void worker_flush(struct worker *w)
{
	struct scan *s = w->s;

	if (w->inodes)
		atomic_fetch_add_explicit(&s->n_inodes, w->inodes, memory_order_relaxed);
	if (w->emitted)
		atomic_fetch_add_explicit(&s->n_emitted, w->emitted, memory_order_relaxed);
	if (w->errors)
		atomic_fetch_add_explicit(&s->n_errors, w->errors, memory_order_relaxed);
	w->inodes = w->emitted = w->errors = 0;
}

static int report(struct worker *w, const struct file_handle *fh, const char *name, unsigned kinds)
{
	int r = w->s->p.emit(w->s->p.userdata, fh, name, kinds);

	if (r < 0) {
		scan_fail(w->s, r);
		return r;
	}
	w->emitted++;
	return 0;
}

/* The handle of the directory being read (fd dfd), taken on first use. */
static int dir_handle(struct worker *w, int dfd, const struct file_handle **ret)
{
	if (!w->dir_fh_valid) {
		int r = get_handle(dfd, "", AT_EMPTY_PATH, w->dir_fh, NULL);

		if (r < 0) {
			scan_fail(w->s, r);
			return r;
		}
		w->dir_fh_valid = true;
	}
	*ret = w->dir_fh;
	return 0;
}

/* The directory being read cannot be (fully) read: rescan all below it. */
static int report_dir_unreadable(struct worker *w, int dfd)
{
	const struct file_handle *fh;
	int r;

	w->errors++;
	r = dir_handle(w, dfd, &fh);
	if (r < 0)
		return r;
	return report(w, fh, ".", FST_ENTRIES | FST_RECURSIVE);
}

/*
 * Entry name (of type d_type) of directory dfd could not be examined or
 * opened: say so as precisely as we can. A directory gets (its handle,
 * ".", ENTRIES|RECURSIVE); an entry of unknown type, or a directory whose
 * handle is out of reach too, gets (parent, ".", ENTRIES|RECURSIVE), as
 * it may hide a subtree; anything else gets (parent, name, MODIFIED).
 */
static int report_child_unreadable(struct worker *w, int dfd, const char *name,
				   unsigned char d_type)
{
	const struct file_handle *pfh;
	int r;

	if (d_type == DT_DIR) {
		r = get_handle(dfd, name, 0, w->child_fh, NULL);
		if (r == -ENOENT)
			return 0;
		if (r == 0) {
			w->errors++;
			return report(w, w->child_fh, ".", FST_ENTRIES | FST_RECURSIVE);
		}
	}
	w->errors++;
	r = dir_handle(w, dfd, &pfh);
	if (r < 0)
		return r;
	if (d_type == DT_DIR || d_type == DT_UNKNOWN)
		return report(w, pfh, ".", FST_ENTRIES | FST_RECURSIVE);
	return report(w, pfh, name, FST_MODIFIED);
}

static bool vanished(int r)
{
	/* ELOOP: O_NOFOLLOW met a symlink that replaced the directory */
	return r == -ENOENT || r == -ENOTDIR || r == -ESTALE || r == -ELOOP;
}

static bool out_of_fds(int r)
{
	return r == -EMFILE || r == -ENFILE;
}

/* Is this entry (already statx'ed) on another mount than the root? */
static bool other_mount(const struct scan *s, const struct statx *stx)
{
	if (s->have_mnt_id && (stx->stx_mask & STATX_MNT_ID))
		return stx->stx_mnt_id != s->root_mnt_id;
	return makedev(stx->stx_dev_major, stx->stx_dev_minor) != s->root_dev;
}

static bool excluded(const struct scan *s, const struct statx *stx)
{
	return s->p.exclude_ino != 0 && stx->stx_ino == s->p.exclude_ino &&
	       makedev(stx->stx_dev_major, stx->stx_dev_minor) == s->p.exclude_dev;
}

/*
 * Open subdirectory name of dfd to queue it, if the fd budget allows:
 * 1 and *ret_fd set, 0 when it must be queued by handle instead, < 0 when
 * it cannot be opened (the errno).
 */
static int open_subdir(struct scan *s, int dfd, const char *name, int *ret_fd)
{
	int fd, r;

	if (atomic_fetch_add(&s->queued_fds, 1) >= s->max_open_dirs) {
		atomic_fetch_sub(&s->queued_fds, 1);
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		atomic_fetch_sub(&s->queued_fds, 1);
		/* short of fds after all (the daemon's own): use a handle */
		return out_of_fds(r) ? 0 : r;
	}
	*ret_fd = fd;
	return 1;
}

/* Subdirectory name of dfd (statx'ed as stx): report it if changed, queue it. */
static int visit_subdir(struct worker *w, int dfd, bool parent_changed, const char *name,
			const struct statx *stx)
{
	struct scan *s = w->s;
	bool changed = ts_at_or_after(&stx->stx_ctime, s);
	/*
	 * RECURSIVE when C may have been created or moved in (its parent's
	 * names changed) or when C's own names changed: a subdirectory of C
	 * removed or moved away while nobody watched took its subtree's old
	 * paths with it, and only C is left to name them.
	 */
	bool recursive = parent_changed || ts_at_or_after(&stx->stx_mtime, s);
	unsigned kinds = FST_ENTRIES | (recursive ? FST_RECURSIVE : 0);
	bool walk = !(changed && recursive && s->p.prune_recursive);
	const struct file_handle *fh = NULL;
	struct scan_item *it;
	int cfd = -1, r = 0;

	if (walk) {
		r = open_subdir(s, dfd, name, &cfd);
		if (vanished(r))
			return 0;
		if (r < 0)
			return report_child_unreadable(w, dfd, name, DT_DIR);
	}
	if (cfd >= 0) {
		if (changed) {
			r = get_handle(cfd, "", AT_EMPTY_PATH, w->child_fh, NULL);
			if (r < 0) {
				close_queued_fd(s, cfd);
				scan_fail(s, r);
				return r;
			}
			fh = w->child_fh;
		}
	} else {
		/* over the fd budget, or not to be walked: a handle is enough */
		int mnt = 0;

		r = get_handle(dfd, name, 0, w->child_fh, &mnt);
		if (vanished(r))
			return 0;
		if (r < 0)
			return report_child_unreadable(w, dfd, name, DT_DIR);
		if (s->have_mnt_id && (uint64_t)mnt != s->root_mnt_id)
			return 0; /* mounted on since statx */
		fh = w->child_fh;
	}

	if (changed) {
		r = report(w, fh, ".", kinds);
		if (r < 0) {
			if (cfd >= 0)
				close_queued_fd(s, cfd);
			return r;
		}
	}
	if (!walk)
		return 0;

	it = item_new(cfd, fh);
	if (!it) {
		if (cfd >= 0)
			close_queued_fd(s, cfd);
		scan_fail(s, -ENOMEM);
		return -ENOMEM;
	}
	queue_push(s, it);
	return 0;
}

/* One entry of the directory dfd. */
static int visit_entry(struct worker *w, int dfd, bool parent_changed, const struct raw_dirent64 *d)
{
	struct scan *s = w->s;
	const char *name = d->d_name;
	const struct file_handle *pfh;
	struct statx stx;
	int r;

	if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
		return 0;

	w->inodes++;
	if (statx(dfd, name, SCAN_STATX_FLAGS, SCAN_STATX_MASK, &stx) < 0) {
		r = -errno;
		if (r == -ENOENT)
			return 0;
		return report_child_unreadable(w, dfd, name, d->d_type);
	}
	if (other_mount(s, &stx) || excluded(s, &stx))
		return 0;
	if (S_ISDIR(stx.stx_mode))
		return visit_subdir(w, dfd, parent_changed, name, &stx);
	if (!ts_at_or_after(&stx.stx_ctime, s))
		return 0;
	r = dir_handle(w, dfd, &pfh);
	if (r < 0)
		return r;
	return report(w, pfh, name, FST_MODIFIED);
}

static int open_item(struct worker *w, struct scan_item *it)
{
	int fd;

	if (it->fd >= 0)
		return it->fd;
	fd = open_by_handle_at(w->s->mount_fd, it->fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

static int read_dir(struct worker *w, struct scan_item *it)
{
	struct scan *s = w->s;
	bool parent_changed;
	struct statx stx;
	int dfd, r = 0;

	w->dir_fh_valid = false;
	if (it->fh) {
		memcpy(w->dir_fh, it->fh, sizeof(*it->fh) + it->fh->handle_bytes);
		w->dir_fh_valid = true;
	}

	dfd = open_item(w, it);
	if (dfd < 0) {
		if (vanished(dfd))
			return 0;
		if (out_of_fds(dfd) || dfd == -ENOMEM) {
			scan_fail(s, dfd);
			return dfd;
		}
		/* it->fh is set: only handle items are opened here */
		w->errors++;
		return report(w, it->fh, ".", FST_ENTRIES | FST_RECURSIVE);
	}

	if (statx(dfd, "", AT_EMPTY_PATH, SCAN_DIR_STATX_MASK, &stx) < 0) {
		r = report_dir_unreadable(w, dfd);
		goto out;
	}
	if (!it->is_root && (other_mount(s, &stx) || excluded(s, &stx)))
		goto out; /* mounted on (or moved) since its parent was read */
	parent_changed = ts_at_or_after(&stx.stx_mtime, s);
	if (it->is_root && ts_at_or_after(&stx.stx_ctime, s)) {
		const struct file_handle *fh;

		r = dir_handle(w, dfd, &fh);
		if (r >= 0)
			r = report(w, fh, ".", FST_ENTRIES | (parent_changed ? FST_RECURSIVE : 0));
		if (r < 0)
			goto out;
	}

	for (;;) {
		long n = syscall(SYS_getdents64, dfd, w->buf, SCAN_BUF_SIZE);

		if (n == 0)
			break;
		if (n < 0) {
			r = -errno;
			if (r == -EINTR)
				continue;
			if (r == -ENOENT) { /* removed while we read it */
				r = 0;
				break;
			}
			r = report_dir_unreadable(w, dfd);
			break;
		}
		for (long off = 0; off < n;) {
			const struct raw_dirent64 *d = (const void *)(w->buf + off);

			if (scan_stopped(s)) {
				r = -ECANCELED;
				goto out;
			}
			r = visit_entry(w, dfd, parent_changed, d);
			if (r < 0)
				goto out;
			off += d->d_reclen;
		}
		worker_flush(w);
	}
	atomic_fetch_add_explicit(&s->n_dirs, 1, memory_order_relaxed);
out:
	worker_flush(w);
	if (it->fd < 0)
		close(dfd);
	return r;
}

static void scan_finish(struct scan *s)
{
	struct scan_item *it;
	uint64_t one = 1;

	/* Stopped early: drop what is still queued. */
	pthread_mutex_lock(&s->lock);
	while ((it = s->head)) {
		s->head = it->next;
		item_free(s, it);
	}
	s->finished = true;
	pthread_mutex_unlock(&s->lock);

	atomic_store(&s->done, true);
	if (s->p.done_eventfd >= 0) {
		while (write(s->p.done_eventfd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

/*
 * For tests (fstrackd --scan-pause-ms): hold the scan back, in slices
 * that notice a cancel, so what is answered while it runs can be seen.
 */
static void pause_first(struct scan *s)
{
	for (unsigned left = s->p.pause_ms; left > 0 && !scan_stopped(s);) {
		unsigned slice = left < 10 ? left : 10;
		struct timespec ts = {0, (long)slice * 1000000L};

		nanosleep(&ts, NULL);
		left -= slice;
	}
}

static void *worker_main(void *arg)
{
	struct scan *s = arg;
	struct worker w = {.s = s};
	struct scan_item *it;
	bool finished_one = false;

	w.buf = malloc(SCAN_BUF_SIZE);
	w.dir_fh = malloc(FH_ALLOC_SIZE);
	w.child_fh = malloc(FH_ALLOC_SIZE);
	if (!w.buf || !w.dir_fh || !w.child_fh)
		scan_fail(s, -ENOMEM);

	pause_first(s);
	while ((it = queue_next(s, finished_one))) {
		read_dir(&w, it);
		item_free(s, it);
		finished_one = true;
	}

	free(w.buf);
	free(w.dir_fh);
	free(w.child_fh);
	if (atomic_fetch_sub(&s->live_workers, 1) == 1)
		scan_finish(s);
	return NULL;
}

/*
 * 2 per CPU, at least SCAN_DEFAULT_MIN_THREADS, at most
 * SCAN_DEFAULT_MAX_THREADS. A warm scan is CPU-bound (statx) and saturates
 * with one thread per CPU; a cold one waits on inode reads and gains from
 * more reads in flight than CPUs (bench/scan-rate.sh on 2 CPUs: 1M inodes
 * cold in 7.7 s with 4 threads, 7.4 s with 8, 6.9 s with 16; warm ~1.5 s
 * from 2 to 16).
 */
static unsigned default_threads(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	n *= 2;
	if (n < SCAN_DEFAULT_MIN_THREADS)
		return SCAN_DEFAULT_MIN_THREADS;
	return n > SCAN_DEFAULT_MAX_THREADS ? SCAN_DEFAULT_MAX_THREADS : (unsigned)n;
}

static unsigned default_max_open_dirs(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return SCAN_MAX_OPEN_DIRS;
	n = rl.rlim_cur / 4;
	if (n < SCAN_MIN_OPEN_DIRS)
		return SCAN_MIN_OPEN_DIRS;
	return n > SCAN_MAX_OPEN_DIRS ? SCAN_MAX_OPEN_DIRS : (unsigned)n;
}

static void scan_free(struct scan *s)
{
	struct scan_item *it;

	if (!s)
		return;
	while ((it = s->head)) {
		s->head = it->next;
		item_free(s, it);
	}
	if (s->mount_fd >= 0)
		close(s->mount_fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->threads);
	free(s);
}

/* Everything but the threads: the root examined and queued. */
static int scan_new(const struct scan_params *p, struct scan **ret)
{
	struct file_handle *fh = NULL;
	struct scan_item *root = NULL;
	struct statx stx;
	struct scan *s = NULL;
	int r, fd = -1;

	if (!p || !p->emit || p->root_fd < 0 || p->cutoff_nsec >= 1000000000u)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->mount_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);

	s->nthreads = p->threads ? p->threads : default_threads();
	if (s->nthreads > SCAN_MAX_THREADS)
		s->nthreads = SCAN_MAX_THREADS;
	s->max_open_dirs = p->max_open_dirs ? p->max_open_dirs : default_max_open_dirs();
	s->threads = calloc(s->nthreads, sizeof(*s->threads));
	if (!s->threads) {
		r = -ENOMEM;
		goto fail;
	}

	s->mount_fd = fcntl(p->root_fd, F_DUPFD_CLOEXEC, 3);
	if (s->mount_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (statx(s->mount_fd, "", AT_EMPTY_PATH, SCAN_DIR_STATX_MASK, &stx) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISDIR(stx.stx_mode)) {
		r = -ENOTDIR;
		goto fail;
	}
	s->have_mnt_id = stx.stx_mask & STATX_MNT_ID;
	s->root_mnt_id = stx.stx_mnt_id;
	s->root_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);

	if (excluded(s, &stx)) {
		*ret = s; /* nothing to walk */
		return 0;
	}

	/* Fail now, not in a worker, on a filesystem without file handles. */
	fh = malloc(FH_ALLOC_SIZE);
	if (!fh) {
		r = -ENOMEM;
		goto fail;
	}
	r = get_handle(s->mount_fd, "", AT_EMPTY_PATH, fh, NULL);
	if (r < 0)
		goto fail;
	/* A fresh open: the caller's fd may be O_PATH, and its offset is its own. */
	fd = openat(s->mount_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	root = item_new(fd, fh);
	if (!root) {
		r = -ENOMEM;
		goto fail;
	}
	fd = -1;
	root->is_root = true;
	atomic_fetch_add(&s->queued_fds, 1);
	s->head = root;
	s->pending = 1;
	free(fh);
	*ret = s;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	free(fh);
	scan_free(s);
	return r;
}

int scan_start(const struct scan_params *p, struct scan **ret)
{
	sigset_t all, old;
	struct scan *s = NULL;
	unsigned i;
	int r;

	r = scan_new(p, &s);
	if (r < 0)
		return r;

	/* Workers take no signals: they belong to the daemon's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&s->live_workers, s->nthreads);
	for (i = 0; i < s->nthreads; i++) {
		r = -pthread_create(&s->threads[i], NULL, worker_main, s);
		if (r < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (i == 0) {
		scan_free(s);
		return r;
	}
	if (i < s->nthreads) {
		/* Go on with fewer workers. */
		unsigned missing = s->nthreads - i;

		s->nthreads = i;
		if (atomic_fetch_sub(&s->live_workers, missing) == missing)
			scan_finish(s);
	}
	*ret = s;
	return 0;
}

void scan_get_progress(const struct scan *s, struct scan_progress *ret)
{
	ret->done = atomic_load(&s->done);
	ret->dirs = atomic_load_explicit(&s->n_dirs, memory_order_relaxed);
	ret->inodes = atomic_load_explicit(&s->n_inodes, memory_order_relaxed);
	ret->emitted = atomic_load_explicit(&s->n_emitted, memory_order_relaxed);
	ret->errors = atomic_load_explicit(&s->n_errors, memory_order_relaxed);
	ret->result = ret->done ? atomic_load(&s->result) : 0;
}

void scan_cancel(struct scan *s)
{
	if (s)
		scan_fail(s, -ECANCELED);
}

static int scan_join(struct scan *s)
{
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	return atomic_load(&s->result);
}

int scan_join_free(struct scan *s)
{
	int r;

	if (!s)
		return 0;
	r = scan_join(s);
	scan_free(s);
	return r;
}

int scan_run(const struct scan_params *p, struct scan_progress *ret)
{
	struct scan *s = NULL;
	int r;

	r = scan_start(p, &s);
	if (r < 0)
		return r;
	r = scan_join(s);
	if (ret)
		scan_get_progress(s, ret);
	scan_free(s);
	return r;
}
