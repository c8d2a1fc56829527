/* SPDX-License-Identifier: MIT */
/*
 * gitfsm: git's fsmonitor answer (see gitfsm.h).
 *
 * What git does with a path (fsmonitor.c fsmonitor_refresh_callback, dir.c
 * untracked_cache_invalidate_path and invalidate_one_component; git 2.31 to
 * 2.39, and the same after the rewrite of 2.45; the builtin daemon's IPC
 * answer goes through the same refresh_fsmonitor as the hook's):
 *   "a/b"   re-checks the index entry a/b, or when there is none every
 *           index entry below a/b/ (b may be a directory), and re-reads the
 *           untracked-cache listing of a, the directory that holds the last
 *           component (and, in the default cache for -unormal, of every
 *           directory above a);
 *   "a/b/"  re-checks every index entry below a/b/ and re-reads the listing
 *           of a, NOT the listing of a/b itself;
 *   a path with a component git refuses (verify_path: ".git" in any case,
 *   or its NTFS and HFS spellings) re-reads nothing.
 * A listing git has not been told to re-read is trusted as it is (dir.c
 * valid_cached_dir: with fsmonitor no stat), and re-reading a directory
 * keeps the listings cached for its subdirectories (invalidate_directory
 * only clears their "recurse" bits, and the directory's readdir sets them
 * again). So a directory d whose entries changed (names we do not know came
 * or went) is reported as "d/" (its tracked files, even the deleted ones),
 * as "d" too when the name d itself came or went (a tracked file d that a
 * directory replaced is not below "d/"), and as "d/x", the rescan name of d: x is the first entry
 * of d that git accepts, a file rather than a directory where d has one (git re-checks every index
 * entry below a directory it is given; for a file, that one file at most). For a recursive change
 * every directory found below d gets its rescan name too. Entries or recursive changes of the work
 * tree itself cannot be said without "/" (git has no "every entry directly in the top" path): they
 * give "/". Other names not in the work tree come only from fstrackd: what it reported deleted or
 * renamed away.
 *
 * An empty directory has nothing real inside it to name, and no real path
 * makes git re-read its listing: "d/" and "d" re-read the listing of d's
 * parent, which keeps the one cached for d, so a file removed from d while
 * the daemon was down would still be shown. There the rescan name is
 * d/EMPTY_DIR_NAME, the one name made up here (git looks it up like any
 * untracked path: with core.ignorecase, git 2.45 and later in its name
 * hash). The work tree itself, when empty (nothing but .git), gets "/"
 * instead: there is nothing in it for git to check, and no name to give.
 *
 * A directory whose own change is all there is (modified: names came or
 * went in it, which fstrackd reports by their own paths; attrib: its mode
 * or times, which git does not keep) is left out: "d" would make git
 * re-check every index entry below d and re-read the listing of d's
 * parent, for nothing (a checkout that rewrites one file of d makes d
 * "modified"). git's own daemon does not name it either. A nested
 * repository is named all the same (git keeps it as a gitlink entry).
 *
 * fstrackd names a changed file under one of its names: a changed file
 * with hard links has its other names in the work tree found and reported
 * too (a readdir walk, only then).
 *
 * "/" and git's untracked cache: on "/" git re-checks every index entry
 * (those it does not check stay dirty in the index it writes), but it
 * only stops trusting the untracked cache in its own process
 * (fsmonitor.c refresh_fsmonitor, use_fsmonitor = 0; git 2.39 to at least
 * 2.55). A command that does not list untracked files (reset, stash,
 * update-index, commit) then writes the index with the new token and the
 * untracked cache as it was, and the next command trusts a stale listing:
 * a removed untracked file would still be shown. So a "/" that advances
 * the token hands out the token with GITFSM_RESCAN_MARK appended, and an
 * answer since a marked token adds the rescan name of every directory of
 * the work tree (a readdir walk, once), which the next command does
 * honour: the listings a path clears stay cleared in the index it writes,
 * whether or not it lists untracked files itself (and an index it does not
 * write keeps the marked token). An empty work tree answers "/" again,
 * marked.
 */
#include "gitfsm/gitfsm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "basic/links.h"
#include "basic/relpath.h"
#include "basic/util.h"
#include "fstrack.h"

/* Kinds that say the name itself came or went (the type behind it may have changed). */
#define NAME_CAME_OR_WENT (FST_CREATED | FST_DELETED | FST_RENAMED_FROM | FST_RENAMED_TO)

/* The rescan name inside an empty directory, which has no real one. */
#define EMPTY_DIR_NAME ".fstrack-rescan"

/* Append len bytes and a NUL. */
static int put_bytes(struct gitfsm_answer *a, const char *s, size_t len)
{
	if (GROW(a->buf, a->cap, a->len + len + 1) < 0)
		return -ENOMEM;
	memcpy(a->buf + a->len, s, len);
	a->len += len;
	a->buf[a->len++] = '\0';
	return 0;
}

static int put(struct gitfsm_answer *a, const char *path)
{
	return put_bytes(a, path, strlen(path));
}

static bool has_git_component(const char *p)
{
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');

		if (e - s == 4 && strncmp(s, ".git", 4) == 0)
			return true;
		if (!*e)
			break;
		s = e + 1;
	}
	return false;
}

/*
 * Would git take a path with this component (read-cache.c verify_path,
 * with core.protectNTFS and core.protectHFS on)? No for "." and "..",
 * ".git" in any case, its NTFS spellings (".git", "git~1", then only dots
 * and spaces up to the end or a ':'), and, said conservatively, for HFS
 * any of those once the bytes >= 0x80 are left out (HFS ignores some code
 * points); no too for a '\\' (NTFS) or a control character. ".gitignore"
 * and the like are fine.
 */
static bool git_accepts_name(const char *name)
{
	char skel[NAME_MAX + 1];
	const char *rest;
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		if (*s < 0x20 || *s == 0x7f || *s == '\\')
			return false;
		if (*s < 0x80 && n < sizeof(skel) - 1)
			skel[n++] = (char)*s;
	}
	skel[n] = '\0';
	if (strcmp(skel, ".") == 0 || strcmp(skel, "..") == 0)
		return false;
	if (strncasecmp(skel, ".git", 4) == 0)
		rest = skel + 4;
	else if (strncasecmp(skel, "git~1", 5) == 0)
		rest = skel + 5;
	else
		return true;
	while (*rest == ' ' || *rest == '.')
		rest++;
	return *rest != '\0' && *rest != ':';
}

/*
 * Does git refuse every path through a component with this name
 * (read-cache.c verify_path on Linux, core.protectNTFS on, as by default)?
 * For ".", "..", and ".git" as NTFS spells it, also after a '\\' (which is
 * no separator on Linux, but git checks what follows it): ".git" or
 * "git~1" in any case, then only dots and spaces up to the end or a ':'.
 * Any other name git may take a path through (a tab, a newline, a '\\'):
 * the walk goes below it.
 */
static bool git_refuses_name(const char *name)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return true;
	for (const char *s = name;; s++) {
		const char *rest = NULL;

		if (strncasecmp(s, ".git", 4) == 0)
			rest = s + 4;
		else if (strncasecmp(s, "git~1", 5) == 0)
			rest = s + 5;
		while (rest && (*rest == ' ' || *rest == '.'))
			rest++;
		if (rest && (*rest == '\0' || *rest == ':' || *rest == '\\'))
			return true;
		s = strchr(s, '\\');
		if (!s)
			return false;
	}
}

/*
 * The rescan name of dir (see the top): "dir/x" for the first entry x of
 * dir that git accepts, a file rather than a directory; dir/EMPTY_DIR_NAME
 * when there is none, and a->everything for an empty work tree. Nothing
 * when dir is not a directory (any more): then "dir/" re-reads the listing
 * that held it. With q, queue the subdirectories of dir (not through
 * symlinks, nor those git refuses, such as .git).
 */
static int put_rescan_name(struct gitfsm_answer *a, int top_fd, const char *dir, struct pathq *q)
{
	int fd = openat(top_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char *file = NULL, *subdir = NULL, *name;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return 0;
		if (errno != EACCES && errno != EPERM)
			return -errno;
		d = NULL; /* unreadable: git cannot list it either; name it as empty */
	} else {
		d = fdopendir(fd);
		if (!d) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	while (d && r == 0 && !(file && !q)) {
		struct stat st;
		unsigned char type;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (git_refuses_name(de->d_name))
			continue; /* not even below it: git takes no path through it */
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* gone */
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		if (type == DT_DIR && q)
			r = pathq_push(q, relpath_child(dir, de->d_name));
		if (r < 0)
			break;
		if (!git_accepts_name(de->d_name))
			continue; /* git may take paths below it, but it is no name to give */
		if (type == DT_DIR && !subdir)
			r = (subdir = strdup(de->d_name)) ? 0 : -ENOMEM;
		else if (type != DT_DIR && !file)
			r = (file = strdup(de->d_name)) ? 0 : -ENOMEM;
	}
	if (d)
		closedir(d);
	if (r == 0 && !file && !subdir && strcmp(dir, ".") == 0) {
		a->everything = true;
	} else if (r == 0) {
		name = relpath_child(dir, file ? file : subdir ? subdir : EMPTY_DIR_NAME);
		r = name ? put(a, name) : -ENOMEM;
		free(name);
	}
	free(file);
	free(subdir);
	return r;
}

/* The rescan name of dir and of every directory below it; "." is the work tree. */
static int put_tree_rescan(struct gitfsm_answer *a, int top_fd, const char *dir)
{
	struct pathq q = {0};
	int r = pathq_push(&q, strdup(dir));

	while (r == 0 && q.head < q.n && !a->everything) {
		char *p = q.v[q.head++];

		r = put_rescan_name(a, top_fd, p, &q);
		free(p);
	}
	pathq_release(&q);
	return r;
}

static int put_link(void *data, const char *path)
{
	return put(data, path);
}

/*
 * Is c a directory's own change only: modified or attrib, the directory
 * still there (see the top)? Not for a nested repository (git keeps it as
 * a gitlink entry of its own, which the name re-checks).
 */
static bool dir_itself_only(int top_fd, const struct gitfsm_change *c, const struct stat *st)
{
	struct stat git;
	char *p;
	bool nested;

	if (!S_ISDIR(st->st_mode) || (c->kinds & ~(unsigned)(FST_MODIFIED | FST_ATTRIB)))
		return false;
	p = relpath_child(c->path, ".git");
	nested = !p || fstatat(top_fd, p, &git, AT_SYMLINK_NOFOLLOW) == 0;
	free(p);
	return !nested;
}

/* Does a change ask for what only "/" can say? */
static bool needs_everything(const struct gitfsm_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!relpath_is_clean(v[i].path))
			return true;
		if (strcmp(v[i].path, ".") == 0 && (v[i].kinds & (FST_ENTRIES | FST_RECURSIVE)))
			return true;
	}
	return false;
}

/* The paths for git after the token; a->everything set when only "/" will do. */
static int put_changes(struct gitfsm_answer *a, bool rescan_untracked,
		       const struct gitfsm_change *v, size_t n, int top_fd)
{
	struct hashmap *rec = hashmap_new(), *links = hashmap_new();
	int r = rec && links ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < n; i++) {
		uintptr_t *slot;

		if (v[i].kinds & FST_RECURSIVE)
			r = hashmap_upsert(rec, v[i].path, strlen(v[i].path), &slot) < 0 ? -ENOMEM
											 : 0;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct gitfsm_change *c = &v[i];
		struct stat st;
		char *s;

		if (strcmp(c->path, ".") == 0 || has_git_component(c->path))
			continue; /* the top's own attributes; git's own files */
		if (relpath_under_any(rec, c->path))
			continue; /* "d/" and the walk of a recursive ancestor cover it */
		if (!(c->kinds & (FST_ENTRIES | FST_RECURSIVE))) {
			bool found = fstatat(top_fd, c->path, &st, AT_SYMLINK_NOFOLLOW) == 0;

			if (found && dir_itself_only(top_fd, c, &st))
				continue;
			r = put(a, c->path);
			if (r == 0 && found)
				r = links_note(links, &st);
			continue;
		}
		/* the name came or went: an index entry of that name (a file then) */
		if (c->kinds & NAME_CAME_OR_WENT)
			r = put(a, c->path);
		if (r < 0 || asprintf(&s, "%s/", c->path) < 0) {
			r = -ENOMEM;
			break;
		}
		r = put(a, s);
		free(s);
		if (r < 0 || rescan_untracked)
			continue; /* the walk below names every directory */
		if (c->kinds & FST_RECURSIVE)
			r = put_tree_rescan(a, top_fd, c->path);
		else
			r = put_rescan_name(a, top_fd, c->path, NULL);
	}
	/* a file changed through one name changed under its other names too */
	if (r == 0)
		r = links_walk(top_fd, links, true, put_link, a);
	if (r == 0 && rescan_untracked)
		r = put_tree_rescan(a, top_fd, ".");
	hashmap_free(rec);
	hashmap_free(links);
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool gitfsm_token_marked(const char *git_token, size_t *ret_len)
{
	bool marked = ends_with(git_token, GITFSM_RESCAN_MARK);

	*ret_len = strlen(git_token) - (marked ? strlen(GITFSM_RESCAN_MARK) : 0);
	return marked;
}

int gitfsm_answer_everything(struct gitfsm_answer *a, const char *token, bool mark)
{
	size_t len = strlen(token), m = strlen(GITFSM_RESCAN_MARK);

	a->len = 0;
	a->everything = true;
	if (GROW(a->buf, a->cap, len + m + 3) < 0)
		return -ENOMEM;
	memcpy(a->buf, token, len);
	if (mark && !ends_with(token, GITFSM_RESCAN_MARK)) {
		memcpy(a->buf + len, GITFSM_RESCAN_MARK, m);
		len += m;
	}
	memcpy(a->buf + len, "\0/", 3);
	a->len = len + 3;
	return 0;
}

int gitfsm_answer_changes(struct gitfsm_answer *a, const char *token, bool fresh,
			  bool rescan_untracked, const struct gitfsm_change *v, size_t n,
			  int top_fd)
{
	int r;

	a->len = 0;
	a->everything = fresh || needs_everything(v, n);
	if (a->everything)
		return gitfsm_answer_everything(a, token, true);
	r = put(a, token);
	if (r == 0)
		r = put_changes(a, rescan_untracked, v, n, top_fd);
	if (r < 0 || a->everything)
		return gitfsm_answer_everything(a, token, true);
	return 0;
}

void gitfsm_answer_release(struct gitfsm_answer *a)
{
	free(a->buf);
	*a = (struct gitfsm_answer){0};
}
