/* SPDX-License-Identifier: MIT */
#include "daemon/fhandle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"

int fhandle_from_raw(int32_t type, const uint8_t *bytes, size_t len, struct fhandle *ret)
{
	if (len > HANDLE_MAX)
		return -EINVAL;
	ret->type = type;
	ret->len = (uint16_t)len;
	if (len)
		memcpy(ret->bytes, bytes, len);
	return 0;
}

int fhandle_from_kernel(const struct file_handle *kh, struct fhandle *ret)
{
	return fhandle_from_raw(kh->handle_type, kh->f_handle, kh->handle_bytes, ret);
}

void fhandle_to_kernel(const struct fhandle *h, union kernel_handle *ret)
{
	ret->fh.handle_bytes = h->len;
	ret->fh.handle_type = h->type;
	memcpy(ret->fh.f_handle, h->bytes, h->len);
}

int fhandle_of(int dirfd, const char *name, int flags, struct fhandle *ret)
{
	union kernel_handle u;
	int mount_id;

	u.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &u.fh, &mount_id, flags) < 0)
		return -errno;
	return fhandle_from_kernel(&u.fh, ret);
}

bool fhandle_eq(const struct fhandle *a, const struct fhandle *b)
{
	return a->type == b->type && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

int fhandle_open(int mount_fd, const struct fhandle *h, int flags)
{
	union kernel_handle u;
	int fd;

	fhandle_to_kernel(h, &u);
	fd = open_by_handle_at(mount_fd, &u.fh, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

bool fhandle_err_is_gone(int err)
{
	/* ESTALE: deleted; ENOENT: a handle the filesystem does not know */
	return err == -ESTALE || err == -ENOENT;
}

int fhandle_resolve(int mount_fd, const struct fhandle *h, char *buf, size_t len)
{
	struct stat a, b;
	int fd, r;

	fd = fhandle_open(mount_fd, h, O_PATH);
	if (fd < 0)
		return fd;
	r = fstat(fd, &a) < 0 ? -errno : 0;
	if (r == 0 && a.st_nlink == 0)
		r = -ESTALE; /* deleted, still open somewhere */
	if (r == 0)
		r = fd_get_path(fd, buf, len);
	if (r == 0 && (stat(buf, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino))
		r = -EXDEV; /* alive, but the kernel has no path to it through this mount */
	safe_close(fd);
	return r;
}

void fhandle_hex(const struct fhandle *h, char *buf)
{
	hex_encode(h->bytes, h->len, buf);
}

void fhandle_format(const struct fhandle *h, char *buf)
{
	int n = snprintf(buf, FHANDLE_TEXT_MAX, "%d:", h->type);

	hex_encode(h->bytes, h->len, buf + n);
}
