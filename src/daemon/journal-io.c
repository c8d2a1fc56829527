/* SPDX-License-Identifier: MIT */
#include "daemon/journal-io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the plain system calls ---------------------------------------------- */

int jio_sys_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd;

	do
		fd = openat(dirfd, name, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int jio_sys_close(int fd)
{
	if (fd < 0)
		return 0;
	/* Linux releases the fd even when close fails; never retry it. */
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

ssize_t jio_sys_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int jio_sys_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int jio_sys_fdatasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

int jio_sys_fsync(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

int jio_sys_ftruncate(int fd, uint64_t len)
{
	if (len > (uint64_t)INT64_MAX)
		return -EFBIG;
	while (ftruncate(fd, (off_t)len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int jio_sys_renameat(int dirfd, const char *from, const char *to)
{
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

int jio_sys_unlinkat(int dirfd, const char *name)
{
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

int jio_sys_mkdir(const char *path, mode_t mode)
{
	return mkdir(path, mode) < 0 ? -errno : 0;
}

/* ---- through a test's layer, or plain -------------------------------------- */

int jio_openat(struct jio *io, int dirfd, const char *name, int flags, mode_t mode)
{
	return io ? io->ops->openat(io, dirfd, name, flags, mode)
		  : jio_sys_openat(dirfd, name, flags, mode);
}

int jio_close(struct jio *io, int fd)
{
	return io ? io->ops->close(io, fd) : jio_sys_close(fd);
}

ssize_t jio_pread(struct jio *io, int fd, void *buf, size_t len, uint64_t off)
{
	return io ? io->ops->pread(io, fd, buf, len, off) : jio_sys_pread(fd, buf, len, off);
}

int jio_pwrite(struct jio *io, int fd, const void *buf, size_t len, uint64_t off)
{
	return io ? io->ops->pwrite(io, fd, buf, len, off) : jio_sys_pwrite(fd, buf, len, off);
}

int jio_fdatasync(struct jio *io, int fd)
{
	return io ? io->ops->fdatasync(io, fd) : jio_sys_fdatasync(fd);
}

int jio_fsync(struct jio *io, int fd)
{
	return io ? io->ops->fsync(io, fd) : jio_sys_fsync(fd);
}

int jio_fsync_dir(struct jio *io, int dirfd)
{
	return io ? io->ops->fsync_dir(io, dirfd) : jio_sys_fsync(dirfd);
}

int jio_ftruncate(struct jio *io, int fd, uint64_t len)
{
	return io ? io->ops->ftruncate(io, fd, len) : jio_sys_ftruncate(fd, len);
}

int jio_renameat(struct jio *io, int dirfd, const char *from, const char *to)
{
	return io ? io->ops->renameat(io, dirfd, from, to) : jio_sys_renameat(dirfd, from, to);
}

int jio_unlinkat(struct jio *io, int dirfd, const char *name)
{
	return io ? io->ops->unlinkat(io, dirfd, name) : jio_sys_unlinkat(dirfd, name);
}

int jio_mkdir(struct jio *io, const char *path, mode_t mode)
{
	return io ? io->ops->mkdir(io, path, mode) : jio_sys_mkdir(path, mode);
}
