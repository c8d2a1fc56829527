/* SPDX-License-Identifier: MIT */
/* util: small helpers with no policy: time, files, hex, fds. */
#ifndef FST_UTIL_H
#define FST_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

uint64_t now_realtime_ns(void);
uint64_t now_monotonic_ns(void);

/* close() that keeps errno and accepts -1; returns -1 for "fd = safe_close(fd)". */
int safe_close(int fd);

/* mkdir -p; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);
/* Write via tmp file + fsync + rename + fsync of the directory. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole (small) file, NUL-terminated; caller frees *ret. */
int read_file(const char *path, char **ret, size_t *ret_len);
/* fsync the directory that contains path. */
int fsync_parent_dir(const char *path);

/* out gets 2*len hex digits and a NUL. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decode exactly strlen(in)/2 bytes (at most max); -EINVAL on bad input. */
int hex_decode(const char *in, uint8_t *out, size_t max, size_t *ret_len);

/* A DIR on a new fd of dirfd's directory (dirfd stays the caller's); 0 or -errno. */
int opendir_dup(int dirfd, DIR **ret);

/* The path the kernel shows for fd (readlink of /proc/self/fd/N). */
int fd_get_path(int fd, char *buf, size_t size);

/* Is path equal to dir or below it?  On success *ret_rel points into path
 * (after dir and its slash), or at "." when they are equal. */
bool path_under(const char *path, const char *dir, const char **ret_rel);

/* Write all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/*
 * Make room for at least `want` elements of `size` bytes in the array *v of
 * capacity *cap (in elements): doubles, starting at 16 elements. 0, or
 * -ENOMEM (also on overflow) with *v and *cap unchanged.
 *	r = GROW(q->v, q->cap, q->n + 1);
 */
int grow_array(void **v, size_t *cap, size_t want, size_t size);
#define GROW(v, cap, want) grow_array((void **)&(v), &(cap), (want), sizeof(*(v)))

#endif
