/* SPDX-License-Identifier: MIT */
/*
 * query-run: Watchman's generators over fstrack's answer and the tree, and
 * the processing of each candidate (fresh filter, expression, dedup,
 * rendering). See query.h for what each generator yields.
 */
#include "watchman/query-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "fstrack.h"
#include "watchman/bser.h"
#include "basic/util.h"
#include "watchman/walk.h"

/* since-map values */
#define SM_NEW 1u
#define SM_EMITTED 2u

struct run {
	const struct wq *q;
	const struct wq_hooks *hooks;
	int root_fd;
	bool fresh;
	const char *rr; /* relative root, "" for none */
	size_t rr_len;
	struct hashmap *since_map; /* wholename -> SM_* of the since generator */
	struct hashmap *dedup;
	json_object *files;
	struct wq_result *res;
	char *err;
	size_t errlen;
};

/* The wholename of a path from the root, or NULL when it is not below the relative root. */
static const char *wholename(const struct run *r, const char *path)
{
	if (!r->rr_len)
		return path;
	if (strncmp(path, r->rr, r->rr_len) == 0 && path[r->rr_len] == '/')
		return path + r->rr_len + 1;
	return NULL;
}

/* Fresh filter, expression, dedup, render, append. */
static int process(struct run *r, struct wq_file *f)
{
	json_object *v;
	int k;

	/* a fresh instance reports what exists (walk entries exist: they were just listed) */
	if (r->fresh && f->have_stat && !f->exists)
		return 0;
	k = wq_eval(r->q, r->hooks, r->fresh, f, r->err, r->errlen);
	if (k <= 0)
		return k;
	if (r->q->dedup) {
		uintptr_t *slot;

		k = hashmap_upsert(r->dedup, f->name, strlen(f->name), &slot);
		if (k < 0)
			goto fail;
		if (k == 0) {
			r->res->deduped++;
			return 0;
		}
	}
	k = wq_render(r->q, r->hooks, f, &v, r->err, r->errlen);
	if (k < 0)
		return k;
	if (r->fresh && !f->exists) {
		json_object_put(v); /* it went away while we looked */
		return 0;
	}
	if (json_object_array_add(r->files, v) < 0) {
		json_object_put(v);
		k = -ENOMEM;
		goto fail;
	}
	if (r->hooks && r->hooks->max_results &&
	    json_object_array_length(r->files) > r->hooks->max_results) {
		snprintf(r->err, r->errlen,
			 "query failed: more than %zu results, the most one answer holds; narrow "
			 "the query (relative_root, an expression, a since clock)",
			 r->hooks->max_results);
		return -E2BIG;
	}
	return 0;
fail:
	snprintf(r->err, r->errlen, "query failed: %s: %s", f->name, strerror(-k));
	return k;
}

/* A walk entry as a candidate, with changed/new from the since answer. */
static int process_entry(struct run *r, const struct walk_entry *e, const char *name)
{
	struct wq_file f = {.name = name, .exists = true, .dirfd = e->dirfd, .dirent = e->name};
	uintptr_t *sm = r->since_map ? hashmap_get(r->since_map, name, strlen(name)) : NULL;

	f.is_new = r->fresh || (sm && (*sm & SM_NEW));
	f.changed = sm != NULL;
	return process(r, &f);
}

static int may_list(void *ud, int dirfd, const char *path)
{
	struct run *r = ud;

	if (r->hooks && r->hooks->may_list)
		return r->hooks->may_list(r->hooks->ud, dirfd, path);
	return 1;
}

/* A walk under the relative root, whatever the visitor. */
static int walk_under(struct run *r, walk_visit_fn visit, void (*free_state)(void *),
		      const char *start, void *state)
{
	struct walk w = {.root_fd = r->root_fd,
			 .visit = visit,
			 .may_list = may_list,
			 .free_state = free_state,
			 .ud = r};
	int k = walk_run(&w, start, state, r->err, r->errlen);

	if (k == -ENOENT || k == -ENOTDIR)
		return 0; /* nothing there (any more) */
	if (k < 0 && r->errlen && !r->err[0])
		snprintf(r->err, r->errlen, "query failed: walking '%s': %s", start, strerror(-k));
	return k;
}

/* ---- walk everything: the all-files, suffix and timestamp generators ---- */

static int visit_all(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const char *name = wholename(r, e->path);

	r->res->walked++;
	if (e->dtype == DT_DIR)
		*ret_child = (void *)1; /* no state needed: a non-NULL marker */
	return name ? process_entry(r, e, name) : 0;
}

static int visit_suffix(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const char *name = wholename(r, e->path);

	r->res->walked++;
	if (e->dtype == DT_DIR)
		*ret_child = (void *)1;
	if (!name || !wq_has_suffix(e->name, strlen(e->name), r->q->suffixes, r->q->nsuffixes))
		return 0;
	return process_entry(r, e, name);
}

static int visit_timestamp(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const char *name = wholename(r, e->path);
	struct wq_file f;
	int k;

	r->res->walked++;
	if (e->dtype == DT_DIR)
		*ret_child = (void *)1;
	if (!name)
		return 0;
	f = (struct wq_file){.name = name, .exists = true, .dirfd = e->dirfd, .dirent = e->name};
	k = wq_file_load(&f);
	if (k < 0)
		return k;
	if (!f.exists || f.st.ctime.tv_sec < r->q->since.timestamp)
		return 0;
	f.changed = true;
	f.is_new = f.st.has_btime && f.st.btime.tv_sec >= r->q->since.timestamp;
	return process(r, &f);
}

/* ---- path generator ---- */

struct depth_state {
	int64_t left; /* < 0: unlimited */
};

static int visit_depth(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const struct depth_state *s = e->dir_state;
	const char *name = wholename(r, e->path);

	r->res->walked++;
	if (e->dtype == DT_DIR && s->left != 0) {
		struct depth_state *c = malloc(sizeof(*c));

		if (!c)
			return -ENOMEM;
		c->left = s->left < 0 ? -1 : s->left - 1;
		*ret_child = c;
	}
	return name ? process_entry(r, e, name) : 0;
}

/* Join the relative root and a name: "" + "a" = "a", "r" + "" = "r". */
static char *join(const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	char *s = malloc(al + bl + 2);

	if (!s)
		return NULL;
	memcpy(s, a, al);
	if (al && bl)
		s[al++] = '/';
	memcpy(s + al, b, bl + 1);
	return s;
}

/*
 * lstat path (from the root) without following symlinks on the way: the
 * parent opened beneath the root, then fstatat. *ret_fd gets the parent
 * (or -1 when it cannot be opened: then the file does not exist).
 */
static int stat_beneath(int root_fd, const char *path, struct stat *st, int *ret_fd,
			const char **ret_base, bool *exists)
{
	const char *slash = strrchr(path, '/');
	char *parent = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
	int fd;

	*ret_fd = -1;
	*exists = false;
	*ret_base = slash ? slash + 1 : path;
	if (!parent)
		return -ENOMEM;
	fd = walk_open_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY);
	free(parent);
	/* (EACCES: the client may not look there; for it, nothing is there) */
	if (fd < 0) {
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ||
		    fd == -EACCES)
			return 0;
		return fd;
	}
	*ret_fd = fd;
	if (fstatat(fd, *ret_base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
			return 0;
		return -errno;
	}
	*exists = true;
	return 0;
}

static int gen_paths(struct run *r)
{
	for (size_t i = 0; i < r->q->npaths; i++) {
		const struct wq_path *p = &r->q->paths[i];
		char *full = join(r->rr, p->name);
		struct depth_state *s;
		struct stat st;
		const char *base;
		bool exists;
		int fd, k = 0;

		if (!full)
			return -ENOMEM;
		if (p->name[0]) {
			k = stat_beneath(r->root_fd, full, &st, &fd, &base, &exists);
			if (k < 0) {
				snprintf(r->err, r->errlen, "query failed: %s: %s", p->name,
					 strerror(-k));
				free(full);
				return k;
			}
			if (exists && !S_ISDIR(st.st_mode)) {
				struct wq_file f = {.name = p->name,
						    .exists = true,
						    .is_new = r->fresh,
						    .have_stat = true,
						    .dirfd = fd,
						    .dirent = base};
				uintptr_t *sm = r->since_map ? hashmap_get(r->since_map, p->name,
									   strlen(p->name))
							     : NULL;

				wq_stat_from_stat(&f.st, &st);
				f.is_new = r->fresh || (sm && (*sm & SM_NEW));
				f.changed = sm != NULL;
				k = process(r, &f);
			}
			if (fd >= 0)
				close(fd);
			if (!exists || !S_ISDIR(st.st_mode) || k < 0) {
				free(full);
				if (k < 0)
					return k;
				continue;
			}
		}
		s = malloc(sizeof(*s));
		if (!s) {
			free(full);
			return -ENOMEM;
		}
		s->left = p->depth;
		k = walk_under(r, visit_depth, free, full, s);
		free(full);
		if (k < 0)
			return k;
	}
	return 0;
}

/* ---- glob generator ---- */

/* An active glob component (g, i), or a "**" (g, i) matched from base in the path. */
struct gitem {
	uint32_t g, i;
	uint32_t base; /* doublestar: offset of the subject in the path */
	bool doublestar;
};

struct gstate {
	struct gitem *v;
	size_t n, cap;
};

static void gstate_free(void *p)
{
	struct gstate *s = p;

	if (s) {
		free(s->v);
		free(s);
	}
}

static int gstate_add(struct gstate *s, struct gitem it)
{
	int r = GROW(s->v, s->cap, s->n + 1);

	if (r < 0)
		return r;
	s->v[s->n++] = it;
	return 0;
}

/* Component i of glob g becomes active in a directory whose path from the root has dlen bytes. */
static int activate(const struct wq *q, struct gstate *s, uint32_t g, uint32_t i, size_t dlen)
{
	bool ds = q->globs[g].comps[i].doublestar;

	return gstate_add(
	    s, (struct gitem){
		   .g = g, .i = i, .base = (uint32_t)(dlen ? dlen + 1 : 0), .doublestar = ds});
}

static int visit_glob(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const struct wq *q = r->q;
	const struct gstate *s = e->dir_state;
	struct gstate *child = NULL;
	bool matched = false, dir = e->dtype == DT_DIR;
	size_t nlen = strlen(e->name);
	int k = 0;

	r->res->walked++;
	if (dir) {
		child = calloc(1, sizeof(*child));
		if (!child)
			return -ENOMEM;
	}
	for (size_t j = 0; j < s->n && k >= 0; j++) {
		const struct gitem *it = &s->v[j];
		const struct wq_glob *g = &q->globs[it->g];

		if (it->doublestar) {
			const char *subject = e->path + it->base;

			k = wm_match(g->comps[it->i].pat, subject, e->path_len - it->base);
			if (k > 0)
				matched = true;
			if (k >= 0 && dir)
				k = gstate_add(child, *it);
			continue;
		}
		k = wm_match(g->comps[it->i].pat, e->name, nlen);
		if (k <= 0)
			continue;
		if (it->i + 1 == g->n)
			matched = true;
		else if (dir)
			k = activate(q, child, it->g, it->i + 1, e->path_len);
	}
	if (k >= 0 && matched) {
		const char *name = wholename(r, e->path);

		k = name ? process_entry(r, e, name) : 0;
	}
	if (k < 0 || !child || child->n == 0) {
		gstate_free(child);
		return k < 0 ? k : 0;
	}
	*ret_child = child;
	return 0;
}

static int gen_glob(struct run *r)
{
	struct gstate *s = calloc(1, sizeof(*s));
	int k = 0;

	if (!s)
		return -ENOMEM;
	for (uint32_t g = 0; g < r->q->nglobs && k >= 0; g++)
		k = activate(r->q, s, g, 0, r->rr_len);
	if (k >= 0 && r->rr_len) {
		/* Watchman refuses a glob below a relative_root it cannot resolve */
		int fd = walk_open_beneath(r->root_fd, r->rr, O_PATH | O_DIRECTORY);

		if (fd < 0) {
			snprintf(r->err, r->errlen,
				 "query failed: glob_generator could not resolve %s, check your "
				 "relative_root parameter!",
				 r->rr);
			k = -ENOENT;
		} else {
			close(fd);
		}
	}
	if (k < 0 || s->n == 0) {
		gstate_free(s);
		return k;
	}
	return walk_under(r, visit_glob, gstate_free, r->rr, s);
}

/* ---- since generator ---- */

static bool has_prefix_dir(const char *path, const char *dir, size_t dlen)
{
	return strncmp(path, dir, dlen) == 0 && path[dlen] == '/';
}

/* Is name (from the relative root) below one of the directories walked whole? */
static bool under_recursive(const struct hashmap *rec, const char *name)
{
	for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/'))
		if (hashmap_get(rec, name, (size_t)(p - name)))
			return true;
	return false;
}

static int visit_since(void *ud, const struct walk_entry *e, void **ret_child)
{
	struct run *r = ud;
	const char *name = wholename(r, e->path);
	uintptr_t *slot;
	int k;

	r->res->walked++;
	/* the visitor's state says whether to go deeper: 1 whole subtree, 2 entries only */
	if (e->dtype == DT_DIR && e->dir_state == (void *)1)
		*ret_child = (void *)1;
	if (!name)
		return 0;
	k = hashmap_upsert(r->since_map, name, strlen(name), &slot);
	if (k < 0)
		return k;
	if (*slot & SM_EMITTED)
		return 0;
	*slot |= SM_NEW | SM_EMITTED;
	{
		struct wq_file f = {.name = name,
				    .exists = true,
				    .is_new = true,
				    .changed = true,
				    .dirfd = e->dirfd,
				    .dirent = e->name};

		return process(r, &f);
	}
}

/* A change's path from the relative root: NULL when outside it; "" for the relative root. */
static const char *since_rel(const struct run *r, const char *path, bool *ret_above)
{
	*ret_above = false;
	if (strcmp(path, ".") == 0)
		path = "";
	if (!r->rr_len)
		return path;
	if (strcmp(path, r->rr) == 0)
		return "";
	if (path[0] == '\0' || has_prefix_dir(r->rr, path, strlen(path))) {
		*ret_above = true; /* an ancestor of the relative root */
		return NULL;
	}
	if (has_prefix_dir(path, r->rr, r->rr_len))
		return path + r->rr_len + 1;
	return NULL;
}

/*
 * Walk each directory of set (names from the relative root) that no
 * "recursive" directory covers: how (void *)1 walks whole subtrees, (void *)2
 * lists entries only.
 */
static int walk_dirs(struct run *r, const struct hashmap *set, const struct hashmap *rec, void *how)
{
	size_t pos = 0, klen;
	const void *key;
	int k = 0;

	while (k >= 0 && hashmap_iter(set, &pos, &key, &klen, NULL)) {
		char *rel = strndup(key, klen), *full;
		bool covered;

		if (!rel)
			return -ENOMEM;
		covered = under_recursive(rec, rel) || (set != rec && hashmap_get(rec, rel, klen));
		full = covered ? NULL : join(r->rr, rel);
		if (!covered && !full)
			k = -ENOMEM;
		else if (full)
			k = walk_under(r, visit_since, NULL, full, how);
		free(full);
		free(rel);
	}
	return k;
}

static int gen_since(struct run *r, const struct wq_since_answer *a)
{
	struct hashmap *rec = hashmap_new(), *ent = hashmap_new();
	bool all = false;
	int k = 0;

	if (!rec || !ent) {
		k = -ENOMEM;
		goto out;
	}
	/* which directories are walked: "recursive" whole, "entries" one level */
	for (size_t i = 0; i < a->n && k >= 0; i++) {
		const struct wq_change *c = &a->changes[i];
		bool above;
		const char *rel = since_rel(r, c->path, &above);
		uintptr_t *slot;

		if (above) {
			all |= (c->kinds & FST_RECURSIVE) != 0;
			continue;
		}
		if (!rel)
			continue;
		if (c->kinds & FST_RECURSIVE) {
			if (!rel[0])
				all = true;
			else
				k = hashmap_upsert(rec, rel, strlen(rel), &slot);
		} else if (c->kinds & FST_ENTRIES) {
			k = hashmap_upsert(ent, rel, strlen(rel), &slot);
		}
	}
	/* the named paths first, with what fstrack said of them */
	for (size_t i = 0; i < a->n && k >= 0; i++) {
		const struct wq_change *c = &a->changes[i];
		bool above, exists;
		const char *rel = since_rel(r, c->path, &above), *base, *slash;
		char *full;
		uintptr_t *slot;
		struct stat st;
		int fd;

		if (!rel || !rel[0])
			continue;
		k = hashmap_upsert(r->since_map, rel, strlen(rel), &slot);
		if (k < 0)
			break;
		if (k == 0)
			continue; /* named twice */
		*slot = SM_EMITTED;
		slash = strrchr(rel, '/');
		if ((c->kinds & (FST_CREATED | FST_RENAMED_TO)) || all ||
		    under_recursive(rec, rel) ||
		    hashmap_get(ent, rel, slash ? (size_t)(slash - rel) : 0))
			*slot |= SM_NEW;
		full = join(r->rr, rel);
		if (!full) {
			k = -ENOMEM;
			break;
		}
		/* base points into full: it lives until the file is processed */
		k = stat_beneath(r->root_fd, full, &st, &fd, &base, &exists);
		if (k < 0) {
			snprintf(r->err, r->errlen, "query failed: %s: %s", rel, strerror(-k));
			free(full);
			break;
		}
		{
			struct wq_file f = {.name = rel,
					    .exists = exists,
					    .is_new = (*slot & SM_NEW) != 0,
					    .changed = true,
					    .have_stat = true,
					    .dirfd = fd,
					    .dirent = base};

			if (exists)
				wq_stat_from_stat(&f.st, &st);
			else
				memset(&f.st, 0, sizeof(f.st));
			/* a directory by its kinds: its type is known even when it is gone */
			if (!exists && (c->kinds & (FST_ENTRIES | FST_RECURSIVE)))
				f.st.mode = S_IFDIR;
			k = process(r, &f);
		}
		if (fd >= 0)
			close(fd);
		free(full);
	}
	/* then what the directories hold now */
	if (k >= 0 && all) {
		k = walk_under(r, visit_since, NULL, r->rr, (void *)1);
	} else if (k >= 0) {
		k = walk_dirs(r, rec, rec, (void *)1);
		if (k >= 0)
			k = walk_dirs(r, ent, rec, (void *)2);
	}
out:
	hashmap_free(rec);
	hashmap_free(ent);
	return k;
}

/*
 * Does the client's expression take what fstrack cannot name below dir (a
 * deleted child, with any_depth anything deeper): 1 yes or maybe, 0 no.
 */
static int wants_unnamed(struct run *r, const char *dir, bool any_depth)
{
	struct wq_file f = {.name = dir,
			    .name_unknown = true,
			    .any_depth = any_depth,
			    .changed = true,
			    .have_stat = true,
			    .dirfd = -1};

	return wq_eval(r->q, r->hooks, false, &f, r->err, r->errlen);
}

/* Does the answer list directory dir (from the relative root), as a directory? */
static int lists_dir(struct run *r, const char *dir)
{
	struct wq_file f = {.name = dir, .changed = true, .have_stat = true, .dirfd = -1};
	char *full = join(r->rr, dir);
	const char *base;
	struct stat st;
	int fd, k;

	if (!full)
		return -ENOMEM;
	k = stat_beneath(r->root_fd, full, &st, &fd, &base, &f.exists);
	if (k == 0 && f.exists)
		wq_stat_from_stat(&f.st, &st);
	f.st.mode = S_IFDIR | (f.exists ? (st.st_mode & 07777) : 0);
	f.dirfd = fd;
	f.dirent = base;
	if (k == 0)
		k = wq_eval(r->q, r->hooks, false, &f, r->err, r->errlen);
	if (fd >= 0)
		close(fd);
	free(full);
	return k;
}

/*
 * Watchman's answer lists files; fstrack's may say of a directory that
 * names came or went below it that it cannot give ("entries": after a
 * gap; "recursive": a directory created, deleted or moved as a whole,
 * whose old names are not kept). The answer then covers those names by
 * the directory itself, which it lists: a client whose expression lets
 * that directory through hears of it (git's hook does: git then looks at
 * every path below it). Where the expression would take a path below it
 * but not the directory, or the directory is the root, no listed name
 * covers what went: the answer is a fresh instance. 1: it must be.
 */
static int must_be_fresh(struct run *r, const struct wq_since_answer *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct wq_change *c = &a->changes[i];
		bool above, any = (c->kinds & FST_RECURSIVE) != 0;
		const char *rel;
		int k;

		if (!(c->kinds & (FST_ENTRIES | FST_RECURSIVE)))
			continue;
		/*
		 * A directory created or moved in as a whole lost nothing below
		 * it that the answer does not list (its subtree is walked), unless
		 * it also went, or lost entries unseen.
		 */
		if ((c->kinds & (FST_CREATED | FST_RENAMED_TO)) &&
		    !(c->kinds & (FST_ENTRIES | FST_DELETED | FST_RENAMED_FROM)))
			continue;
		rel = since_rel(r, c->path, &above);
		if (above) {
			rel = "";
			any = true; /* anything below the relative root */
		}
		if (!rel)
			continue;
		k = wants_unnamed(r, rel, any);
		if (k <= 0) {
			if (k < 0)
				return k;
			continue;
		}
		if (!rel[0])
			return 1; /* the root is never listed */
		k = lists_dir(r, rel);
		if (k != 1)
			return k < 0 ? k : 1;
	}
	return 0;
}

int wq_run(const struct wq *q, int root_fd, const struct wq_since_answer *since,
	   const struct wq_hooks *hooks, struct wq_result *ret, char *err, size_t errlen)
{
	char dummy[1];
	struct run r = {.q = q,
			.hooks = hooks,
			.root_fd = root_fd,
			.rr = q->relative_root ? q->relative_root : "",
			.res = ret,
			.err = errlen ? err : dummy,
			.errlen = errlen ? errlen : sizeof(dummy)};
	bool clock = q->has_since && (q->since.kind == WCS_CLOCK || q->since.kind == WCS_NAMED);
	bool generated = false;
	int k = 0;

	memset(ret, 0, sizeof(*ret));
	r.err[0] = '\0';
	r.rr_len = strlen(r.rr);
	if (clock && !since) {
		snprintf(r.err, r.errlen,
			 "query failed: the query's 'since' needs fstrack's answer");
		return -EINVAL;
	}
	r.fresh = !q->has_since || (clock && since->fresh);
	if (clock && !r.fresh) {
		k = must_be_fresh(&r, since);
		if (k < 0) {
			if (!r.err[0])
				snprintf(r.err, r.errlen, "query failed: %s", strerror(-k));
			return k;
		}
		r.fresh = k > 0;
	}
	ret->is_fresh_instance = r.fresh;
	r.files = json_object_new_array();
	r.since_map = hashmap_new();
	r.dedup = hashmap_new();
	if (!r.files || !r.since_map || !r.dedup) {
		k = -ENOMEM;
		goto out;
	}
	if (q->nfields > 1)
		bser_array_set_template(r.files);
	if ((r.fresh && q->empty_on_fresh) || q->omit_changed_files)
		goto out;
	if (clock && !r.fresh) {
		k = gen_since(&r, since);
		generated = true;
	} else if (q->has_since && q->since.kind == WCS_TIMESTAMP) {
		k = walk_under(&r, visit_timestamp, NULL, r.rr, (void *)1);
		generated = true;
	}
	if (k >= 0 && q->has_paths) {
		k = gen_paths(&r);
		generated = true;
	}
	if (k >= 0 && q->has_glob) {
		k = gen_glob(&r);
		generated = true;
	}
	if (k >= 0 && q->has_suffix) {
		k = walk_under(&r, visit_suffix, NULL, r.rr, (void *)1);
		generated = true;
	}
	if (k >= 0 && !generated)
		k = walk_under(&r, visit_all, NULL, r.rr, (void *)1);
out:
	hashmap_free(r.since_map);
	hashmap_free(r.dedup);
	if (k < 0) {
		json_object_put(r.files);
		if (!r.err[0])
			snprintf(r.err, r.errlen, "query failed: %s", strerror(-k));
		return k;
	}
	ret->files = r.files;
	return 0;
}
