/* SPDX-License-Identifier: MIT */
/*
 * Tests of query_changes(): a real journal filled with hand-made records,
 * and a fake resolver (a table: handle -> path or error; objects opened
 * by the path of a real temp file). The permission and hard-link tests
 * build a real temp tree, since perm.c and the link walk look at real
 * directories; the handles stay made-up names for them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/journal.h"
#include "daemon/perm.h"
#include "daemon/query.h"
#include "fstrack.h"
#include "unit-util.h"

/* ---- the fake resolver ------------------------------------------------------------ */

struct entry {
	struct fhandle h;
	char path[PATH_MAX];
	int err; /* returned instead of a path / an fd */
};

struct fake {
	struct entry v[32];
	size_t n;
	unsigned path_calls, open_calls;
};

static void fake_add(struct fake *f, const char *handle, const char *path, int err)
{
	struct entry *e;

	assert_true(f->n < sizeof(f->v) / sizeof(f->v[0]));
	e = &f->v[f->n++];
	e->h = unit_handle(handle);
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	e->err = err;
}

/* Unknown handles are gone: what a deleted object's handle gives. */
static const struct entry *fake_find(const struct fake *f, const struct fhandle *h)
{
	for (size_t i = 0; i < f->n; i++)
		if (fhandle_eq(&f->v[i].h, h))
			return &f->v[i];
	return NULL;
}

static int fake_path(void *data, const struct fhandle *h, char *buf, size_t len)
{
	struct fake *f = data;
	const struct entry *e = fake_find(f, h);

	f->path_calls++;
	if (!e)
		return -ESTALE;
	if (e->err)
		return e->err;
	if (snprintf(buf, len, "%s", e->path) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int fake_open(void *data, const struct fhandle *h, int flags)
{
	struct fake *f = data;
	const struct entry *e = fake_find(f, h);
	int fd;

	f->open_calls++;
	if (!e)
		return -ESTALE;
	if (e->err)
		return e->err;
	fd = open(e->path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- fixture ------------------------------------------------------------------------- */

struct fixture {
	char dir[UNIT_TMP_MAX]; /* the journal's */
	struct journal *j;
	struct fake fake;
	struct resolver res;
	char tree[UNIT_TMP_MAX]; /* a real tree, when a test makes one */
	char real[PATH_MAX];	 /* its canonical path */
	char mnt[PATH_MAX];	 /* a tmpfs mounted in it, when a test mounts one */
	struct change_set *cs;
	struct query_stats st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char jdir[UNIT_TMP_MAX + 8];

	if (!f || unit_tmpdir(f->dir, "test-query") < 0)
		return -1;
	snprintf(jdir, sizeof(jdir), "%s/j", f->dir);
	if (journal_open(jdir, NULL, &f->j) < 0)
		return -1;
	f->res = (struct resolver){fake_path, fake_open, &f->fake};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	change_set_free(f->cs);
	journal_free(f->j);
	if (f->mnt[0])
		umount2(f->mnt, MNT_DETACH);
	unit_rmtree(f->dir);
	unit_rmtree(f->tree);
	free(f);
	return 0;
}

static void add(struct fixture *f, const char *handle, const char *name, unsigned kinds)
{
	struct fhandle h = unit_handle(handle);

	unit_append(f->j, &h, name, kinds);
}

static void query(struct fixture *f, uint64_t from, const char *canon_dir, struct perm_cache *pc)
{
	f->cs = change_set_free(f->cs);
	assert_int_equal(query_changes(f->j, &f->res, from, canon_dir, pc, &f->cs, &f->st), 0);
	assert_non_null(f->cs);
}

struct want {
	const char *path;
	unsigned kinds;
};

/* The set is exactly want (terminated by a NULL path), in this order. */
static void expect(const struct fixture *f, const struct want *want)
{
	size_t n = 0;

	for (; want[n].path; n++) {
		const char *path;
		unsigned kinds;

		if (n >= change_set_count(f->cs))
			fail_msg("missing %s (only %zu changes)", want[n].path,
				 change_set_count(f->cs));
		change_set_get(f->cs, n, &path, &kinds);
		if (strcmp(path, want[n].path) != 0 || kinds != want[n].kinds)
			fail_msg("change %zu: %s 0x%x, want %s 0x%x", n, path, kinds, want[n].path,
				 want[n].kinds);
	}
	if (change_set_count(f->cs) != n) {
		const char *path;
		unsigned kinds;

		change_set_get(f->cs, n, &path, &kinds);
		fail_msg("%zu changes, want %zu; first extra: %s 0x%x", change_set_count(f->cs), n,
			 path, kinds);
	}
}

/* ---- folding and paths --------------------------------------------------------------- */

static void test_fold(void **state)
{
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	add(f, "dirA0001", "f", FST_MODIFIED);
	add(f, "dirA0001", "f", FST_ATTRIB);
	add(f, "dirA0001", "f", FST_MODIFIED);
	add(f, "dirA0001", "g", FST_CREATED);
	query(f, 0, "/data", NULL);
	/* g came: its directory changed too ("modified", not "entries": g is listed) */
	expect(f, (struct want[]){{"a", FST_MODIFIED},
				  {"a/f", FST_MODIFIED | FST_ATTRIB},
				  {"a/g", FST_CREATED},
				  {NULL, 0}});
	assert_int_equal(f->st.records, 4);
	assert_int_equal(f->st.places, 3);
	assert_int_equal(f->st.dirs_resolved, 1);
	assert_int_equal(f->fake.path_calls, 1);
	assert_int_equal(change_set_end_seq(f->cs), journal_next_seq(f->j));
}

/* Which kinds make the directory itself "modified". */
static void test_fold_directory(void **state)
{
	static const struct {
		unsigned kinds;
		bool dir_modified;
	} cases[] = {
	    {FST_CREATED, true},    {FST_DELETED, true},    {FST_RENAMED_FROM, true},
	    {FST_RENAMED_TO, true}, {FST_MODIFIED, false},  {FST_ATTRIB, false},
	    {FST_ENTRIES, false},   {FST_RECURSIVE, false}, {FST_DELETED | FST_RECURSIVE, true},
	};
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t from = journal_next_seq(f->j);

		add(f, "dirA0001", "x", cases[i].kinds);
		query(f, from, "/data", NULL);
		if (cases[i].dir_modified)
			expect(f, (struct want[]){
				      {"a", FST_MODIFIED}, {"a/x", cases[i].kinds}, {NULL, 0}});
		else
			expect(f, (struct want[]){{"a/x", cases[i].kinds}, {NULL, 0}});
	}
	/* the directory's own record joins the one folded in */
	add(f, "dirA0001", ".", FST_ATTRIB);
	add(f, "dirA0001", "y", FST_DELETED);
	query(f, journal_next_seq(f->j) - 2, "/data", NULL);
	expect(f,
	       (struct want[]){{"a", FST_ATTRIB | FST_MODIFIED}, {"a/y", FST_DELETED}, {NULL, 0}});
}

static void test_relative_paths(void **state)
{
	struct fixture *f = *state;

	fake_add(&f->fake, "dirP0001", "/data", 0);
	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	fake_add(&f->fake, "dirS0001", "/data/a/s", 0);
	add(f, "dirP0001", "a", FST_ATTRIB);	/* the queried dir, by its parent */
	add(f, "dirA0001", ".", FST_ATTRIB);	/* the queried dir itself */
	add(f, "dirA0001", "f", FST_MODIFIED);	/* in it */
	add(f, "dirS0001", "g", FST_MODIFIED);	/* below */
	add(f, "dirS0001", ".", FST_MODIFIED);	/* a subdirectory itself */
	add(f, "dirP0001", "a2", FST_MODIFIED); /* a sibling sharing the prefix */
	query(f, 0, "/data/a", NULL);
	expect(f, (struct want[]){{".", FST_ATTRIB},
				  {"f", FST_MODIFIED},
				  {"s", FST_MODIFIED},
				  {"s/g", FST_MODIFIED},
				  {NULL, 0}});
}

static void test_outside_left_out(void **state)
{
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	fake_add(&f->fake, "dirB0001", "/other/b", 0);
	fake_add(&f->fake, "dirC0001", "/data/ab", 0);
	fake_add(&f->fake, "dirD0001", "/", 0);
	add(f, "dirA0001", "in", FST_MODIFIED);
	add(f, "dirB0001", "out", FST_CREATED);
	add(f, "dirC0001", "out2", FST_MODIFIED);
	add(f, "dirD0001", "data", FST_ATTRIB);
	query(f, 0, "/data/a", NULL);
	expect(f, (struct want[]){{"in", FST_MODIFIED}, {NULL, 0}});
}

static void test_gone_dropped(void **state)
{
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	fake_add(&f->fake, "dirE0001", NULL, -ENOENT);
	/* dirG0001 is not in the table: -ESTALE */
	add(f, "dirA0001", "kept", FST_MODIFIED);
	add(f, "dirG0001", "f", FST_MODIFIED);
	add(f, "dirG0001", "g", FST_CREATED);
	add(f, "dirE0001", "h", FST_MODIFIED);
	query(f, 0, "/data", NULL);
	expect(f, (struct want[]){{"a/kept", FST_MODIFIED}, {NULL, 0}});
	assert_int_equal(f->st.unknown, 0);
	assert_int_equal(f->st.dirs_resolved, 3);
}

/* Unknown is never gone: the answer widens to the queried directory. */
static void test_unknown_widens(void **state)
{
	static const int errs[] = {-EMFILE, -ENOMEM, -EIO, -EXDEV, -ENAMETOOLONG};
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	fake_add(&f->fake, "dirU0001", NULL, 0);
	add(f, "dirA0001", "kept", FST_MODIFIED);
	add(f, "dirU0001", "f", FST_MODIFIED);
	add(f, "dirU0001", "g", FST_MODIFIED);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		f->fake.v[1].err = errs[i];
		query(f, 0, "/data", NULL);
		expect(f,
		       (struct want[]){{".", FST_RECURSIVE}, {"a/kept", FST_MODIFIED}, {NULL, 0}});
		assert_int_equal(f->st.unknown, 1); /* once per directory */
	}
	/* and not when the answer does not reach its records */
	add(f, "dirA0001", "later", FST_MODIFIED);
	query(f, journal_next_seq(f->j) - 1, "/data", NULL);
	expect(f, (struct want[]){{"a/later", FST_MODIFIED}, {NULL, 0}});
}

static void test_canon_root(void **state)
{
	struct fixture *f = *state;

	fake_add(&f->fake, "dirR0001", "/", 0);
	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	add(f, "dirR0001", "top", FST_CREATED);
	add(f, "dirR0001", ".", FST_ATTRIB);
	add(f, "dirA0001", "f", FST_MODIFIED);
	query(f, 0, "/", NULL);
	expect(f, (struct want[]){{".", FST_ATTRIB | FST_MODIFIED},
				  {"data/a/f", FST_MODIFIED},
				  {"top", FST_CREATED},
				  {NULL, 0}});
	/* a directory right below "/" itself */
	snprintf(f->fake.v[1].path, sizeof(f->fake.v[1].path), "/data");
	add(f, "dirA0001", ".", FST_ATTRIB);
	query(f, journal_next_seq(f->j) - 1, "/", NULL);
	expect(f, (struct want[]){{"data", FST_ATTRIB}, {NULL, 0}});
}

static void test_from_seq(void **state)
{
	struct fixture *f = *state;
	uint64_t mid;

	fake_add(&f->fake, "dirA0001", "/data/a", 0);
	add(f, "dirA0001", "old", FST_MODIFIED);
	add(f, "dirA0001", "both", FST_ATTRIB);
	mid = journal_next_seq(f->j);
	add(f, "dirA0001", "both", FST_MODIFIED);
	add(f, "dirA0001", "new", FST_MODIFIED);
	assert_int_equal(journal_commit(f->j, 0), 0); /* half on disk, half buffered */
	add(f, "dirA0001", "newer", FST_ATTRIB);
	assert_int_equal(journal_commit(f->j, 1000), 0); /* and a watermark record */
	query(f, mid, "/data/a", NULL);
	expect(f, (struct want[]){{"both", FST_MODIFIED},
				  {"new", FST_MODIFIED},
				  {"newer", FST_ATTRIB},
				  {NULL, 0}});
	assert_int_equal(f->st.records, 3); /* events only */
	assert_int_equal(f->fake.open_calls, 0);
	query(f, 0, "/data/a", NULL);
	assert_int_equal(change_set_count(f->cs), 4);
	/* from the end: nothing, and the set ends where the journal does */
	query(f, journal_next_seq(f->j), "/data/a", NULL);
	assert_int_equal(change_set_count(f->cs), 0);
	assert_int_equal(change_set_end_seq(f->cs), journal_next_seq(f->j));
}

static void test_sorted(void **state)
{
	static const char *names[] = {"b", "a/z", "a", "a-b", "B", "a.b", "ab", "a b"};
	struct fixture *f = *state;

	fake_add(&f->fake, "dirA0001", "/d", 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strchr(names[i], '/'))
			add(f, "dirA0001", names[i], FST_MODIFIED);
	fake_add(&f->fake, "dirZ0001", "/d/a", 0);
	add(f, "dirZ0001", "z", FST_MODIFIED);
	query(f, 0, "/d", NULL);
	assert_int_equal(change_set_count(f->cs), sizeof(names) / sizeof(names[0]));
	for (size_t i = 1; i < change_set_count(f->cs); i++) {
		const char *a, *b;
		unsigned k;

		change_set_get(f->cs, i - 1, &a, &k);
		change_set_get(f->cs, i, &b, &k);
		if (strcmp(a, b) >= 0)
			fail_msg("not sorted: %s before %s", a, b);
	}
}

/* ---- permissions ---------------------------------------------------------------------- */

#define UID 12345
#define GID 12345
#define OTHER_UID 2000

/* A real tree: mkdir t/rel with this owner and mode; its canonical path in buf. */
static const char *tree_dir(struct fixture *f, const char *rel, uid_t uid, mode_t mode)
{
	static char path[PATH_MAX];

	if (!f->tree[0]) {
		assert_int_equal(unit_tmpdir(f->tree, "test-query-tree"), 0);
		assert_non_null(realpath(f->tree, f->real));
		assert_int_equal(chmod(f->tree, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s%s%s", f->real, rel[0] ? "/" : "", rel);
	if (rel[0])
		assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, uid, uid), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *tree_file(struct fixture *f, const char *rel)
{
	static char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->real, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

static struct perm_cache *user_cache(void)
{
	struct perm_caller c = {.uid = UID, .gid = GID};
	struct perm_cache *pc = perm_cache_new(&c);

	assert_non_null(pc);
	return pc;
}

/*
 * A name in a directory the caller cannot list is covered by that
 * directory, under its own name: "entries" when the name is right in it,
 * "recursive" when deeper.
 */
static void test_hidden_names(void **state)
{
	struct fixture *f = *state;
	struct perm_cache *pc;

	fake_add(&f->fake, "dirT0001", tree_dir(f, "", 0, 0755), 0);
	fake_add(&f->fake, "dirP0001", tree_dir(f, "pub", 0, 0755), 0);
	fake_add(&f->fake, "dirH0001", tree_dir(f, "hidden", OTHER_UID, 0700), 0);
	fake_add(&f->fake, "dirK0001", tree_dir(f, "hidden2", OTHER_UID, 0700), 0);
	fake_add(&f->fake, "dirK0002", tree_dir(f, "hidden2/deep", OTHER_UID, 0755), 0);
	fake_add(&f->fake, "dirK0003", tree_dir(f, "hidden2/deep/er", OTHER_UID, 0755), 0);
	fake_add(&f->fake, "dirX0001", tree_dir(f, "xonly", 0, 0711), 0);
	fake_add(&f->fake, "dirX0002", tree_dir(f, "xonly/sub", 0, 0755), 0);
	add(f, "dirP0001", "f", FST_MODIFIED);
	add(f, "dirH0001", "secret", FST_MODIFIED);
	add(f, "dirK0002", "secret2", FST_ATTRIB);
	add(f, "dirK0003", "secret3", FST_MODIFIED);
	add(f, "dirK0002", ".", FST_ATTRIB); /* deep itself: its name is in hidden2 */
	add(f, "dirX0001", "secret4", FST_MODIFIED);
	add(f, "dirX0002", "open", FST_MODIFIED); /* reachable through x, listable */
	add(f, "dirT0001", "hidden", FST_ATTRIB); /* the hidden dir's own name: visible */

	pc = user_cache();
	query(f, 0, f->real, pc);
	perm_cache_free(pc);
	expect(f, (struct want[]){{"hidden", FST_ENTRIES | FST_ATTRIB},
				  {"hidden2", FST_ENTRIES | FST_RECURSIVE},
				  {"pub/f", FST_MODIFIED},
				  {"xonly", FST_ENTRIES},
				  {"xonly/sub/open", FST_MODIFIED},
				  {NULL, 0}});

	/* root (no cache) sees every name */
	query(f, 0, f->real, NULL);
	expect(f, (struct want[]){{"hidden", FST_ATTRIB},
				  {"hidden/secret", FST_MODIFIED},
				  {"hidden2/deep", FST_ATTRIB},
				  {"hidden2/deep/er/secret3", FST_MODIFIED},
				  {"hidden2/deep/secret2", FST_ATTRIB},
				  {"pub/f", FST_MODIFIED},
				  {"xonly/secret4", FST_MODIFIED},
				  {"xonly/sub/open", FST_MODIFIED},
				  {NULL, 0}});
}

/*
 * The queried directory itself is the caller's to see (the server checks
 * that it may list it), whether or not it may list the directory above.
 */
static void test_queried_dir_itself(void **state)
{
	struct fixture *f = *state;
	struct perm_cache *pc;
	char canon[PATH_MAX];

	fake_add(&f->fake, "dirT0001", tree_dir(f, "", 0, 0711), 0);
	snprintf(canon, sizeof(canon), "%s", tree_dir(f, "home", UID, 0755));
	fake_add(&f->fake, "dirU0001", canon, 0);
	add(f, "dirT0001", "home", FST_ATTRIB); /* chmod of the queried dir */
	add(f, "dirU0001", "f", FST_CREATED);	/* its "." is modified */
	pc = user_cache();
	assert_true(perm_can_list(pc, canon));
	query(f, 0, canon, pc);
	perm_cache_free(pc);
	expect(f, (struct want[]){{".", FST_ATTRIB | FST_MODIFIED}, {"f", FST_CREATED}, {NULL, 0}});
}

/* ---- objects (hard links) --------------------------------------------------------------- */

static void test_objects(void **state)
{
	struct fixture *f = *state;
	char a[PATH_MAX], b[PATH_MAX];

	tree_dir(f, "", 0, 0755);
	tree_dir(f, "d1", 0, 0755);
	tree_dir(f, "d2", 0, 0755);
	tree_dir(f, "d2/sub", 0, 0755);
	tree_dir(f, "dir", 0, 0755);
	/* another filesystem inside: the walk does not enter it */
	snprintf(f->mnt, sizeof(f->mnt), "%s", tree_dir(f, "mnt", 0, 0755));
	assert_int_equal(mount("fst-query-test", f->mnt, "tmpfs", 0, NULL), 0);
	tree_dir(f, "mnt/x", 0, 0755);
	tree_dir(f, "mnt/y", 0, 0755);
	/* two names, one named by the kernel: both found */
	snprintf(a, sizeof(a), "%s", tree_file(f, "d1/linked"));
	snprintf(b, sizeof(b), "%s/d2/sub/other-name", f->real);
	assert_int_equal(link(a, b), 0);
	fake_add(&f->fake, "objL0001", a, 0);
	add(f, "objL0001", NULL, FST_MODIFIED);
	/* one name */
	fake_add(&f->fake, "objS0001", tree_file(f, "d1/single"), 0);
	add(f, "objS0001", NULL, FST_ATTRIB);
	/* gone: its names' deletions are on record */
	add(f, "objG0001", NULL, FST_MODIFIED);
	/* a directory: covered by its (dir, name) records */
	snprintf(a, sizeof(a), "%s/dir", f->real);
	fake_add(&f->fake, "objD0001", a, 0);
	add(f, "objD0001", NULL, FST_ATTRIB);
	query(f, 0, f->real, NULL);
	expect(f, (struct want[]){{"d1/linked", FST_MODIFIED},
				  {"d1/single", FST_ATTRIB},
				  {"d2/sub/other-name", FST_MODIFIED},
				  {NULL, 0}});
	assert_int_equal(f->st.objects, 4);
	assert_int_equal(f->st.unknown, 0);
	assert_int_equal(f->st.link_walk_dirs, 5); /* ., d1, d2, d2/sub, dir */

	/* only the names under the queried directory */
	snprintf(a, sizeof(a), "%s/d2", f->real);
	query(f, 0, a, NULL);
	expect(f, (struct want[]){{"sub/other-name", FST_MODIFIED}, {NULL, 0}});
}

/*
 * The kernel's name for it is stale (unlinked since; and something else
 * carries the name the kernel shows for it): found by the walk.
 */
static void test_object_stale_name(void **state)
{
	struct fixture *f = *state;
	char a[PATH_MAX], b[PATH_MAX];
	int fd;

	tree_dir(f, "", 0, 0755);
	tree_dir(f, "d", 0, 0755);
	snprintf(a, sizeof(a), "%s", tree_file(f, "d/first"));
	snprintf(b, sizeof(b), "%s/d/second", f->real);
	assert_int_equal(link(a, b), 0);
	/* keep the first name's dentry as the fd's name, then remove it */
	fd = open(a, O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(unlink(a), 0);
	tree_file(f, "d/first (deleted)");
	snprintf(a, sizeof(a), "/proc/self/fd/%d", fd);
	fake_add(&f->fake, "objL0001", a, 0);
	add(f, "objL0001", NULL, FST_MODIFIED);
	query(f, 0, f->real, NULL);
	close(fd);
	expect(f, (struct want[]){{"d/second", FST_MODIFIED}, {NULL, 0}});
}

static void test_object_unknown(void **state)
{
	struct fixture *f = *state;

	tree_dir(f, "", 0, 0755);
	fake_add(&f->fake, "objU0001", NULL, -EMFILE);
	add(f, "objU0001", NULL, FST_MODIFIED);
	query(f, 0, f->real, NULL);
	expect(f, (struct want[]){{".", FST_RECURSIVE}, {NULL, 0}});
	assert_int_equal(f->st.unknown, 1);
}

/* A link found by the walk in a directory the caller cannot list: that directory. */
static void test_object_hidden_link(void **state)
{
	struct fixture *f = *state;
	struct perm_cache *pc;
	char a[PATH_MAX], b[PATH_MAX];

	tree_dir(f, "", 0, 0755);
	tree_dir(f, "pub", 0, 0755);
	tree_dir(f, "hidden", OTHER_UID, 0700);
	snprintf(a, sizeof(a), "%s", tree_file(f, "pub/a"));
	snprintf(b, sizeof(b), "%s/hidden/b", f->real);
	assert_int_equal(link(a, b), 0);
	fake_add(&f->fake, "objL0001", a, 0);
	add(f, "objL0001", NULL, FST_MODIFIED);
	pc = user_cache();
	query(f, 0, f->real, pc);
	perm_cache_free(pc);
	expect(f, (struct want[]){{"hidden", FST_ENTRIES}, {"pub/a", FST_MODIFIED}, {NULL, 0}});
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_fold),
	    T(test_fold_directory),
	    T(test_relative_paths),
	    T(test_outside_left_out),
	    T(test_gone_dropped),
	    T(test_unknown_widens),
	    T(test_canon_root),
	    T(test_from_seq),
	    T(test_sorted),
	    T(test_hidden_names),
	    T(test_queried_dir_itself),
	    T(test_objects),
	    T(test_object_stale_name),
	    T(test_object_unknown),
	    T(test_object_hidden_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
