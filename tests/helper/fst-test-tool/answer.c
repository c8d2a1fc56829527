/* SPDX-License-Identifier: MIT */
/*
 * answer: the JSON document of `fstrack changes --json`, its contract, and
 * the coverage rule of docs/design.md; `json` reads any JSON document.
 */
#include "tool.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"created",	 "deleted",    "modified", "attrib",
					 "renamed_from", "renamed_to", "entries",  "recursive"};

const char *const cover_names[COVER_N] = {"none",    "fresh",	  "exact",
					  "entries", "recursive", "hardlink"};

static unsigned kind_from_name(const char *s)
{
	for (unsigned i = 0; i < N_OF(kind_names); i++)
		if (!strcmp(s, kind_names[i]))
			return 1u << i;
	return 0;
}

void kinds_format(unsigned kinds, struct sbuf *out)
{
	sb_reset(out);
	for (unsigned i = 0; i < N_OF(kind_names); i++)
		if (kinds & (1u << i))
			sb_add_item(out, ",", kind_names[i]);
	if (!out->len)
		sb_adds(out, "-");
}

void bad_answer(unsigned *problems, const char *fmt, ...)
{
	va_list ap;

	(*problems)++;
	fprintf(stderr, "BAD ANSWER: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool path_well_formed(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 1 && p[0] == '.')
		return true;
	if (len == 0 || memchr(p, '\0', len))
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && p[start] == '.') ||
		    (clen == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/* The entry changes[i] (c) into a, checked against the contract; sb is scratch. */
static void answer_add_change(struct answer *a, size_t i, json_object *c, struct sbuf *sb)
{
	json_object *p, *k;
	const char *path;
	size_t plen;
	unsigned kinds = 0;
	uintptr_t *slot;

	if (!json_object_is_type(c, json_type_object) ||
	    !json_object_object_get_ex(c, "path", &p) ||
	    !json_object_is_type(p, json_type_string) ||
	    !json_object_object_get_ex(c, "kinds", &k) ||
	    !json_object_is_type(k, json_type_array)) {
		bad_answer(&a->problems, "changes[%zu] is not {\"path\": string, \"kinds\": array}",
			   i);
		return;
	}
	path = json_object_get_string(p);
	plen = (size_t)json_object_get_string_len(p);
	sb_reset(sb);
	sb_add_escaped(sb, path, plen);
	if (!path_well_formed(path, plen))
		bad_answer(&a->problems, "changes[%zu]: path \"%s\" is not relative and normalized",
			   i, sb->s);
	if (json_object_array_length(k) == 0)
		bad_answer(&a->problems, "changes[%zu]: path \"%s\" has no kinds", i, sb->s);
	for (size_t j = 0; j < json_object_array_length(k); j++) {
		json_object *kn = json_object_array_get_idx(k, j);
		unsigned bit = json_object_is_type(kn, json_type_string)
				   ? kind_from_name(json_object_get_string(kn))
				   : 0;
		if (!bit)
			bad_answer(&a->problems, "changes[%zu]: path \"%s\": unknown kind %s", i,
				   sb->s, json_object_to_json_string(kn));
		kinds |= bit;
	}
	if (hashmap_upsert(a->by_path, sb->s, sb->len, &slot) < 0)
		die("out of memory");
	if (*slot) {
		bad_answer(&a->problems, "path \"%s\" listed twice", sb->s);
		a->v[*slot - 1].kinds |= kinds;
		return;
	}
	a->v = xgrow(a->v, &a->cap, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = (struct listed){.path = xstrdup(sb->s), .kinds = kinds};
	*slot = a->n;
}

void answer_load(const char *file, struct answer *a)
{
	json_object *root, *o, *changes;
	struct sbuf sb = {0};

	memset(a, 0, sizeof(*a));
	a->by_path = hashmap_new();
	if (!a->by_path)
		die("out of memory");
	root = json_object_from_file(file);
	if (!root)
		die("%s is not a JSON document: %s", file, json_util_get_last_err());
	if (!json_object_is_type(root, json_type_object))
		die("%s: not a JSON object", file);

	if (!json_object_object_get_ex(root, "token", &o) ||
	    !json_object_is_type(o, json_type_string))
		bad_answer(&a->problems, "no \"token\" string");
	else if (strncmp(json_object_get_string(o), "fst1:", 5) != 0)
		bad_answer(&a->problems,
			   "token \"%s\" does not start with fst1:", json_object_get_string(o));
	a->token =
	    xstrdup(o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "");
	if (!json_object_object_get_ex(root, "fresh", &o) ||
	    !json_object_is_type(o, json_type_boolean))
		bad_answer(&a->problems, "no \"fresh\" boolean");
	else
		a->fresh = json_object_get_boolean(o);
	if (!json_object_object_get_ex(root, "changes", &changes) ||
	    !json_object_is_type(changes, json_type_array)) {
		bad_answer(&a->problems, "no \"changes\" array");
		changes = NULL;
	}
	if (a->fresh && changes && json_object_array_length(changes) > 0)
		bad_answer(&a->problems, "fresh answer with a non-empty \"changes\" array");
	for (size_t i = 0; changes && i < json_object_array_length(changes); i++)
		answer_add_change(a, i, json_object_array_get_idx(changes, i), &sb);
	json_object_put(root);
	free(sb.s);
}

void answer_release(struct answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].path);
	free(a->v);
	free(a->token);
	hashmap_free(a->by_path);
	memset(a, 0, sizeof(*a));
}

int answer_kinds(const struct answer *a, const char *path, size_t len)
{
	uintptr_t *slot = hashmap_get(a->by_path, path, len);

	return slot ? (int)a->v[*slot - 1].kinds : -1;
}

/* ------------------------------------------------------------------ */
/* the coverage rule                                                    */

enum cover cover_by_rule(const struct answer *a, const char *p, const char **ret_via,
			 size_t *ret_via_len)
{
	size_t len = strlen(p);
	const char *slash;
	int k;

	*ret_via = p;
	*ret_via_len = len;
	if (a->fresh)
		return COVER_FRESH;
	if (answer_kinds(a, p, len) >= 0)
		return COVER_EXACT;
	if (!strcmp(p, "."))
		return COVER_NONE;
	/* The parent, with "entries". */
	slash = memrchr(p, '/', len);
	if (slash)
		k = answer_kinds(a, p, (size_t)(slash - p));
	else
		k = answer_kinds(a, ".", 1);
	if (k >= 0 && (k & K_ENTRIES)) {
		*ret_via = slash ? p : ".";
		*ret_via_len = slash ? (size_t)(slash - p) : 1;
		return COVER_ENTRIES;
	}
	/* Any ancestor with "recursive", the root "." included. */
	k = answer_kinds(a, ".", 1);
	if (k >= 0 && (k & K_RECURSIVE)) {
		*ret_via = ".";
		*ret_via_len = 1;
		return COVER_RECURSIVE;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		k = answer_kinds(a, p, i);
		if (k >= 0 && (k & K_RECURSIVE)) {
			*ret_via = p;
			*ret_via_len = i;
			return COVER_RECURSIVE;
		}
	}
	return COVER_NONE;
}

/*
 * The hard-link rule: p names the same inode before and after and that
 * inode has other names; p is covered when one of those names (in the
 * same manifest) is listed itself in the answer.
 */
const char *cover_by_hardlink(const struct answer *a, const struct manifest *m,
			      const struct mentry *e)
{
	uintptr_t *slot;

	if (!e || e->type == 'd' || e->nlink < 2)
		return NULL;
	slot = hashmap_get(m->by_ino, &e->ino, sizeof(e->ino));
	for (int i = slot ? (int)*slot - 1 : -1; i >= 0; i = m->v[i].ino_next) {
		const struct mentry *q = &m->v[i];
		if (q == e)
			continue;
		if (answer_kinds(a, q->path, strlen(q->path)) >= 0)
			return q->path;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* commands                                                             */

int cmd_validate(int argc, char **argv)
{
	struct answer a;
	int r;

	if (argc != 2)
		usage_error("usage: validate ANSWER.json");
	answer_load(argv[1], &a);
	r = a.problems ? 1 : 0;
	answer_release(&a);
	return r;
}

int cmd_has(int argc, char **argv)
{
	struct answer a;
	struct sbuf tmp = {0};
	unsigned want = 0;
	char *p;
	int k, r = 0;

	if (argc < 3)
		usage_error("usage: has ANSWER.json PATH [KIND...]");
	for (int i = 3; i < argc; i++) {
		unsigned bit = kind_from_name(argv[i]);
		if (!bit)
			usage_error("unknown kind '%s'", argv[i]);
		want |= bit;
	}
	answer_load(argv[1], &a);
	p = escape(argv[2]);
	k = answer_kinds(&a, p, strlen(p));
	if (k < 0) {
		fprintf(stderr, "%s: %s is not listed in %s (%s%zu paths:", prog, p, argv[1],
			a.fresh ? "fresh, " : "", a.n);
		for (size_t i = 0; i < a.n && i < 30; i++) {
			kinds_format(a.v[i].kinds, &tmp);
			fprintf(stderr, " %s[%s]", a.v[i].path, tmp.s);
		}
		fprintf(stderr, "%s)\n", a.n > 30 ? " ..." : "");
		r = 1;
	} else if (((unsigned)k & want) != want) {
		kinds_format((unsigned)k, &tmp);
		fprintf(stderr, "%s: %s is listed as [%s], ", prog, p, tmp.s);
		kinds_format(want & ~(unsigned)k, &tmp);
		fprintf(stderr, "without [%s]\n", tmp.s);
		r = 1;
	}
	free(p);
	free(tmp.s);
	answer_release(&a);
	return r;
}

int cmd_covers(int argc, char **argv)
{
	struct answer a;
	const char *via;
	size_t via_len;
	enum cover cov;
	char *p;

	if (argc != 3)
		usage_error("usage: covers ANSWER.json PATH");
	answer_load(argv[1], &a);
	p = escape(argv[2]);
	cov = cover_by_rule(&a, p, &via, &via_len);
	if (cov == COVER_NONE)
		fprintf(stderr, "%s: %s is not covered by %s\n", prog, p, argv[1]);
	else
		printf("%s: %s via %.*s\n", p, cover_names[cov], (int)via_len, via);
	free(p);
	answer_release(&a);
	return cov == COVER_NONE ? 1 : 0;
}

int cmd_answer(int argc, char **argv)
{
	struct answer a;
	struct sbuf tmp = {0};

	if (argc != 3)
		usage_error("usage: answer ANSWER.json token|fresh|count|dump");
	answer_load(argv[1], &a);
	if (!strcmp(argv[2], "token")) {
		printf("%s\n", a.token);
	} else if (!strcmp(argv[2], "fresh")) {
		printf("%s\n", a.fresh ? "true" : "false");
	} else if (!strcmp(argv[2], "count")) {
		printf("%zu\n", a.n);
	} else if (!strcmp(argv[2], "dump")) {
		char **sorted = xmalloc(a.n * sizeof(*sorted));
		for (size_t i = 0; i < a.n; i++)
			sorted[i] = a.v[i].path;
		sort_strings(sorted, a.n);
		for (size_t i = 0; i < a.n; i++) {
			kinds_format((unsigned)answer_kinds(&a, sorted[i], strlen(sorted[i])),
				     &tmp);
			printf("%s %s\n", sorted[i], tmp.s);
		}
		free(sorted);
	} else {
		usage_error("answer: unknown field '%s'", argv[2]);
	}
	free(tmp.s);
	answer_release(&a);
	return 0;
}

static void json_print_value(json_object *o)
{
	if (json_object_is_type(o, json_type_string))
		printf("%s\n", json_object_get_string(o));
	else
		printf("%s\n", json_object_to_json_string_ext(
				   o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Print the values at keys[0]/keys[1]/... below o; how many were found. */
static int json_walk(json_object *o, char **keys, int nkeys)
{
	int found = 0;

	if (nkeys == 0) {
		json_print_value(o);
		return 1;
	}
	if (!strcmp(keys[0], "*")) {
		if (!json_object_is_type(o, json_type_array))
			return 0;
		for (size_t i = 0; i < json_object_array_length(o); i++)
			found += json_walk(json_object_array_get_idx(o, i), keys + 1, nkeys - 1);
		return found;
	}
	if (json_object_is_type(o, json_type_array)) {
		uint64_t idx;
		if (!parse_u64(keys[0], &idx) || idx >= json_object_array_length(o))
			return 0;
		return json_walk(json_object_array_get_idx(o, (size_t)idx), keys + 1, nkeys - 1);
	}
	if (json_object_is_type(o, json_type_object)) {
		json_object *v;
		if (!json_object_object_get_ex(o, keys[0], &v))
			return 0;
		return json_walk(v, keys + 1, nkeys - 1);
	}
	return 0;
}

/* json FILE [KEY...]: print the value at KEY/KEY/... ("*" maps over an array). */
int cmd_json(int argc, char **argv)
{
	json_object *root;
	int found;

	if (argc < 2)
		usage_error("usage: json FILE [KEY...]");
	root = strcmp(argv[1], "-") ? json_object_from_file(argv[1]) : json_object_from_fd(0);
	if (!root)
		die("%s is not a JSON document: %s", argv[1], json_util_get_last_err());
	found = json_walk(root, argv + 2, argc - 2);
	json_object_put(root);
	if (!found) {
		fprintf(stderr, "%s: no such key in %s\n", prog, argv[1]);
		return 1;
	}
	return 0;
}
