/* SPDX-License-Identifier: MIT */
/*
 * workload: deterministic random operations of every kind on a tree; storm:
 * creations and deletions as fast as they go (queue overflow).
 *
 * The state is the tree itself: before each operation the tree is read
 * again (names sorted), and operation i draws from a generator seeded by
 * (seed, i). So running ops 1..50, then 51..60 (with anything in between
 * that leaves the tree alone, a daemon killed for instance) does the same
 * as running 1..60.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

struct wnode {
	char *path; /* relative to the workload root, raw bytes; "." is the root */
	char type;  /* f d l or o (other) */
	int depth;  /* the root is 0 */
	int height; /* dirs: how many levels of directories below (0: none) */
	int parent; /* index, -1 for the root */
	size_t nchildren;
	uint64_t size;
};

struct wctx {
	const char *root; /* as given, for the *xattr calls */
	int rootfd;
	dev_t dev;
	struct wnode *v;
	size_t n, cap;
	struct rng rng;
	uint64_t opno;
	unsigned max_entries, max_depth;
	FILE *log;
	struct sbuf msg; /* what the op did, for the log */
};

/* dir/name, or name when dir is the root "." */
static char *wjoin(const char *dir, const char *name)
{
	return strcmp(dir, ".") ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static void wtree_free(struct wctx *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].path);
	w->n = 0;
}

static int wtree_read(struct wctx *w, const char *rel, int depth, int parent)
{
	struct stat st;
	size_t idx;
	int height = 0;

	if (fstatat(w->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die("workload: cannot stat %s: %s", rel, strerror(errno));
	w->v = xgrow(w->v, &w->cap, w->n + 1, sizeof(*w->v));
	idx = w->n++;
	w->v[idx] = (struct wnode){
	    .path = xstrdup(rel),
	    .type = S_ISREG(st.st_mode)	  ? 'f'
		    : S_ISDIR(st.st_mode) ? 'd'
		    : S_ISLNK(st.st_mode) ? 'l'
					  : 'o',
	    .depth = depth,
	    .parent = parent,
	    .size = (uint64_t)st.st_size,
	};
	if (parent >= 0)
		w->v[parent].nchildren++;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(w->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		char **names;
		size_t n;

		if (!d)
			die("workload: cannot open directory %s: %s", rel, strerror(errno));
		names = dir_names(d, rel, &n);
		for (size_t i = 0; i < n; i++) {
			struct stat cst;
			char *child;
			int h;

			/* Never cross into another mount. */
			if (fstatat(dirfd(d), names[i], &cst, AT_SYMLINK_NOFOLLOW) < 0)
				die("workload: cannot stat %s/%s: %s", rel, names[i],
				    strerror(errno));
			if (cst.st_dev != w->dev)
				continue;
			child = wjoin(rel, names[i]);
			h = wtree_read(w, child, depth + 1, (int)idx);
			if (h >= 0 && h + 1 > height)
				height = h + 1;
			free(child);
		}
		closedir(d);
		free_strings(names, n);
		w->v[idx].height = height;
		return height;
	}
	return -1;
}

static void wtree_load(struct wctx *w)
{
	wtree_free(w);
	wtree_read(w, ".", 0, -1);
}

/* Is a equal to b or an ancestor of it? */
static bool wpath_within(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (!strcmp(a, "."))
		return true;
	return strncmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '/');
}

enum wkind { W_ANY, W_FILE, W_NONDIR, W_DIR, W_SUBDIR, W_NOTLINK };

static bool wnode_is(const struct wnode *e, enum wkind k)
{
	switch (k) {
	case W_ANY:
		return true;
	case W_FILE:
		return e->type == 'f';
	case W_NONDIR:
		return e->type != 'd';
	case W_DIR:
		return e->type == 'd';
	case W_SUBDIR:
		return e->type == 'd' && e->parent >= 0;
	case W_NOTLINK:
		return e->type == 'f' || e->type == 'd';
	}
	return false;
}

/* A random node i for which ok(w, i, arg) holds, or -1 when there is none. */
static int wpick_where(struct wctx *w, bool (*ok)(const struct wctx *w, size_t i, const void *arg),
		       const void *arg)
{
	size_t count = 0, choice;

	for (size_t i = 0; i < w->n; i++)
		count += ok(w, i, arg);
	if (!count)
		return -1;
	choice = rng_below(&w->rng, count);
	for (size_t i = 0; i < w->n; i++)
		if (ok(w, i, arg) && choice-- == 0)
			return (int)i;
	return -1;
}

static bool wis_kind(const struct wctx *w, size_t i, const void *k)
{
	return wnode_is(&w->v[i], *(const enum wkind *)k);
}

/* A random node of kind k, or -1 when there is none. */
static int wpick(struct wctx *w, enum wkind k)
{
	return wpick_where(w, wis_kind, &k);
}

/* A directory where a new directory may go (depth limit). */
static bool wis_mkdir_room(const struct wctx *w, size_t i, const void *unused)
{
	return w->v[i].type == 'd' && (unsigned)w->v[i].depth < w->max_depth;
}

static const char *const odd_names[] = {
    "sp ace",
    "caf\xc3\xa9",
    "new\nline",
    "-dash",
    ".hidden",
    "tab\tx",
    "#hash",
    "100%",
    "back\\slash",
    "q\"uote",
    "star*",
    "colon:x",
    "\xe2\x9c\x93"
    "check",
};

static void wgen_name(struct wctx *w, char prefix, char *buf, size_t size)
{
	uint64_t r = rng_below(&w->rng, 100);
	unsigned pool = prefix == 'f' ? 40 : prefix == 'd' ? 12 : 10;

	if (r < 4) {
		snprintf(buf, size, "%s %c%u", odd_names[rng_below(&w->rng, N_OF(odd_names))],
			 prefix, (unsigned)rng_below(&w->rng, 4));
	} else if (r < 5) {
		memset(buf, 'L', 200);
		snprintf(buf + 200, size - 200, "%c%u", prefix, (unsigned)rng_below(&w->rng, 3));
	} else {
		snprintf(buf, size, "%c%u", prefix, (unsigned)rng_below(&w->rng, pool));
	}
}

static bool wexists(struct wctx *w, const char *rel)
{
	struct stat st;

	return fstatat(w->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A new path in directory dir whose name does not exist yet, or NULL. */
static char *wfree_name(struct wctx *w, int dir, char prefix)
{
	char name[256];

	for (int tries = 0; tries < 6; tries++) {
		char *p;
		wgen_name(w, prefix, name, sizeof(name));
		p = wjoin(w->v[dir].path, name);
		if (!wexists(w, p))
			return p;
		free(p);
	}
	return NULL;
}

/* What the op did, for the log: "op a -> b extra" (b and extra optional). */
static void __attribute__((format(printf, 5, 6)))
wlog(struct wctx *w, const char *op, const char *a, const char *b, const char *fmt, ...)
{
	sb_reset(&w->msg);
	sb_adds(&w->msg, op);
	if (a) {
		sb_adds(&w->msg, " ");
		sb_add_escaped(&w->msg, a, strlen(a));
	}
	if (b) {
		sb_adds(&w->msg, " -> ");
		sb_add_escaped(&w->msg, b, strlen(b));
	}
	if (fmt) {
		char extra[128];
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(extra, sizeof(extra), fmt, ap);
		va_end(ap);
		sb_adds(&w->msg, " ");
		sb_adds(&w->msg, extra);
	}
}

static void __attribute__((noreturn)) wfail(struct wctx *w, const char *what, const char *path)
{
	char *e = escape(path);

	die("workload op %" PRIu64 ": %s %s: %s", w->opno, what, e, strerror(errno));
}

static void wfill(struct wctx *w, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rng_next(&w->rng);
		for (size_t b = 0; b < 8 && i + b < n; b++)
			buf[i + b] = (uint8_t)(r >> (8 * b));
	}
}

static void wwrite_at(struct wctx *w, int fd, const char *path, size_t len, off_t off)
{
	uint8_t *buf = xmalloc(len);
	size_t done = 0;

	wfill(w, buf, len);
	while (done < len) {
		ssize_t n = off >= 0 ? pwrite(fd, buf + done, len - done, off + (off_t)done)
				     : write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wfail(w, "write", path);
		done += (size_t)n;
	}
	free(buf);
}

static int wopen(struct wctx *w, const char *path, int flags, mode_t mode)
{
	int fd = openat(w->rootfd, path, flags | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		wfail(w, "open", path);
	return fd;
}

static void wclose(struct wctx *w, int fd, const char *path)
{
	if (close(fd) < 0)
		wfail(w, "close", path);
}

/* Open path with flags (and mode), write len random bytes at off (-1: where open left it), close.
 */
static void wwrite_file(struct wctx *w, const char *path, int flags, mode_t mode, size_t len,
			off_t off)
{
	int fd = wopen(w, path, flags, mode);

	wwrite_at(w, fd, path, len, off);
	wclose(w, fd, path);
}

static const mode_t file_modes[] = {0600, 0644, 0640, 0755, 0700, 0444, 04755, 02750};
static const mode_t dir_modes[] = {0755, 0700, 0775, 0711, 01777, 0555};
static const uid_t owners[] = {0, 1000, 1001, 65534};

/* Each op returns 0 when done, 1 when it does not apply to this tree. */

static void wcreate_file(struct wctx *w, const char *p)
{
	mode_t mode = file_modes[rng_below(&w->rng, 3)];
	size_t size = rng_below(&w->rng, 5) == 0 ? 0 : (size_t)rng_below(&w->rng, 8193);

	wwrite_file(w, p, O_WRONLY | O_CREAT | O_EXCL, mode, size, -1);
	wlog(w, "create", p, NULL, "size=%zu", size);
}

static int op_create(struct wctx *w)
{
	int d = wpick(w, W_DIR);
	char *p = d >= 0 ? wfree_name(w, d, 'f') : NULL;

	if (!p)
		return 1;
	wcreate_file(w, p);
	free(p);
	return 0;
}

static int op_write(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	const char *p;
	off_t off;
	size_t len;

	if (f < 0)
		return 1;
	p = w->v[f].path;
	off = (off_t)rng_below(&w->rng, w->v[f].size + 1);
	len = 1 + (size_t)rng_below(&w->rng, 4096);
	wwrite_file(w, p, O_WRONLY, 0, len, off);
	wlog(w, "write", p, NULL, "off=%lld len=%zu", (long long)off, len);
	return 0;
}

/* Open a file with flags, write 1 + [0, span) (or [0, span)) random bytes, log op. */
static int wrewrite(struct wctx *w, const char *op, int flags, bool nonempty, uint64_t span)
{
	int f = wpick(w, W_FILE);
	size_t len;

	if (f < 0)
		return 1;
	len = (nonempty ? 1 : 0) + (size_t)rng_below(&w->rng, span);
	wwrite_file(w, w->v[f].path, flags, 0, len, -1);
	wlog(w, op, w->v[f].path, NULL, "len=%zu", len);
	return 0;
}

static int op_append(struct wctx *w)
{
	return wrewrite(w, "append", O_WRONLY | O_APPEND, true, 2048);
}

static int op_truncate(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	uint64_t size;
	int fd;

	if (f < 0)
		return 1;
	size = w->v[f].size > 32768 ? rng_below(&w->rng, w->v[f].size)
				    : rng_below(&w->rng, w->v[f].size + 4097);
	fd = wopen(w, w->v[f].path, O_WRONLY, 0);
	if (ftruncate(fd, (off_t)size) < 0)
		wfail(w, "truncate", w->v[f].path);
	wclose(w, fd, w->v[f].path);
	wlog(w, "truncate", w->v[f].path, NULL, "size=%" PRIu64, size);
	return 0;
}

static int op_otrunc(struct wctx *w)
{
	return wrewrite(w, "open-trunc-write", O_WRONLY | O_TRUNC, false, 4097);
}

static int op_chmod(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	mode_t mode;

	if (e < 0)
		return 1;
	if (w->v[e].type == 'd')
		mode = dir_modes[rng_below(&w->rng, N_OF(dir_modes))];
	else
		mode = file_modes[rng_below(&w->rng, N_OF(file_modes))];
	if (fchmodat(w->rootfd, w->v[e].path, mode, 0) < 0)
		wfail(w, "chmod", w->v[e].path);
	wlog(w, "chmod", w->v[e].path, NULL, "mode=%04o", (unsigned)mode);
	return 0;
}

static int op_chown(struct wctx *w)
{
	int e = wpick(w, W_ANY);
	uint64_t which;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (e < 0)
		return 1;
	which = rng_below(&w->rng, 3);
	if (which != 1)
		uid = owners[rng_below(&w->rng, N_OF(owners))];
	if (which != 0)
		gid = (gid_t)owners[rng_below(&w->rng, N_OF(owners))];
	if (fchownat(w->rootfd, w->v[e].path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		wfail(w, "chown", w->v[e].path);
	wlog(w, "chown", w->v[e].path, NULL, "uid=%d gid=%d", (int)uid, (int)gid);
	return 0;
}

static int op_utimes(struct wctx *w)
{
	int e = wpick(w, W_ANY);
	struct timespec ts[2];

	if (e < 0)
		return 1;
	if (rng_below(&w->rng, 4) == 0) {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
		ts[0].tv_sec = ts[1].tv_sec = 0;
	} else {
		/* A fixed old time, so that mtime goes backwards. */
		ts[1].tv_sec = 946684800 + (time_t)rng_below(&w->rng, 700000000);
		ts[1].tv_nsec = (long)rng_below(&w->rng, 1000000000);
		ts[0] = ts[1];
	}
	if (utimensat(w->rootfd, w->v[e].path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		wfail(w, "utimes", w->v[e].path);
	if (ts[1].tv_nsec == UTIME_NOW)
		wlog(w, "utimes", w->v[e].path, NULL, "now");
	else
		wlog(w, "utimes", w->v[e].path, NULL, "mtime=%lld.%09ld", (long long)ts[1].tv_sec,
		     ts[1].tv_nsec);
	return 0;
}

static int op_setxattr(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	char name[32];
	uint8_t val[64];
	size_t len;
	char *abs;

	if (e < 0)
		return 1;
	snprintf(name, sizeof(name), "user.x%u", (unsigned)rng_below(&w->rng, 4));
	len = 1 + (size_t)rng_below(&w->rng, sizeof(val));
	wfill(w, val, len);
	abs = xasprintf("%s/%s", w->root, w->v[e].path);
	if (lsetxattr(abs, name, val, len, 0) < 0) {
		if (errno == ENOTSUP) {
			free(abs);
			return 1;
		}
		wfail(w, "setxattr", w->v[e].path);
	}
	free(abs);
	wlog(w, "setxattr", w->v[e].path, NULL, "%s len=%zu", name, len);
	return 0;
}

static int op_rmxattr(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	char list[4096], *names[64], *abs;
	size_t n = 0;
	ssize_t len;
	const char *victim;

	if (e < 0)
		return 1;
	abs = xasprintf("%s/%s", w->root, w->v[e].path);
	len = llistxattr(abs, list, sizeof(list));
	if (len < 0 && errno != ENOTSUP)
		wfail(w, "listxattr", w->v[e].path);
	for (ssize_t i = 0; i < len && n < N_OF(names); i += (ssize_t)strlen(list + i) + 1)
		if (!strncmp(list + i, "user.", 5))
			names[n++] = list + i;
	if (!n) {
		free(abs);
		return 1;
	}
	sort_strings(names, n);
	victim = names[rng_below(&w->rng, n)];
	if (lremovexattr(abs, victim) < 0)
		wfail(w, "removexattr", w->v[e].path);
	free(abs);
	wlog(w, "removexattr", w->v[e].path, NULL, "%s", victim);
	return 0;
}

static void wrename(struct wctx *w, const char *op, const char *from, const char *to)
{
	if (renameat(w->rootfd, from, w->rootfd, to) < 0)
		wfail(w, op, from);
	wlog(w, op, from, to, NULL);
}

static int op_rename_file(struct wctx *w)
{
	int f = wpick(w, W_NONDIR);
	char *to;

	if (f < 0 || !(to = wfree_name(w, w->v[f].parent, w->v[f].type == 'l' ? 's' : 'f')))
		return 1;
	wrename(w, "rename-file", w->v[f].path, to);
	free(to);
	return 0;
}

static int op_rename_file_across(struct wctx *w)
{
	int f = wpick(w, W_NONDIR), d;
	char *to;

	if (f < 0)
		return 1;
	d = wpick(w, W_DIR);
	if (d < 0 || d == w->v[f].parent)
		return 1;
	to = wfree_name(w, d, w->v[f].type == 'l' ? 's' : 'f');
	if (!to)
		return 1;
	wrename(w, "rename-file-across", w->v[f].path, to);
	free(to);
	return 0;
}

static int op_rename_over(struct wctx *w)
{
	int f = wpick(w, W_NONDIR), g = wpick(w, W_NONDIR);

	if (f < 0 || g < 0 || f == g)
		return 1;
	wrename(w, "rename-over", w->v[f].path, w->v[g].path);
	return 0;
}

/* Directory dn and directory pn, where dn is to be moved (indexes). */
struct wmove {
	int dn, pn;
};

/* An empty directory in pn other than dn: dn may replace it. */
static bool wis_empty_target(const struct wctx *w, size_t i, const void *arg)
{
	const struct wmove *m = arg;

	return w->v[i].parent == m->pn && w->v[i].type == 'd' && w->v[i].nchildren == 0 &&
	       (int)i != m->dn;
}

/* A directory outside dn's subtree, other than its parent, with room for dn's depth. */
static bool wis_new_parent(const struct wctx *w, size_t i, const void *arg)
{
	const struct wnode *d = &w->v[((const struct wmove *)arg)->dn];

	return w->v[i].type == 'd' && (int)i != d->parent && !wpath_within(d->path, w->v[i].path) &&
	       (unsigned)(w->v[i].depth + 1 + d->height) <= w->max_depth;
}

/* A target for moving directory dn into directory pn: an empty dir or a free name. */
static char *wdir_target(struct wctx *w, int dn, int pn)
{
	struct wmove m = {dn, pn};
	int t;

	if (rng_below(&w->rng, 4) == 0 && (t = wpick_where(w, wis_empty_target, &m)) >= 0)
		return xstrdup(w->v[t].path);
	return wfree_name(w, pn, 'd');
}

static int op_rename_dir(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR);
	char *to;

	if (d < 0 || !(to = wdir_target(w, d, w->v[d].parent)))
		return 1;
	wrename(w, "rename-dir", w->v[d].path, to);
	free(to);
	return 0;
}

static int op_rename_dir_across(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR), p;
	struct wmove m = {d, -1};
	char *to;

	if (d < 0 || (p = wpick_where(w, wis_new_parent, &m)) < 0)
		return 1;
	to = wdir_target(w, d, p);
	if (!to)
		return 1;
	wrename(w, "rename-dir-across", w->v[d].path, to);
	free(to);
	return 0;
}

static int op_mkdir(struct wctx *w)
{
	int d = wpick_where(w, wis_mkdir_room, NULL);
	mode_t mode;
	char *p;

	if (d < 0 || !(p = wfree_name(w, d, 'd')))
		return 1;
	mode = rng_below(&w->rng, 4) ? 0755 : dir_modes[rng_below(&w->rng, N_OF(dir_modes))];
	if (mkdirat(w->rootfd, p, mode) < 0)
		wfail(w, "mkdir", p);
	wlog(w, "mkdir", p, NULL, NULL);
	free(p);
	return 0;
}

static int op_unlink(struct wctx *w)
{
	int f = wpick(w, W_NONDIR);

	if (f < 0)
		return 1;
	if (unlinkat(w->rootfd, w->v[f].path, 0) < 0)
		wfail(w, "unlink", w->v[f].path);
	wlog(w, "unlink", w->v[f].path, NULL, NULL);
	return 0;
}

static void wrm_tree(struct wctx *w, int dfd, const char *name, const char *shown)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names;
	size_t n;

	if (!d)
		wfail(w, "open directory", shown);
	names = dir_names(d, shown, &n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			wfail(w, "stat", names[i]);
		if (S_ISDIR(st.st_mode))
			wrm_tree(w, dirfd(d), names[i], names[i]);
		else if (unlinkat(dirfd(d), names[i], 0) < 0)
			wfail(w, "unlink", names[i]);
	}
	free_strings(names, n);
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		wfail(w, "rmdir", shown);
}

static int op_rmtree(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR);

	if (d < 0)
		return 1;
	wrm_tree(w, w->rootfd, w->v[d].path, w->v[d].path);
	wlog(w, "rmtree", w->v[d].path, NULL, "(%zu below)", w->v[d].nchildren);
	return 0;
}

static int op_link(struct wctx *w)
{
	int f = wpick(w, W_FILE), d = wpick(w, W_DIR);
	char *p;

	if (f < 0 || d < 0 || !(p = wfree_name(w, d, 'h')))
		return 1;
	if (linkat(w->rootfd, w->v[f].path, w->rootfd, p, 0) < 0)
		wfail(w, "link", w->v[f].path);
	wlog(w, "link", w->v[f].path, p, NULL);
	free(p);
	return 0;
}

static int op_symlink(struct wctx *w)
{
	int d = wpick(w, W_DIR), t;
	char *p, *target;
	struct sbuf sb = {0};

	if (d < 0 || !(p = wfree_name(w, d, 's')))
		return 1;
	t = rng_below(&w->rng, 3) ? wpick(w, W_ANY) : -1;
	if (t > 0) {
		for (int i = 0; i < w->v[d].depth; i++)
			sb_adds(&sb, "../");
		sb_adds(&sb, w->v[t].path);
		target = sb.s;
	} else {
		target = xasprintf("nowhere/x%u", (unsigned)rng_below(&w->rng, 100));
		free(sb.s);
	}
	if (symlinkat(target, w->rootfd, p) < 0)
		wfail(w, "symlink", p);
	wlog(w, "symlink", target, p, NULL);
	free(target);
	free(p);
	return 0;
}

static int op_replace(struct wctx *w)
{
	/* Delete a name and create it again at once: a new inode under an old name. */
	if (rng_below(&w->rng, 3) == 0) {
		int d = wpick(w, W_SUBDIR);
		if (d < 0)
			return 1;
		wrm_tree(w, w->rootfd, w->v[d].path, w->v[d].path);
		if (mkdirat(w->rootfd, w->v[d].path, 0755) < 0)
			wfail(w, "mkdir", w->v[d].path);
		wlog(w, "rmtree-mkdir", w->v[d].path, NULL, NULL);
	} else {
		int f = wpick(w, W_FILE);
		if (f < 0)
			return 1;
		if (unlinkat(w->rootfd, w->v[f].path, 0) < 0)
			wfail(w, "unlink", w->v[f].path);
		wcreate_file(w, w->v[f].path);
		wlog(w, "unlink-create", w->v[f].path, NULL, NULL);
	}
	return 0;
}

static int op_exchange(struct wctx *w)
{
	int a = wpick(w, W_ANY), b = wpick(w, W_ANY);
	const struct wnode *x, *y;

	if (a <= 0 || b <= 0 || a == b)
		return 1;
	x = &w->v[a];
	y = &w->v[b];
	if (wpath_within(x->path, y->path) || wpath_within(y->path, x->path))
		return 1;
	if ((x->type == 'd' && (unsigned)(y->depth + x->height) > w->max_depth) ||
	    (y->type == 'd' && (unsigned)(x->depth + y->height) > w->max_depth))
		return 1;
	if (renameat2(w->rootfd, x->path, w->rootfd, y->path, RENAME_EXCHANGE) < 0) {
		if (errno == EINVAL || errno == ENOTSUP)
			return 1;
		wfail(w, "rename-exchange", x->path);
	}
	wlog(w, "exchange", x->path, y->path, NULL);
	return 0;
}

static int op_mmap(struct wctx *w)
{
	int f = wpick(w, W_FILE), fd;
	size_t size, off, len;
	uint8_t *map;

	if (f < 0 || w->v[f].size == 0 || w->v[f].size > (1u << 20))
		return 1;
	size = (size_t)w->v[f].size;
	off = (size_t)rng_below(&w->rng, size);
	len = 1 + (size_t)rng_below(&w->rng, size - off < 512 ? size - off : 512);
	fd = wopen(w, w->v[f].path, O_RDWR, 0);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		wfail(w, "mmap", w->v[f].path);
	wfill(w, map + off, len);
	if (munmap(map, size) < 0)
		wfail(w, "munmap", w->v[f].path);
	wclose(w, fd, w->v[f].path);
	wlog(w, "mmap-write", w->v[f].path, NULL, "off=%zu len=%zu", off, len);
	return 0;
}

static int op_punch(struct wctx *w)
{
	int f = wpick(w, W_FILE), fd;
	off_t off, len;

	if (f < 0 || w->v[f].size == 0)
		return 1;
	off = (off_t)rng_below(&w->rng, w->v[f].size);
	len = 1 + (off_t)rng_below(&w->rng, w->v[f].size - (uint64_t)off);
	fd = wopen(w, w->v[f].path, O_WRONLY, 0);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0) {
		if (errno == EOPNOTSUPP) {
			close(fd);
			return 1;
		}
		wfail(w, "fallocate", w->v[f].path);
	}
	wclose(w, fd, w->v[f].path);
	wlog(w, "punch-hole", w->v[f].path, NULL, "off=%lld len=%lld", (long long)off,
	     (long long)len);
	return 0;
}

static const struct wop {
	const char *name;
	int (*fn)(struct wctx *w);
	unsigned weight;
	bool grows; /* adds entries to the tree */
} wops[] = {
    {"create", op_create, 12, true},
    {"write", op_write, 9, false},
    {"append", op_append, 6, false},
    {"truncate", op_truncate, 4, false},
    {"open-trunc-write", op_otrunc, 2, false},
    {"chmod", op_chmod, 5, false},
    {"chown", op_chown, 4, false},
    {"utimes", op_utimes, 4, false},
    {"setxattr", op_setxattr, 4, false},
    {"removexattr", op_rmxattr, 3, false},
    {"rename-file", op_rename_file, 4, false},
    {"rename-file-across", op_rename_file_across, 4, false},
    {"rename-over", op_rename_over, 3, false},
    {"rename-dir", op_rename_dir, 2, false},
    {"rename-dir-across", op_rename_dir_across, 3, false},
    {"mkdir", op_mkdir, 6, true},
    {"unlink", op_unlink, 6, false},
    {"rmtree", op_rmtree, 1, false},
    {"link", op_link, 4, true},
    {"symlink", op_symlink, 4, true},
    {"replace", op_replace, 3, false},
    {"exchange", op_exchange, 2, false},
    {"mmap-write", op_mmap, 2, false},
    {"punch-hole", op_punch, 2, false},
};

static void workload_op(struct wctx *w, uint64_t seed, uint64_t opno)
{
	unsigned total = 0;
	bool full;

	w->opno = opno;
	w->rng.s = seed * 0x9e3779b97f4a7c15ull ^ (opno * 0xd1b54a32d192ed03ull);
	rng_next(&w->rng);
	wtree_load(w);
	full = w->n >= w->max_entries;
	for (size_t i = 0; i < N_OF(wops); i++)
		total += wops[i].weight;
	for (int attempt = 0; attempt < 32; attempt++) {
		unsigned r = (unsigned)rng_below(&w->rng, total);
		size_t i = 0;
		while (r >= wops[i].weight)
			r -= wops[i++].weight;
		if (full && wops[i].grows)
			continue;
		if (wops[i].fn(w) == 0) {
			if (w->log)
				fprintf(w->log, "%" PRIu64 " %s\n", opno, w->msg.s);
			return;
		}
	}
	if (w->log)
		fprintf(w->log, "%" PRIu64 " nothing-to-do\n", opno);
}

int cmd_workload(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"ops", required_argument, NULL, 'o'},
	    {"start", required_argument, NULL, 'S'},
	    {"log", required_argument, NULL, 'l'},
	    {"max-entries", required_argument, NULL, 'e'},
	    {"max-depth", required_argument, NULL, 'd'},
	    {0},
	};
	const char *usage = "usage: workload --seed N --ops K [--start I] [--log FILE] "
			    "[--max-entries N] [--max-depth N] DIR";
	uint64_t seed = 0, ops = 0, start = 1, v;
	bool have_seed = false, have_ops = false;
	struct wctx w = {.max_entries = 300, .max_depth = 5};
	struct stat st;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_u64(optarg, &seed))
				usage_error("bad --seed '%s'", optarg);
			have_seed = true;
			break;
		case 'o':
			if (!parse_u64(optarg, &ops))
				usage_error("bad --ops '%s'", optarg);
			have_ops = true;
			break;
		case 'S':
			if (!parse_u64(optarg, &start) || start == 0)
				usage_error("bad --start '%s'", optarg);
			break;
		case 'l':
			w.log = fopen(optarg, "ae");
			if (!w.log)
				die("cannot open log %s: %s", optarg, strerror(errno));
			setvbuf(w.log, NULL, _IOLBF, 0);
			break;
		case 'e':
			if (!parse_u64(optarg, &v) || v < 2 || v > 1000000)
				usage_error("bad --max-entries '%s'", optarg);
			w.max_entries = (unsigned)v;
			break;
		case 'd':
			if (!parse_u64(optarg, &v) || v < 1 || v > 64)
				usage_error("bad --max-depth '%s'", optarg);
			w.max_depth = (unsigned)v;
			break;
		default:
			usage_error("%s", usage);
		}
	}
	if (!have_seed || !have_ops || optind != argc - 1)
		usage_error("%s", usage);
	w.root = argv[optind];
	w.rootfd = open(w.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.rootfd < 0 || fstat(w.rootfd, &st) < 0)
		die("cannot open directory %s: %s", w.root, strerror(errno));
	w.dev = st.st_dev;
	umask(0);
	for (uint64_t i = 0; i < ops; i++)
		workload_op(&w, seed, start + i);
	wtree_free(&w);
	free(w.v);
	free(w.msg.s);
	close(w.rootfd);
	if (w.log)
		fclose(w.log);
	return 0;
}

/* storm DIR N: N rounds of create, write, close and (most often) unlink. */
int cmd_storm(int argc, char **argv)
{
	uint64_t n;
	int dfd;

	if (argc != 3 || !parse_u64(argv[2], &n))
		usage_error("usage: storm DIR N");
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die("cannot open directory %s: %s", argv[1], strerror(errno));
	/* Each round is a create, a modify, a close and most often a delete. */
	for (uint64_t i = 0; i < n; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "storm%" PRIu64, i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot create %s/%s: %s", argv[1], name, strerror(errno));
		if (write(fd, "x", 1) != 1)
			die("cannot write %s/%s: %s", argv[1], name, strerror(errno));
		close(fd);
		if (i % 97 != 0 && unlinkat(dfd, name, 0) < 0)
			die("cannot unlink %s/%s: %s", argv[1], name, strerror(errno));
	}
	close(dfd);
	return 0;
}
