/* SPDX-License-Identifier: MIT */
/*
 * query: compile a Watchman query, evaluate its expression on one file and
 * render the file's fields. The generators are in query-run.c.
 */
#include "watchman/query-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "basic/util.h"
#include "watchman/bser.h"
#include "watchman/sha1.h"

#define PARSE_PREFIX "failed to parse query: "
/* Expressions nest at most this deep (json-c's own parser stops at 32). */
#define MAX_EXPR_DEPTH 64

const char *const wq_field_names[F_COUNT] = {
    [F_NAME] = "name",	       [F_SYMLINK_TARGET] = "symlink_target",
    [F_EXISTS] = "exists",     [F_SIZE] = "size",
    [F_MODE] = "mode",	       [F_UID] = "uid",
    [F_GID] = "gid",	       [F_ATIME] = "atime",
    [F_ATIME_MS] = "atime_ms", [F_ATIME_US] = "atime_us",
    [F_ATIME_NS] = "atime_ns", [F_ATIME_F] = "atime_f",
    [F_MTIME] = "mtime",       [F_MTIME_MS] = "mtime_ms",
    [F_MTIME_US] = "mtime_us", [F_MTIME_NS] = "mtime_ns",
    [F_MTIME_F] = "mtime_f",   [F_CTIME] = "ctime",
    [F_CTIME_MS] = "ctime_ms", [F_CTIME_US] = "ctime_us",
    [F_CTIME_NS] = "ctime_ns", [F_CTIME_F] = "ctime_f",
    [F_INO] = "ino",	       [F_DEV] = "dev",
    [F_NLINK] = "nlink",       [F_NEW] = "new",
    [F_OCLOCK] = "oclock",     [F_CCLOCK] = "cclock",
    [F_TYPE] = "type",	       [F_SHA1] = "content.sha1hex",
};

enum expr_kind {
	E_TRUE,
	E_FALSE,
	E_ALLOF,
	E_ANYOF,
	E_NOT,
	E_TYPE,
	E_SUFFIX,
	E_NAME,
	E_MATCH,
	E_DIRNAME,
	E_EXISTS,
	E_EMPTY,
	E_SIZE,
	E_SINCE,
};

enum icmp { ICMP_EQ, ICMP_NE, ICMP_GT, ICMP_GE, ICMP_LT, ICMP_LE };

/*
 * A term's value: 0 false, 1 true, or UNKNOWN: what fstrack does not know
 * of a file that is gone (its type), or of a path it cannot name (see
 * struct wq_file). Expressions combine the three as Kleene's logic does
 * (not UNKNOWN is UNKNOWN; allof is false when a term is false, anyof
 * true when a term is true), and a file whose expression is UNKNOWN is
 * reported: a deletion is never hidden by a term that Watchman would have
 * answered from the file's last known state.
 */
#define UNKNOWN 2

enum since_field { SF_OCLOCK, SF_CCLOCK, SF_MTIME, SF_CTIME };

struct wq_expr {
	enum expr_kind kind;
	struct wq_expr **kids; /* allof, anyof, not */
	size_t nkids;
	char type;   /* type */
	char **strs; /* suffix, name: the set; dirname: [0] */
	size_t nstrs, cap_strs;
	bool wholename, caseless;
	struct wm_pattern *pat; /* match */
	enum icmp op;		/* size, dirname depth */
	int64_t operand;
	struct wclockspec since; /* since */
	char *since_str;
	enum since_field since_field;
};

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;
	int n = snprintf(err, errlen, PARSE_PREFIX);

	if (errlen && n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static char *lower_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < len; i++)
		d[i] = ascii_lower(s[i]);
	d[len] = '\0';
	return d;
}

static bool caseless_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

const char *wq_basename(const char *name)
{
	const char *slash = strrchr(name, '/');

	return slash ? slash + 1 : name;
}

bool wq_has_suffix(const char *base, size_t len, char *const *suffixes, size_t n)
{
	if (n < 3) {
		/* Watchman: the name ends with "." and the suffix, any case */
		for (size_t i = 0; i < n; i++) {
			size_t sl = strlen(suffixes[i]);

			if (len >= sl + 1 && base[len - sl - 1] == '.' &&
			    caseless_eq(base + len - sl, sl, suffixes[i], sl))
				return true;
		}
		return false;
	}
	/* Watchman with 3 or more: what follows the last '.', looked up in the set */
	{
		const char *dot = memrchr(base, '.', len);
		size_t sl;

		if (!dot || dot + 1 == base + len)
			return false;
		sl = (size_t)(base + len - dot - 1);
		for (size_t i = 0; i < n; i++)
			if (strlen(suffixes[i]) == sl && caseless_eq(dot + 1, sl, suffixes[i], sl))
				return true;
		return false;
	}
}

/* ---- parsing ---- */

static void expr_free(struct wq_expr *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nkids; i++)
		expr_free(e->kids[i]);
	free(e->kids);
	for (size_t i = 0; i < e->nstrs; i++)
		free(e->strs[i]);
	free(e->strs);
	wm_free(e->pat);
	free(e->since_str);
	free(e);
}

static bool is_str(json_object *o)
{
	return json_object_is_type(o, json_type_string);
}

static bool is_arr(json_object *o)
{
	return json_object_is_type(o, json_type_array);
}

static size_t alen(json_object *o)
{
	return is_arr(o) ? json_object_array_length(o) : 0;
}

static json_object *at(json_object *o, size_t i)
{
	return json_object_array_get_idx(o, i);
}

static int add_str(struct wq_expr *e, char *s)
{
	if (!s)
		return -ENOMEM;
	if (GROW(e->strs, e->cap_strs, e->nstrs + 1) < 0) {
		free(s);
		return -ENOMEM;
	}
	e->strs[e->nstrs++] = s;
	return 0;
}

static int parse_int_compare(json_object *term, enum icmp *op, int64_t *operand, char *err,
			     size_t errlen)
{
	static const char *const ops[] = {"eq", "ne", "gt", "ge", "lt", "le"};
	const char *name;

	if (alen(term) != 3)
		return fail(err, errlen, "integer comparator must have 3 elements");
	if (!is_str(at(term, 1)))
		return fail(err, errlen, "integer comparator op must be a string");
	if (!json_object_is_type(at(term, 2), json_type_int))
		return fail(err, errlen, "integer comparator operand must be an integer");
	name = json_object_get_string(at(term, 1));
	for (int i = 0; i < 6; i++)
		if (strcmp(name, ops[i]) == 0) {
			*op = (enum icmp)i;
			*operand = json_object_get_int64(at(term, 2));
			return 0;
		}
	return fail(err, errlen, "integer comparator opname `%s' is invalid", name);
}

static int parse_expr(const struct wq *q, json_object *t, int depth, struct wq_expr **ret,
		      char *err, size_t errlen);

static int parse_list(const struct wq *q, json_object *t, int depth, struct wq_expr *e,
		      const char *which, char *err, size_t errlen)
{
	size_t n = alen(t);

	if (n < 2)
		return fail(err, errlen, "must use [\"%s\", expr...]", which);
	e->kids = calloc(n - 1, sizeof(*e->kids));
	if (!e->kids)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++) {
		int r = parse_expr(q, at(t, i), depth + 1, &e->kids[e->nkids], err, errlen);

		if (r < 0)
			return r;
		e->nkids++;
	}
	return 0;
}

static int parse_suffix_term(json_object *t, struct wq_expr *e, char *err, size_t errlen)
{
	json_object *s;

	if (!is_arr(t))
		return fail(err, errlen, "Expected array for 'suffix' term");
	if (alen(t) > 2)
		return fail(err, errlen, "Invalid number of arguments for 'suffix' term");
	s = at(t, 1);
	if (is_arr(s)) {
		for (size_t i = 0; i < alen(s); i++) {
			if (!is_str(at(s, i)))
				return fail(err, errlen,
					    "Argument 2 to 'suffix' must be either a string or an "
					    "array of string");
			if (add_str(e, lower_dup(json_object_get_string(at(s, i)),
						 (size_t)json_object_get_string_len(at(s, i)))) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	if (!is_str(s))
		return fail(err, errlen,
			    "Argument 2 to 'suffix' must be either a string or an array of string");
	return add_str(e,
		       lower_dup(json_object_get_string(s), (size_t)json_object_get_string_len(s)));
}

/* Watchman's normalizeSeparators: drop trailing slashes. */
static char *trim_slashes(const char *s, size_t len, bool lower)
{
	while (len > 0 && s[len - 1] == '/')
		len--;
	return lower ? lower_dup(s, len) : strndup(s, len);
}

static int parse_name_term(json_object *t, struct wq_expr *e, bool caseless, char *err,
			   size_t errlen)
{
	const char *which = caseless ? "iname" : "name";
	json_object *name;

	if (!is_arr(t))
		return fail(err, errlen, "Expected array for '%s' term", which);
	if (alen(t) > 3)
		return fail(err, errlen, "Invalid number of arguments for '%s' term", which);
	if (alen(t) == 3) {
		const char *scope;

		if (!is_str(at(t, 2)))
			return fail(err, errlen, "Argument 3 to '%s' must be a string", which);
		scope = json_object_get_string(at(t, 2));
		if (strcmp(scope, "basename") && strcmp(scope, "wholename"))
			return fail(err, errlen, "Invalid scope '%s' for %s expression", scope,
				    which);
		e->wholename = strcmp(scope, "wholename") == 0;
	}
	name = at(t, 1);
	if (is_arr(name)) {
		for (size_t i = 0; i < alen(name); i++)
			if (!is_str(at(name, i)))
				return fail(
				    err, errlen,
				    "Argument 2 to '%s' must be either a string or an array "
				    "of string",
				    which);
		for (size_t i = 0; i < alen(name); i++)
			if (add_str(e, trim_slashes(json_object_get_string(at(name, i)),
						    (size_t)json_object_get_string_len(at(name, i)),
						    caseless)) < 0)
				return -ENOMEM;
		return 0;
	}
	if (!is_str(name))
		return fail(err, errlen,
			    "Argument 2 to '%s' must be either a string or an array of string",
			    which);
	return add_str(e, trim_slashes(json_object_get_string(name),
				       (size_t)json_object_get_string_len(name), caseless));
}

static int parse_match_term(json_object *t, struct wq_expr *e, bool caseless, char *err,
			    size_t errlen)
{
	const char *which = caseless ? "imatch" : "match";
	const char *pattern, *scope = "basename";
	bool noescape = false, dotfiles = false;
	unsigned flags;

	if (alen(t) > 1 && is_str(at(t, 1)))
		pattern = json_object_get_string(at(t, 1));
	else
		return fail(err, errlen, "First parameter to \"%s\" term must be a pattern string",
			    which);
	if (alen(t) > 2) {
		if (!is_str(at(t, 2)))
			return fail(
			    err, errlen,
			    "Second parameter to \"%s\" term must be an optional scope string",
			    which);
		scope = json_object_get_string(at(t, 2));
	}
	if (alen(t) > 3) {
		json_object *opts = at(t, 3), *v;

		if (!json_object_is_type(opts, json_type_object))
			return fail(err, errlen,
				    "Third parameter to \"%s\" term must be an optional object",
				    which);
		if (json_object_object_get_ex(opts, "noescape", &v)) {
			if (!json_object_is_type(v, json_type_boolean))
				return fail(err, errlen,
					    "noescape option for \"%s\" term must be a boolean",
					    which);
			noescape = json_object_get_boolean(v);
		}
		if (json_object_object_get_ex(opts, "includedotfiles", &v)) {
			if (!json_object_is_type(v, json_type_boolean))
				return fail(
				    err, errlen,
				    "includedotfiles option for \"%s\" term must be a boolean",
				    which);
			dotfiles = json_object_get_boolean(v);
		}
	}
	if (alen(t) > 4)
		return fail(err, errlen, "too many parameters passed to \"%s\" expression", which);
	if (strcmp(scope, "basename") && strcmp(scope, "wholename"))
		return fail(err, errlen, "Invalid scope '%s' for %s expression", scope, which);
	e->wholename = strcmp(scope, "wholename") == 0;
	flags = (dotfiles ? 0 : WM_PERIOD) | (noescape ? WM_NOESCAPE : 0) |
		(e->wholename ? WM_PATHNAME : 0) | (caseless ? WM_CASEFOLD : 0) | WM_MULTISLASH;
	return wm_compile(pattern, strlen(pattern), flags, &e->pat);
}

static int parse_dirname_term(json_object *t, struct wq_expr *e, bool caseless, char *err,
			      size_t errlen)
{
	const char *which = caseless ? "idirname" : "dirname";
	json_object *name;
	int r;

	if (!is_arr(t))
		return fail(err, errlen, "Expected array for '%s' term", which);
	if (alen(t) < 2 || alen(t) > 3)
		return fail(err, errlen, "Invalid number of arguments for '%s' term", which);
	name = at(t, 1);
	if (!is_str(name))
		return fail(err, errlen, "Argument 2 to '%s' must be a string", which);
	e->op = ICMP_GE;
	e->operand = 0;
	if (alen(t) == 3) {
		json_object *depth = at(t, 2);

		if (!is_arr(depth))
			return fail(err, errlen, "Invalid number of arguments for '%s' term",
				    which);
		r = parse_int_compare(depth, &e->op, &e->operand, err, errlen);
		if (r < 0)
			return r;
		if (!is_str(at(depth, 0)) || strcmp(json_object_get_string(at(depth, 0)), "depth"))
			return fail(err, errlen,
				    "Third parameter to '%s' should be a relational depth term",
				    which);
	}
	return add_str(e, trim_slashes(json_object_get_string(name),
				       (size_t)json_object_get_string_len(name), false));
}

static int parse_since_term(json_object *t, struct wq_expr *e, char *err, size_t errlen)
{
	static const char *const fields[] = {"oclock", "cclock", "mtime", "ctime"};
	int r;

	if (!is_arr(t))
		return fail(err, errlen, "\"since\" term must be an array");
	if (alen(t) < 2 || alen(t) > 3)
		return fail(err, errlen, "\"since\" term has invalid number of parameters");
	if (json_object_is_type(at(t, 1), json_type_null))
		return fail(err, errlen, "invalid clockspec for \"since\" term");
	r = wclockspec_parse(at(t, 1), &e->since, err, errlen);
	if (r < 0)
		return fail(err, errlen, "invalid clockspec for \"since\" term");
	if (e->since.kind == WCS_NAMED)
		return fail(err, errlen, "named cursors are not allowed in \"since\" terms");
	if (e->since.kind == WCS_SCM)
		return fail(err, errlen,
			    "source-control-aware clocks are not supported by fstrack");
	if (e->since.kind == WCS_CLOCK) {
		e->since_str = strdup(e->since.clock);
		if (!e->since_str)
			return -ENOMEM;
		e->since.clock = e->since_str;
	}
	e->since_field = SF_OCLOCK;
	if (alen(t) == 3) {
		const char *f = is_str(at(t, 2)) ? json_object_get_string(at(t, 2)) : NULL;
		bool found = false;

		if (!f)
			return fail(err, errlen, "field name for \"since\" term must be a string");
		for (int i = 0; i < 4; i++)
			if (strcmp(f, fields[i]) == 0) {
				e->since_field = (enum since_field)i;
				found = true;
			}
		if (!found)
			return fail(err, errlen, "invalid field name \"%s\" for \"since\" term", f);
		if ((e->since_field == SF_MTIME || e->since_field == SF_CTIME) &&
		    e->since.kind != WCS_TIMESTAMP)
			return fail(err, errlen,
				    "field \"%s\" requires a timestamp value for comparison in "
				    "\"since\" term",
				    f);
	}
	return 0;
}

/* The expression terms, by name. */
static const struct {
	const char *name;
	enum expr_kind kind;
} terms[] = {
    {"true", E_TRUE},	     {"false", E_FALSE},   {"allof", E_ALLOF},	 {"anyof", E_ANYOF},
    {"not", E_NOT},	     {"type", E_TYPE},	   {"suffix", E_SUFFIX}, {"name", E_NAME},
    {"iname", E_NAME},	     {"match", E_MATCH},   {"imatch", E_MATCH},	 {"dirname", E_DIRNAME},
    {"idirname", E_DIRNAME}, {"exists", E_EXISTS}, {"empty", E_EMPTY},	 {"size", E_SIZE},
    {"since", E_SINCE},
};

const char *wq_term_name(size_t i)
{
	return i < sizeof(terms) / sizeof(terms[0]) ? terms[i].name : NULL;
}

const char *wq_field_name(size_t i)
{
	return i < F_COUNT ? wq_field_names[i] : NULL;
}

static int parse_expr(const struct wq *q, json_object *t, int depth, struct wq_expr **ret,
		      char *err, size_t errlen)
{
	const char *name;
	struct wq_expr *e;
	bool caseless;
	int r = -ENOENT;

	*ret = NULL;
	if (depth > MAX_EXPR_DEPTH)
		return fail(err, errlen, "expression nested deeper than %d", MAX_EXPR_DEPTH);
	if (is_str(t)) {
		name = json_object_get_string(t);
	} else if (is_arr(t) && alen(t) > 0) {
		if (!is_str(at(t, 0)))
			return fail(err, errlen, "first element of an expression must be a string");
		name = json_object_get_string(at(t, 0));
	} else {
		return fail(err, errlen, "expected array or string for an expression");
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
		if (strcmp(name, terms[i].name) == 0) {
			e->kind = terms[i].kind;
			r = 0;
		}
	if (r < 0) {
		free(e);
		if (strcmp(name, "pcre") == 0 || strcmp(name, "ipcre") == 0)
			return fail(err, errlen, "unsupported expression term '%s'", name);
		return fail(err, errlen, "unknown expression term '%s'", name);
	}
	caseless = name[0] == 'i' || !q->case_sensitive;
	switch (e->kind) {
	case E_TRUE:
	case E_FALSE:
	case E_EXISTS:
	case E_EMPTY:
		break;
	case E_ALLOF:
	case E_ANYOF:
		r = parse_list(q, t, depth, e, name, err, errlen);
		break;
	case E_NOT:
		if (alen(t) != 2) {
			r = fail(err, errlen, "must use [\"not\", expr]");
			break;
		}
		e->kids = calloc(1, sizeof(*e->kids));
		if (!e->kids) {
			r = -ENOMEM;
			break;
		}
		r = parse_expr(q, at(t, 1), depth + 1, &e->kids[0], err, errlen);
		if (r >= 0)
			e->nkids = 1;
		break;
	case E_TYPE: {
		const char *ts;

		if (!is_arr(t)) {
			r = fail(err, errlen, "\"type\" term requires a type string parameter");
			break;
		}
		if (alen(t) < 2 || !is_str(at(t, 1))) {
			r = fail(err, errlen,
				 "First parameter to \"type\" term must be a type string");
			break;
		}
		ts = json_object_get_string(at(t, 1));
		if (strlen(ts) != 1 || !strchr("bcdfplsD", ts[0])) {
			r = fail(err, errlen, "invalid type string '%s'", ts);
			break;
		}
		e->type = ts[0];
		break;
	}
	case E_SUFFIX:
		r = parse_suffix_term(t, e, err, errlen);
		break;
	case E_NAME:
		e->caseless = caseless;
		r = parse_name_term(t, e, caseless, err, errlen);
		break;
	case E_MATCH:
		r = parse_match_term(t, e, caseless, err, errlen);
		break;
	case E_DIRNAME:
		e->caseless = caseless;
		r = parse_dirname_term(t, e, caseless, err, errlen);
		break;
	case E_SIZE:
		if (!is_arr(t)) {
			r = fail(err, errlen, "Expected array for 'size' term");
			break;
		}
		r = parse_int_compare(t, &e->op, &e->operand, err, errlen);
		break;
	case E_SINCE:
		r = parse_since_term(t, e, err, errlen);
		break;
	}
	if (r < 0) {
		expr_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

static int parse_fields(struct wq *q, json_object *spec, char *err, size_t errlen)
{
	static const enum wq_field defaults[] = {F_NAME, F_EXISTS, F_NEW, F_SIZE, F_MODE};
	json_object *list;

	if (!json_object_object_get_ex(spec, "fields", &list)) {
		memcpy(q->fields, defaults, sizeof(defaults));
		q->nfields = sizeof(defaults) / sizeof(defaults[0]);
		return 0;
	}
	if (!is_arr(list))
		return fail(err, errlen, "field list must be an array of strings");
	for (size_t i = 0; i < alen(list); i++) {
		const char *name;
		size_t f;

		if (!is_str(at(list, i)))
			return fail(err, errlen, "field list must be an array of strings");
		name = json_object_get_string(at(list, i));
		for (f = 0; f < F_COUNT; f++)
			if (strcmp(name, wq_field_names[f]) == 0)
				break;
		if (f == F_COUNT)
			return fail(err, errlen, "unknown field name '%s'", name);
		if (q->nfields == sizeof(q->fields) / sizeof(q->fields[0]))
			return fail(err, errlen, "too many fields");
		q->fields[q->nfields++] = (enum wq_field)f;
	}
	return 0;
}

static int get_bool(json_object *spec, const char *key, bool def, bool *ret, char *err,
		    size_t errlen)
{
	json_object *v;

	*ret = def;
	if (!json_object_object_get_ex(spec, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fail(err, errlen, "%s must be a boolean", key);
	*ret = json_object_get_boolean(v);
	return 0;
}

/*
 * A relative path made canonical: no empty or "." components, ".." taken
 * back; NULL in *ret when it leaves the top. -EINVAL when absolute.
 */
static int canon_relative(const char *s, char **ret)
{
	size_t len = strlen(s), n = 0;
	char *out = malloc(len + 1);

	*ret = NULL;
	if (!out)
		return -ENOMEM;
	if (s[0] == '/') {
		free(out);
		return -EINVAL;
	}
	for (const char *p = s; *p;) {
		const char *end = strchrnul(p, '/');
		size_t cl = (size_t)(end - p);

		if (cl == 0 || (cl == 1 && p[0] == '.')) {
			/* skip */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			if (n == 0) {
				free(out);
				return 0; /* above the top */
			}
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, cl);
			n += cl;
		}
		p = *end ? end + 1 : end;
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}

static int parse_paths(struct wq *q, json_object *spec, char *err, size_t errlen)
{
	json_object *paths;

	if (!json_object_object_get_ex(spec, "path", &paths))
		return 0;
	if (!is_arr(paths))
		return fail(err, errlen, "'path' must be an array");
	q->has_paths = true;
	q->paths = calloc(alen(paths) + 1, sizeof(*q->paths));
	if (!q->paths)
		return -ENOMEM;
	for (size_t i = 0; i < alen(paths); i++) {
		json_object *ele = at(paths, i), *p, *d;
		const char *name;
		int64_t depth = -1;
		char *canon;
		int r;

		if (is_str(ele)) {
			name = json_object_get_string(ele);
		} else if (json_object_is_type(ele, json_type_object)) {
			if (!json_object_object_get_ex(ele, "path", &p) || !is_str(p))
				return fail(err, errlen, "path.path must be a string");
			name = json_object_get_string(p);
			if (!json_object_object_get_ex(ele, "depth", &d) ||
			    !json_object_is_type(d, json_type_int))
				return fail(err, errlen, "path.depth must be an integer");
			depth = json_object_get_int64(d);
		} else {
			return fail(err, errlen,
				    "expected object with 'path' and 'depth' properties");
		}
		r = canon_relative(name, &canon);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || !canon)
			continue; /* absolute or above the root: names nothing in the tree */
		q->paths[q->npaths].name = canon;
		q->paths[q->npaths++].depth = depth;
	}
	return 0;
}

static int add_glob(struct wq *q, const char *glob, unsigned flags, char *err, size_t errlen)
{
	struct wq_glob *g = &q->globs[q->nglobs];
	size_t len = strlen(glob);
	const char *p = glob;

	if (glob[0] == '/')
		return fail(err, errlen,
			    "glob `%s` is an absolute path.  All globs must be relative paths!",
			    glob);
	g->comps = calloc(len + 1, sizeof(*g->comps));
	if (!g->comps)
		return -ENOMEM;
	q->nglobs++;
	for (;;) {
		const char *end = strchrnul(p, '/');
		struct wq_glob_comp *c = &g->comps[g->n];
		int r;

		if (end - p >= 2 && p[0] == '*' && p[1] == '*') {
			/* "**..." takes the rest of the glob, matched as a path */
			c->doublestar = true;
			r = wm_compile(p, strlen(p), flags | WM_PATHNAME, &c->pat);
			if (r < 0)
				return r;
			g->n++;
			break;
		}
		r = wm_compile(p, (size_t)(end - p), flags, &c->pat);
		if (r < 0)
			return r;
		g->n++;
		if (!*end)
			break;
		/* "a/" ends with an empty component: a directory only, never a leaf */
		p = end + 1;
	}
	return 0;
}

static int parse_generators(struct wq *q, json_object *spec, char *err, size_t errlen)
{
	json_object *globs, *suffix;
	bool noescape, dotfiles;
	int r;

	if (json_object_object_get_ex(spec, "glob", &globs)) {
		unsigned flags;

		if (!is_arr(globs))
			return fail(err, errlen, "'glob' must be an array");
		q->has_glob = true;
		q->dedup = true;
		r = get_bool(spec, "glob_noescape", false, &noescape, err, errlen);
		if (r >= 0)
			r = get_bool(spec, "glob_includedotfiles", false, &dotfiles, err, errlen);
		if (r < 0)
			return r;
		flags = (dotfiles ? 0 : WM_PERIOD) | (noescape ? WM_NOESCAPE : 0) |
			(q->case_sensitive ? 0 : WM_CASEFOLD) | WM_MULTISLASH;
		q->globs = calloc(alen(globs) + 1, sizeof(*q->globs));
		if (!q->globs)
			return -ENOMEM;
		for (size_t i = 0; i < alen(globs); i++) {
			if (!is_str(at(globs, i)))
				return fail(err, errlen, "'glob' must be an array of strings");
			r = add_glob(q, json_object_get_string(at(globs, i)), flags, err, errlen);
			if (r < 0)
				return r;
		}
	}
	if (json_object_object_get_ex(spec, "suffix", &suffix)) {
		size_t n = is_arr(suffix) ? alen(suffix) : 1;

		if (!is_arr(suffix) && !is_str(suffix))
			return fail(err, errlen,
				    "'suffix' must be a string or an array of strings");
		if (q->has_glob)
			return fail(err, errlen,
				    "'suffix' cannot be used together with the 'glob' generator");
		q->has_suffix = true;
		q->dedup = true;
		q->suffixes = calloc(n + 1, sizeof(*q->suffixes));
		if (!q->suffixes)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			json_object *s = is_arr(suffix) ? at(suffix, i) : suffix;

			if (!is_str(s))
				return fail(err, errlen,
					    "'suffix' must be a string or an array of strings");
			q->suffixes[i] = lower_dup(json_object_get_string(s),
						   (size_t)json_object_get_string_len(s));
			if (!q->suffixes[i])
				return -ENOMEM;
			q->nsuffixes++;
		}
	}
	return 0;
}

static int parse_since(struct wq *q, json_object *spec, char *err, size_t errlen)
{
	json_object *since;
	int r;

	if (!json_object_object_get_ex(spec, "since", &since) ||
	    json_object_is_type(since, json_type_null))
		return 0;
	r = wclockspec_parse(since, &q->since, err, errlen);
	if (r < 0)
		return r; /* "invalid clockspec", as Watchman says */
	if (q->since.kind == WCS_SCM)
		return fail(err, errlen,
			    "source-control-aware clocks are not supported by fstrack");
	q->has_since = true;
	if (q->since.kind == WCS_CLOCK || q->since.kind == WCS_NAMED) {
		q->since_str =
		    strdup(q->since.kind == WCS_CLOCK ? q->since.clock : q->since.cursor);
		if (!q->since_str)
			return -ENOMEM;
		if (q->since.kind == WCS_CLOCK)
			q->since.clock = q->since_str;
		else
			q->since.cursor = q->since_str;
	}
	return 0;
}

static int parse_nonneg(json_object *spec, const char *key, int64_t def, int64_t *ret, char *err,
			size_t errlen)
{
	json_object *v;

	*ret = def;
	if (!json_object_object_get_ex(spec, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return fail(err, errlen, "%s must be an integer value >= 0", key);
	*ret = json_object_get_int64(v);
	return 0;
}

int wq_compile(json_object *spec, struct wq **ret, char *err, size_t errlen)
{
	struct wq *q;
	json_object *v;
	int64_t ignored;
	int r;

	*ret = NULL;
	if (errlen)
		err[0] = '\0';
	if (!json_object_is_type(spec, json_type_object))
		return fail(err, errlen, "query must be an object");
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	r = get_bool(spec, "case_sensitive", true, &q->case_sensitive, err, errlen);
	if (r >= 0)
		r = parse_nonneg(spec, "sync_timeout", 60000, &q->sync_timeout_ms, err, errlen);
	if (r >= 0)
		r = parse_nonneg(spec, "lock_timeout", 60000, &ignored, err, errlen);
	if (r >= 0)
		r = get_bool(spec, "dedup_results", false, &q->dedup, err, errlen);
	if (r >= 0)
		r = get_bool(spec, "empty_on_fresh_instance", false, &q->empty_on_fresh, err,
			     errlen);
	if (r >= 0)
		r = get_bool(spec, "omit_changed_files", false, &q->omit_changed_files, err,
			     errlen);
	if (r >= 0 && json_object_object_get_ex(spec, "relative_root", &v)) {
		if (!is_str(v)) {
			r = fail(err, errlen, "'relative_root' must be a string");
		} else {
			r = canon_relative(json_object_get_string(v), &q->relative_root);
			if (r == -EINVAL || (r == 0 && !q->relative_root))
				r = fail(err, errlen,
					 "'relative_root' must be a path inside the root");
			else if (r == 0 && !q->relative_root[0]) {
				free(q->relative_root); /* "" is no relative root */
				q->relative_root = NULL;
			}
		}
	}
	if (r >= 0)
		r = parse_paths(q, spec, err, errlen);
	if (r >= 0)
		r = parse_generators(q, spec, err, errlen);
	if (r >= 0)
		r = parse_since(q, spec, err, errlen);
	if (r >= 0 && json_object_object_get_ex(spec, "expression", &v))
		r = parse_expr(q, v, 0, &q->expr, err, errlen);
	if (r >= 0 && json_object_object_get_ex(spec, "request_id", &v) && !is_str(v))
		r = fail(err, errlen, "'request_id' must be a string");
	if (r >= 0)
		r = parse_fields(q, spec, err, errlen);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		wq_free(q);
		return r;
	}
	*ret = q;
	return 0;
}

struct wq *wq_free(struct wq *q)
{
	if (!q)
		return NULL;
	expr_free(q->expr);
	free(q->since_str);
	free(q->relative_root);
	for (size_t i = 0; i < q->npaths; i++)
		free(q->paths[i].name);
	free(q->paths);
	for (size_t i = 0; i < q->nglobs; i++) {
		for (size_t k = 0; k < q->globs[i].n; k++)
			wm_free(q->globs[i].comps[k].pat);
		free(q->globs[i].comps);
	}
	free(q->globs);
	for (size_t i = 0; i < q->nsuffixes; i++)
		free(q->suffixes[i]);
	free(q->suffixes);
	free(q);
	return NULL;
}

bool wq_since(const struct wq *q, struct wclockspec *ret)
{
	if (q->has_since && ret)
		*ret = q->since;
	return q->has_since;
}

const char *wq_relative_root(const struct wq *q)
{
	return q->relative_root;
}

int64_t wq_sync_timeout_ms(const struct wq *q)
{
	return q->sync_timeout_ms;
}

bool wq_empty_on_fresh_instance(const struct wq *q)
{
	return q->empty_on_fresh;
}

/* ---- evaluation ---- */

void wq_stat_from_stat(struct wq_stat *w, const void *struct_stat)
{
	const struct stat *st = struct_stat;

	memset(w, 0, sizeof(*w));
	w->mode = st->st_mode;
	w->uid = st->st_uid;
	w->gid = st->st_gid;
	w->size = (uint64_t)st->st_size;
	w->ino = st->st_ino;
	w->dev = st->st_dev;
	w->nlink = st->st_nlink;
	w->atime = st->st_atim;
	w->mtime = st->st_mtim;
	w->ctime = st->st_ctim;
}

int wq_file_load(struct wq_file *f)
{
	struct statx stx;

	if (f->have_stat)
		return 0;
	f->have_stat = true;
	memset(&f->st, 0, sizeof(f->st));
	if (f->dirfd < 0 || !f->dirent || !f->exists)
		return 0;
	if (statx(f->dirfd, f->dirent, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		  STATX_BASIC_STATS | STATX_BTIME, &stx) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			f->exists = false; /* gone since it was listed */
			return 0;
		}
		if (errno == EACCES) {
			f->exists = false; /* the client may not look at it: not there for it */
			return 0;
		}
		f->have_stat = false;
		return -errno;
	}
	f->st.mode = stx.stx_mode;
	f->st.uid = stx.stx_uid;
	f->st.gid = stx.stx_gid;
	f->st.size = stx.stx_size;
	f->st.ino = stx.stx_ino;
	f->st.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	f->st.nlink = stx.stx_nlink;
	f->st.atime = (struct timespec){stx.stx_atime.tv_sec, stx.stx_atime.tv_nsec};
	f->st.mtime = (struct timespec){stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
	f->st.ctime = (struct timespec){stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec};
	if (stx.stx_mask & STATX_BTIME) {
		f->st.btime = (struct timespec){stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec};
		f->st.has_btime = true;
	}
	return 0;
}

static bool icmp(int64_t v, enum icmp op, int64_t operand)
{
	switch (op) {
	case ICMP_EQ:
		return v == operand;
	case ICMP_NE:
		return v != operand;
	case ICMP_GT:
		return v > operand;
	case ICMP_GE:
		return v >= operand;
	case ICMP_LT:
		return v < operand;
	case ICMP_LE:
		return v <= operand;
	}
	return false;
}

struct eval_ctx {
	const struct wq *q;
	const struct wq_hooks *hooks;
	bool fresh;
	char *err;
	size_t errlen;
};

static int eval_dirname(const struct wq_expr *e, const char *name)
{
	const char *dir = e->strs[0];
	size_t dl = strlen(dir), nl = strlen(name);
	int64_t depth = 0;

	if (nl <= dl)
		return 0;
	if (dl > 0 && name[dl] != '/')
		return 0;
	if (e->caseless ? !caseless_eq(name, dl, dir, dl) : memcmp(name, dir, dl) != 0)
		return 0;
	for (size_t i = dl + 1; i < nl; i++)
		if (name[i] == '/')
			depth++;
	return icmp(depth, e->op, e->operand);
}

/*
 * depth op operand for every depth from min up: 1 when true for all, 0
 * when false for all, else unknown (depth only grows).
 */
static int icmp_from(int64_t min, enum icmp op, int64_t operand);

/*
 * dirname for a path below dir that has no name (see struct wq_file):
 * its child (any_depth false) or anything below it.
 */
static int eval_dirname_below(const struct wq_expr *e, const char *dir, bool any_depth)
{
	const char *x = e->strs[0];
	size_t xl = strlen(x), dl = strlen(dir);
	int64_t depth = 0;
	bool under;

	/* is dir x itself, or below x? then so is every path below dir */
	if (xl == 0)
		under = true;
	else if (dl >= xl && (dl == xl || dir[xl] == '/'))
		under = e->caseless ? caseless_eq(dir, xl, x, xl) : memcmp(dir, x, xl) == 0;
	else
		under = false;
	if (!under) {
		/* x below dir: only a deeper path can be below x */
		bool x_below =
		    dl == 0 ||
		    (xl > dl && x[dl] == '/' &&
		     (e->caseless ? caseless_eq(x, dl, dir, dl) : memcmp(x, dir, dl) == 0));
		return x_below && any_depth ? UNKNOWN : 0;
	}
	/* the child's depth below x: the '/' after x in dir/child */
	for (size_t i = xl ? xl + 1 : 0; i < dl; i++)
		if (dir[i] == '/')
			depth++;
	if (dl > xl)
		depth++; /* the '/' between dir and its child */
	if (!any_depth)
		return icmp(depth, e->op, e->operand);
	return icmp_from(depth, e->op, e->operand);
}

static int icmp_from(int64_t min, enum icmp op, int64_t operand)
{
	bool at_min = icmp(min, op, operand);

	switch (op) {
	case ICMP_GE:
	case ICMP_GT:
		return at_min ? 1 : UNKNOWN;
	case ICMP_LT:
	case ICMP_LE:
		return at_min ? UNKNOWN : 0;
	case ICMP_EQ:
		return min > operand ? 0 : UNKNOWN;
	case ICMP_NE:
		return min > operand ? 1 : UNKNOWN;
	}
	return UNKNOWN;
}

static int eval_since(const struct eval_ctx *c, const struct wq_expr *e, struct wq_file *f)
{
	int r;

	if (e->since.kind == WCS_TIMESTAMP) {
		int64_t ts = e->since.timestamp;

		r = wq_file_load(f);
		if (r < 0)
			return r;
		if (!f->exists)
			return 1; /* its times are unknown: it may have changed */
		switch (e->since_field) {
		case SF_MTIME:
			return f->st.mtime.tv_sec >= ts;
		case SF_CCLOCK:
			if (f->st.has_btime)
				return f->st.btime.tv_sec >= ts;
			return f->st.ctime.tv_sec >= ts;
		default: /* oclock: the last change fstrack would see is the ctime */
			return f->st.ctime.tv_sec >= ts;
		}
	}
	if (c->q->has_since && c->q->since.kind == WCS_CLOCK &&
	    strcmp(c->q->since.clock, e->since.clock) == 0) {
		if (f->name_unknown)
			return 1; /* what may have gone went since the clock */
		if (c->fresh)
			return f->exists;
		return e->since_field == SF_CCLOCK ? f->changed && f->is_new : f->changed;
	}
	if (f->name_unknown)
		return UNKNOWN;
	if (c->hooks && c->hooks->since_clock) {
		bool yes = false;

		r = c->hooks->since_clock(c->hooks->ud, e->since.clock,
					  e->since_field == SF_CCLOCK ? "cclock" : "oclock", f,
					  &yes);
		if (r < 0) {
			snprintf(c->err, c->errlen, "query failed: \"since\" term: %s",
				 strerror(-r));
			return r;
		}
		return yes;
	}
	snprintf(c->err, c->errlen,
		 "query failed: a \"since\" term with a clock other than the query's own is not "
		 "supported");
	return -EOPNOTSUPP;
}

static bool type_is(const struct wq_file *f, char t)
{
	mode_t m = f->st.mode;

	switch (t) {
	case 'b':
		return S_ISBLK(m);
	case 'c':
		return S_ISCHR(m);
	case 'd':
		return S_ISDIR(m);
	case 'f':
		return S_ISREG(m);
	case 'p':
		return S_ISFIFO(m);
	case 'l':
		return S_ISLNK(m);
	case 's':
		return S_ISSOCK(m);
	default: /* 'D', Solaris doors */
		return false;
	}
}

static int eval(const struct eval_ctx *c, const struct wq_expr *e, struct wq_file *f)
{
	const char *name = f->name, *subject;
	bool unknown = false;
	int r;

	switch (e->kind) {
	case E_TRUE:
		return 1;
	case E_FALSE:
		return 0;
	case E_ALLOF:
	case E_ANYOF:
		for (size_t i = 0; i < e->nkids; i++) {
			r = eval(c, e->kids[i], f);
			if (r < 0)
				return r;
			if (r == UNKNOWN)
				unknown = true;
			else if (e->kind == E_ALLOF && !r)
				return 0;
			else if (e->kind == E_ANYOF && r)
				return 1;
		}
		return unknown ? UNKNOWN : e->kind == E_ALLOF;
	case E_NOT:
		r = eval(c, e->kids[0], f);
		return r < 0 || r == UNKNOWN ? r : !r;
	case E_TYPE:
		r = wq_file_load(f);
		if (r < 0)
			return r;
		/* a file that is gone has no known type (unless a directory): it may have been any
		 */
		return !f->exists && !(f->st.mode & S_IFMT) ? UNKNOWN : type_is(f, e->type);
	case E_SUFFIX:
		if (f->name_unknown)
			return UNKNOWN;
		subject = wq_basename(name);
		return wq_has_suffix(subject, strlen(subject), e->strs, e->nstrs);
	case E_NAME:
		if (f->name_unknown)
			return UNKNOWN;
		subject = e->wholename ? name : wq_basename(name);
		for (size_t i = 0; i < e->nstrs; i++)
			if (e->caseless ? caseless_eq(subject, strlen(subject), e->strs[i],
						      strlen(e->strs[i]))
					: strcmp(subject, e->strs[i]) == 0)
				return 1;
		return 0;
	case E_MATCH:
		if (f->name_unknown)
			return UNKNOWN;
		subject = e->wholename ? name : wq_basename(name);
		return wm_match(e->pat, subject, strlen(subject));
	case E_DIRNAME:
		if (f->name_unknown)
			return eval_dirname_below(e, name, f->any_depth);
		return eval_dirname(e, name);
	case E_EXISTS:
		r = wq_file_load(f);
		return r < 0 ? r : f->exists;
	case E_EMPTY:
		r = wq_file_load(f);
		if (r < 0)
			return r;
		return f->exists && (S_ISDIR(f->st.mode) || S_ISREG(f->st.mode)) && f->st.size == 0;
	case E_SIZE:
		r = wq_file_load(f);
		if (r < 0)
			return r;
		return f->exists && icmp((int64_t)f->st.size, e->op, e->operand);
	case E_SINCE:
		return eval_since(c, e, f);
	}
	return 0;
}

int wq_eval(const struct wq *q, const struct wq_hooks *hooks, bool fresh, struct wq_file *f,
	    char *err, size_t errlen)
{
	struct eval_ctx c = {q, hooks, fresh, err, errlen};
	int r;

	if (!q->expr)
		return 1;
	r = eval(&c, q->expr, f);
	if (r == UNKNOWN)
		return 1;
	if (r < 0 && errlen && !err[0])
		snprintf(err, errlen, "query failed: %s: %s", f->name, strerror(-r));
	return r;
}

/* ---- rendering ---- */

static json_object *time_field(const struct timespec *ts, enum wq_field f, int base)
{
	int64_t s = ts->tv_sec, ns = ts->tv_nsec;

	switch (f - base) {
	case 0:
		return json_object_new_int64(s);
	case 1:
		return json_object_new_int64(s * 1000 + ns / 1000000);
	case 2:
		return json_object_new_int64(s * 1000000 + ns / 1000);
	case 3:
		return json_object_new_int64(s * 1000000000 + ns);
	default:
		return json_object_new_double((double)s + 1e-9 * (double)ns);
	}
}

static const char *type_letter(const struct wq_file *f)
{
	static const struct {
		char letter[2];
		mode_t type;
	} types[] = {{"f", S_IFREG}, {"d", S_IFDIR}, {"l", S_IFLNK}, {"b", S_IFBLK},
		     {"c", S_IFCHR}, {"p", S_IFIFO}, {"s", S_IFSOCK}};

	/* (a file that is gone has no known type, but a directory fstrack says changed as a whole)
	 */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((f->st.mode & S_IFMT) == types[i].type)
			return types[i].letter;
	return "?";
}

static json_object *error_object(const char *msg)
{
	json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static int render_field(const struct wq_hooks *hooks, struct wq_file *f, enum wq_field field,
			json_object **ret)
{
	json_object *v = NULL;
	int r = wq_file_load(f);

	if (r < 0)
		return r;
	switch (field) {
	case F_NAME:
		v = bser_new_bytes(f->name, strlen(f->name));
		break;
	case F_SYMLINK_TARGET:
		if (!f->exists || !S_ISLNK(f->st.mode)) {
			*ret = NULL;
			return 0;
		}
		if (f->symlink_target) {
			v = bser_new_bytes(f->symlink_target, strlen(f->symlink_target));
		} else if (f->dirfd >= 0 && f->dirent) {
			char buf[PATH_MAX];
			ssize_t n = readlinkat(f->dirfd, f->dirent, buf, sizeof(buf));

			if (n < 0) {
				*ret = NULL; /* gone or replaced since: no target to tell */
				return 0;
			}
			v = bser_new_bytes(buf, (size_t)n);
		} else {
			*ret = NULL;
			return 0;
		}
		break;
	case F_EXISTS:
		v = json_object_new_boolean(f->exists);
		break;
	case F_NEW:
		v = json_object_new_boolean(f->is_new);
		break;
	case F_SIZE:
		v = json_object_new_int64((int64_t)f->st.size);
		break;
	case F_MODE:
		v = json_object_new_int64(f->st.mode);
		break;
	case F_UID:
		v = json_object_new_int64(f->st.uid);
		break;
	case F_GID:
		v = json_object_new_int64(f->st.gid);
		break;
	case F_INO:
		v = json_object_new_int64((int64_t)f->st.ino);
		break;
	case F_DEV:
		v = json_object_new_int64((int64_t)f->st.dev);
		break;
	case F_NLINK:
		v = json_object_new_int64((int64_t)f->st.nlink);
		break;
	case F_ATIME ... F_ATIME_F:
		v = time_field(&f->st.atime, field, F_ATIME);
		break;
	case F_MTIME ... F_MTIME_F:
		v = time_field(&f->st.mtime, field, F_MTIME);
		break;
	case F_CTIME ... F_CTIME_F:
		v = time_field(&f->st.ctime, field, F_CTIME);
		break;
	case F_OCLOCK:
	case F_CCLOCK:
		if (!hooks || !hooks->clock) {
			*ret = NULL;
			return 0;
		}
		v = json_object_new_string(hooks->clock);
		break;
	case F_TYPE:
		v = json_object_new_string(type_letter(f));
		break;
	case F_SHA1: {
		char hex[41];

		if (!f->exists || !S_ISREG(f->st.mode)) {
			*ret = NULL;
			return 0;
		}
		if (!hooks || !hooks->sha1) {
			v = error_object("content hashing is not enabled for this query");
			break;
		}
		r = hooks->sha1(hooks->ud, f, hex);
		if (r == -ENOENT || r == -EISDIR || r == -EINVAL) {
			*ret = NULL;
			return 0;
		}
		v = r < 0 ? error_object(strerror(-r)) : json_object_new_string(hex);
		break;
	}
	case F_COUNT:
		break;
	}
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

int wq_render(const struct wq *q, const struct wq_hooks *hooks, struct wq_file *f,
	      json_object **ret, char *err, size_t errlen)
{
	json_object *o, *v;
	int r;

	*ret = NULL;
	if (q->nfields == 1) {
		r = render_field(hooks, f, q->fields[0], ret);
		goto out;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < q->nfields; i++) {
		r = render_field(hooks, f, q->fields[i], &v);
		if (r < 0) {
			json_object_put(o);
			goto out;
		}
		if (json_object_object_add(o, wq_field_names[q->fields[i]], v) < 0) {
			json_object_put(v);
			json_object_put(o);
			r = -ENOMEM;
			goto out;
		}
	}
	*ret = o;
	r = 0;
out:
	if (r < 0 && errlen)
		snprintf(err, errlen, "query failed: %s: %s", f->name, strerror(-r));
	return r;
}

int wq_sha1_at(void *ud, const struct wq_file *f, char hex[41])
{
	if (f->dirfd < 0 || !f->dirent)
		return -ENOENT;
	return sha1_file_at(f->dirfd, f->dirent, hex, NULL);
}
