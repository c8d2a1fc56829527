/* SPDX-License-Identifier: MIT */
/*
 * rsync-list: the NUL-separated file lists for rsync --files-from --from0
 * that bring a copy of a directory up to date with an answer of fstrackd
 * (what 'fstrack changes --rsync' prints and 'fstrack backup' feeds rsync).
 *
 * The recipe. rsync -a --files-from=LIST --from0 (which implies -R and -d,
 * not -r) copies exactly the listed names; a directory listed with a
 * trailing slash ("dir/", or "." for the top) has its direct children
 * copied, and with --delete the names in the copy that are not in the
 * source are deleted there (recursively). --delete-missing-args deletes in
 * the copy a listed name that no longer exists in the source. So for the
 * answer R of 'changes --since T SRC':
 *
 *   exact path p (any kind but entries/recursive)   "p"                 [E]
 *     p the top itself (its own attributes)          "." (its children   [D]
 *                                                    too, to rsync)
 *     p missing                                      "p"                 [D]
 *     p missing and its parent missing too           nothing: whatever
 *                                                    removed the parent is
 *                                                    in R and covers p
 *   directory d with kind entries                    "d/"                [D]
 *   directory d with kind recursive                  "d/" and "x/" for   [E]
 *                                                    every directory x
 *                                                    below d
 *   fresh                                            as recursive "."    [E]
 *   a listed file with hard links                    its other names     [E]
 *                                                    below SRC too
 *                                                    (fstrackd names one)
 *   any name at the top                              "." too             [D]
 *                                                    (see below)
 *
 * The top of the copy changes whenever rsync writes a name there (its
 * temporary file, renamed over the name), but rsync sets the times only of
 * directories in its list, and the top is in it only as "." (3.5.0 also
 * deletes a missing name at the top after it has set the top's times when
 * "." is not listed): so a name at the top brings "." into the last run.
 *
 * rsync's quick check skips a file whose size and mtime match the copy's,
 * and a file rewritten in place with its mtime put back (tar, cp -p, touch
 * -r) has both: the names that may have new content [E] go to rsync with
 * --ignore-times. The children of an entries directory [D] did not change
 * (a changed child is listed itself), so [D] keeps the quick check.
 * 'changes --rsync' prints both lists as one, for one rsync with -I;
 * backup runs two (see backup.c). Walks stay on SRC's filesystem (rsync
 * -x), since fstrackd does not cross mount points.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "basic/links.h"
#include "basic/relpath.h"
#include "cli/cli-util.h"
#include "cli/rsync-list.h"

enum { EXACT, DIRS };

struct list {
	FILE *out[2];
	size_t count[2];
	int src_fd;
	dev_t dev;
	struct hashmap *seen;
	struct hashmap *links; /* inodes of listed files with other names */
	bool top_named;	       /* a name at the top is listed: "." must be too */
};

static int emit(struct list *l, int which, const char *name)
{
	uintptr_t *slot;
	size_t len = strlen(name);
	const char *slash;
	int r = hashmap_upsert(l->seen, name, len, &slot);

	if (r <= 0)
		return r;
	slash = memchr(name, '/', len);
	if (strcmp(name, ".") != 0 && (!slash || slash == name + len - 1))
		l->top_named = true; /* "x" or "x/" */
	if (fwrite(name, 1, len + 1, l->out[which]) != len + 1)
		return errno ? -errno : -EIO;
	l->count[which]++;
	return 0;
}

/*
 * Read dir (relative to src): note its files that have other names, for the
 * walk that lists those too (-H), and queue on q (unless NULL) its
 * subdirectories that are on src's filesystem.
 */
static int read_children(struct list *l, const char *dir, struct pathq *q)
{
	int fd = openat(l->src_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return 0; /* gone or unreadable: rsync will say so for the listed "dir/" */
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errno == ENOMEM ? -ENOMEM : 0;
	}
	for (;;) {
		struct stat st;
		char *child;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (!q && de->d_type == DT_DIR)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* a file in the tree with names outside it: list those too, for -H */
		if (links_note(l->links, &st) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!q || !S_ISDIR(st.st_mode) || st.st_dev != l->dev)
			continue;
		child = relpath_child(dir, de->d_name);
		if (!child) {
			r = -ENOMEM;
			break;
		}
		r = pathq_push(q, child);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

/* "d/" (or "." for the top): the form that makes rsync sync d's children. */
static int emit_contents(struct list *l, int which, const char *d)
{
	char *s;
	int r;

	if (strcmp(d, ".") == 0) {
		r = emit(l, which, ".");
	} else {
		if (asprintf(&s, "%s/", d) < 0)
			return -ENOMEM;
		r = emit(l, which, s);
		free(s);
	}
	/*
	 * One list for one rsync with -I ('changes --rsync'): d's children are
	 * sent again, and a child sent without its other names loses its hard
	 * links in the copy. (backup's quick-check run leaves them alone.)
	 */
	if (r == 0 && which == DIRS && l->out[DIRS] == l->out[EXACT])
		r = read_children(l, d, NULL);
	return r;
}

/* "d/" and "x/" for every directory x below d. */
static int emit_tree(struct list *l, const char *top)
{
	struct pathq q = {0};
	char *p = strdup(top);
	int r;

	if (!p)
		return -ENOMEM;
	r = pathq_push(&q, p);
	while (r == 0 && q.head < q.n) {
		p = q.v[q.head++];
		r = emit_contents(l, EXACT, p);
		if (r == 0)
			r = read_children(l, p, &q);
		free(p);
	}
	pathq_release(&q);
	return r;
}

static bool parent_is_dir(struct list *l, const char *p)
{
	const char *slash = strrchr(p, '/');
	struct stat st;
	char *parent;
	bool ok;

	if (!slash)
		return true; /* the top itself */
	parent = strndup(p, (size_t)(slash - p));
	if (!parent)
		return true; /* listing a name too many is harmless */
	ok = fstatat(l->src_fd, parent, &st, 0) == 0 && S_ISDIR(st.st_mode);
	free(parent);
	return ok;
}

static int emit_change(struct list *l, const struct fst_change *c)
{
	struct stat st;

	if (fstatat(l->src_fd, c->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return emit(l, EXACT, c->path); /* let rsync say what is wrong */
		if (!parent_is_dir(l, c->path))
			return 0;
		return emit(l, DIRS, c->path);
	}
	if (S_ISDIR(st.st_mode) && st.st_dev == l->dev) {
		if (c->kinds & FST_RECURSIVE)
			return emit_tree(l, c->path);
		/* rsync has no form for the top alone: "." is its children too */
		if ((c->kinds & FST_ENTRIES) || strcmp(c->path, ".") == 0)
			return emit_contents(l, DIRS, c->path);
	}
	if (links_note(l->links, &st) < 0)
		return -ENOMEM;
	return emit(l, EXACT, c->path);
}

static int emit_link(void *data, const char *path)
{
	return emit(data, EXACT, path);
}

int rsync_list_write(struct rsync_lists *out, const char *src, const struct fst_changes *ch)
{
	struct list l = {.out = {out->exact, out->dirs}};
	struct stat st;
	int r = 0;

	for (size_t i = 0; i < ch->n; i++)
		if (!relpath_is_clean(ch->v[i].path))
			return -EBADMSG;
	l.src_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l.src_fd < 0)
		return -errno;
	if (fstat(l.src_fd, &st) < 0) {
		r = -errno;
		close(l.src_fd);
		return r;
	}
	l.dev = st.st_dev;
	l.seen = hashmap_new();
	l.links = hashmap_new();
	if (!l.seen || !l.links) {
		hashmap_free(l.seen);
		hashmap_free(l.links);
		close(l.src_fd);
		return -ENOMEM;
	}
	if (ch->fresh) {
		r = emit_tree(&l, ".");
	} else {
		/* below a recursive directory, its walk lists everything */
		struct hashmap *rec = cli_recursive_set(ch);

		if (!rec)
			r = -ENOMEM;
		for (size_t i = 0; r == 0 && i < ch->n; i++)
			if (!relpath_under_any(rec, ch->v[i].path))
				r = emit_change(&l, &ch->v[i]);
		hashmap_free(rec);
		/* the other names of changed files with hard links */
		if (r == 0)
			r = links_walk(l.src_fd, l.links, false, emit_link, &l);
		/* a name at the top: "." too, and (one list) its files' other names */
		if (r == 0 && l.top_named) {
			size_t linked = hashmap_size(l.links);

			r = emit_contents(&l, DIRS, ".");
			if (r == 0 && hashmap_size(l.links) != linked)
				r = links_walk(l.src_fd, l.links, false, emit_link, &l);
		}
	}
	if (r == 0 && (fflush(out->exact) != 0 || fflush(out->dirs) != 0))
		r = errno ? -errno : -EIO;
	hashmap_free(l.seen);
	hashmap_free(l.links);
	close(l.src_fd);
	out->n_exact = l.count[EXACT];
	out->n_dirs = l.count[DIRS];
	return r;
}
