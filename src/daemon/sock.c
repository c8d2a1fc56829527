/* SPDX-License-Identifier: MIT */
/* sock: listening sockets and peer credentials (see sock.h). */
#include "daemon/sock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/perm.h"

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
