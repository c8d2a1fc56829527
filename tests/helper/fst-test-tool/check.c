/* SPDX-License-Identifier: MIT */
/*
 * check: an answer against the manifests before and after (every differing
 * path must be covered; the share of reported paths that really changed),
 * and oracle: the answer a perfect tracker would give, to prove that check
 * can fail.
 */
#include "tool.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct check_stats {
	size_t differing, created, deleted, uncovered;
	size_t by[COVER_N];   /* differing paths, by the way they are covered */
	size_t hits, unknown; /* reported paths that differ; that are in neither manifest */
};

/* What the answer says about p's parent, to make a report actionable. */
static void print_listed_near(const struct answer *a, const char *p, struct sbuf *tmp)
{
	const char *slash = strrchr(p, '/');
	const char *parent = slash ? p : ".";
	size_t plen = slash ? (size_t)(slash - p) : 1;
	int k = answer_kinds(a, parent, plen);

	if (!strcmp(p, "."))
		return;
	if (k < 0) {
		printf("    parent %.*s: not listed\n", (int)plen, parent);
	} else {
		kinds_format((unsigned)k, tmp);
		printf("    parent %.*s: listed as %s\n", (int)plen, parent, tmp->s);
	}
}

/* How the answer covers change c (the coverage rule, then the hard-link rule). */
static enum cover cover_change(const struct answer *a, const struct manifest *m1,
			       const struct manifest *m2, const struct mchange *c, const char **via,
			       size_t *via_len)
{
	enum cover cov = cover_by_rule(a, c->path, via, via_len);
	const char *q;

	if (cov != COVER_NONE || !c->e1 || !c->e2 || c->e1->ino != c->e2->ino ||
	    c->e1->type != c->e2->type)
		return cov;
	q = cover_by_hardlink(a, m1, c->e1);
	if (!q)
		q = cover_by_hardlink(a, m2, c->e2);
	if (!q)
		return COVER_NONE;
	*via = q;
	*via_len = strlen(q);
	return COVER_HARDLINK;
}

static void print_stats(const struct check_stats *st, const struct answer *a,
			json_object *uncovered_paths, bool as_json)
{
	double precision = a->n ? (double)st->hits / (double)a->n : 1.0;
	json_object *j;

	if (!as_json) {
		printf("stats: differing=%zu (created=%zu deleted=%zu) reported=%zu hits=%zu "
		       "unknown=%zu precision=%.3f fresh=%s uncovered=%zu bad_answer=%u\n",
		       st->differing, st->created, st->deleted, a->n, st->hits, st->unknown,
		       precision, a->fresh ? "yes" : "no", st->uncovered, a->problems);
		return;
	}
	j = json_object_new_object();
#define ADD_INT(key, v) json_object_object_add(j, key, json_object_new_int64((int64_t)(v)))
	ADD_INT("differing", st->differing);
	ADD_INT("created", st->created);
	ADD_INT("deleted", st->deleted);
	ADD_INT("reported", a->n);
	ADD_INT("hits", st->hits);
	ADD_INT("reported_unknown", st->unknown);
	json_object_object_add(j, "precision", json_object_new_double(precision));
	json_object_object_add(j, "fresh", json_object_new_boolean(a->fresh));
	ADD_INT("uncovered", st->uncovered);
	ADD_INT("bad_answer", a->problems);
	for (int k = COVER_FRESH; k < COVER_N; k++) {
		char *key = xasprintf("covered_%s", cover_names[k]);
		ADD_INT(key, st->by[k]);
		free(key);
	}
#undef ADD_INT
	json_object_object_add(j, "uncovered_paths", json_object_get(uncovered_paths));
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
}

void check_args_load(int argc, char **argv, const char *flag, const char *usage,
		     struct check_args *ret)
{
	const char *before = NULL, *after = NULL;
	const struct option longopts[] = {
	    {"before", required_argument, NULL, 'b'}, {"after", required_argument, NULL, 'a'},
	    {"answer", required_argument, NULL, 'A'}, {"report", no_argument, NULL, 'r'},
	    {flag, no_argument, NULL, 'f'},	      {0},
	};
	int c;

	*ret = (struct check_args){0};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			before = optarg;
			break;
		case 'a':
			after = optarg;
			break;
		case 'A':
			ret->answer = optarg;
			break;
		case 'r':
			ret->report = true;
			break;
		case 'f':
			ret->flag = true;
			break;
		default:
			usage_error("%s", usage);
		}
	}
	if (!before || !after || !ret->answer || optind != argc)
		usage_error("%s", usage);
	manifest_load(before, &ret->m1);
	manifest_load(after, &ret->m2);
}

void check_args_release(struct check_args *args)
{
	manifest_release(&args->m1);
	manifest_release(&args->m2);
}

int cmd_check(int argc, char **argv)
{
	struct check_args args;
	struct answer a;
	struct sbuf why = {0}, tmp = {0};
	struct check_stats st = {0};
	struct mchange *changes;
	json_object *uncovered_paths;
	bool report, as_json;
	int c;

	check_args_load(argc, argv, "json",
			"usage: check --before M1 --after M2 --answer A.json [--report] [--json]",
			&args);
	report = args.report;
	as_json = args.flag;
	answer_load(args.answer, &a);

	uncovered_paths = json_object_new_array();
	changes = manifest_changes(&args.m1, &args.m2, &st.differing);
	for (size_t i = 0; i < st.differing; i++) {
		const struct mchange *ch = &changes[i];
		const char *via;
		size_t via_len;
		enum cover cov = cover_change(&a, &args.m1, &args.m2, ch, &via, &via_len);

		st.created += !ch->e1;
		st.deleted += !ch->e2;
		st.by[cov]++;
		if (cov == COVER_NONE) {
			st.uncovered++;
			printf("FALSE NEGATIVE: %s (%s)\n", ch->path, ch->why);
			print_listed_near(&a, ch->path, &tmp);
			json_object_array_add(uncovered_paths, json_object_new_string(ch->path));
		} else if (report) {
			printf("covered: %s (%s) by %s via %.*s\n", ch->path, ch->why,
			       cover_names[cov], (int)via_len, via);
		}
	}

	/* Precision: the share of reported paths that really differ. */
	for (size_t i = 0; i < a.n; i++) {
		const struct mentry *e1 = manifest_get(&args.m1, a.v[i].path);
		const struct mentry *e2 = manifest_get(&args.m2, a.v[i].path);

		if (!e1 && !e2) {
			st.unknown++;
			continue;
		}
		if (e1 && e2)
			mentry_diff(e1, e2, &why);
		if (!e1 || !e2 || why.len)
			st.hits++;
	}
	for (size_t i = 0; report && i < a.n; i++) {
		kinds_format(a.v[i].kinds, &tmp);
		printf("reported: %s [%s]\n", a.v[i].path, tmp.s);
	}
	print_stats(&st, &a, uncovered_paths, as_json);

	json_object_put(uncovered_paths);
	mchanges_free(changes, st.differing);
	free(why.s);
	free(tmp.s);
	check_args_release(&args);
	c = (st.uncovered || a.problems) ? 1 : 0;
	answer_release(&a);
	return c;
}

/*
 * The answer a perfect tracker would give: every differing path, exactly
 * (created / deleted / modified). Used to prove that check can fail: drop
 * one change of it (--omit N, named on stderr) and check must find the hole.
 */
int cmd_oracle(int argc, char **argv)
{
	struct manifest m1 = {0}, m2 = {0};
	struct sbuf raw = {0};
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	struct mchange *changes;
	size_t n;
	uint64_t omit = UINT64_MAX;

	if (argc == 5 && !strcmp(argv[1], "--omit") && parse_u64(argv[2], &omit)) {
		argc -= 2;
		argv += 2;
	}
	if (argc != 3)
		usage_error("usage: oracle [--omit N] M1 M2");
	manifest_load(argv[1], &m1);
	manifest_load(argv[2], &m2);
	changes = manifest_changes(&m1, &m2, &n);
	for (size_t i = 0; i < n; i++) {
		const struct mchange *ch = &changes[i];
		const char *kind = !ch->e1 ? "created" : !ch->e2 ? "deleted" : "modified";
		json_object *c, *k;

		if (i == omit) {
			/* Left out on purpose: say which one on stderr. */
			fprintf(stderr, "%s\n", ch->path);
			continue;
		}
		sb_reset(&raw);
		sb_add_unescaped(&raw, ch->path);
		c = json_object_new_object();
		k = json_object_new_array();
		json_object_array_add(k, json_object_new_string(kind));
		json_object_object_add(c, "path", json_object_new_string_len(raw.s, (int)raw.len));
		json_object_object_add(c, "kinds", k);
		json_object_array_add(list, c);
	}
	json_object_object_add(root, "token", json_object_new_string("fst1:oracle:0"));
	json_object_object_add(root, "fresh", json_object_new_boolean(false));
	json_object_object_add(root, "changes", list);
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	mchanges_free(changes, n);
	free(raw.s);
	manifest_release(&m1);
	manifest_release(&m2);
	return 0;
}
