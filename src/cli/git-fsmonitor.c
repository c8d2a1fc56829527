/* SPDX-License-Identifier: MIT */
/*
 * fstrack git-fsmonitor: git's core.fsmonitor hook, hook protocol version 2.
 *
 * git runs "<hook> 2 <token>" through the shell in the root of the work
 * tree and reads from stdout: the new token, a NUL, then NUL-separated
 * paths relative to the work tree that may have changed. A first path "/"
 * means "everything may have changed" (git then checks every file and does
 * not trust its untracked cache). A failing hook makes git do the same.
 *
 * What git does with a path (fsmonitor.c fsmonitor_refresh_callback, dir.c
 * untracked_cache_invalidate_path and invalidate_one_component; git 2.31 to
 * 2.39, and the same after the rewrite of 2.45):
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
 * or went) is reported as "d/" (its tracked files, even the deleted ones)
 * and as "d/x", the rescan name of d: x is the first entry of d that git
 * accepts, a file rather than a directory where d has one (git re-checks
 * every index entry below a directory it is given; for a file, that one
 * file at most). For a recursive change every directory found below d gets
 * its rescan name too. Entries or recursive changes of the work tree itself
 * cannot be said without "/" (git has no "every entry directly in the top"
 * path): they give "/". Other names not in the work tree come only from
 * fstrackd: what it reported deleted or renamed away.
 *
 * An empty directory has nothing real inside it to name, and no real path
 * makes git re-read its listing: "d/" and "d" re-read the listing of d's
 * parent, which keeps the one cached for d, so a file removed from d while
 * the daemon was down would still be shown. There the rescan name is
 * d/EMPTY_DIR_NAME, the one name the hook makes up (git looks it up like
 * any untracked path: with core.ignorecase, git 2.45 and later in its name
 * hash). The work tree itself, when empty (nothing but .git), gets "/"
 * instead: there is nothing in it for git to check, and no name to give.
 *
 * fstrackd names a changed file under one of its names: a changed file
 * with hard links has its other names in the work tree found and reported
 * too (a readdir walk, only then).
 *
 * Safety: any doubt gives "/" with a token that is still right. When the
 * daemon cannot answer and git's token is ours, that token goes back
 * unchanged with "/": git checks everything now, and the next call asks
 * again since the same token. On first use (git's token is a timestamp or
 * empty) the work tree is watched and its new token comes with "/".
 *
 * "/" and git's untracked cache: on "/" git re-checks every index entry
 * (those it does not check stay dirty in the index it writes), but it
 * only stops trusting the untracked cache in its own process
 * (fsmonitor.c refresh_fsmonitor, use_fsmonitor = 0; git 2.39 to at least
 * 2.47). A command that does not list untracked files (reset, stash,
 * update-index, commit) then writes the index with the new token and the
 * untracked cache as it was, and the next command trusts a stale listing:
 * a removed untracked file would still be shown. So a "/" that advances
 * the token hands out the token with RESCAN_MARK appended, and an answer
 * since a marked token adds the rescan name of every directory of the work
 * tree (a readdir walk, once), which the next command does honour: the
 * listings a path clears stay cleared in the index it writes, whether or
 * not it lists untracked files itself (and an index it does not write
 * keeps the marked token). An empty work tree answers "/" again, marked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "cli/cli-util.h"
#include "cli/commands.h"
#include "cli/links.h"
#include "fstrack.h"

/* The rescan name inside an empty directory, which has no real one. */
#define EMPTY_DIR_NAME ".fstrack-rescan"
/* Appended to a token handed out with "/": see "/" and git's untracked cache. */
#define RESCAN_MARK "+untracked-rescan"
/* How long a catch-up scan may hold git up before git checks everything itself. */
#define SCAN_WAIT_MS 1000
/* How long the daemon may take at all before git checks everything itself. */
#define ANSWER_TIMEOUT_MS 30000

const char git_fsmonitor_synopsis[] = "git-fsmonitor VERSION TOKEN";

const char git_fsmonitor_summary[] = "Answer git's core.fsmonitor hook (hook protocol version 2)";

const char git_fsmonitor_help[] =
    "Use it as git's fsmonitor hook, in the work tree of a repository:\n"
    "  git config core.fsmonitor \"fstrack git-fsmonitor\"\n"
    "  git config core.untrackedCache true     # optional, makes untracked files fast too\n"
    "The first git command watches the work tree (as 'fstrack watch' would) and\n"
    "checks every file once; later ones only look at what changed. With a --socket,\n"
    "put it before the command: \"fstrack --socket PATH git-fsmonitor\".\n"
    "\n"
    "Speaks hook protocol version 2; for version 1 it answers \"everything may have\n"
    "changed\". When fstrackd cannot answer, git checks every file (and fstrack says\n"
    "why on stderr): a missed change is never the result.\n";

struct out {
	FILE *f;
	bool everything;       /* only "/" will do */
	bool rescan_untracked; /* git's token was marked: every directory's rescan name */
};

static void put(struct out *o, const char *path)
{
	fputs(path, o->f);
	fputc('\0', o->f);
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
 * The rescan name of dir (see the top): "dir/x" for the first entry x of
 * dir that git accepts, a file rather than a directory; dir/EMPTY_DIR_NAME
 * when there is none, and o->everything for an empty work tree. Nothing
 * when dir is not a directory (any more): then "dir/" re-reads the listing
 * that held it. With q, queue the subdirectories of dir (not through
 * symlinks, nor those git refuses, such as .git).
 */
static int put_rescan_name(struct out *o, int top_fd, const char *dir, struct cli_pathq *q)
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
		if (!git_accepts_name(de->d_name))
			continue; /* not even below it: git takes no path through it */
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* gone */
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		if (type == DT_DIR && q)
			r = cli_pathq_push(q, cli_child_path(dir, de->d_name));
		if (r < 0)
			break;
		if (type == DT_DIR && !subdir)
			r = (subdir = strdup(de->d_name)) ? 0 : -ENOMEM;
		else if (type != DT_DIR && !file)
			r = (file = strdup(de->d_name)) ? 0 : -ENOMEM;
	}
	if (d)
		closedir(d);
	if (r == 0 && !file && !subdir && strcmp(dir, ".") == 0) {
		o->everything = true;
	} else if (r == 0) {
		name = cli_child_path(dir, file ? file : subdir ? subdir : EMPTY_DIR_NAME);
		if (name)
			put(o, name);
		else
			r = -ENOMEM;
		free(name);
	}
	free(file);
	free(subdir);
	return r;
}

/* The rescan name of dir and of every directory below it; "." is the work tree. */
static int put_tree_rescan(struct out *o, int top_fd, const char *dir)
{
	struct cli_pathq q = {0};
	int r = cli_pathq_push(&q, strdup(dir));

	while (r == 0 && q.head < q.n && !o->everything) {
		char *p = q.v[q.head++];

		r = put_rescan_name(o, top_fd, p, &q);
		free(p);
	}
	cli_pathq_release(&q);
	return r;
}

static int put_link(void *data, const char *path)
{
	put(data, path);
	return 0;
}

/* The paths for git; o->everything set when only "/" will do. */
static int put_changes(struct out *o, const struct fst_changes *ch)
{
	struct hashmap *rec, *links;
	int top_fd, r = 0;

	if (ch->fresh) {
		o->everything = true;
		return 0;
	}
	for (size_t i = 0; i < ch->n; i++) {
		const struct fst_change *c = &ch->v[i];

		if (!cli_path_is_clean(c->path)) {
			o->everything = true;
			return 0;
		}
		if (strcmp(c->path, ".") == 0 && (c->kinds & (FST_ENTRIES | FST_RECURSIVE))) {
			o->everything = true;
			return 0;
		}
	}

	rec = cli_recursive_set(ch);
	links = hashmap_new();
	top_fd = rec && links ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (top_fd < 0) {
		r = rec && links ? -errno : -ENOMEM;
		hashmap_free(rec);
		hashmap_free(links);
		return r;
	}
	for (size_t i = 0; r == 0 && i < ch->n; i++) {
		const struct fst_change *c = &ch->v[i];
		struct stat st;
		char *s;

		if (strcmp(c->path, ".") == 0 || has_git_component(c->path))
			continue; /* the top's own attributes; git's own files */
		if (cli_under_recursive(rec, c->path))
			continue; /* "d/" and the walk of a recursive ancestor cover it */
		if (!(c->kinds & (FST_ENTRIES | FST_RECURSIVE))) {
			put(o, c->path);
			if (fstatat(top_fd, c->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    links_note(links, &st) < 0)
				r = -ENOMEM;
			continue;
		}
		if (asprintf(&s, "%s/", c->path) < 0) {
			r = -ENOMEM;
			break;
		}
		put(o, s);
		free(s);
		if (o->rescan_untracked)
			continue; /* the walk below names every directory */
		if (c->kinds & FST_RECURSIVE)
			r = put_tree_rescan(o, top_fd, c->path);
		else
			r = put_rescan_name(o, top_fd, c->path, NULL);
	}
	/* a file changed through one name changed under its other names too */
	if (r == 0)
		r = links_walk(top_fd, links, true, put_link, o);
	if (r == 0 && o->rescan_untracked)
		r = put_tree_rescan(o, top_fd, ".");
	close(top_fd);
	hashmap_free(rec);
	hashmap_free(links);
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/*
 * The answer when nothing better can be said: token, then "/". A token
 * that git has not had before is marked (see "/" and git's untracked cache).
 */
static int answer_everything(const char *token, bool mark)
{
	fputs(token, stdout);
	if (mark && !ends_with(token, RESCAN_MARK))
		fputs(RESCAN_MARK, stdout);
	fputc('\0', stdout);
	fputs("/", stdout);
	fputc('\0', stdout);
	if (fflush(stdout) != 0)
		return EXIT_ERROR;
	return EXIT_OK;
}

/* First use, or the scope is gone: watch the work tree, check everything. */
static int start_over(fst_client *c, const char *top)
{
	char *token = NULL;
	int r, code;

	r = fst_watch(c, top, &token);
	if (r == -EEXIST)
		r = fst_token(c, top, &token);
	if (r < 0) {
		/* git falls back to checking everything when the hook fails */
		return cli_error("cannot watch the work tree %s: %s", top, fst_client_error(c));
	}
	code = answer_everything(token, true);
	free(token);
	return code;
}

int cmd_git_fsmonitor(const struct cli *cli, int argc, char **argv)
{
	const char *version, *last;
	char *since = NULL;
	struct fst_changes *ch = NULL;
	struct out o = {0};
	fst_client *c = NULL;
	char *top = NULL, *buf = NULL;
	size_t len = 0;
	bool ours;
	int r, code;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cli_print_help(git_fsmonitor_synopsis, git_fsmonitor_summary,
				      git_fsmonitor_help);
	if (argc != 3)
		return cli_usage_error("git-fsmonitor",
				       "expected VERSION and TOKEN (git passes them; configure "
				       "core.fsmonitor=\"fstrack git-fsmonitor\")");
	version = argv[1];
	last = argv[2];
	if (strcmp(version, "1") == 0) {
		/* Version 1 asks by time, which fstrackd cannot answer: everything. */
		fputs("/", stdout);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
	}
	if (strcmp(version, "2") != 0)
		return cli_error("git asked for fsmonitor hook protocol version %s; only 2 is "
				 "supported (git config core.fsmonitorHookVersion 2)",
				 version);

	top = realpath(".", NULL);
	if (!top)
		return cli_error("cannot resolve the work tree: %s", strerror(errno));
	o.rescan_untracked = ends_with(last, RESCAN_MARK);
	since = strndup(last, strlen(last) - (o.rescan_untracked ? strlen(RESCAN_MARK) : 0));
	if (!since) {
		free(top);
		return cli_error("out of memory");
	}
	ours = fst_token_is_valid(since);

	r = fst_connect(cli->socket, &c);
	if (r < 0) {
		char msg[1024];

		fst_connect_strerror(cli->socket, r, msg, sizeof(msg));
		if (ours) {
			cli_warn("%s; git checks every file", msg);
			code = answer_everything(last, false);
		} else {
			code = cli_error("%s", msg);
		}
		goto out;
	}
	fst_client_set_timeout(c, ANSWER_TIMEOUT_MS);
	if (!ours) {
		code = start_over(c, top);
		goto out;
	}
	r = fst_changes(c, top, since, SCAN_WAIT_MS, &ch);
	if (r == -ENOENT || r == -EINVAL) {
		/* not watched (any more), or the daemon does not know the token */
		code = start_over(c, top);
		goto out;
	}
	if (r == -EAGAIN) {
		/* a catch-up scan is running: git checks everything this time */
		code = answer_everything(last, false);
		goto out;
	}
	if (r < 0) {
		cli_warn("%s; git checks every file", fst_client_error(c));
		code = answer_everything(last, false);
		goto out;
	}

	o.f = open_memstream(&buf, &len);
	if (!o.f) {
		code = answer_everything(last, false);
		goto out;
	}
	r = put_changes(&o, ch);
	if (fclose(o.f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0 || o.everything) {
		code = answer_everything(ch->token, true);
		goto out;
	}
	fputs(ch->token, stdout);
	fputc('\0', stdout);
	fwrite(buf, 1, len, stdout);
	code = fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
out:
	free(buf);
	fst_changes_free(ch);
	fst_client_free(c);
	free(since);
	free(top);
	return code;
}
