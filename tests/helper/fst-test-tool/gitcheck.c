/* SPDX-License-Identifier: MIT */
/*
 * gitcheck: an answer of git's fsmonitor protocol (the bytes fstrackd sends
 * on git's IPC socket, or the hook prints: a token, a NUL, then
 * NUL-terminated paths relative to the work tree, or a lone "/") against
 * the manifests of the work tree before and after, the way git uses it.
 *
 * What git does with a path of the answer (git 2.55, fsmonitor.c
 * fsmonitor_refresh_callback and dir.c untracked_cache_invalidate_path):
 *   "a/b"   re-checks the index entry a/b (when there is none, every entry
 *           below a/b/; not counted here) and re-reads the untracked-cache
 *           listing of a, the directory that holds the last component;
 *   "a/b/"  re-checks every index entry below a/b/ and re-reads the listing
 *           of a (not of a/b);
 *   a path git refuses (read-cache.c verify_path on Linux: ".git" in its
 *   NTFS spellings as a component) re-reads no listing; it is counted for
 *   nothing here. A path that is not relative and normalized breaks the
 *   answer.
 * So a changed path P (every line that differs between the manifests, but
 * those inside .git) is covered when:
 *   - P is not a directory on either side: its index entry is re-checked,
 *     by "P" or by "A/" for an ancestor A (P may be tracked);
 *   - its name came or went in its parent D (created, deleted, or a
 *     directory on one side only) and D is a directory before and after:
 *     the listing of D is re-read, by some "D/x" or "D/x/" (P may be
 *     untracked);
 *   - a directory on both sides needs nothing itself: git keeps nothing of
 *     a directory (its mode, times or link count); the names that came or
 *     went in it are changes of their own.
 * A "/" answer covers everything. With --all-listings the listing of every
 * directory of the work tree after (but .git) must be re-read too: the
 * answer since a token marked "+untracked-rescan".
 */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gitanswer {
	char *token;
	bool everything; /* "/" */
	size_t n;	 /* paths */
	size_t refused;	 /* paths git refuses */
	/* escaped path without its trailing '/' -> NAMED_BARE | NAMED_SLASH */
	struct hashmap *named;
	/* escaped directory ("." the top) -> 1: a path re-reads its listing */
	struct hashmap *listings;
	unsigned problems;
};

#define NAMED_BARE 1u
#define NAMED_SLASH 2u

/*
 * git's is_ntfs_dotgit for one component c of length n (core.protectNTFS is
 * on by default): ".git" or "git~1" in any case, then only dots and spaces
 * up to the end or a ':'.
 */
static bool ntfs_dotgit(const char *c, size_t n)
{
	size_t i;

	if (n >= 4 && strncasecmp(c, ".git", 4) == 0)
		i = 4;
	else if (n >= 5 && strncasecmp(c, "git~1", 5) == 0)
		i = 5;
	else
		return false;
	while (i < n && (c[i] == ' ' || c[i] == '.'))
		i++;
	return i == n || c[i] == ':';
}

/*
 * Does git refuse the well-formed path p (raw, no trailing '/', length n)?
 * When a component, or what follows a '\\' in one, is ".git" as NTFS spells
 * it (read-cache.c verify_path; '\\' is no separator on Linux).
 */
static bool git_refuses(const char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/' && p[i] != '\\')
			continue;
		if (ntfs_dotgit(p + start, i - start))
			return true;
		start = i + 1;
	}
	return false;
}

static void mark(struct hashmap *h, const char *key, size_t len, uintptr_t bits)
{
	uintptr_t *slot;

	if (hashmap_upsert(h, key, len, &slot) < 0)
		die("out of memory");
	*slot |= bits;
}

static uintptr_t marked(const struct hashmap *h, const char *key, size_t len)
{
	uintptr_t *slot = hashmap_get(h, key, len);

	return slot ? *slot : 0;
}

/* One path of the answer (raw bytes, NUL-terminated in the answer). */
static void gitanswer_add(struct gitanswer *a, const char *p, size_t n, struct sbuf *sb)
{
	bool slash = n > 1 && p[n - 1] == '/';
	size_t len = slash ? n - 1 : n;
	const char *last;

	a->n++;
	sb_reset(sb);
	sb_add_escaped(sb, p, n);
	if (n == 1 && p[0] == '/') {
		if (a->n != 1)
			bad_answer(&a->problems, "\"/\" is not the first path");
		a->everything = true;
		return;
	}
	if (!path_well_formed(p, len) || (len == 1 && p[0] == '.')) {
		bad_answer(&a->problems, "path \"%s\" is not relative and normalized", sb->s);
		return;
	}
	if (git_refuses(p, len)) {
		a->refused++;
		return;
	}
	sb_reset(sb);
	sb_add_escaped(sb, p, len);
	mark(a->named, sb->s, sb->len, slash ? NAMED_SLASH : NAMED_BARE);
	last = memrchr(sb->s, '/', sb->len);
	if (last)
		mark(a->listings, sb->s, (size_t)(last - sb->s), 1);
	else
		mark(a->listings, ".", 1, 1);
}

static void gitanswer_load(const char *file, struct gitanswer *a)
{
	FILE *f = fopen(file, "rb");
	struct sbuf raw = {0}, sb = {0};
	char buf[65536];
	size_t got, at;
	const char *nul;

	memset(a, 0, sizeof(*a));
	a->named = hashmap_new();
	a->listings = hashmap_new();
	if (!a->named || !a->listings)
		die("out of memory");
	if (!f)
		die("cannot open %s: %s", file, strerror(errno));
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&raw, buf, got);
	if (ferror(f))
		die("cannot read %s", file);
	fclose(f);
	nul = raw.len ? memchr(raw.s, '\0', raw.len) : NULL;
	if (!nul || nul == raw.s) {
		bad_answer(&a->problems, "no token and NUL first");
		a->token = xstrdup("");
		free(raw.s);
		return;
	}
	a->token = xstrdup(raw.s);
	for (at = (size_t)(nul - raw.s) + 1; at < raw.len;) {
		nul = memchr(raw.s + at, '\0', raw.len - at);
		if (!nul) {
			bad_answer(&a->problems, "the last path has no NUL");
			break;
		}
		if (nul == raw.s + at)
			bad_answer(&a->problems, "an empty path");
		else
			gitanswer_add(a, raw.s + at, (size_t)(nul - (raw.s + at)), &sb);
		at = (size_t)(nul - raw.s) + 1;
	}
	if (a->everything && a->n != 1)
		bad_answer(&a->problems, "\"/\" and other paths");
	free(raw.s);
	free(sb.s);
}

static void gitanswer_release(struct gitanswer *a)
{
	free(a->token);
	hashmap_free(a->named);
	hashmap_free(a->listings);
	memset(a, 0, sizeof(*a));
}

/* Is escaped path p one git refuses (inside .git)? sb is scratch. */
static bool in_git_dir(const char *p, struct sbuf *sb)
{
	sb_reset(sb);
	sb_add_unescaped(sb, p);
	return git_refuses(sb->s, sb->len);
}

/* The escaped parent of p ("." at the top): its length in p, or 1 for ".". */
static const char *parent_of(const char *p, size_t *ret_len)
{
	const char *slash = strrchr(p, '/');

	if (!slash) {
		*ret_len = 1;
		return ".";
	}
	*ret_len = (size_t)(slash - p);
	return p;
}

/* Is the index entry p re-checked: "p", or "A/" for an ancestor A? */
static bool index_rechecked(const struct gitanswer *a, const char *p)
{
	size_t len = strlen(p);

	if (marked(a->named, p, len) & NAMED_BARE)
		return true;
	for (size_t i = len; i-- > 0;)
		if (p[i] == '/' && (marked(a->named, p, i) & NAMED_SLASH))
			return true;
	return false;
}

static bool is_dir(const struct mentry *e)
{
	return e && e->type == 'd';
}

struct gitcheck_stats {
	size_t differing, own_dirs, index_checks, listing_checks, uncovered;
};

/* Check change c; prints and counts what is not covered. */
static void gitcheck_change(const struct gitanswer *a, const struct manifest *m1,
			    const struct manifest *m2, const struct mchange *c, bool report,
			    struct gitcheck_stats *st)
{
	bool file = (c->e1 && !is_dir(c->e1)) || (c->e2 && !is_dir(c->e2));
	bool came_or_went = !c->e1 || !c->e2 || is_dir(c->e1) != is_dir(c->e2);
	size_t plen;
	const char *parent = parent_of(c->path, &plen);
	char *dir = xasprintf("%.*s", (int)plen, parent);
	bool missed = false;

	st->differing++;
	if (!file && !came_or_went)
		st->own_dirs++;
	if (file) {
		st->index_checks++;
		if (!a->everything && !index_rechecked(a, c->path)) {
			printf("FALSE NEGATIVE: %s (%s): its index entry is not re-checked (no "
			       "\"%s\", no \"A/\" above it)\n",
			       c->path, c->why, c->path);
			missed = true;
		}
	}
	if (came_or_went && is_dir(manifest_get(m1, dir)) && is_dir(manifest_get(m2, dir))) {
		st->listing_checks++;
		if (!a->everything && !marked(a->listings, dir, strlen(dir))) {
			printf("FALSE NEGATIVE: %s (%s): the listing of %s is not re-read (no "
			       "path directly in it)\n",
			       c->path, c->why, dir);
			missed = true;
		}
	}
	if (missed)
		st->uncovered++;
	else if (report)
		printf("covered: %s (%s)\n", c->path, c->why);
	free(dir);
}

int cmd_gitcheck(int argc, char **argv)
{
	struct check_args args;
	struct gitcheck_stats st = {0};
	struct gitanswer a;
	struct sbuf tmp = {0};
	struct mchange *changes;
	size_t n, dirs = 0, unlisted = 0;
	bool report, all_listings;
	int c;

	check_args_load(argc, argv, "all-listings",
			"usage: gitcheck --before M1 --after M2 --answer FILE [--all-listings] "
			"[--report]",
			&args);
	report = args.report;
	all_listings = args.flag;
	gitanswer_load(args.answer, &a);

	changes = manifest_changes(&args.m1, &args.m2, &n);
	for (size_t i = 0; i < n; i++)
		if (!in_git_dir(changes[i].path, &tmp))
			gitcheck_change(&a, &args.m1, &args.m2, &changes[i], report, &st);
	for (size_t i = 0; all_listings && i < args.m2.n; i++) {
		const struct mentry *e = &args.m2.v[i];

		if (!is_dir(e) || in_git_dir(e->path, &tmp))
			continue;
		dirs++;
		if (!a.everything && !marked(a.listings, e->path, strlen(e->path))) {
			printf("NOT RE-READ: the listing of %s (no path directly in it)\n",
			       e->path);
			unlisted++;
		}
	}
	printf("stats: differing=%zu (own directory changes=%zu) index_checks=%zu "
	       "listing_checks=%zu answer=%s paths=%zu refused_by_git=%zu uncovered=%zu",
	       st.differing, st.own_dirs, st.index_checks, st.listing_checks,
	       a.everything ? "everything" : "paths", a.n, a.refused, st.uncovered);
	if (all_listings)
		printf(" directories=%zu not_re_read=%zu", dirs, unlisted);
	printf(" bad_answer=%u\n", a.problems);

	mchanges_free(changes, n);
	free(tmp.s);
	check_args_release(&args);
	c = st.uncovered || unlisted || a.problems ? 1 : 0;
	gitanswer_release(&a);
	return c;
}
