/* SPDX-License-Identifier: MIT */
/*
 * Tests of the permission decisions for unprivileged callers: the mode
 * bit rules (pure), then reach/list on a real temp tree with owners and
 * modes set by this test (which runs as root; the caller is not).
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/perm.h"
#include "unit-util.h"

#define UID 12345
#define GID 12345
#define OTHER_UID 2000
#define OTHER_GID 2000
#define SUPP_GID 3000

static struct perm_caller caller(uid_t uid, gid_t gid)
{
	return (struct perm_caller){.uid = uid, .gid = gid};
}

/* ---- mode bits -------------------------------------------------------------------- */

/* One directory's owner, group and mode, and what the caller may do with it. */
struct mode_case {
	uid_t owner;
	gid_t group;
	mode_t mode;
	bool search, read;
};

static void check_modes(const struct perm_caller *c, const struct mode_case *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool x = perm_may_search(c, v[i].owner, v[i].group, v[i].mode);
		bool r = perm_may_read(c, v[i].owner, v[i].group, v[i].mode);

		if (x != v[i].search || r != v[i].read)
			fail_msg("uid %u gid %u, dir %u:%u %04o: search %d read %d, want %d %d",
				 (unsigned)c->uid, (unsigned)c->gid, (unsigned)v[i].owner,
				 (unsigned)v[i].group, (unsigned)v[i].mode, x, r, v[i].search,
				 v[i].read);
	}
}

#define CHECK_MODES(c, ...)                                                                        \
	check_modes((c), (const struct mode_case[]){__VA_ARGS__},                                  \
		    sizeof((const struct mode_case[]){__VA_ARGS__}) / sizeof(struct mode_case))

static void test_owner(void **state)
{
	struct perm_caller c = caller(UID, GID);

	CHECK_MODES(&c, {UID, OTHER_GID, 0700, true, true}, {UID, OTHER_GID, 0400, false, true},
		    {UID, OTHER_GID, 0600, false, true}, {UID, OTHER_GID, 0100, true, false},
		    {UID, OTHER_GID, 0300, true, false},
		    /* the owner's bits apply to the owner, even when group or other would allow */
		    {UID, GID, 0077, false, false});
}

static void test_group(void **state)
{
	struct perm_caller c = caller(UID, GID);

	CHECK_MODES(&c, {OTHER_UID, GID, 0010, true, false}, {OTHER_UID, GID, 0040, false, true},
		    {OTHER_UID, GID, 0060, false, true}, {OTHER_UID, GID, 0030, true, false},
		    /* a member of the group gets the group's bits, not other's */
		    {OTHER_UID, GID, 0705, false, false},
		    /* the owner's bits are not the group's */
		    {OTHER_UID, GID, 0400, false, false});
}

static void test_supplementary_groups(void **state)
{
	struct perm_caller c = caller(UID, GID);

	c.groups[0] = 100;
	c.groups[1] = SUPP_GID;
	c.groups[2] = 4000; /* past n_groups: not a group of the caller */
	c.n_groups = 2;
	CHECK_MODES(&c, {OTHER_UID, SUPP_GID, 0050, true, true},
		    {OTHER_UID, 100, 0040, false, true}, {OTHER_UID, SUPP_GID, 0705, false, false},
		    {OTHER_UID, 4000, 0050, false, false},
		    {OTHER_UID, 4000, 0054, false, true}); /* as other */
	c.n_groups = PERM_GROUPS_MAX;
	for (size_t i = 0; i < PERM_GROUPS_MAX; i++)
		c.groups[i] = (gid_t)(5000 + i);
	CHECK_MODES(&c, {OTHER_UID, 5000 + PERM_GROUPS_MAX - 1, 0040, false, true});
}

static void test_other(void **state)
{
	struct perm_caller c = caller(UID, GID);

	CHECK_MODES(&c, {OTHER_UID, OTHER_GID, 0001, true, false},
		    {OTHER_UID, OTHER_GID, 0004, false, true},
		    {OTHER_UID, OTHER_GID, 0776, false, true},
		    {OTHER_UID, OTHER_GID, 0773, true, false},
		    /* write alone gives neither */
		    {OTHER_UID, OTHER_GID, 0002, false, false});
}

static void test_root(void **state)
{
	struct perm_caller c = caller(0, 0);

	CHECK_MODES(&c, {OTHER_UID, OTHER_GID, 0000, true, true}, {0, 0, 0000, true, true});
}

/* ---- paths ------------------------------------------------------------------------ */

struct tree {
	char dir[UNIT_TMP_MAX];
	char real[PATH_MAX];
};

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	if (!t || unit_tmpdir(t->dir, "test-perm") < 0 || !realpath(t->dir, t->real) ||
	    chmod(t->dir, 0755) < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;

	unit_rmtree(t->dir);
	free(t);
	return 0;
}

/* Make t/rel a directory (or a file) of this owner, group and mode; returns its path. */
static const char *make(const struct tree *t, const char *rel, bool dir, uid_t uid, gid_t gid,
			mode_t mode)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->real, rel);
	if (dir) {
		assert_int_equal(mkdir(path, 0700), 0);
	} else {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(chown(path, uid, gid), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *P(const struct tree *t, const char *rel)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s%s", t->real, rel[0] ? "/" : "", rel);
	return path;
}

static void test_reach_and_list(void **state)
{
	struct tree *t = *state;
	struct perm_caller c = caller(UID, GID);
	struct perm_cache *pc;

	make(t, "open", true, 0, 0, 0755);
	make(t, "open/deeper", true, 0, 0, 0755);
	make(t, "priv", true, OTHER_UID, OTHER_GID, 0700);
	make(t, "priv/inner", true, OTHER_UID, OTHER_GID, 0777);
	make(t, "mine", true, UID, GID, 0700);
	make(t, "xonly", true, 0, 0, 0711);
	make(t, "xonly/sub", true, 0, 0, 0755);
	make(t, "ronly", true, 0, 0, 0744);
	make(t, "ronly/sub", true, 0, 0, 0755);
	make(t, "owner-shut", true, UID, GID, 0077);
	make(t, "open/file", false, 0, 0, 0777);

	pc = perm_cache_new(&c);
	assert_non_null(pc);
	assert_true(perm_can_reach(pc, "/"));
	assert_true(perm_can_list(pc, "/"));
	assert_true(perm_can_list(pc, P(t, "")));
	assert_true(perm_can_list(pc, P(t, "open")));
	assert_true(perm_can_list(pc, P(t, "open/deeper")));

	/* 0700 of another uid: neither it nor anything below */
	assert_false(perm_can_reach(pc, P(t, "priv")));
	assert_false(perm_can_list(pc, P(t, "priv")));
	assert_false(perm_can_reach(pc, P(t, "priv/inner")));
	assert_false(perm_can_list(pc, P(t, "priv/inner")));

	assert_true(perm_can_list(pc, P(t, "mine")));

	/* search only: reach it and through it, but not list it */
	assert_true(perm_can_reach(pc, P(t, "xonly")));
	assert_false(perm_can_list(pc, P(t, "xonly")));
	assert_true(perm_can_list(pc, P(t, "xonly/sub")));

	/* read only: listing needs reaching it */
	assert_false(perm_can_reach(pc, P(t, "ronly")));
	assert_false(perm_can_list(pc, P(t, "ronly")));
	assert_false(perm_can_list(pc, P(t, "ronly/sub")));

	/* the owner's own bits shut the owner out */
	assert_false(perm_can_list(pc, P(t, "owner-shut")));

	/* not a directory, missing, not absolute: no */
	assert_false(perm_can_reach(pc, P(t, "open/file")));
	assert_false(perm_can_list(pc, P(t, "open/file")));
	assert_false(perm_can_list(pc, P(t, "open/missing")));
	assert_false(perm_can_reach(pc, "."));
	assert_false(perm_can_list(pc, "."));
	assert_false(perm_can_list(pc, ""));
	perm_cache_free(pc);

	/* root may everything */
	c = caller(0, 0);
	pc = perm_cache_new(&c);
	assert_non_null(pc);
	assert_true(perm_can_list(pc, P(t, "priv/inner")));
	assert_true(perm_can_list(pc, P(t, "ronly")));
	assert_false(perm_can_list(pc, P(t, "open/missing")));
	perm_cache_free(pc);
}

static void test_groups_on_paths(void **state)
{
	struct tree *t = *state;
	struct perm_caller c = caller(UID, GID);
	struct perm_cache *pc;

	make(t, "grp", true, OTHER_UID, SUPP_GID, 0750);
	make(t, "grp/sub", true, OTHER_UID, SUPP_GID, 0750);
	make(t, "primary", true, OTHER_UID, GID, 0710);
	make(t, "primary/sub", true, OTHER_UID, OTHER_GID, 0755);

	pc = perm_cache_new(&c);
	assert_false(perm_can_list(pc, P(t, "grp")));
	assert_false(perm_can_list(pc, P(t, "grp/sub")));
	assert_true(perm_can_reach(pc, P(t, "primary")));
	assert_false(perm_can_list(pc, P(t, "primary")));
	assert_true(perm_can_list(pc, P(t, "primary/sub")));
	perm_cache_free(pc);

	c.groups[0] = SUPP_GID;
	c.n_groups = 1;
	pc = perm_cache_new(&c);
	assert_true(perm_can_list(pc, P(t, "grp")));
	assert_true(perm_can_list(pc, P(t, "grp/sub")));
	perm_cache_free(pc);
}

/* Each directory is looked at once per cache: one answer for one request. */
static void test_cache(void **state)
{
	struct tree *t = *state;
	struct perm_caller c = caller(UID, GID);
	struct perm_cache *pc = perm_cache_new(&c);
	const char *d = make(t, "d", true, 0, 0, 0755);
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", d);
	assert_true(perm_can_list(pc, path));
	assert_int_equal(chmod(path, 0700), 0);
	assert_true(perm_can_list(pc, path));
	perm_cache_free(pc);
	pc = perm_cache_new(&c);
	assert_false(perm_can_list(pc, path));
	perm_cache_free(pc);
}

/* The thread's filesystem ids and groups, to see that they come back. */
struct creds {
	uid_t fsuid;
	gid_t fsgid;
	int n_groups;
	gid_t groups[PERM_GROUPS_MAX];
};

static struct creds creds_now(void)
{
	struct creds c = {0};

	c.fsuid = (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
	c.fsgid = (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
	c.n_groups = getgroups(PERM_GROUPS_MAX, c.groups);
	assert_true(c.n_groups >= 0);
	return c;
}

/* Open as the caller: the kernel decides, and the daemon's credentials come back. */
static void test_open_as(void **state)
{
	struct tree *t = *state;
	struct perm_caller c = caller(UID, GID);
	struct creds before = creds_now(), after;
	char shut[PATH_MAX];
	int fd;

	make(t, "open", true, 0, 0, 0755);
	make(t, "grp", true, OTHER_UID, SUPP_GID, 0750);
	snprintf(shut, sizeof(shut), "%s", make(t, "shut", true, OTHER_UID, OTHER_GID, 0700));
	make(t, "mine", true, UID, GID, 0700);

	fd = perm_open_as(&c, P(t, "open"), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	assert_int_equal(perm_open_as(&c, shut, O_RDONLY | O_DIRECTORY), -EACCES);
	assert_int_equal(perm_open_as(&c, P(t, "grp"), O_RDONLY | O_DIRECTORY), -EACCES);
	fd = perm_open_as(&c, P(t, "mine"), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(perm_open_as(&c, P(t, "missing"), O_RDONLY), -ENOENT);
	c.groups[0] = SUPP_GID;
	c.n_groups = 1;
	fd = perm_open_as(&c, P(t, "grp"), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);

	/* the daemon is itself again */
	after = creds_now();
	assert_int_equal(after.fsuid, before.fsuid);
	assert_int_equal(after.fsgid, before.fsgid);
	assert_int_equal(after.n_groups, before.n_groups);
	assert_memory_equal(after.groups, before.groups, (size_t)before.n_groups * sizeof(gid_t));
	fd = open(shut, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);

	/* root opens as root */
	c = caller(0, 0);
	fd = perm_open_as(&c, shut, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner),
	    cmocka_unit_test(test_group),
	    cmocka_unit_test(test_supplementary_groups),
	    cmocka_unit_test(test_other),
	    cmocka_unit_test(test_root),
	    cmocka_unit_test_setup_teardown(test_reach_and_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_groups_on_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_as, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
