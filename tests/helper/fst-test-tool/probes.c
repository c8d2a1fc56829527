/* SPDX-License-Identifier: MIT */
/*
 * probes: system calls the shell cannot make. Can a filesystem mark be put
 * on a filesystem (probe-fanotify), FS_IOC_SHUTDOWN (a power loss), and
 * writes by other paths than write(2): a shared mapping, splice(2),
 * copy_file_range(2).
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#define FS_SHUTDOWN_FLAGS_DEFAULT 0
#define FS_SHUTDOWN_FLAGS_LOGFLUSH 1
#define FS_SHUTDOWN_FLAGS_NOLOGFLUSH 2

/* shutdown [--flush|--logflush|--nologflush] MOUNTPOINT: FS_IOC_SHUTDOWN */
int cmd_shutdown(int argc, char **argv)
{
	uint32_t flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
	const char *mnt;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "--flush"))
		flags = FS_SHUTDOWN_FLAGS_DEFAULT;
	else if (argc == 3 && !strcmp(argv[1], "--logflush"))
		flags = FS_SHUTDOWN_FLAGS_LOGFLUSH;
	else if (argc == 3 && !strcmp(argv[1], "--nologflush"))
		flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
	else if (argc != 2)
		usage_error("usage: shutdown [--flush|--logflush|--nologflush] MOUNTPOINT");
	mnt = argv[argc - 1];
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", mnt, strerror(errno));
	if (ioctl(fd, FS_IOC_SHUTDOWN, &flags) < 0)
		die("cannot shut down %s: %s", mnt, strerror(errno));
	close(fd);
	return 0;
}

/*
 * Write STRING at OFFSET of FILE through a shared mapping. --close-first
 * closes the fd before the write (no close event follows it); --wait maps,
 * prints "mapped" and waits for a line on stdin before writing, so that
 * the mapping can be made before a token and the write done after it.
 */
int cmd_mmap_write(int argc, char **argv)
{
	bool close_first = false, wait_input = false;
	const char *file, *data;
	uint64_t off;
	struct stat st;
	uint8_t *map;
	int fd;

	while (argc > 1 && argv[1][0] == '-') {
		if (!strcmp(argv[1], "--close-first"))
			close_first = true;
		else if (!strcmp(argv[1], "--wait"))
			wait_input = true;
		else
			break;
		argc--;
		argv++;
	}
	if (argc != 4 || !parse_u64(argv[2], &off))
		usage_error("usage: mmap-write [--close-first] [--wait] FILE OFFSET STRING");
	file = argv[1];
	data = argv[3];
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot open %s: %s", file, strerror(errno));
	if (off + strlen(data) > (uint64_t)st.st_size)
		die("%s: %" PRIu64 " bytes at %" PRIu64 " go past the end (%lld)", file,
		    (uint64_t)strlen(data), off, (long long)st.st_size);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("cannot map %s: %s", file, strerror(errno));
	if (close_first)
		close(fd);
	if (wait_input) {
		char line[64];
		printf("mapped\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			die("mmap-write: no go-ahead on stdin");
	}
	memcpy(map + off, data, strlen(data));
	if (munmap(map, (size_t)st.st_size) < 0)
		die("munmap: %s", strerror(errno));
	if (!close_first)
		close(fd);
	return 0;
}

/* Write STRING at OFFSET of FILE with splice(2) from a pipe. */
int cmd_splice_write(int argc, char **argv)
{
	uint64_t off;
	loff_t pos;
	int fd, p[2];
	size_t len;
	ssize_t n;

	if (argc != 4 || !parse_u64(argv[2], &off))
		usage_error("usage: splice-write FILE OFFSET STRING");
	fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", argv[1], strerror(errno));
	if (pipe(p) < 0)
		die("pipe: %s", strerror(errno));
	len = strlen(argv[3]);
	if (write(p[1], argv[3], len) != (ssize_t)len)
		die("write to pipe: %s", strerror(errno));
	pos = (loff_t)off;
	n = splice(p[0], NULL, fd, &pos, len, 0);
	if (n != (ssize_t)len)
		die("splice into %s: %s", argv[1], n < 0 ? strerror(errno) : "short");
	close(p[0]);
	close(p[1]);
	close(fd);
	return 0;
}

/* Copy SRC over the start of DST with copy_file_range(2) (a reflink on some filesystems). */
int cmd_copy_range(int argc, char **argv)
{
	int in, out;
	struct stat st;
	ssize_t n;

	if (argc != 3)
		usage_error("usage: copy-range SRC DST");
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	out = open(argv[2], O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 || fstat(in, &st) < 0)
		die("cannot open %s or %s: %s", argv[1], argv[2], strerror(errno));
	n = copy_file_range(in, NULL, out, NULL, (size_t)st.st_size, 0);
	if (n != st.st_size)
		die("copy_file_range: %s", n < 0 ? strerror(errno) : "short");
	close(in);
	close(out);
	return 0;
}

/* Can this process mark DIR's filesystem the way fstrackd does? */
int cmd_probe_fanotify(int argc, char **argv)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_DFID_NAME;
	uint64_t mask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR;
	int fd;

	if (argc != 2)
		usage_error("usage: probe-fanotify DIR");
	fd = fanotify_init(flags, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("fanotify_init(FAN_REPORT_DFID_NAME): %s", strerror(errno));
	if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, argv[1]) < 0)
		die("fanotify_mark(FAN_MARK_FILESYSTEM, %s): %s", argv[1], strerror(errno));
	close(fd);
	return 0;
}

/*
 * fuse-hang MOUNTPOINT UID GID: a FUSE filesystem whose server never
 * answers, as a user's FUSE mount with allow_other that stopped answering.
 * Mounted for UID:GID with allow_other; prints "mounted", then waits to
 * be killed: its end closes /dev/fuse, which aborts the connection, and
 * every request still waiting on it fails with ENOTCONN. The kernel's
 * first request (INIT) is never read, so every access waits.
 */
int cmd_fuse_hang(int argc, char **argv)
{
	char opts[128];
	int fd;

	if (argc != 4)
		usage_error("usage: fuse-hang MOUNTPOINT UID GID");
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("cannot open /dev/fuse: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%s,group_id=%s,allow_other", fd,
		 argv[2], argv[3]);
	if (mount("fst-fuse-hang", argv[1], "fuse", MS_NOSUID | MS_NODEV, opts) < 0)
		die("cannot mount FUSE on %s: %s", argv[1], strerror(errno));
	printf("mounted\n");
	fflush(stdout);
	for (;;)
		pause();
}
