/* SPDX-License-Identifier: MIT */
#include "daemon/query.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "basic/log.h"
#include "basic/util.h"
#include "daemon/journal.h"
#include "daemon/perm.h"
#include "daemon/place.h"
#include "fstrack.h"

struct change {
	char *path;
	unsigned kinds;
};

struct change_set {
	struct change *v;
	size_t n;
	uint64_t end_seq;
};

/*
 * A query holds at most this many distinct places in memory; past it the
 * answer is the queried directory itself, "recursive" (a rescan), which
 * covers every change. About 100 MB at the most, one query at a time.
 */
#define QUERY_MAX_PLACES (1u << 20)

/* A directory's path in the dirs cache; or one of these. */
#define DIR_GONE ((uintptr_t)1)
#define DIR_UNKNOWN ((uintptr_t)2)

struct query {
	const struct resolver *res;
	const char *canon_dir;
	struct perm_cache *pc;
	struct hashmap *places; /* place key -> kinds */
	struct hashmap *dirs;	/* handle key -> strdup'ed path, DIR_GONE, DIR_UNKNOWN */
	struct hashmap *out;	/* relative path (with NUL) -> kinds */
	struct hashmap *wanted; /* (dev, ino) of objects to find by the walk -> kinds */
	bool widen;		/* something unknown: canon_dir itself is "recursive" */
	bool too_many;		/* more than QUERY_MAX_PLACES: canon_dir itself is "recursive" */
	struct query_stats st;
};

/* ---- 1. fold ------------------------------------------------------------ */

static int collect(const struct jrec *r, void *userdata)
{
	struct query *q = userdata;
	uint8_t key[PLACE_KEY_MAX];
	uintptr_t *v;
	size_t klen;
	int added;

	if (r->type == JREC_WIDE) {
		/* the summary of that time says only: anything may have changed */
		q->widen = true;
		return 0;
	}
	if (r->type != JREC_EVENT)
		return 0;
	q->st.records++;
	if (hashmap_size(q->places) >= QUERY_MAX_PLACES) {
		q->too_many = true;
		return 1; /* stop reading: the answer is "." recursive */
	}
	klen = place_key(key, r->handle_type, r->handle_len, r->handle, r->name, r->name_len);
	if (!klen)
		return 0;
	added = hashmap_upsert(q->places, key, klen, &v);
	if (added < 0)
		return added;
	*v |= r->kinds;
	/*
	 * A name added to or removed from a directory changes the directory
	 * itself too (mtime, ctime, size, link count): list it as "modified".
	 * Not "entries": that says "names came or went that this answer does
	 * not list" (the catch-up scan's word), and these names are listed.
	 * Consumers act on the difference: rsync re-sends a whole "entries"
	 * directory, git's hook must then distrust its untracked cache.
	 */
	if (r->name_len &&
	    (r->kinds & (FST_CREATED | FST_DELETED | FST_RENAMED_FROM | FST_RENAMED_TO))) {
		klen = place_key(key, r->handle_type, r->handle_len, r->handle, ".", 1);
		added = hashmap_upsert(q->places, key, klen, &v);
		if (added < 0)
			return added;
		*v |= FST_MODIFIED;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

static int add_out(struct query *q, const char *rel, unsigned kinds)
{
	uintptr_t *ov;
	int r = hashmap_upsert(q->out, rel, strlen(rel) + 1, &ov);

	if (r < 0)
		return r;
	*ov |= kinds;
	return 0;
}

/*
 * A change the caller may not be told of (a name in a directory it cannot
 * list, container) is still covered for it: by the outermost directory on
 * the way from canon_dir that it cannot list, under that directory's own
 * name, which it can. "entries" when the hidden name is directly in it,
 * "recursive" when deeper; both say "something you cannot list changed
 * here", which the directory's mtime shows the caller anyway.
 */
static int add_hidden(struct query *q, const char *container)
{
	const char *canon_dir = q->canon_dir;
	char p[PATH_MAX];
	const char *rel;
	size_t len = strlen(canon_dir);

	if (!path_under(container, canon_dir, &rel) || strcmp(rel, ".") == 0 ||
	    strlen(container) >= sizeof(p))
		return 0; /* not below the queried dir, which the caller may list */
	memcpy(p, container, strlen(container) + 1);
	for (;;) {
		char *slash = strchr(p + len + (len > 1), '/');

		if (slash)
			*slash = '\0';
		if (!perm_can_list(q->pc, p)) {
			path_under(p, canon_dir, &rel);
			return add_out(q, rel, slash ? FST_RECURSIVE : FST_ENTRIES);
		}
		if (!slash)
			return 0;
		*slash = '/';
		len = (size_t)(slash - p);
	}
}

/*
 * full (under canon_dir) changed; container holds its name. canon_dir
 * itself is always the caller's to see: the server lets it ask only about
 * a directory it may list, whose name it gave, whether or not it may list
 * the directory above (a home directory in a /home of mode 0711).
 */
static int add_change(struct query *q, const char *full, const char *container, unsigned kinds)
{
	const char *rel;

	if (!path_under(full, q->canon_dir, &rel))
		return 0;
	if (q->pc && strcmp(rel, ".") != 0 && !perm_can_list(q->pc, container))
		return add_hidden(q, container); /* the caller could not have listed this name */
	return add_out(q, rel, kinds);
}

static void note_unknown(struct query *q, const struct fhandle *h, int err)
{
	char text[FHANDLE_TEXT_MAX];

	q->st.unknown++;
	q->widen = true;
	fhandle_format(h, text);
	log_ratelimited(LOG_LEVEL_WARN, "cannot resolve %s (%s): the answer covers all of %s", text,
			strerror(-err), q->canon_dir);
}

/* ---- 2. places ---------------------------------------------------------- */

/* The path of a place's directory, resolved once per directory. */
static int dir_path(struct query *q, const struct place *pl, const uint8_t *key, const char **ret)
{
	uintptr_t *dv;
	int r = hashmap_upsert(q->dirs, key, PLACE_HANDLE_KEY_LEN(pl->handle.len), &dv);

	if (r < 0)
		return r;
	if (r == 1) {
		char buf[PATH_MAX];

		q->st.dirs_resolved++;
		r = q->res->path(q->res->data, &pl->handle, buf, sizeof(buf));
		if (r == 0) {
			*dv = (uintptr_t)strdup(buf);
			if (!*dv) {
				*dv = DIR_GONE; /* keep the map freeable */
				return -ENOMEM;
			}
		} else if (fhandle_err_is_gone(r)) {
			*dv = DIR_GONE; /* deleted: its own deletion is recorded */
		} else {
			*dv = DIR_UNKNOWN;
			note_unknown(q, &pl->handle, r);
		}
	}
	*ret = *dv == DIR_GONE || *dv == DIR_UNKNOWN ? NULL : (const char *)*dv;
	return 0;
}

static int resolve_places(struct query *q)
{
	size_t klen, pos = 0;
	const void *key;
	uintptr_t val;

	while (hashmap_iter(q->places, &pos, &key, &klen, &val)) {
		char full[PATH_MAX + 256], container[PATH_MAX];
		const char *dirpath;
		struct place pl;
		int r;

		if (place_decode(key, klen, &pl) < 0 || pl.namelen == 0)
			continue; /* objects: name_objects() */
		r = dir_path(q, &pl, key, &dirpath);
		if (r < 0)
			return r;
		if (!dirpath)
			continue;
		if (pl.namelen == 1 && pl.name[0] == '.') {
			/* the directory itself: its name is in its parent */
			char *slash;
			snprintf(full, sizeof(full), "%s", dirpath);
			snprintf(container, sizeof(container), "%s", dirpath);
			slash = strrchr(container, '/');
			if (slash && slash != container)
				*slash = '\0';
			else
				strcpy(container, "/");
		} else {
			snprintf(full, sizeof(full), "%s%s%.*s", dirpath,
				 strcmp(dirpath, "/") ? "/" : "", (int)pl.namelen, pl.name);
			snprintf(container, sizeof(container), "%s", dirpath);
		}
		r = add_change(q, full, container, (unsigned)val);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- 3. objects (hard links) ---------------------------------------------- */

struct inode_key {
	uint64_t dev, ino;
};

static int want_inode(struct query *q, const struct stat *st, unsigned kinds)
{
	struct inode_key k = {st->st_dev, st->st_ino};
	uintptr_t *v;
	int r = hashmap_upsert(q->wanted, &k, sizeof(k), &v);

	if (r < 0)
		return r;
	*v |= kinds;
	return 0;
}

/*
 * One recorded object: its name as the kernel has it (when it leads back
 * to it), and a walk of canon_dir for its other names when it has more
 * than one or the kernel cannot name it.
 */
static int name_object(struct query *q, const struct fhandle *h, unsigned kinds)
{
	char path[PATH_MAX];
	struct stat st, at;
	bool named = false;
	int fd, r;

	q->st.objects++;
	fd = q->res->open(q->res->data, h, O_PATH);
	if (fd < 0) {
		if (!fhandle_err_is_gone(fd))
			note_unknown(q, h, fd);
		return 0; /* gone: each of its names' deletions is recorded */
	}
	r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && (S_ISDIR(st.st_mode) || st.st_nlink == 0)) {
		safe_close(fd);
		return 0;
	}
	if (r == 0 && fd_get_path(fd, path, sizeof(path)) == 0 && stat(path, &at) == 0 &&
	    at.st_dev == st.st_dev && at.st_ino == st.st_ino) {
		char container[PATH_MAX], *slash;

		snprintf(container, sizeof(container), "%s", path);
		slash = strrchr(container, '/');
		if (slash && slash != container)
			*slash = '\0';
		else
			strcpy(container, "/");
		named = true;
		r = add_change(q, path, container, kinds);
	}
	safe_close(fd);
	if (r < 0) {
		note_unknown(q, h, r);
		return 0;
	}
	if (st.st_nlink >= 2 || !named)
		return want_inode(q, &st, kinds);
	return 0;
}

static int name_objects(struct query *q)
{
	size_t klen, pos = 0;
	const void *key;
	uintptr_t val;

	while (hashmap_iter(q->places, &pos, &key, &klen, &val)) {
		struct place pl;
		int r;

		if (place_decode(key, klen, &pl) < 0 || pl.namelen != 0)
			continue;
		r = name_object(q, &pl.handle, (unsigned)val);
		if (r < 0)
			return r;
	}
	return 0;
}

static int open_beneath(int root_fd, const char *rel)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* One directory of the walk: wanted inodes found, subdirectories queued. */
static int walk_dir(struct query *q, int fd, const char *rel, dev_t dev, char ***queue, size_t *n,
		    size_t *cap);

/*
 * The names of the wanted inodes under canon_dir: a breadth-first walk
 * (a queue of relative paths, no recursion), reading directories only on
 * canon_dir's filesystem. A directory that cannot be opened or read is
 * reported "recursive": whatever it holds is covered.
 */
static int walk_for_links(struct query *q)
{
	char **queue = NULL;
	size_t head = 0, n = 0, cap = 0;
	struct stat rst;
	int root, r = 0;

	if (hashmap_size(q->wanted) == 0)
		return 0;
	root = open(q->canon_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || fstat(root, &rst) < 0) {
		r = -errno;
		safe_close(root);
		q->widen = true;
		log_ratelimited(LOG_LEVEL_WARN, "cannot search %s for hard links: %s", q->canon_dir,
				strerror(-r));
		return 0;
	}
	if (GROW(queue, cap, 1) < 0 || !(queue[0] = strdup("."))) {
		safe_close(root);
		free(queue);
		return -ENOMEM;
	}
	n = 1;
	while (head < n && r == 0) {
		char *rel = queue[head++];
		int fd = strcmp(rel, ".") == 0 ? dup(root) : open_beneath(root, rel);

		if (fd < 0) {
			fd = fd == -1 ? -errno : fd;
			if (fd != -ENOENT) /* vanished meanwhile: its removal is recorded */
				r = add_out(q, rel, FST_RECURSIVE);
		} else {
			r = walk_dir(q, fd, rel, rst.st_dev, &queue, &n, &cap);
		}
		free(rel);
	}
	while (head < n)
		free(queue[head++]);
	free(queue);
	safe_close(root);
	return r;
}

/* "rel/name", or "name" at the top ("."). */
static char *child_rel(const char *rel, const char *name)
{
	char *p;

	if (strcmp(rel, ".") == 0)
		return strdup(name);
	if (asprintf(&p, "%s/%s", rel, name) < 0)
		return NULL;
	return p;
}

static int walk_dir(struct query *q, int fd, const char *rel, dev_t dev, char ***queue, size_t *n,
		    size_t *cap)
{
	DIR *dp = fdopendir(fd);
	struct dirent *de;
	char container[PATH_MAX];
	int r = 0;

	if (!dp) {
		safe_close(fd);
		return add_out(q, rel, FST_RECURSIVE);
	}
	q->st.link_walk_dirs++;
	if (strcmp(rel, ".") == 0)
		snprintf(container, sizeof(container), "%s", q->canon_dir);
	else
		snprintf(container, sizeof(container), "%s%s%s", q->canon_dir,
			 strcmp(q->canon_dir, "/") ? "/" : "", rel);
	for (;;) {
		struct inode_key k;
		struct stat st;
		uintptr_t *v;
		char *sub;

		errno = 0;
		de = readdir(dp);
		if (!de) {
			if (errno) /* a read error: cover what it holds */
				r = add_out(q, rel, FST_RECURSIVE);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile */
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev)
				continue; /* another mount */
			sub = child_rel(rel, de->d_name);
			if (!sub || GROW(*queue, *cap, *n + 1) < 0) {
				free(sub);
				r = -ENOMEM;
				break;
			}
			(*queue)[(*n)++] = sub;
			continue;
		}
		k = (struct inode_key){st.st_dev, st.st_ino};
		v = hashmap_get(q->wanted, &k, sizeof(k));
		if (!v)
			continue;
		if (q->pc && !perm_can_list(q->pc, container)) {
			r = add_hidden(q, container);
		} else {
			sub = child_rel(rel, de->d_name);
			r = sub ? add_out(q, sub, (unsigned)*v) : -ENOMEM;
			free(sub);
		}
		if (r < 0)
			break;
	}
	closedir(dp);
	return r;
}

/* ---- the answer ----------------------------------------------------------- */

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

static int make_set(struct query *q, struct change_set *cs)
{
	size_t klen, pos = 0;
	const void *key;
	uintptr_t val;

	cs->n = 0;
	cs->v = calloc(hashmap_size(q->out) ? hashmap_size(q->out) : 1, sizeof(*cs->v));
	if (!cs->v)
		return -ENOMEM;
	while (hashmap_iter(q->out, &pos, &key, &klen, &val)) {
		cs->v[cs->n].path = strdup(key);
		if (!cs->v[cs->n].path)
			return -ENOMEM;
		cs->v[cs->n++].kinds = (unsigned)val;
	}
	qsort(cs->v, cs->n, sizeof(*cs->v), cmp_change);
	return 0;
}

int query_changes(struct journal *j, const struct resolver *res, uint64_t from,
		  const char *canon_dir, struct perm_cache *pc, struct change_set **ret,
		  struct query_stats *stats)
{
	struct query q = {.res = res, .canon_dir = canon_dir, .pc = pc};
	struct change_set *cs = calloc(1, sizeof(*cs));
	size_t pos = 0;
	uintptr_t val;
	int r;

	q.places = hashmap_new();
	q.dirs = hashmap_new();
	q.out = hashmap_new();
	q.wanted = hashmap_new();
	if (!cs || !q.places || !q.dirs || !q.out || !q.wanted) {
		r = -ENOMEM;
		goto out;
	}
	cs->end_seq = journal_next_seq(j);
	r = journal_read(j, from, collect, &q);
	if (r == 1 && q.too_many) {
		log_ratelimited(LOG_LEVEL_INFO,
				"more than %u places changed under %s: answered as a whole",
				QUERY_MAX_PLACES, canon_dir);
		hashmap_clear(q.places);
		q.widen = true;
		r = 0;
	}
	if (r == 0)
		r = resolve_places(&q);
	if (r == 0)
		r = name_objects(&q);
	if (r == 0)
		r = walk_for_links(&q);
	if (r == 0 && q.widen)
		r = add_out(&q, ".", FST_RECURSIVE);
	if (r == 0)
		r = make_set(&q, cs);
	q.st.places = hashmap_size(q.places);
out:
	while (q.dirs && hashmap_iter(q.dirs, &pos, NULL, NULL, &val))
		if (val != DIR_GONE && val != DIR_UNKNOWN)
			free((void *)val);
	hashmap_free(q.dirs);
	hashmap_free(q.places);
	hashmap_free(q.out);
	hashmap_free(q.wanted);
	if (stats)
		*stats = q.st;
	if (r < 0) {
		change_set_free(cs);
		return r;
	}
	*ret = cs;
	return 0;
}

struct change_set *change_set_free(struct change_set *cs)
{
	if (!cs)
		return NULL;
	for (size_t i = 0; i < cs->n; i++)
		free(cs->v[i].path);
	free(cs->v);
	free(cs);
	return NULL;
}

size_t change_set_count(const struct change_set *cs)
{
	return cs->n;
}

void change_set_get(const struct change_set *cs, size_t i, const char **ret_path,
		    unsigned *ret_kinds)
{
	*ret_path = cs->v[i].path;
	*ret_kinds = cs->v[i].kinds;
}

uint64_t change_set_end_seq(const struct change_set *cs)
{
	return cs->end_seq;
}
