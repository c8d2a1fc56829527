/* SPDX-License-Identifier: MIT */
/*
 * sha1: SHA-1 (FIPS 180-4) for Watchman's "content.sha1hex" field, and a
 * helper that hashes a regular file safely relative to a directory fd.
 */
#ifndef FST_WATCHMAN_SHA1_H
#define FST_WATCHMAN_SHA1_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct sha1 {
	uint32_t h[5];
	uint64_t len; /* bytes so far */
	unsigned char block[64];
	size_t used;
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *data, size_t len);
void sha1_final(struct sha1 *s, unsigned char digest[20]);
/* digest as 40 lowercase hex digits and a NUL */
void sha1_hex(const unsigned char digest[20], char hex[41]);

/*
 * Hash the file name in dirfd: opened with O_NOFOLLOW|O_NONBLOCK (a FIFO
 * never blocks), it must be a regular file. 0, or -ENOENT, -EISDIR (a
 * directory), -EINVAL (not a regular file: symlink, device, FIFO...), or
 * another -errno of open/read. With stop (may be NULL): -ECANCELED once
 * *stop is set, looked at between reads (a huge file is read for long).
 */
int sha1_file_at(int dirfd, const char *name, char hex[41], const atomic_bool *stop);

#endif
