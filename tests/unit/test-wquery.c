/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Watchman query engine (src/watchman/query.c,
 * query-run.c, walk.c, clock.c, sha1.c): Watchman's parse errors, every
 * expression term on made-up files, the fields, and whole queries run over
 * a real directory tree with each generator and with fstrack answers
 * (named changes, "entries" and "recursive" directories after a gap, fresh
 * answers, relative_root), plus symlinks, a very deep tree, clocks and
 * SHA-1.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fstrack.h"
#include "watchman/bser.h"
#include "watchman/clock.h"
#include "watchman/query.h"
#include "watchman/sha1.h"
#include "watchman/walk.h"

static json_object *parse(const char *text)
{
	json_object *o = json_tokener_parse(text);

	if (!o)
		fprintf(stderr, "bad test JSON: %s\n", text);
	assert_non_null(o);
	return o;
}

static struct wq *compile(const char *text)
{
	json_object *spec = parse(text);
	struct wq *q;
	char err[256];
	int r = wq_compile(spec, &q, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "compile %s: %s\n", text, err);
	assert_int_equal(r, 0);
	json_object_put(spec);
	return q;
}

static void expect_error(const char *text, const char *message)
{
	json_object *spec = parse(text);
	struct wq *q;
	char err[256] = "";

	assert_int_equal(wq_compile(spec, &q, err, sizeof(err)), -EINVAL);
	assert_null(q);
	if (strcmp(err, message) != 0) {
		fprintf(stderr, "query %s\n  got  '%s'\n  want '%s'\n", text, err, message);
		fail();
	}
	json_object_put(spec);
}

#define P "failed to parse query: "

static void test_parse_errors(void **state)
{
	expect_error("{\"expression\":[\"nope\"]}", P "unknown expression term 'nope'");
	expect_error("{\"expression\":\"nope\"}", P "unknown expression term 'nope'");
	expect_error("{\"expression\":[\"pcre\",\"x\"]}", P "unsupported expression term 'pcre'");
	expect_error("{\"expression\":[\"type\",\"q\"]}", P "invalid type string 'q'");
	expect_error("{\"expression\":[\"type\",\"fd\"]}", P "invalid type string 'fd'");
	expect_error("{\"expression\":\"type\"}",
		     P "\"type\" term requires a type string parameter");
	expect_error("{\"expression\":[\"type\"]}",
		     P "First parameter to \"type\" term must be a type string");
	expect_error("{\"expression\":[]}", P "expected array or string for an expression");
	expect_error("{\"expression\":[1]}", P "first element of an expression must be a string");
	expect_error("{\"expression\":[\"allof\"]}", P "must use [\"allof\", expr...]");
	expect_error("{\"expression\":[\"anyof\"]}", P "must use [\"anyof\", expr...]");
	expect_error("{\"expression\":[\"not\"]}", P "must use [\"not\", expr]");
	expect_error("{\"expression\":[\"not\",\"true\",\"false\"]}", P "must use [\"not\", expr]");
	expect_error("{\"expression\":[\"allof\",[\"bogus\"]]}",
		     P "unknown expression term 'bogus'");
	expect_error("{\"expression\":[\"suffix\",1]}",
		     P "Argument 2 to 'suffix' must be either a string or an array of string");
	expect_error("{\"expression\":[\"suffix\",\"a\",\"b\"]}",
		     P "Invalid number of arguments for 'suffix' term");
	expect_error("{\"expression\":[\"name\",\"a\",\"fullname\"]}",
		     P "Invalid scope 'fullname' for name expression");
	expect_error("{\"expression\":[\"iname\",[\"a\",2]]}",
		     P "Argument 2 to 'iname' must be either a string or an array of string");
	expect_error("{\"expression\":[\"match\"]}",
		     P "First parameter to \"match\" term must be a pattern string");
	expect_error("{\"expression\":[\"imatch\",\"*\",\"x\"]}",
		     P "Invalid scope 'x' for imatch expression");
	expect_error("{\"expression\":[\"match\",\"*\",\"basename\",{\"includedotfiles\":1}]}",
		     P "includedotfiles option for \"match\" term must be a boolean");
	expect_error("{\"expression\":[\"match\",\"*\",\"basename\",{},1]}",
		     P "too many parameters passed to \"match\" expression");
	expect_error("{\"expression\":[\"dirname\"]}",
		     P "Invalid number of arguments for 'dirname' term");
	expect_error("{\"expression\":[\"dirname\",\"a\",[\"size\",\"eq\",1]]}",
		     P "Third parameter to 'dirname' should be a relational depth term");
	expect_error("{\"expression\":[\"idirname\",\"a\",[\"depth\",\"xx\",1]]}",
		     P "integer comparator opname `xx' is invalid");
	expect_error("{\"expression\":[\"size\",\"gt\"]}",
		     P "integer comparator must have 3 elements");
	expect_error("{\"expression\":[\"size\",\"gt\",\"1\"]}",
		     P "integer comparator operand must be an integer");
	expect_error("{\"expression\":[\"since\",\"n:foo\"]}",
		     P "named cursors are not allowed in \"since\" terms");
	expect_error("{\"expression\":[\"since\",\"bogus\"]}",
		     P "invalid clockspec for \"since\" term");
	expect_error("{\"expression\":[\"since\",\"c:1:2:3:4\",\"mtime\"]}", P
		     "field \"mtime\" requires a timestamp value for comparison in \"since\" term");
	expect_error("{\"expression\":[\"since\",12,\"atime\"]}",
		     P "invalid field name \"atime\" for \"since\" term");
	expect_error("{\"fields\":[\"name\",\"bogus\"]}", P "unknown field name 'bogus'");
	expect_error("{\"fields\":\"name\"}", P "field list must be an array of strings");
	expect_error("{\"glob\":\"*.c\"}", P "'glob' must be an array");
	expect_error("{\"glob\":[\"/etc/*\"]}",
		     P "glob `/etc/*` is an absolute path.  All globs must be relative paths!");
	expect_error("{\"glob\":[\"*.c\"],\"suffix\":\"c\"}",
		     P "'suffix' cannot be used together with the 'glob' generator");
	expect_error("{\"suffix\":3}", P "'suffix' must be a string or an array of strings");
	expect_error("{\"path\":\"a\"}", P "'path' must be an array");
	expect_error("{\"path\":[{\"path\":\"a\",\"depth\":\"1\"}]}",
		     P "path.depth must be an integer");
	expect_error("{\"relative_root\":\"../x\"}",
		     P "'relative_root' must be a path inside the root");
	expect_error("{\"relative_root\":3}", P "'relative_root' must be a string");
	expect_error("{\"dedup_results\":1}", P "dedup_results must be a boolean");
	expect_error("{\"sync_timeout\":-1}", P "sync_timeout must be an integer value >= 0");
	expect_error("{\"since\":\"x:y\"}", "invalid clockspec");
	expect_error("{\"since\":{\"scm\":{\"mergebase-with\":\"main\"}}}",
		     P "source-control-aware clocks are not supported by fstrack");
	expect_error("[]", P "query must be an object");
	/* nesting is bounded */
	{
		char text[4096] = "{\"expression\":";

		for (int i = 0; i < 100; i++)
			strcat(text, "[\"not\",");
		strcat(text, "\"true\"");
		for (int i = 0; i < 100; i++)
			strcat(text, "]");
		strcat(text, "}");
		{
			/* json-c's tokener stops at 32 levels: build the object by hand */
			json_object *e = json_object_new_string("true"), *spec;
			struct wq *q;
			char err[256];

			for (int i = 0; i < 100; i++) {
				json_object *a = json_object_new_array();

				json_object_array_add(a, json_object_new_string("not"));
				json_object_array_add(a, e);
				e = a;
			}
			spec = json_object_new_object();
			json_object_object_add(spec, "expression", e);
			assert_int_equal(wq_compile(spec, &q, err, sizeof(err)), -EINVAL);
			assert_string_equal(err, P "expression nested deeper than 64");
			json_object_put(spec);
		}
	}
}

/* A made-up file: a regular file of size bytes unless mode says otherwise. */
static struct wq_file mkfile(const char *name, bool exists, mode_t mode, uint64_t size)
{
	struct wq_file f = {.name = name, .exists = exists, .have_stat = true, .dirfd = -1};

	if (exists) {
		f.st.mode = mode;
		f.st.size = size;
		f.st.mtime.tv_sec = 1000;
		f.st.mtime.tv_nsec = 123456789;
		f.st.ctime.tv_sec = 2000;
		f.st.atime.tv_sec = 3000;
		f.st.ino = 42;
		f.st.nlink = 1;
		f.st.uid = 7;
		f.st.gid = 8;
	}
	return f;
}

static int eval(const char *expr, struct wq_file *f)
{
	char text[1024], err[256] = "";
	struct wq *q;
	int r;

	snprintf(text, sizeof(text), "{\"expression\":%s}", expr);
	q = compile(text);
	r = wq_eval(q, NULL, false, f, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "eval %s: %s\n", expr, err);
	wq_free(q);
	return r;
}

static void test_terms(void **state)
{
	struct wq_file reg = mkfile("src/lib/Foo.JS", true, S_IFREG | 0644, 10);
	struct wq_file empty = mkfile("src/e.txt", true, S_IFREG | 0644, 0);
	struct wq_file dir = mkfile("src/dir.js", true, S_IFDIR | 0755, 0);
	struct wq_file link = mkfile("top", true, S_IFLNK | 0777, 3);
	struct wq_file gone = mkfile("src/gone.c", false, 0, 0);
	struct wq_file dot = mkfile("src/.hidden", true, S_IFREG | 0600, 1);

	assert_int_equal(eval("\"true\"", &reg), 1);
	assert_int_equal(eval("\"false\"", &reg), 0);
	assert_int_equal(eval("[\"type\",\"f\"]", &reg), 1);
	assert_int_equal(eval("[\"type\",\"d\"]", &reg), 0);
	assert_int_equal(eval("[\"type\",\"d\"]", &dir), 1);
	assert_int_equal(eval("[\"type\",\"l\"]", &link), 1);
	/* a file that is gone may have been of any type: unknown, which its negation keeps */
	assert_int_equal(eval("[\"type\",\"f\"]", &gone), 1);
	assert_int_equal(eval("[\"type\",\"d\"]", &gone), 1);
	assert_int_equal(eval("[\"not\",[\"type\",\"d\"]]", &gone), 1);
	assert_int_equal(eval("[\"allof\",[\"type\",\"f\"],[\"not\",[\"type\",\"l\"]]]", &gone), 1);
	assert_int_equal(eval("[\"allof\",[\"type\",\"f\"],[\"suffix\",\"js\"]]", &gone), 0);
	assert_int_equal(eval("[\"anyof\",[\"type\",\"d\"],[\"suffix\",\"js\"]]", &gone), 1);
	assert_int_equal(eval("[\"not\",[\"anyof\",[\"type\",\"d\"],[\"suffix\",\"c\"]]]", &gone),
			 0);
	/* suffix: Watchman's ".suffix" test, any case */
	assert_int_equal(eval("[\"suffix\",\"js\"]", &reg), 1);
	assert_int_equal(eval("[\"suffix\",\"JS\"]", &reg), 1);
	assert_int_equal(eval("[\"suffix\",\"s\"]", &reg), 0);
	assert_int_equal(eval("[\"suffix\",[\"c\",\"js\"]]", &reg), 1);
	assert_int_equal(eval("[\"suffix\",\"js\"]", &dir), 1);
	/* with 3 or more: what follows the last dot */
	{
		struct wq_file tgz = mkfile("a.tar.gz", true, S_IFREG, 1);

		assert_int_equal(eval("[\"suffix\",[\"tar.gz\"]]", &tgz), 1);
		assert_int_equal(eval("[\"suffix\",[\"tar.gz\",\"x\",\"y\"]]", &tgz), 0);
		assert_int_equal(eval("[\"suffix\",[\"gz\",\"x\",\"y\"]]", &tgz), 1);
	}
	/* name / iname */
	assert_int_equal(eval("[\"name\",\"Foo.JS\"]", &reg), 1);
	assert_int_equal(eval("[\"name\",\"foo.js\"]", &reg), 0);
	assert_int_equal(eval("[\"iname\",\"foo.js\"]", &reg), 1);
	assert_int_equal(eval("[\"name\",\"src/lib/Foo.JS\",\"wholename\"]", &reg), 1);
	assert_int_equal(eval("[\"name\",\"src/lib/Foo.JS/\",\"wholename\"]", &reg), 1);
	assert_int_equal(eval("[\"name\",[\"x\",\"Foo.JS\"]]", &reg), 1);
	assert_int_equal(eval("[\"iname\",[\"x\",\"SRC/LIB/foo.js\"],\"wholename\"]", &reg), 1);
	/* match / imatch */
	assert_int_equal(eval("[\"match\",\"*.JS\"]", &reg), 1);
	assert_int_equal(eval("[\"match\",\"*.js\"]", &reg), 0);
	assert_int_equal(eval("[\"imatch\",\"*.js\"]", &reg), 1);
	assert_int_equal(eval("[\"match\",\"src/*.JS\",\"wholename\"]", &reg), 0);
	assert_int_equal(eval("[\"match\",\"src/**/*.JS\",\"wholename\"]", &reg), 1);
	assert_int_equal(eval("[\"match\",\"src//**/*.JS\",\"wholename\"]", &reg), 1);
	assert_int_equal(eval("[\"match\",\"*\"]", &dot), 0);
	assert_int_equal(eval("[\"match\",\"*\",\"basename\",{\"includedotfiles\":true}]", &dot),
			 1);
	assert_int_equal(eval("[\"match\",\".*\"]", &dot), 1);
	/* dirname */
	assert_int_equal(eval("[\"dirname\",\"src\"]", &reg), 1);
	assert_int_equal(eval("[\"dirname\",\"src/\"]", &reg), 1);
	assert_int_equal(eval("[\"dirname\",\"sr\"]", &reg), 0);
	assert_int_equal(eval("[\"dirname\",\"src/lib/Foo.JS\"]", &reg), 0);
	assert_int_equal(eval("[\"dirname\",\"\"]", &reg), 1);
	assert_int_equal(eval("[\"dirname\",\"src\",[\"depth\",\"eq\",1]]", &reg), 1);
	assert_int_equal(eval("[\"dirname\",\"src\",[\"depth\",\"eq\",0]]", &reg), 0);
	assert_int_equal(eval("[\"dirname\",\"SRC\"]", &reg), 0);
	assert_int_equal(eval("[\"idirname\",\"SRC\"]", &reg), 1);
	/* exists, empty, size */
	assert_int_equal(eval("\"exists\"", &reg), 1);
	assert_int_equal(eval("\"exists\"", &gone), 0);
	assert_int_equal(eval("\"empty\"", &empty), 1);
	assert_int_equal(eval("\"empty\"", &reg), 0);
	assert_int_equal(eval("\"empty\"", &dir), 1);
	assert_int_equal(eval("\"empty\"", &link), 0);
	assert_int_equal(eval("\"empty\"", &gone), 0);
	assert_int_equal(eval("[\"size\",\"eq\",10]", &reg), 1);
	assert_int_equal(eval("[\"size\",\"gt\",10]", &reg), 0);
	assert_int_equal(eval("[\"size\",\"ge\",10]", &reg), 1);
	assert_int_equal(eval("[\"size\",\"lt\",11]", &reg), 1);
	assert_int_equal(eval("[\"size\",\"le\",9]", &reg), 0);
	assert_int_equal(eval("[\"size\",\"ne\",10]", &reg), 0);
	assert_int_equal(eval("[\"size\",\"ge\",0]", &gone), 0);
	/* since with timestamps */
	assert_int_equal(eval("[\"since\",1000,\"mtime\"]", &reg), 1);
	assert_int_equal(eval("[\"since\",1001,\"mtime\"]", &reg), 0);
	assert_int_equal(eval("[\"since\",2000,\"ctime\"]", &reg), 1);
	assert_int_equal(eval("[\"since\",2001]", &reg), 0);
	assert_int_equal(eval("[\"since\",99999]", &gone), 1);
	/* boolean structure */
	assert_int_equal(eval("[\"allof\",[\"type\",\"f\"],[\"suffix\",\"js\"]]", &reg), 1);
	assert_int_equal(eval("[\"allof\",[\"type\",\"f\"],[\"suffix\",\"c\"]]", &reg), 0);
	assert_int_equal(eval("[\"anyof\",[\"type\",\"d\"],[\"suffix\",\"js\"]]", &reg), 1);
	assert_int_equal(eval("[\"anyof\",\"false\",[\"not\",\"true\"]]", &reg), 0);
	assert_int_equal(eval("[\"not\",[\"dirname\",\".git\"]]", &reg), 1);
}

static int since_hook(void *ud, const char *clock, const char *field, const struct wq_file *f,
		      bool *ret)
{
	*ret = strcmp(clock, "c:1:2:3:4") == 0 && strcmp(f->name, "a") == 0;
	return 0;
}

static void test_since_term_clock(void **state)
{
	struct wq *q =
	    compile("{\"since\":\"c:fst1:00112233445566778899aabbccddeeff:5\","
		    "\"expression\":[\"since\",\"c:fst1:00112233445566778899aabbccddeeff:5\"]}");
	struct wq_file a = mkfile("a", true, S_IFREG, 1), b = mkfile("b", false, 0, 0);
	struct wq_hooks hooks = {.since_clock = since_hook};
	char err[256];

	a.changed = true;
	assert_int_equal(wq_eval(q, NULL, false, &a, err, sizeof(err)), 1);
	assert_int_equal(wq_eval(q, NULL, false, &b, err, sizeof(err)), 0);
	/* fresh: what exists */
	assert_int_equal(wq_eval(q, NULL, true, &a, err, sizeof(err)), 1);
	assert_int_equal(wq_eval(q, NULL, true, &b, err, sizeof(err)), 0);
	wq_free(q);
	/* cclock: changed and new */
	q = compile("{\"since\":\"c:fst1:00112233445566778899aabbccddeeff:5\","
		    "\"expression\":[\"since\",\"c:fst1:00112233445566778899aabbccddeeff:5\","
		    "\"cclock\"]}");
	assert_int_equal(wq_eval(q, NULL, false, &a, err, sizeof(err)), 0);
	a.is_new = true;
	assert_int_equal(wq_eval(q, NULL, false, &a, err, sizeof(err)), 1);
	wq_free(q);
	/* another clock: the caller's hook, or an error */
	q = compile("{\"expression\":[\"since\",\"c:1:2:3:4\"]}");
	assert_int_equal(wq_eval(q, NULL, false, &a, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "other than the query's own"));
	assert_int_equal(wq_eval(q, &hooks, false, &a, err, sizeof(err)), 1);
	assert_int_equal(wq_eval(q, &hooks, false, &b, err, sizeof(err)), 0);
	wq_free(q);
}

static int fake_sha1(void *ud, const struct wq_file *f, char hex[41])
{
	if (strcmp(f->name, "bad") == 0)
		return -EIO;
	memset(hex, 'a', 40);
	hex[40] = '\0';
	return 0;
}

static void test_fields(void **state)
{
	struct wq_file f = mkfile("d/x.c", true, S_IFREG | 0644, 10),
		       g = mkfile("gone", false, 0, 0);
	struct wq_hooks hooks = {.sha1 = fake_sha1, .clock = "c:fst1:00:1"};
	struct wq *q;
	json_object *v, *want;
	char err[256];

	/* the default fields */
	q = compile("{}");
	f.is_new = true;
	assert_int_equal(wq_render(q, NULL, &f, &v, err, sizeof(err)), 0);
	want =
	    parse("{\"name\":\"d/x.c\",\"exists\":true,\"new\":true,\"size\":10,\"mode\":33188}");
	assert_true(json_object_equal(v, want));
	assert_true(bser_string_is_bytes(json_object_object_get(v, "name")));
	json_object_put(v);
	json_object_put(want);
	wq_free(q);
	/* one field: a bare value */
	q = compile("{\"fields\":[\"name\"]}");
	assert_int_equal(wq_render(q, NULL, &f, &v, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(v), "d/x.c");
	json_object_put(v);
	wq_free(q);
	/* times and the rest */
	q = compile("{\"fields\":[\"mtime\",\"mtime_ms\",\"mtime_us\",\"mtime_ns\",\"ctime\","
		    "\"atime\",\"ino\",\"nlink\",\"uid\",\"gid\",\"type\",\"oclock\","
		    "\"content.sha1hex\",\"symlink_target\"]}");
	assert_int_equal(wq_render(q, &hooks, &f, &v, err, sizeof(err)), 0);
	want = parse("{\"mtime\":1000,\"mtime_ms\":1000123,\"mtime_us\":1000123456,"
		     "\"mtime_ns\":1000123456789,\"ctime\":2000,\"atime\":3000,\"ino\":42,"
		     "\"nlink\":1,\"uid\":7,\"gid\":8,\"type\":\"f\",\"oclock\":\"c:fst1:00:1\","
		     "\"content.sha1hex\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		     "\"symlink_target\":null}");
	if (!json_object_equal(v, want))
		fprintf(stderr, "got %s\n", json_object_to_json_string(v));
	assert_true(json_object_equal(v, want));
	json_object_put(v);
	json_object_put(want);
	/* a file that is gone: no type, no hash, zeros */
	assert_int_equal(wq_render(q, &hooks, &g, &v, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "type")), "?");
	assert_null(json_object_object_get(v, "content.sha1hex"));
	assert_int_equal(json_object_get_int(json_object_object_get(v, "ino")), 0);
	json_object_put(v);
	/* hashing errors are objects; no hook: an error, no file read */
	f.name = "bad";
	assert_int_equal(wq_render(q, &hooks, &f, &v, err, sizeof(err)), 0);
	assert_true(
	    json_object_is_type(json_object_object_get(v, "content.sha1hex"), json_type_object));
	json_object_put(v);
	assert_int_equal(wq_render(q, NULL, &f, &v, err, sizeof(err)), 0);
	assert_non_null(
	    json_object_object_get(json_object_object_get(v, "content.sha1hex"), "error"));
	assert_true(json_object_is_type(json_object_object_get(v, "oclock"), json_type_null));
	json_object_put(v);
	wq_free(q);
	/* mtime_f */
	q = compile("{\"fields\":[\"mtime_f\"]}");
	assert_int_equal(wq_render(q, NULL, &f, &v, err, sizeof(err)), 0);
	assert_true(json_object_get_double(v) > 1000.12345 &&
		    json_object_get_double(v) < 1000.12346);
	json_object_put(v);
	wq_free(q);
}

/* ---- queries over a real tree ---- */

static char tmpdir[] = "/tmp/test-wquery.XXXXXX";
static int root_fd = -1;

static void mk(const char *path, const char *content)
{
	char full[4096];
	size_t n = strlen(path);

	snprintf(full, sizeof(full), "%s/%s", tmpdir, path);
	if (path[n - 1] == '/') {
		full[strlen(full) - 1] = '\0';
		assert_int_equal(mkdir(full, 0755), 0);
	} else {
		FILE *fp = fopen(full, "w");

		assert_non_null(fp);
		fputs(content, fp);
		fclose(fp);
	}
}

static int setup_tree(void **state)
{
	char path[4096];

	assert_non_null(mkdtemp(tmpdir));
	mk("a.js", "x");
	mk("b.txt", "");
	mk(".hidden.js", "h");
	mk("src/", NULL);
	mk("src/main.c", "int main;");
	mk("src/util.JS", "u");
	mk("src/.cache/", NULL);
	mk("src/.cache/c.js", "c");
	mk("src/deep/", NULL);
	mk("src/deep/er/", NULL);
	mk("src/deep/er/d.js", "d");
	mk("lib/", NULL);
	mk("lib/x.js", "x");
	snprintf(path, sizeof(path), "%s/link", tmpdir);
	assert_int_equal(symlink("/etc", path), 0);
	root_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	return 0;
}

static int teardown_tree(void **state)
{
	char cmd[4200];

	close(root_fd);
	/* a failed test_no_other_fs may have left its mount */
	snprintf(cmd, sizeof(cmd), "%s/mnt", tmpdir);
	umount2(cmd, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static json_object *run(const char *text, const struct wq_since_answer *a, bool *fresh)
{
	struct wq *q = compile(text);
	struct wq_result res;
	char err[256];
	int r = wq_run(q, root_fd, a, NULL, &res, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "run %s: %s\n", text, err);
	assert_int_equal(r, 0);
	if (fresh)
		*fresh = res.is_fresh_instance;
	wq_free(q);
	return res.files;
}

static void expect_files(const char *text, const struct wq_since_answer *a, const char *want_json)
{
	json_object *got = run(text, a, NULL), *want = parse(want_json);

	if (!json_object_equal(got, want)) {
		fprintf(stderr, "query %s\n  got  %s\n  want %s\n", text,
			json_object_to_json_string(got), want_json);
		fail();
	}
	json_object_put(got);
	json_object_put(want);
}

static void test_walk_generators(void **state)
{
	bool fresh = false;
	json_object *files;

	/* no since: everything, directories too, never the symlink's target */
	expect_files(
	    "{\"fields\":[\"name\"]}", NULL,
	    "[\".hidden.js\",\"a.js\",\"b.txt\",\"lib\",\"link\",\"src\",\"lib/x.js\","
	    "\"src/.cache\",\"src/deep\",\"src/main.c\",\"src/util.JS\",\"src/.cache/c.js\","
	    "\"src/deep/er\",\"src/deep/er/d.js\"]");
	files = run("{\"fields\":[\"name\",\"new\",\"type\"],\"expression\":[\"name\",\"link\"]}",
		    NULL, &fresh);
	assert_true(fresh);
	assert_true(bser_array_is_template(files));
	assert_string_equal(json_object_to_json_string_ext(
				files, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			    "[{\"name\":\"link\",\"new\":true,\"type\":\"l\"}]");
	json_object_put(files);
	/* relative_root */
	expect_files("{\"fields\":[\"name\"],\"relative_root\":\"src/deep\"}", NULL,
		     "[\"er\",\"er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"relative_root\":\"./src/../src/deep/\","
		     "\"expression\":[\"type\",\"f\"]}",
		     NULL, "[\"er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"relative_root\":\"nowhere\"}", NULL, "[]");
	/* suffix generator: dot files included, any case */
	expect_files("{\"fields\":[\"name\"],\"suffix\":[\"js\"]}", NULL,
		     "[\".hidden.js\",\"a.js\",\"lib/x.js\",\"src/util.JS\",\"src/.cache/c.js\","
		     "\"src/deep/er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"suffix\":[]}", NULL, "[]");
	/* glob generator, dot files left out unless asked */
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"**/*.js\"]}", NULL,
		     "[\"a.js\",\"lib/x.js\",\"src/deep/er/d.js\"]");
	expect_files(
	    "{\"fields\":[\"name\"],\"glob\":[\"**/*.js\"],\"glob_includedotfiles\":true}", NULL,
	    "[\".hidden.js\",\"a.js\",\"lib/x.js\",\"src/.cache/c.js\",\"src/deep/er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"src/*\",\"*.txt\",\"src/main.c\"]}", NULL,
		     "[\"b.txt\",\"src/deep\",\"src/main.c\",\"src/util.JS\"]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"src/*/er/*.js\",\"src/deep/\"]}", NULL,
		     "[\"src/deep/er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"src/**\"]}", NULL,
		     "[\"src/deep\",\"src/main.c\",\"src/util.JS\",\"src/deep/er\","
		     "\"src/deep/er/d.js\"]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"SRC/*.c\"],\"case_sensitive\":false}",
		     NULL, "[\"src/main.c\"]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"link/*\"]}", NULL, "[]");
	expect_files("{\"fields\":[\"name\"],\"glob\":[\"*.js\"],\"relative_root\":\"lib\"}", NULL,
		     "[\"x.js\"]");
	{
		struct wq *q = compile("{\"glob\":[\"*\"],\"relative_root\":\"nowhere\"}");
		struct wq_result res;
		char err[256];

		assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), -ENOENT);
		assert_string_equal(err, "query failed: glob_generator could not resolve nowhere, "
					 "check your relative_root parameter!");
		wq_free(q);
	}
	/* path generator: a file, a directory to a depth */
	expect_files("{\"fields\":[\"name\"],\"path\":[\"a.js\",{\"path\":\"src\",\"depth\":0}]}",
		     NULL, "[\"a.js\",\"src/.cache\",\"src/deep\",\"src/main.c\",\"src/util.JS\"]");
	expect_files("{\"fields\":[\"name\"],\"path\":[{\"path\":\"src/deep\",\"depth\":1}]}", NULL,
		     "[\"src/deep/er\",\"src/deep/er/d.js\"]");
	expect_files(
	    "{\"fields\":[\"name\"],\"path\":[\"src/deep\",\"nothere\",\"../x\",\"link\"]}", NULL,
	    "[\"src/deep/er\",\"src/deep/er/d.js\",\"link\"]");
	/* generators add up; dedup_results removes the repeats */
	expect_files("{\"fields\":[\"name\"],\"path\":[\"a.js\",\"a.js\"]}", NULL,
		     "[\"a.js\",\"a.js\"]");
	expect_files("{\"fields\":[\"name\"],\"path\":[\"a.js\",\"a.js\"],\"dedup_results\":true}",
		     NULL, "[\"a.js\"]");
	expect_files("{\"fields\":[\"name\"],\"path\":[\"lib\"],\"glob\":[\"lib/*\"]}", NULL,
		     "[\"lib/x.js\"]");
	/* expression and fields on walked files */
	expect_files("{\"fields\":[\"name\",\"size\",\"exists\",\"type\"],\"suffix\":\"c\"}", NULL,
		     "[{\"name\":\"src/main.c\",\"size\":9,\"exists\":true,\"type\":\"f\"}]");
	expect_files(
	    "{\"fields\":[\"name\"],\"expression\":[\"allof\",[\"type\",\"f\"],\"empty\"]}", NULL,
	    "[\"b.txt\"]");
	expect_files("{\"fields\":[\"name\"],\"empty_on_fresh_instance\":true}", NULL, "[]");
	expect_files("{\"fields\":[\"name\"],\"omit_changed_files\":true}", NULL, "[]");
}

static void test_since_answers(void **state)
{
	static const char token_clock[] = "c:fst1:00112233445566778899aabbccddeeff:7";
	char text[512];
	bool fresh = true;
	json_object *files;

	snprintf(text, sizeof(text), "{\"since\":\"%s\",\"fields\":[\"name\",\"exists\",\"new\"]}",
		 token_clock);
	/* named changes: exists from an lstat now, new for created and renamed_to */
	{
		const struct wq_change ch[] = {
		    {"a.js", FST_MODIFIED},
		    {"gone.js", FST_DELETED},
		    {"lib/x.js", FST_CREATED | FST_MODIFIED},
		    {"src/util.JS", FST_RENAMED_TO},
		    {"b.txt", FST_RENAMED_FROM},
		    {"a.js", FST_ATTRIB}, /* named twice */
		    {".", FST_MODIFIED},  /* the root itself is never reported */
		    {"link/passwd", FST_MODIFIED},
		};
		struct wq_since_answer a = {false, sizeof(ch) / sizeof(ch[0]), ch};

		files = run(text, &a, &fresh);
		assert_false(fresh);
		json_object_put(files);
		expect_files(text, &a,
			     "[{\"name\":\"a.js\",\"exists\":true,\"new\":false},"
			     "{\"name\":\"gone.js\",\"exists\":false,\"new\":false},"
			     "{\"name\":\"lib/x.js\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/util.JS\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"b.txt\",\"exists\":true,\"new\":false},"
			     "{\"name\":\"link/passwd\",\"exists\":false,\"new\":false}]");
	}
	/* after a gap: entries and recursive directories bring what they hold, as new */
	{
		const struct wq_change ch[] = {
		    {"src", FST_MODIFIED | FST_ENTRIES},
		    {"src/deep", FST_MODIFIED | FST_ENTRIES | FST_RECURSIVE},
		    {"src/main.c", FST_MODIFIED},
		};
		struct wq_since_answer a = {false, 3, ch};

		expect_files(text, &a,
			     "[{\"name\":\"src\",\"exists\":true,\"new\":false},"
			     "{\"name\":\"src/deep\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/main.c\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/deep/er\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/deep/er/d.js\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/.cache\",\"exists\":true,\"new\":true},"
			     "{\"name\":\"src/util.JS\",\"exists\":true,\"new\":true}]");
	}
	/* recursive on the root: everything */
	{
		const struct wq_change ch[] = {{".", FST_RECURSIVE | FST_ENTRIES}};
		struct wq_since_answer a = {false, 1, ch};

		snprintf(text, sizeof(text), "{\"since\":\"%s\",\"fields\":[\"name\"]}",
			 token_clock);
		expect_files(
		    text, &a,
		    "[\".hidden.js\",\"a.js\",\"b.txt\",\"lib\",\"link\",\"src\","
		    "\"lib/x.js\",\"src/.cache\",\"src/deep\",\"src/main.c\","
		    "\"src/util.JS\",\"src/.cache/c.js\",\"src/deep/er\",\"src/deep/er/d.js\"]");
	}
	/* relative_root: changes outside are left out, an ancestor's recursive covers all */
	{
		const struct wq_change ch[] = {
		    {"a.js", FST_MODIFIED},
		    {"src/deep/er/d.js", FST_MODIFIED},
		    {"src/deep", FST_ATTRIB},
		};
		struct wq_since_answer a = {false, 3, ch};

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\"],\"relative_root\":\"src/deep\"}",
			 token_clock);
		expect_files(text, &a, "[\"er/d.js\"]");
		{
			const struct wq_change up[] = {{"src", FST_RECURSIVE}};
			struct wq_since_answer b = {false, 1, up};

			expect_files(text, &b, "[\"er\",\"er/d.js\"]");
		}
	}
	/* a fresh answer: a walk of what exists, all new */
	{
		struct wq_since_answer a = {true, 0, NULL};

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\",\"new\"],\"suffix\":\"c\"}",
			 token_clock);
		files = run(text, &a, &fresh);
		assert_true(fresh);
		assert_string_equal(
		    json_object_to_json_string_ext(files, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE),
		    "[{\"name\":\"src/main.c\",\"new\":true}]");
		json_object_put(files);
		snprintf(
		    text, sizeof(text),
		    "{\"since\":\"%s\",\"fields\":[\"name\"],\"empty_on_fresh_instance\":true}",
		    token_clock);
		files = run(text, &a, &fresh);
		assert_true(fresh);
		assert_int_equal(json_object_array_length(files), 0);
		json_object_put(files);
	}
	/* since + glob: both generators, and the since term sees the answer */
	{
		const struct wq_change ch[] = {{"lib/x.js", FST_MODIFIED}};
		struct wq_since_answer a = {false, 1, ch};

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\"],\"glob\":[\"*.js\"]}",
			 token_clock);
		expect_files(text, &a, "[\"lib/x.js\",\"a.js\"]");
		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\"],\"glob\":[\"**/*.js\"],"
			 "\"expression\":[\"since\",\"%s\"]}",
			 token_clock, token_clock);
		expect_files(text, &a, "[\"lib/x.js\"]");
	}
	/* a clock query needs the answer */
	{
		struct wq *q;
		struct wq_result res;
		char err[256];

		snprintf(text, sizeof(text), "{\"since\":\"%s\"}", token_clock);
		q = compile(text);
		assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), -EINVAL);
		wq_free(q);
	}
	/* a timestamp: what changed at or after it */
	expect_files("{\"since\":1,\"fields\":[\"name\"],\"expression\":[\"name\",\"a.js\"]}", NULL,
		     "[\"a.js\"]");
	expect_files("{\"since\":4000000000,\"fields\":[\"name\"]}", NULL, "[]");
}

/*
 * What fstrack cannot name (a directory's "entries" after a gap, a
 * "recursive" directory) is covered by the directory, listed; when the
 * expression would take a path below it but not the directory itself, or
 * the directory is the root, the answer is a fresh instance.
 */
static void test_unnamed_changes(void **state)
{
	static const char token_clock[] = "c:fst1:00112233445566778899aabbccddeeff:7";
	const struct wq_change src[] = {{"src", FST_MODIFIED | FST_ENTRIES}};
	const struct wq_change gone[] = {{"old", FST_DELETED | FST_RECURSIVE}};
	const struct wq_change cache[] = {{"src/.cache", FST_ENTRIES | FST_RECURSIVE}};
	const struct wq_change top[] = {{".", FST_ENTRIES}, {"a.js", FST_MODIFIED}};
	const struct wq_change moved_in[] = {{"src", FST_RENAMED_TO | FST_RECURSIVE},
					     {"lib", FST_CREATED | FST_RECURSIVE}};
	const struct wq_change moved_away[] = {{"src", FST_RENAMED_TO | FST_RECURSIVE},
					       {"old", FST_RENAMED_FROM | FST_RECURSIVE}};
	struct wq_since_answer a_src = {false, 1, src}, a_gone = {false, 1, gone},
			       a_cache = {false, 1, cache}, a_top = {false, 2, top},
			       a_in = {false, 2, moved_in}, a_away = {false, 2, moved_away};
	const struct {
		const char *expr;
		const struct wq_since_answer *a;
		bool fresh;
	} cases[] = {
	    /* git's hook: directories come through, and cover what is below them */
	    {"[\"not\",[\"dirname\",\".git\"]]", &a_src, false},
	    {"[\"not\",[\"dirname\",\".git\"]]", &a_gone, false},
	    /* only files (jest-haste-map): the directory does not tell them */
	    {"[\"type\",\"f\"]", &a_src, true},
	    {"[\"allof\",[\"type\",\"f\"],[\"suffix\",\"js\"]]", &a_gone, true},
	    /* nothing below the directory is wanted: nothing to cover */
	    {"[\"allof\",[\"type\",\"f\"],[\"dirname\",\"lib\"]]", &a_src, false},
	    {"[\"not\",[\"dirname\",\"src/.cache\"]]", &a_cache, false},
	    {"[\"allof\",[\"type\",\"f\"],[\"dirname\",\"src\",[\"depth\",\"ge\",2]]]", &a_src,
	     false},
	    {"[\"allof\",[\"type\",\"f\"],[\"dirname\",\"src\",[\"depth\",\"eq\",0]]]", &a_src,
	     true},
	    {"[\"allof\",[\"type\",\"f\"],[\"dirname\",\"src/.cache/x\"]]", &a_cache, true},
	    {"[\"allof\",[\"type\",\"f\"],[\"dirname\",\"src/.cache/x\"]]", &a_src, false},
	    /* moved in or created as a whole: its subtree is listed, nothing is lost */
	    {"[\"type\",\"f\"]", &a_in, false},
	    {"[\"type\",\"f\"]", &a_away, true},
	    /* the root is never listed */
	    {"[\"not\",[\"dirname\",\".git\"]]", &a_top, true},
	    {"[\"dirname\",\"src\"]", &a_top, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		bool fresh = !cases[i].fresh;
		json_object *files;

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\"],\"expression\":%s}", token_clock,
			 cases[i].expr);
		files = run(text, cases[i].a, &fresh);
		if (fresh != cases[i].fresh)
			fprintf(stderr, "case %zu: %s: fresh %d\n", i, cases[i].expr, fresh);
		assert_int_equal(fresh, cases[i].fresh);
		json_object_put(files);
	}
	/* a relative_root below the directory: only the directory, which is not listed */
	{
		char text[512];
		bool fresh = false;
		json_object *files;

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\"],\"relative_root\":\"src\"}",
			 token_clock);
		files = run(text, &a_src, &fresh);
		assert_true(fresh);
		json_object_put(files);
	}
	/* a gone directory is a directory: its type is known */
	{
		char text[512];

		snprintf(text, sizeof(text),
			 "{\"since\":\"%s\",\"fields\":[\"name\",\"type\",\"exists\"]}",
			 token_clock);
		expect_files(text, &a_gone, "[{\"name\":\"old\",\"type\":\"d\",\"exists\":false}]");
	}
}

static void test_sha1_walk(void **state)
{
	struct wq *q =
	    compile("{\"fields\":[\"name\",\"content.sha1hex\"],"
		    "\"expression\":[\"anyof\",[\"name\",\"main.c\"],[\"name\",\"src\"]]}");
	struct wq_hooks hooks = {.sha1 = wq_sha1_at};
	struct wq_result res;
	char err[256];

	assert_int_equal(wq_run(q, root_fd, NULL, &hooks, &res, err, sizeof(err)), 0);
	/* sha1("int main;") */
	assert_string_equal(json_object_to_json_string_ext(
				res.files, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			    "[{\"name\":\"src\",\"content.sha1hex\":null},"
			    "{\"name\":\"src/main.c\",\"content.sha1hex\":"
			    "\"62958035b2e27d1910b8a191a1c7d0451e7884c5\"}]");
	json_object_put(res.files);
	wq_free(q);
}

/* A tree deeper than any C stack would take recursively, walked. */
static void test_deep_tree(void **state)
{
	int depth = 1500, fd = dup(root_fd), count = 0;
	struct wq *q;
	struct wq_result res;
	char err[256];

	assert_int_equal(mkdirat(fd, "deep", 0755), 0);
	for (int i = 0; i < depth; i++) {
		int next;

		assert_int_equal(mkdirat(fd, i ? "d" : "deep", 0755) == 0 || i == 0, 1);
		next = openat(fd, i ? "d" : "deep", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(openat(fd, "leaf.txt", O_CREAT | O_WRONLY, 0644));
	q = compile("{\"fields\":[\"name\"],\"relative_root\":\"deep\",\"suffix\":\"txt\"}");
	assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), 0);
	assert_int_equal(json_object_array_length(res.files), 1);
	for (const char *p = json_object_get_string(json_object_array_get_idx(res.files, 0)); *p;
	     p++)
		count += *p == '/';
	assert_int_equal(count, depth - 1);
	json_object_put(res.files);
	/* the documented limit: paths from the root past PATH_MAX fail the query, loudly */
	for (int i = 0; i < 600; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "path too long"));
	wq_free(q);
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/deep'", tmpdir);
		assert_int_equal(system(cmd), 0);
	}
}

/* Walks list a mount point inside the root but do not enter it (a documented limit). */
static void test_no_other_fs(void **state)
{
	char path[4200];
	struct wq *q;
	struct wq_result res;
	char err[256];

	snprintf(path, sizeof(path), "%s/mnt", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	if (mount("tmpfs", path, "tmpfs", 0, "size=1m") < 0) {
		/* not root: say so in the output; make check runs as root */
		fprintf(stderr, "# SKIP test_no_other_fs: cannot mount tmpfs: %s\n",
			strerror(errno));
		rmdir(path);
		skip();
	}
	snprintf(path, sizeof(path), "%s/mnt/inside.js", tmpdir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	q = compile("{\"fields\":[\"name\"],\"expression\":[\"dirname\",\"mnt\"]}");
	assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), 0);
	assert_int_equal(json_object_array_length(res.files), 0);
	json_object_put(res.files);
	wq_free(q);
	q = compile("{\"fields\":[\"name\"],\"expression\":[\"name\",\"mnt\"]}");
	assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), 0);
	assert_int_equal(json_object_array_length(res.files), 1);
	json_object_put(res.files);
	wq_free(q);
	snprintf(path, sizeof(path), "%s/mnt", tmpdir);
	assert_int_equal(umount(path), 0);
	assert_int_equal(rmdir(path), 0);
}

static void test_legacy(void **state)
{
	json_object *args = parse("[\"find\",\"/r\",\"*.c\",\"-X\",\"foo/*\",\"!\",\"bar\"]");
	json_object *spec, *want, *files;
	struct wq *q;
	struct wq_result res;
	char err[256];

	assert_int_equal(wq_legacy_spec(args, 2, "c:1:2", &spec, err, sizeof(err)), 0);
	want = parse("{\"expression\":[\"allof\","
		     "[\"not\",[\"anyof\",[\"match\",\"foo/*\",\"wholename\"],"
		     "[\"not\",[\"match\",\"bar\",\"wholename\"]]]],"
		     "[\"anyof\",[\"match\",\"*.c\",\"wholename\"]]],"
		     "\"since\":\"c:1:2\",\"fields\":[\"name\",\"exists\",\"size\",\"mode\","
		     "\"uid\",\"gid\",\"mtime\",\"ctime\",\"ino\",\"dev\",\"nlink\",\"new\","
		     "\"cclock\",\"oclock\"]}");
	if (!json_object_equal(spec, want))
		fprintf(stderr, "got %s\n", json_object_to_json_string(spec));
	assert_true(json_object_equal(spec, want));
	json_object_put(spec);
	json_object_put(want);
	json_object_put(args);
	/* a find with a wholename pattern runs */
	args = parse("[\"find\",\"/r\",\"src/*.c\",\"--\",\"ignored\"]");
	assert_int_equal(wq_legacy_spec(args, 2, NULL, &spec, err, sizeof(err)), 0);
	assert_int_equal(wq_compile(spec, &q, err, sizeof(err)), 0);
	assert_int_equal(wq_run(q, root_fd, NULL, NULL, &res, err, sizeof(err)), 0);
	files = res.files;
	assert_int_equal(json_object_array_length(files), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(
				json_object_array_get_idx(files, 0), "name")),
			    "src/main.c");
	json_object_put(files);
	wq_free(q);
	json_object_put(spec);
	json_object_put(args);
	/* no patterns: no expression; -p: pcre, which fstrack refuses */
	args = parse("[\"find\",\"/r\",\"-p\",\"x.*\"]");
	assert_int_equal(wq_legacy_spec(args, 2, NULL, &spec, err, sizeof(err)), 0);
	assert_int_equal(wq_compile(spec, &q, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "failed to parse query: unsupported expression term 'pcre'");
	json_object_put(spec);
	json_object_put(args);
	args = parse("[\"find\",\"/r\",3]");
	assert_int_equal(wq_legacy_spec(args, 2, NULL, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "failed to parse query: rule @ position 2 is not a string value");
	json_object_put(args);
}

static void test_clock(void **state)
{
	char clock[WCLOCK_MAX], tok[TOKEN_MAX], err[64];
	struct wclockspec cs;
	json_object *v;

	assert_int_equal(wclock_from_token("fst1:00112233445566778899aabbccddeeff:42", clock), 0);
	assert_string_equal(clock, "c:fst1:00112233445566778899aabbccddeeff:42");
	assert_int_equal(wclock_to_token(clock, tok), 0);
	assert_string_equal(tok, "fst1:00112233445566778899aabbccddeeff:42");
	assert_int_equal(wclock_from_token("fst1:xyz:1", clock), -EINVAL);
	/* a real Watchman's clocks are well-formed but not ours */
	assert_int_equal(wclock_to_token("c:1700000000:1234:1:56", tok), -ESRCH);
	assert_int_equal(wclock_to_token("c:1234:56", tok), -ESRCH);
	assert_int_equal(wclock_to_token("c:fst1:0011:1", tok), -EINVAL);
	assert_int_equal(wclock_to_token("fst1:00112233445566778899aabbccddeeff:42", tok), -EINVAL);
	assert_int_equal(wclock_to_token("c:", tok), -EINVAL);

	v = json_object_new_int64(1700000000);
	assert_int_equal(wclockspec_parse(v, &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.kind, WCS_TIMESTAMP);
	assert_int_equal(cs.timestamp, 1700000000);
	json_object_put(v);
	v = parse("\"n:mycursor\"");
	assert_int_equal(wclockspec_parse(v, &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.kind, WCS_NAMED);
	assert_string_equal(cs.cursor, "n:mycursor");
	json_object_put(v);
	v = parse("{\"clock\":\"c:1:2:3:4\"}");
	assert_int_equal(wclockspec_parse(v, &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.kind, WCS_CLOCK);
	json_object_put(v);
	v = parse("{\"scm\":{\"mergebase-with\":\"main\"}}");
	assert_int_equal(wclockspec_parse(v, &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.kind, WCS_SCM);
	json_object_put(v);
	v = parse("[1]");
	assert_int_equal(wclockspec_parse(v, &cs, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid clockspec");
	json_object_put(v);
}

static void sha1_of(const char *data, size_t len, size_t repeat, char hex[41])
{
	struct sha1 s;
	unsigned char d[20];

	sha1_init(&s);
	for (size_t i = 0; i < repeat; i++)
		sha1_update(&s, data, len);
	sha1_final(&s, d);
	sha1_hex(d, hex);
}

static void test_sha1(void **state)
{
	atomic_bool stop = true;
	char hex[41];
	int dfd;

	/* FIPS 180 examples */
	sha1_of("", 0, 1, hex);
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	sha1_of("abc", 3, 1, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	sha1_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, 1, hex);
	assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	sha1_of("a", 1, 1000000, hex);
	assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	/* files: regular, directory, symlink, FIFO (must not block) */
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(sha1_file_at(dfd, "a.js", hex, NULL), 0);
	assert_string_equal(hex, "11f6ad8ec52a2984abaafd7c3b516503785c2072"); /* "x" */
	assert_int_equal(sha1_file_at(dfd, "src", hex, NULL), -EISDIR);
	assert_int_equal(sha1_file_at(dfd, "link", hex, NULL), -EINVAL);
	assert_int_equal(sha1_file_at(dfd, "nothere", hex, NULL), -ENOENT);
	assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
	assert_int_equal(sha1_file_at(dfd, "fifo", hex, NULL), -EINVAL);
	assert_int_equal(unlinkat(dfd, "fifo", 0), 0);
	/* a hash stops when asked to (its client went) */
	assert_int_equal(sha1_file_at(dfd, "a.js", hex, &stop), -ECANCELED);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_terms),
	    cmocka_unit_test(test_since_term_clock),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_walk_generators),
	    cmocka_unit_test(test_since_answers),
	    cmocka_unit_test(test_sha1_walk),
	    cmocka_unit_test(test_unnamed_changes),
	    cmocka_unit_test(test_deep_tree),
	    cmocka_unit_test(test_no_other_fs),
	    cmocka_unit_test(test_legacy),
	    cmocka_unit_test(test_clock),
	    cmocka_unit_test(test_sha1),
	};

	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
