/* SPDX-License-Identifier: MIT */
/*
 * Tests of watcher_decode(): hand-made read(2) buffers of fanotify events,
 * laid out as the kernel does for a group with FAN_REPORT_DFID_NAME |
 * FAN_REPORT_FID | FAN_REPORT_TARGET_FID (struct fanotify_event_metadata,
 * then fanotify_event_info_fid records: header, fsid, struct file_handle,
 * the handle, a NUL-terminated name for the *_DFID_NAME types, padding to
 * 4 bytes), and what the sink is told. No kernel involved.
 *
 * Every buffer is handed over in a heap block of exactly its length, so
 * under ASan a read past its end is an error; the sink also checks that
 * every name it is given lies inside the buffer, NUL-terminated there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "basic/util.h"
#include "daemon/watcher.h"
#include "fstrack.h"
#include "unit-util.h"

#define OWN_PID 4242
#define OTHER_PID 1000
#define FID_HDR sizeof(struct fanotify_event_info_fid) /* header + fsid */
#define MD_LEN sizeof(struct fanotify_event_metadata)

/* ---- the buffer builder --------------------------------------------------- */

struct evbuf {
	_Alignas(8) unsigned char b[16384];
	size_t len;
	size_t ev_start; /* offset of the event being built */
};

static void put(struct evbuf *e, const void *p, size_t n)
{
	assert_true(e->len + n <= sizeof(e->b));
	memcpy(e->b + e->len, p, n);
	e->len += n;
}

static void ev_begin(struct evbuf *e, uint64_t mask, int32_t pid)
{
	struct fanotify_event_metadata md = {
	    .vers = FANOTIFY_METADATA_VERSION,
	    .metadata_len = MD_LEN,
	    .mask = mask,
	    .fd = FAN_NOFD,
	    .pid = pid,
	};

	e->ev_start = e->len;
	put(e, &md, sizeof(md));
}

/* Set a field of the metadata of the event being built (4-byte aligned: through memcpy). */
#define EV_SET(e, field, value)                                                                    \
	do {                                                                                       \
		__typeof__(((struct fanotify_event_metadata *)0)->field) v_ = (value);             \
		memcpy((e)->b + (e)->ev_start + offsetof(struct fanotify_event_metadata, field),   \
		       &v_, sizeof(v_));                                                           \
	} while (0)

/* One fid record; name NULL: none (FID, DFID). Returns its offset. */
static size_t ev_fid(struct evbuf *e, uint8_t type, const struct fhandle *h, const char *name)
{
	size_t start = e->len, nlen = name ? strlen(name) + 1 : 0;
	struct fanotify_event_info_header hdr = {.info_type = type};
	uint32_t fsid[2] = {0x1234, 0x5678};
	struct file_handle fh = {.handle_bytes = h->len, .handle_type = h->type};
	static const unsigned char zero[4];
	size_t len = FID_HDR + sizeof(fh) + h->len + nlen;
	size_t padded = (len + 3) & ~(size_t)3;

	hdr.len = (uint16_t)padded;
	put(e, &hdr, sizeof(hdr));
	put(e, fsid, sizeof(fsid));
	put(e, &fh, sizeof(fh));
	put(e, h->bytes, h->len);
	if (name)
		put(e, name, nlen);
	put(e, zero, padded - len);
	return start;
}

static void ev_end(struct evbuf *e)
{
	EV_SET(e, event_len, (uint32_t)(e->len - e->ev_start));
}

/* ---- the recording sink --------------------------------------------------- */

struct note_rec {
	bool object;
	struct fhandle h;
	char name[512];
	size_t namelen;
	unsigned kinds;
	unsigned flags; /* NOTE_* of an object note */
};

struct recsink {
	struct note_rec v[256];
	size_t n;
	int fail_with;			 /* returned by every note when set */
	int fail_names;			 /* returned by name notes when set */
	const unsigned char *lo, *hi;	 /* the buffer being decoded */
	unsigned bad_names, bad_handles; /* garbage seen */
};

static void check_handle(struct recsink *s, const struct fhandle *h)
{
	if (h->len > HANDLE_MAX)
		s->bad_handles++;
}

static int rec_note(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		    unsigned kinds)
{
	struct recsink *s = data;
	const unsigned char *p = (const unsigned char *)name;
	struct note_rec *r;

	check_handle(s, dir);
	/* a name is "." or lies in the buffer with its NUL */
	if (!(namelen == 1 && name[0] == '.') &&
	    !(p >= s->lo && p + namelen < s->hi && p[namelen] == '\0' &&
	      !memchr(name, '\0', namelen)))
		s->bad_names++;
	if (s->n < ARRAY_SIZE(s->v)) {
		r = &s->v[s->n++];
		*r = (struct note_rec){.h = *dir, .kinds = kinds};
		r->namelen = namelen < sizeof(r->name) ? namelen : sizeof(r->name) - 1;
		memcpy(r->name, name, r->namelen);
	}
	return s->fail_names ? s->fail_names : s->fail_with;
}

static int rec_note_object(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	struct recsink *s = data;

	check_handle(s, obj);
	if (s->n < ARRAY_SIZE(s->v))
		s->v[s->n++] =
		    (struct note_rec){.object = true, .h = *obj, .kinds = kinds, .flags = flags};
	return s->fail_with;
}

/* Decode the first len bytes of e from a heap block of exactly that size. */
static int decode_n(const struct evbuf *e, size_t len, struct recsink *s, struct watcher_stats *st,
		    bool *overflow)
{
	struct watcher_sink sink = {.note = rec_note, .note_object = rec_note_object, .data = s};
	unsigned char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, e->b, len);
	s->lo = copy;
	s->hi = copy + len;
	*overflow = false;
	r = watcher_decode(copy, len, OWN_PID, &sink, st, overflow);
	free(copy);
	assert_int_equal(s->bad_names, 0);
	assert_int_equal(s->bad_handles, 0);
	return r;
}

/* Decode all of e into a fresh sink and stats. */
static int decode(const struct evbuf *e, struct recsink *s, struct watcher_stats *st)
{
	bool overflow;
	int r;

	*s = (struct recsink){0};
	*st = (struct watcher_stats){0};
	r = decode_n(e, e->len, s, st, &overflow);
	assert_false(overflow);
	return r;
}

/* The same for a buffer that must be reported as losing events (a gap). */
static int decode_lossy(const struct evbuf *e, struct recsink *s, struct watcher_stats *st)
{
	bool overflow;
	int r;

	*s = (struct recsink){0};
	*st = (struct watcher_stats){0};
	r = decode_n(e, e->len, s, st, &overflow);
	assert_true(overflow);
	return r;
}

/* ---- expectations ---------------------------------------------------------- */

/* Is there exactly one note (dir, name, kinds)? */
static void expect_note(const struct recsink *s, const char *dir, const char *name, unsigned kinds)
{
	struct fhandle h = unit_handle(dir);
	size_t found = 0;

	for (size_t i = 0; i < s->n; i++)
		if (!s->v[i].object && fhandle_eq(&s->v[i].h, &h) &&
		    s->v[i].namelen == strlen(name) &&
		    memcmp(s->v[i].name, name, strlen(name)) == 0 && s->v[i].kinds == kinds)
			found++;
	if (found != 1)
		fail_msg("%zu notes (%s, %s, kinds 0x%x), want 1", found, dir, name, kinds);
}

static void expect_object(const struct recsink *s, const char *obj, unsigned kinds, unsigned flags)
{
	struct fhandle h = unit_handle(obj);
	size_t found = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].object && fhandle_eq(&s->v[i].h, &h) && s->v[i].kinds == kinds &&
		    s->v[i].flags == flags)
			found++;
	if (found != 1)
		fail_msg("%zu object notes (%s, kinds 0x%x, flags 0x%x), want 1", found, obj, kinds,
			 flags);
}

/* One event: mask, a DFID_NAME record (dir, name) and an FID record (obj). */
static void ev_simple(struct evbuf *e, uint64_t mask, const char *dir, const char *name,
		      const char *obj)
{
	struct fhandle h;

	ev_begin(e, mask, OTHER_PID);
	if (dir) {
		h = unit_handle(dir);
		ev_fid(e, FAN_EVENT_INFO_TYPE_DFID_NAME, &h, name);
	}
	if (obj) {
		h = unit_handle(obj);
		ev_fid(e, FAN_EVENT_INFO_TYPE_FID, &h, NULL);
	}
	ev_end(e);
}

/* ---- decoding what the kernel sends --------------------------------------- */

static void test_create(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_simple(&e, FAN_CREATE, "dirA0001", "new.txt", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2);
	expect_note(&s, "dirA0001", "new.txt", FST_CREATED);
	/* a new file: one name, no kinds of its own */
	expect_object(&s, "objF0001", 0, NOTE_CREATED | NOTE_NAME_RECORDED);
	assert_int_equal(st.events_seen, 1);
	assert_int_equal(st.events_own, 0);
	assert_int_equal(st.note_errors, 0);

	/* a new directory: its name only */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_CREATE | FAN_ONDIR, "dirA0001", "newdir", "objD0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirA0001", "newdir", FST_CREATED);

	/* created and written, merged by the kernel into one event */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE, "dirA0001", "f", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2); /* one note for the name, one for the inode */
	expect_note(&s, "dirA0001", "f", FST_CREATED | FST_MODIFIED);
	expect_object(&s, "objF0001", FST_MODIFIED, NOTE_CREATED | NOTE_NAME_RECORDED);
}

static void test_delete(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_simple(&e, FAN_DELETE, "dirA0001", "gone.txt", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirA0001", "gone.txt", FST_DELETED);

	/* a directory: whatever was below it went with it */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_DELETE | FAN_ONDIR, "dirA0001", "subdir", "objD0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirA0001", "subdir", FST_DELETED | FST_RECURSIVE);
}

static void test_modify(void **state)
{
	static const uint64_t masks[] = {FAN_MODIFY, FAN_CLOSE_WRITE, FAN_MODIFY | FAN_CLOSE_WRITE};

	for (size_t i = 0; i < ARRAY_SIZE(masks); i++) {
		struct evbuf e = {0};
		struct recsink s;
		struct watcher_stats st;

		ev_simple(&e, masks[i], "dirA0001", "data.bin", "objF0001");
		assert_int_equal(decode(&e, &s, &st), 1);
		assert_int_equal(s.n, 2);
		expect_note(&s, "dirA0001", "data.bin", FST_MODIFIED);
		/* its other names (hard links) changed too */
		expect_object(&s, "objF0001", FST_MODIFIED, NOTE_NAME_RECORDED);
	}
}

static void test_attrib(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	/* a file: its name and its inode */
	ev_simple(&e, FAN_ATTRIB, "dirA0001", "f", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2);
	expect_note(&s, "dirA0001", "f", FST_ATTRIB);
	expect_object(&s, "objF0001", FST_ATTRIB, NOTE_NAME_RECORDED);

	/* a directory itself: its own handle and "." (a directory has one name) */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_ATTRIB | FAN_ONDIR, "dirD0001", ".", "dirD0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirD0001", ".", FST_ATTRIB);

	/* attrib and modify merged into one event */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_ATTRIB | FAN_MODIFY, "dirA0001", "f", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2);
	/* one note each, with both kinds */
	expect_note(&s, "dirA0001", "f", FST_MODIFIED | FST_ATTRIB);
	expect_object(&s, "objF0001", FST_ATTRIB | FST_MODIFIED, NOTE_NAME_RECORDED);
}

static void test_attrib_inode_only(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	/* link, unlink, rename over it: only the inode, its link count changed */
	ev_simple(&e, FAN_ATTRIB, NULL, NULL, "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_object(&s, "objF0001", FST_ATTRIB, NOTE_LINK_COUNT);

	/* a directory's: its name's change has its own event */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_ATTRIB | FAN_ONDIR, NULL, NULL, "objD0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 0);

	/* *_SELF without a directory: the parent's event names it */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_DELETE_SELF, NULL, NULL, "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.events_seen, 1);

	/* the last unlink: the link-count change merged with its DELETE_SELF */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_ATTRIB | FAN_DELETE_SELF, NULL, NULL, "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 0);
}

static void ev_rename(struct evbuf *e, uint64_t mask, const char *olddir, const char *oldname,
		      const char *newdir, const char *newname, const char *obj)
{
	struct fhandle od = unit_handle(olddir), nd = unit_handle(newdir), o = unit_handle(obj);

	ev_begin(e, mask, OTHER_PID);
	ev_fid(e, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, &od, oldname);
	ev_fid(e, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, &nd, newname);
	ev_fid(e, FAN_EVENT_INFO_TYPE_FID, &o, NULL);
	ev_end(e);
}

static void test_rename(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_rename(&e, FAN_RENAME, "dirA0001", "old name", "dirB0002", "new name", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 3);
	expect_note(&s, "dirA0001", "old name", FST_RENAMED_FROM);
	expect_note(&s, "dirB0002", "new name", FST_RENAMED_TO);
	/* the moved inode's ctime changed: its other names too */
	expect_object(&s, "objF0001", FST_ATTRIB, 0);

	/* a directory moves with everything below it; no object note */
	e = (struct evbuf){0};
	ev_rename(&e, FAN_RENAME | FAN_ONDIR, "dirA0001", "d", "dirA0001", "e", "objD0001");
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2);
	expect_note(&s, "dirA0001", "d", FST_RENAMED_FROM | FST_RECURSIVE);
	expect_note(&s, "dirA0001", "e", FST_RENAMED_TO | FST_RECURSIVE);

	/* only the old side known (a move out of the filesystem's view) */
	e = (struct evbuf){0};
	{
		struct fhandle od = unit_handle("dirA0001");

		ev_begin(&e, FAN_RENAME, OTHER_PID);
		ev_fid(&e, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, &od, "x");
		ev_end(&e);
	}
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirA0001", "x", FST_RENAMED_FROM);
}

static void test_moved(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_simple(&e, FAN_MOVED_FROM, "dirA0001", "a", "objF0001");
	ev_simple(&e, FAN_MOVED_TO, "dirB0002", "b", "objF0001");
	ev_simple(&e, FAN_MOVED_FROM | FAN_ONDIR, "dirA0001", "sub", "objD0001");
	ev_simple(&e, FAN_MOVED_TO | FAN_ONDIR, "dirB0002", "sub2", "objD0001");
	assert_int_equal(decode(&e, &s, &st), 4);
	/* two names, one object note per file event (the same object twice) */
	assert_int_equal(s.n, 6);
	expect_note(&s, "dirA0001", "a", FST_RENAMED_FROM);
	expect_note(&s, "dirB0002", "b", FST_RENAMED_TO);
	expect_note(&s, "dirA0001", "sub", FST_RENAMED_FROM | FST_RECURSIVE);
	expect_note(&s, "dirB0002", "sub2", FST_RENAMED_TO | FST_RECURSIVE);
	for (size_t i = 0; i < s.n; i++)
		if (s.v[i].object) {
			assert_int_equal(s.v[i].h.len, 8);
			assert_memory_equal(s.v[i].h.bytes, "objF0001", 8);
			assert_int_equal(s.v[i].kinds, FST_ATTRIB);
			assert_int_equal(s.v[i].flags, 0);
		}
}

static void test_dfid_without_name(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	struct fhandle d = unit_handle("dirD0001");

	ev_begin(&e, FAN_ATTRIB | FAN_ONDIR, OTHER_PID);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID, &d, NULL);
	ev_end(&e);
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirD0001", ".", FST_ATTRIB);
}

static void test_own_pid(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_simple(&e, FAN_CREATE, "dirA0001", "mine", "objF0001");
	EV_SET(&e, pid, OWN_PID);
	ev_simple(&e, FAN_CREATE, "dirA0001", "theirs", "objF0002");
	ev_simple(&e, FAN_MODIFY, "dirA0001", "mine too", "objF0003");
	EV_SET(&e, pid, OWN_PID);
	assert_int_equal(decode(&e, &s, &st), 3);
	assert_int_equal(s.n, 2);
	expect_note(&s, "dirA0001", "theirs", FST_CREATED);
	expect_object(&s, "objF0002", 0, NOTE_CREATED | NOTE_NAME_RECORDED);
	assert_int_equal(st.events_seen, 3);
	assert_int_equal(st.events_own, 2);
}

static void test_overflow(void **state)
{
	struct evbuf e = {0};
	struct recsink s = {0};
	struct watcher_stats st = {0};
	bool overflow;

	ev_simple(&e, FAN_CREATE, "dirA0001", "before", "objF0001");
	ev_begin(&e, FAN_Q_OVERFLOW, 0);
	ev_end(&e);
	ev_simple(&e, FAN_CREATE, "dirA0001", "after", "objF0002");
	assert_int_equal(decode_n(&e, e.len, &s, &st, &overflow), 3);
	assert_true(overflow);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(st.events_seen, 2); /* the marker is no event */
	assert_int_equal(s.n, 4);
	expect_note(&s, "dirA0001", "before", FST_CREATED);
	expect_note(&s, "dirA0001", "after", FST_CREATED);

	/* no overflow: the flag is left as it was (watcher_read resets it per drain) */
	e = (struct evbuf){0};
	ev_simple(&e, FAN_CREATE, "dirA0001", "x", "objF0001");
	{
		struct watcher_sink sink = {
		    .note = rec_note, .note_object = rec_note_object, .data = &s};

		s = (struct recsink){.lo = e.b, .hi = e.b + e.len};
		overflow = true;
		assert_int_equal(watcher_decode(e.b, e.len, OWN_PID, &sink, &st, &overflow), 1);
		assert_true(overflow);
		assert_int_equal(st.overflows, 1);
	}
}

/* Several events back to back, at 4-byte (not 8-byte) offsets. */
static void test_many_events(void **state)
{
	static const char *names[] = {"a", "bb", "ccc", "dddd", "eeeee", "a name with spaces", "x"};
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	bool odd_offset = false;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (e.len % 8 == 4)
			odd_offset = true;
		assert_int_equal(e.len % 4, 0);
		ev_simple(&e, FAN_CREATE, i % 2 ? "dirB0002" : "dirA0001", names[i], "objF0001");
	}
	assert_true(odd_offset); /* the test means what it says */
	assert_int_equal(decode(&e, &s, &st), (int)ARRAY_SIZE(names));
	assert_int_equal(s.n, 2 * ARRAY_SIZE(names)); /* a name and a new object each */
	for (size_t i = 0, k = 0; k < s.n; k++) {
		if (s.v[k].object)
			continue;
		/* in order */
		assert_int_equal(s.v[k].namelen, strlen(names[i]));
		assert_memory_equal(s.v[k].name, names[i], strlen(names[i]));
		assert_memory_equal(s.v[k].h.bytes, i % 2 ? "dirB0002" : "dirA0001", 8);
		i++;
	}
	assert_int_equal(st.events_seen, ARRAY_SIZE(names));
}

/* Handles of other sizes and types come through as they are. */
static void test_handle_sizes(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	struct fhandle big = {.type = -7, .len = HANDLE_MAX}, small = {.type = 0x81, .len = 1};

	for (int i = 0; i < HANDLE_MAX; i++)
		big.bytes[i] = (uint8_t)(i * 7 + 1);
	small.bytes[0] = 0xfe;
	ev_begin(&e, FAN_MODIFY, OTHER_PID);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, &big, "f");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, &small, NULL);
	ev_end(&e);
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 2);
	assert_false(s.v[0].object);
	assert_true(fhandle_eq(&s.v[0].h, &big));
	assert_true(s.v[1].object);
	assert_true(fhandle_eq(&s.v[1].h, &small));
}

static int fail_note(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		     unsigned kinds)
{
	return -ENOSPC;
}

static int fail_note_object(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	return -ENOMEM;
}

/* Two events of two files: a create and a write, each a name and an object note. */
static void ev_two_files(struct evbuf *e)
{
	ev_simple(e, FAN_CREATE, "dirA0001", "a", "objF0001");
	ev_simple(e, FAN_MODIFY, "dirA0001", "b", "objF0002");
}

static void test_note_errors(void **state)
{
	struct evbuf e = {0};
	struct watcher_sink sink = {.note = fail_note, .note_object = fail_note_object};
	struct watcher_stats st = {0};
	bool overflow = false;

	ev_two_files(&e);
	/* the decoder goes on after a refused note: every event is seen */
	assert_int_equal(watcher_decode(e.b, e.len, OWN_PID, &sink, &st, &overflow), 2);
	assert_int_equal(st.note_errors, 4);
	assert_int_equal(st.last_note_error, -ENOMEM);
	assert_int_equal(st.events_seen, 2);
}

/* A sink that holds notes: flushed once per buffer, and its error is a loss. */
struct holdsink {
	int notes, flushes, fail_flush;
};

static int hold_note(void *data, const struct fhandle *dir, const char *name, size_t namelen,
		     unsigned kinds)
{
	((struct holdsink *)data)->notes++;
	return 0;
}

static int hold_note_object(void *data, const struct fhandle *obj, unsigned kinds, unsigned flags)
{
	((struct holdsink *)data)->notes++;
	return 0;
}

static int hold_flush(void *data)
{
	struct holdsink *h = data;

	h->flushes++;
	return h->fail_flush;
}

static void test_flush(void **state)
{
	struct evbuf e = {0};
	struct holdsink h = {0};
	struct watcher_sink sink = {
	    .note = hold_note, .note_object = hold_note_object, .flush = hold_flush, .data = &h};
	struct watcher_stats st = {0};
	bool overflow = false;

	ev_two_files(&e);
	assert_int_equal(watcher_decode(e.b, e.len, OWN_PID, &sink, &st, &overflow), 2);
	assert_int_equal(h.notes, 4);
	assert_int_equal(h.flushes, 1); /* once, after the last note */
	assert_false(overflow);
	assert_int_equal(st.note_errors, 0);

	/* a note the flush could not keep: the read is lossy */
	h = (struct holdsink){.fail_flush = -ENOSPC};
	assert_int_equal(watcher_decode(e.b, e.len, OWN_PID, &sink, &st, &overflow), 2);
	assert_int_equal(h.flushes, 1);
	assert_true(overflow);
	assert_int_equal(st.note_errors, 1);
	assert_int_equal(st.last_note_error, -ENOSPC);

	/* a wrong version after a good event: the good one's notes are flushed */
	h = (struct holdsink){0};
	ev_simple(&e, FAN_CREATE, "dirA0001", "c", "objF0003");
	EV_SET(&e, vers, FANOTIFY_METADATA_VERSION + 1);
	assert_int_equal(watcher_decode(e.b, e.len, OWN_PID, &sink, &st, &overflow), -EPROTO);
	assert_int_equal(h.notes, 4);
	assert_int_equal(h.flushes, 1);
	e.len = e.ev_start; /* drop the bad event again */

	/* a buffer that ends in the middle of an event is flushed too */
	h = (struct holdsink){0};
	overflow = false;
	assert_int_equal(watcher_decode(e.b, e.len - 4, OWN_PID, &sink, &st, &overflow), 1);
	assert_int_equal(h.flushes, 1);
	assert_true(overflow);
}

/* The object note says whether the same event's name note was taken. */
static void test_name_refused(void **state)
{
	struct evbuf e = {0};
	struct recsink s = {0};
	struct watcher_stats st = {0};
	bool overflow;

	ev_simple(&e, FAN_MODIFY, "dirA0001", "f", "objF0001");
	s.fail_names = -ENOSPC;
	assert_int_equal(decode_n(&e, e.len, &s, &st, &overflow), 1);
	assert_int_equal(s.n, 2);
	expect_object(&s, "objF0001", FST_MODIFIED, 0);
	assert_int_equal(st.note_errors, 1);
	assert_int_equal(st.last_note_error, -ENOSPC);
	assert_true(overflow); /* the refused change is not on record: a gap */
}

/* An event's fd (none with fid reporting, but should one come) is not leaked. */
static void test_event_fd_closed(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	ev_simple(&e, FAN_MODIFY, "dirA0001", "f", "objF0001");
	EV_SET(&e, fd, fd);
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* ---- hostile buffers --------------------------------------------------------- */

static void test_wrong_version(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;

	ev_simple(&e, FAN_CREATE, "dirA0001", "f", "objF0001");
	EV_SET(&e, vers, FANOTIFY_METADATA_VERSION + 1);
	assert_int_equal(decode_lossy(&e, &s, &st), -EPROTO);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.events_seen, 0);
}

static void test_short_buffers(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	bool overflow;

	ev_simple(&e, FAN_CREATE, "dirA0001", "f", "objF0001");
	/* shorter than the metadata: nothing, and no read past the end */
	for (size_t len = 0; len < MD_LEN; len++) {
		s = (struct recsink){0};
		assert_int_equal(decode_n(&e, len, &s, &st, &overflow), 0);
		assert_int_equal(s.n, 0);
		assert_int_equal(overflow, len > 0); /* a cut event is lost: a gap */
	}
}

/*
 * Every prefix of a buffer of several events: exactly the events that are
 * complete in it are decoded, and nothing of the cut one is noted.
 */
static void test_every_truncation(void **state)
{
	struct evbuf e = {0};
	size_t ends[8], n_ev = 0;

	ev_simple(&e, FAN_CREATE, "dirA0001", "first", "objF0001");
	ends[n_ev++] = e.len;
	ev_rename(&e, FAN_RENAME, "dirA0001", "o", "dirB0002", "a longer new name", "objF0002");
	ends[n_ev++] = e.len;
	ev_simple(&e, FAN_MODIFY, "dirB0002", "m", "objF0003");
	ends[n_ev++] = e.len;
	for (size_t len = 0; len <= e.len; len++) {
		struct recsink s = {0};
		struct watcher_stats st = {0};
		bool overflow;
		size_t complete = 0, want_notes = 0;
		static const size_t notes_per_event[] = {2, 3, 2};

		while (complete < n_ev && ends[complete] <= len)
			want_notes += notes_per_event[complete++];
		assert_int_equal(decode_n(&e, len, &s, &st, &overflow), (int)complete);
		assert_int_equal(s.n, want_notes);
		assert_int_equal(st.events_seen, complete);
		/* a cut event is lost: a gap, unless the cut falls between events */
		assert_int_equal(overflow, len != 0 && len != ends[complete ? complete - 1 : 0]);
	}
}

static void test_bad_event_len(void **state)
{
	static const uint32_t lens[] = {0, 1, MD_LEN - 1, 0xffffffffu};

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct evbuf e = {0};
		struct recsink s;
		struct watcher_stats st;

		ev_simple(&e, FAN_CREATE, "dirA0001", "f", "objF0001");
		ev_simple(&e, FAN_CREATE, "dirA0001", "g", "objF0001");
		EV_SET(&e, event_len, lens[i]);
		/* the first event only; the loop ends, and says events are lost */
		assert_int_equal(decode_lossy(&e, &s, &st), 1);
		assert_int_equal(s.n, 2);
		expect_note(&s, "dirA0001", "f", FST_CREATED);
	}
}

static void test_bad_metadata_len(void **state)
{
	static const uint16_t lens[] = {0, MD_LEN - 1, 0xffff};

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct evbuf e = {0};
		struct recsink s;
		struct watcher_stats st;

		ev_simple(&e, FAN_CREATE, "dirA0001", "f", "objF0001");
		EV_SET(&e, metadata_len, lens[i]);
		assert_int_equal(decode_lossy(&e, &s, &st), 0);
		assert_int_equal(s.n, 0);
	}
}

/* Set the len field of the info record at off. */
static void set_info_len(struct evbuf *e, size_t off, uint16_t len)
{
	struct fanotify_event_info_header hdr;

	memcpy(&hdr, e->b + off, sizeof(hdr));
	hdr.len = len;
	memcpy(e->b + off, &hdr, sizeof(hdr));
}

static void set_handle_bytes(struct evbuf *e, size_t off, uint32_t n)
{
	memcpy(e->b + off + FID_HDR + offsetof(struct file_handle, handle_bytes), &n, sizeof(n));
}

/* A CREATE whose DFID_NAME record is damaged by damage(); nothing may be noted. */
static void check_damaged_create(void (*damage)(struct evbuf *e, size_t rec, size_t rec_len))
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	struct fhandle d = unit_handle("dirA0001");
	size_t rec;

	ev_begin(&e, FAN_CREATE, OTHER_PID);
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, &d, "name");
	damage(&e, rec, e.len - rec);
	ev_end(&e);
	/* a good event after it still comes through */
	ev_simple(&e, FAN_CREATE, "dirB0002", "good", "objF0001");
	assert_int_equal(decode(&e, &s, &st), 2);
	assert_int_equal(s.n, 2);
	expect_note(&s, "dirB0002", "good", FST_CREATED);
	expect_object(&s, "objF0001", 0, NOTE_CREATED | NOTE_NAME_RECORDED);
}

static void damage_len_zero(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_info_len(e, rec, 0);
}

static void damage_len_short(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_info_len(e, rec, sizeof(struct fanotify_event_info_header));
}

static void damage_len_past_end(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_info_len(e, rec, (uint16_t)(rec_len + 4));
}

static void damage_len_huge(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_info_len(e, rec, 0xfffc);
}

static void damage_len_odd(struct evbuf *e, size_t rec, size_t rec_len)
{
	/* ends inside the name: no NUL within the record */
	set_info_len(e, rec, (uint16_t)(FID_HDR + sizeof(struct file_handle) + 8 + 2));
}

static void damage_handle_past_record(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_handle_bytes(e, rec, (uint32_t)rec_len);
}

static void damage_handle_too_big(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_handle_bytes(e, rec, HANDLE_MAX + 1);
}

static void damage_handle_huge(struct evbuf *e, size_t rec, size_t rec_len)
{
	set_handle_bytes(e, rec, 0xfffffff0u);
}

static void damage_name_no_nul(struct evbuf *e, size_t rec, size_t rec_len)
{
	/* the name and its padding become letters up to the record's end */
	size_t name = rec + FID_HDR + sizeof(struct file_handle) + 8;

	memset(e->b + name, 'z', rec + rec_len - name);
}

static void damage_handle_eats_name(struct evbuf *e, size_t rec, size_t rec_len)
{
	/* the handle runs to the end of the record: no room for a name */
	set_handle_bytes(e, rec, (uint32_t)(rec_len - FID_HDR - sizeof(struct file_handle)));
	memset(e->b + rec + FID_HDR + sizeof(struct file_handle), 'q',
	       rec_len - FID_HDR - sizeof(struct file_handle));
}

static void test_damaged_info(void **state)
{
	check_damaged_create(damage_len_zero);
	check_damaged_create(damage_len_short);
	check_damaged_create(damage_len_past_end);
	check_damaged_create(damage_len_huge);
	check_damaged_create(damage_len_odd);
	check_damaged_create(damage_handle_past_record);
	check_damaged_create(damage_handle_too_big);
	check_damaged_create(damage_handle_huge);
	check_damaged_create(damage_name_no_nul);
	check_damaged_create(damage_handle_eats_name);
}

/* A damaged FID record: the name still counts, no object is noted. */
static void test_damaged_fid(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");
	size_t rec;

	ev_begin(&e, FAN_MODIFY, OTHER_PID);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, &d, "f");
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, &o, NULL);
	set_handle_bytes(&e, rec, 200);
	ev_end(&e);
	assert_int_equal(decode(&e, &s, &st), 1);
	assert_int_equal(s.n, 1);
	expect_note(&s, "dirA0001", "f", FST_MODIFIED);
}

/* A handle longer than HANDLE_MAX in a record long enough to hold it: refused, not copied. */
static void test_oversized_handle(void **state)
{
	struct evbuf e = {0};
	struct recsink s;
	struct watcher_stats st;
	struct fanotify_event_info_header hdr = {.info_type = FAN_EVENT_INFO_TYPE_DFID_NAME};
	struct file_handle fh = {.handle_bytes = HANDLE_MAX + 72, .handle_type = 1};
	uint32_t fsid[2] = {0};
	unsigned char bytes[HANDLE_MAX + 72 + 4];

	memset(bytes, 'h', sizeof(bytes));
	memcpy(bytes + HANDLE_MAX + 72, "nm\0", 4);
	hdr.len = (uint16_t)(FID_HDR + sizeof(fh) + sizeof(bytes));
	ev_begin(&e, FAN_CREATE, OTHER_PID);
	put(&e, &hdr, sizeof(hdr));
	put(&e, fsid, sizeof(fsid));
	put(&e, &fh, sizeof(fh));
	put(&e, bytes, sizeof(bytes));
	ev_end(&e);
	ev_simple(&e, FAN_ATTRIB, NULL, NULL, "objF0001");
	/* the FID record of the same size: no object either */
	ev_begin(&e, FAN_ATTRIB, OTHER_PID);
	hdr.info_type = FAN_EVENT_INFO_TYPE_FID;
	put(&e, &hdr, sizeof(hdr));
	put(&e, fsid, sizeof(fsid));
	put(&e, &fh, sizeof(fh));
	put(&e, bytes, sizeof(bytes));
	ev_end(&e);
	assert_int_equal(decode(&e, &s, &st), 3);
	assert_int_equal(s.n, 1);
	expect_object(&s, "objF0001", FST_ATTRIB, NOTE_LINK_COUNT);
}

/*
 * Records of lengths that are not multiples of 4 (the kernel pads them;
 * a hostile buffer need not): the next record starts at any offset, and
 * is still read through copies, never through a misaligned pointer
 * (UBSan in the asan build).
 */
static void test_unaligned_records(void **state)
{
	for (uint16_t skip = 4; skip < 8; skip++) {
		struct evbuf e = {0};
		struct recsink s;
		struct watcher_stats st;
		struct fhandle d = unit_handle("dirA0001"), o = unit_handle("objF0001");
		struct fanotify_event_info_header other = {.info_type = 99, .len = skip};
		static const unsigned char junk[4] = {1, 2, 3, 4};

		ev_begin(&e, FAN_MODIFY, OTHER_PID);
		put(&e, &other, sizeof(other));
		put(&e, junk, skip - sizeof(other));
		ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, &d, "f");
		ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, &o, NULL);
		ev_end(&e);
		assert_int_equal(decode(&e, &s, &st), 1);
		assert_int_equal(s.n, 2);
		expect_note(&s, "dirA0001", "f", FST_MODIFIED);
		expect_object(&s, "objF0001", FST_MODIFIED, NOTE_NAME_RECORDED);
	}
}

/*
 * Every byte of a buffer of several events, set to each of a few values:
 * whatever the decoder makes of it, it reads nothing outside the buffer
 * (ASan), notes only names that lie in it NUL-terminated and handles of at
 * most HANDLE_MAX bytes (the sink checks), and ends.
 */
static void test_every_byte_damaged(void **state)
{
	static const unsigned char values[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07,
					       0x0a, 0x0c, 0x10, 0x7f, 0x80, 0xfe, 0xff};
	struct evbuf good = {0};
	struct fhandle d = unit_handle("dirA0001");

	ev_simple(&good, FAN_CREATE, "dirA0001", "f", "objF0001");
	ev_rename(&good, FAN_RENAME, "dirA0001", "o", "dirB0002", "new", "objF0002");
	ev_begin(&good, FAN_ATTRIB | FAN_ONDIR, OTHER_PID);
	ev_fid(&good, FAN_EVENT_INFO_TYPE_DFID, &d, NULL);
	ev_end(&good);
	ev_simple(&good, FAN_MODIFY, "dirB0002", "m", "objF0003");
	for (size_t i = 0; i < good.len; i++) {
		for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
			struct evbuf e = good;
			struct recsink s = {0};
			struct watcher_stats st = {0};
			bool overflow;
			int r;

			e.b[i] = values[v];
			r = decode_n(&e, e.len, &s, &st, &overflow);
			assert_true(r == -EPROTO || (r >= 0 && r <= 4));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create),
	    cmocka_unit_test(test_delete),
	    cmocka_unit_test(test_modify),
	    cmocka_unit_test(test_attrib),
	    cmocka_unit_test(test_attrib_inode_only),
	    cmocka_unit_test(test_rename),
	    cmocka_unit_test(test_moved),
	    cmocka_unit_test(test_dfid_without_name),
	    cmocka_unit_test(test_own_pid),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_many_events),
	    cmocka_unit_test(test_handle_sizes),
	    cmocka_unit_test(test_note_errors),
	    cmocka_unit_test(test_flush),
	    cmocka_unit_test(test_name_refused),
	    cmocka_unit_test(test_event_fd_closed),
	    cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_short_buffers),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_bad_event_len),
	    cmocka_unit_test(test_bad_metadata_len),
	    cmocka_unit_test(test_damaged_info),
	    cmocka_unit_test(test_damaged_fid),
	    cmocka_unit_test(test_oversized_handle),
	    cmocka_unit_test(test_unaligned_records),
	    cmocka_unit_test(test_every_byte_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
