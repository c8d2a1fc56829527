/* SPDX-License-Identifier: MIT */
/*
 * scan-bench: the driver of bench/scan-rate.sh (built by that script, not
 * by meson).
 *
 *   scan-bench mktree DIR N          make a tree of N inodes below DIR
 *   scan-bench change DIR K          append to K files spread over DIR
 *   scan-bench scan DIR MARKER [THREADS [MAX_OPEN_DIRS]]
 *                                    catch-up scan of DIR with cutoff =
 *                                    ctime of MARKER; prints one line:
 *                                    seconds dirs inodes emitted errors
 *
 * The tree looks like a source tree: each directory holds up to
 * FILES_PER_DIR files and SUBDIRS_PER_DIR subdirectories, filled breadth
 * first, so about 1 inode in 40 is a directory and the depth is ~6 for
 * a million inodes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/scan.h"

#define FILES_PER_DIR 40
#define SUBDIRS_PER_DIR 6

static int die(const char *what, int err)
{
	fprintf(stderr, "scan-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Directories as indexes: dir i's path is built from its parent chain. */
struct tree {
	unsigned *parent;
	size_t n, cap;
};

static void dir_path(const struct tree *t, const char *root, size_t i, char *out, size_t size)
{
	unsigned chain[64];
	size_t depth = 0, len;

	while (i != 0 && depth < 64) {
		chain[depth++] = (unsigned)i;
		i = t->parent[i];
	}
	len = (size_t)snprintf(out, size, "%s", root);
	while (depth > 0 && len < size)
		len += (size_t)snprintf(out + len, size - len, "/d%u", chain[--depth]);
}

static int cmd_mktree(const char *root, unsigned long n)
{
	struct tree t = {0};
	char path[4096], file[4200];
	unsigned long made = 1;

	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		die(root, errno);
	t.cap = n / (FILES_PER_DIR / 2) + 16;
	t.parent = calloc(t.cap, sizeof(*t.parent));
	if (!t.parent)
		die("calloc", ENOMEM);
	t.n = 1; /* dir 0 is the root */

	for (size_t d = 0; d < t.n && made < n; d++) {
		dir_path(&t, root, d, path, sizeof(path));
		for (unsigned i = 0; i < SUBDIRS_PER_DIR && made < n && t.n < t.cap; i++) {
			t.parent[t.n] = (unsigned)d;
			snprintf(file, sizeof(file), "%s/d%zu", path, t.n);
			if (mkdir(file, 0755) < 0)
				die(file, errno);
			t.n++;
			made++;
		}
		for (unsigned i = 0; i < FILES_PER_DIR && made < n; i++) {
			int fd;

			snprintf(file, sizeof(file), "%s/f%u.c", path, i);
			fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				die(file, errno);
			if (i % 4 == 0 && write(fd, "int x;\n", 7) != 7)
				die(file, errno);
			close(fd);
			made++;
		}
	}
	printf("%lu inodes, %zu dirs\n", made, t.n);
	free(t.parent);
	return 0;
}

static unsigned long change_every, change_left, change_seen;

static int change_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int fd;

	if (type != FTW_F || change_seen++ % change_every != 0)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "/* changed */\n", 14) != 14)
		die(path, errno);
	close(fd);
	return --change_left == 0 ? 1 : 0;
}

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F)
		change_seen++;
	return 0;
}

static int cmd_change(const char *root, unsigned long k)
{
	if (nftw(root, count_one, 64, FTW_PHYS | FTW_MOUNT) < 0)
		die(root, errno);
	change_every = k && change_seen / k ? change_seen / k : 1;
	change_seen = 0;
	change_left = k;
	if (nftw(root, change_one, 64, FTW_PHYS | FTW_MOUNT) < 0)
		die(root, errno);
	printf("%lu files changed\n", k - change_left);
	return 0;
}

static int count_emit(void *userdata, const struct file_handle *fh, const char *name,
		      unsigned kinds)
{
	atomic_fetch_add_explicit((atomic_ulong *)userdata, 1, memory_order_relaxed);
	return 0;
}

static int cmd_scan(const char *root, const char *marker, unsigned threads, unsigned max_open)
{
	struct scan_progress prog;
	struct scan_params p;
	atomic_ulong emitted = 0;
	struct statx stx;
	double t0, t1;
	int fd, r;

	if (statx(AT_FDCWD, marker, 0, STATX_CTIME, &stx) < 0)
		die(marker, errno);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die(root, errno);
	p = (struct scan_params){
	    .root_fd = fd,
	    .cutoff_sec = stx.stx_ctime.tv_sec,
	    .cutoff_nsec = stx.stx_ctime.tv_nsec,
	    .threads = threads,
	    .done_eventfd = -1,
	    .emit = count_emit,
	    .userdata = &emitted,
	    .max_open_dirs = max_open,
	};
	t0 = now_s();
	r = scan_run(&p, &prog);
	t1 = now_s();
	if (r < 0)
		die("scan", -r);
	printf("%.3f %llu %llu %llu %llu\n", t1 - t0, (unsigned long long)prog.dirs,
	       (unsigned long long)prog.inodes, (unsigned long long)prog.emitted,
	       (unsigned long long)prog.errors);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "mktree") == 0)
		return cmd_mktree(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "change") == 0)
		return cmd_change(argv[2], strtoul(argv[3], NULL, 10));
	if (argc >= 4 && argc <= 6 && strcmp(argv[1], "scan") == 0)
		return cmd_scan(argv[2], argv[3], argc > 4 ? (unsigned)atoi(argv[4]) : 0,
				argc > 5 ? (unsigned)atoi(argv[5]) : 0);
	fprintf(stderr, "usage: scan-bench mktree DIR N | change DIR K |"
			" scan DIR MARKER [THREADS [MAX_OPEN_DIRS]]\n");
	return 2;
}
