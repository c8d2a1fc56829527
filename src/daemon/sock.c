/* SPDX-License-Identifier: MIT */
/* sock: listening sockets and peer credentials (see sock.h). */
#include "daemon/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/loop.h"
#include "daemon/perm.h"

#define LISTEN_PAUSE_MS 200

struct sock_listener {
	struct loop *loop;
	char *path;
	int fd;
	int reserve_fd; /* given up to turn a client away at EMFILE */
	struct loop_source *src;
	struct loop_source *timer; /* resumes accepting after fd exhaustion */
	sock_accept_fn on_accept;
	sock_refusal_fn refusal;
	void *data;
	uint64_t refused;
};

int sock_listen(const char *path, mode_t mode)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	char *slash;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_errno(LOG_LEVEL_ERR, -ENAMETOOLONG, "socket path %s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir, 0755);
		if (r < 0)
			return log_errno(LOG_LEVEL_ERR, r, "cannot create %s", dir);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "socket");
	/* Refuse to steal the socket of a running daemon. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		safe_close(fd);
		log_error("another fstrackd answers on %s; stop it first", path);
		return -EADDRINUSE;
	}
	safe_close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(LOG_LEVEL_ERR, -errno, "socket");
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, mode) < 0 ||
	    listen(fd, 128) < 0) {
		r = -errno;
		safe_close(fd);
		return log_errno(LOG_LEVEL_ERR, r, "cannot listen on %s", path);
	}
	return fd;
}

int sock_peer(int fd, struct ucred *ret_cred, struct perm_caller *ret_caller)
{
	gid_t groups[PERM_GROUPS_MAX];
	socklen_t len = sizeof(*ret_cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret_cred, &len) < 0)
		return -errno;
	memset(ret_caller, 0, sizeof(*ret_caller));
	ret_caller->uid = ret_cred->uid;
	ret_caller->gid = ret_cred->gid;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return 0;
	ret_caller->n_groups = len / sizeof(gid_t);
	memcpy(ret_caller->groups, groups, ret_caller->n_groups * sizeof(gid_t));
	return 0;
}

/* Say why in one line, then close: the client is not served. */
static void turn_away(struct sock_listener *l, int fd, const char *why)
{
	char line[512];
	int n = l->refusal(l->data, line, sizeof(line), why);

	if (n > 0)
		(void)!send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	safe_close(fd);
	if (l->refused++ % 1000 == 0)
		log_warn("refused a connection on %s: %s (%" PRIu64 " refused so far)", l->path,
			 why, l->refused);
}

static void resume_listening(void *data)
{
	struct sock_listener *l = data;

	loop_timer_set(l->timer, 0);
	loop_mod_fd(l->src, EPOLLIN);
}

static void out_of_fds(struct sock_listener *l)
{
	int fd;

	l->reserve_fd = safe_close(l->reserve_fd);
	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		turn_away(l, fd, "the daemon is out of file descriptors; try again later");
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || l->reserve_fd < 0) {
		loop_mod_fd(l->src, 0);
		loop_timer_set(l->timer, LISTEN_PAUSE_MS);
	}
}

static void on_listen(void *data, uint32_t events)
{
	struct sock_listener *l = data;

	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct perm_caller caller;
		struct ucred cred;
		const char *why;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				out_of_fds(l);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_ratelimited(LOG_LEVEL_WARN, "accept: %s", strerror(errno));
			return;
		}
		/* credentials and groups, once, from the socket (no /proc look-up, no pid reuse) */
		if (sock_peer(fd, &cred, &caller) < 0) {
			safe_close(fd);
			continue;
		}
		why = l->on_accept(l->data, fd, &cred, &caller);
		if (why)
			turn_away(l, fd, why);
	}
}

int sock_listener_new(struct loop *loop, const char *path, mode_t mode, sock_accept_fn on_accept,
		      sock_refusal_fn refusal, void *data, struct sock_listener **ret)
{
	struct sock_listener *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->on_accept = on_accept;
	l->refusal = refusal;
	l->data = data;
	l->reserve_fd = -1;
	l->path = strdup(path);
	if (!l->path) {
		free(l);
		return -ENOMEM;
	}
	l->fd = sock_listen(path, mode);
	if (l->fd < 0) {
		r = l->fd;
		free(l->path); /* not ours: never unlinked */
		free(l);
		return r;
	}
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = loop_add_fd(loop, l->fd, EPOLLIN, on_listen, l, &l->src);
	if (r == 0)
		r = loop_add_timer(loop, 0, resume_listening, l, &l->timer);
	if (r < 0) {
		sock_listener_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct sock_listener *sock_listener_free(struct sock_listener *l)
{
	if (!l)
		return NULL;
	l->src = loop_del(l->src);
	l->timer = loop_del(l->timer);
	l->reserve_fd = safe_close(l->reserve_fd);
	unlink(l->path);
	safe_close(l->fd);
	free(l->path);
	free(l);
	return NULL;
}
