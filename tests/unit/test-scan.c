/* SPDX-License-Identifier: MIT */
/*
 * Tests of the catch-up scan: build a tree under /tmp, take the cutoff from
 * a marker file's ctime, change things, and compare exactly what the scan
 * emits with what scan.h says it must. Runs as root (mounts, capabilities).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/scan.h"
#include "fstrack.h"

#define MAX_MOUNTS 4

struct fixture {
	char dir[64];	/* mkdtemp: holds tree/ and marker */
	char tree[128]; /* the scanned root */
	int root_fd;
	int64_t cutoff_sec;
	uint32_t cutoff_nsec;
	char mounts[MAX_MOUNTS][256];
	int n_mounts;
	bool caps_dropped;
	struct rlimit saved_nofile;
	bool nofile_changed;
};

/* What emit() saw: one string per call, "<handle hex> <name> <kinds>". */
struct collect {
	pthread_mutex_t lock;
	char **v;
	size_t n, cap;
	unsigned delay_us; /* sleep in each emit */
	unsigned fail_at;  /* 1-based call that returns fail_with; 0: never */
	int fail_with;
	unsigned calls;
};

static void handle_str(const struct file_handle *fh, char *out, size_t size)
{
	int n = snprintf(out, size, "%d:", fh->handle_type);

	for (unsigned i = 0; i < fh->handle_bytes && (size_t)n + 3 < size; i++)
		n += snprintf(out + n, size - n, "%02x", fh->f_handle[i]);
}

static char *record_str(const struct file_handle *fh, const char *name, unsigned kinds)
{
	char h[2 * MAX_HANDLE_SZ + 16];
	char *s;

	handle_str(fh, h, sizeof(h));
	assert_true(asprintf(&s, "%s %s %#x", h, name, kinds) > 0);
	return s;
}

static int collect_emit(void *userdata, const struct file_handle *fh, const char *name,
			unsigned kinds)
{
	struct collect *c = userdata;
	char *s = record_str(fh, name, kinds);
	int r = 0;

	pthread_mutex_lock(&c->lock);
	c->calls++;
	if (c->fail_at && c->calls >= c->fail_at)
		r = c->fail_with;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n++] = s;
	pthread_mutex_unlock(&c->lock);
	if (c->delay_us)
		usleep(c->delay_us);
	return r;
}

static void collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

static void collect_release(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_sort(struct collect *c)
{
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), cmp_str);
}

/* ---- building trees ---- */

static void xpath(const struct fixture *f, const char *rel, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", f->tree, rel);

	assert_true(n > 0 && (size_t)n < size);
}

static void mk_dir(const struct fixture *f, const char *rel)
{
	char p[512];

	xpath(f, rel, p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
}

static void mk_file(const struct fixture *f, const char *rel)
{
	char p[512];
	int fd;

	xpath(f, rel, p, sizeof(p));
	/* empty: no blocks to allocate, and to discard at cleanup */
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static void append_file(const struct fixture *f, const char *rel)
{
	char p[512];
	int fd;

	xpath(f, rel, p, sizeof(p));
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more\n", 5), 5);
	close(fd);
}

/* A spec: "d/" makes a directory, "l->t" a symlink to t, anything else a file. */
static void build(const struct fixture *f, const char *const *spec)
{
	for (; *spec; spec++) {
		const char *s = *spec;
		const char *arrow = strstr(s, "->");
		size_t len = strlen(s);

		if (arrow) {
			char name[256], p[512];

			snprintf(name, sizeof(name), "%.*s", (int)(arrow - s), s);
			xpath(f, name, p, sizeof(p));
			assert_int_equal(symlink(arrow + 2, p), 0);
		} else if (s[len - 1] == '/') {
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)(len - 1), s);
			mk_dir(f, name);
		} else {
			mk_file(f, s);
		}
	}
}

/*
 * Timestamps come from the kernel's coarse clock: let it tick past the
 * build, then take the marker's ctime. Everything changed after this has
 * ctime >= cutoff; everything built before has ctime < cutoff.
 */
static void take_cutoff(struct fixture *f)
{
	char p[256];
	struct statx stx;
	int fd;

	usleep(30 * 1000);
	snprintf(p, sizeof(p), "%s/marker", f->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(statx(AT_FDCWD, p, 0, STATX_CTIME, &stx), 0);
	f->cutoff_sec = stx.stx_ctime.tv_sec;
	f->cutoff_nsec = stx.stx_ctime.tv_nsec;
}

/* The record a directory (rel "" = the root) with this name and kinds gives. */
static char *expect(const struct fixture *f, const char *rel_dir, const char *name, unsigned kinds)
{
	char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	struct file_handle *fh = (struct file_handle *)buf;
	char p[512];
	int mnt;

	xpath(f, rel_dir, p, sizeof(p));
	fh->handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(AT_FDCWD, p, fh, &mnt, 0), 0);
	return record_str(fh, name, kinds);
}

static struct scan_params params(const struct fixture *f, struct collect *c, unsigned threads)
{
	return (struct scan_params){
	    .root_fd = f->root_fd,
	    .cutoff_sec = f->cutoff_sec,
	    .cutoff_nsec = f->cutoff_nsec,
	    .threads = threads,
	    .done_eventfd = -1,
	    .emit = collect_emit,
	    .userdata = c,
	};
}

/* Scan with p and check that exactly the n expected records come out. */
static void scan_expect(const struct scan_params *p, struct collect *c, char **want, size_t n,
			struct scan_progress *ret_prog)
{
	struct scan_progress prog;
	size_t i;
	bool same;

	assert_int_equal(scan_run(p, &prog), 0);
	assert_true(prog.done);
	assert_int_equal(prog.result, 0);
	collect_sort(c);
	if (n)
		qsort(want, n, sizeof(*want), cmp_str);
	same = c->n == n;
	for (i = 0; same && i < n; i++)
		same = strcmp(c->v[i], want[i]) == 0;
	if (!same) {
		print_message("# errors %llu\n", (unsigned long long)prog.errors);
		for (i = 0; i < n; i++)
			print_message("# want %s\n", want[i]);
		for (i = 0; i < c->n; i++)
			print_message("# got  %s\n", c->v[i]);
	}
	for (i = 0; i < n; i++)
		free(want[i]);
	assert_true(same);
	assert_int_equal(prog.emitted, c->n);
	if (ret_prog)
		*ret_prog = prog;
}

/* Scan with threads and check exactly the records want[] (NULL-terminated). */
static void check(const struct fixture *f, unsigned threads, char **want)
{
	struct collect c;
	struct scan_params p;
	size_t n = 0;

	while (want[n])
		n++;
	collect_init(&c);
	p = params(f, &c, threads);
	scan_expect(&p, &c, want, n, NULL);
	collect_release(&c);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fst-scan-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
	if (mkdir(f->tree, 0755) < 0)
		return -1;
	f->root_fd = open(f->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0)
		return -1;
	*state = f;
	return 0;
}

static int set_dac_caps(bool on)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	uint32_t bits = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	if (on)
		d[0].effective |= bits & d[0].permitted;
	else
		d[0].effective &= ~bits;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->caps_dropped)
		set_dac_caps(true);
	if (f->nofile_changed)
		setrlimit(RLIMIT_NOFILE, &f->saved_nofile);
	for (int i = f->n_mounts - 1; i >= 0; i--)
		umount2(f->mounts[i], MNT_DETACH);
	if (f->root_fd >= 0)
		close(f->root_fd);
	/* FTW_MOUNT: never delete into a mount left behind */
	nftw(f->dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(f);
	return 0;
}

/* ---- the cases ---- */

static const char *const base_tree[] = {
    "a/",
    "a/f1",
    "a/f2",
    "a/sub/",
    "a/sub/g1",
    "a/mnt/",
    "a/bind/",
    "b/",
    "b/h1",
    "b/deep/",
    "b/deep/x/",
    "b/deep/x/y/",
    "b/deep/x/y/z1",
    "loop->.",
    "dangling->nowhere",
    "top",
    NULL,
};

static void test_unchanged(void **state)
{
	struct fixture *f = *state;
	struct scan_progress prog;
	struct scan_params p;
	struct collect c;

	build(f, base_tree);
	take_cutoff(f);
	collect_init(&c);
	p = params(f, &c, 0);
	scan_expect(&p, &c, NULL, 0, &prog);
	/* root, a, sub, mnt, bind, b, deep, x, y */
	assert_int_equal(prog.dirs, 9);
	assert_int_equal(prog.inodes, 16);
	assert_int_equal(prog.errors, 0);
	collect_release(&c);
}

static void test_file_modified_and_chmod(void **state)
{
	struct fixture *f = *state;
	char p[512];

	build(f, base_tree);
	take_cutoff(f);
	append_file(f, "a/f1");
	xpath(f, "b/h1", p, sizeof(p));
	assert_int_equal(chmod(p, 0600), 0);
	check(f, 0,
	      (char *[]){expect(f, "a", "f1", FST_MODIFIED), expect(f, "b", "h1", FST_MODIFIED),
			 NULL});
}

/* A new file: its parent's entries changed, the grandparent's did not. */
static void test_new_file(void **state)
{
	struct fixture *f = *state;

	build(f, base_tree);
	take_cutoff(f);
	mk_file(f, "a/sub/new");
	check(f, 0,
	      (char *[]){expect(f, "a/sub", "new", FST_MODIFIED),
			 expect(f, "a/sub", ".", FST_ENTRIES | FST_RECURSIVE), NULL});
}

/* A directory whose attributes changed but not its names: ENTRIES only. */
static void test_dir_attrib(void **state)
{
	struct fixture *f = *state;
	char p[512];

	build(f, base_tree);
	take_cutoff(f);
	xpath(f, "a/sub", p, sizeof(p));
	assert_int_equal(chmod(p, 0700), 0);
	check(f, 0, (char *[]){expect(f, "a/sub", ".", FST_ENTRIES), NULL});
}

static void test_deleted_file(void **state)
{
	struct fixture *f = *state;
	char p[512];

	build(f, base_tree);
	take_cutoff(f);
	xpath(f, "a/f2", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	check(f, 0, (char *[]){expect(f, "a", ".", FST_ENTRIES | FST_RECURSIVE), NULL});
}

static void test_root_entries(void **state)
{
	struct fixture *f = *state;

	build(f, base_tree);
	take_cutoff(f);
	mk_file(f, "new");
	check(f, 0,
	      (char *[]){expect(f, "", "new", FST_MODIFIED),
			 expect(f, "", ".", FST_ENTRIES | FST_RECURSIVE), NULL});
}

/* A new tree: every directory in it is RECURSIVE (its parent's or its own mtime moved). */
static void test_new_tree(void **state)
{
	struct fixture *f = *state;

	build(f, base_tree);
	take_cutoff(f);
	build(f, (const char *const[]){"a/n/", "a/n/f", "a/n/m/", "a/n/m/g", "a/n/m/e/", NULL});
	check(f, 2,
	      (char *[]){expect(f, "a", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "a/n", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "a/n", "f", FST_MODIFIED),
			 expect(f, "a/n/m", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "a/n/m", "g", FST_MODIFIED),
			 expect(f, "a/n/m/e", ".", FST_ENTRIES | FST_RECURSIVE), NULL});
}

/* prune_recursive: a RECURSIVE directory is reported, nothing below it. */
static void test_new_tree_pruned(void **state)
{
	struct fixture *f = *state;
	struct scan_params p;
	struct collect c;

	build(f, base_tree);
	take_cutoff(f);
	build(f, (const char *const[]){"a/n/", "a/n/f", "a/n/m/", "a/n/m/g", NULL});
	collect_init(&c);
	p = params(f, &c, 2);
	p.prune_recursive = true;
	/* a's own names changed: RECURSIVE, and nothing below it is walked */
	scan_expect(&p, &c, (char *[]){expect(f, "a", ".", FST_ENTRIES | FST_RECURSIVE)}, 1, NULL);

	collect_release(&c);
}

/* A directory moved into another: it and its old and new parents RECURSIVE. */
static void test_dir_renamed(void **state)
{
	struct fixture *f = *state;
	char from[512], to[512];

	build(f, base_tree);
	take_cutoff(f);
	xpath(f, "a/sub", from, sizeof(from));
	xpath(f, "b/sub2", to, sizeof(to));
	assert_int_equal(rename(from, to), 0);
	check(f, 1,
	      (char *[]){expect(f, "a", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "b", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "b/sub2", ".", FST_ENTRIES | FST_RECURSIVE), NULL});
}

/* Symlinks are reported by name and never followed (loop->. is in the tree). */
static void test_symlinks(void **state)
{
	struct fixture *f = *state;
	char p[512];

	build(f, base_tree);
	take_cutoff(f);
	build(f, (const char *const[]){"b/deep/ln->../../a", NULL});
	xpath(f, "dangling", p, sizeof(p));
	assert_int_equal(lchown(p, 1, 1), 0);
	append_file(f, "a/f1"); /* seen once, not again through ln or loop */
	check(f, 8,
	      (char *[]){expect(f, "b/deep", "ln", FST_MODIFIED),
			 expect(f, "b/deep", ".", FST_ENTRIES | FST_RECURSIVE),
			 expect(f, "", "dangling", FST_MODIFIED),
			 expect(f, "a", "f1", FST_MODIFIED), NULL});
}

/* The state dir (or any excluded inode) and all below it stay silent. */
static void test_exclude(void **state)
{
	struct fixture *f = *state;
	struct scan_params p;
	struct collect c;
	struct stat st;
	char path[512];

	build(f, base_tree);
	build(f, (const char *const[]){"state/", "state/j1", "state/seg/", NULL});
	take_cutoff(f);
	build(f, (const char *const[]){"state/j2", "state/seg/s1", "state/new/", NULL});
	append_file(f, "state/j1");
	append_file(f, "b/h1");
	xpath(f, "state", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);

	collect_init(&c);
	p = params(f, &c, 4);
	p.exclude_dev = st.st_dev;
	p.exclude_ino = st.st_ino;
	scan_expect(&p, &c, (char *[]){expect(f, "b", "h1", FST_MODIFIED)}, 1, NULL);
	collect_release(&c);

	/* excluding the root itself: nothing at all */
	collect_init(&c);
	p = params(f, &c, 4);
	assert_int_equal(fstat(f->root_fd, &st), 0);
	p.exclude_dev = st.st_dev;
	p.exclude_ino = st.st_ino;
	scan_expect(&p, &c, NULL, 0, NULL);
	collect_release(&c);
}

static void add_mount(struct fixture *f, const char *rel, const char *src, const char *type,
		      unsigned long flags)
{
	char p[512];

	assert_true(f->n_mounts < MAX_MOUNTS);
	xpath(f, rel, p, sizeof(p));
	if (mount(src, p, type, flags, NULL) < 0) {
		print_message("# mount %s on %s: %s\n", type ? type : "bind", p, strerror(errno));
		fail();
	}
	snprintf(f->mounts[f->n_mounts++], sizeof(f->mounts[0]), "%s", p);
}

/* Mounts below the root are neither entered nor reported, bind mounts too. */
static void test_mount_not_crossed(void **state)
{
	struct fixture *f = *state;
	char b[512];

	build(f, base_tree);
	take_cutoff(f);
	add_mount(f, "a/mnt", "fst-scan-test", "tmpfs", 0);
	build(f, (const char *const[]){"a/mnt/new", "a/mnt/d/", "a/mnt/d/g", NULL});
	xpath(f, "b", b, sizeof(b));
	add_mount(f, "a/bind", b, NULL, MS_BIND);
	append_file(f, "b/h1"); /* once, through b, not through a/bind */
	check(f, 4, (char *[]){expect(f, "b", "h1", FST_MODIFIED), NULL});
}

/*
 * A directory the scan cannot read is reported RECURSIVE and counted, not
 * skipped. Root reads anything, so drop CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH from this thread's effective set: the scan's
 * threads inherit it.
 */
static void test_unreadable(void **state)
{
	struct fixture *f = *state;
	struct scan_progress prog;
	struct scan_params p;
	struct collect c;
	char sub[512], deep[512];
	int r;

	build(f, base_tree);
	xpath(f, "a/sub", sub, sizeof(sub));
	xpath(f, "b/deep", deep, sizeof(deep));
	assert_int_equal(chmod(sub, 0), 0);	/* can't even open it */
	assert_int_equal(chmod(deep, 0400), 0); /* can list it, not statx in it */
	take_cutoff(f);

	r = set_dac_caps(false);
	if (r < 0) {
		print_message("# SKIP cannot drop CAP_DAC_*: %s\n", strerror(-r));
		skip();
	}
	f->caps_dropped = true;
	collect_init(&c);
	p = params(f, &c, 2);
	scan_expect(&p, &c,
		    (char *[]){expect(f, "a/sub", ".", FST_ENTRIES | FST_RECURSIVE),
			       expect(f, "b/deep", ".", FST_ENTRIES | FST_RECURSIVE)},
		    2, &prog);
	assert_int_equal(prog.errors, 2);
	collect_release(&c);
	assert_int_equal(set_dac_caps(true), 0);
	f->caps_dropped = false;
}

/*
 * Move the fixture onto a fresh tmpfs: the bulk tests create thousands of
 * files, which takes ~0.5 ms each on a busy ext4 /tmp and would push the
 * suite past meson's 30 s timeout. The small cases stay on /tmp's own fs.
 */
static void use_tmpfs(struct fixture *f)
{
	close(f->root_fd);
	f->root_fd = -1;
	assert_int_equal(rmdir(f->tree), 0);
	assert_true(f->n_mounts < MAX_MOUNTS);
	assert_int_equal(mount("fst-scan-test", f->dir, "tmpfs", 0, "mode=0700"), 0);
	memcpy(f->mounts[f->n_mounts++], f->dir, sizeof(f->dir));
	assert_int_equal(mkdir(f->tree, 0755), 0);
	f->root_fd = open(f->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0);
}

/* n directories of files_per files each, below "big/". */
static void build_big(struct fixture *f, unsigned ndirs, unsigned files_per)
{
	char rel[128];

	mk_dir(f, "big");
	for (unsigned d = 0; d < ndirs; d++) {
		snprintf(rel, sizeof(rel), "big/d%03u", d);
		mk_dir(f, rel);
		for (unsigned i = 0; i < files_per; i++) {
			snprintf(rel, sizeof(rel), "big/d%03u/f%05u", d, i);
			mk_file(f, rel);
		}
	}
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void run_collect(const struct scan_params *p, struct collect *c, struct scan_progress *prog)
{
	assert_int_equal(scan_run(p, prog), 0);
	assert_int_equal(prog->result, 0);
	collect_sort(c);
}

static void assert_same(const struct collect *x, const struct collect *y)
{
	assert_int_equal(x->n, y->n);
	for (size_t i = 0; i < x->n; i++)
		assert_string_equal(x->v[i], y->v[i]);
}

/* 20,000 files: exact counts, and 1, 8 threads or a 1-fd budget agree. */
static void test_big_tree(void **state)
{
	struct fixture *f = *state;
	struct collect c1, c8, cspill;
	struct scan_progress prog;
	struct scan_params p;
	char rel[128], path[512];
	uint64_t v;
	struct scan *s;
	unsigned fds;
	int efd;

	use_tmpfs(f);
	build_big(f, 20, 1000);
	fds = count_fds();
	take_cutoff(f);

	/* nothing changed: nothing reported, everything counted */
	collect_init(&c1);
	p = params(f, &c1, 0);
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	p.done_eventfd = efd;
	assert_int_equal(scan_start(&p, &s), 0);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	scan_get_progress(s, &prog);
	assert_true(prog.done);
	assert_int_equal(scan_join_free(s), 0);
	assert_int_equal(prog.result, 0);
	assert_int_equal(prog.dirs, 22);
	assert_int_equal(prog.inodes, 20021);
	assert_int_equal(prog.emitted, 0);
	assert_int_equal(c1.n, 0);
	close(efd);
	collect_release(&c1);

	for (unsigned i = 0; i < 1000; i++) {
		snprintf(rel, sizeof(rel), "big/d%03u/f%05u", i % 20, i * 7 % 1000);
		xpath(f, rel, path, sizeof(path));
		assert_int_equal(chmod(path, 0600), 0);
	}
	mk_file(f, "big/d007/new"); /* plus (d007, new) and (d007, ".") */

	collect_init(&c1);
	p = params(f, &c1, 1);
	run_collect(&p, &c1, &prog);
	assert_int_equal(c1.n, 1002);
	assert_int_equal(prog.inodes, 20022);

	collect_init(&c8);
	p = params(f, &c8, 8);
	run_collect(&p, &c8, &prog);
	assert_same(&c1, &c8);

	/* everything queued by handle: same answer */
	collect_init(&cspill);
	p = params(f, &cspill, 3);
	p.max_open_dirs = 1;
	run_collect(&p, &cspill, &prog);
	assert_same(&c1, &cspill);
	assert_int_equal(prog.dirs, 22);

	collect_release(&c1);
	collect_release(&c8);
	assert_int_equal(count_fds(), fds); /* none left open, spilled or not */
	collect_release(&cspill);
}

/* With only 64 fds, a deep and a wide tree still scan completely. */
static void test_fd_bound(void **state)
{
	struct fixture *f = *state;
	struct scan_progress prog;
	struct scan_params p;
	struct collect c;
	struct rlimit rl;
	char rel[4096];
	size_t len;

	mk_dir(f, "wide");
	for (unsigned i = 0; i < 300; i++) {
		snprintf(rel, sizeof(rel), "wide/w%03u", i);
		mk_dir(f, rel);
	}
	len = (size_t)snprintf(rel, sizeof(rel), "deep");
	mk_dir(f, rel);
	for (unsigned i = 0; i < 200; i++) {
		len += (size_t)snprintf(rel + len, sizeof(rel) - len, "/d");
		mk_dir(f, rel);
	}
	take_cutoff(f);
	mk_file(f, "wide/w299/new");
	snprintf(rel + len, sizeof(rel) - len, "/new");
	mk_file(f, rel);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->saved_nofile), 0);
	rl = f->saved_nofile;
	rl.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	f->nofile_changed = true;

	collect_init(&c);
	p = params(f, &c, 16);
	run_collect(&p, &c, &prog);
	assert_int_equal(prog.dirs, 1 + 1 + 300 + 1 + 200);
	assert_int_equal(prog.errors, 0);
	assert_int_equal(c.n, 4);
	collect_release(&c);
}

static void wait_emitted(struct scan *s, uint64_t n)
{
	struct scan_progress prog;

	for (int i = 0; i < 10000; i++) {
		scan_get_progress(s, &prog);
		if (prog.emitted >= n || prog.done)
			return;
		usleep(1000);
	}
	fail_msg("scan made no progress");
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct scan_progress prog;
	struct scan_params p;
	struct collect c;
	struct scan *s;
	unsigned fds;
	uint64_t v;
	int efd;

	use_tmpfs(f);
	build_big(f, 4, 1000);
	collect_init(&c);
	p = params(f, &c, 2);
	p.cutoff_sec = 0; /* everything is reported */
	p.cutoff_nsec = 0;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	p.done_eventfd = efd;
	c.delay_us = 200;
	fds = count_fds();
	assert_int_equal(scan_start(&p, &s), 0);
	wait_emitted(s, 10);
	scan_cancel(s);
	scan_get_progress(s, &prog);
	assert_int_equal(scan_join_free(s), -ECANCELED);
	assert_int_equal(count_fds(), fds); /* queued fds closed */
	assert_true(prog.emitted < 4000);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(read(efd, &v, sizeof(v)), -1); /* once */
	close(efd);
	collect_release(&c);
	/* NULL is fine */
	assert_int_equal(scan_join_free(NULL), 0);
}

static void test_emit_error_stops(void **state)
{
	struct fixture *f = *state;
	struct scan_progress prog;
	struct scan_params p;
	struct collect c;

	use_tmpfs(f);
	build_big(f, 4, 500);
	collect_init(&c);
	p = params(f, &c, 4);
	p.cutoff_sec = 0;
	c.fail_at = 5;
	c.fail_with = -EIO;
	assert_int_equal(scan_run(&p, &prog), -EIO);
	assert_true(prog.done);
	assert_int_equal(prog.result, -EIO);
	assert_true(c.calls < 2000);
	collect_release(&c);
}

struct churn {
	const struct fixture *f;
	atomic_bool stop;
	unsigned rounds;
};

static void *churn_main(void *arg)
{
	struct churn *ch = arg;
	char a[512], b[512], file[600];

	xpath(ch->f, "big/d001/tmp", a, sizeof(a));
	xpath(ch->f, "big/d002/tmp", b, sizeof(b));
	snprintf(file, sizeof(file), "%s/x", a);
	while (!atomic_load(&ch->stop)) {
		/* entries vanish and appear under the scan's feet */
		if (mkdir(a, 0755) == 0) {
			close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
			rename(a, b);
			snprintf(file, sizeof(file), "%s/x", b);
			unlink(file);
			rmdir(b);
			snprintf(file, sizeof(file), "%s/x", a);
		}
		for (unsigned i = 0; i < 20; i++) {
			char p[600];

			snprintf(p, sizeof(p), "%s/../f%05u", a, i);
			unlink(p);
		}
		ch->rounds++;
	}
	return NULL;
}

/* Entries that vanish while the scan reads are not errors, and nothing breaks. */
static void test_churn(void **state)
{
	struct fixture *f = *state;
	struct churn ch = {.f = f};
	struct scan_progress prog;
	struct scan_params p;
	pthread_t t;

	use_tmpfs(f);
	build_big(f, 4, 1000);
	take_cutoff(f);
	assert_int_equal(pthread_create(&t, NULL, churn_main, &ch), 0);
	for (unsigned i = 0; i < 5; i++) {
		struct collect c;

		collect_init(&c);
		p = params(f, &c, 8);
		p.max_open_dirs = i % 2 ? 1 : 0;
		assert_int_equal(scan_run(&p, &prog), 0);
		assert_int_equal(prog.errors, 0);
		collect_release(&c);
	}
	atomic_store(&ch.stop, true);
	pthread_join(t, NULL);
	assert_true(ch.rounds > 0);
}

static void test_bad_params(void **state)
{
	struct fixture *f = *state;
	struct scan_params p;
	struct collect c;
	char path[512];
	int fd;

	collect_init(&c);
	p = params(f, &c, 1);
	p.emit = NULL;
	assert_int_equal(scan_run(&p, NULL), -EINVAL);

	mk_file(f, "file");
	xpath(f, "file", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	p = params(f, &c, 1);
	p.root_fd = fd;
	assert_int_equal(scan_run(&p, NULL), -ENOTDIR);
	close(fd);

	/* an O_PATH root works, and the caller's fd offset is left alone */
	fd = open(f->tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	p = params(f, &c, 1);
	p.root_fd = fd;
	p.cutoff_sec = 0;
	assert_int_equal(scan_run(&p, NULL), 0);
	assert_int_equal(c.n, 2); /* (root, "."), (root, "file") */
	close(fd);
	collect_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_modified_and_chmod, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_attrib, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_tree_pruned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_renamed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exclude, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_not_crossed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_emit_error_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_churn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_params, setup, teardown),
	};

	return cmocka_run_group_tests_name("scan", tests, NULL, NULL);
}
