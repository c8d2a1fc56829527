/* SPDX-License-Identifier: MIT */
/*
 * journal-io-sim: a journal-io layer for tests (never built into fstrackd).
 *
 * It runs the plain system calls and adds:
 *  - a fault hook, consulted before every operation: it may fail the call
 *    with an errno, or for writes let a prefix reach the file first (a torn
 *    write); jio_fail_nth() is a ready-made rule for "the Nth write gets
 *    ENOSPC";
 *  - crash simulation (SQLite's crash tests): with tracking on, it keeps
 *    what each file held at its last fsync/fdatasync and which names were
 *    made durable by an fsync of their directory; jio_crash() then puts the
 *    directory back into the state a power cut would leave.
 */
#ifndef FST_JOURNAL_IO_SIM_H
#define FST_JOURNAL_IO_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/journal-io.h"

enum jio_op {
	JIO_OPEN,      /* openat */
	JIO_READ,      /* pread */
	JIO_WRITE,     /* pwrite */
	JIO_DATASYNC,  /* fdatasync */
	JIO_FSYNC,     /* fsync of a file */
	JIO_FSYNC_DIR, /* fsync of a directory */
	JIO_TRUNCATE,  /* ftruncate */
	JIO_RENAME,    /* renameat */
	JIO_UNLINK,    /* unlinkat */
	JIO_MKDIR,     /* mkdir (one level) */
	_JIO_OP_MAX
};

struct jio_call {
	enum jio_op op;
	uint64_t nth;	  /* 1-based count of calls of this op, this one included */
	uint64_t seq;	  /* 1-based count of all calls */
	const char *name; /* file name for open/rename/unlink/mkdir, else NULL */
	size_t len;	  /* bytes for read/write */
};

/*
 * Return 0 to let the call run, or a negative errno to fail it. For
 * JIO_WRITE, setting *ret_partial to k < len writes the first k bytes
 * before failing (a torn or short write).
 */
typedef int (*jio_fault_fn)(void *userdata, const struct jio_call *call, size_t *ret_partial);

struct jio *jio_new(void);
/* Forgets the tracked state without touching files. NULL is fine. */
struct jio *jio_free(struct jio *io);

const char *jio_op_name(enum jio_op op);
/* How many calls of op were made (failed ones included). */
uint64_t jio_count(const struct jio *io, enum jio_op op);

void jio_set_fault(struct jio *io, jio_fault_fn fn, void *userdata);
/*
 * Count syncs and track what they make durable, but do not ask the disk
 * (fast crash tests: the simulated power cut only needs the tracking).
 */
void jio_skip_real_sync(struct jio *io, bool skip);
/*
 * Built-in rules, checked after the hook: the nth call (1-based, as counted
 * by jio_count) of op fails with err (negative), after writing `partial`
 * bytes for writes. Up to 16 rules; -ENOSPC when full.
 */
int jio_fail_nth(struct jio *io, enum jio_op op, uint64_t nth, int err, size_t partial);
void jio_clear_faults(struct jio *io);

/* Start (or stop and forget) tracking of unsynced state. */
int jio_track_unsynced(struct jio *io, bool on);
/*
 * Simulate a power cut: every tracked file goes back to its content at its
 * last sync; names created since the last fsync of their directory vanish,
 * names removed since then come back. seed == 0 drops all unsynced bytes
 * and directory operations; another seed keeps a pseudo-random prefix of
 * each file's unsynced tail (a torn write), sometimes with a scrambled byte
 * in it, and keeps each unsynced create, unlink and rename (atomic in
 * itself) or not, independently of the others and of their order: what a
 * filesystem that does not order directory operations may leave. Tracking
 * stays on with an empty state; fds opened through io are forgotten (close
 * them).
 */
int jio_crash(struct jio *io, uint32_t seed);

#endif
