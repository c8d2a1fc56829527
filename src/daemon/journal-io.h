/* SPDX-License-Identifier: MIT */
/*
 * journal-io: every system call the journal makes on its files goes through
 * here, so tests can run the real journal code over failures they choose.
 *
 * With io == NULL (the daemon) every function is the plain system call,
 * retrying EINTR and short transfers, returning 0 / a count or a negative
 * errno. A test passes an io whose ops it implements (tests/unit/
 * journal-io-sim.h: fault injection and power-cut simulation); that code
 * is compiled into the tests only, never into fstrackd.
 */
#ifndef FST_JOURNAL_IO_H
#define FST_JOURNAL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct jio;

struct jio_ops {
	int (*openat)(struct jio *io, int dirfd, const char *name, int flags, mode_t mode);
	int (*close)(struct jio *io, int fd);
	ssize_t (*pread)(struct jio *io, int fd, void *buf, size_t len, uint64_t off);
	int (*pwrite)(struct jio *io, int fd, const void *buf, size_t len, uint64_t off);
	int (*fdatasync)(struct jio *io, int fd);
	int (*fsync)(struct jio *io, int fd);
	int (*fsync_dir)(struct jio *io, int dirfd);
	int (*ftruncate)(struct jio *io, int fd, uint64_t len);
	int (*renameat)(struct jio *io, int dirfd, const char *from, const char *to);
	int (*unlinkat)(struct jio *io, int dirfd, const char *name);
	int (*mkdir)(struct jio *io, const char *path, mode_t mode);
};

/* An I/O layer of a test: embed it first in its own struct. */
struct jio {
	const struct jio_ops *ops;
};

/* Returns an fd or a negative errno. */
int jio_openat(struct jio *io, int dirfd, const char *name, int flags, mode_t mode);
int jio_close(struct jio *io, int fd);
/* Reads up to len bytes at off (fewer only at end of file): count or -errno. */
ssize_t jio_pread(struct jio *io, int fd, void *buf, size_t len, uint64_t off);
/* Writes all of buf at off: 0 or -errno (the file may hold a prefix). */
int jio_pwrite(struct jio *io, int fd, const void *buf, size_t len, uint64_t off);
int jio_fdatasync(struct jio *io, int fd);
int jio_fsync(struct jio *io, int fd);
int jio_fsync_dir(struct jio *io, int dirfd);
int jio_ftruncate(struct jio *io, int fd, uint64_t len);
int jio_renameat(struct jio *io, int dirfd, const char *from, const char *to);
int jio_unlinkat(struct jio *io, int dirfd, const char *name);
/* mkdir of one level; EEXIST is an error like for mkdir(2). */
int jio_mkdir(struct jio *io, const char *path, mode_t mode);

/* The plain system calls, for an io layer that wraps them. */
int jio_sys_openat(int dirfd, const char *name, int flags, mode_t mode);
int jio_sys_close(int fd);
ssize_t jio_sys_pread(int fd, void *buf, size_t len, uint64_t off);
int jio_sys_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int jio_sys_fdatasync(int fd);
int jio_sys_fsync(int fd);
int jio_sys_ftruncate(int fd, uint64_t len);
int jio_sys_renameat(int dirfd, const char *from, const char *to);
int jio_sys_unlinkat(int dirfd, const char *name);
int jio_sys_mkdir(const char *path, mode_t mode);

#endif
