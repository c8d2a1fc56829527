/* SPDX-License-Identifier: MIT */
/*
 * Tests of the small helpers under the recorder and the query: place keys
 * (place.h), file handles (fhandle.h; the kernel's half on a real temp
 * dir), and the choice of a filesystem's mount from mountinfo text
 * (mounts.h).
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/fhandle.h"
#include "daemon/mounts.h"
#include "daemon/place.h"
#include "unit-util.h"

/* ---- place keys -------------------------------------------------------------- */

static void check_round_trip(const struct fhandle *h, const char *name, size_t namelen)
{
	uint8_t key[PLACE_KEY_MAX];
	struct place pl;
	size_t klen = place_key_of(key, h, name, namelen);

	assert_int_equal(klen, 6 + h->len + namelen);
	assert_int_equal(place_decode(key, klen, &pl), 0);
	assert_true(fhandle_eq(&pl.handle, h));
	assert_int_equal(pl.namelen, namelen);
	if (namelen)
		assert_memory_equal(pl.name, name, namelen);
	assert_int_equal(place_is_object(key, klen), namelen == 0);
}

static void test_place_round_trip(void **state)
{
	struct fhandle h = unit_handle("dirA0001"), empty = {.type = 3, .len = 0};
	struct fhandle full = {.type = INT32_MIN, .len = HANDLE_MAX};
	char longest[PLACE_NAME_MAX];

	for (int i = 0; i < HANDLE_MAX; i++)
		full.bytes[i] = (uint8_t)(255 - i);
	memset(longest, 'x', sizeof(longest));
	check_round_trip(&h, "f", 1);
	check_round_trip(&h, ".", 1);
	check_round_trip(&h, "name with\nodd bytes\377", 20);
	check_round_trip(&h, longest, PLACE_NAME_MAX);
	check_round_trip(&empty, "f", 1);
	check_round_trip(&full, longest, PLACE_NAME_MAX);
	/* objects: the handle alone */
	check_round_trip(&h, NULL, 0);
	check_round_trip(&full, NULL, 0);
	check_round_trip(&empty, NULL, 0);
}

/* The handle's length keeps (handle, name) pairs apart that run together. */
static void test_place_unambiguous(void **state)
{
	struct fhandle ab = unit_handle("ab"), a = unit_handle("a"), t2 = ab;
	uint8_t k1[PLACE_KEY_MAX], k2[PLACE_KEY_MAX], k3[PLACE_KEY_MAX];
	size_t l1 = place_key_of(k1, &ab, "c", 1), l2 = place_key_of(k2, &a, "bc", 2);
	size_t l3;

	t2.type = 2;
	l3 = place_key_of(k3, &t2, "c", 1);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(k1, k2, l1);
	assert_int_equal(l1, l3);
	assert_memory_not_equal(k1, k3, l1);
}

/* A place key starts with its directory's key: the query's directory cache relies on it. */
static void test_place_handle_prefix(void **state)
{
	struct fhandle h = unit_handle("dirA0001");
	uint8_t place[PLACE_KEY_MAX], obj[PLACE_KEY_MAX];
	size_t pl = place_key_of(place, &h, "name", 4), ol = place_key_of(obj, &h, NULL, 0);

	assert_int_equal(ol, PLACE_HANDLE_KEY_LEN(h.len));
	assert_true(pl > ol);
	assert_memory_equal(place, obj, ol);
}

static void test_place_too_long(void **state)
{
	struct fhandle h = unit_handle("dirA0001");
	uint8_t key[PLACE_KEY_MAX + 64];
	char name[PLACE_NAME_MAX + 1];
	uint8_t bytes[HANDLE_MAX + 1] = {0};

	memset(name, 'n', sizeof(name));
	assert_int_equal(place_key(key, h.type, h.len, h.bytes, name, PLACE_NAME_MAX + 1), 0);
	assert_int_equal(place_key(key, 1, HANDLE_MAX + 1, bytes, "f", 1), 0);
	assert_int_equal(place_key(key, 1, UINT16_MAX, bytes, NULL, 0), 0);
	/* the limits themselves fit */
	assert_int_equal(place_key(key, 1, HANDLE_MAX, bytes, name, PLACE_NAME_MAX), PLACE_KEY_MAX);
}

/* Decode the first len bytes of key from a heap block of exactly that size (ASan). */
static int decode_exact(const uint8_t *key, size_t len, struct place *pl, bool *ret_object)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, key, len);
	r = place_decode(copy, len, pl);
	*ret_object = place_is_object(copy, len);
	free(copy);
	return r;
}

static void test_place_malformed(void **state)
{
	struct fhandle h = unit_handle("dirA0001");
	uint8_t key[PLACE_KEY_MAX + 64];
	struct place pl;
	uint16_t hlen;
	bool object;

	assert_int_equal(place_key_of(key, &h, "f", 1), 6 + h.len + 1);
	/* shorter than the fixed part: not even the length is read */
	for (size_t len = 0; len < 6; len++) {
		assert_int_equal(decode_exact(key, len, &pl, &object), -EINVAL);
		assert_false(object);
	}
	/* cut inside the handle */
	assert_int_equal(decode_exact(key, 6 + h.len - 1, &pl, &object), -EINVAL);
	assert_false(object);
	/* a handle length past HANDLE_MAX */
	hlen = HANDLE_MAX + 1;
	memcpy(key + 4, &hlen, 2);
	memset(key + 6, 'h', sizeof(key) - 6);
	assert_int_equal(decode_exact(key, 6 + HANDLE_MAX + 1 + 1, &pl, &object), -EINVAL);
	/* a name past PLACE_NAME_MAX */
	hlen = 8;
	memcpy(key + 4, &hlen, 2);
	assert_int_equal(decode_exact(key, 6 + 8 + PLACE_NAME_MAX + 1, &pl, &object), -EINVAL);
	assert_int_equal(decode_exact(key, 6 + 8 + PLACE_NAME_MAX, &pl, &object), 0);
}

/* ---- file handles, pure ---------------------------------------------------------- */

static void test_fhandle_kernel_round_trip(void **state)
{
	struct fhandle h = {.type = -17, .len = HANDLE_MAX}, back;
	union kernel_handle k;

	for (int i = 0; i < HANDLE_MAX; i++)
		h.bytes[i] = (uint8_t)(i ^ 0x5a);
	fhandle_to_kernel(&h, &k);
	assert_int_equal(k.fh.handle_bytes, HANDLE_MAX);
	assert_int_equal(k.fh.handle_type, -17);
	assert_memory_equal(k.fh.f_handle, h.bytes, HANDLE_MAX);
	memset(&back, 0xee, sizeof(back));
	assert_int_equal(fhandle_from_kernel(&k.fh, &back), 0);
	assert_true(fhandle_eq(&h, &back));

	/* longer than HANDLE_MAX: refused, not cut */
	k.fh.handle_bytes = HANDLE_MAX + 1;
	assert_int_equal(fhandle_from_kernel(&k.fh, &back), -EINVAL);
	assert_int_equal(fhandle_from_raw(1, h.bytes, HANDLE_MAX + 1, &back), -EINVAL);
	assert_int_equal(fhandle_from_raw(9, NULL, 0, &back), 0);
	assert_int_equal(back.type, 9);
	assert_int_equal(back.len, 0);
}

static void test_fhandle_eq(void **state)
{
	struct fhandle a = unit_handle("abcdefgh"), b = a;

	assert_true(fhandle_eq(&a, &b));
	b.type = 2;
	assert_false(fhandle_eq(&a, &b));
	b = a;
	b.len = 7;
	assert_false(fhandle_eq(&a, &b));
	b = a;
	b.bytes[7] = 'X';
	assert_false(fhandle_eq(&a, &b));
	/* bytes past the length do not count */
	b = a;
	a.bytes[100] = 1;
	b.bytes[100] = 2;
	assert_true(fhandle_eq(&a, &b));
}

static void test_fhandle_format(void **state)
{
	struct fhandle h = {.type = 1, .len = 3, .bytes = {0x00, 0xab, 0xff}};
	struct fhandle full = {.type = INT32_MIN, .len = HANDLE_MAX};
	char buf[FHANDLE_TEXT_MAX + 16];
	char hex[2 * HANDLE_MAX + 1 + 16];

	fhandle_format(&h, buf);
	assert_string_equal(buf, "1:00abff");
	fhandle_hex(&h, hex);
	assert_string_equal(hex, "00abff");
	h.type = -2;
	h.len = 0;
	fhandle_format(&h, buf);
	assert_string_equal(buf, "-2:");
	/* the longest text fits FHANDLE_TEXT_MAX with its NUL */
	memset(full.bytes, 0xee, sizeof(full.bytes));
	memset(buf, 'Z', sizeof(buf));
	fhandle_format(&full, buf);
	assert_int_equal(strlen(buf), strlen("-2147483648:") + 2 * HANDLE_MAX);
	assert_true(strlen(buf) < FHANDLE_TEXT_MAX);
	assert_int_equal(strncmp(buf, "-2147483648:eeee", 16), 0);
}

static void test_fhandle_err_is_gone(void **state)
{
	assert_true(fhandle_err_is_gone(-ESTALE));
	assert_true(fhandle_err_is_gone(-ENOENT));
	assert_false(fhandle_err_is_gone(-EMFILE));
	assert_false(fhandle_err_is_gone(-ENOMEM));
	assert_false(fhandle_err_is_gone(-EIO));
	assert_false(fhandle_err_is_gone(-EXDEV));
	assert_false(fhandle_err_is_gone(0));
}

/* ---- file handles on a real directory ------------------------------------------- */

struct tree {
	char dir[UNIT_TMP_MAX];
	char real[PATH_MAX]; /* its canonical path */
	int mfd;
};

static void tree_init(struct tree *t)
{
	assert_int_equal(unit_tmpdir(t->dir, "test-place"), 0);
	assert_non_null(realpath(t->dir, t->real));
	t->mfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->mfd >= 0);
}

static void tree_free(struct tree *t)
{
	close(t->mfd);
	unit_rmtree(t->dir);
}

static void test_fhandle_resolve(void **state)
{
	struct tree t;
	struct fhandle top, sub, file, again;
	char path[PATH_MAX], want[PATH_MAX + 32], buf[PATH_MAX];
	int dfd, fd;

	tree_init(&t);
	snprintf(path, sizeof(path), "%s/sub", t.dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(fhandle_of(AT_FDCWD, t.dir, 0, &top), 0);
	assert_int_equal(fhandle_of(t.mfd, "sub", 0, &sub), 0);
	assert_false(fhandle_eq(&top, &sub));
	/* AT_EMPTY_PATH: the fd itself */
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(fhandle_of(dfd, "", AT_EMPTY_PATH, &again), 0);
	assert_true(fhandle_eq(&sub, &again));
	close(dfd);
	assert_int_equal(fhandle_of(t.mfd, "missing", 0, &again), -ENOENT);

	assert_int_equal(fhandle_resolve(t.mfd, &top, buf, sizeof(buf)), 0);
	assert_string_equal(buf, t.real);
	assert_int_equal(fhandle_resolve(t.mfd, &sub, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/sub", t.real);
	assert_string_equal(buf, want);

	/* too small a buffer: unknown, not gone */
	assert_int_equal(fhandle_resolve(t.mfd, &sub, buf, 8), -ENAMETOOLONG);

	/* renamed: the new path */
	snprintf(want, sizeof(want), "%s/moved", t.dir);
	assert_int_equal(rename(path, want), 0);
	assert_int_equal(fhandle_resolve(t.mfd, &sub, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/moved", t.real);
	assert_string_equal(buf, want);

	/* a file that is open */
	snprintf(path, sizeof(path), "%s/moved/f", t.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fhandle_of(AT_FDCWD, path, 0, &file), 0);
	assert_int_equal(fhandle_resolve(t.mfd, &file, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/moved/f", t.real);
	assert_string_equal(buf, want);
	/* deleted but still open: gone */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fhandle_resolve(t.mfd, &file, buf, sizeof(buf)), -ESTALE);
	close(fd);
	assert_int_equal(fhandle_open(t.mfd, &file, O_PATH), -ESTALE);

	/* a removed directory: gone */
	snprintf(path, sizeof(path), "%s/moved", t.dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(fhandle_resolve(t.mfd, &sub, buf, sizeof(buf)), -ESTALE);
	assert_true(fhandle_err_is_gone(fhandle_open(t.mfd, &sub, O_PATH)));

	/* an fd opened by handle is the object */
	fd = fhandle_open(t.mfd, &top, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(fhandle_of(fd, "", AT_EMPTY_PATH, &again), 0);
	assert_true(fhandle_eq(&top, &again));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	tree_free(&t);
}

/*
 * Alive, but no path to it through this mount: a bind mount of a
 * subdirectory does not reach a sibling. -EXDEV, which is "unknown", not
 * "gone".
 */
static void test_fhandle_resolve_outside_mount(void **state)
{
	struct tree t;
	struct fhandle other, inside;
	char sub[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX], buf[PATH_MAX];
	int bfd, r, r_in;

	tree_init(&t);
	snprintf(sub, sizeof(sub), "%s/sub", t.real);
	snprintf(mnt, sizeof(mnt), "%s/mnt", t.real);
	snprintf(path, sizeof(path), "%s/other", t.real);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub/in", t.real);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(fhandle_of(t.mfd, "other", 0, &other), 0);
	assert_int_equal(fhandle_of(t.mfd, "sub/in", 0, &inside), 0);
	assert_int_equal(mount(sub, mnt, NULL, MS_BIND, NULL), 0);
	/* nothing that can fail the test while it is mounted */
	bfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = bfd < 0 ? -errno : fhandle_resolve(bfd, &other, buf, sizeof(buf));
	r_in = bfd < 0 ? -errno : fhandle_resolve(bfd, &inside, path, sizeof(path));
	safe_close(bfd);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	assert_int_equal(r_in, 0);
	if (r != -EXDEV)
		fail_msg("resolve outside the bind mount: %d (%s), want -EXDEV", r,
			 r == 0 ? buf : strerror(-r));
	assert_false(fhandle_err_is_gone(r));
	snprintf(buf, sizeof(buf), "%s/in", mnt);
	assert_string_equal(path, buf);
	tree_free(&t);
}

/* ---- mounts ---------------------------------------------------------------------- */

static const char mountinfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 8:4 /data/sub /srv/bind rw,relatime shared:2 - xfs /dev/sdd rw\n"
    "41 22 8:4 / /a/much/longer/mount/point rw,relatime shared:3 - xfs /dev/sdd rw\n"
    "42 22 8:4 / /mnt/x rw - xfs /dev/sdd rw\n"
    "50 22 8:2 / /mnt/a\\040b rw - ext4 /dev/sdb rw\n"
    "51 22 8:2 / /mnt/ab/c rw - ext4 /dev/sdb rw\n"
    "60 22 8:3 /vol /b rw - btrfs /dev/sdc rw\n"
    "61 22 8:3 /vol/deeper /c rw - btrfs /dev/sdc rw\n"
    "this line is not a mount\n"
    "\n"
    "70 22 0:45 / /tmp/odd\\011name\\134x\\012 rw - tmpfs tmpfs rw\n"
    "71 22 0:46 / /run/last rw - tmpfs tmpfs rw"; /* no final newline */

static struct mount_info parse_ok(dev_t dev, uint64_t id)
{
	struct mount_info mi;

	memset(&mi, 0x55, sizeof(mi));
	assert_int_equal(mounts_parse(mountinfo, dev, id, &mi), 0);
	return mi;
}

static void test_mounts_parse(void **state)
{
	struct mount_info mi;

	mi = parse_ok(makedev(8, 1), 0);
	assert_string_equal(mi.path, "/");
	assert_string_equal(mi.fstype, "ext4");
	assert_true(mi.root);
	assert_int_equal(mi.sb_dev, makedev(8, 1));

	/* a mount of the root beats a shorter bind mount of a subdirectory;
	 * among root mounts the shortest mount point */
	mi = parse_ok(makedev(8, 4), 0);
	assert_string_equal(mi.path, "/mnt/x");
	assert_true(mi.root);
	assert_string_equal(mi.fstype, "xfs");

	/* escaped mount points; "/mnt/a b" is shorter than "/mnt/ab/c" */
	mi = parse_ok(makedev(8, 2), 0);
	assert_string_equal(mi.path, "/mnt/a b");

	/* no root mount: the shortest other one, marked as such */
	mi = parse_ok(makedev(8, 3), 0);
	assert_string_equal(mi.path, "/b");
	assert_false(mi.root);
	assert_string_equal(mi.fstype, "btrfs");

	mi = parse_ok(makedev(0, 45), 0);
	assert_string_equal(mi.path, "/tmp/odd\tname\\x\n");
	mi = parse_ok(makedev(0, 46), 0);
	assert_string_equal(mi.path, "/run/last");
}

static void test_mounts_by_id(void **state)
{
	struct mount_info mi;

	/* the device of mount 40 (a bind mount), then its best mount */
	mi = parse_ok(0, 40);
	assert_string_equal(mi.path, "/mnt/x");
	assert_int_equal(mi.sb_dev, makedev(8, 4));
	mi = parse_ok(0, 61);
	assert_string_equal(mi.path, "/b");
	mi = parse_ok(0, 71);
	assert_string_equal(mi.path, "/run/last");
	/* sb_dev given: the id is not looked at */
	mi = parse_ok(makedev(8, 1), 61);
	assert_string_equal(mi.path, "/");
}

static void test_mounts_absent(void **state)
{
	struct mount_info mi;

	assert_int_equal(mounts_parse(mountinfo, makedev(9, 9), 0, &mi), -ENOENT);
	assert_int_equal(mounts_parse(mountinfo, 0, 99, &mi), -ENOENT);
	assert_int_equal(mounts_parse(mountinfo, 0, 0, &mi), -ENOENT);
	assert_int_equal(mounts_parse("", makedev(8, 1), 0, &mi), -ENOENT);
	assert_int_equal(mounts_parse("22 1 8:1 / / rw\n", makedev(8, 1), 0, &mi), -ENOENT);
}

/* The real table: the filesystem of a temp dir is mounted somewhere above it. */
static void test_mounts_find(void **state)
{
	char dir[UNIT_TMP_MAX], real[PATH_MAX];
	struct mount_info mi;
	struct stat st;

	assert_int_equal(unit_tmpdir(dir, "test-place-mnt"), 0);
	assert_non_null(realpath(dir, real));
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(mounts_find(st.st_dev, 0, &mi), 0);
	assert_true(path_under(real, mi.path, NULL));
	assert_int_equal(mi.sb_dev, st.st_dev);
	unit_rmtree(dir);
}

static void test_mount_ref(void **state)
{
	char dir[UNIT_TMP_MAX], missing[UNIT_TMP_MAX + 16];
	struct mount_ref m;
	struct stat st;
	int fd;

	assert_int_equal(unit_tmpdir(dir, "test-place-ref"), 0);
	assert_int_equal(stat(dir, &st), 0);
	mount_ref_init(&m, dir, st.st_dev);
	assert_false(mount_ref_is_open(&m));
	fd = mount_ref_fd(&m);
	assert_true(fd >= 0);
	assert_true(mount_ref_is_open(&m));
	assert_int_equal(mount_ref_fd(&m), fd); /* kept until released */
	mount_ref_release(&m);
	assert_false(mount_ref_is_open(&m));
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	mount_ref_release(&m); /* twice is fine */

	/* something else at the path: refused */
	mount_ref_init(&m, dir, st.st_dev + 1);
	assert_int_equal(mount_ref_fd(&m), -ENODEV);
	assert_false(mount_ref_is_open(&m));
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	mount_ref_init(&m, missing, st.st_dev);
	/* not there: unknown (-ENODEV), never -ENOENT, which says a handle is gone */
	assert_int_equal(mount_ref_fd(&m), -ENODEV);
	assert_false(fhandle_err_is_gone(mount_ref_fd(&m)));
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_place_round_trip),
	    cmocka_unit_test(test_place_unambiguous),
	    cmocka_unit_test(test_place_handle_prefix),
	    cmocka_unit_test(test_place_too_long),
	    cmocka_unit_test(test_place_malformed),
	    cmocka_unit_test(test_fhandle_kernel_round_trip),
	    cmocka_unit_test(test_fhandle_eq),
	    cmocka_unit_test(test_fhandle_format),
	    cmocka_unit_test(test_fhandle_err_is_gone),
	    cmocka_unit_test(test_fhandle_resolve),
	    cmocka_unit_test(test_fhandle_resolve_outside_mount),
	    cmocka_unit_test(test_mounts_parse),
	    cmocka_unit_test(test_mounts_by_id),
	    cmocka_unit_test(test_mounts_absent),
	    cmocka_unit_test(test_mounts_find),
	    cmocka_unit_test(test_mount_ref),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
