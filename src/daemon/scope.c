/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "basic/hashmap.h"
#include "daemon/fsys-internal.h"
#include "daemon/listfile.h"
#include "daemon/place.h"
#include "daemon/scopefilter.h"

/* ---- lists -------------------------------------------------------------- */

struct scope *scope_first(struct tracker *t)
{
	return t->scopes;
}

struct scope *scope_next(const struct scope *s)
{
	return s->next;
}

const char *scope_state_name(enum scope_state st)
{
	switch (st) {
	case SCOPE_ACTIVE:
		return "active";
	case SCOPE_MISSING:
		return "missing";
	case SCOPE_VANISHED:
		return "vanished";
	}
	return "?";
}

/*
 * Is the scope's directory still there (the same directory)? Unknown counts
 * as yes, and so does -EXDEV: the directory lives but has no path through
 * the mount now (a mount over it, a rename racing the check), and a scope
 * dropped for that would miss what is changed through another mount.
 */
static bool scope_alive(struct scope *s, char *path, size_t len)
{
	if (!s->fs)
		return false;
	return !fhandle_err_is_gone(fsys_resolve(s->fs, &s->handle, path, len));
}

void scope_get_info(struct scope *s, struct scope_info *ret)
{
	char now[PATH_MAX];

	ret->path = s->path;
	ret->fs_id = s->fs_id;
	ret->added_seq = s->added_seq;
	ret->added_ns = s->added_ns;
	ret->owner = s->owner;
	ret->fs = s->fs;
	if (!s->fs)
		ret->state = SCOPE_MISSING;
	else
		ret->state = scope_alive(s, now, sizeof(now)) ? SCOPE_ACTIVE : SCOPE_VANISHED;
}

struct scope *scope_by_path(struct tracker *t, const char *path)
{
	for (struct scope *s = t->scopes; s; s = s->next)
		if (strcmp(s->path, path) == 0)
			return s;
	return NULL;
}

/*
 * The scope of canon (a path through fs's root mount): exactly canon, or
 * the outermost scope above it (it covers the longest history). O(depth):
 * see scope_index_find().
 */
static struct scope *find_for(struct tracker *t, struct fsys *fs, const char *canon, bool exact)
{
	uintptr_t v;

	(void)t;
	return scope_index_find(fs->scope_index, fs->mount.path, canon, exact, &v) == 1
		   ? (struct scope *)v
		   : NULL;
}

struct scope *scope_find_exact(struct tracker *t, struct fsys *fs, const char *canon)
{
	return find_for(t, fs, canon, true);
}

/* The path of the open directory fd through fs's root mount. */
static int canonical_dir(struct fsys *fs, int fd, char *buf, size_t len)
{
	struct fhandle h;
	int r = fhandle_of(fd, "", AT_EMPTY_PATH, &h);

	return r < 0 ? r : fsys_resolve(fs, &h, buf, len);
}

int scope_find(struct tracker *t, int dirfd, struct target *ret, char *err, size_t errlen)
{
	int r;

	ret->fs = fsys_find(t, dirfd);
	ret->scope = NULL;
	if (!ret->fs)
		return -ENOENT;
	r = canonical_dir(ret->fs, dirfd, ret->canon, sizeof(ret->canon));
	if (r < 0) {
		snprintf(err, errlen, "cannot resolve it through %s: %s", fsys_mount_path(ret->fs),
			 strerror(-r));
		return r;
	}
	ret->scope = find_for(t, ret->fs, ret->canon, false);
	return ret->scope ? 0 : -ENOENT;
}

/* ---- attaching ------------------------------------------------------------ */

static int link_to_fs(struct scope *s, struct fsys *fs)
{
	uint8_t key[PLACE_KEY_MAX];
	uintptr_t *v;
	int r = hashmap_upsert(fs->scope_index, key, place_key_of(key, &s->handle, NULL, 0), &v);

	if (r < 0)
		return r;
	*v = (uintptr_t)s;
	sfilter_clear(fs->filter); /* directories outside every scope may be inside this one */
	s->fs = fs;
	snprintf(s->fs_id, sizeof(s->fs_id), "%s", fs->id);
	fs->n_scopes++;
	return 0;
}

/*
 * The index has no removal: an unwatched scope leaves an empty entry. A
 * user who watches and unwatches new directories in a loop would grow it
 * without bound, so once the empty entries outnumber the live ones it is
 * built again from the scopes still on fs. Out of memory: the old one
 * stays (it answers the same), and the next unwatch tries again.
 */
static void index_compact(struct tracker *t, struct fsys *fs)
{
	struct hashmap *fresh;

	if (hashmap_size(fs->scope_index) <= 2 * fs->n_scopes + 64)
		return;
	fresh = hashmap_new();
	if (!fresh)
		return;
	for (struct scope *s = t->scopes; s; s = s->next) {
		uint8_t key[PLACE_KEY_MAX];
		uintptr_t *v;

		if (s->fs != fs)
			continue;
		if (hashmap_upsert(fresh, key, place_key_of(key, &s->handle, NULL, 0), &v) < 0) {
			hashmap_free(fresh);
			return;
		}
		*v = (uintptr_t)s;
	}
	hashmap_free(fs->scope_index);
	fs->scope_index = fresh;
	sfilter_set_index(fs->filter, fresh);
}

/* Take s off its filesystem; the filesystem goes when no scope is left. */
static void unlink_from_fs(struct tracker *t, struct scope *s, bool detach_empty)
{
	struct fsys *fs = s->fs;

	if (!fs)
		return;
	if (fs->catchup)
		catchup_remove_root(fs->catchup, s);
	{
		uint8_t key[PLACE_KEY_MAX];
		uintptr_t *v =
		    hashmap_get(fs->scope_index, key, place_key_of(key, &s->handle, NULL, 0));
		if (v && *v == (uintptr_t)s)
			*v = 0; /* the index has no removal: an empty entry */
		sfilter_clear(fs->filter);
	}
	s->fs = NULL;
	if (--fs->n_scopes > 0)
		index_compact(t, fs);
	else if (detach_empty)
		fsys_detach(fs, "no scope is left on it");
}

/*
 * Attach scope s to its filesystem if its directory is there and is still
 * the same directory. Returns 0 when active.
 */
static int scope_attach(struct tracker *t, struct scope *s, char *err, size_t errlen)
{
	struct fsys *fs;
	struct fhandle now;
	char hex[33];
	int fd, r;

	fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", s->path, strerror(-r));
		return r;
	}
	r = fsys_attach(t, fd, s->path, &fs, err, errlen);
	if (r == 0)
		r = fhandle_of(fd, "", AT_EMPTY_PATH, &now);
	safe_close(fd);
	if (r < 0)
		return r;
	journal_uuid_hex(fs->journal, hex);
	if (strcmp(hex, s->journal_uuid) != 0 || !fhandle_eq(&now, &s->handle)) {
		/*
		 * Another directory now stands at this path, or the journal was
		 * started anew: what the scope's tokens refer to is gone.
		 */
		log_warn("scope %s: %s; its old tokens answer fresh", s->path,
			 strcmp(hex, s->journal_uuid) ? "the journal was started anew"
						      : "the directory was replaced");
		s->handle = now;
		snprintf(s->journal_uuid, sizeof(s->journal_uuid), "%s", hex);
		s->added_seq = journal_next_seq(fs->journal);
		s->added_ns = now_realtime_ns();
	}
	r = catchup_add_root(fs->catchup, s, &s->handle, s->path, s->added_seq, false);
	if (r == 0) {
		r = link_to_fs(s, fs);
		if (r < 0)
			catchup_remove_root(fs->catchup, s);
	}
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		if (fs->n_scopes == 0)
			fsys_detach(fs, "its scope could not be attached");
		return r;
	}
	return 0;
}

/* ---- the list on disk ------------------------------------------------------- */

int scopes_save(struct tracker *t)
{
	struct json_object *arr = json_object_new_array();

	for (struct scope *s = t->scopes; arr && s; s = s->next) {
		struct json_object *o = json_object_new_object();
		char hex[2 * HANDLE_MAX + 1];

		fhandle_hex(&s->handle, hex);
		json_object_object_add(o, "path", json_object_new_string(s->path));
		json_object_object_add(o, "filesystem", json_object_new_string(s->fs_id));
		json_object_object_add(o, "handle_type", json_object_new_int(s->handle.type));
		json_object_object_add(o, "handle", json_object_new_string(hex));
		json_object_object_add(o, "journal", json_object_new_string(s->journal_uuid));
		json_object_object_add(o, "added_seq", json_object_new_uint64(s->added_seq));
		json_object_object_add(o, "added_ns", json_object_new_uint64(s->added_ns));
		json_object_object_add(o, "owner", json_object_new_uint64(s->owner));
		json_object_array_add(arr, o);
	}
	return listfile_save(t->scopes_path, "scopes", arr);
}

static struct scope *scope_from_json(struct json_object *o)
{
	struct scope *s = calloc(1, sizeof(*s));
	struct json_object *v;
	size_t len = 0;

	if (!s)
		return NULL;
	if (json_object_object_get_ex(o, "path", &v))
		snprintf(s->path, sizeof(s->path), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "filesystem", &v))
		snprintf(s->fs_id, sizeof(s->fs_id), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "journal", &v))
		snprintf(s->journal_uuid, sizeof(s->journal_uuid), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "handle_type", &v))
		s->handle.type = json_object_get_int(v);
	if (json_object_object_get_ex(o, "added_seq", &v))
		s->added_seq = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "added_ns", &v))
		s->added_ns = json_object_get_uint64(v); /* absent (older lists): unknown */
	if (json_object_object_get_ex(o, "owner", &v))
		s->owner = (uid_t)json_object_get_uint64(v); /* absent (older lists): root's */
	if (!json_object_object_get_ex(o, "handle", &v) ||
	    hex_decode(json_object_get_string(v), s->handle.bytes, HANDLE_MAX, &len) < 0 ||
	    s->path[0] != '/') {
		free(s);
		return NULL;
	}
	s->handle.len = (uint16_t)len;
	return s;
}

int scopes_load(struct tracker *t)
{
	struct json_object *root, *arr;
	int r = listfile_load(t->scopes_path, "scopes", &root, &arr);
	struct scope **tail = &t->scopes;

	if (r == -EBADMSG)
		log_error("%s is damaged; starting with no scopes (watch them again)",
			  t->scopes_path);
	if (r < 0 || !root)
		return r;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct scope *s = scope_from_json(json_object_array_get_idx(arr, i));
		char err[512];

		if (!s) {
			log_warn("%s: entry %zu is damaged; skipped", t->scopes_path, i);
			continue;
		}
		if (scope_by_path(t, s->path)) {
			log_warn("%s: %s is listed twice; the second entry is dropped",
				 t->scopes_path, s->path);
			free(s);
			continue;
		}
		*tail = s;
		tail = &s->next;
		r = scope_attach(t, s, err, sizeof(err));
		if (r < 0)
			log_warn("scope %s is not available: %s (tracking resumes when it is back)",
				 s->path, err);
		else
			log_info("watching %s again", s->path);
	}
	json_object_put(root);
	return scopes_save(t);
}

/* ---- watch and unwatch ------------------------------------------------------ */

static void scope_drop(struct tracker *t, struct scope *s, bool detach_empty)
{
	struct scope **pp;

	if (t->sweep_next == s)
		t->sweep_next = s->next;
	for (pp = &t->scopes; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	log_ratelimited(LOG_LEVEL_INFO, "no longer watching %s", s->path);
	unlink_from_fs(t, s, detach_empty);
	free(s);
}

size_t scope_count_owned(struct tracker *t, uid_t owner)
{
	size_t n = 0;

	for (struct scope *s = t->scopes; s; s = s->next)
		n += s->owner == owner;
	return n;
}

int scope_watch(struct tracker *t, int fd, const char *path, uid_t owner, struct scope **ret,
		char *err, size_t errlen)
{
	struct scope *s;
	struct fsys *fs;
	char canon[PATH_MAX];
	int r;

	r = fsys_attach(t, fd, path, &fs, err, errlen);
	if (r == 0) {
		r = canonical_dir(fs, fd, canon, sizeof(canon));
		if (r < 0)
			snprintf(err, errlen, "cannot resolve %s through %s: %s", path,
				 fs->mount.path, strerror(-r));
	}
	if (r < 0)
		return r;
	/* A scope at this path whose directory is gone is replaced. */
	for (struct scope *o = t->scopes; o; o = o->next) {
		char now[PATH_MAX];
		if (o->fs == fs && strcmp(o->path, canon) == 0 &&
		    !scope_alive(o, now, sizeof(now))) {
			scope_drop(t, o, false); /* the filesystem stays: it gets the new scope */
			break;
		}
	}
	s = find_for(t, fs, canon, true);
	if (s) {
		*ret = s;
		return 0; /* watching twice is fine: same scope */
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto fail_fs;
	}
	s->owner = owner;
	r = fhandle_of(fd, "", AT_EMPTY_PATH, &s->handle);
	if (r < 0) {
		snprintf(err, errlen, "cannot get a file handle for %s: %s", path, strerror(-r));
		free(s);
		goto fail_fs;
	}
	snprintf(s->path, sizeof(s->path), "%s", canon);
	journal_uuid_hex(fs->journal, s->journal_uuid);
	/* Commit first so the scope's first seq is a durable position. */
	r = fsys_sync(fs);
	if (r < 0) {
		snprintf(err, errlen, "cannot commit the journal: %s", strerror(-r));
		free(s);
		goto fail_fs;
	}
	s->added_seq = journal_next_seq(fs->journal);
	s->added_ns = now_realtime_ns();
	r = catchup_add_root(fs->catchup, s, &s->handle, s->path, s->added_seq, true);
	if (r == 0) {
		r = link_to_fs(s, fs);
		if (r < 0)
			catchup_remove_root(fs->catchup, s);
	}
	if (r < 0) {
		free(s);
		goto fail_fs;
	}
	s->next = t->scopes;
	t->scopes = s;
	r = scopes_save(t);
	if (r < 0) {
		snprintf(err, errlen, "cannot save the scope list in %s: %s", t->scopes_path,
			 strerror(-r));
		t->scopes = s->next;
		unlink_from_fs(t, s, true);
		free(s);
		return r;
	}
	log_ratelimited(LOG_LEVEL_INFO, "watching %s", canon);
	*ret = s;
	return 0;
fail_fs:
	if (fs->n_scopes == 0)
		fsys_detach(fs, "its first scope could not be added");
	return r;
}

int scope_unwatch(struct tracker *t, struct scope *s)
{
	scope_drop(t, s, true);
	return scopes_save(t);
}

/* ---- answers ------------------------------------------------------------------ */

/* Why a token cannot be answered exactly for s, or NULL when it can. */
const char *scope_token_fresh(struct scope *s, const struct token *tk)
{
	struct fsys *fs = s->fs;
	struct journal *j = fs->journal;

	if (memcmp(tk->uuid, journal_uuid(j), 16) != 0)
		return "another journal instance";
	if (tk->seq > journal_next_seq(j))
		return "a position this journal never handed out";
	if (tk->seq < s->added_seq)
		return "the directory was not watched back then";
	if (tk->seq < catchup_fresh_before(fs->catchup))
		return "a gap no catch-up scan could repair";
	switch (journal_range_check(j, tk->seq, now_realtime_ns(),
				    (uint64_t)fs->t->cfg.max_age_s * 1000000000ull)) {
	case JOURNAL_RANGE_EXACT:
	case JOURNAL_RANGE_SUMMARY: /* wider: the summary of the oldest history */
	case JOURNAL_RANGE_WIDE:    /* wider still: the scope itself, recursive */
		return NULL;
	case JOURNAL_RANGE_TOO_OLD:
		return "older than --max-age";
	case JOURNAL_RANGE_GONE:
		return "older than the journal keeps";
	case JOURNAL_RANGE_DAMAGED:
		return "in a damaged journal range";
	case JOURNAL_RANGE_FUTURE:
		return "a position this journal never handed out";
	}
	return "unknown to this journal";
}

int scope_plan_answer(struct scope *s, const struct token *since, bool no_wait,
		      struct answer_plan *ret)
{
	struct fsys *fs = s->fs;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!fs)
		return -ENOENT;
	/* drain first: an overflow found now must make the answer wait */
	r = fsys_sync(fs);
	if (r < 0)
		return r;
	if (fsys_busy(fs)) {
		if (!no_wait) {
			ret->kind = ANSWER_WAIT;
			return 0;
		}
		ret->widened = true;
	}
	r = fsys_token(fs, ret->token);
	if (r < 0)
		return r;
	ret->why = scope_token_fresh(s, since);
	ret->kind = ret->why ? ANSWER_FRESH : ANSWER_EXACT;
	ret->from = since->seq;
	return 0;
}

/* ---- the tracker's calls ---------------------------------------------------- */

void scopes_fs_gone(struct tracker *t, struct fsys *fs)
{
	for (struct scope *s = t->scopes; s; s = s->next)
		if (s->fs == fs)
			unlink_from_fs(t, s, false);
}

void scopes_reattach(struct tracker *t)
{
	bool changed = false;

	for (struct scope *s = t->scopes; s; s = s->next) {
		char err[512];
		if (!s->fs && scope_attach(t, s, err, sizeof(err)) == 0) {
			log_info("scope %s is back", s->path);
			changed = true;
		}
	}
	if (changed)
		scopes_save(t);
}

size_t scopes_sweep(struct tracker *t, size_t budget, uint64_t grace_ns, uint64_t now_ns)
{
	struct scope *s = t->sweep_next ? t->sweep_next : t->scopes, *next;
	size_t dropped = 0;
	char path[PATH_MAX];

	for (; s && budget > 0; s = next) {
		next = s->next;
		budget--;
		if (!s->fs)
			continue; /* missing: its filesystem may come back */
		if (scope_alive(s, path, sizeof(path))) {
			s->vanished_ns =
			    0; /* (a directory is never reborn: only an unknown answer was) */
			continue;
		}
		if (!s->vanished_ns) {
			s->vanished_ns = now_ns;
			continue;
		}
		if (now_ns - s->vanished_ns < grace_ns)
			continue;
		log_ratelimited(LOG_LEVEL_INFO, "%s is gone for %llu s: no longer watched", s->path,
				(unsigned long long)((now_ns - s->vanished_ns) / 1000000000ull));
		scope_drop(t, s, true);
		dropped++;
	}
	t->sweep_next = s;
	if (dropped)
		scopes_save(t);
	return dropped;
}

void scopes_free(struct tracker *t)
{
	while (t->scopes) {
		struct scope *s = t->scopes;
		t->scopes = s->next;
		free(s);
	}
}
