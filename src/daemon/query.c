/* SPDX-License-Identifier: MIT */
/*
 * query: "what changed under DIR since seq S?"
 *
 * Read the journal from S, fold the records into distinct places
 * (dir handle, name) with the union of their kinds, resolve each distinct
 * directory once (open_by_handle_at through the filesystem's mount, then
 * the kernel's path of the fd), keep the places under DIR that the caller
 * may see, and return them relative to DIR, sorted.
 *
 * Paths are resolved now, not when the change happened: a directory moved
 * since shows at its new place, and its old place is covered by the
 * rename's own records (kind recursive on both sides).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "daemon/daemon.h"
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

/* key of a place: 4 bytes type, 2 bytes length, handle, name */
static size_t place_key(uint8_t *key, int32_t type, uint16_t hlen, const uint8_t *h,
			const char *name, size_t nlen)
{
	memcpy(key, &type, 4);
	memcpy(key + 4, &hlen, 2);
	memcpy(key + 6, h, hlen);
	if (nlen) /* a file's own handle has no name (and name may be NULL) */
		memcpy(key + 6 + hlen, name, nlen);
	return 6 + hlen + nlen;
}

static int collect(const struct jrec *r, void *userdata)
{
	struct hashmap *places = userdata;
	uint8_t key[6 + HANDLE_MAX + 256];
	uintptr_t *v;
	int added;

	if (r->type != JREC_EVENT || r->handle_len > HANDLE_MAX || r->name_len > 255)
		return 0;
	/* an empty name: the handle is a hard-linked file's own (recorder) */
	added = hashmap_upsert(places, key,
			       place_key(key, r->handle_type, r->handle_len, r->handle, r->name,
					 r->name_len),
			       &v);
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
	if (r->kinds & (FST_CREATED | FST_DELETED | FST_RENAMED_FROM | FST_RENAMED_TO)) {
		added = hashmap_upsert(places, key,
				       place_key(key, r->handle_type, r->handle_len, r->handle, ".",
						 1),
				       &v);
		if (added < 0)
			return added;
		*v |= FST_MODIFIED;
	}
	return 0;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

#define RESOLVE_FAILED ((uintptr_t)1)

struct inode_want {
	dev_t dev;
	ino_t ino;
	unsigned kinds;
};

struct link_search {
	struct inode_want *v;
	size_t n;
	const char *root;
	struct perm_cache *pc;
	struct hashmap *out;
	int err;
};

static int add_out(struct hashmap *out, const char *rel, unsigned kinds)
{
	uintptr_t *ov;
	int r = hashmap_upsert(out, rel, strlen(rel) + 1, &ov);

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
static int add_hidden(struct perm_cache *pc, struct hashmap *out, const char *canon_dir,
		      const char *container)
{
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
		if (!perm_can_list(pc, p)) {
			bool direct = !slash;

			path_under(p, canon_dir, &rel);
			return add_out(out, rel, direct ? FST_ENTRIES : FST_RECURSIVE);
		}
		if (!slash)
			return 0;
		*slash = '/';
		len = (size_t)(slash - p);
	}
}

/* Walk dir (fd, path relative to the root) for the wanted inodes. */
static void search_dir(struct link_search *ls, int fd, dev_t dev, const char *rel)
{
	DIR *dp = fdopendir(fd);
	struct dirent *de;

	if (!dp) {
		close(fd);
		return;
	}
	while ((de = readdir(dp))) {
		struct stat st;
		char sub[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (S_ISDIR(st.st_mode)) {
			int cfd;
			if (st.st_dev != dev)
				continue; /* another mount */
			cfd = openat(dirfd(dp), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0)
				search_dir(ls, cfd, dev, sub);
			continue;
		}
		if (st.st_nlink < 2)
			continue;
		for (size_t i = 0; i < ls->n; i++) {
			if (ls->v[i].ino != st.st_ino || ls->v[i].dev != st.st_dev)
				continue;
			if (ls->pc) {
				char container[PATH_MAX];
				snprintf(container, sizeof(container), "%s%s%s", ls->root,
					 *rel ? "/" : "", rel);
				if (!perm_can_list(ls->pc, container)) {
					if (add_hidden(ls->pc, ls->out, ls->root, container) < 0)
						ls->err = -ENOMEM;
					break;
				}
			}
			if (add_out(ls->out, sub, ls->v[i].kinds) < 0)
				ls->err = -ENOMEM;
			break;
		}
	}
	closedir(dp);
}

/*
 * Hard-linked files that changed (recorded by their own handle): name them
 * under canon_dir. The kernel's name for the inode is tried first; when it
 * lies elsewhere (the change was made through a name outside canon_dir),
 * canon_dir is searched for the inode's other names, once for all of them.
 */
static int add_hard_links(struct fsys *fs, struct hashmap *places, const char *canon_dir,
			  struct perm_cache *pc, struct hashmap *out)
{
	struct link_search ls = {.root = canon_dir, .pc = pc, .out = out};
	size_t pos = 0, klen, cap = 0;
	const void *key;
	uintptr_t val;
	int mfd = -1, r = 0;

	while (hashmap_iter(places, &pos, &key, &klen, &val)) {
		const uint8_t *k = key;
		union {
			struct file_handle fh;
			char raw[sizeof(struct file_handle) + HANDLE_MAX];
		} u;
		struct fhandle h;
		char path[PATH_MAX], *slash;
		const char *rel;
		struct stat st;
		uint16_t hlen;
		int fd;

		memcpy(&hlen, k + 4, 2);
		if (klen != 6u + hlen)
			continue; /* a (dir, name) place */
		memcpy(&h.type, k, 4);
		h.len = hlen;
		memcpy(h.bytes, k + 6, hlen);
		if (fsys_resolve(fs, &h, path, sizeof(path)) == 0 &&
		    path_under(path, canon_dir, &rel) && strcmp(rel, ".") != 0) {
			slash = strrchr(path, '/');
			*slash = '\0';
			if (!pc || perm_can_list(pc, path[0] ? path : "/")) {
				r = add_out(out, rel, (unsigned)val);
				if (r < 0)
					break;
			}
		}
		/* other names may be under canon_dir too: look for them */
		if (mfd < 0 && (mfd = fsys_mount_fd(fs)) < 0)
			break;
		u.fh.handle_bytes = h.len;
		u.fh.handle_type = h.type;
		memcpy(u.fh.f_handle, h.bytes, h.len);
		fd = open_by_handle_at(mfd, &u.fh, O_PATH | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = fstat(fd, &st) < 0 ? -errno : 0;
		close(fd);
		if (r < 0 || st.st_nlink < 2) {
			r = 0;
			continue;
		}
		if (ls.n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct inode_want *nv = realloc(ls.v, ncap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			ls.v = nv;
			cap = ncap;
		}
		ls.v[ls.n++] = (struct inode_want){st.st_dev, st.st_ino, (unsigned)val};
	}
	if (r == 0 && ls.n > 0) {
		int fd = open(canon_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat st;

		if (fd >= 0 && fstat(fd, &st) == 0)
			search_dir(&ls, fd, st.st_dev, "");
		else if (fd >= 0)
			close(fd);
		r = ls.err;
	}
	free(ls.v);
	return r;
}

int query_changes(struct fsys *fs, uint64_t from, const char *canon_dir,
		  const struct query_opts *o, struct change_set **ret)
{
	struct hashmap *places = hashmap_new(), *dirs = hashmap_new(), *out = hashmap_new();
	struct perm_cache *pc = NULL;
	struct change_set *cs = calloc(1, sizeof(*cs));
	const void *key;
	size_t klen, pos = 0;
	uintptr_t val;
	int r;

	if (!places || !dirs || !out || !cs) {
		r = -ENOMEM;
		goto out;
	}
	if (o && o->uid != 0) {
		pc = perm_cache_new(o->uid, o->gid, o->pid);
		if (!pc) {
			r = -ENOMEM;
			goto out;
		}
	}
	cs->end_seq = journal_next_seq(fs->journal);
	r = journal_read(fs->journal, from, collect, places);
	if (r < 0)
		goto out;

	while (hashmap_iter(places, &pos, &key, &klen, &val)) {
		const uint8_t *k = key;
		uint16_t hlen;
		uintptr_t *dv;
		const char *dirpath, *name, *rel;
		char full[PATH_MAX + 256], container[PATH_MAX];
		size_t nlen;

		memcpy(&hlen, k + 4, 2);
		name = (const char *)k + 6 + hlen;
		nlen = klen - 6 - hlen;
		if (nlen == 0)
			continue; /* a file's own handle: add_hard_links() */

		/* resolve each distinct directory once */
		r = hashmap_upsert(dirs, k, 6 + hlen, &dv);
		if (r < 0)
			goto out;
		if (r == 1) {
			struct fhandle h;
			char buf[PATH_MAX];

			memcpy(&h.type, k, 4);
			h.len = hlen;
			memcpy(h.bytes, k + 6, hlen);
			if (fsys_resolve(fs, &h, buf, sizeof(buf)) == 0)
				*dv = (uintptr_t)strdup(buf);
			else
				*dv = RESOLVE_FAILED; /* deleted: its own deletion is recorded */
			if (!*dv) {
				r = -ENOMEM;
				goto out;
			}
		}
		if (*dv == RESOLVE_FAILED)
			continue;
		dirpath = (const char *)*dv;

		if (nlen == 1 && name[0] == '.') {
			snprintf(full, sizeof(full), "%s", dirpath);
			snprintf(container, sizeof(container), "%s", dirpath);
			char *slash = strrchr(container, '/');
			if (slash && slash != container)
				*slash = '\0';
			else
				strcpy(container, "/");
		} else {
			snprintf(full, sizeof(full), "%s%s%.*s", dirpath,
				 strcmp(dirpath, "/") ? "/" : "", (int)nlen, name);
			snprintf(container, sizeof(container), "%s", dirpath);
		}
		if (!path_under(full, canon_dir, &rel))
			continue;
		if (pc && !perm_can_list(pc, container)) {
			/* the caller could not have listed this name */
			r = add_hidden(pc, out, canon_dir, container);
			if (r < 0)
				goto out;
			continue;
		}

		uintptr_t *ov;
		r = hashmap_upsert(out, rel, strlen(rel) + 1, &ov);
		if (r < 0)
			goto out;
		*ov |= val;
	}

	r = add_hard_links(fs, places, canon_dir, pc, out);
	if (r < 0)
		goto out;

	cs->n = hashmap_size(out);
	cs->v = calloc(cs->n ? cs->n : 1, sizeof(*cs->v));
	if (!cs->v) {
		r = -ENOMEM;
		goto out;
	}
	pos = 0;
	for (size_t i = 0; hashmap_iter(out, &pos, &key, &klen, &val); i++) {
		cs->v[i].path = strdup(key);
		cs->v[i].kinds = (unsigned)val;
		if (!cs->v[i].path) {
			cs->n = i;
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(cs->v, cs->n, sizeof(*cs->v), cmp_change);
	r = 0;
out:
	pos = 0;
	while (dirs && hashmap_iter(dirs, &pos, NULL, NULL, &val))
		if (val != RESOLVE_FAILED)
			free((void *)val);
	hashmap_free(dirs);
	hashmap_free(places);
	hashmap_free(out);
	perm_cache_free(pc);
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

int query_canonical_dir(struct fsys *fs, int dirfd, char *buf, size_t len)
{
	struct fhandle h;
	int r = fhandle_of(dirfd, "", AT_EMPTY_PATH, &h);

	if (r < 0)
		return r;
	return fsys_resolve(fs, &h, buf, len);
}
