/* SPDX-License-Identifier: MIT */
/*
 * fanotify-floor: the kernel's share of tracking, measured without a
 * daemon (bench/write-overhead.sh). Built by meson, never installed.
 *
 *   fanotify-floor serve [--ignore] MOUNT SOCKET
 *        Create a fanotify group with fstrackd's init flags, put one
 *        FAN_MARK_FILESYSTEM mark with fstrackd's event mask on the
 *        filesystem of MOUNT (src/daemon/watcher.c: WATCH_MASK and
 *        watcher_open()), and read and discard its events as fast as it can:
 *        no decoding beyond the event length, no journal, no memory per
 *        event. That is floor A.
 *        With --ignore (floor B), each non-directory object seen for the
 *        first time in a FAN_CREATE, FAN_MODIFY or FAN_CLOSE_WRITE event
 *        (the object's file handle from the FID record; other events, such
 *        as the FAN_ATTRIB of an unlink, say nothing about writes to come)
 *        also gets an inode mark with an ignore
 *        mask of FAN_MODIFY | FAN_CLOSE_WRITE, added with FAN_MARK_IGNORE |
 *        FAN_MARK_IGNORED_SURV_MODIFY | FAN_MARK_EVICTABLE: the kernel then
 *        stops queueing those events for it (the floor of issue 10's
 *        "already recorded" filter). The mark needs a file descriptor of
 *        the object (fanotify_mark() with a NULL path does not accept O_PATH
 *        descriptors), so it costs open_by_handle_at() + fanotify_mark() +
 *        close() per new object. Handles already marked are remembered in a
 *        set (hashes; a collision only means a file is not marked).
 *        After each read of the queue the fanotify fd is left out of
 *        poll() for 5 ms (fstrackd's default --read-delay-ms), so a burst
 *        is read in batches, one wake-up each, as fstrackd reads it; sync
 *        requests are still answered at once (they read the queue
 *        themselves). Without that the floor would pay a wake-up per
 *        event, which is not the kernel's cost but a reader's habit.
 *        FLOOR_DELAY_MS=N in the environment changes the delay (0: none).
 *        SOCKET is a listening Unix socket: each connection is a sync
 *        request, answered like fstrackd's 'token': read the event queue
 *        until it is empty (everything queued before the request), then
 *        write one line of counters and close:
 *          events N overflows N marks N stale N errors N
 *        (stale: the object was gone when it was to be marked; errors: other
 *        failures of open_by_handle_at() or fanotify_mark(), the first one
 *        is printed to stderr). SIGTERM or SIGINT: exit 0.
 *   fanotify-floor sync SOCKET
 *        Send a sync request, print the answer. Exit 1 if nobody answers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/watcher.h"

/* fstrackd's very flags and masks (src/daemon/watcher.h). */
#define INIT_FLAGS WATCHER_INIT_FLAGS
#define WATCH_MASK WATCHER_MASK
#define IGNORE_MASK WATCHER_IGNORE_MASK
#define IGNORE_FLAGS WATCHER_IGNORE_FLAGS

#define BUF_SIZE (1 << 20)
#define SET_BITS 21 /* 2M slots of 8 bytes: 16 MiB, for up to ~1M objects */

struct floor {
	int fan_fd, mount_fd, listen_fd;
	bool ignore;
	uint64_t events, overflows, marks, stale, errors;
	uint64_t *set; /* open addressing, 0 = empty */
	size_t set_used;
	char *buf;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* FNV-1a of the handle's type and bytes; never 0 (0 marks an empty slot). */
static uint64_t handle_hash(const struct file_handle *fh)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p = (const unsigned char *)&fh->handle_type;

	for (size_t i = 0; i < sizeof(fh->handle_type); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	for (unsigned i = 0; i < fh->handle_bytes; i++)
		h = (h ^ fh->f_handle[i]) * 0x100000001b3ULL;
	return h ? h : 1;
}

/* Insert; false if it was there already (or the set is full). */
static bool set_insert(struct floor *f, uint64_t h)
{
	size_t mask = ((size_t)1 << SET_BITS) - 1, i = (size_t)h & mask;

	if (f->set_used >= mask / 2)
		return false; /* full enough: stop marking rather than probe forever */
	while (f->set[i]) {
		if (f->set[i] == h)
			return false;
		i = (i + 1) & mask;
	}
	f->set[i] = h;
	f->set_used++;
	return true;
}

static void mark_error(struct floor *f, const char *what, int err)
{
	if (err == ESTALE || err == ENOENT) {
		f->stale++;
		return;
	}
	if (f->errors++ == 0)
		fprintf(stderr, "fanotify-floor: %s: %s (counted, not printed again)\n", what,
			strerror(err));
}

/* Floor B: an evictable ignore mark on the object of this event. */
static void ignore_object(struct floor *f, const struct fanotify_event_metadata *md, const char *ev)
{
	union {
		struct file_handle fh;
		char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	size_t off = md->metadata_len;

	if ((md->mask & FAN_ONDIR) || !(md->mask & (FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE)))
		return;
	while (off + sizeof(struct fanotify_event_info_header) <= md->event_len) {
		struct fanotify_event_info_header ih;
		size_t hoff = off + sizeof(struct fanotify_event_info_fid);
		int fd;

		memcpy(&ih, ev + off, sizeof(ih));
		if (ih.len < sizeof(ih) || off + ih.len > md->event_len)
			return;
		if (ih.info_type != FAN_EVENT_INFO_TYPE_FID) {
			off += ih.len;
			continue;
		}
		/* the record: header, fsid, struct file_handle */
		if (hoff + sizeof(struct file_handle) > off + ih.len)
			return;
		memcpy(&h.fh, ev + hoff, sizeof(struct file_handle));
		if (h.fh.handle_bytes > MAX_HANDLE_SZ ||
		    hoff + sizeof(struct file_handle) + h.fh.handle_bytes > off + ih.len)
			return;
		memcpy(h.fh.f_handle, ev + hoff + sizeof(struct file_handle), h.fh.handle_bytes);
		if (!set_insert(f, handle_hash(&h.fh)))
			return;
		fd = open_by_handle_at(f->mount_fd, &h.fh, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			mark_error(f, "open_by_handle_at", errno);
			return;
		}
		if (fanotify_mark(f->fan_fd, IGNORE_FLAGS, IGNORE_MASK, fd, NULL) < 0)
			mark_error(f, "fanotify_mark (ignore)", errno);
		else
			f->marks++;
		close(fd);
		return;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read until the queue is empty. 0, or -errno. */
static int drain(struct floor *f)
{
	for (;;) {
		ssize_t n = read(f->fan_fd, f->buf, BUF_SIZE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return 0;
		for (size_t off = 0; off + sizeof(struct fanotify_event_metadata) <= (size_t)n;) {
			struct fanotify_event_metadata md;

			memcpy(&md, f->buf + off, sizeof(md));
			if (md.event_len < sizeof(md) || off + md.event_len > (size_t)n)
				break;
			if (md.fd >= 0)
				close(md.fd); /* never with FID reporting; to be safe */
			if (md.mask & FAN_Q_OVERFLOW) {
				f->overflows++;
			} else {
				f->events++;
				if (f->ignore)
					ignore_object(f, &md, f->buf + off);
			}
			off += md.event_len;
		}
	}
}

static int answer(struct floor *f)
{
	char line[256];
	int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int r, len;

	if (c < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	r = drain(f);
	if (r < 0) {
		close(c);
		return r;
	}
	len = snprintf(line, sizeof(line),
		       "events %llu overflows %llu marks %llu stale %llu errors %llu\n",
		       (unsigned long long)f->events, (unsigned long long)f->overflows,
		       (unsigned long long)f->marks, (unsigned long long)f->stale,
		       (unsigned long long)f->errors);
	if (write(c, line, (size_t)len) != len)
		fprintf(stderr, "fanotify-floor: cannot answer a sync request: %s\n",
			strerror(errno));
	close(c);
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "fanotify-floor: socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int serve(const char *mount, const char *sock, bool ignore)
{
	struct floor f = {.ignore = ignore, .fan_fd = -1, .mount_fd = -1, .listen_fd = -1};
	struct sockaddr_un sa;
	struct sigaction act = {.sa_handler = on_signal};
	const char *d = getenv("FLOOR_DELAY_MS");
	int delay_ms = d ? atoi(d) : 5;
	bool delaying = false;
	uint64_t deadline = 0;
	int r = 1;

	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	f.buf = aligned_alloc(8, BUF_SIZE);
	f.set = ignore ? calloc((size_t)1 << SET_BITS, sizeof(uint64_t)) : NULL;
	if (!f.buf || (ignore && !f.set)) {
		fprintf(stderr, "fanotify-floor: out of memory\n");
		goto out;
	}
	f.fan_fd = fanotify_init(INIT_FLAGS, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (f.fan_fd < 0) {
		fprintf(stderr, "fanotify-floor: fanotify_init: %s\n", strerror(errno));
		goto out;
	}
	if (fanotify_mark(f.fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, WATCH_MASK, AT_FDCWD,
			  mount) < 0) {
		fprintf(stderr, "fanotify-floor: cannot mark the filesystem of %s: %s\n", mount,
			strerror(errno));
		goto out;
	}
	f.mount_fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f.mount_fd < 0) {
		fprintf(stderr, "fanotify-floor: %s: %s\n", mount, strerror(errno));
		goto out;
	}
	if (sock_addr(sock, &sa) < 0)
		goto out;
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f.listen_fd < 0 || bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f.listen_fd, 16) < 0) {
		fprintf(stderr, "fanotify-floor: socket %s: %s\n", sock, strerror(errno));
		goto out;
	}
	while (!stop) {
		struct pollfd p[2] = {{.fd = f.listen_fd, .events = POLLIN},
				      {.fd = f.fan_fd, .events = POLLIN}};
		/* after a read of the queue: only sync requests, until the deadline */
		int64_t left = delaying ? (int64_t)(deadline - now_ms()) : -1;
		nfds_t n = delaying ? 1 : 2;

		if (delaying && left <= 0) {
			delaying = false;
			continue;
		}
		if (poll(p, n, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fanotify-floor: poll: %s\n", strerror(errno));
			goto out;
		}
		r = 0;
		if (n == 2 && p[1].revents) {
			r = drain(&f);
			delaying = delay_ms > 0;
			deadline = now_ms() + (uint64_t)delay_ms;
		}
		if (r == 0 && p[0].revents)
			r = answer(&f);
		if (r < 0) {
			fprintf(stderr, "fanotify-floor: %s\n", strerror(-r));
			r = 1;
			goto out;
		}
	}
	r = 0;
out:
	if (f.listen_fd >= 0) {
		close(f.listen_fd);
		unlink(sock);
	}
	if (f.mount_fd >= 0)
		close(f.mount_fd);
	if (f.fan_fd >= 0)
		close(f.fan_fd);
	free(f.set);
	free(f.buf);
	return r;
}

static int sync_request(const char *sock)
{
	struct sockaddr_un sa;
	char buf[512];
	ssize_t n;
	int fd;

	if (sock_addr(sock, &sa) < 0)
		return 1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "fanotify-floor: %s: %s\n", sock, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	close(fd);
	return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], false);
	if (argc == 5 && strcmp(argv[1], "serve") == 0 && strcmp(argv[2], "--ignore") == 0)
		return serve(argv[3], argv[4], true);
	if (argc == 3 && strcmp(argv[1], "sync") == 0)
		return sync_request(argv[2]);
	fprintf(stderr, "usage: fanotify-floor serve [--ignore] MOUNT SOCKET\n"
			"       fanotify-floor sync SOCKET\n");
	return 2;
}
