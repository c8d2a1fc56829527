/* SPDX-License-Identifier: MIT */
/*
 * unit-util: what several unit tests of the daemon core share: a scratch
 * directory under /tmp, removed with everything in it, file handles made
 * from text for the pure tests, and event records of a journal written
 * and read back.
 */
#ifndef FST_UNIT_UTIL_H
#define FST_UNIT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/fhandle.h"

struct journal;

#define UNIT_TMP_MAX 64

/* mkdtemp("/tmp/<name>-XXXXXX") into buf[UNIT_TMP_MAX]; 0 or -errno. */
int unit_tmpdir(char *buf, const char *name);
/* rm -rf path (never follows symlinks, never crosses into other mounts). */
void unit_rmtree(const char *path);
/* A handle of type 1 whose bytes are the text's (no NUL). */
struct fhandle unit_handle(const char *text);

/* An event record as read back. */
struct unit_rec {
	uint64_t seq;
	uint64_t time_ns;
	unsigned kinds;
	struct fhandle h;
	char name[256]; /* NUL-terminated copy */
	size_t namelen;
};

/* Append an event record (name NULL: an object's, no name); fails the test on error. */
void unit_append(struct journal *j, const struct fhandle *h, const char *name, unsigned kinds);
/* The event records at seq >= from, at most max of them; fails the test on error. */
size_t unit_read_events(struct journal *j, uint64_t from, struct unit_rec *v, size_t max);

#endif
