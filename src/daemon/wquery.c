/* SPDX-License-Identifier: MIT */
/* wquery: a Watchman query run on a worker as the client (see wquery.h). */
#include "daemon/wquery.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "daemon/query.h"
#include "watchman/query.h"
#include "watchman/sha1.h"

struct wquery {
	struct perm_caller caller;
	int root_fd;
	struct wq *q;
	bool fresh;
	struct wq_change *changes;
	size_t n_changes;
	char *paths; /* the changes' paths, back to back */
	json_object *resp, *error_resp;
	bool no_fresh_field, skip_empty;
	struct wpdu_format fmt;
	char *clock;
	size_t max_results, max_bytes;
	const atomic_bool *cancelled; /* while it runs */
	/* the outcome */
	bool ok;
	char *out;
	size_t out_len;
};

/* The changes of cs, with their paths from the root (prefix/path; "." is prefix itself). */
static int copy_changes(struct wquery *w, const struct change_set *cs, const char *prefix)
{
	size_t n = change_set_count(cs), bytes = 0, plen = strlen(prefix), off = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p;
		unsigned k;

		change_set_get(cs, i, &p, &k);
		bytes += plen + 1 + strlen(p) + 1;
	}
	w->changes = calloc(n ? n : 1, sizeof(*w->changes));
	w->paths = malloc(bytes ? bytes : 1);
	if (!w->changes || !w->paths)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p;
		unsigned k;
		char *dst = w->paths + off;
		int len;

		change_set_get(cs, i, &p, &k);
		if (!plen)
			len = sprintf(dst, "%s", p);
		else if (strcmp(p, ".") == 0)
			len = sprintf(dst, "%s", prefix);
		else
			len = sprintf(dst, "%s/%s", prefix, p);
		w->changes[i] = (struct wq_change){.path = dst, .kinds = k};
		off += (size_t)len + 1;
	}
	w->n_changes = n;
	return 0;
}

int wquery_new(const struct wquery_spec *spec, struct wquery **ret)
{
	struct wquery *w = calloc(1, sizeof(*w));
	int r = 0;

	if (!w) {
		safe_close(spec->root_fd);
		wq_free(spec->q);
		json_object_put(spec->resp);
		json_object_put(spec->error_resp);
		return -ENOMEM;
	}
	w->caller = *spec->caller;
	w->root_fd = spec->root_fd;
	w->q = spec->q;
	w->fresh = spec->fresh;
	w->resp = spec->resp;
	w->error_resp = spec->error_resp;
	w->no_fresh_field = spec->no_fresh_field;
	w->skip_empty = spec->skip_empty;
	w->fmt = spec->fmt;
	w->max_results = spec->max_results;
	w->max_bytes = spec->max_bytes;
	w->clock = spec->clock ? strdup(spec->clock) : NULL;
	if ((spec->clock && !w->clock) || !w->resp)
		r = -ENOMEM;
	if (r == 0 && spec->cs)
		r = copy_changes(w, spec->cs, spec->cs_prefix ? spec->cs_prefix : "");
	if (r < 0) {
		wquery_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct wquery *wquery_free(struct wquery *w)
{
	if (!w)
		return NULL;
	safe_close(w->root_fd);
	wq_free(w->q);
	free(w->changes);
	free(w->paths);
	json_object_put(w->resp);
	json_object_put(w->error_resp);
	free(w->clock);
	free(w->out);
	free(w);
	return NULL;
}

/* Before each directory is listed: stop when the client went away. */
static int may_list(void *ud, int dirfd, const char *path)
{
	struct wquery *w = ud;

	return atomic_load(w->cancelled) ? -ECANCELED : 1;
}

static int sha1(void *ud, const struct wq_file *f, char hex[41])
{
	struct wquery *w = ud;

	if (f->dirfd < 0 || !f->dirent)
		return -ENOENT;
	/* a client that went stops its hash too (a sparse file may be terabytes) */
	return sha1_file_at(f->dirfd, f->dirent, hex, w->cancelled);
}

/* The answer for an error: error_resp (or a new object) with "error". */
static void fail(struct wquery *w, const char *msg)
{
	json_object *o = w->error_resp;

	w->error_resp = NULL;
	if (!o)
		o = json_object_new_object();
	free(w->out);
	w->out = NULL;
	w->ok = false;
	if (!o)
		return;
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (wpdu_encode(o, &w->fmt, &w->out, &w->out_len) < 0)
		w->out = NULL;
	json_object_put(o);
}

void wquery_run(void *data, const atomic_bool *cancelled)
{
	struct wquery *w = data;
	struct wq_since_answer answer = {
	    .fresh = w->fresh, .n = w->n_changes, .changes = w->changes};
	struct wq_hooks hooks = {.ud = w,
				 .sha1 = sha1,
				 .may_list = may_list,
				 .clock = w->clock,
				 .max_results = w->max_results};
	struct wq_result res;
	struct perm_saved saved;
	char err[1024] = "";
	int r;

	w->cancelled = cancelled;
	r = perm_become(&w->caller, &saved);
	if (r < 0) {
		snprintf(err, sizeof(err), "query failed: cannot take the client's credentials: %s",
			 strerror(-r));
		fail(w, err);
		return;
	}
	r = wq_run(w->q, w->root_fd, &answer, &hooks, &res, err, sizeof(err));
	perm_restore(&saved);
	if (r < 0) {
		fail(w, err[0] ? err : strerror(-r));
		return;
	}
	/* a fresh instance is news even with no files: the client must crawl again */
	if (w->skip_empty && !res.is_fresh_instance && json_object_array_length(res.files) == 0) {
		json_object_put(res.files);
		w->ok = true;
		return;
	}
	if (!w->no_fresh_field)
		json_object_object_add(w->resp, "is_fresh_instance",
				       json_object_new_boolean(res.is_fresh_instance));
	json_object_object_add(w->resp, "files", res.files);
	r = wpdu_encode(w->resp, &w->fmt, &w->out, &w->out_len);
	/* the objects of a large answer go now, on the worker */
	json_object_put(w->resp);
	w->resp = NULL;
	if (r == 0 && w->out_len > w->max_bytes) {
		snprintf(err, sizeof(err),
			 "query failed: the answer is %zu bytes, more than the %zu one answer may "
			 "take; narrow the query (relative_root, an expression, a since clock)",
			 w->out_len, w->max_bytes);
		r = -E2BIG;
	} else if (r < 0) {
		snprintf(err, sizeof(err), "query failed: cannot encode the answer: %s",
			 strerror(-r));
	}
	if (r < 0) {
		fail(w, err);
		return;
	}
	w->ok = true;
}

void wquery_take(struct wquery *w, char **ret_buf, size_t *ret_len, bool *ret_ok)
{
	*ret_buf = w->out;
	*ret_len = w->out_len;
	*ret_ok = w->ok;
	w->out = NULL;
	w->out_len = 0;
}
