/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/watchman/wildmatch.c: git's t3070-wildmatch cases
 * (text, pattern, and the expected result with WM_PATHNAME, with
 * WM_PATHNAME|WM_CASEFOLD, with no flag and with WM_CASEFOLD, as git's
 * "wildmatch", "iwildmatch", "pathmatch" and "ipathmatch"), Watchman's
 * additions (WM_PERIOD, WM_MULTISLASH, WM_NOESCAPE), hostile patterns
 * that would take exponential time in a backtracking matcher, and a
 * differential test against a small backtracking reference on random
 * patterns.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "watchman/wildmatch.h"

struct wcase {
	const char *text, *pattern;
	int glob, iglob, path, ipath;
};

/* From git's t/t3070-wildmatch.sh (the test-tool columns). */
static const struct wcase t3070[] = {
    /* basic wildmatch features */
    {"foo", "foo", 1, 1, 1, 1},
    {"foo", "bar", 0, 0, 0, 0},
    {"", "", 1, 1, 1, 1},
    {"foo", "???", 1, 1, 1, 1},
    {"foo", "??", 0, 0, 0, 0},
    {"foo", "*", 1, 1, 1, 1},
    {"foo", "f*", 1, 1, 1, 1},
    {"foo", "*f", 0, 0, 0, 0},
    {"foo", "*foo*", 1, 1, 1, 1},
    {"foobar", "*ob*a*r*", 1, 1, 1, 1},
    {"aaaaaaabababab", "*ab", 1, 1, 1, 1},
    {"foo*", "foo\\*", 1, 1, 1, 1},
    {"foobar", "foo\\*bar", 0, 0, 0, 0},
    {"f\\oo", "f\\\\oo", 1, 1, 1, 1},
    {"ball", "*[al]?", 1, 1, 1, 1},
    {"ten", "[ten]", 0, 0, 0, 0},
    {"ten", "**[!te]", 1, 1, 1, 1},
    {"ten", "**[!ten]", 0, 0, 0, 0},
    {"ten", "t[a-g]n", 1, 1, 1, 1},
    {"ten", "t[!a-g]n", 0, 0, 0, 0},
    {"ton", "t[!a-g]n", 1, 1, 1, 1},
    {"ton", "t[^a-g]n", 1, 1, 1, 1},
    {"a]b", "a[]]b", 1, 1, 1, 1},
    {"a-b", "a[]-]b", 1, 1, 1, 1},
    {"a]b", "a[]-]b", 1, 1, 1, 1},
    {"aab", "a[]-]b", 0, 0, 0, 0},
    {"aab", "a[]a-]b", 1, 1, 1, 1},
    {"]", "]", 1, 1, 1, 1},
    /* extended slash-matching features */
    {"foo/baz/bar", "foo*bar", 0, 0, 1, 1},
    {"foo/baz/bar", "foo**bar", 0, 0, 1, 1},
    {"foobazbar", "foo**bar", 1, 1, 1, 1},
    {"foo/baz/bar", "foo/**/bar", 1, 1, 1, 1},
    {"foo/baz/bar", "foo/**/**/bar", 1, 1, 0, 0},
    {"foo/b/a/z/bar", "foo/**/bar", 1, 1, 1, 1},
    {"foo/b/a/z/bar", "foo/**/**/bar", 1, 1, 1, 1},
    {"foo/bar", "foo/**/bar", 1, 1, 0, 0},
    {"foo/bar", "foo/**/**/bar", 1, 1, 0, 0},
    {"foo/bar", "foo?bar", 0, 0, 1, 1},
    {"foo/bar", "foo[/]bar", 0, 0, 1, 1},
    {"foo/bar", "foo[^a-z]bar", 0, 0, 1, 1},
    {"foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", 0, 0, 1, 1},
    {"foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", 1, 1, 1, 1},
    {"foo", "**/foo", 1, 1, 0, 0},
    {"XXX/foo", "**/foo", 1, 1, 1, 1},
    {"bar/baz/foo", "**/foo", 1, 1, 1, 1},
    {"bar/baz/foo", "*/foo", 0, 0, 1, 1},
    {"foo/bar/baz", "**/bar*", 0, 0, 1, 1},
    {"deep/foo/bar/baz", "**/bar/*", 1, 1, 1, 1},
    {"deep/foo/bar/baz/", "**/bar/*", 0, 0, 1, 1},
    {"deep/foo/bar/baz/", "**/bar/**", 1, 1, 1, 1},
    {"deep/foo/bar", "**/bar/*", 0, 0, 0, 0},
    {"deep/foo/bar/", "**/bar/**", 1, 1, 1, 1},
    {"foo/bar/baz", "**/bar**", 0, 0, 1, 1},
    {"foo/bar/baz/x", "*/bar/**", 1, 1, 1, 1},
    {"deep/foo/bar/baz/x", "*/bar/**", 0, 0, 1, 1},
    {"deep/foo/bar/baz/x", "**/bar/*/*", 1, 1, 1, 1},
    /* various additional tests */
    {"acrt", "a[c-c]st", 0, 0, 0, 0},
    {"acrt", "a[c-c]rt", 1, 1, 1, 1},
    {"]", "[!]-]", 0, 0, 0, 0},
    {"a", "[!]-]", 1, 1, 1, 1},
    {"", "\\", 0, 0, 0, 0},
    {"\\", "\\", 0, 0, 0, 0},
    {"XXX/\\", "*/\\", 0, 0, 0, 0},
    {"XXX/\\", "*/\\\\", 1, 1, 1, 1},
    {"foo", "foo", 1, 1, 1, 1},
    {"@foo", "@foo", 1, 1, 1, 1},
    {"foo", "@foo", 0, 0, 0, 0},
    {"[ab]", "\\[ab]", 1, 1, 1, 1},
    {"[ab]", "[[]ab]", 1, 1, 1, 1},
    {"[ab]", "[[:]ab]", 1, 1, 1, 1},
    {"[ab]", "[[::]ab]", 0, 0, 0, 0},
    {"[ab]", "[[:digit]ab]", 1, 1, 1, 1},
    {"[ab]", "[\\[:]ab]", 1, 1, 1, 1},
    {"?a?b", "\\??\\?b", 1, 1, 1, 1},
    {"abc", "\\a\\b\\c", 1, 1, 1, 1},
    {"foo", "", 0, 0, 0, 0},
    {"foo/bar/baz/to", "**/t[o]", 1, 1, 1, 1},
    /* character class tests */
    {"a1B", "[[:alpha:]][[:digit:]][[:upper:]]", 1, 1, 1, 1},
    {"a", "[[:digit:][:upper:][:space:]]", 0, 1, 0, 1},
    {"A", "[[:digit:][:upper:][:space:]]", 1, 1, 1, 1},
    {"1", "[[:digit:][:upper:][:space:]]", 1, 1, 1, 1},
    {"1", "[[:digit:][:upper:][:spaci:]]", 0, 0, 0, 0},
    {" ", "[[:digit:][:upper:][:space:]]", 1, 1, 1, 1},
    {".", "[[:digit:][:upper:][:space:]]", 0, 0, 0, 0},
    {".", "[[:digit:][:punct:][:space:]]", 1, 1, 1, 1},
    {"5", "[[:xdigit:]]", 1, 1, 1, 1},
    {"f", "[[:xdigit:]]", 1, 1, 1, 1},
    {"D", "[[:xdigit:]]", 1, 1, 1, 1},
    {"_",
     "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:"
     "upper:][:xdigit:]]",
     1, 1, 1, 1},
    {".", "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]",
     1, 1, 1, 1},
    {"5", "[a-c[:digit:]x-z]", 1, 1, 1, 1},
    {"b", "[a-c[:digit:]x-z]", 1, 1, 1, 1},
    {"y", "[a-c[:digit:]x-z]", 1, 1, 1, 1},
    {"q", "[a-c[:digit:]x-z]", 0, 0, 0, 0},
    /* additional tests, including some malformed wildmatch patterns */
    {"]", "[\\\\-^]", 1, 1, 1, 1},
    {"[", "[\\\\-^]", 0, 0, 0, 0},
    {"-", "[\\-_]", 1, 1, 1, 1},
    {"]", "[\\]]", 1, 1, 1, 1},
    {"\\]", "[\\]]", 0, 0, 0, 0},
    {"\\", "[\\]]", 0, 0, 0, 0},
    {"ab", "a[]b", 0, 0, 0, 0},
    {"a[]b", "a[]b", 0, 0, 0, 0},
    {"ab[", "ab[", 0, 0, 0, 0},
    {"ab", "[!", 0, 0, 0, 0},
    {"ab", "[-", 0, 0, 0, 0},
    {"-", "[-]", 1, 1, 1, 1},
    {"-", "[a-", 0, 0, 0, 0},
    {"-", "[!a-", 0, 0, 0, 0},
    {"-", "[--A]", 1, 1, 1, 1},
    {"5", "[--A]", 1, 1, 1, 1},
    {" ", "[ --]", 1, 1, 1, 1},
    {"$", "[ --]", 1, 1, 1, 1},
    {"-", "[ --]", 1, 1, 1, 1},
    {"0", "[ --]", 0, 0, 0, 0},
    {"-", "[---]", 1, 1, 1, 1},
    {"-", "[------]", 1, 1, 1, 1},
    {"j", "[a-e-n]", 0, 0, 0, 0},
    {"-", "[a-e-n]", 1, 1, 1, 1},
    {"a", "[!------]", 1, 1, 1, 1},
    {"[", "[]-a]", 0, 0, 0, 0},
    {"^", "[]-a]", 1, 1, 1, 1},
    {"^", "[!]-a]", 0, 0, 0, 0},
    {"[", "[!]-a]", 1, 1, 1, 1},
    {"^", "[a^bc]", 1, 1, 1, 1},
    {"-b]", "[a-]b]", 1, 1, 1, 1},
    {"\\", "[\\]", 0, 0, 0, 0},
    {"\\", "[\\\\]", 1, 1, 1, 1},
    {"\\", "[!\\\\]", 0, 0, 0, 0},
    {"G", "[A-\\\\]", 1, 1, 1, 1},
    {"aaabbb", "b*a", 0, 0, 0, 0},
    {"aabcaa", "*ba*", 0, 0, 0, 0},
    {",", "[,]", 1, 1, 1, 1},
    {",", "[\\\\,]", 1, 1, 1, 1},
    {"\\", "[\\\\,]", 1, 1, 1, 1},
    {"-", "[,-.]", 1, 1, 1, 1},
    {"+", "[,-.]", 0, 0, 0, 0},
    {"-.]", "[,-.]", 0, 0, 0, 0},
    {"2", "[\\1-\\3]", 1, 1, 1, 1},
    {"3", "[\\1-\\3]", 1, 1, 1, 1},
    {"4", "[\\1-\\3]", 0, 0, 0, 0},
    {"\\", "[[-\\]]", 1, 1, 1, 1},
    {"[", "[[-\\]]", 1, 1, 1, 1},
    {"]", "[[-\\]]", 1, 1, 1, 1},
    {"-", "[[-\\]]", 0, 0, 0, 0},
    /* test recursion */
    {"-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
     1, 1, 1, 1},
    {"-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
     0, 0, 0, 0},
    {"-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
     0, 0, 0, 0},
    {"XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1",
     "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", 1, 1, 1, 1},
    {"XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1",
     "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", 0, 0, 0, 0},
    {"abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t", 1, 1, 1, 1},
    {"abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t", 0, 0, 0, 0},
    {"foo", "*/*/*", 0, 0, 0, 0},
    {"foo/bar", "*/*/*", 0, 0, 0, 0},
    {"foo/bba/arr", "*/*/*", 1, 1, 1, 1},
    {"foo/bb/aa/rr", "*/*/*", 0, 0, 1, 1},
    {"foo/bb/aa/rr", "**/**/**", 1, 1, 1, 1},
    {"abcXdefXghi", "*X*i", 1, 1, 1, 1},
    {"ab/cXd/efXg/hi", "*X*i", 0, 0, 1, 1},
    {"ab/cXd/efXg/hi", "*/*X*/*/*i", 1, 1, 1, 1},
    {"ab/cXd/efXg/hi", "**/*X*/**/*i", 1, 1, 1, 1},
    /* extra pathmatch tests */
    {"foo", "fo", 0, 0, 0, 0},
    {"foo/bar", "foo/bar", 1, 1, 1, 1},
    {"foo/bar", "foo/*", 1, 1, 1, 1},
    {"foo/bba/arr", "foo/*", 0, 0, 1, 1},
    {"foo/bba/arr", "foo/**", 1, 1, 1, 1},
    {"foo/bba/arr", "foo*", 0, 0, 1, 1},
    {"foo/bba/arr", "foo**", 0, 0, 1, 1},
    {"foo/bba/arr", "foo/*arr", 0, 0, 1, 1},
    {"foo/bba/arr", "foo/**arr", 0, 0, 1, 1},
    {"foo/bba/arr", "foo/*z", 0, 0, 0, 0},
    {"foo/bba/arr", "foo/**z", 0, 0, 0, 0},
    {"foo/bar", "foo?bar", 0, 0, 1, 1},
    {"foo/bar", "foo[/]bar", 0, 0, 1, 1},
    {"foo/bar", "foo[^a-z]bar", 0, 0, 1, 1},
    {"ab/cXd/efXg/hi", "*Xg*i", 0, 0, 1, 1},
    /* extra case-sensitivity tests */
    {"a", "[A-Z]", 0, 1, 0, 1},
    {"A", "[A-Z]", 1, 1, 1, 1},
    {"A", "[a-z]", 0, 1, 0, 1},
    {"a", "[a-z]", 1, 1, 1, 1},
    {"a", "[[:upper:]]", 0, 1, 0, 1},
    {"A", "[[:upper:]]", 1, 1, 1, 1},
    {"A", "[[:lower:]]", 0, 1, 0, 1},
    {"a", "[[:lower:]]", 1, 1, 1, 1},
    {"A", "[B-Za]", 0, 1, 0, 1},
    {"a", "[B-Za]", 1, 1, 1, 1},
    {"A", "[B-a]", 0, 1, 0, 1},
    {"a", "[B-a]", 1, 1, 1, 1},
    {"z", "[Z-y]", 0, 1, 0, 1},
    {"Z", "[Z-y]", 1, 1, 1, 1},
};

static int wm(const char *pattern, const char *text, unsigned flags)
{
	int r = wildmatch(pattern, text, flags);

	assert_true(r == WM_MATCH || r == WM_NOMATCH);
	return r == WM_MATCH;
}

static void test_t3070(void **state)
{
	static const unsigned flagsets[4] = {WM_PATHNAME, WM_PATHNAME | WM_CASEFOLD, 0,
					     WM_CASEFOLD};
	int failures = 0;

	for (size_t i = 0; i < sizeof(t3070) / sizeof(t3070[0]); i++) {
		const struct wcase *c = &t3070[i];
		int want[4] = {c->glob, c->iglob, c->path, c->ipath};

		for (int f = 0; f < 4; f++) {
			int got = wm(c->pattern, c->text, flagsets[f]);

			if (got != want[f]) {
				fprintf(stderr, "'%s' vs '%s' flags %u: got %d want %d\n", c->text,
					c->pattern, flagsets[f], got, want[f]);
				failures++;
			}
		}
	}
	assert_int_equal(failures, 0);
}

/* Watchman's includedotfiles=false, its multislash, and noescape. */
static void test_watchman_flags(void **state)
{
	const unsigned P = WM_PERIOD, PP = WM_PERIOD | WM_PATHNAME;

	/* a leading dot only for a literal dot */
	assert_false(wm("*", ".git", P));
	assert_true(wm("*", ".git", 0));
	assert_true(wm(".*", ".git", P));
	assert_false(wm("?git", ".git", P));
	assert_false(wm("[.]git", ".git", P));
	assert_true(wm("*.js", "a.js", P));
	assert_true(wm("a*", "a.b", P)); /* not leading: fine */
	/* path components */
	assert_false(wm("**/*.js", ".x/a.js", PP));
	assert_false(wm("**/*.js", "a/.x/b.js", PP));
	assert_false(wm("**/*.js", "a/.b.js", PP));
	assert_true(wm("**/*.js", "a/b/c.js", PP));
	assert_true(wm("**/.b.js", "a/.b.js", PP));
	assert_false(wm("**/.x", "a/.b/.x", PP)); /* ** does not take ".b" either */
	assert_true(wm("a/.b/*", "a/.b/c", PP));
	assert_false(wm("*/x", ".a/x", PP));
	assert_true(wm("**", "a/b", PP));
	assert_false(wm("**", "a/.b", PP));
	assert_true(wm("**/*.js", ".x/a.js", WM_PATHNAME));
	/* without WM_PATHNAME only the very first byte counts */
	assert_true(wm("a*", "a/.b", P));

	/* multislash: a run of '/' in the pattern matches one */
	assert_true(wm("a//b", "a/b", WM_MULTISLASH));
	assert_false(wm("a//b", "a/b", 0));
	assert_true(wm("a/**//b", "a/x/b", WM_MULTISLASH | WM_PATHNAME));
	assert_true(wm("a/**//b", "a/b", WM_MULTISLASH | WM_PATHNAME));

	/* noescape: backslash is an ordinary byte */
	assert_true(wm("a\\b", "a\\b", WM_NOESCAPE));
	assert_false(wm("a\\b", "ab", WM_NOESCAPE));
	assert_true(wm("a\\*", "a\\xyz", WM_NOESCAPE));
	assert_true(wm("a\\", "a\\", WM_NOESCAPE));

	/* casefold and escapes, bytes beyond ASCII are compared as they are */
	assert_true(wm("\\A", "a", WM_CASEFOLD));
	assert_true(wm("\xc3\xa9*", "\xc3\xa9t\xc3\xa9", 0));
	assert_false(wm("\xc3\x89", "\xc3\xa9", WM_CASEFOLD));
	assert_true(wm("[!a]", "\xff", 0));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Patterns that make backtracking matchers take exponential time. */
static void test_hostile(void **state)
{
	char pattern[256], *text;
	size_t n = 40000;
	double t0;
	struct wm_pattern *p;

	text = malloc(n + 1);
	memset(text, 'a', n);
	text[n] = '\0';
	pattern[0] = '\0';
	for (int i = 0; i < 60; i++)
		strcat(pattern, "a*");
	strcat(pattern, "b");
	t0 = now();
	for (unsigned f = 0; f < 4; f++)
		assert_false(wm(pattern, text, f == 3 ? WM_PATHNAME | WM_CASEFOLD : f));
	text[n - 1] = 'b';
	assert_true(wm(pattern, text, 0));
	/* "**" "/" forks on every slash */
	for (size_t i = 1; i < n; i += 2)
		text[i] = '/';
	text[n - 1] = 'c';
	assert_false(wm("**/**/**/**/**/**/**/**/**/**/**/b", text, WM_PATHNAME));
	assert_false(wm("*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/b", text, WM_PATHNAME));
	fprintf(stderr, "hostile patterns on %zu bytes: %.3f s\n", n, now() - t0);
	assert_true(now() - t0 < 20.0);

	/* a pattern of thousands of states takes the heap path */
	{
		char *big = malloc(4001);

		for (int i = 0; i < 4000; i += 2)
			memcpy(big + i, "?*", 2);
		big[4000] = '\0';
		assert_int_equal(wm_compile(big, 4000, 0, &p), 0);
		assert_int_equal(wm_match(p, text, 1999), 0);
		assert_int_equal(wm_match(p, text, 2000), 1);
		assert_int_equal(wm_match(p, text, n), 1);
		wm_free(p);
		free(big);
	}
	free(text);

	/* malformed patterns never match, even against themselves */
	assert_int_equal(wm_compile("ab[", 3, 0, &p), 0);
	assert_true(wm_never(p));
	assert_int_equal(wm_match(p, "ab[", 3), 0);
	wm_free(p);
	assert_int_equal(wm_compile("*[[:nope:]]", 11, 0, &p), 0);
	assert_true(wm_never(p));
	wm_free(p);
	/* texts may hold NUL bytes when given with a length */
	assert_int_equal(wm_compile("a?b", 3, 0, &p), 0);
	assert_int_equal(wm_match(p, "a\0b", 3), 1);
	wm_free(p);
}

/*
 * The reference: a backtracking matcher over a small token language
 * (a b . / ? * ** [ab] [!a]), written from the rules in wildmatch.h.
 */
enum { R_CHAR, R_ANY, R_STAR, R_DSTAR, R_DSTAR_SLASH, R_CLASS_AB, R_CLASS_NOT_A };

struct rtok {
	int kind;
	char c;
};

static size_t rtokenize(const char *p, unsigned flags, struct rtok *out)
{
	size_t n = 0, len = strlen(p);

	for (size_t i = 0; i < len;) {
		if (p[i] == '*') {
			size_t s = i;

			while (i < len && p[i] == '*')
				i++;
			if (!(flags & WM_PATHNAME))
				out[n++].kind = R_STAR + 10; /* crosses '/' */
			else if (i - s >= 2 && (s == 0 || p[s - 1] == '/') &&
				 (i == len || p[i] == '/')) {
				if (i < len) {
					out[n++].kind = R_DSTAR_SLASH;
					i++;
				} else {
					out[n++].kind = R_DSTAR;
				}
			} else {
				out[n++].kind = R_STAR;
			}
		} else if (p[i] == '?') {
			out[n++].kind = R_ANY;
			i++;
		} else if (p[i] == '[' && p[i + 1] == '!') {
			out[n++].kind = R_CLASS_NOT_A;
			i += 4;
		} else if (p[i] == '[') {
			out[n++].kind = R_CLASS_AB;
			i += 4;
		} else {
			out[n].kind = R_CHAR;
			out[n++].c = p[i++];
		}
	}
	return n;
}

static int rmatch(const struct rtok *tk, size_t n, const char *t, size_t k, size_t len,
		  unsigned flags)
{
	bool path = flags & WM_PATHNAME;

	if (n == 0)
		return k == len;
		/* can the byte at k be taken by something else than a literal? */
#define LEAD(k) ((flags & WM_PERIOD) && t[k] == '.' && ((k) == 0 || (path && t[(k)-1] == '/')))
	switch (tk->kind) {
	case R_CHAR:
		return k < len && t[k] == tk->c && rmatch(tk + 1, n - 1, t, k + 1, len, flags);
	case R_ANY:
	case R_CLASS_AB:
	case R_CLASS_NOT_A:
		if (k >= len || LEAD(k) || (path && t[k] == '/'))
			return 0;
		if (tk->kind == R_CLASS_AB && t[k] != 'a' && t[k] != 'b')
			return 0;
		if (tk->kind == R_CLASS_NOT_A && t[k] == 'a')
			return 0;
		return rmatch(tk + 1, n - 1, t, k + 1, len, flags);
	case R_STAR:
	case R_STAR + 10:
	case R_DSTAR:
		for (size_t e = k;; e++) {
			if (rmatch(tk + 1, n - 1, t, e, len, flags))
				return 1;
			if (e >= len || LEAD(e))
				return 0;
			if (tk->kind == R_STAR && t[e] == '/')
				return 0;
		}
	case R_DSTAR_SLASH:
		if (rmatch(tk + 1, n - 1, t, k, len, flags))
			return 1;
		/* anything, then a '/' */
		for (size_t e = k; e < len; e++) {
			if (LEAD(e))
				return 0;
			if (t[e] == '/' && rmatch(tk + 1, n - 1, t, e + 1, len, flags))
				return 1;
		}
		return 0;
	}
#undef LEAD
	return 0;
}

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void test_differential(void **state)
{
	static const char *const ptoks[] = {"a", "b", ".", "/", "?", "*", "**", "[ab]", "[!a]"};
	static const char tchars[] = "ab./";
	unsigned checked = 0, matched = 0;

	for (int round = 0; round < 60000; round++) {
		char pat[64] = "", text[16];
		struct rtok tk[32];
		size_t ntok = 1 + rnd(7), tlen = rnd(12), n;
		unsigned flags = rnd(8) & (WM_PATHNAME | WM_PERIOD | WM_CASEFOLD);
		int want, got;

		for (size_t i = 0; i < ntok; i++)
			strcat(pat, ptoks[rnd(sizeof(ptoks) / sizeof(ptoks[0]))]);
		for (size_t i = 0; i < tlen; i++)
			text[i] = tchars[rnd(4)];
		text[tlen] = '\0';
		n = rtokenize(pat, flags, tk);
		want = rmatch(tk, n, text, 0, tlen, flags);
		got = wm(pat, text, flags);
		if (got != want) {
			fprintf(stderr, "pattern '%s' text '%s' flags %u: got %d want %d\n", pat,
				text, flags, got, want);
			fail();
		}
		checked++;
		matched += (unsigned)got;
	}
	/* the random cases are not all one-sided */
	assert_true(matched > checked / 50 && matched < checked - checked / 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_t3070),
	    cmocka_unit_test(test_watchman_flags),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
