/* SPDX-License-Identifier: MIT */
/*
 * journal: the per-filesystem, append-only, checksummed record log.
 *
 * A journal lives in one directory (one per tracked filesystem) and is a
 * series of segment files. Each record has a sequence number; tokens name
 * (journal uuid, seq). See docs/journal-format.md for the on-disk layout.
 *
 * Durability: journal_append() only buffers. journal_commit() writes the
 * buffer, then the watermark record, and fdatasync()s: after it returns 0
 * every record appended before it is durable and journal_durable_seq()
 * == journal_next_seq(). All file I/O goes through journal-io.h so tests
 * can inject failures.
 *
 * Not thread-safe: the daemon's main loop owns it.
 */
#ifndef FST_JOURNAL_H
#define FST_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_FORMAT_VERSION 1  /* segments */
#define JOURNAL_SUMMARY_VERSION 1 /* summary.fsj, its own format */
#define JOURNAL_HANDLE_MAX 128	  /* MAX_HANDLE_SZ */
#define JOURNAL_NAME_MAX 255

enum jrec_type {
	JREC_EVENT = 1,	     /* a change at (dir handle, name) of kinds */
	JREC_WATERMARK = 2,  /* every change before time_ns is recorded durably */
	JREC_START = 3,	     /* the daemon opened the journal (time_ns = now) */
	JREC_CLEAN_STOP = 4, /* the daemon stopped cleanly at time_ns */
	/*
	 * Delivered by journal_read() only, never stored: the summary of the
	 * oldest history is WIDE, anything on the filesystem may have changed
	 * in [seq, journal_first_seq()). Its reader must answer "everything
	 * under the queried directory" (or fresh).
	 */
	JREC_WIDE = 5
};

struct jrec {
	uint64_t seq;	     /* assigned by journal_append */
	uint8_t type;	     /* enum jrec_type */
	uint8_t kinds;	     /* FST_* bits (events) */
	uint64_t time_ns;    /* CLOCK_REALTIME ns; events: read once per read of the
			      * event queue, after the read returned (recorder.c) */
	int32_t handle_type; /* struct file_handle.handle_type */
	uint16_t handle_len; /* 0 for non-events */
	const uint8_t *handle;
	uint16_t name_len; /* name bytes, no NUL; "." names the dir itself */
	const char *name;
	/*
	 * Set by journal_read() for the records of the summary (and JREC_WIDE):
	 * the change happened somewhere in [seq, journal_first_seq()), seq being
	 * the summary's first seq. Ignored by journal_append().
	 */
	bool summary;
};

struct jio;

struct journal_options {
	uint64_t segment_bytes; /* roll to a new segment past this (default 16 MiB) */
	uint64_t max_bytes;	/* segments + summary past this: fold the oldest segments
				 * into the summary (default 256 MiB) */
	/* Additions; zero is the default. */
	struct jio *io; /* journal-io.h context for tests; NULL: plain system calls */
	bool read_only; /* inspect only: no truncation, no new segment, no writes;
			 * append/commit fail with -EROFS (fst-journal-tool verify) */
	/*
	 * Compaction (docs/journal-format.md, "The summary"): past max_bytes
	 * (segments and summary together) the oldest segments are folded into
	 * summary.fsj instead of being deleted.
	 */
	uint64_t summary_places; /* places kept exactly before coarsening (default 1<<18) */
	uint64_t summary_bytes;	 /* frame bytes of the summary at most (default max_bytes/8) */
	bool no_summary;	 /* delete instead (and drop an existing summary) */
	/*
	 * Optional: is the inode this handle names gone for good (deleted: the
	 * handle is stale)? false when unsure. Over its budget, compaction
	 * first drops the places whose handle is gone, exactly, before it
	 * coarsens: a reader skips them anyway, since the deletion of a
	 * directory, or of each name of an object, is a place of its own.
	 */
	bool (*handle_gone)(void *userdata, int32_t handle_type, const uint8_t *handle,
			    uint16_t handle_len);
	void *handle_gone_data;
};

struct journal_stats {
	uint64_t first_seq;   /* oldest seq still kept */
	uint64_t next_seq;    /* seq the next record gets */
	uint64_t durable_seq; /* every seq below is on disk (or in a bad range) */
	uint64_t bytes;	      /* total size of the segment files */
	uint64_t segments;
	uint64_t records_appended; /* since open */
	uint64_t commits;	   /* since open */
	uint64_t bad_ranges;	   /* corrupted / missing ranges known */
	uint64_t watermark_ns;	   /* durable watermark (0: none) */
	bool recovered_clean;	   /* last run ended with JREC_CLEAN_STOP */
	uint64_t truncated_bytes;  /* torn tail removed at open (read_only: found, left) */
	/* Additions. */
	uint64_t broken_segments; /* segment files with an unusable header */
	uint64_t corrupt_bytes;	  /* bytes skipped between valid frames */
	uint64_t failed_commits;  /* commits that returned an error, since open */
	uint64_t lost_records;	  /* records dropped by those commits */
	/* Additions: the summary of the folded history. */
	uint64_t summary_bytes;	    /* size of summary.fsj on disk (0: none) */
	uint64_t summary_places;    /* its records (distinct places) */
	uint64_t summary_from_seq;  /* the oldest seq answered at all (= first_seq: none) */
	uint64_t summary_to_seq;    /* the first detailed seq after it (= first_seq) */
	bool summary_wide;	    /* it answers "anything may have changed" */
	uint8_t summary_level;	    /* 0 exact, 1 names coarsened, 2 moved dirs too */
	uint64_t compactions;	    /* since open */
	uint64_t compact_failures;  /* since open */
	uint64_t places_gone;	    /* places dropped by handle_gone, since open */
	uint64_t leftover_segments; /* folded segments removed at open (crash before unlink) */
};

struct journal;

/*
 * Open (creating if needed) the journal in directory dir. Recovers: checks
 * every segment, truncates a torn tail of the newest one, remembers
 * corrupted or missing ranges (never fails for them), and starts a new
 * journal (new uuid) when none is usable. Appends nothing by itself.
 */
int journal_open(const char *dir, const struct journal_options *opt, struct journal **ret);
/* Frees; does not commit. NULL is fine. Returns NULL. */
struct journal *journal_free(struct journal *j);

/* 16 random bytes chosen when the journal was created. */
const uint8_t *journal_uuid(const struct journal *j);
/* The uuid as 32 lowercase hex digits in buf[33]. */
void journal_uuid_hex(const struct journal *j, char buf[static 33]);

uint64_t journal_next_seq(const struct journal *j);
uint64_t journal_first_seq(const struct journal *j);
uint64_t journal_durable_seq(const struct journal *j);
void journal_get_stats(const struct journal *j, struct journal_stats *ret);

/* Buffer a record; sets r->seq. -EINVAL for bad sizes. */
int journal_append(struct journal *j, struct jrec *r);
/* The free (to us) and total bytes of the filesystem the journal is on. */
int journal_space(const struct journal *j, uint64_t *ret_free, uint64_t *ret_total);
/* Records appended but not yet committed. */
bool journal_dirty(const struct journal *j);
size_t journal_pending_bytes(const struct journal *j);

/*
 * Group commit: write the buffer, then a JREC_WATERMARK with watermark_ns
 * when it is larger than the durable one (0: none), then fdatasync. On
 * failure (ENOSPC, EIO) the buffered records are dropped, the seqs they had
 * are marked lost (a bad range), and the error is returned; the journal
 * stays usable for later commits.
 */
int journal_commit(struct journal *j, uint64_t watermark_ns);

/* What the journal can answer for a token at seq 'from'. */
enum journal_range {
	JOURNAL_RANGE_EXACT,   /* every record from 'from' on is there */
	JOURNAL_RANGE_SUMMARY, /* older than the detailed history: the summary's places
				* (a superset) stand in for [from, first_seq) */
	JOURNAL_RANGE_WIDE,    /* as SUMMARY, but the summary is WIDE: anything may have
				* changed; answer the whole directory (or fresh) */
	JOURNAL_RANGE_TOO_OLD, /* known to be issued more than max_age ago: fresh */
	JOURNAL_RANGE_GONE,    /* older than anything kept (below the summary): fresh */
	JOURNAL_RANGE_DAMAGED, /* a bad range lies in [from, next_seq): fresh */
	JOURNAL_RANGE_FUTURE,  /* past next_seq: never handed out */
};

/*
 * Classify 'from'. max_age_ns == 0: no age limit; otherwise TOO_OLD when
 * even the latest time the token can have been issued (journal_seq_time)
 * is more than max_age_ns before now_ns. Precedence: FUTURE, GONE,
 * DAMAGED, TOO_OLD, then WIDE / SUMMARY / EXACT.
 */
enum journal_range journal_range_check(const struct journal *j, uint64_t from, uint64_t now_ns,
				       uint64_t max_age_ns);
/* "exact", "summary", "wide", "too_old", "gone", "damaged", "future". */
const char *journal_range_name(enum journal_range r);

/*
 * Can records since 'from' be answered without "fresh"? true for EXACT and
 * SUMMARY (journal_read() then delivers the summary's places first, which
 * an event reader takes like any record), false otherwise: WIDE too, so a
 * caller that does not know JREC_WIDE answers fresh. No age limit.
 */
bool journal_range_intact(const struct journal *j, uint64_t from);

/*
 * The latest time a token at seq can have been issued: the time_ns of the
 * oldest record known at or after seq (JREC_EVENT, START or CLEAN_STOP;
 * watermarks carry no clock), from the summary's checkpoints, the first
 * and last record of each segment, and the buffer. 0, or -ENOENT when no
 * such record is known (a token at the end: issued at any time until now).
 */
int journal_seq_time(const struct journal *j, uint64_t seq, uint64_t *ret_ns);

/*
 * Call cb for every intact record with seq >= from, in order, reading from
 * disk and the unflushed buffer. When from < the summary's to_seq (below
 * first_seq), the summary's records come first (r->summary set, seq = its
 * first seq), or one JREC_WIDE record for a WIDE summary. cb returns 0 to
 * go on, anything else stops the walk and is returned. A record that fails
 * its checksum now (the file changed under us) is skipped and the walk
 * returns -EBADMSG at the end; a summary that fails is dropped whole (its
 * tokens become GONE) and the walk returns -EBADMSG too.
 */
typedef int (*journal_cb)(const struct jrec *r, void *userdata);
int journal_read(struct journal *j, uint64_t from, journal_cb cb, void *userdata);

/*
 * Append JREC_CLEAN_STOP(now) and commit. Called once on SIGTERM.
 */
int journal_close_clean(struct journal *j, uint64_t now_ns);

/* Additions for inspection (fst-journal-tool verify, status). */
struct journal_segment_info {
	char name[32];		/* seg-<16 hex digits of first_seq>.fsj */
	uint64_t first_seq;	/* from the name */
	uint64_t end_seq;	/* last valid seq + 1; first_seq when empty */
	uint64_t records;	/* valid frames */
	uint64_t bytes;		/* file size */
	uint64_t valid_bytes;	/* end of the last valid frame */
	uint64_t corrupt_bytes; /* skipped between valid frames */
	uint64_t tail_bytes;	/* after the last valid frame (torn tail, garbage) */
	const char *problem;	/* NULL, or why the segment is unusable */
	/* Additions: time_ns of its first and last event/start/stop record (0: none). */
	uint64_t first_time_ns;
	uint64_t last_time_ns;
};
/* Segment idx, oldest first: 0, or -ENOENT past the last one. */
int journal_get_segment(const struct journal *j, size_t idx, struct journal_segment_info *ret);
/* Bad range idx as [*ret_from, *ret_to): 0, or -ENOENT past the last one. */
int journal_get_bad_range(const struct journal *j, size_t idx, uint64_t *ret_from,
			  uint64_t *ret_to);

struct journal_summary_info {
	bool present; /* summary.fsj exists */
	bool valid;   /* and is used (else problem says why) */
	bool wide;
	uint8_t level;	    /* 0 exact places, 1 names coarsened, 2 moved dirs too */
	uint64_t from_seq;  /* S0 */
	uint64_t to_seq;    /* the first detailed seq after it */
	uint64_t records;   /* places */
	uint64_t bytes;	    /* file size */
	uint64_t folded;    /* event records folded into it, over its life */
	size_t checkpoints; /* (seq, time) pairs: journal_get_checkpoint() */
	const char *problem;
};
void journal_get_summary(const struct journal *j, struct journal_summary_info *ret);
/* Checkpoint idx of the summary, oldest first: 0, or -ENOENT. */
int journal_get_checkpoint(const struct journal *j, size_t idx, uint64_t *ret_seq,
			   uint64_t *ret_time_ns);

#endif
