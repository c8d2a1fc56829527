/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the journal: framing, recovery from every kind of damage,
 * segment roll and removal, failure injection and crash simulation through
 * journal-io. Each test works in its own mkdtemp directory under /tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal-io-sim.h"
#include "daemon/journal.h"
#include "fstrack.h"

/* Layout facts the tests rely on (docs/journal-format.md). */
#define HDR 64
#define FHDR 32
/* test_event(): 8-byte handle, 9-byte name: 32 + 17 = 49, padded to 56 */
#define EV 56

struct fixture {
	char base[64]; /* the mkdtemp directory */
	char dir[96];  /* the journal directory inside it */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_in(void **state, const char *parent)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/test-journal-XXXXXX", parent);
	if (!mkdtemp(f->base)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/j", f->base);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_in(state, "/tmp");
}

/*
 * The crash loops create, sync and remove thousands of files, and the
 * compaction tests commit thousands of times. The crash loops skip the
 * real syncs (jio_skip_real_sync: the simulator's tracking is the model of
 * the disk); both run in /dev/shm when there is one: on a disk mounted
 * with "discard" every unlink and sync costs milliseconds, and the disk is
 * not what they test (the tests before them run on /tmp, real syncs).
 */
static int setup_fast(void **state)
{
	return setup_in(state, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static void seg_path(char *buf, size_t size, const char *dir, uint64_t first_seq)
{
	snprintf(buf, size, "%s/seg-%016" PRIx64 ".fsj", dir, first_seq);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void xor_byte(const char *path, uint64_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void write_at(const char *path, uint64_t off, const void *data, size_t len)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void read_at(const char *path, uint64_t off, void *data, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void append_bytes(const char *path, const void *data, size_t len)
{
	write_at(path, file_size(path), data, len);
}

static void cut_file(const char *path, uint64_t len)
{
	assert_int_equal(truncate(path, (off_t)len), 0);
}

static struct journal *open_jo(const char *dir, const struct journal_options *opt)
{
	struct journal *j = NULL;

	assert_int_equal(journal_open(dir, opt, &j), 0);
	assert_non_null(j);
	return j;
}

static struct journal *open_j(const char *dir, uint64_t seg_bytes, uint64_t max_bytes,
			      struct jio *io)
{
	struct journal_options opt = {.segment_bytes = seg_bytes, .max_bytes = max_bytes, .io = io};

	return open_jo(dir, &opt);
}

/* Events whose content follows from their seq, so any reader can check them. */
static void event_content(uint64_t seq, uint8_t handle[8], char name[16])
{
	for (int i = 0; i < 8; i++)
		handle[i] = (uint8_t)(seq >> (8 * i));
	snprintf(name, 16, "f%08" PRIu64, seq % 100000000);
}

static uint64_t append_events(struct journal *j, unsigned n)
{
	uint64_t first = journal_next_seq(j);

	for (unsigned i = 0; i < n; i++) {
		uint64_t seq = journal_next_seq(j);
		uint8_t handle[8];
		char name[16];
		struct jrec r = {
		    .type = JREC_EVENT,
		    .kinds = (uint8_t)(seq * 7),
		    .time_ns = 1000000 + seq,
		    .handle_type = 1,
		    .handle_len = 8,
		    .handle = handle,
		    .name_len = 9,
		    .name = name,
		};
		event_content(seq, handle, name);
		assert_int_equal(journal_append(j, &r), 0);
		assert_int_equal(r.seq, seq);
	}
	return first;
}

/* append n events and commit without a watermark: every frame is EV bytes */
static uint64_t commit_events(struct journal *j, unsigned n)
{
	uint64_t first = append_events(j, n);

	assert_int_equal(journal_commit(j, 0), 0);
	assert_int_equal(journal_durable_seq(j), journal_next_seq(j));
	return first;
}

struct collect {
	uint64_t *seqs;
	uint8_t *types;
	size_t n, cap;
	size_t bad_content;
	size_t stop_after; /* 0: never */
};

static int collect_cb(const struct jrec *r, void *userdata)
{
	struct collect *c = userdata;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->seqs = realloc(c->seqs, c->cap * sizeof(*c->seqs));
		c->types = realloc(c->types, c->cap);
		assert_non_null(c->seqs);
		assert_non_null(c->types);
	}
	if (c->n > 0 && r->seq <= c->seqs[c->n - 1])
		c->bad_content++; /* out of order */
	c->seqs[c->n] = r->seq;
	c->types[c->n] = r->type;
	c->n++;
	if (r->type == JREC_EVENT && r->handle_len == 8 && r->name_len == 9) {
		uint8_t handle[8];
		char name[16];
		event_content(r->seq, handle, name);
		if (memcmp(handle, r->handle, 8) != 0 || memcmp(name, r->name, 9) != 0 ||
		    r->kinds != (uint8_t)(r->seq * 7) || r->time_ns != 1000000 + r->seq ||
		    r->handle_type != 1)
			c->bad_content++;
	}
	if (c->stop_after && c->n == c->stop_after)
		return 42;
	return 0;
}

static void collect_free(struct collect *c)
{
	free(c->seqs);
	free(c->types);
	*c = (struct collect){0};
}

static int read_all(struct journal *j, uint64_t from, struct collect *c)
{
	collect_free(c);
	return journal_read(j, from, collect_cb, c);
}

static bool has_seq(const struct collect *c, uint64_t seq)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->seqs[i] == seq)
			return true;
	return false;
}

/*
 * Read from 'from'; expect exactly the seqs [from, to) except those in
 * skip[], then only seqs >= to.
 */
static void expect_seqs(struct journal *j, uint64_t from, uint64_t to, const uint64_t *skip,
			size_t n_skip, int expect_rc)
{
	struct collect c = {0};
	size_t k = 0;

	assert_int_equal(read_all(j, from, &c), expect_rc);
	assert_int_equal(c.bad_content, 0);
	while (c.n > 0 && c.seqs[c.n - 1] >= to)
		c.n--;
	for (uint64_t s = from; s < to; s++) {
		bool skipped = false;
		for (size_t i = 0; i < n_skip; i++)
			skipped |= skip[i] == s;
		if (skipped) {
			assert_false(has_seq(&c, s));
			continue;
		}
		assert_true(k < c.n);
		assert_int_equal(c.seqs[k], s);
		k++;
	}
	assert_int_equal(k, c.n);
	collect_free(&c);
}

static void stats(struct journal *j, struct journal_stats *st)
{
	journal_get_stats(j, st);
}

/* ---- framing ---- */

/* Compare every field of the records read with the ones written. */
struct field_check {
	const struct jrec *expect;
	size_t n;
	size_t seen;
	size_t mismatches;
};

static int field_check_cb(const struct jrec *r, void *userdata)
{
	struct field_check *fc = userdata;
	const struct jrec *e;

	if (fc->seen >= fc->n) {
		fc->mismatches++;
		return 0;
	}
	e = &fc->expect[fc->seen++];
	if (r->seq != e->seq || r->type != e->type || r->kinds != e->kinds ||
	    r->time_ns != e->time_ns || r->handle_type != e->handle_type ||
	    r->handle_len != e->handle_len || r->name_len != e->name_len)
		fc->mismatches++;
	else if ((e->handle_len && memcmp(r->handle, e->handle, e->handle_len) != 0) ||
		 (e->name_len && memcmp(r->name, e->name, e->name_len) != 0))
		fc->mismatches++;
	return 0;
}

static void test_framing_roundtrip(void **state)
{
	struct fixture *f = *state;
	uint8_t handle[JOURNAL_HANDLE_MAX];
	char name[JOURNAL_NAME_MAX];
	struct jrec in[6];
	struct journal *j;

	for (size_t i = 0; i < sizeof(handle); i++)
		handle[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = (char)(255 - i); /* every byte value but 0 */
	name[100] = '\0';		   /* and 0: names are bytes here */
	in[0] = (struct jrec){.type = JREC_START, .time_ns = 42};
	in[1] = (struct jrec){.type = JREC_EVENT,
			      .kinds = 0xff,
			      .time_ns = UINT64_MAX,
			      .handle_type = INT32_MIN,
			      .handle_len = JOURNAL_HANDLE_MAX,
			      .handle = handle,
			      .name_len = JOURNAL_NAME_MAX,
			      .name = name};
	in[2] = (struct jrec){.type = JREC_EVENT,
			      .kinds = 0,
			      .time_ns = 0,
			      .handle_type = -1,
			      .handle_len = 1,
			      .handle = handle,
			      .name_len = 1,
			      .name = "."};
	in[3] = (struct jrec){.type = JREC_EVENT, .handle_type = INT32_MAX};
	in[4] = (struct jrec){.type = JREC_WATERMARK, .time_ns = 987654321};
	in[5] = (struct jrec){.type = JREC_CLEAN_STOP, .time_ns = 7};

	j = open_j(f->dir, 0, 0, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(journal_append(j, &in[i]), 0);
	for (int round = 0; round < 3; round++) {
		struct field_check fc = {in, 6, 0, 0};
		if (round == 1)
			assert_int_equal(journal_commit(j, 0), 0);
		if (round == 2) {
			journal_free(j);
			j = open_j(f->dir, 0, 0, NULL);
			assert_true(journal_range_intact(j, 0));
		}
		assert_int_equal(journal_read(j, 0, field_check_cb, &fc), 0);
		assert_int_equal(fc.seen, 6);
		assert_int_equal(fc.mismatches, 0);
	}
	journal_free(j);
}

static void test_append_rejects_bad_sizes(void **state)
{
	struct fixture *f = *state;
	uint8_t handle[JOURNAL_HANDLE_MAX + 1] = {0};
	char name[JOURNAL_NAME_MAX + 1] = {0};
	struct journal *j = open_j(f->dir, 0, 0, NULL);
	struct jrec r;

	r = (struct jrec){
	    .type = JREC_EVENT, .handle_len = JOURNAL_HANDLE_MAX + 1, .handle = handle};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	r = (struct jrec){.type = JREC_EVENT, .name_len = JOURNAL_NAME_MAX + 1, .name = name};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	r = (struct jrec){.type = 0};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	r = (struct jrec){.type = JREC_CLEAN_STOP + 1};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	r = (struct jrec){.type = JREC_EVENT, .handle_len = 4};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	r = (struct jrec){.type = JREC_EVENT, .name_len = 4};
	assert_int_equal(journal_append(j, &r), -EINVAL);
	assert_int_equal(journal_append(j, NULL), -EINVAL);
	assert_int_equal(journal_next_seq(j), 0);
	assert_false(journal_dirty(j));
	journal_free(j);
}

static void test_new_journal(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	char path[256];
	struct stat sb;

	j = open_j(f->dir, 0, 0, NULL);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700); /* names of files: root only */
	seg_path(path, sizeof(path), f->dir, 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, HDR);
	stats(j, &st);
	assert_int_equal(st.first_seq, 0);
	assert_int_equal(st.next_seq, 0);
	assert_int_equal(st.durable_seq, 0);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.bytes, HDR);
	assert_int_equal(st.bad_ranges, 0);
	assert_int_equal(st.watermark_ns, 0);
	assert_false(st.recovered_clean);
	assert_true(journal_range_intact(j, 0));
	assert_false(journal_range_intact(j, 1));
	/* a commit with nothing to say writes nothing */
	assert_int_equal(journal_commit(j, 0), 0);
	assert_int_equal(file_size(path), HDR);
	expect_seqs(j, 0, 0, NULL, 0, 0);
	journal_free(j);
	assert_null(journal_free(NULL));
}

static void test_uuid_stable(void **state)
{
	struct fixture *f = *state;
	char a[33], b[33], other_dir[128], path[256];
	uint8_t hdr_uuid[16];
	struct journal *j;

	j = open_j(f->dir, 512, 1 << 20, NULL);
	journal_uuid_hex(j, a);
	assert_int_equal(strlen(a), 32);
	for (int i = 0; i < 10; i++)
		commit_events(j, 5); /* several segments */
	assert_true(journal_get_segment(j, 2, &(struct journal_segment_info){0}) == 0);
	journal_free(j);
	j = open_j(f->dir, 512, 1 << 20, NULL);
	journal_uuid_hex(j, b);
	assert_string_equal(a, b);
	/* every segment header carries it */
	for (size_t i = 0;; i++) {
		struct journal_segment_info si;
		if (journal_get_segment(j, i, &si) < 0)
			break;
		snprintf(path, sizeof(path), "%s/%s", f->dir, si.name);
		read_at(path, 24, hdr_uuid, 16);
		assert_memory_equal(hdr_uuid, journal_uuid(j), 16);
	}
	journal_free(j);
	snprintf(other_dir, sizeof(other_dir), "%s/other", f->base);
	j = open_j(other_dir, 0, 0, NULL);
	journal_uuid_hex(j, b);
	assert_string_not_equal(a, b);
	journal_free(j);
}

/* ---- damage ---- */

static void test_checksum_flip_middle(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	uint64_t from, to, bad = 45;
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	for (int i = 0; i < 10; i++)
		commit_events(j, 10); /* seqs 0..99, ten commits */
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	assert_int_equal(file_size(path), HDR + 100 * EV);
	xor_byte(path, HDR + bad * EV + FHDR + 3, 0x10); /* one byte of its handle */

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 1);
	assert_int_equal(st.corrupt_bytes, EV);
	assert_int_equal(st.truncated_bytes, 0);
	assert_int_equal(st.next_seq, 100);
	assert_int_equal(journal_get_bad_range(j, 0, &from, &to), 0);
	assert_int_equal(from, bad);
	assert_int_equal(to, bad + 1);
	assert_int_equal(journal_get_bad_range(j, 1, &from, &to), -ENOENT);
	/* later records are still read; known damage is not an error */
	expect_seqs(j, 0, 100, &bad, 1, 0);
	expect_seqs(j, bad + 1, 100, NULL, 0, 0);
	for (uint64_t s = 0; s <= bad; s++)
		assert_false(journal_range_intact(j, s));
	for (uint64_t s = bad + 1; s <= 100; s++)
		assert_true(journal_range_intact(j, s));
	/* the journal goes on */
	commit_events(j, 3);
	journal_free(j);
	j = open_j(f->dir, 0, 0, NULL);
	assert_false(journal_range_intact(j, bad));
	assert_true(journal_range_intact(j, bad + 1));
	expect_seqs(j, bad + 1, 103, NULL, 0, 0);
	journal_free(j);
}

static void test_several_bad_frames(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	uint64_t skip[] = {10, 11, 12, 30};
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	for (int i = 0; i < 5; i++)
		commit_events(j, 10);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	/* three frames in a row zeroed (a lost sector), one with a bad length */
	{
		uint8_t zero[3 * EV] = {0};
		write_at(path, HDR + 10 * EV, zero, sizeof(zero));
	}
	xor_byte(path, HDR + 30 * EV, 0x40);
	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 2);
	assert_int_equal(st.corrupt_bytes, 4 * EV);
	expect_seqs(j, 0, 50, skip, 4, 0);
	assert_false(journal_range_intact(j, 30));
	assert_true(journal_range_intact(j, 31));
	journal_free(j);
}

static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 10);
	commit_events(j, 10);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	cut_file(path, HDR + 20 * EV - 20); /* the last frame half there */

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, EV - 20);
	assert_int_equal(st.bad_ranges, 0);
	assert_int_equal(st.next_seq, 19); /* seq 19 was never durable: it is given again */
	assert_int_equal(file_size(path), HDR + 19 * EV);
	assert_true(journal_range_intact(j, 0));
	assert_true(journal_range_intact(j, 19));
	expect_seqs(j, 0, 19, NULL, 0, 0);
	commit_events(j, 5);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, 0);
	assert_int_equal(st.next_seq, 24);
	expect_seqs(j, 0, 24, NULL, 0, 0);
	journal_free(j);

	/* cut inside the frame header, and right after the segment header */
	cut_file(path, HDR + 3);
	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, 3);
	assert_int_equal(st.next_seq, 0);
	assert_int_equal(st.bad_ranges, 0);
	journal_free(j);
}

static void test_garbage_appended(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	uint8_t junk[1000], frame[EV];
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 20);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	append_bytes(path, junk, sizeof(junk));
	/* a stale copy of a valid frame after the junk: right salt, old seq */
	read_at(path, HDR + 3 * EV, frame, sizeof(frame));
	append_bytes(path, frame, sizeof(frame));

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, sizeof(junk) + EV);
	assert_int_equal(st.bad_ranges, 0);
	assert_int_equal(st.corrupt_bytes, 0);
	assert_int_equal(st.next_seq, 20);
	expect_seqs(j, 0, 20, NULL, 0, 0);
	journal_free(j);
	assert_int_equal(file_size(path), HDR + 20 * EV);
}

static void test_frame_from_other_segment(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint8_t frame[EV];
	char p0[256], p1[256];
	uint64_t seg1_first, bad;

	/* 512-byte segments: 8 events each */
	j = open_j(f->dir, 512, 1 << 20, NULL);
	for (int i = 0; i < 4; i++)
		commit_events(j, 8);
	journal_free(j);
	seg_path(p0, sizeof(p0), f->dir, 0);
	seg1_first = 8;
	seg_path(p1, sizeof(p1), f->dir, seg1_first);
	assert_true(file_exists(p1));
	/* segment 1's frame 2 replaced by segment 0's frame 2: valid there, not here */
	read_at(p0, HDR + 2 * EV, frame, sizeof(frame));
	write_at(p1, HDR + 2 * EV, frame, sizeof(frame));
	bad = seg1_first + 2;
	j = open_j(f->dir, 512, 1 << 20, NULL);
	expect_seqs(j, 0, 32, &bad, 1, 0);
	assert_false(journal_range_intact(j, bad));
	assert_true(journal_range_intact(j, bad + 1));
	journal_free(j);
}

static void test_missing_middle_segment(void **state)
{
	struct fixture *f = *state;
	struct journal_segment_info si;
	struct journal_stats st;
	struct journal *j;
	uint64_t from, to;
	char path[256];

	j = open_j(f->dir, 512, 1 << 20, NULL);
	for (int i = 0; i < 4; i++)
		commit_events(j, 8); /* segments 0, 8, 16, 24 */
	stats(j, &st);
	assert_int_equal(st.segments, 4);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 16);
	assert_int_equal(unlink(path), 0);

	j = open_j(f->dir, 512, 1 << 20, NULL);
	stats(j, &st);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.bad_ranges, 1);
	assert_int_equal(journal_get_bad_range(j, 0, &from, &to), 0);
	assert_int_equal(from, 16);
	assert_int_equal(to, 24);
	assert_int_equal(journal_get_segment(j, 1, &si), 0);
	assert_int_equal(si.first_seq, 8);
	assert_int_equal(si.end_seq, 16);
	{
		uint64_t skip[8];
		for (int i = 0; i < 8; i++)
			skip[i] = 16 + (uint64_t)i;
		expect_seqs(j, 0, 32, skip, 8, 0);
	}
	assert_false(journal_range_intact(j, 0));
	assert_false(journal_range_intact(j, 16));
	assert_false(journal_range_intact(j, 23));
	assert_true(journal_range_intact(j, 24));
	assert_true(journal_range_intact(j, 32));
	journal_free(j);
}

static void set_version(const char *path, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	write_at(path, 8, b, 4);
}

static void test_other_format_version(void **state)
{
	struct fixture *f = *state;
	struct journal_segment_info si;
	struct journal_stats st;
	struct journal *j;
	char path[256];

	j = open_j(f->dir, 512, 1 << 20, NULL);
	for (int i = 0; i < 4; i++)
		commit_events(j, 8);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 8);
	set_version(path, JOURNAL_FORMAT_VERSION + 1);

	j = open_j(f->dir, 512, 1 << 20, NULL);
	stats(j, &st);
	assert_int_equal(st.broken_segments, 1);
	assert_int_equal(st.bad_ranges, 1);
	assert_int_equal(journal_get_segment(j, 1, &si), 0);
	assert_non_null(si.problem);
	assert_non_null(strstr(si.problem, "format version 2"));
	assert_false(journal_range_intact(j, 0));
	assert_false(journal_range_intact(j, 15));
	assert_true(journal_range_intact(j, 16));
	{
		uint64_t skip[8];
		for (int i = 0; i < 8; i++)
			skip[i] = 8 + (uint64_t)i;
		expect_seqs(j, 0, 32, skip, 8, 0);
	}
	/* still appends where it left off */
	assert_int_equal(journal_next_seq(j), 32);
	commit_events(j, 2);
	journal_free(j);
	/* the file was left alone */
	assert_true(file_exists(path));
}

static void test_newest_segment_broken(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	uint64_t next;
	char path[256];

	j = open_j(f->dir, 512, 1 << 20, NULL);
	for (int i = 0; i < 3; i++)
		commit_events(j, 8); /* 0, 8, 16 */
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 16);
	xor_byte(path, 50, 0x01); /* the salt: header checksum fails */

	j = open_j(f->dir, 512, 1 << 20, NULL);
	stats(j, &st);
	assert_int_equal(st.broken_segments, 1);
	/* its seqs cannot be known: skip past any it could hold */
	next = journal_next_seq(j);
	assert_true(next > 24);
	assert_false(journal_range_intact(j, 16));
	assert_false(journal_range_intact(j, 24));
	assert_true(journal_range_intact(j, next));
	commit_events(j, 4);
	stats(j, &st);
	assert_int_equal(st.segments, 4);
	journal_free(j);
	j = open_j(f->dir, 512, 1 << 20, NULL);
	assert_true(journal_range_intact(j, next));
	expect_seqs(j, next, next + 4, NULL, 0, 0);
	expect_seqs(j, 0, 16, NULL, 0, 0);
	journal_free(j);
}

static void test_other_uuid_segment(void **state)
{
	struct fixture *f = *state;
	struct journal_segment_info si;
	struct journal *a, *b;
	char other[128], pa[256], pb[256];
	uint8_t buf[512];
	ssize_t n;
	int fd;

	snprintf(other, sizeof(other), "%s/other", f->base);
	a = open_j(f->dir, 512, 1 << 20, NULL);
	b = open_j(other, 512, 1 << 20, NULL);
	for (int i = 0; i < 3; i++) {
		commit_events(a, 8);
		commit_events(b, 8);
	}
	journal_free(a);
	journal_free(b);
	/* b's segment 8 put in place of a's: same name, valid, another journal */
	seg_path(pa, sizeof(pa), f->dir, 8);
	seg_path(pb, sizeof(pb), other, 8);
	fd = open(pb, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > HDR);
	cut_file(pa, 0);
	write_at(pa, 0, buf, (size_t)n);

	a = open_j(f->dir, 512, 1 << 20, NULL);
	assert_int_equal(journal_get_segment(a, 1, &si), 0);
	assert_non_null(si.problem);
	assert_string_equal(si.problem, "other journal uuid");
	assert_false(journal_range_intact(a, 8));
	assert_true(journal_range_intact(a, 16));
	expect_seqs(a, 16, 24, NULL, 0, 0);
	journal_free(a);
}

static void test_no_usable_segment(void **state)
{
	struct fixture *f = *state;
	char old_uuid[33], new_uuid[33], path[256], aside[300];
	struct journal_stats st;
	struct journal *j;

	j = open_j(f->dir, 512, 1 << 20, NULL);
	journal_uuid_hex(j, old_uuid);
	for (int i = 0; i < 2; i++)
		commit_events(j, 8); /* 0, 8 */
	journal_free(j);
	for (uint64_t s = 0; s <= 8; s += 8) {
		seg_path(path, sizeof(path), f->dir, s);
		set_version(path, 77);
	}
	/* read-only: reports, changes nothing */
	{
		struct journal_options ro = {.read_only = true};
		assert_int_equal(journal_open(f->dir, &ro, &j), 0);
		stats(j, &st);
		assert_int_equal(st.broken_segments, 2);
		journal_free(j);
		assert_true(file_exists(path));
	}
	j = open_j(f->dir, 512, 1 << 20, NULL);
	journal_uuid_hex(j, new_uuid);
	assert_string_not_equal(old_uuid, new_uuid);
	stats(j, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.bad_ranges, 0);
	assert_true(st.first_seq >= 16); /* past every seq the old files could hold */
	assert_int_equal(st.first_seq, st.next_seq);
	assert_true(journal_range_intact(j, st.next_seq));
	/* the old files are kept aside, out of the way */
	assert_false(file_exists(path));
	snprintf(aside, sizeof(aside), "%s.broken", path);
	assert_true(file_exists(aside));
	commit_events(j, 3);
	journal_free(j);
	j = open_j(f->dir, 512, 1 << 20, NULL);
	journal_uuid_hex(j, old_uuid);
	assert_string_equal(old_uuid, new_uuid);
	expect_seqs(j, st.first_seq, st.first_seq + 3, NULL, 0, 0);
	journal_free(j);
}

static void test_tmp_leftover_removed(void **state)
{
	struct fixture *f = *state;
	struct journal_options ro = {.read_only = true};
	struct journal *j;
	char path[256];
	int fd;

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 2);
	journal_free(j);
	snprintf(path, sizeof(path), "%s/seg-0000000000000002.fsj.tmp", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "half", 4), 4);
	close(fd);
	assert_int_equal(journal_open(f->dir, &ro, &j), 0);
	journal_free(j);
	assert_true(file_exists(path));
	j = open_j(f->dir, 0, 0, NULL);
	assert_int_equal(journal_next_seq(j), 2);
	journal_free(j);
	assert_false(file_exists(path));
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	struct journal_options ro = {.read_only = true};
	struct journal_stats st;
	struct journal *j;
	struct jrec r = {.type = JREC_START};
	char path[256], missing[128];

	snprintf(missing, sizeof(missing), "%s/missing", f->base);
	assert_int_equal(journal_open(missing, &ro, &j), -ENOENT);
	assert_false(file_exists(missing));

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 10);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	cut_file(path, HDR + 10 * EV - 10); /* into the name of the last frame */
	assert_int_equal(journal_open(f->dir, &ro, &j), 0);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, EV - 10);
	assert_int_equal(st.next_seq, 9);
	expect_seqs(j, 0, 9, NULL, 0, 0);
	assert_int_equal(journal_append(j, &r), -EROFS);
	assert_int_equal(journal_commit(j, 5), -EROFS);
	assert_int_equal(journal_close_clean(j, 5), -EROFS);
	journal_free(j);
	assert_int_equal(file_size(path), HDR + 10 * EV - 10); /* untouched */
}

/* ---- segments ---- */

/* Removal instead of compaction (no_summary): the oldest segments go, their tokens with them. */
static void test_roll_and_max_bytes(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {.segment_bytes = 1024, .max_bytes = 4096, .no_summary = true};
	struct journal_stats st, st2;
	struct journal *j;
	uint64_t prev_first = 0;
	bool advanced = false;
	char path[256];

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 40; i++) {
		commit_events(j, 6);
		stats(j, &st);
		assert_true(st.bytes <= 4096 + 1024 + 6 * EV);
		assert_true(st.first_seq >= prev_first);
		advanced |= st.first_seq > prev_first;
		prev_first = st.first_seq;
		/* everything kept reads back, intact */
		assert_true(journal_range_intact(j, st.first_seq));
		if (st.first_seq > 0)
			assert_false(journal_range_intact(j, st.first_seq - 1));
	}
	assert_true(advanced);
	stats(j, &st);
	assert_true(st.segments >= 3);
	assert_true(st.first_seq > 0);
	assert_int_equal(st.next_seq, 240);
	expect_seqs(j, st.first_seq, 240, NULL, 0, 0);
	/* the oldest files are really gone */
	seg_path(path, sizeof(path), f->dir, 0);
	assert_false(file_exists(path));
	assert_int_equal(st.compactions, 0);
	assert_int_equal(st.summary_bytes, 0);
	assert_int_equal(st.summary_from_seq, st.first_seq);
	assert_int_equal(journal_range_check(j, st.first_seq - 1, 0, 0), JOURNAL_RANGE_GONE);
	journal_free(j);

	j = open_jo(f->dir, &opt);
	stats(j, &st2);
	assert_int_equal(st2.first_seq, st.first_seq);
	assert_int_equal(st2.next_seq, 240);
	assert_int_equal(st2.segments, st.segments);
	assert_int_equal(st2.bytes, st.bytes);
	assert_int_equal(st2.bad_ranges, 0);
	{
		/* from before first_seq: what is kept */
		struct collect c = {0};
		assert_int_equal(read_all(j, 0, &c), 0);
		assert_int_equal(c.n, 240 - st2.first_seq);
		assert_int_equal(c.seqs[0], st2.first_seq);
		collect_free(&c);
	}
	journal_free(j);
}

/* A lost range is forgotten once the segments around it are removed. */
static void test_bad_range_ages_out(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;

	j = open_j(f->dir, 1024, 3000, io);
	commit_events(j, 4);
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -ENOSPC, 0);
	append_events(j, 3);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 1);
	assert_false(journal_range_intact(j, 4));
	while (journal_first_seq(j) <= 6)
		commit_events(j, 6);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 0);
	assert_true(journal_range_intact(j, st.first_seq));
	assert_false(journal_range_intact(j, 4)); /* older than what is kept */
	journal_free(j);
	j = open_j(f->dir, 1024, 3000, NULL);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 0);
	assert_true(journal_range_intact(j, st.first_seq));
	journal_free(j);
	jio_free(io);
}

static void test_read_positions(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct journal *j;
	const unsigned n = 5000; /* 280 KB: several index marks in one segment */

	j = open_j(f->dir, 0, 0, NULL);
	for (unsigned i = 0; i < 10; i++)
		commit_events(j, n / 10);
	append_events(j, 7); /* and some in the buffer */
	for (uint64_t from = 0; from <= n + 7; from += 331)
		expect_seqs(j, from, n + 7, NULL, 0, 0);
	expect_seqs(j, n - 1, n + 7, NULL, 0, 0);
	expect_seqs(j, n, n + 7, NULL, 0, 0);
	expect_seqs(j, n + 7, n + 7, NULL, 0, 0);
	expect_seqs(j, UINT64_MAX, n + 7, NULL, 0, 0);
	/* the callback stops the walk, and its value comes back */
	c.stop_after = 10;
	assert_int_equal(journal_read(j, 100, collect_cb, &c), 42);
	assert_int_equal(c.n, 10);
	collect_free(&c);
	c.stop_after = 2;
	assert_int_equal(journal_read(j, n + 3, collect_cb, &c), 42);
	collect_free(&c);
	assert_int_equal(journal_commit(j, 0), 0);
	journal_free(j);
	j = open_j(f->dir, 0, 0, NULL);
	for (uint64_t from = 1; from <= n + 7; from += 997)
		expect_seqs(j, from, n + 7, NULL, 0, 0);
	journal_free(j);
}

static void test_read_detects_change(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t bad = 7;
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 10);
	commit_events(j, 10);
	seg_path(path, sizeof(path), f->dir, 0);
	assert_true(journal_range_intact(j, 0));
	xor_byte(path, HDR + bad * EV + 40, 0x80); /* damaged after open */
	expect_seqs(j, 0, 20, &bad, 1, -EBADMSG);
	assert_false(journal_range_intact(j, 0));
	assert_true(journal_range_intact(j, bad + 1));
	/* the tail cut under us: records we knew of are missing */
	cut_file(path, HDR + 15 * EV);
	{
		struct collect c = {0};
		assert_int_equal(read_all(j, 10, &c), -EBADMSG);
		assert_int_equal(c.n, 5);
		collect_free(&c);
	}
	assert_false(journal_range_intact(j, 12));
	journal_free(j);
}

static void test_range_intact_edges(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_j(f->dir, 0, 0, NULL);

	commit_events(j, 5);
	assert_true(journal_range_intact(j, 0));
	assert_true(journal_range_intact(j, 5));
	assert_false(journal_range_intact(j, 6));
	assert_false(journal_range_intact(j, UINT64_MAX));
	append_events(j, 2); /* buffered records count as present */
	assert_true(journal_range_intact(j, 7));
	assert_true(journal_range_intact(j, 3));
	journal_free(j);
}

/* ---- watermark, clean stop ---- */

static void test_watermark(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j = open_j(f->dir, 0, 0, NULL);

	assert_int_equal(journal_commit(j, 100), 0); /* a watermark alone */
	assert_int_equal(journal_next_seq(j), 1);
	stats(j, &st);
	assert_int_equal(st.watermark_ns, 100);
	assert_int_equal(journal_commit(j, 50), 0); /* never goes back */
	assert_int_equal(journal_next_seq(j), 1);
	append_events(j, 3);
	assert_int_equal(journal_commit(j, 100), 0); /* not larger: no record */
	assert_int_equal(journal_next_seq(j), 4);
	append_events(j, 3);
	assert_int_equal(journal_commit(j, 200), 0);
	assert_int_equal(journal_next_seq(j), 8);
	stats(j, &st);
	assert_int_equal(st.watermark_ns, 200);
	assert_int_equal(st.commits, 3);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.watermark_ns, 200);
	assert_false(st.recovered_clean);
	{
		struct collect c = {0};
		assert_int_equal(read_all(j, 0, &c), 0);
		assert_int_equal(c.n, 8);
		assert_int_equal(c.types[0], JREC_WATERMARK);
		assert_int_equal(c.types[7], JREC_WATERMARK);
		collect_free(&c);
	}
	journal_free(j);
}

static void test_clean_stop(void **state)
{
	struct fixture *f = *state;
	struct journal_stats st;
	struct journal *j;
	struct jrec start = {.type = JREC_START, .time_ns = 9};
	char path[256];
	uint8_t junk[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 4);
	assert_int_equal(journal_close_clean(j, 1234), 0);
	assert_int_equal(journal_durable_seq(j), 5);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_true(st.recovered_clean);
	assert_int_equal(journal_append(j, &start), 0);
	assert_int_equal(journal_commit(j, 0), 0);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL); /* killed after starting: not clean */
	stats(j, &st);
	assert_false(st.recovered_clean);
	assert_int_equal(journal_close_clean(j, 99), 0);
	journal_free(j);

	/* a torn tail after the clean stop does not change that it stopped cleanly */
	seg_path(path, sizeof(path), f->dir, 0);
	append_bytes(path, junk, sizeof(junk));
	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_true(st.recovered_clean);
	assert_int_equal(st.truncated_bytes, sizeof(junk));
	journal_free(j);
}

/* ---- failures ---- */

static void test_enospc_on_write(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;
	uint64_t token, lost[5];
	char path[256];

	assert_non_null(io);
	j = open_j(f->dir, 0, 0, io);
	commit_events(j, 10);
	token = journal_durable_seq(j); /* a token the daemon handed out */
	/* the next write puts half its bytes in the file, then ENOSPC */
	assert_int_equal(
	    jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -ENOSPC, 2 * EV + 10), 0);
	append_events(j, 5);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	for (int i = 0; i < 5; i++)
		lost[i] = 10 + (uint64_t)i;
	stats(j, &st);
	assert_int_equal(st.failed_commits, 1);
	assert_int_equal(st.lost_records, 5);
	assert_int_equal(st.durable_seq, 10);
	assert_int_equal(st.next_seq, 15); /* never given again */
	assert_false(journal_dirty(j));
	assert_false(journal_range_intact(j, token));
	seg_path(path, sizeof(path), f->dir, 0);
	assert_int_equal(file_size(path), HDR + 10 * EV); /* cut back */
	expect_seqs(j, 0, 15, lost, 5, 0);

	/* still usable */
	commit_events(j, 3);
	token = journal_durable_seq(j);
	assert_int_equal(token, 18);
	assert_true(journal_range_intact(j, token));
	assert_true(journal_range_intact(j, 15));
	assert_false(journal_range_intact(j, 14));
	expect_seqs(j, 0, 18, lost, 5, 0);
	journal_free(j);

	/* the loss is on disk too: the seq gap */
	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.truncated_bytes, 0);
	assert_int_equal(st.bad_ranges, 1);
	assert_false(journal_range_intact(j, 10));
	assert_true(journal_range_intact(j, 15));
	assert_int_equal(journal_next_seq(j), 18);
	expect_seqs(j, 0, 18, lost, 5, 0);
	journal_free(j);
	jio_free(io);
}

static void test_eio_on_fdatasync(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;
	uint64_t lost[4] = {6, 7, 8, 9};

	j = open_j(f->dir, 0, 0, io);
	commit_events(j, 6);
	assert_int_equal(jio_fail_nth(io, JIO_DATASYNC, jio_count(io, JIO_DATASYNC) + 1, -EIO, 0),
			 0);
	append_events(j, 3);
	assert_int_equal(journal_commit(j, 500), -EIO); /* 3 events + watermark lost */
	stats(j, &st);
	assert_int_equal(st.lost_records, 4);
	assert_int_equal(st.watermark_ns, 0); /* the watermark did not become durable */
	assert_false(journal_range_intact(j, 6));
	/* after a writeback error the file is not trusted: a new segment */
	commit_events(j, 2);
	stats(j, &st);
	assert_int_equal(st.segments, 2);
	assert_true(journal_range_intact(j, 10));
	expect_seqs(j, 0, 12, lost, 4, 0);
	assert_int_equal(journal_commit(j, 600), 0);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.watermark_ns, 600);
	assert_false(journal_range_intact(j, 6));
	assert_true(journal_range_intact(j, 10));
	expect_seqs(j, 0, 13, lost, 4, 0);
	journal_free(j);
	jio_free(io);
}

static void test_failed_commit_then_empty_commit(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal *j;

	j = open_j(f->dir, 0, 0, io);
	commit_events(j, 3);
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -ENOSPC, 0);
	append_events(j, 4);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	assert_int_equal(journal_durable_seq(j), 3);
	assert_int_equal(journal_next_seq(j), 7);
	/* nothing buffered, yet next_seq must reach the disk: a watermark carries it */
	assert_int_equal(journal_commit(j, 0), 0);
	assert_int_equal(journal_durable_seq(j), 8);
	assert_int_equal(journal_next_seq(j), 8);
	journal_free(j);
	j = open_j(f->dir, 0, 0, NULL);
	assert_int_equal(journal_next_seq(j), 8); /* 3..6 are never reused */
	assert_false(journal_range_intact(j, 3));
	assert_true(journal_range_intact(j, 7));
	assert_true(journal_range_intact(j, 8));
	journal_free(j);
	jio_free(io);
}

static void test_truncate_fails_too(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;
	uint64_t lost[5] = {4, 5, 6, 7, 8};

	j = open_j(f->dir, 0, 0, io);
	commit_events(j, 4);
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -EIO, 3 * EV);
	jio_fail_nth(io, JIO_TRUNCATE, jio_count(io, JIO_TRUNCATE) + 1, -EIO, 0);
	append_events(j, 5);
	assert_int_equal(journal_commit(j, 0), -EIO);
	commit_events(j, 2); /* goes to a new segment: the old one has junk at its end */
	stats(j, &st);
	assert_int_equal(st.segments, 2);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	/*
	 * Three whole frames of the failed commit reached the first file. They
	 * are true events and intact, so they count; the rest is a bad range.
	 */
	assert_int_equal(st.bad_ranges, 1);
	assert_true(journal_range_intact(j, 9));
	assert_false(journal_range_intact(j, 4));
	expect_seqs(j, 0, 11, lost + 3, 2, 0);
	journal_free(j);
	jio_free(io);
}

static void test_roll_failure(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;
	char tmp[256];

	j = open_j(f->dir, 512, 1 << 20, io);
	commit_events(j, 8); /* fills segment 0 */
	/* the rename of the new segment fails */
	jio_fail_nth(io, JIO_RENAME, jio_count(io, JIO_RENAME) + 1, -EIO, 0);
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), -EIO);
	snprintf(tmp, sizeof(tmp), "%s/seg-0000000000000008.fsj.tmp", f->dir);
	assert_false(file_exists(tmp));
	/* the directory sync after the rename fails */
	jio_fail_nth(io, JIO_FSYNC_DIR, jio_count(io, JIO_FSYNC_DIR) + 1, -EIO, 0);
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), -EIO);
	/* creating it fails */
	jio_fail_nth(io, JIO_OPEN, jio_count(io, JIO_OPEN) + 1, -ENOSPC, 0);
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	stats(j, &st);
	assert_int_equal(st.failed_commits, 3);
	assert_int_equal(st.segments, 1);
	commit_events(j, 2);
	stats(j, &st);
	assert_int_equal(st.segments, 2);
	assert_int_equal(journal_first_seq(j), 0);
	assert_false(journal_range_intact(j, 8));
	assert_true(journal_range_intact(j, 14));
	journal_free(j);
	j = open_j(f->dir, 512, 1 << 20, NULL);
	assert_false(journal_range_intact(j, 8));
	assert_true(journal_range_intact(j, 14));
	expect_seqs(j, 14, 16, NULL, 0, 0);
	expect_seqs(j, 0, 8, NULL, 0, 0);
	journal_free(j);
	jio_free(io);
}

/* The newest segment is all torn tail and cannot be cut: the roll replaces it. */
static void test_roll_replaces_empty_newest(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;
	char path[256];

	j = open_j(f->dir, 0, 0, NULL);
	commit_events(j, 1);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 0);
	cut_file(path, HDR + 20); /* not one whole frame */

	jio_fail_nth(io, JIO_TRUNCATE, 1, -EIO, 0);
	j = open_j(f->dir, 0, 0, io);
	assert_int_equal(journal_next_seq(j), 0);
	/* first try: the new file's name does not become durable, and is removed */
	jio_fail_nth(io, JIO_FSYNC_DIR, jio_count(io, JIO_FSYNC_DIR) + 1, -EIO, 0);
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), -EIO);
	stats(j, &st);
	assert_int_equal(st.segments, 0);
	assert_false(file_exists(path));
	/* then it works, at the seqs after the lost ones */
	commit_events(j, 3);
	stats(j, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.first_seq, 0);
	expect_seqs(j, 2, 5, NULL, 0, 0);
	journal_free(j);
	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.first_seq, 2);
	assert_int_equal(st.next_seq, 5);
	assert_int_equal(st.bad_ranges, 0);
	expect_seqs(j, 2, 5, NULL, 0, 0);
	journal_free(j);
	jio_free(io);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal *j = NULL;
	char file[128];
	int fd;

	/* a real I/O error while creating the journal fails the open */
	jio_fail_nth(io, JIO_DATASYNC, 1, -ENOSPC, 0);
	assert_int_equal(journal_open(f->dir, &(struct journal_options){.io = io}, &j), -ENOSPC);
	assert_null(j);
	jio_clear_faults(io);
	/* a file where the directory should be */
	snprintf(file, sizeof(file), "%s/file", f->base);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_true(journal_open(file, NULL, &j) < 0);
	assert_int_equal(journal_open(NULL, NULL, &j), -EINVAL);
	jio_free(io);
}

/* ---- crash simulation ---- */

static void test_crash_drops_unsynced(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_stats st;
	struct journal *j;

	assert_int_equal(jio_track_unsynced(io, true), 0);
	j = open_j(f->dir, 0, 0, io);
	commit_events(j, 10);
	assert_int_equal(journal_commit(j, 77), 0);
	/* written but the sync "fails": the data never reached the disk */
	jio_fail_nth(io, JIO_DATASYNC, jio_count(io, JIO_DATASYNC) + 1, -EIO, 0);
	jio_fail_nth(io, JIO_TRUNCATE, jio_count(io, JIO_TRUNCATE) + 1, -EIO, 0);
	append_events(j, 5);
	assert_int_equal(journal_commit(j, 88), -EIO);
	append_events(j, 3); /* only buffered */
	assert_int_equal(jio_crash(io, 0), 0);
	journal_free(j);

	j = open_j(f->dir, 0, 0, NULL);
	stats(j, &st);
	assert_int_equal(st.next_seq, 11);
	assert_int_equal(st.watermark_ns, 77);
	assert_int_equal(st.bad_ranges, 0);
	assert_true(journal_range_intact(j, 11)); /* the last token handed out */
	assert_true(journal_range_intact(j, 0));
	expect_seqs(j, 0, 11, NULL, 0, 0);
	journal_free(j);
	jio_free(io);
}

static void test_crash_loses_new_segment_name(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal *j;
	char path[256];

	assert_int_equal(jio_track_unsynced(io, true), 0);
	j = open_j(f->dir, 512, 1 << 20, io);
	commit_events(j, 8);
	/* the roll's directory sync fails: the new name is not durable */
	jio_fail_nth(io, JIO_FSYNC_DIR, jio_count(io, JIO_FSYNC_DIR) + 1, -EIO, 0);
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), -EIO);
	assert_int_equal(jio_crash(io, 0), 0);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, 8);
	assert_false(file_exists(path));
	j = open_j(f->dir, 512, 1 << 20, NULL);
	assert_int_equal(journal_next_seq(j), 8);
	assert_true(journal_range_intact(j, 8));
	expect_seqs(j, 0, 8, NULL, 0, 0);
	journal_free(j);
	jio_free(io);
}

/* Power fails at call number cut_at: that call and every later one fail. */
struct power {
	uint64_t cut_at; /* 0: never */
	bool dead;
};

static int power_hook(void *userdata, const struct jio_call *call, size_t *ret_partial)
{
	struct power *p = userdata;

	if (p->dead)
		return -EIO;
	if (p->cut_at && call->seq >= p->cut_at) {
		p->dead = true;
		if (call->op == JIO_WRITE)
			*ret_partial = call->len / 2;
		return -EIO;
	}
	return 0;
}

struct model {
	bool opened;
	uint64_t acked; /* durable_seq after the last successful commit */
	uint64_t first; /* first_seq then */
	uint64_t wm;	/* watermark then */
	bool clean;	/* the last successful commit was the clean stop */
};

static void crash_workload(const char *dir, struct jio *io, struct model *m)
{
	struct journal_options opt = {.segment_bytes = 700, .max_bytes = 2500, .io = io};
	struct journal *j;

	*m = (struct model){0};
	if (journal_open(dir, &opt, &j) < 0)
		return;
	m->opened = true;
	m->first = journal_first_seq(j);
	m->acked = journal_durable_seq(j);
	for (int c = 0; c < 14; c++) {
		append_events(j, 4);
		if (journal_commit(j, 1000 + (uint64_t)c) == 0) {
			m->acked = journal_durable_seq(j);
			m->first = journal_first_seq(j);
			m->wm = 1000 + (uint64_t)c;
		}
	}
	if (journal_close_clean(j, 5000) == 0) {
		m->acked = journal_durable_seq(j);
		m->first = journal_first_seq(j);
		m->clean = true;
	}
	journal_free(j);
}

struct crash_check {
	uint64_t expect; /* next seq expected */
	uint64_t end;
	size_t errors;
};

static int crash_check_cb(const struct jrec *r, void *userdata)
{
	struct crash_check *cc = userdata;

	if (r->seq >= cc->end)
		return 0;
	if (r->seq != cc->expect)
		cc->errors++;
	cc->expect = r->seq + 1;
	if (r->type == JREC_EVENT) {
		uint8_t handle[8];
		char name[16];
		event_content(r->seq, handle, name);
		if (r->handle_len != 8 || memcmp(handle, r->handle, 8) != 0 || r->name_len != 9 ||
		    memcmp(name, r->name, 9) != 0)
			cc->errors++;
	}
	return 0;
}

static void crash_at(const char *base, uint64_t cut_at, uint32_t seed, uint64_t *ret_total)
{
	char dir[128];
	struct jio *io = jio_new();
	struct power p = {.cut_at = cut_at};
	struct journal_stats st;
	struct model m;
	struct journal *j;
	struct crash_check cc;

	snprintf(dir, sizeof(dir), "%s/crash", base);
	assert_non_null(io);
	jio_skip_real_sync(io, true);
	assert_int_equal(jio_track_unsynced(io, true), 0);
	jio_set_fault(io, power_hook, &p);
	crash_workload(dir, io, &m);
	if (ret_total) {
		*ret_total = 0;
		for (int op = 0; op < _JIO_OP_MAX; op++)
			*ret_total += jio_count(io, (enum jio_op)op);
	}
	assert_int_equal(jio_crash(io, seed), 0);
	jio_free(io);

	/* after the power cut: everything acknowledged is there, the last token is intact */
	assert_int_equal(journal_open(dir, NULL, &j), 0);
	stats(j, &st);
	if (m.opened) {
		if (st.next_seq < m.acked || !journal_range_intact(j, m.acked) ||
		    (m.acked > m.first && !journal_range_intact(j, m.first)) ||
		    st.watermark_ns < m.wm || (m.clean && !st.recovered_clean) ||
		    st.first_seq > m.first)
			fail_msg("cut at call %" PRIu64 " seed %u: next %" PRIu64 " acked %" PRIu64
				 " first %" PRIu64 "/%" PRIu64 " wm %" PRIu64 "/%" PRIu64
				 " bad %" PRIu64 " clean %d/%d",
				 cut_at, seed, st.next_seq, m.acked, st.first_seq, m.first,
				 st.watermark_ns, m.wm, st.bad_ranges, st.recovered_clean, m.clean);
		cc = (struct crash_check){.expect = m.first, .end = m.acked};
		assert_int_equal(journal_read(j, m.first, crash_check_cb, &cc), 0);
		if (cc.errors || cc.expect != m.acked)
			fail_msg("cut at call %" PRIu64 " seed %u: records %" PRIu64 "..%" PRIu64
				 " read up to %" PRIu64 ", %zu errors",
				 cut_at, seed, m.first, m.acked, cc.expect, cc.errors);
	}
	/* and it goes on */
	append_events(j, 2);
	assert_int_equal(journal_commit(j, 0), 0);
	journal_free(j);
	j = open_j(dir, 0, 0, NULL);
	assert_int_equal(journal_durable_seq(j), st.next_seq + 2);
	journal_free(j);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_crash_at_every_call(void **state)
{
	struct fixture *f = *state;
	uint64_t total = 0;

	crash_at(f->base, 0, 0, &total); /* no cut: count the calls */
	assert_true(total > 50);
	for (uint64_t cut = 1; cut <= total; cut++) {
		crash_at(f->base, cut, 0, NULL);
		crash_at(f->base, cut, (uint32_t)(cut * 2654435761u) | 1, NULL);
	}
}

/* jio itself: the model the crash tests stand on */
static void test_jio_crash_model(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	char a[128], b[128];
	int dirfd, fd;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	snprintf(a, sizeof(a), "%s/a", f->dir);
	snprintf(b, sizeof(b), "%s/b", f->dir);
	assert_int_equal(jio_track_unsynced(io, true), 0);

	/* synced content and name survive; later bytes do not */
	fd = jio_openat(io, dirfd, "a", O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(jio_pwrite(io, fd, "hello", 5, 0), 0);
	assert_int_equal(jio_fdatasync(io, fd), 0);
	assert_int_equal(jio_fsync_dir(io, dirfd), 0);
	assert_int_equal(jio_pwrite(io, fd, " world", 6, 5), 0);
	jio_close(io, fd);
	/* a name never made durable */
	fd = jio_openat(io, dirfd, "b", O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(jio_pwrite(io, fd, "x", 1, 0), 0);
	assert_int_equal(jio_fdatasync(io, fd), 0);
	jio_close(io, fd);
	assert_int_equal(jio_crash(io, 0), 0);
	assert_int_equal(file_size(a), 5);
	assert_false(file_exists(b));

	/* an unlink not made durable comes back */
	assert_int_equal(jio_unlinkat(io, dirfd, "a"), 0);
	assert_false(file_exists(a));
	assert_int_equal(jio_crash(io, 0), 0);
	assert_int_equal(file_size(a), 5);
	/* a durable one does not */
	assert_int_equal(jio_unlinkat(io, dirfd, "a"), 0);
	assert_int_equal(jio_fsync_dir(io, dirfd), 0);
	assert_int_equal(jio_crash(io, 0), 0);
	assert_false(file_exists(a));

	/* rename: the old name comes back until the directory is synced */
	fd = jio_openat(io, dirfd, "a", O_RDWR | O_CREAT, 0600);
	assert_int_equal(jio_pwrite(io, fd, "12345678", 8, 0), 0);
	assert_int_equal(jio_fsync(io, fd), 0);
	assert_int_equal(jio_fsync_dir(io, dirfd), 0);
	assert_int_equal(jio_renameat(io, dirfd, "a", "b"), 0);
	jio_close(io, fd);
	assert_int_equal(jio_crash(io, 0), 0);
	assert_true(file_exists(a));
	assert_false(file_exists(b));
	fd = jio_openat(io, dirfd, "a", O_RDWR, 0);
	assert_int_equal(jio_renameat(io, dirfd, "a", "b"), 0);
	assert_int_equal(jio_fsync_dir(io, dirfd), 0);
	/* torn: a prefix of the unsynced tail may stay */
	assert_int_equal(jio_pwrite(io, fd, "abcdefgh", 8, 8), 0);
	jio_close(io, fd);
	assert_int_equal(jio_crash(io, 12345), 0);
	assert_false(file_exists(a));
	assert_true(file_size(b) >= 8 && file_size(b) <= 16 + 64);

	/* counting and injected faults */
	assert_true(jio_count(io, JIO_WRITE) >= 4);
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 2, -ENOSPC, 0);
	fd = jio_openat(io, dirfd, "b", O_RDWR, 0);
	assert_int_equal(jio_pwrite(io, fd, "1", 1, 0), 0);
	assert_int_equal(jio_pwrite(io, fd, "2", 1, 0), -ENOSPC);
	assert_int_equal(jio_pwrite(io, fd, "3", 1, 0), 0);
	jio_close(io, fd);
	assert_string_equal(jio_op_name(JIO_DATASYNC), "fdatasync");
	close(dirfd);
	jio_free(io);
	assert_null(jio_free(NULL));
}

/* ---- compaction: the summary ---- */

#define T0 1700000000000000000ull
#define SEC 1000000000ull
/* a place_of() event frame: 32 + 8 + a name of at most 4 bytes, padded (objects: 40) */
#define PEV 48

/*
 * A place per seq: six directories with seven names each, their moved
 * subdirectories, the directories themselves, five objects: 71 places.
 */
struct place_ev {
	uint8_t handle[8];
	char name[16];
	struct jrec r;
};

static void place_of(uint64_t seq, struct place_ev *p)
{
	memset(p->handle, 0, sizeof(p->handle));
	p->r = (struct jrec){.type = JREC_EVENT,
			     .time_ns = T0 + seq * SEC,
			     .handle_type = 1,
			     .handle_len = 8,
			     .handle = p->handle};
	if (seq % 11 == 0) { /* an object by its own handle */
		memcpy(p->handle, "obj", 3);
		p->handle[7] = (uint8_t)(seq / 11 % 5);
		p->r.kinds = FST_MODIFIED;
		return;
	}
	memcpy(p->handle, "dir", 3);
	p->handle[7] = (uint8_t)(seq / 3 % 6);
	if (seq % 13 == 0) {
		strcpy(p->name, ".");
		p->r.kinds = FST_ATTRIB;
	} else if (seq % 17 == 0) {
		snprintf(p->name, sizeof(p->name), "sub%u", (unsigned)(seq % 3));
		p->r.kinds = FST_RENAMED_TO | FST_RECURSIVE;
	} else {
		snprintf(p->name, sizeof(p->name), "n%u", (unsigned)(seq % 7));
		p->r.kinds = (uint8_t)(1u << (seq % 4));
	}
	p->r.name = p->name;
	p->r.name_len = (uint16_t)strlen(p->name);
}

static void append_places(struct journal *j, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct place_ev p;
		uint64_t seq = journal_next_seq(j);
		place_of(seq, &p);
		assert_int_equal(journal_append(j, &p.r), 0);
		assert_int_equal(p.r.seq, seq);
	}
}

static uint64_t commit_places(struct journal *j, unsigned n)
{
	uint64_t first = journal_next_seq(j);

	append_places(j, n);
	assert_int_equal(journal_commit(j, 0), 0);
	return first;
}

/* What journal_read() delivered: the summary's places, then the detailed records. */
struct sum_place {
	uint8_t handle[8];
	char name[16];
	uint16_t name_len;
	uint8_t kinds;
};

struct sum_set {
	struct sum_place *v;
	size_t n, cap;
	size_t wide;		 /* JREC_WIDE records */
	size_t detailed;	 /* records after the summary */
	uint64_t first_detailed; /* seq of the first of them */
	uint64_t expect_s0;	 /* the seq summary records must carry */
	size_t errors;
};

static int sum_cb(const struct jrec *r, void *userdata)
{
	struct sum_set *s = userdata;

	if (!r->summary) {
		if (s->detailed++ == 0)
			s->first_detailed = r->seq;
		return 0;
	}
	if (s->detailed || r->seq != s->expect_s0)
		s->errors++; /* the summary comes first, under its first seq */
	if (r->type == JREC_WIDE) {
		s->wide++;
		return 0;
	}
	if (r->type != JREC_EVENT || r->handle_len != 8 || r->name_len > 15 || r->time_ns != 0) {
		s->errors++;
		return 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	memcpy(s->v[s->n].handle, r->handle, 8);
	memcpy(s->v[s->n].name, r->name ? r->name : "", r->name_len);
	s->v[s->n].name_len = r->name_len;
	s->v[s->n].kinds = r->kinds;
	s->n++;
	return 0;
}

static void read_summary(struct journal *j, uint64_t from, struct sum_set *s)
{
	struct journal_stats st;

	stats(j, &st);
	free(s->v);
	*s = (struct sum_set){.expect_s0 = st.summary_from_seq};
	assert_int_equal(journal_read(j, from, sum_cb, s), 0);
	assert_int_equal(s->errors, 0);
}

static const struct sum_place *sum_find(const struct sum_set *s, const uint8_t *handle,
					const char *name, size_t name_len)
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->v[i].handle, handle, 8) == 0 && s->v[i].name_len == name_len &&
		    memcmp(s->v[i].name, name, name_len) == 0)
			return &s->v[i];
	return NULL;
}

static bool is_named(const struct place_ev *p)
{
	return p->r.name_len > 0 && strcmp(p->name, ".") != 0;
}

/* Is the change of p covered by the summary (the coverage rule of docs/design.md)? */
static bool sum_covers(const struct sum_set *s, const struct place_ev *p)
{
	const struct sum_place *e;
	uint8_t need;

	if (s->wide)
		return true;
	e = sum_find(s, p->handle, p->name, p->r.name_len);
	if (e && (e->kinds & p->r.kinds) == p->r.kinds)
		return true;
	if (!is_named(p))
		return false;
	/* a name: its directory with "entries" (and "recursive" for a moved dir) */
	need = FST_ENTRIES | (p->r.kinds & FST_RECURSIVE);
	e = sum_find(s, p->handle, ".", 1);
	return e && (e->kinds & need) == need;
}

/*
 * Every place of [from, to) is covered. With exact (level 0): each with
 * the union of its kinds in [from, to) at least, and nothing that did not
 * happen in [0, to) (places from below a moved-up S0 may stay: more, never
 * less).
 */
static void expect_summary_covers(struct journal *j, uint64_t from, uint64_t to, bool exact)
{
	struct sum_set s = {0};

	read_summary(j, from, &s);
	for (uint64_t seq = from; seq < to; seq++) {
		struct place_ev p;
		place_of(seq, &p);
		if (!sum_covers(&s, &p))
			fail_msg("seq %" PRIu64 " (%.3s%u %s) not covered by the summary", seq,
				 (char *)p.handle, p.handle[7], p.r.name_len ? p.name : "-");
	}
	for (size_t i = 0; exact && i < s.n; i++) {
		uint8_t need = 0, allowed = 0;
		for (uint64_t seq = 0; seq < to; seq++) {
			struct place_ev p;
			place_of(seq, &p);
			if (memcmp(p.handle, s.v[i].handle, 8) == 0 &&
			    p.r.name_len == s.v[i].name_len &&
			    memcmp(p.name, s.v[i].name, p.r.name_len) == 0) {
				allowed |= p.r.kinds;
				if (seq >= from)
					need |= p.r.kinds;
			}
		}
		assert_int_equal(s.v[i].kinds & need, need);
		assert_int_equal(s.v[i].kinds & ~allowed, 0);
		assert_true(allowed != 0); /* a place that was really changed */
	}
	free(s.v);
}

/* How many distinct places [from, to) has. */
static size_t distinct_places(uint64_t from, uint64_t to)
{
	size_t n = 0;

	for (uint64_t a = from; a < to; a++) {
		struct place_ev p, q;
		bool dup = false;
		place_of(a, &p);
		for (uint64_t b = from; b < a && !dup; b++) {
			place_of(b, &q);
			dup = memcmp(p.handle, q.handle, 8) == 0 && p.r.name_len == q.r.name_len &&
			      memcmp(p.name, q.name, p.r.name_len) == 0;
		}
		n += !dup;
	}
	return n;
}

static void expect_range(struct journal *j, uint64_t from, uint64_t to, enum journal_range want)
{
	for (uint64_t s = from; s < to; s++) {
		enum journal_range r = journal_range_check(j, s, 0, 0);
		if (r != want)
			fail_msg("seq %" PRIu64 ": %s, expected %s", s, journal_range_name(r),
				 journal_range_name(want));
		assert_int_equal(journal_range_intact(j, s),
				 want == JOURNAL_RANGE_EXACT || want == JOURNAL_RANGE_SUMMARY);
	}
}

/* Room for the 71 places of place_of(), exactly: 4 KiB of summary, 4 KiB of segments. */
#define SUM_OPTS .segment_bytes = 1024, .max_bytes = 8192, .summary_bytes = 4096

static void sum_path(char *buf, size_t size, const char *dir)
{
	snprintf(buf, size, "%s/summary.fsj", dir);
}

static void test_compact_fold(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {SUM_OPTS};
	struct journal_options ro = {.read_only = true};
	struct journal_stats st, st2;
	struct journal_summary_info si;
	struct journal *j;
	uint64_t prev_first = 0;
	char path[256];

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 80; i++) {
		commit_places(j, 6);
		stats(j, &st);
		/* segments and summary together stay near the limit */
		assert_true(st.bytes + st.summary_bytes <= 8192 + 1024 + 6 * PEV);
		assert_true(st.first_seq >= prev_first);
		prev_first = st.first_seq;
		if (st.compactions) {
			assert_int_equal(st.summary_from_seq, 0); /* S0 stays */
			assert_int_equal(st.summary_to_seq, st.first_seq);
		}
		expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
		expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	}
	stats(j, &st);
	assert_true(st.compactions >= 3);
	assert_true(st.first_seq > 0);
	assert_int_equal(st.next_seq, 480);
	assert_int_equal(st.summary_level, 0);
	assert_false(st.summary_wide);
	assert_int_equal(st.summary_places, distinct_places(0, st.first_seq));
	assert_int_equal(journal_range_check(j, 481, 0, 0), JOURNAL_RANGE_FUTURE);
	expect_summary_covers(j, 0, st.first_seq, true);
	expect_seqs(j, st.first_seq, 480, NULL, 0, 0);
	{
		/* from inside the summary: the summary, then every detailed record */
		struct sum_set s = {0};
		read_summary(j, st.first_seq / 2, &s);
		assert_int_equal(s.n, st.summary_places);
		assert_int_equal(s.first_detailed, st.first_seq);
		assert_int_equal(s.detailed, 480 - st.first_seq);
		/* from the detailed history: no summary */
		read_summary(j, st.first_seq, &s);
		assert_int_equal(s.n, 0);
		assert_int_equal(s.detailed, 480 - st.first_seq);
		free(s.v);
	}
	journal_get_summary(j, &si);
	assert_true(si.present && si.valid);
	assert_null(si.problem);
	assert_int_equal(si.from_seq, 0);
	assert_int_equal(si.to_seq, st.first_seq);
	assert_int_equal(si.folded, st.first_seq); /* every folded record was an event */
	assert_true(si.checkpoints >= 2);
	for (size_t i = 0, prev = 0; i < si.checkpoints; i++) {
		/* (seq, time) of records in the range, in order: their time is known */
		uint64_t seq, t;
		assert_int_equal(journal_get_checkpoint(j, i, &seq, &t), 0);
		assert_true(seq < st.first_seq && seq >= prev);
		assert_int_equal(t, T0 + seq * SEC);
		prev = seq;
	}
	assert_int_equal(journal_get_checkpoint(j, si.checkpoints, &(uint64_t){0}, &(uint64_t){0}),
			 -ENOENT);
	seg_path(path, sizeof(path), f->dir, 0);
	assert_false(file_exists(path));
	sum_path(path, sizeof(path), f->dir);
	assert_int_equal(file_size(path), st.summary_bytes);
	journal_free(j);

	/* the same after a restart, and read-only */
	for (int round = 0; round < 2; round++) {
		j = open_jo(f->dir, round ? &ro : &opt);
		stats(j, &st2);
		assert_int_equal(st2.first_seq, st.first_seq);
		assert_int_equal(st2.next_seq, 480);
		assert_int_equal(st2.summary_from_seq, 0);
		assert_int_equal(st2.summary_to_seq, st.first_seq);
		assert_int_equal(st2.summary_places, st.summary_places);
		assert_int_equal(st2.summary_bytes, st.summary_bytes);
		assert_int_equal(st2.bad_ranges, 0);
		assert_int_equal(st2.leftover_segments, 0);
		expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
		expect_range(j, st.first_seq, 481, JOURNAL_RANGE_EXACT);
		expect_summary_covers(j, 0, st.first_seq, true);
		journal_free(j);
	}
	/* and it goes on folding into the same summary */
	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 40; i++)
		commit_places(j, 6);
	stats(j, &st2);
	assert_true(st2.first_seq > st.first_seq);
	assert_int_equal(st2.summary_from_seq, 0);
	expect_summary_covers(j, 0, st2.first_seq, true);
	expect_range(j, 0, st2.first_seq, JOURNAL_RANGE_SUMMARY);
	journal_free(j);
}

/* Over budget: names fold into their directory, then moved dirs, then WIDE. */
static void test_compact_coarsen(void **state)
{
	struct fixture *f = *state;
	struct {
		uint64_t places, bytes;
		uint8_t level;
		bool wide;
	} cases[] = {
	    {40, 1 << 20, 1, false},  /* 6 dirs, 18 moved subdirs, 5 objects fit */
	    {15, 1 << 20, 2, false},  /* 6 dirs and 5 objects fit */
	    {1 << 20, 600, 2, false}, /* the byte budget: 11 frames of 48 */
	    {8, 1 << 20, 2, true},    /* not even that */
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct journal_options opt = {.segment_bytes = 1024,
					      .max_bytes = 4096,
					      .summary_places = cases[c].places,
					      .summary_bytes = cases[c].bytes};
		struct journal_stats st;
		struct sum_set s = {0};
		struct journal *j;
		char dir[128];

		snprintf(dir, sizeof(dir), "%s/c%zu", f->base, c);
		j = open_jo(dir, &opt);
		for (int i = 0; i < 50; i++)
			commit_places(j, 6);
		stats(j, &st);
		assert_true(st.first_seq > 0);
		assert_int_equal(st.summary_level, cases[c].level);
		assert_int_equal(st.summary_wide, cases[c].wide);
		assert_true(st.summary_places <= cases[c].places);
		assert_true(st.summary_places * PEV <= cases[c].bytes);
		expect_range(j, 0, st.first_seq,
			     cases[c].wide ? JOURNAL_RANGE_WIDE : JOURNAL_RANGE_SUMMARY);
		expect_summary_covers(j, 0, st.first_seq, false);
		read_summary(j, 0, &s);
		for (size_t i = 0; i < s.n; i++) {
			bool dot = s.v[i].name_len == 1 && s.v[i].name[0] == '.';
			if (s.v[i].name_len == 0 || dot)
				continue; /* objects and directories stay */
			/* level 1 keeps only names with "recursive"; level 2 none */
			assert_int_equal(cases[c].level, 1);
			assert_true(s.v[i].kinds & FST_RECURSIVE);
		}
		assert_int_equal(s.wide, cases[c].wide);
		free(s.v);
		journal_free(j);
		/* a restart keeps the level and goes on at it */
		j = open_jo(dir, &opt);
		commit_places(j, 60);
		stats(j, &st);
		assert_int_equal(st.summary_level, cases[c].level);
		expect_summary_covers(j, 0, st.first_seq, false);
		journal_free(j);
	}
}

static void test_compact_wide(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {
	    .segment_bytes = 1024, .max_bytes = 4096, .summary_places = 2};
	struct journal_stats st;
	struct sum_set s = {0};
	struct journal *j;
	char path[256];

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 30; i++)
		commit_places(j, 6);
	stats(j, &st);
	assert_true(st.summary_wide);
	assert_int_equal(st.summary_places, 0);
	assert_int_equal(st.summary_from_seq, 0);
	sum_path(path, sizeof(path), f->dir);
	assert_true(file_size(path) < 1024); /* a header: nothing else */
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_WIDE);
	expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	/* one JREC_WIDE first, under S0, then the detailed records */
	read_summary(j, 3, &s);
	assert_int_equal(s.wide, 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.first_detailed, st.first_seq);
	journal_free(j);
	/* WIDE stays WIDE, S0 stays */
	j = open_jo(f->dir, &opt);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_WIDE);
	for (int i = 0; i < 30; i++)
		commit_places(j, 6);
	stats(j, &st);
	assert_true(st.summary_wide);
	assert_int_equal(st.summary_from_seq, 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_WIDE);
	read_summary(j, 0, &s);
	assert_int_equal(s.wide, 1);
	free(s.v);
	journal_free(j);
}

/* A token in every region: GONE, DAMAGED, SUMMARY, EXACT, FUTURE, TOO_OLD. */
static void test_compact_token_regions(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct journal_options opt = {SUM_OPTS, .io = io};
	struct journal_segment_info seg;
	struct journal_stats st;
	struct journal *j;
	uint64_t lost_from, lost_to, t, s0, first, next;

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 3; i++)
		commit_places(j, 6);
	/* a lost commit: [18, 24), then the watermark that carries next_seq */
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -ENOSPC, 0);
	lost_from = journal_next_seq(j);
	append_places(j, 6);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	lost_to = journal_next_seq(j);
	assert_int_equal(journal_range_check(j, 0, 0, 0), JOURNAL_RANGE_DAMAGED);
	/* fold past it: the summary cannot stand for the lost records, S0 starts after */
	while (journal_first_seq(j) <= lost_to + 30)
		commit_places(j, 6);
	stats(j, &st);
	s0 = st.summary_from_seq;
	first = st.first_seq;
	assert_int_equal(s0, lost_to);
	assert_true(st.compactions > 0);
	assert_int_equal(st.bad_ranges, 0);
	expect_range(j, 0, s0, JOURNAL_RANGE_GONE);
	expect_range(j, s0, first, JOURNAL_RANGE_SUMMARY);
	expect_range(j, first, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	expect_summary_covers(j, s0, first, true);
	journal_free(j);

	/* damage in the detailed part: every older token, summary ones too (no more folds) */
	opt.max_bytes = 1 << 20;
	j = open_jo(f->dir, &opt);
	jio_fail_nth(io, JIO_WRITE, jio_count(io, JIO_WRITE) + 1, -ENOSPC, 0);
	lost_from = journal_next_seq(j);
	append_places(j, 3);
	assert_int_equal(journal_commit(j, 0), -ENOSPC);
	lost_to = journal_next_seq(j);
	commit_places(j, 2);
	next = journal_next_seq(j);
	expect_range(j, 0, s0, JOURNAL_RANGE_GONE);
	expect_range(j, s0, lost_to, JOURNAL_RANGE_DAMAGED);
	expect_range(j, lost_to, next + 1, JOURNAL_RANGE_EXACT);
	assert_int_equal(journal_range_check(j, next + 1, 0, 0), JOURNAL_RANGE_FUTURE);
	assert_int_equal(journal_range_check(j, UINT64_MAX, 0, 0), JOURNAL_RANGE_FUTURE);

	/* times: the latest a token can have been issued, known from later records */
	for (uint64_t s = s0; s < next; s++) {
		struct place_ev p;
		if (s >= lost_from && s < lost_to + 1)
			continue; /* lost, and the watermark after them has no clock */
		place_of(s, &p);
		assert_int_equal(journal_seq_time(j, s, &t), 0);
		assert_true(t >= p.r.time_ns);		  /* an upper bound */
		assert_true(t <= p.r.time_ns + 30 * SEC); /* not a loose one */
		if (s >= first) {
			/* in a segment: its first and last record are known exactly */
			for (size_t i = 0; journal_get_segment(j, i, &seg) == 0; i++)
				if (s == seg.first_seq && seg.records)
					assert_int_equal(t, p.r.time_ns);
		}
		/* max-age: too old when even that bound is older */
		assert_int_equal(journal_range_check(j, s, t + 10 * SEC, 10 * SEC),
				 s < lost_to ? JOURNAL_RANGE_DAMAGED
				 : s < first ? JOURNAL_RANGE_SUMMARY
					     : JOURNAL_RANGE_EXACT);
		if (s >= lost_to)
			assert_int_equal(journal_range_check(j, s, t + 10 * SEC + 1, 10 * SEC),
					 JOURNAL_RANGE_TOO_OLD);
	}
	/* a token at the end: no record after it, it may be from just now */
	assert_int_equal(journal_seq_time(j, next, &t), -ENOENT);
	assert_int_equal(journal_range_check(j, next, UINT64_MAX, 1), JOURNAL_RANGE_EXACT);
	append_places(j, 1); /* known from the buffer too */
	assert_int_equal(journal_seq_time(j, next, &t), 0);
	assert_int_equal(t, T0 + next * SEC);
	assert_int_equal(journal_commit(j, 0), 0);
	/* segment times for status */
	assert_int_equal(journal_get_segment(j, 0, &seg), 0);
	assert_int_equal(seg.first_time_ns, T0 + seg.first_seq * SEC);
	assert_true(seg.last_time_ns >= seg.first_time_ns);
	assert_string_equal(journal_range_name(JOURNAL_RANGE_TOO_OLD), "too_old");
	journal_free(j);

	/* the same after a restart (the lost ranges are seq gaps on disk) */
	j = open_jo(f->dir, &(struct journal_options){.max_bytes = 1 << 20});
	expect_range(j, 0, s0, JOURNAL_RANGE_GONE);
	expect_range(j, s0, lost_to, JOURNAL_RANGE_DAMAGED);
	expect_range(j, lost_to, next + 2, JOURNAL_RANGE_EXACT);
	journal_free(j);
	jio_free(io);
}

/*
 * A bad range that crosses the end of the folded range (a missing segment
 * merged with damage at the start of the next one): no summary can start
 * before its end, and the tokens inside the kept part stay DAMAGED.
 */
static void test_compact_bad_range_crossing(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {.segment_bytes = 1024, .max_bytes = 1 << 20};
	struct journal_segment_info s0, s1, s2;
	struct journal_stats st;
	struct journal *j;
	char path[256];
	uint64_t bad_to;

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 20; i++)
		commit_places(j, 6);
	assert_int_equal(journal_get_segment(j, 0, &s0), 0);
	assert_int_equal(journal_get_segment(j, 1, &s1), 0);
	assert_int_equal(journal_get_segment(j, 2, &s2), 0);
	assert_int_equal(journal_get_segment(j, 4, &(struct journal_segment_info){0}), 0);
	journal_free(j);
	/* segment 1 lost, and the first two frames of segment 2 zeroed */
	snprintf(path, sizeof(path), "%s/%s", f->dir, s1.name);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, s2.name);
	{
		uint8_t zero[2 * PEV] = {0};
		write_at(path, HDR, zero, sizeof(zero));
	}
	j = open_jo(f->dir, &opt);
	stats(j, &st);
	assert_int_equal(st.bad_ranges, 1);
	assert_int_equal(journal_get_bad_range(j, 0, &(uint64_t){0}, &bad_to), 0);
	assert_true(bad_to > s2.first_seq && bad_to < s2.end_seq);
	expect_range(j, 0, bad_to, JOURNAL_RANGE_DAMAGED);
	journal_free(j);

	/* a limit that folds segment 0 only: [s0, s2) lies below a range that ends past s2 */
	opt.max_bytes = st.bytes - s0.bytes / 2;
	opt.summary_bytes = 4096;
	j = open_jo(f->dir, &opt);
	commit_places(j, 1);
	stats(j, &st);
	assert_int_equal(st.compactions, 1);
	assert_int_equal(st.first_seq, s2.first_seq);
	assert_int_equal(st.summary_bytes, 0); /* nothing it could honestly stand for */
	expect_range(j, 0, s2.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, s2.first_seq, bad_to, JOURNAL_RANGE_DAMAGED);
	expect_range(j, bad_to, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	journal_free(j);
	sum_path(path, sizeof(path), f->dir);
	assert_false(file_exists(path));
	j = open_jo(f->dir, &(struct journal_options){.max_bytes = 1 << 20});
	expect_range(j, 0, s2.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, s2.first_seq, bad_to, JOURNAL_RANGE_DAMAGED);
	expect_range(j, bad_to, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	journal_free(j);
}

/* The daemon's handle_gone: objects and directories 3, 4, 5 were deleted. */
struct gone_calls {
	size_t calls;
};

static bool place_handle_gone(void *userdata, int32_t type, const uint8_t *handle, uint16_t len)
{
	struct gone_calls *gc = userdata;

	gc->calls++;
	assert_int_equal(type, 1);
	assert_int_equal(len, 8);
	return memcmp(handle, "obj", 3) == 0 || handle[7] >= 3;
}

/* Over budget, places whose handle is gone are dropped first: exact, not coarser. */
static void test_compact_drops_gone(void **state)
{
	struct fixture *f = *state;
	struct gone_calls gc = {0};
	struct journal_options opt = {SUM_OPTS, .summary_places = 60,
				      .handle_gone = place_handle_gone, .handle_gone_data = &gc};
	struct journal_stats st;
	struct sum_set s = {0};
	struct journal *j;

	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 80; i++)
		commit_places(j, 6);
	stats(j, &st);
	/* 71 places, 38 of them gone: the 33 left fit, exactly */
	assert_int_equal(st.summary_level, 0);
	assert_true(st.places_gone > 0);
	assert_true(gc.calls > 0);
	/* every place that is not gone is there (gone ones folded since the last prune may be) */
	read_summary(j, 0, &s);
	assert_true(s.n <= 60);
	for (uint64_t seq = 0; seq < st.first_seq; seq++) {
		struct place_ev p;
		place_of(seq, &p);
		if (!place_handle_gone(&gc, 1, p.handle, 8))
			assert_true(sum_covers(&s, &p));
	}
	free(s.v);
	journal_free(j);

	/* under budget it is never asked */
	gc.calls = 0;
	opt.summary_places = 0;
	j = open_jo(f->dir, &opt);
	for (int i = 0; i < 40; i++)
		commit_places(j, 6);
	stats(j, &st);
	assert_true(st.compactions > 0);
	assert_int_equal(gc.calls, 0);
	journal_free(j);
}

/* Build a journal with a summary; returns its stats. */
static void build_summary(const char *dir, struct journal_stats *st)
{
	struct journal_options opt = {SUM_OPTS};
	struct journal *j = open_jo(dir, &opt);

	for (int i = 0; i < 30; i++)
		commit_places(j, 6);
	stats(j, st);
	assert_true(st->compactions > 0);
	assert_true(st->first_seq > 0);
	journal_free(j);
}

/* The detailed segment right after the summary goes missing: a gap, not an answer. */
static void test_compact_gap_after_summary(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {SUM_OPTS};
	struct journal_segment_info si;
	struct journal_stats st, st2;
	struct journal *j;
	char path[256];

	build_summary(f->dir, &st);
	j = open_jo(f->dir, &opt);
	assert_int_equal(journal_get_segment(j, 1, &si), 0);
	journal_free(j);
	seg_path(path, sizeof(path), f->dir, st.first_seq);
	assert_int_equal(unlink(path), 0);

	j = open_jo(f->dir, &opt);
	stats(j, &st2);
	assert_int_equal(st2.first_seq, si.first_seq);
	assert_int_equal(st2.summary_from_seq, 0);
	assert_int_equal(st2.bad_ranges, 1);
	expect_range(j, 0, si.first_seq, JOURNAL_RANGE_DAMAGED);
	expect_range(j, si.first_seq, st2.next_seq + 1, JOURNAL_RANGE_EXACT);
	/* the next fold starts past the gap */
	while (journal_first_seq(j) == si.first_seq)
		commit_places(j, 6);
	stats(j, &st2);
	assert_int_equal(st2.summary_from_seq, si.first_seq);
	assert_int_equal(st2.bad_ranges, 0);
	expect_range(j, 0, si.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, si.first_seq, st2.first_seq, JOURNAL_RANGE_SUMMARY);
	expect_summary_covers(j, si.first_seq, st2.first_seq, true);
	journal_free(j);

	/* the summary removed: old tokens are simply gone */
	sum_path(path, sizeof(path), f->dir);
	assert_int_equal(unlink(path), 0);
	j = open_jo(f->dir, &opt);
	stats(j, &st);
	assert_int_equal(st.summary_from_seq, st.first_seq);
	assert_int_equal(st.summary_bytes, 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	journal_free(j);
}

static void put_le32(const char *path, uint64_t off, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	write_at(path, off, b, 4);
}

/* A summary that fails a check is ignored: its tokens answer GONE, never wrong. */
static void test_summary_damaged(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {SUM_OPTS};
	struct journal_options ro = {.read_only = true};
	struct {
		const char *what, *problem;
	} cases[] = {
	    {"frame", "record "},
	    {"header", "header checksum mismatch"},
	    {"version", "format version 2"},
	    {"cut", "bytes, header says"},
	    {"longer", "bytes, header says"},
	    {"uuid", "other journal uuid"},
	    {"empty", "short header"},
	};
	char other[128], opath[256];
	struct journal_stats other_st;

	snprintf(other, sizeof(other), "%s/other", f->base);
	build_summary(other, &other_st);
	sum_path(opath, sizeof(opath), other);

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct journal_summary_info si;
		struct journal_stats st, st2;
		struct journal *j;
		char dir[128], path[256];
		uint64_t size;

		snprintf(dir, sizeof(dir), "%s/d%zu", f->base, c);
		build_summary(dir, &st);
		sum_path(path, sizeof(path), dir);
		size = file_size(path);
		if (!strcmp(cases[c].what, "frame"))
			xor_byte(path, size - 20, 0x08);
		else if (!strcmp(cases[c].what, "header"))
			xor_byte(path, 41, 0x01); /* from seq */
		else if (!strcmp(cases[c].what, "version"))
			put_le32(path, 8, 2);
		else if (!strcmp(cases[c].what, "cut"))
			cut_file(path, size - PEV);
		else if (!strcmp(cases[c].what, "longer"))
			append_bytes(path, "\0\0\0\0\0\0\0\0", 8);
		else if (!strcmp(cases[c].what, "uuid")) {
			uint8_t buf[1 << 16];
			int fd = open(opath, O_RDONLY);
			ssize_t n = read(fd, buf, sizeof(buf));
			close(fd);
			assert_true(n > 0);
			cut_file(path, 0);
			write_at(path, 0, buf, (size_t)n);
		} else
			cut_file(path, 0);

		for (int round = 0; round < 2; round++) {
			j = open_jo(dir, round ? &opt : &ro);
			journal_get_summary(j, &si);
			assert_true(si.present);
			assert_false(si.valid);
			assert_non_null(si.problem);
			if (!strstr(si.problem, cases[c].problem))
				fail_msg("%s: problem \"%s\"", cases[c].what, si.problem);
			stats(j, &st2);
			assert_int_equal(st2.first_seq, st.first_seq);
			assert_int_equal(st2.summary_from_seq, st.first_seq);
			assert_int_equal(st2.summary_places, 0);
			expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
			expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
			{
				/* and nothing of it is read */
				struct sum_set s = {0};
				read_summary(j, 0, &s);
				assert_int_equal(s.n + s.wide, 0);
				assert_int_equal(s.first_detailed, st.first_seq);
				free(s.v);
			}
			journal_free(j);
		}
		/* the next fold makes a new summary from the folded range on */
		j = open_jo(dir, &opt);
		while (journal_first_seq(j) == st.first_seq)
			commit_places(j, 6);
		stats(j, &st2);
		journal_get_summary(j, &si);
		assert_true(si.valid);
		assert_int_equal(st2.summary_from_seq, st.first_seq);
		expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
		expect_range(j, st.first_seq, st2.first_seq, JOURNAL_RANGE_SUMMARY);
		expect_summary_covers(j, st.first_seq, st2.first_seq, true);
		journal_free(j);
	}
}

/* The summary changes under an open journal: the read fails, its tokens become GONE. */
static void test_summary_changed_under_us(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {SUM_OPTS};
	struct journal_stats st;
	struct sum_set s = {0};
	struct journal *j;
	char path[256];

	build_summary(f->dir, &st);
	j = open_jo(f->dir, &opt);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
	sum_path(path, sizeof(path), f->dir);
	xor_byte(path, file_size(path) - 30, 0x01);
	s.expect_s0 = 0;
	assert_int_equal(journal_read(j, 0, sum_cb, &s), -EBADMSG);
	assert_int_equal(s.detailed, st.next_seq - st.first_seq);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	free(s.v);
	/* removed under us: the same */
	journal_free(j);
	build_summary(f->base, &st); /* a fresh one next to it */
	j = open_jo(f->base, &opt);
	sum_path(path, sizeof(path), f->base);
	assert_int_equal(unlink(path), 0);
	s = (struct sum_set){0};
	assert_int_equal(journal_read(j, 0, sum_cb, &s), -EBADMSG);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	free(s.v);
	journal_free(j);
}

static void copy_file(const char *from, const char *to)
{
	static uint8_t buf[1 << 20];
	int fd = open(from, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n >= 0);
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
}

/* A crash between the rename of the summary and the unlink of what it folded. */
static void test_summary_leftover_segments(void **state)
{
	struct fixture *f = *state;
	struct journal_options opt = {SUM_OPTS};
	struct journal_options ro = {.read_only = true};
	struct journal_stats st, st2;
	struct journal *j;
	char seg0[256], keep[256], tmp[256];

	seg_path(seg0, sizeof(seg0), f->dir, 0);
	snprintf(keep, sizeof(keep), "%s/seg0.copy", f->base);
	j = open_jo(f->dir, &opt);
	while (file_exists(seg0)) {
		copy_file(seg0, keep);
		commit_places(j, 6);
	}
	stats(j, &st);
	assert_int_equal(st.compactions, 1);
	journal_free(j);
	copy_file(keep, seg0); /* back, as a crash before the unlink leaves it */
	/* and a compaction that did not get to its rename */
	snprintf(tmp, sizeof(tmp), "%s/summary.fsj.tmp", f->dir);
	copy_file(keep, tmp);

	j = open_jo(f->dir, &ro); /* read-only: ignored, left */
	stats(j, &st2);
	assert_int_equal(st2.leftover_segments, 1);
	assert_int_equal(st2.first_seq, st.first_seq);
	assert_int_equal(st2.segments, st.segments);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
	journal_free(j);
	assert_true(file_exists(seg0));
	assert_true(file_exists(tmp));

	j = open_jo(f->dir, &opt); /* read-write: removed */
	stats(j, &st2);
	assert_int_equal(st2.leftover_segments, 1);
	assert_int_equal(st2.first_seq, st.first_seq);
	assert_int_equal(st2.bad_ranges, 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
	expect_summary_covers(j, 0, st.first_seq, true);
	journal_free(j);
	assert_false(file_exists(seg0));
	assert_false(file_exists(tmp));

	/* a summary that no segment follows is not used: the old segment is all there is */
	{
		struct journal_summary_info si;
		for (size_t i = 0;; i++) {
			char p[256];
			j = open_jo(f->dir, &ro);
			struct journal_segment_info sg;
			int r = journal_get_segment(j, 0, &sg);
			journal_free(j);
			if (r < 0)
				break;
			snprintf(p, sizeof(p), "%s/%s", f->dir, sg.name);
			assert_int_equal(unlink(p), 0);
			if (i > 100)
				fail();
			j = open_jo(f->dir, &ro);
			stats(j, &st2);
			journal_free(j);
			if (st2.segments == 0)
				break;
		}
		copy_file(keep, seg0);
		j = open_jo(f->dir, &opt);
		journal_get_summary(j, &si);
		assert_false(si.valid);
		assert_non_null(strstr(si.problem, "no segment"));
		stats(j, &st2);
		assert_int_equal(st2.first_seq, 0);
		assert_int_equal(st2.leftover_segments, 0);
		journal_free(j);
	}
}

/* A compaction that fails keeps everything, tries again later, or removes when space is short. */
struct fail_open {
	const char *name;
	int err;
};

static int fail_open_hook(void *userdata, const struct jio_call *call, size_t *ret_partial)
{
	struct fail_open *fo = userdata;

	(void)ret_partial;
	if (fo->err && call->op == JIO_OPEN && call->name && !strcmp(call->name, fo->name))
		return fo->err;
	return 0;
}

static void test_compact_failure(void **state)
{
	struct fixture *f = *state;
	struct jio *io = jio_new();
	struct fail_open fo = {"summary.fsj.tmp", -EIO};
	struct journal_options opt = {SUM_OPTS, .io = io};
	struct journal_stats st;
	struct journal *j;
	char dir[128];

	/* EIO: everything is kept; tried again after another segment's worth */
	jio_set_fault(io, fail_open_hook, &fo);
	snprintf(dir, sizeof(dir), "%s/eio", f->base);
	j = open_jo(dir, &opt);
	do {
		commit_places(j, 6);
		stats(j, &st);
	} while (st.compact_failures == 0);
	commit_places(j, 2); /* less than a segment's worth later: not tried again */
	commit_places(j, 2);
	stats(j, &st);
	assert_int_equal(st.compact_failures, 1);
	assert_int_equal(st.compactions, 0);
	assert_int_equal(st.first_seq, 0);
	assert_true(st.bytes > 8192);
	expect_range(j, 0, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	fo.err = 0;
	while (st.compactions == 0) {
		commit_places(j, 6);
		stats(j, &st);
	}
	assert_int_equal(st.summary_from_seq, 0);
	assert_true(st.first_seq > 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
	expect_summary_covers(j, 0, st.first_seq, true);
	/* ... until the journal grew a quarter past its limit: then removal */
	fo.err = -EIO;
	while (st.summary_bytes > 0) {
		commit_places(j, 6);
		stats(j, &st);
		assert_true(st.bytes + st.summary_bytes <= 8192 + 2048 + 1024 + 6 * PEV);
	}
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	journal_free(j);

	/* ENOSPC: space is needed now, removal at once (and the summary with it) */
	snprintf(dir, sizeof(dir), "%s/enospc", f->base);
	fo.err = 0;
	j = open_jo(dir, &opt);
	while (st.compactions == 0 || journal_first_seq(j) == 0) {
		commit_places(j, 6);
		stats(j, &st);
	}
	fo.err = -ENOSPC;
	{
		uint64_t first = st.first_seq;
		while (journal_first_seq(j) == first)
			commit_places(j, 6);
	}
	stats(j, &st);
	assert_int_equal(st.summary_bytes, 0);
	assert_true(st.compact_failures >= 1);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	expect_range(j, st.first_seq, st.next_seq + 1, JOURNAL_RANGE_EXACT);
	journal_free(j);
	j = open_jo(dir, &(struct journal_options){.segment_bytes = 1024, .max_bytes = 4096});
	stats(j, &st);
	assert_int_equal(st.summary_bytes, 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	journal_free(j);

	/* no_summary: an existing summary goes with the first removal */
	snprintf(dir, sizeof(dir), "%s/nosum", f->base);
	build_summary(dir, &st);
	j = open_jo(dir, &(struct journal_options){
			     .segment_bytes = 1024, .max_bytes = 4096, .no_summary = true});
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_SUMMARY);
	while (journal_first_seq(j) == st.first_seq)
		commit_places(j, 6);
	stats(j, &st);
	assert_int_equal(st.summary_bytes, 0);
	assert_int_equal(st.compactions, 0);
	expect_range(j, 0, st.first_seq, JOURNAL_RANGE_GONE);
	journal_free(j);
	jio_free(io);
}

/* ---- compaction under power cuts ---- */

/* Files of dir, copied to (or from) a snapshot directory. */
static void dir_clear(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		assert_int_equal(unlink(p), 0);
	}
	closedir(d);
}

static void dir_copy(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;
	char a[512], b[512];

	assert_non_null(d);
	mkdir(to, 0700);
	dir_clear(to);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

struct cmodel {
	bool opened;
	uint64_t acked; /* durable_seq after the last successful commit */
};

/* Compactions through the coarsening levels (places budget 12) or into WIDE (4). */
static void compact_options(struct journal_options *opt, uint64_t places, struct jio *io)
{
	*opt = (struct journal_options){.segment_bytes = 600,
					.max_bytes = 2400,
					.summary_places = places,
					.summary_bytes = 1200,
					.io = io};
}

static void compact_workload(const char *dir, uint64_t places, struct jio *io, struct cmodel *m)
{
	struct journal_options opt;
	struct journal *j;

	compact_options(&opt, places, io);
	*m = (struct cmodel){0};
	if (journal_open(dir, &opt, &j) < 0)
		return;
	m->opened = true;
	m->acked = journal_durable_seq(j);
	for (int c = 0; c < 30; c++) {
		append_places(j, 5);
		if (journal_commit(j, 0) == 0)
			m->acked = journal_durable_seq(j);
	}
	if (journal_close_clean(j, T0) == 0)
		m->acked = journal_durable_seq(j);
	journal_free(j);
}

struct ccheck {
	struct sum_set s;
	uint64_t expect, end;
	size_t errors;
};

static int ccheck_cb(const struct jrec *r, void *userdata)
{
	struct ccheck *cc = userdata;
	struct place_ev p;

	if (r->summary)
		return sum_cb(r, &cc->s);
	if (r->seq >= cc->end)
		return 0;
	if (r->seq != cc->expect)
		cc->errors++;
	cc->expect = r->seq + 1;
	if (r->type != JREC_EVENT)
		return 0;
	place_of(r->seq, &p);
	if (r->kinds != p.r.kinds || r->name_len != p.r.name_len ||
	    memcmp(r->handle, p.handle, 8) != 0 ||
	    (r->name_len && memcmp(r->name, p.name, r->name_len) != 0))
		cc->errors++;
	return 0;
}

/*
 * After a power cut: every acknowledged record is in the detailed history
 * (and reads back) or its place is in the summary (or the summary is WIDE);
 * no token handed out answers GONE or DAMAGED, none older than first_seq
 * answers EXACT; and the journal keeps working.
 */
static void compact_check(const char *dir, uint64_t places, const struct cmodel *m,
			  const char *what)
{
	struct jio *io = jio_new();
	struct journal_options opt;
	struct journal_stats st;
	struct ccheck cc = {0};
	struct journal *j;

	jio_skip_real_sync(io, true);
	compact_options(&opt, places, io);
	assert_int_equal(journal_open(dir, &opt, &j), 0);
	stats(j, &st);
	if (m->opened) {
		if (st.next_seq < m->acked || st.summary_from_seq != 0 || st.bad_ranges)
			fail_msg("%s: next %" PRIu64 " acked %" PRIu64 " S0 %" PRIu64
				 " bad %" PRIu64,
				 what, st.next_seq, m->acked, st.summary_from_seq, st.bad_ranges);
		for (uint64_t s = 0; s <= m->acked; s++) {
			enum journal_range r = journal_range_check(j, s, 0, 0);
			enum journal_range want = s >= st.first_seq ? JOURNAL_RANGE_EXACT
						  : st.summary_wide ? JOURNAL_RANGE_WIDE
								    : JOURNAL_RANGE_SUMMARY;
			if (r != want)
				fail_msg("%s: token %" PRIu64 " answers %s, not %s", what, s,
					 journal_range_name(r), journal_range_name(want));
		}
		cc.s.expect_s0 = 0;
		cc.expect = st.first_seq;
		cc.end = m->acked;
		assert_int_equal(journal_read(j, 0, ccheck_cb, &cc), 0);
		if (cc.errors || cc.s.errors || (m->acked > st.first_seq && cc.expect != m->acked))
			fail_msg("%s: detailed %" PRIu64 "..%" PRIu64 " read up to %" PRIu64
				 ", %zu errors",
				 what, st.first_seq, m->acked, cc.expect, cc.errors + cc.s.errors);
		for (uint64_t s = 0; s < st.first_seq && s < m->acked; s++) {
			struct place_ev p;
			place_of(s, &p);
			if (!sum_covers(&cc.s, &p))
				fail_msg("%s: seq %" PRIu64 " not in the summary", what, s);
		}
		free(cc.s.v);
	}
	/* and it goes on */
	append_places(j, 2);
	assert_int_equal(journal_commit(j, 0), 0);
	journal_free(j);
	j = open_jo(dir, &opt);
	assert_int_equal(journal_durable_seq(j), st.next_seq + 2);
	journal_free(j);
	jio_free(io);
}

/* Run the workload with the power cut at call cut (0: never); the total number of calls. */
static uint64_t compact_crash(const char *dir, uint64_t places, uint64_t cut, uint32_t seed,
			      struct cmodel *m)
{
	struct jio *io = jio_new();
	struct power p = {.cut_at = cut};
	uint64_t total = 0;

	assert_non_null(io);
	jio_skip_real_sync(io, true);
	assert_int_equal(jio_track_unsynced(io, true), 0);
	jio_set_fault(io, power_hook, &p);
	compact_workload(dir, places, io, m);
	for (int op = 0; op < _JIO_OP_MAX; op++)
		total += jio_count(io, (enum jio_op)op);
	assert_int_equal(jio_crash(io, seed), 0);
	jio_free(io);
	return total;
}

/* The recovery (open) after a power cut, cut itself at call cut; its number of calls. */
static uint64_t recovery_crash(const char *dir, uint64_t places, uint64_t cut, uint32_t seed)
{
	struct jio *io = jio_new();
	struct power p = {.cut_at = cut};
	struct journal_options opt;
	struct journal *j = NULL;
	uint64_t total = 0;

	jio_skip_real_sync(io, true);
	assert_int_equal(jio_track_unsynced(io, true), 0);
	jio_set_fault(io, power_hook, &p);
	compact_options(&opt, places, io);
	if (journal_open(dir, &opt, &j) == 0)
		journal_free(j);
	for (int op = 0; op < _JIO_OP_MAX; op++)
		total += jio_count(io, (enum jio_op)op);
	assert_int_equal(jio_crash(io, seed), 0);
	jio_free(io);
	return total;
}

/* Does the recovery of dir have a compaction to finish (leftover segments, a .tmp)? */
static bool compaction_interrupted(const char *dir)
{
	struct journal_options ro = {.read_only = true};
	struct journal_stats st;
	struct journal *j;
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s/summary.fsj.tmp", dir);
	if (file_exists(tmp))
		return true;
	if (journal_open(dir, &ro, &j) < 0)
		return false;
	stats(j, &st);
	journal_free(j);
	return st.leftover_segments > 0;
}

static void crash_compaction(const char *base, uint64_t places, bool expect_wide)
{
	char dir[128], snap[128], what[128];
	struct journal_stats st;
	size_t interrupted = 0;
	struct cmodel m;
	struct journal *j;
	uint64_t total;

	snprintf(dir, sizeof(dir), "%s/crash", base);
	snprintf(snap, sizeof(snap), "%s/snap", base);
	/* no cut: count the calls, and check the workload does what it is for */
	total = compact_crash(dir, places, 0, 0, &m);
	j = open_jo(dir, NULL);
	stats(j, &st);
	journal_free(j);
	assert_true(st.compactions == 0 && st.summary_bytes > 0);
	assert_int_equal(st.summary_wide, expect_wide);
	assert_true(expect_wide || st.summary_level == 2);
	assert_true(st.first_seq > 20);
	assert_true(total > 100);
	dir_clear(dir);

	for (uint64_t cut = 1; cut <= total; cut++) {
		for (int s = 0; s < 2; s++) {
			uint32_t seed = s ? (uint32_t)(cut * 2654435761u) | 1 : 0;
			uint64_t rtotal;

			compact_crash(dir, places, cut, seed, &m);
			dir_copy(dir, snap);
			/* a recovery that finishes a compaction: cut it at each of its calls */
			rtotal = 0;
			if (compaction_interrupted(dir)) {
				interrupted++;
				rtotal = recovery_crash(dir, places, 0, 0);
			}
			for (uint64_t rcut = 1; rcut <= rtotal; rcut++) {
				dir_clear(dir);
				dir_copy(snap, dir);
				recovery_crash(dir, places, rcut, (uint32_t)rcut);
				snprintf(what, sizeof(what),
					 "cut at %" PRIu64 " seed %u, recovery cut at %" PRIu64,
					 cut, seed, rcut);
				compact_check(dir, places, &m, what);
			}
			dir_clear(dir);
			dir_copy(snap, dir);
			snprintf(what, sizeof(what), "cut at %" PRIu64 " seed %u", cut, seed);
			compact_check(dir, places, &m, what);
			dir_clear(dir);
		}
	}
	/* a few cuts per compaction leave leftovers or a .tmp (not all: then it is the old state)
	 */
	assert_true(interrupted >= 4);
}

static void test_crash_compaction(void **state)
{
	struct fixture *f = *state;

	crash_compaction(f->base, 12, false);
}

static void test_crash_compaction_wide(void **state)
{
	struct fixture *f = *state;

	crash_compaction(f->base, 4, true);
}

/* ---- scale ---- */

static int count_cb(const struct jrec *r, void *userdata)
{
	(*(uint64_t *)userdata)++;
	return 0;
}

static void test_many_records(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t n = 0;

	j = open_j(f->dir, 1 << 20, 0, NULL);
	for (int i = 0; i < 100; i++)
		commit_events(j, 1000);
	journal_free(j);
	j = open_j(f->dir, 1 << 20, 0, NULL);
	assert_int_equal(journal_read(j, 0, count_cb, &n), 0);
	assert_int_equal(n, 100000);
	n = 0;
	assert_int_equal(journal_read(j, 99990, count_cb, &n), 0);
	assert_int_equal(n, 10);
	journal_free(j);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T_FAST(name) cmocka_unit_test_setup_teardown(name, setup_fast, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_framing_roundtrip),
	    T(test_append_rejects_bad_sizes),
	    T(test_new_journal),
	    T(test_uuid_stable),
	    T(test_checksum_flip_middle),
	    T(test_several_bad_frames),
	    T(test_torn_tail),
	    T(test_garbage_appended),
	    T(test_frame_from_other_segment),
	    T(test_missing_middle_segment),
	    T(test_other_format_version),
	    T(test_newest_segment_broken),
	    T(test_other_uuid_segment),
	    T(test_no_usable_segment),
	    T(test_tmp_leftover_removed),
	    T(test_read_only),
	    T(test_roll_and_max_bytes),
	    T(test_bad_range_ages_out),
	    T(test_read_positions),
	    T(test_read_detects_change),
	    T(test_range_intact_edges),
	    T(test_watermark),
	    T(test_clean_stop),
	    T(test_enospc_on_write),
	    T(test_eio_on_fdatasync),
	    T(test_failed_commit_then_empty_commit),
	    T(test_truncate_fails_too),
	    T(test_roll_failure),
	    T(test_roll_replaces_empty_newest),
	    T(test_open_errors),
	    T(test_crash_drops_unsynced),
	    T(test_crash_loses_new_segment_name),
	    T_FAST(test_crash_at_every_call),
	    T(test_jio_crash_model),
	    T(test_many_records),
	    T_FAST(test_compact_fold),
	    T_FAST(test_compact_coarsen),
	    T_FAST(test_compact_wide),
	    T_FAST(test_compact_drops_gone),
	    T_FAST(test_compact_token_regions),
	    T_FAST(test_compact_bad_range_crossing),
	    T_FAST(test_compact_gap_after_summary),
	    T_FAST(test_summary_damaged),
	    T_FAST(test_summary_changed_under_us),
	    T_FAST(test_summary_leftover_segments),
	    T_FAST(test_compact_failure),
	    T_FAST(test_crash_compaction),
	    T_FAST(test_crash_compaction_wide),
	};

	/* TEST_JOURNAL_FILTER=test_crash_*: run only those (cmocka's pattern) */
	if (getenv("TEST_JOURNAL_FILTER"))
		cmocka_set_test_filter(getenv("TEST_JOURNAL_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
