/* SPDX-License-Identifier: MIT */
/* walk: an iterative, bounded-fd directory tree walk (see walk.h). */
#include "watchman/walk.h"
#include "basic/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int walk_open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
	    /* openat2 refuses O_NOCTTY with O_PATH */
	    .flags = (uint64_t)(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY)),
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, path[0] ? path : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

struct pending {
	char *path;
	void *state;
};

struct name {
	char *name;
	unsigned char dtype;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct name *)a)->name, ((const struct name *)b)->name);
}

/* Read all names of dirfd (without . and ..); the fd stays open. */
static int read_names(int dirfd, struct name **ret, size_t *ret_n)
{
	DIR *d;
	struct dirent *de;
	struct name *v = NULL;
	size_t n = 0, cap = 0;
	int r = opendir_dup(dirfd, &d);

	if (r < 0)
		return r;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = GROW(v, cap, n + 1);
		if (r < 0)
			break;
		v[n].name = strdup(de->d_name);
		if (!v[n].name) {
			r = -ENOMEM;
			break;
		}
		v[n++].dtype = de->d_type;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i].name);
		free(v);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_name);
	*ret = v;
	*ret_n = n;
	return 0;
}

static unsigned char dtype_of(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return (unsigned char)IFTODT(st.st_mode);
}

struct walker {
	const struct walk *w;
	struct pending *stack;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static int push(struct walker *k, char *path, void *state)
{
	int r = GROW(k->stack, k->cap, k->n + 1);

	if (r < 0)
		return r;
	k->stack[k->n++] = (struct pending){path, state};
	return 0;
}

static void free_state(struct walker *k, void *state)
{
	if (state && k->w->free_state)
		k->w->free_state(state);
}

/* List one directory: visit its entries, queue the subdirectories asked for. */
static int list_dir(struct walker *k, const char *path, void *state)
{
	const struct walk *w = k->w;
	size_t plen = strlen(path), first_child = k->n;
	struct name *names = NULL;
	size_t nnames = 0;
	int fd, r;

	fd = walk_open_beneath(w->root_fd, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		/*
		 * vanished, replaced, a symlink now, or another filesystem: nothing
		 * to list; or a directory the walker's credentials (a client's) may
		 * not open: listed as an entry, not entered
		 */
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ||
		    fd == -EACCES)
			return 0;
		snprintf(k->err, k->errlen, "cannot open directory '%s': %s", path[0] ? path : ".",
			 strerror(-fd));
		return fd;
	}
	if (w->may_list) {
		r = w->may_list(w->ud, fd, path);
		if (r <= 0) {
			close(fd);
			return r;
		}
	}
	r = read_names(fd, &names, &nnames);
	if (r < 0) {
		snprintf(k->err, k->errlen, "cannot read directory '%s': %s", path[0] ? path : ".",
			 strerror(-r));
		close(fd);
		return r;
	}
	for (size_t i = 0; i < nnames && r >= 0; i++) {
		size_t nlen = strlen(names[i].name), len = plen ? plen + 1 + nlen : nlen;
		char *child = malloc(len + 1);
		void *child_state = NULL;
		struct walk_entry e;

		if (!child) {
			r = -ENOMEM;
			break;
		}
		if (plen) {
			memcpy(child, path, plen);
			child[plen] = '/';
		}
		memcpy(child + (plen ? plen + 1 : 0), names[i].name, nlen + 1);
		if (len >= PATH_MAX) {
			snprintf(k->err, k->errlen, "path too long under '%s'", path);
			free(child);
			r = -ENAMETOOLONG;
			break;
		}
		if (names[i].dtype == DT_UNKNOWN)
			names[i].dtype = dtype_of(fd, names[i].name);
		e = (struct walk_entry){.dirfd = fd,
					.name = names[i].name,
					.path = child,
					.path_len = len,
					.dtype = names[i].dtype,
					.dir_state = state};
		r = w->visit(w->ud, &e, &child_state);
		if (r >= 0 && child_state && names[i].dtype == DT_DIR) {
			r = push(k, child, child_state);
			if (r >= 0)
				continue;
		}
		free_state(k, child_state);
		free(child);
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i].name);
	free(names);
	close(fd);
	/* the children were pushed in order: reverse them so the first pops first */
	for (size_t a = first_child, b = k->n; a + 1 < b; a++, b--) {
		struct pending t = k->stack[a];

		k->stack[a] = k->stack[b - 1];
		k->stack[b - 1] = t;
	}
	return r;
}

int walk_run(const struct walk *w, const char *start, void *start_state, char *err, size_t errlen)
{
	struct walker k = {.w = w, .err = err, .errlen = errlen};
	char dummy[1];
	struct stat st;
	int r, fd;

	if (!err || !errlen) {
		k.err = dummy;
		k.errlen = sizeof(dummy);
	}
	fd = walk_open_beneath(w->root_fd, start, O_PATH);
	if (fd < 0) {
		free_state(&k, start_state);
		return fd == -ELOOP || fd == -EXDEV ? -ENOTDIR : fd;
	}
	r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r == 0 && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r < 0) {
		free_state(&k, start_state);
		return r;
	}
	{
		char *s = strdup(start);

		if (!s) {
			free_state(&k, start_state);
			return -ENOMEM;
		}
		r = push(&k, s, start_state);
		if (r < 0) {
			free(s);
			free_state(&k, start_state);
			return r;
		}
	}
	while (r >= 0 && k.n > 0) {
		struct pending p = k.stack[--k.n];

		r = list_dir(&k, p.path, p.state);
		free_state(&k, p.state);
		free(p.path);
	}
	while (k.n > 0) {
		struct pending p = k.stack[--k.n];

		free_state(&k, p.state);
		free(p.path);
	}
	free(k.stack);
	return r;
}
