/* SPDX-License-Identifier: MIT */
/*
 * Tests of the recorder: notes go into a real journal in a mkdtemp
 * directory, and what reached it is read back with journal_read. Most
 * tests run without a mount (objects always recorded); the last ones give
 * the recorder a mount of the temp dir's filesystem so that it looks at
 * real link counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/journal.h"
#include "daemon/mounts.h"
#include "daemon/place.h"
#include "daemon/recorder.h"
#include "daemon/watcher.h"
#include "fstrack.h"
#include "unit-util.h"

#define MAX_RECS 256

struct fixture {
	char dir[UNIT_TMP_MAX];
	struct journal *j;
	struct recorder *r;
	struct unit_rec recs[MAX_RECS];
	size_t n; /* records read by reread() */
};

static int open_with(void **state, size_t max_entries)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char jdir[UNIT_TMP_MAX + 8];

	if (!f || unit_tmpdir(f->dir, "test-recorder") < 0)
		return -1;
	snprintf(jdir, sizeof(jdir), "%s/j", f->dir);
	if (journal_open(jdir, NULL, &f->j) < 0 || recorder_new(f->j, NULL, max_entries, &f->r) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return open_with(state, 0);
}

static int setup_small(void **state)
{
	return open_with(state, 4);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	recorder_free(f->r);
	journal_free(f->j);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

/* Read every event record back into f->recs. */
static size_t reread(struct fixture *f)
{
	f->n = unit_read_events(f->j, 0, f->recs, MAX_RECS);
	return f->n;
}

static void expect_rec(const struct fixture *f, size_t i, const struct fhandle *h, const char *name,
		       unsigned kinds)
{
	assert_true(i < f->n);
	assert_true(fhandle_eq(&f->recs[i].h, h));
	assert_string_equal(f->recs[i].name, name);
	assert_int_equal(f->recs[i].namelen, strlen(name));
	assert_int_equal(f->recs[i].kinds, kinds);
}

static int note(struct fixture *f, const struct fhandle *h, const char *name, unsigned kinds)
{
	return recorder_note(f->r, h, name, strlen(name), kinds);
}

/* ---- places ------------------------------------------------------------------ */

static void test_same_place_twice(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");

	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &d, "f", FST_MODIFIED);
	assert_int_equal(recorder_stats(f->r)->notes, 2);
	assert_int_equal(recorder_stats(f->r)->dedups, 1);
	assert_int_equal(recorder_stats(f->r)->records_written, 1);
	assert_int_equal(recorder_entries(f->r), 1);
	assert_true(recorder_memory(f->r) > 0);
}

/* Places differ by handle (type, length, bytes) and by name. */
static void test_distinct_places(void **state)
{
	struct fixture *f = *state;
	struct fhandle a = unit_handle("dirA0001"), b = unit_handle("dirA0002");
	struct fhandle t = a, shorter = unit_handle("dirA000");

	t.type = 2;
	assert_int_equal(note(f, &a, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &b, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &t, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &shorter, "1f", FST_MODIFIED), 0); /* same bytes run together */
	assert_int_equal(note(f, &a, "g", FST_MODIFIED), 0);
	assert_int_equal(note(f, &a, "f2", FST_MODIFIED), 0);
	assert_int_equal(reread(f), 6);
	expect_rec(f, 0, &a, "f", FST_MODIFIED);
	expect_rec(f, 1, &b, "f", FST_MODIFIED);
	expect_rec(f, 2, &t, "f", FST_MODIFIED);
	expect_rec(f, 3, &shorter, "1f", FST_MODIFIED);
	expect_rec(f, 4, &a, "g", FST_MODIFIED);
	expect_rec(f, 5, &a, "f2", FST_MODIFIED);
}

static void test_new_kind(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");

	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	/* only what is new reaches the journal */
	assert_int_equal(note(f, &d, "f", FST_MODIFIED | FST_ATTRIB), 0);
	assert_int_equal(note(f, &d, "f", FST_ATTRIB), 0);
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &d, "f", FST_DELETED | FST_CREATED | FST_MODIFIED), 0);
	assert_int_equal(reread(f), 3);
	expect_rec(f, 0, &d, "f", FST_MODIFIED);
	expect_rec(f, 1, &d, "f", FST_ATTRIB);
	expect_rec(f, 2, &d, "f", FST_DELETED | FST_CREATED);
	assert_int_equal(recorder_stats(f->r)->dedups, 2);
}

static void test_new_epoch(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");

	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &d, "g", FST_CREATED), 0);
	recorder_new_epoch(f->r);
	assert_int_equal(recorder_entries(f->r), 0);
	/* a change after a token is on record after it */
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(reread(f), 3);
	expect_rec(f, 2, &d, "f", FST_MODIFIED);
	assert_true(f->recs[2].seq > f->recs[1].seq);
}

/* namelen 0 is the directory itself: the same place as ".", never an object. */
static void test_empty_name_is_dot(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");

	assert_int_equal(recorder_note(f->r, &d, "", 0, FST_ATTRIB), 0);
	assert_int_equal(recorder_note(f->r, &d, NULL, 0, FST_ATTRIB), 0);
	assert_int_equal(note(f, &d, ".", FST_ATTRIB), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &d, ".", FST_ATTRIB);
	/* the directory's handle as an object is another key */
	assert_int_equal(recorder_note_object(f->r, &d, FST_ATTRIB, 0), 0);
	assert_int_equal(reread(f), 2);
	expect_rec(f, 1, &d, "", FST_ATTRIB);
}

static void test_too_long(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001"), big = d;
	char name[PLACE_NAME_MAX + 2];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(note(f, &d, name, FST_CREATED), -EINVAL);
	/* a name of the maximal length is fine */
	assert_int_equal(recorder_note(f->r, &d, name, PLACE_NAME_MAX, FST_CREATED), 0);
	big.len = HANDLE_MAX + 1;
	assert_int_equal(note(f, &big, "f", FST_CREATED), -EINVAL);
	assert_int_equal(recorder_note_object(f->r, &big, FST_MODIFIED, NOTE_LINK_COUNT), -EINVAL);
	assert_int_equal(reread(f), 1);
	assert_int_equal(f->recs[0].namelen, PLACE_NAME_MAX);
}

/*
 * The set is bounded: past max_entries it starts over, which only costs
 * records. Entries never exceed the bound, and whatever is noted is on
 * record in the epoch.
 */
static void test_bound(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");
	char name[8];

	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(note(f, &d, name, FST_MODIFIED), 0);
		assert_true(recorder_entries(f->r) <= 4);
	}
	/* 4 entries reached at f4: cleared, so f4 and f5 are what it holds */
	assert_int_equal(recorder_entries(f->r), 2);
	assert_int_equal(reread(f), 6);
	assert_int_equal(note(f, &d, "f5", FST_MODIFIED), 0); /* still known */
	assert_int_equal(reread(f), 6);
	assert_int_equal(note(f, &d, "f0", FST_MODIFIED), 0); /* forgotten: again */
	assert_int_equal(reread(f), 7);
	expect_rec(f, 6, &d, "f0", FST_MODIFIED);
	/* new kinds of a forgotten place: all of the note's kinds, a superset */
	assert_int_equal(note(f, &d, "f1", FST_MODIFIED | FST_ATTRIB), 0);
	assert_int_equal(reread(f), 8);
	expect_rec(f, 7, &d, "f1", FST_MODIFIED | FST_ATTRIB);
	for (size_t i = 0; i < f->n; i++)
		assert_true(f->recs[i].kinds & FST_MODIFIED);
}

/* ---- objects, no mount: always recorded ---------------------------------------- */

static void test_objects(void **state)
{
	struct fixture *f = *state;
	struct fhandle o = unit_handle("objF0001"), p = unit_handle("objF0002");

	assert_int_equal(recorder_note_object(f->r, &o, FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(f->r, &o, FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(f->r, &o, FST_MODIFIED, NOTE_LINK_COUNT), 0);
	assert_int_equal(recorder_note_object(f->r, &o, FST_ATTRIB | FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(f->r, &p, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 3);
	expect_rec(f, 0, &o, "", FST_MODIFIED);
	expect_rec(f, 1, &o, "", FST_ATTRIB);
	expect_rec(f, 2, &p, "", FST_ATTRIB);
	recorder_new_epoch(f->r);
	assert_int_equal(recorder_note_object(f->r, &o, FST_MODIFIED, 0), 0);
	assert_int_equal(reread(f), 4);
	expect_rec(f, 3, &o, "", FST_MODIFIED);
}

/* The watcher's sink feeds the same recorder. */
static void test_sink(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");
	struct watcher_sink sink;

	recorder_sink(f->r, &sink);
	assert_ptr_equal(sink.data, f->r);
	assert_non_null(sink.flush);
	assert_int_equal(sink.note(sink.data, &d, "f", 1, FST_CREATED), 0);
	assert_int_equal(sink.note(sink.data, &d, "f", 1, FST_CREATED), 0);
	assert_int_equal(sink.note_object(sink.data, &o, FST_MODIFIED, 0), 0);
	/* held until the end of the read */
	assert_int_equal(reread(f), 0);
	assert_int_equal(recorder_new_epoch(f->r), -EBUSY); /* never with notes pending */
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(reread(f), 2);
	expect_rec(f, 0, &d, "f", FST_CREATED);
	expect_rec(f, 1, &o, "", FST_MODIFIED);
	assert_int_equal(recorder_stats(f->r)->dedups, 1);
	assert_int_equal(recorder_new_epoch(f->r), 0);
}

/*
 * Many notes through the sink: decided in the order they came, each
 * against every note before it (pending or not), and a note taken
 * directly waits for the pending ones.
 */
static void test_sink_pipeline(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");
	struct watcher_sink sink;
	char name[16];

	recorder_sink(f->r, &sink);
	for (int i = 0; i < 100; i++) {
		/* names 0..29 twice in a row, then 0..39 once more (0..29 again, 30 notes later) */
		snprintf(name, sizeof(name), "n%d", i < 60 ? i / 2 : i - 60);
		assert_int_equal(sink.note(sink.data, &d, name, strlen(name), FST_MODIFIED), 0);
	}
	assert_int_equal(sink.note_object(sink.data, &o, FST_ATTRIB, 0), 0);
	/* the direct note comes after the 101 pending ones */
	assert_int_equal(note(f, &d, "direct", FST_CREATED), 0);
	assert_int_equal(sink.note(sink.data, &d, "n0", 2, FST_CREATED), 0);
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(sink.flush(sink.data), 0); /* nothing left: a no-op */
	assert_int_equal(reread(f), 43);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		expect_rec(f, (size_t)i, &d, name, FST_MODIFIED);
	}
	expect_rec(f, 40, &o, "", FST_ATTRIB);
	expect_rec(f, 41, &d, "direct", FST_CREATED);
	expect_rec(f, 42, &d, "n0", FST_CREATED);
	assert_int_equal(recorder_stats(f->r)->notes, 103);
	assert_int_equal(recorder_stats(f->r)->dedups, 60);
}

/* ---- objects with a mount: the link count decides ------------------------------- */

struct tree {
	char dir[UNIT_TMP_MAX];
	struct mount_ref m;
};

static void tree_init(struct tree *t)
{
	struct stat st;

	assert_int_equal(unit_tmpdir(t->dir, "test-recorder-tree"), 0);
	assert_int_equal(stat(t->dir, &st), 0);
	mount_ref_init(&t->m, t->dir, st.st_dev);
}

static void tree_free(struct tree *t)
{
	mount_ref_release(&t->m);
	unit_rmtree(t->dir);
}

/* Create dir/name (a file) and return its handle. */
static struct fhandle tree_file(const struct tree *t, const char *name)
{
	char path[UNIT_TMP_MAX + 32];
	struct fhandle h;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fhandle_of(AT_FDCWD, path, 0, &h), 0);
	return h;
}

static void tree_path(const struct tree *t, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", t->dir, name);
}

/* Another name for dir/name. */
static void tree_link(const struct tree *t, const char *name, const char *other)
{
	char a[UNIT_TMP_MAX + 32], b[UNIT_TMP_MAX + 32];

	tree_path(t, name, a, sizeof(a));
	tree_path(t, other, b, sizeof(b));
	assert_int_equal(link(a, b), 0);
}

static void test_objects_by_link_count(void **state)
{
	struct fixture *f = *state;
	struct tree t;
	struct fhandle one, two, dir;
	struct recorder *r;

	tree_init(&t);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	one = tree_file(&t, "one");
	two = tree_file(&t, "two");
	tree_link(&t, "two", "two-link");
	assert_int_equal(fhandle_of(AT_FDCWD, t.dir, 0, &dir), 0);

	/* one name: its (dir, name) records are enough */
	assert_int_equal(recorder_note_object(r, &one, FST_ATTRIB, 0), 0);
	/* two names: recorded, the query finds both */
	assert_int_equal(recorder_note_object(r, &two, FST_MODIFIED, 0), 0);
	/* a directory: one name */
	assert_int_equal(recorder_note_object(r, &dir, FST_ATTRIB, 0), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &two, "", FST_MODIFIED);
	assert_true(mount_ref_is_open(&t.m));

	/* decided once per epoch: a second link now changes nothing... */
	tree_link(&t, "one", "one-link");
	assert_int_equal(recorder_note_object(r, &one, FST_ATTRIB, 0), 0);
	assert_int_equal(reread(f), 1);
	/* ...but the link-count change itself always records it */
	assert_int_equal(recorder_note_object(r, &one, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 2);
	expect_rec(f, 1, &one, "", FST_ATTRIB);
	/* and from then on its new kinds, without asking again */
	assert_int_equal(recorder_note_object(r, &one, FST_MODIFIED, 0), 0);
	assert_int_equal(reread(f), 3);
	expect_rec(f, 2, &one, "", FST_MODIFIED);
	assert_int_equal(recorder_note_object(r, &one, FST_MODIFIED | FST_ATTRIB, NOTE_LINK_COUNT),
			 0);
	assert_int_equal(reread(f), 3);

	/* a new epoch decides again: "one" has two names by now */
	recorder_new_epoch(r);
	assert_int_equal(recorder_note_object(r, &one, FST_MODIFIED, 0), 0);
	assert_int_equal(reread(f), 4);
	expect_rec(f, 3, &one, "", FST_MODIFIED);
	recorder_free(r);
	tree_free(&t);
}

/*
 * Gone by the time of the note: no record, not even for a link-count
 * change (no name is left to find; each name's removal is on record by
 * itself). A link-count change of a file still alive is recorded, whatever
 * its link count is now: it had another name when the event happened.
 */
static void test_objects_gone(void **state)
{
	struct fixture *f = *state;
	struct tree t;
	struct fhandle gone, gone2, alive;
	char a[UNIT_TMP_MAX + 32];
	struct recorder *r;

	tree_init(&t);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	gone = tree_file(&t, "gone");
	gone2 = tree_file(&t, "gone2");
	alive = tree_file(&t, "alive");
	tree_path(&t, "gone", a, sizeof(a));
	assert_int_equal(unlink(a), 0);
	tree_path(&t, "gone2", a, sizeof(a));
	assert_int_equal(unlink(a), 0);
	assert_int_equal(recorder_note_object(r, &gone, FST_MODIFIED, 0), 0);
	assert_int_equal(reread(f), 0);
	assert_int_equal(recorder_note_object(r, &gone2, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 0);
	/* one name now, but the event said its link count changed */
	assert_int_equal(recorder_note_object(r, &alive, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &alive, "", FST_ATTRIB);
	recorder_free(r);
	tree_free(&t);
}

/* A mount that cannot be opened: unknown counts as "other names". */
static void test_objects_mount_unusable(void **state)
{
	struct fixture *f = *state;
	struct tree t;
	struct fhandle h;
	struct recorder *r;
	struct stat st;

	tree_init(&t);
	h = tree_file(&t, "f");
	assert_int_equal(stat(t.dir, &st), 0);
	mount_ref_init(&t.m, t.dir, st.st_dev + 1); /* the wrong device: -ENODEV */
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	assert_int_equal(recorder_note_object(r, &h, FST_MODIFIED, 0), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &h, "", FST_MODIFIED);
	assert_false(mount_ref_is_open(&t.m));
	recorder_free(r);
	tree_free(&t);
}

/*
 * A mount point that is not there (unmounted and removed, moved): the
 * file's names are unknown, not gone (ENOENT of the mount point is not
 * ENOENT of a handle). Both the look-up and a link-count change record it.
 */
static void test_objects_mount_missing(void **state)
{
	struct fixture *f = *state;
	char missing[UNIT_TMP_MAX + 32];
	struct fhandle a, b;
	struct tree t;
	struct recorder *r;
	struct stat st;

	tree_init(&t);
	a = tree_file(&t, "a");
	b = tree_file(&t, "b");
	assert_int_equal(stat(t.dir, &st), 0);
	tree_path(&t, "no-such-mount-point", missing, sizeof(missing));
	mount_ref_init(&t.m, missing, st.st_dev);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(r, &b, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 2);
	expect_rec(f, 0, &a, "", FST_MODIFIED);
	expect_rec(f, 1, &b, "", FST_ATTRIB);
	recorder_free(r);
	tree_free(&t);
}

/*
 * A new file's note is not taken: it records nothing (one name, which
 * its name's note covers), costs no look-up and no system call. A later
 * write this epoch looks at the link count once.
 */
static void test_objects_created(void **state)
{
	struct fixture *f = *state;
	struct tree t;
	struct fhandle h;
	struct recorder *r;

	tree_init(&t);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	h = tree_file(&t, "new");
	assert_int_equal(
	    recorder_note_object(r, &h, FST_MODIFIED, NOTE_CREATED | NOTE_NAME_RECORDED), 0);
	assert_int_equal(reread(f), 0);
	assert_int_equal(recorder_entries(r), 0); /* not looked up */
	assert_int_equal(recorder_stats(r)->new_objects, 1);
	assert_false(mount_ref_is_open(&t.m)); /* not opened */
	/* written again: one name, so nothing more than the name's record */
	assert_int_equal(recorder_note_object(r, &h, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(reread(f), 0);
	assert_true(mount_ref_is_open(&t.m)); /* its link count was looked at */
	/* a link: its link-count change records it */
	tree_link(&t, "new", "new-link");
	assert_int_equal(recorder_note_object(r, &h, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &h, "", FST_ATTRIB);
	/* on record now: a name made for it (a link) is taken (its kinds are on record) */
	assert_int_equal(recorder_note_object(r, &h, FST_MODIFIED, NOTE_CREATED), 0);
	assert_int_equal(recorder_stats(r)->new_objects, 1);
	assert_int_equal(reread(f), 1);
	/* the next epoch forgets it: a new name for it is a new file's again */
	assert_int_equal(recorder_new_epoch(r), 0);
	assert_int_equal(recorder_note_object(r, &h, FST_MODIFIED, NOTE_CREATED), 0);
	assert_int_equal(recorder_stats(r)->new_objects, 2);
	assert_int_equal(reread(f), 1);
	recorder_free(r);
	tree_free(&t);
}

/* A note's failure found when a full pipeline decides it comes back through a later note. */
static void test_sink_full_pipeline_error(void **state)
{
	struct fixture *f = *state;
	struct journal_options ro = {.read_only = true};
	struct fhandle d = unit_handle("dirA0001");
	char jdir[UNIT_TMP_MAX + 8], name[16];
	struct watcher_sink sink;
	struct journal *j;
	struct recorder *r;
	int i, first_err = -1;

	snprintf(jdir, sizeof(jdir), "%s/j", f->dir);
	assert_int_equal(journal_open(jdir, &ro, &j), 0); /* every append fails */
	assert_int_equal(recorder_new(j, NULL, 0, &r), 0);
	recorder_sink(r, &sink);
	for (i = 0; i < 40 && first_err < 0; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (sink.note(sink.data, &d, name, strlen(name), FST_MODIFIED) < 0)
			first_err = i;
	}
	assert_true(first_err > 0); /* not at once: the first notes were held */
	assert_int_equal(sink.flush(sink.data), -EROFS);
	assert_int_equal(sink.flush(sink.data), 0); /* nothing left */
	recorder_free(r);
	journal_free(j);
}

/* While suspended the sink holds nothing: each note is counted and dropped. */
static void test_sink_suspended(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");
	struct watcher_sink sink;

	recorder_sink(f->r, &sink);
	recorder_suspend(f->r, true);
	assert_int_equal(sink.note(sink.data, &d, "f", 1, FST_MODIFIED), 0);
	assert_int_equal(sink.note_object(sink.data, &o, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(recorder_new_epoch(f->r), 0); /* nothing pending */
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(reread(f), 0);
	assert_int_equal(recorder_stats(f->r)->dropped, 2);
	recorder_suspend(f->r, false);
}

/*
 * The records of one read share one time, taken after the read (at its
 * first note) and before any later token; outside a read a record takes
 * the time it is made.
 */
static void test_sink_read_time(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001");
	struct watcher_sink sink;
	uint64_t t0, t1, t2;
	char name[16];

	recorder_sink(f->r, &sink);
	t0 = now_realtime_ns();
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "r1-%d", i);
		assert_int_equal(sink.note(sink.data, &d, name, strlen(name), FST_CREATED), 0);
		if (i == 20)
			usleep(2000);
	}
	assert_int_equal(sink.flush(sink.data), 0);
	t1 = now_realtime_ns();
	usleep(2000);
	assert_int_equal(note(f, &d, "direct", FST_CREATED), 0);
	t2 = now_realtime_ns();
	assert_int_equal(sink.note(sink.data, &d, "r2", 2, FST_CREATED), 0);
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(reread(f), 42);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(f->recs[i].time_ns, f->recs[0].time_ns);
	assert_true(f->recs[0].time_ns >= t0 && f->recs[0].time_ns <= t1);
	assert_true(f->recs[40].time_ns > t1 && f->recs[40].time_ns <= t2); /* its own */
	assert_true(f->recs[41].time_ns >= t2);				    /* the next read's */
}

/*
 * Through the sink: a new file's note is taken after all when an object
 * note is pending before it, since deciding that one may put the object
 * on record (here: a link-count change; no mount, so it is recorded).
 */
static void test_sink_created_after_pending(void **state)
{
	struct fixture *f = *state;
	struct fhandle h = unit_handle("objF0001"), g = unit_handle("objF0002");
	struct watcher_sink sink;

	recorder_sink(f->r, &sink);
	assert_int_equal(sink.note_object(sink.data, &h, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(sink.note_object(sink.data, &h, FST_MODIFIED, NOTE_CREATED), 0);
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(recorder_stats(f->r)->new_objects, 0);
	assert_int_equal(reread(f), 2);
	expect_rec(f, 0, &h, "", FST_ATTRIB);
	expect_rec(f, 1, &h, "", FST_MODIFIED);
	/* with h on record, another new file's note is still not taken, h's is */
	assert_int_equal(sink.note_object(sink.data, &g, FST_MODIFIED, NOTE_CREATED), 0);
	assert_int_equal(sink.note_object(sink.data, &h, FST_MODIFIED, NOTE_CREATED), 0);
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(recorder_stats(f->r)->new_objects, 1);
	assert_int_equal(recorder_stats(f->r)->dedups, 1); /* h's: looked up, on record */
	assert_int_equal(reread(f), 2);
}

static void test_suspend(void **state)
{
	struct fixture *f = *state;
	struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");

	recorder_suspend(f->r, true);
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(recorder_note_object(f->r, &o, FST_ATTRIB, NOTE_LINK_COUNT), 0);
	assert_int_equal(reread(f), 0);
	assert_int_equal(recorder_stats(f->r)->dropped, 2);
	assert_int_equal(recorder_entries(f->r), 0);
	recorder_suspend(f->r, false);
	assert_int_equal(note(f, &d, "f", FST_MODIFIED), 0);
	assert_int_equal(reread(f), 1);
	expect_rec(f, 0, &d, "f", FST_MODIFIED);
}

/* ---- the kernel-side filter: ignore marks ---------------------------------------- */

struct fake_marks {
	unsigned adds, flushes;
	ino_t last_ino; /* of the fd of the last add */
	int add_result, flush_result;
};

static int marks_add(void *data, int fd)
{
	struct fake_marks *m = data;
	struct stat st;

	m->adds++;
	m->last_ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
	return m->add_result;
}

static int marks_flush(void *data)
{
	struct fake_marks *m = data;

	m->flushes++;
	return m->flush_result;
}

static ino_t ino_of(const struct tree *t, const char *name)
{
	char path[UNIT_TMP_MAX + 32];
	struct stat st;

	tree_path(t, name, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/*
 * A file's writes are on record under its name this epoch: at its second
 * write event the kernel is asked to drop the rest, once; a new epoch
 * flushes the marks.
 */
static void test_marks(void **state)
{
	struct fixture *f = *state;
	struct fake_marks fm = {0};
	struct recorder_marks rm = {marks_add, marks_flush, &fm, 0};
	struct fhandle a, b;
	struct recorder *r;
	struct tree t;

	tree_init(&t);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	recorder_set_marks(r, &rm);
	a = tree_file(&t, "a");
	b = tree_file(&t, "b");
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 0); /* written once: a mark would drop nothing */
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 1);
	assert_int_equal(fm.last_ino, ino_of(&t, "a"));
	assert_int_equal(recorder_marks_held(r), 1);
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 1);
	/* not when its name is not on record, nor for attributes */
	assert_int_equal(recorder_note_object(r, &b, FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(r, &b, FST_MODIFIED, 0), 0);
	assert_int_equal(recorder_note_object(r, &b, FST_ATTRIB, NOTE_NAME_RECORDED), 0);
	assert_int_equal(recorder_note_object(r, &b, FST_ATTRIB, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 1);
	/* a new epoch: every write is reported again */
	recorder_new_epoch(r);
	assert_int_equal(fm.flushes, 1);
	assert_int_equal(recorder_marks_held(r), 0);
	recorder_new_epoch(r);
	assert_int_equal(fm.flushes, 1); /* nothing held: nothing to flush */
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(recorder_note_object(r, &a, FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 2);
	/* a flush that fails keeps the marks counted, and is tried again */
	fm.flush_result = -ENOMEM;
	/* and says so: no token may be handed out while the kernel may still drop writes */
	assert_int_equal(recorder_new_epoch(r), -ENOMEM);
	assert_int_equal(fm.flushes, 2);
	assert_int_equal(recorder_marks_held(r), 1);
	fm.flush_result = 0;
	assert_int_equal(recorder_new_epoch(r), 0);
	assert_int_equal(fm.flushes, 3);
	assert_int_equal(recorder_marks_held(r), 0);
	assert_int_equal(reread(f), 0); /* one name each: nothing but their names' records */
	recorder_free(r);
	tree_free(&t);
}

/* At most max marks an epoch; a refused mark is not asked for again. */
static void test_marks_bounded(void **state)
{
	struct fixture *f = *state;
	struct fake_marks fm = {.add_result = -ENOSPC};
	struct recorder_marks rm = {marks_add, marks_flush, &fm, 1};
	struct fhandle h[3];
	struct recorder *r;
	struct tree t;

	tree_init(&t);
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	recorder_set_marks(r, &rm);
	h[0] = tree_file(&t, "a");
	h[1] = tree_file(&t, "b");
	h[2] = tree_file(&t, "c");
	for (int i = 0; i < 3; i++)
		assert_int_equal(recorder_note_object(r, &h[0], FST_MODIFIED, NOTE_NAME_RECORDED),
				 0);
	assert_int_equal(fm.adds, 1);
	assert_int_equal(recorder_marks_held(r), 0);
	fm.add_result = 0;
	for (int k = 1; k < 3; k++)
		for (int i = 0; i < 2; i++)
			assert_int_equal(
			    recorder_note_object(r, &h[k], FST_MODIFIED, NOTE_NAME_RECORDED), 0);
	assert_int_equal(fm.adds, 2); /* b's; c's would be past the bound */
	assert_int_equal(recorder_marks_held(r), 1);
	assert_int_equal(fm.last_ino, ino_of(&t, "b"));
	recorder_free(r);
	tree_free(&t);
}

/*
 * A name's note that is decided later than the watcher took it (the
 * sink's pipeline) and then fails: the same event's object note must not
 * count the name as on record, so no ignore mark drops the file's writes.
 */
static void test_sink_name_lost(void **state)
{
	struct fixture *f = *state;
	struct fake_marks fm = {0};
	struct recorder_marks rm = {marks_add, marks_flush, &fm, 0};
	struct journal_options ro = {.read_only = true};
	char jdir[UNIT_TMP_MAX + 8];
	struct watcher_sink sink;
	struct journal *j;
	struct fhandle a, d;
	struct recorder *r;
	struct tree t;

	tree_init(&t);
	snprintf(jdir, sizeof(jdir), "%s/j", f->dir);
	assert_int_equal(journal_open(jdir, &ro, &j), 0); /* every append fails */
	assert_int_equal(recorder_new(j, &t.m, 0, &r), 0);
	recorder_set_marks(r, &rm);
	recorder_sink(r, &sink);
	a = tree_file(&t, "a");
	assert_int_equal(fhandle_of(AT_FDCWD, t.dir, 0, &d), 0);
	/* 15 other notes first: the first pair's notes sit at the ring's end and start */
	for (int i = 0; i < 15; i++) {
		char name[8];
		snprintf(name, sizeof(name), "x%d", i);
		sink.note(sink.data, &d, name, strlen(name), FST_MODIFIED); /* fails later: fine */
	}
	for (int i = 0; i < 2; i++) {
		sink.note(sink.data, &d, "a", 1, FST_MODIFIED);
		sink.note_object(sink.data, &a, FST_MODIFIED, NOTE_NAME_RECORDED);
	}
	assert_int_equal(sink.flush(sink.data), -EROFS);
	assert_int_equal(fm.adds, 0);
	recorder_free(r);
	journal_free(j);

	/* the same with a journal that keeps them: the mark comes at the second write */
	assert_int_equal(recorder_new(f->j, &t.m, 0, &r), 0);
	recorder_set_marks(r, &rm);
	recorder_sink(r, &sink);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sink.note(sink.data, &d, "a", 1, FST_MODIFIED), 0);
		assert_int_equal(sink.note_object(sink.data, &a, FST_MODIFIED, NOTE_NAME_RECORDED),
				 0);
	}
	assert_int_equal(sink.flush(sink.data), 0);
	assert_int_equal(fm.adds, 1);
	assert_int_equal(fm.last_ino, ino_of(&t, "a"));
	recorder_new_epoch(r);
	recorder_free(r);
	tree_free(&t);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_same_place_twice),
	    T(test_distinct_places),
	    T(test_new_kind),
	    T(test_new_epoch),
	    T(test_empty_name_is_dot),
	    T(test_too_long),
	    cmocka_unit_test_setup_teardown(test_bound, setup_small, teardown),
	    T(test_objects),
	    T(test_sink),
	    T(test_sink_pipeline),
	    T(test_sink_created_after_pending),
	    T(test_sink_full_pipeline_error),
	    T(test_sink_suspended),
	    T(test_sink_read_time),
	    T(test_objects_by_link_count),
	    T(test_objects_gone),
	    T(test_objects_mount_unusable),
	    T(test_objects_mount_missing),
	    T(test_objects_created),
	    T(test_suspend),
	    T(test_marks),
	    T(test_marks_bounded),
	    T(test_sink_name_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
