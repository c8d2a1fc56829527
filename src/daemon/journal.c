/* SPDX-License-Identifier: MIT */
/*
 * journal: segment files of checksummed frames. The layout, the recovery
 * rules and the reasons for every sync are in docs/journal-format.md; keep
 * the two in step.
 */
#include "daemon/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "basic/crc32c.h"
#include "basic/hashmap.h"
#include "basic/util.h"
#include "daemon/journal-io.h"
#include "fstrack.h"

#define SEG_MAGIC "FSTJOURN"
#define SEG_HEADER_SIZE 64
#define SEG_NAME_LEN 24 /* "seg-" + 16 hex + ".fsj" */
#define FRAME_HEADER_SIZE 32
#define FRAME_MAX (FRAME_HEADER_SIZE + JOURNAL_HANDLE_MAX + JOURNAL_NAME_MAX)
#define FRAME_ALIGN 8
#define INDEX_STRIDE (64 * 1024) /* bytes between index marks of a segment */
#define READ_CHUNK (1024 * 1024)
#define DEFAULT_SEGMENT_BYTES (16ull << 20)
#define DEFAULT_MAX_BYTES (256ull << 20)
#define MIN_SEGMENT_BYTES 512
#define BAD_RANGES_MAX 4096
#define NO_OFFSET UINT64_MAX

#define SUM_NAME "summary.fsj"
#define SUM_TMP "summary.fsj.tmp"
#define SUM_ASIDE "summary.fsj.broken"
#define SUM_MAGIC "FSTSUMRY"
#define SUM_FIXED 96	  /* header bytes before the checkpoint table */
#define SUM_CP_MAX 32	  /* checkpoints kept */
#define SUM_FLAG_WIDE 1u  /* no records: anything may have changed */
#define SUM_FLAG_NAMES 2u /* level >= 1: names folded into (dir, ".", entries) */
#define SUM_FLAG_MOVES 4u /* level 2: moved dirs too: (dir, ".", entries|recursive) */
#define SUM_FLAGS_KNOWN (SUM_FLAG_WIDE | SUM_FLAG_NAMES | SUM_FLAG_MOVES)
#define DEFAULT_SUMMARY_PLACES (1ull << 18)
#define SUM_WRITE_CHUNK (256 * 1024)

/* An index mark: the valid frame of seq starts at off. */
struct seg_mark {
	uint64_t seq;
	uint64_t off;
};

/* Damage found at open: bytes [off, resume) hold no valid frame. */
struct seg_skip {
	uint64_t off;
	uint64_t resume;
};

struct segment {
	char name[SEG_NAME_LEN + 1];
	uint64_t first_seq; /* from the name (and the header) */
	uint64_t end_seq;   /* last valid seq + 1; first_seq when empty */
	uint64_t bytes;	    /* file size */
	uint64_t valid_end; /* offset after the last valid frame (append here) */
	uint64_t records;
	uint64_t corrupt_bytes;
	uint64_t salt;
	bool broken;	 /* header unusable: problem says why */
	bool read_error; /* an I/O error stopped the scan at valid_end */
	/* its first and last record with a clock (event, start, stop) */
	bool timed;
	uint64_t t_first_seq, t_first_ns, t_last_seq, t_last_ns;
	char problem[64];
	struct seg_mark *marks;
	size_t n_marks, cap_marks;
	struct seg_skip *skips;
	size_t n_skips, cap_skips;
};

struct bad_range {
	uint64_t from, to; /* [from, to) */
};

struct sum_cp {
	uint64_t seq, time_ns;
};

/* summary.fsj as found at open or written by the last compaction. */
struct summary {
	bool present; /* the file exists (bytes is its size) */
	bool valid;   /* ... and is used; else problem says why */
	bool wide;
	uint8_t level;
	uint64_t from, to; /* [from, to): S0, the first detailed seq after it */
	uint64_t records;
	uint64_t bytes;
	uint64_t header_size;
	uint64_t folded;
	uint64_t salt;
	size_t n_cps;
	struct sum_cp cps[SUM_CP_MAX];
	char problem[64];
};

struct journal {
	struct jio *io;
	bool read_only;
	uint64_t segment_bytes;
	uint64_t max_bytes;
	uint64_t summary_places;
	uint64_t summary_bytes;
	bool no_summary;
	bool (*handle_gone)(void *userdata, int32_t handle_type, const uint8_t *handle,
			    uint16_t handle_len);
	void *handle_gone_data;
	int dirfd;
	int fd;		/* the newest segment, open for appending; -1 when none */
	bool need_roll; /* never append to the current file again */
	uint8_t uuid[16];

	struct segment *segs; /* oldest first */
	size_t n_segs, cap_segs;
	struct bad_range *bad; /* sorted, disjoint, not adjacent */
	size_t n_bad;
	uint64_t bad_floor; /* everything below is bad: used when ranges cannot be stored */

	uint64_t first_seq; /* the oldest detailed seq: the oldest segment's first */
	uint64_t next_seq;
	uint64_t durable_seq;
	uint64_t watermark_ns;
	bool recovered_clean;
	struct summary sum;

	uint8_t *buf; /* encoded frames not yet committed (crc filled at commit) */
	size_t buf_len;
	size_t buf_cap;
	uint64_t buf_first_seq;
	uint64_t buf_records;

	uint64_t records_appended;
	uint64_t commits;
	uint64_t truncated_bytes;
	uint64_t failed_commits;
	uint64_t lost_records;
	uint64_t bytes_committed;  /* since open */
	uint64_t compact_retry_at; /* bytes_committed before compaction is tried again */
	uint64_t compactions;
	uint64_t compact_failures;
	uint64_t places_gone;
	uint64_t leftover_segments;
};

/* ---- little endian ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t align8(uint64_t n)
{
	return (n + FRAME_ALIGN - 1) & ~(uint64_t)(FRAME_ALIGN - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * A file whose content cannot be read holds at most one record per
 * FRAME_HEADER_SIZE bytes: seqs from start up to this bound may be in it.
 */
static uint64_t seq_bound(uint64_t start, uint64_t bytes)
{
	return add_sat(start, bytes / FRAME_HEADER_SIZE + 1);
}

/* Errors that say nothing about the data: give up rather than call it damage. */
static bool is_resource_error(int r)
{
	return r == -ENOMEM || r == -EMFILE || r == -ENFILE || r == -EACCES || r == -EPERM;
}

static int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- frames ---- */

/*
 * Frame, all little endian, at 8-aligned offsets:
 *   0 u16 size  (32 + handle_len + name_len)   2 u16 flags (0)
 *   4 u32 crc32c(salt as le64, bytes [0,4), bytes [8,size))
 *   8 u64 seq   16 u64 time_ns   24 s32 handle_type
 *  28 u8 type   29 u8 kinds      30 u8 handle_len   31 u8 name_len
 *  32 handle, name, zero padding to a multiple of 8
 */
static size_t frame_size(const struct jrec *r)
{
	return FRAME_HEADER_SIZE + (size_t)r->handle_len + r->name_len;
}

static void frame_encode(uint8_t *p, const struct jrec *r)
{
	size_t size = frame_size(r);

	put16(p, (uint16_t)size);
	put16(p + 2, 0);
	put32(p + 4, 0);
	put64(p + 8, r->seq);
	put64(p + 16, r->time_ns);
	put32(p + 24, (uint32_t)r->handle_type);
	p[28] = r->type;
	p[29] = r->kinds;
	p[30] = (uint8_t)r->handle_len;
	p[31] = (uint8_t)r->name_len;
	if (r->handle_len)
		memcpy(p + FRAME_HEADER_SIZE, r->handle, r->handle_len);
	if (r->name_len)
		memcpy(p + FRAME_HEADER_SIZE + r->handle_len, r->name, r->name_len);
	memset(p + size, 0, align8(size) - size);
}

static uint32_t frame_crc(const uint8_t *p, size_t size, uint64_t salt)
{
	uint8_t s[8];
	uint32_t crc;

	put64(s, salt);
	crc = crc32c(0, s, sizeof(s));
	crc = crc32c(crc, p, 4);
	return crc32c(crc, p + 8, size - 8);
}

/*
 * Does a frame start at p (avail bytes there)? Fills *ret with pointers
 * into p. The checksum is skipped for our own buffer.
 */
static bool frame_decode(const uint8_t *p, size_t avail, uint64_t salt, bool check_crc,
			 struct jrec *ret, size_t *ret_size)
{
	size_t size;

	if (avail < FRAME_HEADER_SIZE)
		return false;
	size = get16(p);
	if (size < FRAME_HEADER_SIZE || size > avail || get16(p + 2) != 0)
		return false;
	if (p[28] < JREC_EVENT || p[28] > JREC_CLEAN_STOP || p[30] > JOURNAL_HANDLE_MAX)
		return false;
	if (size != FRAME_HEADER_SIZE + (size_t)p[30] + p[31])
		return false;
	if (check_crc && get32(p + 4) != frame_crc(p, size, salt))
		return false;
	*ret = (struct jrec){
	    .seq = get64(p + 8),
	    .type = p[28],
	    .kinds = p[29],
	    .time_ns = get64(p + 16),
	    .handle_type = (int32_t)get32(p + 24),
	    .handle_len = p[30],
	    .handle = p[30] ? p + FRAME_HEADER_SIZE : NULL,
	    .name_len = p[31],
	    .name = p[31] ? (const char *)p + FRAME_HEADER_SIZE + p[30] : NULL,
	};
	*ret_size = size;
	return true;
}

/* ---- segment header ---- */

/*
 * Header (64 bytes, little endian):
 *   0 magic "FSTJOURN"   8 u32 version   12 u32 header size (64)
 *  16 u32 compat flags  20 u32 incompat flags  24 uuid[16]
 *  40 u64 first seq     48 u64 salt      56 u32 reserved (0)
 *  60 u32 crc32c of bytes [0,60)
 */
static void header_encode(uint8_t *h, const uint8_t uuid[16], uint64_t first_seq, uint64_t salt)
{
	memset(h, 0, SEG_HEADER_SIZE);
	memcpy(h, SEG_MAGIC, 8);
	put32(h + 8, JOURNAL_FORMAT_VERSION);
	put32(h + 12, SEG_HEADER_SIZE);
	memcpy(h + 24, uuid, 16);
	put64(h + 40, first_seq);
	put64(h + 48, salt);
	put32(h + 60, crc32c(0, h, 60));
}

/* Check a header read from seg's file; sets seg->problem or fills uuid and salt. */
static void header_check(struct segment *seg, const uint8_t *h, size_t n, uint8_t ret_uuid[16])
{
	uint32_t v;

	if (n < SEG_HEADER_SIZE) {
		snprintf(seg->problem, sizeof(seg->problem), "short header (%zu bytes)", n);
	} else if (memcmp(h, SEG_MAGIC, 8) != 0) {
		snprintf(seg->problem, sizeof(seg->problem), "bad magic");
	} else if ((v = get32(h + 8)) != JOURNAL_FORMAT_VERSION) {
		snprintf(seg->problem, sizeof(seg->problem), "format version %" PRIu32, v);
	} else if (get32(h + 60) != crc32c(0, h, 60)) {
		snprintf(seg->problem, sizeof(seg->problem), "header checksum mismatch");
	} else if (get32(h + 12) != SEG_HEADER_SIZE) {
		snprintf(seg->problem, sizeof(seg->problem), "header size %" PRIu32, get32(h + 12));
	} else if ((v = get32(h + 20)) != 0) {
		snprintf(seg->problem, sizeof(seg->problem),
			 "unknown incompatible features 0x%" PRIx32, v);
	} else if (get64(h + 40) != seg->first_seq) {
		snprintf(seg->problem, sizeof(seg->problem), "header first seq %" PRIu64,
			 get64(h + 40));
	} else {
		memcpy(ret_uuid, h + 24, 16);
		seg->salt = get64(h + 48);
		return;
	}
	seg->broken = true;
}

static void seg_name(char buf[static SEG_NAME_LEN + 1], uint64_t first_seq)
{
	snprintf(buf, SEG_NAME_LEN + 1, "seg-%016" PRIx64 ".fsj", first_seq);
}

/* "seg-<16 lowercase hex>.fsj", optionally followed by suffix. */
static bool parse_seg_name(const char *name, const char *suffix, uint64_t *ret)
{
	uint64_t v = 0;

	if (strncmp(name, "seg-", 4) != 0 || strncmp(name + 20, ".fsj", 4) != 0 ||
	    strcmp(name + 24, suffix) != 0)
		return false;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*ret = v;
	return true;
}

static void segment_release(struct segment *seg)
{
	free(seg->marks);
	free(seg->skips);
	seg->marks = NULL;
	seg->skips = NULL;
	seg->n_marks = seg->n_skips = seg->cap_marks = seg->cap_skips = 0;
}

/* Index marks are an optimization: when memory is short, go without. */
static void seg_add_mark(struct segment *seg, uint64_t seq, uint64_t off)
{
	if (seg->n_marks > 0 && off - seg->marks[seg->n_marks - 1].off < INDEX_STRIDE)
		return;
	if (GROW(seg->marks, seg->cap_marks, seg->n_marks + 1) < 0)
		return;
	seg->marks[seg->n_marks++] = (struct seg_mark){seq, off};
}

/* Records whose time_ns is a clock reading (a watermark's is not). */
static bool timed_type(uint8_t type)
{
	return type == JREC_EVENT || type == JREC_START || type == JREC_CLEAN_STOP;
}

static void seg_note_time(struct segment *seg, uint64_t seq, uint8_t type, uint64_t time_ns)
{
	if (!timed_type(type))
		return;
	if (!seg->timed) {
		seg->timed = true;
		seg->t_first_seq = seq;
		seg->t_first_ns = time_ns;
	}
	seg->t_last_seq = seq;
	seg->t_last_ns = time_ns;
}

static int seg_add_skip(struct segment *seg, uint64_t off, uint64_t resume)
{
	if (GROW(seg->skips, seg->cap_skips, seg->n_skips + 1) < 0)
		return -ENOMEM;
	seg->skips[seg->n_skips++] = (struct seg_skip){off, resume};
	seg->corrupt_bytes += resume - off;
	return 0;
}

/* ---- bad ranges ---- */

/* The oldest seq the journal answers for at all: the summary's, or first_seq. */
static uint64_t history_start(const struct journal *j)
{
	return j->sum.valid ? min_u64(j->sum.from, j->first_seq) : j->first_seq;
}

/*
 * Remember that seqs [from, to) are lost or damaged. Never fails: when the
 * range cannot be stored, everything below 'to' is declared bad instead,
 * which only costs a rescan.
 */
static void add_bad(struct journal *j, uint64_t from, uint64_t to)
{
	struct bad_range *nb;
	size_t i, k;

	if (from >= to || to <= j->bad_floor)
		return;
	if (j->n_bad >= BAD_RANGES_MAX || !(nb = realloc(j->bad, (j->n_bad + 1) * sizeof(*nb)))) {
		j->bad_floor = to;
		/* ranges now below the floor say nothing more */
		for (i = k = 0; i < j->n_bad; i++)
			if (j->bad[i].to > to)
				j->bad[k++] = j->bad[i];
		j->n_bad = k;
		return;
	}
	j->bad = nb;
	for (i = 0; i < j->n_bad && j->bad[i].from < from; i++)
		;
	memmove(j->bad + i + 1, j->bad + i, (j->n_bad - i) * sizeof(*nb));
	j->bad[i] = (struct bad_range){from, to};
	j->n_bad++;
	/* merge overlapping or touching neighbours */
	for (i = k = 0; i < j->n_bad; i++) {
		if (k > 0 && j->bad[i].from <= j->bad[k - 1].to)
			j->bad[k - 1].to = max_u64(j->bad[k - 1].to, j->bad[i].to);
		else
			j->bad[k++] = j->bad[i];
	}
	j->n_bad = k;
}

/* The history start moved up: forget what lies below it. */
static void trim_bad(struct journal *j)
{
	uint64_t start = history_start(j);
	size_t i, k;

	for (i = k = 0; i < j->n_bad; i++) {
		if (j->bad[i].to <= start)
			continue;
		j->bad[k] = j->bad[i];
		j->bad[k].from = max_u64(j->bad[k].from, start);
		k++;
	}
	j->n_bad = k;
	if (j->bad_floor <= start)
		j->bad_floor = 0;
}

/* ---- reading segments ---- */

/* A read buffer: as large as the files read need, up to READ_CHUNK. */
struct read_buf {
	uint8_t *p;
	size_t cap;
};

/* Room to read a file of file_bytes bytes in one go (at most READ_CHUNK). */
static int read_buf_fit(struct read_buf *b, uint64_t file_bytes)
{
	size_t want = (size_t)min_u64(max_u64(file_bytes, 4096), READ_CHUNK);
	uint8_t *p;

	if (b->p && b->cap >= want)
		return 0;
	p = realloc(b->p, want);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = want;
	return 0;
}

struct reader {
	struct jio *io;
	int fd;
	uint64_t end; /* bytes from here on are not looked at */
	uint8_t *buf;
	size_t cap;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
};

/*
 * Make the bytes at off available: *ret points at them. Returns how many
 * (at least min(FRAME_MAX, end - off) unless the file is shorter), or -errno.
 */
static ssize_t reader_peek(struct reader *rd, uint64_t off, const uint8_t **ret)
{
	uint64_t lim = off < rd->end ? rd->end - off : 0;
	uint64_t want = min_u64(FRAME_MAX, lim);
	ssize_t n;

	if (off >= rd->boff && off + want <= rd->boff + rd->blen) {
		*ret = rd->buf + (off - rd->boff);
		return (ssize_t)min_u64(rd->boff + rd->blen - off, lim);
	}
	n = jio_pread(rd->io, rd->fd, rd->buf, (size_t)min_u64(rd->cap, lim), off);
	if (n < 0)
		return n;
	rd->boff = off;
	rd->blen = (size_t)n;
	*ret = rd->buf;
	return n;
}

/*
 * Walks the valid frames of one segment: a frame counts when its size is
 * sane, its checksum (salted with the segment's salt) matches and its seq
 * is above the previous one and below max_seq. Between valid frames it
 * searches forward, 8 bytes at a time.
 */
struct walker {
	struct reader rd;
	uint64_t salt;
	const struct seg_skip *skips; /* damage known at open: jumped silently */
	size_t n_skips, next_skip;
	uint64_t pos;
	uint64_t min_seq, max_seq;
	/* about the frame last returned */
	uint64_t off;
	uint64_t damage_off; /* NO_OFFSET, or where unknown damage before it began */
	/* at the end: where the valid data ends (torn tail or garbage follows) */
	uint64_t tail_off;
};

/* 1 with a frame in *ret; 0 at the end; -errno on a read error. */
static int walker_next(struct walker *w, struct jrec *ret)
{
	uint64_t damage = NO_OFFSET;

	for (;;) {
		const uint8_t *p;
		size_t size;
		ssize_t n;

		while (w->next_skip < w->n_skips && w->skips[w->next_skip].off < w->pos)
			w->next_skip++;
		if (w->next_skip < w->n_skips && w->skips[w->next_skip].off == w->pos) {
			w->pos = w->skips[w->next_skip++].resume;
			continue;
		}
		if (w->pos + FRAME_HEADER_SIZE > w->rd.end)
			break;
		n = reader_peek(&w->rd, w->pos, &p);
		if (n < 0) {
			w->tail_off = damage != NO_OFFSET ? damage : w->pos;
			return (int)n;
		}
		if (n < FRAME_HEADER_SIZE)
			break; /* the file is shorter than we thought */
		if (frame_decode(p, (size_t)n, w->salt, true, ret, &size) &&
		    ret->seq >= w->min_seq && ret->seq < w->max_seq) {
			w->off = w->pos;
			w->damage_off = damage;
			w->pos += align8(size);
			w->min_seq = ret->seq + 1;
			return 1;
		}
		if (damage == NO_OFFSET)
			damage = w->pos;
		w->pos += FRAME_ALIGN;
	}
	w->tail_off = damage != NO_OFFSET ? damage : w->pos;
	return 0;
}

static void walker_init(struct walker *w, struct jio *io, int fd, const struct read_buf *b,
			const struct segment *seg, uint64_t end, bool use_skips)
{
	*w = (struct walker){
	    .rd = {.io = io, .fd = fd, .end = end, .buf = b->p, .cap = b->cap},
	    .salt = seg->salt,
	    .skips = use_skips ? seg->skips : NULL,
	    .n_skips = use_skips ? seg->n_skips : 0,
	    .pos = SEG_HEADER_SIZE,
	    .min_seq = seg->first_seq,
	    .max_seq = UINT64_MAX,
	    .damage_off = NO_OFFSET,
	};
}

/* ---- the summary file ---- */

/*
 * summary.fsj (little endian; docs/journal-format.md, "The summary"):
 *   0 magic "FSTSUMRY"   8 u32 version   12 u32 header size (96 + 16 n + 8)
 *  16 u32 compat flags  20 u32 incompat flags  24 uuid[16]
 *  40 u64 from seq      48 u64 to seq    56 u64 salt   64 u64 records
 *  72 u64 file size     80 u32 flags     84 u32 n checkpoints  88 u64 folded
 *  96 n x (u64 seq, u64 time_ns)   then u32 crc32c of all bytes before, u32 0
 * and from the header size on, the records: frames as in a segment, salted
 * with this salt, type JREC_EVENT, seq 0 .. records-1, time_ns 0.
 */
static uint64_t sum_header_size(size_t n_cps)
{
	return SUM_FIXED + 16 * (uint64_t)n_cps + 8;
}

static uint32_t sum_flags(const struct summary *s)
{
	return (s->wide ? SUM_FLAG_WIDE : 0) | (s->level >= 1 ? SUM_FLAG_NAMES : 0) |
	       (s->level >= 2 ? SUM_FLAG_MOVES : 0);
}

static size_t sum_header_encode(uint8_t *h, const uint8_t uuid[16], const struct summary *s)
{
	size_t hs = (size_t)sum_header_size(s->n_cps);

	memset(h, 0, hs);
	memcpy(h, SUM_MAGIC, 8);
	put32(h + 8, JOURNAL_SUMMARY_VERSION);
	put32(h + 12, (uint32_t)hs);
	memcpy(h + 24, uuid, 16);
	put64(h + 40, s->from);
	put64(h + 48, s->to);
	put64(h + 56, s->salt);
	put64(h + 64, s->records);
	put64(h + 72, s->bytes);
	put32(h + 80, sum_flags(s));
	put32(h + 84, (uint32_t)s->n_cps);
	put64(h + 88, s->folded);
	for (size_t i = 0; i < s->n_cps; i++) {
		put64(h + SUM_FIXED + 16 * i, s->cps[i].seq);
		put64(h + SUM_FIXED + 16 * i + 8, s->cps[i].time_ns);
	}
	put32(h + hs - 8, crc32c(0, h, hs - 8));
	return hs;
}

#define SUM_BAD(s, ...)                                                                            \
	do {                                                                                       \
		snprintf((s)->problem, sizeof((s)->problem), __VA_ARGS__);                         \
		return false;                                                                      \
	} while (0)

/* Check a header (n bytes of a file of file_size bytes): fills *s, or s->problem. */
static bool sum_header_check(struct summary *s, const uint8_t *h, size_t n, uint64_t file_size,
			     const uint8_t uuid[16])
{
	uint64_t hs, from, to, records, prev = 0;
	uint32_t v, flags, ncp;

	if (n < SUM_FIXED + 8)
		SUM_BAD(s, "short header (%zu bytes)", n);
	if (memcmp(h, SUM_MAGIC, 8) != 0)
		SUM_BAD(s, "bad magic");
	if ((v = get32(h + 8)) != JOURNAL_SUMMARY_VERSION)
		SUM_BAD(s, "format version %" PRIu32, v);
	ncp = get32(h + 84);
	hs = ncp <= SUM_CP_MAX ? sum_header_size(ncp) : 0;
	if (hs == 0 || get32(h + 12) != hs || n < hs)
		SUM_BAD(s, "header size %" PRIu32 ", %" PRIu32 " checkpoints", get32(h + 12), ncp);
	if (get32(h + hs - 8) != crc32c(0, h, hs - 8))
		SUM_BAD(s, "header checksum mismatch");
	if ((v = get32(h + 20)) != 0)
		SUM_BAD(s, "unknown incompatible features 0x%" PRIx32, v);
	if ((flags = get32(h + 80)) & ~SUM_FLAGS_KNOWN)
		SUM_BAD(s, "unknown flags 0x%" PRIx32, flags);
	if (memcmp(h + 24, uuid, 16) != 0)
		SUM_BAD(s, "other journal uuid");
	from = get64(h + 40);
	to = get64(h + 48);
	records = get64(h + 64);
	if (from >= to)
		SUM_BAD(s, "empty range %" PRIu64 "..%" PRIu64, from, to);
	if (get64(h + 72) != file_size)
		SUM_BAD(s, "%" PRIu64 " bytes, header says %" PRIu64, file_size, get64(h + 72));
	if (records > (file_size - hs) / FRAME_HEADER_SIZE || ((flags & SUM_FLAG_WIDE) && records))
		SUM_BAD(s, "%" PRIu64 " records in %" PRIu64 " bytes", records, file_size);
	for (uint32_t i = 0; i < ncp; i++) {
		uint64_t seq = get64(h + SUM_FIXED + 16 * i);
		if (seq < from || seq >= to || seq < prev)
			SUM_BAD(s, "checkpoint %" PRIu32 " at seq %" PRIu64, i, seq);
		prev = seq;
		s->cps[i] = (struct sum_cp){seq, get64(h + SUM_FIXED + 16 * i + 8)};
	}
	s->n_cps = ncp;
	s->from = from;
	s->to = to;
	s->records = records;
	s->header_size = hs;
	s->salt = get64(h + 56);
	s->folded = get64(h + 88);
	s->wide = flags & SUM_FLAG_WIDE;
	s->level = flags & SUM_FLAG_MOVES ? 2 : flags & SUM_FLAG_NAMES ? 1 : 0;
	return true;
}

/*
 * Read summary.fsj: its header (checked, into *ret; when expect is given it
 * must describe the same file), then every frame. Frames must be valid,
 * numbered 0, 1, ... without a gap, exactly ret->records of them, ending at
 * the end of the file. cb (may be NULL) gets each record with seq set to
 * the summary's first seq; a non-zero return stops the walk and is stored
 * in *ret_stop. Returns 0, -ENOENT (no file), -EBADMSG (fails a check:
 * ret->problem says why) or a resource error.
 */
static int summary_read(struct journal *j, const struct summary *expect, struct summary *ret,
			journal_cb cb, void *userdata, int *ret_stop)
{
	uint8_t h[SUM_FIXED + 16 * SUM_CP_MAX + 8];
	struct segment pseudo = {0};
	struct read_buf rb = {0};
	struct walker w;
	struct stat st;
	uint64_t idx = 0;
	int fd, r = -EBADMSG, stop = 0;
	ssize_t n;

	*ret = (struct summary){0};
	fd = jio_openat(j->io, j->dirfd, SUM_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		if ((fd == -ENOENT && !expect) || is_resource_error(fd))
			return fd;
		ret->present = fd != -ENOENT;
		snprintf(ret->problem, sizeof(ret->problem), "cannot open: %s", strerror(-fd));
		return -EBADMSG;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	ret->present = true;
	ret->bytes = (uint64_t)st.st_size;
	n = jio_pread(j->io, fd, h, sizeof(h), 0);
	if (n < 0) {
		r = is_resource_error((int)n) ? (int)n : -EBADMSG;
		snprintf(ret->problem, sizeof(ret->problem), "header unreadable: %s",
			 strerror((int)-n));
		goto out;
	}
	if (!sum_header_check(ret, h, (size_t)n, ret->bytes, j->uuid))
		goto out;
	if (expect &&
	    (ret->salt != expect->salt || ret->from != expect->from || ret->to != expect->to ||
	     ret->records != expect->records || ret->bytes != expect->bytes)) {
		snprintf(ret->problem, sizeof(ret->problem), "changed since it was read");
		goto out;
	}
	if (read_buf_fit(&rb, ret->bytes) < 0) {
		r = -ENOMEM;
		goto out;
	}
	pseudo.salt = ret->salt;
	walker_init(&w, j->io, fd, &rb, &pseudo, ret->bytes, false);
	w.pos = ret->header_size;
	for (; idx < ret->records && stop == 0; idx++) {
		struct jrec rec;
		int k = walker_next(&w, &rec);

		if (k < 0 && is_resource_error(k)) {
			r = k;
			goto out;
		}
		if (k <= 0 || w.damage_off != NO_OFFSET || rec.seq != idx ||
		    rec.type != JREC_EVENT) {
			snprintf(ret->problem, sizeof(ret->problem), "record %" PRIu64 ": %s", idx,
				 k < 0 ? strerror(-k) : "missing or damaged");
			goto out;
		}
		if (cb) {
			rec.seq = ret->from;
			rec.summary = true;
			stop = cb(&rec, userdata);
		}
	}
	if (stop == 0 && w.pos != ret->bytes) {
		snprintf(ret->problem, sizeof(ret->problem), "%" PRIu64 " bytes after the records",
			 ret->bytes - min_u64(w.pos, ret->bytes));
		goto out;
	}
	r = 0;
	ret->valid = true;
out:
	if (ret_stop)
		*ret_stop = stop;
	free(rb.p);
	jio_close(j->io, fd);
	return r;
}

/* The summary cannot be used any more: its tokens become GONE. */
static void summary_lost(struct journal *j, const char *why)
{
	j->sum.valid = false;
	snprintf(j->sum.problem, sizeof(j->sum.problem), "%s", why);
	trim_bad(j);
}

/* ---- open ---- */

struct scan_state {
	uint64_t expected; /* the seq the next record should have */
	uint64_t last_seq;
	uint8_t last_type;
	bool have_last;
	uint64_t watermark_ns;
};

/* Validate every frame of seg (header already good): marks, skips, gaps. */
static int scan_segment(struct journal *j, struct segment *seg, int fd, uint64_t max_seq,
			struct read_buf *rb, struct scan_state *st)
{
	struct walker w;
	struct jrec rec;
	int r;

	r = read_buf_fit(rb, seg->bytes);
	if (r < 0)
		return r;
	walker_init(&w, j->io, fd, rb, seg, seg->bytes, false);
	w.max_seq = max_seq;
	while ((r = walker_next(&w, &rec)) > 0) {
		if (w.damage_off != NO_OFFSET) {
			r = seg_add_skip(seg, w.damage_off, w.off);
			if (r < 0)
				return r;
		}
		if (rec.seq > st->expected)
			add_bad(j, st->expected, rec.seq);
		st->expected = rec.seq + 1;
		seg_add_mark(seg, rec.seq, w.off);
		seg_note_time(seg, rec.seq, rec.type, rec.time_ns);
		seg->records++;
		st->last_seq = rec.seq;
		st->last_type = rec.type;
		st->have_last = true;
		if (rec.type == JREC_WATERMARK)
			st->watermark_ns = rec.time_ns;
	}
	seg->valid_end = w.tail_off;
	seg->end_seq = st->expected;
	if (r < 0) {
		if (is_resource_error(r))
			return r;
		seg->read_error = true;
		snprintf(seg->problem, sizeof(seg->problem), "read error at %" PRIu64 ": %s",
			 w.tail_off, strerror(-r));
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

/* Collect seg-*.fsj (sorted); in read-write mode remove leftover seg-*.fsj.tmp. */
static int list_segments(struct journal *j)
{
	struct dirent *de;
	DIR *d;
	int r = opendir_dup(j->dirfd, &d);

	if (r < 0)
		return r;
	for (;;) {
		struct segment *ns;
		uint64_t seq;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = -errno;
			break;
		}
		if (parse_seg_name(de->d_name, ".tmp", &seq) || strcmp(de->d_name, SUM_TMP) == 0) {
			/* a roll or a compaction that did not finish: never named, never used */
			if (!j->read_only)
				(void)jio_unlinkat(j->io, j->dirfd, de->d_name);
			continue;
		}
		if (!parse_seg_name(de->d_name, "", &seq))
			continue;
		if (GROW(j->segs, j->cap_segs, j->n_segs + 1) < 0) {
			r = -ENOMEM;
			break;
		}
		ns = j->segs;
		ns[j->n_segs] = (struct segment){.first_seq = seq, .end_seq = seq};
		seg_name(ns[j->n_segs].name, seq);
		j->n_segs++;
	}
	closedir(d);
	if (r == 0 && j->n_segs > 1)
		qsort(j->segs, j->n_segs, sizeof(*j->segs), cmp_seg);
	return r;
}

/* Read the header of every segment; the newest good one names the journal. */
static int read_headers(struct journal *j, uint8_t ret_uuids[][16])
{
	for (size_t i = 0; i < j->n_segs; i++) {
		struct segment *seg = &j->segs[i];
		uint8_t h[SEG_HEADER_SIZE];
		struct stat st;
		ssize_t n;
		int fd;

		fd = jio_openat(j->io, j->dirfd, seg->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
		if (fd < 0) {
			if (is_resource_error(fd))
				return fd;
			seg->broken = true;
			snprintf(seg->problem, sizeof(seg->problem), "cannot open: %s",
				 strerror(-fd));
			continue;
		}
		if (fstat(fd, &st) < 0) {
			int r = -errno;
			jio_close(j->io, fd);
			return r;
		}
		seg->bytes = (uint64_t)st.st_size;
		n = jio_pread(j->io, fd, h, sizeof(h), 0);
		jio_close(j->io, fd);
		if (n < 0) {
			if (is_resource_error((int)n))
				return (int)n;
			seg->broken = true;
			snprintf(seg->problem, sizeof(seg->problem), "header unreadable: %s",
				 strerror((int)-n));
			continue;
		}
		header_check(seg, h, (size_t)n, ret_uuids[i]);
	}
	return 0;
}

static int open_dir(struct journal *j, const char *dir)
{
	char parent[PATH_MAX], *slash;
	bool created = false;
	int r, fd;

	if (!j->read_only) {
		r = jio_mkdir(j->io, dir, 0700);
		if (r == -ENOENT) /* parents first: plain directories, not journal state */
			r = mkdir_p(dir, 0700);
		if (r == 0)
			created = true;
		else if (r != -EEXIST)
			return r;
	}
	fd = jio_openat(j->io, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	j->dirfd = fd;
	if (!created)
		return 0;
	/* A new journal directory must survive a crash like its files. */
	if (strlen(dir) >= sizeof(parent))
		return -ENAMETOOLONG;
	strcpy(parent, dir);
	while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
		*slash = '\0';
	slash = strrchr(parent, '/');
	if (!slash)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	fd = jio_openat(j->io, AT_FDCWD, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	r = jio_fsync_dir(j->io, fd);
	jio_close(j->io, fd);
	return r;
}

/*
 * Create the segment that starts at first_seq: written and synced under a
 * temporary name, then renamed and the directory synced, so a segment file
 * always has a durable, valid header.
 */
static int segment_create(struct journal *j, uint64_t first_seq)
{
	char name[SEG_NAME_LEN + 1], tmp[SEG_NAME_LEN + 5];
	uint8_t h[SEG_HEADER_SIZE];
	struct segment seg;
	bool renamed = false;
	uint64_t salt;
	int fd, r;

	seg_name(name, first_seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	r = random_bytes(&salt, sizeof(salt));
	if (r < 0)
		return r;
	/*
	 * The newest segment starts at the same seq only when it holds no
	 * valid record (a torn tail we could not cut): the rename below
	 * replaces it, so forget it now, whatever happens next.
	 */
	if (j->n_segs > 0 && j->segs[j->n_segs - 1].first_seq == first_seq) {
		(void)jio_close(j->io, j->fd); /* never written through: nothing to lose */
		j->fd = -1;
		segment_release(&j->segs[j->n_segs - 1]);
		j->n_segs--;
	}
	/* room first, so nothing can fail after the file is in place */
	if (GROW(j->segs, j->cap_segs, j->n_segs + 1) < 0)
		return -ENOMEM;

	header_encode(h, j->uuid, first_seq, salt);
	fd = jio_openat(j->io, j->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			0600);
	if (fd < 0)
		return fd;
	r = jio_pwrite(j->io, fd, h, sizeof(h), 0);
	if (r == 0)
		r = jio_fdatasync(j->io, fd);
	if (r == 0) {
		r = jio_renameat(j->io, j->dirfd, tmp, name);
		renamed = r == 0;
	}
	if (r == 0)
		r = jio_fsync_dir(j->io, j->dirfd);
	if (r < 0) {
		jio_close(j->io, fd);
		(void)jio_unlinkat(j->io, j->dirfd, renamed ? name : tmp);
		return r;
	}

	seg = (struct segment){
	    .first_seq = first_seq,
	    .end_seq = first_seq,
	    .bytes = SEG_HEADER_SIZE,
	    .valid_end = SEG_HEADER_SIZE,
	    .salt = salt,
	};
	memcpy(seg.name, name, sizeof(name));
	j->segs[j->n_segs++] = seg;
	jio_close(j->io, j->fd);
	j->fd = fd;
	j->need_roll = false;
	return 0;
}

/* Nothing usable on disk: a new journal (new uuid) whose seqs go past the old ones. */
static int start_fresh(struct journal *j)
{
	uint64_t first = 0;
	int r;

	for (size_t i = 0; i < j->n_segs; i++)
		first = max_u64(first, seq_bound(j->segs[i].first_seq, j->segs[i].bytes));
	j->first_seq = j->next_seq = j->durable_seq = first;
	j->watermark_ns = 0;
	j->recovered_clean = false;
	if (j->read_only)
		return 0; /* nothing to name: keep the uuid zero, report the damage */

	r = random_bytes(j->uuid, sizeof(j->uuid));
	if (r < 0)
		return r;
	/* Keep the unusable files for inspection, out of the journal's way. */
	for (size_t i = 0; i < j->n_segs; i++) {
		char aside[SEG_NAME_LEN + 8];
		snprintf(aside, sizeof(aside), "%s.broken", j->segs[i].name);
		r = jio_renameat(j->io, j->dirfd, j->segs[i].name, aside);
		if (r < 0 && r != -ENOENT)
			return r;
		segment_release(&j->segs[i]);
	}
	j->n_segs = 0;
	j->n_bad = 0;
	j->bad_floor = 0;
	/* a summary of the old journal says nothing about the new one */
	r = jio_renameat(j->io, j->dirfd, SUM_NAME, SUM_ASIDE);
	if (r < 0 && r != -ENOENT)
		return r;
	return segment_create(j, first);
}

/*
 * Read summary.fsj (after the uuid is known). A valid one whose to_seq is
 * above the first seq of some segments means a crash between the rename
 * of the new summary and the unlink of the segments it folded: those
 * segments are removed now (ignored when read-only). A summary that fails
 * any check, or that no segment follows, is ignored: its tokens are GONE.
 */
static int summary_load(struct journal *j)
{
	size_t keep = 0;
	int r = summary_read(j, NULL, &j->sum, NULL, NULL, NULL);

	if (r == -ENOENT) {
		j->sum = (struct summary){0};
		return 0;
	}
	if (r == -EBADMSG)
		return 0; /* present, not valid, problem says why */
	if (r < 0)
		return r;
	while (keep < j->n_segs && j->segs[keep].first_seq < j->sum.to)
		keep++;
	if (keep == j->n_segs) {
		j->sum.valid = false;
		snprintf(j->sum.problem, sizeof(j->sum.problem),
			 "no segment at or after its end %" PRIu64, j->sum.to);
		return 0;
	}
	if (keep == 0)
		return 0;
	for (size_t i = 0; i < keep; i++) {
		if (!j->read_only)
			(void)jio_unlinkat(j->io, j->dirfd, j->segs[i].name);
		segment_release(&j->segs[i]);
	}
	if (!j->read_only)
		(void)jio_fsync_dir(j->io, j->dirfd); /* if lost, they are removed again */
	memmove(j->segs, j->segs + keep, (j->n_segs - keep) * sizeof(*j->segs));
	j->n_segs -= keep;
	j->leftover_segments = keep;
	return 0;
}

static int recover(struct journal *j)
{
	struct scan_state st = {0};
	uint8_t(*uuids)[16] = NULL;
	struct read_buf rb = {0};
	size_t newest_good = SIZE_MAX;
	int r;

	r = list_segments(j);
	if (r < 0)
		return r;
	if (j->n_segs > 0) {
		uuids = calloc(j->n_segs, sizeof(*uuids));
		if (!uuids)
			return -ENOMEM;
	}
	r = read_headers(j, uuids);
	if (r < 0)
		goto out;
	for (size_t i = j->n_segs; i-- > 0;) {
		if (!j->segs[i].broken) {
			newest_good = i;
			break;
		}
	}
	if (newest_good == SIZE_MAX) {
		r = start_fresh(j);
		goto out;
	}
	memcpy(j->uuid, uuids[newest_good], 16);
	for (size_t i = 0; i < j->n_segs; i++) {
		if (!j->segs[i].broken && memcmp(uuids[i], j->uuid, 16) != 0) {
			j->segs[i].broken = true;
			snprintf(j->segs[i].problem, sizeof(j->segs[i].problem),
				 "other journal uuid");
		}
	}

	r = summary_load(j);
	if (r < 0)
		goto out;
	/* after a summary, records are expected from its end on */
	st.expected = j->sum.valid ? j->sum.to : j->segs[0].first_seq;
	for (size_t i = 0; i < j->n_segs; i++) {
		struct segment *seg = &j->segs[i];
		bool newest = i + 1 == j->n_segs;
		uint64_t max_seq = newest ? UINT64_MAX : j->segs[i + 1].first_seq;
		int fd;

		if (seg->first_seq > st.expected)
			add_bad(j, st.expected, seg->first_seq); /* missing segment or lost tail */
		st.expected = max_u64(st.expected, seg->first_seq);
		fd = -1;
		if (!seg->broken) {
			fd = jio_openat(j->io, j->dirfd, seg->name,
					O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
			if (fd < 0 && is_resource_error(fd)) {
				r = fd;
				goto out;
			}
			if (fd < 0) {
				seg->broken = true;
				snprintf(seg->problem, sizeof(seg->problem), "cannot open: %s",
					 strerror(-fd));
			}
		}
		if (seg->broken) {
			uint64_t end = newest ? seq_bound(seg->first_seq, seg->bytes) : max_seq;
			add_bad(j, st.expected, end);
			st.expected = max_u64(st.expected, end);
			continue;
		}
		r = scan_segment(j, seg, fd, max_seq, &rb, &st);
		jio_close(j->io, fd);
		if (r < 0)
			goto out;
		if (seg->read_error && newest) {
			/* what follows cannot be read: its seqs may have been handed out */
			uint64_t end = seq_bound(st.expected, seg->bytes > seg->valid_end
								  ? seg->bytes - seg->valid_end
								  : 0);
			add_bad(j, st.expected, end);
			st.expected = end;
		}
	}

	j->first_seq = j->segs[0].first_seq;
	j->next_seq = j->durable_seq = st.expected;
	j->watermark_ns = st.watermark_ns;
	j->recovered_clean =
	    st.have_last && st.last_type == JREC_CLEAN_STOP && st.last_seq + 1 == j->next_seq;

	{
		struct segment *last = &j->segs[j->n_segs - 1];
		if (last->broken || last->read_error) {
			j->need_roll = true;
		} else {
			if (last->bytes > last->valid_end)
				j->truncated_bytes = last->bytes - last->valid_end;
			if (!j->read_only) {
				r = jio_openat(j->io, j->dirfd, last->name,
					       O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
				if (r < 0)
					goto out;
				j->fd = r;
				r = 0;
				/* Torn tail: cut it, so appends continue right after the last
				 * frame. */
				if (last->bytes != last->valid_end) {
					if (jio_ftruncate(j->io, j->fd, last->valid_end) == 0)
						last->bytes = last->valid_end;
					else
						j->need_roll = true;
				}
			}
		}
	}
	r = 0;
out:
	free(uuids);
	free(rb.p);
	return r;
}

int journal_open(const char *dir, const struct journal_options *opt, struct journal **ret)
{
	struct journal *j;
	int r;

	if (!dir || !ret)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = j->fd = -1;
	j->segment_bytes = opt && opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES;
	j->segment_bytes = max_u64(j->segment_bytes, MIN_SEGMENT_BYTES);
	j->max_bytes = opt && opt->max_bytes ? opt->max_bytes : DEFAULT_MAX_BYTES;
	j->summary_places =
	    opt && opt->summary_places ? opt->summary_places : DEFAULT_SUMMARY_PLACES;
	j->summary_bytes = opt && opt->summary_bytes ? opt->summary_bytes : j->max_bytes / 8;
	j->summary_bytes = min_u64(j->summary_bytes, j->max_bytes / 2); /* room for segments */
	j->no_summary = opt && opt->no_summary;
	j->handle_gone = opt ? opt->handle_gone : NULL;
	j->handle_gone_data = opt ? opt->handle_gone_data : NULL;
	j->io = opt ? opt->io : NULL;
	j->read_only = opt && opt->read_only;

	r = open_dir(j, dir);
	if (r == 0)
		r = recover(j);
	if (r < 0) {
		journal_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

struct journal *journal_free(struct journal *j)
{
	if (!j)
		return NULL;
	jio_close(j->io, j->fd);
	jio_close(j->io, j->dirfd);
	for (size_t i = 0; i < j->n_segs; i++)
		segment_release(&j->segs[i]);
	free(j->segs);
	free(j->bad);
	free(j->buf);
	free(j);
	return NULL;
}

/* ---- accessors ---- */

const uint8_t *journal_uuid(const struct journal *j)
{
	return j->uuid;
}

void journal_uuid_hex(const struct journal *j, char buf[static 33])
{
	hex_encode(j->uuid, sizeof(j->uuid), buf);
}

uint64_t journal_next_seq(const struct journal *j)
{
	return j->next_seq;
}

uint64_t journal_first_seq(const struct journal *j)
{
	return j->first_seq;
}

uint64_t journal_durable_seq(const struct journal *j)
{
	return j->durable_seq;
}

static uint64_t total_bytes(const struct journal *j)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < j->n_segs; i++)
		sum += j->segs[i].bytes;
	return sum;
}

void journal_get_stats(const struct journal *j, struct journal_stats *ret)
{
	*ret = (struct journal_stats){
	    .first_seq = j->first_seq,
	    .next_seq = j->next_seq,
	    .durable_seq = j->durable_seq,
	    .bytes = total_bytes(j),
	    .segments = j->n_segs,
	    .records_appended = j->records_appended,
	    .commits = j->commits,
	    .bad_ranges = j->n_bad + (j->bad_floor > history_start(j)),
	    .watermark_ns = j->watermark_ns,
	    .recovered_clean = j->recovered_clean,
	    .truncated_bytes = j->truncated_bytes,
	    .failed_commits = j->failed_commits,
	    .lost_records = j->lost_records,
	    .summary_bytes = j->sum.present ? j->sum.bytes : 0,
	    .summary_places = j->sum.valid ? j->sum.records : 0,
	    .summary_from_seq = history_start(j),
	    .summary_to_seq = j->sum.valid ? min_u64(j->sum.to, j->first_seq) : j->first_seq,
	    .summary_wide = j->sum.valid && j->sum.wide,
	    .summary_level = j->sum.valid ? j->sum.level : 0,
	    .compactions = j->compactions,
	    .compact_failures = j->compact_failures,
	    .places_gone = j->places_gone,
	    .leftover_segments = j->leftover_segments,
	};
	for (size_t i = 0; i < j->n_segs; i++) {
		ret->broken_segments += j->segs[i].broken;
		ret->corrupt_bytes += j->segs[i].corrupt_bytes;
	}
}

int journal_get_segment(const struct journal *j, size_t idx, struct journal_segment_info *ret)
{
	const struct segment *seg;

	if (idx >= j->n_segs)
		return -ENOENT;
	seg = &j->segs[idx];
	*ret = (struct journal_segment_info){
	    .first_seq = seg->first_seq,
	    .end_seq = seg->end_seq,
	    .records = seg->records,
	    .bytes = seg->bytes,
	    .valid_bytes = seg->broken ? 0 : seg->valid_end,
	    .corrupt_bytes = seg->corrupt_bytes,
	    .tail_bytes =
		!seg->broken && seg->bytes > seg->valid_end ? seg->bytes - seg->valid_end : 0,
	    .problem = seg->broken || seg->read_error ? seg->problem : NULL,
	    .first_time_ns = seg->timed ? seg->t_first_ns : 0,
	    .last_time_ns = seg->timed ? seg->t_last_ns : 0,
	};
	memcpy(ret->name, seg->name, sizeof(seg->name));
	return 0;
}

int journal_get_bad_range(const struct journal *j, size_t idx, uint64_t *ret_from, uint64_t *ret_to)
{
	if (j->bad_floor > history_start(j)) {
		if (idx == 0) {
			*ret_from = history_start(j);
			*ret_to = j->bad_floor;
			return 0;
		}
		idx--;
	}
	if (idx >= j->n_bad)
		return -ENOENT;
	*ret_from = j->bad[idx].from;
	*ret_to = j->bad[idx].to;
	return 0;
}

void journal_get_summary(const struct journal *j, struct journal_summary_info *ret)
{
	const struct summary *s = &j->sum;

	*ret = (struct journal_summary_info){
	    .present = s->present,
	    .valid = s->valid,
	    .wide = s->wide,
	    .level = s->level,
	    .from_seq = s->from,
	    .to_seq = s->to,
	    .records = s->records,
	    .bytes = s->bytes,
	    .folded = s->folded,
	    .checkpoints = s->n_cps,
	    .problem = s->present && !s->valid ? s->problem : NULL,
	};
}

int journal_get_checkpoint(const struct journal *j, size_t idx, uint64_t *ret_seq,
			   uint64_t *ret_time_ns)
{
	if (idx >= j->sum.n_cps)
		return -ENOENT;
	*ret_seq = j->sum.cps[idx].seq;
	*ret_time_ns = j->sum.cps[idx].time_ns;
	return 0;
}

int journal_seq_time(const struct journal *j, uint64_t seq, uint64_t *ret_ns)
{
	if (j->sum.valid && seq < j->sum.to) {
		for (size_t i = 0; i < j->sum.n_cps; i++) {
			if (j->sum.cps[i].seq >= seq) {
				*ret_ns = j->sum.cps[i].time_ns;
				return 0;
			}
		}
	}
	for (size_t i = 0; i < j->n_segs; i++) {
		const struct segment *seg = &j->segs[i];
		if (!seg->timed || seg->t_last_seq < seq)
			continue;
		*ret_ns = seg->t_first_seq >= seq ? seg->t_first_ns : seg->t_last_ns;
		return 0;
	}
	for (size_t off = 0; off < j->buf_len;) {
		const uint8_t *p = j->buf + off;
		if (get64(p + 8) >= seq && timed_type(p[28])) {
			*ret_ns = get64(p + 16);
			return 0;
		}
		off += align8(get16(p));
	}
	return -ENOENT;
}

enum journal_range journal_range_check(const struct journal *j, uint64_t from, uint64_t now_ns,
				       uint64_t max_age_ns)
{
	uint64_t t;

	if (from > j->next_seq)
		return JOURNAL_RANGE_FUTURE;
	if (from < history_start(j))
		return JOURNAL_RANGE_GONE;
	if (from < j->bad_floor)
		return JOURNAL_RANGE_DAMAGED;
	for (size_t i = 0; i < j->n_bad; i++)
		if (j->bad[i].to > from && j->bad[i].from < j->next_seq)
			return JOURNAL_RANGE_DAMAGED;
	if (max_age_ns && journal_seq_time(j, from, &t) == 0 && now_ns > t &&
	    now_ns - t > max_age_ns)
		return JOURNAL_RANGE_TOO_OLD;
	if (from < j->first_seq) /* then the summary is valid, and ends at first_seq */
		return j->sum.wide ? JOURNAL_RANGE_WIDE : JOURNAL_RANGE_SUMMARY;
	return JOURNAL_RANGE_EXACT;
}

const char *journal_range_name(enum journal_range r)
{
	static const char *const names[] = {
	    [JOURNAL_RANGE_EXACT] = "exact",   [JOURNAL_RANGE_SUMMARY] = "summary",
	    [JOURNAL_RANGE_WIDE] = "wide",     [JOURNAL_RANGE_TOO_OLD] = "too_old",
	    [JOURNAL_RANGE_GONE] = "gone",     [JOURNAL_RANGE_DAMAGED] = "damaged",
	    [JOURNAL_RANGE_FUTURE] = "future",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

bool journal_range_intact(const struct journal *j, uint64_t from)
{
	enum journal_range r = journal_range_check(j, from, 0, 0);

	return r == JOURNAL_RANGE_EXACT || r == JOURNAL_RANGE_SUMMARY;
}

/* ---- appending ---- */

int journal_space(const struct journal *j, uint64_t *ret_free, uint64_t *ret_total)
{
	struct statvfs sv;

	if (fstatvfs(j->dirfd, &sv) < 0)
		return -errno;
	*ret_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	*ret_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	return 0;
}

bool journal_dirty(const struct journal *j)
{
	return j->buf_len > 0;
}

size_t journal_pending_bytes(const struct journal *j)
{
	return j->buf_len;
}

static int buffer_record(struct journal *j, struct jrec *r)
{
	size_t need = align8(frame_size(r));

	if (j->next_seq == UINT64_MAX)
		return -EOVERFLOW;
	if (GROW(j->buf, j->buf_cap, j->buf_len + need) < 0)
		return -ENOMEM;
	r->seq = j->next_seq;
	frame_encode(j->buf + j->buf_len, r);
	if (j->buf_len == 0)
		j->buf_first_seq = r->seq;
	j->buf_len += need;
	j->buf_records++;
	j->next_seq++;
	return 0;
}

int journal_append(struct journal *j, struct jrec *r)
{
	int ret;

	if (!j || !r)
		return -EINVAL;
	if (j->read_only)
		return -EROFS;
	if (r->type < JREC_EVENT || r->type > JREC_CLEAN_STOP)
		return -EINVAL;
	if (r->handle_len > JOURNAL_HANDLE_MAX || r->name_len > JOURNAL_NAME_MAX)
		return -EINVAL;
	if ((r->handle_len && !r->handle) || (r->name_len && !r->name))
		return -EINVAL;
	ret = buffer_record(j, r);
	if (ret == 0)
		j->records_appended++;
	return ret;
}

static void drop_buffer(struct journal *j)
{
	j->buf_len = 0;
	j->buf_records = 0;
}

/*
 * A commit failed: its records are gone and their seqs are never given
 * again. If bytes may have reached the file, cut them off; when even that
 * fails, or the sync failed (after a writeback error the page cache of the
 * file cannot be trusted), the next commit starts a new segment.
 */
static int commit_failed(struct journal *j, int err, bool wrote, bool synced)
{
	struct segment *seg = j->n_segs ? &j->segs[j->n_segs - 1] : NULL;

	add_bad(j, j->buf_first_seq, j->next_seq);
	j->failed_commits++;
	j->lost_records += j->buf_records;
	drop_buffer(j);
	if (wrote && seg && j->fd >= 0) {
		struct stat st;
		if (jio_ftruncate(j->io, j->fd, seg->valid_end) < 0 || synced)
			j->need_roll = true;
		if (fstat(j->fd, &st) == 0)
			seg->bytes = (uint64_t)st.st_size;
	}
	return err;
}

/* Past max_bytes: fold (or remove) the oldest segments; below, after reading. */
static void enforce_max_bytes(struct journal *j);

int journal_commit(struct journal *j, uint64_t watermark_ns)
{
	struct segment *seg;
	uint64_t wm = max_u64(watermark_ns, j->watermark_ns);
	bool write_wm;
	int r;

	if (j->read_only)
		return -EROFS;
	/*
	 * A watermark goes in when it moved, and when nothing else would
	 * make next_seq durable after a failed commit: seqs of lost records
	 * must never be given again, so the disk must show a seq past them.
	 */
	write_wm =
	    watermark_ns > j->watermark_ns || (j->buf_len == 0 && j->durable_seq != j->next_seq);
	if (j->buf_len == 0 && !write_wm)
		return 0;
	if (write_wm) {
		struct jrec w = {.type = JREC_WATERMARK, .time_ns = wm};
		r = buffer_record(j, &w);
		if (r < 0)
			return r; /* nothing changed: the caller may retry */
	}

	if (j->need_roll || j->fd < 0 || j->segs[j->n_segs - 1].valid_end >= j->segment_bytes) {
		r = segment_create(j, j->buf_first_seq);
		if (r < 0)
			return commit_failed(j, r, false, false);
	}
	seg = &j->segs[j->n_segs - 1];
	for (size_t off = 0; off < j->buf_len;) {
		uint8_t *p = j->buf + off;
		size_t size = get16(p);
		put32(p + 4, frame_crc(p, size, seg->salt));
		off += align8(size);
	}
	r = jio_pwrite(j->io, j->fd, j->buf, j->buf_len, seg->valid_end);
	if (r < 0)
		return commit_failed(j, r, true, false);
	r = jio_fdatasync(j->io, j->fd);
	if (r < 0)
		return commit_failed(j, r, true, true);

	for (size_t off = 0; off < j->buf_len;) {
		const uint8_t *p = j->buf + off;
		seg_add_mark(seg, get64(p + 8), seg->valid_end + off);
		seg_note_time(seg, get64(p + 8), p[28], get64(p + 16));
		off += align8(get16(p));
	}
	seg->valid_end += j->buf_len;
	seg->bytes = seg->valid_end;
	seg->records += j->buf_records;
	seg->end_seq = j->next_seq;
	j->durable_seq = j->next_seq;
	j->bytes_committed += j->buf_len;
	if (write_wm)
		j->watermark_ns = wm;
	j->commits++;
	drop_buffer(j);
	enforce_max_bytes(j);
	return 0;
}

int journal_close_clean(struct journal *j, uint64_t now_ns)
{
	struct jrec r = {.type = JREC_CLEAN_STOP, .time_ns = now_ns};
	int ret = journal_append(j, &r);

	if (ret < 0)
		return ret;
	return journal_commit(j, 0);
}

/* ---- reading ---- */

static size_t seg_find(const struct journal *j, uint64_t seq)
{
	size_t lo = 0, hi = j->n_segs;

	/* the last segment with first_seq <= seq, or 0 */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->segs[mid].first_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int read_segment(struct journal *j, size_t idx, uint64_t from, journal_cb cb, void *userdata,
			struct read_buf *rb, bool *ret_damaged)
{
	struct segment *seg = &j->segs[idx];
	bool own_fd = !(idx + 1 == j->n_segs && j->fd >= 0);
	uint64_t expected;
	struct walker w;
	struct jrec rec;
	int fd, r, stop = 0;

	fd = own_fd ? jio_openat(j->io, j->dirfd, seg->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0)
		    : j->fd;
	if (fd < 0) {
		if (is_resource_error(fd))
			return fd;
		add_bad(j, seg->first_seq, seg->end_seq); /* gone or unreadable now */
		*ret_damaged = true;
		return 0;
	}
	r = read_buf_fit(rb, seg->valid_end);
	if (r < 0) {
		if (own_fd)
			jio_close(j->io, fd);
		return r;
	}
	walker_init(&w, j->io, fd, rb, seg, seg->valid_end, true);
	if (idx + 1 < j->n_segs)
		w.max_seq = j->segs[idx + 1].first_seq;
	/* start at the last index mark at or before from */
	for (size_t lo = 0, hi = seg->n_marks; hi > lo;) {
		size_t mid = lo + (hi - lo) / 2;
		if (seg->marks[mid].seq <= from) {
			w.pos = seg->marks[mid].off;
			w.min_seq = seg->marks[mid].seq;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	expected = w.min_seq;
	while ((r = walker_next(&w, &rec)) > 0) {
		if (w.damage_off != NO_OFFSET) {
			/* not there at open: the file changed under us */
			add_bad(j, expected, rec.seq);
			*ret_damaged = true;
		}
		expected = rec.seq + 1;
		if (rec.seq < from)
			continue;
		stop = cb(&rec, userdata);
		if (stop != 0)
			break;
	}
	if (own_fd)
		jio_close(j->io, fd);
	if (stop != 0)
		return stop;
	if (r < 0 && is_resource_error(r))
		return r;
	/* records we knew of and could not read now (I/O error, file cut): damage */
	if (expected < seg->end_seq) {
		add_bad(j, expected, seg->end_seq);
		*ret_damaged = true;
	}
	return 0;
}

int journal_read(struct journal *j, uint64_t from, journal_cb cb, void *userdata)
{
	uint64_t end = j->next_seq; /* records the callback appends are not visited */
	struct read_buf rb = {0};
	bool damaged = false;
	int r;

	if (!cb)
		return -EINVAL;
	if (j->sum.valid && from < j->sum.to) {
		if (j->sum.wide) {
			struct jrec w = {.type = JREC_WIDE, .seq = j->sum.from, .summary = true};
			r = cb(&w, userdata);
			if (r != 0)
				return r;
		} else {
			struct summary cur;
			int stop;
			r = summary_read(j, &j->sum, &cur, cb, userdata, &stop);
			if (r == -EBADMSG) {
				summary_lost(j, cur.problem); /* its tokens are GONE from now on */
				damaged = true;
			} else if (r < 0) {
				return r;
			} else if (stop != 0) {
				return stop;
			}
		}
	}
	for (size_t i = seg_find(j, from); i < j->n_segs; i++) {
		const struct segment *seg = &j->segs[i];
		if (seg->broken || seg->records == 0 || seg->end_seq <= from)
			continue;
		r = read_segment(j, i, from, cb, userdata, &rb, &damaged);
		if (r != 0) {
			free(rb.p);
			return r;
		}
	}
	free(rb.p);
	for (size_t off = 0; off < j->buf_len;) {
		struct jrec rec;
		size_t size;
		if (!frame_decode(j->buf + off, j->buf_len - off, 0, false, &rec, &size))
			break; /* cannot happen: we wrote it */
		off += align8(size);
		if (rec.seq >= end)
			break;
		if (rec.seq < from)
			continue;
		r = cb(&rec, userdata);
		if (r != 0)
			return r;
	}
	return damaged ? -EBADMSG : 0;
}

/* ---- compaction ---- */

/* The places of a range being folded: key (type, handle, name) -> kinds. */
struct fold {
	struct hashmap *map; /* NULL once wide */
	uint64_t bytes;	     /* frame bytes the map makes */
	uint64_t max_places, max_bytes;
	uint8_t level;
	bool wide;
	uint64_t folded;   /* event records seen (and those of the old summary) */
	struct journal *j; /* its handle_gone, when set */
	size_t added;	   /* places added since the last prune */
	uint64_t gone;	   /* places dropped */
};

#define FOLD_KEY_MAX (5 + JOURNAL_HANDLE_MAX + JOURNAL_NAME_MAX)

/* Key: 4 bytes handle type, 1 byte handle length, the handle, the name. */
static size_t fold_key(uint8_t *k, const struct jrec *r, const char *name, uint16_t name_len)
{
	put32(k, (uint32_t)r->handle_type);
	k[4] = (uint8_t)r->handle_len;
	if (r->handle_len)
		memcpy(k + 5, r->handle, r->handle_len);
	if (name_len)
		memcpy(k + 5 + r->handle_len, name, name_len);
	return 5 + (size_t)r->handle_len + name_len;
}

static void fold_key_decode(const uint8_t *k, size_t klen, uintptr_t kinds, struct jrec *ret)
{
	size_t nlen = klen - 5 - k[4];

	*ret = (struct jrec){
	    .type = JREC_EVENT,
	    .kinds = (uint8_t)kinds,
	    .handle_type = (int32_t)get32(k),
	    .handle_len = k[4],
	    .handle = k[4] ? k + 5 : NULL,
	    .name_len = (uint16_t)nlen,
	    .name = nlen ? (const char *)k + 5 + k[4] : NULL,
	};
}

/*
 * What a place becomes at a coarsening level. Level 1 folds a name into
 * its directory, (dir, ".", entries): "entries" covers every direct child
 * (the coverage rule of docs/design.md), and a directory that gained or
 * lost names is itself "modified". A name with "recursive" (a directory
 * moved or deleted: everything below it changed) keeps its name at level 1
 * and folds into (dir, ".", entries|recursive) at level 2. Objects (no
 * name) and the directory itself (".") never change.
 */
static void coarsen(uint8_t level, const char **name, uint16_t *name_len, uint8_t *kinds)
{
	const unsigned names = FST_CREATED | FST_DELETED | FST_RENAMED_FROM | FST_RENAMED_TO;

	if (level == 0 || *name_len == 0 || (*name_len == 1 && (*name)[0] == '.'))
		return;
	if (*kinds & FST_RECURSIVE) {
		if (level < 2)
			return;
		*kinds = FST_ENTRIES | FST_RECURSIVE | FST_MODIFIED;
	} else {
		*kinds = (uint8_t)(FST_ENTRIES | (*kinds & names ? FST_MODIFIED : 0));
	}
	*name = ".";
	*name_len = 1;
}

static void fold_go_wide(struct fold *f)
{
	f->wide = true;
	f->map = hashmap_free(f->map);
	f->bytes = 0;
}

/* Add r to map at f's level, counting its bytes in f. */
static int fold_put_into(struct fold *f, struct hashmap *map, const struct jrec *r)
{
	uint8_t key[FOLD_KEY_MAX];
	const char *name = r->name;
	uint16_t name_len = r->name_len;
	uint8_t kinds = r->kinds;
	uintptr_t *v;
	int added;

	coarsen(f->level, &name, &name_len, &kinds);
	added = hashmap_upsert(map, key, fold_key(key, r, name, name_len), &v);
	if (added < 0)
		return added;
	if (added) {
		f->bytes += align8(FRAME_HEADER_SIZE + (size_t)r->handle_len + name_len);
		f->added++;
	}
	*v |= kinds;
	return 0;
}

static int fold_put(struct fold *f, const struct jrec *r)
{
	return fold_put_into(f, f->map, r);
}

/* Rebuild the map one level coarser. */
static int fold_recoarsen(struct fold *f)
{
	struct hashmap *old = f->map;
	size_t klen, pos = 0;
	const void *key;
	uintptr_t val;
	int r = 0;

	f->map = hashmap_new();
	if (!f->map) {
		f->map = old;
		return -ENOMEM;
	}
	f->bytes = 0;
	f->level++;
	while (r == 0 && hashmap_iter(old, &pos, &key, &klen, &val)) {
		struct jrec rec;
		fold_key_decode(key, klen, val, &rec);
		r = fold_put(f, &rec);
	}
	hashmap_free(old);
	return r;
}

/*
 * Drop the places whose handle is gone (the journal's handle_gone), asking
 * once per handle. Exact: a reader skips them too.
 */
static int fold_prune(struct fold *f)
{
	struct hashmap *keep = hashmap_new(), *seen = hashmap_new();
	size_t klen, pos = 0, before = hashmap_size(f->map);
	const void *key;
	uintptr_t val;
	int r = 0;

	if (!keep || !seen) {
		hashmap_free(keep);
		hashmap_free(seen);
		return -ENOMEM;
	}
	f->bytes = 0;
	while (r == 0 && hashmap_iter(f->map, &pos, &key, &klen, &val)) {
		struct jrec rec;
		uintptr_t *verdict;

		fold_key_decode(key, klen, val, &rec);
		r = hashmap_upsert(seen, key, 5 + (size_t)rec.handle_len, &verdict);
		if (r < 0)
			break;
		if (r == 1)
			*verdict = f->j->handle_gone(f->j->handle_gone_data, rec.handle_type,
						     rec.handle, rec.handle_len)
				       ? 2
				       : 1;
		r = *verdict == 2 ? 0 : fold_put_into(f, keep, &rec);
	}
	hashmap_free(seen);
	if (r < 0) {
		hashmap_free(keep);
		return r;
	}
	hashmap_free(f->map);
	f->map = keep;
	f->gone += before - hashmap_size(keep);
	f->added = 0;
	return 0;
}

static bool fold_over(const struct fold *f)
{
	return hashmap_size(f->map) > f->max_places || f->bytes > f->max_bytes;
}

/*
 * Add one record (a journal_cb). Past the budget, places whose handle is
 * gone are dropped (when the journal can tell), then the places are
 * coarsened a level, then the summary becomes WIDE; out of memory it
 * becomes WIDE too: still an honest answer.
 */
static int fold_cb(const struct jrec *r, void *userdata)
{
	struct fold *f = userdata;

	if (r->type != JREC_EVENT)
		return 0; /* watermarks, starts, stops: nothing changed there */
	if (!r->summary)
		f->folded++;
	if (f->wide)
		return 0;
	if (fold_put(f, r) < 0) {
		fold_go_wide(f);
		return 0;
	}
	while (!f->wide && fold_over(f)) {
		/* a prune only after a quarter of the places are new: O(1) per record */
		if (f->j && f->j->handle_gone && 4 * f->added >= hashmap_size(f->map)) {
			if (fold_prune(f) < 0)
				fold_go_wide(f);
			continue;
		}
		if (f->level >= 2 || fold_recoarsen(f) < 0)
			fold_go_wide(f);
	}
	return 0;
}

/* Keep at most SUM_CP_MAX checkpoints, in seq order: halve when full. */
static void cp_add(struct summary *s, uint64_t seq, uint64_t time_ns)
{
	if (seq < s->from || seq >= s->to || (s->n_cps && s->cps[s->n_cps - 1].seq >= seq))
		return;
	if (s->n_cps == SUM_CP_MAX) {
		for (size_t i = 0; 2 * i < SUM_CP_MAX; i++)
			s->cps[i] = s->cps[2 * i];
		s->n_cps = SUM_CP_MAX / 2;
	}
	s->cps[s->n_cps++] = (struct sum_cp){seq, time_ns};
}

/*
 * Write s (records from f) as summary.fsj: into summary.fsj.tmp, synced,
 * renamed over the old one, the directory synced. *ret_renamed says
 * whether the new file took the name: then it is the summary on disk,
 * even if the last sync failed.
 */
static int summary_write(struct journal *j, const struct fold *f, struct summary *s,
			 bool *ret_renamed)
{
	size_t len, cap, klen, pos = 0;
	uint64_t off = 0, idx = 0;
	const void *key;
	uintptr_t val;
	uint8_t *buf;
	int fd, r;

	*ret_renamed = false;
	r = random_bytes(&s->salt, sizeof(s->salt));
	if (r < 0)
		return r;
	s->records = f->wide ? 0 : hashmap_size(f->map);
	s->header_size = sum_header_size(s->n_cps);
	s->bytes = s->header_size + (f->wide ? 0 : f->bytes);
	cap = (size_t)min_u64(max_u64(s->bytes, 4096), SUM_WRITE_CHUNK);
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	fd = jio_openat(j->io, j->dirfd, SUM_TMP,
			O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	len = sum_header_encode(buf, j->uuid, s);
	while (r == 0 && !f->wide && hashmap_iter(f->map, &pos, &key, &klen, &val)) {
		struct jrec rec;
		size_t size;

		if (len + align8(FRAME_MAX) > cap) {
			r = jio_pwrite(j->io, fd, buf, len, off);
			off += len;
			len = 0;
		}
		fold_key_decode(key, klen, val, &rec);
		rec.seq = idx++;
		size = frame_size(&rec);
		frame_encode(buf + len, &rec);
		put32(buf + len + 4, frame_crc(buf + len, size, s->salt));
		len += align8(size);
	}
	if (r == 0)
		r = jio_pwrite(j->io, fd, buf, len, off);
	free(buf);
	if (r == 0 && off + len != s->bytes)
		r = -EIO; /* cannot happen: the fold counted these bytes */
	if (r == 0)
		r = jio_fdatasync(j->io, fd);
	jio_close(j->io, fd);
	if (r == 0)
		r = jio_renameat(j->io, j->dirfd, SUM_TMP, SUM_NAME);
	if (r < 0) {
		(void)jio_unlinkat(j->io, j->dirfd, SUM_TMP);
		return r;
	}
	*ret_renamed = true;
	return jio_fsync_dir(j->io, j->dirfd);
}

/* The oldest n segments are no longer part of the detailed history. */
static void forget_segments(struct journal *j, size_t n)
{
	for (size_t i = 0; i < n; i++)
		segment_release(&j->segs[i]);
	memmove(j->segs, j->segs + n, (j->n_segs - n) * sizeof(*j->segs));
	j->n_segs -= n;
	j->first_seq = j->segs[0].first_seq;
	trim_bad(j);
}

/*
 * Fold the oldest k segments (never the newest) and the summary into a new
 * summary of [S0, first seq of segment k), then unlink them. S0 stays,
 * unless a bad range lies in the range: then it starts past it.
 */
static int compact(struct journal *j, size_t k)
{
	struct fold f = {.max_places = j->summary_places, .max_bytes = j->summary_bytes, .j = j};
	uint64_t from = j->first_seq, to = j->segs[k].first_seq;
	struct summary ns = {0};
	bool renamed = false, damaged = false;
	struct read_buf rb = {0};
	int r = 0;

	f.map = hashmap_new();
	if (!f.map)
		return -ENOMEM;
	if (j->sum.valid) {
		from = j->sum.from;
		f.level = j->sum.level;
		f.folded = j->sum.folded;
		if (j->sum.wide) {
			fold_go_wide(&f);
		} else {
			struct summary cur;
			int stop;
			r = summary_read(j, &j->sum, &cur, fold_cb, &f, &stop);
			if (r == -EBADMSG) {
				/* its places are not all there: start anew from the folded range */
				summary_lost(j, cur.problem);
				from = j->first_seq;
				f.folded = 0;
				r = 0;
			}
			if (r < 0)
				goto out;
		}
	}
	/* once WIDE, records add nothing: the folded segments need not be read */
	for (size_t i = 0; i < k && !f.wide; i++) {
		if (j->segs[i].broken || j->segs[i].records == 0)
			continue; /* a broken one's seqs are a bad range */
		r = read_segment(j, i, j->segs[i].first_seq, fold_cb, &f, &rb, &damaged);
		if (r != 0)
			goto out;
	}
	/* records lost in the range cannot be summarized: start past them */
	j->places_gone += f.gone;
	for (size_t i = 0; i < j->n_bad; i++)
		if (j->bad[i].from < to && j->bad[i].to > from)
			from = j->bad[i].to;
	from = max_u64(from, j->bad_floor);

	if (from < to) {
		ns = (struct summary){
		    .present = true,
		    .valid = true,
		    .from = from,
		    .to = to,
		    .wide = f.wide,
		    .level = f.level,
		    .folded = f.folded,
		};
		for (size_t i = 0; j->sum.valid && i < j->sum.n_cps; i++)
			cp_add(&ns, j->sum.cps[i].seq, j->sum.cps[i].time_ns);
		for (size_t i = 0; i < k; i++) {
			const struct segment *seg = &j->segs[i];
			if (!seg->timed)
				continue;
			cp_add(&ns, seg->t_first_seq, seg->t_first_ns);
			cp_add(&ns, seg->t_last_seq, seg->t_last_ns);
		}
		r = summary_write(j, &f, &ns, &renamed);
		if (!renamed)
			goto out;
		j->sum = ns;
		if (r < 0) {
			/*
			 * The new name may not be durable: the folded files must
			 * stay until it is. They are leftovers now, removed at the
			 * next open if the new summary is there then.
			 */
			forget_segments(j, k);
			r = 0;
			j->compactions++;
			goto out;
		}
	} else if (j->sum.present) {
		/* nothing left to summarize */
		r = jio_unlinkat(j->io, j->dirfd, SUM_NAME);
		if (r < 0 && r != -ENOENT)
			goto out;
		r = 0;
		j->sum = (struct summary){0};
	}
	/* one that cannot be removed now is a leftover, removed at the next open */
	for (size_t i = 0; i < k; i++)
		(void)jio_unlinkat(j->io, j->dirfd, j->segs[i].name);
	forget_segments(j, k);
	(void)jio_fsync_dir(j->io, j->dirfd); /* if lost, they are removed again at open */
	j->compactions++;
out:
	hashmap_free(f.map);
	free(rb.p);
	return r;
}

/* Remove the oldest k segments (at most), and the summary first: today's way. */
static void remove_oldest(struct journal *j, size_t k)
{
	size_t removed = 0;

	if (j->sum.present) {
		/* it would end before the kept history: useless (and a gap after a crash) */
		if (jio_unlinkat(j->io, j->dirfd, SUM_NAME) < 0)
			summary_lost(j, "to be removed");
		else
			j->sum = (struct summary){0};
	}
	while (removed < k) {
		int r = jio_unlinkat(j->io, j->dirfd, j->segs[removed].name);
		if (r < 0 && r != -ENOENT)
			break; /* keep it; try again after the next commit */
		removed++;
	}
	if (removed == 0)
		return;
	forget_segments(j, removed);
	/*
	 * Make the removal durable. If this fails the files may come back
	 * after a crash, which only means more history: nothing to undo.
	 */
	(void)jio_fsync_dir(j->io, j->dirfd);
}

static void enforce_max_bytes(struct journal *j)
{
	uint64_t total = total_bytes(j) + (j->sum.present ? j->sum.bytes : 0), t = total;
	bool way_over;
	size_t k = 0;
	int r;

	while (t > j->max_bytes && j->n_segs - k > 1)
		t -= j->segs[k++].bytes;
	if (k == 0)
		return;
	if (!j->no_summary) {
		/*
		 * A compaction that failed is tried again once another
		 * segment's worth was written; removal (tokens answer fresh)
		 * is the way out when space is short or the journal grew a
		 * quarter past its limit meanwhile.
		 */
		way_over = total - j->max_bytes > j->max_bytes / 4;
		if (j->bytes_committed < j->compact_retry_at && !way_over)
			return;
		r = compact(j, k);
		if (r == 0)
			return;
		j->compact_failures++;
		j->compact_retry_at = j->bytes_committed + j->segment_bytes;
		if (!way_over && r != -ENOSPC && r != -EDQUOT)
			return;
	}
	remove_oldest(j, k);
}
