/* SPDX-License-Identifier: MIT */
/*
 * query-legacy: the pattern arguments of Watchman's "find" and "since"
 * commands as a query object: each pattern is ["match", P, "wholename"],
 * "-X" switches to excluding, "-I" back to including, "!" negates the next
 * pattern, "-p"/"-P" make the next one a (i)pcre term, "--" ends them; the
 * fields are Watchman's legacy list.
 */
#include "watchman/query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int append(json_object *arr, json_object *v)
{
	if (!v || json_object_array_add(arr, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static json_object *term(const char *name, const char *pattern, bool negated)
{
	json_object *t = json_object_new_array(), *n;

	if (!t)
		return NULL;
	if (append(t, json_object_new_string(name)) < 0 ||
	    append(t, json_object_new_string(pattern)) < 0 ||
	    append(t, json_object_new_string("wholename")) < 0) {
		json_object_put(t);
		return NULL;
	}
	if (!negated)
		return t;
	n = json_object_new_array();
	if (!n || append(n, json_object_new_string("not")) < 0 || append(n, t) < 0) {
		json_object_put(n);
		return NULL;
	}
	return n;
}

int wq_legacy_spec(json_object *args, size_t start, const char *since, json_object **ret, char *err,
		   size_t errlen)
{
	static const char *const fields[] = {"name",  "exists", "size",	  "mode",  "uid",
					     "gid",   "mtime",	"ctime",  "ino",   "dev",
					     "nlink", "new",	"cclock", "oclock"};
	json_object *spec = NULL, *inc = NULL, *exc = NULL, *expr = NULL, *f;
	bool include = true, negated = false;
	const char *name = "match";
	size_t n = json_object_array_length(args);
	int r = -ENOMEM;

	*ret = NULL;
	for (size_t i = start; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(args, i), json_type_string)) {
			snprintf(err, errlen,
				 "failed to parse query: rule @ position %zu is not a string value",
				 i);
			return -EINVAL;
		}
	spec = json_object_new_object();
	if (!spec)
		return -ENOMEM;
	for (size_t i = start; i < n; i++) {
		const char *a = json_object_get_string(json_object_array_get_idx(args, i));
		json_object **group;

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "-X") == 0 || strcmp(a, "-I") == 0) {
			include = a[1] == 'I';
			continue;
		}
		if (strcmp(a, "!") == 0) {
			negated = true;
			continue;
		}
		if (strcmp(a, "-p") == 0 || strcmp(a, "-P") == 0) {
			name = a[1] == 'p' ? "pcre" : "ipcre";
			continue;
		}
		group = include ? &inc : &exc;
		if (!*group) {
			*group = json_object_new_array();
			if (!*group || append(*group, json_object_new_string("anyof")) < 0)
				goto out;
		}
		if (append(*group, term(name, a, negated)) < 0)
			goto out;
		negated = false;
		name = "match";
	}
	if (exc) {
		json_object *not = json_object_new_array();

		if (!not || append(not, json_object_new_string("not")) < 0 ||
		    append(not, exc) < 0) {
			json_object_put(not );
			exc = NULL;
			goto out;
		}
		exc = not ;
	}
	if (inc && exc) {
		expr = json_object_new_array();
		if (!expr || append(expr, json_object_new_string("allof")) < 0 ||
		    append(expr, exc) < 0) {
			exc = NULL;
			goto out;
		}
		exc = NULL;
		if (append(expr, inc) < 0) {
			inc = NULL;
			goto out;
		}
		inc = NULL;
	} else {
		expr = inc ? inc : exc;
		inc = exc = NULL;
	}
	if (expr && json_object_object_add(spec, "expression", expr) < 0)
		goto out;
	expr = NULL;
	if (since && json_object_object_add(spec, "since", json_object_new_string(since)) < 0)
		goto out;
	f = json_object_new_array();
	if (!f || json_object_object_add(spec, "fields", f) < 0) {
		json_object_put(f);
		goto out;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (append(f, json_object_new_string(fields[i])) < 0)
			goto out;
	*ret = spec;
	spec = NULL;
	r = 0;
out:
	json_object_put(inc);
	json_object_put(exc);
	json_object_put(expr);
	json_object_put(spec);
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r;
}
