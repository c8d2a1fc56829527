/* SPDX-License-Identifier: MIT */
#include "daemon/scopefilter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "basic/hashmap.h"
#include "basic/util.h"
#include "daemon/mounts.h"
#include "daemon/place.h"

/* A cache entry: a verdict, or queued for resolution. */
#define QUEUED 3u
/* Directories waiting for resolution at most; past it they stay unknown until seen again. */
#define PENDING_MAX 65536

struct sfilter {
	const struct hashmap *scope_index;
	struct mount_ref *mount;
	struct hashmap *cache; /* handle key -> SF_INSIDE, SF_OUTSIDE or QUEUED */
	size_t max;
	struct fhandle *pending;
	size_t n_pending, cap_pending;
	struct sfilter_stats st;
};

int sfilter_new(const struct hashmap *scope_index, struct mount_ref *mount, size_t max,
		struct sfilter **ret)
{
	struct sfilter *f = calloc(1, sizeof(*f));

	if (!f || !(f->cache = hashmap_new())) {
		free(f);
		return -ENOMEM;
	}
	f->scope_index = scope_index;
	f->mount = mount;
	f->max = max ? max : 1u << 20;
	*ret = f;
	return 0;
}

void sfilter_set_index(struct sfilter *f, const struct hashmap *scope_index)
{
	f->scope_index = scope_index;
	sfilter_clear(f);
}

struct sfilter *sfilter_free(struct sfilter *f)
{
	if (f) {
		hashmap_free(f->cache);
		free(f->pending);
		free(f);
	}
	return NULL;
}

void sfilter_clear(struct sfilter *f)
{
	hashmap_clear(f->cache);
	f->n_pending = 0;
	f->st.clears++;
}

static uintptr_t *entry(struct sfilter *f, const struct fhandle *h, bool add)
{
	uint8_t key[PLACE_KEY_MAX];
	size_t klen = place_key_of(key, h, NULL, 0);
	uintptr_t *v;

	if (!add)
		return hashmap_get(f->cache, key, klen);
	if (hashmap_size(f->cache) >= f->max)
		sfilter_clear(f); /* only a cache: start over */
	return hashmap_upsert(f->cache, key, klen, &v) < 0 ? NULL : v;
}

enum sfilter_verdict sfilter_check(struct sfilter *f, const struct fhandle *dir)
{
	uintptr_t *v = entry(f, dir, false);

	if (v && (*v == SF_INSIDE || *v == SF_OUTSIDE)) {
		if (*v == SF_INSIDE)
			f->st.inside++;
		else
			f->st.outside++;
		return (enum sfilter_verdict) * v;
	}
	f->st.unknown++;
	if ((!v || *v == 0) && f->n_pending < PENDING_MAX &&
	    GROW(f->pending, f->cap_pending, f->n_pending + 1) == 0) {
		v = entry(f, dir, true);
		if (v) {
			*v = QUEUED;
			f->pending[f->n_pending++] = *dir;
		}
	}
	return SF_UNKNOWN;
}

void sfilter_inherit(struct sfilter *f, const struct fhandle *parent, const struct fhandle *child)
{
	uintptr_t *pv = entry(f, parent, false), verdict, *cv;

	if (!pv || (*pv != SF_INSIDE && *pv != SF_OUTSIDE))
		return;
	verdict = *pv;
	cv = entry(f, child, true); /* pv may move: read it first */
	if (cv) {
		*cv = verdict;
		f->st.inherited++;
	}
}

int scope_index_find(const struct hashmap *index, const char *mount_path, const char *path,
		     bool exact, uintptr_t *ret_value)
{
	size_t mlen = strcmp(mount_path, "/") == 0 ? 0 : strlen(mount_path);
	uint8_t key[PLACE_KEY_MAX];
	char p[PATH_MAX];
	struct fhandle h;
	uintptr_t *v;
	int r;

	if (strlen(path) >= sizeof(p) || !path_under(path, mount_path, NULL))
		return -EINVAL;
	strcpy(p, path);
	/* from the filesystem's root down to path: the first scope found is the outermost */
	for (size_t end = exact ? strlen(p) : mlen ? mlen : 1;;) {
		char saved = p[end];

		p[end] = '\0';
		r = fhandle_of(AT_FDCWD, p, 0, &h);
		p[end] = saved;
		if (r < 0)
			return r; /* the path changed meanwhile, or an error: cannot tell */
		v = hashmap_get(index, key, place_key_of(key, &h, NULL, 0));
		if (v && *v) {
			if (ret_value)
				*ret_value = *v;
			return 1;
		}
		if (!saved)
			return 0;
		end++;
		while (p[end] && p[end] != '/')
			end++;
	}
}

/* INSIDE, OUTSIDE, or UNKNOWN when it cannot be told. */
static enum sfilter_verdict classify(struct sfilter *f, const struct fhandle *h)
{
	char path[PATH_MAX];
	int mfd = mount_ref_fd(f->mount), r;

	if (mfd < 0)
		return SF_UNKNOWN;
	r = fhandle_resolve(mfd, h, path, sizeof(path));
	if (r < 0)
		return SF_UNKNOWN; /* gone, or unknown: its changes are recorded */
	r = scope_index_find(f->scope_index, f->mount->path, path, false, NULL);
	return r < 0 ? SF_UNKNOWN : r ? SF_INSIDE : SF_OUTSIDE;
}

void sfilter_resolve(struct sfilter *f, size_t budget)
{
	while (f->n_pending > 0 && budget-- > 0) {
		struct fhandle h = f->pending[--f->n_pending];
		enum sfilter_verdict v = classify(f, &h);
		uintptr_t *e = entry(f, &h, false);

		f->st.resolved++;
		if (!e)
			continue; /* cleared meanwhile: resolved again when seen */
		if (v == SF_UNKNOWN) {
			f->st.resolve_failed++;
			*e = 0; /* not queued any more: queued again when seen */
		} else {
			*e = v;
		}
	}
}

void sfilter_get_stats(const struct sfilter *f, struct sfilter_stats *ret)
{
	*ret = f->st;
	ret->cached = hashmap_size(f->cache);
	ret->pending = f->n_pending;
}
