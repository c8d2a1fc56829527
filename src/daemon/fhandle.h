/* SPDX-License-Identifier: MIT */
/*
 * fhandle: file handles (name_to_handle_at / open_by_handle_at), the
 * daemon's name for a directory or file that survives renames.
 *
 * struct fhandle is the daemon's fixed-size copy; the kernel's variable
 * struct file_handle is converted only here. fhandle_resolve() turns a
 * handle into a path through a mount of the filesystem's root and checks
 * that the path leads back to the same inode.
 */
#ifndef FST_FHANDLE_H
#define FST_FHANDLE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDLE_MAX 128 /* MAX_HANDLE_SZ */

struct fhandle {
	int32_t type;
	uint16_t len;
	uint8_t bytes[HANDLE_MAX];
};

/* Room for a kernel struct file_handle of up to HANDLE_MAX bytes. */
union kernel_handle {
	struct file_handle fh;
	char raw[sizeof(struct file_handle) + HANDLE_MAX];
};

/* The handle of dirfd/name (name "" with AT_EMPTY_PATH: dirfd itself). */
int fhandle_of(int dirfd, const char *name, int flags, struct fhandle *ret);
bool fhandle_eq(const struct fhandle *a, const struct fhandle *b);

/* kernel -> daemon; -EINVAL when longer than HANDLE_MAX. */
int fhandle_from_kernel(const struct file_handle *kh, struct fhandle *ret);
/* daemon -> kernel, for open_by_handle_at. */
void fhandle_to_kernel(const struct fhandle *h, union kernel_handle *ret);
/* The raw form the journal stores: type, length, bytes. */
int fhandle_from_raw(int32_t type, const uint8_t *bytes, size_t len, struct fhandle *ret);

/* open_by_handle_at(mount_fd, h, flags): an fd or a negative errno. */
int fhandle_open(int mount_fd, const struct fhandle *h, int flags);

/*
 * The path of h as the kernel names it through mount_fd's mount, checked
 * to lead back to the same inode. -ESTALE: the object is gone (deleted,
 * or only still open somewhere). -EXDEV: it exists, but the kernel has no
 * path to it through this mount (outside the mount's root, or a file
 * whose dentry is not connected: an uncached regular file shows as "/").
 * Other errors (EMFILE, ENOMEM, ...) are returned as they are: they mean
 * "unknown", not "gone".
 */
int fhandle_resolve(int mount_fd, const struct fhandle *h, char *buf, size_t len);

/* Is err what a handle of a deleted (or never valid) object gives? */
bool fhandle_err_is_gone(int err);

/* "type:hex" text (for files of the state dir), into buf of FHANDLE_TEXT_MAX. */
#define FHANDLE_TEXT_MAX (12 + 2 * HANDLE_MAX + 1)
void fhandle_format(const struct fhandle *h, char *buf);
/* Hex bytes only (scopes.json keeps the type apart). */
void fhandle_hex(const struct fhandle *h, char *buf /* 2*HANDLE_MAX+1 */);

#endif
